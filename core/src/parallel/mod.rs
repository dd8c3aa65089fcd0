//! The parallel executor: Block-STM-class optimistic execution in the block's preset
//! order, producing exactly the sequential executor's receipts and write set.
//!
//! # The worker loop
//!
//! Every worker (a host thread, or the single core of an appliance) calls
//! [`ParallelExecutor::run_worker`]. The workers first prepare the block together
//! (each claims chunks of transactions, resets their data and installs the estimates of
//! their declared access lists, then waits for the others), and then each repeats:
//!
//! 1. Ask the [`scheduler`] for a task (it prefers validations while they lag).
//! 2. **Execute** `(txn, incarnation)`: run the shared transaction code
//!    ([`crate::exec::execute_transaction`]) against an [`MvView`], which reads
//!    [`mvmemory`] at `txn` and records every value read. A read that hits an estimate
//!    interrupts the run; the transaction waits on the writer
//!    ([`scheduler::Scheduler::add_dependency`]) or, if that writer already finished,
//!    runs again at once. Otherwise record the read set (under the transaction's read
//!    lock), diff the write set against the previous incarnation's (removing dropped
//!    keys, updating kept ones in place, inserting new ones) and finish; a write to a
//!    new key forces every higher transaction to be validated again. An execution the
//!    scheduler claimed in order ([`scheduler::Task::ExecuteInOrder`]: every lower
//!    transaction final, as always with one worker) read only final values and skips
//!    recording its read set in release builds.
//! 3. **Validate** `(txn, incarnation)`: re-read every key of the read set at `txn`; if
//!    any value differs or hits an estimate and this is the first failed validation of
//!    that incarnation, turn its writes into estimates (dependents then wait instead of
//!    reading doomed values) and schedule it again.
//! 4. When the scheduler reports done, every transaction's last incarnation has been
//!    validated against the final versions of everything below it: the block's result
//!    is read out by [`ParallelExecutor::finish`] in one pass over the key records (each
//!    written key at the end of the block, deltas folded in, sorted), and is the
//!    sequential result.
//!
//! Validation compares values, not versions: a transaction's execution is a
//! deterministic function of the values it read, so equal values mean an equal outcome.
//! This is also what makes commutative adds ([`crate::exec::Write::Add`]) cheap: an add
//! is never read back by its writer's peers, only folded in by whoever reads the key.
//!
//! # One worker
//!
//! A caller with a single worker can call [`ParallelExecutor::run_alone`] instead: with
//! one worker every execution is claimed in order anyway, so the scheduler has nothing to
//! decide, and `run_alone` runs the transactions in order through the same execution
//! over the multi-version memory and the same read-out, without the scheduler's shared
//! counters and status locks, and without read sets, write lists or version nodes
//! (nothing runs twice). The host does so for one worker; the appliance checks both forms.
//!
//! # Known footprints
//!
//! When every transaction's footprint is known before execution (a block of native
//! transfers), speculation is wasted work: [`footprint`] plans such a block from the
//! footprints and executes each transaction once, in parallel, with no validation. The
//! host sends such blocks there and every other block here.
//!
//! # Declared access lists
//!
//! Before the first task, every transaction that declares an access list gets estimates
//! at its declared write keys (and its sender's nonce and balance). Transactions that
//! read such a key wait for the declarer rather than speculating, and transactions with
//! disjoint declarations run side by side without a single abort (Sealevel-style). A
//! transaction that touches an undeclared key is still run optimistically and validated,
//! so the result stays exact; its receipt says `undeclared_access`.
//!
//! # Memory
//!
//! All of it from the caller, sized by [`ParallelMemory::lengths`] from the block size
//! and [`Limits`]; each worker brings its own [`WorkerMemory`]. No buffer can overflow
//! when sized so; a too-small buffer is a [`BlockError`] before anything runs, and any
//! broken invariant ends the block with [`BlockError::ParallelInvariant`], after which
//! the caller runs it sequentially.

pub mod footprint;
pub mod mvmemory;
pub mod scheduler;

use crate::error::BlockError;
use crate::exec::{execute_transaction, Access, AccessSet, BlockEnv, Limits, View, Write};
use crate::receipt::Receipt;
use crate::sequential::ExecStats;
use crate::state::{StateEntry, StateReader};
use crate::sync::{AtomicU32, Ordering, Padded, RawSpin, UnsafeCell};
use crate::tx::Transaction;
use crate::types::{Address, StateKey};
use crate::vm::{Interrupt, VmScratch};
use mvmemory::{IndexWord, MvKey, MvMemory, MvNode, MvRead};
use scheduler::{Scheduler, Task, TxState};

/// Per-transaction results of the latest incarnation.
///
/// Aligned to a cache line for the same reason as [`TxState`]; `repr(C)` keeps the
/// fields a new block resets on the first line (see `reset`).
#[derive(Debug)]
#[repr(C, align(64))]
pub struct TxData {
    /// Guards `reads_meta` and the transaction's read cells.
    reads_lock: RawSpin,
    /// (incarnation, number of reads) of the recorded read set; `IN_ORDER` reads for an
    /// in-order incarnation that recorded none.
    reads_meta: UnsafeCell<(u32, u32)>,
    /// Entries in the transaction's write list.
    writes_len: UnsafeCell<u32>,
    /// The latest incarnation's receipt.
    receipt: UnsafeCell<Receipt>,
}

