
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * Redis Sentinel: "mcp_cache_redis sentinel=host:port ... master=name".
 *
 *   locate    before every connection to the primary, a sentinel is asked
 *             where it is (SENTINEL get-master-addr-by-name), each
 *             sentinel in turn until one answers; the primary's handshake
 *             then checks its role (ROLE: master) as with a single Redis,
 *             so a sentinel that is behind cannot send the cache to a
 *             replica;
 *   follow    a second connection to a sentinel is subscribed to
 *             +switch-master: when the master named moves, the connection
 *             to the old one is closed (its commands fail: they went to a
 *             server that lost its role) and the new one connected.  When
 *             that subscription is made again (a sentinel failed), the
 *             primary is asked for once more: a switch may have been
 *             missed meanwhile.
 *
 * The sentinels' own failures are logged once per sentinel and outage;
 * they do not stop the cache while its primary answers.
 */


#include "ngx_http_mcp_redis.h"


struct ngx_http_mcp_redis_sentinel_s {
    ngx_http_mcp_redis_node_t      *query;      /* asks where the master is */
    ngx_http_mcp_redis_node_t      *sub;        /* hears of its switches */
    ngx_uint_t                      next_query;
    ngx_uint_t                      next_sub;
    ngx_uint_t                      tried;      /* sentinels, this time */
    ngx_uint_t                      failing;    /* a bit a sentinel */

    unsigned                        locating:1; /* the primary waits */
    unsigned                        checking:1; /* is it still there? */
    unsigned                        asked:1;
};


static void ngx_http_mcp_redis_sentinel_locate(ngx_http_mcp_redis_node_t *node);
static void ngx_http_mcp_redis_sentinel_primary_down(
    ngx_http_mcp_redis_node_t *node);
static void ngx_http_mcp_redis_sentinel_ask(ngx_http_mcp_redis_t *rds);
static void ngx_http_mcp_redis_sentinel_query_up(
    ngx_http_mcp_redis_node_t *query);
static void ngx_http_mcp_redis_sentinel_query_down(
    ngx_http_mcp_redis_node_t *query);
static void ngx_http_mcp_redis_sentinel_answer(
    ngx_http_mcp_redis_node_t *query, redisReply *reply);
static void ngx_http_mcp_redis_sentinel_sub_up(ngx_http_mcp_redis_node_t *sub);
static void ngx_http_mcp_redis_sentinel_sub_down(
    ngx_http_mcp_redis_node_t *sub);
static void ngx_http_mcp_redis_sentinel_message(ngx_http_mcp_redis_node_t *sub,
    redisReply *reply);
static void ngx_http_mcp_redis_sentinel_switch(ngx_http_mcp_redis_t *rds,
    ngx_str_t *host, ngx_str_t *port, const char *why);
static void ngx_http_mcp_redis_sentinel_next(ngx_http_mcp_redis_node_t *node,
    ngx_uint_t *next);


ngx_int_t
ngx_http_mcp_redis_sentinel_init(ngx_http_mcp_redis_t *rds)
{
    ngx_http_mcp_redis_addr_t      *addr;
    ngx_http_mcp_redis_sentinel_t  *s;

    s = ngx_calloc(sizeof(ngx_http_mcp_redis_sentinel_t), rds->log);
    if (s == NULL) {
        return NGX_ERROR;
    }

    rds->sentinel = s;

    addr = rds->conf->addrs->elts;

    s->query = ngx_http_mcp_redis_node_create(rds,
                                          NGX_HTTP_MCP_REDIS_SENTINEL_QUERY,
                                          &addr->host, addr->port,
                                          addr->sockaddr, addr->socklen);
    if (s->query == NULL) {
        return NGX_ERROR;
    }

    /* connected when the primary is looked for, and kept */
    s->query->on_demand = 1;
    s->query->up = ngx_http_mcp_redis_sentinel_query_up;
    s->query->down = ngx_http_mcp_redis_sentinel_query_down;

    s->sub = ngx_http_mcp_redis_node_create(rds,
                                            NGX_HTTP_MCP_REDIS_SENTINEL_SUB,
                                            &addr->host, addr->port,
                                            addr->sockaddr, addr->socklen);
    if (s->sub == NULL) {
        return NGX_ERROR;
    }

    s->sub->up = ngx_http_mcp_redis_sentinel_sub_up;
    s->sub->down = ngx_http_mcp_redis_sentinel_sub_down;
    s->sub->message = ngx_http_mcp_redis_sentinel_message;

    rds->node = ngx_http_mcp_redis_node_create(rds, NGX_HTTP_MCP_REDIS_PRIMARY,
                                               NULL, 0, NULL, 0);
    if (rds->node == NULL) {
        return NGX_ERROR;
    }

    rds->node->locate = ngx_http_mcp_redis_sentinel_locate;
    rds->node->up = ngx_http_mcp_redis_primary_up;
    rds->node->down = ngx_http_mcp_redis_sentinel_primary_down;

    ngx_http_mcp_redis_node_connect(rds->node);
    ngx_http_mcp_redis_node_connect(s->sub);

    return NGX_OK;
}


