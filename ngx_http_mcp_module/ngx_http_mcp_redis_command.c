
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * Commands on the worker's Redis connection (ngx_http_mcp_redis.c): sent
 * at once when it is ready, or kept until its handshake is done (within
 * the command timeout); scripts by EVALSHA, once more by EVAL when Redis
 * does not know them; one timer per command; every reply, or a NULL one
 * when the command failed, to the caller's handler.
 */


#include "ngx_http_mcp_redis.h"
#include "ngx_http_mcp_metrics.h"


static ngx_int_t ngx_http_mcp_redis_send(ngx_http_mcp_redis_cmd_t *cmd);
static ngx_http_mcp_redis_cmd_t *ngx_http_mcp_redis_queue(
    ngx_http_mcp_redis_t *rds, ngx_http_mcp_redis_script_t *script,
    ngx_uint_t nkeys, ngx_uint_t nargs, ngx_str_t *args,
    ngx_http_mcp_redis_handler_pt handler, void *data);
static ngx_uint_t ngx_http_mcp_redis_distrust(redisReply *reply);
static ngx_uint_t ngx_http_mcp_redis_kind(ngx_http_mcp_redis_cmd_t *cmd);
static void ngx_http_mcp_redis_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_mcp_redis_cmd_timeout(ngx_event_t *ev);


ngx_http_mcp_redis_cmd_t *
ngx_http_mcp_redis_eval(ngx_http_mcp_redis_t *rds,
    ngx_http_mcp_redis_script_t *script, ngx_uint_t nkeys, ngx_uint_t nargs,
    ngx_str_t *args, ngx_http_mcp_redis_handler_pt handler, void *data)
{
    if (nargs + 3 > NGX_HTTP_MCP_REDIS_MAX_ARGS) {
        return NULL;
    }

    return ngx_http_mcp_redis_queue(rds, script, nkeys, nargs, args, handler,
                                    data);
}


ngx_http_mcp_redis_cmd_t *
ngx_http_mcp_redis_command(ngx_http_mcp_redis_t *rds, ngx_str_t *key,
    ngx_uint_t nargs, ngx_str_t *args, ngx_http_mcp_redis_handler_pt handler,
    void *data)
{
    if (nargs == 0 || nargs > NGX_HTTP_MCP_REDIS_MAX_ARGS) {
        return NULL;
    }

    return ngx_http_mcp_redis_queue(rds, NULL, 0, nargs, args, handler, data);
}


/* a script (EVALSHA) when "script" is set, else the command in "args" */

static ngx_http_mcp_redis_cmd_t *
ngx_http_mcp_redis_queue(ngx_http_mcp_redis_t *rds,
    ngx_http_mcp_redis_script_t *script, ngx_uint_t nkeys, ngx_uint_t nargs,
    ngx_str_t *args, ngx_http_mcp_redis_handler_pt handler, void *data)
{
    ngx_uint_t                 wait;
    ngx_http_mcp_redis_cmd_t  *cmd;

    if (rds == NULL) {
        return NULL;
    }

    /*
     * while connecting, a command waits for the handshake, unless Redis is
     * known to be failing (then no request waits for it), or nobody waits
     * for the reply (then its arguments may be gone by then)
     */

    wait = 0;

    if (rds->state != NGX_HTTP_MCP_REDIS_READY) {

        if (rds->failing || handler == NULL
            || (rds->state != NGX_HTTP_MCP_REDIS_IDLE
                && rds->state != NGX_HTTP_MCP_REDIS_CONNECTING
                && rds->state != NGX_HTTP_MCP_REDIS_HANDSHAKE))
        {
            return NULL;
        }

        wait = 1;
    }

    cmd = ngx_alloc(sizeof(ngx_http_mcp_redis_cmd_t), rds->log);
    if (cmd == NULL) {
        return NULL;
    }

    ngx_memzero(cmd, sizeof(ngx_http_mcp_redis_cmd_t));

    cmd->rds = rds;
    cmd->handler = handler;
    cmd->data = data;
    cmd->script = script;
    cmd->nkeys = nkeys;
    cmd->nargs = nargs;
    cmd->args = args;

    cmd->timer.handler = ngx_http_mcp_redis_cmd_timeout;
    cmd->timer.data = cmd;
    cmd->timer.log = rds->log;

    /* without a reply handler, Redis has the script at once */
    cmd->eval = (script != NULL && handler == NULL);

    if (wait) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, rds->log, 0,
                       "mcp redis command waits for the connection");

        ngx_queue_insert_tail(&rds->waiting, &cmd->queue);
        ngx_add_timer(&cmd->timer, rds->conf->timeout);

        return cmd;
    }

    if (ngx_http_mcp_redis_send(cmd) != NGX_OK) {
        ngx_free(cmd);
        return NULL;
    }

    return cmd;
}


