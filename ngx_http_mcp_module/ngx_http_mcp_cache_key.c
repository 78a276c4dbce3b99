
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
 * The field of an entry is the SHA-256 of the parts of its mcp_cache_key
 * (its text and the values of its variables), each preceded by its length
 * (ngx_http_mcp_key.c): no two different values of the variables make
 * the same field, whatever bytes they hold.
 */


#include "ngx_http_mcp_cache.h"


static void ngx_http_mcp_cache_cleanup(void *data);


ngx_http_mcp_cache_ctx_t *
ngx_http_mcp_cache_ctx(ngx_http_request_t *r, ngx_http_mcp_route_t *route,
    ngx_http_mcp_reply_t *reply, ngx_http_mcp_step_pt done)
{
    u_char                          *p, *base;
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

    p = ngx_pnalloc(r->pool, 4 * len + sizeof("genentrieswritelock:") - 1
                             + NGX_HTTP_MCP_KEY_FIELD_LEN);
    if (p == NULL) {
        return NULL;
    }

    /* the common head once, then copies of it: no ngx_sprintf() a request */

    base = p;
    p = ngx_cpymem(p, mcf->prefix.data, mcf->prefix.len);
    *p++ = '{';
    p = ngx_cpymem(p, name->data, name->len);
    *p++ = ':';
    p = ngx_cpymem(p, id->data, id->len);
    *p++ = '}';
    *p++ = ':';

    keys[NGX_HTTP_MCP_CACHE_KEY_GEN].data = base;
    p = ngx_cpymem(p, "gen", sizeof("gen") - 1);
    keys[NGX_HTTP_MCP_CACHE_KEY_GEN].len = p - base;

    keys[NGX_HTTP_MCP_CACHE_KEY_ENTRIES].data = p;
    p = ngx_cpymem(p, base, len);
    p = ngx_cpymem(p, "entries", sizeof("entries") - 1);
    keys[NGX_HTTP_MCP_CACHE_KEY_ENTRIES].len =
                               p - keys[NGX_HTTP_MCP_CACHE_KEY_ENTRIES].data;

    keys[NGX_HTTP_MCP_CACHE_KEY_WRITE].data = p;
    p = ngx_cpymem(p, base, len);
    p = ngx_cpymem(p, "write", sizeof("write") - 1);
    keys[NGX_HTTP_MCP_CACHE_KEY_WRITE].len =
                                 p - keys[NGX_HTTP_MCP_CACHE_KEY_WRITE].data;

    /* the lock key gets the entry's field in ngx_http_mcp_cache_field() */

    keys[NGX_HTTP_MCP_CACHE_KEY_LOCK].data = p;
    p = ngx_cpymem(p, base, len);
    p = ngx_cpymem(p, "lock:", sizeof("lock:") - 1);
    keys[NGX_HTTP_MCP_CACHE_KEY_LOCK].len =
                                  p - keys[NGX_HTTP_MCP_CACHE_KEY_LOCK].data;

    ngx_http_set_ctx(r, cctx, ngx_http_mcp_cache_module);

    return cctx;
}


/*
 * mcp_cache_key's text: "$name" and "${name}" are variables, the rest is
 * text.  Each variable's value and each piece of text between them is a
 * part of the field, so "$a:$b" keeps a = "x:y", b = "z" apart from
 * a = "x", b = "y:z".
 */

ngx_array_t *
ngx_http_mcp_cache_key_compile(ngx_conf_t *cf, ngx_str_t *key)
{
    u_char                         *p, *end, *start;
    ngx_str_t                       name;
    ngx_array_t                    *parts;
    ngx_http_mcp_cache_key_part_t  *part;

    parts = ngx_array_create(cf->pool, 8,
                             sizeof(ngx_http_mcp_cache_key_part_t));
    if (parts == NULL) {
        return NULL;
    }

    p = key->data;
    end = key->data + key->len;

    while (p < end) {

        part = ngx_array_push(parts);
        if (part == NULL) {
            return NULL;
        }

        if (*p != '$') {
            start = p;

            while (p < end && *p != '$') {
                p++;
            }

            part->text.data = start;
            part->text.len = p - start;
            part->index = -1;

            continue;
        }

        p++;

        if (p < end && *p == '{') {
            start = ++p;

            while (p < end && *p != '}') {
                p++;
            }

            if (p == end) {
                goto invalid;
            }

            name.data = start;
            name.len = p++ - start;

        } else {
            start = p;

            while (p < end
                   && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                       || (*p >= '0' && *p <= '9') || *p == '_'))
            {
                p++;
            }

            name.data = start;
            name.len = p - start;
        }

        /* "$1": captures of a regex location are not a request's own */

        if (name.len == 0 || (name.data[0] >= '0' && name.data[0] <= '9')) {
            goto invalid;
        }

        ngx_str_null(&part->text);

        part->index = ngx_http_get_variable_index(cf, &name);
        if (part->index == NGX_ERROR) {
            return NULL;
        }
    }

    if (parts->nelts == 0 || parts->nelts > NGX_HTTP_MCP_CACHE_KEY_PARTS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mcp_cache_key\" must have 1 to %d parts "
                           "(variables and the text between them)",
                           NGX_HTTP_MCP_CACHE_KEY_PARTS);
        return NULL;
    }

    return parts;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid variable in \"mcp_cache_key\" \"%V\"", key);
    return NULL;
}


