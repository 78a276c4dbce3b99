
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * The canonical schema: the server object every vendor answer becomes, the
 * update every vendor PUT is made from, and the helpers the vendor files
 * share.  docs/canonical-schema.md is the reference.
 */


#define _DEFAULT_SOURCE

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>

#include "ngx_http_mcp_map.h"


/* the canonical update: its fields and their JSON types */

static const char *const  ngx_http_mcp_update_fields[] = {
    "name", "description", "slug", "enabled", "access_type",
    "disabled_tools", "remote", "auth", "extensions", NULL
};

static const char  ngx_http_mcp_update_types[] = "sssbsaooo";

static const char *const  ngx_http_mcp_remote_fields[] = {
    "type", "url", NULL
};

static const char  ngx_http_mcp_remote_types[] = "ss";

static const char *const  ngx_http_mcp_auth_fields[] = {
    "method", "api_key", "oauth_client_id", "oauth_client_secret",
    "oauth_scopes", NULL
};

static const char  ngx_http_mcp_auth_types[] = "ssssa";


const char *const  ngx_http_mcp_map_none[] = { NULL };


static char *ngx_http_mcp_map_two(char *p, int v);
static int ngx_http_mcp_map_check_update(json_t *update,
    ngx_http_mcp_map_err_t *err);
static int ngx_http_mcp_map_refuse(json_t *obj, const char *prefix,
    const char *const *fields, const ngx_http_mcp_vendor_t *vendor,
    ngx_http_mcp_map_err_t *err);
static int ngx_http_mcp_map_allow(json_t *obj, const char *prefix,
    const char *const *fields, const ngx_http_mcp_vendor_t *vendor,
    ngx_http_mcp_map_err_t *err);
static int ngx_http_mcp_map_check_object(json_t *obj, const char *name,
    const char *const *fields, const char *types,
    ngx_http_mcp_map_err_t *err);
static int ngx_http_mcp_map_check_strings(json_t *array, const char *name,
    ngx_http_mcp_map_err_t *err);


int
ngx_http_mcp_map_check_answer(const ngx_http_mcp_vendor_t *vendor,
    json_t *body, ngx_http_mcp_map_err_t *err)
{
    if (!json_is_object(body)) {
        return ngx_http_mcp_map_fail(err, "the answer is not a JSON object");
    }

    return vendor->check_answer(body, err);
}


/*
 * The canonical server of a vendor answer as a document whose members
 * point into "body" (ngx_http_mcp_doc.h): what the canonical view writes
 * (ngx_http_mcp_map_doc_write()), and what ngx_http_mcp_map_server()
 * makes a tree of.
 */

ngx_http_mcp_doc_t *
ngx_http_mcp_map_canonical(const ngx_http_mcp_vendor_t *vendor,
    const char *registry, size_t registry_len, const char *id, size_t id_len,
    json_t *body, ngx_http_mcp_map_err_t *err)
{
    char                   *qid;
    size_t                  len, vlen;
    const char             *v;
    ngx_http_mcp_doc_t     *doc;
    ngx_http_mcp_obj_t     *server;
    ngx_http_mcp_member_t  *vid;

    if (ngx_http_mcp_map_check_answer(vendor, body, err) != 0) {
        return NULL;
    }

    doc = ngx_http_mcp_doc_create();
    if (doc == NULL) {
        ngx_http_mcp_map_fail(err, "out of memory");
        return NULL;
    }

    server = doc->root;

    /*
     * the first fields, in the order the schema documents them; an
     * allocation that fails marks the document, refused below
     */

    (void) ngx_http_mcp_obj_set(server, "id", json_null());
    (void) ngx_http_mcp_obj_set_string(server, "registry", registry,
                                       registry_len);
    (void) ngx_http_mcp_obj_set_string(server, "vendor", vendor->name,
                                       strlen(vendor->name));
    (void) ngx_http_mcp_obj_set_string(server, "vendor_id", id, id_len);

    if (vendor->to_canonical(body, server, err) != 0) {
        goto failed;
    }

    /* "id" qualifies the vendor's id (the one the answer gives, if any) */

    vid = ngx_http_mcp_obj_get(server, "vendor_id");
    v = vid ? ngx_http_mcp_member_string(vid, &vlen) : NULL;

    if (v == NULL) {
        v = "";
        vlen = 0;
    }

    len = registry_len + 1 + vlen;

    qid = ngx_http_mcp_doc_alloc(doc, len);

    if (qid) {
        memcpy(qid, registry, registry_len);
        qid[registry_len] = ':';
        memcpy(qid + registry_len + 1, v, vlen);

        (void) ngx_http_mcp_obj_set_string(server, "id", qid, len);
    }

    if (doc->nomem) {
        ngx_http_mcp_map_fail(err, "out of memory");
        goto failed;
    }

    return doc;

failed:

    ngx_http_mcp_doc_free(doc);
    return NULL;
}


