/*
 * libFuzzer: tokens.  Two kinds of input, by the first byte:
 *
 *   even: the rest is a token as a client sends it: split, decoded,
 *         header and payload parsed, the key chosen, the signature
 *         checked (it never holds: the fuzzer has no key);
 *   odd:  the rest is "<header JSON>\n<payload JSON>", which the harness
 *         signs with its HMAC key: the header checks, the signature
 *         (OpenSSL, then libjwt) and the claims and scopes of whatever
 *         payload the fuzzer makes are reached.
 */

#include <openssl/err.h>
#include <openssl/hmac.h>

#include "fuzz.h"
#include "ngx_http_mcp_jwt.h"


#define FUZZ_MAX_TOKEN  16384
#define FUZZ_NOW        1750000000

static const char  secret[] = "0123456789abcdef0123456789abcdef";


static size_t
b64u(unsigned char *out, const unsigned char *in, size_t len)
{
    size_t           i, n;
    unsigned         v;
    static const char  alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    for (i = 0, n = 0; i + 2 < len; i += 3) {
        v = in[i] << 16 | in[i + 1] << 8 | in[i + 2];
        out[n++] = alphabet[v >> 18];
        out[n++] = alphabet[(v >> 12) & 63];
        out[n++] = alphabet[(v >> 6) & 63];
        out[n++] = alphabet[v & 63];
    }

    if (len - i == 1) {
        v = in[i] << 16;
        out[n++] = alphabet[v >> 18];
        out[n++] = alphabet[(v >> 12) & 63];

    } else if (len - i == 2) {
        v = in[i] << 16 | in[i + 1] << 8;
        out[n++] = alphabet[v >> 18];
        out[n++] = alphabet[(v >> 12) & 63];
        out[n++] = alphabet[(v >> 6) & 63];
    }

    return n;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                          rc;
    size_t                       n, hlen;
    unsigned int                 maclen;
    const uint8_t               *nl;
    ngx_http_mcp_jwt_key_t       key, *keys[1];
    ngx_http_mcp_jwt_policy_t    policy;
    ngx_http_mcp_jwt_result_t    res;
    ngx_http_mcp_jwt_str_t       iss[1], aud[1];
    unsigned char                mac[EVP_MAX_MD_SIZE];
    static unsigned char         token[FUZZ_MAX_TOKEN];
    static unsigned char         scratch[NGX_HTTP_MCP_JWT_SCRATCH_SIZE(
                                             FUZZ_MAX_TOKEN)];
    static const char *const     scopes[] = { "scope", "scp" };
    static const char *const     required[] = { "sub" };

    if (size < 1 || size > FUZZ_MAX_TOKEN / 2) {
        return 0;
    }

    memset(&key, 0, sizeof(key));
    key.type = NGX_HTTP_MCP_JWT_KEY_HMAC;
    key.algs = NGX_HTTP_MCP_JWT_ALGS_HMAC;
    key.secret = (const unsigned char *) secret;
    key.secret_len = sizeof(secret) - 1;
    keys[0] = &key;

    iss[0].data = (const unsigned char *) "https://issuer.example/";
    iss[0].len = sizeof("https://issuer.example/") - 1;
    aud[0].data = (const unsigned char *) "mcp-gateway";
    aud[0].len = sizeof("mcp-gateway") - 1;

    memset(&policy, 0, sizeof(policy));
    policy.keys = keys;
    policy.nkeys = 1;
    policy.algs = NGX_HTTP_MCP_JWT_ALGS_HMAC;
    policy.max_size = FUZZ_MAX_TOKEN;
    policy.leeway = 30;
    policy.issuers = iss;
    policy.nissuers = 1;
    policy.audiences = aud;
    policy.naudiences = 1;
    policy.required = required;
    policy.nrequired = 1;

    if (data[0] % 2 == 0) {
        memcpy(token, data + 1, size - 1);
        n = size - 1;

    } else {
        nl = memchr(data + 1, '\n', size - 1);
        if (nl == NULL) {
            return 0;
        }

        hlen = nl - (data + 1);
        n = b64u(token, data + 1, hlen);
        token[n++] = '.';
        n += b64u(token + n, nl + 1, size - 1 - hlen - 1);

        if (HMAC(EVP_sha256(), secret, sizeof(secret) - 1, token, n, mac,
                 &maclen) == NULL)
        {
            fuzz_fail("HMAC() failed");
        }

        token[n++] = '.';
        n += b64u(token + n, mac, maclen);
    }

    rc = ngx_http_mcp_jwt_verify(&policy, token, n, scratch, &res);

    if (ERR_peek_error() != 0) {
        fuzz_fail("an OpenSSL error was left behind");
    }

    if (rc == NGX_HTTP_MCP_JWT_OK) {
        if (!json_is_object(res.claims) || res.key != &key) {
            fuzz_fail("a verified token without its claims or key");
        }

        (void) ngx_http_mcp_jwt_check_claims(&policy, res.claims, FUZZ_NOW);
        (void) ngx_http_mcp_jwt_expires(res.claims);
        (void) ngx_http_mcp_jwt_has_scope(res.claims, scopes, 2,
                                          (const unsigned char *) "mgmt.read",
                                          sizeof("mgmt.read") - 1);
        json_decref(res.claims);

    } else if (res.claims != NULL) {
        fuzz_fail("a refused token with claims");
    }

    return 0;
}
