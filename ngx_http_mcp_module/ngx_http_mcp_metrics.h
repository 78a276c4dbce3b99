
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * ngx_http_mcp_metrics_module: the gateway's counters, in shared memory
 * for every worker of the node, and their exposition ("mcp_metrics", the
 * Prometheus text format or OpenMetrics); the request id and the audit
 * variables.  docs/metrics.md has the reference.
 *
 *   ngx_http_mcp_metrics.c         the module: directives, the zones, the
 *                                  log-phase counting, the hooks below
 *   ngx_http_mcp_metrics_output.c  the exposition
 *   ngx_http_mcp_audit.c           $mcp_request_id, $mcp_audit,
 *                                  $mcp_changed_fields, ...; the request
 *                                  id in X-Request-ID and in error lines
 *
 * Every counter is an ngx_atomic_t at a fixed place: a request adds to
 * its registry's counters with ngx_atomic_fetch_add(), no lock, no hash.
 * One zone for the node ("mcp_metrics") and one per registry
 * ("mcp_metrics:<name>"): each keeps its counters over a reload that
 * keeps it (nginx reuses a zone of the same name and size), so adding or
 * removing a registry resets no other's.
 */


#ifndef _NGX_HTTP_MCP_METRICS_H_INCLUDED_
#define _NGX_HTTP_MCP_METRICS_H_INCLUDED_


#include "ngx_http_mcp_module.h"


/* the layout of the zones: a new one is a new number */
#define NGX_HTTP_MCP_METRICS_MAGIC     0x4d43504d45540003

#define NGX_HTTP_MCP_METRICS_ROUTES    2       /* native, canonical */
#define NGX_HTTP_MCP_METRICS_METHODS   4       /* GET, HEAD, PUT, OTHER */
#define NGX_HTTP_MCP_METRICS_CODES     5       /* 1xx .. 5xx */
#define NGX_HTTP_MCP_METRICS_CACHE     7       /* hit .. error, other */
#define NGX_HTTP_MCP_METRICS_FAILURES  4       /* connect .. bad_answer */
#define NGX_HTTP_MCP_METRICS_AUTH      5       /* ok .. insufficient_scope */

/* registry answers, in ms: 5 ms to 10 s, and beyond */
#define NGX_HTTP_MCP_METRICS_REGISTRY_BUCKETS  11
#define NGX_HTTP_MCP_METRICS_REGISTRY_SLOTS    12    /* and beyond */

/* Redis commands, in us: 100 us to 1 s, and beyond */
#define NGX_HTTP_MCP_METRICS_REDIS_BUCKETS     13
#define NGX_HTTP_MCP_METRICS_REDIS_SLOTS       14

/* workers of the node, those of a reload's old cycle included */
#define NGX_HTTP_MCP_METRICS_WORKERS   256


enum {
    NGX_HTTP_MCP_METRICS_CACHE_HIT = 0,
    NGX_HTTP_MCP_METRICS_CACHE_MISS,
    NGX_HTTP_MCP_METRICS_CACHE_BYPASS,
    NGX_HTTP_MCP_METRICS_CACHE_EXPIRED,
    NGX_HTTP_MCP_METRICS_CACHE_STALE,
    NGX_HTTP_MCP_METRICS_CACHE_ERROR,
    NGX_HTTP_MCP_METRICS_CACHE_OTHER
};


enum {
    NGX_HTTP_MCP_METRICS_CONNECT = 0,       /* no status line came */
    NGX_HTTP_MCP_METRICS_TIMEOUT,
    NGX_HTTP_MCP_METRICS_HTTP_5XX,          /* the registry said 5xx */
    NGX_HTTP_MCP_METRICS_BAD_ANSWER         /* the gateway made a 502 */
};


/* the counters of one registry (and of the requests that name none) */

typedef struct {
    ngx_atomic_t                    magic;
    ngx_atomic_t                    requests[NGX_HTTP_MCP_METRICS_ROUTES]
                                            [NGX_HTTP_MCP_METRICS_METHODS]
                                            [NGX_HTTP_MCP_METRICS_CODES];
    ngx_atomic_t                    cache[NGX_HTTP_MCP_METRICS_CACHE];
    ngx_atomic_t                    invalidations[2];   /* ok, failed */
    ngx_atomic_t                    failures[NGX_HTTP_MCP_METRICS_FAILURES];

    /* not cumulative: one add per answer; the last is beyond 10 s */
    ngx_atomic_t            latency[NGX_HTTP_MCP_METRICS_REGISTRY_SLOTS];
    ngx_atomic_t                    latency_ms;
} ngx_http_mcp_metrics_registry_t;


