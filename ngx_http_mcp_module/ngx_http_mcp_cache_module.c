
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * ngx_http_mcp_cache_module: its directives, configuration and variables,
 * and the Redis connection of each worker.  The lookup and update steps
 * are in ngx_http_mcp_cache_lookup.c and ngx_http_mcp_cache_store.c;
 * docs/cache.md has the protocol.
 */


#include "ngx_http_mcp_cache.h"
#include "ngx_http_mcp_cache_scripts.h"


static ngx_int_t ngx_http_mcp_cache_variable(ngx_http_request_t *r,
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
static char *ngx_http_mcp_cache_prefix(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mcp_cache_statuses(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mcp_cache_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mcp_cache_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_mcp_cache_init_process(ngx_cycle_t *cycle);
static void ngx_http_mcp_cache_exit_process(ngx_cycle_t *cycle);
static void ngx_http_mcp_cache_pool_cleanup(void *data);


/* the node's zone unless "mcp_cache_zone" names one */
#define NGX_HTTP_MCP_CACHE_ZONE_SIZE  (1024 * 1024)

static ngx_str_t  ngx_http_mcp_cache_zone_name = ngx_string("mcp_cache");


static ngx_conf_enum_t  ngx_http_mcp_cache_consistencies[] = {
    { ngx_string("strict"), NGX_HTTP_MCP_CACHE_STRICT },
    { ngx_string("relaxed"), NGX_HTTP_MCP_CACHE_RELAXED },
    { ngx_null_string, 0 }
};


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

    { ngx_string("mcp_cache_consistency"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mcp_cache_main_conf_t, consistency),
      &ngx_http_mcp_cache_consistencies },

    { ngx_string("mcp_cache_write_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mcp_cache_main_conf_t, write_timeout),
      NULL },

    { ngx_string("mcp_cache_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_mcp_cache_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mcp_cache_l1_lease"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mcp_cache_main_conf_t, l1_lease),
      NULL },

    { ngx_string("mcp_cache_redis_resolve_interval"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mcp_cache_main_conf_t, redis.resolve_interval),
      NULL },

    /* TLS to Redis ("mcp_cache_redis ... tls"), like proxy_ssl_* */

    { ngx_string("mcp_cache_redis_ssl_protocols"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_conf_set_bitmask_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mcp_cache_main_conf_t, redis.ssl_protocols),
      &ngx_http_mcp_redis_ssl_protocols },

    { ngx_string("mcp_cache_redis_ssl_ciphers"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mcp_cache_main_conf_t, redis.ssl_ciphers),
      NULL },

    { ngx_string("mcp_cache_redis_ssl_verify"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mcp_cache_main_conf_t, redis.ssl_verify),
      NULL },

    { ngx_string("mcp_cache_redis_ssl_verify_depth"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mcp_cache_main_conf_t, redis.ssl_verify_depth),
      NULL },

    { ngx_string("mcp_cache_redis_ssl_trusted_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mcp_cache_main_conf_t,
               redis.ssl_trusted_certificate),
      NULL },

    { ngx_string("mcp_cache_redis_ssl_crl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mcp_cache_main_conf_t, redis.ssl_crl),
      NULL },

    { ngx_string("mcp_cache_redis_ssl_name"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mcp_cache_main_conf_t, redis.ssl_name),
      NULL },

    { ngx_string("mcp_cache_redis_ssl_server_name"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mcp_cache_main_conf_t, redis.ssl_server_name),
      NULL },

    { ngx_string("mcp_cache_redis_ssl_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mcp_cache_main_conf_t, redis.ssl_certificate),
      NULL },

    { ngx_string("mcp_cache_redis_ssl_certificate_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mcp_cache_main_conf_t, redis.ssl_certificate_key),
      NULL },

    { ngx_string("mcp_cache_redis_ssl_password_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_mcp_redis_conf_password_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mcp_cache_main_conf_t, redis.ssl_passwords),
      NULL },

    { ngx_string("mcp_cache_redis_ssl_session_reuse"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mcp_cache_main_conf_t, redis.ssl_session_reuse),
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

    { ngx_string("mcp_cache_l1"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_cache_loc_conf_t, l1),
      NULL },

    { ngx_string("mcp_cache_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_cache_loc_conf_t, ttl),
      NULL },

    { ngx_string("mcp_cache_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_mcp_cache_key,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
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


static ngx_str_t  ngx_http_mcp_cache_layer_names[] = {
    ngx_null_string,
    ngx_string("l1"),
    ngx_string("redis")
};


static ngx_http_variable_t  ngx_http_mcp_cache_vars[] = {

    { ngx_string("mcp_cache_status"), NULL, ngx_http_mcp_cache_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mcp_cache_layer"), NULL, ngx_http_mcp_cache_variable,
      1, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/* $mcp_cache_status, and the header that says it */

void
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
        h = ngx_http_mcp_reply_header(r, &lcf->header,
                                      &ngx_http_mcp_cache_status_names[status]);
        if (h == NULL) {
            cctx->status = NGX_HTTP_MCP_CACHE_NONE;
            return;
        }

        cctx->header = h;
    }

    h->value = ngx_http_mcp_cache_status_names[status];
}


/* $mcp_cache_status (data 0), $mcp_cache_layer (1): "l1", "redis" or "" */

static ngx_int_t
ngx_http_mcp_cache_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                 *name;
    ngx_http_mcp_cache_ctx_t  *cctx;

    cctx = ngx_http_get_module_ctx(r->main, ngx_http_mcp_cache_module);

    if (data == 0) {
        name = &ngx_http_mcp_cache_status_names[cctx ? cctx->status : 0];

    } else {
        name = &ngx_http_mcp_cache_layer_names[cctx ? cctx->layer : 0];
    }

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
    return ngx_http_mcp_add_variable_table(cf, ngx_http_mcp_cache_vars);
}


/* the default key is compiled once every module has declared its variables */

static ngx_int_t
ngx_http_mcp_cache_postconfiguration(ngx_conf_t *cf)
{
    ngx_str_t                        sub;
    ngx_http_mcp_cache_main_conf_t  *mcf;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mcp_cache_module);

    ngx_str_set(&sub, "mcp_jwt_sub");

    mcf->sub_index = ngx_http_get_variable_index(cf, &sub);
    if (mcf->sub_index == NGX_ERROR) {
        return NGX_ERROR;
    }

    mcf->default_key = ngx_http_mcp_cache_key_compile(cf,
                                             &ngx_http_mcp_cache_default_key);
    if (mcf->default_key == NULL) {
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
     *     mcf->zone = NULL;
     *     mcf->max_ttl = 0;
     *     mcf->warned = 0;
     */

    mcf->redis.connect_timeout = NGX_CONF_UNSET_MSEC;
    mcf->redis.timeout = NGX_CONF_UNSET_MSEC;
    ngx_http_mcp_redis_conf_create(&mcf->redis);
    mcf->sub_index = NGX_ERROR;
    mcf->consistency = NGX_CONF_UNSET_UINT;
    mcf->write_timeout = NGX_CONF_UNSET_MSEC;
    mcf->l1_lease = NGX_CONF_UNSET_MSEC;

    ngx_queue_init(&mcf->replaying);

    return mcf;
}


static char *
ngx_http_mcp_cache_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_mcp_cache_main_conf_t *mcf = conf;

    ngx_uint_t  i;

    ngx_conf_init_msec_value(mcf->redis.connect_timeout, 1000);
    ngx_conf_init_msec_value(mcf->redis.timeout, 500);
    ngx_conf_init_uint_value(mcf->consistency, NGX_HTTP_MCP_CACHE_STRICT);
    ngx_conf_init_msec_value(mcf->write_timeout, 60000);
    ngx_conf_init_msec_value(mcf->l1_lease, 100);

    if (mcf->l1_lease < 10 || mcf->l1_lease > 10000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mcp_cache_l1_lease\" must be from 10ms to "
                           "10s");
        return NGX_CONF_ERROR;
    }

    if (mcf->write_timeout == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mcp_cache_write_timeout\" must be positive");
        return NGX_CONF_ERROR;
    }

    mcf->write_timeout_ms.data = ngx_pnalloc(cf->pool, NGX_INT_T_LEN);
    if (mcf->write_timeout_ms.data == NULL) {
        return NGX_CONF_ERROR;
    }

    mcf->write_timeout_ms.len = ngx_sprintf(mcf->write_timeout_ms.data, "%M",
                                            mcf->write_timeout)
                                - mcf->write_timeout_ms.data;

    /* the node's state: every worker's, a reload's too */

    if (mcf->redis.name.len && mcf->zone == NULL) {
        if (ngx_http_mcp_cache_node_init(cf, mcf,
                                         &ngx_http_mcp_cache_zone_name,
                                         NGX_HTTP_MCP_CACHE_ZONE_SIZE)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    if (mcf->redis.name.len
        && ngx_http_mcp_redis_conf_init(cf, &mcf->redis) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (mcf->prefix.data == NULL) {
        ngx_str_set(&mcf->prefix, "mcp:");
    }

    /* lua/, made C strings by config */

    ngx_str_set(&mcf->scripts[NGX_HTTP_MCP_CACHE_LOOKUP].text,
                NGX_HTTP_MCP_CACHE_LOOKUP_LUA);
    ngx_str_set(&mcf->scripts[NGX_HTTP_MCP_CACHE_STORE].text,
                NGX_HTTP_MCP_CACHE_STORE_LUA);
    ngx_str_set(&mcf->scripts[NGX_HTTP_MCP_CACHE_WRITE].text,
                NGX_HTTP_MCP_CACHE_WRITE_LUA);

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
    lcf->l1 = NGX_CONF_UNSET;
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
    ngx_conf_merge_value(conf->l1, prev->l1, 0);
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

    /* how long another node may serve a record a relaxed write changed */

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mcp_cache_module);
    mcf->max_ttl = ngx_max(mcf->max_ttl, conf->ttl);

    if (conf->lock_timeout == 0) {
        conf->lock = 0;
    }

    if (conf->enable) {
        if (mcf->redis.name.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"mcp_cache on\" needs \"mcp_cache_redis\" "
                               "in the http block");
            return NGX_CONF_ERROR;
        }
    }

    if (conf->l1) {
        if (mcf->redis.name.len == 0 || !mcf->zone_named) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"mcp_cache_l1 on\" needs \"mcp_cache_redis\" "
                               "and \"mcp_cache_zone\" in the http block");
            return NGX_CONF_ERROR;
        }

        if (mcf->redis.mode == NGX_HTTP_MCP_REDIS_CLUSTER) {

            /* one primary's invalidations would not be all of them */

            if (!mcf->l1_warned) {
                mcf->l1_warned = 1;
                ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                                   "\"mcp_cache_l1\" is not supported with "
                                   "a Redis Cluster, the L1 cache is off");
            }

            conf->l1 = 0;

        } else {
            mcf->l1_used = 1;
        }
    }

    return NGX_CONF_OK;
}


/*
 * mcp_cache_redis <host[:port]|unix:/path> | sentinel=... | cluster=...
 *                 [db=N] [user=U] [password_file=F] [tls] ...
 * (ngx_http_mcp_redis_conf.c)
 */

static char *
ngx_http_mcp_cache_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mcp_cache_main_conf_t *mcf = conf;

    if (mcf->redis.name.len) {
        return "is duplicate";
    }

    return ngx_http_mcp_redis_conf_parse(cf, &mcf->redis, cf->args->elts,
                                         cf->args->nelts);
}


/* mcp_cache_zone name:size */

static char *
ngx_http_mcp_cache_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mcp_cache_main_conf_t *mcf = conf;

    u_char     *p;
    ssize_t     size;
    ngx_str_t  *value, name, s;

    if (mcf->zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    p = (u_char *) ngx_strchr(value[1].data, ':');

    if (p == NULL || p == value[1].data) {
        return "needs \"name:size\"";
    }

    name.data = value[1].data;
    name.len = p - value[1].data;

    s.data = p + 1;
    s.len = value[1].data + value[1].len - s.data;

    size = ngx_parse_size(&s);

    if (size == NGX_ERROR || size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid size \"%V\" of zone \"%V\", at least "
                           "%uz", &s, &name, 8 * ngx_pagesize);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_mcp_cache_node_init(cf, mcf, &name, size) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    mcf->zone_named = 1;

    return NGX_CONF_OK;
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


/* mcp_cache_key: compiled into parts, not into a complex value */

static char *
ngx_http_mcp_cache_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mcp_cache_loc_conf_t *lcf = conf;

    ngx_str_t  *value;

    if (lcf->key != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    lcf->key = ngx_http_mcp_cache_key_compile(cf, &value[1]);
    if (lcf->key == NULL) {
        return NGX_CONF_ERROR;
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
                                         ngx_http_mcp_cache_replay, mcf);
    if (mcf->rds == NULL) {
        return NGX_ERROR;
    }

    /* the node's L1 invalidations: worker 0 listens (the channel's file) */

    if (mcf->l1_used && ngx_worker == 0
        && ngx_http_mcp_cache_channel_init(cycle, mcf) != NGX_OK)
    {
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

    ngx_queue_t                   *q;
    ngx_http_mcp_cache_pending_t  *pd;

    ngx_http_mcp_cache_channel_destroy(mcf);

    if (mcf->rds) {
        ngx_http_mcp_redis_destroy(mcf->rds);
        mcf->rds = NULL;
    }

    /* the invalidations this worker was sending wait for another */

    while (!ngx_queue_empty(&mcf->replaying)) {
        q = ngx_queue_head(&mcf->replaying);
        pd = ngx_queue_data(q, ngx_http_mcp_cache_pending_t, queue);

        ngx_http_mcp_cache_node_done(pd, 0);
    }

    ngx_http_mcp_key_release();
}
