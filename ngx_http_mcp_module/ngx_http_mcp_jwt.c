
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * JWT verification (RFC 7519, RFC 7515, RFC 7518) in three layers: the
 * module's own strict checks (shape, base64url, header, allow-list, the
 * key of the "kid", the algorithm pinned to the key's type, payload),
 * then the signature with the one key they chose, by OpenSSL (keys parsed
 * once) and by libjwt's jwt_decode() (the verification of record), then
 * the module's claim checks.  libjwt 1.10 checks the signature only, with
 * whatever algorithm the token names: it never meets a key with a token
 * whose "alg" that key does not permit.  docs/auth.md ("What is checked,
 * in this order" and "Security notes") has each step and why.
 *
 * OpenSSL's error queue is emptied after each verification: libjwt, like
 * OpenSSL, leaves the errors of a bad signature there, and nginx's TLS
 * must not see them.
 */


#include <errno.h>
#include <limits.h>
#include <string.h>
#include <strings.h>

#include <jwt.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include "ngx_http_mcp_jwt.h"
#include "ngx_http_mcp_json.h"


static int ngx_http_mcp_jwt_parse_header(json_t *header, int *alg,
    const char **kid, size_t *kid_len, int *typ_jwt);
static int ngx_http_mcp_jwt_typ_valid(const char *typ, size_t len);
static int ngx_http_mcp_jwt_select(const ngx_http_mcp_jwt_policy_t *policy,
    int alg, const char *kid, size_t kid_len);
static int ngx_http_mcp_jwt_key_serves(const ngx_http_mcp_jwt_key_t *key,
    const char *kid, size_t kid_len);
static int ngx_http_mcp_jwt_key_pinned(const ngx_http_mcp_jwt_key_t *key,
    int alg);
static int ngx_http_mcp_jwt_verify_libjwt(const ngx_http_mcp_jwt_key_t *key,
    int alg, const char *token);
static int ngx_http_mcp_jwt_verify_openssl(const ngx_http_mcp_jwt_key_t *key,
    int alg, const unsigned char *data, size_t len,
    const unsigned char *sig, size_t sig_len);
static int ngx_http_mcp_jwt_verify_init(EVP_MD_CTX *md,
    const ngx_http_mcp_jwt_key_t *key, int alg);
static const EVP_MD *ngx_http_mcp_jwt_md(int alg);
static int ngx_http_mcp_jwt_numeric_date(json_t *value, int round_up,
    json_int_t *date);
static int ngx_http_mcp_jwt_string_in(json_t *value,
    const ngx_http_mcp_jwt_str_t *set, size_t n);


static const char  *ngx_http_mcp_jwt_alg_names[] = {
    "HS256", "HS384", "HS512",
    "RS256", "RS384", "RS512",
    "ES256", "ES384", "ES512",
    "PS256", "PS384", "PS512",
    "EdDSA"
};


/* libjwt's name of each, in the same order */

static const jwt_alg_t  ngx_http_mcp_jwt_libjwt_algs[] = {
    JWT_ALG_HS256, JWT_ALG_HS384, JWT_ALG_HS512,
    JWT_ALG_RS256, JWT_ALG_RS384, JWT_ALG_RS512,
    JWT_ALG_ES256, JWT_ALG_ES384, JWT_ALG_ES512,
    JWT_ALG_INVAL, JWT_ALG_INVAL, JWT_ALG_INVAL,     /* not in libjwt 1.10 */
    JWT_ALG_INVAL
};


static const char  *ngx_http_mcp_jwt_errors[] = {
    "ok",
    "internal error",
    "token larger than mcp_auth_jwt_max_size",
    "token is not three base64url segments",
    "token segment is not strict base64url",
    "token header is not a JSON object with a valid \"alg\", \"typ\", "
        "\"kid\", or has \"crit\" or \"cty\"",
    "algorithm not accepted here or for the key",
    "no key has the token's \"kid\", and every key has a kid",
    "token has no \"kid\", and more keys than are tried for one could "
        "verify it",
    "signature does not verify",
    "token payload is not a JSON object",
    "token expired",
    "token not valid yet (nbf)",
    "token issued in the future (iat)",
    "issuer not accepted",
    "audience not accepted",
    "a required claim is missing or of the wrong type"
};


/* base64url alphabet: the value of each character, -1 for the others */

static const signed char  ngx_http_mcp_jwt_b64url[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
    -1,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1
};


int
ngx_http_mcp_jwt_alg_by_name(const unsigned char *name, size_t len)
{
    int  alg;

    for (alg = 0; alg < NGX_HTTP_MCP_JWT_ALG_MAX; alg++) {
        if (len == 5 && memcmp(ngx_http_mcp_jwt_alg_names[alg], name, 5) == 0)
        {
            return alg;
        }
    }

    return -1;
}


const char *
ngx_http_mcp_jwt_alg_name(int alg)
{
    if (alg < 0 || alg >= NGX_HTTP_MCP_JWT_ALG_MAX) {
        return "unknown";
    }

    return ngx_http_mcp_jwt_alg_names[alg];
}


const char *
ngx_http_mcp_jwt_strerror(int rc)
{
    if (rc < 0 || rc >= NGX_HTTP_MCP_JWT_ERR_MAX) {
        return "unknown error";
    }

    return ngx_http_mcp_jwt_errors[rc];
}


long
ngx_http_mcp_jwt_base64url_decode(unsigned char *dst,
    const unsigned char *src, size_t len)
{
    int             v;
    size_t          i;
    unsigned        acc, bits;
    unsigned char  *d;

    /* one character alone carries 6 bits: not even a byte */

    if (len % 4 == 1) {
        return -1;
    }

    d = dst;
    acc = 0;
    bits = 0;

    for (i = 0; i < len; i++) {
        v = ngx_http_mcp_jwt_b64url[src[i]];
        if (v < 0) {
            return -1;
        }

        acc = (acc << 6) | (unsigned) v;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            *d++ = (unsigned char) (acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }

    /* the bits of the last character beyond the data must be zero */

    if (acc != 0) {
        return -1;
    }

    return (long) (d - dst);
}


int
ngx_http_mcp_jwt_split(const unsigned char *token, size_t len,
    ngx_http_mcp_jwt_parts_t *parts)
{
    size_t  i, n, dot[2];

    n = 0;

    for (i = 0; i < len; i++) {

        if (token[i] == '.') {
            if (n == 2) {
                return NGX_HTTP_MCP_JWT_ERR_FORMAT;
            }

            dot[n++] = i;
            continue;
        }

        /* spaces, control characters, "=", "+", "/", and the rest */

        if (ngx_http_mcp_jwt_b64url[token[i]] < 0) {
            return NGX_HTTP_MCP_JWT_ERR_FORMAT;
        }
    }

    if (n != 2) {
        return NGX_HTTP_MCP_JWT_ERR_FORMAT;
    }

    parts->header = token;
    parts->header_len = dot[0];
    parts->payload = token + dot[0] + 1;
    parts->payload_len = dot[1] - dot[0] - 1;
    parts->signature = token + dot[1] + 1;
    parts->signature_len = len - dot[1] - 1;
    parts->signed_len = dot[1];

    if (parts->header_len == 0 || parts->payload_len == 0
        || parts->signature_len == 0)
    {
        return NGX_HTTP_MCP_JWT_ERR_FORMAT;
    }

    return NGX_HTTP_MCP_JWT_OK;
}


int
ngx_http_mcp_jwt_verify(const ngx_http_mcp_jwt_policy_t *policy,
    const unsigned char *token, size_t len, unsigned char *scratch,
    ngx_http_mcp_jwt_result_t *res)
{
    int                            rc, alg, typ_jwt;
    long                           hlen, plen, slen;
    char                          *copy;
    size_t                         i, kid_len;
    json_t                        *header, *claims, *iss;
    const char                    *kid;
    unsigned char                 *h, *p, *s;
    ngx_http_mcp_jwt_parts_t       parts;
    const ngx_http_mcp_jwt_key_t  *key;

    res->claims = NULL;
    res->key = NULL;
    res->alg = -1;

    if (len > policy->max_size) {
        return NGX_HTTP_MCP_JWT_ERR_SIZE;
    }

    /* no NUL either: what libjwt reads up to the NUL is the whole token */

    rc = ngx_http_mcp_jwt_split(token, len, &parts);
    if (rc != NGX_HTTP_MCP_JWT_OK) {
        return rc;
    }

    /*
     * scratch: the token, NUL-terminated, for jwt_decode(); then the
     * decoded segments, each shorter than its encoding, side by side
     */

    copy = (char *) scratch;
    memcpy(copy, token, len);
    copy[len] = '\0';

    h = scratch + len + 1;
    hlen = ngx_http_mcp_jwt_base64url_decode(h, parts.header,
                                             parts.header_len);
    p = h + parts.header_len;
    plen = ngx_http_mcp_jwt_base64url_decode(p, parts.payload,
                                             parts.payload_len);
    s = p + parts.payload_len;
    slen = ngx_http_mcp_jwt_base64url_decode(s, parts.signature,
                                             parts.signature_len);

    if (hlen <= 0 || plen <= 0 || slen <= 0) {
        return NGX_HTTP_MCP_JWT_ERR_BASE64;
    }

    header = ngx_http_mcp_json_loadb((const char *) h, hlen, NULL);
    if (header == NULL) {
        return NGX_HTTP_MCP_JWT_ERR_HEADER;
    }

    /* kid points into the header: it is released at the end */

    rc = ngx_http_mcp_jwt_parse_header(header, &alg, &kid, &kid_len,
                                       &typ_jwt);

    if (rc == NGX_HTTP_MCP_JWT_OK) {
        rc = ngx_http_mcp_jwt_select(policy, alg, kid, kid_len);
    }

    if (rc != NGX_HTTP_MCP_JWT_OK) {
        json_decref(header);
        return rc;
    }

    /*
     * libjwt parses the payload before it checks the signature, with
     * duplicate members allowed: it gets only what parses strictly here
     */

    claims = ngx_http_mcp_json_loadb((const char *) p, plen, NULL);

    if (!json_is_object(claims)) {
        json_decref(claims);
        json_decref(header);
        return NGX_HTTP_MCP_JWT_ERR_PAYLOAD;
    }

    /*
     * the signature, with each key of this kid pinned to this algorithm,
     * and bound to the token's issuer if the key is bound to any
     */

    rc = NGX_HTTP_MCP_JWT_ERR_SIGNATURE;
    key = NULL;
    iss = json_object_get(claims, "iss");

    for (i = 0; i < policy->nkeys; i++) {
        key = policy->keys[i];

        if (!ngx_http_mcp_jwt_key_serves(key, kid, kid_len)
            || !ngx_http_mcp_jwt_key_pinned(key, alg)
            || (key->nissuers
                && !ngx_http_mcp_jwt_string_in(iss, key->issuers,
                                               key->nissuers)))
        {
            continue;
        }

        /*
         * OpenSSL first, with the key parsed when the configuration was
         * read: a forged token is refused at that cost.  libjwt, which
         * parses the key again for every token (some 300 us for RS256),
         * then verifies what passed: the verification of record
         */

        rc = ngx_http_mcp_jwt_verify_openssl(key, alg, token,
                                             parts.signed_len, s,
                                             (size_t) slen);

        if (rc == NGX_HTTP_MCP_JWT_OK && typ_jwt
            && ngx_http_mcp_jwt_libjwt_algs[alg] != JWT_ALG_INVAL)
        {
            rc = ngx_http_mcp_jwt_verify_libjwt(key, alg, copy);
        }

        if (rc != NGX_HTTP_MCP_JWT_ERR_SIGNATURE) {
            break;
        }
    }

    json_decref(header);

    if (rc != NGX_HTTP_MCP_JWT_OK) {
        json_decref(claims);
        return rc;
    }

    res->claims = claims;
    res->key = key;
    res->alg = alg;

    return NGX_HTTP_MCP_JWT_OK;
}


static int
ngx_http_mcp_jwt_parse_header(json_t *header, int *alg, const char **kid,
    size_t *kid_len, int *typ_jwt)
{
    json_t  *v;

    *kid = NULL;
    *kid_len = 0;

    if (!json_is_object(header)) {
        return NGX_HTTP_MCP_JWT_ERR_HEADER;
    }

    v = json_object_get(header, "alg");
    if (!json_is_string(v)) {
        return NGX_HTTP_MCP_JWT_ERR_HEADER;
    }

    /* "none", "None", "HS256 " and anything unknown */

    *alg = ngx_http_mcp_jwt_alg_by_name(
                         (const unsigned char *) json_string_value(v),
                         json_string_length(v));
    if (*alg == -1) {
        return NGX_HTTP_MCP_JWT_ERR_ALG;
    }

    /*
     * "crit" lists extensions the recipient must understand (RFC 7515
     * 4.1.11; "b64": false of RFC 7797 among them): none is; "cty" marks
     * a nested token, which an access token is not
     */

    if (json_object_get(header, "crit") != NULL
        || json_object_get(header, "cty") != NULL)
    {
        return NGX_HTTP_MCP_JWT_ERR_HEADER;
    }

    v = json_object_get(header, "typ");
    if (v != NULL
        && !(json_is_string(v)
             && ngx_http_mcp_jwt_typ_valid(json_string_value(v),
                                           json_string_length(v))))
    {
        return NGX_HTTP_MCP_JWT_ERR_HEADER;
    }

    /* the only "typ" libjwt 1.10's jwt_decode() takes (strcasecmp()) */

    *typ_jwt = (v == NULL
                || (json_string_length(v) == 3
                    && strncasecmp(json_string_value(v), "JWT", 3) == 0));

    v = json_object_get(header, "kid");
    if (v != NULL) {
        if (!json_is_string(v) || json_string_length(v) == 0) {
            return NGX_HTTP_MCP_JWT_ERR_HEADER;
        }

        *kid = json_string_value(v);
        *kid_len = json_string_length(v);
    }

    return NGX_HTTP_MCP_JWT_OK;
}


/*
 * "JWT" (RFC 7519, 5.1) or "at+jwt" (RFC 9068, 2.1), case-insensitive,
 * with or without "application/"; not, say, "dpop+jwt" (a DPoP proof is
 * no access token)
 */

static int
ngx_http_mcp_jwt_typ_valid(const char *typ, size_t len)
{
    if (len > 12 && strncasecmp(typ, "application/", 12) == 0) {
        typ += 12;
        len -= 12;
    }

    return (len == 3 && strncasecmp(typ, "JWT", 3) == 0)
           || (len == 6 && strncasecmp(typ, "at+jwt", 6) == 0);
}


/*
 * 0 if some key may verify this token: one that serves its kid and whose
 * type permits its algorithm, which is allowed here; else why not
 */

static int
ngx_http_mcp_jwt_select(const ngx_http_mcp_jwt_policy_t *policy, int alg,
    const char *kid, size_t kid_len)
{
    size_t                   i, candidates, pinned;
    ngx_http_mcp_jwt_key_t  *key;

    if (!(policy->algs & NGX_HTTP_MCP_JWT_ALG_BIT(alg))) {
        return NGX_HTTP_MCP_JWT_ERR_ALG;
    }

    candidates = 0;
    pinned = 0;

    for (i = 0; i < policy->nkeys; i++) {
        key = policy->keys[i];

        if (!ngx_http_mcp_jwt_key_serves(key, kid, kid_len)) {
            continue;
        }

        if (ngx_http_mcp_jwt_key_pinned(key, alg)) {
            if (kid) {
                return NGX_HTTP_MCP_JWT_OK;
            }

            pinned++;
            continue;
        }

        candidates++;
    }

    /* without a kid, every key is tried: a bounded number of them */

    if (pinned) {
        return (pinned <= NGX_HTTP_MCP_JWT_MAX_KIDLESS)
               ? NGX_HTTP_MCP_JWT_OK : NGX_HTTP_MCP_JWT_ERR_NO_KEY;
    }

    if (candidates == 0) {
        return kid ? NGX_HTTP_MCP_JWT_ERR_KID : NGX_HTTP_MCP_JWT_ERR_NO_KEY;
    }

    return NGX_HTTP_MCP_JWT_ERR_ALG;
}


/*
 * a key with a kid serves tokens of that kid, and tokens without one
 * (PingOne's); a key without (PEM, HMAC) serves any token
 */

static int
ngx_http_mcp_jwt_key_serves(const ngx_http_mcp_jwt_key_t *key,
    const char *kid, size_t kid_len)
{
    return key->kid == NULL || kid == NULL
           || (key->kid_len == kid_len && memcmp(key->kid, kid, kid_len) == 0);
}


/* the algorithm is pinned to the key's type (and to a JWK's "alg") */

static int
ngx_http_mcp_jwt_key_pinned(const ngx_http_mcp_jwt_key_t *key, int alg)
{
    return (key->algs & NGX_HTTP_MCP_JWT_ALG_BIT(alg)) != 0;
}


/*
 * libjwt's jwt_decode() with this one key's material, which the caller
 * made sure verifies alg: the secret of an HMAC key, the PEM of the public
 * key otherwise
 */

static int
ngx_http_mcp_jwt_verify_libjwt(const ngx_http_mcp_jwt_key_t *key, int alg,
    const char *token)
{
    int                   rc, err;
    jwt_t                *jwt;
    size_t                len;
    const unsigned char  *material;

    if (key->type == NGX_HTTP_MCP_JWT_KEY_HMAC) {
        material = key->secret;
        len = key->secret_len;

    } else {
        material = key->pem;
        len = key->pem_len;
    }

    /* with no key at all, libjwt would take "none", and HMAC with "" */

    if (material == NULL || len == 0 || len > INT_MAX) {
        return NGX_HTTP_MCP_JWT_ERR_INTERNAL;
    }

    jwt = NULL;

    err = jwt_decode(&jwt, token, material, (int) len);

    ERR_clear_error();

    if (err != 0) {
        jwt_free(jwt);                  /* NULL: jwt_decode() freed it */

        /* libjwt says EINVAL of all else, a bad signature among it */

        return (err == ENOMEM) ? NGX_HTTP_MCP_JWT_ERR_INTERNAL
                               : NGX_HTTP_MCP_JWT_ERR_SIGNATURE;
    }

    /* what libjwt verified with is what was pinned, or nothing is */

    rc = (jwt != NULL
          && jwt_get_alg(jwt) == ngx_http_mcp_jwt_libjwt_algs[alg])
         ? NGX_HTTP_MCP_JWT_OK : NGX_HTTP_MCP_JWT_ERR_ALG;

    jwt_free(jwt);

    return rc;
}


/*
 * OpenSSL, for the tokens libjwt 1.10 does not decode (a "typ" other than
 * "JWT"), with the same key
 */

static int
ngx_http_mcp_jwt_verify_openssl(const ngx_http_mcp_jwt_key_t *key, int alg,
    const unsigned char *data, size_t len, const unsigned char *sig,
    size_t sig_len)
{
    int             rc, n;
    BIGNUM         *r, *s;
    ECDSA_SIG      *ec;
    EVP_MD_CTX     *md;
    unsigned int    mac_len;
    unsigned char  *der;
    unsigned char   mac[EVP_MAX_MD_SIZE];

    if (key->type == NGX_HTTP_MCP_JWT_KEY_HMAC) {

        if (HMAC(ngx_http_mcp_jwt_md(alg), key->secret, (int) key->secret_len,
                 data, len, mac, &mac_len)
            == NULL)
        {
            ERR_clear_error();
            return NGX_HTTP_MCP_JWT_ERR_INTERNAL;
        }

        /* the length is public, the bytes are compared in constant time */

        rc = (sig_len == mac_len && ngx_http_mcp_jwt_equal(mac, sig, mac_len))
             ? NGX_HTTP_MCP_JWT_OK : NGX_HTTP_MCP_JWT_ERR_SIGNATURE;

        OPENSSL_cleanse(mac, sizeof(mac));

        return rc;
    }

    der = NULL;

    if (key->type == NGX_HTTP_MCP_JWT_KEY_EC) {

        /* JWS carries R || S (RFC 7518, 3.4), OpenSSL wants DER */

        if (sig_len != 2 * key->ec_size) {
            return NGX_HTTP_MCP_JWT_ERR_SIGNATURE;
        }

        ec = ECDSA_SIG_new();
        if (ec == NULL) {
            ERR_clear_error();
            return NGX_HTTP_MCP_JWT_ERR_INTERNAL;
        }

        r = BN_bin2bn(sig, (int) key->ec_size, NULL);
        s = BN_bin2bn(sig + key->ec_size, (int) key->ec_size, NULL);

        if (r == NULL || s == NULL || ECDSA_SIG_set0(ec, r, s) != 1) {
            BN_free(r);
            BN_free(s);
            ECDSA_SIG_free(ec);
            ERR_clear_error();
            return NGX_HTTP_MCP_JWT_ERR_INTERNAL;
        }

        n = i2d_ECDSA_SIG(ec, &der);

        ECDSA_SIG_free(ec);

        if (n <= 0) {
            ERR_clear_error();
            return NGX_HTTP_MCP_JWT_ERR_INTERNAL;
        }

        sig = der;
        sig_len = (size_t) n;
    }

    md = EVP_MD_CTX_new();

    if (md == NULL
        || ngx_http_mcp_jwt_verify_init(md, key, alg) != NGX_HTTP_MCP_JWT_OK)
    {
        rc = NGX_HTTP_MCP_JWT_ERR_INTERNAL;

    } else {
        rc = (EVP_DigestVerify(md, sig, sig_len, data, len) == 1)
             ? NGX_HTTP_MCP_JWT_OK : NGX_HTTP_MCP_JWT_ERR_SIGNATURE;
    }

    EVP_MD_CTX_free(md);
    OPENSSL_free(der);

    /* a bad signature leaves errors queued: nginx's TLS must not see them */

    ERR_clear_error();

    return rc;
}


/*
 * The verification of an RSA, EC or Ed25519 key with the algorithm pinned
 * to it: RSASSA-PSS (RFC 7518, 3.5) with MGF1 of the same hash and a salt
 * as long as the hash, no other; EdDSA (RFC 8037) with no digest of its
 * own (EVP_DigestVerify() in one call).
 */

static int
ngx_http_mcp_jwt_verify_init(EVP_MD_CTX *md, const ngx_http_mcp_jwt_key_t *key,
    int alg)
{
    const EVP_MD  *digest;
    EVP_PKEY_CTX  *pctx;

    if (alg == NGX_HTTP_MCP_JWT_EDDSA) {
        return (key->type == NGX_HTTP_MCP_JWT_KEY_OKP
                && EVP_DigestVerifyInit(md, NULL, NULL, NULL, key->pkey) == 1)
               ? NGX_HTTP_MCP_JWT_OK : NGX_HTTP_MCP_JWT_ERR_INTERNAL;
    }

    digest = ngx_http_mcp_jwt_md(alg);
    pctx = NULL;

    if (EVP_DigestVerifyInit(md, &pctx, digest, NULL, key->pkey) != 1) {
        return NGX_HTTP_MCP_JWT_ERR_INTERNAL;
    }

    if (!(NGX_HTTP_MCP_JWT_ALG_BIT(alg) & NGX_HTTP_MCP_JWT_ALGS_PSS)) {
        return NGX_HTTP_MCP_JWT_OK;
    }

    return (key->type == NGX_HTTP_MCP_JWT_KEY_RSA
            && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0
            && EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, digest) > 0
            && EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST)
               > 0)
           ? NGX_HTTP_MCP_JWT_OK : NGX_HTTP_MCP_JWT_ERR_INTERNAL;
}


