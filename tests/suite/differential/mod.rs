//! The determinism contract: for every block and every thread count, the parallel
//! engine's receipts, block hashes, state roots and final state equal the sequential
//! executor's.
//!
//! [`assert_same`] is the one comparison; the other suites use it too, so every
//! hand-built block there is also a differential case. The generated cases sweep every
//! workload, the key universe (`accounts`, the contention dial) from 2 to 100,000, the
//! workload's `hot` knob, failure and declared-access rates, thread counts 1–8 and block
//! sizes up to several thousand transactions, re-running each block several times to
//! shake out races. `PAREX_SOAK=N` multiplies the case counts by `N`.
//!
//! Every path is the one a user runs: the host's replay through the core's engine policy
//! (`parex_core::policy::run_block`). Under `Mode::Parallel` the policy runs a block
//! sequentially instead when an engine gives up on it as too contended
//! (`BlockError::Contended`), which would hide the engines on exactly the blocks that
//! stress them most. So besides that path, [`assert_same_on`] runs the engines alone
//! (`Mode::BlockStm`, `Mode::Footprint`, `Mode::BlockStmAlone`: no contention check, no
//! fallback), and there any error fails the test and every block must have run on the
//! engine asked for.
//!
//! `engine_race_reproduction` (in `hot.rs`) pins a race these tests found: an execution
//! claimed "in order" (so skipping validation) while another worker was about to claim
//! the transaction below it, which then executed after it. Debug builds also re-check
//! every final read set in Block-STM's `finish`.
//!
//! This file holds the comparison ([`replay_with`], [`Path`], [`assert_same`],
//! [`assert_same_on`]) and the proptest configuration the suites share; the cases are in
//! `generated.rs`, `hot.rs` (re-runs of hot blocks), `alone.rs` (Block-STM's `run_alone`)
//! and `handbuilt.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use parex::core::engine::EngineKind;
use parex::core::exec::HotKeys;
use parex::core::exec::Limits;
use parex::core::tx::{AccessList, Transaction};
use parex::core::KeccakHasher;
use parex::host::chain::{replay, replay_with_hot_keys, ChainOutcome};
use parex::host::engine::Mode;
use parex::host::txblock::{BlockTxs, TxBlock};
use parex::host::workload::{Spec, Workload, World};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

mod alone;
mod generated;
mod handbuilt;
mod hot;

/// `list` for as long as the tests run (a test's few lists, declared by transactions
/// kept in plain `Vec`s).
pub(crate) fn leak(list: AccessList) -> &'static AccessList {
    Box::leak(Box::new(list))
}

/// Replays `blocks` on `world` with `mode` and the default limits.
pub(crate) fn replay_with(world: &World, blocks: &[impl BlockTxs], mode: Mode) -> ChainOutcome {
    replay(world, blocks, mode, Limits::DEFAULT, &mut KeccakHasher)
        .unwrap_or_else(|e| panic!("{mode:?} replay failed: {e}"))
}

/// Which parallel path a differential run compares with the sequential executor: every
/// path is the host's replay through the core's engine policy, in the mode below.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Path {
    /// `Mode::Parallel`: the policy may run a contended block sequentially instead
    /// (its reason says it fell back), by design; such blocks are counted, not failed.
    Host,
    /// `Mode::BlockStm`: Block-STM with its contention fallback off and no other engine
    /// after it; every block must run through speculation and validation.
    Engine,
    /// `Mode::Footprint`: the footprint engine (native transfers and declared calls), without the
    /// contention check or a fallback; every block runs through it.
    Footprint,
    /// `Mode::BlockStmAlone`: Block-STM's one-worker form; the thread count is ignored.
    Alone,
}

impl Path {
    fn mode(self, threads: usize) -> Mode {
        match self {
            Path::Host => Mode::Parallel(threads),
            Path::Engine => Mode::BlockStm(threads),
            Path::Footprint => Mode::Footprint(threads),
            Path::Alone => Mode::BlockStmAlone,
        }
    }

    /// The engine every block must run on (`None`: the policy's choice).
    fn engine(self) -> Option<EngineKind> {
        match self {
            Path::Host => None,
            Path::Engine | Path::Alone => Some(EngineKind::BlockStm),
            Path::Footprint => Some(EngineKind::Footprint),
        }
    }
}

/// Replays `blocks` sequentially, then `reruns` times in parallel (host path) with each
/// thread count in `threads`, and panics with a readable diff at the first difference.
/// Returns the sequential outcome.
pub(crate) fn assert_same(
    world: &World,
    blocks: &[impl BlockTxs],
    threads: &[usize],
    reruns: usize,
) -> ChainOutcome {
    assert_same_on(Path::Host, world, blocks, threads, reruns).0
}

/// [`assert_same`] on either path; also returns how many parallel block runs fell back.
pub(crate) fn assert_same_on(
    path: Path,
    world: &World,
    blocks: &[impl BlockTxs],
    threads: &[usize],
    reruns: usize,
) -> (ChainOutcome, usize) {
    let seq = replay_with(world, blocks, Mode::Sequential);
    let mut fell_back = 0;
    for &t in threads {
        for run in 0..reruns {
            let mode = path.mode(t);
            let par = replay(world, blocks, mode, Limits::DEFAULT, &mut KeccakHasher)
                .unwrap_or_else(|e| panic!("{mode:?}, run {run}, failed: {e}"));
            if let Some(d) = diff(&seq, &par, blocks) {
                panic!("{path:?} path with {t} workers, run {run}, differs from Sequential:\n{d}");
            }
            for (b, out) in par.blocks.iter().enumerate() {
                let ran = out.choice.engine;
                assert!(
                    path.engine().is_none_or(|e| e == ran),
                    "{mode:?}: block {b} ran on {ran:?} ({:?})",
                    out.choice.reason
                );
            }
            fell_back += par.blocks.iter().filter(|b| b.choice.reason.fell_back()).count();
        }
    }
    (seq, fell_back)
}

