
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * ngx_http_mcp_cache_module: the Redis cache of GET answers, a module of
 * its own in ngx_http_mcp_module.so.  docs/cache.md has the protocol.
 *
 * The handler's two steps are the cache's whole interface; the rest of
 * this header is what the cache's files share:
 *
 *   ngx_http_mcp_cache_module.c  directives, configuration, $mcp_cache_*,
 *                                the worker's Redis connection
 *   ngx_http_mcp_cache_key.c     a request's keys, entry field and context
 *   ngx_http_mcp_cache_lookup.c  the lookup step: probe, script, lock
 *   ngx_http_mcp_cache_store.c   the update step: store, invalidate, and
 *                                the invalidations that wait for Redis
 *   ngx_http_mcp_cache_l1.c      the node's first layer ("mcp_cache_l1")
 *   ngx_http_mcp_cache_channel.c what keeps it current: Redis's
 *                                invalidations, heard by one worker
 *   lua/                         the scripts (config makes them C strings)
 */


#ifndef _NGX_HTTP_MCP_CACHE_H_INCLUDED_
#define _NGX_HTTP_MCP_CACHE_H_INCLUDED_


#include "ngx_http_mcp_module.h"
#include "ngx_http_mcp_redis.h"
#include "ngx_http_mcp_key.h"
#include "ngx_http_mcp_siphash.h"


/*
 * The lookup step, for GET and HEAD: NGX_OK, a hit is in "reply";
 * NGX_DECLINED, ask the registry; NGX_AGAIN, "done" is called later with
 * one of the others; NGX_ERROR.
 */
ngx_int_t ngx_http_mcp_cache_lookup(ngx_http_request_t *r,
    ngx_http_mcp_route_t *route, ngx_http_mcp_reply_t *reply,
    ngx_http_mcp_step_pt done);

/*
 * The store step, once "reply" is a GET's answer: it is kept if it may
 * be.  NGX_OK, NGX_AGAIN ("done" later), or NGX_ERROR.
 */
ngx_int_t ngx_http_mcp_cache_store(ngx_http_request_t *r,
    ngx_http_mcp_reply_t *reply, ngx_http_mcp_step_pt done);

/*
 * Before a PUT goes to the registry: the server is marked as being
 * written, on the Redis primary, so that no node serves or keeps it until
 * the write is over.  NGX_OK, go on; NGX_DECLINED, the write must not go
 * ("mcp_cache_consistency strict" and no primary to mark it): "reply" is
 * the refusal; NGX_AGAIN; NGX_ERROR.
 */
ngx_int_t ngx_http_mcp_cache_write_begin(ngx_http_request_t *r,
    ngx_http_mcp_route_t *route, ngx_http_mcp_reply_t *reply,
    ngx_http_mcp_step_pt done);

/*
 * After the PUT, whatever its outcome: the server's entries are gone
 * before the client hears of it; "known" says the registry answered (its
 * write is over), else the marker stays until its deadline.  NGX_OK,
 * NGX_AGAIN, NGX_ERROR.
 */
ngx_int_t ngx_http_mcp_cache_write_end(ngx_http_request_t *r,
    ngx_http_mcp_route_t *route, ngx_http_mcp_reply_t *reply,
    ngx_uint_t known, ngx_http_mcp_step_pt done);


/* what the cache's files share */

/* $mcp_cache_status, and the header that says it */

typedef enum {
    NGX_HTTP_MCP_CACHE_NONE = 0,
    NGX_HTTP_MCP_CACHE_HIT,
    NGX_HTTP_MCP_CACHE_MISS,
    NGX_HTTP_MCP_CACHE_BYPASS,
    NGX_HTTP_MCP_CACHE_ERROR
} ngx_http_mcp_cache_status_e;


/* the scripts, in lua/ */

typedef enum {
    NGX_HTTP_MCP_CACHE_LOOKUP = 0,
    NGX_HTTP_MCP_CACHE_STORE,
    NGX_HTTP_MCP_CACHE_WRITE,
    NGX_HTTP_MCP_CACHE_NSCRIPTS
} ngx_http_mcp_cache_script_e;


/* every key of a server: its KEYS[], in the scripts' order */

enum {
    NGX_HTTP_MCP_CACHE_KEY_GEN = 0,     /* the server's generation */
    NGX_HTTP_MCP_CACHE_KEY_ENTRIES,     /* hash: its cached answers */
    NGX_HTTP_MCP_CACHE_KEY_WRITE,       /* hash: its writers' deadlines */
    NGX_HTTP_MCP_CACHE_KEY_LOCK,        /* this entry is being fetched */
    NGX_HTTP_MCP_CACHE_NKEYS
};

/* lua/cache_lookup.lua: KEYS gen, entries, write, lock, then ARGV */