// SAFETY: under `ParallelExecutor::run_alone` only its thread exists (it holds the
// executor exclusively). Otherwise: before the preparation barrier
// (`ParallelExecutor::prepare`), a transaction's data and write list are touched only by
// the worker that claimed its chunk, and the barrier's release/acquire orders that before
// everything else. Then: `reads_meta` (and the transaction's read cells) are accessed
// only under `reads_lock`, except that an in-order execution writes its mark without it
// (`record` says why no one can be reading then). `writes_len`, the write cells and
// `receipt` are written only by the worker executing the transaction (status
// `Executing`, exclusive) and read by the executor of its next incarnation, by the
// validator that aborted it (status `Aborting`), or after all workers joined; each of
// those is ordered after the writes by the acquire/release of the status lock
// transitions in between.
unsafe impl Sync for TxData {}

impl Default for TxData {
    fn default() -> Self {
        Self::new()
    }
}

impl TxData {
    /// Ready for a new block: no read set, no write list. The receipt is left as it is:
    /// every transaction's execution writes it before `finish` reads it, and the lock is
    /// free (every guard is dropped before a block ends). Caller: the worker preparing
    /// this transaction (see `ParallelExecutor::prepare`), the only one to touch it then.
    fn reset(&self) {
        // SAFETY: per the caller's contract, no one else accesses the cell now.
        self.reads_meta.with_mut(|p| unsafe { *p = (u32::MAX, 0) });
        // SAFETY: as above.
        self.writes_len.with_mut(|p| unsafe { *p = 0 });
    }

    /// Empty.
    pub fn new() -> Self {
        Self {
            reads_lock: RawSpin::new(),
            reads_meta: UnsafeCell::new((u32::MAX, 0)),
            writes_len: UnsafeCell::new(0),
            receipt: UnsafeCell::new(Receipt::EMPTY),
        }
    }
}

/// One recorded read: key and the value seen.
#[derive(Debug)]
pub struct ReadCell(UnsafeCell<(StateKey, u64)>);

// SAFETY: accessed only under the owning transaction's `reads_lock`.
unsafe impl Sync for ReadCell {}

impl Default for ReadCell {
    fn default() -> Self {
        Self(UnsafeCell::new((StateKey::balance(Address(0)), 0)))
    }
}

/// One entry of a transaction's write list: key, the node holding its version and the
/// key's slot in the multi-version table.
#[derive(Debug)]
pub struct WriteCell(UnsafeCell<WriteEntry>);

type WriteEntry = (StateKey, u32, u32);

// SAFETY: same discipline as `TxData::writes_len` (see there).
unsafe impl Sync for WriteCell {}

impl Default for WriteCell {
    fn default() -> Self {
        Self(UnsafeCell::new((StateKey::balance(Address(0)), 0, 0)))
    }
}

/// Caller memory for one parallel block. The same buffers can serve block after block:
/// each block clears the multi-version index, and nothing else needs a reset.
pub struct ParallelMemory<'a> {
    /// Scheduler state, one per transaction.
    pub states: &'a mut [TxState],
    /// Results, one per transaction.
    pub data: &'a mut [TxData],
    /// Read sets: `txs * limits.access_entries()`.
    pub reads: &'a mut [ReadCell],
    /// Write lists: `txs * limits.writes_per_tx()`.
    pub writes: &'a mut [WriteCell],
    /// Multi-version key records, one per distinct key the block writes.
    /// [`Lengths::keys`] (one per write) can never run out; fewer fail the block with
    /// [`MV_FULL`] if it writes more distinct keys than there are records.
    pub keys: &'a mut [MvKey],
    /// The key index over `keys` (a power of two long; cleared by each block).
    /// [`Lengths::index`] (twice the records, rounded up) keeps probes short; it must hold
    /// more slots than the block writes distinct keys, or the block fails with [`MV_FULL`].
    pub index: &'a mut [IndexWord],
    /// Versions: `txs * limits.writes_per_tx()`.
    pub nodes: &'a mut [MvNode],
}

/// Buffer lengths for [`ParallelMemory`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lengths {
    /// `states` and `data`.
    pub txs: usize,
    /// `reads`.
    pub reads: usize,
    /// `writes` and `nodes`.
    pub writes: usize,
    /// `keys`.
    pub keys: usize,
    /// `index` (a power of two).
    pub index: usize,
}

