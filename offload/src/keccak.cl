// Keccak-256 as Ethereum uses it: Keccak[r=1088, c=512] with the original
// Keccak padding (0x01 ... 0x80), 32-byte digest. One work-item hashes one
// message; the host pads the global size up to a multiple of the work-group
// size, so every kernel bound-checks its work-item index against `count`.
//
// The state is 25 little-endian 64-bit lanes, lane (x, y) at index x + 5 * y.
// Messages are read byte by byte: variable-length messages start at any byte
// offset, so no alignment can be assumed.

#define RATE_BYTES 136u
#define RATE_LANES 17u

__constant ulong ROUND_CONSTANTS[24] = {
    0x0000000000000001UL, 0x0000000000008082UL, 0x800000000000808AUL,
    0x8000000080008000UL, 0x000000000000808BUL, 0x0000000080000001UL,
    0x8000000080008081UL, 0x8000000000008009UL, 0x000000000000008AUL,
    0x0000000000000088UL, 0x0000000080008009UL, 0x000000008000000AUL,
    0x000000008000808BUL, 0x800000000000008BUL, 0x8000000000008089UL,
    0x8000000000008003UL, 0x8000000000008002UL, 0x8000000000000080UL,
    0x000000000000800AUL, 0x800000008000000AUL, 0x8000000080008081UL,
    0x8000000000008080UL, 0x0000000080000001UL, 0x8000000080008008UL,
};

// rho: rotation of lane i = x + 5y.
__constant uint RHO[25] = {
    0, 1, 62, 28, 27,
    36, 44, 6, 55, 20,
    3, 10, 43, 25, 39,
    41, 45, 15, 21, 8,
    18, 2, 61, 56, 14,
};

// pi: lane (x, y) moves to (y, 2x + 3y mod 5); PI_DEST[x + 5y] is its new index.
__constant uint PI_DEST[25] = {
    0, 10, 20, 5, 15,
    16, 1, 11, 21, 6,
    7, 17, 2, 12, 22,
    23, 8, 18, 3, 13,
    14, 24, 9, 19, 4,
};

// Keccak-f[1600]: 24 rounds of theta, rho, pi, chi, iota on a private state.
static void keccak_f1600(ulong *a)
{
    ulong b[25];
    for (uint round = 0; round < 24u; ++round) {
        // theta: xor every lane with the parities of two neighbouring columns.
        ulong c[5];
#pragma unroll
        for (uint x = 0; x < 5u; ++x) {
            c[x] = a[x] ^ a[x + 5u] ^ a[x + 10u] ^ a[x + 15u] ^ a[x + 20u];
        }
#pragma unroll
        for (uint x = 0; x < 5u; ++x) {
            ulong d = c[(x + 4u) % 5u] ^ rotate(c[(x + 1u) % 5u], (ulong)1);
#pragma unroll
            for (uint y = 0; y < 25u; y += 5u) {
                a[x + y] ^= d;
            }
        }
        // rho and pi: rotate each lane and move it to its new position.
#pragma unroll
        for (uint i = 0; i < 25u; ++i) {
            b[PI_DEST[i]] = rotate(a[i], (ulong)RHO[i]);
        }
        // chi: the only non-linear step, row by row.
#pragma unroll
        for (uint y = 0; y < 25u; y += 5u) {
#pragma unroll
            for (uint x = 0; x < 5u; ++x) {
                a[x + y] = b[x + y] ^ (~b[(x + 1u) % 5u + y] & b[(x + 2u) % 5u + y]);
            }
        }
        // iota
        a[0] ^= ROUND_CONSTANTS[round];
    }
}

static ulong load_lane(__global const uchar *p)
{
    ulong v = 0;
#pragma unroll
    for (uint i = 0; i < 8u; ++i) {
        v |= ((ulong)p[i]) << (8u * i);
    }
    return v;
}

