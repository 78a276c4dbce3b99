
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * The module's JSON writer: what json_dumpb(JSON_COMPACT) writes, members
 * in their order, the same escapes, at a fraction of its cost.  jansson's
 * dump checks every object and array for cycles (snprintf("%p") and a
 * hash table each) and writes through a callback byte run by byte run;
 * the documents written here have no cycles (the module builds them, or
 * jansson parsed them), so the size is computed in one walk of the tree
 * and the text written in another.  Reals alone go through jansson, for
 * its number format.  No nginx types: t/unit compares it with jansson.
 */


#include <string.h>

#include "ngx_http_mcp_json.h"


static unsigned char *ngx_http_mcp_json_write_integer(unsigned char *p,
    json_int_t v);


/*
 * How each byte of a string is written: 0 as it is, 'u' as \\u00XX, any
 * other as a backslash and that character.  As jansson writes them:
 * control characters, '"' and '\\' are escaped, nothing else (UTF-8 as it
 * is, '/' and DEL too).
 */

static const unsigned char  ngx_http_mcp_json_escape[256] = {
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
    'b', 't', 'n', 'u', 'f', 'r', 'u', 'u',
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
    0, 0, '"', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '\\', 0, 0, 0,
    /* the rest: 0 */
};


size_t
ngx_http_mcp_json_dump_size(json_t *json)
{
    void        *it;
    size_t       size, item, n, i;
    json_int_t   v;

    switch (json_typeof(json)) {

    case JSON_OBJECT:
        size = 2;

        for (it = json_object_iter(json);
             it;
             it = json_object_iter_next(json, it))
        {
            item = ngx_http_mcp_json_dump_size(json_object_iter_value(it));
            if (item == 0) {
                return 0;
            }

            size += ngx_http_mcp_json_string_size(
                        (const unsigned char *) json_object_iter_key(it),
                        json_object_iter_key_len(it))
                    + 2 + item;                         /* ':' and ',' */
        }

        return json_object_size(json) ? size - 1 : size;

    case JSON_ARRAY:
        size = 2;
        n = json_array_size(json);

        for (i = 0; i < n; i++) {
            item = ngx_http_mcp_json_dump_size(json_array_get(json, i));
            if (item == 0) {
                return 0;
            }

            size += item + 1;                           /* ',' */
        }

        return n ? size - 1 : size;

    case JSON_STRING:
        return ngx_http_mcp_json_string_size(
                   (const unsigned char *) json_string_value(json),
                   json_string_length(json));

    case JSON_INTEGER:
        v = json_integer_value(json);
        size = (v < 0) ? 2 : 1;

        while (v <= -10 || v >= 10) {
            v /= 10;
            size++;
        }

        return size;

    case JSON_REAL:
        return json_dumpb(json, NULL, 0, JSON_COMPACT|JSON_ENCODE_ANY);

    case JSON_TRUE:
        return sizeof("true") - 1;

    case JSON_FALSE:
        return sizeof("false") - 1;

    default: /* JSON_NULL */
        return sizeof("null") - 1;
    }
}


unsigned char *
ngx_http_mcp_json_dump_write(unsigned char *p, json_t *json)
{
    void           *it;
    size_t          n, i;
    unsigned char  *first;

    switch (json_typeof(json)) {

    case JSON_OBJECT:
        *p++ = '{';
        first = p;

        for (it = json_object_iter(json);
             it;
             it = json_object_iter_next(json, it))
        {
            if (p != first) {
                *p++ = ',';
            }

            p = ngx_http_mcp_json_write_string(p,
                    (const unsigned char *) json_object_iter_key(it),
                    json_object_iter_key_len(it));
            *p++ = ':';
            p = ngx_http_mcp_json_dump_write(p, json_object_iter_value(it));
        }

        *p++ = '}';
        return p;

    case JSON_ARRAY:
        *p++ = '[';
        n = json_array_size(json);

        for (i = 0; i < n; i++) {
            if (i) {
                *p++ = ',';
            }

            p = ngx_http_mcp_json_dump_write(p, json_array_get(json, i));
        }

        *p++ = ']';
        return p;

    case JSON_STRING:
        return ngx_http_mcp_json_write_string(p,
                   (const unsigned char *) json_string_value(json),
                   json_string_length(json));

    case JSON_INTEGER:
        return ngx_http_mcp_json_write_integer(p, json_integer_value(json));

    case JSON_REAL:
        n = json_dumpb(json, NULL, 0, JSON_COMPACT|JSON_ENCODE_ANY);
        return p + json_dumpb(json, (char *) p, n,
                              JSON_COMPACT|JSON_ENCODE_ANY);

    case JSON_TRUE:
        memcpy(p, "true", sizeof("true") - 1);
        return p + sizeof("true") - 1;

    case JSON_FALSE:
        memcpy(p, "false", sizeof("false") - 1);
        return p + sizeof("false") - 1;

    default: /* JSON_NULL */
        memcpy(p, "null", sizeof("null") - 1);
        return p + sizeof("null") - 1;
    }
}


size_t
ngx_http_mcp_json_string_size(const unsigned char *s, size_t len)
{
    size_t         size;
    unsigned char  e;

    size = len + 2;

    while (len--) {
        e = ngx_http_mcp_json_escape[*s++];

        if (e) {
            size += (e == 'u') ? 5 : 1;
        }
    }

    return size;
}


unsigned char *
ngx_http_mcp_json_write_string(unsigned char *p, const unsigned char *s,
    size_t len)
{
    unsigned char         e;
    const unsigned char  *last, *run;

    static const unsigned char  hex[] = "0123456789ABCDEF";

    *p++ = '"';

    last = s + len;

    for ( ;; ) {

        /* the bytes written as they are, copied at once */

        for (run = s; s < last && ngx_http_mcp_json_escape[*s] == 0; s++) {
            /* void */
        }

        if (s != run) {
            memcpy(p, run, s - run);
            p += s - run;
        }

        if (s == last) {
            break;
        }

        e = ngx_http_mcp_json_escape[*s];

        *p++ = '\\';

        if (e != 'u') {
            *p++ = e;

        } else {
            *p++ = 'u';
            *p++ = '0';
            *p++ = '0';
            *p++ = hex[*s >> 4];
            *p++ = hex[*s & 0xf];
        }

        s++;
    }

    *p++ = '"';

    return p;
}


static unsigned char *
ngx_http_mcp_json_write_integer(unsigned char *p, json_int_t v)
{
    size_t              n;
    unsigned char       digits[24];
    unsigned long long  u;

    if (v < 0) {
        *p++ = '-';
        u = 0ULL - (unsigned long long) v;

    } else {
        u = (unsigned long long) v;
    }

    n = sizeof(digits);

    do {
        digits[--n] = (unsigned char) ('0' + u % 10);
        u /= 10;
    } while (u);

    memcpy(p, digits + n, sizeof(digits) - n);

    return p + sizeof(digits) - n;
}
