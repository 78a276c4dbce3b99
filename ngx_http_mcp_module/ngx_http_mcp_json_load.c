
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * JSON taken only if it is strictly RFC 8259.  jansson is strict but for
 * one byte: a raw NUL between tokens is skipped like white space, so
 * {"agent_enabled":true\0,"name":"n"} parsed here while the registry,
 * and libjwt (which reads C strings), refuse it.  A NUL byte is never
 * JSON: not between tokens (RFC 8259, 2: only space, tab, CR and LF are),
 * not raw in a string (control characters are escaped), so one memchr()
 * over the text, before jansson, closes the gap at no measurable cost.
 */


#include <string.h>

#include "ngx_http_mcp_json.h"


json_t *
ngx_http_mcp_json_loadb(const char *buf, size_t len, json_error_t *error)
{
    const char  *nul;

    nul = memchr(buf, '\0', len);

    if (nul != NULL) {
        ngx_http_mcp_json_nul(error, nul - buf);
        return NULL;
    }

    return json_loadb(buf, len, JSON_REJECT_DUPLICATES, error);
}


void
ngx_http_mcp_json_nul(json_error_t *error, size_t offset)
{
    if (error == NULL) {
        return;
    }

    memset(error, 0, sizeof(json_error_t));

    error->line = -1;
    error->column = -1;
    error->position = (int) offset;

    strcpy(error->text, NGX_HTTP_MCP_JSON_NUL);
}
