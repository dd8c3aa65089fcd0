//! Multi-version memory: for every key the block writes, the writes of each transaction
//! index, so that transaction `t` reads exactly what the transactions before it wrote.
//!
//! # Layout (caller memory)
//!
//! * `index`: an open-addressing table of [`IndexWord`]s, a power of two long and
//!   cleared for each block: `EMPTY`, `CLAIMED` while its claimer writes the key's
//!   record, then the record's number plus one (published with release). A slot is
//!   claimed once per key per block with a CAS; keys are never removed during a block, so
//!   probing needs no tombstones. At 4 bytes a slot it stays in cache where a table of
//!   whole records would not.
//! * `keys`: the [`MvKey`] records (key, lock, the version list's head and tallies),
//!   handed out in claim order by a counter, so a block's records are dense and a
//!   read-out scans only those. A new key's record is published with its first version
//!   already linked, so only writes to keys written before take a lock. Callers address
//!   a key by its record number (its *slot*) once they have it (a transaction's write
//!   list keeps `(key, node, slot)`), so each key is probed once per incarnation at most.
//! * `nodes`: [`MvNode`]s, `writes_per_tx` per transaction: transaction `t` owns
//!   `nodes[t * W .. (t + 1) * W]` and decides alone which of them are in use (its
//!   write list records them). A key's versions form a linked list through `next`,
//!   sorted by descending transaction index, guarded by the key's lock. The engine's
//!   one-worker form uses no nodes: its lists keep only what a read above the head
//!   returns and the tallies ([`MvMemory::write_alone`]).
//!
//! # Reads
//!
//! Reading key `k` at transaction `t` walks `k`'s list past versions `>= t`, then:
//! an *estimate* (the writer was aborted or has not run its declared writes yet) returns
//! [`MvRead::Dependency`]; a `Set(v)` returns `v` plus the adds above it; an `Add(d)`
//! accumulates `d` and continues; the end of the list returns the accumulated adds, to be
//! applied to committed state. Adds (commutative deltas) therefore never conflict with
//! each other, and a reader still gets the exact value.
//!
//! # Read-out
//!
//! [`MvMemory::final_versions`] gives each written key's value at the end of the block.
//! Each list keeps, under its lock, what a read above its head returns while versions
//! are only added at the head (as transactions executed in order add them; see `List`),
//! and tallies (the sum of its adds, the count of its other versions), so a list of adds
//! only (the beneficiary's fee credits: one version per transaction) is answered without
//! walking it; other lists stop at their first set. Reads above the head use the same
//! answer.

use crate::exec::Write;
use crate::sync::{spin_hint, AtomicU32, Ordering, Padded, RawSpin, UnsafeCell};
use crate::types::{Address, StateKey};

const NIL: u32 = u32::MAX;
/// The head of a list whose versions are not kept in nodes (see [`MvMemory::write_alone`]).
const UNLINKED: u32 = NIL - 1;
/// Index word of an unclaimed slot.
const EMPTY: u32 = 0;
/// Index word of a slot whose claimer is writing the record.
const CLAIMED: u32 = u32::MAX;
/// Index word of a slot whose claimer found no record left (the block fails).
const FULL: u32 = u32::MAX - 1;

/// One slot of the key index (see the module docs).
#[derive(Debug)]
pub struct IndexWord(AtomicU32);

impl Default for IndexWord {
    fn default() -> Self {
        Self::new()
    }
}

impl IndexWord {
    /// An empty slot.
    pub fn new() -> Self {
        Self(AtomicU32::new(EMPTY))
    }
}

/// One key's record.
///
/// Aligned to a cache line: a record is locked and written by whichever worker writes its
/// key, and records are handed out in claim order, so neighbours are often another
/// worker's keys; sharing a line with them would bounce it between cores (and a record
/// of 48 bytes, as it once was, would straddle two lines). Measured: about 5% faster with
/// one worker and 10% with two on swaps over 64 AMM pools. It fills the line exactly
/// now (key 24 bytes, lock, list 32): a new field would double it.
#[derive(Debug)]
#[repr(align(64))]
pub struct MvKey {
    /// Written once by the claimer before the record's number is published; read-only
    /// afterwards.
    key: UnsafeCell<StateKey>,
    lock: RawSpin,
    /// The version list; guarded by `lock`.
    list: UnsafeCell<List>,
}

