/*
 * libFuzzer: the module's JSON writer against jansson's json_dumpb()
 * (JSON_COMPACT), byte for byte, on every document jansson parses; and
 * the strict loader: it refuses exactly what has a NUL byte, and
 * otherwise agrees with jansson.
 */

#include <string.h>

#include "fuzz.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t        *strict, *lenient;
    json_error_t   err;

    strict = ngx_http_mcp_json_loadb((const char *) data, size, &err);
    lenient = json_loadb((const char *) data, size, JSON_REJECT_DUPLICATES
                         | JSON_DECODE_ANY, NULL);

    if (memchr(data, '\0', size) != NULL) {
        if (strict != NULL) {
            fuzz_fail("a NUL byte was taken");
        }

    } else if ((strict != NULL)
               != (lenient != NULL
                   && (json_is_object(lenient) || json_is_array(lenient))))
    {
        fuzz_fail("the strict loader and jansson disagree");
    }

    if (lenient) {
        fuzz_same_text(lenient);
        json_decref(lenient);
    }

    if (strict) {
        fuzz_same_text(strict);
        json_decref(strict);
    }

    return 0;
}
