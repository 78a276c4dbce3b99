
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * The answer step: what the registry answered the subrequest becomes the
 * client's answer.  It is checked (complete, within limits, JSON, the
 * vendor's shape for a 2xx), loses its secrets whichever view the client
 * gets, and is turned into the canonical shape when the client gets that
 * view.  A registry that fails is logged once when it starts failing, and
 * once when it answers again, not for every request in between.
 */


#include "ngx_http_mcp_module.h"
#include "ngx_http_mcp_map.h"


static ngx_int_t ngx_http_mcp_answer_failed(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_uint_t status, const char *why);


/* ctx->reply = the client's answer; NGX_ERROR only on internal errors */

ngx_int_t
ngx_http_mcp_answer(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx)
{
    int                              shape;
    json_t                          *json, *server, *out;
    size_t                           len;
    ngx_str_t                        error;
    ngx_uint_t                       ok;
    const char                      *detail;
    ngx_http_mcp_map_err_t           err;
    ngx_http_mcp_capture_t          *cap;
    ngx_http_mcp_registry_t         *reg;
    ngx_http_mcp_main_conf_t        *mmcf;
    ngx_http_mcp_registry_health_t  *health;

    cap = &ctx->capture;
    reg = ctx->route.registry;

    if (!cap->from_registry) {
        if (cap->status == NGX_HTTP_GATEWAY_TIME_OUT) {
            return ngx_http_mcp_answer_failed(r, ctx,
                                              NGX_HTTP_GATEWAY_TIME_OUT,
                                              "did not answer in time");
        }

        return ngx_http_mcp_answer_failed(r, ctx, NGX_HTTP_BAD_GATEWAY,
                                          "could not be reached");
    }

    /* nginx relays any three digits as a status: HTTP has 100 to 599 */

    if (cap->broken || cap->status < 100 || cap->status > 599) {
        return ngx_http_mcp_answer_failed(r, ctx, NGX_HTTP_BAD_GATEWAY,
                                          cap->broken
                                          ? "answer is malformed"
                                          : "answer has an invalid status");
    }

    if (cap->in_file) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mcp: the answer of registry \"%V\" was buffered to "
                      "a temporary file, set \"proxy_max_temp_file_size 0\" "
                      "in its location \"%V\"", &reg->name, &reg->pass);

        return ngx_http_mcp_answer_failed(r, ctx, NGX_HTTP_BAD_GATEWAY,
                                          "answer could not be read");
    }

    if (cap->too_large) {
        return ngx_http_mcp_answer_failed(r, ctx, NGX_HTTP_BAD_GATEWAY,
                                          "answer exceeds "
                                          "mcp_upstream_max_body_size");
    }

    if (!cap->eof
        || (cap->content_length >= 0
            && cap->content_length != (off_t) cap->size))
    {
        return ngx_http_mcp_answer_failed(r, ctx, NGX_HTTP_BAD_GATEWAY,
                                          "answer was truncated");
    }

    json = ngx_http_mcp_json_parse(r, cap->body, &error);

    if (json == NULL) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "mcp registry json: %V", &error);

        return ngx_http_mcp_answer_failed(r, ctx, NGX_HTTP_BAD_GATEWAY,
                                          "answer is not JSON");
    }

    /*
     * every answer is checked for the vendor's shape, and loses its
     * secrets, whichever view the client gets
     */

    ok = cap->status >= 200 && cap->status < 300;
    server = NULL;

    if (ok) {

        /* the native view needs the check only, not the canonical object */

        if (ctx->canonical_view) {
            server = ngx_http_mcp_map_server(reg->vendor,
                                             (char *) reg->name.data,
                                             reg->name.len,
                                             (char *) ctx->route.id.data,
                                             ctx->route.id.len, json, &err);
            shape = (server == NULL) ? -1 : 0;

        } else {
            shape = ngx_http_mcp_map_check_answer(reg->vendor, json, &err);
        }

        if (shape != 0) {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "mcp registry answer shape: %s", err.text);

            return ngx_http_mcp_answer_failed(r, ctx, NGX_HTTP_BAD_GATEWAY,
                                              "answer has an unexpected "
                                              "shape");
        }

        if (server && ngx_http_mcp_json_track(r, server) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_module);
    health = &mmcf->health[reg->index];

    if (health->failing) {
        health->failing = 0;
        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "mcp: registry \"%V\" answers again", &reg->name);
    }

    if (!ctx->canonical_view) {
        /* the vendor's own shape, status and errors */
        out = json;
        ngx_http_mcp_map_redact(reg->vendor, out);

    } else if (ok) {
        out = server;
        ngx_http_mcp_map_scrub(reg->vendor, out);

    } else {
        detail = ngx_http_mcp_map_error_detail(json, &len);

        return ngx_http_mcp_reply_registry_error(r, &ctx->reply, cap->status,
                                                 reg, detail, len);
    }

    ctx->reply.status = cap->status;

    return ngx_http_mcp_json_dump(r, out, &ctx->reply.body);
}


static ngx_int_t
ngx_http_mcp_answer_failed(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_uint_t status, const char *why)
{
    ngx_http_mcp_registry_t         *reg;
    ngx_http_mcp_main_conf_t        *mmcf;
    ngx_http_mcp_registry_health_t  *health;

    reg = ctx->route.registry;
    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_module);
    health = &mmcf->health[reg->index];

    if (!health->failing) {
        health->failing = 1;
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mcp: registry \"%V\" %s (status %ui, peer %V), not "
                      "logged again until it answers", &reg->name, why,
                      ctx->capture.status, &ctx->capture.peer);

    } else {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "mcp: registry \"%V\" %s", &reg->name, why);
    }

    return ngx_http_mcp_reply_detail(r, &ctx->reply, status,
                                     "The %s registry %s.",
                                     reg->vendor->name, why);
}