/// A key's version list: its head, two tallies kept with every change, so that the
/// end-of-block read-out need not walk a list of adds (the beneficiary receives one fee
/// credit per transaction: thousands of versions, each a cache miss to reach), and the
/// answer for reads above the head while it is known.
///
/// The answer (`top`) is kept by versions linked at the head, which is how transactions
/// executed in order add theirs (with declared access lists, an executed transaction
/// replaces its estimate instead), and by the engine's one-worker form, which keeps
/// nothing else ([`MvMemory::write_alone`]): a set replaces it, an add adds to it. Any
/// other change (a version linked below the head, replaced, marked an estimate or
/// removed) forgets it until the next set at the head. Reads above the head and the
/// read-out then take it from the record instead of reaching the head's node.
#[derive(Clone, Copy, Debug)]
struct List {
    /// Newest version (highest transaction), or `NIL`; `UNLINKED` for a list without
    /// nodes (see [`MvMemory::write_alone`]).
    head: u32,
    /// Versions that are not plain adds: sets, `Write::None`, estimates.
    others: u32,
    /// The (wrapping) sum of the adds in the list.
    adds: u64,
    /// A read above `top_txn` returns `top` as a value (`TOP_VALUE`) or as a sum of adds
    /// over committed state (`TOP_STORAGE`); `TOP_UNKNOWN`: walk the list.
    top: u64,
    top_txn: u32,
    top_kind: u8,
}

const TOP_UNKNOWN: u8 = 0;
const TOP_VALUE: u8 = 1;
const TOP_STORAGE: u8 = 2;

impl List {
    const EMPTY: Self =
        Self { head: NIL, others: 0, adds: 0, top: 0, top_txn: 0, top_kind: TOP_STORAGE };

    /// What a read at `txn` returns, if the list knows without a walk.
    #[inline]
    fn top_read(&self, txn: u32) -> Option<MvRead> {
        match self.top_kind {
            TOP_VALUE if self.top_txn < txn => Some(MvRead::Value(self.top)),
            TOP_STORAGE if self.top_txn < txn => Some(MvRead::Storage(self.top)),
            _ => None,
        }
    }

    /// Version `d` was linked at the head.
    fn push_top(&mut self, d: &NodeData) {
        self.top_txn = d.txn;
        if d.estimate {
            self.top_kind = TOP_UNKNOWN;
            return;
        }
        match d.value {
            Write::Set(v) => {
                self.top = v;
                self.top_kind = TOP_VALUE;
            }
            Write::Add(x) => self.top = self.top.wrapping_add(x),
            Write::None => {}
        }
    }

    /// Counts version `d` into the tallies (`enter`) or out of them.
    fn tally(&mut self, d: &NodeData, enter: bool) {
        let plain_add = matches!(d.value, Write::Add(_)) && !d.estimate;
        let add = if let Write::Add(x) = d.value { x } else { 0 };
        if enter {
            self.adds = self.adds.wrapping_add(add);
            self.others = self.others.wrapping_add(!plain_add as u32);
        } else {
            self.adds = self.adds.wrapping_sub(add);
            self.others = self.others.wrapping_sub(!plain_add as u32);
        }
    }
}

// SAFETY: `key` and `list` are written by the thread that claimed the record's index
// slot, before it publishes the record's number there with release; other threads reach
// a record only through that number, loaded with acquire, then read `key` (immutable from
// then on) and access `list` only under `lock`.
unsafe impl Sync for MvKey {}

impl Default for MvKey {
    fn default() -> Self {
        Self::new()
    }
}

