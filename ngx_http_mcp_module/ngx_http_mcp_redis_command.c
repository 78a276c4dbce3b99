
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * Commands: routed to the primary of their key (ngx_http_mcp_redis.c),
 * sent at once when its connection is ready, or kept until its handshake
 * is done (within the command timeout); scripts by EVALSHA, once more by
 * EVAL when Redis does not know them; on a cluster, MOVED and ASK
 * followed (ngx_http_mcp_redis_cluster.c); one timer per command; every
 * reply, or a NULL one when the command failed, to the caller's handler.
 *
 * Commands of one key keep their order on one connection: when one is
 * sent again (EVAL after NOSCRIPT, a redirection), the commands of the
 * same key sent after it on the same connection are sent again after it,
 * and their first replies dropped.  So a WAIT that followed a script
 * still follows it.
 */


#include "ngx_http_mcp_redis.h"
#include "ngx_http_mcp_metrics.h"


static ngx_http_mcp_redis_cmd_t *ngx_http_mcp_redis_queue(
    ngx_http_mcp_redis_t *rds, ngx_http_mcp_redis_script_t *script,
    ngx_uint_t nkeys, ngx_uint_t nargs, ngx_str_t *args, ngx_str_t *key,
    ngx_http_mcp_redis_handler_pt handler, void *data);
static ngx_int_t ngx_http_mcp_redis_dispatch(ngx_http_mcp_redis_t *rds,
    ngx_http_mcp_redis_cmd_t *cmd);
static ngx_int_t ngx_http_mcp_redis_send(ngx_http_mcp_redis_node_t *node,
    ngx_http_mcp_redis_cmd_t *cmd);
static void ngx_http_mcp_redis_refused(ngx_http_mcp_redis_node_t *node,
    redisReply *reply);
static ngx_uint_t ngx_http_mcp_redis_distrust(redisReply *reply);
static ngx_uint_t ngx_http_mcp_redis_kind(ngx_http_mcp_redis_cmd_t *cmd);
static void ngx_http_mcp_redis_resend_one(ngx_http_mcp_redis_cmd_t *cmd,
    ngx_uint_t asking, ngx_http_mcp_redis_node_t *to);
static void ngx_http_mcp_redis_followers(ngx_http_mcp_redis_cmd_t *cmd,
    ngx_http_mcp_redis_node_t *from, ngx_queue_t *followers);
static void ngx_http_mcp_redis_cmd_timeout(ngx_event_t *ev);
static void ngx_http_mcp_redis_cmd_free(ngx_http_mcp_redis_cmd_t *cmd);


ngx_http_mcp_redis_cmd_t *
ngx_http_mcp_redis_eval(ngx_http_mcp_redis_t *rds,
    ngx_http_mcp_redis_script_t *script, ngx_uint_t nkeys, ngx_uint_t nargs,
    ngx_str_t *args, ngx_http_mcp_redis_handler_pt handler, void *data)
{
    if (nargs + 3 > NGX_HTTP_MCP_REDIS_MAX_ARGS || nkeys > nargs) {
        return NULL;
    }

    return ngx_http_mcp_redis_queue(rds, script, nkeys, nargs, args,
                                    nkeys ? &args[0] : NULL, handler, data);
}


ngx_http_mcp_redis_cmd_t *
ngx_http_mcp_redis_command(ngx_http_mcp_redis_t *rds, ngx_str_t *key,
    ngx_uint_t nargs, ngx_str_t *args, ngx_http_mcp_redis_handler_pt handler,
    void *data)
{
    if (nargs == 0 || nargs > NGX_HTTP_MCP_REDIS_MAX_ARGS) {
        return NULL;
    }

    return ngx_http_mcp_redis_queue(rds, NULL, 0, nargs, args, key, handler,
                                    data);
}


/* a script (EVALSHA) when "script" is set, else the command in "args" */

