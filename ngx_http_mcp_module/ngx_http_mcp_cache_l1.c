
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * The node's first layer ("mcp_cache_l1 on"): answers Redis gave, kept
 * in the node's zone, per entry as in Redis, least recently used out
 * first, and served without asking Redis while the node knows they are
 * current.
 *
 * It knows through an invalidation channel: Redis tells the node of
 * every change to the cache's keys (server-assisted client-side caching,
 * CLIENT TRACKING BCAST, ngx_http_mcp_cache_channel.c), and the node drops
 * the entries of that server.  The channel is alive as far as the node
 * can prove it: a PING sent at t and answered means every invalidation
 * Redis made before t has been heard, so the layer is served until t +
 * the lease ("l1_lease=") and no later.  A write is answered only once
 * the lease has passed since its mark (ngx_http_mcp_cache_write.c): every
 * node then has either heard its invalidation, or stopped serving from
 * this layer.
 *
 * An answer enters the layer only if no invalidation of its server was
 * heard since it was read from Redis (a sequence of invalidations,
 * "l1_seq"): one read before a write never comes back after it.  Losing
 * the channel drops everything: what was missed is not known.
 */


#include "ngx_http_mcp_cache.h"


/* a server's entries, and when it was last written */

typedef struct {
    ngx_http_mcp_cache_keyed_t      keyed;      /* the server's hash tag */
    ngx_queue_t                     entries;
    u_char                          data[1];
} ngx_http_mcp_cache_l1_server_t;


typedef struct {
    ngx_http_mcp_cache_keyed_t      keyed;      /* tag and name; lru */
    ngx_queue_t                     link;       /* in its server's */
    ngx_http_mcp_cache_l1_server_t *server;
    int64_t                         expiry;     /* ms since the epoch */
    ngx_uint_t                      status;
    size_t                          size;
    u_char                         *body;       /* after the key */
    u_char                          data[1];
} ngx_http_mcp_cache_l1_entry_t;


static uint32_t ngx_http_mcp_cache_l1_hash(ngx_str_t *key);
static ngx_http_mcp_cache_l1_server_t *ngx_http_mcp_cache_l1_server(
    ngx_http_mcp_cache_shctx_t *sh, ngx_slab_pool_t *shpool, ngx_str_t *tag,
    ngx_uint_t create);
static void ngx_http_mcp_cache_l1_drop(ngx_http_mcp_cache_shctx_t *sh,
    ngx_slab_pool_t *shpool, ngx_http_mcp_cache_l1_entry_t *e);
static void ngx_http_mcp_cache_l1_drop_server(ngx_http_mcp_cache_shctx_t *sh,
    ngx_slab_pool_t *shpool, ngx_http_mcp_cache_l1_server_t *srv);
static void *ngx_http_mcp_cache_l1_alloc(ngx_http_mcp_cache_shctx_t *sh,
    ngx_slab_pool_t *shpool, size_t size);


/* the layer may be served now: the channel was heard within the lease */

ngx_uint_t
ngx_http_mcp_cache_l1_alive(ngx_shm_zone_t *zone)
{
    ngx_http_mcp_cache_shctx_t  *sh;

    sh = zone->data;

    return (ngx_msec_int_t) (sh->l1_alive - ngx_current_msec) > 0;
}


/*
 * A PING sent at "sent" was answered on the channel: everything Redis
 * invalidated before it has been heard.
 */

void
ngx_http_mcp_cache_l1_heard(ngx_shm_zone_t *zone, ngx_msec_t sent,
    ngx_msec_t lease)
{
    ngx_msec_t                   until;
    ngx_slab_pool_t             *shpool;
    ngx_http_mcp_cache_shctx_t  *sh;

    sh = zone->data;
    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    until = sent + lease;

    ngx_shmtx_lock(&shpool->mutex);

    if ((ngx_msec_int_t) (until - sh->l1_alive) > 0) {
        sh->l1_alive = until;
    }

    ngx_shmtx_unlock(&shpool->mutex);
}


/* the sequence of invalidations heard so far, before a read from Redis */

ngx_uint_t
ngx_http_mcp_cache_l1_seq(ngx_shm_zone_t *zone)
{
    ngx_http_mcp_cache_shctx_t  *sh;

    sh = zone->data;

    return sh->l1_seq;
}


/*
 * NGX_OK: the entry "key" (the server's hash tag and the rest of its key,
 * then the entry's name, ngx_http_mcp_cache_l1_name()) is in the layer and
 * current, its copy in "reply"; NGX_DECLINED: it is not, or the layer may
 * not be served; NGX_ERROR.
 */

