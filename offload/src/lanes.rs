//! Multi-lane Keccak-256: several independent messages hashed at once, one message per
//! 64-bit lane of a SIMD register.
//!
//! - [`Lanes::Avx512`]: 8 messages per permutation, with AVX-512F's native rotates
//!   (`vprolq`) and three-input logic (`vpternlogq`: theta's 3-way XOR, chi's
//!   `a ^ (!b & c)`).
//! - [`Lanes::Avx2`]: 4 messages per permutation (shift/shift/or rotates).
//! - [`Lanes::Scalar`]: `tiny-keccak`, one message after another
//!   ([`parex_core::keccak256`]).
//!
//! [`Lanes::detect`] picks the best one the CPU runs (checked once at run time with
//! `is_x86_feature_detected!`, then cached); other targets than x86_64 only have
//! `Scalar`. The state is 25 vectors, vector `i` holding word `i` of every lane's
//! Keccak state. Messages are fed to the lanes in batch order; a lane whose message is
//! absorbed takes the next message of the batch (its lane of the state is cleared), so
//! messages needing different numbers of 136-byte blocks share a vector without idle
//! lanes except at the very end of a batch. The block words of every lane are first
//! gathered, little-endian and padded, into a word-major staging buffer that the vector
//! loads read.

use crate::cpu::{fixed_count, var_count};
use parex_core::{keccak256, Hash32};
use std::sync::atomic::{AtomicU8, Ordering};

/// Keccak-256's rate in bytes (1088 bits).
const RATE: usize = 136;
/// Rate in 64-bit words.
const RATE_WORDS: usize = RATE / 8;

/// Below this many messages a batch is hashed by the scalar path: a vector permutation
/// costs more than one scalar one.
const VECTOR_MIN_MESSAGES: usize = 2;

/// The round constants of Keccak-f\[1600\] (iota).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const RC: [u64; 24] = [
    0x0000_0000_0000_0001,
    0x0000_0000_0000_8082,
    0x8000_0000_0000_808A,
    0x8000_0000_8000_8000,
    0x0000_0000_0000_808B,
    0x0000_0000_8000_0001,
    0x8000_0000_8000_8081,
    0x8000_0000_0000_8009,
    0x0000_0000_0000_008A,
    0x0000_0000_0000_0088,
    0x0000_0000_8000_8009,
    0x0000_0000_8000_000A,
    0x0000_0000_8000_808B,
    0x8000_0000_0000_008B,
    0x8000_0000_0000_8089,
    0x8000_0000_0000_8003,
    0x8000_0000_0000_8002,
    0x8000_0000_0000_0080,
    0x0000_0000_0000_800A,
    0x8000_0000_8000_000A,
    0x8000_0000_8000_8081,
    0x8000_0000_0000_8080,
    0x0000_0000_8000_0001,
    0x8000_0000_8000_8008,
];

/// A Keccak-256 batch backend: how many messages one permutation hashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lanes {
    /// `tiny-keccak`, one message at a time.
    Scalar,
    /// AVX2: 4 messages per permutation.
    Avx2,
    /// AVX-512F: 8 messages per permutation.
    Avx512,
}

/// [`Lanes::detect`]'s answer: 0 before the first call, else `1 + index`.
static DETECTED: AtomicU8 = AtomicU8::new(0);

impl Lanes {
    const ALL: [Lanes; 3] = [Lanes::Scalar, Lanes::Avx2, Lanes::Avx512];

    /// The widest backend this CPU runs (detected once, then cached).
    pub fn detect() -> Lanes {
        match DETECTED.load(Ordering::Relaxed) {
            0 => {
                let best = *Self::available().last().unwrap_or(&Lanes::Scalar);
                let index = Self::ALL.iter().position(|&l| l == best).unwrap_or(0);
                DETECTED.store(index as u8 + 1, Ordering::Relaxed);
                best
            }
            i => Self::ALL[usize::from(i - 1).min(Self::ALL.len() - 1)],
        }
    }

    /// Every backend this CPU runs, narrowest first (always starts with `Scalar`).
    pub fn available() -> Vec<Lanes> {
        Self::ALL.into_iter().filter(|l| l.is_supported()).collect()
    }

    /// Whether this CPU runs the backend.
    pub fn is_supported(self) -> bool {
        match self {
            Lanes::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Lanes::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Lanes::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            Lanes::Avx2 | Lanes::Avx512 => false,
        }
    }

