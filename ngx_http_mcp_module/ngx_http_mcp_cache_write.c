
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * A PUT and the cache (lua/cache_write.lua): the contract of docs/cache.md
 * is that once a PUT is answered 2xx, no GET answered after it, on any
 * node and for any caller, returns an earlier version.
 *
 *   begin  before the PUT is forwarded, the server's entries go and it is
 *          marked as being written, on the primary (and its replicas with
 *          "wait_replicas="): no node serves or keeps it until the writer
 *          is done or its deadline ("mcp_cache_write_timeout") passes.
 *          Without a primary to mark it, "mcp_cache_consistency strict"
 *          refuses the PUT (503, nothing forwarded); "relaxed" forwards
 *          it, and says how long other nodes may serve the old record.
 *   end    after the registry's answer, whatever it is: the entries go
 *          again (a fetch begun in between stores nothing) and, if the
 *          registry answered, the writer leaves the marker; if its outcome
 *          is unknown (a timeout, a reset), the marker stays until the
 *          deadline, for a write that lands late.  Redis failing here is
 *          covered by the marker; the invalidation waits in the node's
 *          zone, and this node serves nothing of the server until a worker
 *          has sent it (ngx_http_mcp_cache_replay()).
 *   hold   with "mcp_cache_l1 on" anywhere, the answer waits until the
 *          lease ("mcp_cache_l1_lease") has passed since the mark was
 *          acknowledged: every node has heard the mark's invalidation by
 *          then, or stopped serving its L1 (ngx_http_mcp_cache_channel.c).
 *          The wait overlaps the registry's answer; only what is left of
 *          it delays the PUT.
 */


#include "ngx_http_mcp_cache.h"
#include "ngx_http_mcp_metrics.h"


typedef enum {
    NGX_HTTP_MCP_CACHE_WRITE_BEGIN = 0,
    NGX_HTTP_MCP_CACHE_WRITE_END,
    NGX_HTTP_MCP_CACHE_WRITE_UNKNOWN
} ngx_http_mcp_cache_write_e;


static ngx_int_t ngx_http_mcp_cache_write_send(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx);
static void ngx_http_mcp_cache_write_done(void *data, redisReply *reply);
static void ngx_http_mcp_cache_waited(void *data, redisReply *reply);
static ngx_int_t ngx_http_mcp_cache_write_ended(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx, ngx_uint_t ok);
static ngx_int_t ngx_http_mcp_cache_write_refused(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx);
static ngx_int_t ngx_http_mcp_cache_write_hold(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx, ngx_int_t rc);
static void ngx_http_mcp_cache_write_held(ngx_event_t *ev);
static void ngx_http_mcp_cache_write_forget(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx);
static ngx_str_t *ngx_http_mcp_cache_write_args(
    ngx_http_mcp_cache_main_conf_t *mcf, ngx_http_mcp_cache_ctx_t *cctx);
static void ngx_http_mcp_cache_replay_done(void *data, redisReply *reply);


static ngx_str_t  ngx_http_mcp_cache_write_steps[] = {
    ngx_string("begin"),
    ngx_string("end"),
    ngx_string("unknown")
};

static ngx_str_t  ngx_http_mcp_cache_stale_header =
    ngx_string("X-Cache-Invalidation");


ngx_int_t
ngx_http_mcp_cache_write_begin(ngx_http_request_t *r,
    ngx_http_mcp_route_t *route, ngx_http_mcp_reply_t *reply,
    ngx_http_mcp_step_pt done)
{
    ngx_int_t                        rc;
    ngx_http_mcp_cache_ctx_t        *cctx;
    ngx_http_mcp_cache_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_cache_module);

    if (mcf->redis.name.len == 0) {
        return NGX_OK;
    }

    cctx = ngx_http_mcp_cache_ctx(r, route, reply, done);
    if (cctx == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_mcp_cache_token(r, cctx) != NGX_OK) {
        return NGX_ERROR;
    }

    cctx->step = NGX_HTTP_MCP_CACHE_WRITE_BEGIN;

    rc = ngx_http_mcp_cache_write_send(r, cctx);

    if (rc == NGX_DECLINED) {
        return ngx_http_mcp_cache_write_refused(r, cctx);
    }

    return rc;
}


