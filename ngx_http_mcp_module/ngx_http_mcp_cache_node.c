
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
 */


#include "ngx_http_mcp_cache.h"


/* a worker that took an invalidation to send has this long to say how */
#define NGX_HTTP_MCP_CACHE_CLAIM  5000


typedef struct {
    ngx_rbtree_node_t               node;       /* key: crc32 of gen */
    ngx_queue_t                     queue;
    ngx_msec_t                      claimed;    /* until, 0: free */
    u_short                         len[NGX_HTTP_MCP_WRITE_NKEYS + 1];
    u_char                          data[1];    /* the keys, the token */
} ngx_http_mcp_cache_node_pending_t;


typedef struct {
    ngx_rbtree_t                    rbtree;
    ngx_rbtree_node_t               sentinel;
    ngx_queue_t                     queue;
    ngx_atomic_t                    npending;
} ngx_http_mcp_cache_shctx_t;


static ngx_int_t ngx_http_mcp_cache_node_init_zone(ngx_shm_zone_t *zone,
    void *data);
static void ngx_http_mcp_cache_node_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_http_mcp_cache_node_pending_t *ngx_http_mcp_cache_node_find(
    ngx_http_mcp_cache_shctx_t *sh, ngx_str_t *gen, uint32_t hash);


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
                    ngx_http_mcp_cache_node_insert);
    ngx_queue_init(&sh->queue);

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

    found = (ngx_http_mcp_cache_node_find(sh, gen, ngx_crc32_short(gen->data,
                                                                  gen->len))
             != NULL);

    ngx_shmtx_unlock(&shpool->mutex);

    return found;
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

    pd = ngx_http_mcp_cache_node_find(sh, &keys[NGX_HTTP_MCP_CACHE_KEY_GEN],
                                      hash);
    if (pd) {
        /* the server waits already: one invalidation will do for both */
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_OK;
    }

    pd = ngx_slab_alloc_locked(shpool, size);
    if (pd == NULL) {
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_ERROR;
    }

    pd->node.key = hash;
    pd->claimed = 0;

    p = pd->data;

    for (i = 0; i < NGX_HTTP_MCP_WRITE_NKEYS; i++) {
        pd->len[i] = (u_short) keys[i].len;
        p = ngx_cpymem(p, keys[i].data, keys[i].len);
    }

    pd->len[NGX_HTTP_MCP_WRITE_NKEYS] = (u_short) token->len;
    ngx_memcpy(p, token->data, token->len);

    ngx_rbtree_insert(&sh->rbtree, &pd->node);
    ngx_queue_insert_tail(&sh->queue, &pd->queue);

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
        pd = ngx_queue_data(q, ngx_http_mcp_cache_node_pending_t, queue);

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

    pd = ngx_http_mcp_cache_node_find(sh, gen,
                                      ngx_crc32_short(gen->data, gen->len));
    if (pd) {
        if (sent) {
            ngx_rbtree_delete(&sh->rbtree, &pd->node);
            ngx_queue_remove(&pd->queue);
            ngx_slab_free_locked(shpool, pd);

            (void) ngx_atomic_fetch_add(&sh->npending, -1);

        } else {
            pd->claimed = 0;
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    ngx_free(item);
}


/* ordered by the crc32 of the generation key, then by the key */

static void
ngx_http_mcp_cache_node_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t                  **p;
    ngx_http_mcp_cache_node_pending_t   *pn, *pt;

    for ( ;; ) {

        if (node->key != temp->key) {
            p = (node->key < temp->key) ? &temp->left : &temp->right;

        } else {
            pn = (ngx_http_mcp_cache_node_pending_t *) node;
            pt = (ngx_http_mcp_cache_node_pending_t *) temp;

            p = (ngx_memn2cmp(pn->data, pt->data,
                              pn->len[NGX_HTTP_MCP_CACHE_KEY_GEN],
                              pt->len[NGX_HTTP_MCP_CACHE_KEY_GEN])
                 < 0)
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


static ngx_http_mcp_cache_node_pending_t *
ngx_http_mcp_cache_node_find(ngx_http_mcp_cache_shctx_t *sh, ngx_str_t *gen,
    uint32_t hash)
{
    ngx_int_t                           rc;
    ngx_rbtree_node_t                  *node, *sentinel;
    ngx_http_mcp_cache_node_pending_t  *pd;

    node = sh->rbtree.root;
    sentinel = sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash != node->key) {
            node = (hash < node->key) ? node->left : node->right;
            continue;
        }

        pd = (ngx_http_mcp_cache_node_pending_t *) node;

        rc = ngx_memn2cmp(gen->data, pd->data, gen->len,
                          pd->len[NGX_HTTP_MCP_CACHE_KEY_GEN]);

        if (rc == 0) {
            return pd;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}
