
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * Redis Cluster: "mcp_cache_redis cluster=host:port ...".
 *
 *   map       CLUSTER SLOTS, asked through one connection to any node
 *             (the seeds first, then the primaries known; each in turn
 *             when one fails): each of the 16384 slots to its primary;
 *             every primary gets a connection of its own, with the
 *             handshake of a single Redis (ROLE must say master, INFO its
 *             run id); a node no longer primary of any slot is closed
 *             once its commands are answered;
 *   routing   a command goes to the primary of its key's slot (CRC16 of
 *             the key's hash tag: the cache's keys of one server share
 *             "{registry:id}"); while the map is being read, commands
 *             wait for it (within their timeout);
 *   MOVED     the slot is elsewhere: the map learns it at once, is asked
 *             again, and the command goes there, once;
 *   ASK       the slot is being migrated and the key is on the importing
 *             node: the command goes there after ASKING, the map stays;
 *   TRYAGAIN  a command of several keys, some of them migrated already:
 *             tried again every 20 ms, within its timeout;
 *   failures  a primary that fails is one more node: its commands fail,
 *             logged once, and the map is asked again (a failover moves
 *             its slots to a replica, whose run id differs).
 *
 * The commands of one key that follow a redirected one follow it
 * (ngx_http_mcp_redis_resend()): a WAIT still follows its script.
 */


#include "ngx_http_mcp_redis.h"


/* between two TRYAGAIN attempts, and two readings of the map */
#define NGX_HTTP_MCP_REDIS_TRYAGAIN     20
#define NGX_HTTP_MCP_REDIS_REFRESH_MIN  100

/* redirections a command may take, ASK and MOVED together */
#define NGX_HTTP_MCP_REDIS_REDIRECTS    5


struct ngx_http_mcp_redis_cluster_s {
    ngx_http_mcp_redis_node_t      *slots[NGX_HTTP_MCP_REDIS_SLOTS];

    ngx_queue_t                     primaries;
    ngx_queue_t                     retired;    /* being drained, then freed */
    ngx_http_mcp_redis_node_t      *disc;       /* asked for the map */
    ngx_uint_t                      next;       /* the node asked next */
    ngx_uint_t                      mark;

    ngx_queue_t                     waiting;    /* for the map */
    ngx_queue_t                     retry;      /* TRYAGAIN */

    ngx_event_t                     retry_timer;
    ngx_event_t                     refresh_timer;
    ngx_msec_t                      asked;

    unsigned                        loaded:1;
    unsigned                        asking:1;   /* CLUSTER SLOTS sent */
    unsigned                        again:1;    /* ask once more after */
};


static void ngx_http_mcp_redis_cluster_hold(ngx_http_mcp_redis_cmd_t *cmd,
    ngx_queue_t *queue, ngx_http_mcp_redis_node_t *node);
static void ngx_http_mcp_redis_cluster_disc_up(ngx_http_mcp_redis_node_t *disc);
static void ngx_http_mcp_redis_cluster_disc_down(
    ngx_http_mcp_redis_node_t *disc);
static void ngx_http_mcp_redis_cluster_ask(ngx_http_mcp_redis_t *rds);
static void ngx_http_mcp_redis_cluster_slots(ngx_http_mcp_redis_node_t *disc,
    redisReply *reply);
static ngx_int_t ngx_http_mcp_redis_cluster_parse(ngx_http_mcp_redis_t *rds,
    ngx_http_mcp_redis_node_t *disc, redisReply *reply);
static ngx_http_mcp_redis_node_t *ngx_http_mcp_redis_cluster_primary(
    ngx_http_mcp_redis_t *rds, ngx_str_t *host, in_port_t port);
static void ngx_http_mcp_redis_cluster_primary_down(
    ngx_http_mcp_redis_node_t *node);
static void ngx_http_mcp_redis_cluster_reroute(ngx_http_mcp_redis_t *rds,
    ngx_queue_t *queue);
static ngx_int_t ngx_http_mcp_redis_cluster_target(
    ngx_http_mcp_redis_node_t *node, redisReply *reply, ngx_uint_t *slot,
    ngx_str_t *host, in_port_t *port);
static void ngx_http_mcp_redis_cluster_retry_handler(ngx_event_t *ev);
static void ngx_http_mcp_redis_cluster_refresh_handler(ngx_event_t *ev);


