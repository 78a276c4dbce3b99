
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * Key files, read at configuration time (so "nginx -s reload" reads them
 * again): a JWK Set (RFC 7517; RSA and EC keys), PEM public keys or
 * certificates (RSA, EC), or an HMAC secret.  Keys become OpenSSL
 * EVP_PKEYs once, here, and so does the PEM of each public key that
 * libjwt's jwt_decode() is given (ngx_http_mcp_jwt.c), not for every
 * token.  The type of a file is always given, never guessed: a PEM file
 * read as an HMAC secret is the algorithm confusion attack.
 */


#include "ngx_http_mcp_auth.h"
#include "ngx_http_mcp_json.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>


#define NGX_HTTP_MCP_JWK_MAX_FILE    (1024 * 1024)
#define NGX_HTTP_MCP_JWK_MIN_RSA     2048
#define NGX_HTTP_MCP_JWK_MIN_HMAC    32


static ngx_int_t ngx_http_mcp_jwk_read(ngx_conf_t *cf, ngx_str_t *file,
    ngx_str_t *data, ngx_uint_t *world_readable);
static ngx_int_t ngx_http_mcp_jwk_set(ngx_conf_t *cf, ngx_str_t *file,
    ngx_str_t *data, ngx_array_t *keys);
static ngx_int_t ngx_http_mcp_jwk_parse(ngx_conf_t *cf, ngx_str_t *file,
    ngx_uint_t n, json_t *jwk, ngx_array_t *keys);
static EVP_PKEY *ngx_http_mcp_jwk_rsa(ngx_conf_t *cf, ngx_str_t *file,
    ngx_uint_t n, json_t *jwk);
static EVP_PKEY *ngx_http_mcp_jwk_ec(ngx_conf_t *cf, ngx_str_t *file,
    ngx_uint_t n, json_t *jwk);
static EVP_PKEY *ngx_http_mcp_jwk_okp(ngx_conf_t *cf, ngx_str_t *file,
    ngx_uint_t n, json_t *jwk);
static ngx_int_t ngx_http_mcp_jwk_try(ngx_conf_t *cf, ngx_str_t *file,
    ngx_uint_t n, json_t *jwk, ngx_array_t *keys);
static BIGNUM *ngx_http_mcp_jwk_bignum(ngx_conf_t *cf, ngx_str_t *file,
    ngx_uint_t n, json_t *jwk, const char *member, u_char *buf, size_t size);
static EVP_PKEY *ngx_http_mcp_jwk_fromdata(const char *type,
    OSSL_PARAM_BLD *bld);
static ngx_int_t ngx_http_mcp_jwk_pem(ngx_conf_t *cf, ngx_str_t *file,
    ngx_str_t *data, ngx_array_t *keys);
static ngx_int_t ngx_http_mcp_jwk_hmac(ngx_conf_t *cf, ngx_str_t *file,
    ngx_str_t *data, ngx_array_t *keys);
static ngx_int_t ngx_http_mcp_jwk_usable(ngx_conf_t *cf, ngx_str_t *file,
    ngx_uint_t n, const char *kid, EVP_PKEY *pkey);
static ngx_http_mcp_jwt_key_t *ngx_http_mcp_jwk_key(ngx_conf_t *cf,
    ngx_str_t *file, EVP_PKEY *pkey, const char *kid, int alg);
static ngx_int_t ngx_http_mcp_jwk_export(ngx_conf_t *cf, ngx_str_t *file,
    ngx_http_mcp_jwt_key_t *key);
static void ngx_http_mcp_jwk_cleanup_pkey(void *data);
static void ngx_http_mcp_jwk_cleanup_secret(void *data);


typedef struct {
    const char                 *crv;        /* JWK "crv" */
    const char                 *group;      /* OpenSSL's name */
    size_t                      size;       /* bytes of a coordinate */
    int                         alg;
} ngx_http_mcp_jwk_curve_t;


static const ngx_http_mcp_jwk_curve_t  ngx_http_mcp_jwk_curves[] = {
    { "P-256", "prime256v1", 32, NGX_HTTP_MCP_JWT_ES256 },
    { "P-384", "secp384r1",  48, NGX_HTTP_MCP_JWT_ES384 },
    { "P-521", "secp521r1",  66, NGX_HTTP_MCP_JWT_ES512 },
    { NULL, NULL, 0, 0 }
};


