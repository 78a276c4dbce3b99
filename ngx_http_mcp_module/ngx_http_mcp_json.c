
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * jansson glue.  A parsed document is tied to the request pool: its
 * reference is dropped when the request ends, so no error path can leak it.
 * Serialized output goes into pool memory, never into malloc()ed strings.
 */


#include "ngx_http_mcp_module.h"
#include "ngx_http_mcp_json.h"


typedef struct {
    ngx_chain_t  *cl;
    u_char       *pos;
    size_t        offset;       /* of pos in the whole text */
    off_t         nul;          /* of the first NUL byte, or -1 */
} ngx_http_mcp_json_reader_t;


static size_t ngx_http_mcp_json_read(void *buffer, size_t buflen, void *data);
static void ngx_http_mcp_json_cleanup(void *data);


/*
 * Parses the in-memory buffers of "in" as one JSON document.  Duplicate
 * keys are rejected; so are invalid UTF-8, integers beyond 64 bits,
 * nesting deeper than jansson's limit, and NUL bytes, which jansson
 * alone would skip between tokens (ngx_http_mcp_json_load.c).  On
 * failure NULL is returned and "error" describes what is wrong (jansson's
 * text, or the NUL's offset: no input data in it).
 */

json_t *
ngx_http_mcp_json_parse(ngx_http_request_t *r, ngx_chain_t *in,
    ngx_str_t *error)
{
    u_char                      *p;
    size_t                       len;
    json_t                      *json;
    json_error_t                 err;
    ngx_pool_cleanup_t          *cln;
    ngx_http_mcp_json_reader_t   reader;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        ngx_str_set(error, "out of memory");
        return NULL;
    }

    if (in && in->next == NULL) {
        json = ngx_http_mcp_json_loadb((char *) in->buf->pos,
                                       in->buf->last - in->buf->pos, &err);

    } else {
        reader.cl = in;
        reader.pos = in ? in->buf->pos : NULL;
        reader.offset = 0;
        reader.nul = -1;

        json = json_load_callback(ngx_http_mcp_json_read, &reader,
                                  JSON_REJECT_DUPLICATES, &err);

        if (reader.nul != -1) {
            json_decref(json);
            json = NULL;
            ngx_http_mcp_json_nul(&err, reader.nul);
        }
    }

    if (json == NULL && err.line == -1) {

        /* a NUL byte: the position is the byte's offset */

        error->data = ngx_pnalloc(r->pool, sizeof(NGX_HTTP_MCP_JSON_NUL)
                                           + sizeof(", at offset ") - 1
                                           + NGX_INT_T_LEN);
        if (error->data == NULL) {
            ngx_str_set(error, "out of memory");
            return NULL;
        }

        error->len = ngx_sprintf(error->data, "%s, at offset %d",
                                 NGX_HTTP_MCP_JSON_NUL, err.position)
                     - error->data;

        return NULL;
    }

    if (json == NULL) {

        /*
         * jansson quotes the input "near" the error: that could be a piece
         * of a secret, so only the reason and the position are kept
         */

        p = (u_char *) ngx_strstr(err.text, " near ");
        len = p ? (size_t) (p - (u_char *) err.text) : ngx_strlen(err.text);

        error->data = ngx_pnalloc(r->pool, len + NGX_INT_T_LEN * 2
                                           + sizeof(" at line  column ") - 1);
        if (error->data == NULL) {
            ngx_str_set(error, "out of memory");
            return NULL;
        }

        p = ngx_cpymem(error->data, err.text, len);
        p = ngx_sprintf(p, " at line %d column %d", err.line, err.column);
        error->len = p - error->data;

        return NULL;
    }

    cln->handler = ngx_http_mcp_json_cleanup;
    cln->data = json;

    return json;
}


static size_t
ngx_http_mcp_json_read(void *buffer, size_t buflen, void *data)
{
    ngx_http_mcp_json_reader_t *reader = data;

    size_t   n;
    u_char  *p;

    while (reader->cl) {
        n = reader->cl->buf->last - reader->pos;

        if (n == 0) {
            reader->cl = reader->cl->next;
            reader->pos = reader->cl ? reader->cl->buf->pos : NULL;
            continue;
        }

        n = ngx_min(n, buflen);

        p = ngx_strlchr(reader->pos, reader->pos + n, '\0');

        if (p != NULL) {
            /* jansson would skip it: the parse stops here (a read error) */
            reader->nul = reader->offset + (p - reader->pos);
            return (size_t) -1;
        }

        ngx_memcpy(buffer, reader->pos, n);
        reader->pos += n;
        reader->offset += n;

        return n;
    }

    return 0;
}


/* ties a new reference to the request: dropped when the request ends */

ngx_int_t
ngx_http_mcp_json_track(ngx_http_request_t *r, json_t *json)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        json_decref(json);
        return NGX_ERROR;
    }

    cln->handler = ngx_http_mcp_json_cleanup;
    cln->data = json;

    return NGX_OK;
}


/*
 * drops a reference tied to the request before the request ends (a large
 * answer's tree, once its text is written); NULL is nothing
 */

void
ngx_http_mcp_json_release(ngx_http_request_t *r, json_t *json)
{
    ngx_pool_cleanup_t  *cln;

    if (json == NULL) {
        return;
    }

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_mcp_json_cleanup && cln->data == json) {
            cln->data = NULL;
            json_decref(json);
            return;
        }
    }
}


static void
ngx_http_mcp_json_cleanup(void *data)
{
    json_decref(data);
}


/*
 * Serializes "json" compactly into a new pool buffer of the exact size:
 * what json_dumpb(JSON_COMPACT) would write (ngx_http_mcp_json_dump.c).
 */

ngx_int_t
ngx_http_mcp_json_dump(ngx_http_request_t *r, json_t *json, ngx_chain_t **out)
{
    size_t        size;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    size = ngx_http_mcp_json_dump_size(json);
    if (size == 0) {
        return NGX_ERROR;
    }

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last = ngx_http_mcp_json_dump_write(b->pos, json);

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;
    *out = cl;

    return NGX_OK;
}
