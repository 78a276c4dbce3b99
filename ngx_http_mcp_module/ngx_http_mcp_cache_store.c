
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * The update step, once the client's answer is known: a GET's answer is
 * kept (lua/cache_store.lua, only if no PUT came in between), a PUT the
 * registry accepted drops every entry of its server
 * (lua/cache_invalidate.lua) before the client hears of it.  An
 * invalidation Redis could not take is kept by the worker and sent again,
 * first of all, when Redis answers again.
 */


#include "ngx_http_mcp_cache.h"
#include "ngx_http_mcp_metrics.h"


/* invalidations kept (per worker) while Redis cannot be reached */
#define NGX_HTTP_MCP_CACHE_PENDING_MAX  1024


/* an invalidation that could not be done, kept for when Redis is back */

typedef struct {
    ngx_queue_t                      queue;
    ngx_http_mcp_cache_main_conf_t  *mcf;
    ngx_str_t                        keys[NGX_HTTP_MCP_INVALIDATE_NKEYS];
    unsigned                         sending:1;
} ngx_http_mcp_cache_pending_t;


static ngx_int_t ngx_http_mcp_cache_store(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx);
static void ngx_http_mcp_cache_store_done(void *data, redisReply *reply);
static ngx_str_t *ngx_http_mcp_cache_unlock_args(
    ngx_http_mcp_cache_ctx_t *cctx);
static ngx_int_t ngx_http_mcp_cache_invalidate(ngx_http_request_t *r,
    ngx_http_mcp_route_t *route, ngx_http_mcp_reply_t *reply,
    ngx_http_mcp_step_pt done);
static void ngx_http_mcp_cache_invalidate_done(void *data,
    redisReply *reply);
static ngx_http_mcp_cache_pending_t *ngx_http_mcp_cache_pending_find(
    ngx_http_mcp_cache_main_conf_t *mcf, ngx_str_t *gen);
static void ngx_http_mcp_cache_pending_add(
    ngx_http_mcp_cache_main_conf_t *mcf, ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx);
static void ngx_http_mcp_cache_replay_done(void *data, redisReply *reply);


/*
 * A PUT invalidates wherever "mcp_cache_redis" is set, also in locations
 * with "mcp_cache off", so that no location serves what another changed;
 * the client gets its answer only once the invalidation is done, or
 * failed (then it is logged, and retried when Redis is back).
 */

ngx_int_t
ngx_http_mcp_cache_update(ngx_http_request_t *r, ngx_http_mcp_route_t *route,
    ngx_http_mcp_reply_t *reply, ngx_http_mcp_step_pt done)
{
    ngx_http_mcp_cache_ctx_t        *cctx;
    ngx_http_mcp_cache_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_cache_module);

    if (mcf->redis.name.len == 0) {
        return NGX_OK;
    }

    if (r->method == NGX_HTTP_PUT) {
        if (reply->status < 200 || reply->status > 299) {
            return NGX_OK;
        }

        return ngx_http_mcp_cache_invalidate(r, route, reply, done);
    }

    cctx = ngx_http_get_module_ctx(r, ngx_http_mcp_cache_module);

    if (cctx == NULL || !cctx->have_gen
        || cctx->status == NGX_HTTP_MCP_CACHE_HIT)
    {
        return NGX_OK;
    }

    return ngx_http_mcp_cache_store(r, cctx);
}