ngx_int_t
ngx_http_mcp_redis_cluster_init(ngx_http_mcp_redis_t *rds)
{
    ngx_http_mcp_redis_addr_t     *seed;
    ngx_http_mcp_redis_cluster_t  *cl;

    cl = ngx_calloc(sizeof(ngx_http_mcp_redis_cluster_t), rds->log);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    rds->cluster = cl;

    ngx_queue_init(&cl->primaries);
    ngx_queue_init(&cl->retired);
    ngx_queue_init(&cl->waiting);
    ngx_queue_init(&cl->retry);

    cl->retry_timer.handler = ngx_http_mcp_redis_cluster_retry_handler;
    cl->retry_timer.data = rds;
    cl->retry_timer.log = rds->log;

    cl->refresh_timer.handler = ngx_http_mcp_redis_cluster_refresh_handler;
    cl->refresh_timer.data = rds;
    cl->refresh_timer.log = rds->log;
    cl->refresh_timer.cancelable = 1;

    seed = rds->conf->addrs->elts;

    cl->disc = ngx_http_mcp_redis_node_create(rds,
                                              NGX_HTTP_MCP_REDIS_DISCOVERY,
                                              &seed->host, seed->port,
                                              seed->sockaddr, seed->socklen);
    if (cl->disc == NULL) {
        return NGX_ERROR;
    }

    cl->disc->up = ngx_http_mcp_redis_cluster_disc_up;
    cl->disc->down = ngx_http_mcp_redis_cluster_disc_down;

    ngx_http_mcp_redis_node_connect(cl->disc);

    return NGX_OK;
}


void
ngx_http_mcp_redis_cluster_destroy(ngx_http_mcp_redis_t *rds)
{
    ngx_queue_t                   *q;
    ngx_http_mcp_redis_node_t     *node;
    ngx_http_mcp_redis_cluster_t  *cl;

    cl = rds->cluster;

    if (cl->retry_timer.timer_set) {
        ngx_del_timer(&cl->retry_timer);
    }

    if (cl->refresh_timer.timer_set) {
        ngx_del_timer(&cl->refresh_timer);
    }

    ngx_http_mcp_redis_free_queue(&cl->waiting);
    ngx_http_mcp_redis_free_queue(&cl->retry);

    ngx_http_mcp_redis_queue_move(&cl->primaries, &cl->retired);

    while (!ngx_queue_empty(&cl->primaries)) {
        q = ngx_queue_head(&cl->primaries);
        node = ngx_queue_data(q, ngx_http_mcp_redis_node_t, queue);
        ngx_queue_remove(q);
        ngx_http_mcp_redis_node_free(node);
    }

    ngx_http_mcp_redis_node_free(cl->disc);

    ngx_free(cl);
    rds->cluster = NULL;
}


/* CRC16 (XMODEM), as Redis Cluster hashes keys */

