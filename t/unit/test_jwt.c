/*
 * Unit tests of JWT verification (ngx_http_mcp_jwt.c), with cmocka: the
 * strict base64url and token shape, the header, the algorithm pinned to
 * the key, kid selection, signatures made here with OpenSSL and checked
 * by libjwt's jwt_decode() (or by OpenSSL, for the "typ" libjwt 1.10
 * refuses), the claims with their leeway, and whole-word scopes.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "ngx_http_mcp_jwt.h"


#define NOW  1700000000L

#define BIT(a)  NGX_HTTP_MCP_JWT_ALG_BIT(NGX_HTTP_MCP_JWT_##a)

#define ALL_ALGS  ((1u << NGX_HTTP_MCP_JWT_ALG_MAX) - 1)

#define SECRET  "0123456789abcdef0123456789abcdef"         /* 32 bytes */


/* helpers ---------------------------------------------------------------- */

static char *
b64u(const unsigned char *data, size_t len)
{
    static const char  alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    char      *out, *p;
    size_t     i;
    unsigned   v;

    out = malloc(len * 4 / 3 + 4);
    assert_non_null(out);
    p = out;

    for (i = 0; i + 2 < len; i += 3) {
        v = data[i] << 16 | data[i + 1] << 8 | data[i + 2];
        *p++ = alphabet[v >> 18];
        *p++ = alphabet[(v >> 12) & 63];
        *p++ = alphabet[(v >> 6) & 63];
        *p++ = alphabet[v & 63];
    }

    if (len - i == 1) {
        v = data[i] << 16;
        *p++ = alphabet[v >> 18];
        *p++ = alphabet[(v >> 12) & 63];

    } else if (len - i == 2) {
        v = data[i] << 16 | data[i + 1] << 8;
        *p++ = alphabet[v >> 18];
        *p++ = alphabet[(v >> 12) & 63];
        *p++ = alphabet[(v >> 6) & 63];
    }

    *p = '\0';

    return out;
}


static char *
b64u_str(const char *s)
{
    return b64u((const unsigned char *) s, strlen(s));
}


/* "<b64u(header)>.<b64u(payload)>" */

static char *
signing_input(const char *header, const char *payload)
{
    char  *h, *p, *out;

    h = b64u_str(header);
    p = b64u_str(payload);
    out = malloc(strlen(h) + strlen(p) + 2);
    assert_non_null(out);
    sprintf(out, "%s.%s", h, p);
    free(h);
    free(p);

    return out;
}


static char *
append_signature(char *input, const unsigned char *sig, size_t len)
{
    char  *s, *out;

    s = b64u(sig, len);
    out = malloc(strlen(input) + strlen(s) + 2);
    assert_non_null(out);
    sprintf(out, "%s.%s", input, s);
    free(s);
    free(input);

    return out;
}


static char *
hmac_token(const char *header, const char *payload, const EVP_MD *md,
    const char *secret, size_t secret_len)
{
    char           *input;
    unsigned int    len;
    unsigned char   mac[EVP_MAX_MD_SIZE];

    input = signing_input(header, payload);
    assert_non_null(HMAC(md, secret, (int) secret_len,
                         (unsigned char *) input, strlen(input), mac, &len));

    return append_signature(input, mac, len);
}


/* RS256 or ES256 (R || S) with a private key */

static char *
pkey_token(const char *header, const char *payload, EVP_PKEY *pkey,
    const EVP_MD *md)
{
    char                 *input;
    size_t                len, n;
    BIGNUM const         *r, *s;
    ECDSA_SIG            *ec;
    EVP_MD_CTX           *ctx;
    unsigned char        *sig, raw[132];
    const unsigned char  *p;

    input = signing_input(header, payload);

    ctx = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, md, NULL, pkey), 1);
    assert_int_equal(EVP_DigestSign(ctx, NULL, &len,
                                    (unsigned char *) input, strlen(input)),
                     1);
    sig = malloc(len);
    assert_int_equal(EVP_DigestSign(ctx, sig, &len,
                                    (unsigned char *) input, strlen(input)),
                     1);
    EVP_MD_CTX_free(ctx);

    if (EVP_PKEY_is_a(pkey, "EC")) {
        n = (EVP_PKEY_get_bits(pkey) + 7) / 8;
        p = sig;
        ec = d2i_ECDSA_SIG(NULL, &p, (long) len);
        assert_non_null(ec);
        ECDSA_SIG_get0(ec, &r, &s);
        assert_int_equal(BN_bn2binpad(r, raw, (int) n), (int) n);
        assert_int_equal(BN_bn2binpad(s, raw + n, (int) n), (int) n);
        ECDSA_SIG_free(ec);
        free(sig);

        return append_signature(input, raw, 2 * n);
    }

    input = append_signature(input, sig, len);
    free(sig);

    return input;
}


/* the PEM libjwt is given for a public key (ngx_http_mcp_jwk.c makes it) */

static unsigned char *
pem_of(EVP_PKEY *pkey, size_t *len)
{
    BIO            *bio;
    long            n;
    char           *data;
    unsigned char  *pem;

    bio = BIO_new(BIO_s_mem());
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_PUBKEY(bio, pkey), 1);
    n = BIO_get_mem_data(bio, &data);
    assert_true(n > 0);

    pem = malloc((size_t) n + 1);
    assert_non_null(pem);
    memcpy(pem, data, (size_t) n);
    pem[n] = '\0';
    *len = (size_t) n;

    BIO_free(bio);

    return pem;
}


static void
key_init(ngx_http_mcp_jwt_key_t *key, EVP_PKEY *pkey, unsigned algs,
    size_t ec_size)
{
    memset(key, 0, sizeof(ngx_http_mcp_jwt_key_t));
    key->type = ec_size ? NGX_HTTP_MCP_JWT_KEY_EC : NGX_HTTP_MCP_JWT_KEY_RSA;
    key->algs = algs;
    key->pkey = pkey;
    key->ec_size = ec_size;
    key->pem = pem_of(pkey, &key->pem_len);
}


static void
key_free(ngx_http_mcp_jwt_key_t *key)
{
    free((void *) key->pem);
}


/* another base64url character in place of *c */

static void
tamper(char *c)
{
    *c = (*c == 'A') ? 'B' : 'A';
}


