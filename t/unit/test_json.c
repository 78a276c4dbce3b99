/*
 * Unit tests of the module's JSON writer (ngx_http_mcp_json_dump.c): for
 * every document, the size it announces and the text it writes must be
 * byte for byte what jansson's json_dumpb(JSON_COMPACT) writes.  Inputs:
 * every fixture (the vendors' example bodies), every byte a string can
 * hold, the integer and real edge cases, deep nesting, and random
 * documents from a fixed seed.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <cmocka.h>

#include "ngx_http_mcp_json.h"


#ifndef MCP_FIXTURES
#define MCP_FIXTURES "t/fixtures"
#endif


/* the writer's text equals jansson's; the buffer is guarded on both ends */

static void
same_as_jansson(json_t *json)
{
    size_t          size, expect;
    char           *want;
    unsigned char  *buf, *end;

    expect = json_dumpb(json, NULL, 0, JSON_COMPACT|JSON_ENCODE_ANY);
    assert_true(expect > 0);

    want = malloc(expect);
    assert_non_null(want);
    assert_int_equal(json_dumpb(json, want, expect,
                                JSON_COMPACT|JSON_ENCODE_ANY), expect);

    size = ngx_http_mcp_json_dump_size(json);
    assert_int_equal(size, expect);

    /* exactly "size" bytes: ASan reports a write past them */

    buf = malloc(size);
    assert_non_null(buf);

    end = ngx_http_mcp_json_dump_write(buf, json);

    assert_int_equal((size_t) (end - buf), size);

    if (memcmp(buf, want, size) != 0) {
        fail_msg("wrote   %.*s\njansson %.*s", (int) size, (char *) buf,
                 (int) size, want);
    }

    free(buf);
    free(want);
}


static void
test_fixtures(void **state)
{
    DIR            *dir;
    char            path[1024];
    size_t          n;
    json_t         *json;
    json_error_t    error;
    struct dirent  *de;

    (void) state;

    dir = opendir(MCP_FIXTURES);
    assert_non_null(dir);

    n = 0;

    while ((de = readdir(dir)) != NULL) {
        if (strstr(de->d_name, ".json") == NULL) {
            continue;
        }

        snprintf(path, sizeof(path), "%s/%s", MCP_FIXTURES, de->d_name);

        json = json_load_file(path, JSON_DECODE_ANY, &error);
        if (json == NULL) {
            fail_msg("%s: %s", path, error.text);
        }

        same_as_jansson(json);
        json_decref(json);
        n++;
    }

    closedir(dir);

    /* the vendors' examples are all there */
    assert_true(n >= 10);
}


static void
test_every_byte_of_a_string(void **state)
{
    int      c;
    char     s[2];
    json_t  *obj, *str;

    (void) state;

    /* every ASCII byte, NUL included, as a value and as a key */

    for (c = 0; c < 0x80; c++) {
        s[0] = (char) c;
        s[1] = 'x';

        str = json_stringn(s, 2);
        assert_non_null(str);
        same_as_jansson(str);

        obj = json_object();
        assert_int_equal(json_object_setn_new(obj, s, 2, str), 0);
        same_as_jansson(obj);
        json_decref(obj);
    }

    /* UTF-8 as it is; "/" and DEL as they are; U+2028 as it is */

    str = json_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 / \x7f "
                      "\xe2\x80\xa8 \"quoted\" back\\slash \r\n\t\b\f");
    assert_non_null(str);
    same_as_jansson(str);
    json_decref(str);

    str = json_string("");
    same_as_jansson(str);
    json_decref(str);
}


static void
test_numbers_and_constants(void **state)
{
    size_t   i;
    json_t  *arr;

    static const json_int_t  ints[] = {
        0, 1, -1, 9, 10, -9, -10, 99, 100, 12345, -12345,
        999999999999999999LL, 1000000000000000000LL,
        INT64_MAX, INT64_MIN, INT64_MIN + 1
    };

    static const double  reals[] = {
        0.0, -0.0, 0.1, 1.0, -2.5, 1e300, -1e-300, 3e-10, 123456789.125,
        1.7976931348623157e308, 5e-324, 100.0, 1e21, 1e15
    };

    (void) state;

    arr = json_array();

    for (i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        json_array_append_new(arr, json_integer(ints[i]));
        same_as_jansson(json_array_get(arr, i));
    }

    for (i = 0; i < sizeof(reals) / sizeof(reals[0]); i++) {
        json_array_append_new(arr, json_real(reals[i]));
    }

    json_array_append_new(arr, json_true());
    json_array_append_new(arr, json_false());
    json_array_append_new(arr, json_null());
    json_array_append_new(arr, json_object());
    json_array_append_new(arr, json_array());

    same_as_jansson(arr);
    json_decref(arr);
}


