
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * Keys from a URL (mcp_auth_jwt_key_request, in the spirit of NGINX Plus's
 * auth_jwt_key_request): the JWK Set is fetched by a subrequest to an
 * internal location whose proxy_pass reaches the identity provider, so
 * TLS, timeouts, the resolver and proxy_cache are nginx's own; the module
 * has no HTTP client.
 *
 * The set is shared by the node's workers in a zone ("mcp_auth_jwt_keys"):
 * its text, checked before it is stored, and a generation bumped when the
 * text changes.  EVP_PKEYs cannot live in shared memory: each worker parses
 * the text into keys of its own once per generation
 * (ngx_http_mcp_jwks_keys.c).  One fetch at a time per source on the node
 * (a lock in the zone, taken without waiting):
 *
 *   - the very first: a subrequest the request waits for, from the access
 *     phase, as auth_request does; other requests meanwhile wait for its
 *     keys (a timer, as limit_req's delay);
 *   - afterwards: a background subrequest (NGX_HTTP_SUBREQUEST_BACKGROUND,
 *     as mirror's) started by the first request after the refresh time or
 *     with an unknown "kid" (at most once per min_refresh), which does not
 *     wait for it;
 *   - an answer that is not a usable JWK Set, or none, keeps the last good
 *     set; the failure is logged once per outage (by the node), and the
 *     next try is min_refresh later.
 */


#include "ngx_http_mcp_module.h"
#include "ngx_http_mcp_auth.h"


#define NGX_HTTP_MCP_JWKS_MAX_TEXT    (256 * 1024)
#define NGX_HTTP_MCP_JWKS_LOCK_STALE  120           /* seconds */


typedef struct {
    ngx_http_core_srv_conf_t     *cscf;
    ngx_http_mcp_jwks_source_t   *src;
} ngx_http_mcp_jwks_use_t;


typedef struct {
    ngx_http_mcp_jwks_source_t   *src;
    ngx_uint_t                    done;
} ngx_http_mcp_jwks_fetch_t;


static ngx_int_t ngx_http_mcp_jwks_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_mcp_jwks_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc);
static ngx_int_t ngx_http_mcp_jwks_store(ngx_http_request_t *sr,
    ngx_http_mcp_jwks_source_t *src, u_char *reason, size_t *reason_len);
static time_t ngx_http_mcp_jwks_max_age(ngx_http_request_t *sr,
    ngx_http_mcp_jwks_source_t *src);
static void ngx_http_mcp_jwks_failed(ngx_http_request_t *sr,
    ngx_http_mcp_jwks_source_t *src, u_char *reason, size_t len);
static void ngx_http_mcp_jwks_cleanup(void *data);
static void ngx_http_mcp_jwks_unlock(ngx_http_mcp_jwks_source_t *src);
static ngx_int_t ngx_http_mcp_jwks_internal(ngx_http_request_t *r);


static ngx_str_t  ngx_http_mcp_jwks_zone_name =
    ngx_string("mcp_auth_jwt_keys");


/*
 * mcp_auth_jwt_key_request <uri> [type=jwks] [issuer=<iss>] ...
 *     [refresh=<time>] [min_refresh=<time>] [max_refresh=<time>];
 */

char *
ngx_http_mcp_jwks_key_request(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mcp_auth_loc_conf_t *alcf = conf;

    u_char                          *p;
    time_t                           t, *tp;
    ngx_str_t                       *value, s;
    ngx_uint_t                       i, j, type, n;
    ngx_array_t                     *issuers;
    ngx_http_mcp_jwt_str_t          *iss;
    ngx_http_mcp_jwks_source_t      *src, **srcp;
    ngx_http_mcp_auth_main_conf_t   *amcf;

    value = cf->args->elts;

    if (value[1].len < 2 || value[1].data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid key request URI \"%V\": the URI of an "
                           "internal location, such as \"/_jwks/idp\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    src = ngx_pcalloc(cf->pool, sizeof(ngx_http_mcp_jwks_source_t));
    if (src == NULL) {
        return NGX_CONF_ERROR;
    }

    src->refresh = 600;
    src->min_refresh = 30;
    src->max_refresh = 86400;

    /* the parameters of the time, then type= and issuer= */

    n = 2;

    for (i = 2; i < cf->args->nelts; i++) {

        tp = NULL;

        if (ngx_strncmp(value[i].data, "refresh=", 8) == 0) {
            tp = &src->refresh;
            s.data = value[i].data + 8;

        } else if (ngx_strncmp(value[i].data, "min_refresh=", 12) == 0) {
            tp = &src->min_refresh;
            s.data = value[i].data + 12;

        } else if (ngx_strncmp(value[i].data, "max_refresh=", 12) == 0) {
            tp = &src->max_refresh;
            s.data = value[i].data + 12;
        }

        if (tp == NULL) {
            value[n++] = value[i];
            continue;
        }

        s.len = value[i].data + value[i].len - s.data;
        t = ngx_parse_time(&s, 1);

        if (t == (time_t) NGX_ERROR || t == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid time in \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        *tp = t;
    }

    if (src->min_refresh > src->max_refresh) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"min_refresh\" is longer than \"max_refresh\"");
        return NGX_CONF_ERROR;
    }

    type = NGX_HTTP_MCP_JWK_JWKS;

    if (ngx_http_mcp_auth_key_params(cf, &value[2], n - 2, &type, &issuers)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (type != NGX_HTTP_MCP_JWK_JWKS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "a key request answers a JWK Set: \"type=jwks\" "
                           "only");
        return NGX_CONF_ERROR;
    }

    src->uri = value[1];
    src->issuers = issuers;

    p = ngx_strlchr(src->uri.data, src->uri.data + src->uri.len, '?');

    if (p) {
        src->args.data = p + 1;
        src->args.len = src->uri.data + src->uri.len - p - 1;
        src->uri.len = p - src->uri.data;
    }

    /* the source's name in the zone: its URI and issuers */

    s.len = value[1].len;
    iss = issuers ? issuers->elts : NULL;

    for (j = 0; issuers && j < issuers->nelts; j++) {
        s.len += 1 + iss[j].len;
    }

    s.data = ngx_pnalloc(cf->pool, s.len + 1);
    if (s.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(s.data, value[1].data, value[1].len);

    for (j = 0; issuers && j < issuers->nelts; j++) {
        *p++ = ' ';
        p = ngx_cpymem(p, iss[j].data, iss[j].len);
    }

    *p = '\0';
    src->name = s;

    /* one source per name in the configuration, wherever it is named */

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mcp_auth_module);

    srcp = amcf->sources.elts;

    for (i = 0; i < amcf->sources.nelts; i++) {
        if (srcp[i]->name.len != src->name.len
            || ngx_strcmp(srcp[i]->name.data, src->name.data) != 0)
        {
            continue;
        }

        if (srcp[i]->refresh != src->refresh
            || srcp[i]->min_refresh != src->min_refresh
            || srcp[i]->max_refresh != src->max_refresh)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "key request \"%V\" is made with other "
                               "refresh times elsewhere", &value[1]);
            return NGX_CONF_ERROR;
        }

        src = srcp[i];
        break;
    }

    if (i == amcf->sources.nelts) {
        srcp = ngx_array_push(&amcf->sources);
        if (srcp == NULL) {
            return NGX_CONF_ERROR;
        }

        *srcp = src;
    }

    if (alcf->sources == NGX_CONF_UNSET_PTR) {
        alcf->sources = ngx_array_create(cf->pool, 2,
                                         sizeof(ngx_http_mcp_jwks_source_t *));
        if (alcf->sources == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    srcp = alcf->sources->elts;

    for (i = 0; i < alcf->sources->nelts; i++) {
        if (srcp[i] == src) {
            return NGX_CONF_OK;
        }
    }

    srcp = ngx_array_push(alcf->sources);
    if (srcp == NULL) {
        return NGX_CONF_ERROR;
    }

    *srcp = src;

    return NGX_CONF_OK;
}


/* init_main_conf: the zone, sized for the sources */

ngx_int_t
ngx_http_mcp_jwks_zone(ngx_conf_t *cf, ngx_http_mcp_auth_main_conf_t *amcf)
{
    size_t  size;

    if (amcf->sources.nelts == 0) {
        return NGX_OK;
    }

    /* a set, and the next one while both are there */

    size = 16 * ngx_pagesize
           + amcf->sources.nelts * (2 * NGX_HTTP_MCP_JWKS_MAX_TEXT + 4096);

    amcf->zone = ngx_shared_memory_add(cf, &ngx_http_mcp_jwks_zone_name, size,
                                       &ngx_http_mcp_auth_module);
    if (amcf->zone == NULL) {
        return NGX_ERROR;
    }

    amcf->zone->init = ngx_http_mcp_jwks_init_zone;
    amcf->zone->data = amcf;

    return NGX_OK;
}


/*
 * A reload with as many sources reuses the zone: the records of the
 * sources that stay are kept (their keys serve at once), new ones are
 * added; those of sources gone stay unused (old workers may still read
 * them).
 */

static ngx_int_t
ngx_http_mcp_jwks_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_mcp_auth_main_conf_t  *oamcf = data;

    ngx_uint_t                       i;
    ngx_slab_pool_t                 *shpool;
    ngx_http_mcp_jwks_source_t     **srcp;
    ngx_http_mcp_jwks_shared_t      *sh, **head;
    ngx_http_mcp_auth_main_conf_t   *amcf;

    amcf = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (oamcf) {
        head = &oamcf->shared;

    } else {
        if (!shm_zone->shm.exists) {
            shpool->data = NULL;
            shpool->log_nomem = 0;
        }

        head = (ngx_http_mcp_jwks_shared_t **) &shpool->data;
    }

    amcf->shared = *head;
    srcp = amcf->sources.elts;

    for (i = 0; i < amcf->sources.nelts; i++) {

        for (sh = amcf->shared; sh; sh = sh->next) {
            if (sh->name_len == srcp[i]->name.len
                && ngx_strncmp(sh->name, srcp[i]->name.data, sh->name_len)
                   == 0)
            {
                break;
            }
        }

        if (sh == NULL) {
            sh = ngx_slab_calloc(shpool, sizeof(ngx_http_mcp_jwks_shared_t));
            if (sh == NULL) {
                return NGX_ERROR;
            }

            sh->name = ngx_slab_alloc(shpool, srcp[i]->name.len + 1);
            if (sh->name == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(sh->name, srcp[i]->name.data, srcp[i]->name.len + 1);
            sh->name_len = srcp[i]->name.len;

            sh->next = amcf->shared;
            amcf->shared = sh;
        }

        srcp[i]->sh = sh;
        srcp[i]->shpool = shpool;
    }

    shpool->data = amcf->shared;

    return NGX_OK;
}


/* merge: a location of this server uses these sources */

ngx_int_t
ngx_http_mcp_jwks_use(ngx_conf_t *cf, ngx_http_mcp_auth_loc_conf_t *alcf)
{
    ngx_uint_t                       i, j;
    ngx_http_mcp_jwks_use_t         *use;
    ngx_http_core_srv_conf_t        *cscf;
    ngx_http_mcp_jwks_source_t     **srcp;
    ngx_http_mcp_auth_loc_conf_t   **locp;
    ngx_http_mcp_auth_main_conf_t   *amcf;

    if (alcf->sources == NULL) {
        return NGX_OK;
    }

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mcp_auth_module);
    cscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module);

    /* its worker's key list is freed at the worker's exit */

    locp = ngx_array_push(&amcf->locations);
    if (locp == NULL) {
        return NGX_ERROR;
    }

    *locp = alcf;

    srcp = alcf->sources->elts;

    for (i = 0; i < alcf->sources->nelts; i++) {
        use = amcf->uses.elts;

        for (j = 0; j < amcf->uses.nelts; j++) {
            if (use[j].cscf == cscf && use[j].src == srcp[i]) {
                break;
            }
        }

        if (j < amcf->uses.nelts) {
            continue;
        }

        use = ngx_array_push(&amcf->uses);
        if (use == NULL) {
            return NGX_ERROR;
        }

        use->cscf = cscf;
        use->src = srcp[i];
    }

    return NGX_OK;
}


