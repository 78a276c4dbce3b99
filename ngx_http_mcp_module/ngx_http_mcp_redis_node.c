
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * One connection to one Redis server (a "node"), on nginx's own
 * machinery, never a blocking call: its life.
 *
 *   locate    a sentinel's answer (ngx_http_mcp_redis_sentinel.c) or the
 *             resolver's (ngx_http_mcp_redis_resolve.c), when the address
 *             is not known already;
 *   connect   ngx_event_connect_peer(), TCP (TCP_NODELAY: commands are
 *             small and pipelined) or a unix socket;
 *   TLS       ngx_ssl_create_connection(), ngx_ssl_handshake() and the
 *             peer's checks (ngx_http_mcp_redis_tls.c);
 *   handshake Redis's own (ngx_http_mcp_redis_handshake.c); the bytes, both
 *             ways, in ngx_http_mcp_redis_io.c;
 *   failures  every pending command gets a NULL reply, one warning per
 *             outage (ngx_http_mcp_redis.c) with what nginx said about the
 *             connection, reconnection with exponential backoff (100 ms
 *             doubling to 5 s) and jitter.
 *
 * A connection is closed at once when it fails; whoever called into a
 * node checks "generation" (bumped on every close) before touching it
 * again.  A node is freed only by a posted event, outside its handlers.
 */


#include "ngx_http_mcp_redis.h"


#define NGX_HTTP_MCP_REDIS_POOL_SIZE    1024


static void ngx_http_mcp_redis_node_connect_handler(ngx_event_t *ev);
static void ngx_http_mcp_redis_node_connected(ngx_http_mcp_redis_node_t *node);
static void ngx_http_mcp_redis_node_down(ngx_http_mcp_redis_node_t *node,
    ngx_uint_t quiet, ngx_uint_t failed);
static void ngx_http_mcp_redis_node_schedule(ngx_http_mcp_redis_node_t *node,
    ngx_msec_t delay);
static void ngx_http_mcp_redis_node_reconnect_handler(ngx_event_t *ev);
static void ngx_http_mcp_redis_node_destroy_handler(ngx_event_t *ev);


ngx_http_mcp_redis_node_t *
ngx_http_mcp_redis_node_create(ngx_http_mcp_redis_t *rds, ngx_uint_t kind,
    ngx_str_t *host, in_port_t port, struct sockaddr *sockaddr,
    socklen_t socklen)
{
    ngx_http_mcp_redis_node_t  *node;

    node = ngx_calloc(sizeof(ngx_http_mcp_redis_node_t), rds->log);
    if (node == NULL) {
        return NULL;
    }

    node->rds = rds;
    node->kind = kind;
    node->backoff = NGX_HTTP_MCP_REDIS_BACKOFF_MIN;

    ngx_queue_init(&node->sent);
    ngx_queue_init(&node->waiting);

    node->connect_timer.handler = ngx_http_mcp_redis_node_timeout;
    node->connect_timer.data = node;
    node->connect_timer.log = rds->log;
    node->connect_timer.cancelable = 1;

    node->reconnect.handler = ngx_http_mcp_redis_node_reconnect_handler;
    node->reconnect.data = node;
    node->reconnect.log = rds->log;
    node->reconnect.cancelable = 1;

    node->reresolve.data = node;
    node->reresolve.log = rds->log;
    node->reresolve.cancelable = 1;

    node->destroy.handler = ngx_http_mcp_redis_node_destroy_handler;
    node->destroy.data = node;
    node->destroy.log = rds->log;

    /*
     * the connection's own log: what nginx says about it is kept as the
     * reason of its failure (the warning of an outage says it once)
     */

    node->log = *rds->log;
    node->log.log_level = ngx_max(rds->log->log_level, NGX_LOG_INFO);
    node->log.handler = NULL;
    node->log.data = NULL;
    node->log.writer = ngx_http_mcp_redis_node_log;
    node->log.wdata = node;
    node->log.action = NULL;
    node->log.next = NULL;

    if (rds->conf->mode == NGX_HTTP_MCP_REDIS_SENTINEL
        && kind == NGX_HTTP_MCP_REDIS_PRIMARY)
    {
        /* named after the master until a sentinel says where it is */
        node->name.data = node->name_data;
        node->name.len = ngx_sprintf(node->name_data, "%*s",
                                     ngx_min(rds->conf->master.len, 64),
                                     rds->conf->master.data)
                         - node->name_data;
    }

    if (host != NULL
        && ngx_http_mcp_redis_node_set(node, host, port, sockaddr, socklen)
           != NGX_OK)
    {
        ngx_free(node);
        return NULL;
    }

    return node;
}


