
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * ngx_http_mcp_auth_module: JWT bearer authentication (RFC 6750) and the
 * scope each method needs, in the access phase; the second module of
 * ngx_http_mcp_module.so.  The verification itself is ngx_http_mcp_jwt.c,
 * the key files ngx_http_mcp_jwk.c, the per-worker cache of verified
 * tokens ngx_http_mcp_jwt_cache.c.  docs/auth.md describes it all.
 */


#include "ngx_http_mcp_module.h"
#include "ngx_http_mcp_auth.h"
#include "ngx_http_mcp_json.h"


#define NGX_HTTP_MCP_AUTH_NONE       0
#define NGX_HTTP_MCP_AUTH_READ       1
#define NGX_HTTP_MCP_AUTH_WRITE      2


/* the vendors' own messages (their 401 and 403 answers) */

#define NGX_HTTP_MCP_AUTH_NOT_PROVIDED                                        \
    "Authentication credentials were not provided."
#define NGX_HTTP_MCP_AUTH_NO_ACCESS                                           \
    "You do not have permission to access this connection."
#define NGX_HTTP_MCP_AUTH_NO_UPDATE                                           \
    "You do not have permission to update this connection."


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
} ngx_http_mcp_auth_file_t;


typedef struct {
    ngx_array_t                   files;    /* ngx_http_mcp_auth_file_t */
    ngx_flag_t                    enabled;  /* on in some location */

    ngx_uint_t                    cache_size;
    time_t                        cache_ttl;

    /* the worker's own, made in init_process */
    ngx_http_mcp_jwt_cache_t     *cache;
} ngx_http_mcp_auth_main_conf_t;


typedef struct {
    ngx_flag_t                    enabled;
    ngx_str_t                     realm;
    ngx_http_complex_value_t     *token;

    ngx_array_t                  *keys;         /* ngx_http_mcp_jwt_key_t * */
    ngx_uint_t                    algorithms;   /* bit set, 0: the keys' */
    ngx_array_t                  *issuers;      /* ngx_str_t */
    ngx_array_t                  *audiences;    /* ngx_str_t */
    ngx_array_t                  *require;      /* ngx_str_t */
    ngx_array_t                  *scope_claims; /* ngx_str_t */
    time_t                        leeway;
    size_t                        max_size;

    ngx_str_t                     read_scope;
    ngx_str_t                     write_scope;
    ngx_flag_t                    write_grants_read;
    ngx_uint_t                    options;

    /* made from the above when merged */
    ngx_http_mcp_jwt_policy_t     policy;
    const char * const           *scope_names;
    size_t                        nscope_names;
} ngx_http_mcp_auth_loc_conf_t;


typedef struct {
    ngx_uint_t                    status;   /* ngx_http_mcp_auth_status_e */
    ngx_uint_t                    cache;    /* ngx_http_mcp_auth_cache_e */
    json_t                       *claims;   /* of an accepted token */
    ngx_http_mcp_auth_loc_conf_t *alcf;
} ngx_http_mcp_auth_ctx_t;


static ngx_int_t ngx_http_mcp_auth_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_mcp_auth_token(ngx_http_request_t *r,
    ngx_http_mcp_auth_loc_conf_t *alcf, ngx_str_t *token);
static int ngx_http_mcp_auth_verify(ngx_http_request_t *r,
    ngx_http_mcp_auth_loc_conf_t *alcf, ngx_http_mcp_auth_ctx_t *ctx,
    ngx_str_t *token);
static ngx_int_t ngx_http_mcp_auth_reject(ngx_http_request_t *r,
    ngx_http_mcp_auth_ctx_t *ctx, ngx_uint_t status, const char *error,
    const char *description, ngx_str_t *scope, const char *detail);
static const char *ngx_http_mcp_auth_description(int rc);
static void ngx_http_mcp_auth_cleanup(void *data);

static ngx_int_t ngx_http_mcp_auth_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_mcp_auth_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_mcp_auth_any_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_mcp_auth_scope_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static size_t ngx_http_mcp_auth_scopes(json_t *claim, u_char *buf,
    size_t len);
static ngx_int_t ngx_http_mcp_auth_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_mcp_auth_cache_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_mcp_auth_json_value(ngx_http_request_t *r,
    json_t *json, ngx_http_variable_value_t *v);
static size_t ngx_http_mcp_auth_escape(u_char *dst, const char *src,
    size_t len);

static void *ngx_http_mcp_auth_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_mcp_auth_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_mcp_auth_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_mcp_auth_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_mcp_auth_policy(ngx_conf_t *cf,
    ngx_http_mcp_auth_loc_conf_t *conf);
static ngx_int_t ngx_http_mcp_auth_strings(ngx_conf_t *cf,
    ngx_array_t *list, const ngx_http_mcp_jwt_str_t **out, size_t *n);
static ngx_int_t ngx_http_mcp_auth_names(ngx_conf_t *cf, ngx_array_t *list,
    const char * const **out, size_t *n);
static ngx_int_t ngx_http_mcp_auth_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_mcp_auth_init_process(ngx_cycle_t *cycle);
static void ngx_http_mcp_auth_exit_process(ngx_cycle_t *cycle);