    /// `"scalar"`, `"avx2"` or `"avx512"`.
    pub fn name(self) -> &'static str {
        match self {
            Lanes::Scalar => "scalar",
            Lanes::Avx2 => "avx2",
            Lanes::Avx512 => "avx512",
        }
    }

    /// Messages per permutation: 1, 4 or 8.
    pub fn width(self) -> usize {
        match self {
            Lanes::Scalar => 1,
            Lanes::Avx2 => 4,
            Lanes::Avx512 => 8,
        }
    }

    /// Hashes the whole messages of `msg_len` bytes laid end to end in `data`, as many
    /// as fit in both `data` and `out` (all of `out` when `msg_len` is 0); the rest of
    /// `out` is left untouched. Byte-exact with [`parex_core::keccak256`].
    ///
    /// A backend this CPU lacks (see [`Self::is_supported`]) hashes with
    /// [`Self::detect`]'s instead.
    pub fn hash_fixed(self, data: &[u8], msg_len: usize, out: &mut [Hash32]) {
        let n = fixed_count(data.len(), msg_len, out.len());
        self.fixed_unchecked(data, msg_len, &mut out[..n]);
    }

    /// Hashes variable-length messages: message `i` is `data[ends[i - 1]..ends[i]]`
    /// (with `ends[-1] = 0`). Only the leading well-formed messages are hashed (ends
    /// non-decreasing and within `data`, at most `out.len()`); the rest of `out` is left
    /// untouched. Byte-exact with [`parex_core::keccak256`].
    ///
    /// A backend this CPU lacks hashes with [`Self::detect`]'s instead.
    pub fn hash_var(self, data: &[u8], ends: &[u32], out: &mut [Hash32]) {
        let n = var_count(data.len(), ends, out.len());
        self.var_unchecked(data, 0, &ends[..n], &mut out[..n]);
    }

    /// [`Self::hash_fixed`] with `data.len() >= msg_len * out.len()` already checked.
    pub(crate) fn fixed_unchecked(self, data: &[u8], msg_len: usize, out: &mut [Hash32]) {
        if msg_len == 0 {
            let empty = keccak256(&[]);
            out.iter_mut().for_each(|o| *o = empty);
            return;
        }
        self.run(data, Batch::Fixed(msg_len), out)
    }

    /// [`Self::hash_var`] with `ends` already checked by [`var_count`] and
    /// `ends.len() == out.len()`; the first message starts at `base`.
    pub(crate) fn var_unchecked(self, data: &[u8], base: usize, ends: &[u32], out: &mut [Hash32]) {
        self.run(data, Batch::Var { base, ends }, out)
    }

    fn run(self, data: &[u8], batch: Batch<'_>, out: &mut [Hash32]) {
        let lanes = if self.is_supported() { self } else { Lanes::detect() };
        if out.len() < VECTOR_MIN_MESSAGES {
            return scalar(data, batch, out);
        }
        match lanes {
            Lanes::Scalar => scalar(data, batch, out),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `is_supported` (or `detect`, which only answers supported
            // backends) has just checked that this CPU has AVX2.
            Lanes::Avx2 => unsafe { x86::avx2::hash(data, batch, out) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above, for AVX-512F.
            Lanes::Avx512 => unsafe { x86::avx512::hash(data, batch, out) },
            #[cfg(not(target_arch = "x86_64"))]
            Lanes::Avx2 | Lanes::Avx512 => scalar(data, batch, out),
        }
    }
}

/// Where message `i` of a batch lies in its data.
#[derive(Clone, Copy, Debug)]
enum Batch<'a> {
    /// Message `i` is `data[i * len..(i + 1) * len]`.
    Fixed(usize),
    /// Message `i` is `data[ends[i - 1]..ends[i]]`, with `ends[-1] = base`.
    Var { base: usize, ends: &'a [u32] },
}

impl Batch<'_> {
    /// The byte range of message `i`.
    #[inline(always)]
    fn span(self, i: usize) -> (usize, usize) {
        match self {
            Batch::Fixed(len) => (i * len, (i + 1) * len),
            Batch::Var { base, ends } => {
                let start = if i == 0 { base } else { ends[i - 1] as usize };
                (start, ends[i] as usize)
            }
        }
    }
}

fn scalar(data: &[u8], batch: Batch<'_>, out: &mut [Hash32]) {
    for (i, o) in out.iter_mut().enumerate() {
        let (start, end) = batch.span(i);
        *o = keccak256(&data[start..end]);
    }
}

