//! How much faster `n` threads can compute than one on this machine, at this moment: the
//! ceiling of any parallel speed-up measured beside it.
//!
//! A virtual machine's cores are not always whole cores. Two vCPUs may be hyperthreads
//! of one physical core, and the host may run other guests on them, so two threads of
//! pure computation that share nothing may run anywhere between 1× and 2× as fast as
//! one. On the project's 2-vCPU VM this moved between 1.46× and 2.18× within a minute
//! (BENCHMARKS.md). That is about what more workers alone can give a parallel engine, so
//! `parex bench` measures it in every round, before the sequential run and after the
//! parallel one ([`capacity`]). An engine can beat it by doing less work than the
//! sequential one, from each core's own caches, or, on hyperthreads, because code that
//! waits for memory shares a core better than pure arithmetic does.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use parex_core::keccak256;

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

/// How long [`work`] takes.
fn timed() -> Duration {
    let start = Instant::now();
    work();
    start.elapsed()
}

/// The probe: one thread's work alone, then the same work on `threads` threads at once
/// (released together once every thread has started, each timed on its own, the slowest
/// counted: thread start-up is not in it), then alone again; returns `threads × alone /
/// together`, `alone` the mean of its two runs (1 for one thread, and at most about
/// `threads` on as many idle cores). 0 if a thread could not be started.
pub fn capacity(threads: usize) -> f64 {
    let threads = threads.max(1);
    if threads == 1 {
        return 1.0;
    }
    let before = timed();
    let go = AtomicBool::new(false);
    let together = thread::scope(|s| {
        let mut others = Vec::with_capacity(threads - 1);
        for _ in 1..threads {
            let waiting = || {
                // Acquire/Release on `go` orders nothing else: it only holds the thread.
                while !go.load(Ordering::Acquire) {
                    thread::yield_now();
                }
                timed()
            };
            // A thread that cannot be started leaves the probe without an answer (and
            // the others are released all the same, so that the scope can end).
            match thread::Builder::new().spawn_scoped(s, waiting) {
                Ok(t) => others.push(t),
                Err(_) => break,
            }
        }
        let all = others.len() + 1 == threads;
        go.store(true, Ordering::Release);
        let mine = timed();
        let slowest = others.into_iter().filter_map(|t| t.join().ok()).fold(mine, Duration::max);
        all.then_some(slowest)
    });
    let alone = (before + timed()).as_secs_f64() / 2.0;
    match together {
        Some(t) if !t.is_zero() => threads as f64 * alone / t.as_secs_f64(),
        _ => 0.0,
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
