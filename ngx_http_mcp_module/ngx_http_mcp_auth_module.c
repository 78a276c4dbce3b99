
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * ngx_http_mcp_auth_module: JWT bearer authentication (RFC 6750) and the
 * scope each method needs, in the access phase; a module of
 * ngx_http_mcp_module.so.  This file: its directives and configuration;
 * ngx_http_mcp_auth.h lists the others.  docs/auth.md describes it all.
 */


#include "ngx_http_mcp_module.h"
#include "ngx_http_mcp_auth.h"
#include "ngx_http_mcp_json.h"


static void *ngx_http_mcp_auth_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_mcp_auth_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_mcp_auth_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_mcp_auth_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_mcp_auth_policy(ngx_conf_t *cf,
    ngx_http_mcp_auth_loc_conf_t *conf);
static ngx_int_t ngx_http_mcp_auth_strings(ngx_conf_t *cf,
    ngx_array_t *list, const ngx_http_mcp_jwt_str_t **out, size_t *n);
static ngx_int_t ngx_http_mcp_auth_names(ngx_conf_t *cf, ngx_array_t *list,
    const char * const **out, size_t *n);
static ngx_int_t ngx_http_mcp_auth_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_mcp_auth_init_process(ngx_cycle_t *cycle);
static void ngx_http_mcp_auth_exit_process(ngx_cycle_t *cycle);

