/*
 * Unit tests of SipHash-2-4 (ngx_http_mcp_siphash.c): the test vector of
 * the paper (Aumasson and Bernstein, 2012, appendix A), and OpenSSL's
 * SIPHASH MAC, an implementation of its own, on every length up to a few
 * blocks, for 64- and 128-bit outputs and many keys.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "ngx_http_mcp_siphash.h"


static unsigned int  seed = 7;


static unsigned char
rnd(void)
{
    /* a small LCG: the same keys and inputs on every run */
    seed = seed * 1103515245u + 12345u;
    return (unsigned char) (seed >> 16);
}


/*
 * The paper's vector: key 00 01 .. 0f, input 00 01 .. 0e (15 bytes),
 * SipHash-2-4 = a129ca6149be45e5, written little-endian
 */

static void
test_paper_vector(void **state)
{
    size_t         i;
    unsigned char  key[16], in[15], out[8];

    static const unsigned char  want[8] = {
        0xe5, 0x45, 0xbe, 0x49, 0x61, 0xca, 0x29, 0xa1
    };

    (void) state;

    for (i = 0; i < sizeof(key); i++) {
        key[i] = (unsigned char) i;
    }

    for (i = 0; i < sizeof(in); i++) {
        in[i] = (unsigned char) i;
    }

    ngx_http_mcp_siphash(key, in, sizeof(in), out, sizeof(out));

    assert_memory_equal(out, want, sizeof(want));
}


static void
openssl_siphash(EVP_MAC *mac, const unsigned char *key,
    const unsigned char *in, size_t len, unsigned char *out, size_t outlen)
{
    size_t        n;
    EVP_MAC_CTX  *ctx;
    OSSL_PARAM    params[2];

    ctx = EVP_MAC_CTX_new(mac);
    assert_non_null(ctx);

    params[0] = OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &outlen);
    params[1] = OSSL_PARAM_construct_end();

    assert_int_equal(EVP_MAC_init(ctx, key, 16, params), 1);
    assert_int_equal(EVP_MAC_update(ctx, in, len), 1);
    assert_int_equal(EVP_MAC_final(ctx, out, &n, outlen), 1);
    assert_int_equal(n, outlen);

    EVP_MAC_CTX_free(ctx);
}


static void
test_as_openssl(void **state)
{
    size_t          len, i, k, outlen;
    EVP_MAC        *mac;
    unsigned char   key[16], in[200], want[16], got[16];

    (void) state;

    mac = EVP_MAC_fetch(NULL, "SIPHASH", NULL);
    assert_non_null(mac);

    for (outlen = 8; outlen <= 16; outlen += 8) {
        for (k = 0; k < 8; k++) {
            for (i = 0; i < sizeof(key); i++) {
                key[i] = rnd();
            }

            for (len = 0; len <= sizeof(in); len++) {
                for (i = 0; i < len; i++) {
                    in[i] = rnd();
                }

                openssl_siphash(mac, key, in, len, want, outlen);

                memset(got, 0, sizeof(got));
                ngx_http_mcp_siphash(key, in, len, got, outlen);

                assert_memory_equal(got, want, outlen);
            }
        }
    }

    EVP_MAC_free(mac);
}


/* another key, another function: one bit of the key changes the output */

static void
test_keyed(void **state)
{
    size_t         i;
    unsigned char  key[16], in[64], a[16], b[16];

    (void) state;

    for (i = 0; i < sizeof(in); i++) {
        in[i] = (unsigned char) 'x';
    }

    for (i = 0; i < 8 * sizeof(key); i++) {
        memset(key, 0x5a, sizeof(key));
        ngx_http_mcp_siphash(key, in, sizeof(in), a, sizeof(a));

        key[i / 8] ^= (unsigned char) (1 << (i % 8));
        ngx_http_mcp_siphash(key, in, sizeof(in), b, sizeof(b));

        assert_memory_not_equal(a, b, sizeof(a));
    }
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paper_vector),
        cmocka_unit_test(test_as_openssl),
        cmocka_unit_test(test_keyed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
