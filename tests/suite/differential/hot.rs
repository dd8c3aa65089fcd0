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

/// The history predictor (`parex_core::policy::History`, on in the host's replay) on a
/// chain of contended contract blocks: each block ran as the history, taught by the
/// blocks before it, said (whether Block-STM gives up on a block depends on timing, so
/// the history is rebuilt from what happened); and every block's receipts, state and
/// roots are the sequential executor's, with the predictor on or off.
#[test]
fn predicted_blocks_match_sequential() {
    use parex::core::engine::Reason;
    use parex::core::policy::{History, FIRST_TRUST};
    use parex::host::chain::replay_predicting;
    let blocks = 2 + FIRST_TRUST as usize;
    let spec = Spec { hot: Some(1), ..Spec::new(Workload::Amm, 16, 300, blocks, 0x009E_D1C7) };
    let (world, mut gen) = Generator::new(&spec);
    let chain: Vec<_> = (0..blocks).map(|_| gen.block()).collect();
    let seq = assert_same(&world, &chain, &[2, 3], 1);
    let run = |predict| {
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
        out
    };
    let out = run(true);
    let mut history = History::new();
    for (txs, b) in chain.iter().zip(&out.blocks) {
        let predicted = b.choice.reason == Reason::Predicted;
        assert_eq!(predicted, history.predicts_contended(txs.txs()), "block {}", b.header.number);
        assert_eq!(b.prediction, history.learn(txs.txs(), &b.choice, &b.stats));
    }
    let off = run(false);
    assert!(off
        .blocks
        .iter()
        .all(|b| b.choice.reason != Reason::Predicted && b.prediction.is_none()));
}

/// Mispredicted blocks: a history taught that a token contract is contended sends calm
/// blocks of calls to it (five hundred accounts) to the sequential engine until its trust
/// is spent; then Block-STM runs one, finds it fine (a hit) and the contract is
/// forgotten. Every block's hash is the sequential replay's.
#[test]
fn mispredicted_blocks_match_sequential() {
    use parex::core::engine::{Choice, Reason};
    use parex::core::exec::BlockEnv;
    use parex::core::policy::FIRST_TRUST;
    use parex::core::types::Shard;
    use parex::host::chain::{state_capacity, WorldState};
    use parex::host::engine::Executor;
    let limits = Limits::DEFAULT;
    let calm = Spec::new(Workload::Token, 500, 300, 2 + FIRST_TRUST as usize, 0x3158);
    let (world, mut gen) = Generator::new(&calm);
    let blocks: Vec<_> = (0..calm.blocks).map(|_| gen.block()).collect();
    let want = replay_with(&world, &blocks, Mode::Sequential);
    let mut exec = Executor::new(limits);
    let mode = Mode::Parallel(2);
    // Taught that a block of these calls was contended (Block-STM gave up on it).
    let gave_up =
        Choice { engine: EngineKind::Sequential, reason: Reason::Contended, ..Choice::default() };
    exec.history_mut().expect("on by default").learn(
        blocks[0].txs(),
        &gave_up,
        &Default::default(),
    );
    let mut loaded = WorldState::new(&world, state_capacity(&world, &blocks, &limits));
    let (mut state, contracts) = loaded.load(&mut KeccakHasher).expect("genesis");
    let (mut parent, mut reasons) = ([0; 32], Vec::new());
    for (i, txs) in blocks.iter().map(TxBlock::txs).enumerate() {
        let env = BlockEnv {
            number: i as u64 + 1,
            beneficiary: world.beneficiary,
            contracts,
            limits,
            shard: Shard::WHOLE,
            delivered: 0,
        };
        let out = exec.execute(&state, &env, txs, mode).expect("block");
        reasons.push(out.choice.reason);
        let (_, hash) =
            exec.commit(&mut state, parent, &env, txs, &out, &mut KeccakHasher, 2).expect("commit");
        assert_eq!(hash, want.blocks[i].hash, "block {}", i + 1);
        parent = hash;
    }
    let trust = FIRST_TRUST as usize;
    assert_eq!(reasons[..trust], vec![Reason::Predicted; trust][..], "predicted while trusted");
    assert_ne!(reasons[trust], Reason::Predicted, "then checked on Block-STM");
    let p = exec.predictions();
    assert_eq!(p.sequential, FIRST_TRUST as u64);
    if reasons[trust] == Reason::Contracts {
        // Found fine: forgotten, so the last block runs on Block-STM too.
        assert_ne!(reasons[trust + 1], Reason::Predicted);
        assert!(p.hits >= 1 && p.misses >= 1, "{p:?}");
    }
}

/// Small declared blocks of hot contract calls, dealt to lanes, on 3 and 5 workers: a
/// worker sets transactions aside while their touchers in other lanes run, and may claim
/// a lane nobody runs yet while some wait aside (those then run again in order with the
/// new lane's). An early version waited, after such a claim, for a transaction it had
/// dropped from aside: 2 of 3,000 such chains failed in release builds on 3 workers (a
/// race; a debug build did not show it here, `PAREX_SOAK` runs more). Every block must
/// match the sequential engine, on the footprint engine.
#[test]
fn hot_declared_lanes_with_transactions_set_aside_match_sequential() {
    let start = Instant::now();
    let cases = 1000 * soak() as usize;
    for seed in 0..cases {
        let workload = [Workload::Nft, Workload::Mixed, Workload::Amm, Workload::Game][seed % 4];
        let spec = Spec {
            hot: Some(1 + seed % 3),
            fail_per_mille: 57,
            declare_per_mille: 1000,
            ..Spec::new(workload, 200 + seed * 37 % 900, 50 + seed * 13 % 200, 3, seed as u64)
        };
        let (world, mut gen) = Generator::new(&spec);
        let chain: Vec<_> = (0..spec.blocks).map(|_| gen.block()).collect();
        assert_same_on(Path::Footprint, &world, &chain, &[3, 5], 1);
    }
    eprintln!(
        "{cases} hot declared chains of 3 blocks on 3 and 5 workers in {:.1?}",
        start.elapsed()
    );
}
