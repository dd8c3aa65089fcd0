//! Block-STM's per-transaction store: the results, read sets and write lists of each
//! transaction's latest incarnation, their caller memory, and the recording and
//! validation that use them (steps 2 and 3 of the worker loop in the module docs).

use crate::error::Abort;
use crate::exec::{Access, AccessSet, HotKeys, Limits, View, Write};
use crate::receipt::Receipt;
use crate::state::{prefetch, StateReader, PREFETCHES};
use crate::sync::{Ordering, RawSpin, UnsafeCell};
use crate::types::{Address, StateKey};
use crate::vm::Interrupt;

use super::mvmemory::{IndexWord, MvKey, MvMemory, MvNode, MvRead};
use super::scheduler::{Task, TxState};
use super::BlockStm;

/// Per-transaction results of the latest incarnation.
///
/// Aligned to a cache line for the same reason as [`TxState`]; `repr(C)` keeps the
/// fields a new block resets on the first line (see `reset`).
#[derive(Debug)]
#[repr(C, align(64))]
pub struct TxData {
    /// Guards `reads_meta` and the transaction's read cells.
    pub(super) reads_lock: RawSpin,
    /// (incarnation, number of reads) of the recorded read set; `IN_ORDER` reads for an
    /// in-order incarnation that recorded none.
    pub(super) reads_meta: UnsafeCell<(u32, u32)>,
    /// Entries in the transaction's write list.
    pub(super) writes_len: UnsafeCell<u32>,
    /// The latest incarnation's receipt.
    pub(super) receipt: UnsafeCell<Receipt>,
    /// What the latest incarnation added to the beneficiary's balance, while the block
    /// pools those credits (see `Pool`): (1, amount) if it added, (0, 0) if not.
    pub(super) credit: UnsafeCell<(u32, u64)>,
}

// SAFETY: under `BlockStm::run_alone` only its thread exists (it holds the
// executor exclusively). Otherwise: before the preparation barrier
// (`BlockStm::prepare`), a transaction's data and write list are touched only by
// the worker that claimed its chunk, and the barrier's release/acquire orders that before
// everything else. Then: `reads_meta` (and the transaction's read cells) are accessed
// only under `reads_lock`, except that an in-order execution writes its mark without it
// (`record` says why no one can be reading then). `writes_len`, the write cells,
// `credit` and `receipt` are written only by the worker executing the transaction (status
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
    /// this transaction (see `BlockStm::prepare`), the only one to touch it then.
    pub(super) fn reset(&self) {
        // SAFETY: per the caller's contract, no one else accesses the cell now.
        self.reads_meta.with_mut(|p| unsafe { *p = (NOT_RECORDED, 0) });
        // SAFETY: as above.
        self.writes_len.with_mut(|p| unsafe { *p = 0 });
        // SAFETY: as above.
        self.credit.with_mut(|p| unsafe { *p = (0, 0) });
    }

    /// Empty.
    pub fn new() -> Self {
        Self {
            reads_lock: RawSpin::new(),
            reads_meta: UnsafeCell::new((NOT_RECORDED, 0)),
            writes_len: UnsafeCell::new(0),
            receipt: UnsafeCell::new(Receipt::EMPTY),
            credit: UnsafeCell::new((0, 0)),
        }
    }
}

/// One recorded read: key and the value seen.
#[derive(Debug)]
pub struct ReadCell(pub(super) UnsafeCell<(StateKey, u64)>);

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
pub struct WriteCell(pub(super) UnsafeCell<WriteEntry>);

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
pub struct BlockStmMemory<'a> {
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
    /// [`crate::error::BlockError::MvFull`] if it writes more distinct keys than there are records.
    pub keys: &'a mut [MvKey],
    /// The key index over `keys` (a power of two long; cleared by each block).
    /// [`Lengths::index`] (twice the records, rounded up) keeps probes short; it must hold
    /// more slots than the block writes distinct keys, or the block fails with [`crate::error::BlockError::MvFull`].
    pub index: &'a mut [IndexWord],
    /// Versions: `txs * limits.writes_per_tx()`.
    pub nodes: &'a mut [MvNode],
}

/// Buffer lengths for [`BlockStmMemory`].
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

impl BlockStmMemory<'_> {
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

