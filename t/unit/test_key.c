/*
 * Unit tests of the cache entry's field (ngx_http_mcp_key.c), with
 * cmocka: no two different lists of key parts give the same field.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "ngx_http_mcp_key.h"
#include "ngx_http_mcp_siphash.h"


#define MAX_PARTS   7
#define MAX_LEN     6
#define TUPLES      20000


typedef struct {
    size_t                    n;
    ngx_http_mcp_key_part_t   parts[MAX_PARTS];
    unsigned char             bytes[MAX_PARTS][MAX_LEN];
    unsigned char             field[NGX_HTTP_MCP_KEY_FIELD_LEN];
} tuple_t;


/* few symbols, so that near-misses are frequent: separators, braces,
 * percent-encoding, control and non-ASCII bytes, NUL */

static const unsigned char  alphabet[] = {
    ':', ':', '%', '{', '}', 'a', 'x', '0', '\0', '\n', '\t', 0x7f, 0x80,
    0xc3, 0xa9, 0xff
};


static unsigned int  seed = 12;


static unsigned int
rnd(unsigned int n)
{
    /* a small LCG: the same tuples on every run */
    seed = seed * 1103515245u + 12345u;
    return (seed >> 16) % n;
}


static void
make(tuple_t *t)
{
    size_t  i, j;

    memset(t, 0, sizeof(tuple_t));
    t->n = 1 + rnd(MAX_PARTS);

    for (i = 0; i < t->n; i++) {
        t->parts[i].len = rnd(MAX_LEN + 1);
        t->parts[i].data = t->bytes[i];

        for (j = 0; j < t->parts[i].len; j++) {
            t->bytes[i][j] = alphabet[rnd(sizeof(alphabet))];
        }
    }

    assert_int_equal(ngx_http_mcp_key_field(t->parts, t->n, t->field), 0);
}


static int
same(const tuple_t *a, const tuple_t *b)
{
    size_t  i;

    if (a->n != b->n) {
        return 0;
    }

    for (i = 0; i < a->n; i++) {
        if (a->parts[i].len != b->parts[i].len
            || memcmp(a->bytes[i], b->bytes[i], a->parts[i].len) != 0)
        {
            return 0;
        }
    }

    return 1;
}


static int
by_field(const void *a, const void *b)
{
    return memcmp(((const tuple_t *) a)->field, ((const tuple_t *) b)->field,
                  NGX_HTTP_MCP_KEY_FIELD_LEN);
}


/* what the key was before: the parts joined with ":" */

static size_t
joined(const tuple_t *t, unsigned char *out)
{
    size_t  i, len;

    len = 0;

    for (i = 0; i < t->n; i++) {
        if (i) {
            out[len++] = ':';
        }

        memcpy(out + len, t->bytes[i], t->parts[i].len);
        len += t->parts[i].len;
    }

    return len;
}


static void
test_random_tuples_never_collide(void **state)
{
    size_t    i;
    tuple_t  *t;

    (void) state;

    t = calloc(TUPLES, sizeof(tuple_t));
    assert_non_null(t);

    for (i = 0; i < TUPLES; i++) {
        make(&t[i]);
    }

    qsort(t, TUPLES, sizeof(tuple_t), by_field);

    for (i = 1; i < TUPLES; i++) {
        if (memcmp(t[i - 1].field, t[i].field, NGX_HTTP_MCP_KEY_FIELD_LEN)
            == 0)
        {
            /* the same field: only for the very same parts */
            assert_true(same(&t[i - 1], &t[i]));
        }
    }

    free(t);
}


/*
 * The adversary's tuples: the same parts joined with ":" cut at other
 * colons, as "rt-alice" + "x:" and "rt-alice:x" + "" are.  Each such
 * sibling was the same key before; now it is another field.
 */

static void
test_siblings_of_the_old_join_differ(void **state)
{
    size_t          i, k, len, ncolons, from, siblings;
    size_t          colons[MAX_PARTS * (MAX_LEN + 1)];
    tuple_t         t, s;
    unsigned char   j[MAX_PARTS * (MAX_LEN + 1)];

    (void) state;

    siblings = 0;

    for (k = 0; k < 4 * TUPLES; k++) {
        make(&t);

        if (t.n < 2) {
            continue;
        }

        len = joined(&t, j);

        for (i = 0, ncolons = 0; i < len; i++) {
            if (j[i] == ':') {
                colons[ncolons++] = i;
            }
        }

        /* the same join, cut at its last n - 1 colons */

        if (ncolons < t.n) {
            continue;
        }

        memset(&s, 0, sizeof(tuple_t));
        s.n = t.n;
        from = 0;

        for (i = 0; i < s.n; i++) {
            size_t  to;

            to = (i + 1 < s.n) ? colons[ncolons - (s.n - 1) + i] : len;

            if (to - from > MAX_LEN) {
                break;
            }

            memcpy(s.bytes[i], j + from, to - from);
            s.parts[i].data = s.bytes[i];
            s.parts[i].len = to - from;
            from = to + 1;
        }

        if (i < s.n || same(&t, &s)) {
            continue;
        }

        assert_int_equal(ngx_http_mcp_key_field(s.parts, s.n, s.field), 0);
        assert_memory_not_equal(t.field, s.field, sizeof(t.field));
        siblings++;
    }

    /* the property was put to the test many times */
    assert_true(siblings > 1000);
}


