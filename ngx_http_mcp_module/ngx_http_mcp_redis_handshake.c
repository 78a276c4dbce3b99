
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * Redis's handshake on a new connection, pipelined right after connect
 * (and TLS): AUTH [user] password, SELECT db, ROLE, INFO server.  Only a
 * primary is used, and its run id, which a restart or a failover changes,
 * says which server answers; the node is ready when INFO is answered (the
 * L1 cache's invalidation channel is checked alike: the same primary).  A
 * sentinel, or a cluster node asked for the slot map: AUTH, PING.  Any
 * step answered with an error fails the node, saying which step.
 */


#include "ngx_http_mcp_redis.h"


static void ngx_http_mcp_redis_handshake_step(ngx_http_mcp_redis_node_t *node,
    redisReply *reply, const char *what);
static void ngx_http_mcp_redis_handshake_auth(ngx_http_mcp_redis_node_t *node,
    redisReply *reply);
static void ngx_http_mcp_redis_handshake_select(
    ngx_http_mcp_redis_node_t *node, redisReply *reply);
static void ngx_http_mcp_redis_handshake_role(ngx_http_mcp_redis_node_t *node,
    redisReply *reply);
static void ngx_http_mcp_redis_handshake_info(ngx_http_mcp_redis_node_t *node,
    redisReply *reply);
static void ngx_http_mcp_redis_handshake_ping(ngx_http_mcp_redis_node_t *node,
    redisReply *reply);


/* pipelined: the node is ready once the last step is answered */

ngx_int_t
ngx_http_mcp_redis_handshake(ngx_http_mcp_redis_node_t *node)
{
    int                         argc;
    size_t                      argvlen[3];
    ngx_str_t                  *user, *password;
    const char                 *argv[3];
    ngx_http_mcp_redis_conf_t  *conf;
    u_char                      db[NGX_INT_T_LEN];

    conf = node->rds->conf;

    if (node->kind == NGX_HTTP_MCP_REDIS_SENTINEL_QUERY
        || node->kind == NGX_HTTP_MCP_REDIS_SENTINEL_SUB)
    {
        user = &conf->sentinel_user;
        password = &conf->sentinel_password;

    } else {
        user = &conf->user;
        password = &conf->password;
    }

    if (password->len) {
        argc = 0;
        argv[argc] = "AUTH";
        argvlen[argc++] = sizeof("AUTH") - 1;

        if (user->len) {
            argv[argc] = (const char *) user->data;
            argvlen[argc++] = user->len;
        }

        argv[argc] = (const char *) password->data;
        argvlen[argc++] = password->len;

        if (ngx_http_mcp_redis_node_internal(node,
                                         ngx_http_mcp_redis_handshake_auth,
                                         argc, argv, argvlen)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (node->kind != NGX_HTTP_MCP_REDIS_PRIMARY
        && node->kind != NGX_HTTP_MCP_REDIS_CHANNEL)
    {
        argv[0] = "PING";
        argvlen[0] = sizeof("PING") - 1;

        return ngx_http_mcp_redis_node_internal(node,
                                             ngx_http_mcp_redis_handshake_ping,
                                             1, argv, argvlen);
    }

    if (conf->db) {
        argv[0] = "SELECT";
        argvlen[0] = sizeof("SELECT") - 1;
        argv[1] = (const char *) db;
        argvlen[1] = ngx_sprintf(db, "%ui", conf->db) - db;

        if (ngx_http_mcp_redis_node_internal(node,
                                         ngx_http_mcp_redis_handshake_select,
                                         2, argv, argvlen)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    /* only a primary is trusted: its role, then who it is */

    argv[0] = "ROLE";
    argvlen[0] = sizeof("ROLE") - 1;

    if (ngx_http_mcp_redis_node_internal(node,
                                         ngx_http_mcp_redis_handshake_role,
                                         1, argv, argvlen)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    argv[0] = "INFO";
    argvlen[0] = sizeof("INFO") - 1;
    argv[1] = "server";
    argvlen[1] = sizeof("server") - 1;

    return ngx_http_mcp_redis_node_internal(node,
                                            ngx_http_mcp_redis_handshake_info,
                                            2, argv, argvlen);
}


/* a step of the handshake answered with an error: the node fails */

static void
ngx_http_mcp_redis_handshake_step(ngx_http_mcp_redis_node_t *node,
    redisReply *reply, const char *what)
{
    u_char  *p;
    u_char   reason[NGX_HTTP_MCP_REDIS_ERROR_MAX];

    p = ngx_http_mcp_redis_node_reason(node, reason, sizeof(reason), what,
                                       reply);

    ngx_http_mcp_redis_node_fail(node, (char *) reason, p - reason);
}


/* "<what>: <Redis's error>", for a log */

u_char *
ngx_http_mcp_redis_node_reason(ngx_http_mcp_redis_node_t *node, u_char *buf,
    size_t size, const char *what, redisReply *reply)
{
    size_t  len;

    if (reply->type != REDIS_REPLY_ERROR && reply->type != REDIS_REPLY_STATUS
        && reply->type != REDIS_REPLY_STRING)
    {
        return ngx_snprintf(buf, size, "%s: unexpected reply", what);
    }

    len = ngx_min(reply->len, size / 2);

    return ngx_snprintf(buf, size, "%s: %*s", what, len, reply->str);
}


static void
ngx_http_mcp_redis_handshake_auth(ngx_http_mcp_redis_node_t *node,
    redisReply *reply)
{
    if (reply && reply->type == REDIS_REPLY_ERROR) {
        ngx_http_mcp_redis_handshake_step(node, reply, "AUTH");
    }
}


static void
ngx_http_mcp_redis_handshake_select(ngx_http_mcp_redis_node_t *node,
    redisReply *reply)
{
    if (reply && reply->type == REDIS_REPLY_ERROR) {
        ngx_http_mcp_redis_handshake_step(node, reply, "SELECT");
    }
}


static void
ngx_http_mcp_redis_handshake_role(ngx_http_mcp_redis_node_t *node,
    redisReply *reply)
{
    if (reply == NULL || node->state != NGX_HTTP_MCP_REDIS_HANDSHAKE) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_http_mcp_redis_handshake_step(node, reply, "ROLE");
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[0]->len != sizeof("master") - 1
        || ngx_strncmp(reply->element[0]->str, "master",
                       sizeof("master") - 1)
           != 0)
    {
        ngx_http_mcp_redis_node_fail(node, "not a primary",
                                     sizeof("not a primary") - 1);
    }
}


/* "run_id:<40 hex digits>" in INFO server: the last step */

static void
ngx_http_mcp_redis_handshake_info(ngx_http_mcp_redis_node_t *node,
    redisReply *reply)
{
    u_char  *p, *last, *id;

    if (reply == NULL || node->state != NGX_HTTP_MCP_REDIS_HANDSHAKE) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_http_mcp_redis_handshake_step(node, reply, "INFO");
        return;
    }

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

            while (p < last && *p != CR && *p != LF) {
                p++;
            }

            if (p - id != NGX_HTTP_MCP_REDIS_RUN_ID_LEN) {
                id = NULL;
            }
        }
    }

    if (id == NULL) {
        ngx_http_mcp_redis_node_fail(node, "no run id",
                                     sizeof("no run id") - 1);
        return;
    }

    ngx_memcpy(node->run_id, id, NGX_HTTP_MCP_REDIS_RUN_ID_LEN);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, node->rds->log, 0,
                   "mcp redis %V ready, run id %*s", &node->name,
                   (size_t) NGX_HTTP_MCP_REDIS_RUN_ID_LEN, node->run_id);

    ngx_http_mcp_redis_node_ready(node);
}


static void
ngx_http_mcp_redis_handshake_ping(ngx_http_mcp_redis_node_t *node,
    redisReply *reply)
{
    if (reply == NULL || node->state != NGX_HTTP_MCP_REDIS_HANDSHAKE) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_http_mcp_redis_handshake_step(node, reply, "PING");
        return;
    }

    ngx_http_mcp_redis_node_ready(node);
}
