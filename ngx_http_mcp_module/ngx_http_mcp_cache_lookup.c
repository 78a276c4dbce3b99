
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * The lookup step.  A lookup starts with a plain HMGET of the entry: all
 * that a hit costs Redis.  A miss (or an expired entry) goes on with the
 * lookup script (lua/cache_lookup.lua), which reads the generation and
 * takes the entry's lock; a request that finds the entry locked by
 * another looks again every NGX_HTTP_MCP_CACHE_POLL ms, until the lock
 * timeout.  Redis failing is a miss that is not stored ("ERROR"), and so
 * is a server being written ("BYPASS"); the node's requests for the same
 * entry then share fetches from the registry (ngx_http_mcp_cache_node.c).
 *
 * With "mcp_cache_l1 on", the node's first layer is asked before Redis
 * while it may be served (ngx_http_mcp_cache_l1.c), and a hit of the
 * probe is kept there if no invalidation was heard since it was sent.
 */


#include "ngx_http_mcp_cache.h"
#include "ngx_http_mcp_metrics.h"


/* between two lookups while another request fetches the same entry */
#define NGX_HTTP_MCP_CACHE_POLL         20

/* between two looks at a fetch the node's requests share */
#define NGX_HTTP_MCP_CACHE_FLIGHT_POLL  10


static ngx_uint_t ngx_http_mcp_cache_no_cache(ngx_http_request_t *r);
static ngx_int_t ngx_http_mcp_cache_l1_lookup(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx);
static ngx_int_t ngx_http_mcp_cache_send_lookup(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx);
static void ngx_http_mcp_cache_probe_done(void *data, redisReply *reply);
static ngx_int_t ngx_http_mcp_cache_probed(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx, redisReply *reply);
static ngx_int_t ngx_http_mcp_cache_send_script(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx);
static void ngx_http_mcp_cache_lookup_done(void *data, redisReply *reply);
static void ngx_http_mcp_cache_lookup_end(ngx_http_mcp_cache_ctx_t *cctx,
    ngx_int_t rc);
static ngx_int_t ngx_http_mcp_cache_found(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx, redisReply *reply);
static ngx_int_t ngx_http_mcp_cache_hit(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx, redisReply *status, redisReply *body);
static void ngx_http_mcp_cache_wait_handler(ngx_event_t *ev);
static void ngx_http_mcp_cache_unhelped(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx, ngx_uint_t status);
static ngx_int_t ngx_http_mcp_cache_flight(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx);
static void ngx_http_mcp_cache_flight_handler(ngx_event_t *ev);


/*
 * GET and HEAD are looked up (the registry is always asked with GET, so a
 * HEAD miss stores the whole answer too); a request with "Cache-Control:
 * no-cache" or "Pragma: no-cache" skips the lookup and refreshes the entry
 * (mcp_cache_bypass_no_cache).  Redis failing is a miss that is not stored
 * ("ERROR").
 */

