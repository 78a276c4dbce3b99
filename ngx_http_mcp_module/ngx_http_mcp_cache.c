
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * ngx_http_mcp_cache_module: the Redis cache of GET answers (issue #5),
 * a module of its own in the same shared object.  docs/cache.md has the
 * protocol; in short, every key of one server shares the hash tag
 * "{registry:id}":
 *
 *   <prefix>{<registry>:<id>}:gen          the server's generation
 *   <prefix>{<registry>:<id>}:entries      hash: <sha1 of the key> ->
 *                                          "<status> <expiry ms>", and
 *                                          <sha1>:b -> the client's body
 *   <prefix>{<registry>:<id>}:lock:<sha1>  a miss being fetched
 *
 * A lookup reads the generation and the entry in one script (and takes
 * the lock on a miss); a store writes the entry only if the generation is
 * still the one its lookup saw; a PUT the registry accepted bumps the
 * generation and drops the entries, before the client gets the answer.
 * Redis failing never fails a request: the answer comes from upstream.
 */


#include "ngx_http_mcp_module.h"
#include "ngx_http_mcp_redis.h"


/* between two lookups while another request fetches the same entry */
#define NGX_HTTP_MCP_CACHE_POLL         20

/* invalidations kept (per worker) while Redis cannot be reached */
#define NGX_HTTP_MCP_CACHE_STALE_MAX    1024

#define NGX_HTTP_MCP_CACHE_PASSWORD_MAX 1024


typedef enum {
    NGX_HTTP_MCP_CACHE_NONE = 0,
    NGX_HTTP_MCP_CACHE_HIT,
    NGX_HTTP_MCP_CACHE_MISS,
    NGX_HTTP_MCP_CACHE_BYPASS,
    NGX_HTTP_MCP_CACHE_ERROR
} ngx_http_mcp_cache_status_e;


enum {
    NGX_HTTP_MCP_CACHE_LOOKUP = 0,
    NGX_HTTP_MCP_CACHE_STORE,
    NGX_HTTP_MCP_CACHE_INVALIDATE,
    NGX_HTTP_MCP_CACHE_NSCRIPTS
};


/* the arguments of the scripts: keys first */

enum {
    NGX_HTTP_MCP_CACHE_KEY_GEN = 0,
    NGX_HTTP_MCP_CACHE_KEY_ENTRIES,
    NGX_HTTP_MCP_CACHE_KEY_LOCK,
    NGX_HTTP_MCP_CACHE_ARG_FIELD,
    NGX_HTTP_MCP_CACHE_NARGS = 9
};


typedef struct {
    ngx_http_mcp_redis_conf_t       redis;      /* name.len 0: no cache */
    ngx_str_t                       prefix;

    ngx_http_complex_value_t       *default_key;
    ngx_int_t                       sub_index;  /* $mcp_jwt_sub */

    ngx_http_mcp_redis_script_t     scripts[NGX_HTTP_MCP_CACHE_NSCRIPTS];

    /* per worker */
    ngx_http_mcp_redis_t           *rds;
    ngx_queue_t                     stale;      /* invalidations to retry */
    ngx_uint_t                      nstale;
} ngx_http_mcp_cache_main_conf_t;


typedef struct {
    ngx_flag_t                      enable;
    ngx_msec_t                      ttl;
    ngx_http_complex_value_t       *key;
    ngx_array_t                    *statuses;   /* ngx_uint_t */
    ngx_flag_t                      bypass;
    ngx_str_t                       header;
    ngx_flag_t                      lock;
    ngx_msec_t                      lock_timeout;
    size_t                          max_size;
} ngx_http_mcp_cache_loc_conf_t;


typedef struct {
    ngx_http_request_t             *request;
    ngx_http_mcp_ctx_t             *ctx;

    ngx_http_mcp_redis_cmd_t       *cmd;        /* the command under way */
    ngx_event_t                     wait;       /* another one fetches */
    ngx_msec_t                      deadline;

    /* the scripts' arguments: they live as long as the request */
    ngx_str_t                       args[NGX_HTTP_MCP_CACHE_NARGS];

    /* HMGET <entries> <field> <field>:b, a hit's only command */
    ngx_str_t                       probe[4];

    ngx_str_t                       gen;        /* seen by the lookup */
    ngx_str_t                       token;      /* of the lock */

    ngx_uint_t                      status;     /* ngx_http_mcp_cache_... */
    ngx_table_elt_t                *header;

    unsigned                        have_gen:1;
    unsigned                        locked:1;   /* this request's lock */
    unsigned                        store:1;    /* the answer is kept */
} ngx_http_mcp_cache_ctx_t;


/* an invalidation that could not be done, kept for when Redis is back */

typedef struct {
    ngx_queue_t                     queue;
    ngx_http_mcp_cache_main_conf_t *mcf;
    ngx_str_t                       keys[2];
    unsigned                        sending:1;
} ngx_http_mcp_cache_stale_t;


static ngx_int_t ngx_http_mcp_cache_init_ctx(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_cache_ctx_t **cctxp);
static ngx_int_t ngx_http_mcp_cache_field(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx);
static ngx_uint_t ngx_http_mcp_cache_no_cache(ngx_http_request_t *r);
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
static ngx_int_t ngx_http_mcp_cache_store(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_http_mcp_cache_ctx_t *cctx);
static void ngx_http_mcp_cache_store_done(void *data, redisReply *reply);
static ngx_int_t ngx_http_mcp_cache_invalidate(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx);
static void ngx_http_mcp_cache_invalidate_done(void *data,
    redisReply *reply);
static void ngx_http_mcp_cache_resume(ngx_http_mcp_cache_ctx_t *cctx);
static ngx_http_mcp_cache_stale_t *ngx_http_mcp_cache_stale_find(
    ngx_http_mcp_cache_main_conf_t *mcf, ngx_str_t *gen);
static void ngx_http_mcp_cache_stale_add(ngx_http_mcp_cache_main_conf_t *mcf,
    ngx_http_request_t *r, ngx_http_mcp_cache_ctx_t *cctx);
static void ngx_http_mcp_cache_stale_flush(ngx_http_mcp_redis_t *rds,
    void *data);
static void ngx_http_mcp_cache_stale_done(void *data, redisReply *reply);
static void ngx_http_mcp_cache_set_status(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx, ngx_uint_t status);
static void ngx_http_mcp_cache_cleanup(void *data);
static ngx_int_t ngx_http_mcp_cache_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

static ngx_int_t ngx_http_mcp_cache_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_mcp_cache_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_mcp_cache_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_mcp_cache_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_mcp_cache_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_mcp_cache_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_mcp_cache_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mcp_cache_read_password(ngx_conf_t *cf,
    ngx_str_t *name, ngx_str_t *password);
static char *ngx_http_mcp_cache_prefix(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mcp_cache_statuses(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_mcp_cache_init_process(ngx_cycle_t *cycle);
static void ngx_http_mcp_cache_exit_process(ngx_cycle_t *cycle);
static void ngx_http_mcp_cache_pool_cleanup(void *data);


/*
 * KEYS: gen, entries, lock; ARGV: field, mode (l: lookup and lock on a
 * miss, n: lookup, b: the generation only), lock ms, lock token.
 * Returns {gen, "H", status, body} (hit), {gen, "L"} (miss, locked),
 * {gen, "W"} (miss, locked by another) or {gen, "M"} (miss).
 */

static ngx_str_t  ngx_http_mcp_cache_lookup_script = ngx_string(
"local t = redis.call('TIME')\n"
"local g = redis.call('GET', KEYS[1])\n"
"if not g then\n"
"  g = t[1] .. string.format('%06d', t[2])\n"
"  redis.call('SET', KEYS[1], g, 'PX', 86400000)\n"
"end\n"
"if ARGV[2] == 'b' then\n"
"  return {g, 'M'}\n"
"end\n"
"local e = redis.call('HMGET', KEYS[2], ARGV[1], ARGV[1] .. ':b')\n"
"if e[1] then\n"
"  local s, x = string.match(e[1], '^(%d+) (%d+)$')\n"
"  if x and e[2] and tonumber(x) > t[1] * 1000 + math.floor(t[2] / 1000)"
" then\n"
"    return {g, 'H', s, e[2]}\n"
"  end\n"
"  redis.call('HDEL', KEYS[2], ARGV[1], ARGV[1] .. ':b')\n"
"end\n"
"if ARGV[2] == 'l' then\n"
"  if redis.call('SET', KEYS[3], ARGV[4], 'NX', 'PX', ARGV[3]) then\n"
"    return {g, 'L'}\n"
"  end\n"
"  return {g, 'W'}\n"
"end\n"
"return {g, 'M'}\n");


/*
 * KEYS: gen, entries, lock; ARGV: field, the generation the lookup saw,
 * ttl ms (0: only unlock), status, body, lock token (or "").
 * Returns 1 if stored.
 */

static ngx_str_t  ngx_http_mcp_cache_store_script = ngx_string(
"if ARGV[6] ~= '' and redis.call('GET', KEYS[3]) == ARGV[6] then\n"
"  redis.call('DEL', KEYS[3])\n"
"end\n"
"if ARGV[3] == '0' or redis.call('GET', KEYS[1]) ~= ARGV[2] then\n"
"  return 0\n"
"end\n"
"local t = redis.call('TIME')\n"
"local ttl = tonumber(ARGV[3])\n"
"local x = t[1] * 1000 + math.floor(t[2] / 1000) + ttl\n"
"redis.call('HSET', KEYS[2], ARGV[1], ARGV[4] .. ' ' .. "
"string.format('%d', x), ARGV[1] .. ':b', ARGV[5])\n"
"if redis.call('PTTL', KEYS[2]) < ttl then\n"
"  redis.call('PEXPIRE', KEYS[2], ttl)\n"
"end\n"
"return 1\n");


/* KEYS: gen, entries */

static ngx_str_t  ngx_http_mcp_cache_invalidate_script = ngx_string(
"if redis.call('EXISTS', KEYS[1]) == 1 then\n"
"  redis.call('INCR', KEYS[1])\n"
"  redis.call('PEXPIRE', KEYS[1], 86400000)\n"
"else\n"
"  local t = redis.call('TIME')\n"
"  redis.call('SET', KEYS[1], t[1] .. string.format('%06d', t[2]), "
"'PX', 86400000)\n"
"end\n"
"redis.call('UNLINK', KEYS[2])\n"
"return 1\n");


static ngx_str_t  ngx_http_mcp_cache_status_names[] = {
    ngx_null_string,
    ngx_string("HIT"),
    ngx_string("MISS"),
    ngx_string("BYPASS"),
    ngx_string("ERROR")
};


/* the default key ($mcp_jwt_* come with the auth module, in this .so) */

static ngx_str_t  ngx_http_mcp_cache_default_key = ngx_string(
    "$mcp_registry:$mcp_server_id:$mcp_view:$mcp_jwt_iss:$mcp_jwt_sub:"
    "$mcp_registry_args");


static ngx_command_t  ngx_http_mcp_cache_commands[] = {

    { ngx_string("mcp_cache_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_mcp_cache_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mcp_cache_redis_connect_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mcp_cache_main_conf_t, redis.connect_timeout),
      NULL },

    { ngx_string("mcp_cache_redis_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mcp_cache_main_conf_t, redis.timeout),
      NULL },

    { ngx_string("mcp_cache_key_prefix"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_mcp_cache_prefix,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mcp_cache"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_cache_loc_conf_t, enable),
      NULL },

    { ngx_string("mcp_cache_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_cache_loc_conf_t, ttl),
      NULL },

    { ngx_string("mcp_cache_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_cache_loc_conf_t, key),
      NULL },

    { ngx_string("mcp_cache_statuses"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_mcp_cache_statuses,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mcp_cache_bypass_no_cache"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_cache_loc_conf_t, bypass),
      NULL },

    { ngx_string("mcp_cache_status_header"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_cache_loc_conf_t, header),
      NULL },

    { ngx_string("mcp_cache_lock"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_cache_loc_conf_t, lock),
      NULL },

    { ngx_string("mcp_cache_lock_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_cache_loc_conf_t, lock_timeout),
      NULL },

    { ngx_string("mcp_cache_max_entry_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_cache_loc_conf_t, max_size),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_mcp_cache_module_ctx = {
    ngx_http_mcp_cache_add_variables,      /* preconfiguration */
    ngx_http_mcp_cache_postconfiguration,  /* postconfiguration */

    ngx_http_mcp_cache_create_main_conf,   /* create main configuration */
    ngx_http_mcp_cache_init_main_conf,     /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_mcp_cache_create_loc_conf,    /* create location configuration */
    ngx_http_mcp_cache_merge_loc_conf      /* merge location configuration */
};


ngx_module_t  ngx_http_mcp_cache_module = {
    NGX_MODULE_V1,
    &ngx_http_mcp_cache_module_ctx,        /* module context */
    ngx_http_mcp_cache_commands,           /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_mcp_cache_init_process,       /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_mcp_cache_exit_process,       /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_str_t  ngx_http_mcp_cache_status_var_name =
    ngx_string("mcp_cache_status");


/*
 * Returns NGX_DECLINED (go to the registry), NGX_OK (ctx->status and
 * ctx->out hold the cached answer), NGX_AGAIN (a lookup is under way: it
 * calls ngx_http_mcp_next() when done) or NGX_ERROR.
 *
 * GET and HEAD are looked up (the registry is always asked with GET, so a
 * HEAD miss stores the whole answer too); a request with "Cache-Control:
 * no-cache" or "Pragma: no-cache" skips the lookup and refreshes the entry
 * (mcp_cache_bypass_no_cache).  Redis failing is a miss that is not stored
 * ("ERROR").
 */

ngx_int_t
ngx_http_mcp_cache_lookup(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx)
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

    rc = ngx_http_mcp_cache_init_ctx(r, ctx, &cctx);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_mcp_cache_field(r, cctx) != NGX_OK) {
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
     * this worker could not invalidate the server after a PUT: what Redis
     * holds for it may be stale, so it is neither served nor refreshed
     * until the invalidation went through
     */

    if (mcf->nstale
        && ngx_http_mcp_cache_stale_find(mcf,
                                &cctx->args[NGX_HTTP_MCP_CACHE_KEY_GEN]))
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "mcp cache: invalidation pending, no lookup");

        ngx_http_mcp_cache_set_status(r, cctx, NGX_HTTP_MCP_CACHE_ERROR);
        return NGX_DECLINED;
    }

    cctx->deadline = ngx_current_msec + lcf->lock_timeout;

    rc = ngx_http_mcp_cache_send_lookup(r, cctx);

    if (rc == NGX_DECLINED) {
        ngx_http_mcp_cache_set_status(r, cctx, NGX_HTTP_MCP_CACHE_ERROR);
    }

    return rc;
}


/*
 * After the answer is built: stores a GET answer, or invalidates the
 * server's entries after a PUT the registry accepted.  Returns NGX_OK,
 * NGX_AGAIN (ngx_http_mcp_next() is called when done) or NGX_ERROR.
 *
 * A PUT invalidates wherever "mcp_cache_redis" is set, also in locations
 * with "mcp_cache off", so that no location serves what another changed;
 * the client gets its answer only once the invalidation is done, or
 * failed (then it is logged, and retried when Redis is back).
 */

ngx_int_t
ngx_http_mcp_cache_update(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx)
{
    ngx_http_mcp_cache_ctx_t        *cctx;
    ngx_http_mcp_cache_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_cache_module);

    if (mcf->redis.name.len == 0) {
        return NGX_OK;
    }

    if (r->method == NGX_HTTP_PUT) {
        if (ctx->status < 200 || ctx->status > 299) {
            return NGX_OK;
        }

        return ngx_http_mcp_cache_invalidate(r, ctx);
    }

    cctx = ngx_http_get_module_ctx(r, ngx_http_mcp_cache_module);

    if (cctx == NULL || !cctx->have_gen
        || cctx->status == NGX_HTTP_MCP_CACHE_HIT)
    {
        return NGX_OK;
    }

    return ngx_http_mcp_cache_store(r, ctx, cctx);
}


static ngx_int_t
ngx_http_mcp_cache_init_ctx(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_cache_ctx_t **cctxp)
{
    u_char                          *p;
    size_t                           len;
    ngx_str_t                       *args, *name, *id;
    ngx_http_cleanup_t              *cln;
    ngx_http_mcp_cache_ctx_t        *cctx;
    ngx_http_mcp_cache_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_cache_module);

    cctx = ngx_pcalloc(r->pool, sizeof(ngx_http_mcp_cache_ctx_t));
    if (cctx == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_mcp_cache_cleanup;
    cln->data = cctx;

    cctx->request = r;
    cctx->ctx = ctx;

    cctx->wait.handler = ngx_http_mcp_cache_wait_handler;
    cctx->wait.data = cctx;
    cctx->wait.log = r->connection->log;

    /* "<prefix>{<registry>:<id>}:" then "gen", "entries", "lock:<sha1>" */

    name = &ctx->route.registry->name;
    id = &ctx->route.id;
    args = cctx->args;

    len = mcf->prefix.len + name->len + id->len + sizeof("{:}:") - 1;

    p = ngx_pnalloc(r->pool, 3 * len + sizeof("genentrieslock:") - 1 + 40);
    if (p == NULL) {
        return NGX_ERROR;
    }

    args[NGX_HTTP_MCP_CACHE_KEY_GEN].data = p;
    p = ngx_sprintf(p, "%V{%V:%V}:gen", &mcf->prefix, name, id);
    args[NGX_HTTP_MCP_CACHE_KEY_GEN].len =
                                   p - args[NGX_HTTP_MCP_CACHE_KEY_GEN].data;

    args[NGX_HTTP_MCP_CACHE_KEY_ENTRIES].data = p;
    p = ngx_sprintf(p, "%V{%V:%V}:entries", &mcf->prefix, name, id);
    args[NGX_HTTP_MCP_CACHE_KEY_ENTRIES].len =
                               p - args[NGX_HTTP_MCP_CACHE_KEY_ENTRIES].data;

    /* the lock key gets the entry's field in ngx_http_mcp_cache_field() */

    args[NGX_HTTP_MCP_CACHE_KEY_LOCK].data = p;
    p = ngx_sprintf(p, "%V{%V:%V}:lock:", &mcf->prefix, name, id);
    args[NGX_HTTP_MCP_CACHE_KEY_LOCK].len =
                                  p - args[NGX_HTTP_MCP_CACHE_KEY_LOCK].data;

    ngx_http_set_ctx(r, cctx, ngx_http_mcp_cache_module);

    *cctxp = cctx;

    return NGX_OK;
}


/*
 * The entry's field: the SHA-1 of the evaluated mcp_cache_key.  With the
 * default key and no authenticated subject, the Authorization header the
 * registry sees is part of it too: callers who present different
 * credentials never share an entry (it is hashed, never stored).
 */

static ngx_int_t
ngx_http_mcp_cache_field(ngx_http_request_t *r, ngx_http_mcp_cache_ctx_t *cctx)
{
    u_char                          *p;
    ngx_str_t                        key, *lock;
    ngx_sha1_t                       sha1;
    ngx_http_complex_value_t        *cv;
    ngx_http_variable_value_t       *sub;
    ngx_http_mcp_cache_loc_conf_t   *lcf;
    ngx_http_mcp_cache_main_conf_t  *mcf;
    u_char                           hash[20];

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_cache_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_mcp_cache_module);

    cv = lcf->key ? lcf->key : mcf->default_key;

    if (ngx_http_complex_value(r, cv, &key) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mcp cache key: \"%V\"", &key);

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, key.data, key.len);

    if (lcf->key == NULL) {
        sub = ngx_http_get_indexed_variable(r, mcf->sub_index);

        if ((sub == NULL || sub->not_found || sub->len == 0)
            && r->headers_in.authorization)
        {
            ngx_sha1_update(&sha1, "\0authorization:", 15);
            ngx_sha1_update(&sha1, r->headers_in.authorization->value.data,
                            r->headers_in.authorization->value.len);
        }
    }

    ngx_sha1_final(hash, &sha1);

    p = ngx_pnalloc(r->pool, 2 * sizeof(hash) + sizeof(":b") - 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    cctx->args[NGX_HTTP_MCP_CACHE_ARG_FIELD].data = p;
    cctx->args[NGX_HTTP_MCP_CACHE_ARG_FIELD].len = 2 * sizeof(hash);

    ngx_memcpy(ngx_hex_dump(p, hash, sizeof(hash)), ":b", sizeof(":b") - 1);

    ngx_str_set(&cctx->probe[0], "HMGET");
    cctx->probe[1] = cctx->args[NGX_HTTP_MCP_CACHE_KEY_ENTRIES];
    cctx->probe[2] = cctx->args[NGX_HTTP_MCP_CACHE_ARG_FIELD];
    cctx->probe[3].data = p;
    cctx->probe[3].len = 2 * sizeof(hash) + sizeof(":b") - 1;

    /* the lock key was allocated with room for the field */

    lock = &cctx->args[NGX_HTTP_MCP_CACHE_KEY_LOCK];
    lock->len = ngx_cpymem(lock->data + lock->len, p, 2 * sizeof(hash))
                - lock->data;

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
        || !ngx_http_mcp_redis_scripts_work(mcf->rds))
    {
        return ngx_http_mcp_cache_send_script(r, cctx);
    }

    cctx->cmd = ngx_http_mcp_redis_command(mcf->rds, 4, cctx->probe,
                                           ngx_http_mcp_cache_probe_done,
                                           cctx);
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
        ngx_http_mcp_cache_set_status(r, cctx, NGX_HTTP_MCP_CACHE_ERROR);
        cctx->have_gen = 0;
    }

    ngx_http_mcp_cache_lookup_end(cctx, rc);
}


/*
 * NGX_OK: a hit; NGX_DECLINED: anything else, for the script to decide.
 * The entry's expiry is in Redis's clock (the store script reads TIME);
 * it is compared with this node's: nodes and Redis keep their clocks in
 * step (NTP), and an entry lives at most the skew longer or shorter.
 */

static ngx_int_t
ngx_http_mcp_cache_probed(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx, redisReply *reply)
{
    u_char       *p, *last, *sp;
    off_t         expiry;
    ngx_time_t   *tp;
    redisReply  **e;

    e = reply->element;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || e[0]->type != REDIS_REPLY_STRING
        || e[1]->type != REDIS_REPLY_STRING)
    {
        return NGX_DECLINED;
    }

    p = (u_char *) e[0]->str;
    last = p + e[0]->len;

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

    return ngx_http_mcp_cache_hit(r, cctx, e[0], e[1]);
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

    args = cctx->args;

    if (cctx->status == NGX_HTTP_MCP_CACHE_BYPASS) {
        ngx_str_set(&args[4], "b");

    } else if (lcf->lock && ngx_current_msec < cctx->deadline) {
        ngx_str_set(&args[4], "l");

    } else {
        ngx_str_set(&args[4], "n");
    }

    if (args[5].data == NULL) {
        p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        args[5].data = p;
        args[5].len = ngx_sprintf(p, "%M", lcf->lock_timeout) - p;

        /* unique among the requests of every worker of every node */

        p = ngx_pnalloc(r->pool, 4 * NGX_INT64_LEN + 3);
        if (p == NULL) {
            return NGX_ERROR;
        }

        cctx->token.data = p;
        cctx->token.len = ngx_sprintf(p, "%P.%uA.%M.%uL", ngx_pid,
                                      r->connection->number, ngx_current_msec,
                                      (uint64_t) ngx_random())
                          - p;
        args[6] = cctx->token;
    }

    cctx->cmd = ngx_http_mcp_redis_eval(mcf->rds,
                                    &mcf->scripts[NGX_HTTP_MCP_CACHE_LOOKUP],
                                    3, 7, args,
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
 * way; NGX_OK, a hit, to be sent; NGX_DECLINED, to the registry.
 */

static void
ngx_http_mcp_cache_lookup_end(ngx_http_mcp_cache_ctx_t *cctx, ngx_int_t rc)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    switch (rc) {

    case NGX_AGAIN:
        return;

    case NGX_OK:
        cctx->ctx->phase = NGX_HTTP_MCP_PHASE_SEND;
        break;

    case NGX_ERROR:
        r = cctx->request;
        c = r->connection;

        cctx->ctx->phase = NGX_HTTP_MCP_PHASE_DONE;
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        ngx_http_run_posted_requests(c);
        return;

    default: /* NGX_DECLINED */
        break;
    }

    ngx_http_mcp_cache_resume(cctx);
}


/*
 * NGX_OK: a hit, in ctx->status and ctx->out; NGX_DECLINED: a miss;
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
        ngx_http_mcp_cache_set_status(r, cctx, NGX_HTTP_MCP_CACHE_ERROR);
        cctx->have_gen = 0;
        return NGX_DECLINED;
    }

    e = reply->element;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2
        || e[0]->type != REDIS_REPLY_STRING || e[0]->len == 0
        || e[1]->type != REDIS_REPLY_STRING || e[1]->len != 1)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mcp cache: unexpected lookup reply from redis");
        ngx_http_mcp_cache_set_status(r, cctx, NGX_HTTP_MCP_CACHE_ERROR);
        cctx->have_gen = 0;
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

    cctx->have_gen = 1;

    switch (e[1]->str[0]) {

    case 'H':
        if (reply->elements != 4) {
            break;
        }

        rc = ngx_http_mcp_cache_hit(r, cctx, e[2], e[3]);

        if (rc != NGX_DECLINED) {
            return rc;
        }

        break;

    case 'L':
        cctx->locked = 1;
        return NGX_DECLINED;

    case 'M':
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

    ngx_http_mcp_cache_set_status(r, cctx, NGX_HTTP_MCP_CACHE_ERROR);
    cctx->have_gen = 0;

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

    cctx->ctx->status = code;
    cctx->ctx->out = cl;

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
        ngx_http_mcp_cache_set_status(cctx->request, cctx,
                                      NGX_HTTP_MCP_CACHE_ERROR);
        cctx->have_gen = 0;
    }

    ngx_http_mcp_cache_lookup_end(cctx, rc);
}


static ngx_int_t
ngx_http_mcp_cache_store(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx,
    ngx_http_mcp_cache_ctx_t *cctx)
{
    u_char                          *p;
    size_t                           size;
    ngx_str_t                       *args;
    ngx_uint_t                       i, *status;
    ngx_chain_t                     *cl;
    ngx_http_mcp_cache_loc_conf_t   *lcf;
    ngx_http_mcp_cache_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_cache_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_mcp_cache_module);

    size = 0;

    for (cl = ctx->out; cl; cl = cl->next) {
        size += ngx_buf_size(cl->buf);
    }

    if (lcf->statuses == NULL) {
        cctx->store = (ctx->status == NGX_HTTP_OK);

    } else {
        status = lcf->statuses->elts;

        for (i = 0; i < lcf->statuses->nelts; i++) {
            if (status[i] == ctx->status) {
                cctx->store = 1;
                break;
            }
        }
    }

    if (size > lcf->max_size) {
        cctx->store = 0;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mcp cache store: status:%ui size:%uz store:%ui",
                   ctx->status, size, (ngx_uint_t) cctx->store);

    if (!cctx->store && !cctx->locked) {
        return NGX_OK;
    }

    args = cctx->args;

    args[4] = cctx->gen;
    ngx_str_set(&args[5], "0");
    ngx_str_null(&args[6]);
    ngx_str_null(&args[7]);
    args[8] = cctx->token;

    if (!cctx->locked) {
        ngx_str_null(&args[8]);
    }

    if (cctx->store) {
        p = ngx_pnalloc(r->pool, 2 * NGX_INT_T_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        args[5].data = p;
        p = ngx_sprintf(p, "%M", lcf->ttl);
        args[5].len = p - args[5].data;

        args[6].data = p;
        p = ngx_sprintf(p, "%ui", ctx->status);
        args[6].len = p - args[6].data;

        /* the client's answer, as it is sent: already redacted */

        if (ctx->out && ctx->out->next == NULL) {
            args[7].data = ctx->out->buf->pos;
            args[7].len = size;

        } else if (size) {
            p = ngx_pnalloc(r->pool, size);
            if (p == NULL) {
                return NGX_ERROR;
            }

            args[7].data = p;

            for (cl = ctx->out; cl; cl = cl->next) {
                p = ngx_cpymem(p, cl->buf->pos, ngx_buf_size(cl->buf));
            }

            args[7].len = size;

        } else {
            ngx_str_set(&args[7], "");
        }
    }

    if (args[7].data == NULL) {
        ngx_str_set(&args[7], "");
    }

    if (args[8].data == NULL) {
        ngx_str_set(&args[8], "");
    }

    cctx->cmd = ngx_http_mcp_redis_eval(mcf->rds,
                                        &mcf->scripts[NGX_HTTP_MCP_CACHE_STORE],
                                        3, 9, args,
                                        ngx_http_mcp_cache_store_done, cctx);
    if (cctx->cmd == NULL) {
        if (cctx->store) {
            ngx_http_mcp_cache_set_status(r, cctx, NGX_HTTP_MCP_CACHE_ERROR);
        }

        return NGX_OK;
    }

    return NGX_AGAIN;
}


static void
ngx_http_mcp_cache_store_done(void *data, redisReply *reply)
{
    ngx_http_mcp_cache_ctx_t *cctx = data;

    ngx_http_request_t  *r;

    cctx->cmd = NULL;
    r = cctx->request;

    if (reply == NULL) {
        if (cctx->store) {
            ngx_http_mcp_cache_set_status(r, cctx, NGX_HTTP_MCP_CACHE_ERROR);
        }

    } else {
        /* the lock, if any, is released whatever the result */
        cctx->locked = 0;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "mcp cache stored: %i",
                       reply->type == REDIS_REPLY_INTEGER
                       ? (ngx_int_t) reply->integer : -1);
    }

    ngx_http_mcp_cache_resume(cctx);
}


static ngx_int_t
ngx_http_mcp_cache_invalidate(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx)
{
    ngx_int_t                        rc;
    ngx_http_mcp_cache_ctx_t        *cctx;
    ngx_http_mcp_cache_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_cache_module);

    rc = ngx_http_mcp_cache_init_ctx(r, ctx, &cctx);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mcp cache invalidate \"%V\", \"%V\"",
                   &cctx->args[NGX_HTTP_MCP_CACHE_KEY_GEN],
                   &cctx->args[NGX_HTTP_MCP_CACHE_KEY_ENTRIES]);

    cctx->cmd = ngx_http_mcp_redis_eval(mcf->rds,
                                &mcf->scripts[NGX_HTTP_MCP_CACHE_INVALIDATE],
                                2, 2, cctx->args,
                                ngx_http_mcp_cache_invalidate_done, cctx);
    if (cctx->cmd == NULL) {
        ngx_http_mcp_cache_stale_add(mcf, r, cctx);
        return NGX_OK;
    }

    return NGX_AGAIN;
}


static void
ngx_http_mcp_cache_invalidate_done(void *data, redisReply *reply)
{
    ngx_http_mcp_cache_ctx_t *cctx = data;

    ngx_http_request_t              *r;
    ngx_http_mcp_cache_main_conf_t  *mcf;

    cctx->cmd = NULL;
    r = cctx->request;

    if (reply == NULL) {
        mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_cache_module);
        ngx_http_mcp_cache_stale_add(mcf, r, cctx);
    }

    ngx_http_mcp_cache_resume(cctx);
}