void
ngx_http_mcp_redis_cancel(ngx_http_mcp_redis_cmd_t *cmd)
{
    cmd->handler = NULL;
    cmd->data = NULL;
    cmd->args = NULL;
}


static ngx_int_t
ngx_http_mcp_redis_send(ngx_http_mcp_redis_cmd_t *cmd)
{
    int                    argc;
    size_t                 argvlen[NGX_HTTP_MCP_REDIS_MAX_ARGS];
    ngx_uint_t             i;
    const char            *argv[NGX_HTTP_MCP_REDIS_MAX_ARGS];
    ngx_http_mcp_redis_t  *rds;
    u_char                 nkeys[NGX_INT_T_LEN];

    rds = cmd->rds;

    argc = 0;

    if (cmd->script) {

        if (cmd->eval) {
            argv[argc] = "EVAL";
            argvlen[argc++] = sizeof("EVAL") - 1;
            argv[argc] = (const char *) cmd->script->text.data;
            argvlen[argc++] = cmd->script->text.len;

        } else {
            argv[argc] = "EVALSHA";
            argvlen[argc++] = sizeof("EVALSHA") - 1;
            argv[argc] = (const char *) cmd->script->sha1;
            argvlen[argc++] = sizeof(cmd->script->sha1);
        }

        argv[argc] = (const char *) nkeys;
        argvlen[argc++] = ngx_sprintf(nkeys, "%ui", cmd->nkeys) - nkeys;
    }

    for (i = 0; i < cmd->nargs; i++) {
        argv[argc] = (const char *) cmd->args[i].data;
        argvlen[argc++] = cmd->args[i].len;
    }

    /* hiredis copies the command into its output buffer */

    if (redisAsyncCommandArgv(rds->ac, ngx_http_mcp_redis_reply, cmd,
                              argc, argv, argvlen)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    cmd->sent = 1;
    cmd->start = ngx_http_mcp_metrics_clock();

    ngx_queue_insert_tail(&rds->pending, &cmd->queue);

    if (!cmd->timer.timer_set) {
        ngx_add_timer(&cmd->timer, rds->conf->timeout);
    }

    return NGX_OK;
}


static void
ngx_http_mcp_redis_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    ngx_http_mcp_redis_cmd_t *cmd = privdata;

    void                           *data;
    redisReply                     *reply;
    ngx_http_mcp_redis_t           *rds;
    ngx_http_mcp_redis_handler_pt   handler;

    rds = cmd->rds;
    reply = r;

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }

    ngx_queue_remove(&cmd->queue);

    if (reply == NULL) {
        /* the context is being freed: the reason is logged there */
        rds->lost = 1;

        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, rds->log, 0,
                       "mcp redis command failed: no connection");

    } else if (reply->type == REDIS_REPLY_ERROR
               && ngx_http_mcp_redis_distrust(reply))
    {
        /*
         * not (or no longer) a primary that has its data: nothing it
         * answered on this connection is trusted any more
         */

        ngx_http_mcp_redis_fail(rds, reply->str, reply->len);
        reply = NULL;

    } else if (reply->type == REDIS_REPLY_ERROR) {

        if (cmd->script && !cmd->eval && cmd->handler
            && reply->len >= sizeof("NOSCRIPT") - 1
            && ngx_strncmp(reply->str, "NOSCRIPT", sizeof("NOSCRIPT") - 1)
               == 0)
        {
            /* a new or restarted server: once more with the script */

            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, rds->log, 0,
                           "mcp redis: NOSCRIPT, sending EVAL");

            cmd->eval = 1;

            if (ngx_http_mcp_redis_ready(rds)
                && ngx_http_mcp_redis_send(cmd) == NGX_OK)
            {
                return;
            }
        }

        ngx_http_mcp_redis_unavailable(rds, reply->str, reply->len);
        rds->refused |= ngx_http_mcp_redis_kind(cmd);

        if (cmd->script) {
            rds->scripts = 0;
        }

        reply = NULL;

    } else {

        if (cmd->script) {
            rds->scripts = 1;
        }

        /*
         * when Redis refused one kind of command, the other kind working
         * does not end the outage: only the refused kind does
         */

        rds->refused &= ~ngx_http_mcp_redis_kind(cmd);

        if (rds->failing && rds->refused == 0) {
            rds->failing = 0;

            ngx_log_error(NGX_LOG_NOTICE, rds->log, 0,
                          "mcp cache: redis %V is available again",
                          &rds->conf->name);

            /* what it missed meanwhile, if it stayed connected */

            if (rds->ready) {
                rds->ready(rds, rds->ready_data);
            }
        }
    }

    ngx_http_mcp_metrics_redis_command(cmd->start, reply != NULL);

    handler = cmd->handler;
    data = cmd->data;

    ngx_free(cmd);

    if (handler) {
        handler(data, reply);
    }
}