ngx_int_t
ngx_http_mcp_jwk_load(ngx_conf_t *cf, ngx_str_t *file, ngx_uint_t type,
    ngx_array_t *keys)
{
    ngx_int_t   rc;
    ngx_str_t   data;
    ngx_uint_t  world_readable;

    if (ngx_http_mcp_jwk_read(cf, file, &data, &world_readable) != NGX_OK) {
        return NGX_ERROR;
    }

    switch (type) {

    case NGX_HTTP_MCP_JWK_HMAC:
        if (world_readable) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "the HMAC secret \"%V\" is readable by "
                               "every user", file);
        }

        rc = ngx_http_mcp_jwk_hmac(cf, file, &data, keys);
        break;

    case NGX_HTTP_MCP_JWK_PEM:
        rc = ngx_http_mcp_jwk_pem(cf, file, &data, keys);
        break;

    default: /* NGX_HTTP_MCP_JWK_JWKS */
        rc = ngx_http_mcp_jwk_set(cf, file, &data, keys);
        break;
    }

    /* the temporary pool lives on until the configuration is read */

    ngx_explicit_memzero(data.data, data.len);

    return rc;
}


static ngx_int_t
ngx_http_mcp_jwk_read(ngx_conf_t *cf, ngx_str_t *file, ngx_str_t *data,
    ngx_uint_t *world_readable)
{
    off_t            size;
    ssize_t          n;
    ngx_int_t        rc;
    ngx_file_t       f;
    ngx_file_info_t  fi;

    ngx_memzero(&f, sizeof(ngx_file_t));

    f.name = *file;
    f.log = cf->log;

    f.fd = ngx_open_file(file->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (f.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%s\" failed", file->data);
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    if (ngx_fd_info(f.fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%s\" failed", file->data);
        goto done;
    }

    size = ngx_file_size(&fi);

    if (size == 0 || size > NGX_HTTP_MCP_JWK_MAX_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "key file \"%V\" is %s", file,
                           size ? "larger than 1m" : "empty");
        goto done;
    }

    data->data = ngx_pnalloc(cf->temp_pool, (size_t) size + 1);
    if (data->data == NULL) {
        goto done;
    }

    n = ngx_read_file(&f, data->data, (size_t) size, 0);

    if (n == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_read_file_n " \"%s\" failed", file->data);
        goto done;
    }

    if (n != size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           ngx_read_file_n " \"%s\" returned only "
                           "%z bytes instead of %O", file->data, n, size);
        goto done;
    }

    data->len = (size_t) n;
    data->data[n] = '\0';

    *world_readable = (ngx_file_access(&fi) & 0004) ? 1 : 0;

    rc = NGX_OK;

done:

    if (ngx_close_file(f.fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, cf->log, ngx_errno,
                      ngx_close_file_n " \"%s\" failed", file->data);
    }

    return rc;
}


/* a JWK Set: {"keys": [...]} */

static ngx_int_t
ngx_http_mcp_jwk_set(ngx_conf_t *cf, ngx_str_t *file, ngx_str_t *data,
    ngx_array_t *keys)
{
    size_t        i;
    json_t       *root, *list, *jwk;
    ngx_int_t     rc;
    ngx_uint_t    before;
    json_error_t  err;

    root = ngx_http_mcp_json_loadb((char *) data->data, data->len, &err);
    if (root == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid JSON in key file \"%V\", line %d: %s",
                           file, err.line, err.text);
        return NGX_ERROR;
    }

    list = json_object_get(root, "keys");

    if (!json_is_array(list)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "key file \"%V\" is not a JWK Set: expected "
                           "{\"keys\": [...]}", file);
        json_decref(root);
        return NGX_ERROR;
    }

    before = keys->nelts;

    json_array_foreach(list, i, jwk) {
        rc = ngx_http_mcp_jwk_try(cf, file, i, jwk, keys);

        if (rc == NGX_ERROR) {
            json_decref(root);
            return NGX_ERROR;
        }
    }

    json_decref(root);

    if (keys->nelts == before) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no usable RSA or EC signing key in the JWK Set "
                           "\"%V\"", file);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * One JWK: NGX_OK (added), NGX_DECLINED (not a signature key this module
 * verifies with: skipped, and said so), NGX_ERROR.
 */