static uint16_t  ngx_http_mcp_redis_crc16_table[256] = {
    0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50a5, 0x60c6, 0x70e7,
    0x8108, 0x9129, 0xa14a, 0xb16b, 0xc18c, 0xd1ad, 0xe1ce, 0xf1ef,
    0x1231, 0x0210, 0x3273, 0x2252, 0x52b5, 0x4294, 0x72f7, 0x62d6,
    0x9339, 0x8318, 0xb37b, 0xa35a, 0xd3bd, 0xc39c, 0xf3ff, 0xe3de,
    0x2462, 0x3443, 0x0420, 0x1401, 0x64e6, 0x74c7, 0x44a4, 0x5485,
    0xa56a, 0xb54b, 0x8528, 0x9509, 0xe5ee, 0xf5cf, 0xc5ac, 0xd58d,
    0x3653, 0x2672, 0x1611, 0x0630, 0x76d7, 0x66f6, 0x5695, 0x46b4,
    0xb75b, 0xa77a, 0x9719, 0x8738, 0xf7df, 0xe7fe, 0xd79d, 0xc7bc,
    0x48c4, 0x58e5, 0x6886, 0x78a7, 0x0840, 0x1861, 0x2802, 0x3823,
    0xc9cc, 0xd9ed, 0xe98e, 0xf9af, 0x8948, 0x9969, 0xa90a, 0xb92b,
    0x5af5, 0x4ad4, 0x7ab7, 0x6a96, 0x1a71, 0x0a50, 0x3a33, 0x2a12,
    0xdbfd, 0xcbdc, 0xfbbf, 0xeb9e, 0x9b79, 0x8b58, 0xbb3b, 0xab1a,
    0x6ca6, 0x7c87, 0x4ce4, 0x5cc5, 0x2c22, 0x3c03, 0x0c60, 0x1c41,
    0xedae, 0xfd8f, 0xcdec, 0xddcd, 0xad2a, 0xbd0b, 0x8d68, 0x9d49,
    0x7e97, 0x6eb6, 0x5ed5, 0x4ef4, 0x3e13, 0x2e32, 0x1e51, 0x0e70,
    0xff9f, 0xefbe, 0xdfdd, 0xcffc, 0xbf1b, 0xaf3a, 0x9f59, 0x8f78,
    0x9188, 0x81a9, 0xb1ca, 0xa1eb, 0xd10c, 0xc12d, 0xf14e, 0xe16f,
    0x1080, 0x00a1, 0x30c2, 0x20e3, 0x5004, 0x4025, 0x7046, 0x6067,
    0x83b9, 0x9398, 0xa3fb, 0xb3da, 0xc33d, 0xd31c, 0xe37f, 0xf35e,
    0x02b1, 0x1290, 0x22f3, 0x32d2, 0x4235, 0x5214, 0x6277, 0x7256,
    0xb5ea, 0xa5cb, 0x95a8, 0x8589, 0xf56e, 0xe54f, 0xd52c, 0xc50d,
    0x34e2, 0x24c3, 0x14a0, 0x0481, 0x7466, 0x6447, 0x5424, 0x4405,
    0xa7db, 0xb7fa, 0x8799, 0x97b8, 0xe75f, 0xf77e, 0xc71d, 0xd73c,
    0x26d3, 0x36f2, 0x0691, 0x16b0, 0x6657, 0x7676, 0x4615, 0x5634,
    0xd94c, 0xc96d, 0xf90e, 0xe92f, 0x99c8, 0x89e9, 0xb98a, 0xa9ab,
    0x5844, 0x4865, 0x7806, 0x6827, 0x18c0, 0x08e1, 0x3882, 0x28a3,
    0xcb7d, 0xdb5c, 0xeb3f, 0xfb1e, 0x8bf9, 0x9bd8, 0xabbb, 0xbb9a,
    0x4a75, 0x5a54, 0x6a37, 0x7a16, 0x0af1, 0x1ad0, 0x2ab3, 0x3a92,
    0xfd2e, 0xed0f, 0xdd6c, 0xcd4d, 0xbdaa, 0xad8b, 0x9de8, 0x8dc9,
    0x7c26, 0x6c07, 0x5c64, 0x4c45, 0x3ca2, 0x2c83, 0x1ce0, 0x0cc1,
    0xef1f, 0xff3e, 0xcf5d, 0xdf7c, 0xaf9b, 0xbfba, 0x8fd9, 0x9ff8,
    0x6e17, 0x7e36, 0x4e55, 0x5e74, 0x2e93, 0x3eb2, 0x0ed1, 0x1ef0
};


/* the key's slot: the CRC16 of its hash tag ("{...}") or of all of it */

ngx_uint_t
ngx_http_mcp_redis_slot(ngx_str_t *key)
{
    u_char    *p, *last, *open, *close;
    uint16_t   crc;

    p = key->data;
    last = p + key->len;

    open = ngx_strlchr(p, last, '{');

    if (open) {
        close = ngx_strlchr(open + 1, last, '}');

        if (close && close > open + 1) {
            p = open + 1;
            last = close;
        }
    }

    crc = 0;

    while (p < last) {
        crc = (uint16_t) (crc << 8)
              ^ ngx_http_mcp_redis_crc16_table[((crc >> 8) ^ *p++) & 0xff];
    }

    return crc & (NGX_HTTP_MCP_REDIS_SLOTS - 1);
}


/*
 * The primary of the command's slot, or NULL: then "wait" says whether
 * the command may wait for the map being read.
 */

