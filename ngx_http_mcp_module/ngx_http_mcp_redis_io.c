
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * A node's bytes, both ways: hiredis formats and parses, nginx's
 * connection (c->send, c->recv: plain or nginx's own SSL functions)
 * carries them.
 *
 *   out   a command is formatted by redisFormatCommandArgv() into the
 *         node's output buffer and written by the posted write event, so
 *         that the commands of one event loop iteration go in one write;
 *   in    what is read is fed to hiredis's reader (redisReader); each
 *         reply goes to the command that waits for it, in order, or to a
 *         subscriber (pub/sub);
 *   log   what nginx says about the connection (connect(), SSL_read(),
 *         ...) goes through the node's own log: kept as the reason of the
 *         failure to come, which the outage's one warning says, and
 *         written at debug level only.
 */


#include "ngx_http_mcp_redis.h"


/* what one recv() takes: a large entry comes in few calls */
#define NGX_HTTP_MCP_REDIS_READ_SIZE    65536

/* an output buffer larger than this is freed once written */
#define NGX_HTTP_MCP_REDIS_OUT_KEEP     65536


static void ngx_http_mcp_redis_node_garbled(ngx_http_mcp_redis_node_t *node,
    u_char *buf, ssize_t n);
static void ngx_http_mcp_redis_node_dispatch(ngx_http_mcp_redis_node_t *node,
    redisReply *reply);
static void ngx_http_mcp_redis_node_drained(ngx_http_mcp_redis_node_t *node);
static void ngx_http_mcp_redis_node_write_failed(
    ngx_http_mcp_redis_node_t *node);
static void ngx_http_mcp_redis_node_post_write(ngx_http_mcp_redis_node_t *node);


/*
 * nginx's messages about the connection, through its own log: the
 * warnings and errors are the reason of the failure to come (the outage's
 * one warning says it), and are debug lines otherwise; alerts stay alerts.
 */

void
ngx_http_mcp_redis_node_log(ngx_log_t *log, ngx_uint_t level, u_char *buf,
    size_t len)
{
    ngx_http_mcp_redis_node_t *node = log->wdata;

    u_char     *p, *last, *msg;
    ngx_log_t  *real;

    real = node->rds->log;
    last = buf + len;

    /* "<time> [<level>] <pid>#<tid>: [*<n> ]<message>\n" */

    msg = ngx_strlchr(buf, last, ']');
    msg = msg ? ngx_strlchr(msg, last, ':') : NULL;

    if (msg == NULL || last - msg < 2) {
        return;
    }

    msg += 2;

    if (*msg == '*') {
        p = ngx_strlchr(msg, last, ' ');
        msg = p ? p + 1 : msg;
    }

    while (last > msg && (last[-1] == LF || last[-1] == CR)) {
        last--;
    }

    if (level <= NGX_LOG_ALERT) {
        ngx_log_error(level, real, 0, "mcp redis %V: %*s", &node->name,
                      last - msg, msg);
        return;
    }

    if (level != NGX_LOG_DEBUG) {
        node->error_len = ngx_min((size_t) (last - msg),
                                  NGX_HTTP_MCP_REDIS_ERROR_MAX);
        ngx_memcpy(node->error, msg, node->error_len);
    }

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, real, 0, "mcp redis %V: %*s",
                   &node->name, last - msg, msg);
}


void
ngx_http_mcp_redis_node_read_handler(ngx_event_t *rev)
{
    void                       *r;
    ssize_t                     n;
    ngx_uint_t                  generation;
    ngx_connection_t           *c;
    ngx_http_mcp_redis_node_t  *node;

    static u_char  buf[NGX_HTTP_MCP_REDIS_READ_SIZE];

    c = rev->data;
    node = c->data;
    generation = node->generation;

    for ( ;; ) {
        n = c->recv(c, buf, sizeof(buf));

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == 0) {
            ngx_http_mcp_redis_node_eof(node);
            return;
        }

        if (n == NGX_ERROR) {
            ngx_http_mcp_redis_node_fail(node, NULL, 0);
            return;
        }

        if (redisReaderFeed(node->reader, (char *) buf, n) != REDIS_OK) {
            ngx_http_mcp_redis_node_fail(node, "out of memory",
                                         sizeof("out of memory") - 1);
            return;
        }

        for ( ;; ) {
            r = NULL;

            if (redisReaderGetReply(node->reader, &r) != REDIS_OK) {
                ngx_http_mcp_redis_node_garbled(node, buf, n);
                return;
            }

            if (r == NULL) {
                break;
            }

            ngx_http_mcp_redis_node_dispatch(node, r);

            if (node->generation != generation) {
                /* the connection was closed meanwhile */
                return;
            }
        }

        if (!rev->ready) {
            break;
        }
    }

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_http_mcp_redis_node_fail(node, NULL, 0);
    }
}


