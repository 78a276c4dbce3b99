
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * Gatana: PUT /api/v1/mcp-servers/{slug}, answering
 * {"server": {...}, "files": [...], "currentUserCredentials": {...}}.
 * The answer carries secrets (authorization.apikeys, the values of
 * transportConfig.headers): they never leave the gateway.
 */


#include <string.h>

#include "ngx_http_mcp_map.h"


static int ngx_http_mcp_gatana_id(const unsigned char *id, size_t len,
    unsigned char *canonical);
static int ngx_http_mcp_gatana_check_slug(json_t *slug,
    ngx_http_mcp_map_err_t *err);
static int ngx_http_mcp_gatana_check_native(json_t *body,
    ngx_http_mcp_map_err_t *err);


static const char *const  ngx_http_mcp_gatana_known[] = {
    "slug", "name", "description", "isEnabled", "createdAt", "updatedAt",
    "authorization", "transportConfig", NULL
};

static const char *const  ngx_http_mcp_gatana_put_fields[] = {
    "name", "slug", "description", "logoUrl", "url", "authorization",
    "transportConfig", "oauthMetadata", "oauthClientConfiguration", NULL
};

static const char  ngx_http_mcp_gatana_put_types[] = "sssssooOO";

/* what an update may carry under extensions.gatana */

static const char *const  ngx_http_mcp_gatana_ext_fields[] = {
    "logoUrl", "credentialsScope", "transportHeaders", "oauthMetadata",
    "oauthClientConfiguration", NULL
};

static const char  ngx_http_mcp_gatana_ext_types[] = "ssaOO";


static int
ngx_http_mcp_gatana_check_answer(json_t *body, ngx_http_mcp_map_err_t *err)
{
    if (json_is_object(json_object_get(body, "server"))) {
        return 0;
    }

    return ngx_http_mcp_map_fail(err, "no \"server\" object in the answer");
}


