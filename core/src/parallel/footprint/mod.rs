//! Footprint scheduling: a block whose every transaction's footprint (the keys it may
//! touch, and how) is known before execution runs without speculation, in the manner
//! of Solana's Sealevel. That is a block of native transfers and contract calls that
//! declare their access lists: a transfer touches its sender's nonce and balance (read
//! and written), its recipient's balance and the beneficiary's balance (both only added
//! to); a declared call, its sender's nonce and balance and its declared keys (read and
//! written) and the beneficiary's balance (added to). The policy
//! ([`crate::policy::plannable`]) sends such blocks here and other blocks to Block-STM
//! ([`super::block_stm`]). What a transaction may touch is stated once, by
//! [`crate::tx::Transaction::footprint`]; the block's widest footprint sets the cells
//! per transaction ([`width`]).
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
//!    each of its touches (cell = transaction index × width + footprint position, and the
//!    key) in the chunk's own cells of one list, grouped by the partition that holds the
//!    key (in partition order, and in block order within a group), and notes where each
//!    cell's touch went (`at`), in two passes over the chunk's footprints (the first
//!    counts the groups).
//!    Partitions are ranges of keys chosen from a sample of the block's footprints, so
//!    that they get similar shares, and ordered, so that their outputs concatenate in
//!    key order. Credits to the beneficiary (every transaction's fee) go last, apart:
//!    unless some transaction sends from the beneficiary, they are *pooled*, each worker
//!    adding up the credits of the transactions it executes, and not planned.
//! 2. **Plan**, per partition: its owner takes its group of every chunk, gives every key
//!    a dense id, reads its committed value once (prefetching the state lookups a few
//!    touches ahead) and links each touch to the previous touch of the same key, in a
//!    *source* at the touch's place (which a transaction finds through `at`). A key that
//!    some transaction may read is *chained*: each toucher stores its full value after it,
//!    and the next toucher starts from that. A key that every toucher only adds to (most
//!    recipients) is *summed*: touchers store deltas and the read-out adds them up, so
//!    they never wait for one another. The beneficiary's balance is summed from the
//!    workers' pools; if the beneficiary sends (or a call declares its balance), its
//!    balance is chained instead, and its partition's owner plans the credits too,
//!    merged with its groups in block order. The key records and tables take one entry
//!    per touch, each partition its share, so memory does not grow with the partitions.
//!    A partition's table is used from its start, two slots per touch of the partition
//!    first (at most [`LARGE_TABLE`] slots; a smaller block's table is never filed
//!    again), doubled (its keys filed again) whenever it is half full: it is as large as
//!    the distinct keys need, which in a large block are often far fewer than the
//!    touches, and the rest of it is never written (on a host, never mapped).
//! 3. **Execute**, in batches of [`BATCH`] consecutive transactions; worker `i` owns
//!    every `parts`-th batch from `i`. A transaction reads its sources, waits for the
//!    previous toucher of each chained key (in a low-contention block it nearly always
//!    is done already), executes once against those values, and stores its values,
//!    receipt and `done` flag (which also records which keys it wrote). Nothing is
//!    validated or re-executed: the plan is exact. A worker claims its next own batch
//!    when it starts one, and before starting an own batch runs every lower batch that
//!    nobody claimed; so every batch a transaction may wait on is claimed, each worker
//!    runs its batches in block order, and the lowest unfinished transaction can always
//!    run: no deadlock, whatever the number of workers. A transaction whose previous
//!    toucher is not done yet (another worker's, or one set aside) is set aside, up to
//!    [`ASIDE`] of them, and the worker goes on with the next, into its next batch if
//!    need be; those set aside run in block order as soon as their touchers are done
//!    (checked before each next transaction), and waiting when [`ASIDE`] are aside or
//!    the worker has no batch left. The order changes nothing but the waiting: every
//!    transaction's values come from the plan. Nor can it deadlock: a worker's lowest
//!    transaction set aside is its lowest unfinished one, and it is the first it waits
//!    for. (A block of one batch, which one worker runs, sets none aside.)
//!
//!    **Lanes.** When batches would mostly wait for each other (one transaction in
//!    [`SERIAL_RATIO`] reads a key written fewer than `NEAR` transactions before), the
//!    transactions are dealt to lanes instead (`lanes.rs`): each hot chain (a chained key
//!    with at least [`HOT`] touches: an NFT collection's counter, a pool's reserves, a
//!    busy sender) goes whole to one lane, balanced by touches, and each transaction
//!    runs in its heaviest chain's lane, so a chain never waits for itself. Workers
//!    claim lanes and run them in block order, setting transactions aside the same
//!    way. If the lanes would still wait for each other as often, or one lane holds
//!    three in four transactions, the block runs in one lane. A key that every toucher
//!    declares read-only is *fixed*: everyone reads its committed value, and a
//!    transaction that writes it anyway breaks the plan.
//! 4. **Read out**, per partition: first the deltas of summed keys (and the pools) are
//!    added up and the written keys counted (keys only read are not part of the write
//!    set); then each partition writes its keys' final values after the lower
//!    partitions' and sorts them.
//!
//! If a transaction touches a key outside its footprint (a call whose declared list is
//! wrong), or a key in a way the plan did not foresee (impossible for the footprints
//! computed here, but checked), or the block is not plannable, the block ends with
//! [`BlockError::OffFootprint`] and the policy runs it another way. A block that is one
//! chain of dependencies runs in one lane; the policy goes further and sends blocks that
//! [`crate::policy::looks_contended`] (the same judgement on a sample, before planning)
//! to the sequential executor.
//!
//! # Memory and sharing
//!
//! All memory comes from the caller ([`FootprintMemory::lengths`]), borrowed exclusively
//! for the block; the `done` flags carry a header that counts blocks, so they are never
//! cleared, and a key table is cleared as its partition's owner takes it into use (the
//! part in use is small). (Before the workers start, the sample that
//! chooses the partitions borrows the start of the output.) A chunk's cells of the
//! list, and its cells' `at` words, are written by the chunk's owner
//! in the scatter phase; then a partition's groups (and the credits, when it plans
//! them), their sources, and its table and key records only by the partition's owner in
//! the plan phase, who reads them again in the read-out; a transaction's values,
//! receipt and flag are written only by the worker executing it, whose pooled credits
//! and totals are added under a lock before it counts what it executed. Every reader of data written in an earlier
//! phase runs after an acquire load saw that phase's release counter complete, and a
//! transaction reads its predecessor's values after an acquire load of the
//! predecessor's `done` flag, released after those values were written. The shared
//! cells are [`Slot`]s (from `sync.rs`); the `SAFETY` comments refer to this paragraph.

