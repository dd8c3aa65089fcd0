//! Block-STM: Block-STM-class optimistic execution in the block's preset
//! order, producing exactly the sequential executor's receipts and write set.
//!
//! # The worker loop
//!
//! Every worker (a host thread, or the single core of an appliance) calls
//! [`Engine::run_worker`]. The workers first prepare the block together
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
//!    is read out of the key records (each written key at the end of the block, deltas
//!    folded in, sorted), and is the sequential result. The workers that see the end
//!    read the records out side by side, each part into a sorted run of the output, and
//!    [`Engine::finish`] merges the runs (`readout`); with one worker, `finish` reads
//!    them out in one pass.
//!
//! Validation compares values, not versions: a transaction's execution is a
//! deterministic function of the values it read, so equal values mean an equal outcome.
//! This is also what makes commutative adds ([`crate::exec::Write::Add`]) cheap: an add
//! is never read back by its writer's peers, only folded in by whoever reads the key.
//!
//! # One worker
//!
//! A caller with a single worker can call [`BlockStm::run_alone`] instead: with
//! one worker every execution is claimed in order anyway, so the scheduler has nothing to
//! decide, and `run_alone` runs the transactions in order through the same execution
//! over the multi-version memory and the same read-out, without the scheduler's shared
//! counters and status locks, and without read sets, write lists or version nodes
//! (nothing runs twice). `Mode::BlockStmAlone` runs it; under `Mode::Parallel` the
//! policy sends a one-worker block to the sequential engine instead, which has become
//! the faster of the two (`Reason::OneWorker`). The appliance checks both forms.
//!
//! When every transaction's footprint is known before execution (a block of native
//! transfers), speculation is wasted work: the policy sends such a block to the
//! footprint engine ([`crate::parallel::footprint`]) and every other block here.
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
//! # Predicted hot keys
//!
//! The caller may name a few hot keys ([`Choice::predicted`], learnt by the policy's
//! history from the conflicts each block's workers tally: [`crate::exec::HotKeys`]). An
//! undeclared call of a hot key's contract is treated as a writer of the key: when it is
//! claimed for its first run it puts an estimate there (then, not before the block,
//! so that each key's version list stays short and reads from its head cheap), and if
//! the key already holds an earlier call's estimate it waits for that call before
//! running at all. So the calls on a hot key mostly run one after another in block order
//! (one claimed before its predecessor's estimate is in runs optimistically, as any
//! call), and the rest of the block beside them. A call that writes the key confirms
//! the prediction in the workers' conflict tally. A wrong prediction costs a wait, never a result:
//! a call that does not write the key drops the estimate when it finishes, as a declared
//! write left unwritten does.
//!
//! # The beneficiary's credits
//!
//! Every transaction adds its fee to the beneficiary's balance. As versions of one key,
//! those adds would make every execution take that key's lock and link a node at the
//! head of its list: one cache line that every worker writes once a transaction. So,
//! as Aptos' executor does with its aggregators, the adds to that balance are kept out
//! of the multi-version memory ([`Credits::Pooled`]): each worker sums the credits of
//! the incarnations it records, less those of the incarnations they replace (kept per
//! transaction), and the read-out adds the sums to the committed balance, whose key has
//! a record without versions so that the parts read it out in its place. Nothing can
//! read the pooled balance: a transaction that reads it (the beneficiary sends, a
//! contract asks its `BALANCE`) or declares it ends the block with
//! [`BlockError::BeneficiaryRead`], and the policy runs the block again with the credits
//! as versions ([`Credits::Versioned`]). On two workers this made the contract rows'
//! Block-STM 2–4% faster (BENCHMARKS.md).
//!
//! # Memory
//!
//! All of it from the caller, sized by [`BlockStmMemory::lengths`] from the block size
//! and [`crate::exec::Limits`]; each worker brings its own [`WorkerMemory`]. No buffer
//! can overflow when sized so; a too-small buffer is a [`BlockError`] before anything
//! runs, and any broken invariant ends the block with a typed [`BlockError`], after
//! which the policy runs it sequentially.

mod alone;
pub mod mvmemory;
mod readout;
pub mod scheduler;
mod store;

pub use store::{BlockStmMemory, Lengths, ReadCell, TxData, WriteCell, MAX_WRITE_LIST};

