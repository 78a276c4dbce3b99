
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * The L1 cache's invalidation channel ("mcp_cache_l1 on",
 * ngx_http_mcp_cache_l1.c): one connection of the node to the Redis
 * primary its workers use, on which Redis says which of the cache's keys
 * changed (server-assisted client-side caching, RESP2):
 *
 *   CLIENT ID
 *   CLIENT TRACKING on BCAST PREFIX <mcp_cache_key_prefix> REDIRECT <id>
 *   SUBSCRIBE __redis__:invalidate
 *
 * BCAST with the cache's prefix: Redis reports every change of every key
 * under it, whichever connection (of whichever node) read or wrote it,
 * so the node's reads need no tracking of their own; REDIRECT to the
 * connection itself, which then only listens.  A message names keys (or
 * nil: the database was flushed); each key's hash tag is its server's
 * (ngx_http_mcp_cache_l1_tag()), whose entries go.
 *
 * Liveness: a PING every third of the lease.  Its answer comes after
 * every invalidation Redis made before it read the PING, so the layer may
 * be served until the PING's send time plus the lease, less a quarter
 * (for the clocks' rates and a busy worker's cached time); a write waits
 * the whole lease after its mark (ngx_http_mcp_cache_write.c).  A PING
 * unanswered within mcp_cache_redis_timeout, the connection lost, or the
 * worker's primary not the channel's server (a failover, a restart: its
 * run id) ends it: the layer is emptied and bypassed until the channel is
 * back (ngx_http_mcp_cache_l1_off()), said once per outage.
 *
 * Who holds it: worker 0 ("ngx_worker"), for the node.  One connection a
 * node is what BCAST needs (Redis sends each invalidation once to each
 * listener: one per worker would only multiply them), and worker 0 always
 * exists: the master starts it again with the same number if it dies,
 * and a reload's new worker 0 listens while the old one finishes (both
 * renew the lease, each with what it heard).  A lock in the zone would
 * let any worker take over, at the cost of a lease on the lock itself
 * and of two workers that may both believe they hold it; worker 0's
 * death costs at most the lease plus its restart, with the layer
 * bypassed meanwhile.  A Redis Cluster has no single primary to listen
 * to: the layer is off there (mcp_cache_l1's configuration says so).
 */


#include "ngx_http_mcp_cache.h"


#define NGX_HTTP_MCP_CACHE_CHANNEL  "__redis__:invalidate"


struct ngx_http_mcp_cache_channel_s {
    ngx_http_mcp_redis_node_t      *node;
    ngx_shm_zone_t                 *zone;
    ngx_str_t                       prefix;
    ngx_msec_t                      lease;

    ngx_event_t                     tick;       /* every third of the lease */
    ngx_msec_t                      sent;       /* the PING awaited */
    ngx_msec_t                      next;       /* no connect before */
    ngx_msec_t                      backoff;

    unsigned                        pinging:1;
    unsigned                        listening:1; /* subscribed */
};


static void ngx_http_mcp_cache_channel_locate(ngx_http_mcp_redis_node_t *node);
static void ngx_http_mcp_cache_channel_up(ngx_http_mcp_redis_node_t *node);
static void ngx_http_mcp_cache_channel_id(ngx_http_mcp_redis_node_t *node,
    redisReply *reply);
static void ngx_http_mcp_cache_channel_tracking(
    ngx_http_mcp_redis_node_t *node, redisReply *reply);
static void ngx_http_mcp_cache_channel_ping(ngx_http_mcp_cache_channel_t *ch);
static void ngx_http_mcp_cache_channel_message(ngx_http_mcp_redis_node_t *node,
    redisReply *reply);
static void ngx_http_mcp_cache_channel_key(ngx_http_mcp_cache_channel_t *ch,
    redisReply *key);
static void ngx_http_mcp_cache_channel_down(ngx_http_mcp_redis_node_t *node);
static void ngx_http_mcp_cache_channel_tick(ngx_event_t *ev);
static void ngx_http_mcp_cache_channel_refused(ngx_http_mcp_redis_node_t *node,
    const char *what, redisReply *reply);


ngx_int_t
ngx_http_mcp_cache_channel_init(ngx_cycle_t *cycle,
    ngx_http_mcp_cache_main_conf_t *mcf)
{
    ngx_http_mcp_redis_node_t     *node;
    ngx_http_mcp_cache_channel_t  *ch;

    ch = ngx_pcalloc(cycle->pool, sizeof(ngx_http_mcp_cache_channel_t));
    if (ch == NULL) {
        return NGX_ERROR;
    }

    node = ngx_http_mcp_redis_node_create(mcf->rds, NGX_HTTP_MCP_REDIS_CHANNEL,
                                          NULL, 0, NULL, 0);
    if (node == NULL) {
        return NGX_ERROR;
    }

    /* the tick connects it, once the worker's primary is ready */

    node->on_demand = 1;
    node->data = ch;
    node->locate = ngx_http_mcp_cache_channel_locate;
    node->up = ngx_http_mcp_cache_channel_up;
    node->down = ngx_http_mcp_cache_channel_down;
    node->message = ngx_http_mcp_cache_channel_message;

    ch->node = node;
    ch->zone = mcf->zone;
    ch->prefix = mcf->prefix;
    ch->lease = mcf->l1_lease;
    ch->backoff = NGX_HTTP_MCP_REDIS_BACKOFF_MIN;
    ch->next = ngx_current_msec;

    ch->tick.handler = ngx_http_mcp_cache_channel_tick;
    ch->tick.data = ch;
    ch->tick.log = cycle->log;
    ch->tick.cancelable = 1;

    ngx_add_timer(&ch->tick, 1);

    mcf->channel = ch;

    return NGX_OK;
}


/* at the worker's exit: no handler is called any more, the layer stays */

void
ngx_http_mcp_cache_channel_destroy(ngx_http_mcp_cache_main_conf_t *mcf)
{
    ngx_http_mcp_cache_channel_t  *ch;

    ch = mcf->channel;

    if (ch == NULL) {
        return;
    }

    if (ch->tick.timer_set) {
        ngx_del_timer(&ch->tick);
    }

    ngx_http_mcp_redis_node_free(ch->node);

    mcf->channel = NULL;
}


/* the channel goes where the worker's primary is (a sentinel's, too) */

static void
ngx_http_mcp_cache_channel_locate(ngx_http_mcp_redis_node_t *node)
{
    ngx_http_mcp_redis_node_t  *primary;

    primary = node->rds->node;

    if (primary == NULL || primary->state != NGX_HTTP_MCP_REDIS_READY) {
        ngx_http_mcp_redis_node_fail(node, "no primary",
                                     sizeof("no primary") - 1);
        return;
    }

    if (ngx_http_mcp_redis_node_set(node, &primary->host, primary->port,
                                    &primary->sockaddr.sockaddr,
                                    primary->socklen)
        != NGX_OK)
    {
        ngx_http_mcp_redis_node_fail(node, "bad address",
                                     sizeof("bad address") - 1);
        return;
    }

    ngx_http_mcp_redis_node_open(node);
}


/*
 * Connected to a primary (its handshake checked the role): what the
 * layer holds may have missed invalidations while nobody listened, so it
 * goes; then the tracking is set up
 */

static void
ngx_http_mcp_cache_channel_up(ngx_http_mcp_redis_node_t *node)
{
    size_t                         argvlen[2];
    const char                    *argv[2];
    ngx_http_mcp_cache_channel_t  *ch;

    ch = node->data;

    ngx_http_mcp_cache_l1_flush(ch->zone);

    argv[0] = "CLIENT";
    argvlen[0] = sizeof("CLIENT") - 1;
    argv[1] = "ID";
    argvlen[1] = sizeof("ID") - 1;

    if (ngx_http_mcp_redis_node_internal(node, ngx_http_mcp_cache_channel_id,
                                         2, argv, argvlen)
        != NGX_OK)
    {
        ngx_http_mcp_redis_node_fail(node, "CLIENT ID not sent",
                                     sizeof("CLIENT ID not sent") - 1);
    }
}


static void
ngx_http_mcp_cache_channel_id(ngx_http_mcp_redis_node_t *node,
    redisReply *reply)
{
    int                            argc;
    u_char                         id[NGX_INT64_LEN];
    size_t                         argvlen[8];
    const char                    *argv[8];
    ngx_http_mcp_cache_channel_t  *ch;

    if (reply == NULL || node->state != NGX_HTTP_MCP_REDIS_READY) {
        /* the connection failed: its down handler goes on */
        return;
    }

    if (reply->type != REDIS_REPLY_INTEGER) {
        ngx_http_mcp_cache_channel_refused(node, "CLIENT ID", reply);
        return;
    }

    ch = node->data;

    argc = 0;
    argv[argc] = "CLIENT";
    argvlen[argc++] = sizeof("CLIENT") - 1;
    argv[argc] = "TRACKING";
    argvlen[argc++] = sizeof("TRACKING") - 1;
    argv[argc] = "on";
    argvlen[argc++] = sizeof("on") - 1;
    argv[argc] = "BCAST";
    argvlen[argc++] = sizeof("BCAST") - 1;

    if (ch->prefix.len) {
        argv[argc] = "PREFIX";
        argvlen[argc++] = sizeof("PREFIX") - 1;
        argv[argc] = (const char *) ch->prefix.data;
        argvlen[argc++] = ch->prefix.len;
    }

    argv[argc] = "REDIRECT";
    argvlen[argc++] = sizeof("REDIRECT") - 1;
    argv[argc] = (const char *) id;
    argvlen[argc++] = ngx_sprintf(id, "%L", (int64_t) reply->integer) - id;

    if (ngx_http_mcp_redis_node_internal(node,
                                         ngx_http_mcp_cache_channel_tracking,
                                         argc, argv, argvlen)
        != NGX_OK)
    {
        ngx_http_mcp_redis_node_fail(node, "CLIENT TRACKING not sent",
                                     sizeof("CLIENT TRACKING not sent") - 1);
    }
}


/* tracking is on: the connection subscribes, and listens from now on */

static void
ngx_http_mcp_cache_channel_tracking(ngx_http_mcp_redis_node_t *node,
    redisReply *reply)
{
    size_t                         argvlen[2];
    const char                    *argv[2];
    ngx_http_mcp_cache_channel_t  *ch;

    if (reply == NULL || node->state != NGX_HTTP_MCP_REDIS_READY) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_http_mcp_cache_channel_refused(node, "CLIENT TRACKING", reply);
        return;
    }

    ch = node->data;

    argv[0] = "SUBSCRIBE";
    argvlen[0] = sizeof("SUBSCRIBE") - 1;
    argv[1] = NGX_HTTP_MCP_CACHE_CHANNEL;
    argvlen[1] = sizeof(NGX_HTTP_MCP_CACHE_CHANNEL) - 1;

    if (ngx_http_mcp_redis_node_write(node, 2, argv, argvlen) != NGX_OK) {
        ngx_http_mcp_redis_node_fail(node, "SUBSCRIBE not sent",
                                     sizeof("SUBSCRIBE not sent") - 1);
        return;
    }

    /* every reply is a message now, the PINGs' answers too */

    node->subscribed = 1;
    ch->listening = 1;

    /* once answered, the layer may be served */

    ngx_http_mcp_cache_channel_ping(ch);
}


