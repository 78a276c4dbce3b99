
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * The table of vendors.  A new vendor is one line here and its file.
 */


#include <string.h>

#include "ngx_http_mcp_vendor.h"


const ngx_http_mcp_vendor_t *const  ngx_http_mcp_vendors[] = {
    &ngx_http_mcp_vendor_kambrium,
    &ngx_http_mcp_vendor_barndoor,
    &ngx_http_mcp_vendor_gatana,
    NULL
};


const ngx_http_mcp_vendor_t *
ngx_http_mcp_vendor_find(const unsigned char *name, size_t len)
{
    const ngx_http_mcp_vendor_t *const  *v;

    for (v = ngx_http_mcp_vendors; *v; v++) {
        if (strlen((*v)->name) == len && memcmp((*v)->name, name, len) == 0) {
            return *v;
        }
    }

    return NULL;
}


int
ngx_http_mcp_vendor_id(const ngx_http_mcp_vendor_t *vendor,
    const unsigned char *id, size_t len, unsigned char *canonical)
{
    unsigned char  buf[NGX_HTTP_MCP_ID_MAX_LEN];

    if (id == NULL || len == 0 || len > NGX_HTTP_MCP_ID_MAX_LEN) {
        return 0;
    }

    return vendor->id_canonical(id, len, canonical ? canonical : buf);
}
