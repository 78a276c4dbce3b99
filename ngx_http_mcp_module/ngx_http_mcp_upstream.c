
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * Talking to a registry: a subrequest to the registry's internal location,
 * where "proxy_pass" (and with it upstream blocks, keepalive, timeouts, TLS
 * and balancing) does the HTTP.  The subrequest's header and body never
 * reach the client: the filters below capture them into the parent's
 * context, so the whole answer can be checked and transformed before the
 * parent sends its own.
 */


#include "ngx_http_mcp_module.h"


static ngx_int_t ngx_http_mcp_upstream_done(ngx_http_request_t *r,
    void *data, ngx_int_t rc);
static ngx_int_t ngx_http_mcp_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_mcp_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


static ngx_str_t  ngx_http_mcp_put_method = ngx_string("PUT");


#define NGX_HTTP_MCP_CAPTURE_MIN  16384


/*
 * Starts the subrequest "<pass><vendor path><id>[?args]" for the route of
 * ctx; a PUT carries ctx->request_body.  The parent is woken up through
 * its write event handler when the subrequest is done.
 */

ngx_int_t
ngx_http_mcp_upstream_start(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx)
{
    u_char                       *p;
    size_t                        len;
    ngx_log_t                    *log;
    ngx_str_t                     uri;
    const char                   *path;
    ngx_chain_t                  *cl;
    ngx_http_request_t           *sr;
    ngx_http_mcp_registry_t      *reg;
    ngx_http_request_body_t      *rb;
    ngx_http_post_subrequest_t   *ps;

    reg = ctx->route.registry;
    path = ngx_http_mcp_vendor_path(reg->vendor);

    len = reg->pass.len + ngx_strlen(path) + ctx->route.id.len;

    uri.data = ngx_pnalloc(r->pool, len);
    if (uri.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(uri.data, reg->pass.data, reg->pass.len);
    p = ngx_cpymem(p, path, ngx_strlen(path));
    p = ngx_cpymem(p, ctx->route.id.data, ctx->route.id.len);
    uri.len = p - uri.data;

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_mcp_upstream_done;
    ps->data = ctx;

    if (ngx_http_subrequest(r, &uri, ctx->route.canonical ? NULL : &r->args,
                            &sr, ps, NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ctx->sr = sr;
    ctx->upstream.content_length = -1;
    ctx->upstream.last = &ctx->upstream.body;

    /* the filters recognize the subrequest by the parent's context */

    ngx_http_set_ctx(sr, ctx, ngx_http_mcp_module);

    /* sr->headers_in is a copy: changing it leaves the parent's alone */

    sr->headers_in.chunked = 0;

    if (ctx->request_body == NULL) {
        sr->method = NGX_HTTP_GET;
        sr->headers_in.content_length_n = -1;
        sr->request_body = NULL;

    } else {
        rb = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
        if (rb == NULL) {
            return NGX_ERROR;
        }

        cl = ngx_alloc_chain_link(r->pool);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        cl->buf = ctx->request_body;
        cl->next = NULL;
        rb->bufs = cl;

        sr->method = NGX_HTTP_PUT;
        sr->method_name = ngx_http_mcp_put_method;
        sr->request_body = rb;
        sr->headers_in.content_length_n = ngx_buf_size(ctx->request_body);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mcp upstream subrequest \"%V\" %V",
                   &uri, &sr->method_name);

    /*
     * While the registry is known to be failing (the module logged it),
     * nginx's own error for every further failed request is not logged:
     * a subrequest logs through the connection's log, at the level of the
     * main request's location, so that level is raised to "crit" until
     * the subrequest is done.  Never at debug level.
     */

    log = r->connection->log;

    if (reg->failing && log->log_level < NGX_LOG_DEBUG
        && log->log_level > NGX_LOG_CRIT)
    {
        ctx->log_level = log->log_level;
        log->log_level = NGX_LOG_CRIT;
    }

    return NGX_OK;
}


/* the subrequest is done: the connection's log level comes back */

void
ngx_http_mcp_upstream_finish(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx)
{
    if (ctx->log_level) {
        r->connection->log->log_level = ctx->log_level;
        ctx->log_level = 0;
    }
}


static ngx_int_t
ngx_http_mcp_upstream_done(ngx_http_request_t *r, void *data, ngx_int_t rc)
{
    ngx_http_mcp_ctx_t *ctx = data;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mcp upstream subrequest done rc:%i status:%ui",
                   rc, ctx->upstream.status);

    /*
     * called again with the final rc when nginx itself answers an error
     * for the subrequest: the first status, the one that says what went
     * wrong, is kept
     */

    if (ctx->upstream.status == 0 && rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        ctx->upstream.status = rc;
    }

    return rc;
}


static ngx_int_t
ngx_http_mcp_header_filter(ngx_http_request_t *r)
{
    ngx_http_mcp_ctx_t       *ctx;
    ngx_http_mcp_response_t  *res;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mcp_module);

    if (ctx == NULL || ctx->sr != r) {
        return ngx_http_next_header_filter(r);
    }

    res = &ctx->upstream;

    if (res->header) {
        return NGX_OK;
    }

    res->header = 1;
    res->status = r->headers_out.status;
    res->content_length = r->headers_out.content_length_n;
    res->content_type = r->headers_out.content_type;

    /* only a status line from the registry counts as its answer */

    res->from_upstream = r->upstream && r->upstream->headers_in.status_n;

    if (r->upstream && r->upstream->peer.name) {
        res->peer = *r->upstream->peer.name;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mcp upstream header: status:%ui length:%O vendor:%ui",
                   res->status, res->content_length, res->from_upstream);

    return NGX_OK;
}


static ngx_int_t
ngx_http_mcp_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    size_t                    size, want;
    ngx_buf_t                *b, *nb;
    ngx_chain_t              *cl, *in_cl;
    ngx_http_mcp_ctx_t       *ctx;
    ngx_http_mcp_response_t  *res;
    ngx_http_mcp_loc_conf_t  *mlcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mcp_module);

    if (ctx == NULL || ctx->sr != r) {
        return ngx_http_next_body_filter(r, in);
    }

    res = &ctx->upstream;
    mlcf = ngx_http_get_module_loc_conf(r->parent, ngx_http_mcp_module);

    for (in_cl = in; in_cl; in_cl = in_cl->next) {
        b = in_cl->buf;

        if (b->last_buf || b->last_in_chain) {
            res->eof = 1;
        }

        if (!ngx_buf_in_memory(b)) {
            if (b->in_file) {
                /* reading it here would block the worker */
                res->in_file = 1;
                b->file_pos = b->file_last;
            }

            continue;
        }

        size = b->last - b->pos;

        if (size == 0 || res->too_large || res->in_file) {
            b->pos = b->last;
            continue;
        }

        if (res->size + size > mlcf->upstream_max_body_size) {
            res->too_large = 1;
            b->pos = b->last;
            continue;
        }

        /*
         * copy: the upstream reuses its buffers once they are consumed.
         * The copies go into as few buffers as possible: one of the
         * announced length, or ones of at least 16k when none is.
         */

        nb = res->last_buf;

        if (nb == NULL || (size_t) (nb->end - nb->last) < size) {
            want = ngx_max(size, NGX_HTTP_MCP_CAPTURE_MIN);

            if (res->content_length > (off_t) res->size) {
                want = ngx_max(size,
                               (size_t) (res->content_length - res->size));
            }

            want = ngx_min(want, mlcf->upstream_max_body_size - res->size);

            cl = ngx_alloc_chain_link(r->pool);
            if (cl == NULL) {
                return NGX_ERROR;
            }

            nb = ngx_create_temp_buf(r->pool, want);
            if (nb == NULL) {
                return NGX_ERROR;
            }

            cl->buf = nb;
            cl->next = NULL;
            *res->last = cl;
            res->last = &cl->next;
            res->last_buf = nb;
        }

        nb->last = ngx_cpymem(nb->last, b->pos, size);

        res->size += size;
        b->pos = b->last;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_mcp_upstream_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_mcp_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_mcp_body_filter;

    return NGX_OK;
}