/* a Redis step is done: the phase machine goes on */

static void
ngx_http_mcp_cache_resume(ngx_http_mcp_cache_ctx_t *cctx)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = cctx->request;
    c = r->connection;

    ngx_http_mcp_next(r, cctx->ctx);

    /* the registry's subrequest, if one was started */
    ngx_http_run_posted_requests(c);
}


/*
 * An invalidation failed: the entries of the server may be served until
 * their TTL ends, unless Redis lost them anyway.  It is logged for every
 * PUT, and retried (by this worker) as soon as Redis answers again.
 */

static void
ngx_http_mcp_cache_stale_add(ngx_http_mcp_cache_main_conf_t *mcf,
    ngx_http_request_t *r, ngx_http_mcp_cache_ctx_t *cctx)
{
    u_char                      *p;
    ngx_str_t                   *keys;
    ngx_queue_t                 *q;
    ngx_http_mcp_cache_stale_t  *st;

    keys = &cctx->args[NGX_HTTP_MCP_CACHE_KEY_GEN];

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "mcp cache: could not invalidate \"%V\" after a PUT, "
                  "cached answers of %V:%V may be stale until redis "
                  "answers again", &keys[0], &cctx->ctx->route.registry->name,
                  &cctx->ctx->route.id);

    if (ngx_http_mcp_cache_stale_find(mcf, &keys[0])) {
        return;
    }

    if (mcf->nstale >= NGX_HTTP_MCP_CACHE_STALE_MAX) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "mcp cache: more than %d invalidations wait for "
                      "redis, the oldest is dropped",
                      NGX_HTTP_MCP_CACHE_STALE_MAX);

        for (q = ngx_queue_head(&mcf->stale);
             q != ngx_queue_sentinel(&mcf->stale);
             q = ngx_queue_next(q))
        {
            st = ngx_queue_data(q, ngx_http_mcp_cache_stale_t, queue);

            if (!st->sending) {
                ngx_queue_remove(q);
                ngx_free(st);
                mcf->nstale--;
                break;
            }
        }

        if (mcf->nstale >= NGX_HTTP_MCP_CACHE_STALE_MAX) {
            return;
        }
    }

    st = ngx_alloc(sizeof(ngx_http_mcp_cache_stale_t) + keys[0].len
                   + keys[1].len, r->connection->log);
    if (st == NULL) {
        return;
    }

    st->mcf = mcf;
    st->sending = 0;

    p = (u_char *) st + sizeof(ngx_http_mcp_cache_stale_t);

    st->keys[0].data = p;
    st->keys[0].len = keys[0].len;
    p = ngx_cpymem(p, keys[0].data, keys[0].len);

    st->keys[1].data = p;
    st->keys[1].len = keys[1].len;
    ngx_memcpy(p, keys[1].data, keys[1].len);

    ngx_queue_insert_tail(&mcf->stale, &st->queue);
    mcf->nstale++;
}