enum {
    NGX_HTTP_MCP_LOOKUP_FIELD = NGX_HTTP_MCP_CACHE_NKEYS,
    NGX_HTTP_MCP_LOOKUP_MODE,           /* "l", "n" or "b" */
    NGX_HTTP_MCP_LOOKUP_LOCK_MS,
    NGX_HTTP_MCP_LOOKUP_TOKEN,
    NGX_HTTP_MCP_LOOKUP_NARGS
};

/* lua/cache_store.lua: KEYS gen, entries, write, lock, then ARGV */

enum {
    NGX_HTTP_MCP_STORE_FIELD = NGX_HTTP_MCP_CACHE_NKEYS,
    NGX_HTTP_MCP_STORE_GEN,             /* the one the lookup saw */
    NGX_HTTP_MCP_STORE_TTL_MS,          /* "0": only unlock */
    NGX_HTTP_MCP_STORE_STATUS,
    NGX_HTTP_MCP_STORE_BODY,
    NGX_HTTP_MCP_STORE_TOKEN,           /* of the lock, or "" */
    NGX_HTTP_MCP_STORE_RUN_ID,          /* of the server the lookup asked */
    NGX_HTTP_MCP_STORE_SINCE,           /* when it did, its time (ms) */
    NGX_HTTP_MCP_STORE_NARGS
};

/* lua/cache_write.lua: KEYS gen, entries, write, then ARGV */

#define NGX_HTTP_MCP_WRITE_NKEYS  3

enum {
    NGX_HTTP_MCP_WRITE_STEP = NGX_HTTP_MCP_WRITE_NKEYS, /* begin, end, ... */
    NGX_HTTP_MCP_WRITE_TOKEN,           /* the writer */
    NGX_HTTP_MCP_WRITE_DEADLINE_MS,
    NGX_HTTP_MCP_WRITE_NARGS
};


/* $mcp_cache_layer: where a hit came from */

#define NGX_HTTP_MCP_CACHE_LAYER_NONE   0
#define NGX_HTTP_MCP_CACHE_LAYER_L1     1
#define NGX_HTTP_MCP_CACHE_LAYER_REDIS  2

/* an entry's name in the first layer, after its server's: SipHash-128 */
#define NGX_HTTP_MCP_CACHE_L1_NAME_LEN  16


typedef struct ngx_http_mcp_cache_channel_s  ngx_http_mcp_cache_channel_t;


/* "mcp_cache_consistency" */

#define NGX_HTTP_MCP_CACHE_STRICT   0
#define NGX_HTTP_MCP_CACHE_RELAXED  1


/* the node's zone (ngx_http_mcp_cache_node.c, ngx_http_mcp_cache_l1.c) */

/* what the zone's trees hold: a node found by its key's bytes */

typedef struct {
    ngx_rbtree_node_t               node;       /* key: crc32 of the key */
    ngx_queue_t                     queue;      /* oldest first */
    u_char                         *key;        /* in the same block */
    u_short                         len;
} ngx_http_mcp_cache_keyed_t;


typedef struct {
    ngx_rbtree_t                    rbtree;     /* invalidations waiting */
    ngx_rbtree_node_t               sentinel;
    ngx_queue_t                     queue;
    ngx_atomic_t                    npending;

    ngx_rbtree_t                    flights;    /* shared fetches */
    ngx_rbtree_node_t               flights_sentinel;
    ngx_queue_t                     flights_queue;

    ngx_rbtree_t                    l1;         /* entries */
    ngx_rbtree_node_t               l1_sentinel;
    ngx_queue_t                     l1_lru;     /* least recent first */
    ngx_rbtree_t                    l1_servers; /* when each was written */
    ngx_rbtree_node_t               l1_servers_sentinel;
    ngx_atomic_t                    l1_seq;     /* invalidations heard */
    ngx_atomic_t                    l1_alive;   /* msec: channel heard */

    /*
     * the SipHash key of the layer's entries (ngx_http_mcp_cache_l1.c):
     * random, made with the zone, never written anywhere else
     */
    u_char                          l1_secret[NGX_HTTP_MCP_SIPHASH_KEY_LEN];
} ngx_http_mcp_cache_shctx_t;


/*
 * An invalidation that waits for Redis, as a worker takes it from the
 * node's zone to send it (ngx_http_mcp_cache_node_claim()): one block,
 * ngx_free()d by ngx_http_mcp_cache_node_done()
 */

typedef struct {
    ngx_queue_t                     queue;
    ngx_shm_zone_t                 *zone;

    /* the write script's: the server's keys, then its ARGV */
    ngx_str_t                       args[NGX_HTTP_MCP_WRITE_NARGS];
} ngx_http_mcp_cache_pending_t;


