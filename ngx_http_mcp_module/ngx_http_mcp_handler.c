
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * The content handler of "mcp_pass" and "mcp_canonical" locations:
 *
 *   route   the URI names a registry and a server id (404 if it does not);
 *   body    a PUT body is taken into memory, checked and, on the
 *           canonical route, translated (ngx_http_mcp_body.c);
 *   lookup  a GET may be answered from the cache (ngx_http_mcp_cache.c);
 *   fetch   a subrequest to the registry's internal location does the HTTP
 *           (ngx_http_mcp_upstream.c), its answer is captured;
 *   answer  the registry's answer is checked and turned into the client's;
 *   update  the cache learns the answer, or forgets what a PUT changed;
 *   send    the answer goes out.
 *
 * Authentication runs before, in the access phase.
 */


#include "ngx_http_mcp_module.h"
#include "ngx_http_mcp_map.h"


static void ngx_http_mcp_resume(ngx_http_request_t *r);
static ngx_int_t ngx_http_mcp_answer(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx);
static ngx_int_t ngx_http_mcp_bad_gateway(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_uint_t status, const char *why);
static ngx_int_t ngx_http_mcp_not_found(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx);
static ngx_int_t ngx_http_mcp_reject(ngx_http_request_t *r, ngx_uint_t status,
    const char *fmt, ...);
static ngx_uint_t ngx_http_mcp_canonical_view(ngx_http_request_t *r,
    ngx_http_mcp_loc_conf_t *mlcf, ngx_http_mcp_ctx_t *ctx);
static ngx_uint_t ngx_http_mcp_is_json_type(ngx_http_request_t *r);


static ngx_str_t  ngx_http_mcp_allow_header = ngx_string("Allow");
static ngx_str_t  ngx_http_mcp_allow = ngx_string("GET, HEAD, PUT");

static ngx_str_t  ngx_http_mcp_canonical_type =
    ngx_string("application/vnd.mcp.canonical+json");
static ngx_str_t  ngx_http_mcp_native_type =
    ngx_string("application/vnd.mcp.native+json");


ngx_int_t
ngx_http_mcp_handler(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_http_mcp_ctx_t       *ctx;
    ngx_http_mcp_loc_conf_t  *mlcf;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mcp_module);

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_PUT))) {
        if (ngx_http_mcp_add_header(r, &ngx_http_mcp_allow_header,
                                    &ngx_http_mcp_allow)
            == NULL)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_mcp_reject(r, NGX_HTTP_NOT_ALLOWED,
                                   "Method \"%V\" not allowed.",
                                   &r->method_name);
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_mcp_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_set_ctx(r, ctx, ngx_http_mcp_module);

    rc = ngx_http_mcp_route_parse(r, mlcf, &ctx->route);

    if (rc == NGX_DECLINED) {
        return ngx_http_mcp_reject(r, NGX_HTTP_NOT_FOUND, "Not found.");
    }

    if (rc != NGX_OK) {
        return ngx_http_mcp_not_found(r, ctx);
    }

    ctx->canonical_view = ngx_http_mcp_canonical_view(r, mlcf, ctx);

    if (r->method != NGX_HTTP_PUT) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        /* the reference that ngx_http_read_client_request_body() takes */
        r->main->count++;

        ngx_http_mcp_next(r, ctx);

        return NGX_DONE;
    }

    if (!ngx_http_mcp_is_json_type(r)) {
        return ngx_http_mcp_reject(r, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                   "Unsupported media type in request: "
                                   "use \"application/json\".");
    }

    /* the body is taken in memory by ngx_http_mcp_body.c, never to a file */

    if (r->headers_in.content_length_n > (off_t) mlcf->max_body_size) {
        return ngx_http_mcp_reject(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                   "Request body is larger than %uz bytes.",
                                   mlcf->max_body_size);
    }

    ctx->reading_body = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_mcp_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/*
 * The phases after the request is known to be good.  Each may finish at
 * once or later (Redis, the registry); whoever finishes one calls
 * ngx_http_mcp_next() again.  From the first call on, the request holds
 * one extra reference, released by the one ngx_http_finalize_request()
 * that ends it, in the SEND phase or on an error.
 */

