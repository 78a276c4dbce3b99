/*
 * Unit tests of the answers written scrubbed (ngx_http_mcp_map_scrub.c)
 * against the reference path they replace: the canonical document
 * written must be byte for byte the tree of ngx_http_mcp_map_server()
 * once scrubbed (ngx_http_mcp_map_scrub()) and serialized by jansson,
 * and a vendor's tree written must be what its redaction leaves.  Inputs:
 * every fixture for every vendor, answers whose fields collide with the
 * mapping's own, credentials objects and arrays, secrets at any depth,
 * and random answers from a fixed seed.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <cmocka.h>

#include "ngx_http_mcp_map.h"
#include "ngx_http_mcp_json.h"


#ifndef MCP_FIXTURES
#define MCP_FIXTURES "t/fixtures"
#endif


static char *
jansson_text(json_t *json, size_t *size)
{
    char  *text;

    *size = json_dumpb(json, NULL, 0, JSON_COMPACT);
    assert_true(*size > 0);

    text = malloc(*size);
    assert_non_null(text);
    assert_int_equal(json_dumpb(json, text, *size, JSON_COMPACT), *size);

    return text;
}


static void
same_text(const char *what, const char *want, size_t want_size,
    const unsigned char *got, size_t got_size)
{
    if (got_size != want_size || memcmp(got, want, got_size) != 0) {
        fail_msg("%s:\nwrote     %.*s\nreference %.*s", what, (int) got_size,
                 (const char *) got, (int) want_size, want);
    }
}


/* every room, or a few: 0, half, one byte short, more than enough */

static int  all_rooms;


/*
 * Written into room of exactly "room" bytes (ASan watches past them),
 * the text must be refused when it does not fit, and be the same when it
 * does.
 */

static void
check_room(const ngx_http_mcp_vendor_t *vendor, ngx_http_mcp_doc_t *doc,
    json_t *json, const unsigned char *want, size_t size, size_t room)
{
    unsigned char  *buf, *end;

    buf = malloc(room ? room : 1);
    assert_non_null(buf);

    end = doc ? ngx_http_mcp_map_doc_write(vendor, buf, buf + room, doc)
              : ngx_http_mcp_map_write(vendor, buf, buf + room, json);

    if (room < size) {
        assert_null(end);

    } else {
        assert_non_null(end);
        assert_int_equal((size_t) (end - buf), size);
        assert_memory_equal(buf, want, size);
    }

    free(buf);
}


static void
check_rooms(const ngx_http_mcp_vendor_t *vendor, ngx_http_mcp_doc_t *doc,
    json_t *json, const unsigned char *want, size_t size)
{
    size_t  room;

    if (all_rooms) {
        for (room = 0; room <= size + 16; room++) {
            check_room(vendor, doc, json, want, size, room);
        }

        return;
    }

    check_room(vendor, doc, json, want, size, 0);
    check_room(vendor, doc, json, want, size, size / 2);
    check_room(vendor, doc, json, want, size, size - 1);
    check_room(vendor, doc, json, want, size, size + 16);
}


/*
 * One answer, one vendor: both views by both paths.  The writer goes
 * first, on the answer as parsed: the reference scrub changes the tree.
 */

static void
check_answer(const ngx_http_mcp_vendor_t *vendor, const char *text,
    size_t len)
{
    char                    *want;
    size_t                   size, want_size;
    json_t                  *body, *server;
    unsigned char           *got, *end;
    ngx_http_mcp_doc_t      *doc;
    ngx_http_mcp_map_err_t   err;

    body = ngx_http_mcp_json_loadb(text, len, NULL);
    if (body == NULL) {
        return;
    }

    /* the canonical view */

    doc = ngx_http_mcp_map_canonical(vendor, "reg", 3, "id-1", 4, body, &err);
    got = NULL;
    size = 0;

    if (doc) {
        size = ngx_http_mcp_map_doc_size(vendor, doc);
        assert_true(size > 0);

        /* exactly "size" bytes: ASan reports a write past them */

        got = malloc(size);
        assert_non_null(got);

        end = ngx_http_mcp_map_doc_write(vendor, got, got + size, doc);
        assert_non_null(end);
        assert_int_equal((size_t) (end - got), size);

        check_rooms(vendor, doc, NULL, got, size);

        ngx_http_mcp_doc_free(doc);
    }

    server = ngx_http_mcp_map_server(vendor, "reg", 3, "id-1", 4, body, &err);

    assert_true((server == NULL) == (got == NULL));

    if (server) {
        ngx_http_mcp_map_scrub(vendor, server);

        want = jansson_text(server, &want_size);
        same_text(vendor->name, want, want_size, got, size);

        free(want);
        json_decref(server);
    }

    free(got);
    json_decref(body);

    /* the native view */

    body = ngx_http_mcp_json_loadb(text, len, NULL);
    assert_non_null(body);

    ngx_http_mcp_map_redact_vendor(vendor, body);

    size = ngx_http_mcp_map_write_size(vendor, body);
    got = malloc(size);
    assert_non_null(got);

    end = ngx_http_mcp_map_write(vendor, got, got + size, body);
    assert_non_null(end);
    assert_int_equal((size_t) (end - got), size);

    check_rooms(vendor, NULL, body, got, size);

    ngx_http_mcp_map_scrub(vendor, body);

    want = jansson_text(body, &want_size);
    same_text("native", want, want_size, got, size);

    free(want);
    free(got);
    json_decref(body);
}


