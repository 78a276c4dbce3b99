
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * Directives, configuration and module registration.  The request flow is
 * in ngx_http_mcp_handler.c; docs/design.md describes it.
 */


#include "ngx_http_mcp_module.h"


static void *ngx_http_mcp_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_mcp_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_mcp_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_mcp_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_mcp_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_mcp_postconfiguration(ngx_conf_t *cf);

static char *ngx_http_mcp_registry(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mcp_pass(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mcp_canonical(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


static ngx_conf_enum_t  ngx_http_mcp_views[] = {
    { ngx_string("native"), NGX_HTTP_MCP_VIEW_NATIVE },
    { ngx_string("canonical"), NGX_HTTP_MCP_VIEW_CANONICAL },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_mcp_commands[] = {

    { ngx_string("mcp_registry"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_mcp_registry,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mcp_pass"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_mcp_pass,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mcp_canonical"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mcp_canonical,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mcp_view"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_loc_conf_t, view),
      &ngx_http_mcp_views },

    { ngx_string("mcp_max_body_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_loc_conf_t, max_body_size),
      NULL },

    { ngx_string("mcp_upstream_max_body_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_loc_conf_t, upstream_max_body_size),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_mcp_module_ctx = {
    ngx_http_mcp_preconfiguration,         /* preconfiguration */
    ngx_http_mcp_postconfiguration,        /* postconfiguration */

    ngx_http_mcp_create_main_conf,         /* create main configuration */
    ngx_http_mcp_init_main_conf,           /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_mcp_create_loc_conf,          /* create location configuration */
    ngx_http_mcp_merge_loc_conf            /* merge location configuration */
};


ngx_module_t  ngx_http_mcp_module = {
    NGX_MODULE_V1,
    &ngx_http_mcp_module_ctx,              /* module context */
    ngx_http_mcp_commands,                 /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_mcp_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_mcp_main_conf_t  *mmcf;

    mmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mcp_main_conf_t));
    if (mmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&mmcf->registries, cf->pool, 4,
                       sizeof(ngx_http_mcp_registry_t))
        != NGX_OK)
    {
        return NULL;
    }

    return mmcf;
}


static char *
ngx_http_mcp_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_mcp_main_conf_t *mmcf = conf;

    /* runtime state, each worker's own copy */

    mmcf->health = ngx_pcalloc(cf->pool,
                               (mmcf->registries.nelts + 1)
                               * sizeof(ngx_http_mcp_registry_health_t));
    if (mmcf->health == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_mcp_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_mcp_loc_conf_t  *mlcf;

    mlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mcp_loc_conf_t));
    if (mlcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mlcf->registry_name = { 0, NULL };
     *     mlcf->registry = NULL;
     */

    mlcf->canonical = NGX_CONF_UNSET;
    mlcf->view = NGX_CONF_UNSET_UINT;
    mlcf->max_body_size = NGX_CONF_UNSET_SIZE;
    mlcf->upstream_max_body_size = NGX_CONF_UNSET_SIZE;

    return mlcf;
}


static char *
ngx_http_mcp_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_mcp_loc_conf_t *prev = parent;
    ngx_http_mcp_loc_conf_t *conf = child;

    ngx_http_mcp_main_conf_t  *mmcf;

    /*
     * "mcp_pass" and "mcp_canonical" install the content handler of their
     * own location only, like "proxy_pass": nested locations do not
     * inherit them
     */

    if (conf->canonical == NGX_CONF_UNSET) {
        conf->canonical = 0;
    }

    ngx_conf_merge_uint_value(conf->view, prev->view,
                              NGX_HTTP_MCP_VIEW_NATIVE);
    ngx_conf_merge_size_value(conf->max_body_size, prev->max_body_size,
                              64 * 1024);
    ngx_conf_merge_size_value(conf->upstream_max_body_size,
                              prev->upstream_max_body_size,
                              16 * 1024 * 1024);

    /*
     * "mcp_pass" may name a registry declared further down the http block:
     * the whole block has been parsed by the time locations are merged
     */

    if (conf->registry_name.len && conf->registry == NULL) {
        mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mcp_module);

        conf->registry = ngx_http_mcp_registry_find(mmcf,
                                                    &conf->registry_name);
        if (conf->registry == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "mcp_pass names unknown registry \"%V\", "
                               "declare it with \"mcp_registry\"",
                               &conf->registry_name);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_mcp_preconfiguration(ngx_conf_t *cf)
{
    /* before anything of the module's allocates with jansson */

    if (ngx_http_mcp_json_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_mcp_add_variables(cf);
}


static ngx_int_t
ngx_http_mcp_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_mcp_main_conf_t  *mmcf;

    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mcp_module);

    if (mmcf->registries.nelts == 0) {
        return NGX_OK;
    }

    if (ngx_http_mcp_body_init(cf) != NGX_OK
        || ngx_http_mcp_internal_check(cf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_mcp_filter_init(cf);
}


/*
 * mcp_registry <name> vendor=<kambrium|barndoor|gatana> pass=<uri>;
 */

static char *
ngx_http_mcp_registry(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mcp_main_conf_t *mmcf = conf;

    ngx_str_t                    *value, pass;
    ngx_uint_t                    i;
    ngx_http_mcp_registry_t      *reg;
    const ngx_http_mcp_vendor_t  *vendor;

    value = cf->args->elts;

    if (ngx_http_mcp_registry_find(mmcf, &value[1]) != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate mcp registry \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < value[1].len; i++) {
        if (!(value[1].data[i] == '-' || value[1].data[i] == '_'
              || (value[1].data[i] >= 'a' && value[1].data[i] <= 'z')
              || (value[1].data[i] >= '0' && value[1].data[i] <= '9')))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid mcp registry name \"%V\": use "
                               "lower-case letters, digits, \"-\" and \"_\"",
                               &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    vendor = NULL;
    ngx_str_null(&pass);

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "vendor=", 7) == 0) {
            vendor = ngx_http_mcp_vendor_find(value[i].data + 7,
                                              value[i].len - 7);
            if (vendor == NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid vendor \"%V\" in mcp registry "
                                   "\"%V\": expected \"kambrium\", "
                                   "\"barndoor\" or \"gatana\"",
                                   &value[i], &value[1]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "pass=", 5) == 0) {
            pass.data = value[i].data + 5;
            pass.len = value[i].len - 5;

            if (pass.len < 2 || pass.data[0] != '/'
                || pass.data[pass.len - 1] == '/')
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\" in mcp registry \"%V\": "
                                   "expected an internal location prefix "
                                   "such as \"pass=/_mcp/%V\"",
                                   &value[i], &value[1], &value[1]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in mcp registry \"%V\"",
                           &value[i], &value[1]);
        return NGX_CONF_ERROR;
    }

    if (vendor == NULL || pass.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "mcp registry \"%V\" needs both \"vendor=\" "
                           "and \"pass=\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    reg = ngx_array_push(&mmcf->registries);
    if (reg == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(reg, sizeof(ngx_http_mcp_registry_t));

    reg->name = value[1];
    reg->vendor = vendor;
    reg->pass = pass;
    reg->index = mmcf->registries.nelts - 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_mcp_pass(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mcp_loc_conf_t *mlcf = conf;

    ngx_str_t                 *value;
    ngx_http_core_loc_conf_t  *clcf;

    if (mlcf->registry_name.data || mlcf->canonical != NGX_CONF_UNSET) {
        return "is duplicate or combined with \"mcp_canonical\"";
    }

    value = cf->args->elts;
    mlcf->registry_name = value[1];

    if (ngx_http_mcp_internal_route(cf, &value[1]) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_mcp_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_mcp_canonical(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mcp_loc_conf_t *mlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (mlcf->registry_name.data || mlcf->canonical != NGX_CONF_UNSET) {
        return "is duplicate or combined with \"mcp_pass\"";
    }

    mlcf->canonical = 1;

    if (ngx_http_mcp_internal_route(cf, NULL) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_mcp_handler;

    return NGX_CONF_OK;
}
