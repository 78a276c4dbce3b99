
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * The cache's Redis client, one per worker: the deployment (one server,
 * a Sentinel set's primary, a Cluster's primaries), which primary serves
 * a key, whether it is trusted, and the logging of outages.
 *
 *   routing   one server, or Sentinel's primary: every key on it; a
 *             cluster: the primary of the key's slot (cluster file);
 *   trust     a primary is used once its handshake says it is one (ROLE)
 *             and which server it is (its run id); READONLY, MASTERDOWN
 *             and LOADING end that trust (reconnect, check again);
 *   outages   one warning per node and outage, with the reason, a notice
 *             when it answers again; whatever happens between is at debug
 *             level.  Secrets (passwords) are never logged.
 *
 * The connections are in ngx_http_mcp_redis_node.c, the commands in
 * ngx_http_mcp_redis_command.c.
 */


#include "ngx_http_mcp_redis.h"
#include "ngx_http_mcp_metrics.h"


ngx_http_mcp_redis_t *
ngx_http_mcp_redis_create(ngx_cycle_t *cycle, ngx_http_mcp_redis_conf_t *conf,
    ngx_http_mcp_redis_ready_pt ready, void *data)
{
    ngx_http_mcp_redis_t       *rds;
    ngx_http_mcp_redis_addr_t  *addr;

    rds = ngx_pcalloc(cycle->pool, sizeof(ngx_http_mcp_redis_t));
    if (rds == NULL) {
        return NULL;
    }

    rds->conf = conf;
    rds->log = cycle->log;
    rds->ready = ready;
    rds->ready_data = data;

    ngx_http_mcp_metrics_redis_up(0);

    switch (conf->mode) {

    case NGX_HTTP_MCP_REDIS_SENTINEL:
        if (ngx_http_mcp_redis_sentinel_init(rds) != NGX_OK) {
            return NULL;
        }

        break;

    case NGX_HTTP_MCP_REDIS_CLUSTER:
        if (ngx_http_mcp_redis_cluster_init(rds) != NGX_OK) {
            return NULL;
        }

        break;

    default: /* NGX_HTTP_MCP_REDIS_SINGLE */
        addr = conf->addrs->elts;

        rds->node = ngx_http_mcp_redis_node_create(rds,
                                                   NGX_HTTP_MCP_REDIS_PRIMARY,
                                                   &addr->host, addr->port,
                                                   addr->sockaddr,
                                                   addr->socklen);
        if (rds->node == NULL) {
            return NULL;
        }

        rds->node->up = ngx_http_mcp_redis_primary_up;

        ngx_http_mcp_redis_node_connect(rds->node);
        break;
    }

    return rds;
}


/* at worker exit: no handler is called any more */

void
ngx_http_mcp_redis_destroy(ngx_http_mcp_redis_t *rds)
{
    if (rds->exiting) {
        return;
    }

    rds->exiting = 1;

    if (rds->sentinel) {
        ngx_http_mcp_redis_sentinel_destroy(rds);
    }

    if (rds->cluster) {
        ngx_http_mcp_redis_cluster_destroy(rds);
    }

    ngx_http_mcp_redis_node_free(rds->node);
    rds->node = NULL;
}


ngx_uint_t
ngx_http_mcp_redis_ready(ngx_http_mcp_redis_t *rds)
{
    if (rds == NULL) {
        return 0;
    }

    if (rds->cluster) {
        return ngx_http_mcp_redis_cluster_ready(rds, 0);
    }

    return rds->node && rds->node->state == NGX_HTTP_MCP_REDIS_READY;
}


/* the primary that serves "key" now, without connecting or waiting */

static ngx_http_mcp_redis_node_t *
ngx_http_mcp_redis_serving(ngx_http_mcp_redis_t *rds, ngx_str_t *key)
{
    ngx_uint_t                  wait;
    ngx_http_mcp_redis_cmd_t    cmd;
    ngx_http_mcp_redis_node_t  *node;

    if (rds == NULL) {
        return NULL;
    }

    if (rds->cluster == NULL) {
        node = rds->node;

    } else {
        cmd.slot = key ? ngx_http_mcp_redis_slot(key)
                       : NGX_HTTP_MCP_REDIS_SLOTS;

        node = ngx_http_mcp_redis_cluster_node(rds, &cmd, &wait);
    }

    if (node == NULL || node->state != NGX_HTTP_MCP_REDIS_READY
        || node->moving || node->retired)
    {
        return NULL;
    }

    return node;
}


u_char *
ngx_http_mcp_redis_run_id(ngx_http_mcp_redis_t *rds, ngx_str_t *key)
{
    ngx_http_mcp_redis_node_t  *node;

    if (rds && rds->answering) {
        /* in a reply handler: the primary that answered */
        return rds->answering->run_id;
    }

    node = ngx_http_mcp_redis_serving(rds, key);

    return node ? node->run_id : NULL;
}