static ngx_http_mcp_redis_cmd_t *
ngx_http_mcp_redis_queue(ngx_http_mcp_redis_t *rds,
    ngx_http_mcp_redis_script_t *script, ngx_uint_t nkeys, ngx_uint_t nargs,
    ngx_str_t *args, ngx_str_t *key, ngx_http_mcp_redis_handler_pt handler,
    void *data)
{
    ngx_http_mcp_redis_cmd_t  *cmd;

    if (rds == NULL || rds->exiting) {
        return NULL;
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

    /*
     * without a handler nobody waits for the reply: its arguments may be
     * gone by then, so it is neither kept nor sent again
     */

    if (key && handler) {
        cmd->key = *key;
    }

    if (rds->cluster) {
        cmd->slot = key ? ngx_http_mcp_redis_slot(key)
                        : NGX_HTTP_MCP_REDIS_SLOTS;
    }

    cmd->timer.handler = ngx_http_mcp_redis_cmd_timeout;
    cmd->timer.data = cmd;
    cmd->timer.log = rds->log;

    /* without a reply handler, Redis has the script at once */
    cmd->eval = (script != NULL && handler == NULL);

    if (ngx_http_mcp_redis_dispatch(rds, cmd) != NGX_OK) {
        ngx_http_mcp_redis_cmd_free(cmd);
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
    cmd->key.len = 0;
}


/* to the primary of the command's key; NGX_DECLINED: not now */

static ngx_int_t
ngx_http_mcp_redis_dispatch(ngx_http_mcp_redis_t *rds,
    ngx_http_mcp_redis_cmd_t *cmd)
{
    ngx_uint_t                  wait;
    ngx_http_mcp_redis_node_t  *node;

    if (rds->cluster == NULL) {
        return ngx_http_mcp_redis_submit(rds->node, cmd);
    }

    wait = 0;

    node = ngx_http_mcp_redis_cluster_node(rds, cmd, &wait);

    if (node) {
        return ngx_http_mcp_redis_submit(node, cmd);
    }

    if (wait && cmd->handler) {
        /* the slot map is being read */
        return ngx_http_mcp_redis_cluster_wait(rds, cmd);
    }

    return NGX_DECLINED;
}


/*
 * Sent at once to a ready connection; while it is being made, a command
 * waits for the handshake, unless the node is known to be failing (then
 * no request waits for it), or nobody waits for the reply.
 */

ngx_int_t
ngx_http_mcp_redis_submit(ngx_http_mcp_redis_node_t *node,
    ngx_http_mcp_redis_cmd_t *cmd)
{
    if (node == NULL) {
        return NGX_DECLINED;
    }

    if (node->state == NGX_HTTP_MCP_REDIS_READY && !node->moving) {
        return ngx_http_mcp_redis_send(node, cmd);
    }

    if (node->failing || cmd->handler == NULL || node->retired
        || node->state == NGX_HTTP_MCP_REDIS_EXITING)
    {
        return NGX_DECLINED;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, node->rds->log, 0,
                   "mcp redis command waits for %V", &node->name);

    cmd->node = node;
    cmd->sent = 0;

    ngx_queue_insert_tail(&node->waiting, &cmd->queue);

    if (!cmd->timer.timer_set) {
        ngx_add_timer(&cmd->timer, node->rds->conf->timeout);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mcp_redis_send(ngx_http_mcp_redis_node_t *node,
    ngx_http_mcp_redis_cmd_t *cmd)
{
    int                        argc;
    size_t                     argvlen[NGX_HTTP_MCP_REDIS_MAX_ARGS];
    ngx_uint_t                 i;
    const char                *argv[NGX_HTTP_MCP_REDIS_MAX_ARGS];
    ngx_http_mcp_redis_cmd_t  *asking;
    u_char                     nkeys[NGX_INT_T_LEN];

    if (cmd->asking) {
        /* ASK: this command alone may use the importing node's slot */

        asking = ngx_calloc(sizeof(ngx_http_mcp_redis_cmd_t), node->rds->log);
        if (asking == NULL) {
            return NGX_ERROR;
        }

        argv[0] = "ASKING";
        argvlen[0] = sizeof("ASKING") - 1;

        if (ngx_http_mcp_redis_node_write(node, 1, argv, argvlen) != NGX_OK) {
            ngx_free(asking);
            return NGX_ERROR;
        }

        asking->rds = node->rds;
        asking->node = node;
        asking->sink = 1;
        asking->sent = 1;

        ngx_queue_insert_tail(&node->sent, &asking->queue);
    }

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

    /* formatted into the node's output buffer: "args" may go now */

    if (ngx_http_mcp_redis_node_write(node, argc, argv, argvlen) != NGX_OK) {
        return NGX_ERROR;
    }

    cmd->node = node;
    cmd->sent = 1;
    cmd->start = ngx_http_mcp_metrics_clock();

    ngx_queue_insert_tail(&node->sent, &cmd->queue);

    if (!cmd->timer.timer_set) {
        ngx_add_timer(&cmd->timer, node->rds->conf->timeout);
    }

    return NGX_OK;
}


/* the reply to "cmd", which was the first sent to "node" */

void
ngx_http_mcp_redis_reply(ngx_http_mcp_redis_node_t *node,
    ngx_http_mcp_redis_cmd_t *cmd, redisReply *reply)
{
    ngx_http_mcp_redis_t            *rds;
    ngx_http_mcp_redis_internal_pt   internal;

    rds = node->rds;

    if (cmd->internal) {
        internal = cmd->internal;
        ngx_http_mcp_redis_cmd_free(cmd);
        internal(node, reply);
        return;
    }

    if (cmd->sink) {
        ngx_http_mcp_redis_cmd_free(cmd);
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {

        if (ngx_http_mcp_redis_distrust(reply)) {
            /*
             * not (or no longer) a primary that has its data: nothing it
             * answered on this connection is trusted any more
             */

            ngx_http_mcp_redis_node_fail(node, reply->str, reply->len);
            ngx_http_mcp_redis_finish(cmd, node, NULL);
            return;
        }

        if (rds->cluster
            && ngx_http_mcp_redis_cluster_redirect(node, cmd, reply)
               == NGX_OK)
        {
            return;
        }

        if (cmd->script && !cmd->eval && cmd->handler
            && ngx_http_mcp_redis_error_is(reply, "NOSCRIPT",
                                           sizeof("NOSCRIPT") - 1))
        {
            /* a new or restarted server: once more with the script */

            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, rds->log, 0,
                           "mcp redis: NOSCRIPT, sending EVAL");

            cmd->eval = 1;

            ngx_http_mcp_redis_resend(cmd, node, node);
            return;
        }

        if (cmd->handler == NULL) {
            /* cancelled, or nobody waits: not an outage of Redis's */
            ngx_http_mcp_redis_finish(cmd, node, NULL);
            return;
        }

        ngx_http_mcp_redis_refused(node, reply);
        node->refused |= ngx_http_mcp_redis_kind(cmd);

        if (cmd->script) {
            node->scripts = 0;
        }

        ngx_http_mcp_redis_finish(cmd, node, NULL);
        return;
    }

    if (cmd->script) {
        node->scripts = 1;
    }

    /*
     * when Redis refused one kind of command, the other kind working
     * does not end the outage: only the refused kind does
     */

    node->refused &= ~ngx_http_mcp_redis_kind(cmd);

    if (node->failing && node->refused == 0) {
        ngx_http_mcp_redis_available(node);
    }

    ngx_http_mcp_redis_finish(cmd, node, reply);
}


/* an error that is Redis's refusal: said once (with a hint if it helps) */

static void
ngx_http_mcp_redis_refused(ngx_http_mcp_redis_node_t *node, redisReply *reply)
{
    u_char  *p;
    u_char   reason[NGX_HTTP_MCP_REDIS_ERROR_MAX];

    if (node->rds->cluster == NULL
        && (ngx_http_mcp_redis_error_is(reply, "MOVED", sizeof("MOVED") - 1)
            || ngx_http_mcp_redis_error_is(reply, "ASK", sizeof("ASK") - 1)))
    {
        p = ngx_snprintf(reason, sizeof(reason), "%*s: a Redis Cluster's "
                         "node (\"mcp_cache_redis cluster=...\")",
                         ngx_min(reply->len, sizeof(reason) / 2), reply->str);

        ngx_http_mcp_redis_unavailable(node, (char *) reason, p - reason);
        return;
    }

    ngx_http_mcp_redis_unavailable(node, reply->str, reply->len);
}


/* the handler hears of it ("reply" NULL: it failed), the command goes */

void
ngx_http_mcp_redis_finish(ngx_http_mcp_redis_cmd_t *cmd,
    ngx_http_mcp_redis_node_t *node, redisReply *reply)
{
    void                           *data;
    ngx_http_mcp_redis_t           *rds;
    ngx_http_mcp_redis_node_t      *answering;
    ngx_http_mcp_redis_handler_pt   handler;

    rds = cmd->rds;
    handler = cmd->handler;
    data = cmd->data;

    if (cmd->sent) {
        ngx_http_mcp_metrics_redis_command(cmd->start, reply != NULL);
    }

    ngx_http_mcp_redis_cmd_free(cmd);

    if (handler == NULL) {
        return;
    }

    answering = rds->answering;
    rds->answering = reply ? node : NULL;

    handler(data, reply);

    rds->answering = answering;
}


/*
 * "cmd" goes (again) to "to": EVAL after NOSCRIPT (to is from), MOVED,
 * ASK, or a little later (TRYAGAIN: to is NULL); the commands of its key
 * sent after it to "from" follow it.
 */

void
ngx_http_mcp_redis_resend(ngx_http_mcp_redis_cmd_t *cmd,
    ngx_http_mcp_redis_node_t *from, ngx_http_mcp_redis_node_t *to)
{
    ngx_uint_t                 asking;
    ngx_queue_t                followers, *q;
    ngx_http_mcp_redis_cmd_t  *f;

    asking = cmd->asking;

    ngx_http_mcp_redis_followers(cmd, from, &followers);

    ngx_http_mcp_redis_resend_one(cmd, asking, to);

    while (!ngx_queue_empty(&followers)) {
        q = ngx_queue_head(&followers);
        f = ngx_queue_data(q, ngx_http_mcp_redis_cmd_t, queue);
        ngx_queue_remove(q);

        ngx_http_mcp_redis_resend_one(f, asking, to);
    }
}


static void
ngx_http_mcp_redis_resend_one(ngx_http_mcp_redis_cmd_t *cmd,
    ngx_uint_t asking, ngx_http_mcp_redis_node_t *to)
{
    cmd->asking = asking;

    if (cmd->handler == NULL) {
        ngx_http_mcp_redis_finish(cmd, to, NULL);

    } else if (to == NULL) {
        /* TRYAGAIN: a little later, by their slot */
        ngx_http_mcp_redis_cluster_later(cmd->rds, cmd);

    } else if (ngx_http_mcp_redis_submit(to, cmd) != NGX_OK) {
        ngx_http_mcp_redis_finish(cmd, to, NULL);
    }
}


/*
 * The commands of cmd's key sent to "from" after it, taken out; each
 * leaves a sink in its place, which drops the reply "from" sends it.
 */

static void
ngx_http_mcp_redis_followers(ngx_http_mcp_redis_cmd_t *cmd,
    ngx_http_mcp_redis_node_t *from, ngx_queue_t *followers)
{
    ngx_queue_t               *q, *next;
    ngx_http_mcp_redis_cmd_t  *f, *sink;

    ngx_queue_init(followers);

    if (from == NULL || cmd->key.len == 0) {
        return;
    }

    for (q = ngx_queue_head(&from->sent);
         q != ngx_queue_sentinel(&from->sent);
         q = next)
    {
        next = ngx_queue_next(q);
        f = ngx_queue_data(q, ngx_http_mcp_redis_cmd_t, queue);

        if (f->handler == NULL || f->internal || f->sink
            || f->key.len != cmd->key.len
            || ngx_memcmp(f->key.data, cmd->key.data, cmd->key.len) != 0)
        {
            continue;
        }

        sink = ngx_calloc(sizeof(ngx_http_mcp_redis_cmd_t), from->rds->log);
        if (sink == NULL) {
            /* it stays where it is: its own reply will say */
            continue;
        }

        sink->rds = from->rds;
        sink->node = from;
        sink->sink = 1;
        sink->sent = 1;

        ngx_queue_insert_after(q, &sink->queue);
        ngx_queue_remove(q);

        f->sent = 0;
        ngx_queue_insert_tail(followers, &f->queue);
    }
}


/* errors that end trust in the connection: a replica, a failover, a load */

static ngx_uint_t
ngx_http_mcp_redis_distrust(redisReply *reply)
{
    return ngx_http_mcp_redis_error_is(reply, "READONLY",
                                       sizeof("READONLY") - 1)
           || ngx_http_mcp_redis_error_is(reply, "MASTERDOWN",
                                          sizeof("MASTERDOWN") - 1)
           || ngx_http_mcp_redis_error_is(reply, "LOADING",
                                          sizeof("LOADING") - 1);
}


ngx_uint_t
ngx_http_mcp_redis_error_is(redisReply *reply, const char *prefix, size_t len)
{
    return reply->type == REDIS_REPLY_ERROR
           && reply->len >= len
           && ngx_strncmp(reply->str, prefix, len) == 0
           && (reply->len == len || reply->str[len] == ' ');
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

    ngx_http_mcp_redis_node_t  *node;

    node = cmd->node;

    if (cmd->sent) {
        /* every pending command fails when the connection is closed */
        ngx_http_mcp_redis_node_fail(node, "timed out",
                                     sizeof("timed out") - 1);
        return;
    }

    /* the connection (or the slot map) was not ready in time: this alone */

    ngx_queue_remove(&cmd->queue);

    if (node) {
        ngx_http_mcp_redis_unavailable(node, "connect timed out",
                                       sizeof("connect timed out") - 1);
    }

    ngx_http_mcp_redis_finish(cmd, node, NULL);
}


/*
 * The commands that waited for the connection: sent now that it is ready
 * ("send"), or, when it could not be made, answered without it (a NULL
 * reply: the caller goes on without Redis).
 */

void
ngx_http_mcp_redis_flush_waiting(ngx_http_mcp_redis_node_t *node,
    ngx_uint_t send)
{
    ngx_queue_t                waiting, *q;
    ngx_http_mcp_redis_cmd_t  *cmd;

    /* a handler may queue commands again: they go to the new list */

    ngx_queue_init(&waiting);
    ngx_http_mcp_redis_queue_move(&waiting, &node->waiting);

    while (!ngx_queue_empty(&waiting)) {
        q = ngx_queue_head(&waiting);
        cmd = ngx_queue_data(q, ngx_http_mcp_redis_cmd_t, queue);

        ngx_queue_remove(q);

        if (send
            && cmd->handler != NULL
            && ngx_http_mcp_redis_submit(node, cmd) == NGX_OK)
        {
            continue;
        }

        ngx_http_mcp_redis_finish(cmd, node, NULL);
    }
}


/* the commands of "from" go to the end of "to"; "from" is empty after */

void
ngx_http_mcp_redis_queue_move(ngx_queue_t *to, ngx_queue_t *from)
{
    if (!ngx_queue_empty(from)) {
        ngx_queue_add(to, from);
        ngx_queue_init(from);
    }
}


/* a connection is gone: its commands fail (the layer's own are dropped) */

void
ngx_http_mcp_redis_fail_queue(ngx_queue_t *queue)
{
    ngx_queue_t                     *q;
    ngx_http_mcp_redis_cmd_t        *cmd;
    ngx_http_mcp_redis_node_t       *node;
    ngx_http_mcp_redis_internal_pt   internal;

    while (!ngx_queue_empty(queue)) {
        q = ngx_queue_head(queue);
        cmd = ngx_queue_data(q, ngx_http_mcp_redis_cmd_t, queue);

        ngx_queue_remove(q);

        if (cmd->internal) {
            internal = cmd->internal;
            node = cmd->node;
            ngx_http_mcp_redis_cmd_free(cmd);
            internal(node, NULL);
            continue;
        }

        if (cmd->sink) {
            ngx_http_mcp_redis_cmd_free(cmd);
            continue;
        }

        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, cmd->rds->log, 0,
                       "mcp redis command failed: no connection");

        ngx_http_mcp_redis_finish(cmd, cmd->node, NULL);
    }
}


/* the worker exits: no handler is called */

void
ngx_http_mcp_redis_free_queue(ngx_queue_t *queue)
{
    ngx_queue_t               *q;
    ngx_http_mcp_redis_cmd_t  *cmd;

    while (!ngx_queue_empty(queue)) {
        q = ngx_queue_head(queue);
        cmd = ngx_queue_data(q, ngx_http_mcp_redis_cmd_t, queue);

        ngx_queue_remove(q);
        ngx_http_mcp_redis_cmd_free(cmd);
    }
}


static void
ngx_http_mcp_redis_cmd_free(ngx_http_mcp_redis_cmd_t *cmd)
{
    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }

    ngx_free(cmd);
}