ngx_http_mcp_redis_node_t *
ngx_http_mcp_redis_cluster_node(ngx_http_mcp_redis_t *rds,
    ngx_http_mcp_redis_cmd_t *cmd, ngx_uint_t *wait)
{
    ngx_queue_t                   *q;
    ngx_http_mcp_redis_node_t     *node;
    ngx_http_mcp_redis_cluster_t  *cl;

    cl = rds->cluster;

    if (!cl->loaded) {
        *wait = !cl->disc->failing;
        return NULL;
    }

    *wait = 0;

    if (cmd->slot < NGX_HTTP_MCP_REDIS_SLOTS) {
        node = cl->slots[cmd->slot];

        if (node == NULL) {
            /* a slot no primary serves (the cluster is incomplete) */
            ngx_http_mcp_redis_cluster_refresh(rds);
        }

        return node;
    }

    /* no key: any primary, a ready one first */

    node = NULL;

    for (q = ngx_queue_head(&cl->primaries);
         q != ngx_queue_sentinel(&cl->primaries);
         q = ngx_queue_next(q))
    {
        node = ngx_queue_data(q, ngx_http_mcp_redis_node_t, queue);

        if (node->state == NGX_HTTP_MCP_REDIS_READY) {
            break;
        }
    }

    return node;
}


/* the map is not there yet: the command waits for it */

ngx_int_t
ngx_http_mcp_redis_cluster_wait(ngx_http_mcp_redis_t *rds,
    ngx_http_mcp_redis_cmd_t *cmd)
{
    /* a timeout is the outage of the node asked for the map */

    ngx_http_mcp_redis_cluster_hold(cmd, &rds->cluster->waiting,
                                    rds->cluster->disc);
    return NGX_OK;
}


/* a command kept by the cluster, within its timeout */

static void
ngx_http_mcp_redis_cluster_hold(ngx_http_mcp_redis_cmd_t *cmd,
    ngx_queue_t *queue, ngx_http_mcp_redis_node_t *node)
{
    cmd->node = node;
    cmd->sent = 0;

    ngx_queue_insert_tail(queue, &cmd->queue);

    if (!cmd->timer.timer_set) {
        ngx_add_timer(&cmd->timer, cmd->rds->conf->timeout);
    }
}


/* every primary is ready (and has run a script: "scripts") */

ngx_uint_t
ngx_http_mcp_redis_cluster_ready(ngx_http_mcp_redis_t *rds,
    ngx_uint_t scripts)
{
    ngx_queue_t                   *q;
    ngx_http_mcp_redis_node_t     *node;
    ngx_http_mcp_redis_cluster_t  *cl;

    cl = rds->cluster;

    if (!cl->loaded || ngx_queue_empty(&cl->primaries)) {
        return 0;
    }

    for (q = ngx_queue_head(&cl->primaries);
         q != ngx_queue_sentinel(&cl->primaries);
         q = ngx_queue_next(q))
    {
        node = ngx_queue_data(q, ngx_http_mcp_redis_node_t, queue);

        if (node->state != NGX_HTTP_MCP_REDIS_READY
            || (scripts && !node->scripts))
        {
            return 0;
        }
    }

    return 1;
}


/* the map is read again, soon: at most one CLUSTER SLOTS at a time */

void
ngx_http_mcp_redis_cluster_refresh(ngx_http_mcp_redis_t *rds)
{
    ngx_msec_t                     elapsed;
    ngx_http_mcp_redis_node_t     *disc;
    ngx_http_mcp_redis_cluster_t  *cl;

    cl = rds->cluster;

    if (rds->exiting || cl->refresh_timer.timer_set) {
        return;
    }

    if (cl->asking) {
        cl->again = 1;
        return;
    }

    elapsed = ngx_current_msec - cl->asked;

    if (cl->loaded && elapsed < NGX_HTTP_MCP_REDIS_REFRESH_MIN) {
        ngx_add_timer(&cl->refresh_timer,
                      NGX_HTTP_MCP_REDIS_REFRESH_MIN - elapsed);
        return;
    }

    disc = cl->disc;

    if (disc->state == NGX_HTTP_MCP_REDIS_READY) {
        ngx_http_mcp_redis_cluster_ask(rds);

    } else if (disc->state == NGX_HTTP_MCP_REDIS_IDLE
               && !disc->reconnect.timer_set)
    {
        ngx_http_mcp_redis_node_connect(disc);
    }

    /* else it asks once connected */
}


static void
ngx_http_mcp_redis_cluster_refresh_handler(ngx_event_t *ev)
{
    ngx_http_mcp_redis_cluster_refresh(ev->data);
}


