
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * The canonical names of the fields a PUT body sets, for the write audit
 * ($mcp_changed_fields): names only, never a value.  A canonical update
 * names its fields itself ("auth.api_key", "remote.url",
 * "extensions.gatana.logoUrl"); a native body's fields are named by its
 * vendor's table (ngx_http_mcp_vendor_t.native_fields), and a field the
 * table does not know is "extensions.<vendor>.<field>", where the
 * canonical schema keeps it.
 *
 * Pure C on jansson, unit-tested (t/unit/test_fields.c).
 */


#include <stdlib.h>
#include <string.h>

#include "ngx_http_mcp_fields.h"


/* a name from a client's key is cut there */
#define NGX_HTTP_MCP_FIELDS_KEY_MAX  128

#define NGX_HTTP_MCP_FIELDS_NAME_MAX                                          \
    (64 + 3 * NGX_HTTP_MCP_FIELDS_KEY_MAX)


static void ngx_http_mcp_fields_canonical(json_t *names, json_t *body);
static void ngx_http_mcp_fields_native(json_t *names,
    const ngx_http_mcp_vendor_t *vendor, json_t *body);
static const char *ngx_http_mcp_fields_lookup(
    const ngx_http_mcp_vendor_t *vendor, const char *key, const char *sub);
static void ngx_http_mcp_fields_add(json_t *names, const char *a,
    const char *b, const char *c);
static char *ngx_http_mcp_fields_key(char *p, const char *key);
static int ngx_http_mcp_fields_cmp(const void *a, const void *b);


size_t
ngx_http_mcp_fields_set(const ngx_http_mcp_vendor_t *vendor, json_t *body,
    int canonical, char *buf, size_t len)
{
    char         *p;
    size_t        n, i, need, l;
    json_t       *names;
    void         *it;
    const char  **sorted;

    if (!json_is_object(body)) {
        return 0;
    }

    /* an object's keys: each name once */

    names = json_object();
    if (names == NULL) {
        return 0;
    }

    if (canonical) {
        ngx_http_mcp_fields_canonical(names, body);

    } else {
        ngx_http_mcp_fields_native(names, vendor, body);
    }

    n = json_object_size(names);
    need = 0;

    sorted = malloc((n ? n : 1) * sizeof(char *));
    if (sorted == NULL) {
        json_decref(names);
        return 0;
    }

    i = 0;

    for (it = json_object_iter(names);
         it != NULL;
         it = json_object_iter_next(names, it))
    {
        sorted[i++] = json_object_iter_key(it);
    }

    qsort(sorted, n, sizeof(char *), ngx_http_mcp_fields_cmp);

    for (i = 0; i < n; i++) {
        need += strlen(sorted[i]) + (i ? 1 : 0);
    }

    if (buf && need <= len) {
        p = buf;

        for (i = 0; i < n; i++) {
            if (i) {
                *p++ = ',';
            }

            l = strlen(sorted[i]);
            memcpy(p, sorted[i], l);
            p += l;
        }
    }

    free(sorted);
    json_decref(names);

    return need;
}


/* "auth", "remote": their members; "extensions": each vendor's */

static void
ngx_http_mcp_fields_canonical(json_t *names, json_t *body)
{
    json_t      *value, *ext, *v;
    const char  *key, *vendor, *sub;

    json_object_foreach(body, key, value) {

        if (json_is_object(value)
            && (strcmp(key, "auth") == 0 || strcmp(key, "remote") == 0))
        {
            json_object_foreach(value, sub, v) {
                ngx_http_mcp_fields_add(names, key, sub, NULL);
            }

            continue;
        }

        if (json_is_object(value) && strcmp(key, "extensions") == 0) {

            json_object_foreach(value, vendor, ext) {

                if (!json_is_object(ext) || json_object_size(ext) == 0) {
                    ngx_http_mcp_fields_add(names, key, vendor, NULL);
                    continue;
                }

                json_object_foreach(ext, sub, v) {
                    ngx_http_mcp_fields_add(names, key, vendor, sub);
                }
            }

            continue;
        }

        ngx_http_mcp_fields_add(names, key, NULL, NULL);
    }
}


