
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * Sending JSON answers, including the {"detail": "..."} error shape every
 * error of the gateway takes (the shape of the vendors' own errors).
 */


#include "ngx_http_mcp_module.h"


#define NGX_HTTP_MCP_DETAIL_MAX  512


static ngx_str_t  ngx_http_mcp_json_type = ngx_string("application/json");


/*
 * Sends status and the JSON in "body" (a chain of in-memory buffers, or
 * NULL) as the whole answer, and returns what ngx_http_finalize_request()
 * is to be called with.
 */

ngx_int_t
ngx_http_mcp_send(ngx_http_request_t *r, ngx_uint_t status, ngx_chain_t *body)
{
    off_t         len;
    ngx_int_t     rc;
    ngx_chain_t  *cl;

    len = 0;

    for (cl = body; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    r->headers_out.status = status;
    r->headers_out.content_type = ngx_http_mcp_json_type;
    r->headers_out.content_type_len = ngx_http_mcp_json_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = len;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

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

    for (cl = body; cl->next; cl = cl->next) { /* void */ }

    cl->buf->last_buf = 1;
    cl->buf->last_in_chain = 1;

    return ngx_http_output_filter(r, body);
}


/* sends {"detail": "<message>"} */

ngx_int_t
ngx_http_mcp_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *fmt, ...)
{
    u_char       *p;
    va_list       args;
    ngx_chain_t  *out;
    u_char        detail[NGX_HTTP_MCP_DETAIL_MAX];

    va_start(args, fmt);
    p = ngx_vslprintf(detail, detail + sizeof(detail), fmt, args);
    va_end(args);

    if (ngx_http_mcp_error_body(r, &out, "%*s", p - detail, detail)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_mcp_send(r, status, out);
}


/*
 * Makes the body {"detail": "<message>"}.  The message is JSON-escaped
 * here, so a caller may format request data into it (never a secret).
 */

ngx_int_t
ngx_http_mcp_error_body(ngx_http_request_t *r, ngx_chain_t **out,
    const char *fmt, ...)
{
    u_char     *p, *q;
    json_t     *json;
    va_list     args;
    ngx_int_t   rc;
    u_char      detail[NGX_HTTP_MCP_DETAIL_MAX];

    va_start(args, fmt);
    p = ngx_vslprintf(detail, detail + sizeof(detail), fmt, args);
    va_end(args);

    /* keep the detail printable ASCII, so that it is always valid JSON */

    for (q = detail; q < p; q++) {
        if (*q < 0x20 || *q >= 0x7f) {
            *q = '?';
        }
    }

    json = json_object();
    if (json == NULL) {
        return NGX_ERROR;
    }

    if (json_object_set_new(json, "detail",
                            json_stringn((char *) detail, p - detail))
        != 0)
    {
        json_decref(json);
        return NGX_ERROR;
    }

    rc = ngx_http_mcp_json_dump(r, json, out);

    json_decref(json);

    return rc;
}


/* adds a response header; NULL if out of memory */

ngx_table_elt_t *
ngx_http_mcp_add_header(ngx_http_request_t *r, ngx_str_t *key,
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
