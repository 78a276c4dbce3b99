
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * One asynchronous Redis connection per worker: hiredis's async API driven
 * by nginx's event loop and timers (ngx_http_mcp_redis.c).
 */


#ifndef _NGX_HTTP_MCP_REDIS_H_INCLUDED_
#define _NGX_HTTP_MCP_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_sha1.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>


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
 * called when the connection is ready for commands (again), and when
 * Redis answers again after failing on a connection that stayed up
 */

typedef void (*ngx_http_mcp_redis_ready_pt)(ngx_http_mcp_redis_t *rds,
    void *data);


/* where and how to connect: set at configuration time */

typedef struct {
    ngx_str_t                       name;       /* for logs */
    ngx_str_t                       host;       /* numeric, null-terminated */
    in_port_t                       port;
    ngx_str_t                       path;       /* unix socket, terminated */
    ngx_uint_t                      db;
    ngx_uint_t                      wait_replicas;  /* WAIT after writes */
    ngx_str_t                       user;
    ngx_str_t                       password;   /* never logged */
    ngx_msec_t                      connect_timeout;
    ngx_msec_t                      timeout;
} ngx_http_mcp_redis_conf_t;


typedef struct {
    ngx_str_t                       text;
    u_char                          sha1[40];
} ngx_http_mcp_redis_script_t;


/*
 * ngx_http_mcp_redis_conf.c: "mcp_cache_redis"'s arguments, value[0] the
 * directive's name
 */
char *ngx_http_mcp_redis_conf_parse(ngx_conf_t *cf,
    ngx_http_mcp_redis_conf_t *conf, ngx_str_t *value, ngx_uint_t nvalues);

ngx_http_mcp_redis_t *ngx_http_mcp_redis_create(ngx_cycle_t *cycle,
    ngx_http_mcp_redis_conf_t *conf, ngx_http_mcp_redis_ready_pt ready,
    void *data);
void ngx_http_mcp_redis_destroy(ngx_http_mcp_redis_t *rds);

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
 * invalidations work through it)
 */
ngx_uint_t ngx_http_mcp_redis_scripts_work(ngx_http_mcp_redis_t *rds);

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
 * connection (e.g. a WAIT after a script).
 */

ngx_http_mcp_redis_cmd_t *ngx_http_mcp_redis_command(
    ngx_http_mcp_redis_t *rds, ngx_str_t *key, ngx_uint_t nargs,
    ngx_str_t *args, ngx_http_mcp_redis_handler_pt handler, void *data);

/* the handler will not be called: its data may go away */

void ngx_http_mcp_redis_cancel(ngx_http_mcp_redis_cmd_t *cmd);


/* what the adapter's files share */

#define NGX_HTTP_MCP_REDIS_BACKOFF_MIN  100
#define NGX_HTTP_MCP_REDIS_BACKOFF_MAX  5000
#define NGX_HTTP_MCP_REDIS_ERROR_MAX    160

/* the kinds of commands Redis may refuse (an ACL, OOM) */
#define NGX_HTTP_MCP_REDIS_SCRIPTS      0x01
#define NGX_HTTP_MCP_REDIS_COMMANDS     0x02


typedef enum {
    NGX_HTTP_MCP_REDIS_IDLE = 0,       /* not connected */
    NGX_HTTP_MCP_REDIS_CONNECTING,
    NGX_HTTP_MCP_REDIS_HANDSHAKE,      /* AUTH, SELECT, PING sent */
    NGX_HTTP_MCP_REDIS_READY,
    NGX_HTTP_MCP_REDIS_BROKEN,         /* failed, closed by a posted event */
    NGX_HTTP_MCP_REDIS_EXITING
} ngx_http_mcp_redis_state_e;


struct ngx_http_mcp_redis_s {
    ngx_http_mcp_redis_conf_t      *conf;
    ngx_log_t                      *log;

    redisAsyncContext              *ac;
    ngx_connection_t               *conn;
    ngx_uint_t                      state;  /* ngx_http_mcp_redis_state_e */

    /* bumped whenever a context is freed */
    ngx_uint_t                      generation;

    ngx_msec_t                      backoff;
    ngx_msec_t                      ready_since;

    ngx_event_t                     connect_timer;
    ngx_event_t                     reconnect;
    ngx_event_t                     close;

    ngx_queue_t                     pending;    /* commands sent */
    ngx_queue_t                     waiting;    /* for the handshake */

    ngx_http_mcp_redis_ready_pt     ready;
    void                           *ready_data;

    /* of the primary this connection was made to */
    u_char                          run_id[NGX_HTTP_MCP_REDIS_RUN_ID_LEN];

    unsigned                        failing:1;  /* outage logged */
    unsigned                        refused:2;  /* kinds refused */
    unsigned                        scripts:1;  /* one ran on this conn */
    unsigned                        lost:1;     /* a command got no reply */
    unsigned                        writing:1;  /* in redisAsyncHandleWrite */
    unsigned                        clear:1;    /* edge-triggered events */
};


struct ngx_http_mcp_redis_cmd_s {
    ngx_queue_t                     queue;
    ngx_http_mcp_redis_t           *rds;

    ngx_http_mcp_redis_handler_pt   handler;
    void                           *data;

    ngx_http_mcp_redis_script_t    *script;
    ngx_uint_t                      nkeys;
    ngx_uint_t                      nargs;
    ngx_str_t                      *args;

    ngx_event_t                     timer;
    uint64_t                        start;      /* metrics: when sent */

    unsigned                        eval:1;     /* sent with the script */
    unsigned                        sent:1;     /* else in "waiting" */
};


/* ngx_http_mcp_redis.c */
void ngx_http_mcp_redis_fail(ngx_http_mcp_redis_t *rds, const char *reason,
    size_t len);
void ngx_http_mcp_redis_unavailable(ngx_http_mcp_redis_t *rds,
    const char *reason, size_t len);

/* ngx_http_mcp_redis_command.c */
void ngx_http_mcp_redis_flush_waiting(ngx_http_mcp_redis_t *rds,
    ngx_uint_t send);


#endif /* _NGX_HTTP_MCP_REDIS_H_INCLUDED_ */