ngx_int_t
ngx_http_mcp_cache_l1_get(ngx_shm_zone_t *zone, ngx_str_t *key,
    ngx_pool_t *pool, ngx_http_mcp_reply_t *reply)
{
    ngx_int_t                       rc;
    ngx_buf_t                      *b;
    ngx_time_t                     *tp;
    ngx_chain_t                    *cl;
    ngx_slab_pool_t                *shpool;
    ngx_http_mcp_cache_shctx_t     *sh;
    ngx_http_mcp_cache_l1_entry_t  *e;

    if (!ngx_http_mcp_cache_l1_alive(zone)
        || key->len < NGX_HTTP_MCP_CACHE_L1_NAME_LEN)
    {
        return NGX_DECLINED;
    }

    sh = zone->data;
    shpool = (ngx_slab_pool_t *) zone->shm.addr;
    tp = ngx_timeofday();

    ngx_shmtx_lock(&shpool->mutex);

    e = (ngx_http_mcp_cache_l1_entry_t *)
            ngx_http_mcp_cache_keyed_find(&sh->l1, key,
                                          ngx_http_mcp_cache_l1_hash(key));

    if (e == NULL) {
        rc = NGX_DECLINED;
        goto done;
    }

    if (e->expiry <= (int64_t) tp->sec * 1000 + (int64_t) tp->msec) {
        ngx_http_mcp_cache_l1_drop(sh, shpool, e);
        rc = NGX_DECLINED;
        goto done;
    }

    ngx_queue_remove(&e->keyed.queue);
    ngx_queue_insert_tail(&sh->l1_lru, &e->keyed.queue);

    b = ngx_create_temp_buf(pool, e->size ? e->size : 1);
    cl = ngx_alloc_chain_link(pool);

    if (b == NULL || cl == NULL) {
        rc = NGX_ERROR;
        goto done;
    }

    b->last = ngx_cpymem(b->pos, e->body, e->size);

    cl->buf = b;
    cl->next = NULL;

    reply->status = e->status;
    reply->body = e->size ? cl : NULL;

    rc = NGX_OK;

done:

    ngx_shmtx_unlock(&shpool->mutex);

    return rc;
}


/*
 * Keeps an answer read from Redis at "seq" (ngx_http_mcp_cache_l1_seq()):
 * only if the layer may be served and no invalidation of its server was
 * heard since.  "key" is the server's hash tag ("tag" bytes of it) and
 * the rest of its key, then the entry's name.
 */

void
ngx_http_mcp_cache_l1_put(ngx_shm_zone_t *zone, ngx_str_t *key, size_t tag,
    ngx_uint_t seq, ngx_http_mcp_reply_t *reply, int64_t expiry)
{
    u_char                          *p;
    size_t                           size;
    uint32_t                         hash;
    ngx_str_t                        s;
    ngx_chain_t                     *cl;
    ngx_slab_pool_t                 *shpool;
    ngx_http_mcp_cache_shctx_t      *sh;
    ngx_http_mcp_cache_l1_entry_t   *e;
    ngx_http_mcp_cache_l1_server_t  *srv;

    if (key->len > 0xffff
        || tag + NGX_HTTP_MCP_CACHE_L1_NAME_LEN > key->len)
    {
        return;
    }

    sh = zone->data;
    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    size = 0;

    for (cl = reply->body; cl; cl = cl->next) {
        size += ngx_buf_size(cl->buf);
    }

    s.data = key->data;
    s.len = tag;

    hash = ngx_http_mcp_cache_l1_hash(key);

    ngx_shmtx_lock(&shpool->mutex);

    if ((ngx_msec_int_t) (sh->l1_alive - ngx_current_msec) <= 0
        || sh->l1_seq != seq)
    {
        /*
         * some invalidation was heard since the read (of this server or
         * another: the sequence is the node's), or the layer is off
         */

        goto done;
    }

    e = (ngx_http_mcp_cache_l1_entry_t *)
            ngx_http_mcp_cache_keyed_find(&sh->l1, key, hash);
    if (e) {
        ngx_http_mcp_cache_l1_drop(sh, shpool, e);
    }

    e = ngx_http_mcp_cache_l1_alloc(sh, shpool,
                                offsetof(ngx_http_mcp_cache_l1_entry_t, data)
                                + key->len + size);
    if (e == NULL) {
        goto done;
    }

    /* the eviction may have taken the server's record with its entries */

    srv = ngx_http_mcp_cache_l1_server(sh, shpool, &s, 1);
    if (srv == NULL) {
        ngx_slab_free_locked(shpool, e);
        goto done;
    }

    e->keyed.node.key = hash;
    e->keyed.key = e->data;
    e->keyed.len = (u_short) key->len;
    e->server = srv;
    e->expiry = expiry;
    e->status = reply->status;
    e->size = size;
    e->body = e->data + key->len;

    p = ngx_cpymem(e->data, key->data, key->len);

    for (cl = reply->body; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, ngx_buf_size(cl->buf));
    }

    ngx_rbtree_insert(&sh->l1, &e->keyed.node);
    ngx_queue_insert_tail(&sh->l1_lru, &e->keyed.queue);
    ngx_queue_insert_tail(&srv->entries, &e->link);