/*
 * Where the node is: "host" (a name, an address, or a unix socket's path
 * when "port" is 0), with its address when it is known already.
 */

ngx_int_t
ngx_http_mcp_redis_node_set(ngx_http_mcp_redis_node_t *node, ngx_str_t *host,
    in_port_t port, struct sockaddr *sockaddr, socklen_t socklen)
{
    u_char               *p, *last;
    in_addr_t             inaddr;
    struct sockaddr_in   *sin;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6  *sin6;
#endif
#if (NGX_HAVE_UNIX_DOMAIN)
    struct sockaddr_un   *saun;
#endif

    if (host->len == 0 || host->len >= NGX_HTTP_MCP_REDIS_HOST_MAX) {
        return NGX_ERROR;
    }

    ngx_memcpy(node->host_data, host->data, host->len);
    node->host_data[host->len] = '\0';
    node->host.data = node->host_data;
    node->host.len = host->len;
    node->port = port;
    node->resolve = 0;

    /* the name: "[master/]host:port", "[::1]:port" or "unix:path" */

    p = node->name_data;
    last = node->name_data + sizeof(node->name_data);

    if (node->rds->conf->mode == NGX_HTTP_MCP_REDIS_SENTINEL
        && node->kind == NGX_HTTP_MCP_REDIS_PRIMARY)
    {
        p = ngx_slprintf(p, last, "%*s/",
                         ngx_min(node->rds->conf->master.len, 64),
                         node->rds->conf->master.data);
    }

    if (port == 0) {
        p = ngx_slprintf(p, last, "unix:%V", host);

    } else if (ngx_strlchr(host->data, host->data + host->len, ':')) {
        p = ngx_slprintf(p, last, "[%V]:%d", host, (int) port);

    } else {
        p = ngx_slprintf(p, last, "%V:%d", host, (int) port);
    }

    node->name.data = node->name_data;
    node->name.len = p - node->name_data;

    if (sockaddr) {
        ngx_memcpy(&node->sockaddr, sockaddr, socklen);
        node->socklen = socklen;
        return NGX_OK;
    }

    ngx_memzero(&node->sockaddr, sizeof(ngx_sockaddr_t));

    if (port == 0) {
#if (NGX_HAVE_UNIX_DOMAIN)
        saun = &node->sockaddr.sockaddr_un;

        if (host->len >= sizeof(saun->sun_path)) {
            return NGX_ERROR;
        }

        saun->sun_family = AF_UNIX;
        ngx_memcpy(saun->sun_path, host->data, host->len);
        node->socklen = sizeof(struct sockaddr_un);

        return NGX_OK;
#else
        return NGX_ERROR;
#endif
    }

    inaddr = ngx_inet_addr(host->data, host->len);

    if (inaddr != INADDR_NONE) {
        sin = &node->sockaddr.sockaddr_in;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        sin->sin_addr.s_addr = inaddr;
        node->socklen = sizeof(struct sockaddr_in);

        return NGX_OK;
    }

#if (NGX_HAVE_INET6)
    sin6 = &node->sockaddr.sockaddr_in6;

    if (ngx_inet6_addr(host->data, host->len, sin6->sin6_addr.s6_addr)
        == NGX_OK)
    {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        node->socklen = sizeof(struct sockaddr_in6);

        return NGX_OK;
    }
#endif

    /* a name: the workers' resolver finds it, at every connect */

    node->resolve = 1;
    node->socklen = 0;

    return NGX_OK;
}


ngx_uint_t
ngx_http_mcp_redis_node_same(ngx_http_mcp_redis_node_t *node,
    ngx_str_t *host, in_port_t port)
{
    return node->port == port
           && node->host.len == host->len
           && ngx_strncasecmp(node->host.data, host->data, host->len) == 0;
}