static void
ngx_http_mcp_cache_channel_ping(ngx_http_mcp_cache_channel_t *ch)
{
    size_t       argvlen[1];
    const char  *argv[1];

    argv[0] = "PING";
    argvlen[0] = sizeof("PING") - 1;

    if (ngx_http_mcp_redis_node_write(ch->node, 1, argv, argvlen) != NGX_OK) {
        ngx_http_mcp_redis_node_fail(ch->node, "PING not sent",
                                     sizeof("PING not sent") - 1);
        return;
    }

    ch->sent = ngx_current_msec;
    ch->pinging = 1;
}


/*
 * ["message", "__redis__:invalidate", [key, ...] or nil], ["pong", ""],
 * ["subscribe", ...]
 */

static void
ngx_http_mcp_cache_channel_message(ngx_http_mcp_redis_node_t *node,
    redisReply *reply)
{
    size_t                         i;
    redisReply                   **e, *keys;
    ngx_http_mcp_cache_channel_t  *ch;

    ch = node->data;

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_http_mcp_cache_channel_refused(node, "SUBSCRIBE", reply);
        return;
    }

    e = reply->element;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0
        || e[0]->type != REDIS_REPLY_STRING)
    {
        return;
    }

    if (e[0]->len == sizeof("pong") - 1
        && ngx_strncmp(e[0]->str, "pong", sizeof("pong") - 1) == 0)
    {
        if (ch->pinging) {
            ch->pinging = 0;
            ch->backoff = NGX_HTTP_MCP_REDIS_BACKOFF_MIN;

            if (node->failing) {
                ngx_http_mcp_redis_available(node);
            }

            ngx_http_mcp_cache_l1_heard(ch->zone, ch->sent,
                                        ch->lease - ch->lease / 4);
        }

        return;
    }

    if (reply->elements != 3
        || e[0]->len != sizeof("message") - 1
        || ngx_strncmp(e[0]->str, "message", sizeof("message") - 1) != 0
        || e[1]->type != REDIS_REPLY_STRING
        || e[1]->len != sizeof(NGX_HTTP_MCP_CACHE_CHANNEL) - 1
        || ngx_strncmp(e[1]->str, NGX_HTTP_MCP_CACHE_CHANNEL,
                       sizeof(NGX_HTTP_MCP_CACHE_CHANNEL) - 1)
           != 0)
    {
        /* the subscription's confirmation */
        return;
    }

    keys = e[2];

    switch (keys->type) {

    case REDIS_REPLY_ARRAY:
        for (i = 0; i < keys->elements; i++) {
            ngx_http_mcp_cache_channel_key(ch, keys->element[i]);
        }

        return;

    case REDIS_REPLY_STRING:
        ngx_http_mcp_cache_channel_key(ch, keys);
        return;

    default:

        /* nil: FLUSHALL, FLUSHDB; everything went */

        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, node->rds->log, 0,
                       "mcp cache l1: redis was flushed");

        ngx_http_mcp_cache_l1_flush(ch->zone);
        return;
    }
}


