//! Footprint scheduling: a block whose every transaction's footprint (the keys it may
//! touch, and how) is known before execution runs without speculation, in the manner
//! of Solana's Sealevel. Today that is a block of native transfers: a transfer touches
//! its sender's nonce and balance (read and written), its recipient's balance and the
//! beneficiary's balance (both only added to). [`plannable`] says whether a block
//! qualifies; other blocks go to the Block-STM engine of the parent module.
//!
//! # Phases
//!
//! Every worker calls [`FootprintExecutor::run_worker_with`] with its index and goes
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
//! is not plannable, the block ends with [`BlockError::ParallelInvariant`] and the
//! caller runs it another way. A block that is a chain of dependencies (many
//! transactions reading what the one just before wrote) runs on one worker; the host
//! goes further and sends blocks that [`looks_contended`] to the sequential executor.
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

use crate::error::BlockError;
use crate::exec::{execute_transaction, AccessSet, BlockEnv, View, Write};
use crate::receipt::Receipt;
use crate::sequential::ExecStats;
use crate::state::{prefetch, sort_by_key, StateEntry, StateReader};
pub use crate::sync::Slot;
use crate::sync::{settled, AtomicU32, Ordering, Padded, RawSpin};
use crate::tx::{Transaction, TxKind};
use crate::types::{Address, StateKey};
use crate::vm::Interrupt;

use super::{too_small, wait_until, WorkerMemory, NO_ERROR};

/// Keys in one transaction's footprint (cells per transaction).
pub const FOOTPRINT: usize = 4;
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

// `NO_ERROR` is the parent module's: `wait_until` stops on any other value.
const ERR_FULL: u32 = 1;
const ERR_UNPLANNED: u32 = 2;
const ERR_SCRATCH: u32 = 3;
const ERR_ORDER: u32 = 4;

/// One key of one partition.
#[derive(Clone, Copy, Debug)]
pub struct KeyRecord {
    key: StateKey,
    /// Committed value.
    base: u64,
    /// Sum of the deltas of a summed key (read-out).
    sum: u64,
    /// Cell of the latest toucher so far (`NONE` before the first).
    last: u32,
    /// Some toucher reads the key (see the module docs).
    chained: bool,
    /// Some toucher wrote the key (read-out).
    wrote: bool,
}

impl KeyRecord {
    fn new(key: StateKey, base: u64) -> Self {
        Self { key, base, sum: 0, last: NONE, chained: false, wrote: false }
    }
}

impl Default for KeyRecord {
    fn default() -> Self {
        Self::new(StateKey::balance(Address(0)), 0)
    }
}

/// Where one cell's transaction finds the value before it (written by the planner of the
/// cell's key, read by the cell's executor).
#[derive(Clone, Copy, Debug, Default)]
pub struct Source {
    /// The committed value, for the first toucher of a chained key.
    base: u64,
    /// The previous toucher's cell, or `NONE`.
    prev: u32,
    /// The key is chained (else summed: the transaction only adds to it).
    chained: bool,
}

const NONE: u32 = u32::MAX;

/// One touch of a key: the cell (transaction × footprint position) and, once planned,
/// the key's id in its partition.
#[derive(Clone, Copy, Debug, Default)]
pub struct Touch {
    /// The key's account; the cell's footprint position says which of its words.
    addr: u64,
    cell: u32,
    id: u32,
}

impl Touch {
    fn key(&self) -> StateKey {
        Footprint::key_at(Address(self.addr), self.cell as usize % FOOTPRINT)
    }
}

/// A transaction's `done` word: the block's round in the high bits and the flags
/// in the low ones (done, batch claimed, which keys it wrote).
#[derive(Debug, Default)]
pub struct Done(AtomicU32);

impl Done {
    /// Not done.
    pub fn new() -> Self {
        Self(AtomicU32::new(0))
    }
}