static const char *
payload_exp(long exp)
{
    static char  buf[256];

    snprintf(buf, sizeof(buf),
             "{\"sub\":\"alice\",\"exp\":%ld,\"scope\":\"mgmt.read\"}", exp);

    return buf;
}


typedef struct {
    EVP_PKEY                *rsa;
    EVP_PKEY                *ec;
    ngx_http_mcp_jwt_key_t   hmac_key;
    ngx_http_mcp_jwt_key_t   rsa_key;
    ngx_http_mcp_jwt_key_t   ec_key;
    ngx_http_mcp_jwt_key_t  *keys[3];
    ngx_http_mcp_jwt_policy_t  policy;
    unsigned char            scratch[NGX_HTTP_MCP_JWT_SCRATCH_SIZE(8192)];
} keyring_t;


static int
keyring_setup(void **state)
{
    keyring_t  *k;

    k = calloc(1, sizeof(keyring_t));
    assert_non_null(k);

    k->rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    k->ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(k->rsa);
    assert_non_null(k->ec);

    k->hmac_key.type = NGX_HTTP_MCP_JWT_KEY_HMAC;
    k->hmac_key.algs = BIT(HS256);
    k->hmac_key.secret = (const unsigned char *) SECRET;
    k->hmac_key.secret_len = 32;

    key_init(&k->rsa_key, k->rsa, NGX_HTTP_MCP_JWT_ALGS_RSA, 0);
    k->rsa_key.kid = "rsa-1";
    k->rsa_key.kid_len = 5;

    key_init(&k->ec_key, k->ec, BIT(ES256), 32);
    k->ec_key.kid = "ec-1";
    k->ec_key.kid_len = 4;

    k->keys[0] = &k->hmac_key;
    k->keys[1] = &k->rsa_key;
    k->keys[2] = &k->ec_key;

    k->policy.keys = k->keys;
    k->policy.nkeys = 3;
    k->policy.algs = ALL_ALGS;
    k->policy.max_size = 8192;

    *state = k;

    return 0;
}


static int
keyring_teardown(void **state)
{
    keyring_t  *k = *state;

    key_free(&k->rsa_key);
    key_free(&k->ec_key);
    EVP_PKEY_free(k->rsa);
    EVP_PKEY_free(k->ec);
    free(k);

    return 0;
}


static int
verify(keyring_t *k, const char *token, ngx_http_mcp_jwt_result_t *res)
{
    int                        rc;
    ngx_http_mcp_jwt_result_t  local;

    if (res == NULL) {
        res = &local;
    }

    rc = ngx_http_mcp_jwt_verify(&k->policy, (const unsigned char *) token,
                                 strlen(token), k->scratch, res);

    /* neither libjwt nor OpenSSL leaves errors for nginx's TLS to find */
    assert_int_equal(ERR_peek_error(), 0);

    if (rc == NGX_HTTP_MCP_JWT_OK) {
        assert_non_null(res->claims);

    } else {
        assert_null(res->claims);
    }

    if (res == &local) {
        json_decref(local.claims);
    }

    return rc;
}


static int
verify_free(keyring_t *k, char *token)
{
    int  rc;

    rc = verify(k, token, NULL);
    free(token);

    return rc;
}


/* tests ------------------------------------------------------------------ */

static void
test_alg_names(void **state)
{
    int  alg;

    (void) state;

    for (alg = 0; alg < NGX_HTTP_MCP_JWT_ALG_MAX; alg++) {
        const char  *name = ngx_http_mcp_jwt_alg_name(alg);

        assert_int_equal(ngx_http_mcp_jwt_alg_by_name(
                             (const unsigned char *) name, strlen(name)),
                         alg);
    }

    assert_int_equal(ngx_http_mcp_jwt_alg_by_name(
                         (const unsigned char *) "none", 4), -1);
    assert_int_equal(ngx_http_mcp_jwt_alg_by_name(
                         (const unsigned char *) "None", 4), -1);
    assert_int_equal(ngx_http_mcp_jwt_alg_by_name(
                         (const unsigned char *) "hs256", 5), -1);
    assert_int_equal(ngx_http_mcp_jwt_alg_by_name(
                         (const unsigned char *) "HS256 ", 6), -1);
    assert_int_equal(ngx_http_mcp_jwt_alg_by_name(
                         (const unsigned char *) "PS256", 5),
                     NGX_HTTP_MCP_JWT_PS256);
    assert_int_equal(ngx_http_mcp_jwt_alg_by_name(
                         (const unsigned char *) "EdDSA", 5),
                     NGX_HTTP_MCP_JWT_EDDSA);
    assert_int_equal(ngx_http_mcp_jwt_alg_by_name(
                         (const unsigned char *) "Ed448", 5), -1);
    assert_string_equal(ngx_http_mcp_jwt_alg_name(-1), "unknown");
}


static long
decode(const char *s, unsigned char *out)
{
    return ngx_http_mcp_jwt_base64url_decode(out, (const unsigned char *) s,
                                             strlen(s));
}


static void
test_base64url_is_strict(void **state)
{
    unsigned char  out[16];

    (void) state;

    assert_int_equal(decode("", out), 0);
    assert_int_equal(decode("QQ", out), 1);
    assert_int_equal(out[0], 'A');
    assert_int_equal(decode("QUI", out), 2);
    assert_memory_equal(out, "AB", 2);
    assert_int_equal(decode("QUJD", out), 3);
    assert_memory_equal(out, "ABC", 3);

    /* "-" and "_" are 62 and 63 */
    assert_int_equal(decode("_-8", out), 2);
    assert_int_equal(out[0], 0xff);
    assert_int_equal(out[1], 0xef);

    /* one character alone, padding, the base64 alphabet, others */
    assert_int_equal(decode("Q", out), -1);
    assert_int_equal(decode("QUJDR", out), -1);
    assert_int_equal(decode("QQ==", out), -1);
    assert_int_equal(decode("Q+", out), -1);
    assert_int_equal(decode("Q/", out), -1);
    assert_int_equal(decode("Q Q", out), -1);
    assert_int_equal(decode("Q\x01", out), -1);
    assert_int_equal(decode("Q\xc3", out), -1);

    /* bits beyond the data must be zero: one encoding per value */
    assert_int_equal(decode("QR", out), -1);
    assert_int_equal(decode("QUJ", out), -1);
    assert_int_equal(decode("-_", out), -1);
}