static void
ngx_http_mcp_redis_cluster_disc_up(ngx_http_mcp_redis_node_t *disc)
{
    ngx_http_mcp_redis_cluster_ask(disc->rds);
}


/* the node asked for the map failed: the next one is asked next time */

static void
ngx_http_mcp_redis_cluster_disc_down(ngx_http_mcp_redis_node_t *disc)
{
    ngx_uint_t                     i, n, nseeds;
    ngx_queue_t                   *q;
    ngx_http_mcp_redis_t          *rds;
    ngx_http_mcp_redis_node_t     *node;
    ngx_http_mcp_redis_addr_t     *seeds;
    ngx_http_mcp_redis_cluster_t  *cl;

    rds = disc->rds;
    cl = rds->cluster;

    cl->asking = 0;

    if (!cl->loaded) {
        /* the commands that waited for the map go on without the cache */
        ngx_http_mcp_redis_fail_queue(&cl->waiting);
    }

    seeds = rds->conf->addrs->elts;
    nseeds = rds->conf->addrs->nelts;

    n = nseeds;

    for (q = ngx_queue_head(&cl->primaries);
         q != ngx_queue_sentinel(&cl->primaries);
         q = ngx_queue_next(q))
    {
        n++;
    }

    cl->next = (cl->next + 1) % n;

    if (cl->next < nseeds) {
        (void) ngx_http_mcp_redis_node_set(disc, &seeds[cl->next].host,
                                           seeds[cl->next].port,
                                           seeds[cl->next].sockaddr,
                                           seeds[cl->next].socklen);
        return;
    }

    i = nseeds;

    for (q = ngx_queue_head(&cl->primaries);
         q != ngx_queue_sentinel(&cl->primaries);
         q = ngx_queue_next(q))
    {
        node = ngx_queue_data(q, ngx_http_mcp_redis_node_t, queue);

        if (i++ == cl->next) {
            (void) ngx_http_mcp_redis_node_set(disc, &node->host, node->port,
                                               node->resolve
                                               ? NULL
                                               : &node->sockaddr.sockaddr,
                                               node->socklen);
            return;
        }
    }
}


static void
ngx_http_mcp_redis_cluster_ask(ngx_http_mcp_redis_t *rds)
{
    size_t                         argvlen[2];
    const char                    *argv[2];
    ngx_http_mcp_redis_cluster_t  *cl;

    cl = rds->cluster;

    if (cl->asking) {
        return;
    }

    argv[0] = "CLUSTER";
    argvlen[0] = sizeof("CLUSTER") - 1;
    argv[1] = "SLOTS";
    argvlen[1] = sizeof("SLOTS") - 1;

    if (ngx_http_mcp_redis_node_internal(cl->disc,
                                         ngx_http_mcp_redis_cluster_slots,
                                         2, argv, argvlen)
        != NGX_OK)
    {
        ngx_http_mcp_redis_node_fail(cl->disc, "CLUSTER SLOTS not sent",
                                     sizeof("CLUSTER SLOTS not sent") - 1);
        return;
    }

    cl->asking = 1;
    cl->asked = ngx_current_msec;
}


static void
ngx_http_mcp_redis_cluster_slots(ngx_http_mcp_redis_node_t *disc,
    redisReply *reply)
{
    u_char                        *p;
    ngx_queue_t                    waiting;
    ngx_http_mcp_redis_t          *rds;
    ngx_http_mcp_redis_cluster_t  *cl;
    u_char                         reason[NGX_HTTP_MCP_REDIS_ERROR_MAX];

    rds = disc->rds;
    cl = rds->cluster;

    cl->asking = 0;

    if (reply == NULL) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        p = ngx_http_mcp_redis_node_reason(disc, reason, sizeof(reason),
                                           "CLUSTER SLOTS", reply);
        ngx_http_mcp_redis_node_fail(disc, (char *) reason, p - reason);
        return;
    }

    if (ngx_http_mcp_redis_cluster_parse(rds, disc, reply) != NGX_OK) {
        ngx_http_mcp_redis_node_fail(disc, "CLUSTER SLOTS: unexpected reply",
                                sizeof("CLUSTER SLOTS: unexpected reply") - 1);
        return;
    }

    cl->loaded = 1;

    ngx_queue_init(&waiting);
    ngx_http_mcp_redis_queue_move(&waiting, &cl->waiting);

    ngx_http_mcp_redis_cluster_reroute(rds, &waiting);

    if (cl->again) {
        cl->again = 0;
        ngx_http_mcp_redis_cluster_refresh(rds);
    }
}