/* the encoding reads back into the very parts: it is injective */

static void
test_the_encoding_reads_back(void **state)
{
    size_t          i, k, len, pos, n;
    tuple_t         t;
    unsigned char   out[MAX_PARTS * (MAX_LEN + NGX_HTTP_MCP_KEY_LEN_SIZE)];

    (void) state;

    for (k = 0; k < TUPLES; k++) {
        make(&t);

        len = ngx_http_mcp_key_encode(t.parts, t.n, out);

        for (pos = 0, n = 0; pos < len; n++) {
            size_t  plen = 0;

            assert_true(n < t.n);
            assert_true(pos + NGX_HTTP_MCP_KEY_LEN_SIZE <= len);

            for (i = 0; i < NGX_HTTP_MCP_KEY_LEN_SIZE; i++) {
                plen = (plen << 8) | out[pos + i];
            }

            pos += NGX_HTTP_MCP_KEY_LEN_SIZE;

            assert_int_equal(plen, t.parts[n].len);
            assert_true(pos + plen <= len);

            if (plen) {
                assert_memory_equal(out + pos, t.bytes[n], plen);
            }

            pos += plen;
        }

        assert_int_equal(n, t.n);
    }
}


/* the attack run's pair: sub "rt-alice" with "x:", "rt-alice:x" with "" */

static void
test_the_reported_pair(void **state)
{
    unsigned char            f1[NGX_HTTP_MCP_KEY_FIELD_LEN];
    unsigned char            f2[NGX_HTTP_MCP_KEY_FIELD_LEN];
    ngx_http_mcp_key_part_t  a[] = {
        { (const unsigned char *) "kambrium", 8 },
        { (const unsigned char *) "srv_123abc", 10 },
        { (const unsigned char *) "native", 6 },
        { (const unsigned char *) "https://auth.demo.example/", 26 },
        { (const unsigned char *) "rt-alice", 8 },
        { (const unsigned char *) "x:", 2 }
    };
    ngx_http_mcp_key_part_t  b[] = {
        { (const unsigned char *) "kambrium", 8 },
        { (const unsigned char *) "srv_123abc", 10 },
        { (const unsigned char *) "native", 6 },
        { (const unsigned char *) "https://auth.demo.example/", 26 },
        { (const unsigned char *) "rt-alice:x", 10 },
        { (const unsigned char *) "", 0 }
    };

    (void) state;

    assert_int_equal(ngx_http_mcp_key_field(a, 6, f1), 0);
    assert_int_equal(ngx_http_mcp_key_field(b, 6, f2), 0);
    assert_memory_not_equal(f1, f2, sizeof(f1));

    /* and an empty last part is a part: 5 parts are another key */
    assert_int_equal(ngx_http_mcp_key_field(b, 5, f1), 0);
    assert_memory_not_equal(f1, f2, sizeof(f1));
}


/* lower-case hex of SHA-256, the same for the same parts */

static void
test_the_field_is_stable_hex(void **state)
{
    size_t                   i;
    unsigned char            f1[NGX_HTTP_MCP_KEY_FIELD_LEN];
    unsigned char            f2[NGX_HTTP_MCP_KEY_FIELD_LEN];
    ngx_http_mcp_key_part_t  p[] = { { (const unsigned char *) "a", 1 } };

    (void) state;

    assert_int_equal(ngx_http_mcp_key_field(p, 1, f1), 0);
    assert_int_equal(ngx_http_mcp_key_field(p, 1, f2), 0);
    assert_memory_equal(f1, f2, sizeof(f1));

    for (i = 0; i < sizeof(f1); i++) {
        assert_true((f1[i] >= '0' && f1[i] <= '9')
                    || (f1[i] >= 'a' && f1[i] <= 'f'));
    }

    /* SHA-256 of 00 00 00 00 00 00 00 01 'a' */
    assert_memory_equal(f1, "3b196fd4907bedf51c3090e9835f2f7c"
                            "b61e7ee1b2299ea3b8fed9b4183a822a", sizeof(f1));
}


/*
 * The parts hashed part by part, short and long: the field is SHA-256 of
 * their encoding, the same as one update of it gives
 */

