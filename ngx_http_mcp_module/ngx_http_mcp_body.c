
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * The PUT body.  A request body filter takes it into the module's own
 * memory as nginx reads it, up to mcp_max_body_size, and hands nginx's
 * save filter only the final (empty) buffer: the body never goes to a
 * temporary file, so it is never read back from one in a worker, and a
 * body over the limit, Content-Length or chunked, is discarded as it
 * arrives.  Once read, it is checked: the vendor's own rules on a native
 * route, the canonical schema (and the translation to the vendor's body)
 * on the canonical route.
 */


#include "ngx_http_mcp_module.h"
#include "ngx_http_mcp_map.h"


static ngx_int_t ngx_http_mcp_request_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_mcp_body_check(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_str_t *detail);


static ngx_http_request_body_filter_pt   ngx_http_next_request_body_filter;


#define NGX_HTTP_MCP_BODY_MIN  4096


void
ngx_http_mcp_body_handler(ngx_http_request_t *r)
{
    ngx_int_t            rc;
    ngx_str_t            detail;
    ngx_http_mcp_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mcp_module);
    ctx->reading_body = 0;

    rc = ngx_http_mcp_body_check(r, ctx, &detail);

    if (rc == NGX_OK) {
        ngx_http_mcp_next(r, ctx);
        return;
    }

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_finalize_request(r, ngx_http_mcp_send_error(r, rc, "%V",
                                                         &detail));
}


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

        nb = ctx->body;

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

            if (ctx->body) {
                nb->last = ngx_cpymem(nb->pos, ctx->body->pos,
                                      ctx->body->last - ctx->body->pos);
            }

            ctx->body = nb;
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
 * Checks the body taken by the filter; returns NGX_OK, NGX_ERROR, or the
 * status of a client error with "detail" set.
 */

static ngx_int_t
ngx_http_mcp_body_check(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_str_t *detail)
{
    u_char                   *p;
    json_t                   *json, *update;
    ngx_int_t                 vendor;
    ngx_str_t                 error;
    ngx_chain_t              *cl, in;
    ngx_http_mcp_map_err_t    err;
    ngx_http_mcp_loc_conf_t  *mlcf;

    if (ctx->body_too_large) {
        mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mcp_module);

        detail->data = ngx_pnalloc(r->pool, NGX_SIZE_T_LEN
                                   + sizeof("Request body is larger than "
                                            " bytes.") - 1);
        if (detail->data == NULL) {
            return NGX_ERROR;
        }

        detail->len = ngx_sprintf(detail->data,
                                  "Request body is larger than %uz bytes.",
                                  mlcf->max_body_size)
                      - detail->data;

        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    if (ctx->body == NULL || ctx->body->last == ctx->body->pos) {
        ngx_str_set(detail, "A JSON request body is required.");
        return NGX_HTTP_BAD_REQUEST;
    }

    in.buf = ctx->body;
    in.next = NULL;

    json = ngx_http_mcp_json_parse(r, &in, &error);

    if (json == NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mcp: request body is not valid JSON: %V", &error);

        detail->data = ngx_pnalloc(r->pool, sizeof("JSON parse error - ") - 1
                                            + error.len);
        if (detail->data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(detail->data, "JSON parse error - ",
                       sizeof("JSON parse error - ") - 1);
        p = ngx_cpymem(p, error.data, error.len);
        detail->len = p - detail->data;

        return NGX_HTTP_BAD_REQUEST;
    }

    if (!json_is_object(json)) {
        ngx_str_set(detail, "The request body must be a JSON object.");
        return NGX_HTTP_BAD_REQUEST;
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

        ctx->request_body = ctx->body;
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

    ctx->request_body = cl->buf;

    return NGX_OK;

invalid:

    /* the message names fields and rules, never values */

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mcp: invalid update for registry \"%V\": %s",
                  &ctx->route.registry->name, err.text);

    detail->len = ngx_strlen(err.text);
    detail->data = ngx_pnalloc(r->pool, detail->len);
    if (detail->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(detail->data, err.text, detail->len);

    return NGX_HTTP_BAD_REQUEST;
}


ngx_int_t
ngx_http_mcp_body_init(ngx_conf_t *cf)
{
    ngx_http_next_request_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_http_mcp_request_body_filter;

    return NGX_OK;
}
