
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * The secrets of answers: what leaves no answer (docs/canonical-schema.md,
 * "Secrets").  Two ways to the same text:
 *
 *   - ngx_http_mcp_map_scrub() removes every member that holds a secret
 *     from a tree, in place: the reference path, and the tests';
 *   - the writer of scrubbed answers writes what the scrub would leave of
 *     a document, as ngx_http_mcp_json_dump_write() writes a tree, and
 *     leaves the document as it was.  The canonical view writes the
 *     document of ngx_http_mcp_map_canonical(), whose members point into
 *     the vendor's tree: no second tree is built, nothing is deleted.
 *     The native view writes the vendor's tree (once its vendor's
 *     redaction is done).
 *
 * Both ask ngx_http_mcp_map_scrub_keeps() whether a member goes, and
 * with which names its own members may stay; an element of an array of
 * credentials that is no object becomes null.  The writer writes into
 * the room it is given and refuses a text that does not fit: a caller
 * guesses the room, or measures the exact size first (a walk of its
 * own).  t/unit and t/fuzz check that its text is the scrubbed tree's,
 * byte for byte, and that a byte less room is refused.
 *
 * Pure C on jansson: no nginx types.
 */


#include <string.h>

#include "ngx_http_mcp_map.h"
#include "ngx_http_mcp_json.h"


/*
 * The names of secrets, at any depth of any vendor answer, compared as
 * the scrub normalizes names: lower case, letters and digits only, so
 * that "clientSecret", "client_secret", "ClientSecret" and
 * "client-secret" are one name.  A member is a secret when its name ends
 * with one of these (the "suffix" ones: "oauth2_client_secret",
 * "accessToken", "x-api-key"), or is one of the others; a boolean never
 * is one (Gatana's "hasAccessToken" says whether a token is set).  The
 * one list of secret names: docs/canonical-schema.md lists it too.
 */

typedef struct {
    const char  *name;
    size_t       len;
    unsigned     suffix:1;      /* any name ending with it */
    unsigned     strings:1;     /* only when the value is a string */
} ngx_http_mcp_secret_name_t;


#define ngx_http_mcp_secret(name, suffix, strings)                            \
    { name, sizeof(name) - 1, suffix, strings }


static const ngx_http_mcp_secret_name_t  ngx_http_mcp_secret_names[] = {
    ngx_http_mcp_secret("secret", 1, 0),
    ngx_http_mcp_secret("secrets", 1, 0),
    ngx_http_mcp_secret("password", 1, 0),
    ngx_http_mcp_secret("passwd", 1, 0),
    ngx_http_mcp_secret("passphrase", 1, 0),
    ngx_http_mcp_secret("token", 1, 0),
    ngx_http_mcp_secret("apikey", 1, 0),
    ngx_http_mcp_secret("apikeys", 1, 0),
    ngx_http_mcp_secret("privatekey", 1, 0),
    ngx_http_mcp_secret("credential", 0, 0),

    /* Gatana's "authorization" is an object that describes the method */
    ngx_http_mcp_secret("authorization", 0, 1),
    ngx_http_mcp_secret("cookie", 0, 1),
    { NULL, 0, 0, 0 }
};


/*
 * Each byte as the scrub's names have it: lower case letters and digits,
 * or 0 for the rest (left out)
 */

static const char  ngx_http_mcp_map_names[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 0, 0, 0, 0, 0, 0,
    0, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm',
    'n', 'o',
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 0, 0, 0, 0, 0,
    0, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm',
    'n', 'o',
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 0, 0, 0, 0, 0,
    /* the rest: 0 */
};


/* an object of this name is a credentials object, whatever the vendor */

#define NGX_HTTP_MCP_CREDENTIALS  "credentials"

#define NGX_HTTP_MCP_NAME_LEN     64


/*
 * The members of an object (the elements of an array), a tree's or a
 * document's, that the scrub leaves, each with what its value's own
 * members must be named among, or written null
 */

typedef struct {
    const ngx_http_mcp_vendor_t  *vendor;
    const char *const            *keep;
    json_t                       *json;
    ngx_http_mcp_obj_t           *obj;
    void                         *iter;
    size_t                        i;
    ngx_http_mcp_member_t         member;

    /* of the member returned */
    const char *const            *inner;
    unsigned                      null:1;

    unsigned                      object:1;
} ngx_http_mcp_walk_t;


