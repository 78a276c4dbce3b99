
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * hiredis's asynchronous API on nginx's event loop: one connection per
 * worker, never a blocking call.  This file: the connection; its commands
 * are in ngx_http_mcp_redis_command.c.
 *
 *   events    the context's socket gets an nginx connection of its own
 *             (ngx_get_connection); hiredis's addRead/addWrite hooks map
 *             onto it.  Under edge-triggered events (epoll, kqueue) the
 *             socket is registered once for both directions: a read event
 *             is drained (hiredis reads at most 16 KiB per call), a new
 *             command on a writable socket posts the write event;
 *   timers    connect (until the handshake is answered) and one per
 *             command; a timeout fails every pending command and drops
 *             the connection;
 *   handshake AUTH [user] password, SELECT db, ROLE, INFO server,
 *             pipelined right after connect: only a primary is used, and
 *             its run id, which a restart or a failover changes, says
 *             which server answers; commands are sent only once INFO is
 *             answered, and wait for that (within their timeout) unless
 *             Redis is known to be failing, when they fail at once;
 *   failures  every pending command gets a NULL reply (its caller goes on
 *             without the cache), one warning per outage, a notice when
 *             Redis answers again, reconnection with exponential backoff
 *             (100 ms doubling to 5 s) and jitter.
 *
 * hiredis frees its context by itself on errors, from inside
 * redisAsyncHandleRead/Write.  Nothing here touches the context after
 * such a call before checking, through ngx_http_mcp_redis_t (which lives
 * as long as the worker), that the context still exists; the context is
 * freed here only outside hiredis's callbacks (a posted event, a timer).
 */


#include "ngx_http_mcp_redis.h"
#include "ngx_http_mcp_metrics.h"

#include <hiredis/sds.h>


static void ngx_http_mcp_redis_connect(ngx_http_mcp_redis_t *rds);
static ngx_int_t ngx_http_mcp_redis_attach(ngx_http_mcp_redis_t *rds,
    redisAsyncContext *ac);
static void ngx_http_mcp_redis_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_mcp_redis_disconnected(const redisAsyncContext *ac,
    int status);
