
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * The locations the module's subrequests go to must be "internal": a
 * registry's location sends the gateway's own vendor credential, a key
 * location fetches what decides who is let in.  A client that reached
 * either directly would act as the gateway.
 *
 *   - at configuration time (nginx -t): for each server with a registry
 *     route (mcp_pass, mcp_canonical), the location nginx would choose for
 *     each registry's "pass=" prefix (static tree, nested and regular
 *     expression locations, as ngx_http_core_find_location() does) must be
 *     internal;
 *   - at run time, for what configuration cannot see (a server-level
 *     rewrite that moves the subrequest): a registry subrequest that finds
 *     a location without "internal" is refused before its content handler
 *     (proxy_pass) runs, in the preaccess phase (the access phase is
 *     skipped for subrequests).
 */


#include "ngx_http_mcp_module.h"


typedef struct {
    ngx_http_core_srv_conf_t   *cscf;
    ngx_str_t                   registry;   /* empty: mcp_canonical */
} ngx_http_mcp_internal_route_t;


static ngx_int_t ngx_http_mcp_internal_check_registry(ngx_conf_t *cf,
    ngx_http_core_srv_conf_t *cscf, ngx_http_mcp_registry_t *reg);
static ngx_int_t ngx_http_mcp_internal_lookup(
    ngx_http_core_loc_conf_t *pclcf, ngx_str_t *uri,
    ngx_http_core_loc_conf_t **clcf);
static ngx_int_t ngx_http_mcp_internal_static(
    ngx_http_location_tree_node_t *node, ngx_str_t *uri,
    ngx_http_core_loc_conf_t **clcf);
static ngx_int_t ngx_http_mcp_internal_handler(ngx_http_request_t *r);


/* a location of this server sends subrequests to a registry (or to all) */

ngx_int_t
ngx_http_mcp_internal_route(ngx_conf_t *cf, ngx_str_t *registry)
{
    ngx_http_mcp_main_conf_t       *mmcf;
    ngx_http_mcp_internal_route_t  *route;

    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mcp_module);

    if (mmcf->routes == NULL) {
        mmcf->routes = ngx_array_create(cf->pool, 4,
                                        sizeof(ngx_http_mcp_internal_route_t));
        if (mmcf->routes == NULL) {
            return NGX_ERROR;
        }
    }

    route = ngx_array_push(mmcf->routes);
    if (route == NULL) {
        return NGX_ERROR;
    }

    route->cscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module);

    if (registry) {
        route->registry = *registry;

    } else {
        ngx_str_null(&route->registry);
    }

    return NGX_OK;
}


/* postconfiguration: every registry a server's routes reach */

