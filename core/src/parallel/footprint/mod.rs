//! Footprint scheduling: a block whose every transaction's footprint (the keys it may
//! touch, and how) is known before execution runs without speculation, in the manner
//! of Solana's Sealevel. Today that is a block of native transfers: a transfer touches
//! its sender's nonce and balance (read and written), its recipient's balance and the
//! beneficiary's balance (both only added to). The policy ([`crate::policy::plannable`])
//! sends such blocks here and other blocks to Block-STM ([`super::block_stm`]). What a
//! transfer may touch is stated once, by [`crate::tx::Transaction::footprint`].
//!
//! # Phases
//!
//! Every worker calls [`Engine::run_worker`] with its index and goes
//! through the phases below. A phase is split into parts (one per partition, or batches
//! of transactions); each worker takes its own part first (by index) and then any part
//! nobody has claimed, so any number of workers finishes the block, and from block to
//! block each worker tends to write the same memory, which stays in its cache. A phase
//! starts when a counter says the previous one is complete.
//!
//! 1. **Scatter**: the block is cut into one chunk per partition; a chunk's owner lists
//!    each of its touches (cell = transaction index × footprint position, and the key's
//!    account) in the partition that holds the key, in block order. Partitions are
//!    ranges of accounts chosen from a sample of the block's footprints, so that they
//!    get similar shares, and ordered, so that their outputs concatenate in key order.
//!    Credits to the beneficiary (every transaction's fee) are not listed: unless some
//!    transaction sends from the beneficiary, they are *pooled*, each worker adding up
//!    the credits of the transactions it executes.
//! 2. **Plan**, per partition: its owner gives every key a dense id, reads its committed
//!    value once (prefetching the state lookups a few touches ahead) and links each
//!    touch to the previous touch of the same key, in a *source* per cell. A key that
//!    some transaction reads is *chained*: each toucher stores its full value after it,
//!    and the next toucher starts from that. A key that every toucher only adds to (most
//!    recipients) is *summed*: touchers store deltas and the read-out adds them up, so
//!    they never wait for one another. The beneficiary's balance is summed from the
//!    workers' pools; if the beneficiary sends, its balance is chained instead, and the
//!    owner of its partition lists that partition again from the block, credits
//!    included.
//! 3. **Execute**, in batches of [`BATCH`] consecutive transactions; worker `i` owns
//!    every `parts`-th batch from `i`. A transaction reads its sources, waits for the
//!    previous toucher of each chained key (in a low-contention block it nearly always
//!    is done already), executes once against those values, and stores its values,
//!    receipt and `done` flag (which also records which keys it wrote). Nothing is
//!    validated or re-executed: the plan is exact. A worker claims its next own batch
//!    when it starts one, and before starting an own batch runs every lower batch that
//!    nobody claimed; so every batch a transaction may wait on is claimed, each worker
//!    runs its batches in block order, and the lowest unfinished transaction can always
//!    run: no deadlock, whatever the number of workers.
//! 4. **Read out**, per partition: first the deltas of summed keys (and the pools) are
//!    added up and the written keys counted (keys only read are not part of the write
//!    set); then each partition writes its keys' final values after the lower
//!    partitions' and sorts them.
//!
//! If a transaction touches a key outside its footprint, or a key in a way the plan did
//! not foresee (impossible for the footprints computed here, but checked), or the block
//! is not plannable, the block ends with [`BlockError::OffFootprint`] and the
//! policy runs it another way. A block that is a chain of dependencies (many
//! transactions reading what the one just before wrote) runs on one worker; the host
//! policy goes further and sends blocks that
//! [`crate::policy::looks_contended`] to the sequential executor.
//!
//! # Memory and sharing
//!
//! All memory comes from the caller ([`FootprintMemory::lengths`]), borrowed exclusively
//! for the block; the key tables and the `done` flags carry a header that counts
//! blocks, so they are never cleared. (Before the workers start, the sample that
//! chooses the partitions borrows the start of the output.) A partition's touch list is
//! written by the chunk owners in the scatter phase, then only by the partition's
//! owner, who alone writes its table, key records and sources in the plan phase and
//! reads them in the read-out; a transaction's values, receipt and flag are written
//! only by the worker executing it, whose pooled credits and totals are added under a
//! lock before it counts what it executed. Every reader of data written in an earlier
//! phase runs after an acquire load saw that phase's release counter complete, and a
//! transaction reads its predecessor's values after an acquire load of the
//! predecessor's `done` flag, released after those values were written. The shared
//! cells are [`Slot`]s (from `sync.rs`); the `SAFETY` comments refer to this paragraph.

