/*
 * Unit tests of $mcp_changed_fields (ngx_http_mcp_fields.c): the canonical
 * names of the fields a PUT body sets, never a value, with cmocka.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_http_mcp_fields.h"


#define KAMBRIUM  (&ngx_http_mcp_vendor_kambrium)
#define BARNDOOR  (&ngx_http_mcp_vendor_barndoor)
#define GATANA    (&ngx_http_mcp_vendor_gatana)


/* the names of "text" (a JSON body), measured then written */

static const char *
fields(const ngx_http_mcp_vendor_t *vendor, const char *text, int canonical)
{
    size_t        len;
    json_t       *body;
    json_error_t  err;

    static char   buf[4096];

    body = json_loads(text, 0, &err);
    assert_non_null(body);

    len = ngx_http_mcp_fields_set(vendor, body, canonical, NULL, 0);
    assert_true(len < sizeof(buf));

    memset(buf, 0, sizeof(buf));

    /* too small a buffer: measured, not written */
    if (len) {
        assert_int_equal(ngx_http_mcp_fields_set(vendor, body, canonical,
                                                 buf, len - 1), len);
        assert_int_equal(buf[0], '\0');
    }

    assert_int_equal(ngx_http_mcp_fields_set(vendor, body, canonical, buf,
                                             len), len);
    json_decref(body);

    return buf;
}


static void
test_canonical_updates(void **state)
{
    (void) state;

    assert_string_equal(fields(KAMBRIUM,
                               "{\"name\": \"x\", \"auth\": {\"api_key\": "
                               "\"secret-1\"}}", 1),
                        "auth.api_key,name");

    assert_string_equal(fields(GATANA,
                               "{\"slug\": \"a\", \"name\": \"b\", "
                               "\"remote\": {\"url\": \"https://x\", "
                               "\"type\": \"sse\"}, \"extensions\": "
                               "{\"gatana\": {\"logoUrl\": \"u\", "
                               "\"transportHeaders\": [[\"k\", \"v\"]]}}}",
                               1),
                        "extensions.gatana.logoUrl,"
                        "extensions.gatana.transportHeaders,name,"
                        "remote.type,remote.url,slug");

    /* null and empty objects name themselves */
    assert_string_equal(fields(BARNDOOR,
                               "{\"remote\": null, \"extensions\": "
                               "{\"barndoor\": {}}}", 1),
                        "extensions.barndoor,remote");

    assert_string_equal(fields(KAMBRIUM, "{}", 1), "");
}


static void
test_native_bodies(void **state)
{
    (void) state;

    assert_string_equal(fields(KAMBRIUM,
                               "{\"agent_enabled\": false, \"api_key\": "
                               "\"secret-1\", \"config\": {\"a\": 1}, "
                               "\"access_type\": \"read\"}", 0),
                        "access_type,auth.api_key,enabled,"
                        "extensions.kambrium.config");

    assert_string_equal(fields(BARNDOOR,
                               "{\"client_secret\": \"s\", \"meta\": {}, "
                               "\"name\": \"n\"}", 0),
                        "auth.oauth_client_secret,extensions.barndoor.meta,"
                        "name");

    /* members of an object one by one; url twice is one name */
    assert_string_equal(fields(GATANA,
                               "{\"name\": \"n\", \"slug\": \"s\", "
                               "\"url\": \"https://x\", "
                               "\"authorization\": {\"method\": \"apikey\", "
                               "\"apikeys\": [\"secret-1\"], "
                               "\"other\": 1}, "
                               "\"transportConfig\": {\"url\": \"https://x\", "
                               "\"headers\": [[\"k\", \"secret-2\"]]}}", 0),
                        "auth.api_key,auth.method,"
                        "extensions.gatana.authorization,"
                        "extensions.gatana.transportHeaders,name,"
                        "remote.url,slug");
}


/* a client's keys cannot forge names, nor carry a value into a log */

static void
test_keys_are_made_safe(void **state)
{
    const char  *f;

    (void) state;

    f = fields(KAMBRIUM, "{\"a,b\": 1, \"x.y\": 2, \"q\\\"\\n\": 3}", 0);

    assert_string_equal(f, "extensions.kambrium.a%2Cb,"
                           "extensions.kambrium.q%22%0A,"
                           "extensions.kambrium.x%2Ey");

    f = fields(KAMBRIUM, "{\"auth\": {\"api key\": \"secret-1\"}}", 1);
    assert_string_equal(f, "auth.api%20key");
    assert_null(strstr(f, "secret"));
}


static void
test_not_an_object(void **state)
{
    json_t  *body;

    (void) state;

    body = json_loads("[1, 2]", 0, NULL);
    assert_int_equal(ngx_http_mcp_fields_set(KAMBRIUM, body, 0, NULL, 0), 0);
    json_decref(body);

    assert_int_equal(ngx_http_mcp_fields_set(KAMBRIUM, NULL, 1, NULL, 0), 0);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_canonical_updates),
        cmocka_unit_test(test_native_bodies),
        cmocka_unit_test(test_keys_are_made_safe),
        cmocka_unit_test(test_not_an_object),
    };

    return cmocka_run_group_tests_name("ngx_http_mcp_fields", tests, NULL,
                                       NULL);
}