done:

    ngx_shmtx_unlock(&shpool->mutex);
}


/* the channel says the server of hash tag "tag" changed */

void
ngx_http_mcp_cache_l1_invalidate(ngx_shm_zone_t *zone, ngx_str_t *tag)
{
    ngx_slab_pool_t                 *shpool;
    ngx_http_mcp_cache_shctx_t      *sh;
    ngx_http_mcp_cache_l1_server_t  *srv;

    sh = zone->data;
    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    ngx_shmtx_lock(&shpool->mutex);

    sh->l1_seq++;

    srv = ngx_http_mcp_cache_l1_server(sh, shpool, tag, 0);
    if (srv) {
        ngx_http_mcp_cache_l1_drop_server(sh, shpool, srv);
    }

    ngx_shmtx_unlock(&shpool->mutex);
}


/* the channel was lost, or says everything changed: nothing is current */

void
ngx_http_mcp_cache_l1_flush(ngx_shm_zone_t *zone)
{
    ngx_queue_t                    *q;
    ngx_slab_pool_t                *shpool;
    ngx_http_mcp_cache_shctx_t     *sh;
    ngx_http_mcp_cache_l1_entry_t  *e;

    sh = zone->data;
    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    ngx_shmtx_lock(&shpool->mutex);

    sh->l1_seq++;

    while (!ngx_queue_empty(&sh->l1_lru)) {
        q = ngx_queue_head(&sh->l1_lru);
        e = ngx_queue_data(q, ngx_http_mcp_cache_l1_entry_t, keyed.queue);

        ngx_http_mcp_cache_l1_drop(sh, shpool, e);
    }

    ngx_shmtx_unlock(&shpool->mutex);
}


/*
 * The channel is lost: the layer is not served from now on, not until
 * its lease would have ended, and what it holds goes.
 */

void
ngx_http_mcp_cache_l1_off(ngx_shm_zone_t *zone)
{
    ngx_slab_pool_t             *shpool;
    ngx_http_mcp_cache_shctx_t  *sh;

    sh = zone->data;
    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    ngx_shmtx_lock(&shpool->mutex);
    sh->l1_alive = ngx_current_msec;
    ngx_shmtx_unlock(&shpool->mutex);

    ngx_http_mcp_cache_l1_flush(zone);
}


/*
 * The server's hash tag in one of the cache's keys, as Redis Cluster
 * finds it: from the first "{" to the first "}" after it.  The entries'
 * keys in the layer and the keys an invalidation names are both cut so,
 * whatever bytes an id holds; two servers that share a tag are dropped
 * together.  Its length, 0 if there is none.
 */

size_t
ngx_http_mcp_cache_l1_tag(u_char *key, size_t len, u_char **tag)
{
    u_char  *open, *close;

    open = ngx_strlchr(key, key + len, '{');
    if (open == NULL) {
        return 0;
    }

    close = ngx_strlchr(open + 1, key + len, '}');
    if (close == NULL || close == open + 1) {
        return 0;
    }

    *tag = open;

    return close + 1 - open;
}


/*
 * An entry's name in the layer, after its server's hash tag: the
 * SipHash-2-4 with a 128-bit output of the encoded key parts (the input
 * of the entry's SHA-256 field in Redis) under the zone's random key,
 * NGX_HTTP_MCP_CACHE_L1_NAME_LEN bytes to "name".  Cheaper than the
 * SHA-256 (an L1 hit computes only this), and as safe here:
 *
 *   - SipHash is a pseudorandom function of its key: whoever does not
 *     know the key cannot choose parts (his query string, his token) that
 *     name the same entry as another caller's, other than by chance, 2^-128
 *     a pair; a name is never shown to anyone, so there is nothing to learn
 *     the key from either (no output, no timing of a comparison that
 *     depends on it beyond the tree's);
 *   - the key is made with RAND_bytes() when the zone is created, lives
 *     only in the node's shared memory, is never logged nor sent to Redis,
 *     and a new zone gets a new one (a reload that keeps the zone keeps it,
 *     and so its entries' names);
 *   - a name is compared in full (the tree's key bytes), and it comes after
 *     the server's hash tag: entries are per server as well.
 *
 * The encoding is unambiguous (each part after its length): two
 * different lists of parts never give the same input.
 */

