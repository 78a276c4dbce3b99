/*
 * Unit tests of the canonical mapping (ngx_http_mcp_map*.c), with every
 * example body of the vendors' docs (t/fixtures) as input.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_http_mcp_map.h"


#define KAMBRIUM  (&ngx_http_mcp_vendor_kambrium)
#define BARNDOOR  (&ngx_http_mcp_vendor_barndoor)
#define GATANA    (&ngx_http_mcp_vendor_gatana)


#ifndef MCP_FIXTURES
#define MCP_FIXTURES "t/fixtures"
#endif


static json_t *
fixture(const char *name)
{
    char          path[512];
    json_t       *json;
    json_error_t  error;

    snprintf(path, sizeof(path), "%s/%s", MCP_FIXTURES, name);

    json = json_load_file(path, JSON_REJECT_DUPLICATES, &error);
    if (json == NULL) {
        fail_msg("%s: %s", path, error.text);
    }

    return json;
}


static json_t *
server_of(const ngx_http_mcp_vendor_t *vendor, const char *registry, const char *id, json_t *body)
{
    json_t                  *server;
    ngx_http_mcp_map_err_t   err;

    err.text[0] = '\0';

    server = ngx_http_mcp_map_server(vendor, registry, strlen(registry), id,
                                     strlen(id), body, &err);
    if (server == NULL) {
        fail_msg("map_server: %s", err.text);
    }

    return server;
}


static const char *
str(json_t *json, const char *path)
{
    char         key[64];
    const char  *dot;

    while ((dot = strchr(path, '.')) != NULL) {
        snprintf(key, sizeof(key), "%.*s", (int) (dot - path), path);
        json = json_object_get(json, key);
        path = dot + 1;
    }

    return json_string_value(json_object_get(json, path));
}


static int
contains(json_t *json, const char *needle)
{
    int    found;
    char  *text;

    text = json_dumps(json, JSON_COMPACT);
    found = strstr(text, needle) != NULL;
    free(text);

    return found;
}


/* Kambrium: both envelopes, both directions of the docs */

static void
test_kambrium_data_envelope(void **state)
{
    const char  *names[] = { "kambrium-get-answer-data.json",
                             "kambrium-put-answer-data.json" };
    size_t       i;
    json_t      *body, *server;

    (void) state;

    for (i = 0; i < 2; i++) {
        body = fixture(names[i]);
        server = server_of(KAMBRIUM, "kambrium", "123", body);

        assert_string_equal(str(server, "id"), "kambrium:123");
        assert_string_equal(str(server, "registry"), "kambrium");
        assert_string_equal(str(server, "vendor"), "kambrium");
        assert_string_equal(str(server, "vendor_id"), "123");
        assert_string_equal(str(server, "name"), "Pipedrive");
        assert_string_equal(str(server, "auth.oauth_client_id"),
                            "client_abc123");
        assert_string_equal(str(server, "created_at"),
                            "2025-06-27T10:30:00Z");
        assert_string_equal(str(server, "extensions.kambrium.envelope"),
                            "data");
        assert_true(json_is_array(json_object_get(server, "disabled_tools")));
        assert_true(json_is_true(json_object_get(
                        json_object_get(server, "auth"), "credentials_set")));

        /* get: verified and enabled; put: pending and disabled */
        assert_string_equal(str(server, "status"),
                            i == 0 ? "active" : "disabled");
        assert_string_equal(str(server,
                       "extensions.kambrium.api_key_verification_status"),
                            i == 0 ? "verified" : "pending");

        json_decref(server);
        json_decref(body);
    }
}


