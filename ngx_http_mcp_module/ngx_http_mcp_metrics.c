
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * ngx_http_mcp_metrics_module: the counters of the gateway in shared
 * memory, for the whole node, and the "mcp_metrics" location that shows
 * them (ngx_http_mcp_metrics_output.c).  ngx_http_mcp_metrics.h has the
 * layout of the zones.
 *
 * What a request did is counted once, in the log phase, from what the
 * request ended with: its registry and route, method and status, the
 * cache's status, and what the registry's subrequest got (its time,
 * nginx's own $upstream_response_time, and how it failed).  The rest
 * comes through the hooks of ngx_http_mcp_metrics.h: the access
 * handler's outcome (an error_page clears what the log phase could read
 * of it), the cache's invalidations, the worker's Redis connection.
 *
 * A counter is an ngx_atomic_t at a place the configuration fixes (the
 * registry's index, the label's number): an update is one
 * ngx_atomic_fetch_add(), no lock, no hash.  No "mcp_metrics" anywhere:
 * no zone, no log handler, and every hook returns at once.
 */


#include "ngx_http_mcp_metrics.h"
#include "ngx_http_mcp_auth.h"

#include <time.h>


typedef struct {
    ngx_http_mcp_metrics_main_conf_t  *mcf;
    ngx_int_t                          index;   /* -1: the node's zone */
    void                              *data;    /* the counters */
} ngx_http_mcp_metrics_zone_t;


static void *ngx_http_mcp_metrics_create_main_conf(ngx_conf_t *cf);
static ngx_int_t ngx_http_mcp_metrics_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_mcp_metrics_add_zone(ngx_conf_t *cf,
    ngx_http_mcp_metrics_main_conf_t *mcf, ngx_str_t *name, ngx_int_t index,
    size_t size);