static const EVP_MD *
ngx_http_mcp_jwt_md(int alg)
{
    switch (alg) {

    case NGX_HTTP_MCP_JWT_HS384:
    case NGX_HTTP_MCP_JWT_RS384:
    case NGX_HTTP_MCP_JWT_ES384:
    case NGX_HTTP_MCP_JWT_PS384:
        return EVP_sha384();

    case NGX_HTTP_MCP_JWT_HS512:
    case NGX_HTTP_MCP_JWT_RS512:
    case NGX_HTTP_MCP_JWT_ES512:
    case NGX_HTTP_MCP_JWT_PS512:
        return EVP_sha512();

    default:
        return EVP_sha256();
    }
}


int
ngx_http_mcp_jwt_key_accepted(const ngx_http_mcp_jwt_policy_t *policy,
    const ngx_http_mcp_jwt_key_t *key, int alg)
{
    size_t  i;

    if (alg < 0 || alg >= NGX_HTTP_MCP_JWT_ALG_MAX
        || !(policy->algs & NGX_HTTP_MCP_JWT_ALG_BIT(alg))
        || !ngx_http_mcp_jwt_key_pinned(key, alg))
    {
        return 0;
    }

    for (i = 0; i < policy->nkeys; i++) {
        if (policy->keys[i] == key) {
            return 1;
        }
    }

    return 0;
}