/* the pending invalidation of the server whose generation key is "gen" */

static ngx_http_mcp_cache_stale_t *
ngx_http_mcp_cache_stale_find(ngx_http_mcp_cache_main_conf_t *mcf,
    ngx_str_t *gen)
{
    ngx_queue_t                 *q;
    ngx_http_mcp_cache_stale_t  *st;

    for (q = ngx_queue_head(&mcf->stale);
         q != ngx_queue_sentinel(&mcf->stale);
         q = ngx_queue_next(q))
    {
        st = ngx_queue_data(q, ngx_http_mcp_cache_stale_t, queue);

        if (st->keys[0].len == gen->len
            && ngx_strncmp(st->keys[0].data, gen->data, gen->len) == 0)
        {
            return st;
        }
    }

    return NULL;
}


/* Redis answers (again): the invalidations it missed go first */

static void
ngx_http_mcp_cache_stale_flush(ngx_http_mcp_redis_t *rds, void *data)
{
    ngx_http_mcp_cache_main_conf_t *mcf = data;

    ngx_queue_t                 *q;
    ngx_http_mcp_cache_stale_t  *st;

    for (q = ngx_queue_head(&mcf->stale);
         q != ngx_queue_sentinel(&mcf->stale);
         q = ngx_queue_next(q))
    {
        st = ngx_queue_data(q, ngx_http_mcp_cache_stale_t, queue);

        if (st->sending) {
            continue;
        }

        if (ngx_http_mcp_redis_eval(rds,
                                &mcf->scripts[NGX_HTTP_MCP_CACHE_INVALIDATE],
                                2, 2, st->keys,
                                ngx_http_mcp_cache_stale_done, st)
            == NULL)
        {
            return;
        }

        st->sending = 1;
    }
}