/*
 * [[start, end, [host, port, id, ...], replica...], ...]: the slots of
 * each primary; the primaries no slot names any more are retired
 */

static ngx_int_t
ngx_http_mcp_redis_cluster_parse(ngx_http_mcp_redis_t *rds,
    ngx_http_mcp_redis_node_t *disc, redisReply *reply)
{
    ngx_int_t                      start, end, port;
    ngx_str_t                      host;
    ngx_uint_t                     i, s;
    ngx_queue_t                   *q, *next, moved;
    redisReply                    *range, *primary;
    ngx_http_mcp_redis_node_t     *node;
    ngx_http_mcp_redis_cluster_t  *cl;

    cl = rds->cluster;

    if (reply->type != REDIS_REPLY_ARRAY) {
        return NGX_ERROR;
    }

    for (i = 0; i < reply->elements; i++) {
        range = reply->element[i];

        if (range->type != REDIS_REPLY_ARRAY || range->elements < 3
            || range->element[0]->type != REDIS_REPLY_INTEGER
            || range->element[1]->type != REDIS_REPLY_INTEGER
            || range->element[2]->type != REDIS_REPLY_ARRAY
            || range->element[2]->elements < 2
            || range->element[2]->element[0]->type != REDIS_REPLY_STRING
            || range->element[2]->element[1]->type != REDIS_REPLY_INTEGER)
        {
            return NGX_ERROR;
        }

        start = (ngx_int_t) range->element[0]->integer;
        end = (ngx_int_t) range->element[1]->integer;
        port = (ngx_int_t) range->element[2]->element[1]->integer;

        if (start < 0 || end < start || end >= NGX_HTTP_MCP_REDIS_SLOTS
            || port <= 0 || port > 65535)
        {
            return NGX_ERROR;
        }
    }

    /* the map is valid: it replaces the old one */

    cl->mark++;

    ngx_memzero(cl->slots, sizeof(cl->slots));

    for (i = 0; i < reply->elements; i++) {
        range = reply->element[i];
        primary = range->element[2];

        host.data = (u_char *) primary->element[0]->str;
        host.len = primary->element[0]->len;

        if (host.len == 0 || (host.len == 1 && host.data[0] == '?')) {
            /* the node does not know its own address: the one asked */
            host = disc->host;
        }

        node = ngx_http_mcp_redis_cluster_primary(rds, &host,
                               (in_port_t) primary->element[1]->integer);
        if (node == NULL) {
            continue;
        }

        node->mark = cl->mark;

        start = (ngx_int_t) range->element[0]->integer;
        end = (ngx_int_t) range->element[1]->integer;

        for (s = start; s <= (ngx_uint_t) end; s++) {
            cl->slots[s] = node;
        }
    }

    ngx_queue_init(&moved);

    for (q = ngx_queue_head(&cl->primaries);
         q != ngx_queue_sentinel(&cl->primaries);
         q = next)
    {
        next = ngx_queue_next(q);
        node = ngx_queue_data(q, ngx_http_mcp_redis_node_t, queue);

        if (node->mark == cl->mark) {
            continue;
        }

        if (node->failing) {
            /* its outage ends: other primaries serve its slots (failover) */
            ngx_log_error(NGX_LOG_NOTICE, rds->log, 0,
                          "mcp cache: redis %V serves no slot any more, "
                          "its slots are served by other primaries",
                          &node->name);

        } else {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rds->log, 0,
                           "mcp redis cluster: %V serves no slot",
                           &node->name);
        }

        /* freed when drained (its destroy event), or with the cluster */
        ngx_queue_remove(q);
        ngx_queue_insert_tail(&cl->retired, q);

        /* its waiting commands go to the slot's new primary */

        ngx_http_mcp_redis_queue_move(&moved, &node->waiting);

        ngx_http_mcp_redis_node_retire(node);
    }

    ngx_http_mcp_redis_cluster_reroute(rds, &moved);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rds->log, 0,
                   "mcp redis cluster: %ui slot ranges", reply->elements);

    return NGX_OK;
}


/* the primary at host:port, made (and connected) if it is new */

