
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * Kambrium: GET|PUT /api/v1/mcp-servers/{id}.  Its docs show two answer
 * envelopes for the same endpoint, both accepted:
 *
 *     {"success": true, "data": {"id": 123, "mcp_server_name": ...}}
 *     {"message": "...", "connection": {"connection_id": ..., "name": ...}}
 */


#include <stdio.h>
#include <string.h>

#include "ngx_http_mcp_map.h"


static int ngx_http_mcp_kambrium_id(const unsigned char *id, size_t len,
    unsigned char *canonical);
static int ngx_http_mcp_kambrium_data(json_t *d, ngx_http_mcp_obj_t *server,
    ngx_http_mcp_obj_t *ext);
static int ngx_http_mcp_kambrium_connection(json_t *c,
    ngx_http_mcp_obj_t *server, ngx_http_mcp_obj_t *ext);
static const char *ngx_http_mcp_kambrium_status(json_t *rec);
static int ngx_http_mcp_kambrium_check_native(json_t *body,
    ngx_http_mcp_map_err_t *err);


static const char *const  ngx_http_mcp_kambrium_data_known[] = {
    "id", "mcp_server_name", "agent_enabled", "access_type",
    "oauth2_client_id", "oauth2_scopes", "disabled_tools", "created_at",
    "updated_at", NULL
};

static const char *const  ngx_http_mcp_kambrium_connection_known[] = {
    "name", "description", "server_type", "auth_method", "access_type",
    "oauth2_client_id", "oauth2_scopes", "disabled_tools", "created_at",
    "updated_at", NULL
};

/* the PUT body: the fields of both of the vendor's PUT examples */

static const char *const  ngx_http_mcp_kambrium_put_fields[] = {
    "agent_enabled", "access_type", "api_key", "name", "description",
    "oauth2_client_secret", "config", "connection_id", NULL
};

static const char  ngx_http_mcp_kambrium_put_types[] = "bsssssos";


/* an integer ("123") or a prefixed string ("srv_123abc"), case kept */

static int
ngx_http_mcp_kambrium_id(const unsigned char *id, size_t len,
    unsigned char *canonical)
{
    size_t  i;

    if (len > 4 && memcmp(id, "srv_", 4) == 0) {
        for (i = 4; i < len; i++) {
            if (!((id[i] >= '0' && id[i] <= '9')
                  || (id[i] >= 'a' && id[i] <= 'z')
                  || (id[i] >= 'A' && id[i] <= 'Z')))
            {
                return 0;
            }
        }

    } else {

        /* a positive integer that fits in 63 bits: at most 18 digits */

        if (len > 18 || id[0] == '0') {
            return 0;
        }

        for (i = 0; i < len; i++) {
            if (id[i] < '0' || id[i] > '9') {
                return 0;
            }
        }
    }

    memcpy(canonical, id, len);

    return 1;
}


/* one of the two envelopes of the docs: "data" or "connection" */

static int
ngx_http_mcp_kambrium_check_answer(json_t *body, ngx_http_mcp_map_err_t *err)
{
    if (json_is_object(json_object_get(body, "data"))
        || json_is_object(json_object_get(body, "connection")))
    {
        return 0;
    }

    return ngx_http_mcp_map_fail(err, "neither \"data\" nor \"connection\" "
                                 "in the answer");
}


static int
ngx_http_mcp_kambrium_to_canonical(json_t *body, ngx_http_mcp_obj_t *server,
    ngx_http_mcp_map_err_t *err)
{
    int                  rc;
    json_t              *rec;
    ngx_http_mcp_obj_t  *ext, *exts;

    ext = ngx_http_mcp_doc_object(server->doc);
    exts = ngx_http_mcp_doc_object(server->doc);

    if (ext == NULL || exts == NULL) {
        return ngx_http_mcp_map_fail(err, "out of memory");
    }

    rec = json_object_get(body, "data");

    if (json_is_object(rec)) {
        ngx_http_mcp_obj_set_string(ext, "envelope", "data", 4);
        rc = ngx_http_mcp_kambrium_data(rec, server, ext);

    } else {
        /* ngx_http_mcp_kambrium_check_answer(): the other envelope */
        rec = json_object_get(body, "connection");
        ngx_http_mcp_obj_set_string(ext, "envelope", "connection", 10);
        rc = ngx_http_mcp_kambrium_connection(rec, server, ext);
    }

    if (rc != 0
        || ngx_http_mcp_obj_set_obj(exts, "kambrium", ext) != 0
        || ngx_http_mcp_obj_set_obj(server, "extensions", exts) != 0)
    {
        return ngx_http_mcp_map_fail(err, "out of memory");
    }

    return 0;
}


/* {"success": true, "data": {...}} */

