
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * The Redis cache of GET answers (issue #5).  Until it lands, every
 * lookup is a miss and nothing is stored.
 */


#include "ngx_http_mcp_module.h"


/*
 * Returns NGX_DECLINED (go to the registry), NGX_OK (ctx->status and
 * ctx->out hold the cached answer), NGX_AGAIN (a lookup is under way: it
 * calls ngx_http_mcp_next() when done) or NGX_ERROR.
 */

ngx_int_t
ngx_http_mcp_cache_lookup(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx)
{
    return NGX_DECLINED;
}


/*
 * After the answer is built: stores a GET answer, or invalidates the
 * server's entries after a PUT the registry accepted.  Returns NGX_OK,
 * NGX_AGAIN (ngx_http_mcp_next() is called when done) or NGX_ERROR.
 */

ngx_int_t
ngx_http_mcp_cache_update(ngx_http_request_t *r, ngx_http_mcp_ctx_t *ctx)
{
    return NGX_OK;
}
