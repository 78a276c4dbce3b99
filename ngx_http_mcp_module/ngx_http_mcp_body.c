
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * The PUT body.  A request body filter takes it into the module's own
 * memory as nginx reads it, up to mcp_max_body_size, and hands nginx's
 * save filter only the final (empty) buffer: the body never goes to a
 * temporary file, so it is never read back from one in a worker, and a
 * body over the limit, Content-Length or chunked, is discarded as it
 * arrives.  Once read, it is checked (the body step of the handler): the
 * vendor's own rules on a native route, the canonical schema (and the
 * translation to the vendor's body) on the canonical route.
 */


#include "ngx_http_mcp_module.h"
#include "ngx_http_mcp_map.h"


static ngx_int_t ngx_http_mcp_request_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);


static ngx_http_request_body_filter_pt   ngx_http_next_request_body_filter;


#define NGX_HTTP_MCP_BODY_MIN  4096


static ngx_int_t
ngx_http_mcp_request_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    size_t                    size, want;
    ngx_buf_t                *b, *nb;
    ngx_chain_t              *cl, out;
    ngx_http_mcp_ctx_t       *ctx;
    ngx_http_mcp_loc_conf_t  *mlcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mcp_module);

    if (ctx == NULL || !ctx->reading_body) {
        return ngx_http_next_request_body_filter(r, in);
    }

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mcp_module);

    out.buf = NULL;
    out.next = NULL;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;
        size = b->last - b->pos;

        if (b->last_buf) {
            out.buf = b;
        }

        if (size == 0 || ctx->body_too_large) {
            b->pos = b->last;
            continue;
        }

        nb = ctx->client_body;

        if (nb == NULL || (size_t) (nb->end - nb->last) < size) {

            want = (nb ? nb->last - nb->pos : 0) + size;

            if (want > mlcf->max_body_size) {
                ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                               "mcp request body over %uz bytes",
                               mlcf->max_body_size);

                ctx->body_too_large = 1;
                b->pos = b->last;
                continue;
            }

            /* the announced length, or twice as much room, up to the limit */

            if (r->headers_in.content_length_n > 0) {
                want = ngx_max(want, (size_t) r->headers_in.content_length_n);

            } else {
                want = ngx_max(want, NGX_HTTP_MCP_BODY_MIN);
                want = ngx_max(want, (size_t) (nb ? 2 * (nb->end - nb->start)
                                                  : 0));
            }

            want = ngx_min(want, mlcf->max_body_size);

            nb = ngx_create_temp_buf(r->pool, want);
            if (nb == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            if (ctx->client_body) {
                nb->last = ngx_cpymem(nb->pos, ctx->client_body->pos,
                                      ctx->client_body->last
                                      - ctx->client_body->pos);
            }

            ctx->client_body = nb;
        }

        nb->last = ngx_cpymem(nb->last, b->pos, size);
        b->pos = b->last;
    }

    if (out.buf == NULL) {
        return NGX_OK;
    }

    /* the save filter learns that the body is complete, and nothing else */

    return ngx_http_next_request_body_filter(r, &out);
}


/*
 * The body step: a PUT's body, taken by the filter, is checked; on the
 * canonical route it becomes the vendor's body.  NGX_OK: ctx->forward is
 * what the registry gets; NGX_DECLINED: ctx->reply is the client's error.
 */

ngx_int_t
ngx_http_mcp_body_check(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx)
{
    json_t                       *json, *update;
    ngx_int_t                     rc;
    ngx_str_t                     error;
    ngx_chain_t                  *cl, in;
    ngx_http_mcp_map_err_t        err;
    ngx_http_mcp_loc_conf_t      *mlcf;
    const ngx_http_mcp_vendor_t  *vendor;

    if (r->method != NGX_HTTP_PUT) {
        return NGX_OK;
    }

    if (ctx->body_too_large) {
        mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mcp_module);

        rc = ngx_http_mcp_reply_detail(r, &ctx->reply,
                                      NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                      "Request body is larger than %uz bytes.",
                                      mlcf->max_body_size);
        goto refused;
    }

    if (ctx->client_body == NULL
        || ctx->client_body->last == ctx->client_body->pos)
    {
        rc = ngx_http_mcp_reply_detail(r, &ctx->reply, NGX_HTTP_BAD_REQUEST,
                                       "A JSON request body is required.");
        goto refused;
    }

    in.buf = ctx->client_body;
    in.next = NULL;

    json = ngx_http_mcp_json_parse(r, &in, &error);

    if (json == NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mcp: request body is not valid JSON: %V", &error);

        rc = ngx_http_mcp_reply_detail(r, &ctx->reply, NGX_HTTP_BAD_REQUEST,
                                       "JSON parse error - %V", &error);
        goto refused;
    }

    if (!json_is_object(json)) {
        rc = ngx_http_mcp_reply_detail(r, &ctx->reply, NGX_HTTP_BAD_REQUEST,
                                     "The request body must be a JSON object.");
        goto refused;
    }

    vendor = ctx->route.registry->vendor;

    if (!ctx->route.canonical) {

        /*
         * a native body is forwarded as it came, if the vendor's rules
         * accept it
         */

        if (ngx_http_mcp_map_check_native(vendor, json, &err) != 0) {
            goto invalid;
        }

        ctx->forward = ctx->client_body;
        return NGX_OK;
    }

    /* a canonical update becomes the vendor's PUT body */

    update = ngx_http_mcp_map_update(vendor, json, &err);

    if (update == NULL) {
        goto invalid;
    }

    if (ngx_http_mcp_json_track(r, update) != NGX_OK
        || ngx_http_mcp_json_dump(r, update, &cl) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ctx->forward = cl->buf;

    return NGX_OK;

invalid:

    /* the message names fields and rules, never values */

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mcp: invalid update for registry \"%V\": %s",
                  &ctx->route.registry->name, err.text);

    rc = ngx_http_mcp_reply_detail(r, &ctx->reply, NGX_HTTP_BAD_REQUEST,
                                   "%s", err.text);

refused:

    return (rc == NGX_OK) ? NGX_DECLINED : NGX_ERROR;
}


ngx_int_t
ngx_http_mcp_body_init(ngx_conf_t *cf)
{
    ngx_http_next_request_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_http_mcp_request_body_filter;

    return NGX_OK;
}