static ngx_http_mcp_redis_node_t *
ngx_http_mcp_redis_cluster_primary(ngx_http_mcp_redis_t *rds, ngx_str_t *host,
    in_port_t port)
{
    ngx_queue_t                   *q;
    ngx_http_mcp_redis_node_t     *node;
    ngx_http_mcp_redis_cluster_t  *cl;

    cl = rds->cluster;

    for (q = ngx_queue_head(&cl->primaries);
         q != ngx_queue_sentinel(&cl->primaries);
         q = ngx_queue_next(q))
    {
        node = ngx_queue_data(q, ngx_http_mcp_redis_node_t, queue);

        if (ngx_http_mcp_redis_node_same(node, host, port)) {
            return node;
        }
    }

    node = ngx_http_mcp_redis_node_create(rds, NGX_HTTP_MCP_REDIS_PRIMARY,
                                          host, port, NULL, 0);
    if (node == NULL) {
        return NULL;
    }

    node->up = ngx_http_mcp_redis_primary_up;
    node->down = ngx_http_mcp_redis_cluster_primary_down;

    ngx_queue_insert_tail(&cl->primaries, &node->queue);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rds->log, 0,
                   "mcp redis cluster: primary %V", &node->name);

    ngx_http_mcp_redis_node_connect(node);

    return node;
}


/* a primary failed: perhaps its slots moved (a failover) */

static void
ngx_http_mcp_redis_cluster_primary_down(ngx_http_mcp_redis_node_t *node)
{
    if (!node->retired) {
        ngx_http_mcp_redis_cluster_refresh(node->rds);
    }
}


/* commands routed again by their slot; those that cannot be fail */

static void
ngx_http_mcp_redis_cluster_reroute(ngx_http_mcp_redis_t *rds,
    ngx_queue_t *queue)
{
    ngx_uint_t                  wait;
    ngx_queue_t                *q;
    ngx_http_mcp_redis_cmd_t   *cmd;
    ngx_http_mcp_redis_node_t  *node;

    while (!ngx_queue_empty(queue)) {
        q = ngx_queue_head(queue);
        cmd = ngx_queue_data(q, ngx_http_mcp_redis_cmd_t, queue);
        ngx_queue_remove(q);

        cmd->node = NULL;
        node = NULL;

        if (cmd->handler) {
            node = ngx_http_mcp_redis_cluster_node(rds, cmd, &wait);
        }

        if (node == NULL || ngx_http_mcp_redis_submit(node, cmd) != NGX_OK) {
            ngx_http_mcp_redis_finish(cmd, node, NULL);
        }
    }
}


/*
 * MOVED, ASK, TRYAGAIN, CLUSTERDOWN: NGX_OK, the command goes on;
 * NGX_DECLINED, the error is the command's.
 */

