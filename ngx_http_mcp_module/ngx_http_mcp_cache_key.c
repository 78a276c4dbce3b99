
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * A request's place in the cache.  Every key of one server shares the
 * hash tag "{registry:id}", so a Redis Cluster keeps them on one node and
 * a script may touch them all:
 *
 *   <prefix>{<registry>:<id>}:gen          the server's generation
 *   <prefix>{<registry>:<id>}:entries      hash: <field> -> "<status>
 *                                          <expiry ms> <run id>",
 *                                          <field>:b -> body
 *   <prefix>{<registry>:<id>}:write        hash: the writers under way ->
 *                                          their deadlines (ms)
 *   <prefix>{<registry>:<id>}:lock:<field> this entry is being fetched
 *
 * The field of an entry is the SHA-1 of its evaluated mcp_cache_key.
 */


#include "ngx_http_mcp_cache.h"


static void ngx_http_mcp_cache_cleanup(void *data);


ngx_http_mcp_cache_ctx_t *
ngx_http_mcp_cache_ctx(ngx_http_request_t *r, ngx_http_mcp_route_t *route,
    ngx_http_mcp_reply_t *reply, ngx_http_mcp_step_pt done)
{
    u_char                          *p;
    size_t                           len;
    ngx_str_t                       *keys, *name, *id;
    ngx_http_cleanup_t              *cln;
    ngx_http_mcp_cache_ctx_t        *cctx;
    ngx_http_mcp_cache_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_cache_module);

    cctx = ngx_pcalloc(r->pool, sizeof(ngx_http_mcp_cache_ctx_t));
    if (cctx == NULL) {
        return NULL;
    }

    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_mcp_cache_cleanup;
    cln->data = cctx;

    cctx->request = r;
    cctx->route = route;
    cctx->reply = reply;
    cctx->done = done;

    cctx->wait.data = cctx;
    cctx->wait.log = r->connection->log;

    /*
     * "<prefix>{<registry>:<id>}:" then "gen", "entries", "write",
     * "lock:<field>"
     */

    name = &route->registry->name;
    id = &route->id;
    keys = cctx->keys;

    len = mcf->prefix.len + name->len + id->len + sizeof("{:}:") - 1;

    p = ngx_pnalloc(r->pool,
                    4 * len + sizeof("genentrieswritelock:") - 1 + 40);
    if (p == NULL) {
        return NULL;
    }

    keys[NGX_HTTP_MCP_CACHE_KEY_GEN].data = p;
    p = ngx_sprintf(p, "%V{%V:%V}:gen", &mcf->prefix, name, id);
    keys[NGX_HTTP_MCP_CACHE_KEY_GEN].len =
                                   p - keys[NGX_HTTP_MCP_CACHE_KEY_GEN].data;

    keys[NGX_HTTP_MCP_CACHE_KEY_ENTRIES].data = p;
    p = ngx_sprintf(p, "%V{%V:%V}:entries", &mcf->prefix, name, id);
    keys[NGX_HTTP_MCP_CACHE_KEY_ENTRIES].len =
                               p - keys[NGX_HTTP_MCP_CACHE_KEY_ENTRIES].data;

    keys[NGX_HTTP_MCP_CACHE_KEY_WRITE].data = p;
    p = ngx_sprintf(p, "%V{%V:%V}:write", &mcf->prefix, name, id);
    keys[NGX_HTTP_MCP_CACHE_KEY_WRITE].len =
                                 p - keys[NGX_HTTP_MCP_CACHE_KEY_WRITE].data;

    /* the lock key gets the entry's field in ngx_http_mcp_cache_field() */

    keys[NGX_HTTP_MCP_CACHE_KEY_LOCK].data = p;
    p = ngx_sprintf(p, "%V{%V:%V}:lock:", &mcf->prefix, name, id);
    keys[NGX_HTTP_MCP_CACHE_KEY_LOCK].len =
                                  p - keys[NGX_HTTP_MCP_CACHE_KEY_LOCK].data;

    ngx_http_set_ctx(r, cctx, ngx_http_mcp_cache_module);

    return cctx;
}


