
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * Barndoor: PUT /api/servers/{uuid}, answering a flat object
 * {id, name, slug, connection_status, provider, url}.
 */


#include <string.h>

#include "ngx_http_mcp_map.h"


static int ngx_http_mcp_barndoor_id(const unsigned char *id, size_t len,
    unsigned char *canonical);
static int ngx_http_mcp_barndoor_check_native(json_t *body,
    ngx_http_mcp_map_err_t *err);


static const char *const  ngx_http_mcp_barndoor_known[] = {
    "id", "name", "slug", "provider", "url", NULL
};

static const char *const  ngx_http_mcp_barndoor_put_fields[] = {
    "name", "slug", "client_id", "client_secret", "meta", NULL
};

static const char  ngx_http_mcp_barndoor_put_types[] = "sssso";


/*
 * A UUID in its 8-4-4-4-12 form.  Barndoor takes the hex digits in either
 * case: the one spelling is lower case, so that both name one server.
 */

static int
ngx_http_mcp_barndoor_id(const unsigned char *id, size_t len,
    unsigned char *canonical)
{
    size_t         i;
    unsigned char  c;

    if (len != 36) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = id[i];

        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') {
                return 0;
            }

        } else if (c >= 'A' && c <= 'F') {
            c |= 0x20;

        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }

        canonical[i] = c;
    }

    return 1;
}


static int
ngx_http_mcp_barndoor_check_answer(json_t *body, ngx_http_mcp_map_err_t *err)
{
    if (json_is_string(json_object_get(body, "id"))) {
        return 0;
    }

    return ngx_http_mcp_map_fail(err, "no server \"id\" in the answer");
}


static int
ngx_http_mcp_barndoor_to_canonical(json_t *body, ngx_http_mcp_obj_t *server,
    ngx_http_mcp_map_err_t *err)
{
    json_t              *v;
    const char          *s, *status;
    ngx_http_mcp_obj_t  *remote, *ext, *exts;

    /* ngx_http_mcp_barndoor_check_answer(): a string */
    ngx_http_mcp_obj_set(server, "vendor_id", json_object_get(body, "id"));
    ngx_http_mcp_map_field(server, "name", body, "name");
    ngx_http_mcp_map_field(server, "slug", body, "slug");
    ngx_http_mcp_map_field(server, "provider", body, "provider");

    v = json_object_get(body, "url");

    if (json_is_string(v)) {
        remote = ngx_http_mcp_doc_object(server->doc);
        if (remote == NULL) {
            return ngx_http_mcp_map_fail(err, "out of memory");
        }

        ngx_http_mcp_obj_set(remote, "url", v);
        ngx_http_mcp_obj_set_obj(server, "remote", remote);

    } else if (json_is_null(v)) {
        ngx_http_mcp_obj_set(server, "remote", v);
    }

    s = json_string_value(json_object_get(body, "connection_status"));
    status = "unknown";

    if (s) {
        if (strcmp(s, "connected") == 0) {
            status = "active";

        } else if (strcmp(s, "pending") == 0 || strcmp(s, "error") == 0
                   || strcmp(s, "available") == 0)
        {
            status = s;
        }
    }

    ngx_http_mcp_obj_set_string(server, "status", status, strlen(status));

    ext = ngx_http_mcp_doc_object(server->doc);
    exts = ngx_http_mcp_doc_object(server->doc);

    if (ext == NULL || exts == NULL
        || ngx_http_mcp_map_rest(ext, body, ngx_http_mcp_barndoor_known) != 0
        || ngx_http_mcp_obj_set_obj(exts, "barndoor", ext) != 0
        || ngx_http_mcp_obj_set_obj(server, "extensions", exts) != 0)
    {
        return ngx_http_mcp_map_fail(err, "out of memory");
    }

    return 0;
}


static json_t *
ngx_http_mcp_barndoor_from_canonical(json_t *update,
    ngx_http_mcp_map_err_t *err)
{
    json_t  *body, *auth, *ext;

    auth = json_object_get(update, "auth");
    ext = json_object_get(json_object_get(update, "extensions"), "barndoor");

    body = json_object();
    if (body == NULL) {
        ngx_http_mcp_map_fail(err, "out of memory");
        return NULL;
    }

    if (ngx_http_mcp_map_copy(body, "name", update, "name") != 0
        || ngx_http_mcp_map_copy(body, "slug", update, "slug") != 0
        || ngx_http_mcp_map_copy(body, "client_id", auth, "oauth_client_id")
           != 0
        || ngx_http_mcp_map_copy(body, "client_secret", auth,
                                 "oauth_client_secret") != 0
        || ngx_http_mcp_map_copy(body, "meta", ext, "meta") != 0)
    {
        json_decref(body);
        ngx_http_mcp_map_fail(err, "out of memory");
        return NULL;
    }

    if (ngx_http_mcp_barndoor_check_native(body, err) != 0) {
        json_decref(body);
        return NULL;
    }

    return body;
}


static int
ngx_http_mcp_barndoor_check_native(json_t *body, ngx_http_mcp_map_err_t *err)
{
    return ngx_http_mcp_map_check_types(body,
                                        ngx_http_mcp_barndoor_put_fields,
                                        ngx_http_mcp_barndoor_put_types, err);
}


static const char *const  ngx_http_mcp_barndoor_refused[] = {
    "description", "enabled", "access_type", "disabled_tools", "remote", NULL
};

static const char *const  ngx_http_mcp_barndoor_refused_auth[] = {
    "method", "api_key", "oauth_scopes", NULL
};

static const char *const  ngx_http_mcp_barndoor_extensions[] = {
    "meta", NULL
};


/* $mcp_changed_fields */

static const ngx_http_mcp_vendor_field_t  ngx_http_mcp_barndoor_fields[] = {
    { "name", "name" },
    { "slug", "slug" },
    { "provider", "provider" },
    { "url", "remote.url" },
    { "client_id", "auth.oauth_client_id" },
    { "client_secret", "auth.oauth_client_secret" },
    { NULL, NULL }
};


const ngx_http_mcp_vendor_t  ngx_http_mcp_vendor_barndoor = {
    "barndoor",
    "/api/servers/",
    ngx_http_mcp_barndoor_id,
    "Server not found",
    ngx_http_mcp_barndoor_check_answer,
    ngx_http_mcp_barndoor_to_canonical,
    ngx_http_mcp_barndoor_from_canonical,
    ngx_http_mcp_barndoor_check_native,
    NULL,                       /* the generic scrub does it all */
    ngx_http_mcp_map_none,      /* no credentials objects in its docs */
    ngx_http_mcp_map_none,
    ngx_http_mcp_barndoor_refused,
    ngx_http_mcp_barndoor_refused_auth,
    ngx_http_mcp_barndoor_extensions,
    ngx_http_mcp_barndoor_fields
};