void
ngx_http_mcp_redis_node_connect(ngx_http_mcp_redis_node_t *node)
{
    if (node->state != NGX_HTTP_MCP_REDIS_IDLE || node->rds->exiting) {
        return;
    }

    if (node->reconnect.timer_set) {
        ngx_del_timer(&node->reconnect);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, node->rds->log, 0,
                   "mcp redis connect %V", &node->name);

    /* the connect timeout covers locating, connecting, TLS, handshake */

    ngx_add_timer(&node->connect_timer, node->rds->conf->connect_timeout);

    node->error_len = 0;
    node->state = NGX_HTTP_MCP_REDIS_LOCATING;

    if (node->located) {
        /* the address was just given (a sentinel, a resolver) */
        node->located = 0;
        ngx_http_mcp_redis_node_open(node);
        return;
    }

    if (node->locate) {
        node->locate(node);
        return;
    }

    if (node->resolve) {
        ngx_http_mcp_redis_resolve(node);
        return;
    }

    ngx_http_mcp_redis_node_open(node);
}


/* the address is known: connect, non-blocking */

void
ngx_http_mcp_redis_node_open(ngx_http_mcp_redis_node_t *node)
{
    ngx_int_t          rc;
    ngx_connection_t  *c;

    ngx_memzero(&node->peer, sizeof(ngx_peer_connection_t));

    node->peer.sockaddr = &node->sockaddr.sockaddr;
    node->peer.socklen = node->socklen;
    node->peer.name = &node->name;
    node->peer.get = ngx_event_get_peer;
    node->peer.log = &node->log;
    node->peer.log_error = NGX_ERROR_INFO;
    node->peer.tries = 1;

    rc = ngx_event_connect_peer(&node->peer);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        /* nginx said why, through the node's log */
        node->peer.connection = NULL;
        ngx_http_mcp_redis_node_fail(node, NULL, 0);
        return;
    }

    c = node->peer.connection;

    c->pool = ngx_create_pool(NGX_HTTP_MCP_REDIS_POOL_SIZE, &node->log);
    if (c->pool == NULL) {
        ngx_close_connection(c);
        ngx_http_mcp_redis_node_fail(node, "out of memory",
                                     sizeof("out of memory") - 1);
        return;
    }

    c->data = node;
    c->read->handler = ngx_http_mcp_redis_node_connect_handler;
    c->write->handler = ngx_http_mcp_redis_node_connect_handler;

    node->connection = c;
    node->log.connection = c->number;
    node->state = NGX_HTTP_MCP_REDIS_CONNECTING;

    if (rc == NGX_AGAIN) {
        /* the socket becomes writable when connected */
        return;
    }

    ngx_http_mcp_redis_node_connected(node);
}


static void
ngx_http_mcp_redis_node_connect_handler(ngx_event_t *ev)
{
    int                         err;
    socklen_t                   len;
    ngx_connection_t           *c;
    ngx_http_mcp_redis_node_t  *node;

    c = ev->data;
    node = c->data;

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1) {
        err = ngx_socket_errno;
    }

    if (err) {
        (void) ngx_connection_error(c, err, "connect() failed");
        ngx_http_mcp_redis_node_fail(node, NULL, 0);
        return;
    }

    ngx_http_mcp_redis_node_connected(node);
}


static void
ngx_http_mcp_redis_node_connected(ngx_http_mcp_redis_node_t *node)
{
    ngx_connection_t  *c;

    c = node->connection;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, node->rds->log, 0,
                   "mcp redis connected to %V", &node->name);

    if (node->port && ngx_tcp_nodelay(c) != NGX_OK) {
        ngx_http_mcp_redis_node_fail(node, NULL, 0);
        return;
    }

#if (NGX_SSL)

    if (node->rds->conf->ssl) {
        node->state = NGX_HTTP_MCP_REDIS_TLS;

        switch (ngx_http_mcp_redis_tls_start(node)) {

        case NGX_AGAIN:
            /* ngx_http_mcp_redis_tls.c goes on */
            return;

        case NGX_ERROR:
            ngx_http_mcp_redis_node_fail(node, NULL, 0);
            return;

        default: /* NGX_OK */
            break;
        }
    }