/*
 * The entry's field: the SHA-1 of the evaluated mcp_cache_key.  With the
 * default key and no authenticated subject, the Authorization header the
 * registry sees is part of it too: callers who present different
 * credentials never share an entry (it is hashed, never stored).
 */

ngx_int_t
ngx_http_mcp_cache_field(ngx_http_request_t *r, ngx_http_mcp_cache_ctx_t *cctx)
{
    u_char                          *p;
    ngx_str_t                        key, *lock;
    ngx_sha1_t                       sha1;
    ngx_http_complex_value_t        *cv;
    ngx_http_variable_value_t       *sub;
    ngx_http_mcp_cache_loc_conf_t   *lcf;
    ngx_http_mcp_cache_main_conf_t  *mcf;
    u_char                           hash[20];

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_cache_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_mcp_cache_module);

    cv = lcf->key ? lcf->key : mcf->default_key;

    if (ngx_http_complex_value(r, cv, &key) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mcp cache key: \"%V\"", &key);

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, key.data, key.len);

    if (lcf->key == NULL) {
        sub = ngx_http_get_indexed_variable(r, mcf->sub_index);

        if ((sub == NULL || sub->not_found || sub->len == 0)
            && r->headers_in.authorization)
        {
            ngx_sha1_update(&sha1, "\0authorization:", 15);
            ngx_sha1_update(&sha1, r->headers_in.authorization->value.data,
                            r->headers_in.authorization->value.len);
        }
    }

    ngx_sha1_final(hash, &sha1);

    p = ngx_pnalloc(r->pool, 2 * sizeof(hash) + sizeof(":b") - 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    cctx->field.data = p;
    cctx->field.len = 2 * sizeof(hash);

    ngx_memcpy(ngx_hex_dump(p, hash, sizeof(hash)), ":b", sizeof(":b") - 1);

    ngx_str_set(&cctx->probe[0], "HMGET");
    cctx->probe[1] = cctx->keys[NGX_HTTP_MCP_CACHE_KEY_ENTRIES];
    cctx->probe[2] = cctx->field;
    cctx->probe[3].data = p;
    cctx->probe[3].len = 2 * sizeof(hash) + sizeof(":b") - 1;

    /* the lock key was allocated with room for the field */

    lock = &cctx->keys[NGX_HTTP_MCP_CACHE_KEY_LOCK];
    lock->len = ngx_cpymem(lock->data + lock->len, p, 2 * sizeof(hash))
                - lock->data;

    return NGX_OK;
}


/* a lock's or a writer's token: unique among the requests of every node */

ngx_int_t
ngx_http_mcp_cache_token(ngx_http_request_t *r, ngx_http_mcp_cache_ctx_t *cctx)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, 4 * NGX_INT64_LEN + 3);
    if (p == NULL) {
        return NGX_ERROR;
    }

    cctx->token.data = p;
    cctx->token.len = ngx_sprintf(p, "%P.%uA.%M.%uL", ngx_pid,
                                  r->connection->number, ngx_current_msec,
                                  (uint64_t) ngx_random())
                      - p;

    return NGX_OK;
}


/*
 * The request goes away: a reply that comes later must not touch it, and
 * a lock it holds, or a flight it leads, is released for the requests that
 * wait for it.
 */

static void
ngx_http_mcp_cache_cleanup(void *data)
{
    ngx_http_mcp_cache_ctx_t *cctx = data;

    ngx_http_mcp_cache_main_conf_t  *mcf;

    if (cctx->leader) {

        /* a flight that will not land: the next waiter leads one */

        mcf = ngx_http_get_module_main_conf(cctx->request,
                                            ngx_http_mcp_cache_module);
        ngx_http_mcp_cache_flight_land(mcf->zone, &cctx->flight, NULL);
    }

    if (cctx->cmd) {
        ngx_http_mcp_redis_cancel(cctx->cmd);
        cctx->cmd = NULL;
    }

    if (cctx->wait.timer_set) {
        ngx_del_timer(&cctx->wait);
    }

    if (cctx->locked) {
        ngx_http_mcp_cache_unlock(cctx);
    }
}