/* the same as a jansson tree: the tests' reference */

json_t *
ngx_http_mcp_map_server(const ngx_http_mcp_vendor_t *vendor,
    const char *registry, size_t registry_len, const char *id, size_t id_len,
    json_t *body, ngx_http_mcp_map_err_t *err)
{
    json_t              *server;
    ngx_http_mcp_doc_t  *doc;

    doc = ngx_http_mcp_map_canonical(vendor, registry, registry_len, id,
                                     id_len, body, err);
    if (doc == NULL) {
        return NULL;
    }

    server = ngx_http_mcp_doc_json(doc->root);

    ngx_http_mcp_doc_free(doc);

    if (server == NULL) {
        ngx_http_mcp_map_fail(err, "out of memory");
    }

    return server;
}


json_t *
ngx_http_mcp_map_update(const ngx_http_mcp_vendor_t *vendor, json_t *update,
    ngx_http_mcp_map_err_t *err)
{
    json_t      *v, *exts;
    const char  *key;
    char         prefix[32];

    if (ngx_http_mcp_map_check_update(update, err) != 0) {
        return NULL;
    }

    exts = json_object_get(update, "extensions");

    /* extensions of another vendor cannot apply to this registry */

    json_object_foreach(exts, key, v) {
        if (strcmp(key, vendor->name) != 0) {
            ngx_http_mcp_map_fail(err, "field \"extensions.%s\" cannot be "
                                  "set on a %s registry", key, vendor->name);
            return NULL;
        }
    }

    /* nor what this vendor cannot express */

    snprintf(prefix, sizeof(prefix), "extensions.%s.", vendor->name);

    if (ngx_http_mcp_map_refuse(update, "", vendor->refused, vendor, err) != 0
        || ngx_http_mcp_map_refuse(json_object_get(update, "auth"), "auth.",
                                   vendor->refused_auth, vendor, err)
           != 0
        || ngx_http_mcp_map_allow(json_object_get(exts, vendor->name), prefix,
                                  vendor->extensions, vendor, err)
           != 0)
    {
        return NULL;
    }

    return vendor->from_canonical(update, err);
}


int
ngx_http_mcp_map_check_native(const ngx_http_mcp_vendor_t *vendor,
    json_t *body, ngx_http_mcp_map_err_t *err)
{
    if (!json_is_object(body)) {
        return ngx_http_mcp_map_fail(err,
                                     "The request body must be a JSON object.");
    }

    return vendor->check_native(body, err);
}


void
ngx_http_mcp_map_redact(const ngx_http_mcp_vendor_t *vendor, json_t *body)
{
    ngx_http_mcp_map_redact_vendor(vendor, body);
    ngx_http_mcp_map_scrub(vendor, body);
}


void
ngx_http_mcp_map_redact_vendor(const ngx_http_mcp_vendor_t *vendor,
    json_t *body)
{
    if (vendor->redact) {
        vendor->redact(body);
    }
}


const char *
ngx_http_mcp_map_error_detail(json_t *body, size_t *len)
{
    size_t       i;
    json_t      *detail;
    const char  *keys[] = { "detail", "message", "error", NULL };

    for (i = 0; json_is_object(body) && keys[i]; i++) {
        detail = json_object_get(body, keys[i]);

        if (json_is_string(detail)) {
            *len = json_string_length(detail);
            return json_string_value(detail);
        }
    }

    return NULL;
}


