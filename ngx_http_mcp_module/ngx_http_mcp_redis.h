
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * The cache's Redis client: nginx's own connections (ngx_event_connect_peer,
 * the resolver, OpenSSL through ngx_event_openssl) carry the bytes, hiredis
 * formats the commands and parses the replies (redisFormatCommandArgv,
 * redisReader).  One Redis server, a Redis Sentinel set, or a Redis
 * Cluster, each a set of "nodes": one connection each, per worker.
 *
 *   ngx_http_mcp_redis.c           the client: deployments, routing, trust,
 *                                  outages and their logging
 *   ngx_http_mcp_redis_node.c      one connection: locate, connect, TLS,
 *                                  failure, backoff
 *   ngx_http_mcp_redis_handshake.c AUTH, SELECT, ROLE, INFO: a primary?
 *   ngx_http_mcp_redis_io.c        the bytes: formatted out, parsed in
 *   ngx_http_mcp_redis_command.c   commands: queue, send, replies, timers,
 *                                  scripts, redirections
 *   ngx_http_mcp_redis_tls.c       TLS: the context (configuration time),
 *                                  the handshake and the peer's checks
 *   ngx_http_mcp_redis_resolve.c   names resolved by the workers, followed
 *   ngx_http_mcp_redis_cluster.c   Redis Cluster: slots, map, MOVED, ASK
 *   ngx_http_mcp_redis_sentinel.c  Redis Sentinel: the primary, its switch
 *   ngx_http_mcp_redis_conf.c      "mcp_cache_redis"'s arguments
 */


#ifndef _NGX_HTTP_MCP_REDIS_H_INCLUDED_
#define _NGX_HTTP_MCP_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>
#include <ngx_sha1.h>

#include <hiredis/hiredis.h>


/* the most arguments a command takes, the command name included */
#define NGX_HTTP_MCP_REDIS_MAX_ARGS    16

#define NGX_HTTP_MCP_REDIS_RUN_ID_LEN  40


typedef struct ngx_http_mcp_redis_s      ngx_http_mcp_redis_t;
typedef struct ngx_http_mcp_redis_cmd_s  ngx_http_mcp_redis_cmd_t;


/*
 * Called with the reply of a command, or with NULL when the command
 * failed: Redis unreachable, too slow, or answering an error.  The reply
 * is freed when the handler returns.
 */

typedef void (*ngx_http_mcp_redis_handler_pt)(void *data, redisReply *reply);

/*
 * called when a connection to a primary is ready for commands (again),
 * and when Redis answers again after failing on a connection that stayed
 * up
 */

typedef void (*ngx_http_mcp_redis_ready_pt)(ngx_http_mcp_redis_t *rds,
    void *data);


typedef enum {
    NGX_HTTP_MCP_REDIS_SINGLE = 0,
    NGX_HTTP_MCP_REDIS_SENTINEL,
    NGX_HTTP_MCP_REDIS_CLUSTER
} ngx_http_mcp_redis_mode_e;


/* a server, a sentinel or a cluster's seed, as configured */

typedef struct {
    ngx_str_t                       name;       /* as written, for logs */
    ngx_str_t                       host;       /* a unix socket's path */
    in_port_t                       port;       /* 0: a unix socket */

    /* resolved when the configuration is loaded; NULL: by the workers */
    struct sockaddr                *sockaddr;
    socklen_t                       socklen;
} ngx_http_mcp_redis_addr_t;


/* where and how to connect: set at configuration time */

