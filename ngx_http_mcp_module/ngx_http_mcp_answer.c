
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

#if (NGX_LINUX && defined __GLIBC__)
#include <malloc.h>
#define NGX_HTTP_MCP_MALLOC_TRIM  1
#endif


/*
 * An answer this large gives its memory back to the system once its
 * request is gone.  Its jansson tree (several times the text, in small
 * malloc() blocks) and its buffers (blocks of the answer's size, which
 * glibc takes from the heap once a block that large was freed) leave the
 * heap full of free pages that glibc keeps: eight concurrent 15.5 MB
 * Gatana answers left a worker at 430 MB for good.  malloc_trim() hands
 * every free page back; it runs on a timer, once for a burst of large
 * answers, after their pools are destroyed (a pool's large blocks are
 * freed after its cleanup handlers).
 */

#define NGX_HTTP_MCP_TRIM_SIZE   (1024 * 1024)
#define NGX_HTTP_MCP_TRIM_DELAY  100


/*
 * An answer of up to this size is written in one walk into twice its
 * size and this much more (ngx_http_mcp_answer_write())
 */

#define NGX_HTTP_MCP_ANSWER_ROOM_MAX  (32 * 1024)
#define NGX_HTTP_MCP_ANSWER_ROOM      1024


static ngx_int_t ngx_http_mcp_answer_registry(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx);
static ngx_int_t ngx_http_mcp_answer_failed(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_uint_t status, const char *why);
static ngx_int_t ngx_http_mcp_answer_write(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, json_t *json, ngx_http_mcp_doc_t *doc);
static ngx_int_t ngx_http_mcp_answer_text(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, json_t *json, ngx_http_mcp_doc_t *doc,
    size_t size);
static void ngx_http_mcp_answer_doc_free(void *data);
static void ngx_http_mcp_answer_release(ngx_http_request_t *r,
    ngx_http_mcp_capture_t *cap);
#if (NGX_HTTP_MCP_MALLOC_TRIM)
static void ngx_http_mcp_answer_trim_later(void *data);
static void ngx_http_mcp_answer_trim(ngx_event_t *ev);


static ngx_event_t       ngx_http_mcp_trim_event;

/* the debug log of a timer names its event's connection: none here */
static ngx_connection_t  ngx_http_mcp_trim_connection;
#endif


/*
 * ctx->reply = the client's answer; NGX_ERROR only on internal errors.
 * The documents of the step are the request's: jansson allocates them
 * from its pool unless the answer is large (ngx_http_mcp_json.c).
 */

ngx_int_t
ngx_http_mcp_answer(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx)
{
    ngx_int_t    rc;
    ngx_pool_t  *arena;

    arena = ngx_http_mcp_json_arena_for(r, ctx->capture.size);

    rc = ngx_http_mcp_answer_registry(r, ctx);

    (void) ngx_http_mcp_json_arena(arena);

    return rc;
}


static ngx_int_t
ngx_http_mcp_answer_registry(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx)
{
    int                              shape;
    json_t                          *json;
    size_t                           len;
    ngx_int_t                        rc;
    ngx_str_t                        error;
    ngx_uint_t                       ok;
    const char                      *detail;
    ngx_pool_cleanup_t              *cln;
    ngx_http_mcp_doc_t              *doc;
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

#if (NGX_HTTP_MCP_MALLOC_TRIM)

    if (cap->size >= NGX_HTTP_MCP_TRIM_SIZE) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }

        /* added before the parse's: it runs after the tree is freed */
        cln->handler = ngx_http_mcp_answer_trim_later;
        cln->data = NULL;
    }

#endif

    json = ngx_http_mcp_json_parse(r, cap->body, &error);

    ngx_http_mcp_answer_release(r, cap);

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
    doc = NULL;
    cln = NULL;

    if (ok) {

        /*
         * the canonical view: the canonical server as a document pointing
         * into the answer's tree (no second tree); the native view needs
         * the check only
         */

        if (ctx->canonical_view) {
            cln = ngx_pool_cleanup_add(r->pool, 0);
            if (cln == NULL) {
                return NGX_ERROR;
            }

            doc = ngx_http_mcp_map_canonical(reg->vendor,
                                             (char *) reg->name.data,
                                             reg->name.len,
                                             (char *) ctx->route.id.data,
                                             ctx->route.id.len, json, &err);
            if (doc) {
                cln->handler = ngx_http_mcp_answer_doc_free;
                cln->data = doc;
            }

            shape = (doc == NULL) ? -1 : 0;

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
    }

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_module);
    health = &mmcf->health[reg->index];

    if (health->failing) {
        health->failing = 0;
        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "mcp: registry \"%V\" answers again", &reg->name);
    }

    if (!ctx->canonical_view) {

        /*
         * the vendor's own shape, status and errors, less what its
         * redaction takes; the scrub is the writer's
         */

        ngx_http_mcp_map_redact_vendor(reg->vendor, json);

    } else if (!ok) {
        detail = ngx_http_mcp_map_error_detail(json, &len);

        return ngx_http_mcp_reply_registry_error(r, &ctx->reply, cap->status,
                                                 reg, detail, len);
    }

    ctx->reply.status = cap->status;

    rc = ngx_http_mcp_answer_write(r, ctx, json, doc);

    /* neither the document nor the tree is needed while the answer is sent */

    if (cln) {
        ngx_http_mcp_doc_free(doc);
        cln->data = NULL;
    }

    ngx_http_mcp_json_release(r, json);

    return rc;
}


