//! The x86_64 vector backends: the ops of [`keccak_f1600`] and [`lanes_backend`] for
//! AVX-512F (8 lanes) and AVX2 (4 lanes). Every function here carries its
//! `#[target_feature]`; `Lanes` calls `hash` only after detection said yes.

/// 8 lanes in `__m512i`: `vprolq` rotates, `vpternlogq` for 3-input logic.
pub(super) mod avx512 {
    use std::arch::x86_64::*;

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn xor(a: __m512i, b: __m512i) -> __m512i {
        _mm512_xor_si512(a, b)
    }

    /// `a ^ b ^ c`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn xor3(a: __m512i, b: __m512i, c: __m512i) -> __m512i {
        _mm512_ternarylogic_epi64::<0x96>(a, b, c)
    }

    /// `a ^ (!b & c)`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn chi(a: __m512i, b: __m512i, c: __m512i) -> __m512i {
        _mm512_ternarylogic_epi64::<0xD2>(a, b, c)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn and(a: __m512i, b: __m512i) -> __m512i {
        _mm512_and_si512(a, b)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn splat(x: u64) -> __m512i {
        _mm512_set1_epi64(x as i64)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn zero() -> __m512i {
        _mm512_setzero_si512()
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn load(words: &[u64; 8]) -> __m512i {
        // SAFETY: `words` is 64 readable bytes; `loadu` has no alignment requirement.
        unsafe { _mm512_loadu_si512(words.as_ptr().cast()) }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn store(words: &mut [u64; 8], v: __m512i) {
        // SAFETY: `words` is 64 writable bytes; `storeu` has no alignment requirement.
        unsafe { _mm512_storeu_si512(words.as_mut_ptr().cast(), v) }
    }

    macro_rules! rol {
        ($a:expr, $n:literal) => {
            _mm512_rol_epi64::<$n>($a)
        };
    }

    lanes_backend! {
        feature: "avx512f", width: 8, vector: __m512i,
        xor: xor, xor3: xor3, chi: chi, rol: rol,
        splat: splat, zero: zero, and: and, load: load, store: store,
    }
}

/// 4 lanes in `__m256i`: rotates as two shifts and an or.
pub(super) mod avx2 {
    use std::arch::x86_64::*;

    #[inline]
    #[target_feature(enable = "avx2")]
    fn xor(a: __m256i, b: __m256i) -> __m256i {
        _mm256_xor_si256(a, b)
    }

    /// `a ^ b ^ c`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn xor3(a: __m256i, b: __m256i, c: __m256i) -> __m256i {
        _mm256_xor_si256(_mm256_xor_si256(a, b), c)
    }

    /// `a ^ (!b & c)`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn chi(a: __m256i, b: __m256i, c: __m256i) -> __m256i {
        _mm256_xor_si256(a, _mm256_andnot_si256(b, c))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn and(a: __m256i, b: __m256i) -> __m256i {
        _mm256_and_si256(a, b)
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn splat(x: u64) -> __m256i {
        _mm256_set1_epi64x(x as i64)
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn zero() -> __m256i {
        _mm256_setzero_si256()
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn load(words: &[u64; 4]) -> __m256i {
        // SAFETY: `words` is 32 readable bytes; `loadu` has no alignment requirement.
        unsafe { _mm256_loadu_si256(words.as_ptr().cast()) }
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn store(words: &mut [u64; 4], v: __m256i) {
        // SAFETY: `words` is 32 writable bytes; `storeu` has no alignment requirement.
        unsafe { _mm256_storeu_si256(words.as_mut_ptr().cast(), v) }
    }

    macro_rules! rol {
        ($a:expr, $n:literal) => {{
            let a = $a;
            _mm256_or_si256(_mm256_slli_epi64::<$n>(a), _mm256_srli_epi64::<{ 64 - $n }>(a))
        }};
    }

    lanes_backend! {
        feature: "avx2", width: 4, vector: __m256i,
        xor: xor, xor3: xor3, chi: chi, rol: rol,
        splat: splat, zero: zero, and: and, load: load, store: store,
    }
}