static int
split(const char *token)
{
    ngx_http_mcp_jwt_parts_t  parts;

    return ngx_http_mcp_jwt_split((const unsigned char *) token,
                                  strlen(token), &parts);
}


static void
test_split_wants_three_segments(void **state)
{
    ngx_http_mcp_jwt_parts_t  parts;

    (void) state;

    assert_int_equal(ngx_http_mcp_jwt_split((const unsigned char *) "ab.cd.ef",
                                            8, &parts),
                     NGX_HTTP_MCP_JWT_OK);
    assert_int_equal(parts.header_len, 2);
    assert_memory_equal(parts.payload, "cd", 2);
    assert_memory_equal(parts.signature, "ef", 2);
    assert_int_equal(parts.signed_len, 5);

    assert_int_equal(split("abc"), NGX_HTTP_MCP_JWT_ERR_FORMAT);
    assert_int_equal(split("ab.cd"), NGX_HTTP_MCP_JWT_ERR_FORMAT);
    assert_int_equal(split("ab.cd.ef.gh"), NGX_HTTP_MCP_JWT_ERR_FORMAT);
    assert_int_equal(split("ab.cd.ef."), NGX_HTTP_MCP_JWT_ERR_FORMAT);
    assert_int_equal(split(".cd.ef"), NGX_HTTP_MCP_JWT_ERR_FORMAT);
    assert_int_equal(split("ab..ef"), NGX_HTTP_MCP_JWT_ERR_FORMAT);
    assert_int_equal(split("ab.cd."), NGX_HTTP_MCP_JWT_ERR_FORMAT);
    assert_int_equal(split("ab.c d.ef"), NGX_HTTP_MCP_JWT_ERR_FORMAT);
    assert_int_equal(split("ab.cd.ef "), NGX_HTTP_MCP_JWT_ERR_FORMAT);
    assert_int_equal(split("ab.c\td.ef"), NGX_HTTP_MCP_JWT_ERR_FORMAT);
    assert_int_equal(split("ab.c\x7f.ef"), NGX_HTTP_MCP_JWT_ERR_FORMAT);
    assert_int_equal(split("ab=.cd.ef"), NGX_HTTP_MCP_JWT_ERR_FORMAT);
    assert_int_equal(split("ab.c+d.ef"), NGX_HTTP_MCP_JWT_ERR_FORMAT);
    assert_int_equal(split("ab.cd.e,f"), NGX_HTTP_MCP_JWT_ERR_FORMAT);
}


static int
in_list(const char *list, const char *scope)
{
    return ngx_http_mcp_jwt_scope_in_list((const unsigned char *) list,
                                          strlen(list),
                                          (const unsigned char *) scope,
                                          strlen(scope));
}


static void
test_scopes_are_whole_words(void **state)
{
    (void) state;

    assert_true(in_list("mgmt.read", "mgmt.read"));
    assert_true(in_list("mgmt.read mgmt.write", "mgmt.write"));
    assert_true(in_list("openid mgmt.read profile", "mgmt.read"));
    assert_true(in_list("  mgmt.read  ", "mgmt.read"));

    assert_false(in_list("mgmt.readonly", "mgmt.read"));
    assert_false(in_list("xmgmt.read", "mgmt.read"));
    assert_false(in_list("mgmt.read.all", "mgmt.read"));
    assert_false(in_list("mgmt", "mgmt.read"));
    assert_false(in_list("MGMT.READ", "mgmt.read"));
    assert_false(in_list("mgmt.read,mgmt.write", "mgmt.read"));
    assert_false(in_list("mgmt.read\tmgmt.write", "mgmt.read"));
    assert_false(in_list("", "mgmt.read"));
    assert_false(in_list("mgmt.read", ""));
}


static int
has_scope(const char *claims_json, const char *scope)
{
    int      rc;
    json_t  *claims;

    static const char * const  names[] = { "scope", "scp" };

    claims = json_loads(claims_json, 0, NULL);
    assert_non_null(claims);

    rc = ngx_http_mcp_jwt_has_scope(claims, names, 2,
                                    (const unsigned char *) scope,
                                    strlen(scope));
    json_decref(claims);

    return rc;
}


static void
test_scope_claims(void **state)
{
    (void) state;

    assert_true(has_scope("{\"scope\": \"a mgmt.read\"}", "mgmt.read"));
    assert_true(has_scope("{\"scp\": \"mgmt.read b\"}", "mgmt.read"));
    assert_true(has_scope("{\"scp\": [\"x\", \"mgmt.read\"]}", "mgmt.read"));
    assert_true(has_scope("{\"scope\": \"x\", \"scp\": [\"mgmt.read\"]}",
                          "mgmt.read"));

    assert_false(has_scope("{\"scp\": [\"mgmt.readonly\"]}", "mgmt.read"));
    assert_false(has_scope("{\"scp\": [\"mgmt.read mgmt.write\"]}",
                           "mgmt.read"));
    assert_false(has_scope("{\"scp\": [1, null, {}]}", "mgmt.read"));
    assert_false(has_scope("{\"scope\": [\"mgmt.write\"]}", "mgmt.read"));
    assert_false(has_scope("{\"roles\": \"mgmt.read\"}", "mgmt.read"));
    assert_false(has_scope("{\"scope\": 1}", "mgmt.read"));
}


static int
check(const char *claims_json, long leeway)
{
    int                        rc;
    json_t                    *claims;
    ngx_http_mcp_jwt_str_t     iss = { 8, (const unsigned char *) "https://" };
    ngx_http_mcp_jwt_str_t     aud[2] = {
        { 3, (const unsigned char *) "api" },
        { 3, (const unsigned char *) "gw2" }
    };
    ngx_http_mcp_jwt_policy_t  policy;

    static const char * const  required[] = { "tenant" };

    memset(&policy, 0, sizeof(policy));
    policy.leeway = leeway;
    policy.issuers = &iss;
    policy.nissuers = 1;
    policy.audiences = aud;
    policy.naudiences = 2;
    policy.required = required;
    policy.nrequired = 1;

    claims = json_loads(claims_json, 0, NULL);
    assert_non_null(claims);

    rc = ngx_http_mcp_jwt_check_claims(&policy, claims, NOW);
    json_decref(claims);

    return rc;
}