mod execute;
mod lanes;
mod memory;
mod plan;
mod readout;

pub use crate::sync::Slot;
pub use crate::tx::{FOOTPRINT, FOOTPRINT_MAX};

use core::ops::Range;

use crate::engine::{Block, Choice, Engine, Outcome, Output, WorkerMemory};
use crate::error::{Abort, BlockError, Invariant};
use crate::exec::{AccessSet, BlockEnv, ExecStats};
use crate::receipt::Receipt;
use crate::state::{StateEntry, StateReader};
use crate::sync::{settled, AtomicU32, Ordering, Padded, RawSpin};
use crate::tx::{Footprint, Transaction};
use crate::types::StateKey;
use execute::{Tally, Worker};
use lanes::{LaneKind, Lanes};
use memory::{clamp_partitions, NONE};
pub use memory::{Done, FootprintMemory, KeyRecord, Lengths, Source, Touch};

use super::{too_small, wait_until, AbortFlag};

/// Most partitions (key ranges) a block is planned in, and lanes it runs in.
pub const MAX_PARTITIONS: usize = 16;
const _: () = assert!(MAX_PARTITIONS.is_power_of_two() && MAX_PARTITIONS <= 32);
/// Transactions whose footprints are sampled to choose the key ranges.
const SAMPLE_TXS: usize = 512;
/// Slots of a partition's key table first taken into use (see "Plan" above): two per
/// touch of the partition (at most half full whatever its keys), at most this many (a
/// larger block doubles it as its keys need).
pub(super) const LARGE_TABLE: usize = 1 << 16;
/// How many transactions (touches, in the planner) ahead the engine starts loading what
/// it will read, in stages: index slots (or places), then what they point to, then (the
/// executors) the previous touchers' values and `done` words.
const PREFETCH_INDEX: usize = 16;
const PREFETCH_ENTRY: usize = 8;
const PREFETCH_DONE: usize = 4;
// The planner's ring of key hashes in flight (`plan`) holds the stages' distances.
const _: () = assert!(PREFETCH_ENTRY < PREFETCH_INDEX && PREFETCH_DONE < PREFETCH_ENTRY);
/// Consecutive transactions that go to one lane together, unless a hot chain (see
/// [`HOT`]) takes them to its own.
pub const BATCH: usize = 64;
/// Transactions a worker sets aside at most while their previous touchers are not done
/// (`run_or_set_aside`). Declared contract blocks, in one process against 8: 24 took
/// 2–15% less time, 64 another 1–5% (BENCHMARKS.md).
const ASIDE: usize = 32;
/// Touches that make a key's chain hot: its transactions run in one lane.
pub const HOT: u32 = 8;
/// A read of a key whose previous toucher is fewer than this many transactions earlier,
/// in another lane, is a near dependency (it may have to wait).
const NEAR: usize = 128;
/// One transaction in this many with a near dependency makes the block run in one lane
/// (see `lanes.rs`).
pub const SERIAL_RATIO: usize = 4;

