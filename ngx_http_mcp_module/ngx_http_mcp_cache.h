
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
 *   lua/                         the scripts (config makes them C strings)
 */


#ifndef _NGX_HTTP_MCP_CACHE_H_INCLUDED_
#define _NGX_HTTP_MCP_CACHE_H_INCLUDED_


#include "ngx_http_mcp_module.h"
#include "ngx_http_mcp_redis.h"
#include "ngx_http_mcp_key.h"


/*
 * The lookup step, for GET and HEAD: NGX_OK, a hit is in "reply";
 * NGX_DECLINED, ask the registry; NGX_AGAIN, "done" is called later with
 * one of the others; NGX_ERROR.
 */
ngx_int_t ngx_http_mcp_cache_lookup(ngx_http_request_t *r,
    ngx_http_mcp_route_t *route, ngx_http_mcp_reply_t *reply,
    ngx_http_mcp_step_pt done);

/*
 * The update step, once "reply" is the client's answer: a GET's is kept,
 * a PUT's server is forgotten.  NGX_OK, NGX_AGAIN ("done" later), or
 * NGX_ERROR.
 */
ngx_int_t ngx_http_mcp_cache_update(ngx_http_request_t *r,
    ngx_http_mcp_route_t *route, ngx_http_mcp_reply_t *reply,
    ngx_http_mcp_step_pt done);


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
    NGX_HTTP_MCP_CACHE_INVALIDATE,
    NGX_HTTP_MCP_CACHE_NSCRIPTS
} ngx_http_mcp_cache_script_e;


/* every key of a server: its KEYS[], in the scripts' order */

enum {
    NGX_HTTP_MCP_CACHE_KEY_GEN = 0,     /* the server's generation */
    NGX_HTTP_MCP_CACHE_KEY_ENTRIES,     /* hash: its cached answers */
    NGX_HTTP_MCP_CACHE_KEY_LOCK,        /* this entry is being fetched */
    NGX_HTTP_MCP_CACHE_NKEYS
};

/* lua/cache_lookup.lua: KEYS gen, entries, lock, then ARGV */

enum {
    NGX_HTTP_MCP_LOOKUP_FIELD = NGX_HTTP_MCP_CACHE_NKEYS,
    NGX_HTTP_MCP_LOOKUP_MODE,           /* "l", "n" or "b" */
    NGX_HTTP_MCP_LOOKUP_LOCK_MS,
    NGX_HTTP_MCP_LOOKUP_TOKEN,
    NGX_HTTP_MCP_LOOKUP_NARGS
};

/* lua/cache_store.lua: KEYS gen, entries, lock, then ARGV */

enum {
    NGX_HTTP_MCP_STORE_FIELD = NGX_HTTP_MCP_CACHE_NKEYS,
    NGX_HTTP_MCP_STORE_GEN,             /* the one the lookup saw */
    NGX_HTTP_MCP_STORE_TTL_MS,          /* "0": only unlock */
    NGX_HTTP_MCP_STORE_STATUS,
    NGX_HTTP_MCP_STORE_BODY,
    NGX_HTTP_MCP_STORE_TOKEN,           /* of the lock, or "" */
    NGX_HTTP_MCP_STORE_NARGS
};

/* lua/cache_invalidate.lua: KEYS gen, entries */

#define NGX_HTTP_MCP_INVALIDATE_NKEYS  2


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

    /* the worker's own, made in init_process */
    ngx_http_mcp_redis_t           *rds;
    ngx_queue_t                     pending;    /* invalidations to retry */
    ngx_uint_t                      npending;
} ngx_http_mcp_cache_main_conf_t;


typedef struct {
    ngx_flag_t                      enable;
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
    ngx_str_t                       field;

    /* a script's arguments, alive until its reply */
    ngx_str_t                       args[NGX_HTTP_MCP_STORE_NARGS];

    /* HMGET <entries> <field> <field>:b, a hit's only command */
    ngx_str_t                       probe[4];

    ngx_str_t                       gen;        /* seen by the lookup */
    ngx_str_t                       token;      /* of the lock */
    ngx_str_t                       lock_ms;

    ngx_uint_t                      status;     /* ngx_http_mcp_cache_... */
    ngx_table_elt_t                *header;

    unsigned                        have_gen:1;
    unsigned                        locked:1;   /* this request's lock */
    unsigned                        store:1;    /* the answer is kept */
} ngx_http_mcp_cache_ctx_t;


/* ngx_http_mcp_cache_module.c */
void ngx_http_mcp_cache_set_status(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx, ngx_uint_t status);

/* ngx_http_mcp_cache_key.c */
ngx_array_t *ngx_http_mcp_cache_key_compile(ngx_conf_t *cf, ngx_str_t *key);
ngx_http_mcp_cache_ctx_t *ngx_http_mcp_cache_ctx(ngx_http_request_t *r,
    ngx_http_mcp_route_t *route, ngx_http_mcp_reply_t *reply,
    ngx_http_mcp_step_pt done);
ngx_int_t ngx_http_mcp_cache_field(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx);

/* ngx_http_mcp_cache_store.c */
ngx_uint_t ngx_http_mcp_cache_pending(ngx_http_mcp_cache_main_conf_t *mcf,
    ngx_str_t *gen);
void ngx_http_mcp_cache_replay(ngx_http_mcp_redis_t *rds, void *data);
void ngx_http_mcp_cache_forget_pending(ngx_http_mcp_cache_main_conf_t *mcf);
void ngx_http_mcp_cache_unlock(ngx_http_mcp_cache_ctx_t *cctx);


extern ngx_module_t  ngx_http_mcp_cache_module;


#endif /* _NGX_HTTP_MCP_CACHE_H_INCLUDED_ */
