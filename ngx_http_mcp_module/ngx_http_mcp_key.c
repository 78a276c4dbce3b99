
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * The field of a cache entry (ngx_http_mcp_key.h).  SHA-256 rather than
 * SHA-1: a part of the key is the caller's query string, and SHA-1 has
 * chosen-prefix collisions, so with SHA-1 a caller could make his key
 * hash like another caller's.
 */


#include <string.h>

#include <openssl/evp.h>

#include "ngx_http_mcp_key.h"


/*
 * The digest and its context, fetched once per process and kept: a hit
 * computes one field, and EVP_MD_fetch() is a lookup in the provider's
 * tables.  The worker is single-threaded; ngx_http_mcp_key_release()
 * frees them when it exits.
 */

static EVP_MD      *ngx_http_mcp_key_sha256;
static EVP_MD_CTX  *ngx_http_mcp_key_ctx;


static void
ngx_http_mcp_key_len(unsigned char *p, size_t len)
{
    int  i;

    for (i = NGX_HTTP_MCP_KEY_LEN_SIZE - 1; i >= 0; i--) {
        p[i] = (unsigned char) (len & 0xff);
        len >>= 8;
    }
}


size_t
ngx_http_mcp_key_encode(const ngx_http_mcp_key_part_t *parts, size_t n,
    unsigned char *out)
{
    size_t          i;
    unsigned char  *p;

    p = out;

    for (i = 0; i < n; i++) {
        ngx_http_mcp_key_len(p, parts[i].len);
        p += NGX_HTTP_MCP_KEY_LEN_SIZE;

        if (parts[i].len) {
            memcpy(p, parts[i].data, parts[i].len);
            p += parts[i].len;
        }
    }

    return p - out;
}


static int
ngx_http_mcp_key_begin(EVP_MD_CTX **ctxp)
{
    if (ngx_http_mcp_key_sha256 == NULL) {
        ngx_http_mcp_key_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
        if (ngx_http_mcp_key_sha256 == NULL) {
            return -1;
        }
    }

    if (ngx_http_mcp_key_ctx == NULL) {
        ngx_http_mcp_key_ctx = EVP_MD_CTX_new();
        if (ngx_http_mcp_key_ctx == NULL) {
            return -1;
        }
    }

    if (EVP_DigestInit_ex2(ngx_http_mcp_key_ctx, ngx_http_mcp_key_sha256,
                           NULL)
        != 1)
    {
        return -1;
    }

    *ctxp = ngx_http_mcp_key_ctx;

    return 0;
}


static int
ngx_http_mcp_key_end(EVP_MD_CTX *ctx, unsigned char *field)
{
    size_t                i;
    unsigned int          len;
    unsigned char         digest[EVP_MAX_MD_SIZE];
    static const char     hex[] = "0123456789abcdef";

    if (EVP_DigestFinal_ex(ctx, digest, &len) != 1
        || len != NGX_HTTP_MCP_KEY_DIGEST_LEN)
    {
        return -1;
    }

    for (i = 0; i < NGX_HTTP_MCP_KEY_DIGEST_LEN; i++) {
        *field++ = hex[digest[i] >> 4];
        *field++ = hex[digest[i] & 0xf];
    }

    return 0;
}


size_t
ngx_http_mcp_key_encoded_len(const ngx_http_mcp_key_part_t *parts, size_t n)
{
    size_t  i, total;

    total = 0;

    for (i = 0; i < n; i++) {
        total += NGX_HTTP_MCP_KEY_LEN_SIZE + parts[i].len;
    }

    return total;
}


/*
 * The parts hashed as they are, without an encoding in memory: the module
 * hashes the encoding it keeps (ngx_http_mcp_key_field_encoded()); this
 * is the definition the tests and the fuzzer hold that to.
 */

int
ngx_http_mcp_key_field(const ngx_http_mcp_key_part_t *parts, size_t n,
    unsigned char *field)
{
    size_t          i;
    unsigned char   size[NGX_HTTP_MCP_KEY_LEN_SIZE];
    EVP_MD_CTX     *ctx;

    if (ngx_http_mcp_key_begin(&ctx) != 0) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        ngx_http_mcp_key_len(size, parts[i].len);

        if (EVP_DigestUpdate(ctx, size, sizeof(size)) != 1
            || EVP_DigestUpdate(ctx, parts[i].data, parts[i].len) != 1)
        {
            return -1;
        }
    }

    return ngx_http_mcp_key_end(ctx, field);
}


int
ngx_http_mcp_key_field_encoded(const unsigned char *in, size_t len,
    unsigned char *field)
{
    EVP_MD_CTX  *ctx;

    if (ngx_http_mcp_key_begin(&ctx) != 0
        || EVP_DigestUpdate(ctx, in, len) != 1)
    {
        return -1;
    }

    return ngx_http_mcp_key_end(ctx, field);
}


void
ngx_http_mcp_key_release(void)
{
    EVP_MD_CTX_free(ngx_http_mcp_key_ctx);
    ngx_http_mcp_key_ctx = NULL;

    EVP_MD_free(ngx_http_mcp_key_sha256);
    ngx_http_mcp_key_sha256 = NULL;
}