/*
 * postconfiguration: each key URI is served, in each server that uses it,
 * by an internal location; the preaccess check for what configuration
 * cannot see
 */

ngx_int_t
ngx_http_mcp_jwks_init(ngx_conf_t *cf, ngx_http_mcp_auth_main_conf_t *amcf)
{
    ngx_uint_t                  i;
    ngx_http_handler_pt        *h;
    ngx_http_mcp_jwks_use_t    *use;
    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_core_main_conf_t  *cmcf;

    if (amcf->sources.nelts == 0) {
        return NGX_OK;
    }

    use = amcf->uses.elts;

    for (i = 0; i < amcf->uses.nelts; i++) {

        if (ngx_http_mcp_internal_find(use[i].cscf, &use[i].src->uri, &clcf)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (clcf == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "no location of server \"%V\" serves the key "
                          "request \"%V\": add an internal location for it, "
                          "with proxy_pass to the identity provider's JWKS",
                          &use[i].cscf->server_name, &use[i].src->uri);
            return NGX_ERROR;
        }

        if (!clcf->internal) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "the key request \"%V\" is served by location "
                          "\"%V\" of server \"%V\", which is not internal: "
                          "add \"internal;\" to it",
                          &use[i].src->uri, &clcf->name,
                          &use[i].cscf->server_name);
            return NGX_ERROR;
        }
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_mcp_jwks_internal;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mcp_jwks_internal(ngx_http_request_t *r)
{
    /* the auth module's context on a subrequest is a key fetch's */

    if (r == r->main
        || ngx_http_get_module_ctx(r, ngx_http_mcp_auth_module) == NULL)
    {
        return NGX_DECLINED;
    }

    return ngx_http_mcp_internal_refuse(r, "key");
}