/// Replays `blocks` sequentially, then with each thread count in `threads` on Block-STM
/// alone (`Mode::BlockStm`) and through the policy (`Mode::Parallel`), Block-STM given
/// `keys` as hot keys for every block; panics at the first difference. Whatever the
/// keys (the right ones, wrong ones, keys of contracts the block never calls), the
/// results are the sequential executor's. Returns how many executions waited on a
/// predicted writer in all.
pub(crate) fn assert_same_with_hot_keys(
    world: &World,
    blocks: &[impl BlockTxs],
    threads: &[usize],
    keys: HotKeys,
) -> u64 {
    let seq = replay_with(world, blocks, Mode::Sequential);
    let mut waits = 0;
    for &t in threads {
        for mode in [Mode::BlockStm(t), Mode::Parallel(t)] {
            let par =
                replay_with_hot_keys(world, blocks, mode, Limits::DEFAULT, &mut KeccakHasher, keys)
                    .unwrap_or_else(|e| panic!("{mode:?} with hot keys {keys:?} failed: {e}"));
            if let Some(d) = diff(&seq, &par, blocks) {
                panic!("{mode:?} with hot keys {keys:?} differs from Sequential:\n{d}");
            }
            waits += par.blocks.iter().map(|b| b.stats.predicted_waits).sum::<u64>();
        }
    }
    waits
}

/// The first difference between a sequential and a parallel outcome, if any.
fn diff(seq: &ChainOutcome, par: &ChainOutcome, blocks: &[impl BlockTxs]) -> Option<String> {
    let mut d = String::new();
    if seq.genesis_root != par.genesis_root {
        let _ = writeln!(d, "genesis root: {:02x?} vs {:02x?}", seq.genesis_root, par.genesis_root);
    }
    if seq.blocks.len() != par.blocks.len() {
        let _ = writeln!(d, "block count: {} vs {}", seq.blocks.len(), par.blocks.len());
    }
    for (b, (s, p)) in seq.blocks.iter().zip(&par.blocks).enumerate() {
        if s.receipts.len() != p.receipts.len() {
            let _ = writeln!(d, "block {b}: {} vs {} receipts", s.receipts.len(), p.receipts.len());
        }
        let first = s.receipts.iter().zip(&p.receipts).position(|(x, y)| x != y);
        if let Some(i) = first {
            let differing = s.receipts.iter().zip(&p.receipts).filter(|(x, y)| x != y).count();
            let _ = writeln!(
                d,
                "block {b}: first differing receipt at tx {i} ({differing} differ in all)\n  \
                 tx:         {:?}\n  sequential: {:?}\n  parallel:   {:?}",
                blocks[b].txs()[i],
                s.receipts[i],
                p.receipts[i]
            );
        }
        if s.header != p.header {
            let _ = writeln!(
                d,
                "block {b}: headers differ\n  sequential: {:?}\n  parallel:   {:?}",
                s.header, p.header
            );
        }
        if s.hash != p.hash {
            let _ = writeln!(d, "block {b}: hash {:02x?} vs {:02x?}", s.hash, p.hash);
        }
        if !d.is_empty() {
            // Later blocks start from a different state; their differences are noise.
            break;
        }
    }
    if seq.state != par.state {
        // By key, so a differing value shows even where leaf order differs too.
        let s: BTreeMap<_, _> = seq.state.iter().map(|e| (e.key, e.value)).collect();
        let p: BTreeMap<_, _> = par.state.iter().map(|e| (e.key, e.value)).collect();
        let keys: BTreeSet<_> = s.keys().chain(p.keys()).collect();
        let differing: Vec<_> = keys.into_iter().filter(|k| s.get(k) != p.get(k)).collect();
        let _ = writeln!(
            d,
            "final state differs ({} vs {} entries, {} keys differ){}",
            seq.state.len(),
            par.state.len(),
            differing.len(),
            if differing.is_empty() { "; only the leaf order differs" } else { "; first ones:" },
        );
        for k in differing.iter().take(4) {
            let _ = writeln!(d, "  {k:?}: sequential {:?}, parallel {:?}", s.get(k), p.get(k));
        }
    }
    (!d.is_empty()).then_some(d)
}

/// `PAREX_SOAK=N` multiplies case counts by `N` (default 1).
pub(crate) fn soak() -> u32 {
    std::env::var("PAREX_SOAK").ok().and_then(|s| s.parse().ok()).unwrap_or(1).max(1)
}

/// A fixed, file-free proptest configuration: runs are the same every time.
/// The generated strategies' tuple, in `Spec`'s field order (workload, accounts, txs,
/// blocks, seed, hot, fail and declare per mille), as a `Spec`.
pub(crate) type SpecTuple = (Workload, usize, usize, usize, u64, Option<usize>, u32, u32);

/// Builds the `Spec` of a [`SpecTuple`].
pub(crate) fn spec_of(t: SpecTuple) -> Spec {
    let (workload, accounts, txs, blocks, seed, hot, fail_per_mille, declare_per_mille) = t;
    Spec {
        workload,
        accounts,
        txs,
        blocks,
        seed,
        hot,
        fail_per_mille,
        declare_per_mille,
        cross: None,
    }
}

pub(crate) fn config(cases: u32, seed: u64) -> ProptestConfig {
    ProptestConfig {
        cases: cases * soak(),
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(seed),
        max_shrink_iters: 256,
        ..ProptestConfig::default()
    }
}