/// Caller memory for [`FootprintExecutor`].
pub struct FootprintMemory<'a> {
    /// One per transaction, plus a header that counts blocks ([`Lengths::done`]): a
    /// flag stamped with another block's count reads as clear, so the flags are never
    /// cleared between blocks.
    pub done: &'a mut [Done],
    /// Receipts, one per transaction (the result).
    pub receipts: &'a mut [Slot<Receipt>],
    /// Values, [`FOOTPRINT`] per transaction: what the key holds after the transaction
    /// (chained keys) or what it added (summed keys). Whether it wrote each key is in
    /// its `done` flag.
    pub values: &'a mut [Slot<u64>],
    /// Key tables: `(epoch, id)` slots, [`Lengths::table`] (a power of two plus one
    /// header slot that counts epochs, so the table is never cleared between blocks).
    pub table: &'a mut [Slot<(u32, u32)>],
    /// Key records, [`Lengths::cells`].
    pub keys: &'a mut [Slot<KeyRecord>],
    /// Each partition's touches in block order, [`Lengths::cells`].
    pub list: &'a mut [Slot<Touch>],
    /// Each partition's sources, by cell, [`Lengths::cells`].
    pub sources: &'a mut [Slot<Source>],
    /// The sorted write set (the result), [`Lengths::values`].
    pub out: &'a mut [Slot<StateEntry>],
}

/// Buffer lengths for [`FootprintMemory`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lengths {
    /// `receipts`.
    pub txs: usize,
    /// `done`.
    pub done: usize,
    /// `values`, `out`.
    pub values: usize,
    /// `table`.
    pub table: usize,
    /// `keys`, `list`, `sources`.
    pub cells: usize,
}

impl FootprintMemory<'_> {
    /// Lengths for `txs` transactions planned in `partitions` key ranges.
    pub const fn lengths(txs: usize, partitions: usize) -> Lengths {
        let p = clamp_partitions(partitions);
        let values = txs * FOOTPRINT;
        // Each partition's table holds up to `values` keys at most half full.
        let per = if values == 0 { 2 } else { (2 * values).next_power_of_two() };
        Lengths { txs, done: txs + 1, values, table: p * per + 1, cells: p * values }
    }
}

const fn clamp_partitions(p: usize) -> usize {
    if p == 0 {
        1
    } else if p > MAX_PARTITIONS {
        MAX_PARTITIONS
    } else {
        p
    }
}

/// True when every transaction's footprint is known before execution (every one is a
/// native transfer), so [`FootprintExecutor`] can run the block.
pub fn plannable(txs: &[Transaction]) -> bool {
    txs.iter().all(|t| matches!(t.kind, TxKind::Transfer { .. }))
}

/// Transactions [`looks_contended`] samples.
pub const CONTENTION_SAMPLE: usize = 256;

/// True when the block's first [`CONTENTION_SAMPLE`] transactions reuse senders so often
/// (one in [`SERIAL_RATIO`] sends from an account that already sent in the sample) that
/// the block is a chain of dependencies: workers would mostly wait for each other, and
/// the sequential executor is the faster choice. A cheap look before planning; the plan
/// itself also notices chains and then runs them on one worker.
pub fn looks_contended(txs: &[Transaction]) -> bool {
    let mut senders = [0u64; CONTENTION_SAMPLE];
    let sample = txs.len().min(CONTENTION_SAMPLE);
    for (s, tx) in senders.iter_mut().zip(txs) {
        *s = tx.from.0;
    }
    let senders = &mut senders[..sample];
    senders.sort_unstable();
    let repeats = senders.windows(2).filter(|w| w[0] == w[1]).count();
    sample > 0 && repeats * SERIAL_RATIO >= sample
}

/// The keys a transaction may touch: the first [`Footprint::READ`] may be read (and
/// written), the others only added to.
#[derive(Clone, Copy)]
struct Footprint {
    keys: [StateKey; FOOTPRINT],
    len: usize,
}

impl Footprint {
    fn of(tx: &Transaction, beneficiary: Address) -> Option<Self> {
        let TxKind::Transfer { to, .. } = tx.kind else { return None };
        let from = tx.from;
        let mut fp = Footprint {
            keys: [
                StateKey::nonce(from),
                StateKey::balance(from),
                StateKey::balance(to),
                StateKey::balance(beneficiary),
            ],
            len: 4,
        };
        // A key listed twice keeps its first mode: the sender's balance (read) wins over
        // being the recipient or the beneficiary.
        if to == from || to == beneficiary {
            // The recipient's balance is already listed; the beneficiary's moves up.
            fp.keys[2] = fp.keys[3];
            fp.len = 3;
        }
        if beneficiary == from {
            // The beneficiary's balance, now last, is the sender's.
            fp.len -= 1;
        }
        Some(fp)
    }

