
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * The request id and the write audit, through nginx's own machinery:
 *
 *   $mcp_request_id       the client's X-Request-ID when it is sane (1 to
 *                         128 of [A-Za-z0-9._:+/=-]), else nginx's
 *                         $request_id; the same in the registry's
 *                         subrequest (proxy_set_header X-Request-ID
 *                         $mcp_request_id), sent back to the client in
 *                         X-Request-ID, and added to every error log line
 *                         about the request (", request_id: \"...\"");
 *   $mcp_audit            "1" for a PUT the gateway forwarded to a
 *                         registry, for "access_log ... if=$mcp_audit";
 *   $mcp_changed_fields   the canonical names of the fields that PUT sets
 *                         ("auth.api_key,name"), never a value;
 *   $mcp_registry_status  the status the registry answered, empty if none
 *                         came.
 *
 * The audit line is an access_log of the operator's, with a log_format
 * "escape=json" (docs/metrics.md): no file is written here.
 */


#include "ngx_http_mcp_metrics.h"
#include "ngx_http_mcp_fields.h"
#include "ngx_http_mcp_siphash.h"

#include <openssl/err.h>
#include <openssl/rand.h>


#define NGX_HTTP_MCP_REQUEST_ID_MAX  128


static ngx_int_t ngx_http_mcp_audit_handler(ngx_http_request_t *r);
static u_char *ngx_http_mcp_audit_log_error(ngx_http_request_t *r,
    ngx_http_request_t *sr, u_char *buf, size_t len);
static ngx_int_t ngx_http_mcp_request_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_mcp_request_id_make(ngx_http_request_t *r,
    ngx_http_mcp_metrics_main_conf_t *mcf, ngx_http_variable_value_t *v);
static ngx_table_elt_t *ngx_http_mcp_audit_header(ngx_http_request_t *r);
static ngx_int_t ngx_http_mcp_audit_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_mcp_changed_fields_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_mcp_registry_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_mcp_audit_vars[] = {

    /* cacheable: one id for the whole request */

    { ngx_string("mcp_request_id"), NULL, ngx_http_mcp_request_id_variable,
      0, 0, 0 },

    { ngx_string("mcp_audit"), NULL, ngx_http_mcp_audit_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mcp_changed_fields"), NULL,
      ngx_http_mcp_changed_fields_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mcp_registry_status"), NULL,
      ngx_http_mcp_registry_status_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_str_t  ngx_http_mcp_request_id_header = ngx_string("X-Request-ID");


/* nginx's own error log handler of a request (ngx_http_request.c's) */

static ngx_http_log_handler_pt  ngx_http_mcp_audit_next_log_error;


ngx_int_t
ngx_http_mcp_audit_add_variables(ngx_conf_t *cf)
{
    return ngx_http_mcp_add_variable_table(cf, ngx_http_mcp_audit_vars);
}


/* the request id of every request to a registry route, from its start */

ngx_int_t
ngx_http_mcp_audit_init(ngx_conf_t *cf)
{
    ngx_str_t                          name;
    ngx_http_handler_pt               *h;
    ngx_http_mcp_main_conf_t          *mmcf;
    ngx_http_core_main_conf_t         *cmcf;
    ngx_http_mcp_metrics_main_conf_t  *mcf;

    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mcp_module);

    if (mmcf->registries.nelts == 0) {
        return NGX_OK;
    }

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mcp_metrics_module);

    ngx_str_set(&name, "mcp_request_id");

    mcf->request_id = ngx_http_get_variable_index(cf, &name);
    if (mcf->request_id == NGX_ERROR) {
        return NGX_ERROR;
    }

    ngx_str_set(&name, "request_id");

    mcf->nginx_request_id = ngx_http_get_variable_index(cf, &name);
    if (mcf->nginx_request_id == NGX_ERROR) {
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_mcp_audit_handler;

    return NGX_OK;
}


/*
 * Before the access phase, so that a refusal has it too: the id goes
 * into X-Request-ID, and the request's error log lines end with it.
 */

static ngx_int_t
ngx_http_mcp_audit_handler(ngx_http_request_t *r)
{
    ngx_http_mcp_loc_conf_t           *mlcf;
    ngx_http_variable_value_t         *v;
    ngx_http_mcp_metrics_main_conf_t  *mcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mcp_module);

    if (r != r->main
        || (mlcf->registry == NULL && !mlcf->canonical)
        || r->log_handler == ngx_http_mcp_audit_log_error)
    {
        return NGX_DECLINED;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_metrics_module);

    v = ngx_http_get_indexed_variable(r, mcf->request_id);

    if (v == NULL || v->not_found || v->len == 0) {
        return NGX_DECLINED;
    }

    if (ngx_http_mcp_audit_header(r) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mcp_audit_next_log_error == NULL) {
        ngx_http_mcp_audit_next_log_error = r->log_handler;
    }

    if (r->log_handler == ngx_http_mcp_audit_next_log_error) {
        r->log_handler = ngx_http_mcp_audit_log_error;
    }

    return NGX_DECLINED;
}


static ngx_table_elt_t *
ngx_http_mcp_audit_header(ngx_http_request_t *r)
{
    ngx_str_t                          value;
    ngx_http_variable_value_t         *v;
    ngx_http_mcp_metrics_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_metrics_module);

    v = &r->variables[mcf->request_id];

    value.data = v->data;
    value.len = v->len;

    return ngx_http_mcp_reply_header(r, &ngx_http_mcp_request_id_header,
                                     &value);
}


/*
 * nginx's own text (client, server, request, upstream, host), then the
 * request id: the value computed already, nothing is allocated here
 */

