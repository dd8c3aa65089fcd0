//! Generated blocks of every workload, key universe and thread count against the
//! sequential executor, on the host path, on the engines alone and, for native transfers,
//! on the footprint scheduler.

use std::cell::Cell;
use std::time::Instant;

use parex::core::exec::HotKeys;
use parex::core::types::{Address, StateKey};
use parex::host::workload::{Generator, Spec, Workload};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;

use super::*;

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
        .prop_map(spec_of)
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
        txs.set(txs.get() + chain.iter().map(TxBlock::len).sum::<usize>());
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

/// Generated cases of every workload in which every transaction declares its access list
/// as `parex gen` writes it (`Sample::access_list`): the footprint scheduler plans the
/// contract calls too. Forced, with no fallback, so a list that missed a key the call
/// touches fails the test.
fn declared_case(txs: impl Strategy<Value = usize>) -> impl Strategy<Value = Case> {
    case(txs).prop_map(|mut c| {
        c.spec.declare_per_mille = 1000;
        c
    })
}

#[test]
fn generated_small_declared_blocks_match_sequential_on_the_footprint_scheduler() {
    let cases = declared_case(1usize..=300);
    run_cases(Path::Footprint, "small declared blocks", SMALL_CASES / 2, 0xD1FF_0007, cases);
}

#[test]
fn generated_large_declared_blocks_match_sequential_on_the_footprint_scheduler() {
    let cases = declared_case(301usize..=4_000);
    run_cases(Path::Footprint, "large declared blocks", LARGE_CASES, 0xD1FF_0008, cases);
}

/// Declared blocks in which some lists are wrong (an entry dropped, or a slot changed):
/// on the host path the footprint scheduler catches the wrong list and the block runs
/// again on Block-STM, with the sequential executor's result (`undeclared_access` in
/// the receipts included).
#[test]
fn generated_misdeclared_blocks_match_sequential() {
    let strategy = (declared_case(1usize..=600), any::<u64>());
    let mut runner = TestRunner::new(config(SMALL_CASES / 4, 0xD1FF_0009));
    let (blocks, wrong, fell_back) = (Cell::new(0usize), Cell::new(0usize), Cell::new(0usize));
    let result = runner.run(&strategy, |(c, seed)| {
        let (world, mut gen) = Generator::new(&c.spec);
        let declared: Vec<_> = (0..c.spec.blocks).map(|_| gen.block()).collect();
        let mut rng = seed;
        // Some lists made wrong: one key short, or one key off by a slot.
        let mut misdeclare = |list: &AccessList| {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let mut list = list.clone();
            match rng >> 60 {
                0 => {
                    list.pop();
                }
                1 => {
                    if let Some(a) = list.first_mut() {
                        let mut key = a.key();
                        key.slot ^= 1;
                        *a = parex::core::tx::AccessEntry::new(key, a.write);
                    }
                }
                _ => return list,
            }
            wrong.set(wrong.get() + 1);
            list
        };
        let chain: Vec<TxBlock> = declared
            .iter()
            .map(|b| {
                let lists = b.txs().iter().enumerate();
                let lists = lists.filter_map(|(i, tx)| Some((i, misdeclare(tx.access?))));
                let lists = lists.collect();
                let bare = b.txs().iter().map(|tx| Transaction { access: None, ..tx.clone() });
                TxBlock::with_lists(bare.collect(), lists)
            })
            .collect();
        blocks.set(blocks.get() + chain.len());
        let (_, fb) = assert_same_on(Path::Host, &world, &chain, &c.threads, 1);
        fell_back.set(fell_back.get() + fb);
        Ok(())
    });
    if let Err(e) = result {
        panic!("misdeclared blocks: {e}");
    }
    eprintln!(
        "misdeclared blocks: {} blocks, {} wrong lists, {} block runs fell back",
        blocks.get(),
        wrong.get(),
        fell_back.get()
    );
    // Wrong lists were caught (the footprint scheduler gave up and another engine ran).
    assert!(fell_back.get() > 0);
}

/// Generated blocks of every workload with hot keys forced on Block-STM: each a storage
/// word (slot 0 to 2, where the samples keep their counters and reserves, or any slot)
/// or the balance of one of the world's contracts, or of an address that is none. The
/// right keys make calls wait for the previous call of their contract; wrong ones make
/// them wait for nothing, or for a call that never writes the key. Either way the
/// results are the sequential executor's.
#[test]
fn generated_blocks_with_hot_keys_match_sequential() {
    let keys = prop::collection::vec((any::<prop::sample::Index>(), 0u64..5, any::<u64>()), 1..=6);
    let strategy = (case(1usize..=600), keys);
    let mut runner = TestRunner::new(config(SMALL_CASES / 8, 0xD1FF_000A));
    let (blocks, waits) = (Cell::new(0usize), Cell::new(0u64));
    let result = runner.run(&strategy, |(c, picks)| {
        let (world, mut gen) = Generator::new(&c.spec);
        let chain: Vec<_> = (0..c.spec.blocks).map(|_| gen.block()).collect();
        let mut keys = HotKeys::new();
        for (index, kind, slot) in picks {
            let addr = match world.contracts.len() {
                0 => Address(slot),
                n => world.contracts[index.index(n)].0,
            };
            let key = match kind {
                0..=2 => StateKey::storage(addr, kind),
                3 => StateKey::storage(addr, slot),
                _ => StateKey::balance(addr),
            };
            keys.set(key, 1);
        }
        waits.set(waits.get() + assert_same_with_hot_keys(&world, &chain, &c.threads, keys));
        blocks.set(blocks.get() + chain.len());
        Ok(())
    });
    if let Err(e) = result {
        panic!("blocks with hot keys: {e}");
    }
    eprintln!(
        "blocks with hot keys: {} blocks, {} waits on predicted writers",
        blocks.get(),
        waits.get()
    );
    // The keys were used: some calls waited for their contract's previous call.
    assert!(waits.get() > 0);
}
