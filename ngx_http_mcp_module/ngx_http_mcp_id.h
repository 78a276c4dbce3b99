
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * Vendor identities and their id forms.  Pure C: no nginx types, so that
 * the unit tests in t/unit link it without an nginx tree.
 */


#ifndef _NGX_HTTP_MCP_ID_H_INCLUDED_
#define _NGX_HTTP_MCP_ID_H_INCLUDED_


#include <stddef.h>


typedef enum {
    NGX_HTTP_MCP_KAMBRIUM = 0,
    NGX_HTTP_MCP_BARNDOOR,
    NGX_HTTP_MCP_GATANA,
    NGX_HTTP_MCP_VENDOR_MAX
} ngx_http_mcp_vendor_e;


/* the longest server id any vendor accepts in a path */
#define NGX_HTTP_MCP_ID_MAX_LEN  64


int ngx_http_mcp_vendor_by_name(const unsigned char *name, size_t len);
const char *ngx_http_mcp_vendor_name(int vendor);

/* the vendor's native path up to the id: "/api/v1/mcp-servers/" etc. */
const char *ngx_http_mcp_vendor_path(int vendor);

/* 1 if "id" has the form the vendor's path parameter takes, 0 if not */
int ngx_http_mcp_id_valid(int vendor, const unsigned char *id, size_t len);


#endif /* _NGX_HTTP_MCP_ID_H_INCLUDED_ */
