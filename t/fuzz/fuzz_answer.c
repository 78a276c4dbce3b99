/*
 * libFuzzer: a vendor's answer -> the canonical server object, and the
 * native view's redaction, for every vendor.  What must hold, whatever
 * the input: no crash, no leak, no secret-named member left, and the
 * module's writer writes what jansson's would.
 */

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ngx_http_mcp_map.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t                              *body, *server;
    ngx_http_mcp_map_err_t               err;
    const ngx_http_mcp_vendor_t *const  *v;

    for (v = ngx_http_mcp_vendors; *v; v++) {
        body = ngx_http_mcp_json_loadb((const char *) data, size, NULL);
        if (body == NULL) {
            return 0;
        }

        server = ngx_http_mcp_map_server(*v, "reg", 3, "id-1", 4, body,
                                         &err);
        if (server) {
            ngx_http_mcp_map_scrub(*v, server);
            fuzz_no_secret(server);
            fuzz_same_text(server);
            json_decref(server);
        }

        if (ngx_http_mcp_map_check_answer(*v, body, &err) == 0) {
            ngx_http_mcp_map_redact(*v, body);
            fuzz_no_secret(body);
            fuzz_same_text(body);
        }

        json_decref(body);
    }

    return 0;
}
