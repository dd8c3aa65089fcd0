//! How much faster `n` threads can compute than one on this machine, at this moment: the
//! ceiling of any parallel speed-up measured beside it.
//!
//! A virtual machine's cores are not always whole cores. Two vCPUs may be hyperthreads
//! of one physical core, and the host may run other guests on them, so two threads of
//! pure computation that share nothing may run anywhere between 1× and 2× as fast as
//! one. On the project's 2-vCPU VM this moved between 1.46× and 2.18× within a minute
//! (BENCHMARKS.md). That is what more workers alone can give a parallel engine (beyond
//! it only by doing less work, or from the cores' own caches), so `parex bench` measures
//! it in every round, around the parallel engine's run ([`capacity`]).

use std::hint::black_box;
use std::time::Instant;

use parex_core::keccak256;

use crate::pool::side_by_side;

/// Permutations each thread runs in one probe: about 4 ms of one core's time (a
/// Keccak-f\[1600\] permutation takes about 400 ns on the project's VM).
const PROBE_PERMUTATIONS: u32 = 10_000;

/// One thread's work: a chain of Keccak-256 hashes, each of the previous digest (one
/// permutation each, in registers and the stack: no shared memory, no allocation).
fn work() {
    let mut h = [0x5a; 32];
    for _ in 0..PROBE_PERMUTATIONS {
        h = keccak256(black_box(&h));
    }
    black_box(h);
}

/// The probe: the time of one thread's work alone, then of the same work on `threads`
/// threads at once; returns `threads × alone / together` (1 for one thread, and at most
/// about `threads` on as many idle cores).
pub fn capacity(threads: usize) -> f64 {
    let threads = threads.max(1);
    if threads == 1 {
        return 1.0;
    }
    let start = Instant::now();
    work();
    let alone = start.elapsed().as_secs_f64();
    let start = Instant::now();
    side_by_side(0..threads, |_| work());
    let together = start.elapsed().as_secs_f64();
    if together > 0.0 {
        threads as f64 * alone / together
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One thread is its own ceiling; several give a positive ratio (its size depends on
    /// the machine, and is not checked).
    #[test]
    fn one_thread_is_one_and_several_are_positive() {
        assert_eq!(capacity(1), 1.0);
        assert_eq!(capacity(0), 1.0);
        let c = capacity(2);
        assert!(c.is_finite() && c > 0.0, "{c}");
    }
}