/// A listed touch's mode (see `scatter`): the transaction only adds to the key (0), may
/// read and write it (1), or declared it read-only (this).
const ONLY_READS: u32 = 2;

/// Bits of a transaction's `done` word: done.
const DONE: u32 = 1;
/// On a batch's first transaction: some worker claimed the batch (see `run_batches`).
const CLAIMED: u32 = 2;
/// Bit `WROTE_SHIFT + j`: the transaction wrote its footprint key `j`.
const WROTE_SHIFT: u32 = 2;
/// The transaction's lane, 4 bits.
const LANE_SHIFT: u32 = WROTE_SHIFT + FOOTPRINT_MAX as u32;
/// The flags take the low bits of a `done` word, the block's round the others.
const ROUND_SHIFT: u32 = LANE_SHIFT + MAX_PARTITIONS.trailing_zeros();
/// Largest round before the flags must be cleared.
const MAX_ROUND: u32 = u32::MAX >> ROUND_SHIFT;
/// Phases whose parts are claimed (indices into `claims`).
const SCATTER: usize = 0;
const PLAN: usize = 1;
const ASSIGN: usize = 2;
const CROSS: usize = 3;
const TALLY: usize = 4;
const READ_OUT: usize = 5;
const BALANCE: usize = 6;

/// A block being executed by footprint scheduling (see the module docs).
pub struct FootprintEngine<'a, S: StateReader> {
    state: &'a S,
    env: BlockEnv<'a>,
    txs: &'a [Transaction<'a>],
    mem: FootprintMemory<'a>,
    parts: usize,
    /// Cells per transaction ([`width`]), and the multiplier that divides a cell by it
    /// ([`Self::tx_of`]).
    width: usize,
    per_width: u64,
    /// Partition `p` holds the keys `k` with
    /// `splitters[p - 1] <= place(k) < splitters[p]` (ranges in key order, see `place`).
    splitters: [u128; MAX_PARTITIONS - 1],
    /// The partition of the beneficiary's balance.
    ben_part: usize,
    /// This block's count in the `done` header: the high bits of every flag it sets.
    round: u32,
    /// Claimed parts of each phase (see `parts_for`).
    claims: [[AtomicU32; MAX_PARTITIONS]; 7],
    scatter_done: Padded<AtomicU32>,
    /// Touches of each chunk in each partition, credits to the beneficiary left out
    /// (`credits`), published by `scatter_done`.
    counted: [[AtomicU32; MAX_PARTITIONS]; MAX_PARTITIONS],
    /// Credits to the beneficiary in each chunk, published by `scatter_done`.
    credits: [AtomicU32; MAX_PARTITIONS],
    plan_done: Padded<AtomicU32>,
    balanced: Padded<AtomicU32>,
    assigned: Padded<AtomicU32>,
    crossed: Padded<AtomicU32>,
    /// Lanes claimed, and their transactions (see `lanes.rs`).
    lane_claims: [AtomicU32; MAX_PARTITIONS],
    loads: [AtomicU32; MAX_PARTITIONS],
    exec_done: Padded<AtomicU32>,
    tallied: Padded<AtomicU32>,
    /// Keys in each partition, published by `plan_done`.
    counts: [AtomicU32; MAX_PARTITIONS],
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
    /// Near dependencies (see [`NEAR`]), summed by the planners; published by
    /// `plan_done`.
    near: AtomicU32,
    /// Near dependencies across lanes, summed by `cross` (when some chain is hot).
    cross: AtomicU32,
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
        let width = width_of(choice);
        // Cells (`n * width`) stay below 2^28: a `Touch` packs the key's kind above them.
        if n >= (u32::MAX as usize) / (width * MAX_PARTITIONS) {
            return Err(BlockError::TooManyTransactions {
                txs: n,
                limit: (u32::MAX as usize) / (width * MAX_PARTITIONS),
            });
        }
        let parts = clamp_partitions(choice.workers);
        let want = FootprintMemory::lengths(n, parts, width);
        too_small("done", want.done, mem.done.len())?;
        too_small("receipts", want.txs, output.receipts.len())?;
        too_small("values", want.values, mem.values.len())?;
        too_small("writes", want.values, output.writes.len())?;
        too_small("table", want.table, mem.table.len())?;
        too_small("keys", want.keys, mem.keys.len())?;
        too_small("list", want.values, mem.list.len())?;
        too_small("at", want.values, mem.at.len())?;
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
        let mut exec = Self {
            state,
            env,
            txs,
            mem,
            parts,
            width,
            per_width: per_width(width),
            splitters: [0; MAX_PARTITIONS - 1],
            ben_part: 0,
            round,
            claims: Default::default(),
            scatter_done: Padded(AtomicU32::new(0)),
            counted: Default::default(),
            credits: Default::default(),
            plan_done: Padded(AtomicU32::new(0)),
            balanced: Padded(AtomicU32::new(0)),
            assigned: Padded(AtomicU32::new(0)),
            crossed: Padded(AtomicU32::new(0)),
            lane_claims: Default::default(),
            loads: Default::default(),
            exec_done: Padded(AtomicU32::new(0)),
            tallied: Padded(AtomicU32::new(0)),
            counts: Default::default(),
            written: Default::default(),
            near: AtomicU32::new(0),
            cross: AtomicU32::new(0),
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
        exec.ben_part = exec.partition(&StateKey::balance(env.beneficiary));
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

        // The scatter publishes each chunk's listed touches, their counts and places; the
        // plan each partition's table, records, touches and sources.
        if !self.run_parts(index, SCATTER, &self.scatter_done, |c| self.scatter(c))
            || !self.wait_for(&self.scatter_done, parts, idle)
            || !self.run_parts(index, PLAN, &self.plan_done, |p| self.plan(p))
            || !self.wait_for(&self.plan_done, parts, idle)
        {
            return Ok(());
        }

        // When batches would wait for each other: the hot chains' lanes (one worker,
        // published by `balanced`), lanes for the transactions (by `assigned`) and the
        // dependencies across them (by `crossed`), which decide whether the block runs in
        // those lanes or in one.
        let balance = |part| {
            if part == 0 {
                self.balance();
            }
            Ok(())
        };
        if self.chained_block()
            && (!self.run_parts(index, BALANCE, &self.balanced, balance)
                || !self.wait_for(&self.balanced, parts, idle)
                || !self.run_parts(index, ASSIGN, &self.assigned, |c| self.assign(c))
                || !self.wait_for(&self.assigned, parts, idle)
                || !self.run_parts(index, CROSS, &self.crossed, |c| self.cross(c))
                || !self.wait_for(&self.crossed, parts, idle))
        {
            return Ok(());
        }

        let tally = Tally { pooling: self.pooled(), ..Tally::default() };
        let (acc, vm, lanes) = (&mut acc, &mut vm, Lanes::batches());
        let w = &mut Worker { acc, vm, tally, idle: &mut *idle, lanes };
        let ran = match self.lane_kind() {
            LaneKind::Stamped => self.run_lanes(index, w),
            LaneKind::Batches => self.run_batches(index, BATCH, w),
            LaneKind::Single => self.run_batches(index, n.max(1), w),
        };
        if let Err(code) = ran {
            // Not counted as done: the read-out never starts on a failed block.
            self.fail(code);
            return Ok(());
        }
        let tally = &w.tally;
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
        // A key only added to is a balance (a recipient's or the beneficiary's).
        pooled && !fp.reads(j) && fp.keys()[j].addr == self.env.beneficiary
    }

    #[inline]
    fn partition(&self, key: &StateKey) -> usize {
        let place = place(key);
        self.splitters[..self.parts - 1].partition_point(|s| *s <= place)
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

    /// Touches of chunk `c` listed in partition `p` (after the scatter): credits to the
    /// beneficiary in its partition only when they are not pooled.
    fn listed_by(&self, c: usize, p: usize) -> usize {
        // Relaxed: read after the acquire that saw `scatter_done` complete.
        let mut n = self.counted[c][p].load(Ordering::Relaxed) as usize;
        if p == self.ben_part && !self.pooled() {
            n += self.credits[c].load(Ordering::Relaxed) as usize;
        }
        n
    }

    /// Partition `p`'s share of the key records (after the scatter): where its touches
    /// would start and end if the partitions' touches were listed one after another.
    fn span(&self, p: usize) -> Range<usize> {
        let total = |q| (0..self.parts).map(|c| self.listed_by(c, q)).sum::<usize>();
        let start = (0..p).map(total).sum();
        start..start + total(p)
    }

    /// Partition `p`'s part of `keys` (its first key id is the start): its records
    /// follow the lower partitions', with room for one key per touch, and one more (the
    /// beneficiary, if pooled).
    fn key_region(&self, p: usize) -> Range<usize> {
        let span = self.span(p);
        span.start + p..span.end + p + 1
    }

    /// The transaction of `cell`.
    #[inline(always)]
    fn tx_of(&self, cell: usize) -> usize {
        ((cell as u64 * self.per_width) >> 32) as usize
    }

    /// Partition `p`'s key table: two slots per record of its region.
    fn table(&self, p: usize) -> &[Slot<u32>] {
        let keys = self.key_region(p);
        &self.mem.table[2 * keys.start..2 * keys.end]
    }

    /// Transactions of chunk `c` (scatter): the chunks split the block evenly.
    fn chunk(&self, c: usize) -> core::ops::Range<usize> {
        let n = self.txs.len();
        c * n / self.parts..(c + 1) * n / self.parts
    }

    /// Where chunk `c`'s touches of partition `p` are in `list` (after the scatter), and
    /// its credits to the beneficiary when `p` lists them (not pooled; else empty).
    fn groups(&self, c: usize, p: usize) -> (Range<usize>, Range<usize>) {
        let mut start = self.chunk(c).start * self.width;
        let mut group = start..start;
        for q in 0..self.parts {
            // Relaxed: read after the acquire that saw `scatter_done` complete.
            let n = self.counted[c][q].load(Ordering::Relaxed) as usize;
            if q == p {
                group = start..start + n;
            }
            start += n;
        }
        let credits = if p == self.ben_part && !self.pooled() {
            start..start + self.credits[c].load(Ordering::Relaxed) as usize
        } else {
            start..start
        };
        (group, credits)
    }
}

