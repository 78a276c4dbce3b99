
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * mcp_auth_jwt_require: claims a token must have, and conditions on their
 * values in nginx's idiom (NGINX Plus's auth_jwt_require): variables,
 * usually maps over $mcp_jwt_claim_*, each non-empty and not "0", refused
 * with the module's own 401 or 403 (ngx_http_mcp_auth_handler.c).
 */


#include "ngx_http_mcp_module.h"
#include "ngx_http_mcp_auth.h"


/*
 * mcp_auth_jwt_require claim | $variable ... [error=401|403];
 *
 * Claim names: the token must have them (not null).  Variables (nginx's
 * idiom, NGINX Plus's auth_jwt_require): each must be non-empty and not
 * "0", else the request is refused with the status of "error=" (401 by
 * default).  Several directives add up; a level with its own replaces
 * the inherited ones.
 */

char *
ngx_http_mcp_auth_require(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mcp_auth_loc_conf_t *alcf = conf;

    ngx_str_t                         *value, *s;
    ngx_uint_t                         i, n, first, status;
    ngx_http_mcp_auth_condition_t     *cond;
    ngx_http_compile_complex_value_t   ccv;

    if (alcf->require == NGX_CONF_UNSET_PTR) {
        alcf->require = ngx_array_create(cf->pool, 4, sizeof(ngx_str_t));
        alcf->conditions = ngx_array_create(cf->pool, 2,
                                        sizeof(ngx_http_mcp_auth_condition_t));

        if (alcf->require == NULL || alcf->conditions == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    value = cf->args->elts;
    status = NGX_HTTP_UNAUTHORIZED;
    first = alcf->conditions->nelts;
    n = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "error=", 6) == 0) {

            if (ngx_strcmp(value[i].data, "error=401") == 0) {
                status = NGX_HTTP_UNAUTHORIZED;

            } else if (ngx_strcmp(value[i].data, "error=403") == 0) {
                status = NGX_HTTP_FORBIDDEN;

            } else {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid parameter \"%V\": expected "
                                   "\"error=401\" or \"error=403\"",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (value[i].len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "empty value in \"%V\"", &cmd->name);
            return NGX_CONF_ERROR;
        }

        n++;

        if (value[i].data[0] != '$') {
            s = ngx_array_push(alcf->require);
            if (s == NULL) {
                return NGX_CONF_ERROR;
            }

            *s = value[i];
            continue;
        }

        cond = ngx_array_push(alcf->conditions);
        if (cond == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

        ccv.cf = cf;
        ccv.value = &value[i];
        ccv.complex_value = &cond->value;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (n == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" needs a claim or a variable", &cmd->name);
        return NGX_CONF_ERROR;
    }

    /* "error=" is the directive's, wherever it stands */

    cond = alcf->conditions->elts;

    for (i = first; i < alcf->conditions->nelts; i++) {
        cond[i].status = status;
    }

    return NGX_CONF_OK;
}


/*
 * The conditions of mcp_auth_jwt_require: each variable non-empty and not
 * "0" (NGINX Plus's auth_jwt_require).  NGX_OK, the status of the first
 * that does not hold, or NGX_ERROR.  The claims are the request's by now:
 * $mcp_jwt_claim_* (and maps over them) see them.
 */

ngx_int_t
ngx_http_mcp_auth_conditions(ngx_http_request_t *r,
    ngx_http_mcp_auth_loc_conf_t *alcf)
{
    ngx_str_t                       val;
    ngx_uint_t                      i;
    ngx_http_mcp_auth_condition_t  *cond;

    cond = alcf->conditions->elts;

    for (i = 0; i < alcf->conditions->nelts; i++) {

        if (ngx_http_complex_value(r, &cond[i].value, &val) != NGX_OK) {
            return NGX_ERROR;
        }

        if (val.len == 0 || (val.len == 1 && val.data[0] == '0')) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "mcp auth: condition #%ui of "
                          "\"mcp_auth_jwt_require\" does not hold", i + 1);

            return cond[i].status;
        }
    }

    return NGX_OK;
}