static void ngx_http_mcp_redis_handshake(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_mcp_redis_read_handler(ngx_event_t *rev);
static void ngx_http_mcp_redis_write_handler(ngx_event_t *wev);
static void ngx_http_mcp_redis_add_read(void *privdata);
static void ngx_http_mcp_redis_del_read(void *privdata);
static void ngx_http_mcp_redis_add_write(void *privdata);
static void ngx_http_mcp_redis_del_write(void *privdata);
static void ngx_http_mcp_redis_cleanup(void *privdata);
static void ngx_http_mcp_redis_close_handler(ngx_event_t *ev);
static void ngx_http_mcp_redis_connect_timeout(ngx_event_t *ev);
static void ngx_http_mcp_redis_reconnect_handler(ngx_event_t *ev);
static void ngx_http_mcp_redis_schedule(ngx_http_mcp_redis_t *rds,
    ngx_msec_t delay);


ngx_http_mcp_redis_t *
ngx_http_mcp_redis_create(ngx_cycle_t *cycle, ngx_http_mcp_redis_conf_t *conf,
    ngx_http_mcp_redis_ready_pt ready, void *data)
{
    ngx_http_mcp_redis_t  *rds;

    rds = ngx_pcalloc(cycle->pool, sizeof(ngx_http_mcp_redis_t));
    if (rds == NULL) {
        return NULL;
    }

    rds->conf = conf;
    rds->log = cycle->log;
    rds->backoff = NGX_HTTP_MCP_REDIS_BACKOFF_MIN;
    rds->ready = ready;
    rds->ready_data = data;
    rds->clear = (ngx_event_flags & NGX_USE_CLEAR_EVENT) ? 1 : 0;

    ngx_queue_init(&rds->pending);
    ngx_queue_init(&rds->waiting);
    ngx_http_mcp_metrics_redis_up(0);

    rds->connect_timer.handler = ngx_http_mcp_redis_connect_timeout;
    rds->connect_timer.data = rds;
    rds->connect_timer.log = rds->log;
    rds->connect_timer.cancelable = 1;

    rds->reconnect.handler = ngx_http_mcp_redis_reconnect_handler;
    rds->reconnect.data = rds;
    rds->reconnect.log = rds->log;
    rds->reconnect.cancelable = 1;

    rds->close.handler = ngx_http_mcp_redis_close_handler;
    rds->close.data = rds;
    rds->close.log = rds->log;

    ngx_http_mcp_redis_connect(rds);

    return rds;
}


/* at worker exit: no handler is called any more */

void
ngx_http_mcp_redis_destroy(ngx_http_mcp_redis_t *rds)
{
    ngx_queue_t               *q;
    ngx_http_mcp_redis_cmd_t  *cmd;

    if (rds->state == NGX_HTTP_MCP_REDIS_EXITING) {
        return;
    }

    rds->state = NGX_HTTP_MCP_REDIS_EXITING;

    if (rds->connect_timer.timer_set) {
        ngx_del_timer(&rds->connect_timer);
    }

    if (rds->reconnect.timer_set) {
        ngx_del_timer(&rds->reconnect);
    }

    if (rds->close.posted) {
        ngx_delete_posted_event(&rds->close);
    }

    for (q = ngx_queue_head(&rds->pending);
         q != ngx_queue_sentinel(&rds->pending);
         q = ngx_queue_next(q))
    {
        cmd = ngx_queue_data(q, ngx_http_mcp_redis_cmd_t, queue);
        ngx_http_mcp_redis_cancel(cmd);
    }

    while (!ngx_queue_empty(&rds->waiting)) {
        q = ngx_queue_head(&rds->waiting);
        cmd = ngx_queue_data(q, ngx_http_mcp_redis_cmd_t, queue);

        ngx_queue_remove(q);

        if (cmd->timer.timer_set) {
            ngx_del_timer(&cmd->timer);
        }

        ngx_free(cmd);
    }

    if (rds->ac) {
        /* the pending commands are freed, the cleanup hook runs */
        redisAsyncFree(rds->ac);
    }
}


ngx_uint_t
ngx_http_mcp_redis_ready(ngx_http_mcp_redis_t *rds)
{
    return rds != NULL && rds->state == NGX_HTTP_MCP_REDIS_READY;
}


u_char *
ngx_http_mcp_redis_run_id(ngx_http_mcp_redis_t *rds, ngx_str_t *key)
{
    /* one primary for every key */

    return ngx_http_mcp_redis_ready(rds) ? rds->run_id : NULL;
}


ngx_uint_t
ngx_http_mcp_redis_scripts_work(ngx_http_mcp_redis_t *rds)
{
    return rds != NULL && rds->scripts;
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


static void
ngx_http_mcp_redis_connect(ngx_http_mcp_redis_t *rds)
{
    redisAsyncContext          *ac;
    ngx_http_mcp_redis_conf_t  *conf;

    conf = rds->conf;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rds->log, 0,
                   "mcp redis connect %V", &conf->name);

    /* non-blocking; the host is a numeric address, resolved in the master */

    if (conf->path.len) {
        ac = redisAsyncConnectUnix((char *) conf->path.data);

    } else {
        ac = redisAsyncConnect((char *) conf->host.data, conf->port);
    }

    if (ac == NULL) {
        ngx_http_mcp_redis_unavailable(rds, "out of memory",
                                       sizeof("out of memory") - 1);
        goto failed;
    }

    if (ac->err) {
        ngx_http_mcp_redis_unavailable(rds, ac->errstr,
                                       ngx_strlen(ac->errstr));
        redisAsyncFree(ac);
        goto failed;
    }

    if (ngx_http_mcp_redis_attach(rds, ac) != NGX_OK) {
        ngx_http_mcp_redis_unavailable(rds, "no connection for the socket",
                                       sizeof("no connection for the socket")
                                       - 1);
        redisAsyncFree(ac);
        goto failed;
    }

    rds->ac = ac;
    rds->state = NGX_HTTP_MCP_REDIS_CONNECTING;
    rds->lost = 0;

    ac->data = rds;

    (void) redisAsyncSetDisconnectCallback(ac,
                                           ngx_http_mcp_redis_disconnected);

    /* waits for the socket to become writable */
    (void) redisAsyncSetConnectCallback(ac, ngx_http_mcp_redis_connected);

    ngx_add_timer(&rds->connect_timer, conf->connect_timeout);

    return;

failed:

    ngx_http_mcp_redis_schedule(rds, 0);
    ngx_http_mcp_redis_flush_waiting(rds, 0);
}


/* the context's socket on nginx's events */

static ngx_int_t
ngx_http_mcp_redis_attach(ngx_http_mcp_redis_t *rds, redisAsyncContext *ac)
{
    ngx_event_t       *rev, *wev;
    ngx_connection_t  *c;

    c = ngx_get_connection(ac->c.fd, rds->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = rds;

    /* perhaps another server, with other permissions */
    rds->scripts = 0;

    rev = c->read;
    wev = c->write;

    rev->handler = ngx_http_mcp_redis_read_handler;
    rev->log = rds->log;
    wev->handler = ngx_http_mcp_redis_write_handler;
    wev->log = rds->log;

    if (rds->clear) {
        if (ngx_add_conn) {
            if (ngx_add_conn(c) != NGX_OK) {
                goto failed;
            }

        } else if (ngx_add_event(rev, NGX_READ_EVENT, NGX_CLEAR_EVENT)
                   != NGX_OK
                   || ngx_add_event(wev, NGX_WRITE_EVENT, NGX_CLEAR_EVENT)
                      != NGX_OK)
        {
            goto failed;
        }

    } else if (ngx_add_event(rev, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
        goto failed;
    }

    rds->conn = c;

    ac->ev.data = rds;
    ac->ev.addRead = ngx_http_mcp_redis_add_read;
    ac->ev.delRead = ngx_http_mcp_redis_del_read;
    ac->ev.addWrite = ngx_http_mcp_redis_add_write;
    ac->ev.delWrite = ngx_http_mcp_redis_del_write;
    ac->ev.cleanup = ngx_http_mcp_redis_cleanup;

    return NGX_OK;

failed:

    /* the socket is hiredis's: redisAsyncFree() closes it */

    if (ngx_del_conn) {
        ngx_del_conn(c, NGX_CLOSE_EVENT);

    } else {
        if (rev->active) {
            ngx_del_event(rev, NGX_READ_EVENT, NGX_CLOSE_EVENT);
        }

        if (wev->active) {
            ngx_del_event(wev, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
        }
    }

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;

    return NGX_ERROR;
}


static void
ngx_http_mcp_redis_connected(const redisAsyncContext *cac, int status)
{
    ngx_http_mcp_redis_t *rds = cac->data;

    int                         argc;
    size_t                      argvlen[3];
    const char                 *argv[3];
    redisAsyncContext          *ac;
    ngx_http_mcp_redis_conf_t  *conf;
    u_char                      db[NGX_INT_T_LEN];

    if (status != REDIS_OK) {
        /* hiredis frees the context now, the cleanup hook says why */
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rds->log, 0,
                   "mcp redis connected to %V", &rds->conf->name);

    ac = rds->ac;
    conf = rds->conf;

    rds->state = NGX_HTTP_MCP_REDIS_HANDSHAKE;

    /* pipelined: commands are taken once PING is answered */

    if (conf->password.len) {
        argc = 0;
        argv[argc] = "AUTH";
        argvlen[argc++] = sizeof("AUTH") - 1;

        if (conf->user.len) {
            argv[argc] = (const char *) conf->user.data;
            argvlen[argc++] = conf->user.len;
        }

        argv[argc] = (const char *) conf->password.data;
        argvlen[argc++] = conf->password.len;

        if (redisAsyncCommandArgv(ac, ngx_http_mcp_redis_handshake, "AUTH",
                                  argc, argv, argvlen)
            != REDIS_OK)
        {
            goto failed;
        }
    }

    if (conf->db) {
        argv[0] = "SELECT";
        argvlen[0] = sizeof("SELECT") - 1;
        argv[1] = (const char *) db;
        argvlen[1] = ngx_sprintf(db, "%ui", conf->db) - db;

        if (redisAsyncCommandArgv(ac, ngx_http_mcp_redis_handshake, "SELECT",
                                  2, argv, argvlen)
            != REDIS_OK)
        {
            goto failed;
        }
    }

    /* only a primary is trusted: its role, then who it is */

    argv[0] = "ROLE";
    argvlen[0] = sizeof("ROLE") - 1;

    if (redisAsyncCommandArgv(ac, ngx_http_mcp_redis_handshake, "ROLE",
                              1, argv, argvlen)
        != REDIS_OK)
    {
        goto failed;
    }

    argv[0] = "INFO";
    argvlen[0] = sizeof("INFO") - 1;
    argv[1] = "server";
    argvlen[1] = sizeof("server") - 1;

    if (redisAsyncCommandArgv(ac, ngx_http_mcp_redis_handshake, NULL,
                              2, argv, argvlen)
        == REDIS_OK)
    {
        return;
    }

failed:

    ngx_http_mcp_redis_fail(rds, "handshake not sent",
                            sizeof("handshake not sent") - 1);
}


static void
ngx_http_mcp_redis_disconnected(const redisAsyncContext *ac, int status)
{
    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "mcp redis disconnected: %d", status);
}


/*
 * privdata: the name of the step, NULL for the last one (INFO server,
 * which says the server's run id)
 */

static void
ngx_http_mcp_redis_handshake(redisAsyncContext *ac, void *r, void *privdata)
{
    ngx_http_mcp_redis_t *rds = ac->data;

    size_t       len;
    u_char      *p, *last, *id;
    redisReply  *reply;
    u_char       reason[NGX_HTTP_MCP_REDIS_ERROR_MAX];

    reply = r;

    if (reply == NULL || rds->state != NGX_HTTP_MCP_REDIS_HANDSHAKE) {
        /* the context is being freed, or failed already */
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        len = ngx_min(reply->len, sizeof(reason) - 16);
        p = ngx_snprintf(reason, sizeof(reason), "%s: %*s",
                         privdata ? (char *) privdata : "INFO",
                         len, reply->str);

        ngx_http_mcp_redis_fail(rds, (char *) reason, p - reason);
        return;
    }

    if (privdata != NULL) {

        if (ngx_strcmp(privdata, "ROLE") == 0
            && (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0
                || reply->element[0]->type != REDIS_REPLY_STRING
                || reply->element[0]->len != sizeof("master") - 1
                || ngx_strncmp(reply->element[0]->str, "master",
                               sizeof("master") - 1)
                   != 0))
        {
            ngx_http_mcp_redis_fail(rds, "not a primary",
                                    sizeof("not a primary") - 1);
        }

        return;
    }

    /* "run_id:<40 hex digits>" */

    id = NULL;

    if (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS)
    {
        p = (u_char *) reply->str;
        last = p + reply->len;

        id = ngx_strlcasestrn(p, last, (u_char *) "\nrun_id:",
                              sizeof("\nrun_id:") - 2);
        if (id) {
            id += sizeof("\nrun_id:") - 1;
            p = id;

            while (p < last && *p != '\r' && *p != '\n') {
                p++;
            }

            if (p - id != NGX_HTTP_MCP_REDIS_RUN_ID_LEN) {
                id = NULL;
            }
        }
    }

    if (id == NULL) {
        ngx_http_mcp_redis_fail(rds, "no run id", sizeof("no run id") - 1);
        return;
    }

    ngx_memcpy(rds->run_id, id, NGX_HTTP_MCP_REDIS_RUN_ID_LEN);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, rds->log, 0,
                   "mcp redis %V ready, run id %*s", &rds->conf->name,
                   (size_t) NGX_HTTP_MCP_REDIS_RUN_ID_LEN, rds->run_id);

    rds->state = NGX_HTTP_MCP_REDIS_READY;
    rds->ready_since = ngx_current_msec;
    ngx_http_mcp_metrics_redis_up(1);
    rds->backoff = NGX_HTTP_MCP_REDIS_BACKOFF_MIN;

    if (rds->connect_timer.timer_set) {
        ngx_del_timer(&rds->connect_timer);
    }

    /* the invalidations missed meanwhile go first */

    if (rds->ready) {
        rds->ready(rds, rds->ready_data);
    }

    ngx_http_mcp_redis_flush_waiting(rds, 1);
}


static void
ngx_http_mcp_redis_read_handler(ngx_event_t *rev)
{
    int                    n;
    ngx_uint_t             generation, eof;
    ngx_socket_t           fd;
    ngx_connection_t      *c;
    ngx_http_mcp_redis_t  *rds;

    c = rev->data;
    rds = c->data;
    fd = c->fd;
    generation = rds->generation;
    eof = 0;

    for ( ;; ) {
        redisAsyncHandleRead(rds->ac);

        if (rds->generation != generation) {
            /* the context, and with it c, is gone */
            return;
        }

        if (!rds->clear) {
            return;
        }

        /*
         * edge-triggered: no new event comes for what is already in the
         * socket, and hiredis reads at most 16 KiB at a time
         */

        if (ngx_socket_nread(fd, &n) == -1) {
            n = 0;
        }

        if (n > 0) {
            continue;
        }

        if (rev->pending_eof && !eof) {
            /* let hiredis see the end of the stream */
            eof = 1;
            continue;
        }

        return;
    }
}


static void
ngx_http_mcp_redis_write_handler(ngx_event_t *wev)
{
    ngx_uint_t             generation;
    ngx_connection_t      *c;
    redisAsyncContext     *ac;
    ngx_http_mcp_redis_t  *rds;

    c = wev->data;
    rds = c->data;
    ac = rds->ac;
    generation = rds->generation;

    rds->writing = 1;
    redisAsyncHandleWrite(ac);
    rds->writing = 0;

    if (rds->generation != generation) {
        return;
    }

    if (rds->clear) {
        /* whatever is left waits for the socket to become writable */
        wev->ready = (sdslen(ac->c.obuf) == 0);
    }
}


static void
ngx_http_mcp_redis_add_read(void *privdata)
{
    /* the read event is always on */
}


static void
ngx_http_mcp_redis_del_read(void *privdata)
{
    /* the read event is always on */
}


static void
ngx_http_mcp_redis_add_write(void *privdata)
{
    ngx_http_mcp_redis_t *rds = privdata;

    ngx_event_t  *wev;

    if (rds->conn == NULL) {
        return;
    }

    wev = rds->conn->write;

    if (rds->clear) {
        if (!rds->writing && wev->ready && !wev->posted) {
            ngx_post_event(wev, &ngx_posted_events);
        }

        return;
    }

    if (!wev->active) {
        if (ngx_add_event(wev, NGX_WRITE_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
            ngx_http_mcp_redis_fail(rds, "write event not added",
                                    sizeof("write event not added") - 1);
        }
    }
}


static void
ngx_http_mcp_redis_del_write(void *privdata)
{
    ngx_http_mcp_redis_t *rds = privdata;

    ngx_event_t  *wev;

    if (rds->conn == NULL || rds->clear) {
        return;
    }

    wev = rds->conn->write;

    if (wev->active) {
        if (ngx_del_event(wev, NGX_WRITE_EVENT, 0) != NGX_OK) {
            ngx_http_mcp_redis_fail(rds, "write event not deleted",
                                    sizeof("write event not deleted") - 1);
        }
    }
}


/*
 * hiredis frees the context: after the pending commands got their NULL
 * replies, before it closes the socket.
 */

static void
ngx_http_mcp_redis_cleanup(void *privdata)
{
    ngx_http_mcp_redis_t *rds = privdata;

    ngx_uint_t          quiet;
    ngx_connection_t   *c;
    redisAsyncContext  *ac;

    ac = rds->ac;
    c = rds->conn;

    if (c) {
        if (ngx_del_conn) {
            ngx_del_conn(c, NGX_CLOSE_EVENT);

        } else {
            if (c->read->active || c->read->disabled) {
                ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
            }

            if (c->write->active || c->write->disabled) {
                ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
            }
        }

        if (c->read->posted) {
            ngx_delete_posted_event(c->read);
        }

        if (c->write->posted) {
            ngx_delete_posted_event(c->write);
        }

        c->read->closed = 1;
        c->write->closed = 1;

        /* hiredis closes the socket itself */

        ngx_free_connection(c);
        c->fd = (ngx_socket_t) -1;
    }

    if (rds->connect_timer.timer_set) {
        ngx_del_timer(&rds->connect_timer);
    }

    if (rds->close.posted) {
        ngx_delete_posted_event(&rds->close);
    }

    /*
     * a connection closed while idle (the server's idle timeout, a proxy)
     * is reopened at once and only logged if that fails; not one that is
     * closed as soon as it is made
     */

    quiet = 0;

    switch (rds->state) {

    case NGX_HTTP_MCP_REDIS_EXITING:
        break;

    case NGX_HTTP_MCP_REDIS_READY:
        quiet = (ac->err == REDIS_ERR_EOF && !rds->lost
                 && ngx_current_msec - rds->ready_since >= 1000);
        /* fall through */

    case NGX_HTTP_MCP_REDIS_CONNECTING:
    case NGX_HTTP_MCP_REDIS_HANDSHAKE:

        if (quiet) {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rds->log, 0,
                           "mcp redis %V closed the idle connection",
                           &rds->conf->name);

        } else if (ac->err) {
            ngx_http_mcp_redis_unavailable(rds, ac->errstr,
                                           ngx_strlen(ac->errstr));

        } else {
            ngx_http_mcp_redis_unavailable(rds, "connection closed",
                                           sizeof("connection closed") - 1);
        }

        /* fall through */

    default: /* NGX_HTTP_MCP_REDIS_BROKEN */
        rds->state = NGX_HTTP_MCP_REDIS_IDLE;
        ngx_http_mcp_redis_schedule(rds, quiet ? 1 : 0);
        break;
    }

    rds->ac = NULL;
    rds->conn = NULL;
    rds->generation++;
    ngx_http_mcp_metrics_redis_up(0);

    if (!quiet) {
        /* hiredis has failed the commands it had; now those that waited */
        ngx_http_mcp_redis_flush_waiting(rds, 0);
    }
}


/* frees a context that failed, outside hiredis's own calls */

static void
ngx_http_mcp_redis_close_handler(ngx_event_t *ev)
{
    ngx_http_mcp_redis_t *rds = ev->data;

    if (rds->ac && rds->state == NGX_HTTP_MCP_REDIS_BROKEN) {
        redisAsyncFree(rds->ac);
    }
}


static void
ngx_http_mcp_redis_connect_timeout(ngx_event_t *ev)
{
    ngx_http_mcp_redis_t *rds = ev->data;

    ngx_http_mcp_redis_fail(rds, "connect timed out",
                            sizeof("connect timed out") - 1);
}


static void
ngx_http_mcp_redis_reconnect_handler(ngx_event_t *ev)
{
    ngx_http_mcp_redis_t *rds = ev->data;

    if (rds->state == NGX_HTTP_MCP_REDIS_IDLE && rds->ac == NULL) {
        ngx_http_mcp_redis_connect(rds);
    }
}


/* the next attempt: "delay" ms, or the backoff with jitter (delay 0) */

static void
ngx_http_mcp_redis_schedule(ngx_http_mcp_redis_t *rds, ngx_msec_t delay)
{
    ngx_msec_t  backoff;

    if (rds->state == NGX_HTTP_MCP_REDIS_EXITING || rds->reconnect.timer_set)
    {
        return;
    }

    if (delay == 0) {
        backoff = rds->backoff;

        /* 75% to 125% of the backoff */
        delay = backoff - backoff / 4
                + (ngx_msec_t) ngx_random() % (backoff / 2 + 1);

        rds->backoff = ngx_min(backoff * 2, NGX_HTTP_MCP_REDIS_BACKOFF_MAX);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, rds->log, 0,
                   "mcp redis %V: next connect in %M ms",
                   &rds->conf->name, delay);

    ngx_add_timer(&rds->reconnect, delay);
}


/* the connection is unusable: it is closed by a posted event */

void
ngx_http_mcp_redis_fail(ngx_http_mcp_redis_t *rds, const char *reason,
    size_t len)
{
    if (rds->state == NGX_HTTP_MCP_REDIS_EXITING
        || rds->state == NGX_HTTP_MCP_REDIS_BROKEN
        || rds->ac == NULL)
    {
        return;
    }

    ngx_http_mcp_redis_unavailable(rds, reason, len);

    rds->state = NGX_HTTP_MCP_REDIS_BROKEN;

    if (!rds->close.posted) {
        ngx_post_event(&rds->close, &ngx_posted_events);
    }
}


/* once per outage; the rest at debug level */

void
ngx_http_mcp_redis_unavailable(ngx_http_mcp_redis_t *rds, const char *reason,
    size_t len)
{
    len = ngx_min(len, NGX_HTTP_MCP_REDIS_ERROR_MAX);

    if (rds->failing) {
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, rds->log, 0,
                       "mcp redis %V: %*s", &rds->conf->name, len, reason);
        return;
    }

    rds->failing = 1;

    ngx_log_error(NGX_LOG_WARN, rds->log, 0,
                  "mcp cache: redis %V unavailable (%*s), serving from "
                  "upstream", &rds->conf->name, len, reason);
}


