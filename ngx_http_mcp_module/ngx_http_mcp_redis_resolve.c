
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * Names that move.  With a "resolver" in the http block, a node whose host
 * is a name is resolved by the worker (nginx's resolver: asynchronous,
 * cached as long as the answer's TTL or "valid=" says) before every
 * connect, and again every mcp_cache_redis_resolve_interval while it is
 * connected: when the name no longer points to the server it is connected
 * to (a managed service's failover moves its name), it reconnects, once
 * the commands under way are answered.  Without a resolver, names are
 * resolved once, when the configuration is loaded.
 */


#include "ngx_http_mcp_redis.h"


static ngx_int_t ngx_http_mcp_redis_resolve_start(
    ngx_http_mcp_redis_node_t *node, ngx_resolver_handler_pt handler);
static void ngx_http_mcp_redis_resolved(ngx_resolver_ctx_t *ctx);
static void ngx_http_mcp_redis_reresolve_handler(ngx_event_t *ev);
static void ngx_http_mcp_redis_reresolved(ngx_resolver_ctx_t *ctx);
static ngx_uint_t ngx_http_mcp_redis_resolve_has(ngx_resolver_ctx_t *ctx,
    ngx_http_mcp_redis_node_t *node);
static void ngx_http_mcp_redis_resolve_take(ngx_resolver_ctx_t *ctx,
    ngx_http_mcp_redis_node_t *node);


/* before a connect: the node is LOCATING, its connect timer runs */

void
ngx_http_mcp_redis_resolve(ngx_http_mcp_redis_node_t *node)
{
    u_char  *p;
    u_char   reason[NGX_HTTP_MCP_REDIS_ERROR_MAX];

    if (ngx_http_mcp_redis_resolve_start(node, ngx_http_mcp_redis_resolved)
        != NGX_OK)
    {
        p = ngx_snprintf(reason, sizeof(reason),
                         "\"%V\" could not be resolved: no resolver",
                         &node->host);

        ngx_http_mcp_redis_node_fail(node, (char *) reason, p - reason);
    }
}


static ngx_int_t
ngx_http_mcp_redis_resolve_start(ngx_http_mcp_redis_node_t *node,
    ngx_resolver_handler_pt handler)
{
    ngx_resolver_t      *resolver;
    ngx_resolver_ctx_t  *ctx;

    resolver = node->rds->conf->resolver;

    if (resolver == NULL) {
        return NGX_ERROR;
    }

    ctx = ngx_resolve_start(resolver, NULL);
    if (ctx == NULL || ctx == NGX_NO_RESOLVER) {
        return NGX_ERROR;
    }

    ctx->name = node->host;
    ctx->handler = handler;
    ctx->data = node;
    ctx->timeout = node->rds->conf->connect_timeout;

    /* a worker that exits does not wait for an answer */
    ctx->cancelable = 1;

    node->resolving = ctx;

    /* the handler may be called from here (a cached answer) */

    if (ngx_resolve_name(ctx) != NGX_OK) {
        node->resolving = NULL;
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_mcp_redis_resolved(ngx_resolver_ctx_t *ctx)
{
    ngx_http_mcp_redis_node_t *node = ctx->data;

    u_char  *p;
    u_char   reason[NGX_HTTP_MCP_REDIS_ERROR_MAX];

    node->resolving = NULL;

    if (ctx->state) {
        p = ngx_snprintf(reason, sizeof(reason),
                         "\"%V\" could not be resolved (%i: %s)",
                         &ctx->name, ctx->state,
                         ngx_resolver_strerror(ctx->state));

        ngx_resolve_name_done(ctx);

        ngx_http_mcp_redis_node_fail(node, (char *) reason, p - reason);
        return;
    }

    /* the server it was connected to, if the name still has it */

    if (node->socklen == 0 || !ngx_http_mcp_redis_resolve_has(ctx, node)) {
        ngx_http_mcp_redis_resolve_take(ctx, node);
    }

    ngx_resolve_name_done(ctx);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, node->rds->log, 0,
                   "mcp redis %V resolved, port %d", &node->host,
                   (int) node->port);

    ngx_http_mcp_redis_node_open(node);
}


/* while connected: is the name still where the connection goes? */

void
ngx_http_mcp_redis_resolve_follow(ngx_http_mcp_redis_node_t *node)
{
    if (node->rds->conf->resolver == NULL
        || node->rds->conf->resolve_interval == 0)
    {
        return;
    }

    node->reresolve.handler = ngx_http_mcp_redis_reresolve_handler;

    if (!node->reresolve.timer_set) {
        ngx_add_timer(&node->reresolve, node->rds->conf->resolve_interval);
    }
}


static void
ngx_http_mcp_redis_reresolve_handler(ngx_event_t *ev)
{
    ngx_http_mcp_redis_node_t *node = ev->data;

    if (node->state != NGX_HTTP_MCP_REDIS_READY || node->moving
        || node->resolving)
    {
        return;
    }

    if (ngx_http_mcp_redis_resolve_start(node, ngx_http_mcp_redis_reresolved)
        != NGX_OK)
    {
        ngx_http_mcp_redis_resolve_follow(node);
    }
}


static void
ngx_http_mcp_redis_reresolved(ngx_resolver_ctx_t *ctx)
{
    ngx_http_mcp_redis_node_t *node = ctx->data;

    u_char  text[NGX_SOCKADDR_STRLEN];
    size_t  len;

    node->resolving = NULL;

    if (ctx->state || ngx_http_mcp_redis_resolve_has(ctx, node)) {

        /* a name that fails to resolve now moves nothing */

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, node->rds->log, 0,
                       "mcp redis %V: resolved again, %i", &node->name,
                       ctx->state);

        ngx_resolve_name_done(ctx);
        ngx_http_mcp_redis_resolve_follow(node);
        return;
    }

    ngx_http_mcp_redis_resolve_take(ctx, node);
    ngx_resolve_name_done(ctx);

    len = ngx_sock_ntop(&node->sockaddr.sockaddr, node->socklen, text,
                        NGX_SOCKADDR_STRLEN, 0);

    ngx_log_error(NGX_LOG_NOTICE, node->rds->log, 0,
                  "mcp cache: redis %V now resolves to %*s, reconnecting",
                  &node->name, len, text);

    node->located = 1;

    ngx_http_mcp_redis_node_move(node, 1);
}


static ngx_uint_t
ngx_http_mcp_redis_resolve_has(ngx_resolver_ctx_t *ctx,
    ngx_http_mcp_redis_node_t *node)
{
    ngx_uint_t  i;

    for (i = 0; i < ctx->naddrs; i++) {
        if (ngx_cmp_sockaddr(ctx->addrs[i].sockaddr, ctx->addrs[i].socklen,
                             &node->sockaddr.sockaddr, node->socklen, 0)
            == NGX_OK)
        {
            return 1;
        }
    }

    return 0;
}


/* the name's first address, with the node's port */

static void
ngx_http_mcp_redis_resolve_take(ngx_resolver_ctx_t *ctx,
    ngx_http_mcp_redis_node_t *node)
{
    ngx_memcpy(&node->sockaddr, ctx->addrs[0].sockaddr,
               ctx->addrs[0].socklen);
    node->socklen = ctx->addrs[0].socklen;

    ngx_inet_set_port(&node->sockaddr.sockaddr, node->port);
}


void
ngx_http_mcp_redis_resolve_cancel(ngx_http_mcp_redis_node_t *node)
{
    if (node->resolving) {
        ngx_resolve_name_done(node->resolving);
        node->resolving = NULL;
    }
}
