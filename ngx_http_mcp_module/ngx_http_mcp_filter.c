
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * The module's output filters, an HTTP_AUX_FILTER just below the copy
 * filter, like srcache's.  They touch two kinds of output and pass every
 * other on untouched:
 *
 *   - the registry's answer to the module's subrequest: captured into the
 *     parent's context (ngx_http_mcp_subrequest.c), never sent;
 *   - nginx's own answer to a status the access phase returned: its HTML
 *     body becomes the JSON recorded by ngx_http_mcp_reply_status().
 */


#include "ngx_http_mcp_module.h"


static ngx_int_t ngx_http_mcp_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_mcp_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


static ngx_int_t
ngx_http_mcp_header_filter(ngx_http_request_t *r)
{
    off_t                len;
    ngx_chain_t         *cl;
    ngx_http_mcp_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mcp_module);

    if (ctx == NULL) {
        return ngx_http_next_header_filter(r);
    }

    if (ctx->sr == r) {
        return ngx_http_mcp_capture_header(r, ctx);
    }

    /*
     * nginx's special response for the status of a refusal: err_status is
     * set only there, and an error_page would have cleared the context
     */

    if (r != r->main
        || ctx->refusal.status == 0
        || r->err_status != ctx->refusal.status)
    {
        return ngx_http_next_header_filter(r);
    }

    len = 0;

    for (cl = ctx->refusal.body; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    ngx_http_mcp_reply_json_headers(r, len);

    ctx->replace = 1;

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_mcp_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_uint_t           last;
    ngx_chain_t         *cl;
    ngx_http_mcp_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mcp_module);

    if (ctx == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    if (ctx->sr == r) {
        return ngx_http_mcp_capture_body(r, ctx, in);
    }

    if (!ctx->replace || r != r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    /* nginx's page goes nowhere; ours goes with its last buffer */

    last = 0;

    for (cl = in; cl; cl = cl->next) {
        if (cl->buf->last_buf) {
            last = 1;
        }

        cl->buf->pos = cl->buf->last;
    }

    if (!last) {
        return NGX_OK;
    }

    ctx->replace = 0;

    for (cl = ctx->refusal.body; cl->next; cl = cl->next) { /* void */ }

    cl->buf->last_buf = 1;
    cl->buf->last_in_chain = 1;

    return ngx_http_next_body_filter(r, ctx->refusal.body);
}


/* once per configuration, for whichever of the modules needs it first */

ngx_int_t
ngx_http_mcp_filter_init(ngx_conf_t *cf)
{
    ngx_http_mcp_main_conf_t  *mmcf;

    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mcp_module);

    if (mmcf->filters) {
        return NGX_OK;
    }

    mmcf->filters = 1;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_mcp_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_mcp_body_filter;

    return NGX_OK;
}
