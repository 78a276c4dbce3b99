
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * A vendor: everything the module knows of one registry API, in one
 * descriptor that every other file reads.  Adding a vendor is one file
 * (ngx_http_mcp_vendor_<name>.c, defining its descriptor) and one line in
 * the table of ngx_http_mcp_vendor.c.
 *
 * Pure C on jansson: no nginx types, so that t/unit and t/fuzz link the
 * vendors without an nginx tree.
 */


#ifndef _NGX_HTTP_MCP_VENDOR_H_INCLUDED_
#define _NGX_HTTP_MCP_VENDOR_H_INCLUDED_


#include <stddef.h>
#include <jansson.h>

#include "ngx_http_mcp_doc.h"


/* the longest server id any vendor accepts in a path */
#define NGX_HTTP_MCP_ID_MAX_LEN   64

#define NGX_HTTP_MCP_MAP_ERR_LEN  256


/* why a body was refused: names fields and rules, never values */

typedef struct {
    char    text[NGX_HTTP_MCP_MAP_ERR_LEN];
} ngx_http_mcp_map_err_t;


/*
 * A field of a native PUT body and the canonical field it sets
 * ($mcp_changed_fields): "transportConfig.url" is the member "url" of the
 * object "transportConfig".
 */

typedef struct {
    const char          *native;
    const char          *canonical;
} ngx_http_mcp_vendor_field_t;


typedef struct {
    /* "mcp_registry ... vendor=<name>", $mcp_vendor, extensions.<name> */
    const char          *name;

    /* the native path up to the id: "/api/v1/mcp-servers/" */
    const char          *path;

    /*
     * 1 if "id" (len bytes) has the form of the vendor's path parameter;
     * then its one spelling, the one that keys the cache and goes to the
     * vendor, is written to "canonical" (len bytes too)
     */
    int                (*id_canonical)(const unsigned char *id, size_t len,
                                       unsigned char *canonical);

    /*
     * the detail of the vendor's own 404 for an unknown id: an
     * ngx_sprintf() format where "%V" is the id, if it names it
     */
    const char          *not_found;

    /* 0 if a 2xx answer has the vendor's shape (body is an object) */
    int                (*check_answer)(json_t *body,
                                       ngx_http_mcp_map_err_t *err);

    /*
     * an answer of that shape (envelope included) -> canonical fields, in
     * a document pointing into the answer (ngx_http_mcp_doc.h)
     */
    int                (*to_canonical)(json_t *body,
                                       ngx_http_mcp_obj_t *server,
                                       ngx_http_mcp_map_err_t *err);

    /* a checked canonical update -> the vendor's PUT body */
    json_t            *(*from_canonical)(json_t *update,
                                         ngx_http_mcp_map_err_t *err);

    /* the vendor's own rules for its PUT body */
    int                (*check_native)(json_t *body,
                                       ngx_http_mcp_map_err_t *err);

    /*
     * removes, in place, the secrets of a vendor answer that the generic
     * scrub (any key named like a secret, at any depth) does not: NULL if
     * none
     */
    void               (*redact)(json_t *body);

    /*
     * the objects the vendor's docs call credentials (Gatana's
     * "serverCredentials"), wherever they are in an answer, and the
     * members its docs show them to have that describe the credential
     * (whether a token is set, when it expires) rather than hold it.
     * Every other member of such an object is a secret, whatever its
     * name; so are those of any object named "...credentials".  Names
     * are compared as the scrub compares them: case, "_" and "-" aside.
     */
    const char *const   *credentials;
    const char *const   *credential_fields;

    /*
     * what a canonical update cannot set on this vendor (fields, auth.*
     * fields), and the extensions.<name>.* fields it can: checked by
     * ngx_http_mcp_map_update() before from_canonical()
     */
    const char *const   *refused;
    const char *const   *refused_auth;
    const char *const   *extensions;

    /*
     * the canonical names of a native PUT body's fields, {NULL, NULL}
     * last; a field not listed is extensions.<name>.<field>
     */
    const ngx_http_mcp_vendor_field_t  *native_fields;
} ngx_http_mcp_vendor_t;


extern const ngx_http_mcp_vendor_t  ngx_http_mcp_vendor_kambrium;
extern const ngx_http_mcp_vendor_t  ngx_http_mcp_vendor_barndoor;
extern const ngx_http_mcp_vendor_t  ngx_http_mcp_vendor_gatana;

/* every vendor, NULL-terminated */
extern const ngx_http_mcp_vendor_t *const  ngx_http_mcp_vendors[];


/* the vendor of that name, or NULL */
const ngx_http_mcp_vendor_t *ngx_http_mcp_vendor_find(
    const unsigned char *name, size_t len);

/* 1 if "id" is a server id of the vendor (a NULL canonical: just check) */
int ngx_http_mcp_vendor_id(const ngx_http_mcp_vendor_t *vendor,
    const unsigned char *id, size_t len, unsigned char *canonical);


#endif /* _NGX_HTTP_MCP_VENDOR_H_INCLUDED_ */
