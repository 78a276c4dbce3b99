
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * What the key parsers (ngx_http_mcp_jwk.c) say of a key they refuse, kept
 * instead of logged: the refusal of one JWK becomes the reason it is
 * skipped, in a warning naming its "kid", and the refusal of a JWK Set
 * fetched from a URL becomes the reason the last good keys are kept.  The
 * parsers log through cf->log (ngx_conf_log_error()); while a capture is
 * on, cf->log writes here: errors (emerg to err) are kept, the first one
 * as the reason, and notices and warnings go on to the real log (or
 * nowhere, for a quiet capture: the other workers parsing a set the
 * fetching worker already reported).
 */


#include "ngx_http_mcp_auth.h"


static void ngx_http_mcp_jwk_capture_writer(ngx_log_t *log, ngx_uint_t level,
    u_char *buf, size_t len);


void
ngx_http_mcp_jwk_capture_start(ngx_http_mcp_jwk_capture_t *cap,
    ngx_conf_t *cf, ngx_uint_t quiet)
{
    ngx_http_mcp_jwk_capture_t  *outer;

    cap->orig = cf->log;
    cap->len = 0;
    cap->quiet = quiet;

    /* a capture within a quiet one is quiet too */

    outer = (cf->log->writer == ngx_http_mcp_jwk_capture_writer)
            ? cf->log->wdata : NULL;

    cap->quiet = cap->quiet || (outer && outer->quiet);

    ngx_memzero(&cap->log, sizeof(ngx_log_t));

    cap->log.log_level = NGX_LOG_INFO;
    cap->log.file = cf->log->file;
    cap->log.writer = ngx_http_mcp_jwk_capture_writer;
    cap->log.wdata = cap;

    /* nginx -t would print what is kept on the console */

    cap->use_stderr = ngx_use_stderr;
    ngx_use_stderr = 0;

    cf->log = &cap->log;
}


void
ngx_http_mcp_jwk_capture_stop(ngx_http_mcp_jwk_capture_t *cap,
    ngx_conf_t *cf)
{
    cf->log = cap->orig;
    ngx_use_stderr = cap->use_stderr;

    /* " in nginx.conf:12" is the skip warning's to say */

    if (cf->conf_file && cf->conf_file->file.name.len
        && ngx_strlcasestrn(cap->reason, cap->reason + cap->len,
                            (u_char *) " in ", 4 - 1)
           != NULL)
    {
        while (cap->len > 4
               && ngx_strncmp(cap->reason + cap->len - 4, " in ", 4) != 0)
        {
            cap->len--;
        }

        if (cap->len > 4) {
            cap->len -= 4;
        }
    }
}


/* the warning for a JWK that is skipped: its kid (as text), its reason */

void
ngx_http_mcp_jwk_capture_skip(ngx_http_mcp_jwk_capture_t *cap,
    ngx_conf_t *cf, ngx_str_t *file, ngx_uint_t n, json_t *kid)
{
    u_char       c, name[64];
    size_t       i, len;
    const char  *s;

    if (cap->quiet) {
        return;
    }

    /* a provider's kid: printable, short, no quotes */

    s = json_is_string(kid) ? json_string_value(kid) : "";
    len = ngx_min(ngx_strlen(s), sizeof(name));

    for (i = 0; i < len; i++) {
        c = (u_char) s[i];
        name[i] = (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') ? '?' : c;
    }

    ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                       "key \"%*s\" (#%ui) in \"%V\" skipped: %*s",
                       len, name, n, file, cap->len, cap->reason);
}


static void
ngx_http_mcp_jwk_capture_writer(ngx_log_t *log, ngx_uint_t level, u_char *buf,
    size_t len)
{
    ngx_http_mcp_jwk_capture_t *cap = log->wdata;

    u_char  *p, *last, *msg;

    /* "<time> [<level>] <pid>#<tid>: <message>\n" */

    last = buf + len;

    while (last > buf && (last[-1] == LF || last[-1] == CR)) {
        last--;
    }

    p = ngx_strlchr(buf, last, ']');
    msg = p ? ngx_strlchr(p, last, ':') : NULL;

    if (msg == NULL || msg + 2 > last) {
        return;
    }

    msg += 2;

    if (level > NGX_LOG_ERR) {
        if (!cap->quiet) {
            ngx_log_error(level, cap->orig, 0, "%*s", last - msg, msg);
        }

        return;
    }

    if (cap->len == 0) {
        cap->len = ngx_min((size_t) (last - msg), sizeof(cap->reason));
        ngx_memcpy(cap->reason, msg, cap->len);
    }
}