static int
ngx_http_mcp_kambrium_data(json_t *d, ngx_http_mcp_obj_t *server,
    ngx_http_mcp_obj_t *ext)
{
    int                  n;
    char                 buf[32];
    json_t              *v, *vs;
    const char          *s;
    ngx_http_mcp_obj_t  *auth;

    v = json_object_get(d, "id");

    if (json_is_integer(v)) {
        n = snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT,
                     json_integer_value(v));
        ngx_http_mcp_obj_set_copy(server, "vendor_id", buf, (size_t) n);

    } else if (json_is_string(v)) {
        ngx_http_mcp_obj_set(server, "vendor_id", v);
    }

    ngx_http_mcp_map_field(server, "name", d, "mcp_server_name");
    ngx_http_mcp_map_field(server, "enabled", d, "agent_enabled");

    s = ngx_http_mcp_kambrium_status(d);
    ngx_http_mcp_obj_set_string(server, "status", s, strlen(s));

    auth = ngx_http_mcp_doc_object(server->doc);
    if (auth == NULL) {
        return -1;
    }

    ngx_http_mcp_map_field(auth, "oauth_client_id", d, "oauth2_client_id");
    ngx_http_mcp_map_field(auth, "oauth_scopes", d, "oauth2_scopes");

    /* a verification status exists once a key was set */

    vs = json_object_get(d, "api_key_verification_status");
    if (vs) {
        ngx_http_mcp_obj_set(auth, "credentials_set",
                             json_boolean(json_is_string(vs)));
    }

    ngx_http_mcp_obj_set_obj(server, "auth", auth);

    ngx_http_mcp_map_field(server, "access_type", d, "access_type");
    ngx_http_mcp_map_field(server, "disabled_tools", d, "disabled_tools");
    ngx_http_mcp_map_time(server, "created_at", d, "created_at", ext);
    ngx_http_mcp_map_time(server, "updated_at", d, "updated_at", ext);

    return ngx_http_mcp_map_rest(ext, d, ngx_http_mcp_kambrium_data_known);
}


/* {"message": "...", "connection": {...}} */

static int
ngx_http_mcp_kambrium_connection(json_t *c, ngx_http_mcp_obj_t *server,
    ngx_http_mcp_obj_t *ext)
{
    json_t              *v;
    const char          *s, *m;
    ngx_http_mcp_obj_t  *auth;

    ngx_http_mcp_map_field(server, "name", c, "name");
    ngx_http_mcp_map_field(server, "description", c, "description");
    ngx_http_mcp_map_field(server, "provider", c, "server_type");

    s = ngx_http_mcp_kambrium_status(c);
    ngx_http_mcp_obj_set_string(server, "status", s, strlen(s));

    if (strcmp(s, "active") == 0 || strcmp(s, "disabled") == 0) {
        ngx_http_mcp_obj_set(server, "enabled",
                             json_boolean(strcmp(s, "active") == 0));
    }

    auth = ngx_http_mcp_doc_object(server->doc);
    if (auth == NULL) {
        return -1;
    }

    v = json_object_get(c, "auth_method");
    s = json_string_value(v);
    m = NULL;

    if (s) {
        if (strcmp(s, "api_key") == 0 || strcmp(s, "none") == 0) {
            m = s;

        } else if (strcmp(s, "oauth2") == 0 || strcmp(s, "oauth") == 0) {
            m = "oauth2";
        }
    }

    if (m) {
        ngx_http_mcp_obj_set_string(auth, "method", m, strlen(m));

    } else if (v) {
        ngx_http_mcp_obj_set(ext, "auth_method", v);
    }

    ngx_http_mcp_map_field(auth, "oauth_client_id", c, "oauth2_client_id");
    ngx_http_mcp_map_field(auth, "oauth_scopes", c, "oauth2_scopes");
    ngx_http_mcp_obj_set_obj(server, "auth", auth);

    ngx_http_mcp_map_field(server, "access_type", c, "access_type");
    ngx_http_mcp_map_field(server, "disabled_tools", c, "disabled_tools");
    ngx_http_mcp_map_time(server, "created_at", c, "created_at", ext);
    ngx_http_mcp_map_time(server, "updated_at", c, "updated_at", ext);

    return ngx_http_mcp_map_rest(ext, c,
                                 ngx_http_mcp_kambrium_connection_known);
}


/*
 * One status from three fields: "status" (connection envelope), or
 * "agent_enabled" and "api_key_verification_status" (data envelope).
 */