static ngx_int_t
ngx_http_mcp_jwk_parse(ngx_conf_t *cf, ngx_str_t *file, ngx_uint_t n,
    json_t *jwk, ngx_array_t *keys)
{
    int                       alg;
    size_t                    i;
    json_t                   *v, *e;
    EVP_PKEY                 *pkey;
    ngx_uint_t                verify;
    const char               *kty, *kid;
    ngx_http_mcp_jwt_key_t   *key, **k;

    if (!json_is_object(jwk)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "key #%ui in \"%V\" is not a JSON object",
                           n, file);
        return NGX_ERROR;
    }

    v = json_object_get(jwk, "kid");

    if (v != NULL && !json_is_string(v)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "key #%ui in \"%V\" has a \"kid\" that is not "
                           "a string", n, file);
        return NGX_ERROR;
    }

    kid = (v && json_string_length(v)) ? json_string_value(v) : NULL;

    v = json_object_get(jwk, "kty");

    if (!json_is_string(v)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "key #%ui in \"%V\" has no \"kty\"", n, file);
        return NGX_ERROR;
    }

    kty = json_string_value(v);

    /* RFC 7517, 4.2 and 4.3: keys meant for something else are left out */

    v = json_object_get(jwk, "use");

    if (v != NULL && !(json_is_string(v)
                       && ngx_strcmp(json_string_value(v), "sig") == 0))
    {
        ngx_conf_log_error(NGX_LOG_NOTICE, cf, 0,
                           "key #%ui in \"%V\" skipped: its \"use\" is "
                           "not \"sig\"", n, file);
        return NGX_DECLINED;
    }

    v = json_object_get(jwk, "key_ops");

    if (v != NULL) {
        verify = 0;

        json_array_foreach(v, i, e) {
            if (json_is_string(e)
                && ngx_strcmp(json_string_value(e), "verify") == 0)
            {
                verify = 1;
            }
        }

        if (!verify) {
            ngx_conf_log_error(NGX_LOG_NOTICE, cf, 0,
                               "key #%ui in \"%V\" skipped: its \"key_ops\" "
                               "lack \"verify\"", n, file);
            return NGX_DECLINED;
        }
    }

    alg = -1;
    v = json_object_get(jwk, "alg");

    if (v != NULL) {
        if (!json_is_string(v)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "key #%ui in \"%V\" has an \"alg\" that is "
                               "not a string", n, file);
            return NGX_ERROR;
        }

        alg = ngx_http_mcp_jwt_alg_by_name(
                             (const u_char *) json_string_value(v),
                             json_string_length(v));
        if (alg == -1) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "key #%ui in \"%V\" skipped: algorithm "
                               "\"%s\" is not supported", n, file,
                               json_string_value(v));
            return NGX_DECLINED;
        }
    }

    if (ngx_strcmp(kty, "RSA") == 0) {
        pkey = ngx_http_mcp_jwk_rsa(cf, file, n, jwk);

    } else if (ngx_strcmp(kty, "EC") == 0) {
        pkey = ngx_http_mcp_jwk_ec(cf, file, n, jwk);

    } else if (ngx_strcmp(kty, "OKP") == 0) {
        pkey = ngx_http_mcp_jwk_okp(cf, file, n, jwk);

    } else if (ngx_strcmp(kty, "oct") == 0) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "key #%ui in \"%V\" skipped: HMAC secrets are "
                           "read from \"type=hmac\" files only", n, file);
        return NGX_DECLINED;

    } else {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "key #%ui in \"%V\" skipped: key type \"%s\" is "
                           "not supported", n, file, kty);
        return NGX_DECLINED;
    }

    if (pkey == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_mcp_jwk_usable(cf, file, n, kid, pkey) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (json_object_get(jwk, "d") != NULL) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "key #%ui in \"%V\" holds private key material; "
                           "only its public part is used: publish the "
                           "public key alone", n, file);
    }

    key = ngx_http_mcp_jwk_key(cf, file, pkey, kid, alg);
    if (key == NULL) {
        return NGX_ERROR;
    }

    k = ngx_array_push(keys);
    if (k == NULL) {
        return NGX_ERROR;
    }

    *k = key;

    return NGX_OK;
}


