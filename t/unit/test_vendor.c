/*
 * Unit tests of the vendor table and the vendors' id forms, with cmocka.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_http_mcp_vendor.h"


#define KAMBRIUM  (&ngx_http_mcp_vendor_kambrium)
#define BARNDOOR  (&ngx_http_mcp_vendor_barndoor)
#define GATANA    (&ngx_http_mcp_vendor_gatana)


static int
valid(const ngx_http_mcp_vendor_t *vendor, const char *id)
{
    return ngx_http_mcp_vendor_id(vendor, (const unsigned char *) id,
                                  strlen(id), NULL);
}


/* the one spelling of an id, or NULL if it is none */

static const char *
canonical(const ngx_http_mcp_vendor_t *vendor, const char *id)
{
    static char  buf[NGX_HTTP_MCP_ID_MAX_LEN + 1];

    memset(buf, 0, sizeof(buf));

    if (!ngx_http_mcp_vendor_id(vendor, (const unsigned char *) id,
                                strlen(id), (unsigned char *) buf))
    {
        return NULL;
    }

    return buf;
}


static void
test_kambrium_ids(void **state)
{
    (void) state;

    /* both forms the vendor documents */
    assert_true(valid(KAMBRIUM, "123"));
    assert_true(valid(KAMBRIUM, "srv_123abc"));
    assert_true(valid(KAMBRIUM, "999999999999999999"));

    assert_false(valid(KAMBRIUM, ""));
    assert_false(valid(KAMBRIUM, "0123"));
    assert_false(valid(KAMBRIUM, "-1"));
    assert_false(valid(KAMBRIUM, "12ab"));
    assert_false(valid(KAMBRIUM, "1000000000000000000"));
    assert_false(valid(KAMBRIUM, "srv_"));
    assert_false(valid(KAMBRIUM, "srv_a-b"));
    assert_false(valid(KAMBRIUM, "srv_a/../b"));
    assert_false(valid(KAMBRIUM, "SRV_abc"));
}


static void
test_barndoor_ids(void **state)
{
    (void) state;

    assert_true(valid(BARNDOOR,
                      "123e4567-e89b-12d3-a456-426614174000"));
    assert_true(valid(BARNDOOR,
                      "123E4567-E89B-12D3-A456-426614174000"));

    assert_false(valid(BARNDOOR,
                       "123e4567-e89b-12d3-a456-42661417400"));
    assert_false(valid(BARNDOOR,
                       "123e4567e89b12d3a456426614174000"));
    assert_false(valid(BARNDOOR,
                       "123e4567-e89b-12d3-a456-42661417400g"));
    assert_false(valid(BARNDOOR,
                       "{123e4567-e89b-12d3-a456-426614174000}"));
    assert_false(valid(BARNDOOR, "123"));
}


static void
test_gatana_ids(void **state)
{
    (void) state;

    assert_true(valid(GATANA, "github-tools"));
    assert_true(valid(GATANA, "a"));
    assert_true(valid(GATANA, "abcdefghij0123456789"));

    assert_false(valid(GATANA, ""));
    assert_false(valid(GATANA, "abcdefghij0123456789x"));
    assert_false(valid(GATANA, "GitHub"));
    assert_false(valid(GATANA, "git_hub"));
    assert_false(valid(GATANA, "git.hub"));
    assert_false(valid(GATANA, "git%2fhub"));
}


static void
test_one_spelling(void **state)
{
    (void) state;

    /* Barndoor takes either case: both name one server, in lower case */
    assert_string_equal(canonical(BARNDOOR,
                                  "123E4567-E89B-12D3-A456-426614174000"),
                        "123e4567-e89b-12d3-a456-426614174000");
    assert_string_equal(canonical(BARNDOOR,
                                  "123e4567-e89b-12d3-a456-426614174000"),
                        "123e4567-e89b-12d3-a456-426614174000");

    /* the others' ids are case-sensitive: kept as they are */
    assert_string_equal(canonical(KAMBRIUM, "srv_AbC"), "srv_AbC");
    assert_string_equal(canonical(GATANA, "github-tools"), "github-tools");
    assert_null(canonical(GATANA, "GitHub"));
}


static void
test_vendor_table(void **state)
{
    const ngx_http_mcp_vendor_t *const  *v;

    (void) state;

    assert_ptr_equal(ngx_http_mcp_vendor_find(
                         (const unsigned char *) "kambrium", 8), KAMBRIUM);
    assert_ptr_equal(ngx_http_mcp_vendor_find(
                         (const unsigned char *) "gatana", 6), GATANA);
    assert_null(ngx_http_mcp_vendor_find((const unsigned char *) "gatan", 5));
    assert_null(ngx_http_mcp_vendor_find(
                    (const unsigned char *) "kambriumx", 9));

    assert_string_equal(BARNDOOR->name, "barndoor");
    assert_string_equal(BARNDOOR->path, "/api/servers/");

    /* every descriptor is whole */
    for (v = ngx_http_mcp_vendors; *v; v++) {
        assert_non_null((*v)->name);
        assert_non_null((*v)->path);
        assert_non_null((*v)->id_canonical);
        assert_non_null((*v)->not_found);
        assert_non_null((*v)->check_answer);
        assert_non_null((*v)->to_canonical);
        assert_non_null((*v)->from_canonical);
        assert_non_null((*v)->check_native);
        assert_non_null((*v)->refused);
        assert_non_null((*v)->refused_auth);
        assert_non_null((*v)->extensions);
        assert_non_null((*v)->native_fields);
        assert_false(valid(*v, ""));
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_kambrium_ids),
        cmocka_unit_test(test_barndoor_ids),
        cmocka_unit_test(test_gatana_ids),
        cmocka_unit_test(test_one_spelling),
        cmocka_unit_test(test_vendor_table),
    };

    return cmocka_run_group_tests_name("ngx_http_mcp_vendor", tests, NULL, NULL);
}
