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
//! `engine_race_reproduction` pins a race these tests found: an execution claimed "in
//! order" (so skipping validation) while another worker was about to claim the
//! transaction below it, which then executed after it. Debug builds also re-check every
//! final read set in Block-STM's `finish`.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Instant;

use parex::core::engine::{Block, Choice, Engine, EngineKind, KeyTable, Output, WorkerMemory};
use parex::core::error::{BlockError, Invariant};
use parex::core::exec::{Access, BlockEnv, Limits, INTRINSIC_GAS};
use parex::core::parallel::block_stm::mvmemory::{IndexWord, MvKey, MvNode};
use parex::core::parallel::block_stm::scheduler::TxState;
use parex::core::parallel::block_stm::{BlockStm, BlockStmMemory, ReadCell, TxData, WriteCell};
use parex::core::receipt::{Receipt, Status};
use parex::core::state::{GenesisAccount, StateEntry};
use parex::core::tx::Transaction;
use parex::core::vm::VmScratch;
use parex::core::{Address, KeccakHasher};
use parex::host::chain::{replay, state_capacity, ChainOutcome, WorldState};
use parex::host::engine::{Mode, VM_MEMORY, VM_STACK};
use parex::host::workload::{declare, Generator, Spec, Workload, World, BENEFICIARY};
use proptest::prelude::*;
use proptest::test_runner::{RngSeed, TestRunner};

/// Replays `blocks` on `world` with `mode` and the default limits.
pub(crate) fn replay_with(world: &World, blocks: &[Vec<Transaction>], mode: Mode) -> ChainOutcome {
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
    /// `Mode::Footprint`: the footprint engine (native transfers only), without the
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
    blocks: &[Vec<Transaction>],
    threads: &[usize],
    reruns: usize,
) -> ChainOutcome {
    assert_same_on(Path::Host, world, blocks, threads, reruns).0
}