impl ParallelMemory<'_> {
    /// Lengths for a block of `txs` transactions under `limits`.
    pub const fn lengths(txs: usize, limits: &Limits) -> Lengths {
        let writes = txs * limits.writes_per_tx();
        Lengths {
            txs,
            reads: txs * limits.access_entries(),
            writes,
            keys: writes,
            index: Self::index_len(writes),
        }
    }

    /// The `index` length for `keys` records: twice as many slots, a power of two.
    pub const fn index_len(keys: usize) -> usize {
        if keys == 0 {
            1
        } else {
            (2 * keys).next_power_of_two()
        }
    }
}

/// One worker's own memory.
pub struct WorkerMemory<'w> {
    /// VM stack and memory.
    pub vm: VmScratch<'w>,
    /// The access set of the transaction being executed: `limits.access_entries()`.
    pub access: &'w mut [Access],
}

/// Reads multi-version memory at one transaction, over committed state.
pub struct MvView<'v, S: StateReader> {
    mv: &'v MvMemory<'v>,
    state: &'v S,
    txn: u32,
}

impl<S: StateReader> View for MvView<'_, S> {
    #[inline]
    fn read(&mut self, key: &StateKey) -> Result<u64, Interrupt> {
        // Most keys a block reads are not in the multi-version memory: start loading the
        // committed state's index slot now, so that its miss overlaps the probe's.
        self.state.prefetch(key, 0);
        match self.mv.read(key, self.txn) {
            MvRead::Value(v) => Ok(v),
            MvRead::Storage(d) => Ok(self.state.read(key).wrapping_add(d)),
            MvRead::Dependency(b) => Err(Interrupt::Dependency(b)),
        }
    }
}

/// The message of the [`BlockError::ParallelInvariant`] returned when the multi-version
/// key records or their index ran out (a caller may retry with more).
pub const MV_FULL: &str = "multi-version table full";

/// Executions before the contention check of [`ParallelExecutor::set_contention_fallback`]
/// may end a block.
pub const CONTENTION_MIN_EXECUTIONS: u32 = 64;
/// One wasted execution in this many ends a contended block (see
/// [`ParallelExecutor::set_contention_fallback`]).
pub const CONTENTION_RATIO: u32 = 8;

/// Transactions per preparation chunk (see `ParallelExecutor::prepare`).
pub const PREP_CHUNK: usize = 256;

/// Executions a worker counts locally before adding them to the shared counter.
const EXEC_FLUSH: u32 = 32;

const NO_ERROR: u32 = 0;
const ERR_MV_FULL: u32 = 1;
const ERR_SCRATCH: u32 = 2;
const ERR_CONTENDED: u32 = 3;
const ERR_ESTIMATE_IN_ORDER: u32 = 4;

/// A block being executed in parallel (see the module docs).
pub struct ParallelExecutor<'a, S: StateReader> {
    state: &'a S,
    env: BlockEnv<'a>,
    txs: &'a [Transaction],
    sched: Scheduler<'a>,
    mv: MvMemory<'a>,
    data: &'a [TxData],
    reads: &'a [ReadCell],
    writes: &'a [WriteCell],
    reads_per_tx: usize,
    writes_per_tx: usize,
    error: AtomicU32,
    contention_fallback: bool,
    /// Preparation chunks claimed and completed (see `prepare`).
    prep_next: AtomicU32,
    prep_done: Padded<AtomicU32>,
    /// Executions, flushed by each worker in batches of [`EXEC_FLUSH`].
    executions: Padded<AtomicU32>,
    aborts: AtomicU32,
    waits: AtomicU32,
    /// The block ran through [`Self::run_alone`] (so the scheduler's statuses were never
    /// used).
    alone: bool,
}

/// Spins (calling `idle` with the count of spins) until `counter` reaches `target`;
/// false, without waiting further, as soon as `error` is set (a worker failed). Acquire:
/// pairs with the release increments of the counter, so everything written before them
/// is visible afterwards.
pub(crate) fn wait_until(
    counter: &AtomicU32,
    target: u32,
    error: &AtomicU32,
    idle: &mut impl FnMut(u32),
) -> bool {
    let mut spins = 0;
    while counter.load(Ordering::Acquire) < target {
        // Relaxed: the flag only stops the wait early.
        if error.load(Ordering::Relaxed) != NO_ERROR {
            return false;
        }
        spins += 1;
        idle(spins);
    }
    true
}

pub(crate) fn too_small(
    buffer: &'static str,
    needed: usize,
    given: usize,
) -> Result<(), BlockError> {
    if given < needed {
        Err(BlockError::BufferTooSmall { buffer, needed, given })
    } else {
        Ok(())
    }
}

