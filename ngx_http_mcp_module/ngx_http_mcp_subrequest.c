
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * Talking to a registry: a subrequest to the registry's internal location,
 * where "proxy_pass" (and with it upstream blocks, keepalive, timeouts, TLS
 * and balancing) does the HTTP.  The subrequest's header and body never
 * reach the client: the module's filters (ngx_http_mcp_filter.c) hand them
 * to the capture below, into the parent's context, so the whole answer
 * can be checked and transformed before the parent sends its own.
 */


#include "ngx_http_mcp_module.h"


static ngx_int_t ngx_http_mcp_subrequest_done(ngx_http_request_t *r,
    void *data, ngx_int_t rc);
static ngx_int_t ngx_http_mcp_subrequest_headers(ngx_http_request_t *sr);


static ngx_str_t  ngx_http_mcp_put_method = ngx_string("PUT");


typedef struct {
    ngx_str_t    name;
    ngx_uint_t   prefix;        /* every header whose name starts so */
} ngx_http_mcp_header_t;


/* the client's headers the registry is not given: see below */

static const ngx_http_mcp_header_t  ngx_http_mcp_dropped[] = {
    { ngx_string("Authorization"), 0 },
    { ngx_string("Proxy-Authorization"), 0 },
    { ngx_string("Cookie"), 0 },
    { ngx_string("Content-Encoding"), 0 },
    { ngx_string("X-"), 1 },
    { ngx_string("If-"), 1 },
    { ngx_string("Range"), 0 },
    { ngx_null_string, 0 }
};


#define NGX_HTTP_MCP_CAPTURE_MIN  16384


/*
 * Starts the subrequest "<pass><vendor path><id>[?args]" for the route of
 * ctx; a PUT carries ctx->forward.  The parent is woken up through its
 * write event handler when the subrequest is done.
 */

ngx_int_t
ngx_http_mcp_subrequest_start(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx)
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
    ngx_http_mcp_main_conf_t     *mmcf;
    ngx_http_post_subrequest_t   *ps;

    reg = ctx->route.registry;
    path = reg->vendor->path;

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

    ps->handler = ngx_http_mcp_subrequest_done;
    ps->data = ctx;

    if (ngx_http_subrequest(r, &uri, ctx->route.canonical ? NULL : &r->args,
                            &sr, ps, NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ctx->sr = sr;
    ctx->capture.content_length = -1;
    ctx->capture.last = &ctx->capture.body;

    /* the filters recognize the subrequest by the parent's context */

    ngx_http_set_ctx(sr, ctx, ngx_http_mcp_module);

    /* sr->headers_in is a copy: changing it leaves the parent's alone */

    sr->headers_in.chunked = 0;

    if (ngx_http_mcp_subrequest_headers(sr) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ctx->forward == NULL) {
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

        cl->buf = ctx->forward;
        cl->next = NULL;
        rb->bufs = cl;

        sr->method = NGX_HTTP_PUT;
        sr->method_name = ngx_http_mcp_put_method;
        sr->request_body = rb;
        sr->headers_in.content_length_n = ngx_buf_size(ctx->forward);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mcp subrequest \"%V\" %V",
                   &uri, &sr->method_name);

    /*
     * While the registry is known to be failing (the module logged it),
     * nginx's own error for every further failed request is not logged:
     * a subrequest logs through the connection's log, at the level of the
     * main request's location, so that level is raised to "crit" until
     * the subrequest is done.  Never at debug level.
     */

    log = r->connection->log;
    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_module);

    if (mmcf->health[reg->index].failing && log->log_level < NGX_LOG_DEBUG
        && log->log_level > NGX_LOG_CRIT)
    {
        ctx->log_level = log->log_level;
        log->log_level = NGX_LOG_CRIT;
    }

    return NGX_OK;
}


/*
 * The client's headers the registry is not given (the subrequest's list
 * is made anew; the client's stays as it was):
 *
 *   - Authorization, Proxy-Authorization: the caller's token is the
 *     gateway's; a registry is given the gateway's own credential
 *     (proxy_set_header Authorization in its location), and a location
 *     that forgets to set one sends none, never the caller's;
 *   - Cookie: a browser's cookies may hold the caller's token
 *     (mcp_auth_jwt token=$cookie_...), and are the gateway's, not the
 *     vendor's;
 *   - Content-Encoding: the body sent is the one the module read and
 *     checked as JSON, never encoded;
 *   - X-*: X-Forwarded-For, X-User, X-Tenant, X-Api-Key...  are what a
 *     registry behind a gateway may trust; the gateway vouches for none
 *     of the client's (the registry's location sets its own with
 *     proxy_set_header, which still applies: X-MCP-Caller $mcp_jwt_sub);
 *   - If-* and Range: the module needs the whole answer, a 200 it can
 *     check and keep for every caller, not a 304 or a 206.
 *
 * Everything else (User-Agent, Accept-Language, traceparent...) goes as
 * proxy_pass would send it.  Content-Length and Transfer-Encoding
 * are proxy_pass's own, from the body the module gives it.
 */

