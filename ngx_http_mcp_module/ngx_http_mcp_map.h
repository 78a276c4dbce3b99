
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * The canonical MCP-server schema and its mapping to and from the vendors'
 * (docs/canonical-schema.md).  Pure C on jansson: no nginx types, so that
 * t/unit tests it with every example body of the vendors' docs.
 *
 * Ownership: functions returning json_t * return a new reference the
 * caller must json_decref(); arguments are borrowed.
 */


#ifndef _NGX_HTTP_MCP_MAP_H_INCLUDED_
#define _NGX_HTTP_MCP_MAP_H_INCLUDED_


#include <stddef.h>
#include <jansson.h>

#include "ngx_http_mcp_vendor.h"


/* 0 if a 2xx answer has the vendor's shape, -1 with err if not */
int ngx_http_mcp_map_check_answer(const ngx_http_mcp_vendor_t *vendor,
    json_t *body, ngx_http_mcp_map_err_t *err);

/*
 * the canonical server object of a vendor answer, as a document pointing
 * into "body" (ngx_http_mcp_doc.h); NULL: unexpected shape, or out of
 * memory (err says which)
 */
ngx_http_mcp_doc_t *ngx_http_mcp_map_canonical(
    const ngx_http_mcp_vendor_t *vendor, const char *registry,
    size_t registry_len, const char *id, size_t id_len, json_t *body,
    ngx_http_mcp_map_err_t *err);

/* the same as a jansson tree; NULL: unexpected shape */
json_t *ngx_http_mcp_map_server(const ngx_http_mcp_vendor_t *vendor,
    const char *registry, size_t registry_len, const char *id, size_t id_len,
    json_t *body, ngx_http_mcp_map_err_t *err);

/* a canonical update -> the vendor's PUT body; NULL: 400 with err */
json_t *ngx_http_mcp_map_update(const ngx_http_mcp_vendor_t *vendor,
    json_t *update, ngx_http_mcp_map_err_t *err);

/* 0 if a native PUT body follows the vendor's rules, -1 with err if not */
int ngx_http_mcp_map_check_native(const ngx_http_mcp_vendor_t *vendor,
    json_t *body, ngx_http_mcp_map_err_t *err);

/* removes the secrets from a vendor answer in place */
void ngx_http_mcp_map_redact(const ngx_http_mcp_vendor_t *vendor,
    json_t *body);

/*
 * the vendor's own part of it, for a tree then written scrubbed
 * (ngx_http_mcp_map_write())
 */
void ngx_http_mcp_map_redact_vendor(const ngx_http_mcp_vendor_t *vendor,
    json_t *body);

/*
 * the message of a vendor's error answer ("detail", "message" or "error"),
 * borrowed from body (which may be NULL); NULL if it has none
 */
const char *ngx_http_mcp_map_error_detail(json_t *body, size_t *len);


/*
 * ngx_http_mcp_map_scrub.c: what ngx_http_mcp_map_scrub() would leave of
 * a vendor's tree, or of a canonical document, written compactly as
 * ngx_http_mcp_json_dump_write() writes a tree, without changing either:
 * the size of the text (0 if it cannot be written); the text at "p", up
 * to "end", returning its end, or NULL if it does not fit
 */
size_t ngx_http_mcp_map_write_size(const ngx_http_mcp_vendor_t *vendor,
    json_t *json);
unsigned char *ngx_http_mcp_map_write(const ngx_http_mcp_vendor_t *vendor,
    unsigned char *p, unsigned char *end, json_t *json);
size_t ngx_http_mcp_map_doc_size(const ngx_http_mcp_vendor_t *vendor,
    ngx_http_mcp_doc_t *doc);
unsigned char *ngx_http_mcp_map_doc_write(
    const ngx_http_mcp_vendor_t *vendor, unsigned char *p, unsigned char *end,
    ngx_http_mcp_doc_t *doc);


/* helpers shared by the vendor files (ngx_http_mcp_map*.c) */

/* an empty list of names */
extern const char *const  ngx_http_mcp_map_none[];

int ngx_http_mcp_map_fail(ngx_http_mcp_map_err_t *err, const char *fmt, ...);
int ngx_http_mcp_map_copy(json_t *dst, const char *dkey, json_t *src,
    const char *skey);
int ngx_http_mcp_map_field(ngx_http_mcp_obj_t *dst, const char *dkey,
    json_t *src, const char *skey);
int ngx_http_mcp_map_time(ngx_http_mcp_obj_t *dst, const char *dkey,
    json_t *src, const char *skey, ngx_http_mcp_obj_t *ext);
int ngx_http_mcp_map_rest(ngx_http_mcp_obj_t *ext, json_t *src,
    const char *const *known);
int ngx_http_mcp_map_check_types(json_t *body, const char *const *fields,
    const char *types, ngx_http_mcp_map_err_t *err);
int ngx_http_mcp_map_is_uri(const char *s);
void ngx_http_mcp_map_scrub(const ngx_http_mcp_vendor_t *vendor,
    json_t *json);
int ngx_http_mcp_map_scrub_keeps(const ngx_http_mcp_vendor_t *vendor,
    const char *key, size_t key_len, json_type type, const char *const *keep,
    const char *const **inner);
int ngx_http_mcp_map_normalize_time(const char *in, char *out, size_t len);


#endif /* _NGX_HTTP_MCP_MAP_H_INCLUDED_ */
