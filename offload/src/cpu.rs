//! The CPU backend: Keccak-256 on the calling thread, several messages per permutation
//! with the widest SIMD backend this CPU has ([`Lanes::detect`]: AVX-512, AVX2, else
//! `tiny-keccak`), or spread over all cores with `rayon` (feature `rayon`), each thread
//! hashing its chunk the same way.
//!
//! Also home of the batch-shape rules every backend shares: how many whole messages a
//! possibly inconsistent batch holds ([`fixed_count`], [`var_count`]).

use crate::lanes::Lanes;
use parex_core::{Hash32, Hasher};

/// Below this many messages a parallel [`CpuHasher`] stays on the calling thread: the
/// fork/join costs more than it saves.
#[cfg(feature = "rayon")]
const PARALLEL_MIN_MESSAGES: usize = 1024;

/// Keccak-256 batches on the CPU.
///
/// `CpuHasher::default()` is the single-threaded hasher.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuHasher {
    parallel: bool,
}

impl CpuHasher {
    /// Hashes on the calling thread.
    pub fn single_thread() -> Self {
        Self { parallel: false }
    }

    /// Spreads each batch of at least 1024 messages over rayon's global thread pool.
    #[cfg(feature = "rayon")]
    pub fn all_threads() -> Self {
        Self { parallel: true }
    }

    /// The fastest CPU hasher compiled in: [`Self::all_threads`] with the `rayon`
    /// feature, else [`Self::single_thread`].
    pub fn best() -> Self {
        Self { parallel: cfg!(feature = "rayon") }
    }

    /// Whether batches are spread over threads.
    pub fn is_parallel(&self) -> bool {
        self.parallel
    }

    /// The SIMD backend every thread hashes with: [`Lanes::detect`].
    pub fn lanes(&self) -> Lanes {
        Lanes::detect()
    }
}

/// How many whole messages of `msg_len` bytes a batch of `data_len` bytes with `out_len`
/// outputs holds (all of them when `msg_len` is 0).
pub fn fixed_count(data_len: usize, msg_len: usize, out_len: usize) -> usize {
    match data_len.checked_div(msg_len) {
        Some(n) => n.min(out_len),
        None => out_len,
    }
}

/// How many leading messages of a variable-length batch are well formed: each end is
/// at least the previous one and within `data_len`. Hashers hash exactly these.
pub fn var_count(data_len: usize, ends: &[u32], out_len: usize) -> usize {
    let mut start = 0usize;
    for (i, &end) in ends.iter().take(out_len).enumerate() {
        let end = end as usize;
        if end < start || end > data_len {
            return i;
        }
        start = end;
    }
    ends.len().min(out_len)
}

fn fixed_serial(data: &[u8], msg_len: usize, out: &mut [Hash32]) {
    Lanes::detect().fixed_unchecked(data, msg_len, out)
}

/// `ends` already validated by [`var_count`]; `base` is where the first message starts.
fn var_serial(data: &[u8], base: usize, ends: &[u32], out: &mut [Hash32]) {
    Lanes::detect().var_unchecked(data, base, ends, out)
}

impl Hasher for CpuHasher {
    fn runs_on_cpu(&self) -> bool {
        true
    }

    fn hash_fixed(&mut self, data: &[u8], msg_len: usize, out: &mut [Hash32]) {
        let n = fixed_count(data.len(), msg_len, out.len());
        let out = &mut out[..n];
        #[cfg(feature = "rayon")]
        if self.parallel && n >= PARALLEL_MIN_MESSAGES {
            use rayon::prelude::*;
            let per_task = n.div_ceil(rayon::current_num_threads() * 4).max(256);
            out.par_chunks_mut(per_task).enumerate().for_each(|(i, chunk)| {
                let first = i * per_task * msg_len;
                fixed_serial(&data[first..first + chunk.len() * msg_len], msg_len, chunk)
            });
            return;
        }
        fixed_serial(data, msg_len, out)
    }

    fn hash_var(&mut self, data: &[u8], ends: &[u32], out: &mut [Hash32]) {
        let n = var_count(data.len(), ends, out.len());
        let (ends, out) = (&ends[..n], &mut out[..n]);
        #[cfg(feature = "rayon")]
        if self.parallel && n >= PARALLEL_MIN_MESSAGES {
            use rayon::prelude::*;
            let per_task = n.div_ceil(rayon::current_num_threads() * 4).max(256);
            out.par_chunks_mut(per_task).zip(ends.par_chunks(per_task)).enumerate().for_each(
                |(i, (out, chunk_ends))| {
                    let base = if i == 0 { 0 } else { ends[i * per_task - 1] as usize };
                    var_serial(data, base, chunk_ends, out)
                },
            );
            return;
        }
        var_serial(data, 0, ends, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_the_hook_contract() {
        assert_eq!(fixed_count(12, 4, 3), 3);
        assert_eq!(fixed_count(11, 4, 3), 2);
        assert_eq!(fixed_count(100, 4, 3), 3);
        assert_eq!(fixed_count(0, 0, 5), 5);
        assert_eq!(var_count(10, &[1, 1, 10], 3), 3);
        assert_eq!(var_count(10, &[1, 0, 10], 3), 1);
        assert_eq!(var_count(10, &[1, 11], 2), 1);
        assert_eq!(var_count(10, &[1, 2, 3], 2), 2);
    }
}