static size_t ngx_http_mcp_map_name(const char *key, char *out);
static int ngx_http_mcp_map_named(const char *name, size_t len,
    const char *const *names);
static int ngx_http_mcp_map_secret(const char *key, size_t len,
    json_type type);
static void ngx_http_mcp_map_scrub_in(const ngx_http_mcp_vendor_t *vendor,
    json_t *json, const char *const *keep);
static int ngx_http_mcp_map_is_credentials(
    const ngx_http_mcp_vendor_t *vendor, const char *name, size_t len,
    json_type type);
static json_type ngx_http_mcp_write_type(const ngx_http_mcp_member_t *v);
static void ngx_http_mcp_walk_init(ngx_http_mcp_walk_t *w,
    const ngx_http_mcp_vendor_t *vendor, const ngx_http_mcp_member_t *v,
    const char *const *keep);
static const ngx_http_mcp_member_t *ngx_http_mcp_walk_next(
    ngx_http_mcp_walk_t *w);
static ngx_http_mcp_member_t *ngx_http_mcp_walk_member(
    ngx_http_mcp_walk_t *w);
static size_t ngx_http_mcp_write_size(const ngx_http_mcp_vendor_t *vendor,
    const ngx_http_mcp_member_t *v, const char *const *keep);
static unsigned char *ngx_http_mcp_write_value(
    const ngx_http_mcp_vendor_t *vendor, unsigned char *p, unsigned char *end,
    const ngx_http_mcp_member_t *v, const char *const *keep);
static unsigned char *ngx_http_mcp_write_scalar(unsigned char *p,
    unsigned char *end, const ngx_http_mcp_member_t *v);
static unsigned char *ngx_http_mcp_write_string(unsigned char *p,
    unsigned char *end, const char *s, size_t len);


size_t
ngx_http_mcp_map_write_size(const ngx_http_mcp_vendor_t *vendor,
    json_t *json)
{
    ngx_http_mcp_member_t  v;

    memset(&v, 0, sizeof(ngx_http_mcp_member_t));
    v.json = json;

    return ngx_http_mcp_write_size(vendor, &v, NULL);
}


unsigned char *
ngx_http_mcp_map_write(const ngx_http_mcp_vendor_t *vendor, unsigned char *p,
    unsigned char *end, json_t *json)
{
    ngx_http_mcp_member_t  v;

    memset(&v, 0, sizeof(ngx_http_mcp_member_t));
    v.json = json;

    return ngx_http_mcp_write_value(vendor, p, end, &v, NULL);
}


size_t
ngx_http_mcp_map_doc_size(const ngx_http_mcp_vendor_t *vendor,
    ngx_http_mcp_doc_t *doc)
{
    ngx_http_mcp_member_t  v;

    memset(&v, 0, sizeof(ngx_http_mcp_member_t));
    v.obj = doc->root;

    return ngx_http_mcp_write_size(vendor, &v, NULL);
}


unsigned char *
ngx_http_mcp_map_doc_write(const ngx_http_mcp_vendor_t *vendor,
    unsigned char *p, unsigned char *end, ngx_http_mcp_doc_t *doc)
{
    ngx_http_mcp_member_t  v;

    memset(&v, 0, sizeof(ngx_http_mcp_member_t));
    v.obj = doc->root;

    return ngx_http_mcp_write_value(vendor, p, end, &v, NULL);
}


/* what the scrub sees of a value: its JSON type */

static json_type
ngx_http_mcp_write_type(const ngx_http_mcp_member_t *v)
{
    if (v->obj) {
        return v->obj->array ? JSON_ARRAY : JSON_OBJECT;
    }

    if (v->json == NULL) {
        return JSON_STRING;
    }

    return json_typeof(v->json);
}


static void
ngx_http_mcp_walk_init(ngx_http_mcp_walk_t *w,
    const ngx_http_mcp_vendor_t *vendor, const ngx_http_mcp_member_t *v,
    const char *const *keep)
{
    w->vendor = vendor;
    w->keep = keep;
    w->json = v->json;
    w->obj = v->obj;
    w->i = 0;
    w->iter = json_is_object(v->json) ? json_object_iter(v->json) : NULL;
    w->object = (ngx_http_mcp_write_type(v) == JSON_OBJECT);

    memset(&w->member, 0, sizeof(ngx_http_mcp_member_t));
}


