
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input
 * PRF", 2012): a pseudorandom function of a 128-bit secret key, with a
 * 64-bit output, or 128 bits with the variant of the same authors (the
 * key's second word and the finalization differ by constants, one more
 * finalization gives the second half).  Written from the paper's
 * description; t/unit checks it against the paper's test vector and
 * against OpenSSL's SIPHASH MAC.
 *
 * Pure C: no nginx types.
 */


#ifndef _NGX_HTTP_MCP_SIPHASH_H_INCLUDED_
#define _NGX_HTTP_MCP_SIPHASH_H_INCLUDED_


#include <stddef.h>


#define NGX_HTTP_MCP_SIPHASH_KEY_LEN  16


/*
 * The SipHash-2-4 of "len" bytes at "in" under "key", "outlen" (8 or 16)
 * bytes written to "out", each 64-bit half little-endian as the paper
 * writes them.
 */

void ngx_http_mcp_siphash(const unsigned char *key, const void *in,
    size_t len, unsigned char *out, size_t outlen);


#endif /* _NGX_HTTP_MCP_SIPHASH_H_INCLUDED_ */
