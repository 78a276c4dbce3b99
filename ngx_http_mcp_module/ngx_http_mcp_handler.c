
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * The content handler of "mcp_pass" and "mcp_canonical" locations, and
 * the one owner of the request from there on: it alone moves the phase
 * and finalizes.  Each step reports NGX_OK, NGX_DECLINED, NGX_ERROR, or
 * NGX_AGAIN and later, through ngx_http_mcp_step_done(), one of the
 * others:
 *
 *   route   the URI names a registry and a server id (404 if it does not);
 *   body    a PUT body is taken into memory as it is read, then checked
 *           and, on the canonical route, translated (ngx_http_mcp_body.c);
 *   lookup  a GET may be answered from the cache (ngx_http_mcp_cache*.c);
 *   mark    a PUT's server is marked as being written, in the cache;
 *   fetch   a subrequest to the registry's internal location does the HTTP
 *           (ngx_http_mcp_subrequest.c), its answer is captured;
 *   answer  the registry's answer is checked and turned into the client's
 *           (ngx_http_mcp_answer.c);
 *   update  the cache keeps a GET's answer, or forgets what a PUT changed
 *           (whatever the PUT's outcome);
 *   send    the answer goes out (ngx_http_mcp_reply.c).
 *
 * Authentication runs before, in the access phase.
 */


#include "ngx_http_mcp_module.h"
#include "ngx_http_mcp_cache.h"


static void ngx_http_mcp_body_ready(ngx_http_request_t *r);
static void ngx_http_mcp_run(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx);
static ngx_int_t ngx_http_mcp_step(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx);
static ngx_int_t ngx_http_mcp_next_phase(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_int_t rc);
static void ngx_http_mcp_step_done(ngx_http_request_t *r, ngx_int_t rc);
static void ngx_http_mcp_fetched(ngx_http_request_t *r);
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
        if (ngx_http_mcp_reply_header(r, &ngx_http_mcp_allow_header,
                                      &ngx_http_mcp_allow)
            == NULL)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_mcp_reply_error(r, NGX_HTTP_NOT_ALLOWED,
                                        "Method \"%V\" not allowed.",
                                        &r->method_name);
    }

    /* a context the access phase made for its refusal is not this one */

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_mcp_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_set_ctx(r, ctx, ngx_http_mcp_module);

    rc = ngx_http_mcp_route_parse(r, mlcf, &ctx->route);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_mcp_reply_error(r, NGX_HTTP_NOT_FOUND, "Not found.");
    }

    if (rc != NGX_OK) {

        /* an id of the wrong form: answered as the vendor answers */

        if (ctx->route.registry == NULL) {
            return ngx_http_mcp_reply_error(r, NGX_HTTP_NOT_FOUND,
                                            "Unknown registry.");
        }

        return ngx_http_mcp_reply_error(r, NGX_HTTP_NOT_FOUND,
                                   ctx->route.registry->vendor->not_found,
                                   &ctx->route.id);
    }

    ctx->canonical_view = ngx_http_mcp_canonical_view(r, mlcf, ctx);

    if (r->method == NGX_HTTP_PUT) {

        if (!ngx_http_mcp_is_json_type(r)) {
            return ngx_http_mcp_reply_error(r,
                                        NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                        "Unsupported media type in request: "
                                        "use \"application/json\".");
        }

        /*
         * the body is taken into memory by ngx_http_mcp_body.c, never to a
         * file; one announced too large is not read at all
         */

        if (r->headers_in.content_length_n <= (off_t) mlcf->max_body_size) {
            ctx->reading_body = 1;

            rc = ngx_http_read_client_request_body(r,
                                                   ngx_http_mcp_body_ready);
            if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
                return rc;
            }

            return NGX_DONE;
        }

        ctx->body_too_large = 1;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    /* the reference that ngx_http_read_client_request_body() takes */
    r->main->count++;

    ngx_http_mcp_run(r, ctx);

    return NGX_DONE;
}


static void
ngx_http_mcp_body_ready(ngx_http_request_t *r)
{
    ngx_http_mcp_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mcp_module);
    ctx->reading_body = 0;

    ngx_http_mcp_run(r, ctx);
}


/*
 * Runs the steps until one has to wait (it calls ngx_http_mcp_step_done()
 * when it is done) or the request is finalized.  From the first call on,
 * the request holds one extra reference, released by the one
 * ngx_http_finalize_request() that ends it.
 */

static void
ngx_http_mcp_run(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx)
{
    ngx_int_t  rc;

    for ( ;; ) {

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "mcp phase %ui", ctx->phase);

        if (ctx->phase == NGX_HTTP_MCP_PHASE_SEND) {
            ctx->phase = NGX_HTTP_MCP_PHASE_DONE;
            ngx_http_finalize_request(r,
                                   ngx_http_mcp_reply_send(r, &ctx->reply));
            return;
        }

        rc = ngx_http_mcp_step(r, ctx);

        if (rc == NGX_AGAIN) {
            return;
        }

        if (ngx_http_mcp_next_phase(r, ctx, rc) != NGX_OK) {
            return;
        }
    }
}