static char *ngx_http_mcp_auth_jwt(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mcp_auth_key_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mcp_auth_algorithms(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mcp_auth_set_list(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mcp_auth_check_scope(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_mcp_auth_check_max_size(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_mcp_auth_cache(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#define NGX_HTTP_MCP_AUTH_MAX_TOKEN  65536


static ngx_str_t  ngx_http_mcp_auth_www_authenticate =
    ngx_string("WWW-Authenticate");


static ngx_conf_post_handler_pt  ngx_http_mcp_auth_scope_p =
    ngx_http_mcp_auth_check_scope;

static ngx_conf_post_handler_pt  ngx_http_mcp_auth_max_size_p =
    ngx_http_mcp_auth_check_max_size;


static ngx_conf_enum_t  ngx_http_mcp_auth_options[] = {
    { ngx_string("none"), NGX_HTTP_MCP_AUTH_NONE },
    { ngx_string("read"), NGX_HTTP_MCP_AUTH_READ },
    { ngx_string("write"), NGX_HTTP_MCP_AUTH_WRITE },
    { ngx_null_string, 0 }
};


#define NGX_HTTP_MCP_AUTH_CONF                                                \
    (NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF)


static ngx_command_t  ngx_http_mcp_auth_commands[] = {

    { ngx_string("mcp_auth_jwt"),
      NGX_HTTP_MCP_AUTH_CONF|NGX_CONF_TAKE12,
      ngx_http_mcp_auth_jwt,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mcp_auth_jwt_key_file"),
      NGX_HTTP_MCP_AUTH_CONF|NGX_CONF_TAKE12,
      ngx_http_mcp_auth_key_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mcp_auth_jwt_algorithms"),
      NGX_HTTP_MCP_AUTH_CONF|NGX_CONF_1MORE,
      ngx_http_mcp_auth_algorithms,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mcp_auth_jwt_issuer"),
      NGX_HTTP_MCP_AUTH_CONF|NGX_CONF_1MORE,
      ngx_http_mcp_auth_set_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_auth_loc_conf_t, issuers),
      NULL },

    { ngx_string("mcp_auth_jwt_audience"),
      NGX_HTTP_MCP_AUTH_CONF|NGX_CONF_1MORE,
      ngx_http_mcp_auth_set_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_auth_loc_conf_t, audiences),
      NULL },

    { ngx_string("mcp_auth_jwt_leeway"),
      NGX_HTTP_MCP_AUTH_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_auth_loc_conf_t, leeway),
      NULL },

    { ngx_string("mcp_auth_jwt_require"),
      NGX_HTTP_MCP_AUTH_CONF|NGX_CONF_1MORE,
      ngx_http_mcp_auth_set_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_auth_loc_conf_t, require),
      NULL },

    { ngx_string("mcp_auth_jwt_scope_claims"),
      NGX_HTTP_MCP_AUTH_CONF|NGX_CONF_1MORE,
      ngx_http_mcp_auth_set_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_auth_loc_conf_t, scope_claims),
      NULL },

    { ngx_string("mcp_auth_jwt_read_scope"),
      NGX_HTTP_MCP_AUTH_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_auth_loc_conf_t, read_scope),
      &ngx_http_mcp_auth_scope_p },

    { ngx_string("mcp_auth_jwt_write_scope"),
      NGX_HTTP_MCP_AUTH_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_auth_loc_conf_t, write_scope),
      &ngx_http_mcp_auth_scope_p },

    { ngx_string("mcp_auth_jwt_write_grants_read"),
      NGX_HTTP_MCP_AUTH_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_auth_loc_conf_t, write_grants_read),
      NULL },

    { ngx_string("mcp_auth_jwt_options"),
      NGX_HTTP_MCP_AUTH_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_auth_loc_conf_t, options),
      &ngx_http_mcp_auth_options },

    { ngx_string("mcp_auth_jwt_max_size"),
      NGX_HTTP_MCP_AUTH_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_auth_loc_conf_t, max_size),
      &ngx_http_mcp_auth_max_size_p },

    { ngx_string("mcp_auth_jwt_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_mcp_auth_cache,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_mcp_auth_module_ctx = {
    ngx_http_mcp_auth_add_variables,       /* preconfiguration */
    ngx_http_mcp_auth_init,                /* postconfiguration */

    ngx_http_mcp_auth_create_main_conf,    /* create main configuration */
    ngx_http_mcp_auth_init_main_conf,      /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_mcp_auth_create_loc_conf,     /* create location configuration */
    ngx_http_mcp_auth_merge_loc_conf       /* merge location configuration */
};


ngx_module_t  ngx_http_mcp_auth_module = {
    NGX_MODULE_V1,
    &ngx_http_mcp_auth_module_ctx,         /* module context */
    ngx_http_mcp_auth_commands,            /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_mcp_auth_init_process,        /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_mcp_auth_exit_process,        /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


enum {
    NGX_HTTP_MCP_AUTH_VAR_SUB = 0,
    NGX_HTTP_MCP_AUTH_VAR_ISS
};


static ngx_http_variable_t  ngx_http_mcp_auth_vars[] = {

    { ngx_string("mcp_jwt_sub"), NULL, ngx_http_mcp_auth_claim_variable,
      NGX_HTTP_MCP_AUTH_VAR_SUB, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mcp_jwt_iss"), NULL, ngx_http_mcp_auth_claim_variable,
      NGX_HTTP_MCP_AUTH_VAR_ISS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mcp_jwt_scope"), NULL, ngx_http_mcp_auth_scope_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mcp_jwt_claim_"), NULL,
      ngx_http_mcp_auth_any_claim_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

    { ngx_string("mcp_auth_status"), NULL, ngx_http_mcp_auth_status_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mcp_jwt_cache"), NULL, ngx_http_mcp_auth_cache_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_str_t  ngx_http_mcp_auth_statuses[] = {
    ngx_string("off"),
    ngx_string("ok"),
    ngx_string("missing"),
    ngx_string("invalid"),
    ngx_string("expired"),
    ngx_string("insufficient_scope")
};


static ngx_str_t  ngx_http_mcp_auth_cache_statuses[] = {
    ngx_null_string,
    ngx_string("off"),
    ngx_string("miss"),
    ngx_string("hit")
};


/* the claims scopes are read from unless mcp_auth_jwt_scope_claims says */

static const char * const  ngx_http_mcp_auth_default_scope_claims[] = {
    "scope", "scp"
};


static ngx_int_t
ngx_http_mcp_auth_handler(ngx_http_request_t *r)
{
    int                            rc;
    ngx_str_t                      token, *scope;
    ngx_uint_t                     need, granted;
    const char                    *text;
    ngx_http_mcp_auth_ctx_t       *ctx;
    ngx_http_mcp_auth_loc_conf_t  *alcf;

    /* the module's own registry subrequests were authorized with r */

    if (r != r->main) {
        return NGX_DECLINED;
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_mcp_auth_module);

    if (!alcf->enabled) {
        return NGX_DECLINED;
    }

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
        need = NGX_HTTP_MCP_AUTH_READ;

    } else if (r->method == NGX_HTTP_OPTIONS) {
        need = alcf->options;

    } else {
        /* PUT, PATCH, POST, DELETE, and any other method */
        need = NGX_HTTP_MCP_AUTH_WRITE;
    }

    if (need == NGX_HTTP_MCP_AUTH_NONE) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "mcp auth: OPTIONS needs no token here");
        return NGX_DECLINED;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_mcp_auth_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->alcf = alcf;

    ngx_http_set_ctx(r, ctx, ngx_http_mcp_auth_module);

    switch (ngx_http_mcp_auth_token(r, alcf, &token)) {

    case NGX_ERROR:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;

    case NGX_DECLINED:

        /* RFC 6750, 3.1: no error attribute when no token was given */

        ctx->status = NGX_HTTP_MCP_AUTH_MISSING;

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mcp auth: no bearer token");

        return ngx_http_mcp_auth_reject(r, ctx, NGX_HTTP_UNAUTHORIZED, NULL,
                                        NULL, NULL,
                                        NGX_HTTP_MCP_AUTH_NOT_PROVIDED);

    default: /* NGX_OK */
        break;
    }

    rc = ngx_http_mcp_auth_verify(r, alcf, ctx, &token);

    if (rc == NGX_HTTP_MCP_JWT_ERR_INTERNAL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_HTTP_MCP_JWT_OK) {
        ctx->status = (rc == NGX_HTTP_MCP_JWT_ERR_EXPIRED)
                      ? NGX_HTTP_MCP_AUTH_EXPIRED : NGX_HTTP_MCP_AUTH_INVALID;

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mcp auth: invalid bearer token: %s",
                      ngx_http_mcp_jwt_strerror(rc));

        text = ngx_http_mcp_auth_description(rc);

        return ngx_http_mcp_auth_reject(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                        "invalid_token", text, NULL, text);
    }

    scope = (need == NGX_HTTP_MCP_AUTH_READ) ? &alcf->read_scope
                                             : &alcf->write_scope;

    granted = ngx_http_mcp_jwt_has_scope(ctx->claims,
                                         alcf->scope_names,
                                         alcf->nscope_names,
                                         scope->data, scope->len);

    /* mgmt.write alone does not grant reads, unless configured so */

    if (!granted && need == NGX_HTTP_MCP_AUTH_READ && alcf->write_grants_read)
    {
        granted = ngx_http_mcp_jwt_has_scope(ctx->claims,
                                             alcf->scope_names,
                                             alcf->nscope_names,
                                             alcf->write_scope.data,
                                             alcf->write_scope.len);
    }

    if (!granted) {
        ctx->status = NGX_HTTP_MCP_AUTH_INSUFFICIENT_SCOPE;

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mcp auth: the bearer token lacks the \"%V\" scope",
                      scope);

        text = (need == NGX_HTTP_MCP_AUTH_READ) ? NGX_HTTP_MCP_AUTH_NO_ACCESS
                                                : NGX_HTTP_MCP_AUTH_NO_UPDATE;

        return ngx_http_mcp_auth_reject(r, ctx, NGX_HTTP_FORBIDDEN,
                                        "insufficient_scope", NULL, scope,
                                        text);
    }

    ctx->status = NGX_HTTP_MCP_AUTH_OK;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mcp auth: access granted with \"%V\"", scope);

    return NGX_OK;
}