void
ngx_http_mcp_cache_l1_name(ngx_shm_zone_t *zone, ngx_str_t *encoded,
    u_char *name)
{
    ngx_http_mcp_cache_shctx_t  *sh;

    sh = zone->data;

    /* the key is written once, when the zone is made: read without lock */

    ngx_http_mcp_siphash(sh->l1_secret, encoded->data, encoded->len, name,
                         NGX_HTTP_MCP_CACHE_L1_NAME_LEN);
}


/*
 * An entry's place in the tree: 32 bits of its name, already a keyed PRF
 * of the key parts (no crc32 of the whole key: the tree compares every
 * byte of the keys that share it anyway).  "key" ends with the name.
 */

static uint32_t
ngx_http_mcp_cache_l1_hash(ngx_str_t *key)
{
    uint32_t  hash;

    ngx_memcpy(&hash, key->data + key->len - NGX_HTTP_MCP_CACHE_L1_NAME_LEN,
               sizeof(uint32_t));

    return hash;
}


static ngx_http_mcp_cache_l1_server_t *
ngx_http_mcp_cache_l1_server(ngx_http_mcp_cache_shctx_t *sh,
    ngx_slab_pool_t *shpool, ngx_str_t *tag, ngx_uint_t create)
{
    uint32_t                         hash;
    ngx_http_mcp_cache_l1_server_t  *srv;

    hash = ngx_crc32_short(tag->data, tag->len);

    srv = (ngx_http_mcp_cache_l1_server_t *)
              ngx_http_mcp_cache_keyed_find(&sh->l1_servers, tag, hash);

    if (srv || !create) {
        return srv;
    }

    srv = ngx_slab_alloc_locked(shpool,
                                offsetof(ngx_http_mcp_cache_l1_server_t, data)
                                + tag->len);
    if (srv == NULL) {
        return NULL;
    }

    srv->keyed.node.key = hash;
    srv->keyed.key = srv->data;
    srv->keyed.len = (u_short) tag->len;
    ngx_queue_init(&srv->entries);
    ngx_queue_init(&srv->keyed.queue);

    ngx_memcpy(srv->data, tag->data, tag->len);

    ngx_rbtree_insert(&sh->l1_servers, &srv->keyed.node);

    return srv;
}


/* an entry goes; its server's record too when it was the last one */

static void
ngx_http_mcp_cache_l1_drop(ngx_http_mcp_cache_shctx_t *sh,
    ngx_slab_pool_t *shpool, ngx_http_mcp_cache_l1_entry_t *e)
{
    ngx_http_mcp_cache_l1_server_t  *srv;

    srv = e->server;

    ngx_rbtree_delete(&sh->l1, &e->keyed.node);
    ngx_queue_remove(&e->keyed.queue);
    ngx_queue_remove(&e->link);
    ngx_slab_free_locked(shpool, e);

    if (ngx_queue_empty(&srv->entries)) {
        ngx_rbtree_delete(&sh->l1_servers, &srv->keyed.node);
        ngx_slab_free_locked(shpool, srv);
    }
}


static void
ngx_http_mcp_cache_l1_drop_server(ngx_http_mcp_cache_shctx_t *sh,
    ngx_slab_pool_t *shpool, ngx_http_mcp_cache_l1_server_t *srv)
{
    ngx_queue_t                    *q;
    ngx_http_mcp_cache_l1_entry_t  *e;

    if (ngx_queue_empty(&srv->entries)) {
        ngx_rbtree_delete(&sh->l1_servers, &srv->keyed.node);
        ngx_slab_free_locked(shpool, srv);
        return;
    }

    /* the last entry's drop frees the server's record */

    for ( ;; ) {
        q = ngx_queue_head(&srv->entries);
        e = ngx_queue_data(q, ngx_http_mcp_cache_l1_entry_t, link);

        if (ngx_queue_next(q) == ngx_queue_sentinel(&srv->entries)) {
            ngx_http_mcp_cache_l1_drop(sh, shpool, e);
            return;
        }

        ngx_http_mcp_cache_l1_drop(sh, shpool, e);
    }
}


/* room for "size" bytes, the least recently used entries out first */

static void *
ngx_http_mcp_cache_l1_alloc(ngx_http_mcp_cache_shctx_t *sh,
    ngx_slab_pool_t *shpool, size_t size)
{
    void                           *p;
    ngx_uint_t                      n;
    ngx_queue_t                    *q;
    ngx_http_mcp_cache_l1_entry_t  *e;

    for (n = 0; n < 64; n++) {
        p = ngx_slab_alloc_locked(shpool, size);
        if (p) {
            return p;
        }

        if (ngx_queue_empty(&sh->l1_lru)) {
            return NULL;
        }

        q = ngx_queue_head(&sh->l1_lru);
        e = ngx_queue_data(q, ngx_http_mcp_cache_l1_entry_t, keyed.queue);

        ngx_http_mcp_cache_l1_drop(sh, shpool, e);
    }

    return NULL;
}
