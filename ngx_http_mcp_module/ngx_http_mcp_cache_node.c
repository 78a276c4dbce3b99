
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * The node's shared zone ("mcp_cache_zone"): what every worker of a node
 * must know, and what must outlive a worker, a reload included.
 *
 * An invalidation Redis could not take (after a PUT) is kept here, not in
 * the worker that made it: while it waits, no worker of the node serves or
 * keeps that server (ngx_http_mcp_cache_node_pending(), a lock-free look
 * at a counter when nothing waits), and whichever worker reaches a primary
 * first sends it, before anything else (ngx_http_mcp_cache_replay()).  A
 * reload keeps the zone, and so what waits in it.
 *
 * A fetch from the registry that Redis cannot spare (it failed, or the
 * server is being written) is shared by the node's requests for the same
 * entry, so that a stall of Redis is not a stampede on the registry: one
 * fetch per entry at a time ("a flight").  A request shares only a fetch
 * that began after it arrived (its ticket): what it gets is never older
 * than what it would have fetched itself, whatever PUT was answered in
 * between, on any node.  The others wait for the next flight, which the
 * first of them to see the last one land starts.
 */


#include "ngx_http_mcp_cache.h"

#include <openssl/rand.h>


/* a worker that took an invalidation to send has this long to say how */
#define NGX_HTTP_MCP_CACHE_CLAIM  5000


typedef struct {
    ngx_http_mcp_cache_keyed_t      keyed;      /* the generation key */
    ngx_msec_t                      claimed;    /* until, 0: free */
    u_short                         len[NGX_HTTP_MCP_WRITE_NKEYS + 1];
    u_char                          data[1];    /* the keys, the token */
} ngx_http_mcp_cache_node_pending_t;


/* a fetch that the requests for one entry share */

typedef struct {
    ngx_http_mcp_cache_keyed_t      keyed;      /* the entry */

    ngx_uint_t                      tickets;    /* requests that came */
    ngx_uint_t                      flying;     /* serves tickets up to */
    ngx_uint_t                      landed;     /* served tickets up to */
    ngx_msec_t                      updated;

    ngx_uint_t                      status;     /* of what landed */
    u_char                         *body;
    size_t                          size;

    u_char                          data[1];    /* the key */
} ngx_http_mcp_cache_flight_t;


/* a flight that nothing used this long is forgotten */
#define NGX_HTTP_MCP_CACHE_FLIGHT_IDLE     10000

/* a leader that did not land for this long is taken for lost */
#define NGX_HTTP_MCP_CACHE_FLIGHT_ABANDON  120000


static ngx_int_t ngx_http_mcp_cache_node_init_zone(ngx_shm_zone_t *zone,
    void *data);

static void ngx_http_mcp_cache_flight_expire(ngx_http_mcp_cache_shctx_t *sh,
    ngx_slab_pool_t *shpool, ngx_uint_t all);
static ngx_int_t ngx_http_mcp_cache_flight_take(
    ngx_http_mcp_cache_flight_t *fl, ngx_uint_t ticket, ngx_pool_t *pool,
    ngx_http_mcp_reply_t *reply);


