
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * A compact JSON serializer for jansson documents, byte for byte what
 * json_dumpb(JSON_COMPACT) writes (ngx_http_mcp_json_dump.c), and the
 * strict loader every JSON the module reads goes through
 * (ngx_http_mcp_json_load.c).  Pure C on jansson: t/unit compares the
 * writer with jansson's.
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

/* the same for a string of "len" bytes, quoted and escaped */
size_t ngx_http_mcp_json_string_size(const unsigned char *s, size_t len);
unsigned char *ngx_http_mcp_json_write_string(unsigned char *p,
    const unsigned char *s, size_t len);


/* the reason of a NUL byte, at error->position (line and column -1) */
#define NGX_HTTP_MCP_JSON_NUL  "a NUL byte, which JSON never has"

/*
 * json_loadb() with JSON_REJECT_DUPLICATES, refusing the one thing
 * jansson lets through that RFC 8259 does not: a NUL byte
 */
json_t *ngx_http_mcp_json_loadb(const char *buf, size_t len,
    json_error_t *error);

/* sets "error" for a NUL byte at "offset" (error may be NULL) */
void ngx_http_mcp_json_nul(json_error_t *error, size_t offset);


#endif /* _NGX_HTTP_MCP_JSON_H_INCLUDED_ */