static void
test_kambrium_connection_envelope(void **state)
{
    json_t  *body, *server;

    (void) state;

    body = fixture("kambrium-get-answer-connection.json");
    server = server_of(KAMBRIUM, "kambrium", "srv_123abc", body);

    assert_string_equal(str(server, "id"), "kambrium:srv_123abc");
    assert_string_equal(str(server, "name"), "My Pipedrive Connection");
    assert_string_equal(str(server, "description"),
                        "Connection to Pipedrive CRM");
    assert_string_equal(str(server, "provider"), "pipedrive");
    assert_string_equal(str(server, "status"), "active");
    assert_true(json_is_true(json_object_get(server, "enabled")));
    assert_string_equal(str(server, "auth.method"), "api_key");
    assert_string_equal(str(server, "updated_at"), "2023-11-07T05:31:56Z");
    assert_string_equal(str(server, "extensions.kambrium.connection_id"),
                        "conn_123abc");
    assert_string_equal(str(server, "extensions.kambrium.mcp_server_id"),
                        "mcp_456def");
    assert_true(json_is_object(json_object_get(
                    json_object_get(json_object_get(server, "extensions"),
                                    "kambrium"), "config")));

    json_decref(server);
    json_decref(body);
}


static void
test_barndoor_answer(void **state)
{
    json_t  *body, *server;

    (void) state;

    body = fixture("barndoor-put-answer.json");
    server = server_of(BARNDOOR, "barndoor", "x", body);

    assert_string_equal(str(server, "id"),
                        "barndoor:123e4567-e89b-12d3-a456-426614174000");
    assert_string_equal(str(server, "name"), "Salesforce Production");
    assert_string_equal(str(server, "slug"), "salesforce");
    assert_string_equal(str(server, "provider"), "salesforce");
    assert_string_equal(str(server, "status"), "active");
    assert_string_equal(str(server, "remote.url"),
                        "https://api.salesforce.com/mcp");
    assert_string_equal(str(server, "extensions.barndoor.connection_status"),
                        "connected");

    json_decref(server);
    json_decref(body);
}


static void
test_gatana_answer_without_secrets(void **state)
{
    json_t  *body, *server, *ext;

    (void) state;

    body = fixture("gatana-put-answer.json");
    server = server_of(GATANA, "gatana", "string", body);
    ngx_http_mcp_map_scrub(GATANA, server);

    assert_string_equal(str(server, "id"), "gatana:string");
    assert_string_equal(str(server, "status"), "active");
    assert_true(json_is_true(json_object_get(server, "enabled")));
    assert_string_equal(str(server, "remote.type"), "streamable-http");
    assert_string_equal(str(server, "auth.method"), "none");

    ext = json_object_get(json_object_get(server, "extensions"), "gatana");
    assert_non_null(json_object_get(ext, "files"));
    assert_non_null(json_object_get(ext, "currentUserCredentials"));
    assert_int_equal(json_integer_value(json_object_get(ext, "serverId")), 0);
    assert_string_equal(str(ext, "credentialsScope"), "server");

    /* "string" is a timestamp in the docs: kept as it was, not lost */
    assert_null(json_object_get(server, "created_at"));
    assert_string_equal(str(ext, "createdAt"), "string");

    /* the header names stay, the values and the API keys do not */
    assert_true(json_is_array(json_object_get(ext, "transportHeaderNames")));
    assert_false(contains(server, "apikeys"));
    assert_false(contains(server, "\"headers\""));

    json_decref(server);

    /* the native answer loses its secrets too */
    ngx_http_mcp_map_redact(GATANA, body);
    assert_false(contains(body, "apikeys"));
    assert_false(contains(body, "\"headers\""));
    assert_non_null(str(body, "server.transportConfig.url"));

    json_decref(body);
}


static void
test_unexpected_shapes(void **state)
{
    const char              *bad[] = { "[]", "{}", "{\"data\": 1}",
                                       "{\"server\": []}", "\"x\"" };
    size_t                               i;
    json_t                              *json;
    ngx_http_mcp_map_err_t               err;
    const ngx_http_mcp_vendor_t *const  *v;

    (void) state;

    for (v = ngx_http_mcp_vendors; *v; v++) {
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            json = json_loads(bad[i], JSON_DECODE_ANY, NULL);
            assert_null(ngx_http_mcp_map_server(*v, "r", 1, "1", 1, json,
                                                &err));
            assert_int_equal(ngx_http_mcp_map_check_answer(*v, json, &err),
                             -1);
            json_decref(json);
        }
    }
}


