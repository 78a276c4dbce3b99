/*
 * Unit tests of the vendors' id forms (ngx_http_mcp_id.c), with cmocka.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_http_mcp_id.h"


static int
valid(int vendor, const char *id)
{
    return ngx_http_mcp_id_valid(vendor, (const unsigned char *) id,
                                 strlen(id));
}


static void
test_kambrium_ids(void **state)
{
    (void) state;

    /* both forms the vendor documents */
    assert_true(valid(NGX_HTTP_MCP_KAMBRIUM, "123"));
    assert_true(valid(NGX_HTTP_MCP_KAMBRIUM, "srv_123abc"));
    assert_true(valid(NGX_HTTP_MCP_KAMBRIUM, "999999999999999999"));

    assert_false(valid(NGX_HTTP_MCP_KAMBRIUM, ""));
    assert_false(valid(NGX_HTTP_MCP_KAMBRIUM, "0123"));
    assert_false(valid(NGX_HTTP_MCP_KAMBRIUM, "-1"));
    assert_false(valid(NGX_HTTP_MCP_KAMBRIUM, "12ab"));
    assert_false(valid(NGX_HTTP_MCP_KAMBRIUM, "1000000000000000000"));
    assert_false(valid(NGX_HTTP_MCP_KAMBRIUM, "srv_"));
    assert_false(valid(NGX_HTTP_MCP_KAMBRIUM, "srv_a-b"));
    assert_false(valid(NGX_HTTP_MCP_KAMBRIUM, "srv_a/../b"));
    assert_false(valid(NGX_HTTP_MCP_KAMBRIUM, "SRV_abc"));
}


static void
test_barndoor_ids(void **state)
{
    (void) state;

    assert_true(valid(NGX_HTTP_MCP_BARNDOOR,
                      "123e4567-e89b-12d3-a456-426614174000"));
    assert_true(valid(NGX_HTTP_MCP_BARNDOOR,
                      "123E4567-E89B-12D3-A456-426614174000"));

    assert_false(valid(NGX_HTTP_MCP_BARNDOOR,
                       "123e4567-e89b-12d3-a456-42661417400"));
    assert_false(valid(NGX_HTTP_MCP_BARNDOOR,
                       "123e4567e89b12d3a456426614174000"));
    assert_false(valid(NGX_HTTP_MCP_BARNDOOR,
                       "123e4567-e89b-12d3-a456-42661417400g"));
    assert_false(valid(NGX_HTTP_MCP_BARNDOOR,
                       "{123e4567-e89b-12d3-a456-426614174000}"));
    assert_false(valid(NGX_HTTP_MCP_BARNDOOR, "123"));
}


static void
test_gatana_ids(void **state)
{
    (void) state;

    assert_true(valid(NGX_HTTP_MCP_GATANA, "github-tools"));
    assert_true(valid(NGX_HTTP_MCP_GATANA, "a"));
    assert_true(valid(NGX_HTTP_MCP_GATANA, "abcdefghij0123456789"));

    assert_false(valid(NGX_HTTP_MCP_GATANA, ""));
    assert_false(valid(NGX_HTTP_MCP_GATANA, "abcdefghij0123456789x"));
    assert_false(valid(NGX_HTTP_MCP_GATANA, "GitHub"));
    assert_false(valid(NGX_HTTP_MCP_GATANA, "git_hub"));
    assert_false(valid(NGX_HTTP_MCP_GATANA, "git.hub"));
    assert_false(valid(NGX_HTTP_MCP_GATANA, "git%2fhub"));
}


static void
test_vendor_names(void **state)
{
    (void) state;

    assert_int_equal(ngx_http_mcp_vendor_by_name(
                         (const unsigned char *) "kambrium", 8),
                     NGX_HTTP_MCP_KAMBRIUM);
    assert_int_equal(ngx_http_mcp_vendor_by_name(
                         (const unsigned char *) "gatana", 6),
                     NGX_HTTP_MCP_GATANA);
    assert_int_equal(ngx_http_mcp_vendor_by_name(
                         (const unsigned char *) "gatan", 5), -1);
    assert_int_equal(ngx_http_mcp_vendor_by_name(
                         (const unsigned char *) "kambriumx", 9), -1);

    assert_string_equal(ngx_http_mcp_vendor_name(NGX_HTTP_MCP_BARNDOOR),
                        "barndoor");
    assert_string_equal(ngx_http_mcp_vendor_name(42), "unknown");
    assert_null(ngx_http_mcp_vendor_path(-1));
    assert_false(ngx_http_mcp_id_valid(42, (const unsigned char *) "1", 1));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_kambrium_ids),
        cmocka_unit_test(test_barndoor_ids),
        cmocka_unit_test(test_gatana_ids),
        cmocka_unit_test(test_vendor_names),
    };

    return cmocka_run_group_tests_name("ngx_http_mcp_id", tests, NULL, NULL);
}