static ngx_int_t
ngx_http_mcp_cache_store(ngx_http_request_t *r, ngx_http_mcp_cache_ctx_t *cctx)
{
    u_char                          *p;
    size_t                           size;
    ngx_str_t                       *args, *body;
    ngx_uint_t                       i, *status;
    ngx_chain_t                     *cl;
    ngx_http_mcp_reply_t            *reply;
    ngx_http_mcp_cache_loc_conf_t   *lcf;
    ngx_http_mcp_cache_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_cache_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_mcp_cache_module);

    reply = cctx->reply;
    size = 0;

    for (cl = reply->body; cl; cl = cl->next) {
        size += ngx_buf_size(cl->buf);
    }

    if (lcf->statuses == NULL) {
        cctx->store = (reply->status == NGX_HTTP_OK);

    } else {
        status = lcf->statuses->elts;

        for (i = 0; i < lcf->statuses->nelts; i++) {
            if (status[i] == reply->status) {
                cctx->store = 1;
                break;
            }
        }
    }

    if (size > lcf->max_size) {
        cctx->store = 0;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mcp cache store: status:%ui size:%uz store:%ui",
                   reply->status, size, (ngx_uint_t) cctx->store);

    if (!cctx->store && !cctx->locked) {
        return NGX_OK;
    }

    args = ngx_http_mcp_cache_unlock_args(cctx);

    if (cctx->store) {
        p = ngx_pnalloc(r->pool, 2 * NGX_INT_T_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        args[NGX_HTTP_MCP_STORE_TTL_MS].data = p;
        p = ngx_sprintf(p, "%M", lcf->ttl);
        args[NGX_HTTP_MCP_STORE_TTL_MS].len =
                                  p - args[NGX_HTTP_MCP_STORE_TTL_MS].data;

        args[NGX_HTTP_MCP_STORE_STATUS].data = p;
        p = ngx_sprintf(p, "%ui", reply->status);
        args[NGX_HTTP_MCP_STORE_STATUS].len =
                                  p - args[NGX_HTTP_MCP_STORE_STATUS].data;

        /* the client's answer, as it is sent: already redacted */

        body = &args[NGX_HTTP_MCP_STORE_BODY];

        if (reply->body && reply->body->next == NULL) {
            body->data = reply->body->buf->pos;
            body->len = size;

        } else if (size) {
            p = ngx_pnalloc(r->pool, size);
            if (p == NULL) {
                return NGX_ERROR;
            }

            body->data = p;
            body->len = size;

            for (cl = reply->body; cl; cl = cl->next) {
                p = ngx_cpymem(p, cl->buf->pos, ngx_buf_size(cl->buf));
            }
        }
    }

    cctx->cmd = ngx_http_mcp_redis_eval(mcf->rds,
                                        &mcf->scripts[NGX_HTTP_MCP_CACHE_STORE],
                                        NGX_HTTP_MCP_CACHE_NKEYS,
                                        NGX_HTTP_MCP_STORE_NARGS, args,
                                        ngx_http_mcp_cache_store_done, cctx);
    if (cctx->cmd == NULL) {
        if (cctx->store) {
            ngx_http_mcp_cache_set_status(r, cctx, NGX_HTTP_MCP_CACHE_ERROR);
        }

        return NGX_OK;
    }

    return NGX_AGAIN;
}


static void
ngx_http_mcp_cache_store_done(void *data, redisReply *reply)
{
    ngx_http_mcp_cache_ctx_t *cctx = data;

    ngx_http_request_t  *r;

    cctx->cmd = NULL;
    r = cctx->request;

    if (reply == NULL) {
        if (cctx->store) {
            ngx_http_mcp_cache_set_status(r, cctx, NGX_HTTP_MCP_CACHE_ERROR);
        }

    } else {
        /* the lock, if any, is released whatever the result */
        cctx->locked = 0;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "mcp cache stored: %i",
                       reply->type == REDIS_REPLY_INTEGER
                       ? (ngx_int_t) reply->integer : -1);
    }

    cctx->done(r, NGX_OK);
}


/*
 * The store script's arguments that store nothing: they release the
 * entry's lock if this request holds it
 */

static ngx_str_t *
ngx_http_mcp_cache_unlock_args(ngx_http_mcp_cache_ctx_t *cctx)
{
    ngx_str_t  *args;

    args = cctx->args;

    ngx_memcpy(args, cctx->keys, sizeof(cctx->keys));

    args[NGX_HTTP_MCP_STORE_FIELD] = cctx->field;
    args[NGX_HTTP_MCP_STORE_GEN] = cctx->gen;
    ngx_str_set(&args[NGX_HTTP_MCP_STORE_TTL_MS], "0");
    ngx_str_set(&args[NGX_HTTP_MCP_STORE_STATUS], "");
    ngx_str_set(&args[NGX_HTTP_MCP_STORE_BODY], "");

    if (cctx->locked) {
        args[NGX_HTTP_MCP_STORE_TOKEN] = cctx->token;

    } else {
        ngx_str_set(&args[NGX_HTTP_MCP_STORE_TOKEN], "");
    }

    return args;
}


/* a request that goes away releases its lock: nobody waits for a reply */

void
ngx_http_mcp_cache_unlock(ngx_http_mcp_cache_ctx_t *cctx)
{
    ngx_str_t                       *args;
    ngx_http_mcp_cache_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(cctx->request,
                                        ngx_http_mcp_cache_module);

    args = ngx_http_mcp_cache_unlock_args(cctx);

    cctx->locked = 0;

    /* no handler: the arguments need not outlive the request */

    (void) ngx_http_mcp_redis_eval(mcf->rds,
                                   &mcf->scripts[NGX_HTTP_MCP_CACHE_STORE],
                                   NGX_HTTP_MCP_CACHE_NKEYS,
                                   NGX_HTTP_MCP_STORE_NARGS, args, NULL, NULL);
}


