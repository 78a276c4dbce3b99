
/*
 * Copyright (C) ngx_http_mcp_module authors
 *
 * SipHash-2-4 (ngx_http_mcp_siphash.h), as the paper describes it:
 *
 *   - the state is four 64-bit words, the key's two words (k0, k1, read
 *     little-endian) XORed with the constants "somepseudorandomlygenerated
 *     bytes": v0 = k0 ^ 736f6d6570736575, v1 = k1 ^ 646f72616e646f6d,
 *     v2 = k0 ^ 6c7967656e657261, v3 = k1 ^ 7465646279746573;
 *   - the input is taken in 8-byte words, little-endian; the last word
 *     holds the 0 to 7 bytes left and, in its top byte, the input's
 *     length modulo 256;
 *   - each word m: v3 ^= m, two rounds (the "2"), v0 ^= m;
 *   - then v2 ^= ff, four rounds (the "4"), and the output is
 *     v0 ^ v1 ^ v2 ^ v3.
 *
 * The 128-bit output: v1 ^= ee at the start, v2 ^= ee instead of ff
 * before the first four rounds (the first half), then v1 ^= dd, four
 * rounds more, and the second half.
 */


#include <stdint.h>

#include "ngx_http_mcp_siphash.h"


#define ngx_http_mcp_rotl(x, b)  (uint64_t) (((x) << (b)) | ((x) >> (64 - (b))))

#define ngx_http_mcp_sipround(v0, v1, v2, v3)                                 \
    v0 += v1; v1 = ngx_http_mcp_rotl(v1, 13); v1 ^= v0;                       \
    v0 = ngx_http_mcp_rotl(v0, 32);                                           \
    v2 += v3; v3 = ngx_http_mcp_rotl(v3, 16); v3 ^= v2;                       \
    v0 += v3; v3 = ngx_http_mcp_rotl(v3, 21); v3 ^= v0;                       \
    v2 += v1; v1 = ngx_http_mcp_rotl(v1, 17); v1 ^= v2;                       \
    v2 = ngx_http_mcp_rotl(v2, 32)


static inline uint64_t
ngx_http_mcp_siphash_word(const unsigned char *p)
{
    /* a little-endian load, one instruction where the CPU is one */

    return (uint64_t) p[0] | (uint64_t) p[1] << 8 | (uint64_t) p[2] << 16
           | (uint64_t) p[3] << 24 | (uint64_t) p[4] << 32
           | (uint64_t) p[5] << 40 | (uint64_t) p[6] << 48
           | (uint64_t) p[7] << 56;
}


static inline void
ngx_http_mcp_siphash_put(unsigned char *p, uint64_t v)
{
    int  i;

    for (i = 0; i < 8; i++) {
        p[i] = (unsigned char) (v >> (8 * i));
    }
}


void
ngx_http_mcp_siphash(const unsigned char *key, const void *in, size_t len,
    unsigned char *out, size_t outlen)
{
    size_t                i, left;
    uint64_t              k0, k1, v0, v1, v2, v3, m;
    const unsigned char  *p, *last;

    k0 = ngx_http_mcp_siphash_word(key);
    k1 = ngx_http_mcp_siphash_word(key + 8);

    v0 = k0 ^ 0x736f6d6570736575ULL;
    v1 = k1 ^ 0x646f72616e646f6dULL;
    v2 = k0 ^ 0x6c7967656e657261ULL;
    v3 = k1 ^ 0x7465646279746573ULL;

    if (outlen == 16) {
        v1 ^= 0xee;
    }

    p = in;
    left = len & 7;
    last = p + (len - left);

    for ( /* void */ ; p < last; p += 8) {
        m = ngx_http_mcp_siphash_word(p);

        v3 ^= m;
        ngx_http_mcp_sipround(v0, v1, v2, v3);
        ngx_http_mcp_sipround(v0, v1, v2, v3);
        v0 ^= m;
    }

    /* the last word: the bytes left, and the length's low byte on top */

    m = (uint64_t) (len & 0xff) << 56;

    for (i = 0; i < left; i++) {
        m |= (uint64_t) p[i] << (8 * i);
    }

    v3 ^= m;
    ngx_http_mcp_sipround(v0, v1, v2, v3);
    ngx_http_mcp_sipround(v0, v1, v2, v3);
    v0 ^= m;

    v2 ^= (outlen == 16) ? 0xee : 0xff;

    for (i = 0; i < 4; i++) {
        ngx_http_mcp_sipround(v0, v1, v2, v3);
    }

    ngx_http_mcp_siphash_put(out, v0 ^ v1 ^ v2 ^ v3);

    if (outlen != 16) {
        return;
    }

    v1 ^= 0xdd;

    for (i = 0; i < 4; i++) {
        ngx_http_mcp_sipround(v0, v1, v2, v3);
    }

    ngx_http_mcp_siphash_put(out + 8, v0 ^ v1 ^ v2 ^ v3);
}