static ngx_int_t ngx_http_mcp_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_mcp_metrics_init_process(ngx_cycle_t *cycle);
static void ngx_http_mcp_metrics_exit_process(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_mcp_metrics_log_handler(ngx_http_request_t *r);
static ngx_http_mcp_registry_t *ngx_http_mcp_metrics_uri_registry(
    ngx_http_request_t *r);
static ngx_uint_t ngx_http_mcp_metrics_cache_result(ngx_str_t *status);
static void ngx_http_mcp_metrics_registry_answer(
    ngx_http_mcp_metrics_registry_t *c, ngx_http_mcp_ctx_t *ctx);
static char *ngx_http_mcp_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


static ngx_command_t  ngx_http_mcp_metrics_commands[] = {

    { ngx_string("mcp_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mcp_metrics,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_mcp_metrics_module_ctx = {
    ngx_http_mcp_audit_add_variables,      /* preconfiguration */
    ngx_http_mcp_metrics_postconfiguration, /* postconfiguration */

    ngx_http_mcp_metrics_create_main_conf, /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_mcp_metrics_module = {
    NGX_MODULE_V1,
    &ngx_http_mcp_metrics_module_ctx,      /* module context */
    ngx_http_mcp_metrics_commands,         /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_mcp_metrics_init_process,     /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_mcp_metrics_exit_process,     /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* the registry answer buckets, in ms, and the Redis ones, in us */

static ngx_msec_t  ngx_http_mcp_metrics_registry_bounds[] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000
};

static uint64_t  ngx_http_mcp_metrics_redis_bounds[] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
    500000, 1000000
};


/*
 * The worker's own: its zone and its gauges, set when it starts.  Hooks
 * that have no request (Redis, the kept invalidations) use them.
 */

static ngx_http_mcp_metrics_node_t    *ngx_http_mcp_metrics_node;
static ngx_http_mcp_metrics_worker_t  *ngx_http_mcp_metrics_self;


static void *
ngx_http_mcp_metrics_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_mcp_metrics_main_conf_t  *mcf;

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mcp_metrics_main_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mcf->enabled = 0;
     *     mcf->node = NULL;
     *     mcf->registries = NULL;
     *     mcf->ids = 0;
     *     mcf->id_keyed = 0;
     */

    mcf->cache_status = NGX_ERROR;
    mcf->request_id = NGX_ERROR;
    mcf->nginx_request_id = NGX_ERROR;

    return mcf;
}


/*
 * The zones, once the registries are known: their number and names make
 * the layout, so nobody sizes anything.
 */

static ngx_int_t
ngx_http_mcp_metrics_postconfiguration(ngx_conf_t *cf)
{
    size_t                             size;
    ngx_str_t                          name, var;
    ngx_uint_t                         i;
    ngx_http_handler_pt               *h;
    ngx_http_mcp_registry_t           *reg;
    ngx_http_mcp_main_conf_t          *mmcf;
    ngx_http_core_main_conf_t         *cmcf;
    ngx_http_mcp_metrics_main_conf_t  *mcf;

    if (ngx_http_mcp_audit_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mcp_metrics_module);

    if (!mcf->enabled) {
        return NGX_OK;
    }

    mcf->loaded = ngx_time();

    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mcp_module);

    mcf->nregistries = mmcf->registries.nelts;
    mcf->registries = ngx_pcalloc(cf->pool, (mcf->nregistries + 1)
                                  * sizeof(ngx_http_mcp_metrics_registry_t *));
    if (mcf->registries == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&name, "mcp_metrics");

    if (ngx_http_mcp_metrics_add_zone(cf, mcf, &name, -1,
                                      sizeof(ngx_http_mcp_metrics_node_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    reg = mmcf->registries.elts;

    for (i = 0; i < mcf->nregistries; i++) {
        size = sizeof("mcp_metrics:") - 1 + reg[i].name.len;

        name.data = ngx_pnalloc(cf->pool, size);
        if (name.data == NULL) {
            return NGX_ERROR;
        }

        name.len = ngx_sprintf(name.data, "mcp_metrics:%V", &reg[i].name)
                   - name.data;

        if (ngx_http_mcp_metrics_add_zone(cf, mcf, &name, reg[i].index,
                                       sizeof(ngx_http_mcp_metrics_registry_t))
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    /* the cache's status, whatever it says (a module of this .so) */

    ngx_str_set(&var, "mcp_cache_status");

    mcf->cache_status = ngx_http_get_variable_index(cf, &var);
    if (mcf->cache_status == NGX_ERROR) {
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_mcp_metrics_log_handler;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mcp_metrics_add_zone(ngx_conf_t *cf,
    ngx_http_mcp_metrics_main_conf_t *mcf, ngx_str_t *name, ngx_int_t index,
    size_t size)
{
    ngx_shm_zone_t               *shm_zone;
    ngx_http_mcp_metrics_zone_t  *zone;

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_mcp_metrics_zone_t));
    if (zone == NULL) {
        return NGX_ERROR;
    }

    zone->mcf = mcf;
    zone->index = index;

    /* the slab pool's own pages, then the counters' */

    size = 8 * ngx_pagesize + ngx_align(size, ngx_pagesize);

    shm_zone = ngx_shared_memory_add(cf, name, size,
                                     &ngx_http_mcp_metrics_module);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "shared zone \"%V\" is already used", name);
        return NGX_ERROR;
    }

    shm_zone->init = ngx_http_mcp_metrics_init_zone;
    shm_zone->data = zone;

    return NGX_OK;
}


/*
 * In the master, for each (re)load.  A zone nginx kept from the previous
 * cycle (same name, same size) keeps its counters: the old cycle's
 * workers go on adding to them until they exit, and nothing is lost.
 */

static ngx_int_t
ngx_http_mcp_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_mcp_metrics_zone_t *ozone = data;

    size_t                        size;
    ngx_atomic_t                 *magic;
    ngx_slab_pool_t              *shpool;
    ngx_http_mcp_metrics_zone_t  *zone;

    zone = shm_zone->data;

    size = (zone->index == -1) ? sizeof(ngx_http_mcp_metrics_node_t)
                               : sizeof(ngx_http_mcp_metrics_registry_t);

    if (ozone) {
        zone->data = ozone->data;

    } else {
        shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

        zone->data = ngx_slab_alloc(shpool, size);
        if (zone->data == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(zone->data, size);
        shpool->data = zone->data;

        /* the first thing of both layouts */
        magic = zone->data;
        *magic = NGX_HTTP_MCP_METRICS_MAGIC;
    }

    magic = zone->data;

    if (*magic != NGX_HTTP_MCP_METRICS_MAGIC) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "shared zone \"%V\" has another layout: restart nginx",
                      &shm_zone->shm.name);
        return NGX_ERROR;
    }

    if (zone->index == -1) {
        zone->mcf->node = zone->data;
        zone->mcf->registries[zone->mcf->nregistries] =
                                                  &zone->mcf->node->none;

    } else {
        zone->mcf->registries[zone->index] = zone->data;
    }

    return NGX_OK;
}


/* a worker claims its gauges: a free place, or a dead process's */

static ngx_int_t
ngx_http_mcp_metrics_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                         i;
    ngx_atomic_uint_t                  pid;
    ngx_http_mcp_metrics_node_t       *node;
    ngx_http_mcp_metrics_worker_t     *w;
    ngx_http_mcp_metrics_main_conf_t  *mcf;

    ngx_http_mcp_metrics_node = NULL;
    ngx_http_mcp_metrics_self = NULL;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    mcf = ngx_http_cycle_get_module_main_conf(cycle,
                                              ngx_http_mcp_metrics_module);

    if (mcf == NULL || mcf->node == NULL) {
        return NGX_OK;
    }

    node = mcf->node;
    ngx_http_mcp_metrics_node = node;

    for (i = 0; i < NGX_HTTP_MCP_METRICS_WORKERS; i++) {
        w = &node->workers[i];
        pid = w->pid;

        if (pid != 0
            && (kill((ngx_pid_t) pid, 0) == 0 || ngx_errno != NGX_ESRCH))
        {
            continue;
        }

        if (!ngx_atomic_cmp_set(&w->pid, pid, (ngx_atomic_uint_t) ngx_pid)) {
            continue;
        }

        w->worker = ngx_worker;
        w->redis = 0;
        w->seq = ngx_atomic_fetch_add(&node->seq, 1) + 1;

        ngx_http_mcp_metrics_self = w;

        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                  "mcp metrics: no place for the gauges of this worker");

    return NGX_OK;
}


static void
ngx_http_mcp_metrics_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_mcp_metrics_worker_t  *w;

    w = ngx_http_mcp_metrics_self;

    /* the hooks of modules that exit after this one do nothing */

    ngx_http_mcp_metrics_self = NULL;
    ngx_http_mcp_metrics_node = NULL;

    if (w) {
        w->redis = 0;
        w->pid = 0;
    }
}