static int
ngx_http_mcp_gatana_to_canonical(json_t *body, ngx_http_mcp_obj_t *server,
    ngx_http_mcp_map_err_t *err)
{
    size_t                  i;
    json_t                 *srv, *v, *a, *t, *h;
    const char             *s, *m;
    ngx_http_mcp_doc_t     *doc;
    ngx_http_mcp_obj_t     *names, *remote, *auth, *ext, *exts;
    ngx_http_mcp_member_t  *id;

    /* ngx_http_mcp_gatana_check_answer(): an object */
    srv = json_object_get(body, "server");

    doc = server->doc;

    ext = ngx_http_mcp_doc_object(doc);
    exts = ngx_http_mcp_doc_object(doc);
    auth = ngx_http_mcp_doc_object(doc);
    remote = ngx_http_mcp_doc_object(doc);
    names = ngx_http_mcp_doc_array(doc);

    if (ext == NULL || exts == NULL || auth == NULL || remote == NULL
        || names == NULL)
    {
        return ngx_http_mcp_map_fail(err, "out of memory");
    }

    v = json_object_get(srv, "slug");
    if (json_is_string(v)) {
        ngx_http_mcp_obj_set(server, "vendor_id", v);
    }

    ngx_http_mcp_map_field(server, "name", srv, "name");
    ngx_http_mcp_map_field(server, "description", srv, "description");
    ngx_http_mcp_map_field(server, "slug", srv, "slug");

    /* the MCP endpoint, in the MCP Registry's "remotes" vocabulary */

    t = json_object_get(srv, "transportConfig");
    v = json_object_get(t, "type");
    s = json_string_value(v);

    if (s) {
        if (strcmp(s, "httpstreaming") == 0) {
            ngx_http_mcp_obj_set_string(remote, "type", "streamable-http",
                                        sizeof("streamable-http") - 1);

        } else if (strcmp(s, "sse") == 0) {
            ngx_http_mcp_obj_set(remote, "type", v);

        } else {
            ngx_http_mcp_obj_set(ext, "transportType", v);
        }
    }

    ngx_http_mcp_map_field(remote, "url", t, "url");

    if (remote->n) {
        ngx_http_mcp_obj_set_obj(server, "remote", remote);
    }

    /* header names only: their values are credentials */

    json_array_foreach(json_object_get(t, "headers"), i, h) {
        v = json_array_get(h, 0);
        if (json_is_string(v)) {
            ngx_http_mcp_obj_append(names, v);
        }
    }

    if (json_object_get(t, "headers")) {
        ngx_http_mcp_obj_set_obj(ext, "transportHeaderNames", names);
    }

    v = json_object_get(srv, "isEnabled");

    if (json_is_boolean(v)) {
        ngx_http_mcp_obj_set(server, "enabled", v);
        s = json_is_true(v) ? "active" : "disabled";

    } else {
        s = "unknown";
    }

    ngx_http_mcp_obj_set_string(server, "status", s, strlen(s));

    a = json_object_get(srv, "authorization");
    v = json_object_get(a, "method");
    s = json_string_value(v);
    m = NULL;

    if (s) {
        if (strcmp(s, "none") == 0) {
            m = "none";

        } else if (strcmp(s, "apikey") == 0 || strcmp(s, "api_key") == 0) {
            m = "api_key";

        } else if (strcmp(s, "oauth") == 0 || strcmp(s, "oauth2") == 0) {
            m = "oauth2";

        } else {
            ngx_http_mcp_obj_set(ext, "authorizationMethod", v);
        }
    }

    if (m) {
        ngx_http_mcp_obj_set_string(auth, "method", m, strlen(m));
    }

    ngx_http_mcp_map_field(auth, "oauth_client_id",
                           json_object_get(srv, "oauthClientConfiguration"),
                           "client_id");

    v = json_object_get(a, "apikeys");
    if (json_is_array(v)) {
        ngx_http_mcp_obj_set(auth, "credentials_set",
                             json_boolean(json_array_size(v) > 0
                                 || json_is_true(json_object_get(
                                        json_object_get(srv,
                                                        "serverCredentials"),
                                        "hasAccessToken"))));
    }

    ngx_http_mcp_obj_set_obj(server, "auth", auth);

    ngx_http_mcp_map_field(ext, "credentialsScope", a, "credentialsScope");

    ngx_http_mcp_map_time(server, "created_at", srv, "createdAt", ext);
    ngx_http_mcp_map_time(server, "updated_at", srv, "updatedAt", ext);

    /* the rest of the server, and the answer's other members */

    if (ngx_http_mcp_map_rest(ext, srv, ngx_http_mcp_gatana_known) != 0
        || ngx_http_mcp_map_field(ext, "files", body, "files") != 0
        || ngx_http_mcp_map_field(ext, "currentUserCredentials", body,
                                  "currentUserCredentials") != 0
        || ngx_http_mcp_obj_set_obj(exts, "gatana", ext) != 0
        || ngx_http_mcp_obj_set_obj(server, "extensions", exts) != 0)
    {
        return ngx_http_mcp_map_fail(err, "out of memory");
    }

    /* "id" of the server is Gatana's internal number, not its path id */

    id = ngx_http_mcp_obj_get(ext, "id");
    if (id) {
        ngx_http_mcp_obj_set_member(ext, "serverId", id);
        ngx_http_mcp_obj_del(ext, "id");
    }

    return 0;
}