static void
check_all(const char *text)
{
    const ngx_http_mcp_vendor_t *const  *v;

    for (v = ngx_http_mcp_vendors; *v; v++) {
        check_answer(*v, text, strlen(text));
    }
}


static void
test_fixtures(void **state)
{
    DIR            *dir;
    FILE           *f;
    char            path[512], *buf;
    size_t          n;
    struct dirent  *e;

    (void) state;

    dir = opendir(MCP_FIXTURES);
    assert_non_null(dir);

    all_rooms = 1;

    buf = malloc(1 << 20);
    assert_non_null(buf);

    while ((e = readdir(dir)) != NULL) {
        n = strlen(e->d_name);

        if (n < 5 || strcmp(e->d_name + n - 5, ".json") != 0) {
            continue;
        }

        snprintf(path, sizeof(path), "%s/%s", MCP_FIXTURES, e->d_name);

        f = fopen(path, "rb");
        assert_non_null(f);
        n = fread(buf, 1, (1 << 20) - 1, f);
        fclose(f);

        buf[n] = '\0';
        check_all(buf);
    }

    closedir(dir);
    free(buf);

    all_rooms = 0;
}


/* fields of the answers named as the mapping's own, or alike */

static void
test_collisions(void **state)
{
    (void) state;

    all_rooms = 1;

    check_all("{\"data\":{\"id\":7,\"envelope\":\"x\",\"status\":\"a\","
              "\"created_at\":\"nope\",\"updated_at\":null,"
              "\"vendor_id\":1,\"extensions\":{}}}");
    check_all("{\"connection\":{\"auth_method\":\"magic\",\"envelope\":[1],"
              "\"created_at\":\"2023-11-07T07:31:56.5+02:00\"}}");
    check_all("{\"server\":{\"slug\":\"s\",\"id\":5,\"serverId\":\"old\","
              "\"transportType\":\"t\",\"transportConfig\":{\"type\":\"ws\","
              "\"headers\":[[\"A\",\"secret\"],[1],\"x\"]},"
              "\"authorization\":{\"method\":\"magic\","
              "\"credentialsScope\":{\"token\":\"t\",\"ok\":1}},"
              "\"authorizationMethod\":\"m\",\"createdAt\":\"bad\"},"
              "\"files\":[{\"password\":\"p\",\"name\":\"n\"}]}");
    check_all("{\"server\":{\"slug\":\"s\",\"id\":{\"a\":1},"
              "\"oauthClientConfiguration\":{\"client_id\":{\"token\":1,"
              "\"k\":2},\"client_secret\":\"s\"}}}");
    check_all("{\"id\":\"u\",\"url\":null,\"name\":{\"apiKey\":\"k\"},"
              "\"connection_status\":\"pending\",\"provider\":[{"
              "\"x-api-key\":\"k\",\"Cookie\":\"c\",\"cookie\":{\"a\":1}}]}");

    /* reals, written longer than sent, and escapes, shorter */

    check_all("{\"data\":{\"id\":1,"
              "\"a\":[0.1,1e2,-0.0,1.7976931348623157e308],"
              "\"b\":\"\\u00e9\\u0001\\/\\\"\"}}");

    all_rooms = 0;
}


/* credentials objects and arrays of them, at any depth */