impl MvKey {
    /// An unused record.
    pub fn new() -> Self {
        Self {
            key: UnsafeCell::new(StateKey::balance(Address(0))),
            lock: RawSpin::new(),
            list: UnsafeCell::new(List::EMPTY),
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct NodeData {
    txn: u32,
    next: u32,
    estimate: bool,
    value: Write,
}

/// One version of one key.
#[derive(Debug)]
pub struct MvNode {
    data: UnsafeCell<NodeData>,
}

// SAFETY: a node is accessed only under the lock of the key whose list it is in, or,
// while in no list, only by the executor of the transaction that owns it (which links
// it under the key's lock before anyone else can reach it).
unsafe impl Sync for MvNode {}

impl Default for MvNode {
    fn default() -> Self {
        Self::new()
    }
}

impl MvNode {
    /// An unused node.
    pub fn new() -> Self {
        Self {
            data: UnsafeCell::new(NodeData {
                txn: NIL,
                next: NIL,
                estimate: false,
                value: Write::None,
            }),
        }
    }
}

/// What a read at some transaction found.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MvRead {
    /// The exact value.
    Value(u64),
    /// No `Set` below: committed state plus this (wrapping) sum of adds.
    Storage(u64),
    /// An estimate of this transaction is in the way.
    Dependency(u32),
}

/// The table is full (cannot happen when sized with the engine's lengths).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MvFull;

/// Multi-version memory over caller buffers.
pub struct MvMemory<'a> {
    index: &'a [IndexWord],
    keys: &'a [MvKey],
    nodes: &'a [MvNode],
    /// Records handed out (may run past `keys.len()` when they run out). On a cache line
    /// of its own: every worker bumps it for each new key, and a neighbour read as often
    /// (the engine's abort flag, say) would miss each time.
    used: Padded<AtomicU32>,
}

impl<'a> MvMemory<'a> {
    /// Wraps caller memory for a new block and clears `index`, which must be a power of
    /// two long. Records and nodes need no reset: a record is written when it is handed
    /// out, a node when its transaction links it. `None` when `index` has the wrong
    /// length or `keys` is too long to number.
    pub fn new(index: &'a mut [IndexWord], keys: &'a [MvKey], nodes: &'a [MvNode]) -> Option<Self> {
        if !index.len().is_power_of_two() || keys.len() >= FULL as usize {
            return None;
        }
        index.iter_mut().for_each(|w| *w = IndexWord::new());
        Some(Self { index, keys, nodes, used: Padded(AtomicU32::new(0)) })
    }

    /// Finds `key`'s slot (its record's number), if the block wrote it.
    pub fn find(&self, key: &StateKey) -> Result<Option<u32>, MvFull> {
        Ok(self.probe(key, None)?.map(|(slot, _)| slot))
    }

    /// Adds transaction `txn`'s version `value` of `key` in node `node`, which `txn` owns
    /// and which is in no list (`estimate`: publish it as an estimate). Returns the key's
    /// slot. A key new to the block gets its record with the version already linked, so
    /// only versions of keys written before take the key's lock.
    pub fn insert(
        &self,
        key: &StateKey,
        txn: u32,
        node: u32,
        value: Write,
        estimate: bool,
    ) -> Result<u32, MvFull> {
        let first = NodeData { txn, next: NIL, estimate, value };
        match self.probe(key, Some((node, first)))? {
            Some((slot, true)) => Ok(slot),
            Some((slot, false)) => {
                self.write_at(slot, txn, node, false, value, estimate);
                Ok(slot)
            }
            None => Err(MvFull),
        }
    }

    /// Adds transaction `txn`'s version `value` of `key` without a node, for the engine's
    /// one-worker form, which holds the memory exclusively and runs every transaction
    /// once, in order: nothing reads below a list's head, so the answer above it (kept
    /// by `List::push_top`, never unknown here) and the tallies are all a list needs. A
    /// list written this way has no nodes (its head is `UNLINKED`); it is only read
    /// above its head and by the read-out, both answered by `top`. Returns the slot.
    pub fn write_alone(&mut self, key: &StateKey, txn: u32, value: Write) -> Result<u32, MvFull> {
        let d = NodeData { txn, next: NIL, estimate: false, value };
        match self.probe(key, Some((UNLINKED, d)))? {
            Some((slot, true)) => Ok(slot),
            Some((slot, false)) => {
                self.with_list(slot, |list| {
                    debug_assert_eq!(list.head, UNLINKED, "write_alone on a list with nodes");
                    list.tally(&d, true);
                    list.push_top(&d);
                });
                Ok(slot)
            }
            None => Err(MvFull),
        }
    }

    /// Gives `key` a record, if it has none, whose list holds no version and no node and
    /// reads as the committed value: for a key whose writes are kept outside the memory
    /// but read out with the block's (the beneficiary's pooled credits, which the
    /// read-out adds). Returns its slot.
    pub fn reserve(&self, key: &StateKey) -> Result<u32, MvFull> {
        let none = NodeData { txn: 0, next: NIL, estimate: false, value: Write::Add(0) };
        match self.probe(key, Some((UNLINKED, none)))? {
            Some((slot, _)) => Ok(slot),
            None => Err(MvFull),
        }
    }