static ngx_int_t
ngx_http_mcp_subrequest_headers(ngx_http_request_t *sr)
{
    ngx_uint_t                    i;
    ngx_list_t                    headers;
    ngx_table_elt_t              *h, *nh;
    ngx_list_part_t              *part;
    const ngx_http_mcp_header_t  *d;

    if (ngx_list_init(&headers, sr->pool, 16, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    part = &sr->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        for (d = ngx_http_mcp_dropped; d->name.len; d++) {
            if ((h[i].key.len == d->name.len
                 || (d->prefix && h[i].key.len > d->name.len))
                && ngx_strncasecmp(h[i].key.data, d->name.data, d->name.len)
                   == 0)
            {
                break;
            }
        }

        if (d->name.len) {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                           "mcp subrequest without header \"%V\"",
                           &h[i].key);
            continue;
        }

        nh = ngx_list_push(&headers);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        *nh = h[i];
    }

    sr->headers_in.headers = headers;

    return NGX_OK;
}


/* the subrequest is done: the connection's log level comes back */

void
ngx_http_mcp_subrequest_finish(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx)
{
    if (ctx->log_level) {
        r->connection->log->log_level = ctx->log_level;
        ctx->log_level = 0;
    }
}


static ngx_int_t
ngx_http_mcp_subrequest_done(ngx_http_request_t *r, void *data, ngx_int_t rc)
{
    ngx_http_mcp_ctx_t *ctx = data;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mcp subrequest done rc:%i status:%ui",
                   rc, ctx->capture.status);

    /*
     * called again with the final rc when nginx itself answers an error
     * for the subrequest: the first status, the one that says what went
     * wrong, is kept
     */

    if (ctx->capture.status == 0 && rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        ctx->capture.status = rc;
    }

    /*
     * An upstream that fails once its header went through the filters
     * (an invalid chunk, a chunk size over 2^63, a reset) ends the
     * subrequest with NGX_ERROR, which nginx passes on to the main
     * request: the client's connection would be closed without an
     * answer.  The failure is the registry's, not the client's: it is
     * recorded, and the parent answers a 502.  A client that went away
     * (c->error) still ends everything.
     */

    if (rc == NGX_ERROR && !r->connection->error) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "mcp subrequest failed after its header");

        ctx->capture.broken = 1;
        return NGX_OK;
    }

    return rc;
}


/* the subrequest's header (ngx_http_mcp_filter.c): kept, never sent */

ngx_int_t
ngx_http_mcp_capture_header(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx)
{
    ngx_http_mcp_capture_t  *cap;

    cap = &ctx->capture;

    if (cap->header) {
        return NGX_OK;
    }

    cap->header = 1;
    cap->status = r->headers_out.status;
    cap->content_length = r->headers_out.content_length_n;

    /* only a status line from the registry counts as its answer */

    cap->from_registry = r->upstream && r->upstream->headers_in.status_n;

    if (r->upstream && r->upstream->peer.name) {
        cap->peer = *r->upstream->peer.name;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mcp capture header: status:%ui length:%O registry:%ui",
                   cap->status, cap->content_length, cap->from_registry);

    return NGX_OK;
}


/* the subrequest's body: copied into the parent's context, never sent */

ngx_int_t
ngx_http_mcp_capture_body(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_chain_t *in)
{
    size_t                    size, want;
    ngx_buf_t                *b, *nb;
    ngx_chain_t              *cl, *in_cl;
    ngx_http_mcp_capture_t   *cap;
    ngx_http_mcp_loc_conf_t  *mlcf;

    cap = &ctx->capture;
    mlcf = ngx_http_get_module_loc_conf(r->parent, ngx_http_mcp_module);

    for (in_cl = in; in_cl; in_cl = in_cl->next) {
        b = in_cl->buf;

        if (b->last_buf || b->last_in_chain) {
            cap->eof = 1;
        }

        if (!ngx_buf_in_memory(b)) {
            if (b->in_file) {
                /* reading it here would block the worker */
                cap->in_file = 1;
                b->file_pos = b->file_last;
            }

            continue;
        }

        size = b->last - b->pos;

        if (size == 0 || cap->too_large || cap->in_file) {
            b->pos = b->last;
            continue;
        }

        if (cap->size + size > mlcf->upstream_max_body_size) {
            cap->too_large = 1;
            b->pos = b->last;
            continue;
        }

        /*
         * copy: the upstream reuses its buffers once they are consumed.
         * The copies go into as few buffers as possible: one of the
         * announced length, or ones of at least 16k when none is.
         */

        nb = cap->buf;

        if (nb == NULL || (size_t) (nb->end - nb->last) < size) {
            want = ngx_max(size, NGX_HTTP_MCP_CAPTURE_MIN);

            if (cap->content_length > (off_t) cap->size) {
                want = ngx_max(size,
                               (size_t) (cap->content_length - cap->size));
            }

            want = ngx_min(want, mlcf->upstream_max_body_size - cap->size);

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
            *cap->last = cl;
            cap->last = &cl->next;
            cap->buf = nb;
        }

        nb->last = ngx_cpymem(nb->last, b->pos, size);

        cap->size += size;
        b->pos = b->last;
    }

    return NGX_OK;
}
