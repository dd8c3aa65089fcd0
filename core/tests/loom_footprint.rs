//! Model-checks the footprint engine's phases with loom:
//! `RUSTFLAGS="--cfg loom" cargo test -p parex-core --test loom_footprint --release`
//! (`LOOM_MAX_PREEMPTIONS=3` in `.ci/test`).
//!
//! Two workers (two loom threads, indices 0 and 1, each with its own memory and an idle
//! hook that yields) run the real [`FootprintEngine`] through the [`Engine`] protocol,
//! prepared for two partitions, on tiny blocks of native transfers over a small
//! committed state; after both returned, `finish` must give the receipts and the sorted
//! write set that the sequential engine gives for the same block. Every interleaving
//! must end (a spinning worker that never gets its value would exhaust loom's branch
//! budget) with that result. In release on the development machine (2 cores) the three
//! models take about 25 s, 27 s and 50 s (245,000, 245,000 and 194,000 iterations).
//!
//! * `chained_dependency`: transaction 1 spends what transaction 0 sent it (its sender
//!   has nothing committed, so it is valid only if it reads transaction 0's value).
//!   The splitter falls on address 2, so both partitions have keys ({1} and {2, 3, 9}).
//!   One near dependency in two transactions makes the block serial (`SERIAL_RATIO`):
//!   one batch of both, run by whichever worker claims it.
//! * `summed_recipient_and_pooled_fees`: two senders credit one recipient (a summed key:
//!   two deltas added up by the read-out) and their fees are pooled for the
//!   beneficiary (not a sender), whose balance the read-out adds up from the pools.
//!   Partitions {1, 2} (the beneficiary's, with its pooled record) and {3, 4} (the
//!   summed recipient's). One batch.
//! * `dependency_across_batches`: blocks under [`BATCH`] transactions are one batch, so
//!   the two tiny blocks above run their execute phase on one worker. This block has
//!   `BATCH + 1` transfers: 63 independent ones to one sink (a summed key), then
//!   transaction 63 sends to an empty account and transaction 64, alone in batch 1
//!   (worker 1's own), spends it. With one near dependency in 65 transactions the block
//!   is not serial, so worker 1 sets transaction 64 aside and, its batch having no
//!   next, waits on transaction 63's `done` flag (an acquire load pairing with worker
//!   0's release store) unless it claimed batch 0 itself. Two
//!   partitions (the splitter falls on address 117, between the senders).
//!
//! What is covered: the engine's atomics and their orderings (phase claims and
//! counters, batch claims, `done` flags, the tally lock, which both workers take only
//! in the last block, and the abort flag's loads) under every interleaving loom
//! explores within the preemption bound (`LOOM_MAX_PREEMPTIONS`, and at most 2 for the
//! last block: see the test), and that the result never depends on which worker ran
//! which part. What is not: the engine's shared cells are [`Slot`]s, which stay plain
//! `core::cell::UnsafeCell`s under `cfg(loom)` (they must be `repr(transparent)`:
//! `Slot::from_mut_slice` reinterprets caller memory), so loom does not check the
//! accesses to them; a missing edge shows only if it changes what a worker reads
//! through an atomic, or the result. (Tried: the phase counters' release increments
//! made relaxed fail at once, since the counts they publish are atomics; the `done`
//! flag's release store made relaxed passes, since the value it publishes is a `Slot`.)
//! Nor are: a failing block (the abort is never raised), a beneficiary that sends (its
//! balance chained, its credits listed), more than two
//! workers or partitions, and the `done` and table headers that count blocks (each
//! block runs once, over fresh memory: first round).
#![cfg(loom)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use loom::sync::Arc;
use loom::thread;
use parex_core::engine::{Block, Choice, Engine, EngineKind, Output, WorkerMemory};
use parex_core::exec::{Access, BlockEnv, Limits};
use parex_core::parallel::footprint::{Done, FootprintEngine, FootprintMemory, Slot, BATCH};
use parex_core::receipt::{Receipt, Status};
use parex_core::sequential::{SeqMemory, Sequential};
use parex_core::state::{StateEntry, StateReader};
use parex_core::tx::Transaction;
use parex_core::types::Shard;
use parex_core::vm::VmScratch;
use parex_core::{Address, StateKey};

/// Committed state: a few balances (every other word is 0).
struct Committed(Vec<(StateKey, u64)>);

impl StateReader for Committed {
    fn read(&self, key: &StateKey) -> u64 {
        self.0.iter().find(|(k, _)| k == key).map_or(0, |(_, v)| *v)
    }
}

/// A block for the model: transactions, state and beneficiary, leaked once (plain data,
/// shared by every iteration).
#[derive(Clone, Copy)]
struct Case {
    txs: &'static [Transaction<'static>],
    state: &'static Committed,
    beneficiary: Address,
}

