/*
 * libFuzzer: ids, timestamps and cache keys.
 *
 *   - a vendor's id check: an id it takes is its own one spelling, of
 *     the same length, and taken again;
 *   - timestamps: one that converts gives an RFC 3339 UTC date that
 *     converts to itself, and one in UTC already stays as it was (an
 *     impossible date is refused, never made another one);
 *   - the cache key: its input reads back into its parts.
 */

#include "fuzz.h"
#include "ngx_http_mcp_key.h"
#include "ngx_http_mcp_map.h"


static void
fuzz_time(const uint8_t *data, size_t size)
{
    char   in[128], out[64], again[64];

    if (size >= sizeof(in)) {
        return;
    }

    memcpy(in, data, size);
    in[size] = '\0';

    if (ngx_http_mcp_map_normalize_time(in, out, sizeof(out)) != 0) {
        return;
    }

    if (strlen(out) < 20 || out[strlen(out) - 1] != 'Z' || out[10] != 'T'
        || out[4] != '-' || out[0] < '0' || out[0] > '9')
    {
        fuzz_fail("a converted time is not RFC 3339 UTC");
    }

    if (ngx_http_mcp_map_normalize_time(out, again, sizeof(again)) != 0
        || strcmp(out, again) != 0)
    {
        fuzz_fail("a converted time does not convert to itself");
    }

    /* a time in UTC already is never rewritten into another one */

    if (in[10] == 'T' && in[size - 1] == 'Z' && strchr(in, '+') == NULL
        && strrchr(in, '-') == in + 7 && strlen(in) < sizeof(out)
        && strcmp(in, out) != 0)
    {
        fuzz_fail("a UTC time was rewritten");
    }
}


static void
fuzz_id(const uint8_t *data, size_t size)
{
    unsigned char                        one[NGX_HTTP_MCP_ID_MAX_LEN];
    unsigned char                        two[NGX_HTTP_MCP_ID_MAX_LEN];
    const ngx_http_mcp_vendor_t *const  *v;

    for (v = ngx_http_mcp_vendors; *v; v++) {
        if (!ngx_http_mcp_vendor_id(*v, data, size, one)) {
            continue;
        }

        if (size == 0 || size > NGX_HTTP_MCP_ID_MAX_LEN
            || memchr(one, '{', size) || memchr(one, '}', size)
            || memchr(one, ':', size) || memchr(one, '/', size))
        {
            fuzz_fail("an id that cannot be a hash tag's or a path's");
        }

        if (!ngx_http_mcp_vendor_id(*v, one, size, two)
            || memcmp(one, two, size) != 0)
        {
            fuzz_fail("an id's one spelling is not its own");
        }
    }
}


static void
fuzz_key(const uint8_t *data, size_t size)
{
    size_t                   i, n, pos, len;
    unsigned char           *out;
    ngx_http_mcp_key_part_t  parts[8];
    unsigned char            field[NGX_HTTP_MCP_KEY_FIELD_LEN];

    /* parts cut at every 0xff byte, at most 8 */

    for (n = 0, pos = 0; n < 8; n++) {
        for (i = pos; i < size && data[i] != 0xff; i++) { /* void */ }

        parts[n].data = data + pos;
        parts[n].len = i - pos;
        pos = i + 1;

        if (i >= size) {
            n++;
            break;
        }
    }

    out = malloc(size + 8 * NGX_HTTP_MCP_KEY_LEN_SIZE + 1);
    if (out == NULL) {
        fuzz_fail("out of memory");
    }

    len = ngx_http_mcp_key_encode(parts, n, out);

    for (i = 0, pos = 0; pos < len; i++) {
        size_t  plen = 0, k;

        for (k = 0; k < NGX_HTTP_MCP_KEY_LEN_SIZE; k++) {
            plen = (plen << 8) | out[pos + k];
        }

        pos += NGX_HTTP_MCP_KEY_LEN_SIZE;

        if (i >= n || plen != parts[i].len || pos + plen > len
            || (plen && memcmp(out + pos, parts[i].data, plen) != 0))
        {
            fuzz_fail("the key's input does not read back into its parts");
        }

        pos += plen;
    }

    if (i != n || ngx_http_mcp_key_field(parts, n, field) != 0) {
        fuzz_fail("the key's parts are not all there");
    }

    free(out);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_time(data, size);
    fuzz_id(data, size);
    fuzz_key(data, size);

    return 0;
}