static void
ngx_http_mcp_cache_stale_done(void *data, redisReply *reply)
{
    ngx_http_mcp_cache_stale_t *st = data;

    ngx_http_mcp_cache_main_conf_t  *mcf;

    st->sending = 0;

    if (reply == NULL) {
        /* kept for the next time */
        return;
    }

    mcf = st->mcf;

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "mcp cache: invalidated \"%V\" now that redis answers",
                  &st->keys[0]);

    ngx_queue_remove(&st->queue);
    ngx_free(st);
    mcf->nstale--;
}


static void
ngx_http_mcp_cache_set_status(ngx_http_request_t *r,
    ngx_http_mcp_cache_ctx_t *cctx, ngx_uint_t status)
{
    ngx_table_elt_t                *h;
    ngx_http_mcp_cache_loc_conf_t  *lcf;

    cctx->status = status;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_mcp_cache_module);

    if (lcf->header.len == 0) {
        return;
    }

    h = cctx->header;

    if (h == NULL) {
        h = ngx_http_mcp_add_header(r, &lcf->header,
                                    &ngx_http_mcp_cache_status_names[status]);
        if (h == NULL) {
            cctx->status = NGX_HTTP_MCP_CACHE_NONE;
            return;
        }

        cctx->header = h;
    }

    h->value = ngx_http_mcp_cache_status_names[status];
}