/*
 * The bearer token (RFC 6750, 2.1): "Authorization: Bearer <token>", the
 * scheme in any case, one token, spaces or tabs around it; or, without
 * an Authorization header of that scheme, the "token=" value.  NGX_OK,
 * NGX_DECLINED (no token), NGX_ERROR.  nginx itself refuses a request
 * with two Authorization headers (400).
 */

static ngx_int_t
ngx_http_mcp_auth_token(ngx_http_request_t *r,
    ngx_http_mcp_auth_loc_conf_t *alcf, ngx_str_t *token)
{
    u_char           *p, *end;
    ngx_table_elt_t  *h;

    h = r->headers_in.authorization;

    if (h != NULL
        && h->value.len >= sizeof("Bearer") - 1
        && ngx_strncasecmp(h->value.data, (u_char *) "Bearer",
                           sizeof("Bearer") - 1)
           == 0
        && (h->value.len == sizeof("Bearer") - 1
            || h->value.data[sizeof("Bearer") - 1] == ' '
            || h->value.data[sizeof("Bearer") - 1] == '\t'))
    {
        p = h->value.data + sizeof("Bearer") - 1;
        end = h->value.data + h->value.len;

        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }

        while (end > p && (end[-1] == ' ' || end[-1] == '\t')) {
            end--;
        }

        /* "Bearer" alone is a malformed token, not a missing one */

        token->data = p;
        token->len = end - p;

        return NGX_OK;
    }

    if (alcf->token) {
        if (ngx_http_complex_value(r, alcf->token, token) != NGX_OK) {
            return NGX_ERROR;
        }

        if (token->len) {
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/*
 * Signature (from the worker's cache if this token was verified before,
 * with a key and algorithm this location accepts), then the claims,
 * always, with the current time.
 */

static int
ngx_http_mcp_auth_verify(ngx_http_request_t *r,
    ngx_http_mcp_auth_loc_conf_t *alcf, ngx_http_mcp_auth_ctx_t *ctx,
    ngx_str_t *token)
{
    int                             rc, alg;
    time_t                          now, expires;
    json_t                         *claims;
    u_char                         *scratch;
    ngx_pool_cleanup_t             *cln;
    ngx_http_mcp_jwt_cache_t       *cache;
    ngx_http_mcp_jwt_result_t       res;
    const ngx_http_mcp_jwt_key_t   *key;
    ngx_http_mcp_auth_main_conf_t  *amcf;
    u_char                          digest[NGX_HTTP_MCP_JWT_DIGEST_LEN];

    /* nothing is hashed or decoded for an oversized token */

    if (token->len > alcf->max_size) {
        return NGX_HTTP_MCP_JWT_ERR_SIZE;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_MCP_JWT_ERR_INTERNAL;
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_auth_module);

    cache = amcf->cache;
    now = ngx_time();
    claims = NULL;
    key = NULL;
    alg = -1;

    if (cache == NULL) {
        ctx->cache = NGX_HTTP_MCP_AUTH_CACHE_OFF;

    } else {
        if (ngx_http_mcp_jwt_cache_digest(cache, token->data, token->len,
                                          digest)
            != NGX_OK)
        {
            return NGX_HTTP_MCP_JWT_ERR_INTERNAL;
        }

        claims = ngx_http_mcp_jwt_cache_get(cache, digest, now, &key, &alg);

        if (claims && ngx_http_mcp_jwt_key_accepted(&alcf->policy, key, alg))
        {
            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "mcp jwt cache hit");

            ctx->cache = NGX_HTTP_MCP_AUTH_CACHE_HIT;
            json_incref(claims);

        } else {
            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "mcp jwt cache miss");

            ctx->cache = NGX_HTTP_MCP_AUTH_CACHE_MISS;
            claims = NULL;
        }
    }

    if (claims == NULL) {
        scratch = ngx_pnalloc(r->pool,
                              NGX_HTTP_MCP_JWT_SCRATCH_SIZE(token->len));
        if (scratch == NULL) {
            return NGX_HTTP_MCP_JWT_ERR_INTERNAL;
        }

        rc = ngx_http_mcp_jwt_verify(&alcf->policy, token->data, token->len,
                                     scratch, &res);
        if (rc != NGX_HTTP_MCP_JWT_OK) {
            return rc;
        }

        claims = res.claims;
        key = res.key;
        alg = res.alg;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "mcp jwt signature verified, %s",
                       ngx_http_mcp_jwt_alg_name(alg));
    }

    /* the request holds a reference until it ends */

    cln->handler = ngx_http_mcp_auth_cleanup;
    cln->data = claims;

    /*
     * the cache keeps what the signature proved, whatever this location's
     * policy says of the claims: they are checked on every request, a hit
     * included, so a genuine token another location refuses (another
     * audience, a missing scope) is not verified again and again
     */

    if (ctx->cache == NGX_HTTP_MCP_AUTH_CACHE_MISS) {

        /* an entry never outlives the token */

        expires = ngx_min(ngx_http_mcp_jwt_expires(claims),
                          now + amcf->cache_ttl);

        if (expires > now) {
            ngx_http_mcp_jwt_cache_put(cache, digest, expires, key, alg,
                                       claims);

            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "mcp jwt cache store for %T s", expires - now);
        }
    }

    rc = ngx_http_mcp_jwt_check_claims(&alcf->policy, claims, now);
    if (rc != NGX_HTTP_MCP_JWT_OK) {
        return rc;
    }

    ctx->claims = claims;

    return NGX_HTTP_MCP_JWT_OK;
}