#endif

    ngx_http_mcp_redis_node_secured(node);
}


/* connected, and TLS done where configured: Redis's own handshake */

void
ngx_http_mcp_redis_node_secured(ngx_http_mcp_redis_node_t *node)
{
    ngx_connection_t  *c;

    c = node->connection;

    c->read->handler = ngx_http_mcp_redis_node_read_handler;
    c->write->handler = ngx_http_mcp_redis_node_write_handler;

    node->reader = redisReaderCreate();
    if (node->reader == NULL) {
        ngx_http_mcp_redis_node_fail(node, "out of memory",
                                     sizeof("out of memory") - 1);
        return;
    }

    node->state = NGX_HTTP_MCP_REDIS_HANDSHAKE;
    node->scripts = 0;

    if (ngx_http_mcp_redis_handshake(node) != NGX_OK) {
        ngx_http_mcp_redis_node_fail(node, "handshake not sent",
                                     sizeof("handshake not sent") - 1);
        return;
    }
}


void
ngx_http_mcp_redis_node_ready(ngx_http_mcp_redis_node_t *node)
{
    ngx_uint_t  generation;

    node->state = NGX_HTTP_MCP_REDIS_READY;
    node->ready_since = ngx_current_msec;
    node->backoff = NGX_HTTP_MCP_REDIS_BACKOFF_MIN;

    if (node->connect_timer.timer_set) {
        ngx_del_timer(&node->connect_timer);
    }

    /*
     * a primary's outage ends with a command that works (the command
     * file), the L1 channel's with its first PING answered
     */

    if (node->kind != NGX_HTTP_MCP_REDIS_PRIMARY
        && node->kind != NGX_HTTP_MCP_REDIS_CHANNEL
        && (node->failing || node->rds->sentinel))
    {
        ngx_http_mcp_redis_available(node);
    }

    if (node->resolve) {
        ngx_http_mcp_redis_resolve_follow(node);
    }

    generation = node->generation;

    /* a primary: the invalidations missed meanwhile go first */

    if (node->up) {
        node->up(node);

        if (node->generation != generation) {
            return;
        }
    }

    ngx_http_mcp_redis_flush_waiting(node, 1);
}


/*
 * The server closed the connection: an idle connection closed by Redis
 * (its idle timeout) or a proxy is reopened at once and only logged if
 * that fails; not one that is closed as soon as it is made, nor one that
 * had commands under way.
 */

void
ngx_http_mcp_redis_node_eof(ngx_http_mcp_redis_node_t *node)
{
    if (node->state == NGX_HTTP_MCP_REDIS_READY
        && ngx_queue_empty(&node->sent)
        && ngx_current_msec - node->ready_since >= 1000)
    {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, node->rds->log, 0,
                       "mcp redis %V closed the idle connection",
                       &node->name);

        ngx_http_mcp_redis_node_down(node, 1, 0);
        return;
    }

    ngx_http_mcp_redis_node_fail(node, NULL, 0);
}


/*
 * The connection is unusable: said once per outage ("reason", or what
 * nginx said about the connection), closed, its commands fail.
 */

void
ngx_http_mcp_redis_node_fail(ngx_http_mcp_redis_node_t *node,
    const char *reason, size_t len)
{
    u_char  *p;
    u_char   hint[NGX_HTTP_MCP_REDIS_ERROR_MAX];

    if (node->state == NGX_HTTP_MCP_REDIS_IDLE
        || node->state == NGX_HTTP_MCP_REDIS_EXITING)
    {
        return;
    }

    if (reason == NULL) {
        if (node->error_len) {
            reason = (const char *) node->error;
            len = node->error_len;

        } else {
            reason = "connection closed";
            len = sizeof("connection closed") - 1;
        }

        if (node->state == NGX_HTTP_MCP_REDIS_HANDSHAKE && node->port
            && !node->rds->conf->tls)
        {
            /* what a TLS port does to a plain client: say so */
            p = ngx_snprintf(hint, sizeof(hint), "%*s; a TLS port closes "
                             "plain connections so (\"mcp_cache_redis ... "
                             "tls\")", ngx_min(len, sizeof(hint) / 2),
                             reason);
            reason = (const char *) hint;
            len = p - hint;
        }
    }

    if (reason != (const char *) node->error) {
        /* what a sentinel's primary says when no sentinel answers */
        node->error_len = ngx_min(len, NGX_HTTP_MCP_REDIS_ERROR_MAX);
        ngx_memcpy(node->error, reason, node->error_len);
    }

    ngx_http_mcp_redis_unavailable(node, reason, len);

    ngx_http_mcp_redis_node_down(node, 0, 1);
}