static void
test_credentials(void **state)
{
    (void) state;

    check_all("{\"server\":{\"slug\":\"s\",\"serverCredentials\":{"
              "\"type\":\"oauth\",\"hasAccessToken\":true,\"accessToken\":"
              "\"t\",\"refresh\":\"r\",\"subject\":{\"password\":1,\"b\":2}},"
              "\"myCredentials\":[{\"email\":\"e\",\"pin\":1},\"s\",3,null,"
              "[{\"email\":1}]]},"
              "\"currentUserCredentials\":[{\"type\":\"a\",\"x\":1},7]}");
    check_all("{\"data\":{\"id\":1,\"userCredentials\":{\"type\":\"t\","
              "\"value\":\"v\",\"nested\":{\"credentials\":[1,{\"type\":2}]}},"
              "\"credential\":\"c\",\"credentials\":\"a string\"}}");
    check_all("{\"id\":\"u\",\"ServerCredentials\":{\"Has-Access-Token\":1,"
              "\"created_at\":2,\"b\":3}}");
}


/* a name longer than the scrub's, ending like a secret */

static void
test_long_names(void **state)
{
    char    text[1024];
    size_t  i, n;

    (void) state;

    n = (size_t) snprintf(text, sizeof(text), "{\"id\":\"u\",\"");

    for (i = 0; i < 80; i++) {
        text[n++] = (i % 3) ? 'a' : '_';
    }

    snprintf(text + n, sizeof(text) - n, "Token\":\"t\",\"%s\":{\"%s\":1}}",
             "x_________________________________________________________"
             "_______________________________________apikey",
             "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
             "AAAcredential");

    check_all(text);
}


/* random answers: the vendors' fields, secrets and envelopes, mixed */

static unsigned int  seed = 5;


static unsigned int
rnd(unsigned int n)
{
    seed = seed * 1103515245u + 12345u;
    return (seed >> 16) % n;
}


static const char *const  keys[] = {
    "id", "name", "slug", "url", "data", "connection", "server", "files",
    "status", "envelope", "created_at", "createdAt", "transportConfig",
    "headers", "authorization", "apikeys", "method", "serverCredentials",
    "currentUserCredentials", "credentialsScope", "oauthClientConfiguration",
    "client_id", "client_secret", "password", "accessToken", "api_key",
    "hasAccessToken", "type", "email", "serverId", "agent_enabled",
    "mcp_server_name", "oauth2_scopes", "x"
};

static const char *const  values[] = {
    "\"active\"", "\"sse\"", "\"httpstreaming\"", "\"apikey\"", "\"oauth\"",
    "\"2023-11-07T05:31:56Z\"", "\"2023-02-30T00:00:00Z\"", "\"\\u00e9\\n\"",
    "1", "-12", "1.5", "true", "false", "null", "\"verified\""
};


static size_t
random_value(char *p, size_t room, int depth)
{
    size_t  n, i, k;

    k = rnd(10);

    if (depth > 3 || k < 4 || room < 64) {
        return (size_t) snprintf(p, room, "%s",
                                 values[rnd(sizeof(values)
                                            / sizeof(values[0]))]);
    }

    n = 0;
    p[n++] = (k < 8) ? '{' : '[';

    for (i = rnd(5); i && room - n > 128; i--) {
        if (n > 1) {
            p[n++] = ',';
        }

        if (k < 8) {
            n += (size_t) snprintf(p + n, room - n, "\"%s\":",
                                   keys[rnd(sizeof(keys) / sizeof(keys[0]))]);
        }

        n += random_value(p + n, room - n - 2, depth + 1);
    }

    p[n++] = (k < 8) ? '}' : ']';
    p[n] = '\0';

    return n;
}


static void
test_random(void **state)
{
    int     i;
    char    text[8192];
    size_t  n;

    (void) state;

    for (i = 0; i < 3000; i++) {
        n = (size_t) snprintf(text, sizeof(text), "{\"%s\":",
                              (i % 3 == 0) ? "data"
                              : (i % 3 == 1) ? "server" : "id");
        n += random_value(text + n, sizeof(text) - n - 2, 0);
        text[n++] = '}';
        text[n] = '\0';

        check_all(text);
    }
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_collisions),
        cmocka_unit_test(test_credentials),
        cmocka_unit_test(test_long_names),
        cmocka_unit_test(test_random),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