/*
 * A refusal: WWW-Authenticate (RFC 6750, 3), and the status returned from
 * the access phase, so that nginx's "auth_delay", "satisfy any" and
 * "error_page" apply as to auth_basic.  nginx's own answer for the status
 * gets the JSON body {"detail": ...} (ngx_http_mcp_reply_status()).
 */

static ngx_int_t
ngx_http_mcp_auth_reject(ngx_http_request_t *r, ngx_http_mcp_auth_ctx_t *ctx,
    ngx_uint_t status, const char *error, const char *description,
    ngx_str_t *scope, const char *detail)
{
    u_char           *p, *start;
    size_t            len;
    ngx_str_t        *realm, value;
    ngx_table_elt_t  *h;

    realm = &ctx->alcf->realm;

    len = sizeof("Bearer realm=\"\"") - 1 + realm->len;

    if (error) {
        len += sizeof(", error=\"\"") - 1 + ngx_strlen(error);
    }

    if (description) {
        len += sizeof(", error_description=\"\"") - 1
               + ngx_strlen(description);
    }

    if (scope) {
        len += sizeof(", scope=\"\"") - 1 + scope->len;
    }

    start = ngx_pnalloc(r->pool, len);
    if (start == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* realm and scope were checked for quotes and backslashes */

    p = ngx_sprintf(start, "Bearer realm=\"%V\"", realm);

    if (error) {
        p = ngx_sprintf(p, ", error=\"%s\"", error);
    }

    if (description) {
        p = ngx_sprintf(p, ", error_description=\"%s\"", description);
    }

    if (scope) {
        p = ngx_sprintf(p, ", scope=\"%V\"", scope);
    }

    value.data = start;
    value.len = p - start;

    h = ngx_http_mcp_reply_header(r, &ngx_http_mcp_auth_www_authenticate,
                                  &value);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.www_authenticate = h;

    return ngx_http_mcp_reply_status(r, status, "%s", detail);
}


/* error_description, and the detail of the body: never token data */

static const char *
ngx_http_mcp_auth_description(int rc)
{
    switch (rc) {

    case NGX_HTTP_MCP_JWT_ERR_SIZE:
        return "The access token is too large.";

    case NGX_HTTP_MCP_JWT_ERR_FORMAT:
    case NGX_HTTP_MCP_JWT_ERR_BASE64:
    case NGX_HTTP_MCP_JWT_ERR_HEADER:
    case NGX_HTTP_MCP_JWT_ERR_PAYLOAD:
        return "The access token is malformed.";

    case NGX_HTTP_MCP_JWT_ERR_EXPIRED:
        return "The access token expired.";

    case NGX_HTTP_MCP_JWT_ERR_NBF:
    case NGX_HTTP_MCP_JWT_ERR_IAT:
        return "The access token is not valid yet.";

    case NGX_HTTP_MCP_JWT_ERR_ISSUER:
        return "The access token is from an issuer that is not accepted.";

    case NGX_HTTP_MCP_JWT_ERR_AUDIENCE:
        return "The access token is for another audience.";

    case NGX_HTTP_MCP_JWT_ERR_CLAIM:
        return "The access token lacks a required claim.";

    default: /* algorithm, key, signature */
        return "The access token signature could not be verified.";
    }
}


static void
ngx_http_mcp_auth_cleanup(void *data)
{
    json_decref(data);
}


static ngx_int_t
ngx_http_mcp_auth_add_variables(ngx_conf_t *cf)
{
    return ngx_http_mcp_add_variable_table(cf, ngx_http_mcp_auth_vars);
}


/*
 * The variables read the main request's context, so that the internal
 * registry locations (subrequests) see them too.  Claims are shown only
 * for a token that was accepted (or lacked the scope only).
 */

static ngx_int_t
ngx_http_mcp_auth_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_mcp_auth_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_mcp_auth_module);

    if (ctx == NULL || ctx->claims == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    return ngx_http_mcp_auth_json_value(r,
               json_object_get(ctx->claims,
                               data == NGX_HTTP_MCP_AUTH_VAR_SUB
                               ? "sub" : "iss"),
               v);
}