/*
 * The request goes away: a reply that comes later must not touch it, and
 * a lock it holds is released for the requests that wait for it.
 */

static void
ngx_http_mcp_cache_cleanup(void *data)
{
    ngx_http_mcp_cache_ctx_t *cctx = data;

    ngx_str_t                       *args;
    ngx_http_mcp_cache_main_conf_t  *mcf;

    if (cctx->cmd) {
        ngx_http_mcp_redis_cancel(cctx->cmd);
        cctx->cmd = NULL;
    }

    if (cctx->wait.timer_set) {
        ngx_del_timer(&cctx->wait);
    }

    if (!cctx->locked) {
        return;
    }

    cctx->locked = 0;

    mcf = ngx_http_get_module_main_conf(cctx->request,
                                        ngx_http_mcp_cache_module);

    args = cctx->args;

    args[4] = cctx->gen;
    ngx_str_set(&args[5], "0");
    ngx_str_set(&args[6], "");
    ngx_str_set(&args[7], "");
    args[8] = cctx->token;

    /* no handler: the arguments need not outlive the request */

    (void) ngx_http_mcp_redis_eval(mcf->rds,
                                   &mcf->scripts[NGX_HTTP_MCP_CACHE_STORE],
                                   3, 9, args, NULL, NULL);
}