impl<'a, S: StateReader + Sync> ParallelExecutor<'a, S> {
    /// Prepares `txs` for execution over `state`: checks the buffers and resets the
    /// scheduler. (The workers reset the rest and install the estimates of declared
    /// access lists together, before the first task: see `prepare`.)
    pub fn new(
        state: &'a S,
        env: BlockEnv<'a>,
        txs: &'a [Transaction],
        mem: ParallelMemory<'a>,
    ) -> Result<Self, BlockError> {
        let n = txs.len();
        if n >= (u32::MAX / 2) as usize {
            return Err(BlockError::TooManyTransactions { txs: n, limit: (u32::MAX / 2) as usize });
        }
        let want = ParallelMemory::lengths(n, &env.limits);
        let ParallelMemory { states, data, reads, writes, keys, index, nodes } = mem;
        too_small("states", want.txs, states.len())?;
        too_small("data", want.txs, data.len())?;
        too_small("reads", want.reads, reads.len())?;
        too_small("writes", want.writes, writes.len())?;
        too_small("nodes", want.writes, nodes.len())?;
        // Fewer records than `want.keys` (and a matching index) are allowed: the block
        // only fails (with `MV_FULL`) if it writes more distinct keys than they hold.
        if !index.len().is_power_of_two() {
            return Err(BlockError::BufferTooSmall {
                buffer: "index (2^k)",
                needed: want.index,
                given: index.len(),
            });
        }
        let data = &data[..n];
        let exec = Self {
            state,
            env,
            txs,
            sched: Scheduler::new(&mut states[..n]),
            mv: MvMemory::new(index, keys, &nodes[..want.writes])
                .ok_or(BlockError::ParallelInvariant(MV_FULL))?,
            data,
            reads: &reads[..want.reads],
            writes: &writes[..want.writes],
            reads_per_tx: env.limits.access_entries(),
            writes_per_tx: env.limits.writes_per_tx(),
            error: AtomicU32::new(NO_ERROR),
            contention_fallback: true,
            prep_next: AtomicU32::new(0),
            prep_done: Padded(AtomicU32::new(0)),
            executions: Padded(AtomicU32::new(0)),
            aborts: AtomicU32::new(0),
            waits: AtomicU32::new(0),
            alone: false,
        };
        Ok(exec)
    }

    /// Prepares the block with the other workers before any task runs: each claims
    /// chunks of [`PREP_CHUNK`] transactions, resets their data and installs the
    /// estimates of their declared access lists; then it waits until every chunk is
    /// done. False when a worker failed (the caller stops).
    fn prepare(&self, idle: &mut impl FnMut(u32)) -> bool {
        let n = self.txs.len();
        let chunks = n.div_ceil(PREP_CHUNK) as u32;
        loop {
            // Relaxed: the counter only hands out distinct chunks; `prep_done` publishes.
            let c = self.prep_next.fetch_add(1, Ordering::Relaxed) as usize;
            if c >= chunks as usize {
                break;
            }
            for t in c * PREP_CHUNK..((c + 1) * PREP_CHUNK).min(n) {
                // This worker alone touches t until the barrier below (TxData's contract).
                self.data[t].reset();
                if let Err(code) = self.install_declared(t) {
                    self.fail(code);
                    return false;
                }
            }
            // Release: publishes the chunk's data, write lists and estimates.
            self.prep_done.fetch_add(1, Ordering::Release);
        }
        wait_until(&self.prep_done, chunks, &self.error, idle)
    }

    /// Estimates for every declared write (plus sender nonce and balance) of transaction
    /// `t`, if it has an access list. Called while preparing, by the worker that claimed
    /// `t`'s chunk.
    fn install_declared(&self, t: usize) -> Result<(), u32> {
        let tx = &self.txs[t];
        let Some(list) = &tx.access else { return Ok(()) };
        let implicit = [StateKey::nonce(tx.from), StateKey::balance(tx.from)];
        let declared = list.iter().filter(|a| a.write).map(|a| a.key);
        let base = t * self.writes_per_tx;
        let mut len = 0;
        for key in implicit.into_iter().chain(declared) {
            let dup = self.writes[base..base + len].iter().any(|c| {
                // SAFETY: while preparing, this worker is the only one touching t's list.
                c.0.with(|p| unsafe { (*p).0 }) == key
            });
            if len == self.writes_per_tx || dup {
                continue;
            }
            let node = (base + len) as u32;
            let slot =
                self.mv.insert(&key, t as u32, node, Write::None, true).map_err(|_| ERR_MV_FULL)?;
            // SAFETY: while preparing, this worker is the only one touching t's list.
            self.writes[base + len].0.with_mut(|p| unsafe { *p = (key, node, slot) });
            len += 1;
            // SAFETY: as above.
            self.data[t].writes_len.with_mut(|p| unsafe { *p = len as u32 });
        }
        Ok(())
    }

    /// Copies transaction `t`'s current write list (at most `writes_per_tx`) into `out`.
    /// Caller must have the access documented at `TxData`.
    fn write_list(&self, t: usize, out: &mut WriteList) {
        out.clear();
        // SAFETY: see the caller's contract (TxData's discipline).
        let len = self.data[t].writes_len.with(|p| unsafe { *p }) as usize;
        let base = t * self.writes_per_tx;
        for c in &self.writes[base..base + len] {
            // SAFETY: as above.
            let e = c.0.with(|p| unsafe { *p });
            // Cannot overflow: len <= writes_per_tx <= MAX_WRITE_LIST (checked in run_worker).
            let _ = out.push(e);
        }
    }