typedef struct {
    ngx_str_t                       name;       /* for logs; 0: no cache */
    ngx_uint_t                      mode;       /* ngx_http_mcp_redis_... */
    ngx_array_t                    *addrs;      /* ngx_http_mcp_redis_addr_t */
    ngx_str_t                       master;     /* Sentinel's name of it */
    ngx_uint_t                      wait_replicas;  /* WAIT after writes */
    ngx_uint_t                      db;
    ngx_str_t                       user;
    ngx_str_t                       password;   /* never logged */
    ngx_str_t                       sentinel_user;
    ngx_str_t                       sentinel_password;
    ngx_msec_t                      connect_timeout;
    ngx_msec_t                      timeout;
    ngx_msec_t                      resolve_interval;

    /* names are resolved by the workers when "resolver" is set */
    ngx_resolver_t                 *resolver;

    /* TLS: "tls", and the mcp_cache_redis_ssl_* directives */
    ngx_flag_t                      tls;
    ngx_flag_t                      ssl_verify;
    ngx_uint_t                      ssl_verify_depth;
    ngx_str_t                       ssl_trusted_certificate;
    ngx_str_t                       ssl_crl;
    ngx_str_t                       ssl_name;
    ngx_flag_t                      ssl_server_name;
    ngx_str_t                       ssl_certificate;
    ngx_str_t                       ssl_certificate_key;
    ngx_array_t                    *ssl_passwords;
    ngx_uint_t                      ssl_protocols;
    ngx_str_t                       ssl_ciphers;
    ngx_flag_t                      ssl_session_reuse;
#if (NGX_SSL)
    ngx_ssl_t                      *ssl;
#endif
} ngx_http_mcp_redis_conf_t;


typedef struct {
    ngx_str_t                       text;
    u_char                          sha1[40];
} ngx_http_mcp_redis_script_t;


/*
 * ngx_http_mcp_redis_conf.c: "mcp_cache_redis"'s arguments, value[0] the
 * directive's name; _create() in the main configuration's create, _init()
 * in its init, when "mcp_cache_redis" is set (the TLS context, names)
 */
char *ngx_http_mcp_redis_conf_parse(ngx_conf_t *cf,
    ngx_http_mcp_redis_conf_t *conf, ngx_str_t *value, ngx_uint_t nvalues);
void ngx_http_mcp_redis_conf_create(ngx_http_mcp_redis_conf_t *conf);
char *ngx_http_mcp_redis_conf_init(ngx_conf_t *cf,
    ngx_http_mcp_redis_conf_t *conf);
char *ngx_http_mcp_redis_conf_password_file(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);

/* ngx_http_mcp_redis_tls.c: mcp_cache_redis_ssl_protocols' values */
extern ngx_conf_bitmask_t  ngx_http_mcp_redis_ssl_protocols[];

ngx_http_mcp_redis_t *ngx_http_mcp_redis_create(ngx_cycle_t *cycle,
    ngx_http_mcp_redis_conf_t *conf, ngx_http_mcp_redis_ready_pt ready,
    void *data);
void ngx_http_mcp_redis_destroy(ngx_http_mcp_redis_t *rds);

/* every primary is connected and trusted */
ngx_uint_t ngx_http_mcp_redis_ready(ngx_http_mcp_redis_t *rds);

/*
 * The run id of the primary that serves "key" now (a restart or a
 * failover changes it), or NULL when there is none: in a reply handler,
 * the one that answered.  Every server id is NGX_HTTP_MCP_REDIS_RUN_ID_LEN
 * characters.
 */
u_char *ngx_http_mcp_redis_run_id(ngx_http_mcp_redis_t *rds,
    ngx_str_t *key);

/*
 * Redis ran a script on this connection, and refused none since (so
 * invalidations work through it): on a cluster, on the connection of
 * every primary; _key(): on the one that serves "key"
 */
ngx_uint_t ngx_http_mcp_redis_scripts_work(ngx_http_mcp_redis_t *rds);
ngx_uint_t ngx_http_mcp_redis_scripts_work_key(ngx_http_mcp_redis_t *rds,
    ngx_str_t *key);

void ngx_http_mcp_redis_script_init(ngx_http_mcp_redis_script_t *script);

/*
 * Sends EVALSHA (EVAL when Redis does not know the script yet) with
 * "nkeys" keys followed by the other arguments, all in "args", to the
 * primary of its first key.  Returns
 * NULL when the command could not be sent (the handler is not called).
 * "args" must stay valid until the handler is called or the command is
 * cancelled.
 */

