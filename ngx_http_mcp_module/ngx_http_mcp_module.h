
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * What the files of ngx_http_mcp_module share: the configuration, the
 * request's context, and each file's entry points.  docs/design.md has
 * the map of the files and the request flow.
 */


#ifndef _NGX_HTTP_MCP_MODULE_H_INCLUDED_
#define _NGX_HTTP_MCP_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_mcp_vendor.h"


/* the module's version: packaging/debian/changelog says the same */
#define NGX_HTTP_MCP_VERSION  "0.1.0"


/* a registry declared with "mcp_registry" */

typedef struct {
    ngx_str_t                       name;
    const ngx_http_mcp_vendor_t    *vendor;
    ngx_str_t                       pass;       /* internal location prefix */
    ngx_uint_t                      index;      /* in the main conf's array */
} ngx_http_mcp_registry_t;


/* what a worker knows of a registry's health: runtime, not configuration */

typedef struct {
    unsigned                        failing:1;  /* and that was logged */
} ngx_http_mcp_registry_health_t;


typedef struct {
    ngx_array_t                     registries; /* ngx_http_mcp_registry_t */

    /* one per registry, this worker's own (copied at fork) */
    ngx_http_mcp_registry_health_t *health;

    ngx_flag_t                      filters;    /* registered */
    ngx_array_t                    *routes;     /* servers with routes */
} ngx_http_mcp_main_conf_t;


typedef struct {
    ngx_str_t                       registry_name;
    ngx_http_mcp_registry_t        *registry;  /* native routes of one */
    ngx_flag_t                      canonical; /* the canonical route */

    ngx_uint_t                      view;      /* default view, native */

    size_t                          max_body_size;
    size_t                          upstream_max_body_size;
} ngx_http_mcp_loc_conf_t;


#define NGX_HTTP_MCP_VIEW_NATIVE     1
#define NGX_HTTP_MCP_VIEW_CANONICAL  2


/* what the request URI names */

typedef struct {
    ngx_http_mcp_registry_t        *registry;
    ngx_str_t                       id;         /* the vendor's spelling */
    unsigned                        canonical:1;
} ngx_http_mcp_route_t;


/* an answer: the client's, or one the cache keeps */

typedef struct {
    ngx_uint_t                      status;
    ngx_chain_t                    *body;       /* JSON, or NULL */
} ngx_http_mcp_reply_t;


/* the registry's answer to the subrequest, as the capture filters saw it */

typedef struct {
    ngx_uint_t                      status;
    ngx_uint_t                      from_registry; /* it sent a status */
    off_t                           content_length; /* -1: not announced */
    ngx_str_t                       peer;       /* the upstream server */

    ngx_chain_t                    *body;
    ngx_chain_t                   **last;
    ngx_buf_t                      *buf;        /* the one being filled */
    size_t                          size;

    unsigned                        header:1;   /* header filter ran */
    unsigned                        eof:1;      /* last buffer seen */
    unsigned                        too_large:1;
    unsigned                        in_file:1;

    /* nginx ended the subrequest with an error after its header (a bad
     * chunk, a reset): the answer is malformed, whatever came of it */
    unsigned                        broken:1;
} ngx_http_mcp_capture_t;


typedef enum {
    NGX_HTTP_MCP_PHASE_BODY = 0,    /* a PUT's body is checked */
    NGX_HTTP_MCP_PHASE_LOOKUP,      /* the cache may have the answer */
    NGX_HTTP_MCP_PHASE_MARK,        /* a PUT's server: being written */
    NGX_HTTP_MCP_PHASE_FETCH,       /* the registry's subrequest */
    NGX_HTTP_MCP_PHASE_ANSWER,      /* its answer becomes the client's */
    NGX_HTTP_MCP_PHASE_UPDATE,      /* the cache learns, or forgets */
    NGX_HTTP_MCP_PHASE_SEND,
    NGX_HTTP_MCP_PHASE_DONE
} ngx_http_mcp_phase_e;


/*
 * How a step that answered NGX_AGAIN reports, later, what it would have
 * returned: NGX_OK, NGX_DECLINED or NGX_ERROR.  Only the handler moves
 * the request on (ngx_http_mcp_handler.c).
 */

typedef void (*ngx_http_mcp_step_pt)(ngx_http_request_t *r, ngx_int_t rc);


/* per-request state of the main request (its subrequest shares it) */

typedef struct {
    ngx_http_mcp_route_t            route;
    ngx_uint_t                      phase;      /* ngx_http_mcp_phase_e */

    /* the answer is in the canonical shape, not the vendor's */
    unsigned                        canonical_view:1;

    /* the client's PUT body, as read, and what the registry is sent */
    unsigned                        reading_body:1;
    unsigned                        body_too_large:1;
    ngx_buf_t                      *client_body;
    ngx_buf_t                      *forward;

    ngx_http_request_t             *sr;
    ngx_http_mcp_capture_t          capture;
    ngx_uint_t                      log_level;  /* to restore, if raised */

    ngx_http_mcp_reply_t            reply;

    /* the body of a status nginx answers itself (the access phase's) */
    ngx_http_mcp_reply_t            refusal;
    unsigned                        replace:1;  /* that answer is going */
} ngx_http_mcp_ctx_t;