/*
 * Not Redis's protocol: a TLS alert or handshake record is a TLS port
 * addressed without "tls" (the first thing a managed Redis does to a
 * plain client), said as such
 */

static void
ngx_http_mcp_redis_node_garbled(ngx_http_mcp_redis_node_t *node, u_char *buf,
    ssize_t n)
{
    static const char  tls[] = "the server speaks TLS "
                               "(\"mcp_cache_redis ... tls\")";

    if (node->state == NGX_HTTP_MCP_REDIS_HANDSHAKE && node->connection
        && node->connection->ssl == NULL && n > 0
        && (buf[0] == 0x15 || buf[0] == 0x16))
    {
        ngx_http_mcp_redis_node_fail(node, tls, sizeof(tls) - 1);
        return;
    }

    ngx_http_mcp_redis_node_fail(node, node->reader->errstr,
                                 ngx_strlen(node->reader->errstr));
}


/* a reply goes to the command sent first, or to a subscriber */

static void
ngx_http_mcp_redis_node_dispatch(ngx_http_mcp_redis_node_t *node,
    redisReply *reply)
{
    ngx_uint_t                 generation;
    ngx_queue_t               *q;
    ngx_http_mcp_redis_cmd_t  *cmd;

    if (node->subscribed) {
        node->message(node, reply);
        freeReplyObject(reply);
        return;
    }

    if (ngx_queue_empty(&node->sent)) {
        freeReplyObject(reply);
        ngx_http_mcp_redis_node_fail(node, "a reply nothing waits for",
                                     sizeof("a reply nothing waits for") - 1);
        return;
    }

    q = ngx_queue_head(&node->sent);
    cmd = ngx_queue_data(q, ngx_http_mcp_redis_cmd_t, queue);
    ngx_queue_remove(q);

    generation = node->generation;

    ngx_http_mcp_redis_reply(node, cmd, reply);

    freeReplyObject(reply);

    if (node->generation == generation && ngx_queue_empty(&node->sent)) {
        ngx_http_mcp_redis_node_drained(node);
    }
}


/* nothing more is awaited: a node that moves, or goes, may do so now */

static void
ngx_http_mcp_redis_node_drained(ngx_http_mcp_redis_node_t *node)
{
    if (node->retired) {
        ngx_http_mcp_redis_node_close(node);

        if (!node->destroy.posted) {
            ngx_post_event(&node->destroy, &ngx_posted_events);
        }

        return;
    }

    if (node->moving) {
        node->moving = 0;
        ngx_http_mcp_redis_node_close(node);
        ngx_http_mcp_redis_node_connect(node);
    }
}


void
ngx_http_mcp_redis_node_write_handler(ngx_event_t *wev)
{
    ssize_t                     n;
    ngx_connection_t           *c;
    ngx_http_mcp_redis_node_t  *node;

    c = wev->data;
    node = c->data;

    while (node->out_pos < node->out_len) {
        n = c->send(c, node->out + node->out_pos,
                    node->out_len - node->out_pos);

        if (n == NGX_ERROR) {
            ngx_http_mcp_redis_node_write_failed(node);
            return;
        }

        if (n == NGX_AGAIN) {
            break;
        }

        node->out_pos += n;

        if (!wev->ready) {
            break;
        }
    }

    if (node->out_pos == node->out_len) {
        node->out_pos = 0;
        node->out_len = 0;

        if (node->out_size > NGX_HTTP_MCP_REDIS_OUT_KEEP) {
            ngx_free(node->out);
            node->out = NULL;
            node->out_size = 0;
        }
    }

    if (ngx_handle_write_event(wev, 0) != NGX_OK) {
        ngx_http_mcp_redis_node_fail(node, NULL, 0);
    }
}