static EVP_PKEY *
ngx_http_mcp_jwk_rsa(ngx_conf_t *cf, ngx_str_t *file, ngx_uint_t n,
    json_t *jwk)
{
    u_char          *buf;
    BIGNUM          *bn_n, *bn_e;
    EVP_PKEY        *pkey;
    OSSL_PARAM_BLD  *bld;

    /* room for a 16384-bit modulus */

    buf = ngx_pnalloc(cf->temp_pool, 2048);
    if (buf == NULL) {
        return NULL;
    }

    bn_n = ngx_http_mcp_jwk_bignum(cf, file, n, jwk, "n", buf, 2048);
    bn_e = ngx_http_mcp_jwk_bignum(cf, file, n, jwk, "e", buf, 2048);

    pkey = NULL;
    bld = NULL;

    if (bn_n == NULL || bn_e == NULL) {
        goto done;
    }

    bld = OSSL_PARAM_BLD_new();

    if (bld == NULL
        || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) != 1
        || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) != 1)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "OSSL_PARAM_BLD_push_BN() failed");
        goto done;
    }

    pkey = ngx_http_mcp_jwk_fromdata("RSA", bld);

    if (pkey == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "key #%ui in \"%V\" is not a valid RSA public "
                           "key", n, file);
    }

done:

    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    ERR_clear_error();

    return pkey;
}


static EVP_PKEY *
ngx_http_mcp_jwk_ec(ngx_conf_t *cf, ngx_str_t *file, ngx_uint_t n,
    json_t *jwk)
{
    u_char                          *pub;
    json_t                          *v;
    size_t                           len;
    EVP_PKEY                        *pkey;
    ngx_uint_t                       i;
    EVP_PKEY_CTX                    *ctx;
    OSSL_PARAM_BLD                  *bld;
    const ngx_http_mcp_jwk_curve_t  *c;

    static const char  *coordinates[] = { "x", "y" };

    v = json_object_get(jwk, "crv");

    for (c = ngx_http_mcp_jwk_curves; c->crv; c++) {
        if (json_is_string(v) && ngx_strcmp(json_string_value(v), c->crv) == 0)
        {
            break;
        }
    }

    if (c->crv == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "key #%ui in \"%V\": \"crv\" must be \"P-256\", "
                           "\"P-384\" or \"P-521\"", n, file);
        return NULL;
    }

    /*
     * the uncompressed point: 0x04 || x || y, each coordinate exactly of
     * the curve's size (RFC 7518, 6.2.1.2), so exactly that many
     * base64url characters
     */

    len = 1 + 2 * c->size;

    pub = ngx_pnalloc(cf->temp_pool, len);
    if (pub == NULL) {
        return NULL;
    }

    pub[0] = 0x04;

    for (i = 0; i < 2; i++) {
        v = json_object_get(jwk, coordinates[i]);

        if (!json_is_string(v)
            || json_string_length(v) != (4 * c->size + 2) / 3
            || ngx_http_mcp_jwt_base64url_decode(pub + 1 + i * c->size,
                                    (const u_char *) json_string_value(v),
                                    json_string_length(v))
               != (long) c->size)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "key #%ui in \"%V\": \"%s\" must be the "
                               "base64url of %uz bytes", n, file,
                               coordinates[i], c->size);
            return NULL;
        }
    }

    pkey = NULL;
    bld = OSSL_PARAM_BLD_new();

    if (bld != NULL
        && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                           c->group, 0)
           == 1
        && OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
                                            pub, len)
           == 1)
    {
        pkey = ngx_http_mcp_jwk_fromdata("EC", bld);
    }

    OSSL_PARAM_BLD_free(bld);

    /* the point must be on the curve (invalid curve attacks) */

    if (pkey != NULL) {
        ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);

        if (ctx == NULL || EVP_PKEY_public_check(ctx) != 1) {
            EVP_PKEY_free(pkey);
            pkey = NULL;
        }

        EVP_PKEY_CTX_free(ctx);
    }

    ERR_clear_error();

    if (pkey == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "key #%ui in \"%V\" is not a valid %s public key",
                           n, file, c->crv);
    }

    return pkey;
}


