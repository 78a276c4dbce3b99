
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * The "mcp_metrics" location: the node's counters in the Prometheus text
 * format (0.0.4), or in OpenMetrics 1.0 when the client's Accept asks for
 * "application/openmetrics-text" (as Prometheus does).  The two differ
 * where OpenMetrics says: a counter's family is named without "_total"
 * (its samples have it), build information is an "info" family, and the
 * answer ends with "# EOF".  docs/metrics.md is the reference.
 *
 * Every series a configuration can have is shown from the start, at 0;
 * none depends on a server id or a caller.
 */


#include "ngx_http_mcp_metrics.h"
#include "ngx_http_mcp_auth.h"


#define NGX_HTTP_MCP_METRICS_BUF    16384
#define NGX_HTTP_MCP_METRICS_LINE   1024


typedef struct {
    ngx_http_request_t             *r;
    ngx_chain_t                    *out;
    ngx_chain_t                   **last;
    ngx_buf_t                      *b;
    ngx_uint_t                      om;         /* OpenMetrics */
    ngx_uint_t                      failed;
} ngx_http_mcp_metrics_out_t;


typedef enum {
    NGX_HTTP_MCP_METRICS_COUNTER = 0,
    NGX_HTTP_MCP_METRICS_GAUGE,
    NGX_HTTP_MCP_METRICS_HISTOGRAM,
    NGX_HTTP_MCP_METRICS_INFO
} ngx_http_mcp_metrics_type_e;


typedef struct {
    ngx_atomic_t                   *buckets;    /* not cumulative */
    ngx_uint_t                      n;          /* bounds; one more bucket */
    const char *const              *le;
    ngx_atomic_uint_t               sum;
    ngx_uint_t                      digits;     /* 3: ms, 6: us */
} ngx_http_mcp_metrics_hist_t;


static void ngx_http_mcp_metrics_page(ngx_http_mcp_metrics_out_t *o,
    ngx_http_mcp_metrics_main_conf_t *mcf);
static void ngx_http_mcp_metrics_requests(ngx_http_mcp_metrics_out_t *o,
    ngx_http_mcp_metrics_main_conf_t *mcf, ngx_http_mcp_registry_t *reg);
static void ngx_http_mcp_metrics_cache(ngx_http_mcp_metrics_out_t *o,
    ngx_http_mcp_metrics_main_conf_t *mcf, ngx_http_mcp_registry_t *reg);
static void ngx_http_mcp_metrics_registries(ngx_http_mcp_metrics_out_t *o,
    ngx_http_mcp_metrics_main_conf_t *mcf, ngx_http_mcp_registry_t *reg);
static void ngx_http_mcp_metrics_auth_out(ngx_http_mcp_metrics_out_t *o,
    ngx_http_mcp_metrics_node_t *node);
static void ngx_http_mcp_metrics_key_sources(ngx_http_mcp_metrics_out_t *o);
static void ngx_http_mcp_metrics_redis(ngx_http_mcp_metrics_out_t *o,
    ngx_http_mcp_metrics_node_t *node);
static ngx_uint_t ngx_http_mcp_metrics_alive(
    ngx_http_mcp_metrics_worker_t *w);
static void ngx_http_mcp_metrics_family(ngx_http_mcp_metrics_out_t *o,
    const char *name, ngx_uint_t type, const char *help);
static void ngx_http_mcp_metrics_histogram(ngx_http_mcp_metrics_out_t *o,
    const char *name, ngx_str_t *labels, ngx_http_mcp_metrics_hist_t *h);
static void ngx_http_mcp_metrics_label(ngx_http_mcp_metrics_out_t *o,
    const char *name, u_char *value, size_t len);
static void ngx_http_mcp_metrics_printf(ngx_http_mcp_metrics_out_t *o,
    const char *fmt, ...);
static u_char *ngx_http_mcp_metrics_reserve(ngx_http_mcp_metrics_out_t *o,
    size_t size);
static ngx_uint_t ngx_http_mcp_metrics_wants_om(ngx_http_request_t *r);


