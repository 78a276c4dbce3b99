
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * The verified-token cache of a worker: a bounded hash of the digests of
 * whole tokens whose signature held, with what the verification found
 * (the claims, the key and the algorithm; $mcp_jwt_sub and $mcp_jwt_iss
 * as they render, in memory of the entry's own).  A digest is the 128-bit
 * SipHash-2-4 of the token under a random key of the worker's own, made
 * when the cache is and never written anywhere: the cache holds no token,
 * and without the key nobody can make a token whose digest is another's
 * (docs/auth.md, "The token cache").  It spares RS256 and ES256
 * verifications for clients that send the same token again; claims are
 * checked again on every request, against the location's own policy.
 * An entry lives until min(exp, time of insertion + ttl); the least
 * recently used entry makes room when the cache is full.
 *
 * One per worker process, made in init_process: workers share nothing,
 * and a reload starts new workers with empty caches (and the new keys).
 */


#include "ngx_http_mcp_auth.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "ngx_http_mcp_siphash.h"


typedef struct ngx_http_mcp_jwt_cache_node_s  ngx_http_mcp_jwt_cache_node_t;

struct ngx_http_mcp_jwt_cache_node_s {
    ngx_http_mcp_jwt_cache_node_t  *next;       /* in the bucket */
    ngx_queue_t                     queue;      /* in lru, or in free */
    time_t                          expires;
    const ngx_http_mcp_jwt_key_t   *key;
    int                             alg;
    json_t                         *claims;
    ngx_http_mcp_auth_ident_t       ident;      /* in ngx_alloc()ed memory */
    u_char                          digest[NGX_HTTP_MCP_JWT_DIGEST_LEN];
};


struct ngx_http_mcp_jwt_cache_s {
    ngx_http_mcp_jwt_cache_node_t **buckets;
    ngx_uint_t                      mask;
    ngx_queue_t                     lru;        /* most recent first */
    ngx_queue_t                     free;

    /* the worker's SipHash key */
    u_char                          key[NGX_HTTP_MCP_SIPHASH_KEY_LEN];
};


static ngx_http_mcp_jwt_cache_node_t **ngx_http_mcp_jwt_cache_find(
    ngx_http_mcp_jwt_cache_t *cache, u_char *digest);
static void ngx_http_mcp_jwt_cache_remove(ngx_http_mcp_jwt_cache_t *cache,
    ngx_http_mcp_jwt_cache_node_t **pp);
static ngx_uint_t ngx_http_mcp_jwt_cache_bucket(
    ngx_http_mcp_jwt_cache_t *cache, u_char *digest);
static void ngx_http_mcp_jwt_cache_free(ngx_http_mcp_jwt_cache_node_t *node);


ngx_http_mcp_jwt_cache_t *
ngx_http_mcp_jwt_cache_create(ngx_pool_t *pool, ngx_uint_t size)
{
    ngx_uint_t                      i, n;
    ngx_http_mcp_jwt_cache_t       *cache;
    ngx_http_mcp_jwt_cache_node_t  *nodes;

    cache = ngx_pcalloc(pool, sizeof(ngx_http_mcp_jwt_cache_t));
    if (cache == NULL) {
        return NULL;
    }

    /* a power of two, at least as many buckets as entries */

    for (n = 1; n < size; n <<= 1) { /* void */ }

    cache->buckets = ngx_pcalloc(pool,
                                 n * sizeof(ngx_http_mcp_jwt_cache_node_t *));
    if (cache->buckets == NULL) {
        return NULL;
    }

    cache->mask = n - 1;

    nodes = ngx_pcalloc(pool, size * sizeof(ngx_http_mcp_jwt_cache_node_t));
    if (nodes == NULL) {
        return NULL;
    }

    ngx_queue_init(&cache->lru);
    ngx_queue_init(&cache->free);

    for (i = 0; i < size; i++) {
        ngx_queue_insert_tail(&cache->free, &nodes[i].queue);
    }

    if (RAND_bytes(cache->key, sizeof(cache->key)) != 1) {
        ERR_clear_error();
        return NULL;
    }

    return cache;
}


/* the key of a token: the keyed 128-bit SipHash-2-4 of the whole token */

ngx_int_t
ngx_http_mcp_jwt_cache_digest(ngx_http_mcp_jwt_cache_t *cache,
    u_char *token, size_t len, u_char *digest)
{
    ngx_http_mcp_siphash(cache->key, token, len, digest,
                         NGX_HTTP_MCP_JWT_DIGEST_LEN);

    return NGX_OK;
}


/*
 * releases the claims the entries hold, and wipes the key; the memory is
 * the pool's
 */

void
ngx_http_mcp_jwt_cache_destroy(ngx_http_mcp_jwt_cache_t *cache)
{
    ngx_queue_t                    *q;
    ngx_http_mcp_jwt_cache_node_t  *node;

    for (q = ngx_queue_head(&cache->lru);
         q != ngx_queue_sentinel(&cache->lru);
         q = ngx_queue_next(q))
    {
        node = ngx_queue_data(q, ngx_http_mcp_jwt_cache_node_t, queue);
        ngx_http_mcp_jwt_cache_free(node);
    }

    ngx_queue_init(&cache->lru);

    OPENSSL_cleanse(cache->key, sizeof(cache->key));
}


/*
 * Every entry out: the keys they name are about to be freed (a JWK Set
 * from a URL changed), and a new key could have the address of an old one
 */

void
ngx_http_mcp_jwt_cache_flush(ngx_http_mcp_jwt_cache_t *cache)
{
    ngx_queue_t                    *q;
    ngx_http_mcp_jwt_cache_node_t  *node, **pp;

    while (!ngx_queue_empty(&cache->lru)) {
        q = ngx_queue_head(&cache->lru);
        node = ngx_queue_data(q, ngx_http_mcp_jwt_cache_node_t, queue);

        pp = ngx_http_mcp_jwt_cache_find(cache, node->digest);

        if (pp == NULL) {               /* cannot happen */
            ngx_http_mcp_jwt_cache_free(node);
            ngx_queue_remove(q);
            ngx_queue_insert_head(&cache->free, q);
            continue;
        }

        ngx_http_mcp_jwt_cache_remove(cache, pp);
    }
}


/*
 * The claims of a live entry (a borrowed reference), with the key and the
 * algorithm that verified it, and the rendered $mcp_jwt_sub and
 * $mcp_jwt_iss (valid until the cache changes); NULL on a miss.  An
 * expired entry is dropped.
 */

json_t *
ngx_http_mcp_jwt_cache_get(ngx_http_mcp_jwt_cache_t *cache, u_char *digest,
    time_t now, const ngx_http_mcp_jwt_key_t **key, int *alg,
    const ngx_http_mcp_auth_ident_t **ident)
{
    ngx_http_mcp_jwt_cache_node_t  **pp, *node;

    pp = ngx_http_mcp_jwt_cache_find(cache, digest);
    if (pp == NULL) {
        return NULL;
    }

    node = *pp;

    if (node->expires <= now) {
        ngx_http_mcp_jwt_cache_remove(cache, pp);
        return NULL;
    }

    ngx_queue_remove(&node->queue);
    ngx_queue_insert_head(&cache->lru, &node->queue);

    *key = node->key;
    *alg = node->alg;
    *ident = &node->ident;

    return node->claims;
}


/*
 * An entry for a verified token; without the memory for its rendered
 * values, the token is not cached
 */

void
ngx_http_mcp_jwt_cache_put(ngx_http_mcp_jwt_cache_t *cache, u_char *digest,
    time_t expires, const ngx_http_mcp_jwt_key_t *key, int alg,
    json_t *claims, const ngx_http_mcp_auth_ident_t *ident)
{
    u_char                          *p;
    size_t                           len;
    ngx_uint_t                       b, i;
    ngx_queue_t                     *q;
    ngx_http_mcp_jwt_cache_node_t  **pp, *node;

    len = 0;

    for (i = 0; i < NGX_HTTP_MCP_AUTH_IDENT_N; i++) {
        len += ident->value[i].len;
    }

    p = ngx_alloc(len + 1, ngx_cycle->log);
    if (p == NULL) {
        return;
    }

    /* the same token verified by another location's keys: replace it */

    pp = ngx_http_mcp_jwt_cache_find(cache, digest);
    if (pp) {
        ngx_http_mcp_jwt_cache_remove(cache, pp);
    }

    if (ngx_queue_empty(&cache->free)) {

        /* evict the least recently used entry */

        q = ngx_queue_last(&cache->lru);
        node = ngx_queue_data(q, ngx_http_mcp_jwt_cache_node_t, queue);

        pp = ngx_http_mcp_jwt_cache_find(cache, node->digest);
        if (pp == NULL) {
            ngx_free(p);
            return;                     /* cannot happen */
        }

        ngx_http_mcp_jwt_cache_remove(cache, pp);
    }

    q = ngx_queue_head(&cache->free);
    ngx_queue_remove(q);

    node = ngx_queue_data(q, ngx_http_mcp_jwt_cache_node_t, queue);

    ngx_memcpy(node->digest, digest, NGX_HTTP_MCP_JWT_DIGEST_LEN);
    node->expires = expires;
    node->key = key;
    node->alg = alg;
    node->claims = json_incref(claims);

    for (i = 0; i < NGX_HTTP_MCP_AUTH_IDENT_N; i++) {
        node->ident.value[i].data = p;
        node->ident.value[i].len = ident->value[i].len;
        p = ngx_cpymem(p, ident->value[i].data, ident->value[i].len);
    }

    node->ident.found = ident->found;
    node->ident.rendered = 1;

    b = ngx_http_mcp_jwt_cache_bucket(cache, digest);

    node->next = cache->buckets[b];
    cache->buckets[b] = node;

    ngx_queue_insert_head(&cache->lru, &node->queue);
}


static ngx_http_mcp_jwt_cache_node_t **
ngx_http_mcp_jwt_cache_find(ngx_http_mcp_jwt_cache_t *cache, u_char *digest)
{
    ngx_uint_t                       b;
    ngx_http_mcp_jwt_cache_node_t  **pp;

    b = ngx_http_mcp_jwt_cache_bucket(cache, digest);

    for (pp = &cache->buckets[b]; *pp; pp = &(*pp)->next) {
        if (ngx_http_mcp_jwt_equal((*pp)->digest, digest,
                                   NGX_HTTP_MCP_JWT_DIGEST_LEN))
        {
            return pp;
        }
    }

    return NULL;
}


static void
ngx_http_mcp_jwt_cache_remove(ngx_http_mcp_jwt_cache_t *cache,
    ngx_http_mcp_jwt_cache_node_t **pp)
{
    ngx_http_mcp_jwt_cache_node_t  *node;

    node = *pp;
    *pp = node->next;

    ngx_http_mcp_jwt_cache_free(node);
    node->next = NULL;

    ngx_queue_remove(&node->queue);
    ngx_queue_insert_head(&cache->free, &node->queue);
}


/* the digest is uniform already (a PRF's): its first bytes make the bucket */

static ngx_uint_t
ngx_http_mcp_jwt_cache_bucket(ngx_http_mcp_jwt_cache_t *cache, u_char *digest)
{
    return ((ngx_uint_t) digest[0]
            | (ngx_uint_t) digest[1] << 8
            | (ngx_uint_t) digest[2] << 16
            | (ngx_uint_t) digest[3] << 24)
           & cache->mask;
}


/* what an entry holds: its reference to the claims, its rendered values */

static void
ngx_http_mcp_jwt_cache_free(ngx_http_mcp_jwt_cache_node_t *node)
{
    json_decref(node->claims);
    node->claims = NULL;

    if (node->ident.rendered) {
        ngx_free(node->ident.value[0].data);
        ngx_memzero(&node->ident, sizeof(ngx_http_mcp_auth_ident_t));
    }
}
