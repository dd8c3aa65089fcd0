//! One hot block re-run many times on several workers: races show up as a difference on
//! some run.

use std::time::Instant;

use parex::core::receipt::Status;
use parex::host::workload::{Generator, Spec, Workload};

use super::*;

#[test]
fn hot_transfers_rerun_identically_on_the_footprint_scheduler() {
    rerun_hot(Path::Footprint, "2 accounts, 2000 transfers", hot_transfers());
}

/// Re-runs one block 50 times on 2 and on 4 workers: races show up as a difference on
/// some run.
fn rerun_hot(path: Path, name: &str, spec: Spec) {
    let start = Instant::now();
    let (world, mut gen) = Generator::new(&spec);
    let block = vec![gen.block()];
    let (seq, fell_back) = assert_same_on(path, &world, &block, &[2, 4], 50 * soak() as usize);
    let ok = seq.blocks[0].receipts.iter().filter(|r| r.status == Status::Success).count();
    assert!(ok > spec.txs / 2, "{name}: the block should mostly succeed ({ok} of {})", spec.txs);
    eprintln!(
        "{name} ({path:?} path): 1 block of {} txs re-run 50 times on 2 and on 4 workers, \
         {fell_back} runs fell back as contended, in {:.1?}",
        spec.txs,
        start.elapsed()
    );
}

fn hot_transfers() -> Spec {
    Spec { fail_per_mille: 0, ..Spec::new(Workload::Transfers, 2, 2_000, 1, 0x4075_0001) }
}

fn hot_amm() -> Spec {
    Spec { hot: Some(1), fail_per_mille: 0, ..Spec::new(Workload::Amm, 16, 2_000, 1, 0x4075_0002) }
}

#[test]
fn hot_transfers_rerun_identically() {
    rerun_hot(Path::Host, "2 accounts, 2000 transfers", hot_transfers());
}

#[test]
fn hot_amm_pool_reruns_identically() {
    rerun_hot(Path::Host, "1 AMM pool, 2000 swaps", hot_amm());
}

#[test]
fn hot_transfers_rerun_identically_on_the_engine() {
    rerun_hot(Path::Engine, "2 accounts, 2000 transfers", hot_transfers());
}

#[test]
fn hot_amm_pool_reruns_identically_on_the_engine() {
    rerun_hot(Path::Engine, "1 AMM pool, 2000 swaps", hot_amm());
}

/// Regression: the in-order race (see `differential`'s docs). 2 accounts, 1000
/// transfers, 100 runs on each of 2, 4 and 8 workers; before the fix a few percent of
/// runs differed.
#[test]
fn engine_race_reproduction() {
    let spec =
        Spec { fail_per_mille: 0, ..Spec::new(Workload::Transfers, 2, 1_000, 1, 0x4075_0001) };
    let (world, mut gen) = Generator::new(&spec);
    assert_same_on(Path::Engine, &world, &[gen.block()], &[2, 4, 8], 100);
}