static BIGNUM *
ngx_http_mcp_jwk_bignum(ngx_conf_t *cf, ngx_str_t *file, ngx_uint_t n,
    json_t *jwk, const char *member, u_char *buf, size_t size)
{
    long     decoded;
    json_t  *v;
    BIGNUM  *bn;

    v = json_object_get(jwk, member);

    if (!json_is_string(v) || json_string_length(v) / 4 * 3 + 3 > size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "key #%ui in \"%V\" has no usable \"%s\"",
                           n, file, member);
        return NULL;
    }

    decoded = ngx_http_mcp_jwt_base64url_decode(buf,
                                  (const u_char *) json_string_value(v),
                                  json_string_length(v));
    if (decoded <= 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "key #%ui in \"%V\": \"%s\" is not base64url",
                           n, file, member);
        return NULL;
    }

    bn = BN_bin2bn(buf, (int) decoded, NULL);
    if (bn == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "BN_bin2bn() failed");
        ERR_clear_error();
    }

    return bn;
}


static EVP_PKEY *
ngx_http_mcp_jwk_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY      *pkey;
    OSSL_PARAM    *params;
    EVP_PKEY_CTX  *ctx;

    pkey = NULL;
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);

    if (params == NULL || ctx == NULL
        || EVP_PKEY_fromdata_init(ctx) != 1
        || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
    {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }

    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);

    return pkey;
}


/*
 * PEM: "PUBLIC KEY" (SubjectPublicKeyInfo), "RSA PUBLIC KEY" (PKCS #1) or
 * "CERTIFICATE" (its key only: the certificate is not validated), one or
 * more.  A private key is refused: the gateway has no use for it.
 */

static ngx_int_t
ngx_http_mcp_jwk_pem(ngx_conf_t *cf, ngx_str_t *file, ngx_str_t *data,
    ngx_array_t *keys)
{
    BIO                      *bio;
    long                      len;
    X509                     *x509;
    char                     *name, *header;
    EVP_PKEY                 *pkey;
    ngx_int_t                 rc;
    ngx_uint_t                n, before;
    unsigned long             err;
    unsigned char            *der;
    const unsigned char      *p;
    ngx_http_mcp_jwt_key_t   *key, **k;

    bio = BIO_new_mem_buf(data->data, (int) data->len);
    if (bio == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "BIO_new_mem_buf() failed");
        ERR_clear_error();
        return NGX_ERROR;
    }

    rc = NGX_ERROR;
    before = keys->nelts;

    for (n = 0; /* void */; n++) {

        if (PEM_read_bio(bio, &name, &header, &der, &len) != 1) {
            err = ERR_peek_last_error();

            if (n > 0 && ERR_GET_LIB(err) == ERR_LIB_PEM
                && ERR_GET_REASON(err) == PEM_R_NO_START_LINE)
            {
                rc = NGX_OK;            /* the end */

            } else {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "%s in \"%V\"",
                                   n ? "invalid PEM block"
                                     : "no PEM public key or certificate",
                                   file);
            }

            break;
        }

        p = der;
        pkey = NULL;

        if (ngx_strcmp(name, "PUBLIC KEY") == 0) {
            pkey = d2i_PUBKEY(NULL, &p, len);

        } else if (ngx_strcmp(name, "RSA PUBLIC KEY") == 0) {
            pkey = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, len);

        } else if (ngx_strcmp(name, "CERTIFICATE") == 0) {
            x509 = d2i_X509(NULL, &p, len);
            if (x509) {
                pkey = X509_get_pubkey(x509);
                X509_free(x509);
            }

        } else if (ngx_strstr(name, "PRIVATE KEY") != NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" holds a private key: give the public "
                               "key only (openssl pkey -pubout)", file);
            OPENSSL_free(name);
            OPENSSL_free(header);
            OPENSSL_clear_free(der, len);
            break;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" holds a PEM \"%s\", not a public key "
                               "or a certificate", file, name);
            OPENSSL_free(name);
            OPENSSL_free(header);
            OPENSSL_free(der);
            break;
        }

        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(der);

        if (pkey == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid public key #%ui in \"%V\"", n, file);
            break;
        }

        if (ngx_http_mcp_jwk_usable(cf, file, n, NULL, pkey) != NGX_OK) {
            continue;
        }

        key = ngx_http_mcp_jwk_key(cf, file, pkey, NULL, -1);
        if (key == NULL) {
            break;
        }

        k = ngx_array_push(keys);
        if (k == NULL) {
            break;
        }

        *k = key;
    }

    BIO_free(bio);
    ERR_clear_error();

    if (rc == NGX_OK && keys->nelts == before) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no usable public key in \"%V\"", file);
        return NGX_ERROR;
    }

    return rc;
}