    /// Finds `key`'s slot; if it has none and `claim` is given, claims one whose list is
    /// that one node (or a list without nodes, for node `UNLINKED`). `Some((slot,
    /// claimed))`.
    fn probe(
        &self,
        key: &StateKey,
        claim: Option<(u32, NodeData)>,
    ) -> Result<Option<(u32, bool)>, MvFull> {
        let mask = self.index.len() - 1;
        let mut i = key.table_hash() as usize & mask;
        for _ in 0..self.index.len() {
            let w = &self.index[i].0;
            // Acquire: pairs with the release that publishes a record, making it readable.
            let mut v = w.load(Ordering::Acquire);
            if v == EMPTY {
                let Some(first) = claim else { return Ok(None) };
                // Success needs no ordering: nothing is read on that path, and the record
                // written next is published by the release store in `claim`. Failure:
                // acquire, as for the load above.
                match w.compare_exchange(EMPTY, CLAIMED, Ordering::Relaxed, Ordering::Acquire) {
                    Ok(_) => return self.claim(w, key, first).map(|slot| Some((slot, true))),
                    Err(now) => v = now,
                }
            }
            while v == CLAIMED {
                spin_hint();
                v = w.load(Ordering::Acquire);
            }
            if v == FULL {
                return Err(MvFull);
            }
            let slot = v - 1;
            // SAFETY: the number was published with release after the record's key was
            // written (acquired above); the key is immutable from then on.
            let found = self.keys.get(slot as usize).map(|r| r.key.with(|p| unsafe { *p }));
            if found == Some(*key) {
                return Ok(Some((slot, false)));
            }
            i = (i + 1) & mask;
        }
        Err(MvFull)
    }

    /// Hands out a record for `key`, whose index slot `w` this thread just claimed, with
    /// the list `first.0` (node data `first.1`), and publishes it there (or `FULL`: a
    /// claimed slot must never stay `CLAIMED`).
    fn claim(&self, w: &AtomicU32, key: &StateKey, first: (u32, NodeData)) -> Result<u32, MvFull> {
        // Relaxed: the counter only has to hand out distinct numbers; the records' contents
        // are published through the index. Checking first keeps it from running far past
        // the end (only racing claimers can overshoot, by one each).
        let slot = if (self.used.load(Ordering::Relaxed) as usize) < self.keys.len() {
            self.used.fetch_add(1, Ordering::Relaxed)
        } else {
            FULL
        };
        let linked = first.0 != UNLINKED;
        let (Some(r), true) =
            (self.keys.get(slot as usize), !linked || (first.0 as usize) < self.nodes.len())
        else {
            // Relaxed: FULL carries no data; the block fails.
            w.store(FULL, Ordering::Relaxed);
            return Err(MvFull);
        };
        if linked {
            // The caller owns the node, which is in no list (`insert`'s contract).
            self.node(first.0, |d| *d = first.1);
        }
        // SAFETY: the record was handed out to this thread alone, and nobody reads it
        // before its number is published below.
        r.key.with_mut(|p| unsafe { *p = *key });
        // SAFETY: as above.
        r.list.with_mut(|p| unsafe {
            *p = List { head: first.0, ..List::EMPTY };
            (*p).tally(&first.1, true);
            (*p).push_top(&first.1);
        });
        // Release: publishes the record and the node written just above.
        w.store(slot + 1, Ordering::Release);
        Ok(slot)
    }

    /// Runs `f` on node `n`. Caller must hold the lock of the key whose list holds `n`,
    /// or own `n` while it is in no list.
    #[inline]
    fn node<R>(&self, n: u32, f: impl FnOnce(&mut NodeData) -> R) -> R {
        // SAFETY: per this function's contract, the caller has exclusive access to node
        // `n` (its key's lock, or sole ownership while unlinked).
        self.nodes[n as usize].data.with_mut(|p| f(unsafe { &mut *p }))
    }

    /// Runs `f` with slot `slot`'s list under its lock.
    #[inline]
    fn with_list<R>(&self, slot: u32, f: impl FnOnce(&mut List) -> R) -> R {
        let s = &self.keys[slot as usize];
        let _g = s.lock.lock();
        // SAFETY: `list` is only accessed under `lock`, held for the closure; the record
        // was published (callers got its number from `find` or `insert`), so `list` was
        // initialised.
        s.list.with_mut(|p| f(unsafe { &mut *p }))
    }

    /// Reads `key` as transaction `txn` sees it.
    pub fn read(&self, key: &StateKey, txn: u32) -> MvRead {
        match self.find(key) {
            Ok(Some(slot)) => self.read_at(slot, txn),
            _ => MvRead::Storage(0),
        }
    }

