
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * $mcp_* variables, for log_format, proxy_set_header and map.
 */


#include "ngx_http_mcp_module.h"


enum {
    NGX_HTTP_MCP_VAR_REGISTRY = 0,
    NGX_HTTP_MCP_VAR_VENDOR,
    NGX_HTTP_MCP_VAR_SERVER_ID,
    NGX_HTTP_MCP_VAR_ROUTE,
    NGX_HTTP_MCP_VAR_VIEW,
    NGX_HTTP_MCP_VAR_REGISTRY_ARGS
};


static ngx_int_t ngx_http_mcp_route_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_mcp_vars[] = {

    { ngx_string("mcp_registry"), NULL, ngx_http_mcp_route_variable,
      NGX_HTTP_MCP_VAR_REGISTRY, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mcp_vendor"), NULL, ngx_http_mcp_route_variable,
      NGX_HTTP_MCP_VAR_VENDOR, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mcp_server_id"), NULL, ngx_http_mcp_route_variable,
      NGX_HTTP_MCP_VAR_SERVER_ID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mcp_route"), NULL, ngx_http_mcp_route_variable,
      NGX_HTTP_MCP_VAR_ROUTE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mcp_view"), NULL, ngx_http_mcp_route_variable,
      NGX_HTTP_MCP_VAR_VIEW, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mcp_registry_args"), NULL, ngx_http_mcp_route_variable,
      NGX_HTTP_MCP_VAR_REGISTRY_ARGS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_mcp_add_variables(ngx_conf_t *cf)
{
    return ngx_http_mcp_add_variable_table(cf, ngx_http_mcp_vars);
}


/* a variables table ending with ngx_http_null_variable: each module's */

ngx_int_t
ngx_http_mcp_add_variable_table(ngx_conf_t *cf, ngx_http_variable_t *vars)
{
    ngx_http_variable_t  *var, *v;

    for (v = vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/*
 * The route of the main request, read from subrequests too (so that an
 * internal registry location can use them in "proxy_set_header").
 */

static ngx_int_t
ngx_http_mcp_route_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    const char            *s;
    ngx_http_mcp_ctx_t    *ctx;
    ngx_http_mcp_route_t  *route;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_mcp_module);

    if (ctx == NULL || ctx->route.registry == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    route = &ctx->route;

    switch (data) {

    case NGX_HTTP_MCP_VAR_REGISTRY:
        v->len = route->registry->name.len;
        v->data = route->registry->name.data;
        break;

    case NGX_HTTP_MCP_VAR_VENDOR:
        s = route->registry->vendor->name;
        v->len = ngx_strlen(s);
        v->data = (u_char *) s;
        break;

    case NGX_HTTP_MCP_VAR_SERVER_ID:
        v->len = route->id.len;
        v->data = route->id.data;
        break;

    case NGX_HTTP_MCP_VAR_ROUTE:
        s = route->canonical ? "canonical" : "native";
        v->len = ngx_strlen(s);
        v->data = (u_char *) s;
        break;

    case NGX_HTTP_MCP_VAR_VIEW:
        s = ctx->canonical_view ? "canonical" : "native";
        v->len = ngx_strlen(s);
        v->data = (u_char *) s;
        break;

    default: /* NGX_HTTP_MCP_VAR_REGISTRY_ARGS */

        /* the query string the registry is asked with: none on canonical */

        if (route->canonical) {
            v->len = 0;
            v->data = (u_char *) "";

        } else {
            v->len = r->main->args.len;
            v->data = r->main->args.data;
        }

        break;
    }

    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}
