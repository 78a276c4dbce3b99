
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * The access handler of ngx_http_mcp_auth_module: the bearer token, its
 * verification (from the worker's cache of verified tokens, or by
 * ngx_http_mcp_jwt.c), the scope the method needs, and the refusals of
 * RFC 6750.  docs/auth.md describes what is checked, in which order.
 */


#include "ngx_http_mcp_module.h"
#include "ngx_http_mcp_auth.h"
#include "ngx_http_mcp_metrics.h"


/* the vendors' own messages (their 401 and 403 answers) */

#define NGX_HTTP_MCP_AUTH_NOT_PROVIDED                                        \
    "Authentication credentials were not provided."
#define NGX_HTTP_MCP_AUTH_NO_ACCESS                                           \
    "You do not have permission to access this connection."
#define NGX_HTTP_MCP_AUTH_NO_UPDATE                                           \
    "You do not have permission to update this connection."



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


static ngx_str_t  ngx_http_mcp_auth_www_authenticate =
    ngx_string("WWW-Authenticate");


ngx_int_t
ngx_http_mcp_auth_handler(ngx_http_request_t *r)
{
    int                            rc;
    ngx_int_t                      status;
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

    /* again after waiting for the first keys from a URL */

    ctx = ngx_http_get_module_ctx(r, ngx_http_mcp_auth_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_mcp_auth_ctx_t));
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->alcf = alcf;

        ngx_http_set_ctx(r, ctx, ngx_http_mcp_auth_module);
    }

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

    if (alcf->sources) {
        switch (ngx_http_mcp_jwks_keys(r, alcf, ctx)) {

        case NGX_OK:
            break;

        case NGX_AGAIN:
            return NGX_AGAIN;

        case NGX_DECLINED:
            ctx->status = NGX_HTTP_MCP_AUTH_INVALID;
            ngx_http_mcp_metrics_auth(r, ctx->status, ctx->cache);

            return ngx_http_mcp_reply_status(r,
                              NGX_HTTP_SERVICE_UNAVAILABLE, "%s",
                              "The keys to verify access tokens are not "
                              "available.");

        default: /* NGX_ERROR */
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    rc = ngx_http_mcp_auth_verify(r, alcf, ctx, &token);

    if (rc == NGX_HTTP_MCP_JWT_ERR_INTERNAL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_HTTP_MCP_JWT_ERR_KID && alcf->sources) {
        ngx_http_mcp_jwks_unknown_kid(r, alcf);
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

    if (alcf->conditions && alcf->conditions->nelts) {
        status = ngx_http_mcp_auth_conditions(r, alcf);

        if (status == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (status == NGX_HTTP_UNAUTHORIZED) {

            /* the token is not accepted here: its claims are not shown */

            ctx->status = NGX_HTTP_MCP_AUTH_INVALID;
            ctx->claims = NULL;

            text = ngx_http_mcp_auth_description(NGX_HTTP_MCP_JWT_ERR_CLAIM);

            return ngx_http_mcp_auth_reject(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                            "invalid_token", text, NULL,
                                            text);
        }

        if (status == NGX_HTTP_FORBIDDEN) {
            ctx->status = NGX_HTTP_MCP_AUTH_INSUFFICIENT_SCOPE;

            text = (need == NGX_HTTP_MCP_AUTH_READ)
                   ? NGX_HTTP_MCP_AUTH_NO_ACCESS : NGX_HTTP_MCP_AUTH_NO_UPDATE;

            return ngx_http_mcp_auth_reject(r, ctx, NGX_HTTP_FORBIDDEN,
                                            "insufficient_scope", NULL, NULL,
                                            text);
        }
    }

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
    ngx_http_mcp_metrics_auth(r, ctx->status, ctx->cache);

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
    int                               rc, alg;
    time_t                            now, expires;
    json_t                           *claims;
    u_char                           *scratch;
    ngx_pool_cleanup_t               *cln;
    ngx_http_mcp_jwt_cache_t         *cache;
    ngx_http_mcp_jwt_result_t         res;
    const ngx_http_mcp_jwt_key_t     *key;
    ngx_http_mcp_auth_main_conf_t    *amcf;
    const ngx_http_mcp_auth_ident_t  *ident;
    u_char                            digest[NGX_HTTP_MCP_JWT_DIGEST_LEN];

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
    ident = NULL;

    /* $mcp_jwt_sub and $mcp_jwt_iss of this token only */

    ngx_memzero(&ctx->ident, sizeof(ngx_http_mcp_auth_ident_t));

    if (cache == NULL) {
        ctx->cache = NGX_HTTP_MCP_AUTH_CACHE_OFF;

    } else {
        if (ngx_http_mcp_jwt_cache_digest(cache, token->data, token->len,
                                          digest)
            != NGX_OK)
        {
            return NGX_HTTP_MCP_JWT_ERR_INTERNAL;
        }

        claims = ngx_http_mcp_jwt_cache_get(cache, digest, now, &key, &alg,
                                            &ident);

        if (claims && ngx_http_mcp_jwt_key_accepted(&alcf->policy, key, alg))
        {
            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "mcp jwt cache hit");

            /* the entry's rendered values: no lookup, no escaping again */

            if (ngx_http_mcp_auth_ident_copy(r->pool, ident, &ctx->ident)
                != NGX_OK)
            {
                return NGX_HTTP_MCP_JWT_ERR_INTERNAL;
            }

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

            /* rendered once for the request and the entry */

            if (ngx_http_mcp_auth_ident(r->pool, claims, &ctx->ident)
                != NGX_OK)
            {
                return NGX_HTTP_MCP_JWT_ERR_INTERNAL;
            }

            ngx_http_mcp_jwt_cache_put(cache, digest, expires, key, alg,
                                       claims, &ctx->ident);

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

    ngx_http_mcp_metrics_auth(r, ctx->status, ctx->cache);

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