ngx_int_t
ngx_http_mcp_internal_check(ngx_conf_t *cf)
{
    ngx_uint_t                      i, j;
    ngx_http_handler_pt            *h;
    ngx_http_mcp_registry_t        *reg;
    ngx_http_mcp_main_conf_t       *mmcf;
    ngx_http_core_main_conf_t      *cmcf;
    ngx_http_mcp_internal_route_t  *route;

    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mcp_module);

    route = mmcf->routes ? mmcf->routes->elts : NULL;
    reg = mmcf->registries.elts;

    for (i = 0; mmcf->routes && i < mmcf->routes->nelts; i++) {

        for (j = 0; j < mmcf->registries.nelts; j++) {

            if (route[i].registry.len
                && (route[i].registry.len != reg[j].name.len
                    || ngx_strncmp(route[i].registry.data, reg[j].name.data,
                                   reg[j].name.len)
                       != 0))
            {
                continue;
            }

            if (ngx_http_mcp_internal_check_registry(cf, route[i].cscf,
                                                     &reg[j])
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_mcp_internal_handler;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mcp_internal_check_registry(ngx_conf_t *cf,
    ngx_http_core_srv_conf_t *cscf, ngx_http_mcp_registry_t *reg)
{
    u_char                    *p;
    ngx_str_t                  uri;
    ngx_http_core_loc_conf_t  *clcf;

    /* a URI the registry's subrequests have: <pass><vendor path><id> */

    uri.len = reg->pass.len + ngx_strlen(reg->vendor->path) + 1;

    uri.data = ngx_pnalloc(cf->temp_pool, uri.len);
    if (uri.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(uri.data, reg->pass.data, reg->pass.len);
    p = ngx_cpymem(p, reg->vendor->path, ngx_strlen(reg->vendor->path));
    *p = '1';

    if (ngx_http_mcp_internal_find(cscf, &uri, &clcf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* no location at all: the subrequest would find nothing to reach */

    if (clcf == NULL || clcf->internal) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                  "mcp registry \"%V\": \"pass=%V\" is served by location "
                  "\"%V\" of server \"%V\", which is not internal: add "
                  "\"internal;\" to it, or clients reach the registry "
                  "directly with the gateway's credential",
                  &reg->name, &reg->pass, &clcf->name, &cscf->server_name);

    return NGX_ERROR;
}


/*
 * The location of this server that serves uri, as nginx would choose it;
 * NULL if none does.  NGX_OK or NGX_ERROR.
 */

ngx_int_t
ngx_http_mcp_internal_find(ngx_http_core_srv_conf_t *cscf, ngx_str_t *uri,
    ngx_http_core_loc_conf_t **clcf)
{
    ngx_http_core_loc_conf_t  *root;

    root = cscf->ctx->loc_conf[ngx_http_core_module.ctx_index];

    *clcf = NULL;

    return (ngx_http_mcp_internal_lookup(root, uri, clcf) == NGX_ERROR)
           ? NGX_ERROR : NGX_OK;
}


/* ngx_http_core_find_location()'s choice, without a request */

static ngx_int_t
ngx_http_mcp_internal_lookup(ngx_http_core_loc_conf_t *pclcf, ngx_str_t *uri,
    ngx_http_core_loc_conf_t **clcf)
{
    ngx_int_t                   rc;
    ngx_uint_t                  noregex;
#if (NGX_PCRE)
    ngx_int_t                   n;
    ngx_http_core_loc_conf_t  **clcfp;
#endif

    noregex = 0;

    rc = ngx_http_mcp_internal_static(pclcf->static_locations, uri, clcf);

    if (rc == NGX_AGAIN) {
        noregex = (*clcf)->noregex;

        /* the locations nested in the one found */

        rc = ngx_http_mcp_internal_lookup(*clcf, uri, clcf);
    }

    if (rc == NGX_OK || rc == NGX_DONE) {
        return rc;
    }

#if (NGX_PCRE)

    if (noregex == 0 && pclcf->regex_locations) {

        for (clcfp = pclcf->regex_locations; *clcfp; clcfp++) {

            n = ngx_regex_exec((*clcfp)->regex->regex, uri, NULL, 0);

            if (n == NGX_REGEX_NO_MATCHED) {
                continue;
            }

            if (n < 0) {
                return NGX_ERROR;
            }

            *clcf = *clcfp;

            rc = ngx_http_mcp_internal_lookup(*clcf, uri, clcf);

            return (rc == NGX_ERROR) ? rc : NGX_OK;
        }
    }

#endif

    return rc;
}


/* ngx_http_core_find_static_location()'s walk of the location tree */

static ngx_int_t
ngx_http_mcp_internal_static(ngx_http_location_tree_node_t *node,
    ngx_str_t *uri, ngx_http_core_loc_conf_t **clcf)
{
    u_char     *p;
    size_t      len, n;
    ngx_int_t   rc, rv;

    len = uri->len;
    p = uri->data;

    rv = NGX_DECLINED;

    for ( ;; ) {

        if (node == NULL) {
            return rv;
        }

        n = (len <= (size_t) node->len) ? len : node->len;

        rc = ngx_filename_cmp(p, node->name, n);

        if (rc != 0) {
            node = (rc < 0) ? node->left : node->right;
            continue;
        }

        if (len > (size_t) node->len) {

            if (node->inclusive) {
                *clcf = node->inclusive;
                rv = NGX_AGAIN;

                node = node->tree;
                p += n;
                len -= n;

                continue;
            }

            /* exact only */

            node = node->right;
            continue;
        }

        if (len == (size_t) node->len) {

            if (node->exact) {
                *clcf = node->exact;
                return NGX_OK;
            }

            *clcf = node->inclusive;
            return NGX_AGAIN;
        }

        /* len < node->len */

        if (len + 1 == (size_t) node->len && node->auto_redirect) {
            *clcf = node->exact ? node->exact : node->inclusive;
            return NGX_DONE;
        }

        node = node->left;
    }
}


/* a registry subrequest in a location that is not internal: refused */

static ngx_int_t
ngx_http_mcp_internal_handler(ngx_http_request_t *r)
{
    ngx_http_mcp_ctx_t  *ctx;

    if (r == r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_mcp_module);

    if (ctx == NULL || ctx->sr != r) {
        return NGX_DECLINED;
    }

    return ngx_http_mcp_internal_refuse(r, "registry");
}


/* NGX_DECLINED in an internal location, else a 403 logged */

ngx_int_t
ngx_http_mcp_internal_refuse(ngx_http_request_t *r, const char *what)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (clcf->internal) {
        return NGX_DECLINED;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "the %s subrequest \"%V\" is served by location \"%V\", "
                  "which is not internal: refused", what, &r->uri,
                  &clcf->name);

    return NGX_HTTP_FORBIDDEN;
}