static void
ngx_http_mcp_redis_node_down(ngx_http_mcp_redis_node_t *node,
    ngx_uint_t quiet, ngx_uint_t failed)
{
    ngx_queue_t  failing;

    ngx_queue_init(&failing);

    /* the commands it had, and those that waited unless it comes back now */

    ngx_http_mcp_redis_queue_move(&failing, &node->sent);

    if (!quiet) {
        ngx_http_mcp_redis_queue_move(&failing, &node->waiting);
    }

    if (failed && node->connection) {
        node->connection->error = 1;
    }

    ngx_http_mcp_redis_node_close(node);

    if (node->retired) {
        if (!node->destroy.posted) {
            ngx_post_event(&node->destroy, &ngx_posted_events);
        }

    } else if (!node->on_demand) {
        ngx_http_mcp_redis_node_schedule(node, quiet ? 1 : 0);
    }

    ngx_http_mcp_redis_fail_queue(&failing);

    if (node->down) {
        node->down(node);
    }
}


/*
 * The node is elsewhere now (its address is set, "located"): it
 * reconnects at once, after the commands under way are answered
 * ("drain"), or failing them (its server lost its role).
 */

void
ngx_http_mcp_redis_node_move(ngx_http_mcp_redis_node_t *node,
    ngx_uint_t drain)
{
    ngx_queue_t  failing;

    if (node->state == NGX_HTTP_MCP_REDIS_READY && drain
        && !ngx_queue_empty(&node->sent))
    {
        /* new commands wait for the new connection */
        node->moving = 1;
        return;
    }

    ngx_queue_init(&failing);
    ngx_http_mcp_redis_queue_move(&failing, &node->sent);

    ngx_http_mcp_redis_node_close(node);

    ngx_http_mcp_redis_fail_queue(&failing);

    if (node->state == NGX_HTTP_MCP_REDIS_IDLE) {
        ngx_http_mcp_redis_node_connect(node);
    }
}


/* a cluster node that serves no slot any more: freed once drained */

void
ngx_http_mcp_redis_node_retire(ngx_http_mcp_redis_node_t *node)
{
    node->retired = 1;

    if (node->reconnect.timer_set) {
        ngx_del_timer(&node->reconnect);
    }

    if (node->state != NGX_HTTP_MCP_REDIS_READY
        || ngx_queue_empty(&node->sent))
    {
        ngx_http_mcp_redis_node_close(node);

        if (!node->destroy.posted) {
            ngx_post_event(&node->destroy, &ngx_posted_events);
        }
    }
}


void
ngx_http_mcp_redis_node_close(ngx_http_mcp_redis_node_t *node)
{
    ngx_connection_t  *c;

    c = node->connection;

    if (c) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, node->rds->log, 0,
                       "mcp redis close %V", &node->name);

#if (NGX_SSL)
        if (c->ssl) {
            ngx_http_mcp_redis_tls_close(c, c->error || node->rds->exiting,
                                         node->rds->log);

        } else
#endif
        {
            ngx_http_mcp_redis_node_close_connection(c);
        }

        node->connection = NULL;
        node->log.connection = 0;
    }

    if (node->reader) {
        redisReaderFree(node->reader);
        node->reader = NULL;
    }

    node->out_pos = 0;
    node->out_len = 0;
    node->subscribed = 0;
    node->moving = 0;

    if (node->connect_timer.timer_set) {
        ngx_del_timer(&node->connect_timer);
    }

    if (node->reresolve.timer_set) {
        ngx_del_timer(&node->reresolve);
    }

    ngx_http_mcp_redis_resolve_cancel(node);

    if (node->state != NGX_HTTP_MCP_REDIS_EXITING) {
        node->state = NGX_HTTP_MCP_REDIS_IDLE;
    }

    node->generation++;
}