ngx_int_t
ngx_http_mcp_cache_node_init(ngx_conf_t *cf,
    ngx_http_mcp_cache_main_conf_t *mcf, ngx_str_t *name, size_t size)
{
    mcf->zone = ngx_shared_memory_add(cf, name, size,
                                      &ngx_http_mcp_cache_module);
    if (mcf->zone == NULL) {
        return NGX_ERROR;
    }

    if (mcf->zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is already used", name);
        return NGX_ERROR;
    }

    mcf->zone->init = ngx_http_mcp_cache_node_init_zone;
    mcf->zone->data = mcf;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mcp_cache_node_init_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_slab_pool_t             *shpool;
    ngx_http_mcp_cache_shctx_t  *sh;

    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    /* a reload: what waits in the zone still waits */

    if (data) {
        zone->data = data;
        return NGX_OK;
    }

    if (zone->shm.exists) {
        zone->data = shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_calloc(shpool, sizeof(ngx_http_mcp_cache_shctx_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_rbtree_init(&sh->rbtree, &sh->sentinel,
                    ngx_http_mcp_cache_keyed_insert);
    ngx_queue_init(&sh->queue);

    ngx_rbtree_init(&sh->flights, &sh->flights_sentinel,
                    ngx_http_mcp_cache_keyed_insert);
    ngx_queue_init(&sh->flights_queue);

    ngx_rbtree_init(&sh->l1, &sh->l1_sentinel,
                    ngx_http_mcp_cache_keyed_insert);
    ngx_queue_init(&sh->l1_lru);
    ngx_rbtree_init(&sh->l1_servers, &sh->l1_servers_sentinel,
                    ngx_http_mcp_cache_keyed_insert);

    /*
     * the first layer's SipHash key (ngx_http_mcp_cache_l1_name()): every
     * worker of the node reads it here; a reload that keeps the zone keeps
     * it, a new zone gets a new one
     */

    if (RAND_bytes(sh->l1_secret, sizeof(sh->l1_secret)) != 1) {
        ngx_log_error(NGX_LOG_EMERG, zone->shm.log, 0,
                      "mcp cache: RAND_bytes() failed for the zone's key");
        return NGX_ERROR;
    }

    shpool->data = sh;
    zone->data = sh;

    shpool->log_nomem = 0;

    return NGX_OK;
}


/* 1 if the server whose generation key is "gen" waits for an invalidation */

ngx_uint_t
ngx_http_mcp_cache_node_pending(ngx_shm_zone_t *zone, ngx_str_t *gen)
{
    ngx_uint_t                   found;
    ngx_slab_pool_t             *shpool;
    ngx_http_mcp_cache_shctx_t  *sh;

    sh = zone->data;

    if (sh->npending == 0) {
        return 0;
    }

    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    ngx_shmtx_lock(&shpool->mutex);

    found = (ngx_http_mcp_cache_keyed_find(&sh->rbtree, gen,
                                           ngx_crc32_short(gen->data,
                                                           gen->len))
             != NULL);

    ngx_shmtx_unlock(&shpool->mutex);

    return found;
}


/* how many invalidations wait, for the metrics */

ngx_uint_t
ngx_http_mcp_cache_node_npending(ngx_shm_zone_t *zone)
{
    ngx_http_mcp_cache_shctx_t  *sh;

    sh = zone->data;

    return sh->npending;
}


/*
 * Keeps an invalidation for when Redis answers: the server's keys, and
 * the writer whose marker it removes.  NGX_ERROR if the zone is full:
 * the caller says so.
 */

ngx_int_t
ngx_http_mcp_cache_node_add(ngx_shm_zone_t *zone, ngx_str_t *keys,
    ngx_str_t *token)
{
    u_char                             *p;
    size_t                              size;
    uint32_t                            hash;
    ngx_uint_t                          i;
    ngx_slab_pool_t                    *shpool;
    ngx_http_mcp_cache_shctx_t         *sh;
    ngx_http_mcp_cache_node_pending_t  *pd;

    sh = zone->data;
    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    hash = ngx_crc32_short(keys[NGX_HTTP_MCP_CACHE_KEY_GEN].data,
                           keys[NGX_HTTP_MCP_CACHE_KEY_GEN].len);

    size = offsetof(ngx_http_mcp_cache_node_pending_t, data) + token->len;

    for (i = 0; i < NGX_HTTP_MCP_WRITE_NKEYS; i++) {
        if (keys[i].len > 0xffff) {
            return NGX_ERROR;
        }

        size += keys[i].len;
    }

    ngx_shmtx_lock(&shpool->mutex);

    if (ngx_http_mcp_cache_keyed_find(&sh->rbtree,
                                      &keys[NGX_HTTP_MCP_CACHE_KEY_GEN], hash))
    {
        /* the server waits already: one invalidation will do for both */
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_OK;
    }

    pd = ngx_slab_alloc_locked(shpool, size);
    if (pd == NULL) {
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_ERROR;
    }

    pd->keyed.node.key = hash;
    pd->keyed.key = pd->data;
    pd->keyed.len = (u_short) keys[NGX_HTTP_MCP_CACHE_KEY_GEN].len;
    pd->claimed = 0;

    p = pd->data;

    for (i = 0; i < NGX_HTTP_MCP_WRITE_NKEYS; i++) {
        pd->len[i] = (u_short) keys[i].len;
        p = ngx_cpymem(p, keys[i].data, keys[i].len);
    }

    pd->len[NGX_HTTP_MCP_WRITE_NKEYS] = (u_short) token->len;
    ngx_memcpy(p, token->data, token->len);

    ngx_rbtree_insert(&sh->rbtree, &pd->keyed.node);
    ngx_queue_insert_tail(&sh->queue, &pd->keyed.queue);

    (void) ngx_atomic_fetch_add(&sh->npending, 1);

    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_OK;
}


/*
 * The invalidations no worker is sending: copies, each one block, in a
 * queue the caller owns (NULL: none, or out of memory), each claimed for
 * this worker until it says how it went (ngx_http_mcp_cache_node_done()).
 */

ngx_queue_t *
ngx_http_mcp_cache_node_claim(ngx_shm_zone_t *zone, ngx_log_t *log)
{
    u_char                             *p, *src;
    size_t                              size;
    ngx_uint_t                          i;
    ngx_queue_t                        *q, *claimed;
    ngx_slab_pool_t                    *shpool;
    ngx_http_mcp_cache_shctx_t         *sh;
    ngx_http_mcp_cache_pending_t       *item;
    ngx_http_mcp_cache_node_pending_t  *pd;

    sh = zone->data;

    if (sh->npending == 0) {
        return NULL;
    }

    claimed = ngx_alloc(sizeof(ngx_queue_t), log);
    if (claimed == NULL) {
        return NULL;
    }

    ngx_queue_init(claimed);

    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    ngx_shmtx_lock(&shpool->mutex);

    for (q = ngx_queue_head(&sh->queue);
         q != ngx_queue_sentinel(&sh->queue);
         q = ngx_queue_next(q))
    {
        pd = ngx_queue_data(q, ngx_http_mcp_cache_node_pending_t,
                            keyed.queue);

        if (pd->claimed && (ngx_msec_int_t) (pd->claimed - ngx_current_msec)
                           > 0)
        {
            continue;
        }

        size = sizeof(ngx_http_mcp_cache_pending_t);

        for (i = 0; i <= NGX_HTTP_MCP_WRITE_NKEYS; i++) {
            size += pd->len[i];
        }

        item = ngx_alloc(size, log);
        if (item == NULL) {
            break;
        }

        p = (u_char *) item + sizeof(ngx_http_mcp_cache_pending_t);
        src = pd->data;

        ngx_memzero(item, sizeof(ngx_http_mcp_cache_pending_t));

        item->zone = zone;

        for (i = 0; i < NGX_HTTP_MCP_WRITE_NKEYS; i++) {
            item->args[i].data = p;
            item->args[i].len = pd->len[i];
            p = ngx_cpymem(p, src, pd->len[i]);
            src += pd->len[i];
        }

        item->args[NGX_HTTP_MCP_WRITE_TOKEN].data = p;
        item->args[NGX_HTTP_MCP_WRITE_TOKEN].len =
                                             pd->len[NGX_HTTP_MCP_WRITE_NKEYS];
        ngx_memcpy(p, src, pd->len[NGX_HTTP_MCP_WRITE_NKEYS]);

        pd->claimed = ngx_current_msec + NGX_HTTP_MCP_CACHE_CLAIM;

        ngx_queue_insert_tail(claimed, &item->queue);
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (ngx_queue_empty(claimed)) {
        ngx_free(claimed);
        return NULL;
    }

    return claimed;
}


/*
 * A claimed invalidation was sent (it is forgotten), or not (it waits for
 * the next worker that reaches Redis); the copy, and its place in the
 * queue its worker keeps it in, go.
 */

void
ngx_http_mcp_cache_node_done(ngx_http_mcp_cache_pending_t *item,
    ngx_uint_t sent)
{
    ngx_str_t                          *gen;
    ngx_shm_zone_t                     *zone;
    ngx_slab_pool_t                    *shpool;
    ngx_http_mcp_cache_shctx_t         *sh;
    ngx_http_mcp_cache_node_pending_t  *pd;

    ngx_queue_remove(&item->queue);

    zone = item->zone;
    sh = zone->data;
    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    gen = &item->args[NGX_HTTP_MCP_CACHE_KEY_GEN];

    ngx_shmtx_lock(&shpool->mutex);

    pd = (ngx_http_mcp_cache_node_pending_t *)
             ngx_http_mcp_cache_keyed_find(&sh->rbtree, gen,
                                           ngx_crc32_short(gen->data,
                                                           gen->len));
    if (pd) {
        if (sent) {
            ngx_rbtree_delete(&sh->rbtree, &pd->keyed.node);
            ngx_queue_remove(&pd->keyed.queue);
            ngx_slab_free_locked(shpool, pd);

            (void) ngx_atomic_fetch_add(&sh->npending, -1);

        } else {
            pd->claimed = 0;
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    ngx_free(item);
}


/*
 * A request that must go to the registry joins the entry's flights
 * ("key": the server's generation key and the entry's field).  NGX_OK:
 * "ticket" is its place, and it leads a flight (it fetches, then lands
 * the answer); NGX_AGAIN: it waits for a flight that serves its ticket
 * (ngx_http_mcp_cache_flight_wait()); NGX_DECLINED: no room, it fetches
 * alone.
 */

ngx_int_t
ngx_http_mcp_cache_flight_join(ngx_shm_zone_t *zone, ngx_str_t *key,
    ngx_uint_t *ticket)
{
    uint32_t                      hash;
    ngx_int_t                     rc;
    ngx_slab_pool_t              *shpool;
    ngx_http_mcp_cache_shctx_t   *sh;
    ngx_http_mcp_cache_flight_t  *fl;

    if (key->len > 0xffff) {
        return NGX_DECLINED;
    }

    sh = zone->data;
    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    hash = ngx_crc32_short(key->data, key->len);

    ngx_shmtx_lock(&shpool->mutex);

    ngx_http_mcp_cache_flight_expire(sh, shpool, 0);

    fl = (ngx_http_mcp_cache_flight_t *)
             ngx_http_mcp_cache_keyed_find(&sh->flights, key, hash);

    if (fl == NULL) {
        fl = ngx_slab_calloc_locked(shpool,
                                 offsetof(ngx_http_mcp_cache_flight_t, data)
                                 + key->len);
        if (fl == NULL) {
            ngx_http_mcp_cache_flight_expire(sh, shpool, 1);

            fl = ngx_slab_calloc_locked(shpool,
                                 offsetof(ngx_http_mcp_cache_flight_t, data)
                                 + key->len);
        }

        if (fl == NULL) {
            ngx_shmtx_unlock(&shpool->mutex);
            return NGX_DECLINED;
        }

        fl->keyed.node.key = hash;
        fl->keyed.key = fl->data;
        fl->keyed.len = (u_short) key->len;
        ngx_memcpy(fl->data, key->data, key->len);

        ngx_rbtree_insert(&sh->flights, &fl->keyed.node);

    } else {
        ngx_queue_remove(&fl->keyed.queue);
    }

    ngx_queue_insert_tail(&sh->flights_queue, &fl->keyed.queue);
    fl->updated = ngx_current_msec;

    *ticket = ++fl->tickets;

    if (fl->flying) {
        rc = NGX_AGAIN;

    } else {
        fl->flying = *ticket;
        rc = NGX_OK;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return rc;
}


/*
 * A waiter looks again.  NGX_OK: a flight that began after it came has
 * landed, "reply" is a copy of its answer; NGX_DECLINED: none is flying
 * any more, so it leads the next one (all who wait so far ride along);
 * NGX_AGAIN: wait on.
 */

ngx_int_t
ngx_http_mcp_cache_flight_wait(ngx_shm_zone_t *zone, ngx_str_t *key,
    ngx_uint_t ticket, ngx_pool_t *pool, ngx_http_mcp_reply_t *reply)
{
    ngx_int_t                     rc;
    ngx_slab_pool_t              *shpool;
    ngx_http_mcp_cache_shctx_t   *sh;
    ngx_http_mcp_cache_flight_t  *fl;

    sh = zone->data;
    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    ngx_shmtx_lock(&shpool->mutex);

    fl = (ngx_http_mcp_cache_flight_t *)
             ngx_http_mcp_cache_keyed_find(&sh->flights, key,
                                           ngx_crc32_short(key->data,
                                                           key->len));

    if (fl == NULL) {
        rc = NGX_DECLINED;

    } else if (fl->landed >= ticket && fl->body) {
        rc = ngx_http_mcp_cache_flight_take(fl, ticket, pool, reply);

    } else if (fl->flying
               && ngx_current_msec - fl->updated
                  < NGX_HTTP_MCP_CACHE_FLIGHT_ABANDON)
    {
        rc = NGX_AGAIN;

    } else {
        fl->flying = fl->tickets;
        fl->updated = ngx_current_msec;
        rc = NGX_DECLINED;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return rc;
}


/*
 * The leader's fetch is over: its answer (NULL: none, the leader failed)
 * serves every ticket up to the one the flight was started for.
 */

void
ngx_http_mcp_cache_flight_land(ngx_shm_zone_t *zone, ngx_str_t *key,
    ngx_http_mcp_reply_t *reply)
{
    u_char                       *p;
    size_t                        size;
    ngx_chain_t                  *cl;
    ngx_slab_pool_t              *shpool;
    ngx_http_mcp_cache_shctx_t   *sh;
    ngx_http_mcp_cache_flight_t  *fl;

    sh = zone->data;
    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    size = 0;

    if (reply) {
        for (cl = reply->body; cl; cl = cl->next) {
            size += ngx_buf_size(cl->buf);
        }
    }

    ngx_shmtx_lock(&shpool->mutex);

    fl = (ngx_http_mcp_cache_flight_t *)
             ngx_http_mcp_cache_keyed_find(&sh->flights, key,
                                           ngx_crc32_short(key->data,
                                                           key->len));
    if (fl == NULL || fl->flying == 0) {
        ngx_shmtx_unlock(&shpool->mutex);
        return;
    }

    if (fl->body) {
        ngx_slab_free_locked(shpool, fl->body);
        fl->body = NULL;
    }

    p = (reply && size) ? ngx_slab_alloc_locked(shpool, size) : NULL;

    if (p) {
        fl->body = p;
        fl->size = size;
        fl->status = reply->status;
        fl->landed = fl->flying;

        for (cl = reply->body; cl; cl = cl->next) {
            p = ngx_cpymem(p, cl->buf->pos, ngx_buf_size(cl->buf));
        }
    }

    /* without an answer, the next waiter to look leads the next flight */

    fl->flying = 0;
    fl->updated = ngx_current_msec;

    ngx_shmtx_unlock(&shpool->mutex);
}


static ngx_int_t
ngx_http_mcp_cache_flight_take(ngx_http_mcp_cache_flight_t *fl,
    ngx_uint_t ticket, ngx_pool_t *pool, ngx_http_mcp_reply_t *reply)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    b = ngx_create_temp_buf(pool, fl->size);
    cl = ngx_alloc_chain_link(pool);

    if (b == NULL || cl == NULL) {
        return NGX_ERROR;
    }

    b->last = ngx_cpymem(b->pos, fl->body, fl->size);

    cl->buf = b;
    cl->next = NULL;

    reply->status = fl->status;
    reply->body = cl;

    return NGX_OK;
}


/* flights nobody used for a while go, or all idle ones when memory is short */

static void
ngx_http_mcp_cache_flight_expire(ngx_http_mcp_cache_shctx_t *sh,
    ngx_slab_pool_t *shpool, ngx_uint_t all)
{
    ngx_queue_t                  *q;
    ngx_http_mcp_cache_flight_t  *fl;

    while (!ngx_queue_empty(&sh->flights_queue)) {
        q = ngx_queue_head(&sh->flights_queue);
        fl = ngx_queue_data(q, ngx_http_mcp_cache_flight_t, keyed.queue);

        if (fl->flying
            || (!all && ngx_current_msec - fl->updated
                        < NGX_HTTP_MCP_CACHE_FLIGHT_IDLE))
        {
            return;
        }

        ngx_queue_remove(q);
        ngx_rbtree_delete(&sh->flights, &fl->keyed.node);

        if (fl->body) {
            ngx_slab_free_locked(shpool, fl->body);
        }

        ngx_slab_free_locked(shpool, fl);
    }
}


/* the zone's trees: ordered by the crc32 of the key, then by the key */

void
ngx_http_mcp_cache_keyed_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t           **p;
    ngx_http_mcp_cache_keyed_t   *kn, *kt;

    for ( ;; ) {

        if (node->key != temp->key) {
            p = (node->key < temp->key) ? &temp->left : &temp->right;

        } else {
            kn = (ngx_http_mcp_cache_keyed_t *) node;
            kt = (ngx_http_mcp_cache_keyed_t *) temp;

            p = (ngx_memn2cmp(kn->key, kt->key, kn->len, kt->len) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


ngx_http_mcp_cache_keyed_t *
ngx_http_mcp_cache_keyed_find(ngx_rbtree_t *rbtree, ngx_str_t *key,
    uint32_t hash)
{
    ngx_int_t                    rc;
    ngx_rbtree_node_t           *node, *sentinel;
    ngx_http_mcp_cache_keyed_t  *k;

    node = rbtree->root;
    sentinel = rbtree->sentinel;

    while (node != sentinel) {

        if (hash != node->key) {
            node = (hash < node->key) ? node->left : node->right;
            continue;
        }

        k = (ngx_http_mcp_cache_keyed_t *) node;

        rc = ngx_memn2cmp(key->data, k->key, key->len, k->len);

        if (rc == 0) {
            return k;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}
