
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * ngx_http_mcp_auth_module: JWT bearer authentication and the mgmt.read /
 * mgmt.write scopes, in the access phase.  What its files share:
 *
 *   ngx_http_mcp_auth_module.c   directives, configuration, key files
 *   ngx_http_mcp_auth_handler.c  the access handler: token, verification,
 *                                scope, refusals
 *   ngx_http_mcp_auth_var.c      $mcp_jwt_*, $mcp_auth_status
 *   ngx_http_mcp_auth_require.c  mcp_auth_jwt_require: claims, conditions
 *   ngx_http_mcp_jwt.c           verification (pure C)
 *   ngx_http_mcp_jwk.c           JWK Sets, PEM and HMAC key files
 *   ngx_http_mcp_jwk_capture.c   the reasons a key is skipped
 *   ngx_http_mcp_jwks_fetch.c    keys from a URL: directive, zone, fetches
 *   ngx_http_mcp_jwks_keys.c     keys from a URL: the worker's, per request
 *   ngx_http_mcp_jwt_cache.c     the worker's verified tokens
 */


#ifndef _NGX_HTTP_MCP_AUTH_H_INCLUDED_
#define _NGX_HTTP_MCP_AUTH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mcp_jwt.h"


#define NGX_HTTP_MCP_JWT_DIGEST_LEN  16             /* SipHash-2-4-128 */


typedef struct ngx_http_mcp_jwt_cache_s  ngx_http_mcp_jwt_cache_t;


#define NGX_HTTP_MCP_AUTH_NONE       0
#define NGX_HTTP_MCP_AUTH_READ       1
#define NGX_HTTP_MCP_AUTH_WRITE      2


/* $mcp_auth_status */

typedef enum {
    NGX_HTTP_MCP_AUTH_OFF = 0,
    NGX_HTTP_MCP_AUTH_OK,
    NGX_HTTP_MCP_AUTH_MISSING,
    NGX_HTTP_MCP_AUTH_INVALID,
    NGX_HTTP_MCP_AUTH_EXPIRED,
    NGX_HTTP_MCP_AUTH_INSUFFICIENT_SCOPE
} ngx_http_mcp_auth_status_e;


/* $mcp_jwt_cache */

typedef enum {
    NGX_HTTP_MCP_AUTH_CACHE_NONE = 0,
    NGX_HTTP_MCP_AUTH_CACHE_OFF,
    NGX_HTTP_MCP_AUTH_CACHE_MISS,
    NGX_HTTP_MCP_AUTH_CACHE_HIT
} ngx_http_mcp_auth_cache_e;


/* a key file, read once per configuration whatever uses it */

typedef struct {
    ngx_str_t                     name;
    ngx_uint_t                    type;     /* ngx_http_mcp_jwk_type_e */
    ngx_array_t                  *keys;     /* ngx_http_mcp_jwt_key_t * */
    ngx_array_t                  *issuers;  /* ngx_http_mcp_jwt_str_t */
    ngx_uint_t                    again;    /* read before, other issuers */
} ngx_http_mcp_auth_file_t;


/*
 * A JWK Set from a URL (mcp_auth_jwt_key_request), ngx_http_mcp_jwks_*.c:
 * its record in the shared zone (the set's text and a generation), and
 * each worker's own keys, parsed from that text once per generation.
 */

typedef struct ngx_http_mcp_jwks_shared_s  ngx_http_mcp_jwks_shared_t;

struct ngx_http_mcp_jwks_shared_s {
    ngx_http_mcp_jwks_shared_t   *next;
    u_char                       *name;     /* the source's, NUL-ended */
    size_t                        name_len;

    /* read without the lock: a change of the text, a fetch under way */
    ngx_atomic_t                  generation;
    ngx_atomic_t                  lock;     /* pid of the fetching worker */

    /* the zone's mutex */
    time_t                        lock_time;
    time_t                        refresh_at;
    time_t                        unknown_kid_at;
    time_t                        fetched;  /* last good answer */
    time_t                        failing;  /* since; 0: not failing */
    ngx_atomic_t                  fetches;
    ngx_atomic_t                  failures;
    ngx_uint_t                    nkeys;
    u_char                       *text;
    size_t                        len;
};


typedef struct {
    ngx_str_t                     uri;
    ngx_str_t                     args;
    ngx_array_t                  *issuers;  /* ngx_http_mcp_jwt_str_t */
    ngx_str_t                     name;     /* uri and issuers */
    time_t                        refresh;
    time_t                        min_refresh;
    time_t                        max_refresh;
    ngx_http_mcp_jwks_shared_t   *sh;
    ngx_slab_pool_t              *shpool;

    /* the worker's: the keys of generation "generation" */
    ngx_atomic_uint_t             generation;
    ngx_pool_t                   *pool;
    ngx_array_t                  *keys;     /* ngx_http_mcp_jwt_key_t * */
} ngx_http_mcp_jwks_source_t;