/*
 * mcp_cache_key, compiled: its text and its variables, in order, each
 * one part of the entry's field (ngx_http_mcp_key.h)
 */

#define NGX_HTTP_MCP_CACHE_KEY_PARTS  32

typedef struct {
    ngx_str_t                       text;       /* a literal, or */
    ngx_int_t                       index;      /* a variable, or -1 */
} ngx_http_mcp_cache_key_part_t;


typedef struct {
    ngx_http_mcp_redis_conf_t       redis;      /* name.len 0: no cache */
    ngx_str_t                       prefix;

    ngx_array_t                    *default_key;
    ngx_int_t                       sub_index;  /* $mcp_jwt_sub */

    ngx_http_mcp_redis_script_t     scripts[NGX_HTTP_MCP_CACHE_NSCRIPTS];

    ngx_uint_t                      consistency;
    ngx_msec_t                      write_timeout;  /* a marker's life */
    ngx_msec_t                      max_ttl;        /* of every location */
    ngx_shm_zone_t                 *zone;           /* the node's state */
    ngx_str_t                       write_timeout_ms;

    ngx_msec_t                      l1_lease;       /* mcp_cache_l1_lease */
    ngx_uint_t                      l1_used;        /* by some location */
    unsigned                        zone_named:1;   /* mcp_cache_zone */
    unsigned                        l1_warned:1;    /* a Redis Cluster */

    /* the worker's own, made in init_process */
    ngx_http_mcp_redis_t           *rds;
    ngx_http_mcp_cache_channel_t   *channel;        /* one worker's */
    ngx_queue_t                     replaying;      /* node invalidations */
    ngx_uint_t                      warned;         /* relaxed writes */
} ngx_http_mcp_cache_main_conf_t;


typedef struct {
    ngx_flag_t                      enable;
    ngx_flag_t                      l1;         /* mcp_cache_l1 */
    ngx_msec_t                      ttl;
    ngx_array_t                    *key;        /* of key parts */
    ngx_array_t                    *statuses;   /* ngx_uint_t */
    ngx_flag_t                      bypass;
    ngx_str_t                       header;
    ngx_flag_t                      lock;
    ngx_msec_t                      lock_timeout;
    size_t                          max_size;
} ngx_http_mcp_cache_loc_conf_t;


typedef struct {
    ngx_http_request_t             *request;
    ngx_http_mcp_route_t           *route;
    ngx_http_mcp_reply_t           *reply;
    ngx_http_mcp_step_pt            done;

    ngx_http_mcp_redis_cmd_t       *cmd;        /* the command under way */
    ngx_event_t                     wait;       /* another one fetches */
    ngx_msec_t                      deadline;

    /* the server's keys, and the field of this entry in its hash */
    ngx_str_t                       keys[NGX_HTTP_MCP_CACHE_NKEYS];
    ngx_str_t                       field;      /* len 0: not yet */

    /* the key's parts, encoded (ngx_http_mcp_key_encode()) */
    ngx_str_t                       encoded;

    /* a script's arguments, alive until its reply */
    ngx_str_t                       args[NGX_HTTP_MCP_STORE_NARGS];

    /* HMGET <entries> <field> <field>:b, a hit's only command */
    ngx_str_t                       probe[4];

    ngx_str_t                       gen;        /* seen by the lookup */
    ngx_str_t                       run_id;     /* of who answered it */
    ngx_str_t                       since;      /* when, in Redis's time */
    ngx_str_t                       token;      /* of the lock, the write */
    ngx_str_t                       lock_ms;
    ngx_uint_t                      step;       /* of a write */

    ngx_str_t                       flight;     /* the entry, node-wide */
    ngx_uint_t                      ticket;

    ngx_str_t                       l1_key;     /* "{tag}...name", or 0 */
    size_t                          l1_tag;     /* its tag's length */
    ngx_uint_t                      l1_seq;     /* before the probe */
    ngx_msec_t                      marked_at;  /* a write's begin reply */
    ngx_int_t                       held;       /* a held write's result */

    ngx_uint_t                      status;     /* ngx_http_mcp_cache_... */
    ngx_uint_t                      layer;      /* of a hit */
    ngx_table_elt_t                *header;

    unsigned                        have_gen:1;
    unsigned                        locked:1;   /* this request's lock */
    unsigned                        store:1;    /* the answer is kept */
    unsigned                        marked:1;   /* a write's marker is set */
    unsigned                        alone:1;    /* Redis cannot help */
    unsigned                        leader:1;   /* of a flight */
} ngx_http_mcp_cache_ctx_t;


/* ngx_http_mcp_cache_module.c */
void ngx_http_mcp_cache_set_status(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx, ngx_uint_t status);

