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

/// The history predictor (`parex_core::policy::History`, on in the host's replay): a
/// chain of contended contract blocks runs its first block on Block-STM, which gives up
/// (a miss), the next ones on the sequential engine up front (predicted), then checks on
/// Block-STM again when the trust is spent. Every block's receipts, state and roots are
/// the sequential executor's, with the predictor on or off.
#[test]
fn predicted_blocks_match_sequential() {
    use parex::core::engine::Reason;
    use parex::core::policy::FIRST_TRUST;
    use parex::host::chain::replay_predicting;
    let blocks = 2 + FIRST_TRUST as usize;
    let spec = Spec { hot: Some(1), ..Spec::new(Workload::Amm, 16, 300, blocks, 0x009E_D1C7) };
    let (world, mut gen) = Generator::new(&spec);
    let chain: Vec<_> = (0..blocks).map(|_| gen.block()).collect();
    let seq = assert_same(&world, &chain, &[2, 3], 1);
    let reasons = |predict| {
        let out = replay_predicting(
            &world,
            &chain,
            Mode::Parallel(2),
            Limits::DEFAULT,
            &mut KeccakHasher,
            predict,
        )
        .expect("replay");
        assert!(diff(&seq, &out, &chain).is_none(), "predict {predict}");
        out.blocks.iter().map(|b| b.choice.reason).collect::<Vec<_>>()
    };
    let mut want = vec![Reason::Contended];
    want.extend(vec![Reason::Predicted; FIRST_TRUST as usize]);
    want.push(Reason::Contended);
    assert_eq!(reasons(true), want, "a miss, then predictions, then a check");
    assert!(reasons(false).iter().all(|r| *r == Reason::Contended), "without the predictor");
}

/// Mispredicted blocks: a history taught that the token contract is contended (on a
/// chain of two accounts) sends calm token blocks (five hundred accounts) to the
/// sequential engine until its trust is spent; then Block-STM runs one, finds it fine (a
/// hit) and the contract is forgotten. Every block's hash is the sequential replay's.
#[test]
fn mispredicted_blocks_match_sequential() {
    use parex::core::engine::Reason;
    use parex::core::exec::BlockEnv;
    use parex::core::policy::{Predictions, FIRST_TRUST};
    use parex::host::chain::{state_capacity, WorldState};
    use parex::host::engine::Executor;
    let limits = Limits::DEFAULT;
    let contended = Spec { fail_per_mille: 0, ..Spec::new(Workload::Token, 2, 300, 1, 0x3157) };
    let calm = Spec::new(Workload::Token, 500, 300, 2 + FIRST_TRUST as usize, 0x3158);
    let (hot_world, mut hot_gen) = Generator::new(&contended);
    let (world, mut gen) = Generator::new(&calm);
    let addresses = |w: &World| w.contracts.iter().map(|c| c.0).collect::<Vec<_>>();
    assert_eq!(addresses(&hot_world), addresses(&world), "the same token contract");
    let blocks: Vec<_> = (0..calm.blocks).map(|_| gen.block()).collect();
    let want = replay_with(&world, &blocks, Mode::Sequential);
    let mut exec = Executor::new(limits);
    let mode = Mode::Parallel(2);
    let hot_block = vec![hot_gen.block()];
    let mut loaded = WorldState::new(&hot_world, state_capacity(&hot_world, &hot_block, &limits));
    let (state, contracts) = loaded.load(&mut KeccakHasher).expect("genesis");
    let env = BlockEnv { number: 1, beneficiary: hot_world.beneficiary, contracts, limits };
    let taught = exec.execute(&state, &env, &hot_block[0], mode).expect("the contended block");
    assert_eq!(taught.choice.reason, Reason::Contended);
    let mut loaded = WorldState::new(&world, state_capacity(&world, &blocks, &limits));
    let (mut state, contracts) = loaded.load(&mut KeccakHasher).expect("genesis");
    let (mut parent, mut reasons) = ([0; 32], Vec::new());
    for (i, txs) in blocks.iter().enumerate() {
        let env =
            BlockEnv { number: i as u64 + 1, beneficiary: world.beneficiary, contracts, limits };
        let out = exec.execute(&state, &env, txs, mode).expect("block");
        reasons.push(out.choice.reason);
        let (_, hash) =
            exec.commit(&mut state, parent, &env, txs, &out, &mut KeccakHasher, 2).expect("commit");
        assert_eq!(hash, want.blocks[i].hash, "block {}", i + 1);
        parent = hash;
    }
    let mut expect = vec![Reason::Predicted; FIRST_TRUST as usize];
    expect.extend([Reason::Contracts, Reason::Contracts]);
    assert_eq!(reasons, expect);
    let predictions = Predictions { sequential: FIRST_TRUST as u64, hits: 2, misses: 1 };
    assert_eq!(exec.predictions(), predictions);
}