/*
 * The whole file is the secret, less trailing white space (a newline
 * after "openssl rand -hex 32" is not part of it).  RFC 7518, 3.2: at
 * least as long as the hash; HS384 and HS512 are allowed only to secrets
 * long enough for them.
 */

static ngx_int_t
ngx_http_mcp_jwk_hmac(ngx_conf_t *cf, ngx_str_t *file, ngx_str_t *data,
    ngx_array_t *keys)
{
    u_char                  *secret;
    size_t                   len;
    ngx_pool_cleanup_t      *cln;
    ngx_http_mcp_jwt_key_t  *key, **k;

    len = data->len;

    while (len && (data->data[len - 1] == '\n' || data->data[len - 1] == '\r'
                   || data->data[len - 1] == ' '
                   || data->data[len - 1] == '\t'))
    {
        len--;
    }

    /*
     * a public key read as an HMAC secret is the algorithm confusion
     * attack: whoever has the public key could sign
     */

    if (ngx_strlcasestrn(data->data, data->data + len,
                         (u_char *) "-----begin", 10 - 1)
        != NULL
        || (len && data->data[0] == '{'))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" holds a PEM block or JSON, not an HMAC "
                           "secret: a public key is read with \"type=pem\" "
                           "or \"type=jwks\"", file);
        return NGX_ERROR;
    }

    if (len < NGX_HTTP_MCP_JWK_MIN_HMAC) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the HMAC secret in \"%V\" is %uz bytes long, "
                           "at least %d are needed", file, len,
                           NGX_HTTP_MCP_JWK_MIN_HMAC);
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, sizeof(ngx_str_t));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    secret = ngx_pnalloc(cf->pool, len);
    if (secret == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(secret, data->data, len);

    ((ngx_str_t *) cln->data)->data = secret;
    ((ngx_str_t *) cln->data)->len = len;
    cln->handler = ngx_http_mcp_jwk_cleanup_secret;

    key = ngx_pcalloc(cf->pool, sizeof(ngx_http_mcp_jwt_key_t));
    if (key == NULL) {
        return NGX_ERROR;
    }

    key->type = NGX_HTTP_MCP_JWT_KEY_HMAC;
    key->secret = secret;
    key->secret_len = len;
    key->algs = NGX_HTTP_MCP_JWT_ALG_BIT(NGX_HTTP_MCP_JWT_HS256);

    if (len >= 48) {
        key->algs |= NGX_HTTP_MCP_JWT_ALG_BIT(NGX_HTTP_MCP_JWT_HS384);
    }

    if (len >= 64) {
        key->algs |= NGX_HTTP_MCP_JWT_ALG_BIT(NGX_HTTP_MCP_JWT_HS512);
    }

    k = ngx_array_push(keys);
    if (k == NULL) {
        return NGX_ERROR;
    }

    *k = key;

    return NGX_OK;
}


/*
 * NGX_OK if the key may verify, or NGX_DECLINED: it is freed and skipped,
 * with a warning that names it (ngx_http_mcp_jwk_check.c has the rules).
 * Skipped, not refused: a JWK Set an identity provider publishes may hold
 * a key that cannot be used among good ones; a file with no usable key
 * left is refused by its reader.
 */

static ngx_int_t
ngx_http_mcp_jwk_usable(ngx_conf_t *cf, ngx_str_t *file, ngx_uint_t n,
    const char *kid, EVP_PKEY *pkey)
{
    char  why[128];

    if (!EVP_PKEY_is_a(pkey, "RSA")
        || ngx_http_mcp_jwk_check_rsa(pkey, why, sizeof(why)) == 0)
    {
        return NGX_OK;
    }

    if (kid) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "key \"%s\" (#%ui) in \"%V\" skipped: %s",
                           kid, n, file, why);

    } else {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "key #%ui in \"%V\" skipped: %s", n, file, why);
    }

    EVP_PKEY_free(pkey);

    return NGX_DECLINED;
}


/*
 * Makes the key of an EVP_PKEY (which it then owns): its type fixes the
 * algorithms it verifies; a JWK's "alg" narrows them to one.
 */