static ngx_str_t  ngx_http_mcp_metrics_text_type =
    ngx_string("text/plain; version=0.0.4; charset=utf-8");
static ngx_str_t  ngx_http_mcp_metrics_om_type =
    ngx_string("application/openmetrics-text; version=1.0.0; charset=utf-8");


static const char *const  ngx_http_mcp_metrics_routes[] = {
    "native", "canonical"
};

static const char *const  ngx_http_mcp_metrics_methods[] = {
    "GET", "HEAD", "PUT", "OTHER"
};

static const char *const  ngx_http_mcp_metrics_codes[] = {
    "1xx", "2xx", "3xx", "4xx", "5xx"
};

static const char *const  ngx_http_mcp_metrics_cache_results[] = {
    "hit", "miss", "bypass", "expired", "stale", "error", "other"
};

static const char *const  ngx_http_mcp_metrics_failures[] = {
    "connect", "timeout", "http_5xx", "bad_answer"
};

static const char *const  ngx_http_mcp_metrics_outcomes[] = {
    "ok", "missing", "invalid", "expired", "insufficient_scope"
};

static const char *const  ngx_http_mcp_metrics_key_types[] = {
    "jwks", "pem", "hmac"
};

static const char *const  ngx_http_mcp_metrics_registry_le[] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5",
    "5.0", "10.0", "+Inf"
};

static const char *const  ngx_http_mcp_metrics_redis_le[] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01",
    "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "+Inf"
};