/*
 * The client's answer: the canonical document, or the vendor's tree,
 * written scrubbed (ngx_http_mcp_map_scrub.c) into a pool buffer.  A
 * small answer is written in one walk into room for about twice its
 * text, which it rarely outgrows (reals written longer than sent); a
 * large one, or one that did not fit, into a buffer of the exact size,
 * measured first.
 */

static ngx_int_t
ngx_http_mcp_answer_write(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    json_t *json, ngx_http_mcp_doc_t *doc)
{
    size_t                        size;
    ngx_int_t                     rc;
    const ngx_http_mcp_vendor_t  *vendor;

    if (ctx->capture.size <= NGX_HTTP_MCP_ANSWER_ROOM_MAX) {
        rc = ngx_http_mcp_answer_text(r, ctx, json, doc,
                                      2 * ctx->capture.size
                                      + NGX_HTTP_MCP_ANSWER_ROOM);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    vendor = ctx->route.registry->vendor;

    size = doc ? ngx_http_mcp_map_doc_size(vendor, doc)
               : ngx_http_mcp_map_write_size(vendor, json);
    if (size == 0) {
        return NGX_ERROR;
    }

    rc = ngx_http_mcp_answer_text(r, ctx, json, doc, size);

    return (rc == NGX_OK) ? NGX_OK : NGX_ERROR;
}


/* the text into a new buffer of "size" bytes; NGX_DECLINED: no room */

static ngx_int_t
ngx_http_mcp_answer_text(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    json_t *json, ngx_http_mcp_doc_t *doc, size_t size)
{
    u_char                       *p;
    ngx_chain_t                  *cl;
    const ngx_http_mcp_vendor_t  *vendor;

    vendor = ctx->route.registry->vendor;

    cl = ngx_http_mcp_json_out(r, size);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    p = cl->buf->pos;

    p = doc ? ngx_http_mcp_map_doc_write(vendor, p, p + size, doc)
            : ngx_http_mcp_map_write(vendor, p, p + size, json);

    if (p == NULL) {
        return NGX_DECLINED;
    }

    cl->buf->last = p;
    ctx->reply.body = cl;

    return NGX_OK;
}


static void
ngx_http_mcp_answer_doc_free(void *data)
{
    ngx_http_mcp_doc_free(data);
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


/*
 * The captured text is not needed once parsed: a buffer of a large
 * answer (a block of its own in the pool) goes at once, so that a large
 * answer is not held twice, as text and as the answer sent.
 */

static void
ngx_http_mcp_answer_release(ngx_http_request_t *r, ngx_http_mcp_capture_t *cap)
{
    ngx_chain_t  *cl;

    for (cl = cap->body; cl; cl = cl->next) {
        if (ngx_pfree(r->pool, cl->buf->start) == NGX_OK) {
            cl->buf->start = NULL;
            cl->buf->pos = NULL;
            cl->buf->last = NULL;
            cl->buf->end = NULL;
        }
    }

    cap->body = NULL;
    cap->buf = NULL;
}


#if (NGX_HTTP_MCP_MALLOC_TRIM)

static void
ngx_http_mcp_answer_trim_later(void *data)
{
    ngx_event_t  *ev;

    ev = &ngx_http_mcp_trim_event;

    if (ev->timer_set) {
        return;
    }

    ngx_http_mcp_trim_connection.fd = (ngx_socket_t) -1;

    ev->data = &ngx_http_mcp_trim_connection;
    ev->handler = ngx_http_mcp_answer_trim;
    ev->log = ngx_cycle->log;
    ev->cancelable = 1;

    ngx_add_timer(ev, NGX_HTTP_MCP_TRIM_DELAY);
}


static void
ngx_http_mcp_answer_trim(ngx_event_t *ev)
{
    int  released;

    released = malloc_trim(0);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "mcp malloc_trim(): %d", released);
}

#endif