    /// Runs tasks until the block is done. Call from as many threads as you like, with
    /// one [`WorkerMemory`] each; returns when every transaction is final (or another
    /// worker failed, in which case [`Self::finish`] reports the error).
    pub fn run_worker(&self, worker: WorkerMemory<'_>) -> Result<(), BlockError> {
        self.run_worker_with(worker, |_| crate::sync::spin_hint())
    }

    /// [`Self::run_worker`] with a hook called while no task is available, with the
    /// number of consecutive idle attempts: a host yields the thread there after a few
    /// spins, so an idle worker never starves a busy one on an oversubscribed machine.
    pub fn run_worker_with(
        &self,
        worker: WorkerMemory<'_>,
        mut idle: impl FnMut(u32),
    ) -> Result<(), BlockError> {
        let (mut acc, mut vm) = self.scratch(worker)?;
        if !self.prepare(&mut idle) {
            return Ok(());
        }
        let mut task: Option<Task> = None;
        let mut execs = 0u32;
        let flush = |execs: &mut u32| {
            self.executions.fetch_add(core::mem::take(execs), Ordering::Relaxed);
        };
        loop {
            if self.error.load(Ordering::Relaxed) != NO_ERROR {
                flush(&mut execs);
                return Ok(());
            }
            task = match task {
                Some(task @ (Task::Execute(t, i) | Task::ExecuteInOrder(t, i))) => {
                    let in_order = matches!(task, Task::ExecuteInOrder(..));
                    match self.execute(t, i, in_order, &mut acc, &mut vm, &mut execs) {
                        Ok(next) => {
                            if execs >= EXEC_FLUSH {
                                flush(&mut execs);
                            }
                            next
                        }
                        Err(code) => {
                            flush(&mut execs);
                            self.fail(code);
                            return Ok(());
                        }
                    }
                }
                Some(Task::Validate(t, i)) => self.validate(t, i),
                None => {
                    let mut spins = 0;
                    loop {
                        if let Some(t) = self.sched.try_next_task() {
                            break Some(t);
                        }
                        if self.sched.is_done() {
                            flush(&mut execs);
                            return Ok(());
                        }
                        spins += 1;
                        idle(spins);
                    }
                }
            };
        }
    }

