
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * The canonical document as the mapping makes it, without a second
 * jansson tree: objects and arrays whose members point into the vendor's
 * parsed answer (borrowed, never copied) or hold a string of the
 * mapping's own.  ngx_http_mcp_map_scrub.c writes it, scrubbed, straight
 * into the client's answer; ngx_http_mcp_doc_json() makes it the jansson
 * tree that ngx_http_mcp_map_server() returns, the reference the tests
 * compare the writer with.
 *
 * An object behaves as a jansson object does, so that the vendors' code
 * reads the same and the two paths agree: setting a key that is there
 * replaces its value in place, a new key goes last, deleting one keeps
 * the others' order, keys are C strings.  What a document borrows (the
 * vendor's tree, unchanged, and the keys and strings given to it) must
 * outlive it.
 *
 * Its memory comes from jansson's allocation functions, all freed with
 * ngx_http_mcp_doc_free(): the request's pool while the module's arena is
 * set (ngx_http_mcp_json.c), malloc() in the tests.  An allocation that
 * fails leaves the document marked, and ngx_http_mcp_map_canonical()
 * refuses it.
 *
 * Pure C on jansson: no nginx types.
 */


#ifndef _NGX_HTTP_MCP_DOC_H_INCLUDED_
#define _NGX_HTTP_MCP_DOC_H_INCLUDED_


#include <stddef.h>
#include <jansson.h>


typedef struct ngx_http_mcp_doc_s    ngx_http_mcp_doc_t;
typedef struct ngx_http_mcp_obj_s    ngx_http_mcp_obj_t;
typedef struct ngx_http_mcp_block_s  ngx_http_mcp_block_t;


/* one value: exactly one of json, obj and str is set */

typedef struct {
    const char              *key;       /* NULL in an array */
    size_t                   key_len;

    json_t                  *json;      /* a value of the vendor's tree */
    ngx_http_mcp_obj_t      *obj;       /* an object or array of the doc */
    const char              *str;       /* a string of "len" bytes */
    size_t                   len;

    /*
     * the scrub's verdict, asked by the writer's first walk and read by
     * its second (ngx_http_mcp_map_scrub.c): 0 not asked yet, 1 the
     * member goes, 2 it stays, its own members named among "inner"
     */
    const char *const       *inner;
    unsigned                 scrub:2;
} ngx_http_mcp_member_t;


struct ngx_http_mcp_obj_s {
    ngx_http_mcp_doc_t      *doc;
    ngx_http_mcp_member_t   *members;
    size_t                   n;
    size_t                   size;      /* room for members */
    unsigned                 array:1;
};


struct ngx_http_mcp_doc_s {
    ngx_http_mcp_obj_t      *root;      /* an object */
    ngx_http_mcp_block_t    *blocks;    /* every allocation, to free */
    json_malloc_t            malloc;
    json_free_t              free;
    unsigned                 nomem:1;   /* an allocation failed */
};


/* a new document, its root an empty object; NULL: out of memory */
ngx_http_mcp_doc_t *ngx_http_mcp_doc_create(void);
void ngx_http_mcp_doc_free(ngx_http_mcp_doc_t *doc);

/* room of the document's own, for a string it keeps; NULL: none */
void *ngx_http_mcp_doc_alloc(ngx_http_mcp_doc_t *doc, size_t size);

/* a new, empty object or array of the document; NULL: out of memory */
ngx_http_mcp_obj_t *ngx_http_mcp_doc_object(ngx_http_mcp_doc_t *doc);
ngx_http_mcp_obj_t *ngx_http_mcp_doc_array(ngx_http_mcp_doc_t *doc);

/*
 * obj[key] = the vendor's "value", like json_object_set(): -1 if value is
 * NULL, or out of memory
 */
int ngx_http_mcp_obj_set(ngx_http_mcp_obj_t *obj, const char *key,
    json_t *value);

/* obj[key] = the "len" bytes at "s", which outlive the document */
int ngx_http_mcp_obj_set_string(ngx_http_mcp_obj_t *obj, const char *key,
    const char *s, size_t len);

/* obj[key] = a copy of the "len" bytes at "s" */
int ngx_http_mcp_obj_set_copy(ngx_http_mcp_obj_t *obj, const char *key,
    const char *s, size_t len);

/* obj[key] = "value", an object or array of the same document */
int ngx_http_mcp_obj_set_obj(ngx_http_mcp_obj_t *obj, const char *key,
    ngx_http_mcp_obj_t *value);

/* obj[key] = the value of "member" (of this document) */
int ngx_http_mcp_obj_set_member(ngx_http_mcp_obj_t *obj, const char *key,
    const ngx_http_mcp_member_t *member);

/*
 * obj[key] = value, looking for "key" among the first "first" members
 * only: for the members of a vendor's object (whose keys are unique), put
 * after those the mapping set itself
 */
int ngx_http_mcp_obj_put(ngx_http_mcp_obj_t *obj, size_t first,
    const char *key, json_t *value);

/* the member "key", or NULL; valid until the object changes */
ngx_http_mcp_member_t *ngx_http_mcp_obj_get(ngx_http_mcp_obj_t *obj,
    const char *key);

void ngx_http_mcp_obj_del(ngx_http_mcp_obj_t *obj, const char *key);

/* appends the vendor's "value" to an array */
int ngx_http_mcp_obj_append(ngx_http_mcp_obj_t *array, json_t *value);

/* a member's string (a string member: str, or a JSON string), or NULL */
const char *ngx_http_mcp_member_string(const ngx_http_mcp_member_t *member,
    size_t *len);

/* the jansson tree of an object or array (a new reference); NULL: none */
json_t *ngx_http_mcp_doc_json(ngx_http_mcp_obj_t *obj);


#endif /* _NGX_HTTP_MCP_DOC_H_INCLUDED_ */