typedef struct {
    ngx_array_t                   files;    /* ngx_http_mcp_auth_file_t */
    ngx_flag_t                    enabled;  /* on in some location */

    ngx_array_t                   sources;  /* ngx_http_mcp_jwks_source_t * */
    ngx_array_t                   uses;     /* where: server, source */
    ngx_array_t                   locations;
                              /* ngx_http_mcp_auth_loc_conf_t *, with sources */
    ngx_shm_zone_t               *zone;
    ngx_http_mcp_jwks_shared_t   *shared;   /* the zone's records */

    ngx_uint_t                    cache_size;
    time_t                        cache_ttl;

    /* the worker's own, made in init_process */
    ngx_http_mcp_jwt_cache_t     *cache;
} ngx_http_mcp_auth_main_conf_t;


/* mcp_auth_jwt_require $variable ... [error=401|403] */

typedef struct {
    ngx_http_complex_value_t      value;
    ngx_uint_t                    status;   /* 401, 403 */
} ngx_http_mcp_auth_condition_t;


typedef struct {
    ngx_flag_t                    enabled;
    ngx_str_t                     realm;
    ngx_http_complex_value_t     *token;

    ngx_array_t                  *keys;         /* ngx_http_mcp_jwt_key_t * */
    ngx_array_t                  *sources;  /* ngx_http_mcp_jwks_source_t * */
    ngx_uint_t                    algorithms;   /* bit set, 0: the keys' */
    ngx_array_t                  *issuers;      /* ngx_str_t */
    ngx_array_t                  *audiences;    /* ngx_str_t */
    ngx_array_t                  *require;      /* ngx_str_t */
    ngx_array_t                  *conditions;
                                        /* ngx_http_mcp_auth_condition_t */
    ngx_array_t                  *scope_claims; /* ngx_str_t */
    time_t                        leeway;
    size_t                        max_size;

    ngx_str_t                     read_scope;
    ngx_str_t                     write_scope;
    ngx_flag_t                    write_grants_read;
    ngx_uint_t                    options;

    /* made from the above when merged */
    ngx_http_mcp_jwt_policy_t     policy;
    ngx_uint_t                    epoch;        /* of policy.keys, sources */
    ngx_http_mcp_jwt_key_t      **dynamic;      /* ngx_alloc()ed */
    const char * const           *scope_names;
    size_t                        nscope_names;
} ngx_http_mcp_auth_loc_conf_t;


/*
 * $mcp_jwt_sub and $mcp_jwt_iss as they render (escaped strings, or
 * compact JSON): a verified token's entry in the worker's cache keeps
 * them, so a hit neither looks them up in the claims nor escapes them
 * again (the default mcp_cache_key reads both on every request)
 */

#define NGX_HTTP_MCP_AUTH_IDENT_SUB  0
#define NGX_HTTP_MCP_AUTH_IDENT_ISS  1
#define NGX_HTTP_MCP_AUTH_IDENT_N    2

typedef struct {
    ngx_str_t                     value[NGX_HTTP_MCP_AUTH_IDENT_N];
    unsigned                      found:NGX_HTTP_MCP_AUTH_IDENT_N;
                                            /* bit set: a value found */
    unsigned                      rendered:1;
} ngx_http_mcp_auth_ident_t;


typedef struct {
    ngx_uint_t                    status;   /* ngx_http_mcp_auth_status_e */
    ngx_uint_t                    cache;    /* ngx_http_mcp_auth_cache_e */
    json_t                       *claims;   /* of an accepted token */
    ngx_http_mcp_auth_ident_t     ident;    /* of claims, once rendered */
    ngx_http_mcp_auth_loc_conf_t *alcf;
    ngx_msec_t                    deadline; /* waiting for a first fetch */
    uint32_t                      fetched;  /* the sources it waited for */
} ngx_http_mcp_auth_ctx_t;


typedef enum {
    NGX_HTTP_MCP_JWK_JWKS = 0,
    NGX_HTTP_MCP_JWK_PEM,
    NGX_HTTP_MCP_JWK_HMAC
} ngx_http_mcp_jwk_type_e;




/* ngx_http_mcp_auth_module.c: what a key source shares */
ngx_int_t ngx_http_mcp_auth_key_params(ngx_conf_t *cf, ngx_str_t *value,
    ngx_uint_t n, ngx_uint_t *type, ngx_array_t **issuers);
ngx_int_t ngx_http_mcp_auth_add_keys(ngx_conf_t *cf,
    ngx_http_mcp_auth_loc_conf_t *alcf, ngx_array_t *add);