/// Reads multi-version memory at one transaction, over committed state.
pub(super) struct MvView<'v, S: StateReader> {
    pub(super) mv: &'v MvMemory<'v>,
    pub(super) state: &'v S,
    pub(super) txn: u32,
    /// The key of the last read that hit an estimate.
    pub(super) blocked: Option<StateKey>,
    /// The beneficiary's balance while its credits are pooled (see `Pool`), and whether
    /// the transaction read it: the value read (the committed one) misses the credits
    /// of the transactions before, so the block must run again without pooling.
    pub(super) pooled: Option<StateKey>,
    pub(super) read_pooled: bool,
}

impl<'v, S: StateReader> MvView<'v, S> {
    pub(super) fn new(
        mv: &'v MvMemory<'v>,
        state: &'v S,
        txn: u32,
        pooled: Option<StateKey>,
    ) -> Self {
        Self { mv, state, txn, blocked: None, pooled, read_pooled: false }
    }
}

impl<S: StateReader> View for MvView<'_, S> {
    #[inline]
    fn read(&mut self, key: &StateKey) -> Result<u64, Interrupt> {
        // Most keys a block reads are not in the multi-version memory: start loading the
        // committed state's index slot now, so that its miss overlaps the probe's.
        let hash = key.table_hash();
        self.state.prefetch(key, hash, 0);
        if self.pooled == Some(*key) {
            self.read_pooled = true;
            return Ok(self.state.read_hashed(key, hash));
        }
        match self.mv.read(key, self.txn) {
            MvRead::Value(v) => Ok(v),
            MvRead::Storage(d) => Ok(self.state.read_hashed(key, hash).wrapping_add(d)),
            MvRead::Dependency(b) => {
                self.blocked = Some(*key);
                Err(Interrupt::Dependency(b))
            }
        }
    }
}

/// Lines of a transaction's read set, and of its write list and its nodes, that
/// [`BlockStm::prefetch_record`] loads: room for the reads (three lines, six cells) and
/// writes (two lines, four cells) of a native transfer or a token transfer.
const PREFETCH_READ_LINES: usize = 3;
const PREFETCH_WRITE_LINES: usize = 2;

