
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * Where the Redis of the cache is and how to log in to it: the arguments
 * of "mcp_cache_redis", read at configuration time, and what is made of
 * them once the http block is read (names, the TLS context).
 *
 *   mcp_cache_redis <host[:port]|unix:/path> [db=N] [user=U]
 *                   [password_file=F] [wait_replicas=N] [tls];
 *   mcp_cache_redis sentinel=<host[:port]> [sentinel=...] master=<name>
 *                   [db=N] [user=U] [password_file=F] [wait_replicas=N]
 *                   [sentinel_user=U] [sentinel_password_file=F] [tls];
 *   mcp_cache_redis cluster=<host[:port]> [cluster=...] [user=U]
 *                   [password_file=F] [wait_replicas=N] [tls];
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mcp_redis.h"


#define NGX_HTTP_MCP_REDIS_PASSWORD_MAX  1024


static char *ngx_http_mcp_redis_conf_addr(ngx_conf_t *cf,
    ngx_http_mcp_redis_conf_t *rc, ngx_str_t *text, in_port_t default_port);
static ngx_int_t ngx_http_mcp_redis_conf_value(ngx_str_t *value,
    const char *name, size_t len, ngx_str_t *v);
static char *ngx_http_mcp_redis_conf_password(ngx_conf_t *cf,
    ngx_str_t *name, ngx_str_t *password);
static char *ngx_http_mcp_redis_conf_resolve(ngx_conf_t *cf,
    ngx_http_mcp_redis_addr_t *addr);


char *
ngx_http_mcp_redis_conf_parse(ngx_conf_t *cf, ngx_http_mcp_redis_conf_t *rc,
    ngx_str_t *value, ngx_uint_t nvalues)
{
    u_char      *p;
    char        *rv;
    size_t       len;
    ngx_int_t    n;
    ngx_str_t    v, file, sentinel_file;
    ngx_uint_t   i, single;

    rc->addrs = ngx_array_create(cf->pool, 3,
                                 sizeof(ngx_http_mcp_redis_addr_t));
    if (rc->addrs == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_str_null(&file);
    ngx_str_null(&sentinel_file);
    single = 0;

    for (i = 1; i < nvalues; i++) {

        if (ngx_http_mcp_redis_conf_value(&value[i], "sentinel=", 9, &v)
            == NGX_OK)
        {
            if (single || rc->mode == NGX_HTTP_MCP_REDIS_CLUSTER) {
                return "takes one of an address, \"sentinel=\" or "
                       "\"cluster=\"";
            }

            rc->mode = NGX_HTTP_MCP_REDIS_SENTINEL;

            rv = ngx_http_mcp_redis_conf_addr(cf, rc, &v, 26379);
            if (rv != NGX_CONF_OK) {
                return rv;
            }

            continue;
        }

        if (ngx_http_mcp_redis_conf_value(&value[i], "cluster=", 8, &v)
            == NGX_OK)
        {
            if (single || rc->mode == NGX_HTTP_MCP_REDIS_SENTINEL) {
                return "takes one of an address, \"sentinel=\" or "
                       "\"cluster=\"";
            }

            rc->mode = NGX_HTTP_MCP_REDIS_CLUSTER;

            rv = ngx_http_mcp_redis_conf_addr(cf, rc, &v, 6379);
            if (rv != NGX_CONF_OK) {
                return rv;
            }

            continue;
        }

        if (ngx_http_mcp_redis_conf_value(&value[i], "master=", 7,
                                          &rc->master)
            == NGX_OK)
        {
            continue;
        }

        if (ngx_http_mcp_redis_conf_value(&value[i], "db=", 3, &v) == NGX_OK) {
            n = ngx_atoi(v.data, v.len);
            if (n == NGX_ERROR) {
                goto invalid;
            }

            rc->db = n;
            continue;
        }

        if (ngx_http_mcp_redis_conf_value(&value[i], "wait_replicas=", 14,
                                          &v)
            == NGX_OK)
        {
            n = ngx_atoi(v.data, v.len);
            if (n == NGX_ERROR) {
                goto invalid;
            }

            rc->wait_replicas = n;
            continue;
        }

        if (ngx_http_mcp_redis_conf_value(&value[i], "user=", 5, &rc->user)
            == NGX_OK
            || ngx_http_mcp_redis_conf_value(&value[i], "sentinel_user=", 14,
                                             &rc->sentinel_user)
               == NGX_OK
            || ngx_http_mcp_redis_conf_value(&value[i], "password_file=", 14,
                                             &file)
               == NGX_OK
            || ngx_http_mcp_redis_conf_value(&value[i],
                                             "sentinel_password_file=", 23,
                                             &sentinel_file)
               == NGX_OK)
        {
            continue;
        }

        if (value[i].len == 3 && ngx_strncmp(value[i].data, "tls", 3) == 0) {
#if (NGX_SSL)
            rc->tls = 1;
            continue;
#else
            return "\"tls\" needs nginx built with OpenSSL";
#endif
        }

        if (i == 1 && ngx_strlchr(value[i].data, value[i].data + value[i].len,
                                  '=')
                      == NULL)
        {
            single = 1;

            rv = ngx_http_mcp_redis_conf_addr(cf, rc, &value[i], 6379);
            if (rv != NGX_CONF_OK) {
                return rv;
            }

            continue;
        }

        goto invalid;
    }

    if (rc->addrs->nelts == 0) {
        return "needs an address, \"sentinel=\" or \"cluster=\"";
    }

    if (rc->mode == NGX_HTTP_MCP_REDIS_SENTINEL) {
        if (rc->master.len == 0) {
            return "needs \"master=\" with \"sentinel=\"";
        }

        if (rc->addrs->nelts > 8 * sizeof(ngx_uint_t)) {
            return "takes too many \"sentinel=\"";
        }

    } else if (rc->master.len || rc->sentinel_user.len
               || sentinel_file.len)
    {
        return "takes \"master=\" and \"sentinel_*=\" only with "
               "\"sentinel=\"";
    }

    if (rc->mode == NGX_HTTP_MCP_REDIS_CLUSTER && rc->db) {
        return "takes no \"db=\" with \"cluster=\": a cluster has database 0 "
               "only";
    }

    if (rc->user.len && file.len == 0) {
        return "needs \"password_file=\" with \"user=\"";
    }

    if (rc->sentinel_user.len && sentinel_file.len == 0) {
        return "needs \"sentinel_password_file=\" with \"sentinel_user=\"";
    }

    /* for logs, and "no cache" when empty */

    rc->name = rc->mode == NGX_HTTP_MCP_REDIS_SENTINEL
               ? rc->master
               : ((ngx_http_mcp_redis_addr_t *) rc->addrs->elts)->name;

    if (file.len) {
        rv = ngx_http_mcp_redis_conf_password(cf, &file, &rc->password);
        if (rv != NGX_CONF_OK) {
            return rv;
        }
    }

    if (sentinel_file.len) {
        return ngx_http_mcp_redis_conf_password(cf, &sentinel_file,
                                                &rc->sentinel_password);
    }

    return NGX_CONF_OK;

invalid:

    /* never echo a parameter: it might be a password given in the wrong way */

    p = ngx_strlchr(value[i].data, value[i].data + value[i].len, '=');
    len = p ? (size_t) (p - value[i].data) : value[i].len;

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%*s\" in \"mcp_cache_redis\"",
                       len, value[i].data);

    return NGX_CONF_ERROR;
}