use crate::engine::{Block, Choice, Credits, Engine, Outcome, Output, WorkerMemory};
use crate::error::{Abort, BlockError};
use crate::exec::{execute_transaction, AccessSet, BlockEnv, HotKeys, Write};
use crate::receipt::Receipt;
use crate::state::{StateEntry, StateReader};
use crate::sync::{AtomicU32, Ordering, Padded, RawSpin, Slot};
use crate::tx::{Transaction, TxKind};
use crate::types::StateKey;
use crate::vm::{Interrupt, VmScratch};
use mvmemory::MvMemory;
use readout::ReadParts;
pub use readout::READ_PARTS;
use scheduler::{Scheduler, Task};
use store::{MvView, Pool, WriteLists};

/// A worker's scratch: its access set, VM scratch, conflict tally and write lists.
type Scratch<'s, 'w> =
    (&'s mut AccessSet<'w>, &'s mut VmScratch<'w>, &'s mut HotKeys, &'s mut WriteLists);

use super::{too_small, wait_until, AbortFlag};

/// Executions before the contention check of [`Choice::contention_fallback`]
/// may end a block.
pub const CONTENTION_MIN_EXECUTIONS: u32 = 64;
/// One wasted execution in this many ends a contended block (see
/// [`Choice::contention_fallback`]).
pub const CONTENTION_RATIO: u32 = 8;

/// Transactions per preparation chunk (see `BlockStm::prepare_together`).
pub const PREP_CHUNK: usize = 256;

/// Executions a worker counts locally before adding them to the shared counter.
const EXEC_FLUSH: u32 = 32;

/// A block being executed in parallel (see the module docs).
pub struct BlockStm<'a, S: StateReader> {
    state: &'a S,
    env: BlockEnv<'a>,
    txs: &'a [Transaction<'a>],
    sched: Scheduler<'a>,
    mv: MvMemory<'a>,
    data: &'a [TxData],
    reads: &'a [ReadCell],
    writes: &'a [WriteCell],
    reads_per_tx: usize,
    writes_per_tx: usize,
    abort: AbortFlag,
    /// Key records given (reported by `BlockError::MvFull`).
    records: usize,
    /// Where `finish` puts the receipts.
    receipts: &'a mut [Receipt],
    /// Where the write set is read out to: by the workers' parts, then `finish`
    /// (`readout`).
    out: &'a mut [Slot<StateEntry>],
    /// The side-by-side read-out's parts.
    read: ReadParts,
    contention_fallback: bool,
    /// Preparation chunks claimed and completed (see `prepare`).
    prep_next: AtomicU32,
    prep_done: Padded<AtomicU32>,
    /// Executions, flushed by each worker in batches of [`EXEC_FLUSH`].
    executions: Padded<AtomicU32>,
    aborts: AtomicU32,
    waits: AtomicU32,
    /// Keys predicted hot ([`Choice::predicted`]).
    predicted: HotKeys,
    /// Executions that waited before running on a predicted writer (not in `waits`).
    predicted_waits: AtomicU32,
    /// The workers' conflict tallies, merged under `conflicts_lock`.
    conflicts: Slot<HotKeys>,
    conflicts_lock: RawSpin,
    /// The beneficiary's balance while its credits are pooled ([`Credits::Pooled`]), and
    /// the workers' pools, merged under `conflicts_lock`.
    pooled: Option<StateKey>,
    pool: Slot<Pool>,
    /// The block ran through [`Self::run_alone`] (so the scheduler's statuses were never
    /// used).
    alone: bool,
}