/* native PUT bodies: the docs' own examples pass, the rules hold */

static void
test_native_checks(void **state)
{
    struct {
        const ngx_http_mcp_vendor_t  *vendor;
        const char  *body;
        const char  *error;
    } cases[] = {
        { KAMBRIUM, "{\"access_type\": \"admin\"}",
          "Invalid access type specified" },
        { KAMBRIUM, "{\"access_type\": 1}",
          "field \"access_type\" must be a string" },
        { KAMBRIUM, "{\"agent_enabled\": \"no\"}",
          "field \"agent_enabled\" must be a boolean" },
        { GATANA, "{\"slug\": \"a\"}",
          "field \"name\" is required" },
        { GATANA, "{\"name\": \"a\"}",
          "field \"slug\" is required" },
        { GATANA, "{\"name\": \"a\", \"slug\": \"Upper\"}",
          "field \"slug\" must match ^[-a-z0-9]+$ and have at most 20 "
          "characters" },
        { GATANA,
          "{\"name\": \"a\", \"slug\": \"abcdefghij0123456789x\"}",
          "field \"slug\" must match ^[-a-z0-9]+$ and have at most 20 "
          "characters" },
        { GATANA,
          "{\"name\": \"a\", \"slug\": \"a\", \"logoUrl\": \"not a uri\"}",
          "field \"logoUrl\" must be a URI" },
        { GATANA,
          "{\"name\": \"a\", \"slug\": \"a\", \"url\": \"/relative\"}",
          "field \"url\" must be a URI" },
        { BARNDOOR, "{\"meta\": []}",
          "field \"meta\" must be an object" },
    };

    const char              *good[] = {
        "kambrium-put-request.json", "kambrium-put-request-curl.json",
        "kambrium-put-request-enable.json", "kambrium-put-request-access.json",
        "kambrium-put-request-key.json", "kambrium-put-request-multiple.json"
    };

    size_t                   i;
    json_t                  *json;
    ngx_http_mcp_map_err_t   err;

    (void) state;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        json = fixture(good[i]);
        assert_int_equal(ngx_http_mcp_map_check_native(KAMBRIUM,
                                                       json, &err), 0);
        json_decref(json);
    }

    json = fixture("barndoor-put-request.json");
    assert_int_equal(ngx_http_mcp_map_check_native(BARNDOOR,
                                                   json, &err), 0);
    json_decref(json);

    json = fixture("gatana-put-request.json");
    assert_int_equal(ngx_http_mcp_map_check_native(GATANA,
                                                   json, &err), 0);
    json_decref(json);

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json = json_loads(cases[i].body, 0, NULL);
        assert_non_null(json);
        assert_int_equal(ngx_http_mcp_map_check_native(cases[i].vendor, json,
                                                       &err), -1);
        assert_string_equal(err.text, cases[i].error);
        json_decref(json);
    }
}


/* canonical updates: translated, or refused naming field and vendor */

