
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * A worker's keys from a URL, per request of a location that has key
 * requests (mcp_auth_jwt_key_request), before its token is verified:
 *
 *   - each source's generation in the zone is read without a lock; when it
 *     is not the one this worker parsed, the set's text is copied out under
 *     the zone's mutex and parsed into keys of the worker's own (parsed once
 *     per worker per change), the old ones freed with their pool, and the
 *     worker's verified-token cache emptied (its entries name keys);
 *   - the location's policy gets its static keys and its sources' keys
 *     when any of them changed in this worker (an epoch);
 *   - a source that never had keys is fetched, the request waiting (only
 *     the very first); a refresh that is due is started in the background;
 *   - a token whose "kid" no key has starts a background fetch, at most
 *     once per min_refresh.
 *
 * Locations without key requests never come here: their cost is one test.
 */


#include "ngx_http_mcp_module.h"
#include "ngx_http_mcp_auth.h"


#define NGX_HTTP_MCP_JWKS_POLL      50             /* ms */
#define NGX_HTTP_MCP_JWKS_WAIT      10000          /* ms, for a first fetch */


static ngx_int_t ngx_http_mcp_jwks_sync(ngx_http_request_t *r,
    ngx_http_mcp_jwks_source_t *src);
static ngx_int_t ngx_http_mcp_jwks_policy(ngx_http_request_t *r,
    ngx_http_mcp_auth_loc_conf_t *alcf);
static void ngx_http_mcp_jwks_delay(ngx_http_request_t *r);


/* changes whenever a source's keys change in this worker */
static ngx_uint_t  ngx_http_mcp_jwks_epoch = 1;


/*
 * NGX_OK: the policy has the keys there are; NGX_AGAIN: the request waits
 * for a first fetch; NGX_DECLINED: no keys at all (a 503); NGX_ERROR.
 */