/* $mcp_jwt_claim_<name>: nginx passes the variable's whole name */

static ngx_int_t
ngx_http_mcp_auth_any_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t *var = (ngx_str_t *) data;

    u_char                   *name;
    size_t                    len;
    ngx_http_mcp_auth_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_mcp_auth_module);

    if (ctx == NULL || ctx->claims == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    name = var->data + sizeof("mcp_jwt_claim_") - 1;
    len = var->len - (sizeof("mcp_jwt_claim_") - 1);

    return ngx_http_mcp_auth_json_value(r,
                      json_object_getn(ctx->claims, (char *) name, len), v);
}


/* the scopes of all the scope claims, space-separated */

static ngx_int_t
ngx_http_mcp_auth_scope_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                        *p;
    size_t                         len, i;
    ngx_http_mcp_auth_ctx_t       *ctx;
    ngx_http_mcp_auth_loc_conf_t  *alcf;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_mcp_auth_module);

    if (ctx == NULL || ctx->claims == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    alcf = ctx->alcf;

    /* the first pass measures, the second copies */

    len = 0;

    for (i = 0; i < alcf->nscope_names; i++) {
        len = ngx_http_mcp_auth_scopes(
                  json_object_get(ctx->claims, alcf->scope_names[i]),
                  NULL, len);
    }

    if (len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;
    len = 0;

    for (i = 0; i < alcf->nscope_names; i++) {
        len = ngx_http_mcp_auth_scopes(
                  json_object_get(ctx->claims, alcf->scope_names[i]),
                  p, len);
    }

    v->len = len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


/*
 * Appends the scopes of one claim (a string, or an array of strings) to
 * buf, which holds len bytes already, and returns the new length; with
 * buf NULL, only counts.
 */

static size_t
ngx_http_mcp_auth_scopes(json_t *claim, u_char *buf, size_t len)
{
    size_t   i;
    json_t  *e;

    for (i = 0; /* void */; i++) {

        if (json_is_array(claim)) {
            e = json_array_get(claim, i);

        } else {
            e = (i == 0) ? claim : NULL;
        }

        if (e == NULL) {
            return len;
        }

        if (!json_is_string(e) || json_string_length(e) == 0) {
            continue;
        }

        if (len) {
            if (buf) {
                buf[len] = ' ';
            }

            len++;
        }

        len += ngx_http_mcp_auth_escape(buf ? buf + len : NULL,
                                        json_string_value(e),
                                        json_string_length(e));
    }
}


static ngx_int_t
ngx_http_mcp_auth_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                *s;
    ngx_http_mcp_auth_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_mcp_auth_module);

    s = &ngx_http_mcp_auth_statuses[ctx ? ctx->status : NGX_HTTP_MCP_AUTH_OFF];

    v->len = s->len;
    v->data = s->data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mcp_auth_cache_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                *s;
    ngx_http_mcp_auth_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_mcp_auth_module);

    if (ctx == NULL || ctx->cache == NGX_HTTP_MCP_AUTH_CACHE_NONE) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = &ngx_http_mcp_auth_cache_statuses[ctx->cache];

    v->len = s->len;
    v->data = s->data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


/* a string claim as it is (but escaped), anything else as compact JSON */