int
ngx_http_mcp_jwt_check_claims(const ngx_http_mcp_jwt_policy_t *policy,
    json_t *claims, time_t now)
{
    int          found;
    size_t       i;
    json_t      *v, *e;
    json_int_t   t, n, leeway;

    n = (json_int_t) now;
    leeway = (json_int_t) policy->leeway;

    /* RFC 9068, 2.2: an access token has an "exp" */

    v = json_object_get(claims, "exp");
    if (v == NULL || ngx_http_mcp_jwt_numeric_date(v, 0, &t) != 0) {
        return NGX_HTTP_MCP_JWT_ERR_CLAIM;
    }

    /* valid while now < exp + leeway, written so that nothing overflows */

    if (n - leeway >= t) {
        return NGX_HTTP_MCP_JWT_ERR_EXPIRED;
    }

    v = json_object_get(claims, "nbf");
    if (v != NULL) {
        if (ngx_http_mcp_jwt_numeric_date(v, 1, &t) != 0) {
            return NGX_HTTP_MCP_JWT_ERR_CLAIM;
        }

        if (n + leeway < t) {
            return NGX_HTTP_MCP_JWT_ERR_NBF;
        }
    }

    v = json_object_get(claims, "iat");
    if (v != NULL) {
        if (ngx_http_mcp_jwt_numeric_date(v, 1, &t) != 0) {
            return NGX_HTTP_MCP_JWT_ERR_CLAIM;
        }

        if (t > n + leeway) {
            return NGX_HTTP_MCP_JWT_ERR_IAT;
        }
    }

    if (policy->nissuers) {
        v = json_object_get(claims, "iss");

        if (!ngx_http_mcp_jwt_string_in(v, policy->issuers,
                                        policy->nissuers))
        {
            return NGX_HTTP_MCP_JWT_ERR_ISSUER;
        }
    }

    if (policy->naudiences) {
        v = json_object_get(claims, "aud");

        /* no "aud" at all (Cognito's access tokens): a claim is missing */

        if (v == NULL) {
            return NGX_HTTP_MCP_JWT_ERR_CLAIM;
        }

        /* RFC 7519, 4.1.3: a string, or an array of strings */

        if (json_is_array(v)) {
            found = 0;

            json_array_foreach(v, i, e) {
                if (ngx_http_mcp_jwt_string_in(e, policy->audiences,
                                               policy->naudiences))
                {
                    found = 1;
                    break;
                }
            }

        } else {
            found = ngx_http_mcp_jwt_string_in(v, policy->audiences,
                                               policy->naudiences);
        }

        if (!found) {
            return NGX_HTTP_MCP_JWT_ERR_AUDIENCE;
        }
    }

    v = json_object_get(claims, "sub");
    if (v != NULL && !json_is_string(v)) {
        return NGX_HTTP_MCP_JWT_ERR_CLAIM;
    }

    for (i = 0; i < policy->nrequired; i++) {
        v = json_object_get(claims, policy->required[i]);

        if (v == NULL || json_is_null(v)) {
            return NGX_HTTP_MCP_JWT_ERR_CLAIM;
        }
    }

    return NGX_HTTP_MCP_JWT_OK;
}