/* the canonical update: known fields of the right types, nothing else */

static int
ngx_http_mcp_map_check_update(json_t *update, ngx_http_mcp_map_err_t *err)
{
    json_t      *v;
    const char  *s;

    if (!json_is_object(update)) {
        return ngx_http_mcp_map_fail(err,
                                     "The request body must be a JSON object.");
    }

    if (json_object_size(update) == 0) {
        return ngx_http_mcp_map_fail(err, "The update has no field.");
    }

    if (ngx_http_mcp_map_check_object(update, NULL,
                                      ngx_http_mcp_update_fields,
                                      ngx_http_mcp_update_types, err)
        != 0)
    {
        return -1;
    }

    v = json_object_get(update, "access_type");
    s = json_string_value(v);

    if (s && strcmp(s, "read") != 0 && strcmp(s, "write") != 0
        && strcmp(s, "individual") != 0)
    {
        return ngx_http_mcp_map_fail(err, "Invalid access type specified");
    }

    if (ngx_http_mcp_map_check_strings(json_object_get(update,
                                                       "disabled_tools"),
                                       "disabled_tools", err)
        != 0)
    {
        return -1;
    }

    v = json_object_get(update, "remote");

    if (v) {
        if (ngx_http_mcp_map_check_object(v, "remote",
                                          ngx_http_mcp_remote_fields,
                                          ngx_http_mcp_remote_types, err)
            != 0)
        {
            return -1;
        }

        s = json_string_value(json_object_get(v, "type"));

        if (s && strcmp(s, "streamable-http") != 0 && strcmp(s, "sse") != 0)
        {
            return ngx_http_mcp_map_fail(err, "field \"remote.type\" must be "
                                         "\"streamable-http\" or \"sse\"");
        }

        s = json_string_value(json_object_get(v, "url"));

        if (s && !ngx_http_mcp_map_is_uri(s)) {
            return ngx_http_mcp_map_fail(err,
                                         "field \"remote.url\" is not a URI");
        }
    }

    v = json_object_get(update, "auth");

    if (v) {
        if (ngx_http_mcp_map_check_object(v, "auth",
                                          ngx_http_mcp_auth_fields,
                                          ngx_http_mcp_auth_types, err)
            != 0)
        {
            return -1;
        }

        s = json_string_value(json_object_get(v, "method"));

        if (s && strcmp(s, "none") != 0 && strcmp(s, "api_key") != 0
            && strcmp(s, "oauth2") != 0)
        {
            return ngx_http_mcp_map_fail(err, "field \"auth.method\" must be "
                                         "\"none\", \"api_key\" or "
                                         "\"oauth2\"");
        }

        if (ngx_http_mcp_map_check_strings(json_object_get(v, "oauth_scopes"),
                                           "auth.oauth_scopes", err)
            != 0)
        {
            return -1;
        }
    }

    return 0;
}


static int
ngx_http_mcp_map_check_object(json_t *obj, const char *name,
    const char *const *fields, const char *types, ngx_http_mcp_map_err_t *err)
{
    json_t      *v;
    size_t       i;
    const char  *key;

    if (!json_is_object(obj)) {
        return ngx_http_mcp_map_fail(err, "field \"%s\" must be an object",
                                     name);
    }

    json_object_foreach(obj, key, v) {
        for (i = 0; fields[i]; i++) {
            if (strcmp(key, fields[i]) == 0) {
                break;
            }
        }

        if (fields[i] == NULL) {
            return ngx_http_mcp_map_fail(err, "unknown field \"%s%s%s\"",
                                         name ? name : "", name ? "." : "",
                                         key);
        }
    }

    return ngx_http_mcp_map_check_types(obj, fields, types, err);
}


static int
ngx_http_mcp_map_check_strings(json_t *array, const char *name,
    ngx_http_mcp_map_err_t *err)
{
    size_t   i;
    json_t  *v;

    json_array_foreach(array, i, v) {
        if (!json_is_string(v)) {
            return ngx_http_mcp_map_fail(err, "field \"%s\" must be an array "
                                         "of strings", name);
        }
    }

    return 0;
}


