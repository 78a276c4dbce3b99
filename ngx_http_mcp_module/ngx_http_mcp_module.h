
/*
 * Copyright (C) ngx_http_mcp_module authors
 */


#ifndef _NGX_HTTP_MCP_MODULE_H_INCLUDED_
#define _NGX_HTTP_MCP_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "ngx_http_mcp_id.h"


/* a registry declared with "mcp_registry" */

typedef struct {
    ngx_str_t                   name;
    ngx_uint_t                  vendor;     /* ngx_http_mcp_vendor_e */
    ngx_str_t                   pass;       /* internal location prefix */

    /* per worker: the last answer failed, that was logged already */
    unsigned                    failing:1;
} ngx_http_mcp_registry_t;


typedef struct {
    ngx_array_t                 registries; /* ngx_http_mcp_registry_t */
} ngx_http_mcp_main_conf_t;


typedef struct {
    ngx_str_t                   registry_name;
    ngx_http_mcp_registry_t    *registry;   /* native routes of one registry */
    ngx_flag_t                  canonical;  /* the canonical route */

    ngx_uint_t                  view;       /* default view, native routes */

    size_t                      max_body_size;
    size_t                      upstream_max_body_size;
} ngx_http_mcp_loc_conf_t;


#define NGX_HTTP_MCP_VIEW_NATIVE     1
#define NGX_HTTP_MCP_VIEW_CANONICAL  2


/* what the request URI names */

typedef struct {
    ngx_http_mcp_registry_t    *registry;
    ngx_str_t                   id;
    unsigned                    canonical:1;
} ngx_http_mcp_route_t;


/* what came back from the registry through the upstream subrequest */

typedef struct {
    ngx_uint_t                  status;
    ngx_uint_t                  from_upstream;  /* the vendor answered */
    off_t                       content_length; /* -1 when not announced */
    ngx_str_t                   content_type;
    ngx_str_t                   peer;           /* the upstream server */

    ngx_chain_t                *body;
    ngx_chain_t               **last;
    ngx_buf_t                  *last_buf;       /* the one being filled */
    size_t                      size;

    unsigned                    header:1;       /* header filter ran */
    unsigned                    eof:1;          /* last buffer seen */
    unsigned                    too_large:1;
    unsigned                    in_file:1;
} ngx_http_mcp_response_t;


typedef enum {
    NGX_HTTP_MCP_PHASE_LOOKUP = 0,
    NGX_HTTP_MCP_PHASE_UPSTREAM,
    NGX_HTTP_MCP_PHASE_ANSWER,
    NGX_HTTP_MCP_PHASE_UPDATE,
    NGX_HTTP_MCP_PHASE_SEND,
    NGX_HTTP_MCP_PHASE_DONE
} ngx_http_mcp_phase_e;


/* per-request state */

typedef struct {
    ngx_http_mcp_route_t        route;
    ngx_uint_t                  phase;          /* ngx_http_mcp_phase_e */

    /* the answer is in the canonical shape, not the vendor's */
    unsigned                    canonical_view:1;

    unsigned                    reading_body:1;
    unsigned                    body_too_large:1;

    ngx_buf_t                  *body;           /* the client's PUT body */
    ngx_buf_t                  *request_body;   /* the body to forward */
    ngx_http_request_t         *sr;
    ngx_http_mcp_response_t     upstream;
    ngx_uint_t                  log_level;      /* to restore, if raised */

    /* the client's answer */
    ngx_uint_t                  status;
    ngx_chain_t                *out;
} ngx_http_mcp_ctx_t;


/* ngx_http_mcp_handler.c */
ngx_int_t ngx_http_mcp_handler(ngx_http_request_t *r);
void ngx_http_mcp_next(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx);

/*
 * ngx_http_mcp_cache.c: the phase machine's cache steps.  A step that
 * answers NGX_AGAIN calls ngx_http_mcp_next() itself when Redis replies;
 * an asynchronous hit sets ctx->status, ctx->out and
 * ctx->phase = NGX_HTTP_MCP_PHASE_SEND first.
 */
ngx_int_t ngx_http_mcp_cache_lookup(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx);
ngx_int_t ngx_http_mcp_cache_update(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx);

/* ngx_http_mcp_body.c */
void ngx_http_mcp_body_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_mcp_body_init(ngx_conf_t *cf);

/* ngx_http_mcp_route.c */
ngx_int_t ngx_http_mcp_route_parse(ngx_http_request_t *r,
    ngx_http_mcp_loc_conf_t *mlcf, ngx_http_mcp_route_t *route);
ngx_http_mcp_registry_t *ngx_http_mcp_registry_find(
    ngx_http_mcp_main_conf_t *mmcf, ngx_str_t *name);

/* ngx_http_mcp_upstream.c */
ngx_int_t ngx_http_mcp_upstream_start(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx);
void ngx_http_mcp_upstream_finish(ngx_http_request_t *r,
    ngx_http_mcp_ctx_t *ctx);
ngx_int_t ngx_http_mcp_upstream_init(ngx_conf_t *cf);

/* ngx_http_mcp_json.c */
json_t *ngx_http_mcp_json_parse(ngx_http_request_t *r, ngx_chain_t *in,
    ngx_str_t *error);
ngx_int_t ngx_http_mcp_json_track(ngx_http_request_t *r, json_t *json);
ngx_int_t ngx_http_mcp_json_dump(ngx_http_request_t *r, json_t *json,
    ngx_chain_t **out);

/* ngx_http_mcp_util.c */
ngx_int_t ngx_http_mcp_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_chain_t *body);
ngx_int_t ngx_http_mcp_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *fmt, ...);
ngx_int_t ngx_http_mcp_error_body(ngx_http_request_t *r, ngx_chain_t **out,
    const char *fmt, ...);
ngx_table_elt_t *ngx_http_mcp_add_header(ngx_http_request_t *r,
    ngx_str_t *key, ngx_str_t *value);

/* ngx_http_mcp_var.c */
ngx_int_t ngx_http_mcp_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_http_mcp_add_variable_table(ngx_conf_t *cf,
    ngx_http_variable_t *vars);


extern ngx_module_t  ngx_http_mcp_module;


#endif /* _NGX_HTTP_MCP_MODULE_H_INCLUDED_ */