/* the connection and its pool (ngx_ssl_create_connection() uses it) */

void
ngx_http_mcp_redis_node_close_connection(ngx_connection_t *c)
{
    ngx_pool_t  *pool;

    pool = c->pool;

    ngx_close_connection(c);

    if (pool) {
        ngx_destroy_pool(pool);
    }
}


/* at worker exit or when retired: no handler is called any more */

void
ngx_http_mcp_redis_node_free(ngx_http_mcp_redis_node_t *node)
{
    if (node == NULL) {
        return;
    }

    ngx_http_mcp_redis_node_close(node);

    node->state = NGX_HTTP_MCP_REDIS_EXITING;

    if (node->reconnect.timer_set) {
        ngx_del_timer(&node->reconnect);
    }

    if (node->destroy.posted) {
        ngx_delete_posted_event(&node->destroy);
    }

    ngx_http_mcp_redis_free_queue(&node->sent);
    ngx_http_mcp_redis_free_queue(&node->waiting);

#if (NGX_SSL)
    ngx_http_mcp_redis_tls_forget(node);
#endif

    ngx_free(node->out);
    ngx_free(node);
}


static void
ngx_http_mcp_redis_node_destroy_handler(ngx_event_t *ev)
{
    ngx_http_mcp_redis_node_t *node = ev->data;

    ngx_queue_t  *q;

    /* its commands go elsewhere; it is no cluster primary any more */

    q = &node->queue;

    if (q->prev && q->next) {
        ngx_queue_remove(q);
        q->prev = NULL;
        q->next = NULL;
    }

    ngx_http_mcp_redis_fail_queue(&node->waiting);
    ngx_http_mcp_redis_fail_queue(&node->sent);

    ngx_http_mcp_redis_node_free(node);
}


/* the connect timer, and the timers of the layer's own commands */

void
ngx_http_mcp_redis_node_timeout(ngx_event_t *ev)
{
    ngx_http_mcp_redis_node_t *node = ev->data;

    switch (node->state) {

    case NGX_HTTP_MCP_REDIS_LOCATING:
        ngx_http_mcp_redis_node_fail(node, "timed out locating the server",
                                sizeof("timed out locating the server") - 1);
        return;

    case NGX_HTTP_MCP_REDIS_CONNECTING:
        ngx_http_mcp_redis_node_fail(node, "connect timed out",
                                     sizeof("connect timed out") - 1);
        return;

    case NGX_HTTP_MCP_REDIS_TLS:
        ngx_http_mcp_redis_node_fail(node, "TLS handshake timed out",
                                     sizeof("TLS handshake timed out") - 1);
        return;

    case NGX_HTTP_MCP_REDIS_HANDSHAKE:
        ngx_http_mcp_redis_node_fail(node, "handshake timed out",
                                     sizeof("handshake timed out") - 1);
        return;

    default:
        ngx_http_mcp_redis_node_fail(node, "timed out",
                                     sizeof("timed out") - 1);
        return;
    }
}


static void
ngx_http_mcp_redis_node_reconnect_handler(ngx_event_t *ev)
{
    ngx_http_mcp_redis_node_connect(ev->data);
}


/* the next attempt: "delay" ms, or the backoff with jitter (delay 0) */

static void
ngx_http_mcp_redis_node_schedule(ngx_http_mcp_redis_node_t *node,
    ngx_msec_t delay)
{
    ngx_msec_t  backoff;

    if (node->rds->exiting || node->reconnect.timer_set) {
        return;
    }

    if (delay == 0) {
        backoff = node->backoff;

        /* 75% to 125% of the backoff */
        delay = backoff - backoff / 4
                + (ngx_msec_t) ngx_random() % (backoff / 2 + 1);

        node->backoff = ngx_min(backoff * 2, NGX_HTTP_MCP_REDIS_BACKOFF_MAX);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, node->rds->log, 0,
                   "mcp redis %V: next connect in %M ms", &node->name, delay);

    ngx_add_timer(&node->reconnect, delay);
}