static void
test_canonical_updates(void **state)
{
    struct {
        const ngx_http_mcp_vendor_t  *vendor;
        const char  *update;
        const char  *vendor_body;   /* NULL: refused with "error" */
        const char  *error;
    } cases[] = {
        { KAMBRIUM,
          "{\"enabled\": false, \"access_type\": \"read\", "
          "\"auth\": {\"api_key\": \"k\"}}",
          "{\"agent_enabled\": false, \"access_type\": \"read\", "
          "\"api_key\": \"k\"}", NULL },
        { KAMBRIUM, "{\"slug\": \"x\"}", NULL,
          "field \"slug\" cannot be set on a kambrium registry" },
        { KAMBRIUM,
          "{\"remote\": {\"url\": \"https://x.example/mcp\"}}", NULL,
          "field \"remote\" cannot be set on a kambrium registry" },
        { KAMBRIUM, "{\"access_type\": \"admin\"}", NULL,
          "Invalid access type specified" },
        { BARNDOOR,
          "{\"name\": \"n\", \"auth\": {\"oauth_client_id\": \"c\", "
          "\"oauth_client_secret\": \"s\"}, "
          "\"extensions\": {\"barndoor\": {\"meta\": {\"a\": 1}}}}",
          "{\"name\": \"n\", \"client_id\": \"c\", \"client_secret\": \"s\", "
          "\"meta\": {\"a\": 1}}", NULL },
        { BARNDOOR, "{\"enabled\": true}", NULL,
          "field \"enabled\" cannot be set on a barndoor registry" },
        { BARNDOOR,
          "{\"extensions\": {\"gatana\": {\"logoUrl\": \"https://x\"}}}",
          NULL, "field \"extensions.gatana\" cannot be set on a barndoor "
          "registry" },
        { GATANA,
          "{\"name\": \"n\", \"slug\": \"s\", \"remote\": {\"type\": \"sse\", "
          "\"url\": \"https://x.example/sse\"}, \"auth\": {\"method\": "
          "\"api_key\", \"api_key\": \"k\"}}",
          "{\"name\": \"n\", \"slug\": \"s\", \"url\": "
          "\"https://x.example/sse\", \"authorization\": {\"method\": "
          "\"apikey\", \"apikeys\": [\"k\"]}, \"transportConfig\": "
          "{\"type\": \"sse\", \"url\": \"https://x.example/sse\"}}", NULL },
        { GATANA, "{\"name\": \"n\"}", NULL,
          "a gatana registry needs \"name\" and \"slug\" in every update" },
        { GATANA, "{\"name\": \"n\", \"slug\": \"s\", "
          "\"enabled\": true}", NULL,
          "field \"enabled\" cannot be set on a gatana registry" },
        { GATANA, "{\"name\": \"n\", \"slug\": \"S S\"}", NULL,
          "field \"slug\" must match ^[-a-z0-9]+$ and have at most 20 "
          "characters" },
        { GATANA, "{\"nmae\": \"n\"}", NULL,
          "unknown field \"nmae\"" },
        { GATANA, "{}", NULL, "The update has no field." },
        { GATANA, "{\"name\": 1}", NULL,
          "field \"name\" must be a string" },
        { GATANA, "{\"auth\": {\"token\": \"t\"}}", NULL,
          "unknown field \"auth.token\"" },
        { GATANA, "{\"remote\": {\"url\": \"nope\"}}", NULL,
          "field \"remote.url\" is not a URI" },
    };

    size_t                   i;
    json_t                  *update, *body, *want;
    ngx_http_mcp_map_err_t   err;

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        update = json_loads(cases[i].update, 0, NULL);
        assert_non_null(update);

        err.text[0] = '\0';
        body = ngx_http_mcp_map_update(cases[i].vendor, update, &err);

        if (cases[i].vendor_body) {
            if (body == NULL) {
                fail_msg("case %zu: %s", i, err.text);
            }

            want = json_loads(cases[i].vendor_body, 0, NULL);
            assert_true(json_equal(body, want));
            json_decref(want);

        } else {
            assert_null(body);
            assert_string_equal(err.text, cases[i].error);
        }

        json_decref(body);
        json_decref(update);
    }
}


/*
 * The round trip: vendor answer -> canonical -> canonical update -> vendor
 * PUT body keeps every field the vendor's PUT accepts (secrets aside: they
 * are never in an answer).  The update is what a client of the canonical
 * route sends back: the writable fields of what it read.
 */

static json_t *
writable(json_t *server, const char *const *fields, const char *const *ext)
{
    size_t       i;
    json_t      *update, *v, *auth, *exts, *e;
    const char  *vendor;

    update = json_object();
    vendor = json_string_value(json_object_get(server, "vendor"));

    for (i = 0; fields[i]; i++) {
        v = json_object_get(server, fields[i]);
        if (v && !json_is_null(v)) {
            json_object_set(update, fields[i], v);
        }
    }

    auth = json_object_get(update, "auth");
    if (auth) {
        auth = json_deep_copy(auth);
        json_object_del(auth, "credentials_set");
        json_object_del(auth, "oauth_scopes");
        if (strcmp(vendor, "gatana") != 0) {
            json_object_del(auth, "method");
            json_object_del(auth, "oauth_client_id");
        }
        json_object_set_new(update, "auth", auth);
    }

    e = json_object();
    v = json_object_get(json_object_get(server, "extensions"), vendor);
    for (i = 0; ext[i]; i++) {
        if (json_object_get(v, ext[i])) {
            json_object_set(e, ext[i], json_object_get(v, ext[i]));
        }
    }

    exts = json_object();
    json_object_set_new(exts, vendor, e);
    json_object_set_new(update, "extensions", exts);

    return update;
}