static char *ngx_http_mcp_auth_jwt(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mcp_auth_key_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_uint_t ngx_http_mcp_auth_same_issuers(ngx_array_t *a,
    ngx_array_t *b);
static char *ngx_http_mcp_auth_algorithms(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mcp_auth_set_list(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mcp_auth_check_scope(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_mcp_auth_check_max_size(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_mcp_auth_cache(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#define NGX_HTTP_MCP_AUTH_MAX_TOKEN  65536


static ngx_conf_post_handler_pt  ngx_http_mcp_auth_scope_p =
    ngx_http_mcp_auth_check_scope;

static ngx_conf_post_handler_pt  ngx_http_mcp_auth_max_size_p =
    ngx_http_mcp_auth_check_max_size;


static ngx_conf_enum_t  ngx_http_mcp_auth_options[] = {
    { ngx_string("none"), NGX_HTTP_MCP_AUTH_NONE },
    { ngx_string("read"), NGX_HTTP_MCP_AUTH_READ },
    { ngx_string("write"), NGX_HTTP_MCP_AUTH_WRITE },
    { ngx_null_string, 0 }
};


#define NGX_HTTP_MCP_AUTH_CONF                                                \
    (NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF)


static ngx_command_t  ngx_http_mcp_auth_commands[] = {

    { ngx_string("mcp_auth_jwt"),
      NGX_HTTP_MCP_AUTH_CONF|NGX_CONF_TAKE12,
      ngx_http_mcp_auth_jwt,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mcp_auth_jwt_key_file"),
      NGX_HTTP_MCP_AUTH_CONF|NGX_CONF_1MORE,
      ngx_http_mcp_auth_key_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mcp_auth_jwt_key_request"),
      NGX_HTTP_MCP_AUTH_CONF|NGX_CONF_1MORE,
      ngx_http_mcp_jwks_key_request,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mcp_auth_jwt_algorithms"),
      NGX_HTTP_MCP_AUTH_CONF|NGX_CONF_1MORE,
      ngx_http_mcp_auth_algorithms,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mcp_auth_jwt_issuer"),
      NGX_HTTP_MCP_AUTH_CONF|NGX_CONF_1MORE,
      ngx_http_mcp_auth_set_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_auth_loc_conf_t, issuers),
      NULL },

    { ngx_string("mcp_auth_jwt_audience"),
      NGX_HTTP_MCP_AUTH_CONF|NGX_CONF_1MORE,
      ngx_http_mcp_auth_set_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_auth_loc_conf_t, audiences),
      NULL },

    { ngx_string("mcp_auth_jwt_leeway"),
      NGX_HTTP_MCP_AUTH_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_auth_loc_conf_t, leeway),
      NULL },

    { ngx_string("mcp_auth_jwt_require"),
      NGX_HTTP_MCP_AUTH_CONF|NGX_CONF_1MORE,
      ngx_http_mcp_auth_require,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mcp_auth_jwt_scope_claims"),
      NGX_HTTP_MCP_AUTH_CONF|NGX_CONF_1MORE,
      ngx_http_mcp_auth_set_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_auth_loc_conf_t, scope_claims),
      NULL },

    { ngx_string("mcp_auth_jwt_read_scope"),
      NGX_HTTP_MCP_AUTH_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_auth_loc_conf_t, read_scope),
      &ngx_http_mcp_auth_scope_p },

    { ngx_string("mcp_auth_jwt_write_scope"),
      NGX_HTTP_MCP_AUTH_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_auth_loc_conf_t, write_scope),
      &ngx_http_mcp_auth_scope_p },

    { ngx_string("mcp_auth_jwt_write_grants_read"),
      NGX_HTTP_MCP_AUTH_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_auth_loc_conf_t, write_grants_read),
      NULL },

    { ngx_string("mcp_auth_jwt_options"),
      NGX_HTTP_MCP_AUTH_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_auth_loc_conf_t, options),
      &ngx_http_mcp_auth_options },

    { ngx_string("mcp_auth_jwt_max_size"),
      NGX_HTTP_MCP_AUTH_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mcp_auth_loc_conf_t, max_size),
      &ngx_http_mcp_auth_max_size_p },

    { ngx_string("mcp_auth_jwt_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_mcp_auth_cache,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_mcp_auth_module_ctx = {
    ngx_http_mcp_auth_add_variables,       /* preconfiguration */
    ngx_http_mcp_auth_init,                /* postconfiguration */

    ngx_http_mcp_auth_create_main_conf,    /* create main configuration */
    ngx_http_mcp_auth_init_main_conf,      /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_mcp_auth_create_loc_conf,     /* create location configuration */
    ngx_http_mcp_auth_merge_loc_conf       /* merge location configuration */
};


ngx_module_t  ngx_http_mcp_auth_module = {
    NGX_MODULE_V1,
    &ngx_http_mcp_auth_module_ctx,         /* module context */
    ngx_http_mcp_auth_commands,            /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_mcp_auth_init_process,        /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_mcp_auth_exit_process,        /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* the claims scopes are read from unless mcp_auth_jwt_scope_claims says */

static const char * const  ngx_http_mcp_auth_default_scope_claims[] = {
    "scope", "scp"
};


static void *
ngx_http_mcp_auth_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_mcp_auth_main_conf_t  *amcf;

    amcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mcp_auth_main_conf_t));
    if (amcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     amcf->enabled = 0;
     *     amcf->cache = NULL;
     */

    if (ngx_array_init(&amcf->files, cf->pool, 4,
                       sizeof(ngx_http_mcp_auth_file_t))
        != NGX_OK
        || ngx_array_init(&amcf->sources, cf->pool, 2,
                          sizeof(ngx_http_mcp_jwks_source_t *))
           != NGX_OK
        || ngx_array_init(&amcf->uses, cf->pool, 2,
                          2 * sizeof(void *))
           != NGX_OK
        || ngx_array_init(&amcf->locations, cf->pool, 4,
                          sizeof(ngx_http_mcp_auth_loc_conf_t *))
           != NGX_OK)
    {
        return NULL;
    }

    amcf->cache_size = NGX_CONF_UNSET_UINT;
    amcf->cache_ttl = NGX_CONF_UNSET;

    return amcf;
}


