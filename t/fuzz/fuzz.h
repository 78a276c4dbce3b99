/*
 * What the libFuzzer harnesses of t/fuzz share: failing loudly (abort(),
 * which libFuzzer reports with the input), and the properties more than
 * one of them checks.
 */

#ifndef _FUZZ_H_INCLUDED_
#define _FUZZ_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ngx_http_mcp_json.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static inline void
fuzz_fail(const char *what)
{
    fprintf(stderr, "fuzz: %s\n", what);
    abort();
}


/* the module's writer writes what json_dumpb(JSON_COMPACT) writes */

static inline void
fuzz_same_text(json_t *json)
{
    char           *want;
    size_t          size, mine;
    unsigned char  *got, *end;

    size = json_dumpb(json, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
    mine = ngx_http_mcp_json_dump_size(json);

    if (size == 0 || mine != size) {
        fuzz_fail("the writer's size is not jansson's");
    }

    want = malloc(size);
    got = malloc(size);

    if (want == NULL || got == NULL) {
        fuzz_fail("out of memory");
    }

    if (json_dumpb(json, want, size, JSON_COMPACT | JSON_ENCODE_ANY) != size)
    {
        fuzz_fail("json_dumpb() changed its mind");
    }

    end = ngx_http_mcp_json_dump_write(got, json);

    if ((size_t) (end - got) != size || memcmp(got, want, size) != 0) {
        fuzz_fail("the writer's text is not jansson's");
    }

    free(want);
    free(got);
}


/* "text" ("size" bytes) is what json_dumpb(JSON_COMPACT) writes of json */

static inline void
fuzz_same_as(json_t *json, const unsigned char *text, size_t size)
{
    char    *want;
    size_t   n;

    n = json_dumpb(json, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
    want = malloc(n);

    if (n == 0 || want == NULL) {
        fuzz_fail("out of memory");
    }

    if (json_dumpb(json, want, n, JSON_COMPACT | JSON_ENCODE_ANY) != n
        || n != size || memcmp(want, text, n) != 0)
    {
        fuzz_fail("the scrubbed answer written is not the reference's");
    }

    free(want);
}


/*
 * No member whose name (lower case, letters and digits only) ends like a
 * secret's is left, unless its value is a boolean: an oracle written
 * apart from the scrub's own list (ngx_http_mcp_map.c)
 */

static inline int
fuzz_secret_name(const char *key)
{
    size_t       n, i;
    char         name[256];
    const char  *p;
    const char  *ends[] = { "secret", "password", "apikey", "token",
                            "privatekey", NULL };

    for (n = 0, p = key; *p && n < sizeof(name) - 1; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')) {
            name[n++] = *p;

        } else if (*p >= 'A' && *p <= 'Z') {
            name[n++] = (char) (*p | 0x20);
        }
    }

    if (*p) {
        return 0;               /* a name longer than any secret's here */
    }

    for (i = 0; ends[i]; i++) {
        size_t  len = strlen(ends[i]);

        if (n >= len && memcmp(name + n - len, ends[i], len) == 0) {
            return 1;
        }
    }

    return 0;
}


static inline void
fuzz_no_secret(json_t *json)
{
    size_t       i;
    json_t      *v;
    const char  *key;

    if (json_is_array(json)) {
        json_array_foreach(json, i, v) {
            fuzz_no_secret(v);
        }

        return;
    }

    json_object_foreach(json, key, v) {
        if (!json_is_boolean(v) && fuzz_secret_name(key)) {
            fuzz_fail("a secret-named member is left");
        }

        fuzz_no_secret(v);
    }
}


#endif /* _FUZZ_H_INCLUDED_ */
