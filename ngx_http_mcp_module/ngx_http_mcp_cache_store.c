
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * The store step, once a GET's answer is known: it is kept
 * (lua/cache_store.lua) only if nothing happened to the server since the
 * lookup: the same primary, the same generation, no write under way.
 */


#include "ngx_http_mcp_cache.h"


static void ngx_http_mcp_cache_store_done(void *data, redisReply *reply);
static ngx_str_t *ngx_http_mcp_cache_unlock_args(
    ngx_http_mcp_cache_ctx_t *cctx);


ngx_int_t
ngx_http_mcp_cache_store(ngx_http_request_t *r, ngx_http_mcp_reply_t *reply,
    ngx_http_mcp_step_pt done)
{
    u_char                          *p;
    size_t                           size;
    ngx_str_t                       *args, *body;
    ngx_uint_t                       i, *status;
    ngx_chain_t                     *cl;
    ngx_http_mcp_cache_ctx_t        *cctx;
    ngx_http_mcp_cache_loc_conf_t   *lcf;
    ngx_http_mcp_cache_main_conf_t  *mcf;

    cctx = ngx_http_get_module_ctx(r, ngx_http_mcp_cache_module);

    if (cctx == NULL) {
        return NGX_OK;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_cache_module);

    if (cctx->leader) {

        /*
         * the node's requests that waited for this fetch get its answer;
         * not a failure of the gateway or the registry: they try again
         */

        cctx->leader = 0;
        ngx_http_mcp_cache_flight_land(mcf->zone, &cctx->flight,
                                       reply->status < 500 ? reply : NULL);
    }

    if (!cctx->have_gen || cctx->status == NGX_HTTP_MCP_CACHE_HIT) {
        return NGX_OK;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_mcp_cache_module);

    cctx->reply = reply;
    cctx->done = done;

    size = 0;

    for (cl = reply->body; cl; cl = cl->next) {
        size += ngx_buf_size(cl->buf);
    }

    if (lcf->statuses == NULL) {
        cctx->store = (reply->status == NGX_HTTP_OK);

    } else {
        status = lcf->statuses->elts;

        for (i = 0; i < lcf->statuses->nelts; i++) {
            if (status[i] == reply->status) {
                cctx->store = 1;
                break;
            }
        }
    }

    /*
     * too large; or this node must not keep the server: an invalidation of
     * it waits for Redis
     */

    if (size > lcf->max_size
        || ngx_http_mcp_cache_node_pending(mcf->zone,
                                       &cctx->keys[NGX_HTTP_MCP_CACHE_KEY_GEN]))
    {
        cctx->store = 0;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mcp cache store: status:%ui size:%uz store:%ui",
                   reply->status, size, (ngx_uint_t) cctx->store);

    if (!cctx->store && !cctx->locked) {
        return NGX_OK;
    }

    args = ngx_http_mcp_cache_unlock_args(cctx);

    if (cctx->store) {
        p = ngx_pnalloc(r->pool, 2 * NGX_INT_T_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        args[NGX_HTTP_MCP_STORE_TTL_MS].data = p;
        p = ngx_sprintf(p, "%M", lcf->ttl);
        args[NGX_HTTP_MCP_STORE_TTL_MS].len =
                                  p - args[NGX_HTTP_MCP_STORE_TTL_MS].data;

        args[NGX_HTTP_MCP_STORE_STATUS].data = p;
        p = ngx_sprintf(p, "%ui", reply->status);
        args[NGX_HTTP_MCP_STORE_STATUS].len =
                                  p - args[NGX_HTTP_MCP_STORE_STATUS].data;

        /* the client's answer, as it is sent: already redacted */

        body = &args[NGX_HTTP_MCP_STORE_BODY];

        if (reply->body && reply->body->next == NULL) {
            body->data = reply->body->buf->pos;
            body->len = size;

        } else if (size) {
            p = ngx_pnalloc(r->pool, size);
            if (p == NULL) {
                return NGX_ERROR;
            }

            body->data = p;
            body->len = size;

            for (cl = reply->body; cl; cl = cl->next) {
                p = ngx_cpymem(p, cl->buf->pos, ngx_buf_size(cl->buf));
            }
        }
    }

    cctx->cmd = ngx_http_mcp_redis_eval(mcf->rds,
                                        &mcf->scripts[NGX_HTTP_MCP_CACHE_STORE],
                                        NGX_HTTP_MCP_CACHE_NKEYS,
                                        NGX_HTTP_MCP_STORE_NARGS, args,
                                        ngx_http_mcp_cache_store_done, cctx);
    if (cctx->cmd == NULL) {
        if (cctx->store) {
            ngx_http_mcp_cache_set_status(r, cctx, NGX_HTTP_MCP_CACHE_ERROR);
        }

        return NGX_OK;
    }

    return NGX_AGAIN;
}


static void
ngx_http_mcp_cache_store_done(void *data, redisReply *reply)
{
    ngx_http_mcp_cache_ctx_t *cctx = data;

    ngx_http_request_t  *r;

    cctx->cmd = NULL;
    r = cctx->request;

    if (reply == NULL) {
        if (cctx->store) {
            ngx_http_mcp_cache_set_status(r, cctx, NGX_HTTP_MCP_CACHE_ERROR);
        }

    } else {
        /* the lock, if any, is released whatever the result */
        cctx->locked = 0;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "mcp cache stored: %i",
                       reply->type == REDIS_REPLY_INTEGER
                       ? (ngx_int_t) reply->integer : -1);
    }

    cctx->done(r, NGX_OK);
}


/*
 * The store script's arguments that store nothing: they release the
 * entry's lock if this request holds it
 */

static ngx_str_t *
ngx_http_mcp_cache_unlock_args(ngx_http_mcp_cache_ctx_t *cctx)
{
    ngx_str_t  *args;

    args = cctx->args;

    ngx_memcpy(args, cctx->keys, sizeof(cctx->keys));

    args[NGX_HTTP_MCP_STORE_FIELD] = cctx->field;
    args[NGX_HTTP_MCP_STORE_GEN] = cctx->gen;
    args[NGX_HTTP_MCP_STORE_RUN_ID] = cctx->run_id;
    args[NGX_HTTP_MCP_STORE_SINCE] = cctx->since;
    ngx_str_set(&args[NGX_HTTP_MCP_STORE_TTL_MS], "0");
    ngx_str_set(&args[NGX_HTTP_MCP_STORE_STATUS], "");
    ngx_str_set(&args[NGX_HTTP_MCP_STORE_BODY], "");

    if (cctx->locked) {
        args[NGX_HTTP_MCP_STORE_TOKEN] = cctx->token;

    } else {
        ngx_str_set(&args[NGX_HTTP_MCP_STORE_TOKEN], "");
    }

    return args;
}


/* a request that goes away releases its lock: nobody waits for a reply */

void
ngx_http_mcp_cache_unlock(ngx_http_mcp_cache_ctx_t *cctx)
{
    ngx_str_t                       *args;
    ngx_http_mcp_cache_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(cctx->request,
                                        ngx_http_mcp_cache_module);

    args = ngx_http_mcp_cache_unlock_args(cctx);

    cctx->locked = 0;

    /* no handler: the arguments need not outlive the request */

    (void) ngx_http_mcp_redis_eval(mcf->rds,
                                   &mcf->scripts[NGX_HTTP_MCP_CACHE_STORE],
                                   NGX_HTTP_MCP_CACHE_NKEYS,
                                   NGX_HTTP_MCP_STORE_NARGS, args, NULL, NULL);
}