static ngx_int_t
ngx_http_mcp_auth_json_value(ngx_http_request_t *r, json_t *json,
    ngx_http_variable_value_t *v)
{
    u_char  *p;
    size_t   len;

    if (json == NULL || json_is_null(json)) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (json_is_string(json)) {
        len = ngx_http_mcp_auth_escape(NULL, json_string_value(json),
                                       json_string_length(json));

        p = ngx_pnalloc(r->pool, len + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_http_mcp_auth_escape(p, json_string_value(json),
                                 json_string_length(json));

    } else {
        len = ngx_http_mcp_json_dump_size(json);

        if (len == 0) {
            v->not_found = 1;
            return NGX_OK;
        }

        p = ngx_pnalloc(r->pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_http_mcp_json_dump_write(p, json);
    }

    v->len = len;
    v->data = p;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


/*
 * Copies a claim's string with control characters and "%" percent-encoded:
 * safe in a header and a log line, and still one value per string (so the
 * variables may make cache keys).  With dst NULL, only measures.
 */

static size_t
ngx_http_mcp_auth_escape(u_char *dst, const char *src, size_t len)
{
    u_char  c;
    size_t  i, n;

    static u_char  hex[] = "0123456789ABCDEF";

    n = 0;

    for (i = 0; i < len; i++) {
        c = (u_char) src[i];

        if (c >= 0x20 && c != 0x7f && c != '%') {
            if (dst) {
                dst[n] = c;
            }

            n++;
            continue;
        }

        if (dst) {
            dst[n] = '%';
            dst[n + 1] = hex[c >> 4];
            dst[n + 2] = hex[c & 0xf];
        }

        n += 3;
    }

    return n;
}


static void *
ngx_http_mcp_auth_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_mcp_auth_main_conf_t  *amcf;

    amcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mcp_auth_main_conf_t));
    if (amcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     amcf->enabled = 0;
     *     amcf->cache = NULL;
     */

    if (ngx_array_init(&amcf->files, cf->pool, 4,
                       sizeof(ngx_http_mcp_auth_file_t))
        != NGX_OK)
    {
        return NULL;
    }

    amcf->cache_size = NGX_CONF_UNSET_UINT;
    amcf->cache_ttl = NGX_CONF_UNSET;

    return amcf;
}


static char *
ngx_http_mcp_auth_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_mcp_auth_main_conf_t *amcf = conf;

    ngx_conf_init_uint_value(amcf->cache_size, 1024);
    ngx_conf_init_value(amcf->cache_ttl, 600);

    return NGX_CONF_OK;
}


static void *
ngx_http_mcp_auth_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_mcp_auth_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mcp_auth_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->realm = { 0, NULL };
     *     conf->read_scope = { 0, NULL };
     *     conf->write_scope = { 0, NULL };
     *     conf->policy = { 0 };
     *     conf->scope_names = NULL;
     *     conf->nscope_names = 0;
     */

    conf->enabled = NGX_CONF_UNSET;
    conf->token = NGX_CONF_UNSET_PTR;
    conf->keys = NGX_CONF_UNSET_PTR;
    conf->algorithms = NGX_CONF_UNSET_UINT;
    conf->issuers = NGX_CONF_UNSET_PTR;
    conf->audiences = NGX_CONF_UNSET_PTR;
    conf->require = NGX_CONF_UNSET_PTR;
    conf->scope_claims = NGX_CONF_UNSET_PTR;
    conf->leeway = NGX_CONF_UNSET;
    conf->max_size = NGX_CONF_UNSET_SIZE;
    conf->write_grants_read = NGX_CONF_UNSET;
    conf->options = NGX_CONF_UNSET_UINT;

    return conf;
}


static char *
ngx_http_mcp_auth_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_mcp_auth_loc_conf_t *prev = parent;
    ngx_http_mcp_auth_loc_conf_t *conf = child;

    ngx_conf_merge_value(conf->enabled, prev->enabled, 0);
    ngx_conf_merge_str_value(conf->realm, prev->realm, "");
    ngx_conf_merge_ptr_value(conf->token, prev->token, NULL);

    ngx_conf_merge_ptr_value(conf->keys, prev->keys, NULL);
    ngx_conf_merge_uint_value(conf->algorithms, prev->algorithms, 0);
    ngx_conf_merge_ptr_value(conf->issuers, prev->issuers, NULL);
    ngx_conf_merge_ptr_value(conf->audiences, prev->audiences, NULL);
    ngx_conf_merge_ptr_value(conf->require, prev->require, NULL);
    ngx_conf_merge_ptr_value(conf->scope_claims, prev->scope_claims, NULL);
    ngx_conf_merge_sec_value(conf->leeway, prev->leeway, 0);
    ngx_conf_merge_size_value(conf->max_size, prev->max_size, 8192);

    ngx_conf_merge_str_value(conf->read_scope, prev->read_scope,
                             "mgmt.read");
    ngx_conf_merge_str_value(conf->write_scope, prev->write_scope,
                             "mgmt.write");
    ngx_conf_merge_value(conf->write_grants_read, prev->write_grants_read, 0);
    ngx_conf_merge_uint_value(conf->options, prev->options,
                              NGX_HTTP_MCP_AUTH_READ);

    if (!conf->enabled) {
        return NGX_CONF_OK;
    }

    return ngx_http_mcp_auth_policy(cf, conf);
}


/* the verification policy of a location where auth is on */