static const ngx_http_mcp_member_t *
ngx_http_mcp_walk_next(ngx_http_mcp_walk_t *w)
{
    ngx_http_mcp_member_t  *m;

    while ((m = ngx_http_mcp_walk_member(w)) != NULL) {

        if (!w->object) {
            w->inner = w->keep;
            w->null = (w->keep && ngx_http_mcp_write_type(m) != JSON_OBJECT);
            return m;
        }

        w->null = 0;

        if (w->obj == NULL) {
            if (ngx_http_mcp_map_scrub_keeps(w->vendor, m->key, m->key_len,
                                             ngx_http_mcp_write_type(m),
                                             w->keep, &w->inner))
            {
                return m;
            }

            continue;
        }

        /*
         * a member of the document: asked once, for both walks (its
         * object is always written in the same context)
         */

        if (m->scrub == 0) {
            m->scrub = ngx_http_mcp_map_scrub_keeps(w->vendor, m->key,
                                                    m->key_len,
                                                    ngx_http_mcp_write_type(m),
                                                    w->keep, &m->inner)
                       ? 2 : 1;
        }

        if (m->scrub == 2) {
            w->inner = m->inner;
            return m;
        }
    }

    return NULL;
}


static ngx_http_mcp_member_t *
ngx_http_mcp_walk_member(ngx_http_mcp_walk_t *w)
{
    if (w->obj) {
        return (w->i < w->obj->n) ? &w->obj->members[w->i++] : NULL;
    }

    if (json_is_array(w->json)) {
        if (w->i == json_array_size(w->json)) {
            return NULL;
        }

        w->member.json = json_array_get(w->json, w->i++);
        return &w->member;
    }

    if (w->iter == NULL) {
        return NULL;
    }

    w->member.key = json_object_iter_key(w->iter);
    w->member.key_len = json_object_iter_key_len(w->iter);
    w->member.json = json_object_iter_value(w->iter);

    w->iter = json_object_iter_next(w->json, w->iter);

    return &w->member;
}


static size_t
ngx_http_mcp_write_size(const ngx_http_mcp_vendor_t *vendor,
    const ngx_http_mcp_member_t *v, const char *const *keep)
{
    size_t                        size, item, n;
    json_type                     type;
    ngx_http_mcp_walk_t           w;
    const ngx_http_mcp_member_t  *m;

    type = ngx_http_mcp_write_type(v);

    if (type != JSON_OBJECT && type != JSON_ARRAY) {
        return v->json ? ngx_http_mcp_json_dump_size(v->json)
                       : ngx_http_mcp_json_string_size(
                             (const unsigned char *) v->str, v->len);
    }

    size = 2;
    n = 0;

    ngx_http_mcp_walk_init(&w, vendor, v, keep);

    while ((m = ngx_http_mcp_walk_next(&w)) != NULL) {

        if (w.null) {
            item = sizeof("null") - 1;

        } else {
            item = ngx_http_mcp_write_size(vendor, m, w.inner);
            if (item == 0) {
                return 0;
            }
        }

        if (w.object) {
            size += ngx_http_mcp_json_string_size(
                        (const unsigned char *) m->key, m->key_len)
                    + 1;                                /* ':' */
        }

        size += item;
        n++;
    }

    return n ? size + n - 1 : size;                     /* ',' */
}


/*
 * Each piece is written only where it fits before "end": NULL when one
 * does not, for the caller to make room and write again.
 */

static unsigned char *
ngx_http_mcp_write_value(const ngx_http_mcp_vendor_t *vendor,
    unsigned char *p, unsigned char *end, const ngx_http_mcp_member_t *v,
    const char *const *keep)
{
    json_type                     type;
    unsigned char                *first;
    ngx_http_mcp_walk_t           w;
    const ngx_http_mcp_member_t  *m;

    type = ngx_http_mcp_write_type(v);

    if (type != JSON_OBJECT && type != JSON_ARRAY) {
        return ngx_http_mcp_write_scalar(p, end, v);
    }

    if (p == end) {
        return NULL;
    }

    *p++ = (type == JSON_OBJECT) ? '{' : '[';
    first = p;

    ngx_http_mcp_walk_init(&w, vendor, v, keep);

    while ((m = ngx_http_mcp_walk_next(&w)) != NULL) {

        if (p != first) {
            if (p == end) {
                return NULL;
            }

            *p++ = ',';
        }

        if (w.object) {
            p = ngx_http_mcp_write_string(p, end, m->key, m->key_len);

            if (p == NULL || p == end) {
                return NULL;
            }

            *p++ = ':';
        }

        if (w.null) {
            if ((size_t) (end - p) < sizeof("null") - 1) {
                return NULL;
            }

            memcpy(p, "null", sizeof("null") - 1);
            p += sizeof("null") - 1;

        } else {
            p = ngx_http_mcp_write_value(vendor, p, end, m, w.inner);

            if (p == NULL) {
                return NULL;
            }
        }
    }

    if (p == end) {
        return NULL;
    }

    *p++ = (type == JSON_OBJECT) ? '}' : ']';

    return p;
}