/* ngx_http_mcp_cache_key.c */
ngx_array_t *ngx_http_mcp_cache_key_compile(ngx_conf_t *cf, ngx_str_t *key);
ngx_http_mcp_cache_ctx_t *ngx_http_mcp_cache_ctx(ngx_http_request_t *r,
    ngx_http_mcp_route_t *route, ngx_http_mcp_reply_t *reply,
    ngx_http_mcp_step_pt done);
ngx_int_t ngx_http_mcp_cache_key_parts(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx);
ngx_int_t ngx_http_mcp_cache_field(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx);
ngx_int_t ngx_http_mcp_cache_token(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx);

/* ngx_http_mcp_cache_store.c */
void ngx_http_mcp_cache_unlock(ngx_http_mcp_cache_ctx_t *cctx);

/* ngx_http_mcp_cache_write.c */
void ngx_http_mcp_cache_replay(ngx_http_mcp_redis_t *rds, void *data);

/*
 * ngx_http_mcp_cache_node.c: the node's shared zone.  A server whose
 * invalidation waits for Redis ("pending") is neither served nor kept by
 * any worker of the node until one of them sends it.
 */
void ngx_http_mcp_cache_keyed_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
ngx_http_mcp_cache_keyed_t *ngx_http_mcp_cache_keyed_find(
    ngx_rbtree_t *rbtree, ngx_str_t *key, uint32_t hash);
ngx_int_t ngx_http_mcp_cache_node_init(ngx_conf_t *cf,
    ngx_http_mcp_cache_main_conf_t *mcf, ngx_str_t *name, size_t size);
ngx_uint_t ngx_http_mcp_cache_node_pending(ngx_shm_zone_t *zone,
    ngx_str_t *gen);
ngx_uint_t ngx_http_mcp_cache_node_npending(ngx_shm_zone_t *zone);
ngx_int_t ngx_http_mcp_cache_node_add(ngx_shm_zone_t *zone, ngx_str_t *keys,
    ngx_str_t *token);
ngx_queue_t *ngx_http_mcp_cache_node_claim(ngx_shm_zone_t *zone,
    ngx_log_t *log);
void ngx_http_mcp_cache_node_done(ngx_http_mcp_cache_pending_t *pd,
    ngx_uint_t sent);
/* ngx_http_mcp_cache_l1.c: the node's first layer */
ngx_uint_t ngx_http_mcp_cache_l1_alive(ngx_shm_zone_t *zone);
void ngx_http_mcp_cache_l1_heard(ngx_shm_zone_t *zone, ngx_msec_t sent,
    ngx_msec_t lease);
ngx_uint_t ngx_http_mcp_cache_l1_seq(ngx_shm_zone_t *zone);
ngx_int_t ngx_http_mcp_cache_l1_get(ngx_shm_zone_t *zone, ngx_str_t *key,
    ngx_pool_t *pool, ngx_http_mcp_reply_t *reply);
void ngx_http_mcp_cache_l1_put(ngx_shm_zone_t *zone, ngx_str_t *key,
    size_t tag, ngx_uint_t seq, ngx_http_mcp_reply_t *reply,
    int64_t expiry);
void ngx_http_mcp_cache_l1_invalidate(ngx_shm_zone_t *zone, ngx_str_t *tag);
void ngx_http_mcp_cache_l1_flush(ngx_shm_zone_t *zone);
void ngx_http_mcp_cache_l1_off(ngx_shm_zone_t *zone);
size_t ngx_http_mcp_cache_l1_tag(u_char *key, size_t len, u_char **tag);
void ngx_http_mcp_cache_l1_name(ngx_shm_zone_t *zone, ngx_str_t *encoded,
    u_char *name);

/* ngx_http_mcp_cache_channel.c: the node's invalidations, one worker's */
ngx_int_t ngx_http_mcp_cache_channel_init(ngx_cycle_t *cycle,
    ngx_http_mcp_cache_main_conf_t *mcf);
void ngx_http_mcp_cache_channel_destroy(ngx_http_mcp_cache_main_conf_t *mcf);

ngx_int_t ngx_http_mcp_cache_flight_join(ngx_shm_zone_t *zone,
    ngx_str_t *key, ngx_uint_t *ticket);
ngx_int_t ngx_http_mcp_cache_flight_wait(ngx_shm_zone_t *zone,
    ngx_str_t *key, ngx_uint_t ticket, ngx_pool_t *pool,
    ngx_http_mcp_reply_t *reply);
void ngx_http_mcp_cache_flight_land(ngx_shm_zone_t *zone, ngx_str_t *key,
    ngx_http_mcp_reply_t *reply);


extern ngx_module_t  ngx_http_mcp_cache_module;


#endif /* _NGX_HTTP_MCP_CACHE_H_INCLUDED_ */