impl<'a, S: StateReader + Sync> Engine<'a, S> for BlockStm<'a, S> {
    type Memory = BlockStmMemory<'a>;

    /// Checks the buffers and resets the scheduler. (The workers reset the rest and
    /// install the estimates of declared access lists together, before the first task:
    /// see `prepare_together`.) Any number of key records (with an index of a power of
    /// two) is accepted: a block that writes more distinct keys than the records hold
    /// ends with [`BlockError::MvFull`].
    fn prepare(
        block: Block<'a, S>,
        mem: BlockStmMemory<'a>,
        output: Output<'a>,
        choice: &Choice,
    ) -> Result<Self, BlockError> {
        let Block { state, env, txs } = block;
        let n = txs.len();
        if n >= (u32::MAX / 2) as usize {
            return Err(BlockError::TooManyTransactions { txs: n, limit: (u32::MAX / 2) as usize });
        }
        let want = BlockStmMemory::lengths(n, &env.limits);
        let BlockStmMemory { states, data, reads, writes, keys, index, nodes } = mem;
        too_small("states", want.txs, states.len())?;
        too_small("data", want.txs, data.len())?;
        too_small("reads", want.reads, reads.len())?;
        too_small("writes", want.writes, writes.len())?;
        too_small("nodes", want.writes, nodes.len())?;
        too_small("receipts", n, output.receipts.len())?;
        if !index.len().is_power_of_two() {
            return Err(BlockError::BufferTooSmall {
                buffer: "index (2^k)",
                needed: want.index,
                given: index.len(),
            });
        }
        let records = keys.len();
        let data = &data[..n];
        let exec = Self {
            state,
            env,
            txs,
            sched: Scheduler::new(&mut states[..n]),
            mv: MvMemory::new(index, keys, &nodes[..want.writes])
                .ok_or(BlockError::MvFull { records })?,
            data,
            reads: &reads[..want.reads],
            writes: &writes[..want.writes],
            reads_per_tx: env.limits.access_entries(),
            writes_per_tx: env.limits.writes_per_tx(),
            abort: AbortFlag::new(),
            records,
            receipts: output.receipts,
            out: Slot::from_mut_slice(output.writes),
            read: ReadParts::new(choice.workers),
            contention_fallback: choice.contention_fallback,
            prep_next: AtomicU32::new(0),
            prep_done: Padded(AtomicU32::new(0)),
            executions: Padded(AtomicU32::new(0)),
            aborts: AtomicU32::new(0),
            waits: AtomicU32::new(0),
            predicted: choice.predicted,
            predicted_waits: AtomicU32::new(0),
            conflicts: Slot::new(HotKeys::new()),
            conflicts_lock: RawSpin::new(),
            pooled: (choice.credits == Credits::Pooled && !choice.alone)
                .then(|| StateKey::balance(env.beneficiary)),
            pool: Slot::new(Pool::default()),
            alone: false,
        };
        Ok(exec)
    }

    /// Runs tasks until the block is done (or another worker failed, in which case
    /// [`Engine::finish`] reports the error). The index is not used: every worker asks
    /// the scheduler.
    fn run_worker(
        &self,
        index: usize,
        worker: WorkerMemory<'_>,
        idle: &mut impl FnMut(u32),
    ) -> Result<(), BlockError> {
        self.work(index, worker, idle)
    }

    fn run_alone(&mut self, worker: WorkerMemory<'_>) -> Result<(), BlockError> {
        BlockStm::run_alone(self, worker)
    }

    fn finish(self) -> Result<Outcome<'a>, BlockError> {
        self.read_out()
    }
}