static void
ngx_http_mcp_cache_channel_key(ngx_http_mcp_cache_channel_t *ch,
    redisReply *key)
{
    ngx_str_t  tag;

    if (key->type != REDIS_REPLY_STRING) {
        return;
    }

    tag.len = ngx_http_mcp_cache_l1_tag((u_char *) key->str, key->len,
                                        &tag.data);

    if (tag.len == 0) {
        /* under the prefix, not the cache's */
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ch->node->rds->log, 0,
                   "mcp cache l1: invalidated %V", &tag);

    ngx_http_mcp_cache_l1_invalidate(ch->zone, &tag);
}


/* lost: the layer goes, and is bypassed until the channel is back */

static void
ngx_http_mcp_cache_channel_down(ngx_http_mcp_redis_node_t *node)
{
    ngx_msec_t                     backoff;
    ngx_http_mcp_cache_channel_t  *ch;

    ch = node->data;

    ch->pinging = 0;
    ch->listening = 0;

    ngx_http_mcp_cache_l1_off(ch->zone);

    /* 75% to 125% of the backoff, as the other connections */

    backoff = ch->backoff;

    ch->next = ngx_current_msec + backoff - backoff / 4
               + (ngx_msec_t) ngx_random() % (backoff / 2 + 1);

    ch->backoff = ngx_min(backoff * 2, NGX_HTTP_MCP_REDIS_BACKOFF_MAX);
}