ngx_int_t
ngx_http_mcp_cache_write_end(ngx_http_request_t *r,
    ngx_http_mcp_route_t *route, ngx_http_mcp_reply_t *reply,
    ngx_uint_t known, ngx_http_mcp_step_pt done)
{
    ngx_int_t                        rc;
    ngx_http_mcp_cache_ctx_t        *cctx;
    ngx_http_mcp_cache_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_cache_module);

    if (mcf->redis.name.len == 0) {
        return NGX_OK;
    }

    cctx = ngx_http_get_module_ctx(r, ngx_http_mcp_cache_module);
    if (cctx == NULL) {
        return NGX_ERROR;
    }

    cctx->reply = reply;
    cctx->done = done;
    cctx->step = known ? NGX_HTTP_MCP_CACHE_WRITE_END
                       : NGX_HTTP_MCP_CACHE_WRITE_UNKNOWN;

    rc = ngx_http_mcp_cache_write_send(r, cctx);

    if (rc == NGX_DECLINED) {
        ngx_http_mcp_metrics_invalidation(r, route->registry, 0);
        rc = ngx_http_mcp_cache_write_ended(r, cctx, 0);
        return ngx_http_mcp_cache_write_hold(r, cctx, rc);
    }

    return rc;
}


/* NGX_AGAIN: sent; NGX_DECLINED: Redis cannot take it; NGX_ERROR */

static ngx_int_t
ngx_http_mcp_cache_write_send(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx)
{
    ngx_str_t                       *args;
    ngx_http_mcp_cache_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_cache_module);

    args = ngx_http_mcp_cache_write_args(mcf, cctx);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mcp cache write %V \"%V\"",
                   &args[NGX_HTTP_MCP_WRITE_STEP],
                   &cctx->keys[NGX_HTTP_MCP_CACHE_KEY_GEN]);

    cctx->cmd = ngx_http_mcp_redis_eval(mcf->rds,
                                    &mcf->scripts[NGX_HTTP_MCP_CACHE_WRITE],
                                    NGX_HTTP_MCP_WRITE_NKEYS,
                                    NGX_HTTP_MCP_WRITE_NARGS, args,
                                    ngx_http_mcp_cache_write_done, cctx);
    if (cctx->cmd == NULL) {
        return NGX_DECLINED;
    }

    return NGX_AGAIN;
}


static void
ngx_http_mcp_cache_write_done(void *data, redisReply *reply)
{
    ngx_http_mcp_cache_ctx_t *cctx = data;

    u_char                          *p;
    ngx_str_t                       *args;
    ngx_http_request_t              *r;
    ngx_http_mcp_cache_main_conf_t  *mcf;

    cctx->cmd = NULL;
    r = cctx->request;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_cache_module);

    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        ngx_http_mcp_cache_waited(cctx, NULL);
        return;
    }

    if (mcf->redis.wait_replicas == 0) {
        ngx_http_mcp_cache_waited(cctx, reply);
        return;
    }

    /*
     * acknowledged once the replicas have it too, so that a failover
     * cannot bring back what the write removed; on the same connection,
     * right after the script
     */

    args = cctx->args;

    p = ngx_pnalloc(r->pool, 2 * NGX_INT_T_LEN);
    if (p == NULL) {
        ngx_http_mcp_cache_waited(cctx, NULL);
        return;
    }

    ngx_str_set(&args[0], "WAIT");

    args[1].data = p;
    p = ngx_sprintf(p, "%ui", mcf->redis.wait_replicas);
    args[1].len = p - args[1].data;

    args[2].data = p;
    p = ngx_sprintf(p, "%M", mcf->redis.timeout / 2);
    args[2].len = p - args[2].data;

    cctx->cmd = ngx_http_mcp_redis_command(mcf->rds,
                                       &cctx->keys[NGX_HTTP_MCP_CACHE_KEY_GEN],
                                       3, args, ngx_http_mcp_cache_waited,
                                       cctx);
    if (cctx->cmd == NULL) {
        ngx_http_mcp_cache_waited(cctx, NULL);
    }
}


/* the write script's result, after WAIT if there was one */

static void
ngx_http_mcp_cache_waited(void *data, redisReply *reply)
{
    ngx_http_mcp_cache_ctx_t *cctx = data;

    ngx_int_t                        rc;
    ngx_uint_t                       ok;
    ngx_http_request_t              *r;
    ngx_http_mcp_cache_main_conf_t  *mcf;

    cctx->cmd = NULL;
    r = cctx->request;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_cache_module);

    ok = (reply != NULL && reply->type == REDIS_REPLY_INTEGER
          && (mcf->redis.wait_replicas == 0
              || reply->integer >= (long long) mcf->redis.wait_replicas));

    if (reply && !ok) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "mcp cache: %lld of %ui replicas acknowledged the "
                      "write of \"%V\"", reply->integer,
                      mcf->redis.wait_replicas,
                      &cctx->keys[NGX_HTTP_MCP_CACHE_KEY_GEN]);
    }

    if (cctx->step != NGX_HTTP_MCP_CACHE_WRITE_BEGIN) {
        ngx_http_mcp_metrics_invalidation(r, cctx->route->registry, ok);
        rc = ngx_http_mcp_cache_write_ended(r, cctx, ok);

        rc = ngx_http_mcp_cache_write_hold(r, cctx, rc);
        if (rc == NGX_AGAIN) {
            return;
        }

    } else if (ok) {
        cctx->marked = 1;
        cctx->marked_at = ngx_current_msec;
        rc = NGX_OK;

    } else {
        if (reply) {

            /*
             * the primary has the mark, too few replicas do: the write
             * does not go, and its mark should not hold the server until
             * its deadline (if this fails too, it does, which is safe)
             */

            cctx->step = NGX_HTTP_MCP_CACHE_WRITE_END;
            ngx_http_mcp_cache_write_forget(r, cctx);
        }

        rc = ngx_http_mcp_cache_write_refused(r, cctx);
    }

    cctx->done(r, rc);
}