/*
 * Every request to a registry route, once, at its end: whatever answered
 * it (the module, a refusal of the access phase, nginx itself), with the
 * status the client got.
 */

static ngx_int_t
ngx_http_mcp_metrics_log_handler(ngx_http_request_t *r)
{
    ngx_str_t                          cache;
    ngx_uint_t                         route, method, code, status;
    ngx_http_mcp_ctx_t                *ctx;
    ngx_http_variable_value_t         *v;
    ngx_http_mcp_loc_conf_t           *mlcf;
    ngx_http_mcp_registry_t           *reg;
    ngx_http_mcp_metrics_registry_t   *c;
    ngx_http_mcp_metrics_main_conf_t  *mcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mcp_module);

    if (r != r->main || (mlcf->registry == NULL && !mlcf->canonical)) {
        return NGX_OK;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_metrics_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_mcp_module);

    reg = (ctx && ctx->route.registry) ? ctx->route.registry : mlcf->registry;

    if (reg == NULL) {
        /* the canonical route, refused before the content phase */
        reg = ngx_http_mcp_metrics_uri_registry(r);
    }

    c = mcf->registries[reg ? reg->index : mcf->nregistries];

    route = mlcf->registry ? 0 : 1;

    switch (r->method) {
    case NGX_HTTP_GET:
        method = 0;
        break;
    case NGX_HTTP_HEAD:
        method = 1;
        break;
    case NGX_HTTP_PUT:
        method = 2;
        break;
    default:
        method = 3;
    }

    status = r->err_status ? r->err_status : r->headers_out.status;

    /* no status at all (nginx's "000"): no answer was made, a 5xx */

    code = (status >= 100 && status < 600) ? status / 100 - 1 : 4;

    v = ngx_http_get_indexed_variable(r, mcf->cache_status);

    if (v && !v->not_found && v->len) {
        cache.len = v->len;
        cache.data = v->data;

        (void) ngx_atomic_fetch_add(
                     &c->cache[ngx_http_mcp_metrics_cache_result(&cache)], 1);
    }

    if (ctx && ctx->sr && ctx->sr->done && reg) {
        ngx_http_mcp_metrics_registry_answer(c, ctx);
    }

    /* the last: a reader who sees the request sees what it did */

    (void) ngx_atomic_fetch_add(&c->requests[route][method][code], 1);

    return NGX_OK;
}