static char *
ngx_http_mcp_auth_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_mcp_auth_main_conf_t *amcf = conf;

    ngx_conf_init_uint_value(amcf->cache_size, 1024);
    ngx_conf_init_value(amcf->cache_ttl, 600);

    if (ngx_http_mcp_jwks_zone(cf, amcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_mcp_auth_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_mcp_auth_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mcp_auth_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->realm = { 0, NULL };
     *     conf->read_scope = { 0, NULL };
     *     conf->write_scope = { 0, NULL };
     *     conf->policy = { 0 };
     *     conf->scope_names = NULL;
     *     conf->nscope_names = 0;
     */

    conf->enabled = NGX_CONF_UNSET;
    conf->token = NGX_CONF_UNSET_PTR;
    conf->keys = NGX_CONF_UNSET_PTR;
    conf->sources = NGX_CONF_UNSET_PTR;
    conf->algorithms = NGX_CONF_UNSET_UINT;
    conf->issuers = NGX_CONF_UNSET_PTR;
    conf->audiences = NGX_CONF_UNSET_PTR;
    conf->require = NGX_CONF_UNSET_PTR;
    conf->conditions = NGX_CONF_UNSET_PTR;
    conf->scope_claims = NGX_CONF_UNSET_PTR;
    conf->leeway = NGX_CONF_UNSET;
    conf->max_size = NGX_CONF_UNSET_SIZE;
    conf->write_grants_read = NGX_CONF_UNSET;
    conf->options = NGX_CONF_UNSET_UINT;

    return conf;
}


static char *
ngx_http_mcp_auth_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_mcp_auth_loc_conf_t *prev = parent;
    ngx_http_mcp_auth_loc_conf_t *conf = child;

    ngx_conf_merge_value(conf->enabled, prev->enabled, 0);
    ngx_conf_merge_str_value(conf->realm, prev->realm, "");
    ngx_conf_merge_ptr_value(conf->token, prev->token, NULL);

    /* a level with keys of its own, files or URLs, inherits none */

    if (conf->keys == NGX_CONF_UNSET_PTR
        && conf->sources == NGX_CONF_UNSET_PTR)
    {
        conf->keys = prev->keys;
        conf->sources = prev->sources;
    }

    if (conf->keys == NGX_CONF_UNSET_PTR) {
        conf->keys = NULL;
    }

    if (conf->sources == NGX_CONF_UNSET_PTR) {
        conf->sources = NULL;
    }
    ngx_conf_merge_uint_value(conf->algorithms, prev->algorithms, 0);
    ngx_conf_merge_ptr_value(conf->issuers, prev->issuers, NULL);
    ngx_conf_merge_ptr_value(conf->audiences, prev->audiences, NULL);
    ngx_conf_merge_ptr_value(conf->require, prev->require, NULL);
    ngx_conf_merge_ptr_value(conf->conditions, prev->conditions, NULL);
    ngx_conf_merge_ptr_value(conf->scope_claims, prev->scope_claims, NULL);
    ngx_conf_merge_sec_value(conf->leeway, prev->leeway, 0);
    ngx_conf_merge_size_value(conf->max_size, prev->max_size, 8192);

    ngx_conf_merge_str_value(conf->read_scope, prev->read_scope,
                             "mgmt.read");
    ngx_conf_merge_str_value(conf->write_scope, prev->write_scope,
                             "mgmt.write");
    ngx_conf_merge_value(conf->write_grants_read, prev->write_grants_read, 0);
    ngx_conf_merge_uint_value(conf->options, prev->options,
                              NGX_HTTP_MCP_AUTH_READ);

    if (!conf->enabled) {
        return NGX_CONF_OK;
    }

    return ngx_http_mcp_auth_policy(cf, conf);
}


/* the verification policy of a location where auth is on */

