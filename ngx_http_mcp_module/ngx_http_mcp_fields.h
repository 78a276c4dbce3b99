
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * The canonical names of the fields a PUT body sets ($mcp_changed_fields,
 * the write audit), never their values (ngx_http_mcp_fields.c).  Pure C on
 * jansson.
 */


#ifndef _NGX_HTTP_MCP_FIELDS_H_INCLUDED_
#define _NGX_HTTP_MCP_FIELDS_H_INCLUDED_


#include <stddef.h>
#include <jansson.h>

#include "ngx_http_mcp_vendor.h"


/*
 * The names the body of a PUT sets (a canonical update when "canonical",
 * else the vendor's own body), sorted, each once, separated by ",", e.g.
 * "auth.api_key,name"; written to "buf" when it has room for them
 * ("len" bytes).  Returns their length: call with buf NULL to measure.
 */
size_t ngx_http_mcp_fields_set(const ngx_http_mcp_vendor_t *vendor,
    json_t *body, int canonical, char *buf, size_t len);


#endif /* _NGX_HTTP_MCP_FIELDS_H_INCLUDED_ */