ngx_int_t
ngx_http_mcp_cache_lookup(ngx_http_request_t *r, ngx_http_mcp_route_t *route,
    ngx_http_mcp_reply_t *reply, ngx_http_mcp_step_pt done)
{
    ngx_int_t                        rc;
    ngx_http_mcp_cache_ctx_t        *cctx;
    ngx_http_mcp_cache_loc_conf_t   *lcf;
    ngx_http_mcp_cache_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_cache_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_mcp_cache_module);

    if (mcf->redis.name.len == 0
        || !lcf->enable
        || !(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)))
    {
        return NGX_DECLINED;
    }

    cctx = ngx_http_mcp_cache_ctx(r, route, reply, done);
    if (cctx == NULL) {
        return NGX_ERROR;
    }

    cctx->wait.handler = ngx_http_mcp_cache_wait_handler;

    if (ngx_http_mcp_cache_key_parts(r, cctx) != NGX_OK) {
        return NGX_ERROR;
    }

    if (lcf->bypass && ngx_http_mcp_cache_no_cache(r)) {
        ngx_http_mcp_cache_set_status(r, cctx, NGX_HTTP_MCP_CACHE_BYPASS);

    } else {
        ngx_http_mcp_cache_set_status(r, cctx, NGX_HTTP_MCP_CACHE_MISS);
    }

    if (cctx->status == NGX_HTTP_MCP_CACHE_NONE) {
        return NGX_ERROR;
    }

    /*
     * this node could not invalidate the server after a PUT: what Redis
     * holds for it may be stale, so it is neither served nor refreshed
     * until the invalidation went through
     */

    cctx->deadline = ngx_current_msec + lcf->lock_timeout;

    if (ngx_http_mcp_cache_node_pending(mcf->zone,
                                       &cctx->keys[NGX_HTTP_MCP_CACHE_KEY_GEN]))
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "mcp cache: invalidation pending, no lookup");

        if (ngx_http_mcp_cache_field(r, cctx) != NGX_OK) {
            return NGX_ERROR;
        }

        /*
         * and if this worker reaches a primary, it sends what waits (what
         * another worker had taken, and could not send, included)
         */

        if (ngx_http_mcp_redis_ready(mcf->rds)) {
            ngx_http_mcp_cache_replay(mcf->rds, mcf);
        }

        ngx_http_mcp_cache_unhelped(r, cctx, NGX_HTTP_MCP_CACHE_ERROR);
        return ngx_http_mcp_cache_flight(r, cctx);
    }

    if (lcf->l1 && cctx->status == NGX_HTTP_MCP_CACHE_MISS) {
        rc = ngx_http_mcp_cache_l1_lookup(r, cctx);

        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    /* beyond the first layer: the entry's field, for Redis */

    if (ngx_http_mcp_cache_field(r, cctx) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_http_mcp_cache_send_lookup(r, cctx);

    if (rc == NGX_DECLINED) {
        ngx_http_mcp_cache_unhelped(r, cctx, NGX_HTTP_MCP_CACHE_ERROR);
        return ngx_http_mcp_cache_flight(r, cctx);
    }

    return rc;
}


/*
 * The node's first layer, while the channel is heard: NGX_OK, a hit;
 * NGX_DECLINED, ask Redis (and keep its hit: cctx->l1_key is set);
 * NGX_ERROR.  Its entry is "{tag}" and the rest of the server's key, then
 * the keyed SipHash-128 of the encoded key parts (not the SHA-256 field
 * Redis knows it by, which a hit here never computes): per caller as in
 * Redis (ngx_http_mcp_cache_l1_name()).
 */

static ngx_int_t
ngx_http_mcp_cache_l1_lookup(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx)
{
    u_char                          *p, *tag;
    size_t                           len;
    ngx_int_t                        rc;
    ngx_str_t                       *gen;
    ngx_http_mcp_cache_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_cache_module);

    if (!ngx_http_mcp_cache_l1_alive(mcf->zone)) {
        return NGX_DECLINED;
    }

    gen = &cctx->keys[NGX_HTTP_MCP_CACHE_KEY_GEN];

    cctx->l1_tag = ngx_http_mcp_cache_l1_tag(gen->data, gen->len, &tag);
    if (cctx->l1_tag == 0) {
        return NGX_DECLINED;
    }

    len = gen->data + gen->len - tag;

    p = ngx_pnalloc(r->pool, len + NGX_HTTP_MCP_CACHE_L1_NAME_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    cctx->l1_key.data = p;
    p = ngx_cpymem(p, tag, len);
    ngx_http_mcp_cache_l1_name(mcf->zone, &cctx->encoded, p);
    cctx->l1_key.len = len + NGX_HTTP_MCP_CACHE_L1_NAME_LEN;

    rc = ngx_http_mcp_cache_l1_get(mcf->zone, &cctx->l1_key, r->pool,
                                   cctx->reply);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mcp cache l1 hit: status:%ui", cctx->reply->status);

    cctx->layer = NGX_HTTP_MCP_CACHE_LAYER_L1;

    ngx_http_mcp_cache_set_status(r, cctx, NGX_HTTP_MCP_CACHE_HIT);
    ngx_http_mcp_metrics_cache_l1_hit();

    return NGX_OK;
}


/* "Cache-Control: no-cache" or "Pragma: no-cache" */

static ngx_uint_t
ngx_http_mcp_cache_no_cache(ngx_http_request_t *r)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return 0;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (!((h[i].key.len == sizeof("Cache-Control") - 1
               && ngx_strncasecmp(h[i].key.data, (u_char *) "Cache-Control",
                                  sizeof("Cache-Control") - 1) == 0)
              || (h[i].key.len == sizeof("Pragma") - 1
                  && ngx_strncasecmp(h[i].key.data, (u_char *) "Pragma",
                                     sizeof("Pragma") - 1) == 0)))
        {
            continue;
        }

        if (ngx_strlcasestrn(h[i].value.data, h[i].value.data + h[i].value.len,
                             (u_char *) "no-cache", sizeof("no-cache") - 2)
            != NULL)
        {
            return 1;
        }
    }
}