static const char *
with(const char *fmt, long a)
{
    static char  buf[512];

    snprintf(buf, sizeof(buf), fmt, a);

    return buf;
}


#define GOOD  "\"iss\":\"https://\",\"aud\":\"api\",\"tenant\":\"t\""


static void
test_claim_times_and_leeway(void **state)
{
    (void) state;

    /* exp: valid while now < exp + leeway */
    assert_int_equal(check(with("{" GOOD ",\"exp\":%ld}", NOW + 1), 0),
                     NGX_HTTP_MCP_JWT_OK);
    assert_int_equal(check(with("{" GOOD ",\"exp\":%ld}", NOW), 0),
                     NGX_HTTP_MCP_JWT_ERR_EXPIRED);
    assert_int_equal(check(with("{" GOOD ",\"exp\":%ld}", NOW - 59), 60),
                     NGX_HTTP_MCP_JWT_OK);
    assert_int_equal(check(with("{" GOOD ",\"exp\":%ld}", NOW - 60), 60),
                     NGX_HTTP_MCP_JWT_ERR_EXPIRED);
    assert_int_equal(check(with("{" GOOD ",\"exp\":%ld.5}", NOW), 0),
                     NGX_HTTP_MCP_JWT_ERR_EXPIRED);
    assert_int_equal(check(with("{" GOOD ",\"exp\":%ld.5}", NOW + 1), 0),
                     NGX_HTTP_MCP_JWT_OK);

    /* exp is required, and a number */
    assert_int_equal(check("{" GOOD "}", 0), NGX_HTTP_MCP_JWT_ERR_CLAIM);
    assert_int_equal(check(with("{" GOOD ",\"exp\":\"%ld\"}", NOW + 60), 0),
                     NGX_HTTP_MCP_JWT_ERR_CLAIM);
    assert_int_equal(check("{" GOOD ",\"exp\":1e300}", 0),
                     NGX_HTTP_MCP_JWT_ERR_CLAIM);
    assert_int_equal(check("{" GOOD ",\"exp\":9223372036854775807}", 60),
                     NGX_HTTP_MCP_JWT_OK);

    /* nbf: valid from nbf - leeway */
    assert_int_equal(check(with("{" GOOD ",\"exp\":1e12,\"nbf\":%ld}", NOW),
                           0),
                     NGX_HTTP_MCP_JWT_OK);
    assert_int_equal(check(with("{" GOOD ",\"exp\":1e12,\"nbf\":%ld}",
                                NOW + 1), 0),
                     NGX_HTTP_MCP_JWT_ERR_NBF);
    assert_int_equal(check(with("{" GOOD ",\"exp\":1e12,\"nbf\":%ld}",
                                NOW + 60), 60),
                     NGX_HTTP_MCP_JWT_OK);
    assert_int_equal(check(with("{" GOOD ",\"exp\":1e12,\"nbf\":%ld}",
                                NOW + 61), 60),
                     NGX_HTTP_MCP_JWT_ERR_NBF);
    assert_int_equal(check(with("{" GOOD ",\"exp\":1e12,\"nbf\":%ld.1}",
                                NOW), 0),
                     NGX_HTTP_MCP_JWT_ERR_NBF);

    /* iat: not in the future */
    assert_int_equal(check(with("{" GOOD ",\"exp\":1e12,\"iat\":%ld}", NOW),
                           0),
                     NGX_HTTP_MCP_JWT_OK);
    assert_int_equal(check(with("{" GOOD ",\"exp\":1e12,\"iat\":%ld}",
                                NOW + 1), 0),
                     NGX_HTTP_MCP_JWT_ERR_IAT);
    assert_int_equal(check(with("{" GOOD ",\"exp\":1e12,\"iat\":%ld}",
                                NOW + 30), 30),
                     NGX_HTTP_MCP_JWT_OK);
    assert_int_equal(check("{" GOOD ",\"exp\":1e12,\"iat\":null}", 0),
                     NGX_HTTP_MCP_JWT_ERR_CLAIM);
}


#define EXP  "\"exp\":1e12,\"tenant\":\"t\""


static void
test_claim_issuer_audience_required(void **state)
{
    (void) state;

    assert_int_equal(check("{" EXP ",\"iss\":\"https://\",\"aud\":\"gw2\"}",
                           0),
                     NGX_HTTP_MCP_JWT_OK);

    /* iss: one of the issuers, exactly */
    assert_int_equal(check("{" EXP ",\"iss\":\"https:/\",\"aud\":\"api\"}", 0),
                     NGX_HTTP_MCP_JWT_ERR_ISSUER);
    assert_int_equal(check("{" EXP ",\"iss\":\"https://x\",\"aud\":\"api\"}",
                           0),
                     NGX_HTTP_MCP_JWT_ERR_ISSUER);
    assert_int_equal(check("{" EXP ",\"aud\":\"api\"}", 0),
                     NGX_HTTP_MCP_JWT_ERR_ISSUER);
    assert_int_equal(check("{" EXP ",\"iss\":[\"https://\"],\"aud\":\"api\"}",
                           0),
                     NGX_HTTP_MCP_JWT_ERR_ISSUER);

    /* aud: a string, or an array that holds one of ours */
    assert_int_equal(check("{" EXP ",\"iss\":\"https://\","
                           "\"aud\":[\"x\",\"api\"]}", 0),
                     NGX_HTTP_MCP_JWT_OK);
    assert_int_equal(check("{" EXP ",\"iss\":\"https://\","
                           "\"aud\":[\"x\",1,null]}", 0),
                     NGX_HTTP_MCP_JWT_ERR_AUDIENCE);
    assert_int_equal(check("{" EXP ",\"iss\":\"https://\",\"aud\":[]}", 0),
                     NGX_HTTP_MCP_JWT_ERR_AUDIENCE);
    assert_int_equal(check("{" EXP ",\"iss\":\"https://\",\"aud\":\"apix\"}",
                           0),
                     NGX_HTTP_MCP_JWT_ERR_AUDIENCE);
    /* no aud at all (Cognito's access tokens): a claim is missing */
    assert_int_equal(check("{" EXP ",\"iss\":\"https://\"}", 0),
                     NGX_HTTP_MCP_JWT_ERR_CLAIM);

    /* required claims, and sub a string if present */
    assert_int_equal(check("{\"exp\":1e12,\"iss\":\"https://\","
                           "\"aud\":\"api\"}", 0),
                     NGX_HTTP_MCP_JWT_ERR_CLAIM);
    assert_int_equal(check("{\"exp\":1e12,\"iss\":\"https://\","
                           "\"aud\":\"api\",\"tenant\":null}", 0),
                     NGX_HTTP_MCP_JWT_ERR_CLAIM);
    assert_int_equal(check("{" EXP ",\"iss\":\"https://\",\"aud\":\"api\","
                           "\"sub\":42}", 0),
                     NGX_HTTP_MCP_JWT_ERR_CLAIM);
}