/*
 * Every third of the lease: connect when the worker's primary is ready,
 * PING, and check the channel listens to that primary, and that its PING
 * is answered in time.
 */

static void
ngx_http_mcp_cache_channel_tick(ngx_event_t *ev)
{
    ngx_http_mcp_cache_channel_t *ch = ev->data;

    ngx_http_mcp_redis_t       *rds;
    ngx_http_mcp_redis_node_t  *node, *primary;

    node = ch->node;
    rds = node->rds;

    if (rds->exiting) {
        return;
    }

    primary = rds->node;

    switch (node->state) {

    case NGX_HTTP_MCP_REDIS_IDLE:
        if (primary && primary->state == NGX_HTTP_MCP_REDIS_READY
            && (ngx_msec_int_t) (ngx_current_msec - ch->next) >= 0)
        {
            ngx_http_mcp_redis_node_connect(node);
        }

        break;

    case NGX_HTTP_MCP_REDIS_READY:

        if (ch->pinging) {
            if (ngx_current_msec - ch->sent >= rds->conf->timeout) {
                ngx_http_mcp_redis_node_fail(node, "PING timed out",
                                             sizeof("PING timed out") - 1);
            }

            break;
        }

        if (!ch->listening || primary == NULL
            || primary->state != NGX_HTTP_MCP_REDIS_READY)
        {
            /* the lease runs out meanwhile */
            break;
        }

        if (ngx_memcmp(primary->run_id, node->run_id,
                       NGX_HTTP_MCP_REDIS_RUN_ID_LEN)
            != 0)
        {
            /* a failover or a restart: another server takes the writes */

            ngx_http_mcp_redis_node_fail(node, "the primary changed",
                                         sizeof("the primary changed") - 1);
            break;
        }

        ngx_http_mcp_cache_channel_ping(ch);
        break;

    default:
        /* connecting: the connect timer covers it */
        break;
    }

    ngx_add_timer(&ch->tick, ngx_max(ch->lease / 3, 1));
}


/* Redis refused a step: an ACL, a Redis before 6.0 */

static void
ngx_http_mcp_cache_channel_refused(ngx_http_mcp_redis_node_t *node,
    const char *what, redisReply *reply)
{
    u_char  *p;
    u_char   reason[NGX_HTTP_MCP_REDIS_ERROR_MAX];

    p = ngx_http_mcp_redis_node_reason(node, reason, sizeof(reason), what,
                                       reply);

    ngx_http_mcp_redis_node_fail(node, (char *) reason, p - reason);
}