/* a worker's gauges: claimed at its start, released at its exit */

typedef struct {
    ngx_atomic_t                    pid;        /* 0: free */
    ngx_atomic_t                    worker;     /* ngx_worker */
    ngx_atomic_t                    seq;        /* the latest is shown */
    ngx_atomic_t                    redis;      /* 0 none, 1 down, 2 up */
} ngx_http_mcp_metrics_worker_t;


/* the node's zone */

typedef struct {
    ngx_atomic_t                    magic;
    ngx_atomic_t                    auth[NGX_HTTP_MCP_METRICS_AUTH];
    ngx_atomic_t                    token_cache[2];     /* hit, miss */
    ngx_atomic_t                    redis_commands[2];  /* ok, failed */
    ngx_atomic_t            redis_latency[NGX_HTTP_MCP_METRICS_REDIS_SLOTS];
    ngx_atomic_t                    redis_latency_us;
    ngx_atomic_t                    replayed;           /* invalidations */
    ngx_atomic_t                    pending;            /* invalidations */
    ngx_atomic_t                    l1_hits;            /* the node's L1 */
    ngx_atomic_t                    seq;

    ngx_http_mcp_metrics_registry_t none;       /* no registry named */
    ngx_http_mcp_metrics_worker_t   workers[NGX_HTTP_MCP_METRICS_WORKERS];
} ngx_http_mcp_metrics_node_t;


typedef struct {
    ngx_flag_t                      enabled;    /* "mcp_metrics" is used */
    time_t                          loaded;     /* the configuration */

    ngx_http_mcp_metrics_node_t    *node;
    ngx_http_mcp_metrics_registry_t **registries;   /* by index; then none */
    ngx_uint_t                      nregistries;

    ngx_int_t                       cache_status;   /* $mcp_cache_status */

    /* ngx_http_mcp_audit.c: $mcp_request_id, nginx's $request_id */
    ngx_int_t                       request_id;
    ngx_int_t                       nginx_request_id;

    /*
     * how a worker makes $request_id: its random key (drawn on first use,
     * in the worker) and how many it made; runtime, not configuration
     */
    u_char                          id_key[16];
    uint64_t                        ids;
    unsigned                        id_keyed:1;
} ngx_http_mcp_metrics_main_conf_t;


/*
 * The hooks: each is a no-op when no "mcp_metrics" is configured.
 */

/* the access handler's outcome (ngx_http_mcp_auth_status_e, _cache_e) */
void ngx_http_mcp_metrics_auth(ngx_http_request_t *r, ngx_uint_t status,
    ngx_uint_t cache);

/* an invalidation after a PUT (ok 0: failed, kept for later) */
void ngx_http_mcp_metrics_invalidation(ngx_http_request_t *r,
    ngx_http_mcp_registry_t *reg, ngx_uint_t ok);

/* a kept invalidation went through */
void ngx_http_mcp_metrics_invalidation_replayed(void);

/* how many invalidations this worker keeps */
void ngx_http_mcp_metrics_invalidations_pending(ngx_uint_t n); /* node's */

/* a GET or HEAD answered from the node's L1 cache */
void ngx_http_mcp_metrics_cache_l1_hit(void);

/* this worker's Redis connection is ready (1), or not (0) */
void ngx_http_mcp_metrics_redis_up(ngx_uint_t up);

/* a time for ngx_http_mcp_metrics_redis_command(): us, or 0 when off */
uint64_t ngx_http_mcp_metrics_clock(void);

/* a command sent at "start" got a reply (ok 1), or failed */
void ngx_http_mcp_metrics_redis_command(uint64_t start, ngx_uint_t ok);


/* ngx_http_mcp_metrics_output.c */
ngx_int_t ngx_http_mcp_metrics_handler(ngx_http_request_t *r);

/* ngx_http_mcp_audit.c */
ngx_int_t ngx_http_mcp_audit_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_http_mcp_audit_init(ngx_conf_t *cf);
ngx_table_elt_t *ngx_http_mcp_metrics_header(ngx_http_request_t *r,
    ngx_str_t *name);


extern ngx_module_t  ngx_http_mcp_metrics_module;


#endif /* _NGX_HTTP_MCP_METRICS_H_INCLUDED_ */