#define HS256_HEADER  "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"


static void
test_hmac_tokens(void **state)
{
    keyring_t                  *k = *state;
    char                       *token;
    ngx_http_mcp_jwt_result_t   res;

    token = hmac_token(HS256_HEADER, payload_exp(NOW), EVP_sha256(),
                       SECRET, 32);
    assert_int_equal(verify(k, token, &res), NGX_HTTP_MCP_JWT_OK);
    assert_ptr_equal(res.key, &k->hmac_key);
    assert_int_equal(res.alg, NGX_HTTP_MCP_JWT_HS256);
    assert_string_equal(json_string_value(json_object_get(res.claims, "sub")),
                        "alice");
    json_decref(res.claims);

    /* the size limit */
    k->policy.max_size = strlen(token) - 1;
    assert_int_equal(verify(k, token, NULL), NGX_HTTP_MCP_JWT_ERR_SIZE);
    k->policy.max_size = 8192;

    /* another signature */
    tamper(token + strlen(token) - 2);
    assert_int_equal(verify_free(k, token), NGX_HTTP_MCP_JWT_ERR_SIGNATURE);

    /* another secret */
    assert_int_equal(verify_free(k, hmac_token(HS256_HEADER, payload_exp(NOW),
                                               EVP_sha256(),
                                               SECRET "x", 33)),
                     NGX_HTTP_MCP_JWT_ERR_SIGNATURE);

    /* a 32-byte secret is too short for HS512: pinned out */
    assert_int_equal(verify_free(k, hmac_token("{\"alg\":\"HS512\"}",
                                               payload_exp(NOW),
                                               EVP_sha512(), SECRET, 32)),
                     NGX_HTTP_MCP_JWT_ERR_ALG);

    /* the location's allow-list */
    k->policy.algs = BIT(RS256);
    assert_int_equal(verify_free(k, hmac_token(HS256_HEADER, payload_exp(NOW),
                                               EVP_sha256(), SECRET, 32)),
                     NGX_HTTP_MCP_JWT_ERR_ALG);
    k->policy.algs = ALL_ALGS;

    /* a payload that is not an object, correctly signed */
    assert_int_equal(verify_free(k, hmac_token(HS256_HEADER, "[1]",
                                               EVP_sha256(), SECRET, 32)),
                     NGX_HTTP_MCP_JWT_ERR_PAYLOAD);
}


static void
test_headers(void **state)
{
    keyring_t  *k = *state;
    size_t      i;

    static const struct {
        const char  *header;
        int          rc;
    } cases[] = {
        { "{\"alg\":\"none\"}", NGX_HTTP_MCP_JWT_ERR_ALG },
        { "{\"alg\":\"None\"}", NGX_HTTP_MCP_JWT_ERR_ALG },
        { "{\"alg\":\"PS256\"}", NGX_HTTP_MCP_JWT_ERR_ALG },
        { "{\"typ\":\"JWT\"}", NGX_HTTP_MCP_JWT_ERR_HEADER },
        { "{\"alg\":256}", NGX_HTTP_MCP_JWT_ERR_HEADER },
        { "[\"HS256\"]", NGX_HTTP_MCP_JWT_ERR_HEADER },
        { "\"HS256\"", NGX_HTTP_MCP_JWT_ERR_HEADER },
        { "{\"alg\":\"HS256\"", NGX_HTTP_MCP_JWT_ERR_HEADER },
        { "{\"alg\":\"HS256\",\"alg\":\"none\"}", NGX_HTTP_MCP_JWT_ERR_HEADER },
        { "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}",
          NGX_HTTP_MCP_JWT_ERR_HEADER },
        { "{\"alg\":\"HS256\",\"cty\":\"JWT\"}", NGX_HTTP_MCP_JWT_ERR_HEADER },
        { "{\"alg\":\"HS256\",\"typ\":\"dpop+jwt\"}",
          NGX_HTTP_MCP_JWT_ERR_HEADER },
        { "{\"alg\":\"HS256\",\"typ\":7}", NGX_HTTP_MCP_JWT_ERR_HEADER },
        { "{\"alg\":\"HS256\",\"kid\":\"\"}", NGX_HTTP_MCP_JWT_ERR_HEADER },
        { "{\"alg\":\"HS256\",\"kid\":1}", NGX_HTTP_MCP_JWT_ERR_HEADER },
        { "{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", NGX_HTTP_MCP_JWT_OK },
        { "{\"alg\":\"HS256\",\"typ\":\"application/AT+JWT\"}",
          NGX_HTTP_MCP_JWT_OK },
        { "{\"alg\":\"HS256\",\"jwk\":{\"kty\":\"oct\",\"k\":\"QQ\"}}",
          NGX_HTTP_MCP_JWT_OK },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("header %s\n", cases[i].header);
        assert_int_equal(verify_free(k, hmac_token(cases[i].header,
                                                   payload_exp(NOW),
                                                   EVP_sha256(), SECRET, 32)),
                         cases[i].rc);
    }
}