static ngx_int_t
ngx_http_mcp_cache_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                 *name;
    ngx_http_mcp_cache_ctx_t  *cctx;

    cctx = ngx_http_get_module_ctx(r->main, ngx_http_mcp_cache_module);

    name = &ngx_http_mcp_cache_status_names[cctx ? cctx->status : 0];

    v->len = name->len;
    v->data = name->data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mcp_cache_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var;

    var = ngx_http_add_variable(cf, &ngx_http_mcp_cache_status_var_name,
                                NGX_HTTP_VAR_NOCACHEABLE);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ngx_http_mcp_cache_status_variable;

    return NGX_OK;
}


/* the default key is compiled once every module has declared its variables */

static ngx_int_t
ngx_http_mcp_cache_postconfiguration(ngx_conf_t *cf)
{
    ngx_str_t                          sub;
    ngx_http_mcp_cache_main_conf_t    *mcf;
    ngx_http_compile_complex_value_t   ccv;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mcp_cache_module);

    ngx_str_set(&sub, "mcp_jwt_sub");

    mcf->sub_index = ngx_http_get_variable_index(cf, &sub);
    if (mcf->sub_index == NGX_ERROR) {
        return NGX_ERROR;
    }

    mcf->default_key = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (mcf->default_key == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &ngx_http_mcp_cache_default_key;
    ccv.complex_value = mcf->default_key;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void *
ngx_http_mcp_cache_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_mcp_cache_main_conf_t  *mcf;

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mcp_cache_main_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mcf->redis.name = { 0, NULL };
     *     mcf->prefix = { 0, NULL };
     *     mcf->default_key = NULL;
     *     mcf->rds = NULL;
     *     mcf->nstale = 0;
     */

    mcf->redis.connect_timeout = NGX_CONF_UNSET_MSEC;
    mcf->redis.timeout = NGX_CONF_UNSET_MSEC;
    mcf->sub_index = NGX_ERROR;

    ngx_queue_init(&mcf->stale);

    return mcf;
}