static void
round_trip(const ngx_http_mcp_vendor_t *vendor, const char *file, json_t *body, json_t *record,
    const char *const *fields, const char *const *ext,
    const char *const *put_fields)
{
    size_t                   i;
    json_t                  *server, *update, *put, *a, *b;
    ngx_http_mcp_map_err_t   err;

    server = server_of(vendor, "r", "123", body);
    ngx_http_mcp_map_scrub(vendor, server);

    update = writable(server, fields, ext);

    put = ngx_http_mcp_map_update(vendor, update, &err);
    if (put == NULL) {
        fail_msg("%s: %s", file, err.text);
    }

    for (i = 0; put_fields[i]; i++) {
        a = json_object_get(record, put_fields[i]);
        b = json_object_get(put, put_fields[i]);

        if (a && !json_equal(a, b)) {
            fail_msg("%s: field \"%s\" lost in the round trip", file,
                     put_fields[i]);
        }
    }

    json_decref(put);
    json_decref(update);
    json_decref(server);
}


static void
test_round_trips(void **state)
{
    json_t  *k1, *k2, *b, *g, *gs, *ga, *gt;

    static const char *const  kambrium_fields[] = {
        "name", "description", "enabled", "access_type", "auth", NULL
    };
    static const char *const  kambrium_ext[] = {
        "config", "connection_id", NULL
    };
    static const char *const  kambrium_put[] = {
        "agent_enabled", "access_type", "name", "description", "config",
        "connection_id", NULL
    };
    static const char *const  barndoor_fields[] = { "name", "slug", NULL };
    static const char *const  barndoor_ext[] = { "meta", NULL };
    static const char *const  barndoor_put[] = { "name", "slug", NULL };
    static const char *const  gatana_fields[] = {
        "name", "slug", "description", "remote", "auth", NULL
    };
    static const char *const  gatana_ext[] = {
        "logoUrl", "credentialsScope", "oauthMetadata",
        "oauthClientConfiguration", NULL
    };
    static const char *const  gatana_put[] = {
        "name", "slug", "description", "logoUrl", "oauthMetadata",
        "oauthClientConfiguration", NULL
    };

    (void) state;

    k1 = fixture("kambrium-get-answer-data.json");
    round_trip(KAMBRIUM, "kambrium-get-answer-data.json", k1,
               json_object_get(k1, "data"), kambrium_fields, kambrium_ext,
               kambrium_put);
    json_decref(k1);

    k2 = fixture("kambrium-get-answer-connection.json");
    round_trip(KAMBRIUM, "kambrium-get-answer-connection.json",
               k2, json_object_get(k2, "connection"), kambrium_fields,
               kambrium_ext, kambrium_put);
    json_decref(k2);

    b = fixture("barndoor-put-answer.json");
    round_trip(BARNDOOR, "barndoor-put-answer.json", b, b,
               barndoor_fields, barndoor_ext, barndoor_put);
    json_decref(b);

    /*
     * Gatana: the server record, and authorization / transportConfig
     * without their secrets.  The docs' example has the placeholder
     * "string" for its URLs, which the vendor's own PUT refuses (they
     * must be URIs): real ones stand in for them.
     */

    g = fixture("gatana-put-answer.json");
    json_object_set_new(json_object_get(g, "server"), "logoUrl",
                        json_string("https://gatana.example/logo.png"));
    json_object_set_new(json_object_get(json_object_get(g, "server"),
                                        "transportConfig"),
                        "url", json_string("https://mcp.example/mcp"));
    gs = json_deep_copy(json_object_get(g, "server"));
    ga = json_object_get(gs, "authorization");
    json_object_del(ga, "apikeys");
    gt = json_object_get(gs, "transportConfig");
    json_object_del(gt, "headers");

    round_trip(GATANA, "gatana-put-answer.json", g, gs,
               gatana_fields, gatana_ext, gatana_put);

    {
        /* the nested members, compared one level down */
        json_t                  *server, *update, *put;
        ngx_http_mcp_map_err_t   err;

        server = server_of(GATANA, "r", "s", g);
        ngx_http_mcp_map_scrub(GATANA, server);
        update = writable(server, gatana_fields, gatana_ext);
        put = ngx_http_mcp_map_update(GATANA, update, &err);
        assert_non_null(put);

        assert_true(json_equal(json_object_get(put, "authorization"), ga));
        assert_true(json_equal(json_object_get(put, "transportConfig"), gt));
        assert_string_equal(str(put, "url"), str(gt, "url"));

        json_decref(put);
        json_decref(update);
        json_decref(server);
    }

    json_decref(gs);
    json_decref(g);
}