// Absorbs `len` bytes at `msg`, pads, squeezes 32 bytes into `digest`.
static void keccak256_one(__global const uchar *msg, ulong len, __global uchar *digest)
{
    ulong a[25];
#pragma unroll
    for (uint i = 0; i < 25u; ++i) {
        a[i] = 0;
    }

    // Whole blocks.
    while (len >= RATE_BYTES) {
        for (uint j = 0; j < RATE_LANES; ++j) {
            a[j] ^= load_lane(msg + 8u * j);
        }
        keccak_f1600(a);
        msg += RATE_BYTES;
        len -= RATE_BYTES;
    }

    // Last, partial block (0 to 135 bytes): whole lanes, then the bytes of the
    // last partial lane; padding is 0x01 right after the message and 0x80 at
    // byte 135 (lane 16, top byte). They share byte 135 when len == 135.
    uint rem = (uint)len;
    uint full = rem / 8u;
    uint tail = rem % 8u;
    for (uint j = 0; j < full; ++j) {
        a[j] ^= load_lane(msg + 8u * j);
    }
    ulong last = 0;
    for (uint i = 0; i < tail; ++i) {
        last |= ((ulong)msg[8u * full + i]) << (8u * i);
    }
    a[full] ^= last ^ (((ulong)0x01) << (8u * tail));
    a[RATE_LANES - 1u] ^= 0x8000000000000000UL;
    keccak_f1600(a);

    // Squeeze: the digest is the first four lanes, little-endian.
    for (uint j = 0; j < 4u; ++j) {
        ulong lane = a[j];
        for (uint i = 0; i < 8u; ++i) {
            digest[8u * j + i] = (uchar)(lane >> (8u * i));
        }
    }
}

// `count` messages of `msg_len` bytes each, laid end to end in `data`.
__kernel void keccak256_fixed(__global const uchar *data,
                              const ulong msg_len,
                              const uint count,
                              __global uchar *out)
{
    size_t gid = get_global_id(0);
    if (gid >= (size_t)count) {
        return;
    }
    keccak256_one(data + (ulong)gid * msg_len, msg_len, out + (ulong)gid * 32u);
}

// Variable-length messages: message `i` is `data[ends[i-1] - base .. ends[i] - base]`
// with `ends[-1] = base`. `ends` holds absolute offsets into the caller's whole
// batch; `data` starts at offset `base` of it (the first byte of this chunk).
__kernel void keccak256_var(__global const uchar *data,
                            __global const uint *ends,
                            const uint base,
                            const uint count,
                            __global uchar *out)
{
    size_t gid = get_global_id(0);
    if (gid >= (size_t)count) {
        return;
    }
    uint start = gid == 0 ? base : ends[gid - 1];
    uint end = ends[gid];
    keccak256_one(data + (start - base), (ulong)(end - start), out + (ulong)gid * 32u);
}

// One level of a levels batch (parex_core::hash::Levels), in two launches on one queue.
// First its links: link `first + gid` (two uints: byte `at`, message `from`) copies
// digest `from` into `data` at `at`.
__kernel void keccak256_links(__global uchar *data,
                              __global const uint *links,
                              const uint first,
                              const uint count,
                              __global const uchar *out)
{
    size_t gid = get_global_id(0);
    if (gid >= (size_t)count) {
        return;
    }
    __global const uint *link = links + 2 * ((size_t)first + gid);
    __global uchar *to = data + link[0];
    __global const uchar *from = out + (ulong)link[1] * 32u;
    for (int i = 0; i < 32; i++) {
        to[i] = from[i];
    }
}

// Then its messages: message `first + gid` is `data[ends[m - 1] .. ends[m]]` (from 0 for
// the first message of the batch); its digest goes to `out[m]`.
__kernel void keccak256_level(__global const uchar *data,
                              __global const uint *ends,
                              const uint first,
                              const uint count,
                              __global uchar *out)
{
    size_t gid = get_global_id(0);
    if (gid >= (size_t)count) {
        return;
    }
    size_t m = (size_t)first + gid;
    uint start = m == 0 ? 0u : ends[m - 1];
    keccak256_one(data + start, (ulong)(ends[m] - start), out + (ulong)m * 32u);
}