void
ngx_http_mcp_next(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx)
{
    ngx_int_t  rc;

    for ( ;; ) {

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "mcp phase %ui", ctx->phase);

        switch (ctx->phase) {

        case NGX_HTTP_MCP_PHASE_LOOKUP:
            ctx->phase = NGX_HTTP_MCP_PHASE_UPSTREAM;

            /* NGX_OK: a cached answer is in ctx->status and ctx->out */

            rc = ngx_http_mcp_cache_lookup(r, ctx);

            if (rc == NGX_AGAIN) {
                return;
            }

            if (rc == NGX_OK) {
                ctx->phase = NGX_HTTP_MCP_PHASE_SEND;

            } else if (rc == NGX_ERROR) {
                break;
            }

            continue;

        case NGX_HTTP_MCP_PHASE_UPSTREAM:
            ctx->phase = NGX_HTTP_MCP_PHASE_ANSWER;

            if (ngx_http_mcp_upstream_start(r, ctx) != NGX_OK) {
                break;
            }

            r->write_event_handler = ngx_http_mcp_resume;
            return;

        case NGX_HTTP_MCP_PHASE_ANSWER:
            ctx->phase = NGX_HTTP_MCP_PHASE_UPDATE;

            if (ngx_http_mcp_answer(r, ctx) != NGX_OK) {
                break;
            }

            continue;

        case NGX_HTTP_MCP_PHASE_UPDATE:
            ctx->phase = NGX_HTTP_MCP_PHASE_SEND;

            /* store a GET answer, or drop what a PUT made stale */

            rc = ngx_http_mcp_cache_update(r, ctx);

            if (rc == NGX_AGAIN) {
                return;
            }

            if (rc == NGX_ERROR) {
                break;
            }

            continue;

        default: /* NGX_HTTP_MCP_PHASE_SEND */
            ctx->phase = NGX_HTTP_MCP_PHASE_DONE;
            ngx_http_finalize_request(r, ngx_http_mcp_send(r, ctx->status,
                                                           ctx->out));
            return;
        }

        /* an internal error in a phase */

        ctx->phase = NGX_HTTP_MCP_PHASE_DONE;
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }
}


static void
ngx_http_mcp_resume(ngx_http_request_t *r)
{
    ngx_http_mcp_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mcp_module);

    if (ctx == NULL || ctx->sr == NULL || !ctx->sr->done
        || ctx->phase != NGX_HTTP_MCP_PHASE_ANSWER)
    {
        return;
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_http_mcp_upstream_finish(r, ctx);

    ngx_http_mcp_next(r, ctx);
}


/*
 * Turns what the registry answered into the client's answer, in
 * ctx->status and ctx->out; returns NGX_ERROR only on internal errors.
 */

static ngx_int_t
ngx_http_mcp_answer(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx)
{
    int                       shape;
    json_t                   *json, *server, *out;
    ngx_str_t                 error;
    ngx_uint_t                ok;
    ngx_http_mcp_map_err_t    err;
    ngx_http_mcp_registry_t  *reg;
    ngx_http_mcp_response_t  *res;

    res = &ctx->upstream;
    reg = ctx->route.registry;

    if (!res->from_upstream) {
        if (res->status == NGX_HTTP_GATEWAY_TIME_OUT) {
            return ngx_http_mcp_bad_gateway(r, ctx, NGX_HTTP_GATEWAY_TIME_OUT,
                                            "did not answer in time");
        }

        return ngx_http_mcp_bad_gateway(r, ctx, NGX_HTTP_BAD_GATEWAY,
                                        "could not be reached");
    }

    if (res->in_file) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mcp: the answer of registry \"%V\" was buffered to "
                      "a temporary file, set \"proxy_max_temp_file_size 0\" "
                      "in its location \"%V\"", &reg->name, &reg->pass);

        return ngx_http_mcp_bad_gateway(r, ctx, NGX_HTTP_BAD_GATEWAY,
                                        "answer could not be read");
    }

    if (res->too_large) {
        return ngx_http_mcp_bad_gateway(r, ctx, NGX_HTTP_BAD_GATEWAY,
                                        "answer exceeds "
                                        "mcp_upstream_max_body_size");
    }

    if (!res->eof
        || (res->content_length >= 0
            && res->content_length != (off_t) res->size))
    {
        return ngx_http_mcp_bad_gateway(r, ctx, NGX_HTTP_BAD_GATEWAY,
                                        "answer was truncated");
    }

    json = ngx_http_mcp_json_parse(r, res->body, &error);

    if (json == NULL) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "mcp upstream json: %V", &error);

        return ngx_http_mcp_bad_gateway(r, ctx, NGX_HTTP_BAD_GATEWAY,
                                        "answer is not JSON");
    }

    /*
     * every answer is checked for the vendor's shape, and loses its
     * secrets, whichever view the client gets
     */

    ok = res->status >= 200 && res->status < 300;
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
                           "mcp upstream shape: %s", err.text);

            return ngx_http_mcp_bad_gateway(r, ctx, NGX_HTTP_BAD_GATEWAY,
                                            "answer has an unexpected "
                                            "shape");
        }

        if (server && ngx_http_mcp_json_track(r, server) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (reg->failing) {
        reg->failing = 0;
        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "mcp: registry \"%V\" answers again", &reg->name);
    }

    ctx->status = res->status;

    if (!ctx->canonical_view) {
        /* the vendor's own shape, status and errors */
        out = json;
        ngx_http_mcp_map_redact(reg->vendor, out);

    } else if (ok) {
        out = server;
        ngx_http_mcp_map_scrub(out);

    } else {
        out = ngx_http_mcp_map_error(reg->vendor, (char *) reg->name.data,
                                     reg->name.len, res->status, json);
        if (out == NULL || ngx_http_mcp_json_track(r, out) != NGX_OK) {
            json_decref(out);
            return NGX_ERROR;
        }
    }

    return ngx_http_mcp_json_dump(r, out, &ctx->out);
}