/// Little-endian word of an 8-byte chunk.
#[inline(always)]
fn word(chunk: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(chunk);
    u64::from_le_bytes(w)
}

/// Writes the next block of one lane's message into lane `j` of the word-major staging
/// buffer: a whole block when `rest` (the unabsorbed bytes) holds one, else the padded
/// last block (`0x01` after the message, `0x80` in the block's last byte). Returns
/// whether this was the last block.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[inline(always)]
fn stage_block<const W: usize>(stage: &mut [[u64; W]; RATE_WORDS], j: usize, rest: &[u8]) -> bool {
    if let Some(block) = rest.get(..RATE) {
        for (row, chunk) in stage.iter_mut().zip(block.chunks_exact(8)) {
            row[j] = word(chunk);
        }
        return false;
    }
    let whole = rest.len() / 8; // < RATE_WORDS
    let (head, tail) = rest.split_at(whole * 8);
    let (full_rows, rows) = stage.split_at_mut(whole);
    for (row, chunk) in full_rows.iter_mut().zip(head.chunks_exact(8)) {
        row[j] = word(chunk);
    }
    let mut last = 1u64 << (8 * tail.len());
    for (k, &b) in tail.iter().enumerate() {
        last |= u64::from(b) << (8 * k);
    }
    for row in rows.iter_mut() {
        row[j] = 0;
    }
    rows[0][j] = last;
    stage[RATE_WORDS - 1][j] ^= 0x80 << 56;
    true
}

/// One lane's message in progress.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[derive(Clone, Copy, Debug)]
struct Lane {
    /// Index of the message in the batch (and in `out`).
    index: usize,
    /// The first byte not absorbed yet.
    pos: usize,
    /// One past the message's last byte.
    end: usize,
    /// Whether a message is assigned.
    live: bool,
    /// Whether the block just staged is the message's last.
    last: bool,
}

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
impl Lane {
    const IDLE: Lane = Lane { index: 0, pos: 0, end: 0, live: false, last: false };
}

/// Keccak-f\[1600\] on a state of 25 vectors, written once for every vector width.
///
/// `$s` is a `[V; 25]`; the ops are functions (`$xor(a, b)`, `$xor3(a, b, c)`,
/// `$chi(a, b, c) = a ^ (!b & c)`, `$splat(u64)`) and a macro `$rol!(v, literal)`.
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_macros))]
macro_rules! keccak_f1600 {
    ($s:ident, $xor:ident, $xor3:ident, $chi:ident, $rol:ident, $splat:ident) => {
        for rc in $crate::lanes::RC {
            // theta
            let c0 = $xor3($xor3($s[0], $s[5], $s[10]), $s[15], $s[20]);
            let c1 = $xor3($xor3($s[1], $s[6], $s[11]), $s[16], $s[21]);
            let c2 = $xor3($xor3($s[2], $s[7], $s[12]), $s[17], $s[22]);
            let c3 = $xor3($xor3($s[3], $s[8], $s[13]), $s[18], $s[23]);
            let c4 = $xor3($xor3($s[4], $s[9], $s[14]), $s[19], $s[24]);
            let d0 = $xor(c4, $rol!(c1, 1));
            let d1 = $xor(c0, $rol!(c2, 1));
            let d2 = $xor(c1, $rol!(c3, 1));
            let d3 = $xor(c2, $rol!(c4, 1));
            let d4 = $xor(c3, $rol!(c0, 1));
            // rho and pi: b[y + 5 * ((2x + 3y) % 5)] = rot(a[x + 5y] ^ d[x], r[x][y])
            let b = [
                $xor($s[0], d0),
                $rol!($xor($s[6], d1), 44),
                $rol!($xor($s[12], d2), 43),
                $rol!($xor($s[18], d3), 21),
                $rol!($xor($s[24], d4), 14),
                $rol!($xor($s[3], d3), 28),
                $rol!($xor($s[9], d4), 20),
                $rol!($xor($s[10], d0), 3),
                $rol!($xor($s[16], d1), 45),
                $rol!($xor($s[22], d2), 61),
                $rol!($xor($s[1], d1), 1),
                $rol!($xor($s[7], d2), 6),
                $rol!($xor($s[13], d3), 25),
                $rol!($xor($s[19], d4), 8),
                $rol!($xor($s[20], d0), 18),
                $rol!($xor($s[4], d4), 27),
                $rol!($xor($s[5], d0), 36),
                $rol!($xor($s[11], d1), 10),
                $rol!($xor($s[17], d2), 15),
                $rol!($xor($s[23], d3), 56),
                $rol!($xor($s[2], d2), 62),
                $rol!($xor($s[8], d3), 55),
                $rol!($xor($s[14], d4), 39),
                $rol!($xor($s[15], d0), 41),
                $rol!($xor($s[21], d1), 2),
            ];
            // chi, then iota on word 0
            for y in 0..5 {
                let r = 5 * y;
                $s[r] = $chi(b[r], b[r + 1], b[r + 2]);
                $s[r + 1] = $chi(b[r + 1], b[r + 2], b[r + 3]);
                $s[r + 2] = $chi(b[r + 2], b[r + 3], b[r + 4]);
                $s[r + 3] = $chi(b[r + 3], b[r + 4], b[r]);
                $s[r + 4] = $chi(b[r + 4], b[r], b[r + 1]);
            }
            $s[0] = $xor($s[0], $splat(rc));
        }
    };
}