ngx_http_mcp_redis_cmd_t *ngx_http_mcp_redis_eval(ngx_http_mcp_redis_t *rds,
    ngx_http_mcp_redis_script_t *script, ngx_uint_t nkeys, ngx_uint_t nargs,
    ngx_str_t *args, ngx_http_mcp_redis_handler_pt handler, void *data);

/*
 * Sends a command of "nargs" arguments, its name first, to the primary of
 * "key" (NULL: any): as above.  Commands of one key go, in order, on one
 * connection (e.g. a WAIT after a script), also when one of them is sent
 * again (EVAL after NOSCRIPT, a redirection): the ones after it follow.
 */

ngx_http_mcp_redis_cmd_t *ngx_http_mcp_redis_command(
    ngx_http_mcp_redis_t *rds, ngx_str_t *key, ngx_uint_t nargs,
    ngx_str_t *args, ngx_http_mcp_redis_handler_pt handler, void *data);

/* the handler will not be called: its data may go away */

void ngx_http_mcp_redis_cancel(ngx_http_mcp_redis_cmd_t *cmd);


/*
 * What the client's files share.  A "node" is one connection to one
 * server: a primary that takes commands, a cluster node asked for the
 * slot map, a sentinel asked for the primary, or one that says when it
 * switches.
 */

#define NGX_HTTP_MCP_REDIS_BACKOFF_MIN  100
#define NGX_HTTP_MCP_REDIS_BACKOFF_MAX  5000
#define NGX_HTTP_MCP_REDIS_ERROR_MAX    320
#define NGX_HTTP_MCP_REDIS_HOST_MAX     256
#define NGX_HTTP_MCP_REDIS_SLOTS        16384

/* the kinds of commands Redis may refuse (an ACL, OOM) */
#define NGX_HTTP_MCP_REDIS_SCRIPTS      0x01
#define NGX_HTTP_MCP_REDIS_COMMANDS     0x02


typedef struct ngx_http_mcp_redis_node_s     ngx_http_mcp_redis_node_t;
typedef struct ngx_http_mcp_redis_cluster_s  ngx_http_mcp_redis_cluster_t;
typedef struct ngx_http_mcp_redis_sentinel_s ngx_http_mcp_redis_sentinel_t;

typedef void (*ngx_http_mcp_redis_node_pt)(ngx_http_mcp_redis_node_t *node);

/* the layer's own commands: the handshake, CLUSTER SLOTS, SENTINEL ... */
typedef void (*ngx_http_mcp_redis_internal_pt)(ngx_http_mcp_redis_node_t *node,
    redisReply *reply);


typedef enum {
    NGX_HTTP_MCP_REDIS_PRIMARY = 0,    /* commands; ROLE must say master */
    NGX_HTTP_MCP_REDIS_DISCOVERY,      /* a cluster node: CLUSTER SLOTS */
    NGX_HTTP_MCP_REDIS_SENTINEL_QUERY, /* SENTINEL get-master-addr-by-name */
    NGX_HTTP_MCP_REDIS_SENTINEL_SUB,   /* SUBSCRIBE +switch-master */
    NGX_HTTP_MCP_REDIS_CHANNEL         /* the primary's invalidations (L1) */
} ngx_http_mcp_redis_kind_e;


typedef enum {
    NGX_HTTP_MCP_REDIS_IDLE = 0,       /* not connected */
    NGX_HTTP_MCP_REDIS_LOCATING,       /* asking a resolver or a sentinel */
    NGX_HTTP_MCP_REDIS_CONNECTING,
    NGX_HTTP_MCP_REDIS_TLS,            /* the TLS handshake */
    NGX_HTTP_MCP_REDIS_HANDSHAKE,      /* AUTH, SELECT, ROLE, INFO sent */
    NGX_HTTP_MCP_REDIS_READY,
    NGX_HTTP_MCP_REDIS_EXITING
} ngx_http_mcp_redis_state_e;