mod execute;
mod memory;
mod plan;
mod readout;

pub use crate::sync::Slot;
pub use crate::tx::FOOTPRINT;

use crate::engine::{Block, Choice, Engine, Outcome, Output, WorkerMemory};
use crate::error::{Abort, BlockError, Invariant};
use crate::exec::{AccessSet, BlockEnv, ExecStats};
use crate::receipt::Receipt;
use crate::state::{StateEntry, StateReader};
use crate::sync::{settled, AtomicU32, Ordering, Padded, RawSpin};
use crate::tx::{Footprint, Transaction};
use crate::types::StateKey;
use execute::Tally;
use memory::{clamp_partitions, NONE};
pub use memory::{Done, FootprintMemory, KeyRecord, Lengths, Source, Touch};

use super::{too_small, wait_until, AbortFlag};

/// Most partitions (key ranges) a block is planned in.
pub const MAX_PARTITIONS: usize = 16;
/// Consecutive transactions a worker claims at once.
pub const BATCH: usize = 64;
/// Transactions whose footprints are sampled to choose the key ranges.
const SAMPLE_TXS: usize = 512;
/// How many transactions ahead the planner starts loading committed-state index slots,
/// and the entries they point to.
const PREFETCH_INDEX: usize = 16;
const PREFETCH_ENTRY: usize = 8;
/// A read of a key whose previous writer is fewer than this many transactions earlier
/// is a near dependency (it may have to wait).
const NEAR: usize = 2 * BATCH;
/// One transaction in this many with a near dependency makes the block run on one
/// worker (see `run_worker_with`).
pub const SERIAL_RATIO: usize = 4;

/// Bits of a transaction's `done` flag.
const DONE: u32 = 1;
/// On a batch's first transaction: some worker claimed the batch.
const CLAIMED: u32 = 2;
/// Bit `WROTE_SHIFT + j`: the transaction wrote its footprint key `j`.
const WROTE_SHIFT: u32 = 2;
/// The flags take the low bits of a `done` word, the block's round the others.
const ROUND_SHIFT: u32 = 8;
/// Largest round before the flags must be cleared.
const MAX_ROUND: u32 = u32::MAX >> ROUND_SHIFT;
/// Phases whose parts are claimed (indices into `claims`).
const SCATTER: usize = 0;
const PLAN: usize = 1;
const TALLY: usize = 2;
const READ_OUT: usize = 3;

/// A block being executed by footprint scheduling (see the module docs).
pub struct FootprintEngine<'a, S: StateReader> {
    state: &'a S,
    env: BlockEnv<'a>,
    txs: &'a [Transaction],
    mem: FootprintMemory<'a>,
    parts: usize,
    /// Partition `p` holds the keys of the addresses `a` with
    /// `splitters[p - 1] <= a < splitters[p]` (whole accounts, so the partitions are
    /// ranges in key order too).
    splitters: [u64; MAX_PARTITIONS - 1],
    /// This block's count in the `done` header: the high bits of every flag it sets.
    round: u32,
    /// Slots per partition table (a power of two).
    table_per: usize,
    epoch: u32,
    /// Claimed parts of each phase (see `parts_for`).
    claims: [[AtomicU32; MAX_PARTITIONS]; 4],
    scatter_done: Padded<AtomicU32>,
    /// Touches each chunk scattered to each partition, published by `scatter_done`.
    scattered: [[AtomicU32; MAX_PARTITIONS]; MAX_PARTITIONS],
    plan_done: Padded<AtomicU32>,
    exec_done: Padded<AtomicU32>,
    tallied: Padded<AtomicU32>,
    /// Keys in each partition, published by `plan_done`.
    counts: [AtomicU32; MAX_PARTITIONS],
    /// Touches in each partition's list.
    listed: [AtomicU32; MAX_PARTITIONS],
    /// Keys each partition's read-out wrote to the output (those some transaction wrote).
    written: [AtomicU32; MAX_PARTITIONS],
    /// Gas used and undeclared accesses, summed over the workers (under `tally_lock`).
    tally: Slot<(u64, u64)>,
    /// The beneficiary's pooled credits (see `pooled`): their sum and whether there were
    /// any, summed over the workers (under `tally_lock`).
    pooled: Slot<(u64, bool)>,
    /// Some transaction sends from the beneficiary: its balance is read, so its credits
    /// are not pooled. Set by the scatter, published by `scatter_done`.
    ben_sends: AtomicU32,
    tally_lock: RawSpin,
    /// Near dependencies (see [`NEAR`]), summed by the planners.
    near: AtomicU32,
    waits: AtomicU32,
    abort: AbortFlag,
    /// The receipts (the result), one per transaction.
    receipts: &'a mut [Slot<Receipt>],
    /// The sorted write set (the result), [`Lengths::values`].
    out: &'a mut [Slot<StateEntry>],
}