static char *
ngx_http_mcp_cache_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_mcp_cache_main_conf_t *mcf = conf;

    ngx_uint_t  i;

    ngx_conf_init_msec_value(mcf->redis.connect_timeout, 1000);
    ngx_conf_init_msec_value(mcf->redis.timeout, 500);

    if (mcf->prefix.data == NULL) {
        ngx_str_set(&mcf->prefix, "mcp:");
    }

    mcf->scripts[NGX_HTTP_MCP_CACHE_LOOKUP].text =
                                           ngx_http_mcp_cache_lookup_script;
    mcf->scripts[NGX_HTTP_MCP_CACHE_STORE].text =
                                           ngx_http_mcp_cache_store_script;
    mcf->scripts[NGX_HTTP_MCP_CACHE_INVALIDATE].text =
                                       ngx_http_mcp_cache_invalidate_script;

    for (i = 0; i < NGX_HTTP_MCP_CACHE_NSCRIPTS; i++) {
        ngx_http_mcp_redis_script_init(&mcf->scripts[i]);
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_mcp_cache_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_mcp_cache_loc_conf_t  *lcf;

    lcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mcp_cache_loc_conf_t));
    if (lcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     lcf->header = { 0, NULL };
     */

    lcf->enable = NGX_CONF_UNSET;
    lcf->ttl = NGX_CONF_UNSET_MSEC;
    lcf->key = NGX_CONF_UNSET_PTR;
    lcf->statuses = NGX_CONF_UNSET_PTR;
    lcf->bypass = NGX_CONF_UNSET;
    lcf->lock = NGX_CONF_UNSET;
    lcf->lock_timeout = NGX_CONF_UNSET_MSEC;
    lcf->max_size = NGX_CONF_UNSET_SIZE;

    return lcf;
}


static char *
ngx_http_mcp_cache_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_mcp_cache_loc_conf_t *prev = parent;
    ngx_http_mcp_cache_loc_conf_t *conf = child;

    ngx_http_mcp_cache_main_conf_t  *mcf;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_msec_value(conf->ttl, prev->ttl, 60000);
    ngx_conf_merge_ptr_value(conf->key, prev->key, NULL);
    ngx_conf_merge_ptr_value(conf->statuses, prev->statuses, NULL);
    ngx_conf_merge_value(conf->bypass, prev->bypass, 1);
    ngx_conf_merge_str_value(conf->header, prev->header, "X-Cache-Status");
    ngx_conf_merge_value(conf->lock, prev->lock, 1);
    ngx_conf_merge_msec_value(conf->lock_timeout, prev->lock_timeout, 5000);
    ngx_conf_merge_size_value(conf->max_size, prev->max_size,
                              1024 * 1024);

    if (conf->header.len == sizeof("off") - 1
        && ngx_strncasecmp(conf->header.data, (u_char *) "off",
                           sizeof("off") - 1) == 0)
    {
        conf->header.len = 0;
    }

    if (conf->ttl == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mcp_cache_ttl\" must be positive");
        return NGX_CONF_ERROR;
    }

    if (conf->lock_timeout == 0) {
        conf->lock = 0;
    }

    if (conf->enable) {
        mcf = ngx_http_conf_get_module_main_conf(cf,
                                                 ngx_http_mcp_cache_module);

        if (mcf->redis.name.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"mcp_cache on\" needs \"mcp_cache_redis\" "
                               "in the http block");
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/*
 * mcp_cache_redis <host[:port]|unix:/path> [db=N] [user=U]
 *                 [password_file=F];
 */

static char *
ngx_http_mcp_cache_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mcp_cache_main_conf_t *mcf = conf;

    u_char                     *p;
    size_t                      len;
    ngx_int_t                   n;
    ngx_str_t                  *value, file;
    ngx_url_t                   u;
    ngx_uint_t                  i;
    ngx_http_mcp_redis_conf_t  *rc;

    rc = &mcf->redis;

    if (rc->name.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len > 5 && ngx_strncmp(value[1].data, "unix:", 5) == 0) {
        rc->path.len = value[1].len - 5;
        rc->path.data = ngx_pnalloc(cf->pool, rc->path.len + 1);
        if (rc->path.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memcpy(rc->path.data, value[1].data + 5, rc->path.len);
        rc->path.data[rc->path.len] = '\0';

        rc->name = value[1];

    } else {
        ngx_memzero(&u, sizeof(ngx_url_t));

        u.url = value[1];
        u.default_port = 6379;

        /* resolved here, in the master: never in a worker */

        if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
            if (u.err) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "%s in redis \"%V\"", u.err, &u.url);
            }

            return NGX_CONF_ERROR;
        }

        rc->host.data = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
        if (rc->host.data == NULL) {
            return NGX_CONF_ERROR;
        }

        rc->host.len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen,
                                     rc->host.data, NGX_SOCKADDR_STRLEN, 0);
        rc->host.data[rc->host.len] = '\0';

        rc->port = ngx_inet_get_port(u.addrs[0].sockaddr);
        rc->name = u.addrs[0].name;
    }

    ngx_str_null(&file);

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {
            n = ngx_atoi(value[i].data + 3, value[i].len - 3);
            if (n == NGX_ERROR) {
                goto invalid;
            }

            rc->db = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "user=", 5) == 0) {
            rc->user.data = value[i].data + 5;
            rc->user.len = value[i].len - 5;

            if (rc->user.len == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "password_file=", 14) == 0) {
            file.data = value[i].data + 14;
            file.len = value[i].len - 14;

            if (file.len == 0) {
                goto invalid;
            }

            continue;
        }

        goto invalid;
    }

    if (rc->user.len && file.len == 0) {
        return "needs \"password_file=\" with \"user=\"";
    }

    if (file.len) {
        return ngx_http_mcp_cache_read_password(cf, &file, &rc->password);
    }

    return NGX_CONF_OK;