/*
 * A lookup starts with a plain HMGET of the entry: all that a hit costs
 * Redis.  A miss (or an expired entry) goes on with the lookup script,
 * which reads the generation and takes the lock.  A bypass goes there at
 * once, and so does every lookup until Redis has run a script on this
 * connection (and while it refuses them: an ACL, OOM): where scripts fail,
 * invalidations fail too, and a probe would serve what they should have
 * removed; the script failing sends the request to the registry.
 * NGX_AGAIN: sent; NGX_DECLINED: Redis cannot take it; NGX_ERROR.
 */

static ngx_int_t
ngx_http_mcp_cache_send_lookup(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx)
{
    ngx_http_mcp_cache_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_cache_module);

    if (cctx->status == NGX_HTTP_MCP_CACHE_BYPASS
        || !ngx_http_mcp_redis_scripts_work_key(mcf->rds,
                                       &cctx->keys[NGX_HTTP_MCP_CACHE_KEY_GEN]))
    {
        return ngx_http_mcp_cache_send_script(r, cctx);
    }

    if (cctx->l1_key.len) {
        /* an invalidation heard before the answer: it is not kept */
        cctx->l1_seq = ngx_http_mcp_cache_l1_seq(mcf->zone);
    }

    cctx->cmd = ngx_http_mcp_redis_command(mcf->rds,
                                       &cctx->keys[NGX_HTTP_MCP_CACHE_KEY_GEN],
                                       4, cctx->probe,
                                       ngx_http_mcp_cache_probe_done, cctx);
    if (cctx->cmd == NULL) {
        return NGX_DECLINED;
    }

    return NGX_AGAIN;
}


static void
ngx_http_mcp_cache_probe_done(void *data, redisReply *reply)
{
    ngx_http_mcp_cache_ctx_t *cctx = data;

    ngx_int_t            rc;
    ngx_http_request_t  *r;

    cctx->cmd = NULL;

    r = cctx->request;

    if (reply == NULL) {
        rc = NGX_DECLINED;

    } else {
        rc = ngx_http_mcp_cache_probed(r, cctx, reply);

        if (rc == NGX_DECLINED) {
            /* a miss, or an entry found expired: the script decides */
            rc = ngx_http_mcp_cache_send_script(r, cctx);
        }
    }

    if (rc == NGX_DECLINED) {
        /* Redis failed: to the registry */
        ngx_http_mcp_cache_unhelped(r, cctx, NGX_HTTP_MCP_CACHE_ERROR);
    }

    ngx_http_mcp_cache_lookup_end(cctx, rc);
}


/*
 * NGX_OK: a hit; NGX_DECLINED: anything else, for the script to decide.
 * An entry is "<status> <expiry ms> <run id>": it counts only if the
 * server that answered wrote it, and before its expiry.  The expiry is in
 * Redis's clock (the store script reads TIME); it is compared with this
 * node's: nodes and Redis keep their clocks in step (NTP), and an entry
 * lives at most the skew longer or shorter.
 */

static ngx_int_t
ngx_http_mcp_cache_probed(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx, redisReply *reply)
{
    u_char                          *p, *last, *sp, *run_id;
    off_t                            expiry;
    ngx_int_t                        rc;
    ngx_time_t                      *tp;
    redisReply                     **e;
    ngx_http_mcp_cache_main_conf_t  *mcf;

    e = reply->element;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || e[0]->type != REDIS_REPLY_STRING
        || e[1]->type != REDIS_REPLY_STRING
        || e[0]->len < NGX_HTTP_MCP_REDIS_RUN_ID_LEN + 1)
    {
        return NGX_DECLINED;
    }

    p = (u_char *) e[0]->str;
    last = p + e[0]->len - NGX_HTTP_MCP_REDIS_RUN_ID_LEN;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_cache_module);

    run_id = ngx_http_mcp_redis_run_id(mcf->rds,
                                       &cctx->keys[NGX_HTTP_MCP_CACHE_KEY_GEN]);

    if (run_id == NULL
        || last[-1] != ' '
        || ngx_memcmp(last, run_id, NGX_HTTP_MCP_REDIS_RUN_ID_LEN) != 0)
    {
        return NGX_DECLINED;
    }

    last--;

    sp = ngx_strlchr(p, last, ' ');
    if (sp == NULL) {
        return NGX_DECLINED;
    }

    expiry = ngx_atoof(sp + 1, last - sp - 1);
    tp = ngx_timeofday();

    if (expiry == NGX_ERROR
        || expiry <= (off_t) tp->sec * 1000 + (off_t) tp->msec)
    {
        return NGX_DECLINED;
    }

    rc = ngx_http_mcp_cache_hit(r, cctx, e[0], e[1]);

    if (rc == NGX_OK && cctx->l1_key.len) {
        ngx_http_mcp_cache_l1_put(mcf->zone, &cctx->l1_key, cctx->l1_tag,
                                  cctx->l1_seq, cctx->reply,
                                  (int64_t) expiry);
    }

    return rc;
}