impl<'a, S: StateReader + Sync> Engine<'a, S> for FootprintEngine<'a, S> {
    type Memory = FootprintMemory<'a>;

    /// Prepares `block` (every transaction a native transfer, see
    /// [`crate::policy::plannable`]) for `choice.workers` key ranges (any number of
    /// workers can run the block).
    fn prepare(
        block: Block<'a, S>,
        mem: FootprintMemory<'a>,
        output: Output<'a>,
        choice: &Choice,
    ) -> Result<Self, BlockError> {
        let Block { state, env, txs } = block;
        let n = txs.len();
        if n >= (u32::MAX as usize) / (FOOTPRINT * MAX_PARTITIONS) {
            return Err(BlockError::TooManyTransactions {
                txs: n,
                limit: (u32::MAX as usize) / (FOOTPRINT * MAX_PARTITIONS),
            });
        }
        let parts = clamp_partitions(choice.workers);
        let want = FootprintMemory::lengths(n, parts);
        too_small("done", want.done, mem.done.len())?;
        too_small("receipts", want.txs, output.receipts.len())?;
        too_small("values", want.values, mem.values.len())?;
        too_small("writes", want.values, output.writes.len())?;
        too_small("table", want.table, mem.table.len())?;
        too_small("keys", want.cells, mem.keys.len())?;
        too_small("list", want.cells, mem.list.len())?;
        too_small("sources", want.cells, mem.sources.len())?;
        // Relaxed: `&mut` access; no other thread can see the flags now.
        let (header, _) = mem.done.split_last_mut().ok_or(BlockError::BadScratch)?;
        let last = header.0.load(Ordering::Relaxed);
        let round = if last == 0 || last >= MAX_ROUND {
            mem.done.iter_mut().for_each(|d| *d = Done::new());
            1
        } else {
            last + 1
        };
        if let Some(h) = mem.done.last_mut() {
            h.0.store(round, Ordering::Relaxed);
        }
        // The header (last slot) counts epochs; a slot of another epoch is empty.
        let table_len = mem.table.len() - 1;
        let table_per = prev_power_of_two(table_len / parts);
        let (header, table) = mem.table.split_last_mut().ok_or(BlockError::BadScratch)?;
        let last = header.get().0;
        let epoch = if last == 0 || last == u32::MAX {
            table.iter_mut().for_each(|s| *s = Slot::new((0, 0)));
            1
        } else {
            last + 1
        };
        header.set((epoch, 0));
        let mut exec = Self {
            state,
            env,
            txs,
            mem,
            parts,
            splitters: [0; MAX_PARTITIONS - 1],
            table_per,
            epoch,
            round,
            claims: Default::default(),
            scatter_done: Padded(AtomicU32::new(0)),
            scattered: Default::default(),
            plan_done: Padded(AtomicU32::new(0)),
            exec_done: Padded(AtomicU32::new(0)),
            tallied: Padded(AtomicU32::new(0)),
            counts: Default::default(),
            written: Default::default(),
            listed: Default::default(),
            near: AtomicU32::new(0),
            tally: Slot::new((0, 0)),
            pooled: Slot::new((0, false)),
            ben_sends: AtomicU32::new(0),
            tally_lock: RawSpin::new(),
            waits: AtomicU32::new(0),
            abort: AbortFlag::new(),
            receipts: Slot::from_mut_slice(output.receipts),
            out: Slot::from_mut_slice(output.writes),
        };
        exec.choose_splitters();
        Ok(exec)
    }

    /// Runs the block's phases with the other workers; returns when this worker finds
    /// nothing left to claim (the caller joins every worker before [`Self::finish`]).
    /// `index` picks the worker's own parts (see the module docs): give each worker a
    /// different one, `0..partitions`, and the same one from block to block. Any number
    /// of workers with any indices still finishes the block.
    fn run_worker(
        &self,
        index: usize,
        worker: WorkerMemory<'_>,
        idle: &mut impl FnMut(u32),
    ) -> Result<(), BlockError> {
        let WorkerMemory { mut vm, access } = worker;
        let Some(mut acc) = AccessSet::new(access, self.env.limits) else {
            self.fail(Abort::BadScratch);
            return Err(BlockError::BadScratch);
        };
        if vm.stack.is_empty() {
            self.fail(Abort::BadScratch);
            return Err(BlockError::BadScratch);
        }
        let parts = self.parts as u32;
        let n = self.txs.len();

        // Scatter publishes each chunk's touches; plan each partition's table, records,
        // lists and sources.
        if !self.run_parts(index, SCATTER, &self.scatter_done, |c| self.scatter(c))
            || !self.wait_for(&self.scatter_done, parts, idle)
            || !self.run_parts(index, PLAN, &self.plan_done, |p| self.plan(p))
            || !self.wait_for(&self.plan_done, parts, idle)
        {
            return Ok(());
        }

        let mut tally = Tally { pooling: self.pooled(), ..Tally::default() };
        // A block whose transactions mostly depend on recent ones is a chain: workers
        // would take turns waiting for each other, so one worker runs it all.
        let serial = self.near.load(Ordering::Relaxed) as usize * SERIAL_RATIO >= n;
        let batch = if serial { n.max(1) } else { BATCH };
        // Each worker has its own batches (every `parts`-th, from its index), so that
        // from block to block the same worker writes the same transactions' memory and
        // finds it in its cache. It claims its next own batch when it starts the current
        // one, and before starting an own batch it runs any lower batch that nobody
        // claimed (a missing or lagging worker's). So every batch a transaction may
        // wait on is claimed, and each worker runs its claimed batches in block order:
        // the lowest unfinished transaction can always run, with any number of workers.
        let batches = n.div_ceil(batch);
        let mut cursor = 0;
        let mut own = index % self.parts;
        let mut mine = own < batches && self.claim_batch(own, batch);
        loop {
            while cursor < own.min(batches) {
                if self.claim_batch(cursor, batch) {
                    self.run_batch(cursor, batch, &mut acc, &mut vm, &mut tally, idle)?;
                }
                cursor += 1;
            }
            if own >= batches || self.failed() {
                break;
            }
            let next = own + self.parts;
            let next_mine = next < batches && self.claim_batch(next, batch);
            if mine {
                self.run_batch(own, batch, &mut acc, &mut vm, &mut tally, idle)?;
            }
            cursor = own + 1;
            (own, mine) = (next, next_mine);
        }
        self.waits.fetch_add(tally.waits, Ordering::Relaxed);
        // A worker that executed nothing has nothing to add, and must not touch the
        // totals: the last count may already be in, and the tally reading them.
        if tally.executed > 0 {
            {
                let _g = self.tally_lock.lock();
                let (gas, undeclared) = self.tally.get();
                let (sum, any) = self.pooled.get();
                // Under `tally_lock`, which orders these accesses between the workers.
                self.tally.set((gas.saturating_add(tally.gas), undeclared + tally.undeclared));
                self.pooled.set((sum.wrapping_add(tally.pooled.0), any | tally.pooled.1));
            }
            // Release (in a read-modify-write chain), after the lock's release: publishes
            // the values, receipts and flags of every transaction this worker executed,
            // and its totals, to the tally, whose acquire load sees the final count (and
            // to `finish`, which runs after the workers are joined).
            self.exec_done.fetch_add(tally.executed, Ordering::AcqRel);
        }
        if !self.wait_for(&self.exec_done, n as u32, idle) {
            return Ok(());
        }

        // The tally publishes each partition's written count (and its records).
        let tally_keys = |p| {
            self.tally_keys(p);
            Ok(())
        };
        if !self.run_parts(index, TALLY, &self.tallied, tally_keys)
            || !self.wait_for(&self.tallied, parts, idle)
        {
            return Ok(());
        }
        for p in self.parts_for(index, READ_OUT) {
            self.read_out(p);
        }
        Ok(())
    }

    /// After every worker returned: the receipts, the block's sorted write set and the
    /// statistics, in the output given to `prepare`.
    fn finish(self) -> Result<Outcome<'a>, BlockError> {
        match self.abort.get() {
            None => {}
            Some(Abort::FootprintFull) => return Err(BlockError::FootprintFull),
            Some(Abort::BadScratch) => return Err(BlockError::BadScratch),
            Some(_) => return Err(BlockError::OffFootprint),
        }
        let n = self.txs.len();
        if self.exec_done.load(Ordering::Acquire) != n as u32
            || self.claims[READ_OUT][..self.parts].iter().any(|c| c.load(Ordering::Relaxed) == 0)
        {
            return Err(BlockError::Invariant(Invariant::NotDone));
        }
        let (gas_used, undeclared) = self.tally.get();
        let mut stats = ExecStats { gas_used, undeclared, ..ExecStats::default() };
        stats.dependency_waits = self.waits.load(Ordering::Relaxed) as u64;
        let total: usize =
            self.written[..self.parts].iter().map(|c| c.load(Ordering::Relaxed) as usize).sum();
        let (receipts, out) = (self.receipts, self.out);
        Ok(Outcome {
            receipts: settled(&mut receipts[..n]),
            writes: settled(&mut out[..total]),
            stats,
        })
    }
}

