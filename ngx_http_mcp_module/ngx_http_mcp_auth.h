
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * ngx_http_mcp_auth_module: JWT bearer authentication and the mgmt.read /
 * mgmt.write scopes, in the access phase.  What its files share.
 */


#ifndef _NGX_HTTP_MCP_AUTH_H_INCLUDED_
#define _NGX_HTTP_MCP_AUTH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mcp_jwt.h"


#define NGX_HTTP_MCP_JWT_DIGEST_LEN  32             /* SHA-256 */


typedef enum {
    NGX_HTTP_MCP_JWK_JWKS = 0,
    NGX_HTTP_MCP_JWK_PEM,
    NGX_HTTP_MCP_JWK_HMAC
} ngx_http_mcp_jwk_type_e;


typedef struct ngx_http_mcp_jwt_cache_s  ngx_http_mcp_jwt_cache_t;


/* ngx_http_mcp_jwk.c: a key file into "keys" (ngx_http_mcp_jwt_key_t *) */
ngx_int_t ngx_http_mcp_jwk_load(ngx_conf_t *cf, ngx_str_t *file,
    ngx_uint_t type, ngx_array_t *keys);

/* ngx_http_mcp_jwt_cache.c: verified tokens, per worker */
ngx_http_mcp_jwt_cache_t *ngx_http_mcp_jwt_cache_create(ngx_pool_t *pool,
    ngx_uint_t size);
void ngx_http_mcp_jwt_cache_destroy(ngx_http_mcp_jwt_cache_t *cache);
ngx_int_t ngx_http_mcp_jwt_cache_digest(ngx_http_mcp_jwt_cache_t *cache,
    u_char *token, size_t len, u_char *digest);
json_t *ngx_http_mcp_jwt_cache_get(ngx_http_mcp_jwt_cache_t *cache,
    u_char *digest, time_t now, const ngx_http_mcp_jwt_key_t **key,
    int *alg);
void ngx_http_mcp_jwt_cache_put(ngx_http_mcp_jwt_cache_t *cache,
    u_char *digest, time_t expires, const ngx_http_mcp_jwt_key_t *key,
    int alg, json_t *claims);


extern ngx_module_t  ngx_http_mcp_auth_module;


#endif /* _NGX_HTTP_MCP_AUTH_H_INCLUDED_ */
