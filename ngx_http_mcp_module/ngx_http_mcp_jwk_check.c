
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * What an RSA public key must be before it verifies anything.  Only the
 * size used to be checked, so a JWK with "e": "AQ" (e = 1) was loaded, and
 * with it every "signature" that is just the padded digest (s^1 = s) was
 * valid: anyone could forge tokens.  Keys come from files an identity
 * provider publishes, so every key is checked, as EC keys are for their
 * curve (ngx_http_mcp_jwk.c):
 *
 *   - the exponent is odd, at least 65537 and below 2^256 (FIPS 186-5,
 *     SP 800-56B).  e = 3 is refused too: it is not broken with a strict
 *     PKCS #1 v1.5 verifier like OpenSSL's, but it is what made
 *     Bleichenbacher's 2006 forgery work against lenient ones, no
 *     identity provider issues it, and refusing it costs nothing;
 *   - the modulus is odd and has no prime factor below 2^16;
 *   - the modulus does not carry the ROCA fingerprint (CVE-2017-15361:
 *     Infineon's RSALib made primes p = k * M + (65537^a mod M), M the
 *     product of the first primes, which Coppersmith's method factors);
 *   - OpenSSL's own check of SP 800-56B (composite, not a prime power).
 *
 * Pure C on OpenSSL: t/unit tests it with Wycheproof's ROCA key.
 */


#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "ngx_http_mcp_jwt.h"


#define NGX_HTTP_MCP_SMALL_PRIMES  65536


static int ngx_http_mcp_jwk_check_exponent(const BIGNUM *e, char *why,
    size_t len);
static int ngx_http_mcp_jwk_check_modulus(const BIGNUM *n, char *why,
    size_t len);
static int ngx_http_mcp_jwk_roca(const BIGNUM *n);


int
ngx_http_mcp_jwk_check_rsa(EVP_PKEY *pkey, char *why, size_t len)
{
    int            rc;
    BIGNUM        *n, *e;
    EVP_PKEY_CTX  *ctx;

    n = NULL;
    e = NULL;
    rc = -1;

    if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) != 1
        || EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) != 1)
    {
        snprintf(why, len, "not an RSA public key");
        goto done;
    }

    if (ngx_http_mcp_jwk_check_exponent(e, why, len) != 0
        || ngx_http_mcp_jwk_check_modulus(n, why, len) != 0)
    {
        goto done;
    }

    if (ngx_http_mcp_jwk_roca(n)) {
        snprintf(why, len, "RSA modulus has the ROCA fingerprint "
                 "(CVE-2017-15361): its primes can be found");
        goto done;
    }

    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);

    if (ctx == NULL || EVP_PKEY_public_check(ctx) != 1) {
        snprintf(why, len, "RSA key fails OpenSSL's public key check "
                 "(SP 800-56B)");
        EVP_PKEY_CTX_free(ctx);
        goto done;
    }

    EVP_PKEY_CTX_free(ctx);
    rc = 0;

done:

    BN_free(n);
    BN_free(e);
    ERR_clear_error();

    return rc;
}


static int
ngx_http_mcp_jwk_check_exponent(const BIGNUM *e, char *why, size_t len)
{
    char  *dec;

    if (BN_num_bits(e) > 256) {
        snprintf(why, len, "RSA public exponent of %d bits is 2^256 or more",
                 BN_num_bits(e));
        return -1;
    }

    if (BN_is_odd(e) && BN_cmp(e, BN_value_one()) > 0
        && BN_num_bits(e) > 16)
    {
        return 0;                  /* odd, and 2^16 < e < 2^256 */
    }

    dec = BN_bn2dec(e);

    snprintf(why, len, "RSA public exponent %s %s", dec ? dec : "",
             BN_is_odd(e) ? "is below 65537" : "is even");

    OPENSSL_free(dec);

    return -1;
}


static int
ngx_http_mcp_jwk_check_modulus(const BIGNUM *n, char *why, size_t len)
{
    size_t                i, j;
    BN_ULONG              r;
    static unsigned char  composite[NGX_HTTP_MCP_SMALL_PRIMES];

    if (!BN_is_odd(n)) {
        snprintf(why, len, "RSA modulus is even");
        return -1;
    }

    /* the sieve of Eratosthenes, once: 0 is marked when it is made */

    if (composite[0] == 0) {
        composite[0] = 1;
        composite[1] = 1;

        for (i = 2; i * i < NGX_HTTP_MCP_SMALL_PRIMES; i++) {
            if (!composite[i]) {
                for (j = i * i; j < NGX_HTTP_MCP_SMALL_PRIMES; j += i) {
                    composite[j] = 1;
                }
            }
        }
    }

    for (i = 3; i < NGX_HTTP_MCP_SMALL_PRIMES; i += 2) {
        if (composite[i]) {
            continue;
        }

        r = BN_mod_word(n, (BN_ULONG) i);

        if (r == 0) {
            snprintf(why, len, "RSA modulus is divisible by %zu", i);
            return -1;
        }

        if (r == (BN_ULONG) -1) {
            snprintf(why, len, "BN_mod_word() failed");
            return -1;
        }
    }

    return 0;
}


/*
 * The ROCA fingerprint, as the paper describes it (Nemec et al., "The
 * Return of Coppersmith's Attack", CCS 2017, section 2.3): each prime of
 * RSALib is 65537^a modulo every small prime r dividing M, so the modulus
 * N = p * q is a power of 65537 modulo each r too.  A random modulus is a
 * power of 65537 modulo every one of these primes with a probability
 * below 2^-150 (the subgroup generated by 65537 is small modulo most of
 * them); RSALib's always is.
 */

static int
ngx_http_mcp_jwk_roca(const BIGNUM *n)
{
    size_t                i;
    BN_ULONG              x, g, r;
    unsigned char         in_group[256];
    static const BN_ULONG primes[] = {
        3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67,
        71, 73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139,
        149, 151, 157, 163, 167
    };

    for (i = 0; i < sizeof(primes) / sizeof(primes[0]); i++) {
        r = primes[i];

        /* the subgroup of (Z/rZ)* that 65537 generates */

        memset(in_group, 0, sizeof(in_group));

        g = 65537 % r;
        x = 1;

        do {
            in_group[x] = 1;
            x = (x * g) % r;
        } while (x != 1);

        x = BN_mod_word(n, r);

        if (x >= r || !in_group[x]) {
            return 0;
        }
    }

    return 1;
}