/* ngx_http_mcp_auth_require.c: mcp_auth_jwt_require, its conditions */
char *ngx_http_mcp_auth_require(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_mcp_auth_conditions(ngx_http_request_t *r,
    ngx_http_mcp_auth_loc_conf_t *alcf);

/* ngx_http_mcp_auth_handler.c */
ngx_int_t ngx_http_mcp_auth_handler(ngx_http_request_t *r);

/* ngx_http_mcp_auth_var.c */
ngx_int_t ngx_http_mcp_auth_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_http_mcp_auth_ident(ngx_pool_t *pool, json_t *claims,
    ngx_http_mcp_auth_ident_t *ident);
ngx_int_t ngx_http_mcp_auth_ident_copy(ngx_pool_t *pool,
    const ngx_http_mcp_auth_ident_t *src, ngx_http_mcp_auth_ident_t *dst);

/* ngx_http_mcp_jwk.c: a key file into "keys" (ngx_http_mcp_jwt_key_t *) */
ngx_int_t ngx_http_mcp_jwk_load(ngx_conf_t *cf, ngx_str_t *file,
    ngx_uint_t type, ngx_array_t *keys);
ngx_int_t ngx_http_mcp_jwk_parse_set(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *data, ngx_array_t *keys);

/* ngx_http_mcp_jwk_capture.c: what the key parsers say, kept */

typedef struct {
    ngx_log_t                     log;
    ngx_log_t                    *orig;
    ngx_uint_t                    quiet;
    ngx_uint_t                    use_stderr;
    size_t                        len;
    u_char                        reason[256];
} ngx_http_mcp_jwk_capture_t;

void ngx_http_mcp_jwk_capture_start(ngx_http_mcp_jwk_capture_t *cap,
    ngx_conf_t *cf, ngx_uint_t quiet);
void ngx_http_mcp_jwk_capture_stop(ngx_http_mcp_jwk_capture_t *cap,
    ngx_conf_t *cf);
void ngx_http_mcp_jwk_capture_skip(ngx_http_mcp_jwk_capture_t *cap,
    ngx_conf_t *cf, ngx_str_t *file, ngx_uint_t n, json_t *kid);

/* ngx_http_mcp_jwks_fetch.c: keys from a URL, the zone, the fetches */
char *ngx_http_mcp_jwks_key_request(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_mcp_jwks_zone(ngx_conf_t *cf,
    ngx_http_mcp_auth_main_conf_t *amcf);
ngx_int_t ngx_http_mcp_jwks_use(ngx_conf_t *cf,
    ngx_http_mcp_auth_loc_conf_t *alcf);
ngx_int_t ngx_http_mcp_jwks_init(ngx_conf_t *cf,
    ngx_http_mcp_auth_main_conf_t *amcf);
ngx_int_t ngx_http_mcp_jwks_fetch(ngx_http_request_t *r,
    ngx_http_mcp_jwks_source_t *src, ngx_uint_t waited);
ngx_int_t ngx_http_mcp_jwks_lock(ngx_http_mcp_jwks_source_t *src);

/* ngx_http_mcp_jwks_keys.c: a worker's keys from a URL, per request */
ngx_int_t ngx_http_mcp_jwks_keys(ngx_http_request_t *r,
    ngx_http_mcp_auth_loc_conf_t *alcf, ngx_http_mcp_auth_ctx_t *ctx);
void ngx_http_mcp_jwks_unknown_kid(ngx_http_request_t *r,
    ngx_http_mcp_auth_loc_conf_t *alcf);
ngx_int_t ngx_http_mcp_jwks_parse(ngx_http_mcp_jwks_source_t *src,
    u_char *text, size_t len, ngx_uint_t quiet, ngx_pool_t **pool,
    ngx_array_t **keys, u_char *reason, size_t *reason_len);
void ngx_http_mcp_jwks_exit(ngx_http_mcp_auth_main_conf_t *amcf);

/* ngx_http_mcp_jwt_cache.c: verified tokens, per worker */
void ngx_http_mcp_jwt_cache_flush(ngx_http_mcp_jwt_cache_t *cache);
ngx_http_mcp_jwt_cache_t *ngx_http_mcp_jwt_cache_create(ngx_pool_t *pool,
    ngx_uint_t size);
void ngx_http_mcp_jwt_cache_destroy(ngx_http_mcp_jwt_cache_t *cache);
ngx_int_t ngx_http_mcp_jwt_cache_digest(ngx_http_mcp_jwt_cache_t *cache,
    u_char *token, size_t len, u_char *digest);
json_t *ngx_http_mcp_jwt_cache_get(ngx_http_mcp_jwt_cache_t *cache,
    u_char *digest, time_t now, const ngx_http_mcp_jwt_key_t **key,
    int *alg, const ngx_http_mcp_auth_ident_t **ident);
void ngx_http_mcp_jwt_cache_put(ngx_http_mcp_jwt_cache_t *cache,
    u_char *digest, time_t expires, const ngx_http_mcp_jwt_key_t *key,
    int alg, json_t *claims, const ngx_http_mcp_auth_ident_t *ident);


extern ngx_module_t  ngx_http_mcp_auth_module;


#endif /* _NGX_HTTP_MCP_AUTH_H_INCLUDED_ */