/* the lookup script: NGX_AGAIN, NGX_DECLINED or NGX_ERROR, as above */

static ngx_int_t
ngx_http_mcp_cache_send_script(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx)
{
    u_char                          *p;
    ngx_str_t                       *args;
    ngx_http_mcp_cache_loc_conf_t   *lcf;
    ngx_http_mcp_cache_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_cache_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_mcp_cache_module);

    if (cctx->lock_ms.data == NULL) {
        p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        cctx->lock_ms.data = p;
        cctx->lock_ms.len = ngx_sprintf(p, "%M", lcf->lock_timeout) - p;

        if (ngx_http_mcp_cache_token(r, cctx) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    args = cctx->args;

    ngx_memcpy(args, cctx->keys, sizeof(cctx->keys));

    args[NGX_HTTP_MCP_LOOKUP_FIELD] = cctx->field;
    args[NGX_HTTP_MCP_LOOKUP_LOCK_MS] = cctx->lock_ms;
    args[NGX_HTTP_MCP_LOOKUP_TOKEN] = cctx->token;

    if (cctx->status == NGX_HTTP_MCP_CACHE_BYPASS) {
        ngx_str_set(&args[NGX_HTTP_MCP_LOOKUP_MODE], "b");

    } else if (lcf->lock && ngx_current_msec < cctx->deadline) {
        ngx_str_set(&args[NGX_HTTP_MCP_LOOKUP_MODE], "l");

    } else {
        ngx_str_set(&args[NGX_HTTP_MCP_LOOKUP_MODE], "n");
    }

    cctx->cmd = ngx_http_mcp_redis_eval(mcf->rds,
                                    &mcf->scripts[NGX_HTTP_MCP_CACHE_LOOKUP],
                                    NGX_HTTP_MCP_CACHE_NKEYS,
                                    NGX_HTTP_MCP_LOOKUP_NARGS, args,
                                    ngx_http_mcp_cache_lookup_done, cctx);
    if (cctx->cmd == NULL) {
        return NGX_DECLINED;
    }

    return NGX_AGAIN;
}


static void
ngx_http_mcp_cache_lookup_done(void *data, redisReply *reply)
{
    ngx_http_mcp_cache_ctx_t *cctx = data;

    ngx_int_t  rc;

    cctx->cmd = NULL;

    rc = ngx_http_mcp_cache_found(cctx->request, cctx, reply);

    ngx_http_mcp_cache_lookup_end(cctx, rc);
}


/*
 * Where a lookup goes on: NGX_AGAIN, a command or the wait timer is under
 * way; else the step is done, and the handler hears how.
 */

static void
ngx_http_mcp_cache_lookup_end(ngx_http_mcp_cache_ctx_t *cctx, ngx_int_t rc)
{
    if (rc == NGX_DECLINED && cctx->alone) {
        rc = ngx_http_mcp_cache_flight(cctx->request, cctx);
    }

    if (rc != NGX_AGAIN) {
        cctx->done(cctx->request, rc);
    }
}


/* Redis cannot answer this request: it goes to the registry, uncached */

static void
ngx_http_mcp_cache_unhelped(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx, ngx_uint_t status)
{
    ngx_http_mcp_cache_set_status(r, cctx, status);

    cctx->have_gen = 0;
    cctx->alone = 1;
}


/*
 * The node shares such fetches (ngx_http_mcp_cache_node.c): NGX_DECLINED,
 * this request fetches (it leads a flight, or flies alone); NGX_OK, a
 * fetch it shared has landed, its answer is in cctx->reply; NGX_AGAIN, it
 * waits for one; NGX_ERROR.
 */

static ngx_int_t
ngx_http_mcp_cache_flight(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx)
{
    u_char                          *p;
    ngx_int_t                        rc;
    ngx_str_t                       *gen;
    ngx_http_mcp_cache_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_cache_module);

    gen = &cctx->keys[NGX_HTTP_MCP_CACHE_KEY_GEN];

    cctx->flight.len = gen->len + cctx->field.len;
    cctx->flight.data = ngx_pnalloc(r->pool, cctx->flight.len);
    if (cctx->flight.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(cctx->flight.data, gen->data, gen->len);
    ngx_memcpy(p, cctx->field.data, cctx->field.len);

    rc = ngx_http_mcp_cache_flight_join(mcf->zone, &cctx->flight,
                                        &cctx->ticket);

    if (rc == NGX_OK) {
        cctx->leader = 1;
        return NGX_DECLINED;
    }

    if (rc == NGX_DECLINED) {
        return NGX_DECLINED;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mcp cache: waits for a shared fetch, ticket %ui",
                   cctx->ticket);

    cctx->wait.handler = ngx_http_mcp_cache_flight_handler;
    ngx_add_timer(&cctx->wait, NGX_HTTP_MCP_CACHE_FLIGHT_POLL);

    return NGX_AGAIN;
}


static void
ngx_http_mcp_cache_flight_handler(ngx_event_t *ev)
{
    ngx_http_mcp_cache_ctx_t *cctx = ev->data;

    ngx_int_t                        rc;
    ngx_http_request_t              *r;
    ngx_http_mcp_cache_main_conf_t  *mcf;

    r = cctx->request;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_cache_module);

    if ((ngx_msec_int_t) (ngx_current_msec - cctx->deadline) >= 0) {

        /* mcp_cache_lock_timeout: fetch it too */

        cctx->done(r, NGX_DECLINED);
        return;
    }

    rc = ngx_http_mcp_cache_flight_wait(mcf->zone, &cctx->flight,
                                        cctx->ticket, r->pool, cctx->reply);

    switch (rc) {

    case NGX_AGAIN:
        ngx_add_timer(&cctx->wait, NGX_HTTP_MCP_CACHE_FLIGHT_POLL);
        return;

    case NGX_DECLINED:

        /* the last flight has landed, without it: this one leads the next */

        cctx->leader = 1;
        break;

    default:
        break;
    }

    cctx->done(r, rc);
}