ngx_int_t
ngx_http_mcp_jwks_keys(ngx_http_request_t *r,
    ngx_http_mcp_auth_loc_conf_t *alcf, ngx_http_mcp_auth_ctx_t *ctx)
{
    time_t                        now;
    ngx_int_t                     rc;
    ngx_uint_t                    i, missing;
    ngx_http_mcp_jwks_source_t  **srcp, *src;

    srcp = alcf->sources->elts;
    now = ngx_time();
    missing = 0;

    for (i = 0; i < alcf->sources->nelts; i++) {
        src = srcp[i];

        if (src->sh->generation != src->generation) {
            if (ngx_http_mcp_jwks_sync(r, src) != NGX_OK) {
                return NGX_ERROR;
            }
        }

        if (src->keys == NULL) {
            missing = 1;
            continue;
        }

        /* due: the next request starts it, and does not wait for it */

        if (now >= src->sh->refresh_at
            && ngx_http_mcp_jwks_lock(src) == NGX_OK
            && ngx_http_mcp_jwks_fetch(r, src, 0) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (missing) {

        /* one source after the other, each once for a request */

        for (i = 0; i < alcf->sources->nelts && i < 32; i++) {
            src = srcp[i];

            if (src->keys || now < src->sh->refresh_at
                || (ctx->fetched & (1u << i)))
            {
                continue;
            }

            /* the very first fetch: this request waits for it */

            if (ngx_http_mcp_jwks_lock(src) == NGX_OK) {
                if (ngx_http_mcp_jwks_fetch(r, src, 1) != NGX_OK) {
                    return NGX_ERROR;
                }

                ctx->fetched |= 1u << i;
                return NGX_AGAIN;
            }

            /* another request's: wait for its keys, a while */

            if (ctx->deadline == 0) {
                ctx->deadline = ngx_current_msec + NGX_HTTP_MCP_JWKS_WAIT;
            }

            if ((ngx_msec_int_t) (ctx->deadline - ngx_current_msec) <= 0) {
                break;
            }

            r->read_event_handler = ngx_http_test_reading;
            r->write_event_handler = ngx_http_mcp_jwks_delay;
            r->connection->write->delayed = 1;
            ngx_add_timer(r->connection->write, NGX_HTTP_MCP_JWKS_POLL);

            return NGX_AGAIN;
        }
    }

    if (alcf->epoch != ngx_http_mcp_jwks_epoch
        && ngx_http_mcp_jwks_policy(r, alcf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = (alcf->policy.nkeys == 0) ? NGX_DECLINED : NGX_OK;

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mcp auth: no keys from the key requests yet");
    }

    return rc;
}


/* as limit_req's delay: back to the phases when the timer is done */

static void
ngx_http_mcp_jwks_delay(ngx_http_request_t *r)
{
    ngx_event_t  *wev;

    wev = r->connection->write;

    if (wev->delayed) {
        if (ngx_handle_write_event(wev, 0) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        return;
    }

    if (ngx_handle_read_event(r->connection->read, 0) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
}


/* the zone's text of a source, parsed into this worker's keys */

static ngx_int_t
ngx_http_mcp_jwks_sync(ngx_http_request_t *r, ngx_http_mcp_jwks_source_t *src)
{
    u_char                         *text;
    size_t                          len, rlen;
    ngx_pool_t                     *pool;
    ngx_array_t                    *keys;
    ngx_atomic_uint_t               gen;
    ngx_http_mcp_auth_main_conf_t  *amcf;
    u_char                          reason[256];

    ngx_shmtx_lock(&src->shpool->mutex);

    gen = src->sh->generation;
    len = src->sh->len;
    text = len ? ngx_pnalloc(r->pool, len) : NULL;

    if (text) {
        ngx_memcpy(text, src->sh->text, len);
    }

    ngx_shmtx_unlock(&src->shpool->mutex);

    /* the one generation this worker parses, whatever comes of it */

    src->generation = gen;

    if (text == NULL) {
        return len ? NGX_ERROR : NGX_OK;
    }

    /* the fetching worker said what it skipped: quiet here */

    if (ngx_http_mcp_jwks_parse(src, text, len, 1, &pool, &keys, reason,
                                &rlen)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "the keys of \"%V\" could not be read in this worker: "
                      "%*s", &src->name, rlen, reason);
        return NGX_OK;
    }

    if (src->pool) {
        ngx_destroy_pool(src->pool);
    }

    src->pool = pool;
    src->keys = keys;

    ngx_http_mcp_jwks_epoch++;

    /* the cache names keys: those of the set before are gone */

    amcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_auth_module);

    if (amcf->cache) {
        ngx_http_mcp_jwt_cache_flush(amcf->cache);
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mcp jwks \"%V\" generation %uA: %ui keys",
                   &src->uri, gen, keys->nelts);

    return NGX_OK;
}


/*
 * A JWK Set's text into keys in a pool of their own, bound to the
 * source's issuers: NGX_OK, or NGX_ERROR with the reason.  The parsers
 * of ngx_http_mcp_jwk.c run as at configuration time, on a configuration
 * of their own (no file: ngx_conf_log_error() logs plainly).
 */

ngx_int_t
ngx_http_mcp_jwks_parse(ngx_http_mcp_jwks_source_t *src, u_char *text,
    size_t len, ngx_uint_t quiet, ngx_pool_t **pool, ngx_array_t **keys,
    u_char *reason, size_t *reason_len)
{
    ngx_int_t                    rc;
    ngx_str_t                    data;
    ngx_uint_t                   i;
    ngx_conf_t                   cf;
    ngx_http_mcp_jwt_key_t     **k;
    ngx_http_mcp_jwk_capture_t   cap;

    *reason_len = 0;

    *pool = ngx_create_pool(4096, ngx_cycle->log);
    if (*pool == NULL) {
        return NGX_ERROR;
    }

    *keys = ngx_array_create(*pool, 4, sizeof(ngx_http_mcp_jwt_key_t *));
    if (*keys == NULL) {
        ngx_destroy_pool(*pool);
        return NGX_ERROR;
    }

    ngx_memzero(&cf, sizeof(ngx_conf_t));

    cf.pool = *pool;
    cf.temp_pool = *pool;
    cf.cycle = (ngx_cycle_t *) ngx_cycle;
    cf.log = ngx_cycle->log;

    data.data = text;
    data.len = len;

    ngx_http_mcp_jwk_capture_start(&cap, &cf, quiet);

    rc = ngx_http_mcp_jwk_parse_set(&cf, &src->name, &data, *keys);

    ngx_http_mcp_jwk_capture_stop(&cap, &cf);

    if (rc != NGX_OK) {
        *reason_len = ngx_min(cap.len, 255);
        ngx_memcpy(reason, cap.reason, *reason_len);
        ngx_destroy_pool(*pool);
        *pool = NULL;
        return NGX_ERROR;
    }

    k = (*keys)->elts;

    for (i = 0; src->issuers && i < (*keys)->nelts; i++) {
        k[i]->issuers = src->issuers->elts;
        k[i]->nissuers = src->issuers->nelts;
    }

    return NGX_OK;
}


/*
 * The location's keys: its own (files) and its sources' of now.  The
 * algorithms: those of the keys, within mcp_auth_jwt_algorithms.
 */

static ngx_int_t
ngx_http_mcp_jwks_policy(ngx_http_request_t *r,
    ngx_http_mcp_auth_loc_conf_t *alcf)
{
    unsigned                      algs;
    ngx_uint_t                    i, j, n;
    ngx_http_mcp_jwt_key_t      **keys, **k;
    ngx_http_mcp_jwks_source_t  **srcp;

    n = alcf->keys ? alcf->keys->nelts : 0;
    srcp = alcf->sources->elts;

    for (i = 0; i < alcf->sources->nelts; i++) {
        n += srcp[i]->keys ? srcp[i]->keys->nelts : 0;
    }

    keys = ngx_alloc((n + 1) * sizeof(ngx_http_mcp_jwt_key_t *),
                     r->connection->log);
    if (keys == NULL) {
        return NGX_ERROR;
    }

    n = 0;

    if (alcf->keys) {
        k = alcf->keys->elts;

        for (j = 0; j < alcf->keys->nelts; j++) {
            keys[n++] = k[j];
        }
    }

    for (i = 0; i < alcf->sources->nelts; i++) {
        if (srcp[i]->keys == NULL) {
            continue;
        }

        k = srcp[i]->keys->elts;

        for (j = 0; j < srcp[i]->keys->nelts; j++) {
            keys[n++] = k[j];
        }
    }

    algs = 0;

    for (i = 0; i < n; i++) {
        algs |= keys[i]->algs;
    }

    if (alcf->algorithms) {
        algs &= alcf->algorithms;
    }

    if (alcf->dynamic) {
        ngx_free(alcf->dynamic);
    }

    alcf->dynamic = keys;
    alcf->policy.keys = keys;
    alcf->policy.nkeys = n;
    alcf->policy.algs = algs;
    alcf->epoch = ngx_http_mcp_jwks_epoch;

    return NGX_OK;
}


/* a token's kid that no key has: the provider may have rotated */

void
ngx_http_mcp_jwks_unknown_kid(ngx_http_request_t *r,
    ngx_http_mcp_auth_loc_conf_t *alcf)
{
    time_t                        now;
    ngx_uint_t                    i;
    ngx_http_mcp_jwks_source_t  **srcp, *src;

    srcp = alcf->sources->elts;
    now = ngx_time();

    for (i = 0; i < alcf->sources->nelts; i++) {
        src = srcp[i];

        if (now < src->sh->unknown_kid_at
            || ngx_http_mcp_jwks_lock(src) != NGX_OK)
        {
            continue;
        }

        ngx_shmtx_lock(&src->shpool->mutex);

        /* taken by another worker's fetch meanwhile */

        if (now < src->sh->unknown_kid_at) {
            ngx_shmtx_unlock(&src->shpool->mutex);
            (void) ngx_atomic_cmp_set(&src->sh->lock, ngx_pid, 0);
            continue;
        }

        src->sh->unknown_kid_at = now + src->min_refresh;

        ngx_shmtx_unlock(&src->shpool->mutex);

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mcp auth: a token's \"kid\" is not among the keys of "
                      "\"%V\": they are fetched again", &src->name);

        (void) ngx_http_mcp_jwks_fetch(r, src, 0);
    }
}


void
ngx_http_mcp_jwks_exit(ngx_http_mcp_auth_main_conf_t *amcf)
{
    ngx_uint_t                     i;
    ngx_http_mcp_jwks_source_t   **srcp;
    ngx_http_mcp_auth_loc_conf_t **locp;

    locp = amcf->locations.elts;

    for (i = 0; i < amcf->locations.nelts; i++) {
        if (locp[i]->dynamic) {
            ngx_free(locp[i]->dynamic);
            locp[i]->dynamic = NULL;
        }
    }

    srcp = amcf->sources.elts;

    for (i = 0; i < amcf->sources.nelts; i++) {
        if (srcp[i]->pool) {
            ngx_destroy_pool(srcp[i]->pool);
            srcp[i]->pool = NULL;
            srcp[i]->keys = NULL;
        }
    }
}