    /// Starts loading node `n` (only a hint: it changes nothing; out of range does
    /// nothing).
    #[inline]
    pub(crate) fn prefetch_node(&self, n: usize) {
        if let Some(node) = self.nodes.get(n) {
            crate::state::prefetch(node);
        }
    }

    /// Reads the key in `slot` as transaction `txn` sees it.
    pub fn read_at(&self, slot: u32, txn: u32) -> MvRead {
        self.with_list(slot, |list| {
            list.top_read(txn).unwrap_or_else(|| self.read_list(list.head, txn))
        })
    }

    /// Walks a version list from `head` for a read at `txn`. Caller must hold the list's
    /// lock or have the memory to itself.
    #[inline]
    fn read_list(&self, head: u32, txn: u32) -> MvRead {
        // Lists without nodes are answered by their `top` (see `write_alone`).
        debug_assert_ne!(head, UNLINKED, "a read below the head of a list without nodes");
        let mut sum: u64 = 0;
        let mut n = head;
        while n != NIL && n != UNLINKED {
            let d = self.node(n, |d| *d);
            if d.txn < txn {
                if d.estimate {
                    return MvRead::Dependency(d.txn);
                }
                match d.value {
                    Write::Set(v) => return MvRead::Value(v.wrapping_add(sum)),
                    Write::Add(x) => sum = sum.wrapping_add(x),
                    Write::None => {}
                }
            }
            n = d.next;
        }
        MvRead::Storage(sum)
    }

    /// Writes (or replaces) transaction `txn`'s version of the key in `slot`, in node
    /// `node`, which `txn` owns. `existing`: `node` is already in the key's list.
    /// `estimate`: publish it as an estimate (declared but not yet executed).
    pub fn write_at(
        &self,
        slot: u32,
        txn: u32,
        node: u32,
        existing: bool,
        value: Write,
        estimate: bool,
    ) {
        self.with_list(slot, |list| {
            if existing {
                self.node(node, |d| {
                    list.tally(d, false);
                    d.value = value;
                    d.estimate = estimate;
                    list.tally(d, true);
                });
                list.top_kind = TOP_UNKNOWN;
                return;
            }
            // Insert keeping the list sorted by descending txn.
            let mut prev = NIL;
            let mut cur = list.head;
            while cur != NIL {
                let d = self.node(cur, |d| *d);
                if d.txn < txn {
                    break;
                }
                prev = cur;
                cur = d.next;
            }
            let d = NodeData { txn, next: cur, estimate, value };
            list.tally(&d, true);
            self.node(node, |n| *n = d);
            if prev == NIL {
                list.head = node;
                list.push_top(&d);
            } else {
                self.node(prev, |d| d.next = node);
                list.top_kind = TOP_UNKNOWN;
            }
        });
    }

    /// Marks node `node` (in the list of `slot`) as an estimate.
    pub fn mark_estimate_at(&self, slot: u32, node: u32) {
        self.with_list(slot, |list| {
            self.node(node, |d| {
                list.tally(d, false);
                d.estimate = true;
                list.tally(d, true);
            });
            list.top_kind = TOP_UNKNOWN;
        });
    }

    /// Unlinks node `node` from the list of `slot`.
    pub fn remove_at(&self, slot: u32, node: u32) {
        self.with_list(slot, |list| {
            let mut prev = NIL;
            let mut cur = list.head;
            while cur != NIL {
                let next = self.node(cur, |d| d.next);
                if cur == node {
                    self.node(cur, |d| list.tally(d, false));
                    list.top_kind = TOP_UNKNOWN;
                    if prev == NIL {
                        list.head = next;
                    } else {
                        self.node(prev, |d| d.next = next);
                    }
                    self.node(cur, |d| d.txn = NIL);
                    return;
                }
                prev = cur;
                cur = next;
            }
        });
    }

    /// Record `i`'s key and list head if the key has a version. Caller: nothing writes
    /// the memory any more (see [`FinalVersions`]), and `i` was handed out in this block.
    fn final_record(&self, i: usize) -> Option<(StateKey, List)> {
        let r = self.keys.get(i)?;
        // SAFETY: per the caller's contract nothing writes `list` any more; the record was
        // handed out in this block, so it was initialised.
        let list = r.list.with(|p| unsafe { *p });
        // SAFETY: as above; `key` is immutable once published.
        (list.head != NIL).then(|| (r.key.with(|p| unsafe { *p }), list))
    }
}

mod finals;

pub use finals::FinalVersions;

#[cfg(all(test, not(loom)))]
mod tests;