static char *
ngx_http_mcp_auth_policy(ngx_conf_t *cf, ngx_http_mcp_auth_loc_conf_t *conf)
{
    char                        *where;
    unsigned                     algs;
    ngx_uint_t                   i;
    ngx_http_mcp_jwt_key_t     **keys;
    ngx_http_core_loc_conf_t    *clcf;
    ngx_http_mcp_jwt_policy_t   *policy;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    where = clcf->name.len ? "location" : "server";

    if (conf->keys == NULL || conf->keys->nelts == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"mcp_auth_jwt\" is on in %s \"%V\" but no "
                      "\"mcp_auth_jwt_key_file\" gives it keys",
                      where, &clcf->name);
        return NGX_CONF_ERROR;
    }

    policy = &conf->policy;

    keys = conf->keys->elts;
    algs = 0;

    for (i = 0; i < conf->keys->nelts; i++) {
        algs |= keys[i]->algs;
    }

    if (conf->algorithms) {
        algs &= conf->algorithms;

        if (algs == 0) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "no key of %s \"%V\" verifies any of its "
                          "\"mcp_auth_jwt_algorithms\"", where, &clcf->name);
            return NGX_CONF_ERROR;
        }
    }

    policy->keys = keys;
    policy->nkeys = conf->keys->nelts;
    policy->algs = algs;
    policy->max_size = conf->max_size;
    policy->leeway = (long) conf->leeway;

    if (ngx_http_mcp_auth_strings(cf, conf->issuers, &policy->issuers,
                                  &policy->nissuers)
        != NGX_OK
        || ngx_http_mcp_auth_strings(cf, conf->audiences, &policy->audiences,
                                     &policy->naudiences)
           != NGX_OK
        || ngx_http_mcp_auth_names(cf, conf->require, &policy->required,
                                   &policy->nrequired)
           != NGX_OK
        || ngx_http_mcp_auth_names(cf, conf->scope_claims,
                                   &conf->scope_names, &conf->nscope_names)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->scope_claims == NULL) {
        conf->scope_names = ngx_http_mcp_auth_default_scope_claims;
        conf->nscope_names = 2;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_mcp_auth_strings(ngx_conf_t *cf, ngx_array_t *list,
    const ngx_http_mcp_jwt_str_t **out, size_t *n)
{
    ngx_str_t               *s;
    ngx_uint_t               i;
    ngx_http_mcp_jwt_str_t  *strs;

    if (list == NULL) {
        return NGX_OK;
    }

    strs = ngx_palloc(cf->pool, list->nelts * sizeof(ngx_http_mcp_jwt_str_t));
    if (strs == NULL) {
        return NGX_ERROR;
    }

    s = list->elts;

    for (i = 0; i < list->nelts; i++) {
        strs[i].len = s[i].len;
        strs[i].data = s[i].data;
    }

    *out = strs;
    *n = list->nelts;

    return NGX_OK;
}


/* claim names: the configuration's strings end with a NUL already */

static ngx_int_t
ngx_http_mcp_auth_names(ngx_conf_t *cf, ngx_array_t *list,
    const char * const **out, size_t *n)
{
    ngx_str_t    *s;
    ngx_uint_t    i;
    const char  **names;

    if (list == NULL) {
        return NGX_OK;
    }

    names = ngx_palloc(cf->pool, list->nelts * sizeof(char *));
    if (names == NULL) {
        return NGX_ERROR;
    }

    s = list->elts;

    for (i = 0; i < list->nelts; i++) {
        names[i] = (const char *) s[i].data;
    }

    *out = names;
    *n = list->nelts;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mcp_auth_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt            *h;
    ngx_http_core_main_conf_t      *cmcf;
    ngx_http_mcp_auth_main_conf_t  *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mcp_auth_module);

    /* no cost at all where no location uses it */

    if (!amcf->enabled) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_mcp_auth_handler;

    /* the JSON body of nginx's answer to a refusal */

    return ngx_http_mcp_filter_init(cf);
}


static ngx_int_t
ngx_http_mcp_auth_init_process(ngx_cycle_t *cycle)
{
    ngx_http_mcp_auth_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_mcp_auth_module);

    if (amcf == NULL || !amcf->enabled || amcf->cache_size == 0) {
        return NGX_OK;
    }

    amcf->cache = ngx_http_mcp_jwt_cache_create(cycle->pool,
                                                amcf->cache_size);
    if (amcf->cache == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_mcp_auth_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_mcp_auth_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_mcp_auth_module);

    if (amcf && amcf->cache) {
        ngx_http_mcp_jwt_cache_destroy(amcf->cache);
        amcf->cache = NULL;
    }
}


/*
 * mcp_auth_jwt <realm> [token=<complex value>] | off;
 */

static char *
ngx_http_mcp_auth_jwt(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mcp_auth_loc_conf_t *alcf = conf;

    u_char                             c;
    ngx_str_t                         *value, v;
    ngx_uint_t                         i;
    ngx_http_complex_value_t          *cv;
    ngx_http_mcp_auth_main_conf_t     *amcf;
    ngx_http_compile_complex_value_t   ccv;

    if (alcf->enabled != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts > 2) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" after \"off\"",
                               &value[2]);
            return NGX_CONF_ERROR;
        }

        alcf->enabled = 0;
        return NGX_CONF_OK;
    }

    /* the realm is a quoted-string of WWW-Authenticate */

    for (i = 0; i < value[1].len; i++) {
        c = value[1].data[i];

        if (c == '"' || c == '\\' || c < 0x20 || c == 0x7f) {
            break;
        }
    }

    if (value[1].len == 0 || i < value[1].len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid realm \"%V\": it must not be empty or "
                           "hold quotes, backslashes or control characters",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    alcf->enabled = 1;
    alcf->realm = value[1];
    alcf->token = NULL;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "token=", 6) == 0
            && value[i].len > 6 && alcf->token == NULL)
        {
            v.data = value[i].data + 6;
            v.len = value[i].len - 6;

            cv = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
            if (cv == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

            ccv.cf = cf;
            ccv.value = &v;
            ccv.complex_value = cv;

            if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            alcf->token = cv;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mcp_auth_module);
    amcf->enabled = 1;

    return NGX_CONF_OK;
}


/*
 * mcp_auth_jwt_key_file <file> [type=jwks|pem|hmac];
 *
 * Each file is read once per configuration, whichever locations name it,
 * and with one type only.
 */

