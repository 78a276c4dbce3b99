/*
 * libFuzzer: a vendor's answer -> the canonical server object, and the
 * native view's redaction, for every vendor.  What must hold, whatever
 * the input: no crash, no leak, no secret-named member left, the module's
 * writer writes what jansson's would, and the answers the module writes
 * scrubbed (ngx_http_mcp_map_scrub.c: the canonical document, the
 * redacted tree) are byte for byte the reference path's: the canonical
 * tree of ngx_http_mcp_map_server(), or the vendor's tree, scrubbed;
 * written into less room than they need, they are refused, and nothing is
 * written past it.
 */

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ngx_http_mcp_map.h"


/* into room a byte short of the text: refused, nothing written past it */

static void
fuzz_short(const ngx_http_mcp_vendor_t *vendor, ngx_http_mcp_doc_t *doc,
    json_t *json, size_t size)
{
    unsigned char  *buf, *end;

    buf = malloc(size - 1 ? size - 1 : 1);
    if (buf == NULL) {
        fuzz_fail("out of memory");
    }

    end = doc ? ngx_http_mcp_map_doc_write(vendor, buf, buf + size - 1, doc)
              : ngx_http_mcp_map_write(vendor, buf, buf + size - 1, json);

    if (end != NULL) {
        fuzz_fail("a text was written into less room than it needs");
    }

    free(buf);
}


/* the writer's text of the canonical document, or NULL if there is none */

static unsigned char *
fuzz_canonical(const ngx_http_mcp_vendor_t *vendor, json_t *body,
    size_t *size)
{
    unsigned char           *text, *end;
    ngx_http_mcp_doc_t      *doc;
    ngx_http_mcp_map_err_t   err;

    doc = ngx_http_mcp_map_canonical(vendor, "reg", 3, "id-1", 4, body, &err);
    if (doc == NULL) {
        return NULL;
    }

    *size = ngx_http_mcp_map_doc_size(vendor, doc);
    text = malloc(*size);

    if (*size == 0 || text == NULL) {
        fuzz_fail("the canonical document has no size");
    }

    end = ngx_http_mcp_map_doc_write(vendor, text, text + *size, doc);

    if (end == NULL || (size_t) (end - text) != *size) {
        fuzz_fail("the canonical document's size is not its text's");
    }

    fuzz_short(vendor, doc, NULL, *size);

    ngx_http_mcp_doc_free(doc);

    return text;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                               n;
    json_t                              *body, *server;
    unsigned char                       *text, *end;
    ngx_http_mcp_map_err_t               err;
    const ngx_http_mcp_vendor_t *const  *v;

    for (v = ngx_http_mcp_vendors; *v; v++) {
        body = ngx_http_mcp_json_loadb((const char *) data, size, NULL);
        if (body == NULL) {
            return 0;
        }

        /* first: the reference scrub below changes the answer's tree */

        n = 0;
        text = fuzz_canonical(*v, body, &n);

        server = ngx_http_mcp_map_server(*v, "reg", 3, "id-1", 4, body,
                                         &err);

        if ((server == NULL) != (text == NULL)) {
            fuzz_fail("the canonical document and tree disagree");
        }

        if (server) {
            ngx_http_mcp_map_scrub(*v, server);
            fuzz_no_secret(server);
            fuzz_same_text(server);
            fuzz_same_as(server, text, n);
            json_decref(server);
        }

        free(text);

        if (ngx_http_mcp_map_check_answer(*v, body, &err) == 0) {
            ngx_http_mcp_map_redact_vendor(*v, body);

            n = ngx_http_mcp_map_write_size(*v, body);
            text = malloc(n);

            if (n == 0 || text == NULL) {
                fuzz_fail("the native answer has no size");
            }

            end = ngx_http_mcp_map_write(*v, text, text + n, body);

            if (end == NULL || (size_t) (end - text) != n) {
                fuzz_fail("the native answer's size is not its text's");
            }

            fuzz_short(*v, NULL, body, n);

            ngx_http_mcp_map_scrub(*v, body);
            fuzz_no_secret(body);
            fuzz_same_text(body);
            fuzz_same_as(body, text, n);

            free(text);
        }

        json_decref(body);
    }

    return 0;
}