static void
test_long_parts_hash_as_their_encoding(void **state)
{
    size_t                   i, len, sizes[] = { 1000, 1008, 1009, 5000 };
    unsigned int             dlen;
    unsigned char            digest[EVP_MAX_MD_SIZE], hex[3];
    unsigned char            field[NGX_HTTP_MCP_KEY_FIELD_LEN];
    static unsigned char     data[5000], enc[5000 + 2 * 8];
    ngx_http_mcp_key_part_t  p[2];

    (void) state;

    for (i = 0; i < sizeof(data); i++) {
        data[i] = (unsigned char) rnd(256);
    }

    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        p[0].data = (const unsigned char *) "k";
        p[0].len = 1;
        p[1].data = data;
        p[1].len = sizes[i] - 2 * NGX_HTTP_MCP_KEY_LEN_SIZE - 1;

        len = ngx_http_mcp_key_encode(p, 2, enc);
        assert_int_equal(len, sizes[i]);

        assert_int_equal(EVP_Digest(enc, len, digest, &dlen, EVP_sha256(),
                                    NULL), 1);
        assert_int_equal(ngx_http_mcp_key_field(p, 2, field), 0);

        for (len = 0; len < 32; len++) {
            snprintf((char *) hex, sizeof(hex), "%02x", digest[len]);
            assert_memory_equal(field + 2 * len, hex, 2);
        }
    }
}


/*
 * The field of parts already encoded (what a request computes only when
 * it goes beyond the node's first layer) is the field of the parts, short
 * or long; ngx_http_mcp_key_encoded_len() is the encoding's size.
 */

static void
test_the_field_of_the_encoding_is_the_field(void **state)
{
    size_t                   i, n, k, len;
    unsigned char            f1[NGX_HTTP_MCP_KEY_FIELD_LEN];
    unsigned char            f2[NGX_HTTP_MCP_KEY_FIELD_LEN];
    static unsigned char     data[6][1500];
    static unsigned char     enc[6 * (1500 + NGX_HTTP_MCP_KEY_LEN_SIZE)];
    ngx_http_mcp_key_part_t  p[6];

    (void) state;

    for (i = 0; i < 500; i++) {
        n = 1 + rnd(6);

        for (k = 0; k < n; k++) {
            p[k].len = (i % 10 == 0) ? rnd(1500) : rnd(40);
            p[k].data = data[k];

            for (len = 0; len < p[k].len; len++) {
                data[k][len] = (unsigned char) rnd(256);
            }
        }

        len = ngx_http_mcp_key_encode(p, n, enc);
        assert_int_equal(len, ngx_http_mcp_key_encoded_len(p, n));

        assert_int_equal(ngx_http_mcp_key_field(p, n, f1), 0);
        assert_int_equal(ngx_http_mcp_key_field_encoded(enc, len, f2), 0);
        assert_memory_equal(f1, f2, sizeof(f1));
    }
}


/*
 * The node's first layer names an entry by the SipHash-128 of the same
 * encoding under the zone's key: the tuples that differ by where a part
 * ends (the old join's siblings) get different names, and another key
 * gives other names.
 */

static void
test_the_l1_name_of_siblings_differ(void **state)
{
    size_t                   la, lb;
    unsigned char            key1[NGX_HTTP_MCP_SIPHASH_KEY_LEN];
    unsigned char            key2[NGX_HTTP_MCP_SIPHASH_KEY_LEN];
    unsigned char            ea[64], eb[64], n1[16], n2[16], n3[16];
    ngx_http_mcp_key_part_t  a[] = {
        { (const unsigned char *) "x:y", 3 },
        { (const unsigned char *) "z", 1 }
    };
    ngx_http_mcp_key_part_t  b[] = {
        { (const unsigned char *) "x", 1 },
        { (const unsigned char *) "y:z", 3 }
    };

    (void) state;

    for (la = 0; la < sizeof(key1); la++) {
        key1[la] = (unsigned char) rnd(256);
        key2[la] = (unsigned char) rnd(256);
    }

    la = ngx_http_mcp_key_encode(a, 2, ea);
    lb = ngx_http_mcp_key_encode(b, 2, eb);

    ngx_http_mcp_siphash(key1, ea, la, n1, sizeof(n1));
    ngx_http_mcp_siphash(key1, eb, lb, n2, sizeof(n2));
    ngx_http_mcp_siphash(key2, ea, la, n3, sizeof(n3));

    assert_memory_not_equal(n1, n2, sizeof(n1));
    assert_memory_not_equal(n1, n3, sizeof(n1));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_random_tuples_never_collide),
        cmocka_unit_test(test_siblings_of_the_old_join_differ),
        cmocka_unit_test(test_the_encoding_reads_back),
        cmocka_unit_test(test_the_reported_pair),
        cmocka_unit_test(test_the_field_is_stable_hex),
        cmocka_unit_test(test_long_parts_hash_as_their_encoding),
        cmocka_unit_test(test_the_field_of_the_encoding_is_the_field),
        cmocka_unit_test(test_the_l1_name_of_siblings_differ),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