static json_t *
ngx_http_mcp_gatana_from_canonical(json_t *update,
    ngx_http_mcp_map_err_t *err)
{
    json_t      *body, *auth, *ext, *remote, *a, *t, *o, *keys;
    const char  *s, *m;

    ext = json_object_get(json_object_get(update, "extensions"), "gatana");

    if (ngx_http_mcp_map_check_types(ext, ngx_http_mcp_gatana_ext_fields,
                                     ngx_http_mcp_gatana_ext_types, err)
        != 0)
    {
        return NULL;
    }

    body = json_object();
    a = json_object();
    t = json_object();
    o = json_object();

    if (body == NULL || a == NULL || t == NULL || o == NULL) {
        goto nomem;
    }

    auth = json_object_get(update, "auth");
    remote = json_object_get(update, "remote");

    if (ngx_http_mcp_map_copy(body, "name", update, "name") != 0
        || ngx_http_mcp_map_copy(body, "slug", update, "slug") != 0
        || ngx_http_mcp_map_copy(body, "description", update, "description")
           != 0
        || ngx_http_mcp_map_copy(body, "logoUrl", ext, "logoUrl") != 0
        || ngx_http_mcp_map_copy(body, "url", remote, "url") != 0
        || ngx_http_mcp_map_copy(body, "oauthMetadata", ext, "oauthMetadata")
           != 0
        || ngx_http_mcp_map_copy(body, "oauthClientConfiguration", ext,
                                 "oauthClientConfiguration") != 0)
    {
        goto nomem;
    }

    /* authorization: {method, credentialsScope, apikeys} */

    s = json_string_value(json_object_get(auth, "method"));
    m = NULL;

    if (s) {
        m = (strcmp(s, "api_key") == 0) ? "apikey"
            : (strcmp(s, "oauth2") == 0) ? "oauth" : "none";
        json_object_set_new(a, "method", json_string(m));
    }

    ngx_http_mcp_map_copy(a, "credentialsScope", ext, "credentialsScope");

    if (json_object_get(auth, "api_key")) {
        keys = json_array();
        if (keys == NULL
            || json_array_append(keys, json_object_get(auth, "api_key")) != 0
            || json_object_set_new(a, "apikeys", keys) != 0)
        {
            goto nomem;
        }
    }

    if (json_object_size(a) && json_object_set(body, "authorization", a) != 0)
    {
        goto nomem;
    }

    /* transportConfig: {type, url, headers} */

    s = json_string_value(json_object_get(remote, "type"));

    if (s) {
        json_object_set_new(t, "type",
                            json_string(strcmp(s, "sse") == 0
                                        ? "sse" : "httpstreaming"));
    }

    ngx_http_mcp_map_copy(t, "url", remote, "url");
    ngx_http_mcp_map_copy(t, "headers", ext, "transportHeaders");

    if (json_object_size(t)
        && json_object_set(body, "transportConfig", t) != 0)
    {
        goto nomem;
    }

    /* the OAuth client: oauthClientConfiguration {client_id, client_secret} */

    ngx_http_mcp_map_copy(o, "client_id", auth, "oauth_client_id");
    ngx_http_mcp_map_copy(o, "client_secret", auth, "oauth_client_secret");

    if (json_object_size(o)) {
        if (json_object_get(body, "oauthClientConfiguration")) {
            ngx_http_mcp_map_fail(err, "give the OAuth client either in "
                                  "\"auth\" or in \"extensions.gatana."
                                  "oauthClientConfiguration\", not both");
            goto failed;
        }

        if (json_object_set(body, "oauthClientConfiguration", o) != 0) {
            goto nomem;
        }
    }

    json_decref(a);
    json_decref(t);
    json_decref(o);

    if (!json_object_get(body, "name") || !json_object_get(body, "slug")) {
        ngx_http_mcp_map_fail(err, "a gatana registry needs \"name\" and "
                              "\"slug\" in every update");
        json_decref(body);
        return NULL;
    }

    if (ngx_http_mcp_gatana_check_native(body, err) != 0) {
        json_decref(body);
        return NULL;
    }

    return body;

nomem:

    ngx_http_mcp_map_fail(err, "out of memory");

failed:

    json_decref(body);
    json_decref(a);
    json_decref(t);
    json_decref(o);

    return NULL;
}


static int
ngx_http_mcp_gatana_check_native(json_t *body, ngx_http_mcp_map_err_t *err)
{
    size_t       i;
    json_t      *v;
    const char  *uris[] = { "logoUrl", "url", NULL };

    if (json_object_get(body, "name") == NULL) {
        return ngx_http_mcp_map_fail(err, "field \"name\" is required");
    }

    if (json_object_get(body, "slug") == NULL) {
        return ngx_http_mcp_map_fail(err, "field \"slug\" is required");
    }

    if (ngx_http_mcp_map_check_types(body, ngx_http_mcp_gatana_put_fields,
                                     ngx_http_mcp_gatana_put_types, err)
        != 0)
    {
        return -1;
    }

    if (ngx_http_mcp_gatana_check_slug(json_object_get(body, "slug"), err)
        != 0)
    {
        return -1;
    }

    for (i = 0; uris[i]; i++) {
        v = json_object_get(body, uris[i]);

        if (v && !ngx_http_mcp_map_is_uri(json_string_value(v))) {
            return ngx_http_mcp_map_fail(err, "field \"%s\" must be a URI",
                                         uris[i]);
        }
    }

    return 0;
}