/* "name=value": NGX_OK and the value, which must not be empty */

static ngx_int_t
ngx_http_mcp_redis_conf_value(ngx_str_t *value, const char *name, size_t len,
    ngx_str_t *v)
{
    if (value->len <= len || ngx_strncmp(value->data, name, len) != 0) {
        return NGX_DECLINED;
    }

    v->data = value->data + len;
    v->len = value->len - len;

    return NGX_OK;
}


/* host[:port] or unix:/path; a name is resolved later (conf_init) */

static char *
ngx_http_mcp_redis_conf_addr(ngx_conf_t *cf, ngx_http_mcp_redis_conf_t *rc,
    ngx_str_t *text, in_port_t default_port)
{
    ngx_url_t                   u;
    ngx_http_mcp_redis_addr_t  *addr;

    addr = ngx_array_push(rc->addrs);
    if (addr == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(addr, sizeof(ngx_http_mcp_redis_addr_t));

    addr->name = *text;

    if (text->len > 5 && ngx_strncmp(text->data, "unix:", 5) == 0) {
        addr->host.data = text->data + 5;
        addr->host.len = text->len - 5;
        return NGX_CONF_OK;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = *text;
    u.default_port = default_port;
    u.no_resolve = 1;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.host.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s in redis \"%V\"",
                           u.err ? u.err : "invalid address", text);
        return NGX_CONF_ERROR;
    }

    if (u.host.len >= NGX_HTTP_MCP_REDIS_HOST_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "too long a name in "
                           "redis \"%V\"", text);
        return NGX_CONF_ERROR;
    }

    addr->host = u.host;
    addr->port = u.port ? u.port : default_port;

    /* "[::1]": the address alone */

    if (addr->host.len > 2 && addr->host.data[0] == '[') {
        addr->host.data++;
        addr->host.len -= 2;
    }

    return NGX_CONF_OK;
}


void
ngx_http_mcp_redis_conf_create(ngx_http_mcp_redis_conf_t *conf)
{
    conf->resolve_interval = NGX_CONF_UNSET_MSEC;
    conf->ssl_verify = NGX_CONF_UNSET;
    conf->ssl_verify_depth = NGX_CONF_UNSET_UINT;
    conf->ssl_server_name = NGX_CONF_UNSET;
    conf->ssl_session_reuse = NGX_CONF_UNSET;
    conf->ssl_passwords = NGX_CONF_UNSET_PTR;
}


/*
 * Once the http block is read: the defaults, names resolved now unless
 * the block has a "resolver" (then the workers resolve them, at every
 * connect, and follow them), the TLS context.
 */