impl<S: StateReader + Sync> BlockStm<'_, S> {
    /// Prepares the block with the other workers before any task runs: each claims
    /// chunks of [`PREP_CHUNK`] transactions, resets their data and installs the
    /// estimates of their declared access lists; then it waits until every chunk is
    /// done. False when a worker failed (the caller stops).
    fn prepare_together(&self, idle: &mut impl FnMut(u32)) -> bool {
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
        wait_until(&self.prep_done, chunks, &self.abort, idle)
    }

    /// Estimates for every declared write (plus sender nonce and balance) of transaction
    /// `t`, if it has an access list. Called while preparing, by the worker that claimed
    /// `t`'s chunk. (Predicted hot keys get theirs when `t` is claimed: `execute`.)
    fn install_declared(&self, t: usize) -> Result<(), Abort> {
        let tx = &self.txs[t];
        let Some(list) = &tx.access else { return Ok(()) };
        let implicit = [StateKey::nonce(tx.from), StateKey::balance(tx.from)];
        let declared = list.iter().filter(|a| a.write).map(|a| a.key());
        self.install_estimates(t, implicit.into_iter().chain(declared))
    }

    /// The predicted hot keys of the contract `tx` calls, if it is an undeclared call.
    fn predicted_keys<'k>(&'k self, tx: &Transaction) -> impl Iterator<Item = StateKey> + 'k {
        let callee = match (&tx.kind, &tx.access) {
            (TxKind::Call { to, .. }, None) if !self.predicted.is_empty() => Some(*to),
            _ => None,
        };
        self.predicted.iter().map(|(key, _)| key).filter(move |key| Some(key.addr) == callee)
    }

    /// Estimates of transaction `t` at `keys` (duplicates and keys beyond its write list
    /// skipped), as the writes of an incarnation before its first. (Not inlined: its two
    /// callers share one copy of the multi-version insert, which an appliance's flash
    /// notices.)
    #[inline(never)]
    fn install_estimates(
        &self,
        t: usize,
        keys: impl Iterator<Item = StateKey>,
    ) -> Result<(), Abort> {
        let base = t * self.writes_per_tx;
        let mut len = 0;
        for key in keys {
            if Some(key) == self.pooled {
                // A declared write of the beneficiary's balance (or its own transaction):
                // its credits cannot stay out of the memory.
                return Err(Abort::BeneficiaryRead);
            }
            let dup = self.writes[base..base + len].iter().any(|c| {
                // SAFETY: while preparing, or while t is Executing on this worker (its first
                // incarnation, just claimed), this worker is the only one touching t's list.
                c.0.with(|p| unsafe { (*p).0 }) == key
            });
            if len == self.writes_per_tx || dup {
                continue;
            }
            let node = (base + len) as u32;
            let slot = self
                .mv
                .insert(&key, t as u32, node, Write::None, true)
                .map_err(|_| Abort::MvFull)?;
            // SAFETY: as above.
            self.writes[base + len].0.with_mut(|p| unsafe { *p = (key, node, slot) });
            len += 1;
            // SAFETY: as above.
            self.data[t].writes_len.with_mut(|p| unsafe { *p = len as u32 });
        }
        Ok(())
    }

    /// The worker loop (see the module docs).
    fn work(
        &self,
        index: usize,
        worker: WorkerMemory<'_>,
        idle: &mut impl FnMut(u32),
    ) -> Result<(), BlockError> {
        let (mut acc, mut vm) = self.scratch(worker)?;
        if !self.prepare_together(idle) {
            return Ok(());
        }
        let mut hot = HotKeys::new();
        let mut lists = WriteLists::new();
        self.tasks(index, (&mut acc, &mut vm, &mut hot, &mut lists), idle);
        if !hot.is_empty() || self.pooled.is_some() {
            let _g = self.conflicts_lock.lock();
            let mut all = self.conflicts.get();
            all.merge(&hot);
            // Under `conflicts_lock`, which orders the workers' merges; `finish` reads
            // them after joining the workers.
            self.conflicts.set(all);
            let mut pool = self.pool.get();
            pool.merge(&lists.pool);
            self.pool.set(pool);
        }
        Ok(())
    }

    /// Runs tasks until the block is done or failed, counting conflicts in `hot`.
    fn tasks(
        &self,
        index: usize,
        (acc, vm, hot, lists): Scratch<'_, '_>,
        idle: &mut impl FnMut(u32),
    ) {
        let mut task: Option<Task> = None;
        let mut execs = 0u32;
        let flush = |execs: &mut u32| {
            self.executions.fetch_add(core::mem::take(execs), Ordering::Relaxed);
        };
        loop {
            if self.abort.is_raised() {
                flush(&mut execs);
                return;
            }
            task = match task {
                Some(task @ (Task::Execute(t, i) | Task::ExecuteInOrder(t, i))) => {
                    let in_order = matches!(task, Task::ExecuteInOrder(..));
                    match self.execute(t, i, in_order, (acc, vm, hot, lists), &mut execs) {
                        Ok(next) => {
                            if execs >= EXEC_FLUSH {
                                flush(&mut execs);
                            }
                            next
                        }
                        Err(code) => {
                            flush(&mut execs);
                            self.fail(code);
                            return;
                        }
                    }
                }
                Some(Task::Validate(t, i)) => self.validate(t, i, hot, lists),
                None => {
                    let mut spins = 0;
                    loop {
                        if let Some(t) = self.sched.try_next_task() {
                            break Some(t);
                        }
                        if self.sched.is_done() {
                            flush(&mut execs);
                            self.read_out_parts(index);
                            return;
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
                self.fail(Abort::BadScratch);
                Err(BlockError::BadScratch)
            }
        }
    }

    /// The contention check ([`Choice::contention_fallback`], on under the policy's
    /// `Mode::Parallel`): once [`CONTENTION_MIN_EXECUTIONS`] executions ran and at least
    /// one in [`CONTENTION_RATIO`] was wasted (aborted, or stopped to wait), the block
    /// ends with [`BlockError::Contended`] and the policy runs it sequentially, which is
    /// faster for a block that is sequential by nature (every transfer between two
    /// accounts, every swap on one pool). Tests turn it off to exercise the engine on
    /// such blocks.
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
            self.fail(Abort::Contended);
        }
    }

    fn fail(&self, abort: Abort) {
        self.abort.raise(abort);
        self.sched.halt();
    }

    /// Executes incarnation `inc` of `t` (with the worker's access set, VM scratch and
    /// conflict tally).
    fn execute(
        &self,
        t: u32,
        inc: u32,
        in_order: bool,
        (acc, vm, hot, lists): Scratch<'_, '_>,
        execs: &mut u32,
    ) -> Result<Option<Task>, Abort> {
        let tx = &self.txs[t as usize];
        self.prefetch_record(t as usize);
        let predicted = self.predicted_keys(tx).next().is_some();
        if inc == 0 && predicted {
            // Claimed for its first run: its predicted estimates go in now, at the head
            // of their lists (installed before the block, every call's would lengthen
            // the walk of each read from the head).
            self.install_estimates(t as usize, self.predicted_keys(tx))?;
            if !in_order && self.waits_for_predicted(t, tx) {
                return Ok(None);
            }
        }
        loop {
            *execs += 1;
            let mut view = MvView::new(&self.mv, self.state, t, self.pooled);
            let result = execute_transaction(tx, &self.env, &mut view, acc, vm);
            if view.read_pooled {
                return Err(Abort::BeneficiaryRead);
            }
            match result {
                Err(Interrupt::Dependency(blocking)) => {
                    if let Some(key) = view.blocked {
                        hot.add(key, 1);
                    }
                    self.waits.fetch_add(1, Ordering::Relaxed);
                    self.check_contention();
                    if self.sched.add_dependency(t, blocking) {
                        return Ok(None);
                    }
                }
                Ok(receipt) => {
                    // The first execution of a call with predicted keys to complete (the
                    // first incarnation's, or the next one's after it waited).
                    let first = predicted && self.never_recorded(t);
                    if first {
                        // A predicted key it wrote confirms the prediction (see
                        // `History`): tallied like a conflict, once per call, it keeps the
                        // key hot.
                        self.predicted_keys(tx)
                            .filter(|key| store::acc_writes(acc, key))
                            .for_each(|key| hot.add(key, 1));
                    }
                    // A higher transaction may have read a predicted key in the moment
                    // between this one's claim and its estimate, and its write there is
                    // no new path (the estimate is in its list): validate them all again.
                    let wrote_new_path =
                        self.record(t, inc, in_order, acc, receipt, lists)? || first;
                    return Ok(self.sched.finish_execution(t, inc, wrote_new_path));
                }
            }
        }
    }

    /// Before the first incarnation of an undeclared call with predicted hot keys: true
    /// when one of them holds an earlier transaction's estimate (a predicted writer not
    /// yet executed, most often the contract's previous call) and `t` now waits for it,
    /// without running a prefix that would stop at the same read. Such waits count
    /// apart (`predicted_waits`), not towards the contention check: they waste no
    /// execution (counted there, they sent blocks of swaps over 8 AMM pools to the
    /// sequential engine that Block-STM ran faster). Nor are they tallied as conflicts:
    /// a wrong prediction would keep itself alive; the writes that confirm a prediction
    /// are, in `execute`.
    fn waits_for_predicted(&self, t: u32, tx: &Transaction) -> bool {
        for key in self.predicted_keys(tx) {
            if let mvmemory::MvRead::Dependency(blocking) = self.mv.read(&key, t) {
                if self.sched.add_dependency(t, blocking) {
                    self.predicted_waits.fetch_add(1, Ordering::Relaxed);
                    return true;
                }
            }
        }
        false
    }
}