struct ngx_http_mcp_redis_node_s {
    ngx_queue_t                     queue;      /* a cluster's primaries */
    ngx_http_mcp_redis_t           *rds;
    ngx_uint_t                      kind;       /* ngx_http_mcp_redis_kind_e */
    ngx_uint_t                      state;      /* ngx_http_mcp_redis_state_e */

    /* "host:port" (or "unix:path"), for logs; where it is */
    ngx_str_t                       name;
    ngx_str_t                       host;
    in_port_t                       port;
    ngx_sockaddr_t                  sockaddr;
    socklen_t                       socklen;

    ngx_peer_connection_t           peer;
    ngx_connection_t               *connection;
    redisReader                    *reader;

    /* formatted commands not yet written */
    u_char                         *out;
    size_t                          out_pos;
    size_t                          out_len;
    size_t                          out_size;

    ngx_queue_t                     sent;       /* awaiting their replies */
    ngx_queue_t                     waiting;    /* for the handshake */

    /* bumped whenever a connection is closed */
    ngx_uint_t                      generation;

    ngx_msec_t                      backoff;
    ngx_msec_t                      ready_since;

    ngx_event_t                     connect_timer;
    ngx_event_t                     reconnect;
    ngx_event_t                     reresolve;
    ngx_event_t                     destroy;    /* posted: freed outside */

    ngx_resolver_ctx_t             *resolving;
#if (NGX_SSL)
    ngx_ssl_session_t              *ssl_session;
#endif

    /* nginx's own messages about this connection: the reason of a failure */
    ngx_log_t                       log;
    size_t                          error_len;
    u_char                          error[NGX_HTTP_MCP_REDIS_ERROR_MAX];

    /* where it is (sentinel); the handshake is done; it is gone; pub/sub */
    ngx_http_mcp_redis_node_pt      locate;
    ngx_http_mcp_redis_node_pt      up;
    ngx_http_mcp_redis_node_pt      down;
    ngx_http_mcp_redis_internal_pt  message;

    void                           *data;
    ngx_uint_t                      mark;       /* in the cluster's map */

    u_char                          run_id[NGX_HTTP_MCP_REDIS_RUN_ID_LEN];

    unsigned                        failing:1;  /* outage logged */
    unsigned                        refused:2;  /* kinds refused */
    unsigned                        scripts:1;  /* one ran on this conn */
    unsigned                        resolve:1;  /* "host" is a name */
    unsigned                        located:1;  /* use "sockaddr" once */
    unsigned                        moving:1;   /* reconnect once drained */
    unsigned                        retired:1;  /* freed once drained */
    unsigned                        on_demand:1; /* no reconnect by itself */
    unsigned                        subscribed:1;

    u_char                          host_data[NGX_HTTP_MCP_REDIS_HOST_MAX];
    u_char                          name_data[NGX_HTTP_MCP_REDIS_HOST_MAX
                                              + 96];
};


struct ngx_http_mcp_redis_s {
    ngx_http_mcp_redis_conf_t      *conf;
    ngx_log_t                      *log;
    ngx_uint_t                      exiting;

    /* the primary (single Redis, Sentinel's primary) */
    ngx_http_mcp_redis_node_t      *node;

    ngx_http_mcp_redis_cluster_t   *cluster;
    ngx_http_mcp_redis_sentinel_t  *sentinel;

    /* the node whose reply a handler is given */
    ngx_http_mcp_redis_node_t      *answering;

    ngx_http_mcp_redis_ready_pt     ready;
    void                           *ready_data;
};


struct ngx_http_mcp_redis_cmd_s {
    ngx_queue_t                     queue;
    ngx_http_mcp_redis_t           *rds;
    ngx_http_mcp_redis_node_t      *node;       /* sent to, or waits for */

    ngx_http_mcp_redis_handler_pt   handler;
    void                           *data;
    ngx_http_mcp_redis_internal_pt  internal;

    ngx_http_mcp_redis_script_t    *script;
    ngx_uint_t                      nkeys;
    ngx_uint_t                      nargs;
    ngx_str_t                      *args;

