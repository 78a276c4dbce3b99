
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * JWT verification: the token's shape, its header, the algorithm pinned to
 * the key, the signature (libjwt's jwt_decode() with that one key), the
 * claims and the scopes.  Pure C on libjwt, OpenSSL and jansson: no nginx
 * types, so that t/unit links it without an nginx tree.
 */


#ifndef _NGX_HTTP_MCP_JWT_H_INCLUDED_
#define _NGX_HTTP_MCP_JWT_H_INCLUDED_


#include <stddef.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>


/* the algorithms of RFC 7518 this module verifies ("none" is not one) */

typedef enum {
    NGX_HTTP_MCP_JWT_HS256 = 0,
    NGX_HTTP_MCP_JWT_HS384,
    NGX_HTTP_MCP_JWT_HS512,
    NGX_HTTP_MCP_JWT_RS256,
    NGX_HTTP_MCP_JWT_RS384,
    NGX_HTTP_MCP_JWT_RS512,
    NGX_HTTP_MCP_JWT_ES256,
    NGX_HTTP_MCP_JWT_ES384,
    NGX_HTTP_MCP_JWT_ES512,
    NGX_HTTP_MCP_JWT_PS256,            /* from here on, OpenSSL's alone */
    NGX_HTTP_MCP_JWT_PS384,
    NGX_HTTP_MCP_JWT_PS512,
    NGX_HTTP_MCP_JWT_EDDSA,
    NGX_HTTP_MCP_JWT_ALG_MAX
} ngx_http_mcp_jwt_alg_e;


#define NGX_HTTP_MCP_JWT_ALG_BIT(alg)  (1u << (alg))

#define NGX_HTTP_MCP_JWT_ALGS_HMAC                                            \
    (NGX_HTTP_MCP_JWT_ALG_BIT(NGX_HTTP_MCP_JWT_HS256)                         \
     | NGX_HTTP_MCP_JWT_ALG_BIT(NGX_HTTP_MCP_JWT_HS384)                       \
     | NGX_HTTP_MCP_JWT_ALG_BIT(NGX_HTTP_MCP_JWT_HS512))

#define NGX_HTTP_MCP_JWT_ALGS_RSA                                             \
    (NGX_HTTP_MCP_JWT_ALG_BIT(NGX_HTTP_MCP_JWT_RS256)                         \
     | NGX_HTTP_MCP_JWT_ALG_BIT(NGX_HTTP_MCP_JWT_RS384)                       \
     | NGX_HTTP_MCP_JWT_ALG_BIT(NGX_HTTP_MCP_JWT_RS512))

#define NGX_HTTP_MCP_JWT_ALGS_PSS                                             \
    (NGX_HTTP_MCP_JWT_ALG_BIT(NGX_HTTP_MCP_JWT_PS256)                         \
     | NGX_HTTP_MCP_JWT_ALG_BIT(NGX_HTTP_MCP_JWT_PS384)                       \
     | NGX_HTTP_MCP_JWT_ALG_BIT(NGX_HTTP_MCP_JWT_PS512))

/* a token without "kid" is tried with at most this many keys */
#define NGX_HTTP_MCP_JWT_MAX_KIDLESS  8


typedef enum {
    NGX_HTTP_MCP_JWT_KEY_HMAC = 0,
    NGX_HTTP_MCP_JWT_KEY_RSA,
    NGX_HTTP_MCP_JWT_KEY_EC,
    NGX_HTTP_MCP_JWT_KEY_OKP           /* Ed25519 */
} ngx_http_mcp_jwt_key_type_e;


/*
 * A verification key.  The algorithms it may verify ("algs", a bit set)
 * follow from its type alone (and a JWK's "alg"): an HMAC secret verifies
 * HS*, an RSA key RS*, a P-256 key ES256 only.  That is the pinning that
 * makes algorithm confusion impossible: a token's "alg" never chooses the
 * key material a key is used with, whatever libjwt would do with it.
 *
 * What libjwt's jwt_decode() is given: the secret of an HMAC key, the PEM
 * (SubjectPublicKeyInfo) of an RSA or EC key, made once when the key is
 * read.  The EVP_PKEY verifies the tokens libjwt 1.10 refuses to decode
 * (a "typ" other than "JWT": see ngx_http_mcp_jwt.c).
 */

typedef struct {
    int                         type;       /* ngx_http_mcp_jwt_key_type_e */
    unsigned                    algs;
    const char                 *kid;        /* NUL-terminated, or NULL */
    size_t                      kid_len;
    EVP_PKEY                   *pkey;       /* RSA, EC */
    size_t                      ec_size;    /* EC: bytes of R (and of S) */
    const unsigned char        *pem;        /* RSA, EC: for libjwt */
    size_t                      pem_len;
    const unsigned char        *secret;     /* HMAC */
    size_t                      secret_len;

    /* the issuers it signs for ("iss"); none: any accepted issuer */
    const struct ngx_http_mcp_jwt_str_s  *issuers;
    size_t                      nissuers;
} ngx_http_mcp_jwt_key_t;


typedef struct ngx_http_mcp_jwt_str_s {
    size_t                      len;
    const unsigned char        *data;
} ngx_http_mcp_jwt_str_t;


/* what a location accepts; built from its configuration */

typedef struct {
    ngx_http_mcp_jwt_key_t    **keys;
    size_t                      nkeys;
    unsigned                    algs;       /* the allow-list, a bit set */

    size_t                      max_size;   /* of the whole token */
    long                        leeway;     /* seconds, for exp, nbf, iat */

    const ngx_http_mcp_jwt_str_t  *issuers;
    size_t                      nissuers;
    const ngx_http_mcp_jwt_str_t  *audiences;
    size_t                      naudiences;
    const char * const         *required;   /* claim names */
    size_t                      nrequired;
} ngx_http_mcp_jwt_policy_t;


typedef enum {
    NGX_HTTP_MCP_JWT_OK = 0,
    NGX_HTTP_MCP_JWT_ERR_INTERNAL,     /* out of memory: not the client's */
    NGX_HTTP_MCP_JWT_ERR_SIZE,
    NGX_HTTP_MCP_JWT_ERR_FORMAT,       /* characters, segments */
    NGX_HTTP_MCP_JWT_ERR_BASE64,
    NGX_HTTP_MCP_JWT_ERR_HEADER,       /* not a JSON object, bad members */
    NGX_HTTP_MCP_JWT_ERR_ALG,          /* not allowed here or for the key */
    NGX_HTTP_MCP_JWT_ERR_KID,          /* "kid" names no key */
    NGX_HTTP_MCP_JWT_ERR_NO_KEY,       /* no "kid", every key has one */
    NGX_HTTP_MCP_JWT_ERR_SIGNATURE,
    NGX_HTTP_MCP_JWT_ERR_PAYLOAD,      /* not a JSON object */
    NGX_HTTP_MCP_JWT_ERR_EXPIRED,
    NGX_HTTP_MCP_JWT_ERR_NBF,
    NGX_HTTP_MCP_JWT_ERR_IAT,
    NGX_HTTP_MCP_JWT_ERR_ISSUER,
    NGX_HTTP_MCP_JWT_ERR_AUDIENCE,
    NGX_HTTP_MCP_JWT_ERR_CLAIM,        /* missing, or of the wrong type */
    NGX_HTTP_MCP_JWT_ERR_MAX
} ngx_http_mcp_jwt_rc_e;


/* the signed part of a token, split */

typedef struct {
    const unsigned char        *header;
    size_t                      header_len;
    const unsigned char        *payload;
    size_t                      payload_len;
    const unsigned char        *signature;
    size_t                      signature_len;
    size_t                      signed_len;     /* header.payload */
} ngx_http_mcp_jwt_parts_t;


typedef struct {
    json_t                     *claims;     /* a reference the caller owns */
    const ngx_http_mcp_jwt_key_t  *key;     /* the key that verified it */
    int                         alg;
} ngx_http_mcp_jwt_result_t;


/* "HS256" ... "ES512", "PS256" ... "PS512", "EdDSA"; -1 for anything
 * else, "none" included */
int ngx_http_mcp_jwt_alg_by_name(const unsigned char *name, size_t len);
const char *ngx_http_mcp_jwt_alg_name(int alg);

/* the log text of an ngx_http_mcp_jwt_rc_e (never token data) */
const char *ngx_http_mcp_jwt_strerror(int rc);

/*
 * Strict base64url (RFC 7515, 2): no padding, no other characters, the
 * unused bits zero.  dst holds at least len * 3 / 4 bytes.  Returns the
 * decoded length, or -1.
 */
long ngx_http_mcp_jwt_base64url_decode(unsigned char *dst,
    const unsigned char *src, size_t len);

/* three non-empty base64url segments, nothing else: 0 or an rc */
int ngx_http_mcp_jwt_split(const unsigned char *token, size_t len,
    ngx_http_mcp_jwt_parts_t *parts);

/*
 * The scratch ngx_http_mcp_jwt_verify() needs for a token of len bytes: a
 * NUL-terminated copy of it for libjwt, then its decoded segments
 */
#define NGX_HTTP_MCP_JWT_SCRATCH_SIZE(len)  (2 * (len) + 1)

/*
 * Verifies shape, header, payload and signature of a token with the
 * policy's keys and parses its claims (res->claims, to be json_decref()ed).
 * "scratch" holds at least NGX_HTTP_MCP_JWT_SCRATCH_SIZE(len) bytes; the
 * token itself is never written to.  Claims are not checked here: see
 * ngx_http_mcp_jwt_check_claims().
 */
int ngx_http_mcp_jwt_verify(const ngx_http_mcp_jwt_policy_t *policy,
    const unsigned char *token, size_t len, unsigned char *scratch,
    ngx_http_mcp_jwt_result_t *res);

/* 1 if this location accepts a signature made with key and alg */
int ngx_http_mcp_jwt_key_accepted(const ngx_http_mcp_jwt_policy_t *policy,
    const ngx_http_mcp_jwt_key_t *key, int alg);

/* exp (required), nbf, iat with the leeway; iss, aud, required claims */
int ngx_http_mcp_jwt_check_claims(const ngx_http_mcp_jwt_policy_t *policy,
    json_t *claims, time_t now);

/* the token's "exp" (0 if absent), for the cache */
time_t ngx_http_mcp_jwt_expires(json_t *claims);

/* 1 if the space-separated list holds scope as a whole word */
int ngx_http_mcp_jwt_scope_in_list(const unsigned char *list, size_t len,
    const unsigned char *scope, size_t scope_len);

/*
 * 1 if one of the claims (a space-separated string, or an array of
 * strings) grants scope
 */
int ngx_http_mcp_jwt_has_scope(json_t *claims, const char * const *names,
    size_t nnames, const unsigned char *scope, size_t scope_len);

/* constant-time comparison of equal-length buffers: 1 if equal */
int ngx_http_mcp_jwt_equal(const void *a, const void *b, size_t len);

/*
 * ngx_http_mcp_jwk_check.c: 0 if an RSA public key is fit to verify
 * anything, -1 with the reason in "why" (names no key material) if not
 */
int ngx_http_mcp_jwk_check_rsa(EVP_PKEY *pkey, char *why, size_t len);


#endif /* _NGX_HTTP_MCP_JWT_H_INCLUDED_ */
