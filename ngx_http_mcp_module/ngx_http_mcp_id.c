
/*
 * Copyright (C) ngx_http_mcp_module authors
 */


#include <string.h>

#include "ngx_http_mcp_id.h"


typedef struct {
    const char  *name;
    const char  *path;
} ngx_http_mcp_vendor_desc_t;


static const ngx_http_mcp_vendor_desc_t  ngx_http_mcp_vendors[] = {
    { "kambrium", "/api/v1/mcp-servers/" },
    { "barndoor", "/api/servers/" },
    { "gatana",   "/api/v1/mcp-servers/" },
};


int
ngx_http_mcp_vendor_by_name(const unsigned char *name, size_t len)
{
    int  v;

    for (v = 0; v < NGX_HTTP_MCP_VENDOR_MAX; v++) {
        if (strlen(ngx_http_mcp_vendors[v].name) == len
            && memcmp(ngx_http_mcp_vendors[v].name, name, len) == 0)
        {
            return v;
        }
    }

    return -1;
}


const char *
ngx_http_mcp_vendor_name(int vendor)
{
    if (vendor < 0 || vendor >= NGX_HTTP_MCP_VENDOR_MAX) {
        return "unknown";
    }

    return ngx_http_mcp_vendors[vendor].name;
}


const char *
ngx_http_mcp_vendor_path(int vendor)
{
    if (vendor < 0 || vendor >= NGX_HTTP_MCP_VENDOR_MAX) {
        return NULL;
    }

    return ngx_http_mcp_vendors[vendor].path;
}


static int
ngx_http_mcp_is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
           || (c >= 'A' && c <= 'F');
}


/* Kambrium: an integer ("123") or a prefixed string ("srv_123abc") */

static int
ngx_http_mcp_kambrium_id_valid(const unsigned char *id, size_t len)
{
    size_t  i;

    if (len > 4 && memcmp(id, "srv_", 4) == 0) {
        for (i = 4; i < len; i++) {
            if (!((id[i] >= '0' && id[i] <= '9')
                  || (id[i] >= 'a' && id[i] <= 'z')
                  || (id[i] >= 'A' && id[i] <= 'Z')))
            {
                return 0;
            }
        }

        return 1;
    }

    /* a positive integer that fits in 63 bits: at most 18 digits */

    if (len == 0 || len > 18 || id[0] == '0') {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (id[i] < '0' || id[i] > '9') {
            return 0;
        }
    }

    return 1;
}


/* Barndoor: a UUID in its canonical 8-4-4-4-12 form */

static int
ngx_http_mcp_barndoor_id_valid(const unsigned char *id, size_t len)
{
    size_t  i;

    if (len != 36) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (id[i] != '-') {
                return 0;
            }

        } else if (!ngx_http_mcp_is_hex(id[i])) {
            return 0;
        }
    }

    return 1;
}


/* Gatana: a slug, ^[-a-z0-9]+$, at most 20 characters */

static int
ngx_http_mcp_gatana_id_valid(const unsigned char *id, size_t len)
{
    size_t  i;

    if (len == 0 || len > 20) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!(id[i] == '-'
              || (id[i] >= 'a' && id[i] <= 'z')
              || (id[i] >= '0' && id[i] <= '9')))
        {
            return 0;
        }
    }

    return 1;
}


int
ngx_http_mcp_id_valid(int vendor, const unsigned char *id, size_t len)
{
    if (id == NULL || len > NGX_HTTP_MCP_ID_MAX_LEN) {
        return 0;
    }

    switch (vendor) {

    case NGX_HTTP_MCP_KAMBRIUM:
        return ngx_http_mcp_kambrium_id_valid(id, len);

    case NGX_HTTP_MCP_BARNDOOR:
        return ngx_http_mcp_barndoor_id_valid(id, len);

    case NGX_HTTP_MCP_GATANA:
        return ngx_http_mcp_gatana_id_valid(id, len);

    default:
        return 0;
    }
}