static char *
ngx_http_mcp_auth_key_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mcp_auth_loc_conf_t *alcf = conf;

    ngx_str_t                       *value, name;
    ngx_uint_t                       i, j, type;
    ngx_http_mcp_jwt_key_t         **keys, **k;
    ngx_http_mcp_auth_file_t        *file;
    ngx_http_mcp_auth_main_conf_t   *amcf;

    static const char  *types[] = { "jwks", "pem", "hmac" };

    value = cf->args->elts;

    type = NGX_HTTP_MCP_JWK_JWKS;

    if (cf->args->nelts == 3) {
        if (ngx_strcmp(value[2].data, "type=jwks") == 0) {
            type = NGX_HTTP_MCP_JWK_JWKS;

        } else if (ngx_strcmp(value[2].data, "type=pem") == 0) {
            type = NGX_HTTP_MCP_JWK_PEM;

        } else if (ngx_strcmp(value[2].data, "type=hmac") == 0) {
            type = NGX_HTTP_MCP_JWK_HMAC;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\": expected "
                               "\"type=jwks\", \"type=pem\" or "
                               "\"type=hmac\"", &value[2]);
            return NGX_CONF_ERROR;
        }
    }

    name = value[1];

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (alcf->keys == NGX_CONF_UNSET_PTR) {
        alcf->keys = ngx_array_create(cf->pool, 4,
                                      sizeof(ngx_http_mcp_jwt_key_t *));
        if (alcf->keys == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mcp_auth_module);

    file = amcf->files.elts;

    for (i = 0; i < amcf->files.nelts; i++) {
        if (file[i].name.len == name.len
            && ngx_strncmp(file[i].name.data, name.data, name.len) == 0)
        {
            break;
        }
    }

    if (i < amcf->files.nelts) {
        file = &file[i];

        if (file->type != type) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "key file \"%V\" is read with \"type=%s\" "
                               "elsewhere: a key file has one type only",
                               &name, types[file->type]);
            return NGX_CONF_ERROR;
        }

    } else {
        file = ngx_array_push(&amcf->files);
        if (file == NULL) {
            return NGX_CONF_ERROR;
        }

        file->name = name;
        file->type = type;
        file->keys = ngx_array_create(cf->pool, 4,
                                      sizeof(ngx_http_mcp_jwt_key_t *));
        if (file->keys == NULL) {
            return NGX_CONF_ERROR;
        }

        if (ngx_http_mcp_jwk_load(cf, &name, type, file->keys) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    keys = file->keys->elts;

    for (i = 0; i < file->keys->nelts; i++) {

        /* the same file twice in one location adds nothing */

        k = alcf->keys->elts;

        for (j = 0; j < alcf->keys->nelts; j++) {
            if (k[j] == keys[i]) {
                break;
            }
        }

        if (j < alcf->keys->nelts) {
            continue;
        }

        k = ngx_array_push(alcf->keys);
        if (k == NULL) {
            return NGX_CONF_ERROR;
        }

        *k = keys[i];
    }

    return NGX_CONF_OK;
}


/*
 * mcp_auth_jwt_algorithms RS256 ES256 ...;
 */

static char *
ngx_http_mcp_auth_algorithms(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mcp_auth_loc_conf_t *alcf = conf;

    int         alg;
    ngx_str_t  *value;
    ngx_uint_t  i, algs;

    if (alcf->algorithms != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    algs = 0;

    for (i = 1; i < cf->args->nelts; i++) {
        alg = ngx_http_mcp_jwt_alg_by_name(value[i].data, value[i].len);

        if (alg != -1) {
            algs |= NGX_HTTP_MCP_JWT_ALG_BIT(alg);
            continue;
        }

        if (value[i].len == 4
            && ngx_strncasecmp(value[i].data, (u_char *) "none", 4) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "the \"none\" algorithm is never accepted");

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown algorithm \"%V\": expected HS256, "
                               "HS384, HS512, RS256, RS384, RS512, ES256, "
                               "ES384 or ES512", &value[i]);
        }

        return NGX_CONF_ERROR;
    }

    alcf->algorithms = algs;

    return NGX_CONF_OK;
}


/*
 * mcp_auth_jwt_issuer, _audience, _require, _scope_claims: one directive
 * with all the values; a nested level's own replaces the inherited one.
 */

static char *
ngx_http_mcp_auth_set_list(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t     *value, *s;
    ngx_uint_t     i;
    ngx_array_t  **a;

    a = (ngx_array_t **) (p + cmd->offset);

    if (*a != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    *a = ngx_array_create(cf->pool, cf->args->nelts - 1, sizeof(ngx_str_t));
    if (*a == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        if (value[i].len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "empty value in \"%V\"", &cmd->name);
            return NGX_CONF_ERROR;
        }

        s = ngx_array_push(*a);
        if (s == NULL) {
            return NGX_CONF_ERROR;
        }

        *s = value[i];
    }

    return NGX_CONF_OK;
}


/* RFC 6749, 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) */

static char *
ngx_http_mcp_auth_check_scope(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *scope = data;

    ngx_uint_t  i;

    if (scope->len == 0) {
        return "needs a scope";
    }

    for (i = 0; i < scope->len; i++) {
        if (scope->data[i] < 0x21 || scope->data[i] == '"'
            || scope->data[i] == '\\' || scope->data[i] > 0x7e)
        {
            return "has a scope with characters RFC 6749 does not allow";
        }
    }

    return NGX_CONF_OK;
}


/*
 * libjwt copies each segment of a token onto the worker's stack (alloca):
 * the largest token accepted stays well within a stack
 */

static char *
ngx_http_mcp_auth_check_max_size(ngx_conf_t *cf, void *post, void *data)
{
    size_t  *sp = data;

    if (*sp < 64 || *sp > NGX_HTTP_MCP_AUTH_MAX_TOKEN) {
        return "must be between 64 and 64k";
    }

    return NGX_CONF_OK;
}


/*
 * mcp_auth_jwt_cache <entries> [ttl=<time>] | off;
 */

static char *
ngx_http_mcp_auth_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mcp_auth_main_conf_t *amcf = conf;

    time_t      ttl;
    ngx_int_t   n;
    ngx_str_t  *value, s;

    if (amcf->cache_size != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts > 2) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" after \"off\"",
                               &value[2]);
            return NGX_CONF_ERROR;
        }

        amcf->cache_size = 0;
        return NGX_CONF_OK;
    }

    n = ngx_atoi(value[1].data, value[1].len);

    if (n == NGX_ERROR || n == 0 || n > 1024 * 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid number of entries \"%V\": 1 to 1048576, "
                           "or \"off\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    amcf->cache_size = (ngx_uint_t) n;

    if (cf->args->nelts == 3) {

        if (ngx_strncmp(value[2].data, "ttl=", 4) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        s.data = value[2].data + 4;
        s.len = value[2].len - 4;

        ttl = ngx_parse_time(&s, 1);

        if (ttl == (time_t) NGX_ERROR || ttl == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid ttl \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        amcf->cache_ttl = ttl;
    }

    return NGX_CONF_OK;
}