/// The footprint engine's cells per transaction for the block `txs`, if every one has a
/// footprint ([`Transaction::has_footprint`]): the longest footprint any of them may have
/// ([`Transaction::footprint_len`]; a block of native transfers: [`FOOTPRINT`]). The
/// policy computes it once per block, in its [`Choice`].
pub fn width(txs: &[Transaction]) -> Option<usize> {
    let mut width = 1;
    for tx in txs {
        match tx.footprint_len() {
            0 => return None,
            len => width = width.max(len),
        }
    }
    Some(width)
}

/// The multiplier `m = ceil(2^32 / width)` with which `cell * m >> 32` is `cell / width`
/// for every cell: with `m * width = 2^32 + e`, `e < width <= 16`, the product errs by
/// `cell * e / 2^32` over `cell / width`, less than `1 / width` while `cell < 2^28`
/// (which `prepare` ensures), so the floor is exact. A division would cost several times
/// more on the paths that split a cell into transaction and position.
const fn per_width(width: usize) -> u64 {
    let w = if width == 0 { 1 } else { width as u64 };
    (1u64 << 32).div_ceil(w)
}

const _: () = assert!(FOOTPRINT_MAX <= 16);

/// The width the footprint engine uses for `choice` (its [`Choice::width`]; the widest
/// footprint when that is 0).
pub fn width_of(choice: &Choice) -> usize {
    match choice.width {
        0 => FOOTPRINT_MAX,
        w => w.min(FOOTPRINT_MAX),
    }
}

/// Where `key` falls in key order, coarsely: its address, then its slot. Keys in order
/// have places in order (an account's balance, nonce and code hash, whose slot is 0, sort
/// before its storage), so ranges of places are ranges of keys; and comparing two `u128`
/// is cheaper than comparing keys field by field.
#[inline]
fn place(key: &StateKey) -> u128 {
    (key.addr.0 as u128) << 64 | key.slot as u128
}

#[cfg(test)]
mod tests {
    /// `per_width` divides every cell below 2^28 exactly: the first and last 2^16 cells,
    /// and pairs around multiples of the width spread between them, for every width.
    #[test]
    fn per_width_divides_exactly() {
        const END: u64 = 1 << 28;
        for width in 1..=16u64 {
            let m = super::per_width(width as usize);
            let check = |cell: u64| assert_eq!((cell * m) >> 32, cell / width, "{cell} / {width}");
            (0..1 << 16).chain(END - (1 << 16)..END).for_each(check);
            let mut k = 1u64;
            while k * width < END {
                (k * width - 1..=k * width).for_each(check);
                k = k * 3 / 2 + 1;
            }
        }
    }
}
