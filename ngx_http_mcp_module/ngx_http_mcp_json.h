
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * A compact JSON serializer for jansson documents, byte for byte what
 * json_dumpb(JSON_COMPACT) writes (ngx_http_mcp_json_dump.c).  Pure C on
 * jansson: t/unit compares the two.
 *
 * What json_dumpb() checks and this does not: a document must have no
 * cycle (it recurses), and its strings and keys must be valid UTF-8 (it
 * writes them as they are).  Both hold for every document the module
 * writes: jansson parsed it (depth-limited, UTF-8 checked) or the module
 * built it with jansson's checking constructors, never the _nocheck ones.
 */


#ifndef _NGX_HTTP_MCP_JSON_H_INCLUDED_
#define _NGX_HTTP_MCP_JSON_H_INCLUDED_


#include <stddef.h>
#include <jansson.h>


/* the exact size of the text, 0 if a value cannot be written */
size_t ngx_http_mcp_json_dump_size(json_t *json);

/* writes the text at "p", which has room for it; returns its end */
unsigned char *ngx_http_mcp_json_dump_write(unsigned char *p, json_t *json);


#endif /* _NGX_HTTP_MCP_JSON_H_INCLUDED_ */
