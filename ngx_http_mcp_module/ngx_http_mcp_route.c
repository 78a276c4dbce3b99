
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * Request URI to route: which registry, which server id.
 *
 * Both route kinds are matched at the end of the URI, so the location
 * prefix in front of them (the new base URL a client is given) is free:
 *
 *     native:     <prefix>/api/v1/mcp-servers/{id}    (per vendor)
 *     canonical:  <prefix>/mcp-servers/{registry}/{id}
 */


#include "ngx_http_mcp_module.h"


static ngx_int_t ngx_http_mcp_split_last(ngx_str_t *path, ngx_str_t *head,
    ngx_str_t *last);
static ngx_uint_t ngx_http_mcp_ends_with(ngx_str_t *s, const char *tail);


ngx_int_t
ngx_http_mcp_route_parse(ngx_http_request_t *r, ngx_http_mcp_loc_conf_t *mlcf,
    ngx_http_mcp_route_t *route)
{
    u_char                    *id;
    ngx_str_t                  head, name, rest;
    ngx_http_mcp_main_conf_t  *mmcf;

    if (ngx_http_mcp_split_last(&r->uri, &head, &route->id) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (mlcf->registry) {
        route->registry = mlcf->registry;
        route->canonical = 0;

        if (!ngx_http_mcp_ends_with(&head, mlcf->registry->vendor->path))
        {
            return NGX_DECLINED;
        }

    } else {
        route->canonical = 1;

        /* head is ".../mcp-servers/{registry}/" */

        head.len--;

        if (ngx_http_mcp_split_last(&head, &rest, &name) != NGX_OK
            || !ngx_http_mcp_ends_with(&rest, "/mcp-servers/"))
        {
            return NGX_DECLINED;
        }

        mmcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_module);

        route->registry = ngx_http_mcp_registry_find(mmcf, &name);
        if (route->registry == NULL) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "mcp: unknown registry in \"%V\"", &r->uri);
            return NGX_HTTP_NOT_FOUND;
        }
    }

    /* the id's one spelling keys the cache and goes to the registry */

    id = ngx_pnalloc(r->pool, ngx_max(route->id.len, 1));
    if (id == NULL) {
        return NGX_ERROR;
    }

    if (!ngx_http_mcp_vendor_id(route->registry->vendor, route->id.data,
                                route->id.len, id))
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mcp: \"%V\" is not a %s server id",
                      &r->uri, route->registry->vendor->name);
        return NGX_HTTP_NOT_FOUND;
    }

    route->id.data = id;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mcp route: registry \"%V\" id \"%V\" canonical:%ui",
                   &route->registry->name, &route->id,
                   (ngx_uint_t) route->canonical);

    return NGX_OK;
}


ngx_http_mcp_registry_t *
ngx_http_mcp_registry_find(ngx_http_mcp_main_conf_t *mmcf, ngx_str_t *name)
{
    ngx_uint_t                i;
    ngx_http_mcp_registry_t  *reg;

    reg = mmcf->registries.elts;

    for (i = 0; i < mmcf->registries.nelts; i++) {
        if (reg[i].name.len == name->len
            && ngx_strncmp(reg[i].name.data, name->data, name->len) == 0)
        {
            return &reg[i];
        }
    }

    return NULL;
}


/* "/a/b/c" -> head "/a/b/", last "c"; the last segment must not be empty */

static ngx_int_t
ngx_http_mcp_split_last(ngx_str_t *path, ngx_str_t *head, ngx_str_t *last)
{
    u_char  *p;

    if (path->len == 0) {
        return NGX_DECLINED;
    }

    for (p = path->data + path->len; p > path->data; p--) {
        if (p[-1] == '/') {
            break;
        }
    }

    if (p == path->data || p == path->data + path->len) {
        return NGX_DECLINED;
    }

    head->data = path->data;
    head->len = p - path->data;

    last->data = p;
    last->len = path->data + path->len - p;

    return NGX_OK;
}


static ngx_uint_t
ngx_http_mcp_ends_with(ngx_str_t *s, const char *tail)
{
    size_t  n;

    n = ngx_strlen(tail);

    return s->len >= n
           && ngx_strncmp(s->data + s->len - n, tail, n) == 0;
}