static ngx_http_mcp_jwt_key_t *
ngx_http_mcp_jwk_key(ngx_conf_t *cf, ngx_str_t *file, EVP_PKEY *pkey,
    const char *kid, int alg)
{
    int                              bits;
    u_char                          *p;
    size_t                           len;
    ngx_pool_cleanup_t              *cln;
    ngx_http_mcp_jwt_key_t          *key;
    const ngx_http_mcp_jwk_curve_t  *c;
    char                             group[64];

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        EVP_PKEY_free(pkey);
        return NULL;
    }

    cln->handler = ngx_http_mcp_jwk_cleanup_pkey;
    cln->data = pkey;

    key = ngx_pcalloc(cf->pool, sizeof(ngx_http_mcp_jwt_key_t));
    if (key == NULL) {
        return NULL;
    }

    key->pkey = pkey;

    if (EVP_PKEY_is_a(pkey, "RSA")) {
        bits = EVP_PKEY_get_bits(pkey);

        if (bits < NGX_HTTP_MCP_JWK_MIN_RSA) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "RSA key of %d bits in \"%V\": at least %d "
                               "are needed", bits, file,
                               NGX_HTTP_MCP_JWK_MIN_RSA);
            return NULL;
        }

        key->type = NGX_HTTP_MCP_JWT_KEY_RSA;
        key->algs = NGX_HTTP_MCP_JWT_ALGS_RSA | NGX_HTTP_MCP_JWT_ALGS_PSS;

    } else if (EVP_PKEY_is_a(pkey, "EC")) {

        if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
                                           group, sizeof(group), &len)
            != 1)
        {
            group[0] = '\0';
        }

        for (c = ngx_http_mcp_jwk_curves; c->crv; c++) {
            if (ngx_strcmp(group, c->group) == 0) {
                break;
            }
        }

        if (c->crv == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "EC key on curve \"%s\" in \"%V\": only "
                               "P-256, P-384 and P-521 are supported",
                               group, file);
            ERR_clear_error();
            return NULL;
        }

        key->type = NGX_HTTP_MCP_JWT_KEY_EC;
        key->algs = NGX_HTTP_MCP_JWT_ALG_BIT(c->alg);
        key->ec_size = c->size;

    } else if (EVP_PKEY_is_a(pkey, "ED25519")) {
        key->type = NGX_HTTP_MCP_JWT_KEY_OKP;
        key->algs = NGX_HTTP_MCP_JWT_ALG_BIT(NGX_HTTP_MCP_JWT_EDDSA);

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s key in \"%V\": only RSA, EC and Ed25519 keys "
                           "are supported", EVP_PKEY_get0_type_name(pkey),
                           file);
        return NULL;
    }

    if (alg != -1) {
        if (!(key->algs & NGX_HTTP_MCP_JWT_ALG_BIT(alg))) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "key \"%s\" in \"%V\": its \"alg\" %s does not "
                               "fit the key", kid ? kid : "", file,
                               ngx_http_mcp_jwt_alg_name(alg));
            return NULL;
        }

        key->algs = NGX_HTTP_MCP_JWT_ALG_BIT(alg);
    }

    if (ngx_http_mcp_jwk_export(cf, file, key) != NGX_OK) {
        return NULL;
    }

    if (kid) {
        key->kid_len = ngx_strlen(kid);

        p = ngx_pnalloc(cf->pool, key->kid_len + 1);
        if (p == NULL) {
            return NULL;
        }

        ngx_memcpy(p, kid, key->kid_len + 1);
        key->kid = (const char *) p;
    }

    return key;
}


/*
 * The PEM (SubjectPublicKeyInfo) of the key, NUL-terminated, for libjwt's
 * jwt_decode(), which reads it with PEM_read_bio_PUBKEY() for every token:
 * it must read back as the very key checked here (size, curve, point).
 * The EVP_PKEY stays: it verifies the tokens libjwt 1.10 refuses (a "typ"
 * other than "JWT").
 */

