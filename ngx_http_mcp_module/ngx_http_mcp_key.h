
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * The field of a cache entry: the SHA-256 of the parts of its key (the
 * values of mcp_cache_key's variables and the text between them), each
 * preceded by its length.  Joining parts with a separator is ambiguous
 * ("a:b" + "c" and "a" + "b:c"); a length before each part is not: the
 * input can be cut back into its parts one way only, so two different
 * lists of parts never hash the same input.
 *
 * Pure C on OpenSSL: no nginx types, so that t/unit checks the property
 * on random parts.
 */


#ifndef _NGX_HTTP_MCP_KEY_H_INCLUDED_
#define _NGX_HTTP_MCP_KEY_H_INCLUDED_


#include <stddef.h>


/* a part's length is written in 8 bytes, big-endian */
#define NGX_HTTP_MCP_KEY_LEN_SIZE    8

#define NGX_HTTP_MCP_KEY_DIGEST_LEN  32
#define NGX_HTTP_MCP_KEY_FIELD_LEN   (2 * NGX_HTTP_MCP_KEY_DIGEST_LEN)


typedef struct {
    const unsigned char        *data;
    size_t                      len;
} ngx_http_mcp_key_part_t;


/*
 * the input that is hashed, written to "out" (which has room for the
 * lengths and the parts): its size
 */
size_t ngx_http_mcp_key_encode(const ngx_http_mcp_key_part_t *parts,
    size_t n, unsigned char *out);

/*
 * the entry's field, NGX_HTTP_MCP_KEY_FIELD_LEN lower-case hex digits, to
 * "field": 0, or -1 if OpenSSL failed (the reference; the module uses
 * ngx_http_mcp_key_field_encoded())
 */
int ngx_http_mcp_key_field(const ngx_http_mcp_key_part_t *parts, size_t n,
    unsigned char *field);

/*
 * the same field of parts already encoded (ngx_http_mcp_key_encode()):
 * ngx_http_mcp_key_field() of the parts that made "in"
 */
int ngx_http_mcp_key_field_encoded(const unsigned char *in, size_t len,
    unsigned char *field);

/* the size of the parts' encoding */
size_t ngx_http_mcp_key_encoded_len(const ngx_http_mcp_key_part_t *parts,
    size_t n);

/* frees what the fields' digest kept for the process (at its exit) */
void ngx_http_mcp_key_release(void);


#endif /* _NGX_HTTP_MCP_KEY_H_INCLUDED_ */