/// [`assert_same`] on either path; also returns how many parallel block runs fell back.
pub(crate) fn assert_same_on(
    path: Path,
    world: &World,
    blocks: &[Vec<Transaction>],
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

/// The first difference between a sequential and a parallel outcome, if any.
fn diff(seq: &ChainOutcome, par: &ChainOutcome, blocks: &[Vec<Transaction>]) -> Option<String> {
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
                blocks[b][i], s.receipts[i], p.receipts[i]
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
pub(crate) fn config(cases: u32, seed: u64) -> ProptestConfig {
    ProptestConfig {
        cases: cases * soak(),
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(seed),
        max_shrink_iters: 256,
        ..ProptestConfig::default()
    }
}

/// A generated differential case.
#[derive(Clone, Debug)]
struct Case {
    spec: Spec,
    threads: Vec<usize>,
    reruns: usize,
}

/// Key universes from 2 to 100,000, mostly small.
fn accounts() -> impl Strategy<Value = usize> {
    prop_oneof![
        10 => 2usize..=8,
        6 => 9usize..=64,
        3 => 65usize..=2_000,
        1 => prop::sample::select(vec![10_000usize, 30_000, 100_000]),
    ]
}

fn spec(txs: impl Strategy<Value = usize>) -> impl Strategy<Value = Spec> {
    (
        prop::sample::select(Workload::ALL.to_vec()),
        accounts(),
        txs,
        1usize..=3,
        any::<u64>(),
        prop_oneof![2 => Just(None), 2 => (1usize..=4).prop_map(Some), 1 => (5usize..=300).prop_map(Some)],
        prop_oneof![1 => Just(0u32), 3 => 1u32..200],
        prop::sample::select(vec![0u32, 500, 1000]),
    )
        .prop_map(|(workload, accounts, txs, blocks, seed, hot, fail, declare)| Spec {
            workload,
            accounts,
            txs,
            blocks,
            seed,
            hot,
            fail_per_mille: fail,
            declare_per_mille: declare,
        })
}

fn case(txs: impl Strategy<Value = usize>) -> impl Strategy<Value = Case> {
    (spec(txs), prop::sample::subsequence(vec![1usize, 2, 3, 4, 8], 1..=2), 1usize..=3)
        .prop_map(|(spec, threads, reruns)| Case { spec, threads, reruns })
}

/// Runs `cases` generated cases on `path` and prints how many blocks they held.
fn run_cases(path: Path, name: &str, cases: u32, seed: u64, strategy: impl Strategy<Value = Case>) {
    let start = Instant::now();
    let (blocks, runs, txs, fell_back) =
        (Cell::new(0usize), Cell::new(0usize), Cell::new(0usize), Cell::new(0usize));
    let mut runner = TestRunner::new(config(cases, seed));
    let result = runner.run(&strategy, |c| {
        let (world, mut gen) = Generator::new(&c.spec);
        let chain: Vec<_> = (0..c.spec.blocks).map(|_| gen.block()).collect();
        let (_, fb) = assert_same_on(path, &world, &chain, &c.threads, c.reruns);
        fell_back.set(fell_back.get() + fb);
        blocks.set(blocks.get() + chain.len());
        runs.set(runs.get() + chain.len() * c.threads.len() * c.reruns);
        txs.set(txs.get() + chain.iter().map(Vec::len).sum::<usize>());
        Ok(())
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    eprintln!(
        "{name} ({path:?} path): {} generated blocks ({} transactions), {} parallel block runs \
         compared with sequential, {} of them fell back as contended, in {:.1?}",
        blocks.get(),
        txs.get(),
        runs.get(),
        fell_back.get(),
        start.elapsed()
    );
    // The engine must really run: at most three in four block runs may fall back (small
    // key universes are common here, and contended on purpose).
    assert!(fell_back.get() * 4 <= runs.get() * 3, "{name}: too many blocks fell back");
}

const SMALL_CASES: u32 = 1_200;
const LARGE_CASES: u32 = 24;

#[test]
fn generated_small_blocks_match_sequential() {
    run_cases(Path::Host, "small blocks", SMALL_CASES, 0xD1FF_0001, case(1usize..=300));
}

#[test]
fn generated_large_blocks_match_sequential() {
    run_cases(Path::Host, "large blocks", LARGE_CASES, 0xD1FF_0002, case(301usize..=4_000));
}

#[test]
fn generated_small_blocks_match_sequential_on_the_engine() {
    run_cases(Path::Engine, "small blocks", SMALL_CASES, 0xD1FF_0001, case(1usize..=300));
}

#[test]
fn generated_large_blocks_match_sequential_on_the_engine() {
    run_cases(Path::Engine, "large blocks", LARGE_CASES, 0xD1FF_0002, case(301usize..=4_000));
}

#[test]
fn generated_small_blocks_match_sequential_alone() {
    let cases = case(1usize..=300).prop_map(|c| Case { threads: vec![1], reruns: 1, ..c });
    run_cases(Path::Alone, "small blocks", SMALL_CASES / 4, 0xD1FF_0005, cases);
}

#[test]
fn generated_large_blocks_match_sequential_alone() {
    let cases = case(301usize..=4_000).prop_map(|c| Case { threads: vec![1], reruns: 1, ..c });
    run_cases(Path::Alone, "large blocks", LARGE_CASES / 2, 0xD1FF_0006, cases);
}

/// Generated native-transfer cases (every key universe, failure rate, access-list rate,
/// thread count) for the footprint scheduler.
fn transfer_case(txs: impl Strategy<Value = usize>) -> impl Strategy<Value = Case> {
    case(txs).prop_map(|mut c| {
        c.spec.workload = Workload::Transfers;
        c
    })
}

#[test]
fn generated_small_transfer_blocks_match_sequential_on_the_footprint_scheduler() {
    let cases = transfer_case(1usize..=300);
    run_cases(Path::Footprint, "small transfer blocks", SMALL_CASES / 2, 0xD1FF_0003, cases);
}

#[test]
fn generated_large_transfer_blocks_match_sequential_on_the_footprint_scheduler() {
    let cases = transfer_case(301usize..=4_000);
    run_cases(Path::Footprint, "large transfer blocks", LARGE_CASES, 0xD1FF_0004, cases);
}

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

fn worker<'w>(
    stack: &'w mut [u64],
    memory: &'w mut [u8],
    access: &'w mut [Access],
) -> WorkerMemory<'w> {
    WorkerMemory { vm: VmScratch { stack, memory }, access }
}

/// Block-STM's buffers for one block, `records` key records.
struct StmBufs {
    states: Vec<TxState>,
    data: Vec<TxData>,
    reads: Vec<ReadCell>,
    wcells: Vec<WriteCell>,
    keys: Vec<MvKey>,
    nodes: Vec<MvNode>,
    index: Vec<IndexWord>,
}

impl StmBufs {
    fn new(txs: usize, limits: &Limits, records: usize) -> Self {
        let l = BlockStmMemory::lengths(txs, limits);
        Self {
            states: (0..l.txs).map(|_| TxState::new()).collect(),
            data: (0..l.txs).map(|_| TxData::new()).collect(),
            reads: (0..l.reads).map(|_| ReadCell::default()).collect(),
            wcells: (0..l.writes).map(|_| WriteCell::default()).collect(),
            keys: (0..records).map(|_| MvKey::new()).collect(),
            nodes: (0..l.writes).map(|_| MvNode::new()).collect(),
            index: (0..BlockStmMemory::index_len(records)).map(|_| IndexWord::new()).collect(),
        }
    }

    fn memory(&mut self) -> BlockStmMemory<'_> {
        BlockStmMemory {
            states: &mut self.states,
            data: &mut self.data,
            reads: &mut self.reads,
            writes: &mut self.wcells,
            keys: &mut self.keys,
            index: &mut self.index,
            nodes: &mut self.nodes,
        }
    }
}

/// `run_alone` runs a block only once and only on its own: after it, a worker returns at
/// once and `finish` reads the block out; after a worker, it refuses.
#[test]
fn run_alone_is_the_only_run_of_its_block() {
    let spec = Spec::new(Workload::Token, 50, 200, 1, 0xA10E);
    let (world, mut gen) = Generator::new(&spec);
    let txs = gen.block();
    let seq = replay_with(&world, std::slice::from_ref(&txs), Mode::Sequential);
    let limits = Limits::DEFAULT;
    let mut loaded =
        WorldState::new(&world, state_capacity(&world, std::slice::from_ref(&txs), &limits));
    let (state, contracts) = loaded.load(&mut KeccakHasher).unwrap();
    let env = BlockEnv { number: 1, beneficiary: world.beneficiary, contracts, limits };
    let block = Block { state: &state, env, txs: &txs };
    let (n, w) = Output::lengths(txs.len(), &limits);
    let (mut stack, mut memory) = (vec![0u64; VM_STACK], vec![0u8; VM_MEMORY]);
    let mut access = vec![Access::EMPTY; limits.access_entries()];
    let mut idle = |_| std::hint::spin_loop();
    let choice = Choice { engine: EngineKind::BlockStm, keys: KeyTable::Full, ..Choice::default() };
    let full = BlockStmMemory::lengths(txs.len(), &limits).keys;
    for alone_first in [true, false] {
        let mut bufs = StmBufs::new(txs.len(), &limits, full);
        let (mut receipts, mut writes) = (vec![Receipt::EMPTY; n], vec![StateEntry::EMPTY; w]);
        let output = Output { receipts: &mut receipts, writes: &mut writes };
        let mut exec = BlockStm::prepare(block, bufs.memory(), output, &choice).unwrap();
        let alone_twice = Err(BlockError::Invariant(Invariant::AloneTwice));
        if alone_first {
            exec.run_alone(worker(&mut stack, &mut memory, &mut access)).unwrap();
            exec.run_worker(0, worker(&mut stack, &mut memory, &mut access), &mut idle).unwrap();
            let again = exec.run_alone(worker(&mut stack, &mut memory, &mut access));
            assert_eq!(again, alone_twice);
        } else {
            exec.run_worker(0, worker(&mut stack, &mut memory, &mut access), &mut idle).unwrap();
            let after = exec.run_alone(worker(&mut stack, &mut memory, &mut access));
            assert_eq!(after, alone_twice);
        }
        let out = exec.finish().unwrap();
        assert_eq!(out.receipts, seq.blocks[0].receipts, "alone first: {alone_first}");
    }
    // A block that fails under `run_alone` (too few key records) fails in `finish`, with
    // the typed error the policy answers with a full key table.
    let mut bufs = StmBufs::new(txs.len(), &limits, 2);
    let (mut receipts, mut writes) = (vec![Receipt::EMPTY; n], vec![StateEntry::EMPTY; w]);
    let output = Output { receipts: &mut receipts, writes: &mut writes };
    let mut exec = BlockStm::prepare(block, bufs.memory(), output, &choice).unwrap();
    exec.run_alone(worker(&mut stack, &mut memory, &mut access)).unwrap();
    assert_eq!(exec.finish().unwrap_err(), BlockError::MvFull { records: 2 });
}

/// Regression: the in-order race (see the module docs). 2 accounts, 1000 transfers, 100
/// runs on each of 2, 4 and 8 workers; before the fix a few percent of runs differed.
#[test]
fn engine_race_reproduction() {
    let spec =
        Spec { fail_per_mille: 0, ..Spec::new(Workload::Transfers, 2, 1_000, 1, 0x4075_0001) };
    let (world, mut gen) = Generator::new(&spec);
    assert_same_on(Path::Engine, &world, &[gen.block()], &[2, 4, 8], 100);
}

/// `n` pairs of fresh accounts `(2i, 2i+1)` with `balance` each.
fn pairs_world(n: usize, balance: u64) -> World {
    let mut accounts: Vec<_> = (0..2 * n as u64)
        .map(|i| GenesisAccount { addr: Address(0x1000 + i), balance, nonce: 0 })
        .collect();
    accounts.push(GenesisAccount { addr: BENEFICIARY, balance: 0, nonce: 0 });
    World { accounts, beneficiary: BENEFICIARY, ..World::default() }
}

fn transfer(from: u64, nonce: u64, to: u64, value: u64) -> Transaction {
    Transaction::transfer(Address(from), nonce, Address(to), value, INTRINSIC_GAS, 1)
}

/// The footprint scheduler on the shapes of transfer its footprints special-case: self
/// transfers, transfers to and from the beneficiary (which makes the beneficiary's
/// balance a read key), new recipients, zero values, failures that still pay fees,
/// rejections that write nothing, free gas, and several transactions per sender.
#[test]
fn footprint_edge_cases_match_sequential() {
    let mut world = pairs_world(4, 1_000_000);
    let ben = BENEFICIARY.0;
    for a in &mut world.accounts {
        if a.addr == BENEFICIARY {
            a.balance = 50_000;
        }
    }
    let free = |mut tx: Transaction| {
        tx.gas_price = 0;
        tx
    };
    let block = vec![
        transfer(0x1000, 0, 0x1001, 5),
        transfer(0x1002, 0, 0x1002, 7),          // to itself
        transfer(0x1003, 0, ben, 11),            // to the beneficiary
        transfer(ben, 0, 0x1004, 13),            // from the beneficiary
        transfer(0x1000, 1, 0x9999, 17),         // to a new account
        transfer(0x1001, 0, 0x8888, 0),          // zero value, new account
        transfer(0x1004, 0, 0x1005, 10_000_000), // insufficient balance: fee only
        transfer(0x1005, 7, 0x1006, 1),          // bad nonce: rejected
        free(transfer(0x1006, 0, 0x1007, 3)),    // no fee
        transfer(ben, 1, ben, 1),                // beneficiary to itself
        transfer(0x9999, 0, 0x1000, 1),          // spends what it just received
        Transaction::transfer(Address(0x1007), 0, Address(0x1000), 1, u64::MAX, 2),
    ];
    // Without the transactions from the beneficiary its credits are pooled rather than
    // chained; also blocks that credit it nothing (every transaction rejected) and only
    // free credits.
    let pooled: Vec<_> = block.iter().filter(|t| t.from != BENEFICIARY).cloned().collect();
    let rejected = vec![transfer(0x1005, 7, 0x1006, 1), transfer(0x1000, 9, ben, 1)];
    let free_only = vec![free(transfer(0x1006, 0, 0x1007, 3)), free(transfer(0x1002, 0, ben, 3))];
    let blocks = vec![block.clone(), block];
    assert_same_on(Path::Footprint, &world, &blocks, &[1, 2, 3, 4, 8], 20);
    assert_same(&world, &blocks, &[1, 2, 4], 5);
    for block in [pooled, rejected, free_only] {
        let blocks = vec![block.clone(), block];
        assert_same_on(Path::Footprint, &world, &blocks, &[1, 2, 3, 4, 8], 20);
    }
}

/// A large block in which the beneficiary sends now and then: its partition is listed
/// again from the whole block, credits included, over every chunk.
#[test]
fn footprint_beneficiary_sending_in_a_large_block_matches_sequential() {
    let spec = Spec { fail_per_mille: 20, ..Spec::new(Workload::Transfers, 500, 3_000, 1, 0xBE) };
    let (mut world, mut gen) = Generator::new(&spec);
    for a in &mut world.accounts {
        if a.addr == world.beneficiary {
            a.balance = 1_000_000;
        }
    }
    let mut block = gen.block();
    for k in 0..6u64 {
        let at = (k as usize * 557) % block.len();
        block.insert(at, transfer(world.beneficiary.0, k, 0x1000 + k, 10 + k));
    }
    assert_same_on(Path::Footprint, &world, &[block], &[1, 2, 3, 4], 3);
}

#[test]
fn disjoint_declared_transfers_never_abort() {
    let n = 500;
    let world = pairs_world(n, 1_000_000);
    let block: Vec<_> = (0..n as u64)
        .map(|i| {
            let mut tx = transfer(0x1000 + 2 * i, 0, 0x1000 + 2 * i + 1, 10 + i);
            tx.access = Some(declare(&tx));
            tx
        })
        .collect();
    let blocks = vec![block];
    let seq = assert_same(&world, &blocks, &[2, 4], 5);
    assert_same_on(Path::Engine, &world, &blocks, &[2, 4], 5);
    assert!(seq.blocks[0].receipts.iter().all(|r| r.status == Status::Success));
    assert!(seq.blocks[0].receipts.iter().all(|r| !r.undeclared_access));
    for run in 0..20 {
        let par = replay_with(&world, &blocks, Mode::Parallel(2));
        let s = par.blocks[0].stats;
        assert_eq!((s.aborts, s.reexecutions, s.undeclared), (0, 0, 0), "run {run}: {s:?}");
        assert!(!par.blocks[0].choice.reason.fell_back());
    }
}

#[test]
fn undeclared_access_is_flagged_and_still_exact() {
    let world = pairs_world(4, 1_000_000);
    // 0x1007 starts empty: only tx 1's undeclared credit lets it pay for tx 2.
    let mut accounts = world.accounts.clone();
    accounts[7].balance = 0;
    let world = World { accounts, ..world };
    let declared = |mut tx: Transaction| {
        tx.access = Some(declare(&tx));
        tx
    };
    let mut undeclared = transfer(0x1000, 0, 0x1007, 5_000);
    undeclared.access = Some(Default::default()); // declares nothing: the credit is undeclared
    let mut read_only = transfer(0x1002, 0, 0x1003, 7);
    read_only.access = Some(declare(&read_only));
    read_only.access.as_mut().unwrap()[0].write = false; // declared read, but written
    let block = vec![
        declared(transfer(0x1004, 0, 0x1005, 1)),
        undeclared,
        declared(transfer(0x1007, 0, 0x1006, 1_000)),
        read_only,
        transfer(0x1001, 0, 0x1000, 3), // no list at all: never flagged
    ];
    let blocks = vec![block];
    let seq = assert_same(&world, &blocks, &[1, 2, 3, 4, 8], 10);
    assert_same_on(Path::Engine, &world, &blocks, &[1, 2, 3, 4, 8], 10);
    let flags: Vec<_> = seq.blocks[0].receipts.iter().map(|r| r.undeclared_access).collect();
    assert_eq!(flags, [false, true, false, true, false]);
    assert!(seq.blocks[0].receipts.iter().all(|r| r.status == Status::Success), "{seq:?}");
    assert_eq!(seq.blocks[0].stats.undeclared, 2);
    let par = replay_with(&world, &blocks, Mode::Parallel(2));
    assert_eq!(par.blocks[0].stats.undeclared, 2);
    assert!(!par.blocks[0].choice.reason.fell_back());
}

/// An empty block and a chain with empty blocks between full ones.
#[test]
fn empty_blocks_match() {
    let (world, mut gen) = Generator::new(&Spec::new(Workload::Mixed, 20, 50, 2, 3));
    let blocks = vec![vec![], gen.block(), vec![], gen.block()];
    assert_same(&world, &blocks, &[1, 2, 4], 2);
    assert_same_on(Path::Engine, &world, &blocks, &[1, 2, 4], 2);
    let (world, mut gen) = Generator::new(&Spec::new(Workload::Transfers, 20, 50, 2, 3));
    let blocks = vec![vec![], gen.block(), vec![], gen.block()];
    assert_same_on(Path::Footprint, &world, &blocks, &[1, 2, 4], 2);
}