/*
 * A registry that fails is logged once when it starts failing, and once
 * when it answers again, not for every request in between.
 */

static ngx_int_t
ngx_http_mcp_bad_gateway(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_uint_t status, const char *why)
{
    ngx_http_mcp_registry_t  *reg;

    reg = ctx->route.registry;

    if (!reg->failing) {
        reg->failing = 1;
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mcp: registry \"%V\" %s (status %ui, peer %V), not "
                      "logged again until it answers", &reg->name, why,
                      ctx->upstream.status, &ctx->upstream.peer);

    } else {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "mcp: registry \"%V\" %s", &reg->name, why);
    }

    ctx->status = status;

    return ngx_http_mcp_error_body(r, &ctx->out, "The %s registry %s.",
                                   ngx_http_mcp_vendor_name(reg->vendor),
                                   why);
}


/* an id of the wrong form: answered as the vendor answers an unknown id */

static ngx_int_t
ngx_http_mcp_not_found(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx)
{
    ngx_http_mcp_registry_t  *reg;

    reg = ctx->route.registry;

    if (reg == NULL) {
        return ngx_http_mcp_reject(r, NGX_HTTP_NOT_FOUND,
                                   "Unknown registry.");
    }

    switch (reg->vendor) {

    case NGX_HTTP_MCP_KAMBRIUM:
        return ngx_http_mcp_reject(r, NGX_HTTP_NOT_FOUND,
                                   "MCP server %V not found or not "
                                   "accessible", &ctx->route.id);

    case NGX_HTTP_MCP_BARNDOOR:
        return ngx_http_mcp_reject(r, NGX_HTTP_NOT_FOUND,
                                   "Server not found");

    default:
        return ngx_http_mcp_reject(r, NGX_HTTP_NOT_FOUND,
                                   "MCP server not found");
    }
}


/*
 * Answers a client mistake found before anything was sent upstream, from
 * the content handler (which returns what this returns).
 */

static ngx_int_t
ngx_http_mcp_reject(ngx_http_request_t *r, ngx_uint_t status,
    const char *fmt, ...)
{
    u_char     *p;
    va_list     args;
    ngx_int_t   rc;
    u_char      detail[NGX_MAX_ERROR_STR];

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    va_start(args, fmt);
    p = ngx_vslprintf(detail, detail + sizeof(detail), fmt, args);
    va_end(args);

    return ngx_http_mcp_send_error(r, status, "%*s", p - detail, detail);
}


/*
 * The canonical route always answers canonically; a native route answers
 * in the vendor's shape unless "mcp_view canonical" or the client's Accept
 * says otherwise.
 */

static ngx_uint_t
ngx_http_mcp_canonical_view(ngx_http_request_t *r,
    ngx_http_mcp_loc_conf_t *mlcf, ngx_http_mcp_ctx_t *ctx)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    if (ctx->route.canonical) {
        return 1;
    }

    part = &r->headers_in.headers.part;
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

        if (h[i].key.len != sizeof("Accept") - 1
            || ngx_strncasecmp(h[i].key.data, (u_char *) "Accept",
                               sizeof("Accept") - 1) != 0)
        {
            continue;
        }

        if (ngx_strlcasestrn(h[i].value.data,
                             h[i].value.data + h[i].value.len,
                             ngx_http_mcp_canonical_type.data,
                             ngx_http_mcp_canonical_type.len - 1)
            != NULL)
        {
            return 1;
        }

        if (ngx_strlcasestrn(h[i].value.data,
                             h[i].value.data + h[i].value.len,
                             ngx_http_mcp_native_type.data,
                             ngx_http_mcp_native_type.len - 1)
            != NULL)
        {
            return 0;
        }
    }

    return mlcf->view == NGX_HTTP_MCP_VIEW_CANONICAL;
}


static ngx_uint_t
ngx_http_mcp_is_json_type(ngx_http_request_t *r)
{
    u_char     *p, *last;
    ngx_str_t  *type;

    if (r->headers_in.content_type == NULL) {
        return 0;
    }

    type = &r->headers_in.content_type->value;
    last = type->data + type->len;

    for (p = type->data; p < last && *p != ';' && *p != ' '; p++) {
        /* void */
    }

    /* "application/json" or a "+json" structured syntax suffix */

    if ((size_t) (p - type->data) == sizeof("application/json") - 1
        && ngx_strncasecmp(type->data, (u_char *) "application/json",
                           sizeof("application/json") - 1) == 0)
    {
        return 1;
    }

    return p - type->data > 5
           && ngx_strncasecmp(p - 5, (u_char *) "+json", 5) == 0;
}