invalid:

    /* never echo a parameter: it might be a password given in the wrong way */

    p = ngx_strlchr(value[i].data, value[i].data + value[i].len, '=');
    len = p ? (size_t) (p - value[i].data) : value[i].len;

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%*s\" in \"mcp_cache_redis\"",
                       len, value[i].data);

    return NGX_CONF_ERROR;
}


/*
 * The Redis password lives in a file of its own (read here, in the
 * master, like ssl_password_file), never in nginx.conf, and is never
 * logged.  Trailing white space and newlines are not part of it.
 */

static char *
ngx_http_mcp_cache_read_password(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *password)
{
    u_char           *last;
    ssize_t           n;
    ngx_str_t         path;
    ngx_file_t        file;
    ngx_file_info_t   fi;
    u_char            buf[NGX_HTTP_MCP_CACHE_PASSWORD_MAX + 1];

    path = *name;

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));

    file.name = path;
    file.log = cf->log;

    file.fd = ngx_open_file(path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%s\" failed", path.data);
        return NGX_CONF_ERROR;
    }

    n = NGX_ERROR;

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%s\" failed", path.data);
        goto done;
    }

    if (ngx_file_size(&fi) > NGX_HTTP_MCP_CACHE_PASSWORD_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "redis password file \"%s\" is too large",
                           path.data);
        goto done;
    }

    n = ngx_read_file(&file, buf, NGX_HTTP_MCP_CACHE_PASSWORD_MAX, 0);

    if (n == NGX_ERROR) {
        goto done;
    }

    last = buf + n;

    while (last > buf
           && (last[-1] == '\n' || last[-1] == '\r' || last[-1] == ' '
               || last[-1] == '\t'))
    {
        last--;
    }

    if (last == buf) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "redis password file \"%s\" is empty", path.data);
        n = NGX_ERROR;
        goto done;
    }

    password->len = last - buf;
    password->data = ngx_pnalloc(cf->pool, password->len);

    if (password->data == NULL) {
        n = NGX_ERROR;
        goto done;
    }

    ngx_memcpy(password->data, buf, password->len);

done:

    ngx_explicit_memzero(buf, sizeof(buf));

    if (ngx_close_file(file.fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%s\" failed", path.data);
    }

    return n == NGX_ERROR ? NGX_CONF_ERROR : NGX_CONF_OK;
}


/* mcp_cache_key_prefix: the hash tag must stay the key's first braces */

static char *
ngx_http_mcp_cache_prefix(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mcp_cache_main_conf_t *mcf = conf;

    ngx_str_t  *value;

    if (mcf->prefix.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strlchr(value[1].data, value[1].data + value[1].len, '{')
        || ngx_strlchr(value[1].data, value[1].data + value[1].len, '}'))
    {
        return "must not contain \"{\" or \"}\"";
    }

    mcf->prefix = value[1];

    return NGX_CONF_OK;
}


static char *
ngx_http_mcp_cache_statuses(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mcp_cache_loc_conf_t *lcf = conf;

    ngx_int_t    n;
    ngx_str_t   *value;
    ngx_uint_t   i, *status;

    if (lcf->statuses != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    lcf->statuses = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                     sizeof(ngx_uint_t));
    if (lcf->statuses == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        n = ngx_atoi(value[i].data, value[i].len);

        if (n < 100 || n > 599) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid status \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        status = ngx_array_push(lcf->statuses);
        if (status == NULL) {
            return NGX_CONF_ERROR;
        }

        *status = n;
    }

    return NGX_CONF_OK;
}


/* one connection per worker; none in the master, helpers and "nginx -t" */

static ngx_int_t
ngx_http_mcp_cache_init_process(ngx_cycle_t *cycle)
{
    ngx_pool_cleanup_t              *cln;
    ngx_http_mcp_cache_main_conf_t  *mcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    mcf = ngx_http_cycle_get_module_main_conf(cycle,
                                              ngx_http_mcp_cache_module);

    if (mcf == NULL || mcf->redis.name.len == 0) {
        return NGX_OK;
    }

    cln = ngx_pool_cleanup_add(cycle->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    mcf->rds = ngx_http_mcp_redis_create(cycle, &mcf->redis,
                                         ngx_http_mcp_cache_stale_flush, mcf);
    if (mcf->rds == NULL) {
        return NGX_ERROR;
    }

    /* a cycle that ends without exit_process (a reload without a master) */

    cln->handler = ngx_http_mcp_cache_pool_cleanup;
    cln->data = mcf;

    return NGX_OK;
}


static void
ngx_http_mcp_cache_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_mcp_cache_main_conf_t  *mcf;

    mcf = ngx_http_cycle_get_module_main_conf(cycle,
                                              ngx_http_mcp_cache_module);

    if (mcf != NULL) {
        ngx_http_mcp_cache_pool_cleanup(mcf);
    }
}


static void
ngx_http_mcp_cache_pool_cleanup(void *data)
{
    ngx_http_mcp_cache_main_conf_t *mcf = data;

    ngx_queue_t                 *q;
    ngx_http_mcp_cache_stale_t  *st;

    if (mcf->rds) {
        ngx_http_mcp_redis_destroy(mcf->rds);
        mcf->rds = NULL;
    }

    while (!ngx_queue_empty(&mcf->stale)) {
        q = ngx_queue_head(&mcf->stale);
        st = ngx_queue_data(q, ngx_http_mcp_cache_stale_t, queue);

        ngx_queue_remove(q);
        ngx_free(st);
    }

    mcf->nstale = 0;
}