    /// A worker's access set and VM scratch, checked (on failure every worker stops).
    fn scratch<'w>(
        &self,
        worker: WorkerMemory<'w>,
    ) -> Result<(AccessSet<'w>, VmScratch<'w>), BlockError> {
        let WorkerMemory { vm, access } = worker;
        match AccessSet::new(access, self.env.limits) {
            Some(acc) if !vm.stack.is_empty() && self.writes_per_tx <= MAX_WRITE_LIST => {
                Ok((acc, vm))
            }
            _ => {
                self.fail(ERR_SCRATCH);
                Err(BlockError::BadScratch)
            }
        }
    }

    /// The engine's one-worker form: executes the whole block on the calling thread, for
    /// [`Self::finish`] to read out as after [`Self::run_worker`].
    ///
    /// With a single worker the scheduler hands out every execution in order
    /// ([`Task::ExecuteInOrder`]: every lower transaction final), so it has nothing to
    /// decide. This runs transactions `0..n` in order through the same execution as such
    /// executions ([`MvView`] over the multi-version memory) and the same read-out,
    /// without the scheduler's shared counters and status locks: each of those is an
    /// atomic read-modify-write, a full fence on x86, that waits for the transaction's
    /// stores to reach the cache.
    ///
    /// `&mut self` proves that no worker runs beside it. Since nothing runs twice, it
    /// records no read sets and no write lists, and its versions need no nodes: each
    /// write goes to the head of its key's list ([`MvMemory::write_alone`]), where the
    /// next reads and the read-out find it. Declared access lists install no estimates:
    /// an estimate only makes a higher transaction wait for a lower one, and in order
    /// nothing waits.
    ///
    /// Must be the only run of the block: after a worker began, or a second time, it
    /// fails with [`BlockError::ParallelInvariant`]; afterwards, [`Self::run_worker`]
    /// returns at once. Like `run_worker`, it returns `Ok` when a transaction's recording
    /// fails and leaves the error to `finish`, which accepts the block only if every
    /// transaction was executed.
    pub fn run_alone(&mut self, worker: WorkerMemory<'_>) -> Result<(), BlockError> {
        let n = self.txs.len();
        let chunks = n.div_ceil(PREP_CHUNK) as u32;
        // Relaxed: `&mut self` excludes every other access. Claiming every preparation
        // chunk makes a later `run_worker` skip preparation, and halting the scheduler
        // makes it return at once.
        if self.prep_next.swap(chunks, Ordering::Relaxed) != 0 || self.alone {
            return Err(BlockError::ParallelInvariant("run_alone on a block that already ran"));
        }
        self.prep_done.store(chunks, Ordering::Relaxed);
        self.sched.halt();
        self.alone = true;
        let (mut acc, mut vm) = self.scratch(worker)?;
        for t in 0..n as u32 {
            let ti = t as usize;
            let mut view = MvView { mv: &self.mv, state: self.state, txn: t };
            let Ok(receipt) =
                execute_transaction(&self.txs[ti], &self.env, &mut view, &mut acc, &mut vm)
            else {
                // Only an estimate interrupts a multi-version view, and none was installed.
                self.fail(ERR_ESTIMATE_IN_ORDER);
                return Ok(());
            };
            // Every lower transaction is final and nothing will run twice: no read set to
            // validate, no write list to undo, and the writes go in at the heads of their
            // lists without version nodes (`MvMemory::write_alone`).
            for a in acc.accesses().iter().filter(|a| a.write != Write::None) {
                if self.mv.write_alone(&a.key, t, a.write).is_err() {
                    self.fail(ERR_MV_FULL);
                    return Ok(());
                }
            }
            // SAFETY: `&mut self`: nothing else accesses the executor's memory.
            self.data[ti].receipt.with_mut(|p| unsafe { *p = receipt });
        }
        self.executions.store(n as u32, Ordering::Relaxed);
        Ok(())
    }

    /// Whether to give up on a block that keeps conflicting (default on): once
    /// [`CONTENTION_MIN_EXECUTIONS`] executions ran and at least one in
    /// [`CONTENTION_RATIO`] was wasted (aborted, or stopped to wait), the block ends with
    /// [`BlockError::Contended`] and the caller runs it sequentially, which is faster for
    /// a block that is sequential by nature (every transfer between two accounts, every
    /// swap on one pool). Tests turn it off to exercise the engine on such blocks.
    pub fn set_contention_fallback(&mut self, on: bool) {
        self.contention_fallback = on;
    }

    fn check_contention(&self) {
        if !self.contention_fallback {
            return;
        }
        let execs = self.executions.load(Ordering::Relaxed);
        if execs < CONTENTION_MIN_EXECUTIONS {
            return;
        }
        let wasted = self.aborts.load(Ordering::Relaxed) + self.waits.load(Ordering::Relaxed);
        if wasted.saturating_mul(CONTENTION_RATIO) >= execs {
            self.fail(ERR_CONTENDED);
        }
    }

    fn fail(&self, code: u32) {
        // Relaxed is enough: the flag only makes workers stop early; `finish` runs after
        // the workers were joined (a happens-before edge of its own).
        let _ = self.error.compare_exchange(NO_ERROR, code, Ordering::Relaxed, Ordering::Relaxed);
        self.sched.halt();
    }

    fn execute(
        &self,
        t: u32,
        inc: u32,
        in_order: bool,
        acc: &mut AccessSet<'_>,
        vm: &mut VmScratch<'_>,
        execs: &mut u32,
    ) -> Result<Option<Task>, u32> {
        let tx = &self.txs[t as usize];
        loop {
            *execs += 1;
            let mut view = MvView { mv: &self.mv, state: self.state, txn: t };
            match execute_transaction(tx, &self.env, &mut view, acc, vm) {
                Err(Interrupt::Dependency(blocking)) => {
                    self.waits.fetch_add(1, Ordering::Relaxed);
                    self.check_contention();
                    if self.sched.add_dependency(t, blocking) {
                        return Ok(None);
                    }
                }
                // Only a footprint view interrupts so.
                Err(Interrupt::Unplanned) => return Err(ERR_SCRATCH),
                Ok(receipt) => {
                    let wrote_new_path = self.record(t, inc, in_order, acc, receipt)?;
                    return Ok(self.sched.finish_execution(t, inc, wrote_new_path));
                }
            }
        }
    }

    /// Publishes an incarnation's read set, write set and receipt. Returns whether it
    /// wrote a key the previous incarnation did not.
    ///
    /// An execution claimed in order read only final values, so no validation of it can
    /// fail: release builds record no read set for it, only the `IN_ORDER` mark, which
    /// `reads_valid` accepts. Debug builds record it anyway, so that `finish`'s final
    /// re-check of every read set also checks the in-order claims.
    fn record(
        &self,
        t: u32,
        inc: u32,
        in_order: bool,
        acc: &AccessSet<'_>,
        receipt: Receipt,
    ) -> Result<bool, u32> {
        let ti = t as usize;
        let data = &self.data[ti];
        if in_order && !cfg!(debug_assertions) {
            // SAFETY: without the lock: the execution was claimed when no task was
            // active, so no validation of an earlier incarnation of t is running, and any
            // validation of this one starts after t's status turns `Executed` (a release
            // under its status lock, acquired by the validator), after this write.
            data.reads_meta.with_mut(|p| unsafe { *p = (inc, IN_ORDER) });
        } else {
            let _g = data.reads_lock.lock();
            let base = ti * self.reads_per_tx;
            let mut n = 0;
            for a in acc.accesses() {
                if let Some(v) = a.read {
                    // In bounds: an access set holds at most reads_per_tx entries.
                    let Some(cell) = self.reads.get(base + n) else { return Err(ERR_SCRATCH) };
                    // SAFETY: `reads_lock` of t is held.
                    cell.0.with_mut(|p| unsafe { *p = (a.key, v) });
                    n += 1;
                }
            }
            // SAFETY: `reads_lock` of t is held.
            data.reads_meta.with_mut(|p| unsafe { *p = (inc, n as u32) });
        }

        // Write set: t is Executing, so this worker owns t's write list and free nodes.
        let base = ti * self.writes_per_tx;
        let mut old = WriteList::new();
        self.write_list(ti, &mut old);
        for &(key, node, slot) in old.iter() {
            if !acc_writes(acc, &key) {
                self.mv.remove_at(slot, node);
            }
        }
        let mut new = WriteList::new();
        let mut wrote_new_path = false;
        for a in acc.accesses().iter().filter(|a| a.write != Write::None) {
            let (node, slot, existing) = match old.iter().find(|(k, _, _)| *k == a.key) {
                Some(&(_, node, slot)) => {
                    self.mv.write_at(slot, t, node, true, a.write, false);
                    (node, slot, true)
                }
                None => {
                    let node = if old.is_empty() {
                        // First incarnation without declared writes: nodes in write order.
                        // (An access set holds at most `writes_per_tx` writes, which keeps
                        // the nodes in t's range.)
                        if new.len() >= self.writes_per_tx {
                            return Err(ERR_SCRATCH);
                        }
                        (base + new.len()) as u32
                    } else {
                        // A node of t's range used neither by a kept old entry nor a new one.
                        let free = (base..base + self.writes_per_tx).map(|n| n as u32).find(|n| {
                            !new.iter().any(|(_, m, _)| m == n)
                                && !old.iter().any(|(k, m, _)| m == n && acc_writes(acc, k))
                        });
                        free.ok_or(ERR_SCRATCH)?
                    };
                    let slot =
                        self.mv.insert(&a.key, t, node, a.write, false).map_err(|_| ERR_MV_FULL)?;
                    (node, slot, false)
                }
            };
            wrote_new_path |= !existing;
            new.push((a.key, node, slot)).map_err(|_| ERR_SCRATCH)?;
        }
        for (i, e) in new.iter().enumerate() {
            // SAFETY: t is Executing; this worker owns t's write list (TxData docs).
            self.writes[base + i].0.with_mut(|p| unsafe { *p = *e });
        }
        // SAFETY: as above.
        data.writes_len.with_mut(|p| unsafe { *p = new.len() as u32 });
        // SAFETY: t is Executing; this worker owns t's receipt (TxData docs).
        data.receipt.with_mut(|p| unsafe { *p = receipt });
        Ok(wrote_new_path)
    }

    fn validate(&self, t: u32, inc: u32) -> Option<Task> {
        let ti = t as usize;
        let valid = self.reads_valid(t, Some(inc));
        let aborted = !valid && self.sched.try_validation_abort(t, inc);
        if aborted {
            self.aborts.fetch_add(1, Ordering::Relaxed);
            self.check_contention();
            // t is Aborting(inc): its write list is stable until it is Ready again.
            let mut list = WriteList::new();
            self.write_list(ti, &mut list);
            for &(_, node, slot) in list.iter() {
                self.mv.mark_estimate_at(slot, node);
            }
        }
        self.sched.finish_validation(t, aborted)
    }

    /// Whether `t`'s recorded read set still reads the same values. With `Some(inc)`, a
    /// read set of another incarnation counts as valid (that incarnation was already
    /// aborted by someone else, and `try_validation_abort` would fail anyway).
    fn reads_valid(&self, t: u32, inc: Option<u32>) -> bool {
        let ti = t as usize;
        let data = &self.data[ti];
        {
            let _g = data.reads_lock.lock();
            // SAFETY: `reads_lock` of t is held.
            let (recorded, n) = data.reads_meta.with(|p| unsafe { *p });
            inc.is_some_and(|i| i != recorded) || n == IN_ORDER || {
                let base = ti * self.reads_per_tx;
                self.reads[base..base + n as usize].iter().all(|c| {
                    // SAFETY: `reads_lock` of t is held.
                    let (key, seen) = c.0.with(|p| unsafe { *p });
                    match self.mv.read(&key, t) {
                        MvRead::Value(v) => v == seen,
                        MvRead::Storage(d) => self.state.read(&key).wrapping_add(d) == seen,
                        MvRead::Dependency(_) => false,
                    }
                })
            }
        }
    }

    /// After every worker returned: copies the receipts into `receipts` and the block's
    /// sorted write set into `out`.
    pub fn finish<'o>(
        self,
        receipts: &mut [Receipt],
        out: &'o mut [StateEntry],
    ) -> Result<(&'o [StateEntry], ExecStats), BlockError> {
        match self.error.load(Ordering::Relaxed) {
            NO_ERROR => {}
            ERR_MV_FULL => return Err(BlockError::ParallelInvariant(MV_FULL)),
            ERR_ESTIMATE_IN_ORDER => {
                return Err(BlockError::ParallelInvariant("an in-order execution read an estimate"))
            }
            ERR_CONTENDED => {
                return Err(BlockError::Contended {
                    executions: self.executions.load(Ordering::Relaxed),
                    wasted: self.aborts.load(Ordering::Relaxed)
                        + self.waits.load(Ordering::Relaxed),
                })
            }
            _ => return Err(BlockError::BadScratch),
        }
        let n = self.txs.len();
        too_small("receipts", n, receipts.len())?;
        if !self.sched.is_done() {
            return Err(BlockError::ParallelInvariant("finish called before the block was done"));
        }
        // `run_alone` counts its executions only after the last one.
        if self.alone && self.executions.load(Ordering::Relaxed) as usize != n {
            return Err(BlockError::ParallelInvariant("run_alone did not finish the block"));
        }
        let mut stats = ExecStats::default();
        for (t, r) in receipts[..n].iter_mut().enumerate() {
            // (`run_alone` executed every transaction without the scheduler.)
            if !self.alone && self.sched.status(t as u32).0 != scheduler::TxStatus::Executed {
                return Err(BlockError::ParallelInvariant("transaction not executed at the end"));
            }
            // SAFETY: all workers have returned (the caller joined them), so nothing else
            // accesses the receipt.
            *r = self.data[t].receipt.with(|p| unsafe { *p });
            stats.gas_used = stats.gas_used.saturating_add(r.gas_used);
            stats.undeclared += r.undeclared_access as u64;
        }
        // Debug builds re-check every read set against the final versions: a failure here
        // means the scheduler declared the block done too early. (`run_alone` records no
        // read sets, and its version lists answer only reads above their heads.)
        if cfg!(debug_assertions) && !self.alone {
            for t in 0..n as u32 {
                if !self.reads_valid(t, None) {
                    return Err(BlockError::ParallelInvariant(
                        "a final read set does not validate",
                    ));
                }
            }
        }
        let mut len = 0;
        let mut bad = None;
        // Keys that only received deltas need their committed value: a state lookup,
        // two dependent cache misses. They are prefetched (index slot, then entry) and
        // read `STATE_LAG` such keys later; meanwhile `out[i].value` holds the delta.
        const STATE_LAG: usize = 16;
        let mut lagging = [0usize; STATE_LAG];
        let mut lagged = 0usize;
        let resolve = |e: &mut StateEntry| e.value = self.state.read(&e.key).wrapping_add(e.value);
        // Every key written by some transaction's last incarnation (the keys whose
        // version lists are not empty: each incarnation removes what the previous one
        // wrote and it did not), at the end of the block, deltas folded in. One pass
        // over the key records; the order does not matter, the entries are sorted below.
        for (key, read) in self.mv.final_versions() {
            let (value, delta) = match read {
                MvRead::Value(v) => (v, false),
                MvRead::Storage(d) => (d, true),
                MvRead::Dependency(_) => {
                    bad = Some(BlockError::ParallelInvariant("estimate left at the end"));
                    continue;
                }
            };
            let Some(slot) = out.get_mut(len) else {
                bad = Some(BlockError::BufferTooSmall {
                    buffer: "writes",
                    needed: len + 1,
                    given: len,
                });
                len += 1;
                continue;
            };
            *slot = StateEntry { key, value };
            if delta {
                self.state.prefetch(&key, 0);
                let at = lagged % STATE_LAG;
                // `lagging` only holds indices of entries already written.
                if lagged >= STATE_LAG {
                    if let Some(e) = out.get_mut(lagging[at]) {
                        resolve(e);
                    }
                }
                if lagged >= STATE_LAG / 2 {
                    if let Some(e) = out.get(lagging[(lagged - STATE_LAG / 2) % STATE_LAG]) {
                        self.state.prefetch(&e.key, 1);
                    }
                }
                lagging[at] = len;
                lagged += 1;
            }
            len += 1;
        }
        for i in lagged.saturating_sub(STATE_LAG)..lagged {
            if let Some(e) = out.get_mut(lagging[i % STATE_LAG]) {
                resolve(e);
            }
        }
        if let Some(e) = bad {
            return Err(e);
        }
        let out = &mut out[..len];
        crate::state::sort_by_key(out);
        let execs = self.executions.load(Ordering::Relaxed) as u64;
        stats.reexecutions = execs.saturating_sub(n as u64);
        stats.aborts = self.aborts.load(Ordering::Relaxed) as u64;
        stats.dependency_waits = self.waits.load(Ordering::Relaxed) as u64;
        Ok((out, stats))
    }
}

fn acc_writes(acc: &AccessSet<'_>, key: &StateKey) -> bool {
    acc.accesses().iter().any(|a| a.key == *key && a.write != Write::None)
}

/// The read count of an in-order incarnation whose read set was not recorded (see
/// `record`).
const IN_ORDER: u32 = u32::MAX;

/// Most entries of one write list (bounds `Limits::writes_per_tx`).
pub const MAX_WRITE_LIST: usize = 64;

type WriteList = heapless::Vec<WriteEntry, MAX_WRITE_LIST>;