void
ngx_http_mcp_redis_sentinel_destroy(ngx_http_mcp_redis_t *rds)
{
    ngx_http_mcp_redis_sentinel_t  *s;

    s = rds->sentinel;

    ngx_http_mcp_redis_node_free(s->query);
    ngx_http_mcp_redis_node_free(s->sub);

    ngx_free(s);
    rds->sentinel = NULL;
}


/* the primary connects: a sentinel says where it is first */

static void
ngx_http_mcp_redis_sentinel_locate(ngx_http_mcp_redis_node_t *node)
{
    ngx_http_mcp_redis_sentinel_t  *s;

    s = node->rds->sentinel;

    s->locating = 1;
    s->tried = 0;

    ngx_http_mcp_redis_sentinel_ask(node->rds);
}


/* the primary failed, located or not: an answer to come is too late */

static void
ngx_http_mcp_redis_sentinel_primary_down(ngx_http_mcp_redis_node_t *node)
{
    node->rds->sentinel->locating = 0;
}


static void
ngx_http_mcp_redis_sentinel_ask(ngx_http_mcp_redis_t *rds)
{
    size_t                          argvlen[3];
    const char                     *argv[3];
    ngx_http_mcp_redis_node_t      *query;
    ngx_http_mcp_redis_sentinel_t  *s;

    s = rds->sentinel;
    query = s->query;

    if (s->asked) {
        return;
    }

    if (query->state == NGX_HTTP_MCP_REDIS_IDLE) {
        ngx_http_mcp_redis_node_connect(query);
        return;
    }

    if (query->state != NGX_HTTP_MCP_REDIS_READY) {
        /* it asks once connected */
        return;
    }

    argv[0] = "SENTINEL";
    argvlen[0] = sizeof("SENTINEL") - 1;
    argv[1] = "get-master-addr-by-name";
    argvlen[1] = sizeof("get-master-addr-by-name") - 1;
    argv[2] = (const char *) rds->conf->master.data;
    argvlen[2] = rds->conf->master.len;

    if (ngx_http_mcp_redis_node_internal(query,
                                         ngx_http_mcp_redis_sentinel_answer,
                                         3, argv, argvlen)
        != NGX_OK)
    {
        ngx_http_mcp_redis_node_fail(query, "SENTINEL not sent",
                                     sizeof("SENTINEL not sent") - 1);
        return;
    }

    s->asked = 1;
}


static void
ngx_http_mcp_redis_sentinel_query_up(ngx_http_mcp_redis_node_t *query)
{
    ngx_http_mcp_redis_sentinel_t  *s;

    s = query->rds->sentinel;

    if (s->locating || s->checking) {
        ngx_http_mcp_redis_sentinel_ask(query->rds);
    }
}


/*
 * The sentinel asked failed: the next one is asked, until each was; then
 * the primary cannot be located this time (its own backoff tries again).
 */

static void
ngx_http_mcp_redis_sentinel_query_down(ngx_http_mcp_redis_node_t *query)
{
    u_char                         *p;
    ngx_http_mcp_redis_t           *rds;
    ngx_http_mcp_redis_sentinel_t  *s;
    u_char                          reason[NGX_HTTP_MCP_REDIS_ERROR_MAX];

    rds = query->rds;
    s = rds->sentinel;

    s->asked = 0;

    ngx_http_mcp_redis_sentinel_next(query, &s->next_query);

    if (!s->locating) {
        s->checking = 0;
        return;
    }

    if (++s->tried < rds->conf->addrs->nelts) {
        ngx_http_mcp_redis_node_connect(query);
        return;
    }

    s->locating = 0;

    p = ngx_snprintf(reason, sizeof(reason), "no sentinel answers (%*s)",
                     query->error_len, query->error);

    ngx_http_mcp_redis_node_fail(rds->node, (char *) reason, p - reason);
}