/* "<prefix>/mcp-servers/<registry>/<id>": the registry, if declared */

static ngx_http_mcp_registry_t *
ngx_http_mcp_metrics_uri_registry(ngx_http_request_t *r)
{
    u_char     *p, *end, *start;
    ngx_str_t   name;

    end = r->uri.data + r->uri.len;

    for (p = end; p > r->uri.data && p[-1] != '/'; p--) { /* void */ }

    if (p == r->uri.data) {
        return NULL;
    }

    end = p - 1;

    for (start = end; start > r->uri.data && start[-1] != '/'; start--) {
        /* void */
    }

    if ((size_t) (start - r->uri.data) < sizeof("/mcp-servers/") - 1
        || ngx_strncmp(start - (sizeof("/mcp-servers/") - 1),
                       "/mcp-servers/", sizeof("/mcp-servers/") - 1)
           != 0)
    {
        return NULL;
    }

    name.data = start;
    name.len = end - start;

    return ngx_http_mcp_registry_find(
               ngx_http_get_module_main_conf(r, ngx_http_mcp_module), &name);
}


/* $mcp_cache_status: the statuses of nginx's proxy_cache, and ERROR */

static ngx_uint_t
ngx_http_mcp_metrics_cache_result(ngx_str_t *status)
{
    ngx_uint_t  i;

    static ngx_str_t  names[] = {
        ngx_string("HIT"),
        ngx_string("MISS"),
        ngx_string("BYPASS"),
        ngx_string("EXPIRED"),
        ngx_string("STALE"),
        ngx_string("ERROR")
    };

    for (i = 0; i < NGX_HTTP_MCP_METRICS_CACHE_OTHER; i++) {
        if (status->len == names[i].len
            && ngx_strncasecmp(status->data, names[i].data, status->len) == 0)
        {
            return i;
        }
    }

    return NGX_HTTP_MCP_METRICS_CACHE_OTHER;
}


/*
 * The registry's subrequest is done: how long nginx's upstream took
 * ($upstream_response_time, every try), and how it failed, if it did.
 */

static void
ngx_http_mcp_metrics_registry_answer(ngx_http_mcp_metrics_registry_t *c,
    ngx_http_mcp_ctx_t *ctx)
{
    ngx_uint_t                  i, kind;
    ngx_msec_t                  ms;
    ngx_http_mcp_capture_t     *cap;
    ngx_http_upstream_state_t  *state;

    ms = 0;

    if (ctx->sr->upstream_states) {
        state = ctx->sr->upstream_states->elts;

        for (i = 0; i < ctx->sr->upstream_states->nelts; i++) {
            if (state[i].response_time != (ngx_msec_t) -1) {
                ms += state[i].response_time;
            }
        }
    }

    for (i = 0; i < NGX_HTTP_MCP_METRICS_REGISTRY_BUCKETS; i++) {
        if (ms <= ngx_http_mcp_metrics_registry_bounds[i]) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&c->latency[i], 1);
    (void) ngx_atomic_fetch_add(&c->latency_ms, ms);

    cap = &ctx->capture;

    if (!cap->from_registry) {
        kind = (cap->status == NGX_HTTP_GATEWAY_TIME_OUT)
               ? NGX_HTTP_MCP_METRICS_TIMEOUT : NGX_HTTP_MCP_METRICS_CONNECT;

    } else if (cap->status >= 500) {
        kind = NGX_HTTP_MCP_METRICS_HTTP_5XX;

    } else if (ctx->reply.status == NGX_HTTP_BAD_GATEWAY) {
        /* an answer the gateway could not use: not JSON, cut, too large */
        kind = NGX_HTTP_MCP_METRICS_BAD_ANSWER;

    } else {
        return;
    }

    (void) ngx_atomic_fetch_add(&c->failures[kind], 1);
}