/* the node's one fetch of this source: NGX_OK if this worker may start it */

ngx_int_t
ngx_http_mcp_jwks_lock(ngx_http_mcp_jwks_source_t *src)
{
    time_t                       now;
    ngx_atomic_uint_t            pid;
    ngx_http_mcp_jwks_shared_t  *sh;

    sh = src->sh;
    now = ngx_time();
    pid = sh->lock;

    if (pid == 0) {
        if (!ngx_atomic_cmp_set(&sh->lock, 0, ngx_pid)) {
            return NGX_BUSY;
        }

    } else {

        /* a worker that died with it, or a fetch that never ended */

        if (now - sh->lock_time < NGX_HTTP_MCP_JWKS_LOCK_STALE
            || !ngx_atomic_cmp_set(&sh->lock, pid, ngx_pid))
        {
            return NGX_BUSY;
        }
    }

    sh->lock_time = now;

    return NGX_OK;
}


static void
ngx_http_mcp_jwks_unlock(ngx_http_mcp_jwks_source_t *src)
{
    (void) ngx_atomic_cmp_set(&src->sh->lock, ngx_pid, 0);
}


/*
 * The subrequest, the lock taken: waited (the first fetch: the request
 * goes on when it is done) or in the background (the request does not
 * wait).  Its answer is kept in memory (subrequest_output_buffer_size of
 * the key location), never sent.
 */

