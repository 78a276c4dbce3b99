
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * The canonical document (ngx_http_mcp_doc.h): its memory, its objects
 * and arrays, and the jansson tree made of it.  An object is a table of
 * members searched in order: the mapping sets a few dozen at most, save
 * the members of a vendor's object it copies, which are put after the
 * mapping's own without a search among each other
 * (ngx_http_mcp_obj_put()).
 */


#include <string.h>

#include "ngx_http_mcp_doc.h"


struct ngx_http_mcp_block_s {
    ngx_http_mcp_block_t    *next;
};


#define NGX_HTTP_MCP_OBJ_MIN  8


static ngx_http_mcp_obj_t *ngx_http_mcp_doc_obj(ngx_http_mcp_doc_t *doc,
    unsigned array);
static int ngx_http_mcp_obj_store(ngx_http_mcp_obj_t *obj, size_t first,
    const char *key, const ngx_http_mcp_member_t *value);
static ngx_http_mcp_member_t *ngx_http_mcp_obj_find(ngx_http_mcp_obj_t *obj,
    size_t first, const char *key, size_t len);


ngx_http_mcp_doc_t *
ngx_http_mcp_doc_create(void)
{
    json_free_t          f;
    json_malloc_t        m;
    ngx_http_mcp_doc_t  *doc;

    /* the module's arena, when it is set: ngx_http_mcp_json.c */

    json_get_alloc_funcs(&m, &f);

    doc = m(sizeof(ngx_http_mcp_doc_t));
    if (doc == NULL) {
        return NULL;
    }

    memset(doc, 0, sizeof(ngx_http_mcp_doc_t));

    doc->malloc = m;
    doc->free = f;

    doc->root = ngx_http_mcp_doc_object(doc);
    if (doc->root == NULL) {
        ngx_http_mcp_doc_free(doc);
        return NULL;
    }

    return doc;
}


void
ngx_http_mcp_doc_free(ngx_http_mcp_doc_t *doc)
{
    ngx_http_mcp_block_t  *b, *next;

    if (doc == NULL) {
        return;
    }

    for (b = doc->blocks; b; b = next) {
        next = b->next;
        doc->free(b);
    }

    doc->free(doc);
}


void *
ngx_http_mcp_doc_alloc(ngx_http_mcp_doc_t *doc, size_t size)
{
    ngx_http_mcp_block_t  *b;

    b = NULL;

    if (size <= (size_t) -1 - sizeof(ngx_http_mcp_block_t)) {
        b = doc->malloc(sizeof(ngx_http_mcp_block_t) + size);
    }

    if (b == NULL) {
        doc->nomem = 1;
        return NULL;
    }

    b->next = doc->blocks;
    doc->blocks = b;

    return b + 1;
}


ngx_http_mcp_obj_t *
ngx_http_mcp_doc_object(ngx_http_mcp_doc_t *doc)
{
    return ngx_http_mcp_doc_obj(doc, 0);
}


ngx_http_mcp_obj_t *
ngx_http_mcp_doc_array(ngx_http_mcp_doc_t *doc)
{
    return ngx_http_mcp_doc_obj(doc, 1);
}


static ngx_http_mcp_obj_t *
ngx_http_mcp_doc_obj(ngx_http_mcp_doc_t *doc, unsigned array)
{
    ngx_http_mcp_obj_t  *obj;

    obj = ngx_http_mcp_doc_alloc(doc, sizeof(ngx_http_mcp_obj_t));
    if (obj == NULL) {
        return NULL;
    }

    memset(obj, 0, sizeof(ngx_http_mcp_obj_t));

    obj->doc = doc;
    obj->array = array;

    return obj;
}


int
ngx_http_mcp_obj_set(ngx_http_mcp_obj_t *obj, const char *key, json_t *value)
{
    return ngx_http_mcp_obj_put(obj, obj->n, key, value);
}


int
ngx_http_mcp_obj_put(ngx_http_mcp_obj_t *obj, size_t first, const char *key,
    json_t *value)
{
    ngx_http_mcp_member_t  m;

    if (value == NULL) {
        return -1;
    }

    memset(&m, 0, sizeof(ngx_http_mcp_member_t));
    m.json = value;

    return ngx_http_mcp_obj_store(obj, first, key, &m);
}


int
ngx_http_mcp_obj_set_string(ngx_http_mcp_obj_t *obj, const char *key,
    const char *s, size_t len)
{
    ngx_http_mcp_member_t  m;

    memset(&m, 0, sizeof(ngx_http_mcp_member_t));
    m.str = s;
    m.len = len;

    return ngx_http_mcp_obj_store(obj, obj->n, key, &m);
}


int
ngx_http_mcp_obj_set_copy(ngx_http_mcp_obj_t *obj, const char *key,
    const char *s, size_t len)
{
    char  *copy;

    copy = ngx_http_mcp_doc_alloc(obj->doc, len ? len : 1);
    if (copy == NULL) {
        return -1;
    }

    memcpy(copy, s, len);

    return ngx_http_mcp_obj_set_string(obj, key, copy, len);
}