/*
 * Checks the types of the fields present: types[i] is the type of
 * fields[i]: 's' string, 'b' boolean, 'o' object, 'a' array,
 * 'O' object or null, 'i' integer.
 */

int
ngx_http_mcp_map_check_types(json_t *body, const char *const *fields,
    const char *types, ngx_http_mcp_map_err_t *err)
{
    int          ok;
    size_t       i;
    json_t      *v;
    const char  *want;

    for (i = 0; fields[i]; i++) {
        v = json_object_get(body, fields[i]);
        if (v == NULL) {
            continue;
        }

        switch (types[i]) {
        case 's': ok = json_is_string(v); want = "a string"; break;
        case 'b': ok = json_is_boolean(v); want = "a boolean"; break;
        case 'o': ok = json_is_object(v); want = "an object"; break;
        case 'O': ok = json_is_object(v) || json_is_null(v);
                  want = "an object or null"; break;
        case 'a': ok = json_is_array(v); want = "an array"; break;
        default:  ok = json_is_integer(v); want = "an integer"; break;
        }

        if (!ok) {
            return ngx_http_mcp_map_fail(err, "field \"%s\" must be %s",
                                         fields[i], want);
        }
    }

    return 0;
}


int
ngx_http_mcp_map_fail(ngx_http_mcp_map_err_t *err, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    vsnprintf(err->text, sizeof(err->text), fmt, args);
    va_end(args);

    return -1;
}


/*
 * A canonical update's fields that a vendor cannot express: the first of
 * "fields" that "obj" has is refused, named with "prefix" ("auth." etc.)
 */

static int
ngx_http_mcp_map_refuse(json_t *obj, const char *prefix,
    const char *const *fields, const ngx_http_mcp_vendor_t *vendor,
    ngx_http_mcp_map_err_t *err)
{
    size_t  i;

    for (i = 0; fields[i]; i++) {
        if (json_object_get(obj, fields[i])) {
            return ngx_http_mcp_map_fail(err, "field \"%s%s\" cannot be set "
                                         "on a %s registry", prefix,
                                         fields[i], vendor->name);
        }
    }

    return 0;
}


/* the other way round: every member of "obj" must be one of "fields" */

static int
ngx_http_mcp_map_allow(json_t *obj, const char *prefix,
    const char *const *fields, const ngx_http_mcp_vendor_t *vendor,
    ngx_http_mcp_map_err_t *err)
{
    size_t       i;
    json_t      *v;
    const char  *key;

    json_object_foreach(obj, key, v) {
        for (i = 0; fields[i]; i++) {
            if (strcmp(key, fields[i]) == 0) {
                break;
            }
        }

        if (fields[i] == NULL) {
            return ngx_http_mcp_map_fail(err, "field \"%s%s\" cannot be set "
                                         "on a %s registry", prefix, key,
                                         vendor->name);
        }
    }

    return 0;
}


/* dst[dkey] = src[skey] when src has it (null included) */

int
ngx_http_mcp_map_copy(json_t *dst, const char *dkey, json_t *src,
    const char *skey)
{
    json_t  *v;

    v = json_object_get(src, skey);
    if (v == NULL) {
        return 0;
    }

    return json_object_set(dst, dkey, v);
}


/* a canonical field: dst[dkey] = src[skey] when src has it (null included) */

int
ngx_http_mcp_map_field(ngx_http_mcp_obj_t *dst, const char *dkey,
    json_t *src, const char *skey)
{
    json_t  *v;

    v = json_object_get(src, skey);
    if (v == NULL) {
        return 0;
    }

    return ngx_http_mcp_obj_set(dst, dkey, v);
}


/*
 * dst[dkey] = src[skey] as ISO 8601 UTC; a value that is no timestamp
 * stays as it was under ext[skey] instead, so nothing is lost.
 */