ngx_int_t
ngx_http_mcp_jwks_fetch(ngx_http_request_t *r, ngx_http_mcp_jwks_source_t *src,
    ngx_uint_t waited)
{
    ngx_uint_t                    flags;
    ngx_pool_cleanup_t           *cln;
    ngx_http_request_t           *sr;
    ngx_http_mcp_jwks_fetch_t    *f;
    ngx_http_post_subrequest_t   *ps;

    f = ngx_pcalloc(r->pool, sizeof(ngx_http_mcp_jwks_fetch_t));
    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (f == NULL || ps == NULL || cln == NULL) {
        ngx_http_mcp_jwks_unlock(src);
        return NGX_ERROR;
    }

    f->src = src;

    /* a request that ends before its subrequest: the lock goes back */

    cln->handler = ngx_http_mcp_jwks_cleanup;
    cln->data = f;

    ps->handler = ngx_http_mcp_jwks_done;
    ps->data = f;

    flags = NGX_HTTP_SUBREQUEST_IN_MEMORY
            | (waited ? NGX_HTTP_SUBREQUEST_WAITED
                      : NGX_HTTP_SUBREQUEST_BACKGROUND);

    if (ngx_http_subrequest(r, &src->uri, src->args.len ? &src->args : NULL,
                            &sr, ps, flags)
        != NGX_OK)
    {
        f->done = 1;
        ngx_http_mcp_jwks_unlock(src);
        return NGX_ERROR;
    }

    ngx_http_set_ctx(sr, f, ngx_http_mcp_auth_module);

    /*
     * nothing of the client's goes to the identity provider: no headers
     * (its token, its cookies), no body
     */

    ngx_memzero(&sr->headers_in, sizeof(ngx_http_headers_in_t));

    if (ngx_list_init(&sr->headers_in.headers, r->pool, 1,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    sr->headers_in.content_length_n = -1;
    sr->headers_in.keep_alive_n = -1;
    sr->request_body = NULL;
    sr->method = NGX_HTTP_GET;

    (void) ngx_atomic_fetch_add(&src->sh->fetches, 1);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mcp jwks fetch \"%V\"%s", &src->uri,
                   waited ? "" : " in the background");

    return NGX_OK;
}


/* the subrequest is done: a usable set is stored, or the last one kept */

static ngx_int_t
ngx_http_mcp_jwks_done(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_http_mcp_jwks_fetch_t *f = data;

    u_char      *p;
    size_t       len;
    ngx_uint_t   status;
    u_char       reason[256];

    if (f->done) {
        return rc;
    }

    f->done = 1;

    status = sr->headers_out.status;
    len = 0;

    if (rc == NGX_ERROR || rc >= NGX_HTTP_SPECIAL_RESPONSE
        || status != NGX_HTTP_OK)
    {
        if (status == 0 || status == NGX_HTTP_OK) {
            status = (rc >= NGX_HTTP_SPECIAL_RESPONSE) ? (ngx_uint_t) rc
                                                       : 500;
        }

        p = ngx_snprintf(reason, sizeof(reason), "status %ui%s", status,
                         (status == 500)
                         ? " (an answer larger than the location's "
                           "subrequest_output_buffer_size?)" : "");
        len = p - reason;

    } else if (ngx_http_mcp_jwks_store(sr, f->src, reason, &len) == NGX_OK) {
        ngx_http_mcp_jwks_unlock(f->src);
        return rc;
    }

    ngx_http_mcp_jwks_failed(sr, f->src, reason, len);
    ngx_http_mcp_jwks_unlock(f->src);

    return rc;
}


/*
 * A usable JWK Set (at least one key this module verifies with) goes into
 * the zone, its generation bumped if it changed; the next refresh is set
 * from its Cache-Control max-age, within the source's bounds
 */

static ngx_int_t
ngx_http_mcp_jwks_store(ngx_http_request_t *sr,
    ngx_http_mcp_jwks_source_t *src, u_char *reason, size_t *reason_len)
{
    u_char                      *text, *old;
    size_t                       len;
    time_t                       now;
    ngx_buf_t                   *b;
    ngx_pool_t                  *pool;
    ngx_uint_t                   nkeys, changed;
    ngx_array_t                 *keys;
    ngx_http_mcp_jwks_shared_t  *sh;

    b = sr->out ? sr->out->buf : NULL;

    if (b == NULL || b->last == b->pos) {
        *reason_len = ngx_snprintf(reason, 256, "an empty answer") - reason;
        return NGX_ERROR;
    }

    len = b->last - b->pos;

    if (len > NGX_HTTP_MCP_JWKS_MAX_TEXT) {
        *reason_len = ngx_snprintf(reason, 256, "an answer over 256k")
                      - reason;
        return NGX_ERROR;
    }

    /* checked as a worker will parse it; its skipped keys said once */

    if (ngx_http_mcp_jwks_parse(src, b->pos, len, 0, &pool, &keys, reason,
                                reason_len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    nkeys = keys->nelts;
    ngx_destroy_pool(pool);

    sh = src->sh;
    now = ngx_time();

    ngx_shmtx_lock(&src->shpool->mutex);

    changed = (sh->text == NULL || sh->len != len
               || ngx_memcmp(sh->text, b->pos, len) != 0);

    if (changed) {
        text = ngx_slab_alloc_locked(src->shpool, len);

        if (text == NULL) {
            ngx_shmtx_unlock(&src->shpool->mutex);
            *reason_len = ngx_snprintf(reason, 256, "no room in the zone")
                          - reason;
            return NGX_ERROR;
        }

        ngx_memcpy(text, b->pos, len);

        old = sh->text;
        sh->text = text;
        sh->len = len;
        sh->nkeys = nkeys;

        if (old) {
            ngx_slab_free_locked(src->shpool, old);
        }

        (void) ngx_atomic_fetch_add(&sh->generation, 1);
    }

    sh->fetched = now;
    sh->refresh_at = now + ngx_http_mcp_jwks_max_age(sr, src);

    if (sh->failing) {
        ngx_log_error(NGX_LOG_NOTICE, sr->connection->log, 0,
                      "the keys of \"%V\" are fetched again, after %T s",
                      &src->name, now - sh->failing);
        sh->failing = 0;
    }

    ngx_shmtx_unlock(&src->shpool->mutex);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                   "mcp jwks \"%V\": %ui keys, %s", &src->uri, nkeys,
                   changed ? "changed" : "unchanged");

    return NGX_OK;
}


/* Cache-Control: max-age=<n> of the answer, or "refresh=" */

static time_t
ngx_http_mcp_jwks_max_age(ngx_http_request_t *sr,
    ngx_http_mcp_jwks_source_t *src)
{
    u_char           *p, *last;
    time_t            age;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    age = src->refresh;

    if (sr->upstream == NULL) {
        goto done;
    }

    part = &sr->upstream->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0 || h[i].key.len != sizeof("Cache-Control") - 1
            || ngx_strncasecmp(h[i].key.data, (u_char *) "Cache-Control",
                               sizeof("Cache-Control") - 1)
               != 0)
        {
            continue;
        }

        last = h[i].value.data + h[i].value.len;
        p = ngx_strlcasestrn(h[i].value.data, last, (u_char *) "max-age=",
                             8 - 1);
        if (p == NULL) {
            continue;
        }

        p += 8;
        age = 0;

        while (p < last && *p >= '0' && *p <= '9' && age < 100000000) {
            age = age * 10 + (*p++ - '0');
        }

        break;
    }

done:

    return ngx_max(src->min_refresh, ngx_min(age, src->max_refresh));
}