impl<S: StateReader + Sync> BlockStm<'_, S> {
    /// Starts loading the lines that `record` will write for transaction `t`: its data,
    /// the first lines of its read set, its write list and its nodes. Called as an
    /// incarnation starts, so that their misses overlap its execution.
    ///
    /// Each transaction owns a stretch of these buffers, sized for the most it may touch
    /// (`Lengths`: 1,152 bytes of read cells, 640 of write cells and 640 of nodes at the
    /// default limits), and uses the first few lines of each, so the lines that
    /// neighbouring transactions use lie too far apart for the processor's stride
    /// prefetchers; left to `record`, each is a miss that stalls it. Measured on the
    /// development VM (2 workers, 5,000-transaction blocks, paired in one process):
    /// Block-STM about a fifth faster on native transfers, 8–9% on mixed blocks, up to
    /// 8% on contract blocks (none on AMM swaps; BENCHMARKS.md). Only a hint: it changes
    /// no result.
    pub(super) fn prefetch_record(&self, t: usize) {
        if !PREFETCHES {
            return;
        }
        const LINE: usize = 64;
        let lines = |first: *const u8, n: usize| {
            (0..n).for_each(|i| prefetch(first.wrapping_add(i * LINE)));
        };
        if let Some(d) = self.data.get(t) {
            lines((d as *const TxData).cast(), size_of::<TxData>().div_ceil(LINE));
        }
        if let Some(r) = self.reads.get(t * self.reads_per_tx) {
            lines((r as *const ReadCell).cast(), PREFETCH_READ_LINES);
        }
        if let Some(w) = self.writes.get(t * self.writes_per_tx) {
            lines((w as *const WriteCell).cast(), PREFETCH_WRITE_LINES);
        }
        let per_line = LINE / size_of::<MvNode>();
        for i in 0..PREFETCH_WRITE_LINES {
            self.mv.prefetch_node(t * self.writes_per_tx + i * per_line);
        }
    }

    /// Copies transaction `t`'s current write list (at most `writes_per_tx`) into `out`.
    /// Caller must have the access documented at `TxData`.
    pub(super) fn write_list(&self, t: usize, out: &mut WriteList) {
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

    /// Publishes an incarnation's read set, write set, receipt and (while pooled) credit
    /// to the beneficiary. Returns whether it wrote a key the previous incarnation did
    /// not.
    ///
    /// An execution claimed in order read only final values, so no validation of it can
    /// fail: release builds record no read set for it, only the `IN_ORDER` mark, which
    /// `reads_valid` accepts. Debug builds record it anyway, so that `finish`'s final
    /// re-check of every read set also checks the in-order claims.
    pub(super) fn record(
        &self,
        t: u32,
        inc: u32,
        in_order: bool,
        acc: &AccessSet<'_>,
        receipt: Receipt,
        lists: &mut WriteLists,
    ) -> Result<bool, Abort> {
        // Its credit to the beneficiary while pooled, kept out of the multi-version
        // memory (a read or a set of the balance fails the block first).
        let credit = match self.pooled {
            Some(ben) => credit_of(acc, &ben)?,
            None => (0, 0),
        };
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
                    let Some(cell) = self.reads.get(base + n) else {
                        return Err(Abort::BadScratch);
                    };
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
        let WriteLists { old, new, pool } = lists;
        self.write_list(ti, old);
        for &(key, node, slot) in old.iter() {
            if !acc_writes(acc, &key) {
                self.mv.remove_at(slot, node);
            }
        }
        new.clear();
        let mut wrote_new_path = false;
        let versioned = |a: &&Access| a.write != Write::None && Some(a.key) != self.pooled;
        for a in acc.accesses().iter().filter(versioned) {
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
                            return Err(Abort::BadScratch);
                        }
                        (base + new.len()) as u32
                    } else {
                        // A node of t's range used neither by a kept old entry nor a new one.
                        let free = (base..base + self.writes_per_tx).map(|n| n as u32).find(|n| {
                            !new.iter().any(|(_, m, _)| m == n)
                                && !old.iter().any(|(k, m, _)| m == n && acc_writes(acc, k))
                        });
                        free.ok_or(Abort::BadScratch)?
                    };
                    let slot = self
                        .mv
                        .insert(&a.key, t, node, a.write, false)
                        .map_err(|_| Abort::MvFull)?;
                    (node, slot, false)
                }
            };
            wrote_new_path |= !existing;
            new.push((a.key, node, slot)).map_err(|_| Abort::BadScratch)?;
        }
        for (i, e) in new.iter().enumerate() {
            // SAFETY: t is Executing; this worker owns t's write list (TxData docs).
            self.writes[base + i].0.with_mut(|p| unsafe { *p = *e });
        }
        // SAFETY: as above.
        data.writes_len.with_mut(|p| unsafe { *p = new.len() as u32 });
        // SAFETY: t is Executing; this worker owns t's receipt (TxData docs).
        data.receipt.with_mut(|p| unsafe { *p = receipt });
        if let Some(ben) = self.pooled {
            // SAFETY: as above, for t's credit.
            let old = data.credit.with_mut(|p| unsafe { core::mem::replace(&mut *p, credit) });
            pool.replace(old, credit);
            if credit.0 != 0 && !pool.reserved {
                self.mv.reserve(&ben).map_err(|_| Abort::MvFull)?;
                pool.reserved = true;
            }
        }
        Ok(wrote_new_path)
    }

    /// Validates incarnation `inc` of `t`; a failed validation's key is counted in `hot`.
    pub(super) fn validate(
        &self,
        t: u32,
        inc: u32,
        hot: &mut HotKeys,
        lists: &mut WriteLists,
    ) -> Option<Task> {
        let ti = t as usize;
        let stale = self.stale_read(t, Some(inc));
        let aborted = stale.is_some() && self.sched.try_validation_abort(t, inc);
        if aborted {
            if let Some(key) = stale {
                hot.add(key, 1);
            }
            self.aborts.fetch_add(1, Ordering::Relaxed);
            self.check_contention();
            // t is Aborting(inc): its write list is stable until it is Ready again.
            self.write_list(ti, &mut lists.old);
            for &(_, node, slot) in lists.old.iter() {
                self.mv.mark_estimate_at(slot, node);
            }
        }
        self.sched.finish_validation(t, aborted)
    }

    /// Whether no execution of `t` has completed in this block (none recorded a read
    /// set yet).
    pub(super) fn never_recorded(&self, t: u32) -> bool {
        let data = &self.data[t as usize];
        let _g = data.reads_lock.lock();
        // SAFETY: `reads_lock` of t is held; the only write without it (an in-order
        // execution's mark in `record`) is this worker's own, as t's executor.
        data.reads_meta.with(|p| unsafe { (*p).0 }) == NOT_RECORDED
    }

    /// Whether `t`'s recorded read set still reads the same values. With `Some(inc)`, a
    /// read set of another incarnation counts as valid (that incarnation was already
    /// aborted by someone else, and `try_validation_abort` would fail anyway).
    pub(super) fn reads_valid(&self, t: u32, inc: Option<u32>) -> bool {
        self.stale_read(t, inc).is_none()
    }

    /// `None` when `t`'s read set is valid (as [`Self::reads_valid`]); otherwise the
    /// first key whose value changed or hit an estimate.
    fn stale_read(&self, t: u32, inc: Option<u32>) -> Option<StateKey> {
        let ti = t as usize;
        let data = &self.data[ti];
        let _g = data.reads_lock.lock();
        // SAFETY: `reads_lock` of t is held.
        let (recorded, n) = data.reads_meta.with(|p| unsafe { *p });
        if inc.is_some_and(|i| i != recorded) || n == IN_ORDER {
            return None;
        }
        let base = ti * self.reads_per_tx;
        self.reads[base..base + n as usize].iter().find_map(|c| {
            // SAFETY: `reads_lock` of t is held.
            let (key, seen) = c.0.with(|p| unsafe { *p });
            let same = match self.mv.read(&key, t) {
                MvRead::Value(v) => v == seen,
                MvRead::Storage(d) => self.state.read(&key).wrapping_add(d) == seen,
                MvRead::Dependency(_) => false,
            };
            (!same).then_some(key)
        })
    }
}