static void
test_errors_and_times(void **state)
{
    char         buf[64];
    size_t       i, len;
    json_t      *body;
    const char  *detail;

    static const char *const  errors[] = {
        "kambrium-error-400.json", "kambrium-error-401.json",
        "kambrium-error-403-get.json", "kambrium-error-403-put.json",
        "kambrium-error-404.json", "kambrium-error-500-get.json",
        "kambrium-error-500-put.json"
    };

    (void) state;

    body = fixture("kambrium-error-404.json");
    detail = ngx_http_mcp_map_error_detail(body, &len);
    assert_non_null(detail);
    assert_int_equal(len, strlen(detail));
    assert_string_equal(detail,
                        "MCP server 123 not found or not accessible");
    json_decref(body);

    /* every error body of the vendor's docs keeps its message */

    for (i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
        body = fixture(errors[i]);
        detail = ngx_http_mcp_map_error_detail(body, &len);
        assert_non_null(detail);
        assert_string_equal(detail, str(body, "detail"));
        json_decref(body);
    }

    body = json_loads("{\"error\": \"Not Found\", \"message\": \"gone\"}", 0,
                      NULL);
    assert_string_equal(ngx_http_mcp_map_error_detail(body, &len), "gone");
    json_decref(body);

    /* none: the gateway says it in its own words */
    assert_null(ngx_http_mcp_map_error_detail(NULL, &len));
    body = json_loads("{\"detail\": 1}", 0, NULL);
    assert_null(ngx_http_mcp_map_error_detail(body, &len));
    json_decref(body);

    assert_int_equal(ngx_http_mcp_map_normalize_time(
                         "2025-06-27T12:30:00+02:00", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "2025-06-27T10:30:00Z");
    assert_int_equal(ngx_http_mcp_map_normalize_time(
                         "2025-12-31T23:30:00.250-01:00", buf, sizeof(buf)),
                     0);
    assert_string_equal(buf, "2026-01-01T00:30:00.250Z");
    assert_int_equal(ngx_http_mcp_map_normalize_time("string", buf,
                                                     sizeof(buf)), -1);
    assert_int_equal(ngx_http_mcp_map_normalize_time("2025-06-27T10:30:00",
                                                     buf, sizeof(buf)), -1);
    assert_int_equal(ngx_http_mcp_map_normalize_time(
                         "2025-13-27T10:30:00Z", buf, sizeof(buf)), -1);
}


/*
 * Timestamps are real RFC 3339 dates before they are converted: an
 * impossible one is refused (and kept as the vendor sent it, under
 * extensions), never turned into another date.
 */

static const char *
utc(const char *in)
{
    static char  buf[64];

    if (ngx_http_mcp_map_normalize_time(in, buf, sizeof(buf)) != 0) {
        return "invalid";
    }

    return buf;
}


static void
test_impossible_timestamps(void **state)
{
    (void) state;

    /* month lengths and leap years */
    assert_string_equal(utc("2023-02-30T10:00:00Z"), "invalid");
    assert_string_equal(utc("2023-02-29T10:00:00Z"), "invalid");
    assert_string_equal(utc("2024-02-29T10:00:00Z"), "2024-02-29T10:00:00Z");
    assert_string_equal(utc("1900-02-29T00:00:00Z"), "invalid");
    assert_string_equal(utc("2000-02-29T00:00:00Z"), "2000-02-29T00:00:00Z");
    assert_string_equal(utc("2025-04-31T00:00:00Z"), "invalid");
    assert_string_equal(utc("2025-04-30T00:00:00Z"), "2025-04-30T00:00:00Z");
    assert_string_equal(utc("2025-00-10T00:00:00Z"), "invalid");
    assert_string_equal(utc("2025-01-00T00:00:00Z"), "invalid");

    /* years 0001 to 9999, before and after the offset */
    assert_string_equal(utc("0000-01-01T00:00:00+02:00"), "invalid");
    assert_string_equal(utc("0000-01-01T00:00:00Z"), "invalid");
    assert_string_equal(utc("0001-01-01T00:00:00Z"), "0001-01-01T00:00:00Z");
    assert_string_equal(utc("0001-01-01T00:00:00+02:00"), "invalid");
    assert_string_equal(utc("0001-01-01T03:00:00+02:00"),
                        "0001-01-01T01:00:00Z");
    assert_string_equal(utc("9999-12-31T23:00:00Z"), "9999-12-31T23:00:00Z");
    assert_string_equal(utc("9999-12-31T23:00:00-02:00"), "invalid");

    /* offsets within +-23:59 */
    assert_string_equal(utc("2025-06-27T10:00:00+29:00"), "invalid");
    assert_string_equal(utc("2025-06-27T10:00:00+24:00"), "invalid");
    assert_string_equal(utc("2025-06-27T10:00:00+23:60"), "invalid");
    assert_string_equal(utc("2025-06-27T10:00:00+23:59"),
                        "2025-06-26T10:01:00Z");
    assert_string_equal(utc("2025-06-27T10:00:00-23:59"),
                        "2025-06-28T09:59:00Z");
    assert_string_equal(utc("2025-06-27T10:00:00-00:00"),
                        "2025-06-27T10:00:00Z");

    /* times of day */
    assert_string_equal(utc("2025-06-27T24:00:00Z"), "invalid");
    assert_string_equal(utc("2025-06-27T23:60:00Z"), "invalid");
    assert_string_equal(utc("2025-06-27T23:59:61Z"), "invalid");

    /* a leap second only where one can be: 23:59:60 UTC, a month's end */
    assert_string_equal(utc("2016-12-31T23:59:60Z"), "2016-12-31T23:59:60Z");
    assert_string_equal(utc("2017-01-01T00:59:60+01:00"),
                        "2016-12-31T23:59:60Z");
    assert_string_equal(utc("2016-12-30T23:59:60Z"), "invalid");
    assert_string_equal(utc("2016-12-31T12:00:60Z"), "invalid");

    /* the shape */
    assert_string_equal(utc("2025-06-27T10:00:00.Z"), "invalid");
    assert_string_equal(utc("2025-06-27T10:00:00.123456789Z"),
                        "2025-06-27T10:00:00.123456789Z");
    assert_string_equal(utc("2025-06-27t10:00:00z"), "2025-06-27T10:00:00Z");

    /* every digit of a fraction is kept, or none is taken (t/fuzz found
     * digits beyond the 14th cut off) */
    assert_string_equal(utc("2023-11-07T07:31:56.3333322312322323123232023Z"),
                        "2023-11-07T07:31:56.3333322312322323123232023Z");
    assert_string_equal(utc("2023-11-07T07:31:56."
                            "123456789012345678901234567890Z"),
                        "2023-11-07T07:31:56."
                        "123456789012345678901234567890Z");
    assert_string_equal(utc("2023-11-07T07:31:56."
                            "1234567890123456789012345678901Z"), "invalid");
    assert_string_equal(utc("+2025-06-27T10:00:00Z"), "invalid");
    assert_string_equal(utc("2025-6-27T10:00:00Z"), "invalid");
    assert_string_equal(utc("2025-06-27T10:00:00+0200"), "invalid");
    assert_string_equal(utc("2025-06-27T10:00:00Z "), "invalid");
    assert_string_equal(utc("-001-12-31T22:00:00Z"), "invalid");
}


/* an impossible date is kept as sent, under extensions, not converted */

static void
test_an_impossible_date_is_kept_as_sent(void **state)
{
    json_t                  *body, *server, *ext;
    ngx_http_mcp_map_err_t   err;

    (void) state;

    body = fixture("gatana-put-answer.json");
    json_object_set_new(json_object_get(body, "server"), "createdAt",
                        json_string("2023-02-30T10:00:00Z"));
    json_object_set_new(json_object_get(body, "server"), "updatedAt",
                        json_string("2023-03-01T10:00:00+02:00"));

    server = ngx_http_mcp_map_server(GATANA, "g", 1, "string", 6, body,
                                     &err);
    assert_non_null(server);

    assert_null(json_object_get(server, "created_at"));
    assert_string_equal(str(server, "updated_at"), "2023-03-01T08:00:00Z");

    ext = json_object_get(json_object_get(server, "extensions"), "gatana");
    assert_string_equal(str(ext, "createdAt"), "2023-02-30T10:00:00Z");
    assert_null(json_object_get(ext, "updatedAt"));

    json_decref(server);
    json_decref(body);
}


/* secrets by what they are: one name in every case style */

static void
test_secret_names_in_any_style(void **state)
{
    char    *text;
    json_t  *body;

    (void) state;

    body = json_loads("{\"clientSecret\": \"a\", \"client_secret\": \"b\","
                      " \"ClientSecret\": \"c\", \"access-token\": \"d\","
                      " \"X-Api-Key\": \"e\", \"oauth2_client_secret\": \"f\","
                      " \"REFRESH_TOKEN\": \"g\", \"token\": \"h\","
                      " \"privateKey\": {\"k\": 1}, \"apikeys\": [\"i\"],"
                      " \"authorization\": \"Bearer j\","
                      " \"hasAccessToken\": true, \"accessTokenExpiry\": \"x\","
                      " \"credentialsScope\": \"server\", \"name\": \"n\","
                      " \"authorization2\": {\"method\": \"none\"},"
                      " \"nested\": [{\"userPassword\": \"k\"}],"
                      " \"serverCredentials\": {\"type\": \"oauth\","
                      "   \"hasRefreshToken\": false, \"opaque\": \"l\","
                      "   \"accessToken\": \"m\"},"
                      " \"moreCredentials\": [{\"email\": \"e@x\","
                      "   \"blob\": \"o\"}, \"p\"]}", 0, NULL);
    assert_non_null(body);

    ngx_http_mcp_map_scrub(GATANA, body);

    text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(text,
                        "{\"hasAccessToken\":true,"
                        "\"accessTokenExpiry\":\"x\","
                        "\"credentialsScope\":\"server\",\"name\":\"n\","
                        "\"authorization2\":{\"method\":\"none\"},"
                        "\"nested\":[{}],"
                        "\"serverCredentials\":{\"type\":\"oauth\","
                        "\"hasRefreshToken\":false},"
                        "\"moreCredentials\":[{\"email\":\"e@x\"},null]}");

    free(text);
    json_decref(body);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_kambrium_data_envelope),
        cmocka_unit_test(test_kambrium_connection_envelope),
        cmocka_unit_test(test_barndoor_answer),
        cmocka_unit_test(test_gatana_answer_without_secrets),
        cmocka_unit_test(test_unexpected_shapes),
        cmocka_unit_test(test_native_checks),
        cmocka_unit_test(test_canonical_updates),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_errors_and_times),
        cmocka_unit_test(test_impossible_timestamps),
        cmocka_unit_test(test_secret_names_in_any_style),
        cmocka_unit_test(test_an_impossible_date_is_kept_as_sent),
    };

    return cmocka_run_group_tests_name("ngx_http_mcp_map", tests, NULL, NULL);
}