/* once per outage for the node, however many workers fail */

static void
ngx_http_mcp_jwks_failed(ngx_http_request_t *sr,
    ngx_http_mcp_jwks_source_t *src, u_char *reason, size_t len)
{
    time_t                       now;
    ngx_uint_t                   first;
    ngx_http_mcp_jwks_shared_t  *sh;

    sh = src->sh;
    now = ngx_time();

    (void) ngx_atomic_fetch_add(&sh->failures, 1);

    ngx_shmtx_lock(&src->shpool->mutex);

    first = (sh->failing == 0);

    if (first) {
        sh->failing = now;
    }

    sh->refresh_at = now + src->min_refresh;

    ngx_shmtx_unlock(&src->shpool->mutex);

    if (first) {
        ngx_log_error(NGX_LOG_ERR, sr->connection->log, 0,
                      "the keys of \"%V\" could not be fetched: %*s; %s, "
                      "tried again every %T s", &src->name, len, reason,
                      src->sh->text ? "the last good keys are kept"
                                    : "there are no keys yet",
                      src->min_refresh);
    }
}


static void
ngx_http_mcp_jwks_cleanup(void *data)
{
    ngx_http_mcp_jwks_fetch_t *f = data;

    if (f->done) {
        return;
    }

    /* the request went before its fetch was done: tried again later */

    f->done = 1;

    ngx_shmtx_lock(&f->src->shpool->mutex);
    f->src->sh->refresh_at = ngx_time() + f->src->min_refresh;
    ngx_shmtx_unlock(&f->src->shpool->mutex);

    ngx_http_mcp_jwks_unlock(f->src);
}
