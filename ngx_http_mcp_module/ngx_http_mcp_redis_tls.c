
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * TLS to Redis with nginx's OpenSSL layer, as proxy_ssl_* does it: the
 * context is made when the configuration is loaded (certificates and keys
 * are read by the master, like ssl_password_file); a connection gets
 * ngx_ssl_create_connection(), SNI, a session to resume, then
 * ngx_ssl_handshake() on nginx's events; once it is done the peer's
 * certificate is checked (the chain, then the name) before a byte of
 * Redis's protocol is sent.  Reads and writes then go through c->recv and
 * c->send, nginx's own SSL functions.
 */


#include "ngx_http_mcp_redis.h"


#if (NGX_SSL)

ngx_conf_bitmask_t  ngx_http_mcp_redis_ssl_protocols[] = {
    { ngx_string("SSLv2"), NGX_SSL_SSLv2 },
    { ngx_string("SSLv3"), NGX_SSL_SSLv3 },
    { ngx_string("TLSv1"), NGX_SSL_TLSv1 },
    { ngx_string("TLSv1.1"), NGX_SSL_TLSv1_1 },
    { ngx_string("TLSv1.2"), NGX_SSL_TLSv1_2 },
    { ngx_string("TLSv1.3"), NGX_SSL_TLSv1_3 },
    { ngx_null_string, 0 }
};


static void ngx_http_mcp_redis_tls_handshake_handler(ngx_connection_t *c);
static ngx_int_t ngx_http_mcp_redis_tls_handshaked(
    ngx_http_mcp_redis_node_t *node);
static ngx_int_t ngx_http_mcp_redis_tls_check_name(ngx_connection_t *c,
    ngx_str_t *name);
static void ngx_http_mcp_redis_tls_save_session(ngx_connection_t *c);
static ngx_str_t *ngx_http_mcp_redis_tls_name(ngx_http_mcp_redis_node_t *node);


/* at configuration time, in the master: like ngx_http_proxy_set_ssl() */