time_t
ngx_http_mcp_jwt_expires(json_t *claims)
{
    json_int_t  t;

    if (ngx_http_mcp_jwt_numeric_date(json_object_get(claims, "exp"), 0, &t)
        != 0
        || t <= 0)
    {
        return 0;
    }

    return (time_t) t;
}


/*
 * A NumericDate (RFC 7519, 2): a JSON number of seconds, maybe with a
 * fraction, rounded towards the stricter side by the caller's choice.
 */

static int
ngx_http_mcp_jwt_numeric_date(json_t *value, int round_up, json_int_t *date)
{
    double      d;
    json_int_t  t;

    if (json_is_integer(value)) {
        *date = json_integer_value(value);
        return 0;
    }

    if (!json_is_real(value)) {
        return -1;
    }

    d = json_real_value(value);

    /* about 31 million years either way, and not a NaN */

    if (!(d > -1e15 && d < 1e15)) {
        return -1;
    }

    t = (json_int_t) d;

    if (round_up && (double) t < d) {
        t++;

    } else if (!round_up && (double) t > d) {
        t--;
    }

    *date = t;

    return 0;
}


static int
ngx_http_mcp_jwt_string_in(json_t *value, const ngx_http_mcp_jwt_str_t *set,
    size_t n)
{
    size_t       i, len;
    const char  *s;

    if (!json_is_string(value)) {
        return 0;
    }

    s = json_string_value(value);
    len = json_string_length(value);

    for (i = 0; i < n; i++) {
        if (set[i].len == len && memcmp(set[i].data, s, len) == 0) {
            return 1;
        }
    }

    return 0;
}