/* [host, port], or nil: the sentinels do not know the master */

static void
ngx_http_mcp_redis_sentinel_answer(ngx_http_mcp_redis_node_t *query,
    redisReply *reply)
{
    u_char                         *p;
    ngx_str_t                       host, port;
    ngx_http_mcp_redis_t           *rds;
    ngx_http_mcp_redis_node_t      *node;
    ngx_http_mcp_redis_sentinel_t  *s;
    u_char                          reason[NGX_HTTP_MCP_REDIS_ERROR_MAX];

    rds = query->rds;
    s = rds->sentinel;
    node = rds->node;

    s->asked = 0;

    if (reply == NULL) {
        /* the query's connection failed: its down handler goes on */
        return;
    }

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
        && reply->element[0]->type == REDIS_REPLY_STRING
        && reply->element[1]->type == REDIS_REPLY_STRING)
    {
        host.data = (u_char *) reply->element[0]->str;
        host.len = reply->element[0]->len;
        port.data = (u_char *) reply->element[1]->str;
        port.len = reply->element[1]->len;

        if (s->checking) {
            s->checking = 0;
            ngx_http_mcp_redis_sentinel_switch(rds, &host, &port,
                                               "SENTINEL");
        }

        if (s->locating) {
            s->locating = 0;

            if (node->state != NGX_HTTP_MCP_REDIS_LOCATING) {
                return;
            }

            if (ngx_http_mcp_redis_node_set(node, &host,
                                            (in_port_t) ngx_atoi(port.data,
                                                                 port.len),
                                            NULL, 0)
                != NGX_OK || node->port == 0)
            {
                ngx_http_mcp_redis_node_fail(node, "sentinel: bad address",
                                          sizeof("sentinel: bad address") - 1);
                return;
            }

            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rds->log, 0,
                           "mcp redis sentinel: the master is %V",
                           &node->name);

            if (node->resolve) {
                ngx_http_mcp_redis_resolve(node);

            } else {
                ngx_http_mcp_redis_node_open(node);
            }
        }

        return;
    }

    /* this sentinel does not know it: the next may */

    s->checking = 0;

    if (!s->locating) {
        return;
    }

    if (reply->type == REDIS_REPLY_NIL) {
        p = ngx_snprintf(reason, sizeof(reason),
                         "sentinel %V knows no master \"%V\"",
                         &query->name, &rds->conf->master);

    } else {
        p = ngx_http_mcp_redis_node_reason(query, reason, sizeof(reason),
                                           "SENTINEL", reply);
    }

    /* the reason is the sentinel's, and the primary's warning says it */

    query->error_len = ngx_min((size_t) (p - reason),
                               NGX_HTTP_MCP_REDIS_ERROR_MAX);
    ngx_memcpy(query->error, reason, query->error_len);

    ngx_http_mcp_redis_node_fail(query, (char *) reason, p - reason);
}


/* subscribed: the primary's switches are heard of */

static void
ngx_http_mcp_redis_sentinel_sub_up(ngx_http_mcp_redis_node_t *sub)
{
    size_t                          argvlen[2];
    const char                     *argv[2];
    ngx_http_mcp_redis_t           *rds;
    ngx_http_mcp_redis_sentinel_t  *s;

    rds = sub->rds;
    s = rds->sentinel;

    argv[0] = "SUBSCRIBE";
    argvlen[0] = sizeof("SUBSCRIBE") - 1;
    argv[1] = "+switch-master";
    argvlen[1] = sizeof("+switch-master") - 1;

    if (ngx_http_mcp_redis_node_write(sub, 2, argv, argvlen) != NGX_OK) {
        ngx_http_mcp_redis_node_fail(sub, "SUBSCRIBE not sent",
                                     sizeof("SUBSCRIBE not sent") - 1);
        return;
    }

    /* every reply is a message now */
    sub->subscribed = 1;

    /* a switch may have been missed while nobody listened */

    if (rds->node->state == NGX_HTTP_MCP_REDIS_READY && !s->locating) {
        s->checking = 1;
        ngx_http_mcp_redis_sentinel_ask(rds);
    }
}


