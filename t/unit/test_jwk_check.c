/*
 * Unit tests of the RSA key checks (ngx_http_mcp_jwk_check.c), with
 * cmocka: degenerate exponents and moduli, Wycheproof's ROCA key.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "ngx_http_mcp_jwt.h"


/*
 * the modulus of Wycheproof's jws_rsa_roca_key (json_web_key_test 7,
 * json_web_crypto_test 46; t/vectors/wycheproof-roca-rsa.json), 2049 bits
 */

static const char  roca_n[] =
    "1a9c5a687db8fb2a30f82dff8dda154c291ef27b04b25e185b8ab20c4c6a5f60"
    "4859fe59ede54a0af7c0e7288800ad7193bb731a5bf1e1170d7a1c66930d41ea"
    "3eb21dedf7b8af5d42a91c34f72045b96efd57cb182301ddcc26967e5508e9ab"
    "889986d57e837dfe70f99fc37c498f43c17c3b9b064cf704443d7a033e03a821"
    "697aabf30fb29ee7d33b3767965a89058e3b39754bd3a1c007d28a23b0cfa79f"
    "9d711ac6e4c4b4f77b0634b1ecd68591af03c7d53b62a5f2d91163d4ef4f8f26"
    "831ae461ed85ec5f788c5123ffc12c87420fdcfea1d1b4a52c3521824fb39983"
    "48739b62a986d8e76b2289bc2eb8bc06d138147851b83a07183d210559f90632"
    "1"
    ;


static EVP_PKEY  *good;


static EVP_PKEY *
rsa_key(const BIGNUM *n, const BIGNUM *e)
{
    EVP_PKEY        *pkey;
    EVP_PKEY_CTX    *ctx;
    OSSL_PARAM      *params;
    OSSL_PARAM_BLD  *bld;

    bld = OSSL_PARAM_BLD_new();
    assert_non_null(bld);
    assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n),
                     1);
    assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e),
                     1);
    params = OSSL_PARAM_BLD_to_param(bld);
    assert_non_null(params);

    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    pkey = NULL;
    assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
    assert_int_equal(EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY,
                                       params), 1);

    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);

    return pkey;
}


/* the modulus of the good key, changed by "op" and "k", with exponent e */

static const char *
check(const char *e_hex, char op, unsigned long k)
{
    BIGNUM         *n, *e;
    BN_CTX         *bn;
    EVP_PKEY       *pkey;
    static char     why[128];

    n = NULL;
    e = NULL;
    bn = BN_CTX_new();

    assert_int_equal(EVP_PKEY_get_bn_param(good, OSSL_PKEY_PARAM_RSA_N, &n),
                     1);
    assert_true(BN_hex2bn(&e, e_hex) > 0);

    if (op == '*') {
        assert_int_equal(BN_mul_word(n, k), 1);

    } else if (op == 'r') {
        BN_free(n);
        n = NULL;
        assert_true(BN_hex2bn(&n, roca_n) > 0);

    } else if (op == 'p') {
        /* a prime "modulus": no small factor, odd, but no RSA modulus */
        assert_int_equal(BN_generate_prime_ex(n, 2048, 0, NULL, NULL, NULL),
                         1);
    }

    pkey = rsa_key(n, e);

    if (ngx_http_mcp_jwk_check_rsa(pkey, why, sizeof(why)) == 0) {
        why[0] = '\0';
    }

    EVP_PKEY_free(pkey);
    BN_free(n);
    BN_free(e);
    BN_CTX_free(bn);

    return why;
}


static int
setup(void **state)
{
    (void) state;

    good = EVP_RSA_gen(2048);

    return good ? 0 : -1;
}


static int
teardown(void **state)
{
    (void) state;

    EVP_PKEY_free(good);

    return 0;
}


static void
test_a_good_key_passes(void **state)
{
    char  why[128];

    (void) state;

    assert_int_equal(ngx_http_mcp_jwk_check_rsa(good, why, sizeof(why)), 0);
    assert_string_equal(check("010001", 0, 0), "");
    /* any odd exponent from 65537 up to 2^256 - 1 */
    assert_string_equal(check("10003", 0, 0), "");
    assert_string_equal(check("ffffffffffffffffffffffffffffffff"
                              "ffffffffffffffffffffffffffffffff", 0, 0), "");
}


static void
test_degenerate_exponents(void **state)
{
    (void) state;

    assert_string_equal(check("1", 0, 0),
                        "RSA public exponent 1 is below 65537");
    assert_string_equal(check("3", 0, 0),
                        "RSA public exponent 3 is below 65537");
    assert_string_equal(check("ffff", 0, 0),
                        "RSA public exponent 65535 is below 65537");
    assert_string_equal(check("10000", 0, 0),
                        "RSA public exponent 65536 is even");
    assert_string_equal(check("10002", 0, 0),
                        "RSA public exponent 65538 is even");
    assert_string_equal(check("1"
                              "00000000000000000000000000000000"
                              "00000000000000000000000000000001", 0, 0),
                        "RSA public exponent of 257 bits is 2^256 or more");
}


static void
test_degenerate_moduli(void **state)
{
    (void) state;

    assert_string_equal(check("010001", '*', 2), "RSA modulus is even");
    assert_string_equal(check("010001", '*', 3),
                        "RSA modulus is divisible by 3");
    assert_string_equal(check("010001", '*', 751),
                        "RSA modulus is divisible by 751");
    assert_string_equal(check("010001", '*', 65521),
                        "RSA modulus is divisible by 65521");
    assert_string_equal(check("010001", 'p', 0),
                        "RSA key fails OpenSSL's public key check "
                        "(SP 800-56B)");
}


static void
test_the_roca_key_of_wycheproof(void **state)
{
    (void) state;

    assert_string_equal(check("010001", 'r', 0),
                        "RSA modulus has the ROCA fingerprint "
                        "(CVE-2017-15361): its primes can be found");
}


/* no false alarm: fresh keys of every usual size pass */

static void
test_fresh_keys_pass(void **state)
{
    int        i;
    char       why[128];
    EVP_PKEY  *pkey;

    (void) state;

    for (i = 0; i < 4; i++) {
        pkey = EVP_RSA_gen(i < 2 ? 2048 : 3072);
        assert_non_null(pkey);
        assert_int_equal(ngx_http_mcp_jwk_check_rsa(pkey, why, sizeof(why)),
                         0);
        EVP_PKEY_free(pkey);
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_a_good_key_passes),
        cmocka_unit_test(test_degenerate_exponents),
        cmocka_unit_test(test_degenerate_moduli),
        cmocka_unit_test(test_the_roca_key_of_wycheproof),
        cmocka_unit_test(test_fresh_keys_pass),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