static void
test_algorithm_is_pinned_to_the_key(void **state)
{
    keyring_t                  *k = *state;
    char                       *token;
    ngx_http_mcp_jwt_result_t   res;

    assert_int_equal(verify_free(k, pkey_token("{\"alg\":\"RS256\","
                                               "\"kid\":\"rsa-1\"}",
                                               payload_exp(NOW), k->rsa,
                                               EVP_sha256())),
                     NGX_HTTP_MCP_JWT_OK);
    assert_int_equal(verify_free(k, pkey_token("{\"alg\":\"RS512\","
                                               "\"kid\":\"rsa-1\"}",
                                               payload_exp(NOW), k->rsa,
                                               EVP_sha512())),
                     NGX_HTTP_MCP_JWT_OK);

    /* a JWK's "alg" narrows its key to that one */
    k->rsa_key.algs = BIT(RS256);
    assert_int_equal(verify_free(k, pkey_token("{\"alg\":\"RS512\","
                                               "\"kid\":\"rsa-1\"}",
                                               payload_exp(NOW), k->rsa,
                                               EVP_sha512())),
                     NGX_HTTP_MCP_JWT_ERR_ALG);
    k->rsa_key.algs = NGX_HTTP_MCP_JWT_ALGS_RSA;

    /* ES256 with the P-256 key, R || S */
    token = pkey_token("{\"alg\":\"ES256\",\"kid\":\"ec-1\"}",
                       payload_exp(NOW), k->ec, EVP_sha256());
    assert_int_equal(verify(k, token, &res), NGX_HTTP_MCP_JWT_OK);
    assert_ptr_equal(res.key, &k->ec_key);
    json_decref(res.claims);
    free(token);

    /* ES384 is not for a P-256 key, RS256 not for an EC key */
    assert_int_equal(verify_free(k, pkey_token("{\"alg\":\"ES384\","
                                               "\"kid\":\"ec-1\"}",
                                               payload_exp(NOW), k->ec,
                                               EVP_sha384())),
                     NGX_HTTP_MCP_JWT_ERR_ALG);
    assert_int_equal(verify_free(k, pkey_token("{\"alg\":\"RS256\","
                                               "\"kid\":\"ec-1\"}",
                                               payload_exp(NOW), k->rsa,
                                               EVP_sha256())),
                     NGX_HTTP_MCP_JWT_ERR_ALG);
}


/*
 * Algorithm confusion: HS256 keyed with the RSA public key's PEM, the key
 * libjwt's jwt_decode() is given for the RSA key: libjwt alone would take
 * it (it keys HMAC with whatever it is given); the pinning never lets it
 * meet that key with an HS* token.
 */

static void
test_algorithm_confusion(void **state)
{
    keyring_t  *k = *state;
    BIO        *bio;
    char       *pem;
    long        len;

    bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(bio, k->rsa), 1);
    len = BIO_get_mem_data(bio, &pem);

    /* the RSA key is never used for HMAC; the HMAC key has its secret */

    assert_int_equal(verify_free(k, hmac_token("{\"alg\":\"HS256\","
                                               "\"kid\":\"rsa-1\"}",
                                               payload_exp(NOW),
                                               EVP_sha256(), pem,
                                               (size_t) len)),
                     NGX_HTTP_MCP_JWT_ERR_SIGNATURE);
    assert_int_equal(verify_free(k, hmac_token(HS256_HEADER, payload_exp(NOW),
                                               EVP_sha256(), pem,
                                               (size_t) len)),
                     NGX_HTTP_MCP_JWT_ERR_SIGNATURE);

    /* the same for the tokens OpenSSL verifies, not libjwt */
    assert_int_equal(verify_free(k, hmac_token("{\"alg\":\"HS256\","
                                               "\"typ\":\"at+jwt\","
                                               "\"kid\":\"rsa-1\"}",
                                               payload_exp(NOW),
                                               EVP_sha256(), pem,
                                               (size_t) len)),
                     NGX_HTTP_MCP_JWT_ERR_SIGNATURE);

    /* with RSA and EC keys only, no key may verify HS256 at all */

    k->keys[0] = &k->rsa_key;
    assert_int_equal(verify_free(k, hmac_token("{\"alg\":\"HS256\","
                                               "\"kid\":\"rsa-1\"}",
                                               payload_exp(NOW),
                                               EVP_sha256(), pem,
                                               (size_t) len)),
                     NGX_HTTP_MCP_JWT_ERR_ALG);
    k->keys[0] = &k->hmac_key;
    BIO_free(bio);
}


static void
test_signatures(void **state)
{
    keyring_t  *k = *state;
    char       *token, *dot, *other, *forged;

    /* an EC signature of the wrong length (DER instead of R || S) */
    token = pkey_token("{\"alg\":\"ES256\",\"kid\":\"ec-1\"}",
                       payload_exp(NOW), k->ec, EVP_sha256());
    dot = strrchr(token, '.');
    strcpy(dot + 1, "AAAA");
    assert_int_equal(verify_free(k, token), NGX_HTTP_MCP_JWT_ERR_SIGNATURE);

    /* a payload changed after signing, still a JSON object */
    token = pkey_token("{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}",
                       payload_exp(NOW), k->rsa, EVP_sha256());
    other = signing_input("{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}",
                          payload_exp(NOW + 1));
    dot = strrchr(token, '.');
    forged = malloc(strlen(other) + strlen(dot) + 1);
    assert_non_null(forged);
    memcpy(forged, other, strlen(other));
    memcpy(forged + strlen(other), dot, strlen(dot) + 1);
    assert_int_equal(verify_free(k, forged), NGX_HTTP_MCP_JWT_ERR_SIGNATURE);
    free(other);

    /*
     * one that is no JSON object any more: refused before libjwt, which
     * would parse it before it checks the signature
     */
    dot = strchr(token, '.');
    tamper(dot + 2);
    assert_int_equal(verify_free(k, token), NGX_HTTP_MCP_JWT_ERR_PAYLOAD);

    /* a signature segment that is not strict base64url */
    token = pkey_token("{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}",
                       payload_exp(NOW), k->rsa, EVP_sha256());
    token[strlen(token) - 1] = '_';     /* bits beyond the data set */
    assert_int_equal(verify_free(k, token), NGX_HTTP_MCP_JWT_ERR_BASE64);
}


/*
 * Each algorithm, through libjwt (no "typ", or "JWT" in any case) and
 * through OpenSSL (the "typ" libjwt 1.10 refuses): a good signature
 * verifies, a changed one does not.  ES384 and ES512 check libjwt's R || S
 * of 48 and 66 bytes.
 */