/*
 * The answer of a marked write waits until the L1 lease has passed since
 * the mark: NGX_AGAIN, the wait timer is set (the request's cleanup
 * removes it if the client goes), or "rc".
 */

static ngx_int_t
ngx_http_mcp_cache_write_hold(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx, ngx_int_t rc)
{
    ngx_msec_int_t                   left;
    ngx_http_mcp_cache_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_cache_module);

    if (rc == NGX_ERROR || !mcf->l1_used || !cctx->marked) {
        return rc;
    }

    left = (ngx_msec_int_t) (cctx->marked_at + mcf->l1_lease
                             - ngx_current_msec);
    if (left <= 0) {
        return rc;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mcp cache: write held %M ms for the l1 lease",
                   (ngx_msec_t) left);

    cctx->held = rc;
    cctx->wait.handler = ngx_http_mcp_cache_write_held;

    ngx_add_timer(&cctx->wait, (ngx_msec_t) left);

    return NGX_AGAIN;
}


static void
ngx_http_mcp_cache_write_held(ngx_event_t *ev)
{
    ngx_http_mcp_cache_ctx_t *cctx = ev->data;

    cctx->done(cctx->request, cctx->held);
}


/* the write script's arguments, for cctx->step */

static ngx_str_t *
ngx_http_mcp_cache_write_args(ngx_http_mcp_cache_main_conf_t *mcf,
    ngx_http_mcp_cache_ctx_t *cctx)
{
    ngx_str_t  *args;

    args = cctx->args;

    ngx_memcpy(args, cctx->keys, NGX_HTTP_MCP_WRITE_NKEYS * sizeof(ngx_str_t));

    args[NGX_HTTP_MCP_WRITE_STEP] = ngx_http_mcp_cache_write_steps[cctx->step];
    args[NGX_HTTP_MCP_WRITE_TOKEN] = cctx->token;
    args[NGX_HTTP_MCP_WRITE_DEADLINE_MS] = mcf->write_timeout_ms;

    return args;
}


/* the end of a write whose answer nobody waits for */

static void
ngx_http_mcp_cache_write_forget(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx)
{
    ngx_str_t                       *args;
    ngx_http_mcp_cache_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_cache_module);

    args = ngx_http_mcp_cache_write_args(mcf, cctx);

    (void) ngx_http_mcp_redis_eval(mcf->rds,
                                   &mcf->scripts[NGX_HTTP_MCP_CACHE_WRITE],
                                   NGX_HTTP_MCP_WRITE_NKEYS,
                                   NGX_HTTP_MCP_WRITE_NARGS, args, NULL, NULL);
}


/*
 * No marker could be set.  "strict": the PUT is not forwarded, nothing
 * changed; "relaxed": it is, and other nodes may serve the old record
 * until their entries expire (at most the longest mcp_cache_ttl), which
 * the answer says (ngx_http_mcp_cache_write_ended()) and the log, once.
 */

static ngx_int_t
ngx_http_mcp_cache_write_refused(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx)
{
    ngx_http_mcp_cache_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_cache_module);

    if (mcf->consistency == NGX_HTTP_MCP_CACHE_RELAXED) {

        if (!mcf->warned) {
            mcf->warned = 1;
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "mcp cache: no redis primary to mark writes, "
                          "forwarding them (mcp_cache_consistency "
                          "relaxed): other nodes may serve the previous "
                          "records for up to %M ms", mcf->max_ttl);
        }

        return NGX_OK;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mcp cache: write of \"%V\" refused, no redis primary",
                   &cctx->keys[NGX_HTTP_MCP_CACHE_KEY_GEN]);

    if (ngx_http_mcp_reply_detail(r, cctx->reply,
                                  NGX_HTTP_SERVICE_UNAVAILABLE,
                                  "The update was not forwarded: the "
                                  "gateway cannot reach its cache to "
                                  "invalidate it, and other gateway nodes "
                                  "would go on serving the previous "
                                  "record. Nothing was changed; try again "
                                  "later.")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_DECLINED;
}