int
ngx_http_mcp_map_time(ngx_http_mcp_obj_t *dst, const char *dkey,
    json_t *src, const char *skey, ngx_http_mcp_obj_t *ext)
{
    char     buf[64];
    size_t   len;
    json_t  *v;

    v = json_object_get(src, skey);
    if (v == NULL) {
        return 0;
    }

    if (json_is_null(v)) {
        return ngx_http_mcp_obj_set(dst, dkey, v);
    }

    if (json_is_string(v)
        && ngx_http_mcp_map_normalize_time(json_string_value(v), buf,
                                           sizeof(buf))
           == 0)
    {
        len = strlen(buf);

        /* one already in UTC is the vendor's own string */

        if (len == json_string_length(v)
            && memcmp(buf, json_string_value(v), len) == 0)
        {
            return ngx_http_mcp_obj_set(dst, dkey, v);
        }

        return ngx_http_mcp_obj_set_copy(dst, dkey, buf, len);
    }

    return ngx_http_mcp_obj_set(ext, skey, v);
}


/*
 * ext gets every field of src not named in "known" (NULL-terminated),
 * after the fields it has: a field of src may replace one of those, not
 * another of src's (a jansson object's keys are unique, and a parsed one
 * has no NUL byte in a key: jansson refuses it)
 */

int
ngx_http_mcp_map_rest(ngx_http_mcp_obj_t *ext, json_t *src,
    const char *const *known)
{
    size_t       i, first;
    json_t      *v;
    const char  *key;

    first = ext->n;

    json_object_foreach(src, key, v) {
        for (i = 0; known[i]; i++) {
            if (key[0] == known[i][0] && strcmp(key, known[i]) == 0) {
                break;
            }
        }

        if (known[i] == NULL
            && ngx_http_mcp_obj_put(ext, first, key, v) != 0)
        {
            return -1;
        }
    }

    return 0;
}


/* an absolute URI: scheme ":" something, RFC 3986 scheme characters */

int
ngx_http_mcp_map_is_uri(const char *s)
{
    const char  *p;

    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))) {
        return 0;
    }

    for (p = s + 1; *p && *p != ':'; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '+' || *p == '-'
              || *p == '.'))
        {
            return 0;
        }
    }

    if (*p != ':' || p[1] == '\0') {
        return 0;
    }

    for (p++; *p; p++) {
        if ((unsigned char) *p <= 0x20 || *p == 0x7f || *p == '"'
            || *p == '<' || *p == '>' || *p == '\\')
        {
            return 0;
        }
    }

    return 1;
}


/*
 * "2023-11-07T05:31:56Z", "2023-11-07T07:31:56.5+02:00", ... ->
 * "2023-11-07T05:31:56Z" (fractions of a second are kept, up to 30
 * digits: a longer one is refused rather than cut).
 * Returns 0, or -1 if "in" is not a real RFC 3339 date-time: a day its
 * month has (leap years counted), a year 0001 to 9999 before and after
 * the offset, an offset within +-23:59, a second 60 only where a leap
 * second can be (23:59:60 UTC on a month's last day).  Nothing is
 * normalized by the C library: timegm() would make 2023-02-30 into
 * March 2nd, and year 0 into -001.
 */

static int
ngx_http_mcp_map_digits(const char *p, int n)
{
    int  v;

    for (v = 0; n; n--, p++) {
        if (*p < '0' || *p > '9') {
            return -1;
        }

        v = v * 10 + (*p - '0');
    }

    return v;
}


static int
ngx_http_mcp_map_mdays(int year, int month)
{
    static const int  mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
                                  30, 31 };

    if (month == 2
        && year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))
    {
        return 29;
    }

    return mdays[month - 1];
}


/* days since 0000-03-01 of a date of the proleptic Gregorian calendar */

static long
ngx_http_mcp_map_days(int y, int m, int d)
{
    long  era, yoe, doy;

    y -= (m <= 2);
    era = y / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;

    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy;
}


static void
ngx_http_mcp_map_date(long days, int *y, int *m, int *d)
{
    long  era, doe, yoe, doy, mp;

    era = days / 146097;
    doe = days - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;

    *d = (int) (doy - (153 * mp + 2) / 5 + 1);
    *m = (int) (mp < 10 ? mp + 3 : mp - 9);
    *y = (int) (yoe + era * 400 + (*m <= 2));
}