static ngx_int_t
ngx_http_mcp_step(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx)
{
    switch (ctx->phase) {

    case NGX_HTTP_MCP_PHASE_BODY:
        return ngx_http_mcp_body_check(r, ctx);

    case NGX_HTTP_MCP_PHASE_LOOKUP:
        return ngx_http_mcp_cache_lookup(r, &ctx->route, &ctx->reply,
                                         ngx_http_mcp_step_done);

    case NGX_HTTP_MCP_PHASE_MARK:
        return ngx_http_mcp_cache_write_begin(r, &ctx->route, &ctx->reply,
                                              ngx_http_mcp_step_done);

    case NGX_HTTP_MCP_PHASE_FETCH:
        if (ngx_http_mcp_subrequest_start(r, ctx) != NGX_OK) {
            return NGX_ERROR;
        }

        r->write_event_handler = ngx_http_mcp_fetched;
        return NGX_AGAIN;

    case NGX_HTTP_MCP_PHASE_ANSWER:
        return ngx_http_mcp_answer(r, ctx);

    case NGX_HTTP_MCP_PHASE_UPDATE:

        if (r->method == NGX_HTTP_PUT) {

            /* the registry answered: its write is over, if it was made */

            return ngx_http_mcp_cache_write_end(r, &ctx->route, &ctx->reply,
                                                ctx->capture.from_registry,
                                                ngx_http_mcp_step_done);
        }

        return ngx_http_mcp_cache_store(r, &ctx->reply,
                                        ngx_http_mcp_step_done);

    default:
        return NGX_ERROR;
    }
}


/*
 * The one place the phase moves: after a step reported rc.  NGX_OK if
 * the request goes on, NGX_DONE if it was finalized.
 */

static ngx_int_t
ngx_http_mcp_next_phase(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_int_t rc)
{
    if (rc == NGX_ERROR) {
        ctx->phase = NGX_HTTP_MCP_PHASE_DONE;
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_DONE;
    }

    switch (ctx->phase) {

    case NGX_HTTP_MCP_PHASE_BODY:

        /* NGX_DECLINED: the client's error, in ctx->reply */

        if (rc != NGX_OK) {
            ctx->phase = NGX_HTTP_MCP_PHASE_SEND;

        } else if (r->method == NGX_HTTP_PUT) {
            ctx->phase = NGX_HTTP_MCP_PHASE_MARK;

        } else {
            ctx->phase = NGX_HTTP_MCP_PHASE_LOOKUP;
        }

        break;

    case NGX_HTTP_MCP_PHASE_MARK:

        /* NGX_DECLINED: the write must not go, ctx->reply says why */

        ctx->phase = (rc == NGX_OK) ? NGX_HTTP_MCP_PHASE_FETCH
                                    : NGX_HTTP_MCP_PHASE_SEND;
        break;

    case NGX_HTTP_MCP_PHASE_LOOKUP:

        /* NGX_OK: a hit, in ctx->reply */

        ctx->phase = (rc == NGX_OK) ? NGX_HTTP_MCP_PHASE_SEND
                                    : NGX_HTTP_MCP_PHASE_FETCH;
        break;

    case NGX_HTTP_MCP_PHASE_FETCH:
        ctx->phase = NGX_HTTP_MCP_PHASE_ANSWER;
        break;

    case NGX_HTTP_MCP_PHASE_ANSWER:
        ctx->phase = NGX_HTTP_MCP_PHASE_UPDATE;
        break;

    default: /* NGX_HTTP_MCP_PHASE_UPDATE */
        ctx->phase = NGX_HTTP_MCP_PHASE_SEND;
        break;
    }

    return NGX_OK;
}


/* a step that answered NGX_AGAIN is done: an event handler calls this */

static void
ngx_http_mcp_step_done(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_connection_t    *c;
    ngx_http_mcp_ctx_t  *ctx;

    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mcp_module);

    if (ngx_http_mcp_next_phase(r, ctx, rc) == NGX_OK) {
        ngx_http_mcp_run(r, ctx);
    }

    /* the registry's subrequest, if one was started */
    ngx_http_run_posted_requests(c);
}


/* nginx wakes the parent through its write event handler */

static void
ngx_http_mcp_fetched(ngx_http_request_t *r)
{
    ngx_http_mcp_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mcp_module);

    if (ctx == NULL || ctx->sr == NULL || !ctx->sr->done
        || ctx->phase != NGX_HTTP_MCP_PHASE_FETCH)
    {
        return;
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_http_mcp_subrequest_finish(r, ctx);

    ngx_http_mcp_step_done(r, NGX_OK);
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