static void
ngx_http_mcp_redis_sentinel_sub_down(ngx_http_mcp_redis_node_t *sub)
{
    ngx_http_mcp_redis_sentinel_next(sub, &sub->rds->sentinel->next_sub);
}


/* ["message", "+switch-master", "<name> <old ip> <old port> <ip> <port>"] */

static void
ngx_http_mcp_redis_sentinel_message(ngx_http_mcp_redis_node_t *sub,
    redisReply *reply)
{
    u_char                *p, *last;
    ngx_str_t              field[5];
    ngx_uint_t             n;
    redisReply            *payload;
    ngx_http_mcp_redis_t  *rds;

    rds = sub->rds;

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_http_mcp_redis_node_fail(sub, reply->str, reply->len);
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[0]->len != sizeof("message") - 1
        || ngx_strncmp(reply->element[0]->str, "message",
                       sizeof("message") - 1)
           != 0
        || reply->element[2]->type != REDIS_REPLY_STRING)
    {
        /* the subscription's confirmation */
        return;
    }

    payload = reply->element[2];

    p = (u_char *) payload->str;
    last = p + payload->len;

    for (n = 0; n < 5 && p < last; n++) {
        field[n].data = p;

        while (p < last && *p != ' ') {
            p++;
        }

        field[n].len = p - field[n].data;

        while (p < last && *p == ' ') {
            p++;
        }
    }

    if (n != 5
        || field[0].len != rds->conf->master.len
        || ngx_strncmp(field[0].data, rds->conf->master.data,
                       field[0].len) != 0)
    {
        return;
    }

    ngx_http_mcp_redis_sentinel_switch(rds, &field[3], &field[4],
                                       "+switch-master");
}


/* the master is at host:port now: the primary goes there, if elsewhere */

static void
ngx_http_mcp_redis_sentinel_switch(ngx_http_mcp_redis_t *rds,
    ngx_str_t *host, ngx_str_t *port, const char *why)
{
    ngx_int_t                   n;
    ngx_http_mcp_redis_node_t  *node;

    node = rds->node;

    n = ngx_atoi(port->data, port->len);
    if (n <= 0 || n > 65535) {
        return;
    }

    if (node->host.len && ngx_http_mcp_redis_node_same(node, host,
                                                       (in_port_t) n))
    {
        return;
    }

    if (node->state == NGX_HTTP_MCP_REDIS_LOCATING) {
        /* being located: it will be asked */
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, rds->log, 0,
                  "mcp cache: redis master \"%V\" is at %V:%V now (%s)",
                  &rds->conf->master, host, port, why);

    if (ngx_http_mcp_redis_node_set(node, host, (in_port_t) n, NULL, 0)
        != NGX_OK)
    {
        return;
    }

    /* an address is used at once; a name is asked for again */

    node->located = !node->resolve;

    ngx_http_mcp_redis_node_move(node, 0);
}


/*
 * A sentinel's outage is said once, whichever of the two connections to
 * it fails first ("failing"), and its end once: 1 if this change is said
 */

ngx_uint_t
ngx_http_mcp_redis_sentinel_said(ngx_http_mcp_redis_node_t *node,
    ngx_uint_t failing)
{
    ngx_uint_t                      bit;
    ngx_http_mcp_redis_sentinel_t  *s;

    s = node->rds->sentinel;
    bit = (ngx_uint_t) 1 << node->mark;

    if (failing == ((s->failing & bit) != 0)) {
        return 0;
    }

    s->failing ^= bit;

    return 1;
}


/* the next sentinel, for the next connection of "node" */

static void
ngx_http_mcp_redis_sentinel_next(ngx_http_mcp_redis_node_t *node,
    ngx_uint_t *next)
{
    ngx_http_mcp_redis_addr_t  *addr;

    addr = node->rds->conf->addrs->elts;

    *next = (*next + 1) % node->rds->conf->addrs->nelts;

    /* which sentinel it is, for the logging of its outages */
    node->mark = *next;

    (void) ngx_http_mcp_redis_node_set(node, &addr[*next].host,
                                       addr[*next].port,
                                       addr[*next].sockaddr,
                                       addr[*next].socklen);
}