static char *
ngx_http_mcp_auth_policy(ngx_conf_t *cf, ngx_http_mcp_auth_loc_conf_t *conf)
{
    char                        *where;
    unsigned                     algs;
    ngx_uint_t                   i;
    ngx_http_mcp_jwt_key_t     **keys;
    ngx_http_core_loc_conf_t    *clcf;
    ngx_http_mcp_jwt_policy_t   *policy;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    where = clcf->name.len ? "location" : "server";

    if ((conf->keys == NULL || conf->keys->nelts == 0)
        && conf->sources == NULL)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"mcp_auth_jwt\" is on in %s \"%V\" but no "
                      "\"mcp_auth_jwt_key_file\" or "
                      "\"mcp_auth_jwt_key_request\" gives it keys",
                      where, &clcf->name);
        return NGX_CONF_ERROR;
    }

    policy = &conf->policy;

    keys = conf->keys ? conf->keys->elts : NULL;
    algs = 0;

    for (i = 0; conf->keys && i < conf->keys->nelts; i++) {
        algs |= keys[i]->algs;
    }

    /* keys from a URL: any algorithm but HMAC's, as they come */

    if (conf->sources) {
        algs |= ~NGX_HTTP_MCP_JWT_ALGS_HMAC
                & ((1u << NGX_HTTP_MCP_JWT_ALG_MAX) - 1);

        if (ngx_http_mcp_jwks_use(cf, conf) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (conf->algorithms) {
        algs &= conf->algorithms;

        if (algs == 0) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "no key of %s \"%V\" verifies any of its "
                          "\"mcp_auth_jwt_algorithms\"", where, &clcf->name);
            return NGX_CONF_ERROR;
        }
    }

    policy->keys = keys;
    policy->nkeys = conf->keys ? conf->keys->nelts : 0;
    policy->algs = algs;
    policy->max_size = conf->max_size;
    policy->leeway = (long) conf->leeway;

    if (ngx_http_mcp_auth_strings(cf, conf->issuers, &policy->issuers,
                                  &policy->nissuers)
        != NGX_OK
        || ngx_http_mcp_auth_strings(cf, conf->audiences, &policy->audiences,
                                     &policy->naudiences)
           != NGX_OK
        || ngx_http_mcp_auth_names(cf, conf->require, &policy->required,
                                   &policy->nrequired)
           != NGX_OK
        || ngx_http_mcp_auth_names(cf, conf->scope_claims,
                                   &conf->scope_names, &conf->nscope_names)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->scope_claims == NULL) {
        conf->scope_names = ngx_http_mcp_auth_default_scope_claims;
        conf->nscope_names = 2;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_mcp_auth_strings(ngx_conf_t *cf, ngx_array_t *list,
    const ngx_http_mcp_jwt_str_t **out, size_t *n)
{
    ngx_str_t               *s;
    ngx_uint_t               i;
    ngx_http_mcp_jwt_str_t  *strs;

    if (list == NULL) {
        return NGX_OK;
    }

    strs = ngx_palloc(cf->pool, list->nelts * sizeof(ngx_http_mcp_jwt_str_t));
    if (strs == NULL) {
        return NGX_ERROR;
    }

    s = list->elts;

    for (i = 0; i < list->nelts; i++) {
        strs[i].len = s[i].len;
        strs[i].data = s[i].data;
    }

    *out = strs;
    *n = list->nelts;

    return NGX_OK;
}


/* claim names: the configuration's strings end with a NUL already */

static ngx_int_t
ngx_http_mcp_auth_names(ngx_conf_t *cf, ngx_array_t *list,
    const char * const **out, size_t *n)
{
    ngx_str_t    *s;
    ngx_uint_t    i;
    const char  **names;

    if (list == NULL) {
        return NGX_OK;
    }

    names = ngx_palloc(cf->pool, list->nelts * sizeof(char *));
    if (names == NULL) {
        return NGX_ERROR;
    }

    s = list->elts;

    for (i = 0; i < list->nelts; i++) {
        names[i] = (const char *) s[i].data;
    }

    *out = names;
    *n = list->nelts;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mcp_auth_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt            *h;
    ngx_http_core_main_conf_t      *cmcf;
    ngx_http_mcp_auth_main_conf_t  *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mcp_auth_module);

    /* no cost at all where no location uses it */

    if (!amcf->enabled) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_mcp_auth_handler;

    if (ngx_http_mcp_jwks_init(cf, amcf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the JSON body of nginx's answer to a refusal */

    return ngx_http_mcp_filter_init(cf);
}


static ngx_int_t
ngx_http_mcp_auth_init_process(ngx_cycle_t *cycle)
{
    ngx_http_mcp_auth_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_mcp_auth_module);

    if (amcf == NULL || !amcf->enabled || amcf->cache_size == 0) {
        return NGX_OK;
    }

    amcf->cache = ngx_http_mcp_jwt_cache_create(cycle->pool,
                                                amcf->cache_size);
    if (amcf->cache == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_mcp_auth_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_mcp_auth_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_mcp_auth_module);

    if (amcf == NULL) {
        return;
    }

    if (amcf->cache) {
        ngx_http_mcp_jwt_cache_destroy(amcf->cache);
        amcf->cache = NULL;
    }

    ngx_http_mcp_jwks_exit(amcf);
}


/*
 * mcp_auth_jwt <realm> [token=<complex value>] | off;
 */

static char *
ngx_http_mcp_auth_jwt(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mcp_auth_loc_conf_t *alcf = conf;

    u_char                             c;
    ngx_str_t                         *value, v;
    ngx_uint_t                         i;
    ngx_http_complex_value_t          *cv;
    ngx_http_mcp_auth_main_conf_t     *amcf;
    ngx_http_compile_complex_value_t   ccv;

    if (alcf->enabled != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts > 2) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" after \"off\"",
                               &value[2]);
            return NGX_CONF_ERROR;
        }

        alcf->enabled = 0;
        return NGX_CONF_OK;
    }

    /* the realm is a quoted-string of WWW-Authenticate */

    for (i = 0; i < value[1].len; i++) {
        c = value[1].data[i];

        if (c == '"' || c == '\\' || c < 0x20 || c == 0x7f) {
            break;
        }
    }

    if (value[1].len == 0 || i < value[1].len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid realm \"%V\": it must not be empty or "
                           "hold quotes, backslashes or control characters",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    alcf->enabled = 1;
    alcf->realm = value[1];
    alcf->token = NULL;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "token=", 6) == 0
            && value[i].len > 6 && alcf->token == NULL)
        {
            v.data = value[i].data + 6;
            v.len = value[i].len - 6;

            cv = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
            if (cv == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

            ccv.cf = cf;
            ccv.value = &v;
            ccv.complex_value = cv;

            if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            alcf->token = cv;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mcp_auth_module);
    amcf->enabled = 1;

    return NGX_CONF_OK;
}


