
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * jansson glue.  A parsed document is tied to the request pool: its
 * reference is dropped when the request ends, so no error path can leak it.
 * Serialized output goes into pool memory, never into malloc()ed strings.
 *
 * jansson's allocations: while a request's "arena" is set
 * (ngx_http_mcp_json_arena()), every block jansson allocates comes from
 * that request's pool, and freeing it is nothing (the pool releases it
 * with the request); otherwise from malloc().  Each block carries, just
 * before it, the pool it came from (NULL: malloc()), so that any block
 * is freed the right way whatever is set when it is freed.  jansson's
 * allocation functions are process-global: they are installed once per
 * process, before any of the module's jansson allocations, and the arena
 * is set only around synchronous work on one request's documents (a
 * worker is single-threaded); docs/design.md, "jansson's memory".
 */


#include "ngx_http_mcp_module.h"
#include "ngx_http_mcp_json.h"


/* answers and bodies up to this size are parsed and mapped in the arena */
#define NGX_HTTP_MCP_JSON_ARENA_MAX  (32 * 1024)


typedef struct {
    ngx_chain_t  *cl;
    u_char       *pos;
    size_t        offset;       /* of pos in the whole text */
    off_t         nul;          /* of the first NUL byte, or -1 */
} ngx_http_mcp_json_reader_t;


static size_t ngx_http_mcp_json_read(void *buffer, size_t buflen, void *data);
static void ngx_http_mcp_json_cleanup(void *data);
static void *ngx_http_mcp_json_malloc(size_t size);
static void ngx_http_mcp_json_free(void *p);
static void ngx_http_mcp_json_uninstall(void *data);


/*
 * The state jansson's process-global allocation functions force: the
 * pool they allocate from (NULL: malloc()), and how many configuration
 * cycles use them (the functions go back to malloc() and free() with the
 * last, in case the module is unloaded).
 */

static ngx_pool_t  *ngx_http_mcp_json_pool;
static ngx_uint_t   ngx_http_mcp_json_cycles;


/*
 * Installs the allocation functions, before any jansson allocation of the
 * module's (preconfiguration): a block allocated before would be freed
 * without its header.  If another module of this nginx installed its own,
 * they stay, and the arena is off.
 */

ngx_int_t
ngx_http_mcp_json_init(ngx_conf_t *cf)
{
    json_free_t          f;
    json_malloc_t        m;
    ngx_pool_cleanup_t  *cln;

    json_get_alloc_funcs(&m, &f);

    if (m != ngx_http_mcp_json_malloc) {

        if (m != malloc || f != free) {
            ngx_log_error(NGX_LOG_NOTICE, cf->log, 0,
                          "mcp: jansson's allocation functions are another "
                          "module's: documents are allocated with them");
            return NGX_OK;
        }

        json_set_alloc_funcs(ngx_http_mcp_json_malloc,
                             ngx_http_mcp_json_free);
    }

    cln = ngx_pool_cleanup_add(cf->cycle->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_mcp_json_uninstall;
    cln->data = NULL;

    ngx_http_mcp_json_cycles++;

    return NGX_OK;
}


static void
ngx_http_mcp_json_uninstall(void *data)
{
    if (--ngx_http_mcp_json_cycles == 0) {
        ngx_http_mcp_json_pool = NULL;
        json_set_alloc_funcs(malloc, free);
    }
}


/*
 * From now on jansson allocates from "pool" (NULL: malloc()); returns
 * what was set, to set again when done.  Nothing that outlives the
 * request may be allocated, nor changed, while a pool is set.
 */

ngx_pool_t *
ngx_http_mcp_json_arena(ngx_pool_t *pool)
{
    ngx_pool_t  *prev;

    prev = ngx_http_mcp_json_pool;

    if (ngx_http_mcp_json_cycles) {
        ngx_http_mcp_json_pool = pool;
    }

    return prev;
}


/*
 * The arena of a request's document of "size" bytes: its pool, or none
 * for a large one, whose tree is released before its answer is sent
 * (ngx_http_mcp_json_release()), where the pool would keep it to the end
 */

ngx_pool_t *
ngx_http_mcp_json_arena_for(ngx_http_request_t *r, size_t size)
{
    return ngx_http_mcp_json_arena(size <= NGX_HTTP_MCP_JSON_ARENA_MAX
                                   ? r->pool : NULL);
}


static void *
ngx_http_mcp_json_malloc(size_t size)
{
    ngx_pool_t  **block;

    if (size > NGX_MAX_SIZE_T_VALUE - sizeof(ngx_pool_t *)) {
        return NULL;
    }

    if (ngx_http_mcp_json_pool) {
        block = ngx_palloc(ngx_http_mcp_json_pool,
                           sizeof(ngx_pool_t *) + size);

    } else {
        block = malloc(sizeof(ngx_pool_t *) + size);
    }

    if (block == NULL) {
        return NULL;
    }

    *block = ngx_http_mcp_json_pool;

    return block + 1;
}


static void
ngx_http_mcp_json_free(void *p)
{
    ngx_pool_t  **block;

    if (p == NULL) {
        return;
    }

    block = (ngx_pool_t **) p - 1;

    /* a pool's block goes with its pool */

    if (*block == NULL) {
        free(block);
    }
}


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
    ngx_pool_t                  *arena;
    ngx_chain_t                 *cl;
    json_error_t                 err;
    ngx_pool_cleanup_t          *cln;
    ngx_http_mcp_json_reader_t   reader;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        ngx_str_set(error, "out of memory");
        return NULL;
    }

    len = 0;

    for (cl = in; cl; cl = cl->next) {
        len += cl->buf->last - cl->buf->pos;
    }

    arena = ngx_http_mcp_json_arena_for(r, len);

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

    (void) ngx_http_mcp_json_arena(arena);

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
    ngx_chain_t  *cl;

    size = ngx_http_mcp_json_dump_size(json);
    if (size == 0) {
        return NGX_ERROR;
    }

    cl = ngx_http_mcp_json_out(r, size);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf->last = ngx_http_mcp_json_dump_write(cl->buf->pos, json);
    *out = cl;

    return NGX_OK;
}


/* a chain of one new pool buffer of "size" bytes, for a text to write */

ngx_chain_t *
ngx_http_mcp_json_out(ngx_http_request_t *r, size_t size)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NULL;
    }

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;

    return cl;
}