int
ngx_http_mcp_map_normalize_time(const char *in, char *out, size_t len)
{
    int          n, year, month, day, hour, min, sec, leap, off;
    long         days, minutes;
    char         frac[32];
    size_t       flen;
    const char  *p;

    /* YYYY-MM-DDTHH:MM:SS */

    if (strlen(in) < 20 || in[4] != '-' || in[7] != '-'
        || (in[10] != 'T' && in[10] != 't' && in[10] != ' ')
        || in[13] != ':' || in[16] != ':')
    {
        return -1;
    }

    year = ngx_http_mcp_map_digits(in, 4);
    month = ngx_http_mcp_map_digits(in + 5, 2);
    day = ngx_http_mcp_map_digits(in + 8, 2);
    hour = ngx_http_mcp_map_digits(in + 11, 2);
    min = ngx_http_mcp_map_digits(in + 14, 2);
    sec = ngx_http_mcp_map_digits(in + 17, 2);

    if (year < 1 || month < 1 || month > 12 || day < 1
        || day > ngx_http_mcp_map_mdays(year, month)
        || hour < 0 || hour > 23 || min < 0 || min > 59
        || sec < 0 || sec > 60)
    {
        return -1;
    }

    p = in + 19;
    flen = 0;

    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++) {

            /* more digits than are kept: refused, not cut short */

            if (flen == sizeof(frac) - 2) {
                return -1;
            }

            frac[++flen] = *p;
        }

        if (flen == 0) {
            return -1;
        }

        frac[0] = '.';
        flen++;
    }

    frac[flen] = '\0';

    /* the offset, in minutes: +-HH:MM, HH at most 23 */

    if (*p == 'Z' || *p == 'z') {
        off = 0;
        p++;

    } else if (*p == '+' || *p == '-') {
        n = ngx_http_mcp_map_digits(p + 1, 2);

        if (n < 0 || n > 23 || p[3] != ':') {
            return -1;
        }

        off = ngx_http_mcp_map_digits(p + 4, 2);

        if (off < 0 || off > 59) {
            return -1;
        }

        off += n * 60;

        if (*p == '-') {
            off = -off;
        }

        p += 6;

    } else {
        return -1;
    }

    if (*p != '\0') {
        return -1;
    }

    /* to UTC, by whole minutes: the seconds never move */

    leap = (sec == 60);

    minutes = (ngx_http_mcp_map_days(year, month, day) * 24 + hour) * 60
              + min - off;

    days = minutes / 1440;
    minutes %= 1440;

    if (minutes < 0) {
        minutes += 1440;
        days--;
    }

    ngx_http_mcp_map_date(days, &year, &month, &day);

    hour = (int) (minutes / 60);
    min = (int) (minutes % 60);

    if (year < 1 || year > 9999) {
        return -1;
    }

    if (leap
        && !(hour == 23 && min == 59
             && day == ngx_http_mcp_map_mdays(year, month)))
    {
        return -1;
    }

    /* "%04d-%02d-%02dT%02d:%02d:%02d%sZ", without snprintf()'s cost */

    if (len < sizeof("YYYY-MM-DDTHH:MM:SSZ") + flen) {
        return -1;
    }

    out = ngx_http_mcp_map_two(out, year / 100);
    out = ngx_http_mcp_map_two(out, year % 100);
    *out++ = '-';
    out = ngx_http_mcp_map_two(out, month);
    *out++ = '-';
    out = ngx_http_mcp_map_two(out, day);
    *out++ = 'T';
    out = ngx_http_mcp_map_two(out, hour);
    *out++ = ':';
    out = ngx_http_mcp_map_two(out, min);
    *out++ = ':';
    out = ngx_http_mcp_map_two(out, sec);

    memcpy(out, frac, flen);
    out += flen;

    *out++ = 'Z';
    *out = '\0';

    return 0;
}


/* two decimal digits of 0 to 99 */

static char *
ngx_http_mcp_map_two(char *p, int v)
{
    *p++ = (char) ('0' + v / 10);
    *p++ = (char) ('0' + v % 10);

    return p;
}
