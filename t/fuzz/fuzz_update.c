/*
 * libFuzzer: a canonical update -> the vendor's PUT body, and the
 * vendor's checks of a native PUT body, for every vendor.  A body that is
 * accepted is written as jansson would write it.
 */

#include "fuzz.h"
#include "ngx_http_mcp_map.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t                              *update, *put;
    ngx_http_mcp_map_err_t               err;
    const ngx_http_mcp_vendor_t *const  *v;

    update = ngx_http_mcp_json_loadb((const char *) data, size, NULL);
    if (update == NULL) {
        return 0;
    }

    for (v = ngx_http_mcp_vendors; *v; v++) {
        put = ngx_http_mcp_map_update(*v, update, &err);

        if (put) {
            fuzz_same_text(put);

            /* what a canonical update makes passes the vendor's checks */
            if (ngx_http_mcp_map_check_native(*v, put, &err) != 0) {
                fuzz_fail("a translated update fails the vendor's checks");
            }

            json_decref(put);

        } else if (memchr(err.text, '\0', sizeof(err.text)) == NULL) {
            fuzz_fail("an error text without its end");
        }

        (void) ngx_http_mcp_map_check_native(*v, update, &err);
    }

    json_decref(update);

    return 0;
}