    /// The sender's nonce and balance come first and are read.
    const READ: usize = 2;

    /// The key at footprint position `j` of account `addr`: a nonce first, balances
    /// after (the only kinds of key a footprint holds).
    fn key_at(addr: Address, j: usize) -> StateKey {
        if j == 0 {
            StateKey::nonce(addr)
        } else {
            StateKey::balance(addr)
        }
    }

    fn position(&self, key: &StateKey) -> Option<usize> {
        self.keys[..self.len].iter().position(|k| k == key)
    }
}

/// The view of one transaction: the value before it of each chained footprint key.
struct FootprintView {
    fp: Footprint,
    before: [u64; FOOTPRINT],
    chained: [bool; FOOTPRINT],
}

impl View for FootprintView {
    #[inline]
    fn read(&mut self, key: &StateKey) -> Result<u64, Interrupt> {
        match self.fp.position(key) {
            Some(j) if self.chained[j] => Ok(self.before[j]),
            _ => Err(Interrupt::Unplanned),
        }
    }
}

/// What one worker counts while executing, added to the executor's totals when it has
/// nothing left to execute.
#[derive(Default)]
struct Tally {
    /// The beneficiary's credits are pooled (`FootprintExecutor::pooled`, read once).
    pooling: bool,
    /// Transactions executed.
    executed: u32,
    waits: u32,
    gas: u64,
    undeclared: u64,
    /// The sum of the pooled credits, and whether there was any.
    pooled: (u64, bool),
}

/// A block being executed by footprint scheduling (see the module docs).
pub struct FootprintExecutor<'a, S: StateReader> {
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
    error: AtomicU32,
}

