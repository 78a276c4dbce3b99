
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * The variables of ngx_http_mcp_auth_module: the accepted token's claims
 * ($mcp_jwt_sub, $mcp_jwt_iss, $mcp_jwt_scope, $mcp_jwt_claim_<name>)
 * and how authentication went ($mcp_auth_status, $mcp_jwt_cache).
 */


#include "ngx_http_mcp_module.h"
#include "ngx_http_mcp_auth.h"
#include "ngx_http_mcp_json.h"


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
static ngx_int_t ngx_http_mcp_auth_render(ngx_pool_t *pool, json_t *json,
    ngx_str_t *value);
static size_t ngx_http_mcp_auth_escape(u_char *dst, const char *src,
    size_t len);


static ngx_http_variable_t  ngx_http_mcp_auth_vars[] = {

    { ngx_string("mcp_jwt_sub"), NULL, ngx_http_mcp_auth_claim_variable,
      NGX_HTTP_MCP_AUTH_IDENT_SUB, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mcp_jwt_iss"), NULL, ngx_http_mcp_auth_claim_variable,
      NGX_HTTP_MCP_AUTH_IDENT_ISS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

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


ngx_int_t
ngx_http_mcp_auth_add_variables(ngx_conf_t *cf)
{
    return ngx_http_mcp_add_variable_table(cf, ngx_http_mcp_auth_vars);
}


/*
 * The variables read the main request's context, so that the internal
 * registry locations (subrequests) see them too.  Claims are shown only
 * for a token that was accepted (or lacked the scope only).  $mcp_jwt_sub
 * and $mcp_jwt_iss are rendered once a request, or come rendered with a
 * hit of the worker's token cache (ngx_http_mcp_auth_verify()).
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

    if (!ctx->ident.rendered) {
        if (ngx_http_mcp_auth_ident(r->main->pool, ctx->claims, &ctx->ident)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (!(ctx->ident.found & (1 << data))) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = ctx->ident.value[data].len;
    v->data = ctx->ident.value[data].data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


/* $mcp_jwt_sub and $mcp_jwt_iss of the claims, rendered */

ngx_int_t
ngx_http_mcp_auth_ident(ngx_pool_t *pool, json_t *claims,
    ngx_http_mcp_auth_ident_t *ident)
{
    ngx_int_t    rc;
    ngx_uint_t   i;

    static const char  *names[NGX_HTTP_MCP_AUTH_IDENT_N] = { "sub", "iss" };

    ident->found = 0;

    for (i = 0; i < NGX_HTTP_MCP_AUTH_IDENT_N; i++) {

        rc = ngx_http_mcp_auth_render(pool, json_object_get(claims, names[i]),
                                      &ident->value[i]);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_OK) {
            ident->found |= 1 << i;

        } else {
            ngx_str_null(&ident->value[i]);
        }
    }

    ident->rendered = 1;

    return NGX_OK;
}


/* a copy of rendered values (from the token cache) in the pool */

ngx_int_t
ngx_http_mcp_auth_ident_copy(ngx_pool_t *pool,
    const ngx_http_mcp_auth_ident_t *src, ngx_http_mcp_auth_ident_t *dst)
{
    u_char      *p;
    size_t       len;
    ngx_uint_t   i;

    len = 0;

    for (i = 0; i < NGX_HTTP_MCP_AUTH_IDENT_N; i++) {
        len += src->value[i].len;
    }

    p = ngx_pnalloc(pool, len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_MCP_AUTH_IDENT_N; i++) {
        dst->value[i].data = p;
        dst->value[i].len = src->value[i].len;
        p = ngx_cpymem(p, src->value[i].data, src->value[i].len);
    }

    dst->found = src->found;
    dst->rendered = 1;

    return NGX_OK;
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


static ngx_int_t
ngx_http_mcp_auth_json_value(ngx_http_request_t *r, json_t *json,
    ngx_http_variable_value_t *v)
{
    ngx_int_t  rc;
    ngx_str_t  value;

    rc = ngx_http_mcp_auth_render(r->pool, json, &value);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = value.len;
    v->data = value.data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


/*
 * A string claim as it is (but escaped), anything else as compact JSON;
 * NGX_DECLINED: no value (no claim, a null one)
 */

static ngx_int_t
ngx_http_mcp_auth_render(ngx_pool_t *pool, json_t *json, ngx_str_t *value)
{
    u_char  *p;
    size_t   len;

    if (json == NULL || json_is_null(json)) {
        return NGX_DECLINED;
    }

    if (json_is_string(json)) {
        len = ngx_http_mcp_auth_escape(NULL, json_string_value(json),
                                       json_string_length(json));

        p = ngx_pnalloc(pool, len + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_http_mcp_auth_escape(p, json_string_value(json),
                                 json_string_length(json));

    } else {
        len = ngx_http_mcp_json_dump_size(json);

        if (len == 0) {
            return NGX_DECLINED;
        }

        p = ngx_pnalloc(pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_http_mcp_json_dump_write(p, json);
    }

    value->len = len;
    value->data = p;

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