char *
ngx_http_mcp_redis_conf_init(ngx_conf_t *cf, ngx_http_mcp_redis_conf_t *conf)
{
    ngx_uint_t                 i;
    ngx_http_mcp_redis_addr_t *addr;
    ngx_http_core_loc_conf_t  *clcf;

    ngx_conf_init_msec_value(conf->resolve_interval, 5000);
    ngx_conf_init_value(conf->ssl_verify, 1);
    ngx_conf_init_uint_value(conf->ssl_verify_depth, 1);
    ngx_conf_init_value(conf->ssl_server_name, 1);
    ngx_conf_init_value(conf->ssl_session_reuse, 1);
    ngx_conf_init_ptr_value(conf->ssl_passwords, NULL);

    if (conf->ssl_protocols == 0) {
        conf->ssl_protocols = NGX_CONF_BITMASK_SET
#if (NGX_SSL)
                              |NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3
#endif
                              ;
    }

    if (conf->ssl_ciphers.data == NULL) {
        ngx_str_set(&conf->ssl_ciphers, "DEFAULT");
    }

    /*
     * the http block's resolver; without a "resolver" directive it is
     * nginx's dummy one (already made: the core module's locations are
     * merged before this module's main configuration is initialized),
     * which has no server to ask
     */

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->resolver && clcf->resolver->connections.nelts) {
        conf->resolver = clcf->resolver;
    }

    addr = conf->addrs->elts;

    for (i = 0; i < conf->addrs->nelts; i++) {
        if (addr[i].port && conf->resolver == NULL
            && ngx_http_mcp_redis_conf_resolve(cf, &addr[i]) != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

#if (NGX_SSL)

    if (conf->tls && ngx_http_mcp_redis_tls_conf(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

#endif

    return NGX_CONF_OK;
}


/* no resolver in the workers: a name's first address, found now */

static char *
ngx_http_mcp_redis_conf_resolve(ngx_conf_t *cf,
    ngx_http_mcp_redis_addr_t *addr)
{
    ngx_url_t  u;

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = addr->name;
    u.default_port = addr->port;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s in redis \"%V\"",
                           u.err ? u.err : "host not found", &addr->name);
        return NGX_CONF_ERROR;
    }

    addr->sockaddr = u.addrs[0].sockaddr;
    addr->socklen = u.addrs[0].socklen;

    ngx_inet_set_port(addr->sockaddr, addr->port);

    return NGX_CONF_OK;
}


/* mcp_cache_redis_ssl_password_file: like proxy_ssl_password_file */

char *
ngx_http_mcp_redis_conf_password_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
#if (NGX_SSL)
    ngx_array_t  **passwords;
    ngx_str_t     *value;

    passwords = (ngx_array_t **) ((char *) conf + cmd->offset);

    if (*passwords != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    *passwords = ngx_ssl_read_password_file(cf, &value[1]);

    if (*passwords == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
#else
    return "needs nginx built with OpenSSL";
#endif
}


/*
 * The Redis password lives in a file of its own (read here, in the
 * master, like ssl_password_file), never in nginx.conf, and is never
 * logged.  Trailing white space and newlines are not part of it.
 */

static char *
ngx_http_mcp_redis_conf_password(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *password)
{
    u_char           *last;
    ssize_t           n;
    ngx_str_t         path;
    ngx_file_t        file;
    ngx_file_info_t   fi;
    u_char            buf[NGX_HTTP_MCP_REDIS_PASSWORD_MAX + 1];

    path = *name;

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));

    file.name = path;
    file.log = cf->log;

    file.fd = ngx_open_file(path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%s\" failed", path.data);
        return NGX_CONF_ERROR;
    }

    n = NGX_ERROR;

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%s\" failed", path.data);
        goto done;
    }

    if (ngx_file_size(&fi) > NGX_HTTP_MCP_REDIS_PASSWORD_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "redis password file \"%s\" is too large",
                           path.data);
        goto done;
    }

    n = ngx_read_file(&file, buf, NGX_HTTP_MCP_REDIS_PASSWORD_MAX, 0);

    if (n == NGX_ERROR) {
        goto done;
    }

    last = buf + n;

    while (last > buf
           && (last[-1] == '\n' || last[-1] == '\r' || last[-1] == ' '
               || last[-1] == '\t'))
    {
        last--;
    }

    if (last == buf) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "redis password file \"%s\" is empty", path.data);
        n = NGX_ERROR;
        goto done;
    }

    password->len = last - buf;
    password->data = ngx_pnalloc(cf->pool, password->len);

    if (password->data == NULL) {
        n = NGX_ERROR;
        goto done;
    }

    ngx_memcpy(password->data, buf, password->len);

done:

    ngx_explicit_memzero(buf, sizeof(buf));

    if (ngx_close_file(file.fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%s\" failed", path.data);
    }

    return n == NGX_ERROR ? NGX_CONF_ERROR : NGX_CONF_OK;
}