ngx_uint_t
ngx_http_mcp_redis_scripts_work(ngx_http_mcp_redis_t *rds)
{
    if (rds == NULL) {
        return 0;
    }

    if (rds->cluster) {
        return ngx_http_mcp_redis_cluster_ready(rds, 1);
    }

    return rds->node && rds->node->scripts;
}


ngx_uint_t
ngx_http_mcp_redis_scripts_work_key(ngx_http_mcp_redis_t *rds, ngx_str_t *key)
{
    ngx_http_mcp_redis_node_t  *node;

    node = ngx_http_mcp_redis_serving(rds, key);

    return node && node->scripts;
}


void
ngx_http_mcp_redis_script_init(ngx_http_mcp_redis_script_t *script)
{
    u_char      hash[20];
    ngx_sha1_t  sha1;

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, script->text.data, script->text.len);
    ngx_sha1_final(hash, &sha1);

    ngx_hex_dump(script->sha1, hash, sizeof(hash));
}


/* a primary's handshake is done: the cache's invalidations go first */

void
ngx_http_mcp_redis_primary_up(ngx_http_mcp_redis_node_t *node)
{
    ngx_http_mcp_redis_t  *rds;

    rds = node->rds;

    ngx_http_mcp_metrics_redis_up(1);

    if (rds->ready) {
        rds->ready(rds, rds->ready_data);
    }
}


static const char *
ngx_http_mcp_redis_what(ngx_http_mcp_redis_node_t *node)
{
    switch (node->kind) {

    case NGX_HTTP_MCP_REDIS_DISCOVERY:
        return "cluster node ";

    case NGX_HTTP_MCP_REDIS_SENTINEL_QUERY:
    case NGX_HTTP_MCP_REDIS_SENTINEL_SUB:
        return "sentinel ";

    case NGX_HTTP_MCP_REDIS_CHANNEL:
        return "invalidation channel ";

    default:
        return "";
    }
}


/* once per node and outage; the rest at debug level */

void
ngx_http_mcp_redis_unavailable(ngx_http_mcp_redis_node_t *node,
    const char *reason, size_t len)
{
    ngx_http_mcp_redis_t  *rds;

    rds = node->rds;
    len = ngx_min(len, NGX_HTTP_MCP_REDIS_ERROR_MAX);

    if (rds->sentinel
        && (node->kind == NGX_HTTP_MCP_REDIS_SENTINEL_QUERY
            || node->kind == NGX_HTTP_MCP_REDIS_SENTINEL_SUB))
    {
        /* once per sentinel, whichever connection to it says it */
        node->failing = !ngx_http_mcp_redis_sentinel_said(node, 1);
    }

    if (node->kind == NGX_HTTP_MCP_REDIS_PRIMARY) {
        ngx_http_mcp_metrics_redis_up(0);
    }

    if (node->failing || rds->exiting) {
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, rds->log, 0,
                       "mcp redis %V: %*s", &node->name, len, reason);
        node->failing = 1;
        return;
    }

    node->failing = 1;

    ngx_log_error(NGX_LOG_WARN, rds->log, 0,
                  "mcp cache: redis %s%V unavailable (%*s), %s",
                  ngx_http_mcp_redis_what(node), &node->name, len, reason,
                  node->kind == NGX_HTTP_MCP_REDIS_CHANNEL
                  ? "the L1 cache is bypassed until it is back"
                  : "serving from upstream");
}


/* the node answers again: said once, and the cache hears of it */

void
ngx_http_mcp_redis_available(ngx_http_mcp_redis_node_t *node)
{
    ngx_http_mcp_redis_t  *rds;

    rds = node->rds;

    if (node->kind == NGX_HTTP_MCP_REDIS_CHANNEL && !node->failing) {
        /* it connects after a sentinel says where: no outage to end */
        return;
    }

    node->failing = 0;

    if (rds->sentinel
        && (node->kind == NGX_HTTP_MCP_REDIS_SENTINEL_QUERY
            || node->kind == NGX_HTTP_MCP_REDIS_SENTINEL_SUB)
        && !ngx_http_mcp_redis_sentinel_said(node, 0))
    {
        /* not said to be failing: this sentinel, or this connection */
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, rds->log, 0,
                  "mcp cache: redis %s%V is available again",
                  ngx_http_mcp_redis_what(node), &node->name);

    /* what it missed meanwhile, if it stayed connected */

    if (node->kind == NGX_HTTP_MCP_REDIS_PRIMARY && rds->ready) {
        rds->ready(rds, rds->ready_data);
    }
}