static ngx_int_t
ngx_http_mcp_cache_invalidate(ngx_http_request_t *r,
    ngx_http_mcp_route_t *route, ngx_http_mcp_reply_t *reply,
    ngx_http_mcp_step_pt done)
{
    ngx_http_mcp_cache_ctx_t        *cctx;
    ngx_http_mcp_cache_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_cache_module);

    cctx = ngx_http_mcp_cache_ctx(r, route, reply, done);
    if (cctx == NULL) {
        return NGX_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mcp cache invalidate \"%V\", \"%V\"",
                   &cctx->keys[NGX_HTTP_MCP_CACHE_KEY_GEN],
                   &cctx->keys[NGX_HTTP_MCP_CACHE_KEY_ENTRIES]);

    cctx->cmd = ngx_http_mcp_redis_eval(mcf->rds,
                                &mcf->scripts[NGX_HTTP_MCP_CACHE_INVALIDATE],
                                NGX_HTTP_MCP_INVALIDATE_NKEYS,
                                NGX_HTTP_MCP_INVALIDATE_NKEYS, cctx->keys,
                                ngx_http_mcp_cache_invalidate_done, cctx);
    if (cctx->cmd == NULL) {
        ngx_http_mcp_metrics_invalidation(r, cctx->route->registry, 0);
        ngx_http_mcp_cache_pending_add(mcf, r, cctx);
        return NGX_OK;
    }

    return NGX_AGAIN;
}


static void
ngx_http_mcp_cache_invalidate_done(void *data, redisReply *reply)
{
    ngx_http_mcp_cache_ctx_t *cctx = data;

    ngx_http_request_t              *r;
    ngx_http_mcp_cache_main_conf_t  *mcf;

    cctx->cmd = NULL;
    r = cctx->request;
    ngx_http_mcp_metrics_invalidation(r, cctx->route->registry, reply != NULL);

    if (reply == NULL) {
        mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_cache_module);
        ngx_http_mcp_cache_pending_add(mcf, r, cctx);
    }

    cctx->done(r, NGX_OK);
}


/*
 * An invalidation failed: the entries of the server may be served until
 * their TTL ends, unless Redis lost them anyway.  It is logged for every
 * PUT, and retried (by this worker) as soon as Redis answers again.
 */

static void
ngx_http_mcp_cache_pending_add(ngx_http_mcp_cache_main_conf_t *mcf,
    ngx_http_request_t *r, ngx_http_mcp_cache_ctx_t *cctx)
{
    u_char                        *p;
    ngx_str_t                     *keys;
    ngx_queue_t                   *q;
    ngx_http_mcp_cache_pending_t  *pd;

    keys = cctx->keys;

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "mcp cache: could not invalidate \"%V\" after a PUT, "
                  "cached answers of %V:%V may be stale until redis "
                  "answers again", &keys[NGX_HTTP_MCP_CACHE_KEY_GEN],
                  &cctx->route->registry->name, &cctx->route->id);

    if (ngx_http_mcp_cache_pending_find(mcf,
                                        &keys[NGX_HTTP_MCP_CACHE_KEY_GEN]))
    {
        return;
    }

    if (mcf->npending >= NGX_HTTP_MCP_CACHE_PENDING_MAX) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "mcp cache: more than %d invalidations wait for "
                      "redis, the oldest is dropped",
                      NGX_HTTP_MCP_CACHE_PENDING_MAX);

        for (q = ngx_queue_head(&mcf->pending);
             q != ngx_queue_sentinel(&mcf->pending);
             q = ngx_queue_next(q))
        {
            pd = ngx_queue_data(q, ngx_http_mcp_cache_pending_t, queue);

            if (!pd->sending) {
                ngx_queue_remove(q);
                ngx_free(pd);
                mcf->npending--;
                break;
            }
        }

        if (mcf->npending >= NGX_HTTP_MCP_CACHE_PENDING_MAX) {
            return;
        }
    }

    pd = ngx_alloc(sizeof(ngx_http_mcp_cache_pending_t)
                   + keys[NGX_HTTP_MCP_CACHE_KEY_GEN].len
                   + keys[NGX_HTTP_MCP_CACHE_KEY_ENTRIES].len,
                   r->connection->log);
    if (pd == NULL) {
        return;
    }

    pd->mcf = mcf;
    pd->sending = 0;

    p = (u_char *) pd + sizeof(ngx_http_mcp_cache_pending_t);

    pd->keys[NGX_HTTP_MCP_CACHE_KEY_GEN].data = p;
    pd->keys[NGX_HTTP_MCP_CACHE_KEY_GEN].len =
                                         keys[NGX_HTTP_MCP_CACHE_KEY_GEN].len;
    p = ngx_cpymem(p, keys[NGX_HTTP_MCP_CACHE_KEY_GEN].data,
                   keys[NGX_HTTP_MCP_CACHE_KEY_GEN].len);

    pd->keys[NGX_HTTP_MCP_CACHE_KEY_ENTRIES].data = p;
    pd->keys[NGX_HTTP_MCP_CACHE_KEY_ENTRIES].len =
                                     keys[NGX_HTTP_MCP_CACHE_KEY_ENTRIES].len;
    ngx_memcpy(p, keys[NGX_HTTP_MCP_CACHE_KEY_ENTRIES].data,
               keys[NGX_HTTP_MCP_CACHE_KEY_ENTRIES].len);

    ngx_queue_insert_tail(&mcf->pending, &pd->queue);
    mcf->npending++;
    ngx_http_mcp_metrics_invalidations_pending(mcf->npending);
}