    ngx_str_t                       key;        /* that routes it */
    ngx_uint_t                      slot;

    ngx_event_t                     timer;
    uint64_t                        start;      /* metrics: when sent */

    unsigned                        eval:1;     /* sent with the script */
    unsigned                        sent:1;     /* else waits */
    unsigned                        sink:1;     /* its reply is dropped */
    unsigned                        asking:1;   /* ASKING goes first */
    unsigned                        moved:1;    /* redirected by MOVED */
    unsigned                        redirects:3;
};


/* ngx_http_mcp_redis.c */
void ngx_http_mcp_redis_unavailable(ngx_http_mcp_redis_node_t *node,
    const char *reason, size_t len);
void ngx_http_mcp_redis_available(ngx_http_mcp_redis_node_t *node);
void ngx_http_mcp_redis_primary_up(ngx_http_mcp_redis_node_t *node);

/* ngx_http_mcp_redis_node.c */
ngx_http_mcp_redis_node_t *ngx_http_mcp_redis_node_create(
    ngx_http_mcp_redis_t *rds, ngx_uint_t kind, ngx_str_t *host,
    in_port_t port, struct sockaddr *sockaddr, socklen_t socklen);
ngx_int_t ngx_http_mcp_redis_node_set(ngx_http_mcp_redis_node_t *node,
    ngx_str_t *host, in_port_t port, struct sockaddr *sockaddr,
    socklen_t socklen);
void ngx_http_mcp_redis_node_connect(ngx_http_mcp_redis_node_t *node);
void ngx_http_mcp_redis_node_open(ngx_http_mcp_redis_node_t *node);
void ngx_http_mcp_redis_node_secured(ngx_http_mcp_redis_node_t *node);
void ngx_http_mcp_redis_node_ready(ngx_http_mcp_redis_node_t *node);
void ngx_http_mcp_redis_node_eof(ngx_http_mcp_redis_node_t *node);
void ngx_http_mcp_redis_node_timeout(ngx_event_t *ev);
void ngx_http_mcp_redis_node_fail(ngx_http_mcp_redis_node_t *node,
    const char *reason, size_t len);
void ngx_http_mcp_redis_node_move(ngx_http_mcp_redis_node_t *node,
    ngx_uint_t drain);
void ngx_http_mcp_redis_node_retire(ngx_http_mcp_redis_node_t *node);
void ngx_http_mcp_redis_node_close(ngx_http_mcp_redis_node_t *node);
void ngx_http_mcp_redis_node_close_connection(ngx_connection_t *c);
void ngx_http_mcp_redis_node_free(ngx_http_mcp_redis_node_t *node);
ngx_uint_t ngx_http_mcp_redis_node_same(ngx_http_mcp_redis_node_t *node,
    ngx_str_t *host, in_port_t port);

/* ngx_http_mcp_redis_handshake.c */
ngx_int_t ngx_http_mcp_redis_handshake(ngx_http_mcp_redis_node_t *node);
u_char *ngx_http_mcp_redis_node_reason(ngx_http_mcp_redis_node_t *node,
    u_char *buf, size_t size, const char *what, redisReply *reply);

/* ngx_http_mcp_redis_io.c */
void ngx_http_mcp_redis_node_log(ngx_log_t *log, ngx_uint_t level,
    u_char *buf, size_t len);
void ngx_http_mcp_redis_node_read_handler(ngx_event_t *rev);
void ngx_http_mcp_redis_node_write_handler(ngx_event_t *wev);
ngx_int_t ngx_http_mcp_redis_node_write(ngx_http_mcp_redis_node_t *node,
    int argc, const char **argv, const size_t *argvlen);
ngx_int_t ngx_http_mcp_redis_node_internal(ngx_http_mcp_redis_node_t *node,
    ngx_http_mcp_redis_internal_pt handler, int argc, const char **argv,
    const size_t *argvlen);

/* ngx_http_mcp_redis_command.c */
ngx_int_t ngx_http_mcp_redis_submit(ngx_http_mcp_redis_node_t *node,
    ngx_http_mcp_redis_cmd_t *cmd);