ngx_int_t
ngx_http_mcp_redis_tls_conf(ngx_conf_t *cf, ngx_http_mcp_redis_conf_t *conf)
{
    ngx_pool_cleanup_t  *cln;

    conf->ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
    if (conf->ssl == NULL) {
        return NGX_ERROR;
    }

    conf->ssl->log = cf->log;

    if (ngx_ssl_create(conf->ssl, conf->ssl_protocols, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(conf->ssl);
        return NGX_ERROR;
    }

    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = conf->ssl;

    /*
     * a write that would block is tried again later with what the output
     * buffer then holds, which may have moved (it grows, or is compacted)
     */

    SSL_CTX_set_mode(conf->ssl->ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

    if (ngx_ssl_ciphers(cf, conf->ssl, &conf->ssl_ciphers, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    if (conf->ssl_certificate.len) {

        if (conf->ssl_certificate_key.len == 0) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "no \"mcp_cache_redis_ssl_certificate_key\" is "
                          "defined for certificate \"%V\"",
                          &conf->ssl_certificate);
            return NGX_ERROR;
        }

        if (ngx_ssl_certificate(cf, conf->ssl, &conf->ssl_certificate,
                                &conf->ssl_certificate_key,
                                conf->ssl_passwords)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (conf->ssl_verify) {

        if (conf->ssl_trusted_certificate.len == 0) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"mcp_cache_redis ... tls\" verifies the server's "
                          "certificate: it needs "
                          "\"mcp_cache_redis_ssl_trusted_certificate\" "
                          "(or \"mcp_cache_redis_ssl_verify off\")");
            return NGX_ERROR;
        }

        if (ngx_ssl_trusted_certificate(cf, conf->ssl,
                                        &conf->ssl_trusted_certificate,
                                        conf->ssl_verify_depth)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ngx_ssl_crl(cf, conf->ssl, &conf->ssl_crl) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (ngx_ssl_client_session_cache(cf, conf->ssl, conf->ssl_session_reuse)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* connected: NGX_OK, secured and checked; NGX_AGAIN, later; NGX_ERROR */

ngx_int_t
ngx_http_mcp_redis_tls_start(ngx_http_mcp_redis_node_t *node)
{
    u_char                     *p;
    ngx_int_t                   rc;
    ngx_str_t                  *name;
    ngx_connection_t           *c;
    ngx_http_mcp_redis_conf_t  *conf;

    c = node->connection;
    conf = node->rds->conf;

    if (ngx_ssl_create_connection(conf->ssl, c, NGX_SSL_CLIENT) != NGX_OK) {
        return NGX_ERROR;
    }

    name = ngx_http_mcp_redis_tls_name(node);

    /* SNI: a name, never an address (RFC 6066) */

    if (conf->ssl_server_name && node->port
        && ngx_inet_addr(name->data, name->len) == INADDR_NONE
        && ngx_strlchr(name->data, name->data + name->len, ':') == NULL)
    {
        if (SSL_set_tlsext_host_name(c->ssl->connection, (char *) name->data)
            == 0)
        {
            p = ngx_snprintf(node->error, NGX_HTTP_MCP_REDIS_ERROR_MAX,
                             "SSL_set_tlsext_host_name(\"%V\") failed",
                             name);
            node->error_len = p - node->error;
            return NGX_ERROR;
        }
    }

    if (conf->ssl_session_reuse) {
        c->ssl->save_session = ngx_http_mcp_redis_tls_save_session;

        if (ngx_ssl_set_session(c, node->ssl_session) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    rc = ngx_ssl_handshake(c);

    if (rc == NGX_AGAIN) {
        c->ssl->handler = ngx_http_mcp_redis_tls_handshake_handler;
        return NGX_AGAIN;
    }

    return ngx_http_mcp_redis_tls_handshaked(node);
}


static void
ngx_http_mcp_redis_tls_handshake_handler(ngx_connection_t *c)
{
    ngx_http_mcp_redis_node_t  *node;

    node = c->data;

    if (ngx_http_mcp_redis_tls_handshaked(node) != NGX_OK) {
        ngx_http_mcp_redis_node_fail(node, NULL, 0);
        return;
    }

    ngx_http_mcp_redis_node_secured(node);
}


/* the handshake is over: whom it was made with, before any command */

static ngx_int_t
ngx_http_mcp_redis_tls_handshaked(ngx_http_mcp_redis_node_t *node)
{
    long                        rc;
    u_char                     *p;
    ngx_str_t                  *name;
    ngx_connection_t           *c;
    ngx_http_mcp_redis_conf_t  *conf;

    c = node->connection;
    conf = node->rds->conf;

    if (!c->ssl->handshaked) {
        /* nginx said why, through the node's log */
        return NGX_ERROR;
    }

    if (conf->ssl_verify) {
        name = ngx_http_mcp_redis_tls_name(node);

        rc = SSL_get_verify_result(c->ssl->connection);

        if (rc != X509_V_OK) {
            p = ngx_snprintf(node->error, NGX_HTTP_MCP_REDIS_ERROR_MAX,
                             "certificate verify error: (%l:%s)",
                             rc, X509_verify_cert_error_string(rc));
            node->error_len = p - node->error;
            return NGX_ERROR;
        }

        if (ngx_http_mcp_redis_tls_check_name(c, name) != NGX_OK) {
            p = ngx_snprintf(node->error, NGX_HTTP_MCP_REDIS_ERROR_MAX,
                             "certificate does not match \"%V\"", name);
            node->error_len = p - node->error;
            return NGX_ERROR;
        }
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, node->rds->log, 0,
                   "mcp redis %V: %s", &node->name,
                   SSL_session_reused(c->ssl->connection)
                   ? "TLS session reused" : "TLS handshake done");

    return NGX_OK;
}


/*
 * ngx_ssl_check_host() compares DNS names only; an address (Redis is often
 * addressed by one) is compared with the certificate's IP addresses
 */

static ngx_int_t
ngx_http_mcp_redis_tls_check_name(ngx_connection_t *c, ngx_str_t *name)
{
    X509       *cert;
    ngx_int_t   rc;

    if (ngx_inet_addr(name->data, name->len) == INADDR_NONE
        && ngx_strlchr(name->data, name->data + name->len, ':') == NULL)
    {
        return ngx_ssl_check_host(c, name);
    }

    cert = SSL_get_peer_certificate(c->ssl->connection);
    if (cert == NULL) {
        return NGX_ERROR;
    }

    /* "name" is null-terminated: the configuration's, or the node's */

    rc = (X509_check_ip_asc(cert, (char *) name->data, 0) == 1)
         ? NGX_OK : NGX_ERROR;

    X509_free(cert);

    return rc;
}


/* the name the certificate must have: mcp_cache_redis_ssl_name, or host */

static ngx_str_t *
ngx_http_mcp_redis_tls_name(ngx_http_mcp_redis_node_t *node)
{
    ngx_http_mcp_redis_conf_t  *conf;

    conf = node->rds->conf;

    return conf->ssl_name.len ? &conf->ssl_name : &node->host;
}


/* a session to resume with the next connection to this node */

static void
ngx_http_mcp_redis_tls_save_session(ngx_connection_t *c)
{
    ngx_ssl_session_t          *session;
    ngx_http_mcp_redis_node_t  *node;

    node = c->data;

    session = ngx_ssl_get_session(c);
    if (session == NULL) {
        return;
    }

    if (node->ssl_session) {
        ngx_ssl_free_session(node->ssl_session);
    }

    node->ssl_session = session;
}


/*
 * Closes a TLS connection: close_notify is sent when the connection is
 * healthy, never waited for.  If even that would block, the connection
 * lives on alone until it is sent (or nginx's 3 s), logging to the
 * worker's log: the node may be gone by then.
 */

void
ngx_http_mcp_redis_tls_close(ngx_connection_t *c, ngx_uint_t failed,
    ngx_log_t *log)
{
    c->ssl->no_wait_shutdown = 1;

    if (failed) {
        c->ssl->no_send_shutdown = 1;
    }

    c->log = log;
    c->read->log = log;
    c->write->log = log;
    c->pool->log = log;

    if (ngx_ssl_shutdown(c) == NGX_AGAIN) {
        c->ssl->handler = ngx_http_mcp_redis_node_close_connection;
        return;
    }

    ngx_http_mcp_redis_node_close_connection(c);
}


void
ngx_http_mcp_redis_tls_forget(ngx_http_mcp_redis_node_t *node)
{
    if (node->ssl_session) {
        ngx_ssl_free_session(node->ssl_session);
        node->ssl_session = NULL;
    }
}


#else /* !NGX_SSL */

ngx_conf_bitmask_t  ngx_http_mcp_redis_ssl_protocols[] = {
    { ngx_null_string, 0 }
};

#endif