/*
 * NGX_OK: a hit, in cctx->reply; NGX_DECLINED: a miss;
 * NGX_AGAIN: another request holds the lock, the wait timer is set.
 */

static ngx_int_t
ngx_http_mcp_cache_found(ngx_http_request_t *r, ngx_http_mcp_cache_ctx_t *cctx,
    redisReply *reply)
{
    ngx_int_t     rc;
    ngx_msec_t    delay;
    redisReply  **e;

    if (reply == NULL) {
        ngx_http_mcp_cache_unhelped(r, cctx, NGX_HTTP_MCP_CACHE_ERROR);
        return NGX_DECLINED;
    }

    e = reply->element;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 4
        || e[0]->type != REDIS_REPLY_STRING || e[0]->len == 0
        || e[1]->type != REDIS_REPLY_STRING || e[1]->len != 1
        || e[2]->type != REDIS_REPLY_STRING
        || e[2]->len != NGX_HTTP_MCP_REDIS_RUN_ID_LEN
        || e[3]->type != REDIS_REPLY_INTEGER)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mcp cache: unexpected lookup reply from redis");
        ngx_http_mcp_cache_unhelped(r, cctx, NGX_HTTP_MCP_CACHE_ERROR);
        return NGX_DECLINED;
    }

    /*
     * the generation of the latest lookup: a request that waited for
     * another one fetches after what that lookup saw
     */

    if (!cctx->have_gen
        || cctx->gen.len != e[0]->len
        || ngx_strncmp(cctx->gen.data, e[0]->str, e[0]->len) != 0)
    {
        cctx->gen.data = ngx_pnalloc(r->pool, e[0]->len);
        if (cctx->gen.data == NULL) {
            return NGX_ERROR;
        }

        cctx->gen.len = e[0]->len;
        ngx_memcpy(cctx->gen.data, e[0]->str, e[0]->len);
    }

    /* the server asked: the store checks it still is the one */

    if (cctx->run_id.data == NULL) {
        cctx->run_id.data = ngx_pnalloc(r->pool,
                                        NGX_HTTP_MCP_REDIS_RUN_ID_LEN);
        if (cctx->run_id.data == NULL) {
            return NGX_ERROR;
        }

        cctx->run_id.len = NGX_HTTP_MCP_REDIS_RUN_ID_LEN;
    }

    ngx_memcpy(cctx->run_id.data, e[2]->str, NGX_HTTP_MCP_REDIS_RUN_ID_LEN);

    if (cctx->since.data == NULL) {
        cctx->since.data = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (cctx->since.data == NULL) {
            return NGX_ERROR;
        }
    }

    cctx->since.len = ngx_sprintf(cctx->since.data, "%L",
                                  (int64_t) e[3]->integer)
                      - cctx->since.data;

    cctx->have_gen = 1;

    switch (e[1]->str[0]) {

    case 'H':
        if (reply->elements != 6) {
            break;
        }

        rc = ngx_http_mcp_cache_hit(r, cctx, e[4], e[5]);

        if (rc != NGX_DECLINED) {
            return rc;
        }

        break;

    case 'L':
        cctx->locked = 1;
        return NGX_DECLINED;

    case 'M':
        return NGX_DECLINED;

    case 'X':

        /* a write is under way: served from the registry, not kept */

        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "mcp cache: the server is being written");

        ngx_http_mcp_cache_unhelped(r, cctx, NGX_HTTP_MCP_CACHE_BYPASS);
        return NGX_DECLINED;

    case 'W':
        if (ngx_current_msec >= cctx->deadline) {
            /* mcp_cache_lock_timeout: fetch it too */
            return NGX_DECLINED;
        }

        delay = ngx_min(NGX_HTTP_MCP_CACHE_POLL,
                        cctx->deadline - ngx_current_msec);

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "mcp cache: entry locked, looking again in %M ms",
                       delay);

        ngx_add_timer(&cctx->wait, delay);

        return NGX_AGAIN;

    default:
        break;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "mcp cache: unexpected lookup reply from redis");

    ngx_http_mcp_cache_unhelped(r, cctx, NGX_HTTP_MCP_CACHE_ERROR);

    return NGX_DECLINED;
}