impl<'a, S: StateReader + Sync> FootprintExecutor<'a, S> {
    /// Prepares `txs` (every one a native transfer, see [`plannable`]) for `partitions`
    /// key ranges (the number of workers that will run is a good choice; any number of
    /// workers can run the block).
    pub fn new(
        state: &'a S,
        env: BlockEnv<'a>,
        txs: &'a [Transaction],
        mem: FootprintMemory<'a>,
        partitions: usize,
    ) -> Result<Self, BlockError> {
        let n = txs.len();
        if n >= (u32::MAX as usize) / (FOOTPRINT * MAX_PARTITIONS) {
            return Err(BlockError::TooManyTransactions {
                txs: n,
                limit: (u32::MAX as usize) / (FOOTPRINT * MAX_PARTITIONS),
            });
        }
        let parts = clamp_partitions(partitions);
        let want = FootprintMemory::lengths(n, parts);
        too_small("done", want.done, mem.done.len())?;
        too_small("receipts", want.txs, mem.receipts.len())?;
        too_small("values", want.values, mem.values.len())?;
        too_small("out", want.values, mem.out.len())?;
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
            error: AtomicU32::new(NO_ERROR),
        };
        exec.choose_splitters();
        Ok(exec)
    }

    /// Key ranges from the footprints of an even sample of the transactions, so that each
    /// partition gets a similar number of touches: every `len / parts`-th of the sampled
    /// keys (in order) becomes a splitter. Credits to the beneficiary are left out: they
    /// are pooled, so they cost the plan nothing (nearly always, see `pooled`). Any
    /// splitters give the same result; these balance the work.
    fn choose_splitters(&mut self) {
        let n = self.txs.len();
        if self.parts == 1 || n == 0 {
            self.parts = 1;
            return;
        }
        let picks = SAMPLE_TXS.min(n);
        // The sample lives at the start of the output, which no one uses before the
        // read-out (and the worker reading out partition 0 writes it there again).
        let sample = settled(&mut self.mem.out[..picks * FOOTPRINT]);
        let mut want = 0;
        for i in 0..picks {
            // In u64: the product passes u32 on 32-bit targets for large blocks.
            let at = (i as u64 * n as u64 / picks as u64) as usize;
            if let Some(fp) = Footprint::of(&self.txs[at], self.env.beneficiary) {
                for (j, k) in fp.keys[..fp.len].iter().enumerate() {
                    if j < Footprint::READ || k.addr != self.env.beneficiary {
                        // In bounds: at most FOOTPRINT keys per sampled transaction.
                        sample[want].key = *k;
                        want += 1;
                    }
                }
            }
        }
        if want == 0 {
            self.parts = 1;
            return;
        }
        // Selections from left to right: each leaves the larger keys after the one it
        // picks, where the next one looks.
        let mut rest = &mut sample[..want];
        let (mut base, mut split) = (0, 0);
        for p in 1..self.parts {
            let k = p * want / self.parts;
            if k >= base {
                // In bounds: k < want, so k - base < rest.len() = want - base.
                let (_, s, right) =
                    core::mem::take(&mut rest).select_nth_unstable_by_key(k - base, |e| e.key.addr);
                split = s.key.addr.0;
                rest = right;
                base = k + 1;
            }
            self.splitters[p - 1] = split;
        }
    }

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
        pooled && j >= Footprint::READ && fp.keys[j].addr == self.env.beneficiary
    }

    #[inline]
    fn partition(&self, key: &StateKey) -> usize {
        let a = key.addr.0;
        self.splitters[..self.parts - 1].partition_point(|s| *s <= a)
    }

    fn fail(&self, code: u32) {
        // Relaxed: the flag only stops workers early; `finish` runs after they joined.
        let _ = self.error.compare_exchange(NO_ERROR, code, Ordering::Relaxed, Ordering::Relaxed);
    }

    fn failed(&self) -> bool {
        self.error.load(Ordering::Relaxed) != NO_ERROR
    }

    /// See [`wait_until`]: until `counter` reaches `target`, or a worker failed.
    fn wait_for(&self, counter: &AtomicU32, target: u32, idle: &mut impl FnMut(u32)) -> bool {
        wait_until(counter, target, &self.error, idle)
    }

    /// Runs the block's phases with the other workers; returns when this worker finds
    /// nothing left to claim (the caller joins every worker before [`Self::finish`]).
    /// `index` picks the worker's own parts (see the module docs): give each worker a
    /// different one, `0..partitions`, and the same one from block to block. Any number
    /// of workers with any indices still finishes the block.
    pub fn run_worker_with(
        &self,
        index: usize,
        worker: WorkerMemory<'_>,
        mut idle: impl FnMut(u32),
    ) -> Result<(), BlockError> {
        let WorkerMemory { mut vm, access } = worker;
        let Some(mut acc) = AccessSet::new(access, self.env.limits) else {
            self.fail(ERR_SCRATCH);
            return Err(BlockError::BadScratch);
        };
        if vm.stack.is_empty() {
            self.fail(ERR_SCRATCH);
            return Err(BlockError::BadScratch);
        }
        let parts = self.parts as u32;
        let n = self.txs.len();

        // Scatter publishes each chunk's touches; plan each partition's table, records,
        // lists and sources.
        if !self.run_parts(index, SCATTER, &self.scatter_done, |c| self.scatter(c))
            || !self.wait_for(&self.scatter_done, parts, &mut idle)
            || !self.run_parts(index, PLAN, &self.plan_done, |p| self.plan(p))
            || !self.wait_for(&self.plan_done, parts, &mut idle)
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
                    self.run_batch(cursor, batch, &mut acc, &mut vm, &mut tally, &mut idle)?;
                }
                cursor += 1;
            }
            if own >= batches || self.failed() {
                break;
            }
            let next = own + self.parts;
            let next_mine = next < batches && self.claim_batch(next, batch);
            if mine {
                self.run_batch(own, batch, &mut acc, &mut vm, &mut tally, &mut idle)?;
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
        if !self.wait_for(&self.exec_done, n as u32, &mut idle) {
            return Ok(());
        }

        // The tally publishes each partition's written count (and its records).
        let tally_keys = |p| {
            self.tally_keys(p);
            Ok(())
        };
        if !self.run_parts(index, TALLY, &self.tallied, tally_keys)
            || !self.wait_for(&self.tallied, parts, &mut idle)
        {
            return Ok(());
        }
        for p in self.parts_for(index, READ_OUT) {
            self.read_out(p);
        }
        Ok(())
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
        work: impl Fn(usize) -> Result<(), u32>,
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

    /// Claims batch `b` (of `batch` transactions), through its first transaction's flag.
    fn claim_batch(&self, b: usize, batch: usize) -> bool {
        // Relaxed: the claim only decides who runs the batch; results are published by
        // the `done` flags and `exec_done`.
        // Looking before claiming keeps the line shared while its owner writes the
        // batch's other `done` flags.
        let flag = &self.mem.done[b * batch].0;
        let mut word = flag.load(Ordering::Relaxed);
        loop {
            let flags = self.flags(word);
            if flags & CLAIMED != 0 {
                return false;
            }
            let claimed = self.round << ROUND_SHIFT | flags | CLAIMED;
            match flag.compare_exchange(word, claimed, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => word = now,
            }
        }
    }

    /// The flags of a `done` word in this block (none if stamped by another block).
    #[inline]
    fn flags(&self, word: u32) -> u32 {
        if word >> ROUND_SHIFT == self.round {
            word & ((1 << ROUND_SHIFT) - 1)
        } else {
            0
        }
    }

    /// Runs claimed batch `b`; on failure, sets the error and returns `Ok` early.
    fn run_batch(
        &self,
        b: usize,
        batch: usize,
        acc: &mut AccessSet<'_>,
        vm: &mut crate::vm::VmScratch<'_>,
        tally: &mut Tally,
        idle: &mut impl FnMut(u32),
    ) -> Result<(), BlockError> {
        let n = self.txs.len();
        let (start, end) = (b * batch, ((b + 1) * batch).min(n));
        for t in start..end {
            // The sources of a later transaction, written by the planners (on other
            // cores, for other partitions): start loading them now.
            let ahead = (t + PREFETCH_ENTRY) * FOOTPRINT;
            if ahead < n * FOOTPRINT {
                for p in 0..self.parts {
                    prefetch(&self.mem.sources[self.region(p).start + ahead]);
                }
            }
            if let Err(code) = self.execute(t, t == start, acc, vm, tally, idle) {
                // Not counted as done: the read-out never starts on a failed block.
                self.fail(code);
                return Ok(());
            }
        }
        // Counted in `exec_done` when the worker is out of batches.
        tally.executed += (end - start) as u32;
        Ok(())
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

    /// Sorts the touches of chunk `c` into the partitions' lists (scatter), in block
    /// order: chunk `c`'s touches of partition `p` go to the part of `p`'s list that
    /// starts at the chunk's first cell, so the chunks never overlap.
    fn scatter(&self, c: usize) -> Result<(), u32> {
        let chunk = self.chunk(c);
        let mut fill = [0usize; MAX_PARTITIONS];
        let first = chunk.start * FOOTPRINT;
        // Credits to the beneficiary are left out: pooled, unless it sends (then `plan`
        // lists its partition again, credits included).
        let ben_sends = self.touches(chunk, true, |p, touch| {
            // In bounds: a chunk has at most FOOTPRINT touches per transaction.
            self.mem.list[self.region(p).start + first + fill[p]].set(touch);
            fill[p] += 1;
        })?;
        for (p, f) in fill.iter().enumerate().take(self.parts) {
            self.scattered[c][p].store(*f as u32, Ordering::Relaxed);
        }
        if ben_sends {
            // Relaxed: published by `scatter_done` like the lists.
            self.ben_sends.store(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Lists every touch of partition `p` in block order at the front of `list` (its
    /// region), credits to the beneficiary included; returns how many. The plan's way of
    /// listing the beneficiary's partition when the beneficiary sends (rare: it scans the
    /// whole block on one worker).
    fn list_partition(&self, p: usize, list: &[Slot<Touch>]) -> Result<usize, u32> {
        let mut filled = 0;
        self.touches(0..self.txs.len(), false, |q, touch| {
            if q == p {
                // In bounds: the region has FOOTPRINT cells per transaction.
                list[filled].set(touch);
                filled += 1;
            }
        })?;
        Ok(filled)
    }

    /// Calls `f(partition, touch)` for every touch of the transactions `txs`, in block
    /// order, leaving out the credits to the beneficiary if `pooled`. Returns whether one
    /// of the transactions sends from the beneficiary.
    fn touches(
        &self,
        txs: core::ops::Range<usize>,
        pooled: bool,
        mut f: impl FnMut(usize, Touch),
    ) -> Result<bool, u32> {
        let mut ben_sends = false;
        for t in txs {
            let tx = &self.txs[t];
            let fp = Footprint::of(tx, self.env.beneficiary).ok_or(ERR_UNPLANNED)?;
            ben_sends |= tx.from == self.env.beneficiary;
            for (j, key) in fp.keys[..fp.len].iter().enumerate() {
                if self.is_pooled(&fp, j, pooled) {
                    continue;
                }
                debug_assert_eq!(Footprint::key_at(key.addr, j), *key);
                let cell = (t * FOOTPRINT + j) as u32;
                f(self.partition(key), Touch { addr: key.addr.0, cell, id: 0 });
            }
        }
        Ok(ben_sends)
    }

    /// Plans partition `p` (plan). Only this worker touches the partition's table,
    /// records and lists until `plan_done` is released.
    fn plan(&self, p: usize) -> Result<(), u32> {
        let table = self.table(p);
        let region = self.region(p);
        let keys = &self.mem.keys[region.clone()];
        let list = &self.mem.list[region.clone()];
        let sources = &self.mem.sources[region];
        let mask = table.len() - 1;
        let mut ids = 0usize;
        let mut listed = 0usize;
        let ben = StateKey::balance(self.env.beneficiary);
        let pooled = self.pooled();
        let ben_here = self.partition(&ben) == p;
        if pooled && ben_here && !self.txs.is_empty() {
            // The beneficiary's balance is a summed key without touches: id 0, its sum
            // added by the tally (`tally_keys`).
            let (Some(slot), Some(rec)) =
                (table.get(ben.table_hash() as usize & mask), keys.first())
            else {
                return Err(ERR_FULL);
            };
            slot.set((self.epoch, 0));
            rec.set(KeyRecord::new(ben, self.state.read(&ben)));
            ids = 1;
        }
        // Gives each touch of `touches` (part of `list`, in block order) its key's id,
        // then moves it to the front of `list`, behind the touches before it.
        let mut list_touches = |touches: &[Slot<Touch>]| -> Result<(), u32> {
            for (i, e) in touches.iter().enumerate() {
                // Committed-state lookups miss the cache: start them a few touches
                // ahead, the index slot first and the entry it names later.
                if let Some(a) = touches.get(i + PREFETCH_INDEX) {
                    self.state.prefetch(&a.get().key(), 0);
                }
                if let Some(a) = touches.get(i + PREFETCH_ENTRY) {
                    let key = a.get().key();
                    self.state.prefetch(&key, 1);
                    prefetch(&table[key.table_hash() as usize & mask]);
                }
                let touch = e.get();
                let (key, cell) = (touch.key(), touch.cell);
                let mut i = key.table_hash() as usize & mask;
                let id = loop {
                    let (epoch, id) = table[i].get();
                    if epoch != self.epoch {
                        // At most half full, so probes stay short and always end.
                        if 2 * (ids + 1) > table.len() || ids >= keys.len() {
                            return Err(ERR_FULL);
                        }
                        table[i].set((self.epoch, ids as u32));
                        keys[ids].set(KeyRecord::new(key, self.state.read(&key)));
                        ids += 1;
                        break ids - 1;
                    }
                    if keys[id as usize].get().key == key {
                        break id as usize;
                    }
                    i = (i + 1) & mask;
                };
                if (cell as usize % FOOTPRINT) < Footprint::READ {
                    let mut rec = keys[id].get();
                    rec.chained = true;
                    keys[id].set(rec);
                }
                // Compaction: `listed` never passes the entry being read.
                list[listed].set(Touch { id: id as u32, ..touch });
                listed += 1;
            }
            Ok(())
        };
        if ben_here && !pooled {
            // The beneficiary sends, so its balance is chained, and the scatter left
            // out the credits to it: list this partition again from the block.
            let filled = self.list_partition(p, list)?;
            list_touches(&list[..filled])?;
        } else {
            for c in 0..self.parts {
                let first = self.chunk(c).start * FOOTPRINT;
                let filled = self.scattered[c][p].load(Ordering::Relaxed) as usize;
                list_touches(&list[first..first + filled])?;
            }
        }
        // Link each touch to the previous one of its key, now that chained keys are known.
        let mut near = 0u32;
        for e in &list[..listed] {
            let Touch { cell, id, .. } = e.get();
            let k = &keys[id as usize];
            let mut rec = k.get();
            let source = Source { base: rec.base, prev: rec.last, chained: rec.chained };
            sources[cell as usize].set(source);
            if rec.chained && rec.last != NONE {
                let gap = (cell - rec.last) as usize / FOOTPRINT;
                near += (gap < NEAR) as u32;
            }
            rec.last = cell;
            k.set(rec);
        }
        self.counts[p].store(ids as u32, Ordering::Relaxed);
        self.listed[p].store(listed as u32, Ordering::Relaxed);
        self.near.fetch_add(near, Ordering::Relaxed);
        Ok(())
    }

    /// Executes transaction `t` (execute).
    fn execute(
        &self,
        t: usize,
        first: bool,
        acc: &mut AccessSet<'_>,
        vm: &mut crate::vm::VmScratch<'_>,
        tally: &mut Tally,
        idle: &mut impl FnMut(u32),
    ) -> Result<(), u32> {
        let tx = &self.txs[t];
        let fp = Footprint::of(tx, self.env.beneficiary).ok_or(ERR_UNPLANNED)?;
        let mut view = FootprintView { fp, before: [0; FOOTPRINT], chained: [false; FOOTPRINT] };
        let cells = t * FOOTPRINT;
        let pooled = tally.pooling;
        for j in 0..fp.len {
            if self.is_pooled(&fp, j, pooled) {
                // A pooled credit has no source: the transaction only adds to it.
                continue;
            }
            let p = self.partition(&fp.keys[j]);
            let src = self.mem.sources[self.region(p).start + cells + j].get();
            if !src.chained {
                continue;
            }
            view.chained[j] = true;
            view.before[j] = if src.prev == NONE {
                src.base
            } else {
                let prev = src.prev as usize;
                let done = &self.mem.done[prev / FOOTPRINT].0;
                // Acquire: pairs with the release store of the previous toucher, so its
                // value below is complete.
                if self.flags(done.load(Ordering::Acquire)) & DONE == 0 {
                    tally.waits += 1;
                    let mut spins = 0;
                    while self.flags(done.load(Ordering::Acquire)) & DONE == 0 {
                        if self.failed() {
                            return Err(ERR_ORDER);
                        }
                        spins += 1;
                        idle(spins);
                    }
                }
                self.mem.values[prev].get()
            };
        }
        let receipt =
            execute_transaction(tx, &self.env, &mut view, acc, vm).map_err(|_| ERR_UNPLANNED)?;
        // What each footprint key holds after `t`: chained keys their full value (kept
        // when not written), summed keys their delta; and whether `t` wrote it.
        let mut after = [(0u64, false); FOOTPRINT];
        for ((a, chained), before) in after.iter_mut().zip(view.chained).zip(view.before) {
            a.0 = if chained { before } else { 0 };
        }
        for a in acc.accesses() {
            let j = fp.position(&a.key).ok_or(ERR_UNPLANNED)?;
            after[j] = match (view.chained[j], a.write) {
                (_, Write::None) => after[j],
                (true, Write::Set(v)) => (v, true),
                (true, Write::Add(d)) => (view.before[j].wrapping_add(d), true),
                (false, Write::Add(d)) => (d, true),
                (false, Write::Set(_)) => return Err(ERR_UNPLANNED),
            };
        }
        let base = t * FOOTPRINT;
        let mut wrote = 0;
        for (j, (v, w)) in after.iter().enumerate().take(fp.len) {
            if self.is_pooled(&fp, j, pooled) {
                tally.pooled = (tally.pooled.0.wrapping_add(*v), tally.pooled.1 | *w);
            }
            self.mem.values[base + j].set(*v);
            wrote |= (*w as u32) << (WROTE_SHIFT + j as u32);
        }
        tally.gas = tally.gas.saturating_add(receipt.gas_used);
        tally.undeclared += receipt.undeclared_access as u64;
        self.mem.receipts[t].set(receipt);
        // Release: publishes the values and receipt written above.
        // (The first transaction of a batch keeps its batch's claim.)
        let flags = if first { DONE | CLAIMED | wrote } else { DONE | wrote };
        let flag = self.round << ROUND_SHIFT | flags;
        self.mem.done[t].0.store(flag, Ordering::Release);
        Ok(())
    }

    /// Sums partition `p`'s deltas and counts its written keys (read-out, first step).
    fn tally_keys(&self, p: usize) {
        let ids = self.counts[p].load(Ordering::Relaxed) as usize;
        let region = self.region(p);
        let keys = &self.mem.keys[region.clone()][..ids];
        let list = &self.mem.list[region];
        let listed = self.listed[p].load(Ordering::Relaxed) as usize;
        // Deltas of summed keys, and whether anyone wrote each key.
        for e in &list[..listed] {
            let Touch { cell, id, .. } = e.get();
            let value = self.mem.values[cell as usize].get();
            let t = cell as usize / FOOTPRINT;
            // Relaxed: the read-out started after an acquire of `exec_done`.
            let flag = self.flags(self.mem.done[t].0.load(Ordering::Relaxed));
            let wrote = flag >> (WROTE_SHIFT + (cell as usize % FOOTPRINT) as u32) & 1 == 1;
            let k = &keys[id as usize];
            let mut rec = k.get();
            if !rec.chained {
                rec.sum = rec.sum.wrapping_add(value);
            }
            rec.wrote |= wrote;
            k.set(rec);
        }
        let ben = StateKey::balance(self.env.beneficiary);
        if self.pooled() && self.partition(&ben) == p {
            if let Some(k) = keys.first() {
                let mut rec = k.get();
                // After `exec_done` (acquire): every worker that executed anything added
                // its credits before counting them (see `run_worker_with`), and the others
                // never touch `pooled`.
                let (sum, any) = self.pooled.get();
                rec.sum = rec.sum.wrapping_add(sum);
                rec.wrote |= any;
                k.set(rec);
            }
        }
        let written = keys.iter().filter(|k| k.get().wrote).count();
        self.written[p].store(written as u32, Ordering::Relaxed);
    }

    /// Writes partition `p`'s final values, sorted, to its region of the output: after
    /// the regions of the lower partitions (read-out, second step).
    fn read_out(&self, p: usize) {
        let offset: usize =
            self.written[..p].iter().map(|c| c.load(Ordering::Relaxed) as usize).sum();
        let ids = self.counts[p].load(Ordering::Relaxed) as usize;
        let keys = &self.mem.keys[self.region(p)][..ids];
        let out = &self.mem.out[offset..];
        // Keys that some toucher wrote, in id order; keys only read are not written.
        let mut written = 0;
        for k in keys {
            let rec = k.get();
            if !rec.wrote {
                continue;
            }
            let value = if rec.chained {
                self.mem.values[rec.last as usize].get()
            } else {
                rec.base.wrapping_add(rec.sum)
            };
            out[written].set(StateEntry { key: rec.key, value });
            written += 1;
        }
        let out = &out[..written];
        // SAFETY: `Slot<T>` is `repr(transparent)` over `UnsafeCell<T>`, which has the
        // layout of `T`; this region of `out` belongs to partition `p`, claimed by this
        // worker alone, and nobody reads it before the workers are joined.
        let entries =
            unsafe { core::slice::from_raw_parts_mut(out.as_ptr() as *mut StateEntry, written) };
        sort_by_key(entries);
    }

    /// After every worker returned: the receipts, the block's sorted write set and the
    /// statistics.
    #[allow(clippy::type_complexity)]
    pub fn finish(self) -> Result<(&'a [Receipt], &'a [StateEntry], ExecStats), BlockError> {
        match self.error.load(Ordering::Relaxed) {
            NO_ERROR => {}
            ERR_FULL => return Err(BlockError::ParallelInvariant("footprint table full")),
            ERR_SCRATCH => return Err(BlockError::BadScratch),
            _ => {
                return Err(BlockError::ParallelInvariant(
                    "a transaction left its planned footprint",
                ))
            }
        }
        let n = self.txs.len();
        if self.exec_done.load(Ordering::Acquire) != n as u32
            || self.claims[READ_OUT][..self.parts].iter().any(|c| c.load(Ordering::Relaxed) == 0)
        {
            return Err(BlockError::ParallelInvariant("finish called before the block was done"));
        }
        let (gas_used, undeclared) = self.tally.get();
        let mut stats = ExecStats { gas_used, undeclared, ..ExecStats::default() };
        stats.dependency_waits = self.waits.load(Ordering::Relaxed) as u64;
        let total: usize =
            self.written[..self.parts].iter().map(|c| c.load(Ordering::Relaxed) as usize).sum();
        let FootprintMemory { receipts, out, .. } = self.mem;
        Ok((settled(&mut receipts[..n]), settled(&mut out[..total]), stats))
    }
}

fn prev_power_of_two(x: usize) -> usize {
    if x == 0 {
        0
    } else {
        1 << (usize::BITS - 1 - x.leading_zeros())
    }
}