int
ngx_http_mcp_jwt_scope_in_list(const unsigned char *list, size_t len,
    const unsigned char *scope, size_t scope_len)
{
    const unsigned char  *p, *end, *start;

    if (scope_len == 0) {
        return 0;
    }

    p = list;
    end = list + len;

    /* RFC 6749, 3.3: scope-tokens separated by spaces, whole words only */

    while (p < end) {

        while (p < end && *p == ' ') {
            p++;
        }

        start = p;

        while (p < end && *p != ' ') {
            p++;
        }

        if ((size_t) (p - start) == scope_len
            && memcmp(start, scope, scope_len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


int
ngx_http_mcp_jwt_has_scope(json_t *claims, const char * const *names,
    size_t nnames, const unsigned char *scope, size_t scope_len)
{
    size_t   i, j;
    json_t  *v, *e;

    for (i = 0; i < nnames; i++) {
        v = json_object_get(claims, names[i]);

        if (json_is_string(v)) {
            if (ngx_http_mcp_jwt_scope_in_list(
                    (const unsigned char *) json_string_value(v),
                    json_string_length(v), scope, scope_len))
            {
                return 1;
            }

            continue;
        }

        if (!json_is_array(v)) {
            continue;
        }

        /* an array holds one scope per element */

        json_array_foreach(v, j, e) {
            if (json_is_string(e)
                && json_string_length(e) == scope_len
                && memcmp(json_string_value(e), scope, scope_len) == 0)
            {
                return 1;
            }
        }
    }

    return 0;
}


int
ngx_http_mcp_jwt_equal(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}