/*
 * A TLS 1.3 server refuses the client's certificate (or its absence)
 * after the client's handshake is over: its alert may wait unread while
 * the first write fails with a reset.  Reading it says why (nginx logs
 * what SSL_read() found, the node keeps it as the reason).
 */

static void
ngx_http_mcp_redis_node_write_failed(ngx_http_mcp_redis_node_t *node)
{
    u_char             buf[64];
    ngx_connection_t  *c;

    c = node->connection;

#if (NGX_SSL)
    if (c->ssl && node->state == NGX_HTTP_MCP_REDIS_HANDSHAKE) {
        (void) c->recv(c, buf, sizeof(buf));
    }
#endif

    ngx_http_mcp_redis_node_fail(node, NULL, 0);
}


/*
 * A command, formatted by hiredis, goes to the output buffer; it is
 * written by the posted write event, with whatever else this iteration
 * of the event loop sends to the node.
 */

ngx_int_t
ngx_http_mcp_redis_node_write(ngx_http_mcp_redis_node_t *node, int argc,
    const char **argv, const size_t *argvlen)
{
    int      len;
    char    *cmd;
    size_t   size;
    u_char  *out;

    len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
    if (len < 0) {
        return NGX_ERROR;
    }

    if (node->out_pos == node->out_len) {
        node->out_pos = 0;
        node->out_len = 0;
    }

    if (node->out_len == 0 && (size_t) len > node->out_size) {
        /* a large command alone: its buffer becomes the output buffer */
        ngx_free(node->out);
        node->out = (u_char *) cmd;
        node->out_size = len;
        node->out_len = len;
        goto post;
    }

    if (node->out_len + len > node->out_size) {

        if (node->out_pos) {
            ngx_memmove(node->out, node->out + node->out_pos,
                        node->out_len - node->out_pos);
            node->out_len -= node->out_pos;
            node->out_pos = 0;
        }

        if (node->out_len + len > node->out_size) {
            size = ngx_max(node->out_size * 2, node->out_len + len);
            size = ngx_max(size, 4096);

            out = ngx_alloc(size, node->rds->log);
            if (out == NULL) {
                redisFreeCommand(cmd);
                return NGX_ERROR;
            }

            if (node->out_len) {
                ngx_memcpy(out, node->out, node->out_len);
            }

            ngx_free(node->out);
            node->out = out;
            node->out_size = size;
        }
    }

    ngx_memcpy(node->out + node->out_len, cmd, len);
    node->out_len += len;

    redisFreeCommand(cmd);

post:

    ngx_http_mcp_redis_node_post_write(node);

    return NGX_OK;
}


static void
ngx_http_mcp_redis_node_post_write(ngx_http_mcp_redis_node_t *node)
{
    ngx_event_t  *wev;

    if (node->connection == NULL
        || node->state < NGX_HTTP_MCP_REDIS_HANDSHAKE)
    {
        return;
    }

    wev = node->connection->write;

    /* else the socket says when it is writable again */

    if (wev->ready && !wev->posted) {
        ngx_post_event(wev, &ngx_posted_events);
    }
}


/* one of the layer's own commands, its reply to "handler" */

ngx_int_t
ngx_http_mcp_redis_node_internal(ngx_http_mcp_redis_node_t *node,
    ngx_http_mcp_redis_internal_pt handler, int argc, const char **argv,
    const size_t *argvlen)
{
    ngx_http_mcp_redis_cmd_t  *cmd;

    cmd = ngx_calloc(sizeof(ngx_http_mcp_redis_cmd_t), node->rds->log);
    if (cmd == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_mcp_redis_node_write(node, argc, argv, argvlen) != NGX_OK) {
        ngx_free(cmd);
        return NGX_ERROR;
    }

    cmd->rds = node->rds;
    cmd->node = node;
    cmd->internal = handler;
    cmd->sent = 1;

    ngx_queue_insert_tail(&node->sent, &cmd->queue);

    /* the connect timer covers the handshake; later ones have their own */

    if (node->state == NGX_HTTP_MCP_REDIS_READY) {
        cmd->timer.handler = ngx_http_mcp_redis_node_timeout;
        cmd->timer.data = node;
        cmd->timer.log = node->rds->log;
        cmd->timer.cancelable = 1;

        ngx_add_timer(&cmd->timer, node->rds->conf->timeout);
    }

    return NGX_OK;
}