/*
 * A cached answer: "status" begins with the status code, "body" is the
 * client's body.  NGX_OK, NGX_DECLINED (not an answer) or NGX_ERROR.
 */

static ngx_int_t
ngx_http_mcp_cache_hit(ngx_http_request_t *r, ngx_http_mcp_cache_ctx_t *cctx,
    redisReply *status, redisReply *body)
{
    ngx_buf_t    *b;
    ngx_int_t     code;
    ngx_chain_t  *cl;

    if (status->type != REDIS_REPLY_STRING || status->len < 3
        || body->type != REDIS_REPLY_STRING)
    {
        return NGX_DECLINED;
    }

    code = ngx_atoi((u_char *) status->str, 3);
    if (code < 100 || code > 599
        || (status->len > 3 && status->str[3] != ' '))
    {
        return NGX_DECLINED;
    }

    cl = NULL;

    if (body->len) {
        b = ngx_create_temp_buf(r->pool, body->len);
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->last = ngx_cpymem(b->pos, body->str, body->len);

        cl = ngx_alloc_chain_link(r->pool);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        cl->buf = b;
        cl->next = NULL;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mcp cache hit: status:%i size:%uz", code, body->len);

    cctx->reply->status = code;
    cctx->reply->body = cl;
    cctx->layer = NGX_HTTP_MCP_CACHE_LAYER_REDIS;

    ngx_http_mcp_cache_set_status(r, cctx, NGX_HTTP_MCP_CACHE_HIT);

    return NGX_OK;
}


static void
ngx_http_mcp_cache_wait_handler(ngx_event_t *ev)
{
    ngx_http_mcp_cache_ctx_t *cctx = ev->data;

    ngx_int_t  rc;

    rc = ngx_http_mcp_cache_send_lookup(cctx->request, cctx);

    if (rc == NGX_DECLINED) {
        /* Redis went away meanwhile */
        ngx_http_mcp_cache_unhelped(cctx->request, cctx,
                                    NGX_HTTP_MCP_CACHE_ERROR);
    }

    ngx_http_mcp_cache_lookup_end(cctx, rc);
}