static unsigned char *
ngx_http_mcp_write_scalar(unsigned char *p, unsigned char *end,
    const ngx_http_mcp_member_t *v)
{
    size_t  size;

    if (v->json == NULL) {
        return ngx_http_mcp_write_string(p, end, v->str, v->len);
    }

    if (json_is_string(v->json)) {
        return ngx_http_mcp_write_string(p, end, json_string_value(v->json),
                                         json_string_length(v->json));
    }

    /* a number or a literal: at most 20 bytes, but a real */

    if ((size_t) (end - p) < 24 || json_is_real(v->json)) {
        size = ngx_http_mcp_json_dump_size(v->json);

        if (size == 0 || (size_t) (end - p) < size) {
            return NULL;
        }
    }

    return ngx_http_mcp_json_dump_write(p, v->json);
}


static unsigned char *
ngx_http_mcp_write_string(unsigned char *p, unsigned char *end,
    const char *s, size_t len)
{
    size_t  room;

    /* the exact size only when the most it can take does not fit */

    room = end - p;

    if (room / 6 <= len
        && room < ngx_http_mcp_json_string_size((const unsigned char *) s,
                                                len))
    {
        return NULL;
    }

    return ngx_http_mcp_json_write_string(p, (const unsigned char *) s, len);
}


/*
 * Removes every member that holds a secret, at any depth: one named like
 * a secret, and every member of a credentials object but those that
 * describe it.
 */

void
ngx_http_mcp_map_scrub(const ngx_http_mcp_vendor_t *vendor, json_t *json)
{
    ngx_http_mcp_map_scrub_in(vendor, json, NULL);
}


/*
 * "keep": inside a credentials object (or an array of them), the only
 * members that may stay
 */

static void
ngx_http_mcp_map_scrub_in(const ngx_http_mcp_vendor_t *vendor, json_t *json,
    const char *const *keep)
{
    size_t              i;
    json_t             *v;
    void               *tmp;
    const char         *key;
    const char *const  *inner;

    if (json_is_array(json)) {
        json_array_foreach(json, i, v) {
            if (keep && !json_is_object(v)) {
                json_array_set_new(json, i, json_null());
                continue;
            }

            ngx_http_mcp_map_scrub_in(vendor, v, keep);
        }

        return;
    }

    if (!json_is_object(json)) {
        return;
    }

    json_object_foreach_safe(json, tmp, key, v) {
        if (!ngx_http_mcp_map_scrub_keeps(vendor, key, strlen(key),
                                          json_typeof(v), keep, &inner))
        {
            json_object_del(json, key);
            continue;
        }

        ngx_http_mcp_map_scrub_in(vendor, v, inner);
    }
}


/*
 * The scrub's verdict on a member named "key" (key_len bytes, no NUL
 * among them), of JSON type "type", in an object whose members must be
 * named among "keep" (NULL: any name): 0 if it goes; 1 if it stays,
 * *inner then what its own members (an array's elements: theirs) must be
 * named among.  The scrub and the writer ask it alike.
 */

int
ngx_http_mcp_map_scrub_keeps(const ngx_http_mcp_vendor_t *vendor,
    const char *key, size_t key_len, json_type type, const char *const *keep,
    const char *const **inner)
{
    size_t  len;
    char    name[NGX_HTTP_MCP_NAME_LEN];

    if (ngx_http_mcp_map_secret(key, key_len, type)) {
        return 0;
    }

    *inner = NULL;

    /* most members: a value that is no object, among any names */

    if (keep == NULL && type != JSON_OBJECT && type != JSON_ARRAY) {
        return 1;
    }

    len = ngx_http_mcp_map_name(key, name);

    if (keep && !ngx_http_mcp_map_named(name, len, keep)) {
        return 0;
    }

    if (ngx_http_mcp_map_is_credentials(vendor, name, len, type)) {
        *inner = vendor->credential_fields;
    }

    return 1;
}