/// What the execution recorded in `acc` added to the pooled balance `ben`: `(1, amount)`,
/// or `(0, 0)` if it did not touch it; an error if it read or set it.
fn credit_of(acc: &AccessSet<'_>, ben: &StateKey) -> Result<(u32, u64), Abort> {
    match acc.accesses().iter().find(|a| a.key == *ben).map(|a| (a.read, a.write)) {
        None | Some((None, Write::None)) => Ok((0, 0)),
        Some((None, Write::Add(x))) => Ok((1, x)),
        // Read or set: the value it saw misses earlier credits (`MvView`).
        Some(_) => Err(Abort::BeneficiaryRead),
    }
}

/// Whether the execution recorded in `acc` wrote `key`.
pub(super) fn acc_writes(acc: &AccessSet<'_>, key: &StateKey) -> bool {
    acc.accesses().iter().any(|a| a.key == *key && a.write != Write::None)
}

/// The incarnation in `reads_meta` before any execution of the block recorded one.
const NOT_RECORDED: u32 = u32::MAX;

/// The read count of an in-order incarnation whose read set was not recorded (see
/// `record`).
const IN_ORDER: u32 = u32::MAX;

/// Most entries of one write list (bounds `Limits::writes_per_tx`).
pub const MAX_WRITE_LIST: usize = 64;

pub(super) type WriteList = heapless::Vec<WriteEntry, MAX_WRITE_LIST>;

/// A worker's two write lists for [`BlockStm::record`] and [`BlockStm::validate`], made
/// once per block: a `WriteList` made per call costs a 2 KiB `memset` (the compiler
/// zeroes the whole `heapless::Vec`), about a tenth of a swap's instructions. And the
/// worker's pool of credits to the beneficiary.
pub(super) struct WriteLists {
    /// The incarnation's previous write list.
    old: WriteList,
    /// The one it records.
    new: WriteList,
    pub(super) pool: Pool,
}

impl WriteLists {
    pub(super) fn new() -> Self {
        Self { old: WriteList::new(), new: WriteList::new(), pool: Pool::default() }
    }
}

/// One worker's share of the credits to the beneficiary ([`crate::engine::Credits::Pooled`]):
/// each incarnation it records adds its credit and takes away the one of the incarnation
/// it replaces (which another worker may have pooled), so the workers' pools add up, in
/// wrapping arithmetic, to the credits of every transaction's last incarnation.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Pool {
    /// Transactions that credit the beneficiary, and the credits' (wrapping) sum.
    pub(super) count: u32,
    pub(super) sum: u64,
    /// This worker has reserved the balance's key record (`MvMemory::reserve`).
    pub(super) reserved: bool,
}

impl Pool {
    fn replace(&mut self, old: (u32, u64), new: (u32, u64)) {
        self.count = self.count.wrapping_add(new.0).wrapping_sub(old.0);
        self.sum = self.sum.wrapping_add(new.1).wrapping_sub(old.1);
    }

    /// Adds another worker's pool.
    pub(super) fn merge(&mut self, other: &Pool) {
        self.count = self.count.wrapping_add(other.count);
        self.sum = self.sum.wrapping_add(other.sum);
    }
}