static void
test_every_algorithm_on_both_paths(void **state)
{
    int                         alg;
    char                       *token, header[128];
    size_t                      i, t, pagesize;
    EVP_PKEY                   *pkeys[4];
    unsigned char              *scratch, *page;
    ngx_http_mcp_jwt_key_t      keys[5], *list[5];
    ngx_http_mcp_jwt_policy_t   policy;
    ngx_http_mcp_jwt_result_t   res;

    static const char  secret[] =
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    static const char  *typs[] = {
        NULL, "JWT", "jwt", "at+jwt", "application/jwt", "application/JWT"
    };

    (void) state;

    pkeys[0] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    pkeys[1] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    pkeys[2] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    pkeys[3] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");

    memset(&keys[0], 0, sizeof(keys[0]));
    keys[0].type = NGX_HTTP_MCP_JWT_KEY_HMAC;
    keys[0].algs = NGX_HTTP_MCP_JWT_ALGS_HMAC;
    keys[0].secret = (const unsigned char *) secret;
    keys[0].secret_len = 64;

    key_init(&keys[1], pkeys[0], NGX_HTTP_MCP_JWT_ALGS_RSA, 0);
    key_init(&keys[2], pkeys[1], BIT(ES256), 32);
    key_init(&keys[3], pkeys[2], BIT(ES384), 48);
    key_init(&keys[4], pkeys[3], BIT(ES512), 66);

    for (i = 0; i < 5; i++) {
        list[i] = &keys[i];
    }

    memset(&policy, 0, sizeof(policy));
    policy.keys = list;
    policy.nkeys = 5;
    policy.algs = ALL_ALGS;
    policy.max_size = 8192;

    scratch = malloc(NGX_HTTP_MCP_JWT_SCRATCH_SIZE(8192));
    assert_non_null(scratch);

    /* the token is read only, never written (it is the request's) */

    pagesize = (size_t) sysconf(_SC_PAGESIZE);
    page = mmap(NULL, 4 * pagesize, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(page != MAP_FAILED);

    /* PS256 ... EdDSA are OpenSSL's alone: t/test_auth_algorithms.py */

    for (alg = 0; alg <= NGX_HTTP_MCP_JWT_ES512; alg++) {
        for (t = 0; t < sizeof(typs) / sizeof(typs[0]); t++) {

            if (typs[t]) {
                snprintf(header, sizeof(header),
                         "{\"alg\":\"%s\",\"typ\":\"%s\"}",
                         ngx_http_mcp_jwt_alg_name(alg), typs[t]);
            } else {
                snprintf(header, sizeof(header), "{\"alg\":\"%s\"}",
                         ngx_http_mcp_jwt_alg_name(alg));
            }

            print_message("%s\n", header);

            switch (alg) {
            case NGX_HTTP_MCP_JWT_HS256:
            case NGX_HTTP_MCP_JWT_HS384:
            case NGX_HTTP_MCP_JWT_HS512:
                token = hmac_token(header, payload_exp(NOW + 60),
                                   alg == NGX_HTTP_MCP_JWT_HS256
                                   ? EVP_sha256()
                                   : alg == NGX_HTTP_MCP_JWT_HS384
                                     ? EVP_sha384() : EVP_sha512(),
                                   secret, 64);
                i = 0;
                break;

            case NGX_HTTP_MCP_JWT_RS256:
            case NGX_HTTP_MCP_JWT_RS384:
            case NGX_HTTP_MCP_JWT_RS512:
                token = pkey_token(header, payload_exp(NOW + 60), pkeys[0],
                                   alg == NGX_HTTP_MCP_JWT_RS256
                                   ? EVP_sha256()
                                   : alg == NGX_HTTP_MCP_JWT_RS384
                                     ? EVP_sha384() : EVP_sha512());
                i = 1;
                break;

            default:
                i = 2 + (size_t) (alg - NGX_HTTP_MCP_JWT_ES256);
                token = pkey_token(header, payload_exp(NOW + 60),
                                   pkeys[i - 1],
                                   alg == NGX_HTTP_MCP_JWT_ES256
                                   ? EVP_sha256()
                                   : alg == NGX_HTTP_MCP_JWT_ES384
                                     ? EVP_sha384() : EVP_sha512());
                break;
            }

            assert_true(strlen(token) < 4 * pagesize);
            memcpy(page, token, strlen(token));
            assert_int_equal(mprotect(page, 4 * pagesize, PROT_READ), 0);

            assert_int_equal(ngx_http_mcp_jwt_verify(&policy, page,
                                                     strlen(token), scratch,
                                                     &res),
                             NGX_HTTP_MCP_JWT_OK);
            assert_ptr_equal(res.key, &keys[i]);
            assert_int_equal(res.alg, alg);
            json_decref(res.claims);

            assert_int_equal(mprotect(page, 4 * pagesize,
                                      PROT_READ | PROT_WRITE), 0);

            /* a signature of another message */
            tamper(strrchr(token, '.') + 3);
            assert_int_equal(ngx_http_mcp_jwt_verify(&policy,
                                         (const unsigned char *) token,
                                         strlen(token), scratch, &res),
                             NGX_HTTP_MCP_JWT_ERR_SIGNATURE);
            assert_null(res.claims);
            assert_int_equal(ERR_peek_error(), 0);

            free(token);
        }
    }

    munmap(page, 4 * pagesize);
    free(scratch);

    for (i = 1; i < 5; i++) {
        key_free(&keys[i]);
    }

    for (i = 0; i < 4; i++) {
        EVP_PKEY_free(pkeys[i]);
    }
}


/*
 * Which layers verify: both OpenSSL (the key's EVP_PKEY, first) and libjwt
 * (the key's PEM) for a "typ" of "JWT" (or none), OpenSSL alone for
 * "at+jwt"; shown by giving the key the PEM of another key, then the
 * EVP_PKEY of another key
 */

static void
test_which_layer_verifies(void **state)
{
    keyring_t               *k = *state;
    char                    *plain, *at;
    size_t                   len;
    EVP_PKEY                *other;
    const unsigned char     *pem;
    unsigned char           *other_pem;

    other = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    assert_non_null(other);
    other_pem = pem_of(other, &len);

    plain = pkey_token("{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}",
                       payload_exp(NOW), k->rsa, EVP_sha256());
    at = pkey_token("{\"alg\":\"RS256\",\"typ\":\"at+jwt\","
                    "\"kid\":\"rsa-1\"}",
                    payload_exp(NOW), k->rsa, EVP_sha256());

    assert_int_equal(verify(k, plain, NULL), NGX_HTTP_MCP_JWT_OK);
    assert_int_equal(verify(k, at, NULL), NGX_HTTP_MCP_JWT_OK);

    pem = k->rsa_key.pem;
    k->rsa_key.pem = other_pem;
    assert_int_equal(verify(k, plain, NULL), NGX_HTTP_MCP_JWT_ERR_SIGNATURE);
    assert_int_equal(verify(k, at, NULL), NGX_HTTP_MCP_JWT_OK);
    k->rsa_key.pem = pem;

    k->rsa_key.pkey = other;
    assert_int_equal(verify(k, plain, NULL), NGX_HTTP_MCP_JWT_ERR_SIGNATURE);
    assert_int_equal(verify(k, at, NULL), NGX_HTTP_MCP_JWT_ERR_SIGNATURE);
    k->rsa_key.pkey = k->rsa;

    free(plain);
    free(at);
    free(other_pem);
    EVP_PKEY_free(other);
}


static void
test_kid_selects_the_key(void **state)
{
    keyring_t  *k = *state;

    /* a kid that names no key: no other keyed key is tried */
    assert_int_equal(verify_free(k, pkey_token("{\"alg\":\"RS256\","
                                               "\"kid\":\"rsa-2\"}",
                                               payload_exp(NOW), k->rsa,
                                               EVP_sha256())),
                     NGX_HTTP_MCP_JWT_ERR_ALG);

    k->keys[0] = &k->rsa_key;          /* no HMAC key now: nothing at all */
    assert_int_equal(verify_free(k, pkey_token("{\"alg\":\"RS256\","
                                               "\"kid\":\"rsa-2\"}",
                                               payload_exp(NOW), k->rsa,
                                               EVP_sha256())),
                     NGX_HTTP_MCP_JWT_ERR_KID);

    /* no kid (PingOne): every key is tried */
    assert_int_equal(verify_free(k, pkey_token("{\"alg\":\"RS256\"}",
                                               payload_exp(NOW), k->rsa,
                                               EVP_sha256())),
                     NGX_HTTP_MCP_JWT_OK);

    /* a key without a kid (a PEM file) serves tokens with one too */
    k->rsa_key.kid = NULL;
    k->rsa_key.kid_len = 0;
    assert_int_equal(verify_free(k, pkey_token("{\"alg\":\"RS256\","
                                               "\"kid\":\"whatever\"}",
                                               payload_exp(NOW), k->rsa,
                                               EVP_sha256())),
                     NGX_HTTP_MCP_JWT_OK);
    assert_int_equal(verify_free(k, pkey_token("{\"alg\":\"RS256\"}",
                                               payload_exp(NOW), k->rsa,
                                               EVP_sha256())),
                     NGX_HTTP_MCP_JWT_OK);

    k->rsa_key.kid = "rsa-1";
    k->rsa_key.kid_len = 5;
    k->keys[0] = &k->hmac_key;
}


static void
test_key_accepted(void **state)
{
    keyring_t               *k = *state;
    ngx_http_mcp_jwt_key_t   other;

    assert_true(ngx_http_mcp_jwt_key_accepted(&k->policy, &k->rsa_key,
                                              NGX_HTTP_MCP_JWT_RS256));
    assert_false(ngx_http_mcp_jwt_key_accepted(&k->policy, &k->rsa_key,
                                               NGX_HTTP_MCP_JWT_HS256));
    assert_false(ngx_http_mcp_jwt_key_accepted(&k->policy, &k->rsa_key, -1));
    assert_false(ngx_http_mcp_jwt_key_accepted(&k->policy, &k->rsa_key,
                                               NGX_HTTP_MCP_JWT_ALG_MAX));

    /* a key of another location */
    other = k->rsa_key;
    assert_false(ngx_http_mcp_jwt_key_accepted(&k->policy, &other,
                                               NGX_HTTP_MCP_JWT_RS256));

    k->policy.algs = BIT(ES256);
    assert_false(ngx_http_mcp_jwt_key_accepted(&k->policy, &k->rsa_key,
                                               NGX_HTTP_MCP_JWT_RS256));
    k->policy.algs = ALL_ALGS;
}


static void
test_expires_and_equal(void **state)
{
    json_t  *claims;

    (void) state;

    claims = json_loads("{\"exp\": 1700000000.9}", 0, NULL);
    assert_int_equal(ngx_http_mcp_jwt_expires(claims), 1700000000);
    json_decref(claims);

    claims = json_loads("{\"exp\": \"1700000000\"}", 0, NULL);
    assert_int_equal(ngx_http_mcp_jwt_expires(claims), 0);
    json_decref(claims);

    assert_true(ngx_http_mcp_jwt_equal("abc", "abc", 3));
    assert_false(ngx_http_mcp_jwt_equal("abc", "abd", 3));
    assert_true(ngx_http_mcp_jwt_equal("", "", 0));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_alg_names),
        cmocka_unit_test(test_base64url_is_strict),
        cmocka_unit_test(test_split_wants_three_segments),
        cmocka_unit_test(test_scopes_are_whole_words),
        cmocka_unit_test(test_scope_claims),
        cmocka_unit_test(test_claim_times_and_leeway),
        cmocka_unit_test(test_claim_issuer_audience_required),
        cmocka_unit_test(test_hmac_tokens),
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_algorithm_is_pinned_to_the_key),
        cmocka_unit_test(test_algorithm_confusion),
        cmocka_unit_test(test_signatures),
        cmocka_unit_test(test_every_algorithm_on_both_paths),
        cmocka_unit_test(test_which_layer_verifies),
        cmocka_unit_test(test_kid_selects_the_key),
        cmocka_unit_test(test_key_accepted),
        cmocka_unit_test(test_expires_and_equal),
    };

    return cmocka_run_group_tests_name("ngx_http_mcp_jwt", tests,
                                       keyring_setup, keyring_teardown);
}