static ngx_int_t
ngx_http_mcp_jwk_export(ngx_conf_t *cf, ngx_str_t *file,
    ngx_http_mcp_jwt_key_t *key)
{
    BIO        *bio;
    char       *data;
    long        len;
    u_char     *pem;
    EVP_PKEY   *back;
    ngx_int_t   rc;

    rc = NGX_ERROR;
    pem = NULL;
    back = NULL;

    bio = BIO_new(BIO_s_mem());

    if (bio == NULL || PEM_write_bio_PUBKEY(bio, key->pkey) != 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "PEM_write_bio_PUBKEY() failed for a key in "
                           "\"%V\"", file);
        goto done;
    }

    len = BIO_get_mem_data(bio, &data);

    if (len > 0 && len < 65536) {
        pem = ngx_pnalloc(cf->pool, (size_t) len + 1);
        if (pem == NULL) {
            goto done;
        }

        ngx_memcpy(pem, data, (size_t) len);
        pem[len] = '\0';

        BIO_free(bio);

        bio = BIO_new_mem_buf(pem, (int) len);
        if (bio != NULL) {
            back = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
        }
    }

    if (back == NULL || EVP_PKEY_eq(back, key->pkey) != 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the PEM of a key in \"%V\" does not read back "
                           "as the key", file);
        goto done;
    }

    key->pem = pem;
    key->pem_len = (size_t) len;

    rc = NGX_OK;

done:

    EVP_PKEY_free(back);
    BIO_free(bio);
    ERR_clear_error();

    return rc;
}


/* an Ed25519 JWK (RFC 8037): {"kty": "OKP", "crv": "Ed25519", "x": ...} */

static EVP_PKEY *
ngx_http_mcp_jwk_okp(ngx_conf_t *cf, ngx_str_t *file, ngx_uint_t n,
    json_t *jwk)
{
    json_t    *v;
    EVP_PKEY  *pkey;
    u_char     raw[32];

    v = json_object_get(jwk, "crv");

    if (!json_is_string(v) || ngx_strcmp(json_string_value(v), "Ed25519") != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "key #%ui in \"%V\": \"crv\" must be \"Ed25519\"",
                           n, file);
        return NULL;
    }

    v = json_object_get(jwk, "x");

    if (!json_is_string(v) || json_string_length(v) != 43
        || ngx_http_mcp_jwt_base64url_decode(raw,
                                    (const u_char *) json_string_value(v), 43)
           != 32)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "key #%ui in \"%V\": \"x\" must be the base64url "
                           "of 32 bytes", n, file);
        return NULL;
    }

    pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, 32);

    if (pkey == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "key #%ui in \"%V\" is not a valid Ed25519 "
                           "public key", n, file);
        ERR_clear_error();
    }

    return pkey;
}


/*
 * One JWK of a set: a key this module cannot use (too small, not on its
 * curve, a certificate without its "n", an unknown curve...) is skipped
 * with a warning naming its "kid", not fatal to the whole set: a
 * provider's set that gains such a key must not cost the keys that
 * verify its tokens.  What ngx_http_mcp_jwk_parse() says of it is the
 * reason (ngx_http_mcp_jwk_capture.c).
 */

static ngx_int_t
ngx_http_mcp_jwk_try(ngx_conf_t *cf, ngx_str_t *file, ngx_uint_t n,
    json_t *jwk, ngx_array_t *keys)
{
    ngx_int_t                    rc;
    ngx_uint_t                   before;
    ngx_http_mcp_jwk_capture_t   cap;

    before = keys->nelts;

    ngx_http_mcp_jwk_capture_start(&cap, cf, 0);

    rc = ngx_http_mcp_jwk_parse(cf, file, n, jwk, keys);

    ngx_http_mcp_jwk_capture_stop(&cap, cf);

    if (rc != NGX_ERROR) {
        return rc;
    }

    keys->nelts = before;

    ngx_http_mcp_jwk_capture_skip(&cap, cf, file, n,
                                  json_object_get(jwk, "kid"));

    return NGX_DECLINED;
}


/* a JWK Set's text, from a URL (ngx_http_mcp_jwks_fetch.c) */

ngx_int_t
ngx_http_mcp_jwk_parse_set(ngx_conf_t *cf, ngx_str_t *name, ngx_str_t *data,
    ngx_array_t *keys)
{
    return ngx_http_mcp_jwk_set(cf, name, data, keys);
}


static void
ngx_http_mcp_jwk_cleanup_pkey(void *data)
{
    EVP_PKEY_free(data);
}


static void
ngx_http_mcp_jwk_cleanup_secret(void *data)
{
    ngx_str_t  *secret = data;

    ngx_explicit_memzero(secret->data, secret->len);
}