/*
 * The PUT's invalidation went through (ok), or it waits in the node's
 * zone: meanwhile this node serves nothing of the server, and the
 * others are held off by the marker, if one was set.
 */

static ngx_int_t
ngx_http_mcp_cache_write_ended(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx, ngx_uint_t ok)
{
    u_char                          *p;
    ngx_str_t                        value, token;
    ngx_http_mcp_cache_main_conf_t  *mcf;

    if (ok) {
        return NGX_OK;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_cache_module);

    /*
     * sent again, it removes the writer from the marker if the write is
     * known to be over; else the marker lasts until its deadline
     */

    token = cctx->token;

    if (cctx->step != NGX_HTTP_MCP_CACHE_WRITE_END) {
        ngx_str_set(&token, "");
    }

    if (ngx_http_mcp_cache_node_add(mcf->zone, cctx->keys, &token)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mcp cache: \"mcp_cache_zone\" is full, the "
                      "invalidation of \"%V\" is lost",
                      &cctx->keys[NGX_HTTP_MCP_CACHE_KEY_GEN]);
    }

    ngx_http_mcp_metrics_invalidations_pending(
                                ngx_http_mcp_cache_node_npending(mcf->zone));

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "mcp cache: could not invalidate %V:%V after a PUT, "
                  "sent again when redis answers%s",
                  &cctx->route->registry->name, &cctx->route->id,
                  cctx->marked ? "" : "; other nodes may serve the previous "
                                      "record meanwhile");

    if (cctx->marked) {
        return NGX_OK;
    }

    /* relaxed, unmarked: how long another node may serve the old record */

    p = ngx_pnalloc(r->pool, sizeof("pending; max-stale=") - 1
                             + NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    value.data = p;
    value.len = ngx_sprintf(p, "pending; max-stale=%M",
                            (mcf->max_ttl + 999) / 1000)
                - p;

    if (ngx_http_mcp_reply_header(r, &ngx_http_mcp_cache_stale_header, &value)
        == NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * A primary answers (again): the node's invalidations that wait go first.
 * Each was a write whose end Redis did not take: the entries go, a new
 * generation starts, and the writer leaves the marker if the write was
 * known to be over (its token; none: the marker ends at its deadline).
 */

void
ngx_http_mcp_cache_replay(ngx_http_mcp_redis_t *rds, void *data)
{
    ngx_http_mcp_cache_main_conf_t *mcf = data;

    ngx_queue_t                   *claimed, *q;
    ngx_http_mcp_cache_pending_t  *pd;

    mcf->warned = 0;

    claimed = ngx_http_mcp_cache_node_claim(mcf->zone, ngx_cycle->log);
    if (claimed == NULL) {
        return;
    }

    while (!ngx_queue_empty(claimed)) {
        q = ngx_queue_head(claimed);
        ngx_queue_remove(q);

        pd = ngx_queue_data(q, ngx_http_mcp_cache_pending_t, queue);

        /* the worker's until it is done: a worker that exits gives it back */
        ngx_queue_insert_tail(&mcf->replaying, q);

        pd->args[NGX_HTTP_MCP_WRITE_STEP] =
                      ngx_http_mcp_cache_write_steps[NGX_HTTP_MCP_CACHE_WRITE_END];
        pd->args[NGX_HTTP_MCP_WRITE_DEADLINE_MS] = mcf->write_timeout_ms;

        if (ngx_http_mcp_redis_eval(rds,
                                    &mcf->scripts[NGX_HTTP_MCP_CACHE_WRITE],
                                    NGX_HTTP_MCP_WRITE_NKEYS,
                                    NGX_HTTP_MCP_WRITE_NARGS, pd->args,
                                    ngx_http_mcp_cache_replay_done, pd)
            == NULL)
        {
            ngx_http_mcp_cache_node_done(pd, 0);
        }
    }

    ngx_free(claimed);
}


static void
ngx_http_mcp_cache_replay_done(void *data, redisReply *reply)
{
    ngx_http_mcp_cache_pending_t *pd = data;

    ngx_shm_zone_t  *zone;

    zone = pd->zone;

    if (reply != NULL) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "mcp cache: invalidated \"%V\" now that redis "
                      "answers", &pd->args[NGX_HTTP_MCP_CACHE_KEY_GEN]);

        ngx_http_mcp_metrics_invalidation_replayed();
    }

    ngx_http_mcp_cache_node_done(pd, reply != NULL);

    ngx_http_mcp_metrics_invalidations_pending(
                                     ngx_http_mcp_cache_node_npending(zone));
}