int
ngx_http_mcp_obj_set_obj(ngx_http_mcp_obj_t *obj, const char *key,
    ngx_http_mcp_obj_t *value)
{
    ngx_http_mcp_member_t  m;

    if (value == NULL) {
        return -1;
    }

    memset(&m, 0, sizeof(ngx_http_mcp_member_t));
    m.obj = value;

    return ngx_http_mcp_obj_store(obj, obj->n, key, &m);
}


int
ngx_http_mcp_obj_set_member(ngx_http_mcp_obj_t *obj, const char *key,
    const ngx_http_mcp_member_t *member)
{
    ngx_http_mcp_member_t  m;

    /* a copy first: storing may move the members, "member" among them */

    m = *member;

    return ngx_http_mcp_obj_store(obj, obj->n, key, &m);
}


int
ngx_http_mcp_obj_append(ngx_http_mcp_obj_t *array, json_t *value)
{
    ngx_http_mcp_member_t  m;

    if (value == NULL) {
        return -1;
    }

    memset(&m, 0, sizeof(ngx_http_mcp_member_t));
    m.json = value;

    return ngx_http_mcp_obj_store(array, 0, NULL, &m);
}


ngx_http_mcp_member_t *
ngx_http_mcp_obj_get(ngx_http_mcp_obj_t *obj, const char *key)
{
    return ngx_http_mcp_obj_find(obj, obj->n, key, strlen(key));
}


void
ngx_http_mcp_obj_del(ngx_http_mcp_obj_t *obj, const char *key)
{
    size_t                  i;
    ngx_http_mcp_member_t  *m;

    m = ngx_http_mcp_obj_get(obj, key);
    if (m == NULL) {
        return;
    }

    i = m - obj->members;

    memmove(m, m + 1, (obj->n - i - 1) * sizeof(ngx_http_mcp_member_t));
    obj->n--;
}


const char *
ngx_http_mcp_member_string(const ngx_http_mcp_member_t *member, size_t *len)
{
    if (member->str) {
        *len = member->len;
        return member->str;
    }

    if (json_is_string(member->json)) {
        *len = json_string_length(member->json);
        return json_string_value(member->json);
    }

    return NULL;
}


/*
 * The value goes where "key" is among the first "first" members (in
 * place, as jansson replaces a value), or last; an array's elements have
 * no key.
 */

static int
ngx_http_mcp_obj_store(ngx_http_mcp_obj_t *obj, size_t first,
    const char *key, const ngx_http_mcp_member_t *value)
{
    size_t                  len, size;
    ngx_http_mcp_member_t  *m, *members;

    len = key ? strlen(key) : 0;

    m = key ? ngx_http_mcp_obj_find(obj, first, key, len) : NULL;

    if (m == NULL) {

        if (obj->n == obj->size) {
            size = obj->size ? 2 * obj->size : NGX_HTTP_MCP_OBJ_MIN;

            members = NULL;

            if (size <= (size_t) -1 / sizeof(ngx_http_mcp_member_t)) {
                members = ngx_http_mcp_doc_alloc(obj->doc,
                                       size * sizeof(ngx_http_mcp_member_t));
            }

            if (members == NULL) {
                obj->doc->nomem = 1;
                return -1;
            }

            /* the old table stays in the document's blocks */

            if (obj->n) {
                memcpy(members, obj->members,
                       obj->n * sizeof(ngx_http_mcp_member_t));
            }

            obj->members = members;
            obj->size = size;
        }

        m = &obj->members[obj->n++];
        m->key = key;
        m->key_len = len;
    }

    m->json = value->json;
    m->obj = value->obj;
    m->str = value->str;
    m->len = value->len;
    m->scrub = 0;

    return 0;
}


static ngx_http_mcp_member_t *
ngx_http_mcp_obj_find(ngx_http_mcp_obj_t *obj, size_t first, const char *key,
    size_t len)
{
    size_t                  i;
    ngx_http_mcp_member_t  *m;

    for (i = 0; i < first; i++) {
        m = &obj->members[i];

        if (m->key_len == len && m->key[0] == key[0]
            && memcmp(m->key, key, len) == 0)
        {
            return m;
        }
    }

    return NULL;
}


json_t *
ngx_http_mcp_doc_json(ngx_http_mcp_obj_t *obj)
{
    int                     rc;
    size_t                  i;
    json_t                 *json, *v;
    ngx_http_mcp_member_t  *m;

    json = obj->array ? json_array() : json_object();
    if (json == NULL) {
        return NULL;
    }

    for (i = 0; i < obj->n; i++) {
        m = &obj->members[i];

        if (m->json) {
            v = json_incref(m->json);

        } else if (m->obj) {
            v = ngx_http_mcp_doc_json(m->obj);

        } else {
            v = json_stringn(m->str, m->len);
        }

        /* the _new functions take the reference, failing or not */

        rc = obj->array ? json_array_append_new(json, v)
                        : json_object_set_new(json, m->key, v);

        if (rc != 0) {
            json_decref(json);
            return NULL;
        }
    }

    return json;
}