/* ngx_http_mcp_handler.c: the content handler and the phase machine */
ngx_int_t ngx_http_mcp_handler(ngx_http_request_t *r);

/* ngx_http_mcp_route.c */
ngx_int_t ngx_http_mcp_route_parse(ngx_http_request_t *r,
    ngx_http_mcp_loc_conf_t *mlcf, ngx_http_mcp_route_t *route);
ngx_http_mcp_registry_t *ngx_http_mcp_registry_find(
    ngx_http_mcp_main_conf_t *mmcf, ngx_str_t *name);

/*
 * ngx_http_mcp_body.c: the PUT body, taken into memory as it is read,
 * then checked and translated: NGX_OK, NGX_DECLINED (ctx->reply holds
 * the client's error) or NGX_ERROR
 */
ngx_int_t ngx_http_mcp_body_check(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx);
ngx_int_t ngx_http_mcp_body_init(ngx_conf_t *cf);

/*
 * ngx_http_mcp_subrequest.c: the registry's subrequest; nginx wakes the
 * parent through its write event handler when it is done
 */
ngx_int_t ngx_http_mcp_subrequest_start(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx);
void ngx_http_mcp_subrequest_finish(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx);
ngx_int_t ngx_http_mcp_capture_header(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx);
ngx_int_t ngx_http_mcp_capture_body(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx, ngx_chain_t *in);

/* ngx_http_mcp_answer.c: the registry's answer -> the client's */
ngx_int_t ngx_http_mcp_answer(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx);

/* ngx_http_mcp_reply.c: every answer the module writes */
ngx_int_t ngx_http_mcp_reply_send(ngx_http_request_t *r,
    ngx_http_mcp_reply_t *reply);
ngx_int_t ngx_http_mcp_reply_detail(ngx_http_request_t *r,
    ngx_http_mcp_reply_t *reply, ngx_uint_t status, const char *fmt, ...);
ngx_int_t ngx_http_mcp_reply_registry_error(ngx_http_request_t *r,
    ngx_http_mcp_reply_t *reply, ngx_uint_t status,
    ngx_http_mcp_registry_t *reg, const char *detail, size_t len);
ngx_int_t ngx_http_mcp_reply_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *fmt, ...);
ngx_int_t ngx_http_mcp_reply_status(ngx_http_request_t *r, ngx_uint_t status,
    const char *fmt, ...);
ngx_table_elt_t *ngx_http_mcp_reply_header(ngx_http_request_t *r,
    ngx_str_t *key, ngx_str_t *value);
void ngx_http_mcp_reply_json_headers(ngx_http_request_t *r, off_t len);
ngx_int_t ngx_http_mcp_filter_init(ngx_conf_t *cf);

/* ngx_http_mcp_json.c: jansson on pool memory */
ngx_int_t ngx_http_mcp_json_init(ngx_conf_t *cf);
ngx_pool_t *ngx_http_mcp_json_arena(ngx_pool_t *pool);
ngx_pool_t *ngx_http_mcp_json_arena_for(ngx_http_request_t *r, size_t size);
json_t *ngx_http_mcp_json_parse(ngx_http_request_t *r, ngx_chain_t *in,
    ngx_str_t *error);
ngx_int_t ngx_http_mcp_json_track(ngx_http_request_t *r, json_t *json);
void ngx_http_mcp_json_release(ngx_http_request_t *r, json_t *json);
ngx_int_t ngx_http_mcp_json_dump(ngx_http_request_t *r, json_t *json,
    ngx_chain_t **out);
ngx_chain_t *ngx_http_mcp_json_out(ngx_http_request_t *r, size_t size);

/* ngx_http_mcp_internal.c: the locations of subrequests are internal */
ngx_int_t ngx_http_mcp_internal_route(ngx_conf_t *cf, ngx_str_t *registry);
ngx_int_t ngx_http_mcp_internal_check(ngx_conf_t *cf);
ngx_int_t ngx_http_mcp_internal_find(ngx_http_core_srv_conf_t *cscf,
    ngx_str_t *uri, ngx_http_core_loc_conf_t **clcf);
ngx_int_t ngx_http_mcp_internal_refuse(ngx_http_request_t *r,
    const char *what);

/* ngx_http_mcp_var.c */
ngx_int_t ngx_http_mcp_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_http_mcp_add_variable_table(ngx_conf_t *cf,
    ngx_http_variable_t *vars);


extern ngx_module_t  ngx_http_mcp_module;


#endif /* _NGX_HTTP_MCP_MODULE_H_INCLUDED_ */
