
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * Every answer the module writes itself: the JSON answers of the content
 * handler, and the one shape of every error the gateway makes,
 * {"detail": "..."} (the shape of the vendors' own errors; on the
 * canonical route a registry's error also names the registry and its
 * status).  This file alone builds error bodies.
 *
 * A refusal of the access phase is not sent from here: the access
 * handler returns its status, so that nginx's "auth_delay" and
 * "error_page" apply as they do to auth_basic; without an error_page for
 * it, the module's filter (ngx_http_mcp_filter.c) gives nginx's own
 * answer the body recorded by ngx_http_mcp_reply_status().
 */


#include "ngx_http_mcp_module.h"


#define NGX_HTTP_MCP_DETAIL_MAX  512


static ngx_int_t ngx_http_mcp_reply_vdetail(ngx_http_request_t *r,
    ngx_http_mcp_reply_t *reply, ngx_uint_t status, const char *fmt,
    va_list args);
static ngx_int_t ngx_http_mcp_reply_body(ngx_http_request_t *r,
    ngx_http_mcp_reply_t *reply, ngx_uint_t status, u_char *detail,
    size_t len, ngx_http_mcp_registry_t *reg);


static ngx_str_t  ngx_http_mcp_json_type = ngx_string("application/json");


/*
 * Sends reply->status with the JSON of reply->body (a chain of in-memory
 * buffers, or NULL) as the whole answer, and returns what
 * ngx_http_finalize_request() is to be called with.
 */

ngx_int_t
ngx_http_mcp_reply_send(ngx_http_request_t *r, ngx_http_mcp_reply_t *reply)
{
    off_t         len;
    ngx_int_t     rc;
    ngx_chain_t  *cl;

    len = 0;

    for (cl = reply->body; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    r->headers_out.status = reply->status;

    ngx_http_mcp_reply_json_headers(r, len);

    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);

    if (len == 0 || r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    for (cl = reply->body; cl->next; cl = cl->next) { /* void */ }

    cl->buf->last_buf = 1;
    cl->buf->last_in_chain = 1;

    return ngx_http_output_filter(r, reply->body);
}


/* Content-Type and Content-Length of a JSON body of "len" bytes */

void
ngx_http_mcp_reply_json_headers(ngx_http_request_t *r, off_t len)
{
    r->headers_out.content_type = ngx_http_mcp_json_type;
    r->headers_out.content_type_len = ngx_http_mcp_json_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = len;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }
}


/* reply = status, {"detail": "<message>"} */

ngx_int_t
ngx_http_mcp_reply_detail(ngx_http_request_t *r, ngx_http_mcp_reply_t *reply,
    ngx_uint_t status, const char *fmt, ...)
{
    va_list    args;
    ngx_int_t  rc;

    va_start(args, fmt);
    rc = ngx_http_mcp_reply_vdetail(r, reply, status, fmt, args);
    va_end(args);

    return rc;
}


/* a registry's error on the canonical route: {"detail", "registry", ...} */

ngx_int_t
ngx_http_mcp_reply_registry_error(ngx_http_request_t *r,
    ngx_http_mcp_reply_t *reply, ngx_uint_t status,
    ngx_http_mcp_registry_t *reg, const char *detail, size_t len)
{
    return ngx_http_mcp_reply_body(r, reply, status, (u_char *) detail, len,
                                   reg);
}


/*
 * Answers a client mistake found before anything was sent upstream, from
 * the content handler (which returns what this returns).
 */

ngx_int_t
ngx_http_mcp_reply_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *fmt, ...)
{
    va_list               args;
    ngx_int_t             rc;
    ngx_http_mcp_reply_t  reply;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    va_start(args, fmt);
    rc = ngx_http_mcp_reply_vdetail(r, &reply, status, fmt, args);
    va_end(args);

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mcp_reply_send(r, &reply);
}


/*
 * Records the body of the answer nginx itself sends for "status", and
 * returns the status, for a phase handler to return.  If an error_page
 * takes the request elsewhere, the record goes with the module's context
 * (nginx clears it on internal redirects).
 */

ngx_int_t
ngx_http_mcp_reply_status(ngx_http_request_t *r, ngx_uint_t status,
    const char *fmt, ...)
{
    va_list              args;
    ngx_int_t            rc;
    ngx_http_mcp_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mcp_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_mcp_ctx_t));
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_http_set_ctx(r, ctx, ngx_http_mcp_module);
    }

    va_start(args, fmt);
    rc = ngx_http_mcp_reply_vdetail(r, &ctx->refusal, status, fmt, args);
    va_end(args);

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return status;
}


static ngx_int_t
ngx_http_mcp_reply_vdetail(ngx_http_request_t *r, ngx_http_mcp_reply_t *reply,
    ngx_uint_t status, const char *fmt, va_list args)
{
    u_char  *p;
    u_char   detail[NGX_HTTP_MCP_DETAIL_MAX];

    p = ngx_vslprintf(detail, detail + sizeof(detail), fmt, args);

    return ngx_http_mcp_reply_body(r, reply, status, detail, p - detail,
                                   NULL);
}


/*
 * The one writer of error bodies.  The detail is JSON-escaped here, so a
 * caller may format request data into it (never a secret), and kept
 * printable ASCII; with "reg", it is the registry's own message (jansson
 * checked its UTF-8), and the registry and the status are named too.
 */

static ngx_int_t
ngx_http_mcp_reply_body(ngx_http_request_t *r, ngx_http_mcp_reply_t *reply,
    ngx_uint_t status, u_char *detail, size_t len,
    ngx_http_mcp_registry_t *reg)
{
    u_char     *p;
    size_t      i;
    json_t     *json;
    ngx_int_t   rc;

    if (detail == NULL) {
        p = (u_char *) "The registry refused the request.";
        len = sizeof("The registry refused the request.") - 1;

    } else if (reg) {
        p = detail;

    } else {
        p = detail;

        for (i = 0; i < len; i++) {
            if (p[i] < 0x20 || p[i] >= 0x7f) {
                p[i] = '?';
            }
        }
    }

    json = json_object();
    if (json == NULL) {
        return NGX_ERROR;
    }

    if (json_object_set_new(json, "detail", json_stringn((char *) p, len))
        != 0
        || (reg
            && (json_object_set_new(json, "registry",
                                    json_stringn((char *) reg->name.data,
                                                 reg->name.len))
                != 0
                || json_object_set_new(json, "status",
                                       json_integer(status))
                   != 0)))
    {
        json_decref(json);
        return NGX_ERROR;
    }

    reply->status = status;

    rc = ngx_http_mcp_json_dump(r, json, &reply->body);

    json_decref(json);

    return rc;
}


/* adds a response header; NULL if out of memory */

ngx_table_elt_t *
ngx_http_mcp_reply_header(ngx_http_request_t *r, ngx_str_t *key,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NULL;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    h->key = *key;
    h->value = *value;

    return h;
}