/* 1 if the server whose generation key is "gen" waits for an invalidation */

ngx_uint_t
ngx_http_mcp_cache_pending(ngx_http_mcp_cache_main_conf_t *mcf,
    ngx_str_t *gen)
{
    return ngx_http_mcp_cache_pending_find(mcf, gen) != NULL;
}


static ngx_http_mcp_cache_pending_t *
ngx_http_mcp_cache_pending_find(ngx_http_mcp_cache_main_conf_t *mcf,
    ngx_str_t *gen)
{
    ngx_queue_t                   *q;
    ngx_http_mcp_cache_pending_t  *pd;

    for (q = ngx_queue_head(&mcf->pending);
         q != ngx_queue_sentinel(&mcf->pending);
         q = ngx_queue_next(q))
    {
        pd = ngx_queue_data(q, ngx_http_mcp_cache_pending_t, queue);

        if (pd->keys[NGX_HTTP_MCP_CACHE_KEY_GEN].len == gen->len
            && ngx_strncmp(pd->keys[NGX_HTTP_MCP_CACHE_KEY_GEN].data,
                           gen->data, gen->len)
               == 0)
        {
            return pd;
        }
    }

    return NULL;
}


/* Redis answers (again): the invalidations it missed go first */

void
ngx_http_mcp_cache_replay(ngx_http_mcp_redis_t *rds, void *data)
{
    ngx_http_mcp_cache_main_conf_t *mcf = data;

    ngx_queue_t                   *q;
    ngx_http_mcp_cache_pending_t  *pd;

    for (q = ngx_queue_head(&mcf->pending);
         q != ngx_queue_sentinel(&mcf->pending);
         q = ngx_queue_next(q))
    {
        pd = ngx_queue_data(q, ngx_http_mcp_cache_pending_t, queue);

        if (pd->sending) {
            continue;
        }

        if (ngx_http_mcp_redis_eval(rds,
                                &mcf->scripts[NGX_HTTP_MCP_CACHE_INVALIDATE],
                                NGX_HTTP_MCP_INVALIDATE_NKEYS,
                                NGX_HTTP_MCP_INVALIDATE_NKEYS, pd->keys,
                                ngx_http_mcp_cache_replay_done, pd)
            == NULL)
        {
            return;
        }

        pd->sending = 1;
    }
}


static void
ngx_http_mcp_cache_replay_done(void *data, redisReply *reply)
{
    ngx_http_mcp_cache_pending_t *pd = data;

    ngx_http_mcp_cache_main_conf_t  *mcf;

    pd->sending = 0;

    if (reply == NULL) {
        /* kept for the next time */
        return;
    }

    mcf = pd->mcf;

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "mcp cache: invalidated \"%V\" now that redis answers",
                  &pd->keys[NGX_HTTP_MCP_CACHE_KEY_GEN]);

    ngx_queue_remove(&pd->queue);
    ngx_free(pd);
    mcf->npending--;
    ngx_http_mcp_metrics_invalidations_pending(mcf->npending);
    ngx_http_mcp_metrics_invalidation_replayed();
}


/* the worker exits */

void
ngx_http_mcp_cache_forget_pending(ngx_http_mcp_cache_main_conf_t *mcf)
{
    ngx_queue_t                   *q;
    ngx_http_mcp_cache_pending_t  *pd;

    while (!ngx_queue_empty(&mcf->pending)) {
        q = ngx_queue_head(&mcf->pending);
        pd = ngx_queue_data(q, ngx_http_mcp_cache_pending_t, queue);

        ngx_queue_remove(q);
        ngx_free(pd);
    }

    mcf->npending = 0;
    ngx_http_mcp_metrics_invalidations_pending(0);
}