static const char *
ngx_http_mcp_kambrium_status(json_t *rec)
{
    json_t      *enabled;
    const char  *s;

    s = json_string_value(json_object_get(rec, "status"));

    if (s) {
        if (strcmp(s, "active") == 0) {
            return "active";
        }

        if (strcmp(s, "inactive") == 0 || strcmp(s, "disabled") == 0) {
            return "disabled";
        }

        if (strcmp(s, "pending") == 0) {
            return "pending";
        }

        if (strcmp(s, "error") == 0 || strcmp(s, "failed") == 0) {
            return "error";
        }

        return "unknown";
    }

    enabled = json_object_get(rec, "agent_enabled");

    if (json_is_false(enabled)) {
        return "disabled";
    }

    s = json_string_value(json_object_get(rec,
                                          "api_key_verification_status"));

    if (s) {
        if (strcmp(s, "verified") == 0) {
            return "active";
        }

        if (strcmp(s, "pending") == 0) {
            return "pending";
        }

        if (strcmp(s, "failed") == 0) {
            return "error";
        }

        return "unknown";
    }

    return json_is_true(enabled) ? "active" : "unknown";
}


static json_t *
ngx_http_mcp_kambrium_from_canonical(json_t *update,
    ngx_http_mcp_map_err_t *err)
{
    json_t  *body, *auth, *ext;

    auth = json_object_get(update, "auth");
    ext = json_object_get(json_object_get(update, "extensions"), "kambrium");

    body = json_object();
    if (body == NULL) {
        ngx_http_mcp_map_fail(err, "out of memory");
        return NULL;
    }

    if (ngx_http_mcp_map_copy(body, "name", update, "name") != 0
        || ngx_http_mcp_map_copy(body, "description", update, "description")
           != 0
        || ngx_http_mcp_map_copy(body, "agent_enabled", update, "enabled")
           != 0
        || ngx_http_mcp_map_copy(body, "access_type", update, "access_type")
           != 0
        || ngx_http_mcp_map_copy(body, "api_key", auth, "api_key") != 0
        || ngx_http_mcp_map_copy(body, "oauth2_client_secret", auth,
                                 "oauth_client_secret") != 0
        || ngx_http_mcp_map_copy(body, "config", ext, "config") != 0
        || ngx_http_mcp_map_copy(body, "connection_id", ext, "connection_id")
           != 0)
    {
        json_decref(body);
        ngx_http_mcp_map_fail(err, "out of memory");
        return NULL;
    }

    if (ngx_http_mcp_kambrium_check_native(body, err) != 0) {
        json_decref(body);
        return NULL;
    }

    return body;
}


static int
ngx_http_mcp_kambrium_check_native(json_t *body, ngx_http_mcp_map_err_t *err)
{
    const char  *s;

    if (ngx_http_mcp_map_check_types(body, ngx_http_mcp_kambrium_put_fields,
                                     ngx_http_mcp_kambrium_put_types, err)
        != 0)
    {
        return -1;
    }

    s = json_string_value(json_object_get(body, "access_type"));

    if (json_object_get(body, "access_type")
        && (s == NULL
            || (strcmp(s, "read") != 0 && strcmp(s, "write") != 0
                && strcmp(s, "individual") != 0)))
    {
        return ngx_http_mcp_map_fail(err, "Invalid access type specified");
    }

    return 0;
}


static const char *const  ngx_http_mcp_kambrium_refused[] = {
    "slug", "remote", "disabled_tools", NULL
};

static const char *const  ngx_http_mcp_kambrium_refused_auth[] = {
    "method", "oauth_client_id", "oauth_scopes", NULL
};

static const char *const  ngx_http_mcp_kambrium_extensions[] = {
    "config", "connection_id", NULL
};


/* $mcp_changed_fields */

static const ngx_http_mcp_vendor_field_t  ngx_http_mcp_kambrium_fields[] = {
    { "name", "name" },
    { "description", "description" },
    { "agent_enabled", "enabled" },
    { "access_type", "access_type" },
    { "disabled_tools", "disabled_tools" },
    { "api_key", "auth.api_key" },
    { "oauth2_client_id", "auth.oauth_client_id" },
    { "oauth2_client_secret", "auth.oauth_client_secret" },
    { "oauth2_scopes", "auth.oauth_scopes" },
    { NULL, NULL }
};


const ngx_http_mcp_vendor_t  ngx_http_mcp_vendor_kambrium = {
    "kambrium",
    "/api/v1/mcp-servers/",
    ngx_http_mcp_kambrium_id,
    "MCP server %V not found or not accessible",
    ngx_http_mcp_kambrium_check_answer,
    ngx_http_mcp_kambrium_to_canonical,
    ngx_http_mcp_kambrium_from_canonical,
    ngx_http_mcp_kambrium_check_native,
    NULL,                       /* the generic scrub does it all */
    ngx_http_mcp_map_none,      /* no credentials objects in its docs */
    ngx_http_mcp_map_none,
    ngx_http_mcp_kambrium_refused,
    ngx_http_mcp_kambrium_refused_auth,
    ngx_http_mcp_kambrium_extensions,
    ngx_http_mcp_kambrium_fields
};