impl<S: StateReader + Sync> FootprintEngine<'_, S> {
    /// Whether the beneficiary's credits are pooled: added up by the batches that make
    /// them rather than planned touch by touch, because nothing reads the beneficiary's
    /// balance (no transaction sends from it). Known once the scatter is complete.
    #[inline]
    fn pooled(&self) -> bool {
        // Relaxed: read after the acquire that saw `scatter_done` complete.
        self.ben_sends.load(Ordering::Relaxed) == 0
    }

    /// Whether footprint position `j` of `fp` is a pooled credit (see `pooled`).
    #[inline]
    fn is_pooled(&self, fp: &Footprint, j: usize, pooled: bool) -> bool {
        pooled && j >= Footprint::READ && fp.keys()[j].addr == self.env.beneficiary
    }

    #[inline]
    fn partition(&self, key: &StateKey) -> usize {
        let a = key.addr.0;
        self.splitters[..self.parts - 1].partition_point(|s| *s <= a)
    }

    fn fail(&self, abort: Abort) {
        self.abort.raise(abort);
    }

    fn failed(&self) -> bool {
        self.abort.is_raised()
    }

    /// See [`wait_until`]: until `counter` reaches `target`, or a worker failed.
    fn wait_for(&self, counter: &AtomicU32, target: u32, idle: &mut impl FnMut(u32)) -> bool {
        wait_until(counter, target, &self.abort, idle)
    }

    /// The parts of `phase` this worker claims: its own (its index) first, then any
    /// another worker has not claimed. Relaxed claims: a flag only hands out distinct
    /// parts; the data each part needs is published by the phase counters.
    fn parts_for(&self, index: usize, phase: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.parts)
            .map(move |k| (index + k) % self.parts)
            .filter(move |&p| self.claims[phase][p].swap(1, Ordering::Relaxed) == 0)
    }

    /// Runs this worker's parts of `phase` (see `parts_for`) with `work`, counting each
    /// in `done` with release (publishing what the part wrote). False when a part
    /// failed: the block is marked failed, and the others see the flag instead of the
    /// part's completion.
    fn run_parts(
        &self,
        index: usize,
        phase: usize,
        done: &AtomicU32,
        work: impl Fn(usize) -> Result<(), Abort>,
    ) -> bool {
        for part in self.parts_for(index, phase) {
            if let Err(code) = work(part) {
                self.fail(code);
                return false;
            }
            done.fetch_add(1, Ordering::Release);
        }
        true
    }

    fn table(&self, p: usize) -> &[Slot<(u32, u32)>] {
        &self.mem.table[p * self.table_per..(p + 1) * self.table_per]
    }

    fn region(&self, p: usize) -> core::ops::Range<usize> {
        let cap = self.txs.len() * FOOTPRINT;
        p * cap..(p + 1) * cap
    }

    /// Transactions of chunk `c` (scatter): the chunks split the block evenly.
    fn chunk(&self, c: usize) -> core::ops::Range<usize> {
        let n = self.txs.len();
        c * n / self.parts..(c + 1) * n / self.parts
    }
}

fn prev_power_of_two(x: usize) -> usize {
    if x == 0 {
        0
    } else {
        1 << (usize::BITS - 1 - x.leading_zeros())
    }
}