/* a slug: ^[-a-z0-9]+$, at most 20 characters */

static int
ngx_http_mcp_gatana_id(const unsigned char *id, size_t len,
    unsigned char *canonical)
{
    size_t  i;

    if (len > 20) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!(id[i] == '-'
              || (id[i] >= 'a' && id[i] <= 'z')
              || (id[i] >= '0' && id[i] <= '9')))
        {
            return 0;
        }
    }

    memcpy(canonical, id, len);

    return 1;
}


static int
ngx_http_mcp_gatana_check_slug(json_t *slug, ngx_http_mcp_map_err_t *err)
{
    if (!ngx_http_mcp_vendor_id(&ngx_http_mcp_vendor_gatana,
                                (const unsigned char *)
                                    json_string_value(slug),
                                json_string_length(slug), NULL))
    {
        return ngx_http_mcp_map_fail(err, "field \"slug\" must match "
                                     "^[-a-z0-9]+$ and have at most 20 "
                                     "characters");
    }

    return 0;
}


static void
ngx_http_mcp_gatana_redact(json_t *body)
{
    json_t  *srv;

    srv = json_object_get(body, "server");

    json_object_del(json_object_get(srv, "authorization"), "apikeys");
    json_object_del(json_object_get(srv, "transportConfig"), "headers");
}


static const char *const  ngx_http_mcp_gatana_refused[] = {
    "enabled", "access_type", "disabled_tools", NULL
};

static const char *const  ngx_http_mcp_gatana_refused_auth[] = {
    "oauth_scopes", NULL
};

/* the answer's credentials objects, and what the docs show of them */

static const char *const  ngx_http_mcp_gatana_credentials[] = {
    "serverCredentials", "currentUserCredentials", NULL
};

static const char *const  ngx_http_mcp_gatana_credential_fields[] = {
    "type", "hasAccessToken", "accessTokenExpiry", "hasRefreshToken",
    "subject", "email", "createdAt", "lastUsedAt", NULL
};


/* $mcp_changed_fields */

static const ngx_http_mcp_vendor_field_t  ngx_http_mcp_gatana_fields[] = {
    { "name", "name" },
    { "slug", "slug" },
    { "description", "description" },
    { "isEnabled", "enabled" },
    { "url", "remote.url" },
    { "transportConfig.url", "remote.url" },
    { "transportConfig.type", "remote.type" },
    { "transportConfig.headers", "extensions.gatana.transportHeaders" },
    { "authorization.method", "auth.method" },
    { "authorization.apikeys", "auth.api_key" },
    { "authorization.credentialsScope", "extensions.gatana.credentialsScope" },
    { "oauthClientConfiguration.client_id", "auth.oauth_client_id" },
    { "oauthClientConfiguration.client_secret", "auth.oauth_client_secret" },
    { NULL, NULL }
};


const ngx_http_mcp_vendor_t  ngx_http_mcp_vendor_gatana = {
    "gatana",
    "/api/v1/mcp-servers/",
    ngx_http_mcp_gatana_id,
    "MCP server not found",
    ngx_http_mcp_gatana_check_answer,
    ngx_http_mcp_gatana_to_canonical,
    ngx_http_mcp_gatana_from_canonical,
    ngx_http_mcp_gatana_check_native,
    ngx_http_mcp_gatana_redact,
    ngx_http_mcp_gatana_credentials,
    ngx_http_mcp_gatana_credential_fields,
    ngx_http_mcp_gatana_refused,
    ngx_http_mcp_gatana_refused_auth,
    ngx_http_mcp_gatana_ext_fields,
    ngx_http_mcp_gatana_fields
};
