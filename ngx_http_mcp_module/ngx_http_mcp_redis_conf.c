
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * Where the Redis of the cache is and how to log in to it: the arguments
 * of "mcp_cache_redis", read at configuration time.
 */


#include "ngx_http_mcp_redis.h"


#define NGX_HTTP_MCP_REDIS_PASSWORD_MAX  1024


static char *ngx_http_mcp_redis_conf_password(ngx_conf_t *cf,
    ngx_str_t *name, ngx_str_t *password);


/*
 * mcp_cache_redis <host[:port]|unix:/path> [db=N] [wait_replicas=N] [user=U]
 *                 [password_file=F];
 */

char *
ngx_http_mcp_redis_conf_parse(ngx_conf_t *cf, ngx_http_mcp_redis_conf_t *rc,
    ngx_str_t *value, ngx_uint_t nvalues)
{
    u_char     *p;
    size_t      len;
    ngx_int_t   n;
    ngx_str_t   file;
    ngx_url_t   u;
    ngx_uint_t  i;

    if (value[1].len > 5 && ngx_strncmp(value[1].data, "unix:", 5) == 0) {
        rc->path.len = value[1].len - 5;
        rc->path.data = ngx_pnalloc(cf->pool, rc->path.len + 1);
        if (rc->path.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memcpy(rc->path.data, value[1].data + 5, rc->path.len);
        rc->path.data[rc->path.len] = '\0';

        rc->name = value[1];

    } else {
        ngx_memzero(&u, sizeof(ngx_url_t));

        u.url = value[1];
        u.default_port = 6379;

        /* resolved here, in the master: never in a worker */

        if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
            if (u.err) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "%s in redis \"%V\"", u.err, &u.url);
            }

            return NGX_CONF_ERROR;
        }

        rc->host.data = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
        if (rc->host.data == NULL) {
            return NGX_CONF_ERROR;
        }

        rc->host.len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen,
                                     rc->host.data, NGX_SOCKADDR_STRLEN, 0);
        rc->host.data[rc->host.len] = '\0';

        rc->port = ngx_inet_get_port(u.addrs[0].sockaddr);
        rc->name = u.addrs[0].name;
    }

    ngx_str_null(&file);

    for (i = 2; i < nvalues; i++) {

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {
            n = ngx_atoi(value[i].data + 3, value[i].len - 3);
            if (n == NGX_ERROR) {
                goto invalid;
            }

            rc->db = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "wait_replicas=", 14) == 0) {
            n = ngx_atoi(value[i].data + 14, value[i].len - 14);
            if (n == NGX_ERROR) {
                goto invalid;
            }

            rc->wait_replicas = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "user=", 5) == 0) {
            rc->user.data = value[i].data + 5;
            rc->user.len = value[i].len - 5;

            if (rc->user.len == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "password_file=", 14) == 0) {
            file.data = value[i].data + 14;
            file.len = value[i].len - 14;

            if (file.len == 0) {
                goto invalid;
            }

            continue;
        }

        goto invalid;
    }

    if (rc->user.len && file.len == 0) {
        return "needs \"password_file=\" with \"user=\"";
    }

    if (file.len) {
        return ngx_http_mcp_redis_conf_password(cf, &file, &rc->password);
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