static void
test_deep_nesting(void **state)
{
    int      i;
    json_t  *json, *inner;

    (void) state;

    json = json_integer(7);

    for (i = 0; i < 1000; i++) {
        if (i % 2) {
            inner = json_object();
            json_object_set_new(inner, "k", json);

        } else {
            inner = json_array();
            json_array_append_new(inner, json_null());
            json_array_append_new(inner, json);
        }

        json = inner;
    }

    same_as_jansson(json);
    json_decref(json);
}


/* a random document: a small deterministic generator, no libc rand() */

static uint64_t  seed = 0x9e3779b97f4a7c15ULL;

static uint64_t
next_random(void)
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
}


static json_t *
random_string(void)
{
    size_t  i, n;
    char    s[11 * 3];                  /* 11 pieces of 3 bytes at most */

    static const char  *pieces[] = { "\xc3\xa9", "\xe2\x82\xac", "\"",
                                     "\\", "\n", "/", "\x01", "\x1f" };

    n = 0;

    for (i = next_random() % 12; i > 0; i--) {
        if (next_random() % 4 == 0) {
            const char *p = pieces[next_random() % 8];

            memcpy(s + n, p, strlen(p));
            n += strlen(p);

        } else {
            s[n++] = (char) (next_random() % 0x80);
        }
    }

    return json_stringn(s, n);
}


static json_t *
random_value(int depth)
{
    size_t   i, n;
    json_t  *v, *key;

    switch (next_random() % (depth > 6 ? 6 : 8)) {
    case 0:
        return json_null();
    case 1:
        return json_boolean(next_random() % 2);
    case 2:
        return json_integer((json_int_t) next_random());
    case 3:
        return json_real((double) (int64_t) next_random() / 1024.0);
    case 4:
    case 5:
        return random_string();
    case 6:
        v = json_array();
        for (n = next_random() % 5, i = 0; i < n; i++) {
            json_array_append_new(v, random_value(depth + 1));
        }
        return v;
    default:
        v = json_object();
        for (n = next_random() % 5, i = 0; i < n; i++) {
            key = random_string();
            json_object_setn_new(v, json_string_value(key),
                                 json_string_length(key),
                                 random_value(depth + 1));
            json_decref(key);
        }
        return v;
    }
}


static void
test_random_documents(void **state)
{
    int      i;
    json_t  *json;

    (void) state;

    for (i = 0; i < 2000; i++) {
        json = random_value(0);
        same_as_jansson(json);
        json_decref(json);
    }
}


/*
 * The strict loader: jansson skips a NUL byte after a literal or a
 * number; the loader refuses every NUL, and says where.
 */

static void
test_a_nul_byte_is_never_json(void **state)
{
    size_t         i, len;
    json_t        *json;
    json_error_t   err;
    char           text[64];

    static const char  *docs[] = {
        "{\"agent_enabled\":true,\"name\":\"n\"}",
        "[1,2,3]",
        "{\"a\":null,\"b\":-1.5e3}",
        NULL
    };

    (void) state;

    for (i = 0; docs[i]; i++) {
        json = ngx_http_mcp_json_loadb(docs[i], strlen(docs[i]), &err);
        assert_non_null(json);
        json_decref(json);

        /* a NUL after each byte in turn */

        for (len = 1; len < strlen(docs[i]); len++) {
            memcpy(text, docs[i], len);
            text[len] = '\0';
            strcpy(text + len + 1, docs[i] + len);

            json = ngx_http_mcp_json_loadb(text, strlen(docs[i]) + 1, &err);
            assert_null(json);
            assert_int_equal(err.position, len);
            assert_int_equal(err.line, -1);
            assert_string_equal(err.text, NGX_HTTP_MCP_JSON_NUL);
        }
    }

    /* what jansson alone lets through */

    json = json_loadb("{\"a\":true\0,\"b\":1}", 17, 0, &err);
    assert_non_null(json);
    json_decref(json);

    assert_null(ngx_http_mcp_json_loadb("{\"a\":true\0,\"b\":1}", 17, &err));
    assert_int_equal(err.position, 9);

    /* and the duplicate members it is asked to refuse */

    assert_null(ngx_http_mcp_json_loadb("{\"a\":1,\"a\":2}", 13, &err));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_every_byte_of_a_string),
        cmocka_unit_test(test_numbers_and_constants),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_random_documents),
        cmocka_unit_test(test_a_nul_byte_is_never_json),
    };

    return cmocka_run_group_tests_name("ngx_http_mcp_json", tests, NULL,
                                       NULL);
}