/* an object (or array) the vendor calls credentials, or named so */

static int
ngx_http_mcp_map_is_credentials(const ngx_http_mcp_vendor_t *vendor,
    const char *name, size_t len, json_type type)
{
    size_t  n;

    if (type != JSON_OBJECT && type != JSON_ARRAY) {
        return 0;
    }

    n = sizeof(NGX_HTTP_MCP_CREDENTIALS) - 1;

    return (len >= n && name[len - 1] == 's'
            && memcmp(name + len - n, NGX_HTTP_MCP_CREDENTIALS, n) == 0)
           || ngx_http_mcp_map_named(name, len, vendor->credentials);
}


/*
 * The name as the scrub compares it: lower case letters and digits, the
 * rest left out; a longer name keeps its end, which is what a suffix
 * needs (and no name of the lists is that long).
 */

static size_t
ngx_http_mcp_map_name(const char *key, char *out)
{
    char                  c;
    size_t                n, skip;
    const unsigned char  *p;

    /* one walk for a name of the usual length */

    for (n = 0, p = (const unsigned char *) key; *p; p++) {
        c = ngx_http_mcp_map_names[*p];

        if (c == 0) {
            continue;
        }

        if (n == NGX_HTTP_MCP_NAME_LEN) {
            goto longer;
        }

        out[n++] = c;
    }

    return n;

longer:

    for (n = 0, p = (const unsigned char *) key; *p; p++) {
        if (ngx_http_mcp_map_names[*p]) {
            n++;
        }
    }

    skip = n - NGX_HTTP_MCP_NAME_LEN;

    for (n = 0, p = (const unsigned char *) key; *p; p++) {
        c = ngx_http_mcp_map_names[*p];

        if (c == 0) {
            continue;
        }

        if (skip) {
            skip--;
            continue;
        }

        out[n++] = c;
    }

    return n;
}


/* 1 if the normalized "name" is one of "names" (which are not) */

static int
ngx_http_mcp_map_named(const char *name, size_t len,
    const char *const *names)
{
    size_t  n;
    char    other[NGX_HTTP_MCP_NAME_LEN];

    for ( /* void */ ; *names; names++) {
        n = ngx_http_mcp_map_name(*names, other);

        if (n == len && memcmp(name, other, len) == 0) {
            return 1;
        }
    }

    return 0;
}


/*
 * 1 if a member named "key" (len bytes) holds a secret: its name, as the
 * scrub compares names, is or ends with one of the secret names.  The
 * key is read from its end, without normalizing it: most keys differ
 * from every secret name in their last letter.
 */

static int
ngx_http_mcp_map_secret(const char *key, size_t len, json_type type)
{
    char                               c;
    size_t                             i, k;
    const unsigned char               *p;
    const ngx_http_mcp_secret_name_t  *s;

    if (type == JSON_TRUE || type == JSON_FALSE) {
        return 0;
    }

    p = (const unsigned char *) key;

    /* the key's last letter or digit */

    while (len && ngx_http_mcp_map_names[p[len - 1]] == 0) {
        len--;
    }

    if (len == 0) {
        return 0;
    }

    c = ngx_http_mcp_map_names[p[len - 1]];

    for (s = ngx_http_mcp_secret_names; s->name; s++) {

        if (s->name[s->len - 1] != c
            || (s->strings && type != JSON_STRING))
        {
            continue;
        }

        /* the name's letters, backwards, against the key's */

        k = len - 1;

        for (i = s->len - 1; i; i--) {

            do {
                if (k == 0) {
                    goto next;
                }

                k--;

            } while (ngx_http_mcp_map_names[p[k]] == 0);

            if (ngx_http_mcp_map_names[p[k]] != s->name[i - 1]) {
                goto next;
            }
        }

        if (s->suffix) {
            return 1;
        }

        /* the whole name: no letter or digit before */

        while (k && ngx_http_mcp_map_names[p[k - 1]] == 0) {
            k--;
        }

        if (k == 0) {
            return 1;
        }

    next:

        continue;
    }

    return 0;
}