static u_char *
ngx_http_mcp_audit_log_error(ngx_http_request_t *r, ngx_http_request_t *sr,
    u_char *buf, size_t len)
{
    u_char                            *p;
    ngx_http_variable_value_t         *v;
    ngx_http_mcp_metrics_main_conf_t  *mcf;

    p = ngx_http_mcp_audit_next_log_error(r, sr, buf, len);

    len -= p - buf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_metrics_module);

    v = &r->variables[mcf->request_id];

    if (v->valid && !v->not_found && v->len) {
        p = ngx_snprintf(p, len, ", request_id: \"%v\"", v);
    }

    return p;
}


/* the main request's: one id for it and its subrequests */

static ngx_int_t
ngx_http_mcp_request_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                            *p, *last;
    ngx_table_elt_t                   *h;
    ngx_http_variable_value_t         *vv;
    ngx_http_mcp_metrics_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_metrics_module);

    if (mcf->request_id == NGX_ERROR) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (r != r->main) {
        vv = ngx_http_get_indexed_variable(r->main, mcf->request_id);
        if (vv == NULL) {
            return NGX_ERROR;
        }

        *v = *vv;
        return NGX_OK;
    }

    h = ngx_http_mcp_metrics_header(r, &ngx_http_mcp_request_id_header);

    if (h && h->value.len && h->value.len <= NGX_HTTP_MCP_REQUEST_ID_MAX) {
        last = h->value.data + h->value.len;

        for (p = h->value.data; p < last; p++) {
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                  || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'
                  || *p == '.' || *p == ':' || *p == '+' || *p == '/'
                  || *p == '='))
            {
                break;
            }
        }

        if (p == last) {
            v->data = h->value.data;
            v->len = h->value.len;
            v->valid = 1;
            v->no_cacheable = 0;
            v->not_found = 0;

            return NGX_OK;
        }
    }

    /*
     * none, or one that could not go into a header or a log line as is:
     * nginx's $request_id, which this request has from the module unless
     * something asked for it before
     */

    vv = &r->variables[mcf->nginx_request_id];

    if (!vv->valid && !vv->not_found
        && ngx_http_mcp_request_id_make(r, mcf, vv) != NGX_OK)
    {
        return NGX_ERROR;
    }

    vv = ngx_http_get_indexed_variable(r, mcf->nginx_request_id);
    if (vv == NULL) {
        return NGX_ERROR;
    }

    *v = *vv;

    return NGX_OK;
}


/*
 * $request_id as nginx makes it, 32 hex digits of 16 random bytes, but
 * not with a RAND_bytes() per request (6.6 k instructions, the price of a
 * cache hit's Redis command): the 128-bit SipHash-2-4 of how many ids the
 * worker made, under a random key of the worker's, drawn on its first id.
 * A pseudorandom function of distinct inputs: as unpredictable as
 * random bytes to whoever does not hold the key, which never leaves the
 * worker, and never the same twice in a worker; another worker, or a
 * worker after a reload, has another key.
 */

static ngx_int_t
ngx_http_mcp_request_id_make(ngx_http_request_t *r,
    ngx_http_mcp_metrics_main_conf_t *mcf, ngx_http_variable_value_t *v)
{
    u_char  *p;
    u_char   n[8], id[16];

    if (!mcf->id_keyed) {
        if (RAND_bytes(mcf->id_key, sizeof(mcf->id_key)) != 1) {
            ERR_clear_error();
            return NGX_ERROR;
        }

        mcf->id_keyed = 1;
    }

    mcf->ids++;

    for (p = n; p < n + sizeof(n); p++) {
        *p = (u_char) (mcf->ids >> (8 * (p - n)));
    }

    ngx_http_mcp_siphash(mcf->id_key, n, sizeof(n), id, sizeof(id));

    p = ngx_pnalloc(r->pool, 2 * sizeof(id));
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;
    v->len = ngx_hex_dump(p, id, sizeof(id)) - p;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mcp_audit_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_mcp_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_mcp_module);

    if (ctx && ctx->sr && r->main->method == NGX_HTTP_PUT) {
        v->data = (u_char *) "1";
        v->len = 1;

    } else {
        v->data = (u_char *) "";
        v->len = 0;
    }

    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


/* the PUT body, as the client sent it, read again: only when logged */

static ngx_int_t
ngx_http_mcp_changed_fields_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                   *p;
    size_t                    len;
    json_t                   *json;
    ngx_str_t                 error;
    ngx_chain_t               in;
    ngx_http_mcp_ctx_t       *ctx;
    ngx_http_mcp_registry_t  *reg;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_mcp_module);

    if (ctx == NULL || ctx->client_body == NULL
        || ctx->route.registry == NULL || r->main->method != NGX_HTTP_PUT)
    {
        v->not_found = 1;
        return NGX_OK;
    }

    reg = ctx->route.registry;

    in.buf = ctx->client_body;
    in.next = NULL;

    json = ngx_http_mcp_json_parse(r, &in, &error);

    len = ngx_http_mcp_fields_set(reg->vendor, json, ctx->route.canonical,
                                  NULL, 0);
    if (len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_http_mcp_fields_set(reg->vendor, json, ctx->route.canonical,
                                   (char *) p, len);

    v->data = p;
    v->len = len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mcp_registry_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char              *p;
    ngx_http_mcp_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_mcp_module);

    if (ctx == NULL || !ctx->capture.from_registry) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;
    v->len = ngx_sprintf(p, "%ui", ctx->capture.status) - p;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


/* the first request header of that name, or NULL */

ngx_table_elt_t *
ngx_http_mcp_metrics_header(ngx_http_request_t *r, ngx_str_t *name)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == name->len
            && ngx_strncasecmp(h[i].key.data, name->data, name->len) == 0)
        {
            return &h[i];
        }
    }
}