ngx_int_t
ngx_http_mcp_redis_cluster_redirect(ngx_http_mcp_redis_node_t *node,
    ngx_http_mcp_redis_cmd_t *cmd, redisReply *reply)
{
    in_port_t                      port;
    ngx_str_t                      host;
    ngx_uint_t                     slot, ask;
    ngx_http_mcp_redis_t          *rds;
    ngx_http_mcp_redis_node_t     *target;
    ngx_http_mcp_redis_cluster_t  *cl;

    rds = node->rds;
    cl = rds->cluster;

    if (ngx_http_mcp_redis_error_is(reply, "CLUSTERDOWN",
                                    sizeof("CLUSTERDOWN") - 1))
    {
        ngx_http_mcp_redis_cluster_refresh(rds);
        return NGX_DECLINED;
    }

    ask = ngx_http_mcp_redis_error_is(reply, "ASK", sizeof("ASK") - 1);

    if (cmd->handler == NULL
        && (ask
            || ngx_http_mcp_redis_error_is(reply, "MOVED", sizeof("MOVED") - 1)
            || ngx_http_mcp_redis_error_is(reply, "TRYAGAIN",
                                           sizeof("TRYAGAIN") - 1)))
    {
        /*
         * nobody waits for it (a lock's release: the lock expires), its
         * arguments may be gone: dropped, no outage
         */

        ngx_http_mcp_redis_cluster_refresh(rds);
        ngx_http_mcp_redis_finish(cmd, node, NULL);
        return NGX_OK;
    }

    if (ngx_http_mcp_redis_error_is(reply, "TRYAGAIN", sizeof("TRYAGAIN") - 1))
    {
        /*
         * the slot is being migrated, some of the keys are gone already:
         * the command, and those of its key after it, are tried again
         */

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rds->log, 0,
                       "mcp redis cluster: TRYAGAIN from %V", &node->name);

        ngx_http_mcp_redis_resend(cmd, node, NULL);
        return NGX_OK;
    }

    if (!ask
        && !ngx_http_mcp_redis_error_is(reply, "MOVED", sizeof("MOVED") - 1))
    {
        return NGX_DECLINED;
    }

    if (cmd->redirects >= NGX_HTTP_MCP_REDIS_REDIRECTS
        || (!ask && cmd->moved)
        || ngx_http_mcp_redis_cluster_target(node, reply, &slot, &host, &port)
           != NGX_OK)
    {
        /* the map is asked again: the next command finds it right */
        ngx_http_mcp_redis_cluster_refresh(rds);
        return NGX_DECLINED;
    }

    target = ngx_http_mcp_redis_cluster_primary(rds, &host, port);
    if (target == NULL) {
        return NGX_DECLINED;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, rds->log, 0,
                   "mcp redis cluster: %s slot %ui to %V",
                   ask ? "ASK" : "MOVED", slot, &target->name);

    cmd->redirects++;

    if (ask) {
        /* this command only: the slot is still the migrating node's */
        cmd->asking = 1;

    } else {
        cmd->moved = 1;
        cmd->asking = 0;
        cl->slots[slot] = target;
        target->mark = cl->mark;

        ngx_http_mcp_redis_cluster_refresh(rds);
    }

    ngx_http_mcp_redis_resend(cmd, node, target);

    return NGX_OK;
}


/* "MOVED <slot> <host>:<port>", "ASK ..."; an empty host: the node's */

static ngx_int_t
ngx_http_mcp_redis_cluster_target(ngx_http_mcp_redis_node_t *node,
    redisReply *reply, ngx_uint_t *slot, ngx_str_t *host, in_port_t *port)
{
    u_char     *p, *last, *sp, *colon;
    ngx_int_t   n;

    p = (u_char *) reply->str;
    last = p + reply->len;

    p = ngx_strlchr(p, last, ' ');
    if (p == NULL) {
        return NGX_ERROR;
    }

    p++;

    sp = ngx_strlchr(p, last, ' ');
    if (sp == NULL) {
        return NGX_ERROR;
    }

    n = ngx_atoi(p, sp - p);
    if (n == NGX_ERROR || n >= NGX_HTTP_MCP_REDIS_SLOTS) {
        return NGX_ERROR;
    }

    *slot = n;

    p = sp + 1;

    for (colon = last - 1; colon >= p && *colon != ':'; colon--) {
        /* void */
    }

    if (colon < p) {
        return NGX_ERROR;
    }

    n = ngx_atoi(colon + 1, last - colon - 1);
    if (n <= 0 || n > 65535) {
        return NGX_ERROR;
    }

    *port = (in_port_t) n;

    host->data = p;
    host->len = colon - p;

    if (host->len > 2 && host->data[0] == '[' && colon[-1] == ']') {
        host->data++;
        host->len -= 2;
    }

    if (host->len == 0) {
        *host = node->host;
    }

    return NGX_OK;
}


/* TRYAGAIN: commands routed again by their slot, a little later */

void
ngx_http_mcp_redis_cluster_later(ngx_http_mcp_redis_t *rds,
    ngx_http_mcp_redis_cmd_t *cmd)
{
    ngx_http_mcp_redis_cluster_t  *cl;

    cl = rds->cluster;

    ngx_http_mcp_redis_cluster_hold(cmd, &cl->retry, NULL);

    if (!cl->retry_timer.timer_set) {
        ngx_add_timer(&cl->retry_timer, NGX_HTTP_MCP_REDIS_TRYAGAIN);
    }
}


static void
ngx_http_mcp_redis_cluster_retry_handler(ngx_event_t *ev)
{
    ngx_http_mcp_redis_t *rds = ev->data;

    ngx_queue_t                    retry;
    ngx_http_mcp_redis_cluster_t  *cl;

    cl = rds->cluster;

    ngx_queue_init(&retry);
    ngx_http_mcp_redis_queue_move(&retry, &cl->retry);

    ngx_http_mcp_redis_cluster_reroute(rds, &retry);
}