impl Case {
    fn new(txs: Vec<Transaction<'static>>, balances: &[(u64, u64)], beneficiary: u64) -> Self {
        let state = balances.iter().map(|&(a, v)| (StateKey::balance(Address(a)), v)).collect();
        Self {
            txs: Box::leak(txs.into_boxed_slice()),
            state: Box::leak(Box::new(Committed(state))),
            beneficiary: Address(beneficiary),
        }
    }

    fn block(&self) -> Block<'static, Committed> {
        let env = BlockEnv {
            number: 1,
            beneficiary: self.beneficiary,
            contracts: &[],
            limits: LIMITS,
            shard: Shard::WHOLE,
            delivered: 0,
        };
        Block { state: self.state, env, txs: self.txs }
    }
}

const LIMITS: Limits = Limits::DEFAULT;
const GAS: u64 = 1_000;

fn transfer(from: u64, to: u64, value: u64) -> Transaction<'static> {
    Transaction::transfer(Address(from), 0, Address(to), value, GAS, 1)
}

/// One worker's VM and access-set memory.
struct WorkerBufs {
    stack: Vec<u64>,
    memory: Vec<u8>,
    access: Vec<Access>,
}

impl WorkerBufs {
    fn new() -> Self {
        Self {
            stack: vec![0; 16],
            memory: vec![0; 64],
            access: vec![Access::EMPTY; LIMITS.access_entries()],
        }
    }

    fn worker(&mut self) -> WorkerMemory<'_> {
        WorkerMemory {
            vm: VmScratch { stack: &mut self.stack, memory: &mut self.memory },
            access: &mut self.access,
        }
    }
}

/// Memory lent to the model's threads as `'static` borrows (loom's threads must be
/// `'static`) and taken back at the end of the iteration: leaked, as in `loom.rs`, it
/// would fill the machine's memory over the hundreds of thousands of iterations.
#[derive(Default)]
struct Lent(Vec<Box<dyn FnOnce()>>);

impl Lent {
    fn lend<T: 'static>(&mut self, v: Vec<T>) -> &'static mut [T] {
        let p = Box::into_raw(v.into_boxed_slice());
        self.0.push(Box::new(move || {
            // SAFETY: `p` came from `Box::into_raw` and is freed once, by `take_back`,
            // whose caller guarantees that the borrow below has ended.
            drop(unsafe { Box::from_raw(p) })
        }));
        // SAFETY: `p` is a live allocation that nothing else refers to until `take_back`.
        unsafe { &mut *p }
    }

    /// Frees everything lent.
    ///
    /// # Safety
    ///
    /// Nothing lent may be borrowed any more.
    unsafe fn take_back(self) {
        self.0.into_iter().for_each(|free| free());
    }
}

fn filled<T>(n: usize, f: impl Fn() -> T) -> Vec<T> {
    (0..n).map(|_| f()).collect()
}

/// The output buffers for `txs` transactions.
fn output(txs: usize) -> (Vec<Receipt>, Vec<StateEntry>) {
    let (r, w) = Output::lengths(txs, &LIMITS);
    (vec![Receipt::EMPTY; r], vec![StateEntry::EMPTY; w])
}

/// The sequential engine's receipts and write set for `case`, on this thread.
fn reference(case: &Case) -> (Vec<Receipt>, Vec<StateEntry>) {
    let (mut receipts, mut writes) = output(case.txs.len());
    let mut index = vec![0; SeqMemory::index_len(writes.len())];
    let out = Output { receipts: &mut receipts, writes: &mut writes };
    let mut seq =
        Sequential::prepare(case.block(), SeqMemory { index: &mut index }, out, &Choice::default())
            .expect("sequential prepare");
    seq.run_alone(WorkerBufs::new().worker()).expect("sequential run");
    let done = seq.finish().expect("sequential finish");
    (done.receipts.to_vec(), done.writes.to_vec())
}

/// The footprint engine's memory for `txs` transactions on `parts` partitions, lent to
/// the model's threads (sized like the host's `FootprintBuffers`).
fn footprint_memory(
    lent: &mut Lent,
    txs: usize,
    parts: usize,
    width: usize,
) -> FootprintMemory<'static> {
    let l = FootprintMemory::lengths(txs, parts, width);
    FootprintMemory {
        done: lent.lend(filled(l.done, Done::new)),
        values: lent.lend(filled(l.values, || Slot::new(0))),
        table: lent.lend(filled(l.table, || Slot::new(0))),
        keys: lent.lend(filled(l.keys, Slot::default)),
        list: lent.lend(filled(l.values, Slot::default)),
        at: lent.lend(filled(l.values, || Slot::new(0))),
    }
}

/// What a model explored.
struct Explored {
    iterations: usize,
    /// Iterations in which some transaction waited for another's `done` flag.
    waited: usize,
    preemption_bound: Option<usize>,
}