/*
 * mcp_auth_jwt_key_file <file> [type=jwks|pem|hmac] [issuer=<iss>] ...;
 *
 * Each file is read once per configuration and set of issuers, whichever
 * locations name it, and with one type only.  Keys read with "issuer="
 * verify the tokens of those issuers only.
 */

static char *
ngx_http_mcp_auth_key_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mcp_auth_loc_conf_t *alcf = conf;

    ngx_str_t                       *value, name;
    ngx_uint_t                       i, type, again;
    ngx_array_t                     *issuers;
    ngx_http_mcp_jwt_key_t         **keys;
    ngx_http_mcp_auth_file_t        *file;
    ngx_http_mcp_auth_main_conf_t   *amcf;

    static const char  *types[] = { "jwks", "pem", "hmac" };

    value = cf->args->elts;

    type = NGX_HTTP_MCP_JWK_JWKS;

    if (ngx_http_mcp_auth_key_params(cf, &value[2], cf->args->nelts - 2,
                                     &type, &issuers)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    name = value[1];

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mcp_auth_module);

    file = amcf->files.elts;
    again = 0;

    for (i = 0; i < amcf->files.nelts; i++) {
        if (file[i].name.len != name.len
            || ngx_strncmp(file[i].name.data, name.data, name.len) != 0)
        {
            continue;
        }

        if (file[i].type != type) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "key file \"%V\" is read with \"type=%s\" "
                               "elsewhere: a key file has one type only",
                               &name, types[file[i].type]);
            return NGX_CONF_ERROR;
        }

        again = 1;

        if (ngx_http_mcp_auth_same_issuers(file[i].issuers, issuers)) {
            break;
        }
    }

    if (i < amcf->files.nelts) {
        file = &file[i];

    } else {
        file = ngx_array_push(&amcf->files);
        if (file == NULL) {
            return NGX_CONF_ERROR;
        }

        file->name = name;
        file->type = type;
        file->issuers = issuers;
        file->again = again;
        file->keys = ngx_array_create(cf->pool, 4,
                                      sizeof(ngx_http_mcp_jwt_key_t *));
        if (file->keys == NULL) {
            return NGX_CONF_ERROR;
        }

        if (ngx_http_mcp_jwk_load(cf, &name, type, file->keys) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        keys = file->keys->elts;

        for (i = 0; issuers && i < file->keys->nelts; i++) {
            keys[i]->issuers = issuers->elts;
            keys[i]->nissuers = issuers->nelts;
        }
    }

    if (ngx_http_mcp_auth_add_keys(cf, alcf, file->keys) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* type= and issuer= of a key source */

ngx_int_t
ngx_http_mcp_auth_key_params(ngx_conf_t *cf, ngx_str_t *value, ngx_uint_t n,
    ngx_uint_t *type, ngx_array_t **issuers)
{
    ngx_uint_t               i;
    ngx_http_mcp_jwt_str_t  *iss;

    *issuers = NULL;

    for (i = 0; i < n; i++) {

        if (ngx_strcmp(value[i].data, "type=jwks") == 0) {
            *type = NGX_HTTP_MCP_JWK_JWKS;

        } else if (ngx_strcmp(value[i].data, "type=pem") == 0) {
            *type = NGX_HTTP_MCP_JWK_PEM;

        } else if (ngx_strcmp(value[i].data, "type=hmac") == 0) {
            *type = NGX_HTTP_MCP_JWK_HMAC;

        } else if (ngx_strncmp(value[i].data, "issuer=", 7) == 0
                   && value[i].len > 7)
        {
            if (*issuers == NULL) {
                *issuers = ngx_array_create(cf->pool, 2,
                                            sizeof(ngx_http_mcp_jwt_str_t));
                if (*issuers == NULL) {
                    return NGX_ERROR;
                }
            }

            iss = ngx_array_push(*issuers);
            if (iss == NULL) {
                return NGX_ERROR;
            }

            iss->data = value[i].data + 7;
            iss->len = value[i].len - 7;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\": expected "
                               "\"type=jwks\", \"type=pem\", \"type=hmac\" "
                               "or \"issuer=<iss>\"", &value[i]);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_http_mcp_auth_same_issuers(ngx_array_t *a, ngx_array_t *b)
{
    ngx_uint_t               i;
    ngx_http_mcp_jwt_str_t  *x, *y;

    if (a == NULL || b == NULL) {
        return a == b;
    }

    if (a->nelts != b->nelts) {
        return 0;
    }

    x = a->elts;
    y = b->elts;

    for (i = 0; i < a->nelts; i++) {
        if (x[i].len != y[i].len || ngx_memcmp(x[i].data, y[i].data, x[i].len))
        {
            return 0;
        }
    }

    return 1;
}


/* a source's keys into the location's (the same file twice adds nothing) */

ngx_int_t
ngx_http_mcp_auth_add_keys(ngx_conf_t *cf, ngx_http_mcp_auth_loc_conf_t *alcf,
    ngx_array_t *add)
{
    ngx_uint_t                i, j;
    ngx_http_mcp_jwt_key_t  **keys, **k;

    if (alcf->keys == NGX_CONF_UNSET_PTR) {
        alcf->keys = ngx_array_create(cf->pool, 4,
                                      sizeof(ngx_http_mcp_jwt_key_t *));
        if (alcf->keys == NULL) {
            return NGX_ERROR;
        }
    }

    keys = add->elts;

    for (i = 0; i < add->nelts; i++) {

        k = alcf->keys->elts;

        for (j = 0; j < alcf->keys->nelts; j++) {
            if (k[j] == keys[i]) {
                break;
            }
        }

        if (j < alcf->keys->nelts) {
            continue;
        }

        k = ngx_array_push(alcf->keys);
        if (k == NULL) {
            return NGX_ERROR;
        }

        *k = keys[i];
    }

    return NGX_OK;
}


/*
 * mcp_auth_jwt_algorithms RS256 ES256 ...;
 */

static char *
ngx_http_mcp_auth_algorithms(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mcp_auth_loc_conf_t *alcf = conf;

    int         alg;
    ngx_str_t  *value;
    ngx_uint_t  i, algs;

    if (alcf->algorithms != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    algs = 0;

    for (i = 1; i < cf->args->nelts; i++) {
        alg = ngx_http_mcp_jwt_alg_by_name(value[i].data, value[i].len);

        if (alg != -1) {
            algs |= NGX_HTTP_MCP_JWT_ALG_BIT(alg);
            continue;
        }

        if (value[i].len == 4
            && ngx_strncasecmp(value[i].data, (u_char *) "none", 4) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "the \"none\" algorithm is never accepted");

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown algorithm \"%V\": expected HS256, "
                               "HS384, HS512, RS256, RS384, RS512, ES256, "
                               "ES384, ES512, PS256, PS384, PS512 or "
                               "EdDSA", &value[i]);
        }

        return NGX_CONF_ERROR;
    }

    alcf->algorithms = algs;

    return NGX_CONF_OK;
}


/*
 * mcp_auth_jwt_issuer, _audience, _require, _scope_claims: one directive
 * with all the values; a nested level's own replaces the inherited one.
 */

static char *
ngx_http_mcp_auth_set_list(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t     *value, *s;
    ngx_uint_t     i;
    ngx_array_t  **a;

    a = (ngx_array_t **) (p + cmd->offset);

    if (*a != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    *a = ngx_array_create(cf->pool, cf->args->nelts - 1, sizeof(ngx_str_t));
    if (*a == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        if (value[i].len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "empty value in \"%V\"", &cmd->name);
            return NGX_CONF_ERROR;
        }

        s = ngx_array_push(*a);
        if (s == NULL) {
            return NGX_CONF_ERROR;
        }

        *s = value[i];
    }

    return NGX_CONF_OK;
}


/* RFC 6749, 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) */

static char *
ngx_http_mcp_auth_check_scope(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *scope = data;

    ngx_uint_t  i;

    if (scope->len == 0) {
        return "needs a scope";
    }

    for (i = 0; i < scope->len; i++) {
        if (scope->data[i] < 0x21 || scope->data[i] == '"'
            || scope->data[i] == '\\' || scope->data[i] > 0x7e)
        {
            return "has a scope with characters RFC 6749 does not allow";
        }
    }

    return NGX_CONF_OK;
}


/*
 * libjwt copies each segment of a token onto the worker's stack (alloca):
 * the largest token accepted stays well within a stack
 */

static char *
ngx_http_mcp_auth_check_max_size(ngx_conf_t *cf, void *post, void *data)
{
    size_t  *sp = data;

    if (*sp < 64 || *sp > NGX_HTTP_MCP_AUTH_MAX_TOKEN) {
        return "must be between 64 and 64k";
    }

    return NGX_CONF_OK;
}


/*
 * mcp_auth_jwt_cache <entries> [ttl=<time>] | off;
 */

static char *
ngx_http_mcp_auth_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mcp_auth_main_conf_t *amcf = conf;

    time_t      ttl;
    ngx_int_t   n;
    ngx_str_t  *value, s;

    if (amcf->cache_size != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts > 2) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" after \"off\"",
                               &value[2]);
            return NGX_CONF_ERROR;
        }

        amcf->cache_size = 0;
        return NGX_CONF_OK;
    }

    n = ngx_atoi(value[1].data, value[1].len);

    if (n == NGX_ERROR || n == 0 || n > 1024 * 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid number of entries \"%V\": 1 to 1048576, "
                           "or \"off\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    amcf->cache_size = (ngx_uint_t) n;

    if (cf->args->nelts == 3) {

        if (ngx_strncmp(value[2].data, "ttl=", 4) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        s.data = value[2].data + 4;
        s.len = value[2].len - 4;

        ttl = ngx_parse_time(&s, 1);

        if (ttl == (time_t) NGX_ERROR || ttl == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid ttl \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        amcf->cache_ttl = ttl;
    }

    return NGX_CONF_OK;
}