static char *
ngx_http_mcp_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mcp_metrics_main_conf_t *mcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "is duplicate or combined with another content handler";
    }

    clcf->handler = ngx_http_mcp_metrics_handler;

    mcf->enabled = 1;

    return NGX_CONF_OK;
}


/* the hooks */

void
ngx_http_mcp_metrics_auth(ngx_http_request_t *r, ngx_uint_t status,
    ngx_uint_t cache)
{
    ngx_http_mcp_metrics_node_t       *node;
    ngx_http_mcp_metrics_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_metrics_module);
    node = mcf->node;

    if (node == NULL) {
        return;
    }

    if (status >= NGX_HTTP_MCP_AUTH_OK
        && status <= NGX_HTTP_MCP_AUTH_INSUFFICIENT_SCOPE)
    {
        (void) ngx_atomic_fetch_add(
                             &node->auth[status - NGX_HTTP_MCP_AUTH_OK], 1);
    }

    if (cache == NGX_HTTP_MCP_AUTH_CACHE_HIT) {
        (void) ngx_atomic_fetch_add(&node->token_cache[0], 1);

    } else if (cache == NGX_HTTP_MCP_AUTH_CACHE_MISS) {
        (void) ngx_atomic_fetch_add(&node->token_cache[1], 1);
    }
}


void
ngx_http_mcp_metrics_invalidation(ngx_http_request_t *r,
    ngx_http_mcp_registry_t *reg, ngx_uint_t ok)
{
    ngx_http_mcp_metrics_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_metrics_module);

    if (mcf->node == NULL || reg == NULL) {
        return;
    }

    (void) ngx_atomic_fetch_add(
                       &mcf->registries[reg->index]->invalidations[ok ? 0 : 1],
                       1);
}


void
ngx_http_mcp_metrics_invalidation_replayed(void)
{
    if (ngx_http_mcp_metrics_node) {
        (void) ngx_atomic_fetch_add(&ngx_http_mcp_metrics_node->replayed, 1);
    }
}


void
ngx_http_mcp_metrics_cache_l1_hit(void)
{
    if (ngx_http_mcp_metrics_node) {
        (void) ngx_atomic_fetch_add(&ngx_http_mcp_metrics_node->l1_hits, 1);
    }
}


void
ngx_http_mcp_metrics_invalidations_pending(ngx_uint_t n)
{
    if (ngx_http_mcp_metrics_node) {
        ngx_http_mcp_metrics_node->pending = n;
    }
}


void
ngx_http_mcp_metrics_redis_up(ngx_uint_t up)
{
    if (ngx_http_mcp_metrics_self) {
        ngx_http_mcp_metrics_self->redis = up ? 2 : 1;
    }
}


uint64_t
ngx_http_mcp_metrics_clock(void)
{
    struct timespec  ts;

    if (ngx_http_mcp_metrics_node == NULL
        || clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
    {
        return 0;
    }

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000 + 1;
}


void
ngx_http_mcp_metrics_redis_command(uint64_t start, ngx_uint_t ok)
{
    uint64_t                      us;
    ngx_uint_t                    i;
    ngx_http_mcp_metrics_node_t  *node;

    node = ngx_http_mcp_metrics_node;

    if (node == NULL || start == 0) {
        return;
    }

    us = ngx_http_mcp_metrics_clock();
    us = (us > start) ? us - start : 0;

    for (i = 0; i < NGX_HTTP_MCP_METRICS_REDIS_BUCKETS; i++) {
        if (us <= ngx_http_mcp_metrics_redis_bounds[i]) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&node->redis_latency[i], 1);
    (void) ngx_atomic_fetch_add(&node->redis_latency_us, us);
    (void) ngx_atomic_fetch_add(&node->redis_commands[ok ? 0 : 1], 1);
}