ngx_int_t
ngx_http_mcp_metrics_handler(ngx_http_request_t *r)
{
    off_t                              len;
    ngx_int_t                          rc;
    ngx_chain_t                       *cl;
    ngx_http_mcp_metrics_out_t         o;
    ngx_http_mcp_metrics_main_conf_t  *mcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mcp_metrics_module);

    if (mcf->node == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&o, sizeof(ngx_http_mcp_metrics_out_t));

    o.r = r;
    o.last = &o.out;
    o.om = ngx_http_mcp_metrics_wants_om(r);

    ngx_http_mcp_metrics_page(&o, mcf);

    if (o.failed) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = 0;

    for (cl = o.out; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_type = o.om ? ngx_http_mcp_metrics_om_type
                                       : ngx_http_mcp_metrics_text_type;
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = len;

    if (r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    o.b->last_buf = 1;
    o.b->last_in_chain = 1;

    return ngx_http_output_filter(r, o.out);
}


static void
ngx_http_mcp_metrics_page(ngx_http_mcp_metrics_out_t *o,
    ngx_http_mcp_metrics_main_conf_t *mcf)
{
    ngx_http_mcp_registry_t   *reg;
    ngx_http_mcp_main_conf_t  *mmcf;

    mmcf = ngx_http_get_module_main_conf(o->r, ngx_http_mcp_module);
    reg = mmcf->registries.elts;

    ngx_http_mcp_metrics_family(o, "mcp_gateway_build",
                                NGX_HTTP_MCP_METRICS_INFO,
                                "The module's and nginx's versions.");
    ngx_http_mcp_metrics_printf(o, "mcp_gateway_build_info{version=\""
                                NGX_HTTP_MCP_VERSION "\",nginx_version=\""
                                NGINX_VERSION "\"} 1\n");

    ngx_http_mcp_metrics_family(o, "mcp_gateway_config_load_timestamp_seconds",
                                NGX_HTTP_MCP_METRICS_GAUGE,
                                "When the running configuration, and the "
                                "key files, were read (Unix time).");
    ngx_http_mcp_metrics_printf(o, "mcp_gateway_config_load_timestamp_"
                                "seconds %T\n", mcf->loaded);

    ngx_http_mcp_metrics_requests(o, mcf, reg);
    ngx_http_mcp_metrics_auth_out(o, mcf->node);
    ngx_http_mcp_metrics_key_sources(o);
    ngx_http_mcp_metrics_cache(o, mcf, reg);
    ngx_http_mcp_metrics_registries(o, mcf, reg);
    ngx_http_mcp_metrics_redis(o, mcf->node);

    if (o->om) {
        ngx_http_mcp_metrics_printf(o, "# EOF\n");
    }
}


static void
ngx_http_mcp_metrics_requests(ngx_http_mcp_metrics_out_t *o,
    ngx_http_mcp_metrics_main_conf_t *mcf, ngx_http_mcp_registry_t *reg)
{
    ngx_str_t                         name;
    ngx_uint_t                        i, route, method, code;
    ngx_http_mcp_metrics_registry_t  *c;

    ngx_http_mcp_metrics_family(o, "mcp_gateway_requests",
                                NGX_HTTP_MCP_METRICS_COUNTER,
                                "Requests to the registry routes, by "
                                "registry, route, method and status class.");

    for (i = 0; i <= mcf->nregistries; i++) {
        c = mcf->registries[i];

        if (i < mcf->nregistries) {
            name = reg[i].name;

        } else {
            ngx_str_null(&name);
        }

        for (route = 0; route < NGX_HTTP_MCP_METRICS_ROUTES; route++) {

            /* a native route always names its registry */

            if (i == mcf->nregistries && route == 0) {
                continue;
            }

            for (method = 0; method < NGX_HTTP_MCP_METRICS_METHODS; method++) {
                for (code = 0; code < NGX_HTTP_MCP_METRICS_CODES; code++) {
                    ngx_http_mcp_metrics_printf(o,
                        "mcp_gateway_requests_total{registry=\"%V\","
                        "route=\"%s\",method=\"%s\",code=\"%s\"} %uA\n",
                        &name, ngx_http_mcp_metrics_routes[route],
                        ngx_http_mcp_metrics_methods[method],
                        ngx_http_mcp_metrics_codes[code],
                        c->requests[route][method][code]);
                }
            }
        }
    }
}


static void
ngx_http_mcp_metrics_auth_out(ngx_http_mcp_metrics_out_t *o,
    ngx_http_mcp_metrics_node_t *node)
{
    ngx_uint_t                      i;
    ngx_http_mcp_auth_file_t       *file;
    ngx_http_mcp_auth_main_conf_t  *amcf;

    ngx_http_mcp_metrics_family(o, "mcp_gateway_auth_outcomes",
                                NGX_HTTP_MCP_METRICS_COUNTER,
                                "Bearer token checks, by outcome ($mcp_auth_"
                                "status): ok, or why the caller was refused.");

    for (i = 0; i < NGX_HTTP_MCP_METRICS_AUTH; i++) {
        ngx_http_mcp_metrics_printf(o, "mcp_gateway_auth_outcomes_total"
                                    "{outcome=\"%s\"} %uA\n",
                                    ngx_http_mcp_metrics_outcomes[i],
                                    node->auth[i]);
    }

    ngx_http_mcp_metrics_family(o, "mcp_gateway_auth_token_cache_lookups",
                                NGX_HTTP_MCP_METRICS_COUNTER,
                                "Lookups in the workers' caches of verified "
                                "tokens: a hit spares a signature check.");
    ngx_http_mcp_metrics_printf(o, "mcp_gateway_auth_token_cache_lookups_total"
                                "{result=\"hit\"} %uA\n"
                                "mcp_gateway_auth_token_cache_lookups_total"
                                "{result=\"miss\"} %uA\n",
                                node->token_cache[0], node->token_cache[1]);

    amcf = ngx_http_get_module_main_conf(o->r, ngx_http_mcp_auth_module);

    ngx_http_mcp_metrics_family(o, "mcp_gateway_auth_keys",
                                NGX_HTTP_MCP_METRICS_GAUGE,
                                "Verification keys read from each key file "
                                "when the configuration was loaded.");

    file = amcf->files.elts;

    for (i = 0; i < amcf->files.nelts; i++) {

        /* a file read again for other issuers: the same keys */

        if (file[i].again) {
            continue;
        }

        ngx_http_mcp_metrics_printf(o, "mcp_gateway_auth_keys{");
        ngx_http_mcp_metrics_label(o, "file", file[i].name.data,
                                   file[i].name.len);
        ngx_http_mcp_metrics_printf(o, ",type=\"%s\"} %ui\n",
                                    ngx_http_mcp_metrics_key_types[
                                        file[i].type % 3],
                                    file[i].keys->nelts);
    }
}


/* the JWK Sets from URLs (mcp_auth_jwt_key_request), from their zone */

static void
ngx_http_mcp_metrics_key_sources(ngx_http_mcp_metrics_out_t *o)
{
    ngx_uint_t                       i, m;
    ngx_http_mcp_jwks_source_t     **src;
    ngx_http_mcp_jwks_shared_t      *sh;
    ngx_http_mcp_auth_main_conf_t   *amcf;

    static const char  *names[] = {
        "mcp_gateway_auth_key_source_keys",
        "mcp_gateway_auth_key_source_refresh_timestamp_seconds",
        "mcp_gateway_auth_key_source_fetches",
        "mcp_gateway_auth_key_source_failures"
    };

    static const char  *helps[] = {
        "Usable keys in the last good JWK Set of each key request.",
        "When each key request last got a usable JWK Set (Unix time; 0: "
            "never).",
        "Fetches of each key request's JWK Set.",
        "Fetches of each key request that got no usable JWK Set (the last "
            "good keys were kept)."
    };

    amcf = ngx_http_get_module_main_conf(o->r, ngx_http_mcp_auth_module);
    src = amcf->sources.elts;

    for (m = 0; m < 4; m++) {
        ngx_http_mcp_metrics_family(o, names[m],
                                    (m < 2) ? NGX_HTTP_MCP_METRICS_GAUGE
                                            : NGX_HTTP_MCP_METRICS_COUNTER,
                                    helps[m]);

        for (i = 0; i < amcf->sources.nelts; i++) {
            sh = src[i]->sh;

            if (sh == NULL) {
                continue;
            }

            ngx_http_mcp_metrics_printf(o, "%s%s{", names[m],
                                        (m < 2) ? "" : "_total");
            ngx_http_mcp_metrics_label(o, "source", src[i]->name.data,
                                       src[i]->name.len);

            switch (m) {
            case 0:
                ngx_http_mcp_metrics_printf(o, "} %ui\n", sh->nkeys);
                break;
            case 1:
                ngx_http_mcp_metrics_printf(o, "} %T\n", sh->fetched);
                break;
            case 2:
                ngx_http_mcp_metrics_printf(o, "} %uA\n", sh->fetches);
                break;
            default:
                ngx_http_mcp_metrics_printf(o, "} %uA\n", sh->failures);
                break;
            }
        }
    }
}


static void
ngx_http_mcp_metrics_cache(ngx_http_mcp_metrics_out_t *o,
    ngx_http_mcp_metrics_main_conf_t *mcf, ngx_http_mcp_registry_t *reg)
{
    ngx_uint_t                        i, j;
    ngx_http_mcp_metrics_node_t      *node;
    ngx_http_mcp_metrics_registry_t  *c;

    ngx_http_mcp_metrics_family(o, "mcp_gateway_cache_results",
                                NGX_HTTP_MCP_METRICS_COUNTER,
                                "GET and HEAD requests, by registry and what "
                                "the cache did ($mcp_cache_status).");

    for (i = 0; i < mcf->nregistries; i++) {
        c = mcf->registries[i];

        for (j = 0; j < NGX_HTTP_MCP_METRICS_CACHE; j++) {

            if (j == NGX_HTTP_MCP_METRICS_CACHE_OTHER && c->cache[j] == 0) {
                continue;
            }

            ngx_http_mcp_metrics_printf(o, "mcp_gateway_cache_results_total"
                                        "{registry=\"%V\",result=\"%s\"} "
                                        "%uA\n", &reg[i].name,
                                        ngx_http_mcp_metrics_cache_results[j],
                                        c->cache[j]);
        }
    }

    node = mcf->node;

    ngx_http_mcp_metrics_family(o, "mcp_gateway_cache_l1_hits",
                                NGX_HTTP_MCP_METRICS_COUNTER,
                                "Hits served from the node's L1 cache, "
                                "without Redis (counted in the hits above "
                                "too).");
    ngx_http_mcp_metrics_printf(o, "mcp_gateway_cache_l1_hits_total %uA\n",
                                node->l1_hits);

    ngx_http_mcp_metrics_family(o, "mcp_gateway_cache_invalidations",
                                NGX_HTTP_MCP_METRICS_COUNTER,
                                "Invalidations after an accepted PUT: done, "
                                "or failed (kept and sent again later).");

    for (i = 0; i < mcf->nregistries; i++) {
        c = mcf->registries[i];

        ngx_http_mcp_metrics_printf(o, "mcp_gateway_cache_invalidations_total"
                                    "{registry=\"%V\",result=\"ok\"} %uA\n"
                                    "mcp_gateway_cache_invalidations_total"
                                    "{registry=\"%V\",result=\"failed\"} "
                                    "%uA\n", &reg[i].name,
                                    c->invalidations[0], &reg[i].name,
                                    c->invalidations[1]);
    }

    ngx_http_mcp_metrics_family(o, "mcp_gateway_cache_invalidations_replayed",
                                NGX_HTTP_MCP_METRICS_COUNTER,
                                "Failed invalidations sent again once Redis "
                                "answered.");
    ngx_http_mcp_metrics_printf(o, "mcp_gateway_cache_invalidations_replayed"
                                "_total %uA\n", node->replayed);

    ngx_http_mcp_metrics_family(o, "mcp_gateway_cache_invalidations_pending",
                                NGX_HTTP_MCP_METRICS_GAUGE,
                                "Failed invalidations the node keeps until "
                                "Redis answers: their servers are not served "
                                "from the cache meanwhile.");
    ngx_http_mcp_metrics_printf(o, "mcp_gateway_cache_invalidations_pending "
                                "%uA\n", node->pending);
}


static void
ngx_http_mcp_metrics_registries(ngx_http_mcp_metrics_out_t *o,
    ngx_http_mcp_metrics_main_conf_t *mcf, ngx_http_mcp_registry_t *reg)
{
    u_char                            *p;
    ngx_str_t                          labels;
    ngx_uint_t                         i, j;
    ngx_http_mcp_metrics_hist_t        h;
    ngx_http_mcp_metrics_registry_t   *c;
    u_char                             buf[128];

    ngx_http_mcp_metrics_family(o, "mcp_gateway_registry_request_duration_"
                                "seconds",
                                NGX_HTTP_MCP_METRICS_HISTOGRAM,
                                "How long the registries took to answer the "
                                "gateway ($upstream_response_time of its "
                                "subrequests).");

    for (i = 0; i < mcf->nregistries; i++) {
        c = mcf->registries[i];

        p = ngx_snprintf(buf, sizeof(buf), "registry=\"%V\",", &reg[i].name);
        labels.data = buf;
        labels.len = p - buf;

        h.buckets = c->latency;
        h.n = NGX_HTTP_MCP_METRICS_REGISTRY_BUCKETS;
        h.le = ngx_http_mcp_metrics_registry_le;
        h.sum = c->latency_ms;
        h.digits = 3;

        ngx_http_mcp_metrics_histogram(o,
                               "mcp_gateway_registry_request_duration_seconds",
                               &labels, &h);
    }

    ngx_http_mcp_metrics_family(o, "mcp_gateway_registry_failures",
                                NGX_HTTP_MCP_METRICS_COUNTER,
                                "Registry requests that failed, by kind: "
                                "connect (no status line), timeout, http_5xx, "
                                "bad_answer (the gateway made a 502).");

    for (i = 0; i < mcf->nregistries; i++) {
        c = mcf->registries[i];

        for (j = 0; j < NGX_HTTP_MCP_METRICS_FAILURES; j++) {
            ngx_http_mcp_metrics_printf(o, "mcp_gateway_registry_failures_"
                                        "total{registry=\"%V\",kind=\"%s\"} "
                                        "%uA\n",
                                        &reg[i].name,
                                        ngx_http_mcp_metrics_failures[j],
                                        c->failures[j]);
        }
    }
}


static void
ngx_http_mcp_metrics_redis(ngx_http_mcp_metrics_out_t *o,
    ngx_http_mcp_metrics_node_t *node)
{
    ngx_str_t                       labels;
    ngx_uint_t                      i, n;
    ngx_http_mcp_metrics_hist_t     h;
    ngx_http_mcp_metrics_worker_t  *w;
    ngx_http_mcp_metrics_worker_t  *latest[NGX_HTTP_MCP_METRICS_WORKERS];

    ngx_http_mcp_metrics_family(o, "mcp_gateway_redis_up",
                                NGX_HTTP_MCP_METRICS_GAUGE,
                                "Whether each worker's Redis connection is "
                                "ready (1) or not (0).");

    /* a worker number's latest live process (a reload overlaps two) */

    ngx_memzero(latest, sizeof(latest));
    n = 0;

    for (i = 0; i < NGX_HTTP_MCP_METRICS_WORKERS; i++) {
        w = &node->workers[i];

        if (w->worker >= NGX_HTTP_MCP_METRICS_WORKERS
            || !ngx_http_mcp_metrics_alive(w))
        {
            continue;
        }

        if (latest[w->worker] == NULL || latest[w->worker]->seq < w->seq) {
            latest[w->worker] = w;
            n = ngx_max(n, w->worker + 1);
        }
    }

    for (i = 0; i < n; i++) {
        if (latest[i] && latest[i]->redis) {
            ngx_http_mcp_metrics_printf(o, "mcp_gateway_redis_up"
                                        "{worker=\"%ui\"} %d\n", i,
                                        latest[i]->redis == 2);
        }
    }

    ngx_http_mcp_metrics_family(o, "mcp_gateway_redis_commands",
                                NGX_HTTP_MCP_METRICS_COUNTER,
                                "Commands sent to Redis: answered (ok), or "
                                "failed (an error, a timeout, a lost "
                                "connection).");
    ngx_http_mcp_metrics_printf(o, "mcp_gateway_redis_commands_total"
                                "{result=\"ok\"} %uA\n"
                                "mcp_gateway_redis_commands_total"
                                "{result=\"failed\"} %uA\n",
                                node->redis_commands[0],
                                node->redis_commands[1]);

    ngx_http_mcp_metrics_family(o, "mcp_gateway_redis_command_duration_"
                                "seconds",
                                NGX_HTTP_MCP_METRICS_HISTOGRAM,
                                "How long Redis commands took, from sending "
                                "to the reply or the failure.");

    ngx_str_null(&labels);

    h.buckets = node->redis_latency;
    h.n = NGX_HTTP_MCP_METRICS_REDIS_BUCKETS;
    h.le = ngx_http_mcp_metrics_redis_le;
    h.sum = node->redis_latency_us;
    h.digits = 6;

    ngx_http_mcp_metrics_histogram(o, "mcp_gateway_redis_command_duration_"
                                   "seconds", &labels, &h);
}


/* a worker's gauges: claimed by a process that still runs (not crashed) */

static ngx_uint_t
ngx_http_mcp_metrics_alive(ngx_http_mcp_metrics_worker_t *w)
{
    ngx_pid_t  pid;

    pid = (ngx_pid_t) w->pid;

    return pid != 0
           && (pid == ngx_pid || kill(pid, 0) == 0 || ngx_errno != NGX_ESRCH);
}


/* HELP and TYPE: OpenMetrics names a counter's family without "_total" */

static void
ngx_http_mcp_metrics_family(ngx_http_mcp_metrics_out_t *o, const char *name,
    ngx_uint_t type, const char *help)
{
    const char  *suffix, *tname;

    static const char *const  types[] = {
        "counter", "gauge", "histogram", "info"
    };

    suffix = "";
    tname = types[type];

    if (!o->om) {
        if (type == NGX_HTTP_MCP_METRICS_COUNTER) {
            suffix = "_total";

        } else if (type == NGX_HTTP_MCP_METRICS_INFO) {
            suffix = "_info";
            tname = "gauge";
        }
    }

    ngx_http_mcp_metrics_printf(o, "# HELP %s%s %s\n# TYPE %s%s %s\n",
                                name, suffix, help, name, suffix, tname);
}


/*
 * Buckets made cumulative here, and _count their total: one reading of
 * each bucket, so that _count is the +Inf bucket whatever is added
 * meanwhile.
 */

static void
ngx_http_mcp_metrics_histogram(ngx_http_mcp_metrics_out_t *o,
    const char *name, ngx_str_t *labels, ngx_http_mcp_metrics_hist_t *h)
{
    u_char            *p;
    ngx_uint_t         i;
    ngx_atomic_uint_t  total;
    u_char             sum[NGX_ATOMIC_T_LEN + 8];

    total = 0;

    for (i = 0; i <= h->n; i++) {
        total += h->buckets[i];

        ngx_http_mcp_metrics_printf(o, "%s_bucket{%Vle=\"%s\"} %uA\n",
                                    name, labels, h->le[i], total);
    }

    /* in seconds */

    if (h->digits == 3) {
        p = ngx_sprintf(sum, "%uA.%03uA", h->sum / 1000, h->sum % 1000);

    } else {
        p = ngx_sprintf(sum, "%uA.%06uA", h->sum / 1000000,
                        h->sum % 1000000);
    }

    /* the labels without their trailing comma */

    if (labels->len) {
        ngx_http_mcp_metrics_printf(o, "%s_sum{%*s} %*s\n"
                                    "%s_count{%*s} %uA\n",
                                    name, labels->len - 1, labels->data,
                                    p - sum, sum,
                                    name, labels->len - 1, labels->data,
                                    total);

    } else {
        ngx_http_mcp_metrics_printf(o, "%s_sum %*s\n%s_count %uA\n",
                                    name, p - sum, sum, name, total);
    }
}


/* name="value", the value escaped as both formats want */

static void
ngx_http_mcp_metrics_label(ngx_http_mcp_metrics_out_t *o, const char *name,
    u_char *value, size_t len)
{
    u_char  *p;
    size_t   i;

    p = ngx_http_mcp_metrics_reserve(o, ngx_strlen(name) + 2 * len + 4);
    if (p == NULL) {
        return;
    }

    p = ngx_sprintf(p, "%s=\"", name);

    for (i = 0; i < len; i++) {
        switch (value[i]) {

        case '\\':
        case '"':
            *p++ = '\\';
            *p++ = value[i];
            break;

        case '\n':
            *p++ = '\\';
            *p++ = 'n';
            break;

        default:
            *p++ = value[i];
        }
    }

    *p++ = '"';

    o->b->last = p;
}


static void
ngx_http_mcp_metrics_printf(ngx_http_mcp_metrics_out_t *o, const char *fmt,
    ...)
{
    u_char   *p;
    va_list   args;

    p = ngx_http_mcp_metrics_reserve(o, NGX_HTTP_MCP_METRICS_LINE);
    if (p == NULL) {
        return;
    }

    va_start(args, fmt);
    o->b->last = ngx_vslprintf(p, o->b->end, fmt, args);
    va_end(args);
}


/* at least "size" bytes free at o->b->last; NULL (and failed) if not */

static u_char *
ngx_http_mcp_metrics_reserve(ngx_http_mcp_metrics_out_t *o, size_t size)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (o->failed) {
        return NULL;
    }

    if (o->b && (size_t) (o->b->end - o->b->last) >= size) {
        return o->b->last;
    }

    b = ngx_create_temp_buf(o->r->pool,
                            ngx_max(size, NGX_HTTP_MCP_METRICS_BUF));
    cl = ngx_alloc_chain_link(o->r->pool);

    if (b == NULL || cl == NULL) {
        o->failed = 1;
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;
    *o->last = cl;
    o->last = &cl->next;
    o->b = b;

    return b->last;
}


/* OpenMetrics when the client's Accept names it (Prometheus's does) */

static ngx_uint_t
ngx_http_mcp_metrics_wants_om(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    static ngx_str_t  accept = ngx_string("Accept");
    static u_char     om[] = "application/openmetrics-text";

    h = ngx_http_mcp_metrics_header(r, &accept);

    return h != NULL
           && ngx_strlcasestrn(h->value.data, h->value.data + h->value.len,
                               om, sizeof(om) - 2)
              != NULL;
}