/// The batch driver of one vector backend: `hash(data, batch, out)`, a
/// `#[target_feature(enable = $feature)]` function that hashes messages `0..out.len()`
/// of `batch` into `out`.
///
/// Beyond the ops of [`keccak_f1600`], it needs `$zero()`, `$and(a, b)`, `$load(&[u64;
/// W]) -> V` and `$store(&mut [u64; W], V)`.
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_macros))]
macro_rules! lanes_backend {
    (
        feature: $feature:literal, width: $width:literal, vector: $v:ty,
        xor: $xor:ident, xor3: $xor3:ident, chi: $chi:ident, rol: $rol:ident,
        splat: $splat:ident, zero: $zero:ident, and: $and:ident,
        load: $load:ident, store: $store:ident $(,)?
    ) => {
        use parex_core::Hash32;
        use $crate::lanes::{stage_block, Batch, Lane, RATE, RATE_WORDS};

        const W: usize = $width;

        #[inline]
        #[target_feature(enable = $feature)]
        fn permute(s: &mut [$v; 25]) {
            keccak_f1600!(s, $xor, $xor3, $chi, $rol, $splat);
        }

        /// Hashes messages `0..out.len()` of `batch` (in bounds of `data`).
        #[target_feature(enable = $feature)]
        pub(in $crate::lanes) fn hash(data: &[u8], batch: Batch<'_>, out: &mut [Hash32]) {
            let n = out.len();
            let mut state = [$zero(); 25];
            let mut stage = [[0u64; W]; RATE_WORDS];
            let mut digest = [[0u64; W]; 4];
            let mut lanes = [Lane::IDLE; W];
            let mut next = 0usize;
            loop {
                // Refill lanes whose message is done, stage every live lane's block.
                let mut keep = [!0u64; W];
                let (mut live, mut carried) = (0usize, 0usize);
                for (j, lane) in lanes.iter_mut().enumerate() {
                    if !lane.live || lane.last {
                        if next == n {
                            lane.live = false;
                            continue;
                        }
                        let (pos, end) = batch.span(next);
                        *lane = Lane { index: next, pos, end, live: true, last: false };
                        keep[j] = 0;
                        next += 1;
                    } else {
                        carried += 1;
                    }
                    live += 1;
                    lane.last = stage_block(&mut stage, j, &data[lane.pos..lane.end]);
                    lane.pos += RATE;
                }
                if live == 0 {
                    return;
                }
                if carried == 0 {
                    state = [$zero(); 25];
                } else if live > carried {
                    let keep = $load(&keep);
                    for s in state.iter_mut() {
                        *s = $and(*s, keep);
                    }
                }
                for (s, row) in state.iter_mut().zip(stage.iter()) {
                    *s = $xor(*s, $load(row));
                }
                permute(&mut state);
                if lanes.iter().any(|l| l.live && l.last) {
                    for (row, &s) in digest.iter_mut().zip(state.iter()) {
                        $store(row, s);
                    }
                    for (j, lane) in lanes.iter().enumerate() {
                        if lane.live && lane.last {
                            let o = &mut out[lane.index];
                            for (bytes, row) in o.chunks_exact_mut(8).zip(digest.iter()) {
                                bytes.copy_from_slice(&row[j].to_le_bytes());
                            }
                        }
                    }
                }
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
mod x86;