/* errors that end trust in the connection: a replica, a failover, a load */

static ngx_uint_t
ngx_http_mcp_redis_distrust(redisReply *reply)
{
    static ngx_str_t  errors[] = {
        ngx_string("READONLY"),
        ngx_string("MASTERDOWN"),
        ngx_string("LOADING"),
        ngx_null_string
    };

    ngx_str_t  *e;

    for (e = errors; e->len; e++) {
        if (reply->len >= e->len
            && ngx_strncmp(reply->str, e->data, e->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static ngx_uint_t
ngx_http_mcp_redis_kind(ngx_http_mcp_redis_cmd_t *cmd)
{
    return cmd->script ? NGX_HTTP_MCP_REDIS_SCRIPTS
                       : NGX_HTTP_MCP_REDIS_COMMANDS;
}


static void
ngx_http_mcp_redis_cmd_timeout(ngx_event_t *ev)
{
    ngx_http_mcp_redis_cmd_t *cmd = ev->data;

    void                           *data;
    ngx_http_mcp_redis_t           *rds;
    ngx_http_mcp_redis_handler_pt   handler;

    rds = cmd->rds;

    if (cmd->sent) {
        /* every pending command fails when the connection is closed */
        ngx_http_mcp_redis_fail(rds, "timed out", sizeof("timed out") - 1);
        return;
    }

    /* the connection was not ready in time: this command alone fails */

    ngx_http_mcp_redis_unavailable(rds, "connect timed out",
                                   sizeof("connect timed out") - 1);

    ngx_queue_remove(&cmd->queue);

    handler = cmd->handler;
    data = cmd->data;

    ngx_free(cmd);

    if (handler) {
        handler(data, NULL);
    }
}


/*
 * The commands that waited for the connection: sent now that it is ready
 * ("send"), or, when it could not be made, answered without it (a NULL
 * reply: the caller goes on without Redis).
 */

void
ngx_http_mcp_redis_flush_waiting(ngx_http_mcp_redis_t *rds, ngx_uint_t send)
{
    void                           *data;
    ngx_queue_t                     waiting, *q;
    ngx_http_mcp_redis_cmd_t       *cmd;
    ngx_http_mcp_redis_handler_pt   handler;

    if (ngx_queue_empty(&rds->waiting)) {
        return;
    }

    /* a handler may queue commands again: they go to the new list */

    waiting = rds->waiting;
    waiting.next->prev = &waiting;
    waiting.prev->next = &waiting;
    ngx_queue_init(&rds->waiting);

    while (!ngx_queue_empty(&waiting)) {
        q = ngx_queue_head(&waiting);
        cmd = ngx_queue_data(q, ngx_http_mcp_redis_cmd_t, queue);

        ngx_queue_remove(q);

        if (send
            && cmd->handler != NULL
            && ngx_http_mcp_redis_ready(rds)
            && ngx_http_mcp_redis_send(cmd) == NGX_OK)
        {
            continue;
        }

        if (cmd->timer.timer_set) {
            ngx_del_timer(&cmd->timer);
        }

        handler = cmd->handler;
        data = cmd->data;

        ngx_free(cmd);

        if (handler) {
            handler(data, NULL);
        }
    }
}