/*
 * The mcp_cache_key's parts, encoded (ngx_http_mcp_key_encode()) to
 * cctx->encoded: what both the entry's field in Redis and its name in the
 * node's first layer are made of.  With the default key and no
 * authenticated subject, the Authorization header the registry sees is a
 * part too: callers who present different credentials never share an
 * entry (it is hashed, never stored).
 */

ngx_int_t
ngx_http_mcp_cache_key_parts(ngx_http_request_t *r, ngx_http_mcp_cache_ctx_t *cctx)
{
    u_char                          *p;
    ngx_uint_t                       n;
    ngx_array_t                     *key;
    ngx_http_variable_value_t       *v, *sub;
    ngx_http_mcp_cache_key_part_t   *part;
    ngx_http_mcp_cache_loc_conf_t   *lcf;
    ngx_http_mcp_cache_main_conf_t  *mcf;
    ngx_http_mcp_key_part_t          parts[NGX_HTTP_MCP_CACHE_KEY_PARTS + 2];

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_cache_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_mcp_cache_module);

    key = lcf->key ? lcf->key : mcf->default_key;
    part = key->elts;

    for (n = 0; n < key->nelts; n++) {

        if (part[n].index == -1) {
            parts[n].data = part[n].text.data;
            parts[n].len = part[n].text.len;
            continue;
        }

        v = ngx_http_get_indexed_variable(r, part[n].index);

        if (v == NULL || v->not_found) {
            parts[n].data = NULL;
            parts[n].len = 0;

        } else {
            parts[n].data = v->data;
            parts[n].len = v->len;
        }
    }

    if (lcf->key == NULL) {
        sub = ngx_http_get_indexed_variable(r, mcf->sub_index);

        if ((sub == NULL || sub->not_found || sub->len == 0)
            && r->headers_in.authorization)
        {
            parts[n].data = (u_char *) "authorization";
            parts[n++].len = sizeof("authorization") - 1;
            parts[n].data = r->headers_in.authorization->value.data;
            parts[n++].len = r->headers_in.authorization->value.len;
        }
    }

    p = ngx_pnalloc(r->pool, ngx_http_mcp_key_encoded_len(parts, n));
    if (p == NULL) {
        return NGX_ERROR;
    }

    cctx->encoded.data = p;
    cctx->encoded.len = ngx_http_mcp_key_encode(parts, n, p);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mcp cache key: %ui parts", n);

    return NGX_OK;
}


/*
 * The entry's field (ngx_http_mcp_key.c): the SHA-256 of the encoded
 * parts, which names the entry in Redis, its lock and the node's shared
 * fetch.  Only what goes beyond the node's first layer needs it: an L1 hit
 * never computes it.
 */

ngx_int_t
ngx_http_mcp_cache_field(ngx_http_request_t *r, ngx_http_mcp_cache_ctx_t *cctx)
{
    u_char      *p;
    ngx_str_t   *lock;

    if (cctx->field.len) {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_HTTP_MCP_KEY_FIELD_LEN + sizeof(":b") - 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_mcp_key_field_encoded(cctx->encoded.data, cctx->encoded.len,
                                       p)
        != 0)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mcp cache: SHA-256 failed");
        return NGX_ERROR;
    }

    ngx_memcpy(p + NGX_HTTP_MCP_KEY_FIELD_LEN, ":b", sizeof(":b") - 1);

    cctx->field.data = p;
    cctx->field.len = NGX_HTTP_MCP_KEY_FIELD_LEN;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mcp cache field: %V", &cctx->field);

    ngx_str_set(&cctx->probe[0], "HMGET");
    cctx->probe[1] = cctx->keys[NGX_HTTP_MCP_CACHE_KEY_ENTRIES];
    cctx->probe[2] = cctx->field;
    cctx->probe[3].data = p;
    cctx->probe[3].len = NGX_HTTP_MCP_KEY_FIELD_LEN + sizeof(":b") - 1;

    /* the lock key was allocated with room for the field */

    lock = &cctx->keys[NGX_HTTP_MCP_CACHE_KEY_LOCK];
    lock->len = ngx_cpymem(lock->data + lock->len, p,
                           NGX_HTTP_MCP_KEY_FIELD_LEN)
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