void ngx_http_mcp_redis_reply(ngx_http_mcp_redis_node_t *node,
    ngx_http_mcp_redis_cmd_t *cmd, redisReply *reply);
void ngx_http_mcp_redis_resend(ngx_http_mcp_redis_cmd_t *cmd,
    ngx_http_mcp_redis_node_t *from, ngx_http_mcp_redis_node_t *to);
void ngx_http_mcp_redis_finish(ngx_http_mcp_redis_cmd_t *cmd,
    ngx_http_mcp_redis_node_t *node, redisReply *reply);
void ngx_http_mcp_redis_queue_move(ngx_queue_t *to, ngx_queue_t *from);
void ngx_http_mcp_redis_fail_queue(ngx_queue_t *queue);
void ngx_http_mcp_redis_free_queue(ngx_queue_t *queue);
void ngx_http_mcp_redis_flush_waiting(ngx_http_mcp_redis_node_t *node,
    ngx_uint_t send);
ngx_uint_t ngx_http_mcp_redis_error_is(redisReply *reply, const char *prefix,
    size_t len);

/* ngx_http_mcp_redis_tls.c */
ngx_int_t ngx_http_mcp_redis_tls_conf(ngx_conf_t *cf,
    ngx_http_mcp_redis_conf_t *conf);
ngx_int_t ngx_http_mcp_redis_tls_start(ngx_http_mcp_redis_node_t *node);
void ngx_http_mcp_redis_tls_close(ngx_connection_t *c, ngx_uint_t failed,
    ngx_log_t *log);
void ngx_http_mcp_redis_tls_forget(ngx_http_mcp_redis_node_t *node);

/* ngx_http_mcp_redis_resolve.c */
void ngx_http_mcp_redis_resolve(ngx_http_mcp_redis_node_t *node);
void ngx_http_mcp_redis_resolve_follow(ngx_http_mcp_redis_node_t *node);
void ngx_http_mcp_redis_resolve_cancel(ngx_http_mcp_redis_node_t *node);

/* ngx_http_mcp_redis_cluster.c */
ngx_int_t ngx_http_mcp_redis_cluster_init(ngx_http_mcp_redis_t *rds);
void ngx_http_mcp_redis_cluster_destroy(ngx_http_mcp_redis_t *rds);
ngx_uint_t ngx_http_mcp_redis_slot(ngx_str_t *key);
ngx_http_mcp_redis_node_t *ngx_http_mcp_redis_cluster_node(
    ngx_http_mcp_redis_t *rds, ngx_http_mcp_redis_cmd_t *cmd,
    ngx_uint_t *wait);
ngx_int_t ngx_http_mcp_redis_cluster_wait(ngx_http_mcp_redis_t *rds,
    ngx_http_mcp_redis_cmd_t *cmd);
void ngx_http_mcp_redis_cluster_later(ngx_http_mcp_redis_t *rds,
    ngx_http_mcp_redis_cmd_t *cmd);
ngx_int_t ngx_http_mcp_redis_cluster_redirect(ngx_http_mcp_redis_node_t *node,
    ngx_http_mcp_redis_cmd_t *cmd, redisReply *reply);
ngx_uint_t ngx_http_mcp_redis_cluster_ready(ngx_http_mcp_redis_t *rds,
    ngx_uint_t scripts);
void ngx_http_mcp_redis_cluster_refresh(ngx_http_mcp_redis_t *rds);

/* ngx_http_mcp_redis_sentinel.c */
ngx_int_t ngx_http_mcp_redis_sentinel_init(ngx_http_mcp_redis_t *rds);
void ngx_http_mcp_redis_sentinel_destroy(ngx_http_mcp_redis_t *rds);
ngx_uint_t ngx_http_mcp_redis_sentinel_said(ngx_http_mcp_redis_node_t *node,
    ngx_uint_t failing);


#endif /* _NGX_HTTP_MCP_REDIS_H_INCLUDED_ */