/// Checks every interleaving of two workers running `case` on the footprint engine
/// (within `LOOM_MAX_PREEMPTIONS`, and at most `max_preemptions` if given) against the
/// sequential engine's result.
fn model(name: &str, case: Case, max_preemptions: Option<usize>) -> Explored {
    let iterations = std::sync::Arc::new(AtomicUsize::new(0));
    let waited = std::sync::Arc::new(AtomicUsize::new(0));
    let (its, waits) = (iterations.clone(), waited.clone());
    let mut builder = loom::model::Builder::new();
    if let Some(cap) = max_preemptions {
        builder.preemption_bound = Some(builder.preemption_bound.map_or(cap, |b| b.min(cap)));
    }
    let start = Instant::now();
    builder.check(move || {
        its.fetch_add(1, Ordering::Relaxed);
        let (want_receipts, want_writes) = reference(&case);
        // What makes the block worth modelling: every transaction succeeds (a spender
        // that read a stale balance would be rejected).
        assert!(want_receipts.iter().all(|r| r.status == Status::Success), "{want_receipts:?}");
        let n = case.txs.len();
        let width = parex_core::parallel::footprint::width(&case.txs).expect("transfers");
        let choice =
            Choice { engine: EngineKind::Footprint, workers: 2, width, ..Choice::default() };
        let mut lent = Lent::default();
        let (receipts, writes) = output(n);
        let out = Output { receipts: lent.lend(receipts), writes: lent.lend(writes) };
        let mem = footprint_memory(&mut lent, n, 2, width);
        let engine =
            FootprintEngine::prepare(case.block(), mem, out, &choice).expect("footprint prepare");
        let engine = Arc::new(engine);
        let other = engine.clone();
        let h = thread::spawn(move || {
            let mut bufs = WorkerBufs::new();
            other.run_worker(1, bufs.worker(), &mut |_| thread::yield_now())
        });
        let mut bufs = WorkerBufs::new();
        let mine = engine.run_worker(0, bufs.worker(), &mut |_| thread::yield_now());
        let theirs = h.join().unwrap();
        mine.expect("worker 0");
        theirs.expect("worker 1");
        {
            let engine = Arc::try_unwrap(engine).ok().expect("workers joined");
            let done = engine.finish().expect("footprint finish");
            assert_eq!(done.receipts, &want_receipts[..], "receipts");
            assert_eq!(done.writes, &want_writes[..], "write set");
            if done.stats.dependency_waits > 0 {
                waits.fetch_add(1, Ordering::Relaxed);
            }
        }
        // SAFETY: the engine is gone (`finish` took it; the other worker's handle went
        // with its thread, joined above) and so is its outcome (the block above).
        unsafe { lent.take_back() };
    });
    let explored = Explored {
        iterations: iterations.load(Ordering::Relaxed),
        waited: waited.load(Ordering::Relaxed),
        preemption_bound: builder.preemption_bound,
    };
    eprintln!(
        "{name}: {} iterations ({} with a dependency wait) in {:.1?}, preemption bound {:?}",
        explored.iterations,
        explored.waited,
        start.elapsed(),
        explored.preemption_bound,
    );
    explored
}

#[test]
fn chained_dependency() {
    // Address 2 has nothing: tx 1 can pay only with what tx 0 sent it.
    let case = Case::new(vec![transfer(1, 2, 3_000), transfer(2, 3, 1_500)], &[(1, 5_000)], 9);
    model("chained_dependency", case, None);
}

#[test]
fn summed_recipient_and_pooled_fees() {
    let case = Case::new(
        vec![transfer(2, 4, 100), transfer(3, 4, 200)],
        &[(1, 11), (2, 5_000), (3, 5_000), (4, 7)],
        1,
    );
    model("summed_recipient_and_pooled_fees", case, None);
}

#[test]
fn dependency_across_batches() {
    assert_eq!(BATCH, 64, "the block below is laid out for batches of 64");
    let mut txs: Vec<_> = (0..63).map(|i| transfer(100 + i, 50, 1)).collect();
    // Address 201 has nothing: tx 64 can pay only with what tx 63 sent it.
    txs.push(transfer(200, 201, 3_000));
    txs.push(transfer(201, 202, 1_500));
    let mut balances: Vec<_> = (0..63).map(|i| (100 + i, 5_000)).collect();
    balances.push((200, 5_000));
    let case = Case::new(txs, &balances, 9);
    // Under a bound of 3 this is 1.1 million iterations (over 4 minutes in release on
    // the development machine); 2 explores about 190,000, some 1,900 with the wait.
    let explored = model("dependency_across_batches", case, Some(2));
    // Tx 64 can only find tx 63 unfinished after a preemption of worker 0 in batch 0.
    if explored.preemption_bound != Some(0) {
        assert!(explored.waited > 0, "no interleaving had tx 64 wait for tx 63");
    }
}