static void
ngx_http_mcp_fields_native(json_t *names, const ngx_http_mcp_vendor_t *vendor,
    json_t *body)
{
    json_t      *value, *v;
    const char  *key, *sub, *name;

    json_object_foreach(body, key, value) {

        /* an object whose members the table names one by one */

        if (json_is_object(value)
            && ngx_http_mcp_fields_lookup(vendor, key, "") != NULL)
        {
            json_object_foreach(value, sub, v) {
                name = ngx_http_mcp_fields_lookup(vendor, key, sub);

                if (name) {
                    ngx_http_mcp_fields_add(names, name, NULL, NULL);

                } else {
                    ngx_http_mcp_fields_add(names, "extensions", vendor->name,
                                            key);
                }
            }

            continue;
        }

        name = ngx_http_mcp_fields_lookup(vendor, key, NULL);

        if (name) {
            ngx_http_mcp_fields_add(names, name, NULL, NULL);

        } else {
            ngx_http_mcp_fields_add(names, "extensions", vendor->name, key);
        }
    }
}


/*
 * The canonical name of "key" (sub NULL), of its member "sub", or (sub
 * "") whether the table names members of "key" at all.
 */

static const char *
ngx_http_mcp_fields_lookup(const ngx_http_mcp_vendor_t *vendor,
    const char *key, const char *sub)
{
    size_t                              len;
    const ngx_http_mcp_vendor_field_t  *f;

    if (vendor->native_fields == NULL) {
        return NULL;
    }

    len = strlen(key);

    for (f = vendor->native_fields; f->native; f++) {

        if (strncmp(f->native, key, len) != 0) {
            continue;
        }

        if (sub == NULL) {
            if (f->native[len] == '\0') {
                return f->canonical;
            }

            continue;
        }

        if (f->native[len] != '.') {
            continue;
        }

        if (*sub == '\0' || strcmp(f->native + len + 1, sub) == 0) {
            return f->canonical;
        }
    }

    return NULL;
}


/*
 * names[a.b.c] (b and c when given): "a" is the module's own, "b" and
 * "c" may be a client's keys, made safe
 */

static void
ngx_http_mcp_fields_add(json_t *names, const char *a, const char *b,
    const char *c)
{
    char    *p;
    size_t   len;
    char     name[NGX_HTTP_MCP_FIELDS_NAME_MAX + 1];

    len = strlen(a);

    if (len > 64) {
        return;
    }

    p = memcpy(name, a, len);
    p += len;

    if (b) {
        *p++ = '.';
        p = ngx_http_mcp_fields_key(p, b);
    }

    if (c) {
        *p++ = '.';
        p = ngx_http_mcp_fields_key(p, c);
    }

    *p = '\0';

    (void) json_object_set_new(names, name, json_true());
}


/*
 * a key as it goes into a name: [A-Za-z0-9_-] as they are, any other
 * byte %XX (so that a "." or a "," in a key cannot make two names of
 * one, nor a quote or a control character reach a log), at most
 * NGX_HTTP_MCP_FIELDS_KEY_MAX bytes of it
 */

static char *
ngx_http_mcp_fields_key(char *p, const char *key)
{
    size_t          i;
    unsigned char   c;

    static const char  hex[] = "0123456789ABCDEF";

    for (i = 0; key[i] && i < NGX_HTTP_MCP_FIELDS_KEY_MAX; i++) {
        c = (unsigned char) key[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '_' || c == '-')
        {
            *p++ = (char) c;
            continue;
        }

        *p++ = '%';
        *p++ = hex[c >> 4];
        *p++ = hex[c & 0xf];
    }

    return p;
}


static int
ngx_http_mcp_fields_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}
