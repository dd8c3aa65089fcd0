//! Multi-version memory: for every key the block writes, the writes of each transaction
//! index, so that transaction `t` reads exactly what the transactions before it wrote.
//!
//! # Layout (caller memory)
//!
//! * `keys`: an open-addressing table of [`MvKey`]s. A slot is claimed once per block
//!   with a CAS (`EMPTY -> INIT`), its key written, then published (`READY`, release);
//!   keys are never removed during a block, so probing needs no tombstones. The state
//!   word carries the block's *epoch* in its upper 30 bits: a slot stamped with an older
//!   epoch is empty, so the table is never cleared between blocks (it is only wiped when
//!   the epoch wraps). Callers address a key by its slot index once they have it (a
//!   transaction's write list keeps `(key, node, slot)`), so each key is probed once per
//!   incarnation at most.
//! * `nodes`: [`MvNode`]s, `writes_per_tx` per transaction: transaction `t` owns
//!   `nodes[t * W .. (t + 1) * W]` and decides alone which of them are in use (its
//!   write list records them). A key's versions form a linked list through
//!   `next`, sorted by descending transaction index, guarded by the key's lock.
//!
//! # Reads
//!
//! Reading key `k` at transaction `t` walks `k`'s list past versions `>= t`, then:
//! an *estimate* (the writer was aborted or has not run its declared writes yet) returns
//! [`MvRead::Dependency`]; a `Set(v)` returns `v` plus the adds above it; an `Add(d)`
//! accumulates `d` and continues; the end of the list returns the accumulated adds, to be
//! applied to committed state. Adds (commutative deltas) therefore never conflict with
//! each other, and a reader still gets the exact value.

use crate::exec::Write;
use crate::sync::{spin_hint, AtomicU32, Ordering, RawSpin, UnsafeCell};
use crate::types::{Address, StateKey};

const NIL: u32 = u32::MAX;
const INIT: u32 = 1;
const READY: u32 = 2;
const STATE_BITS: u32 = 2;
/// Largest epoch before the table must be wiped.
pub const MAX_EPOCH: u32 = u32::MAX >> STATE_BITS;

/// One key's slot in the table.
#[derive(Debug)]
pub struct MvKey {
    /// `epoch << 2 | INIT` (claimed, key being written) or `epoch << 2 | READY`; any other
    /// epoch means empty.
    state: AtomicU32,
    /// Written once by the claimer before `READY` is published; read-only afterwards.
    key: UnsafeCell<StateKey>,
    lock: RawSpin,
    /// Newest version (highest transaction), or `NIL`; guarded by `lock`.
    head: UnsafeCell<u32>,
}

// SAFETY: `key` and `head` are written by the thread that won the claim CAS, before it
// publishes `READY` with release; other threads read `key` only after observing `READY`
// with acquire, and `head` afterwards only under `lock`.
unsafe impl Sync for MvKey {}

impl Default for MvKey {
    fn default() -> Self {
        Self::new()
    }
}

impl MvKey {
    /// An empty slot.
    pub fn new() -> Self {
        Self {
            state: AtomicU32::new(0),
            key: UnsafeCell::new(StateKey::balance(Address(0))),
            lock: RawSpin::new(),
            head: UnsafeCell::new(NIL),
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
    keys: &'a [MvKey],
    nodes: &'a [MvNode],
    /// This block's epoch, 1..=MAX_EPOCH.
    epoch: u32,
}

impl<'a> MvMemory<'a> {
    /// Wraps caller memory for a new block. `keys` is a power of two plus one: the last
    /// slot is the header whose `state` counts epochs (a block's epoch differs from every
    /// block's since the table was last wiped, so its stale slots read as empty). Nodes
    /// need no reset: a node is fully written when its transaction links it. `None` when
    /// `keys` has the wrong length.
    pub fn new(keys: &'a mut [MvKey], nodes: &'a [MvNode]) -> Option<Self> {
        let (header, table) = keys.split_last_mut()?;
        if !table.len().is_power_of_two() {
            return None;
        }
        // Relaxed: `&mut` access; no other thread can see the table now.
        let last = header.state.load(Ordering::Relaxed);
        let epoch = if last == 0 || last >= MAX_EPOCH {
            table.iter_mut().for_each(|k| *k = MvKey::new());
            1
        } else {
            last + 1
        };
        header.state.store(epoch, Ordering::Relaxed);
        Some(Self { keys: table, nodes, epoch })
    }

    /// Finds `key`'s slot, claiming one if `insert`.
    pub fn slot_index(&self, key: &StateKey, insert: bool) -> Result<Option<u32>, MvFull> {
        let mask = self.keys.len() - 1;
        let mut i = key.table_hash() as usize & mask;
        let (init, ready) = (self.epoch << STATE_BITS | INIT, self.epoch << STATE_BITS | READY);
        for _ in 0..self.keys.len() {
            let s = &self.keys[i];
            // Acquire: pairs with the release store of READY, making `key` readable.
            let mut st = s.state.load(Ordering::Acquire);
            if st != init && st != ready {
                if !insert {
                    return Ok(None);
                }
                // AcqRel on success: we become the slot's only writer until READY.
                match s.state.compare_exchange(st, init, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => {
                        // SAFETY: we won the claim; nobody reads `key` or `head` before
                        // READY is published below.
                        s.key.with_mut(|p| unsafe { *p = *key });
                        // SAFETY: as above.
                        s.head.with_mut(|p| unsafe { *p = NIL });
                        // Release: publishes the key and head written just above.
                        s.state.store(ready, Ordering::Release);
                        return Ok(Some(i as u32));
                    }
                    Err(now) => st = now,
                }
                if st != init && st != ready {
                    // Another epoch's value changed under us: a racing claim of a
                    // different stale state cannot happen (all claims write `init`).
                    return Err(MvFull);
                }
            }
            while st == init {
                spin_hint();
                st = s.state.load(Ordering::Acquire);
            }
            // SAFETY: state is READY (observed with acquire), so `key` is immutable now.
            if s.key.with(|p| unsafe { *p }) == *key {
                return Ok(Some(i as u32));
            }
            i = (i + 1) & mask;
        }
        Err(MvFull)
    }

    /// Runs `f` on node `n`. Caller must hold the lock of the key whose list holds `n`,
    /// or own `n` while it is in no list.
    #[inline]
    fn node<R>(&self, n: u32, f: impl FnOnce(&mut NodeData) -> R) -> R {
        // SAFETY: per this function's contract, the caller has exclusive access to node
        // `n` (its key's lock, or sole ownership while unlinked).
        self.nodes[n as usize].data.with_mut(|p| f(unsafe { &mut *p }))
    }

    /// Runs `f` with slot `slot`'s list head under its lock.
    #[inline]
    fn with_list<R>(&self, slot: u32, f: impl FnOnce(&mut u32) -> R) -> R {
        let s = &self.keys[slot as usize];
        let _g = s.lock.lock();
        // SAFETY: `head` is only accessed under `lock`, held for the closure; the slot is
        // READY (callers got its index from `slot_index`), so `head` was initialised.
        s.head.with_mut(|p| f(unsafe { &mut *p }))
    }

    /// Reads `key` as transaction `txn` sees it.
    pub fn read(&self, key: &StateKey, txn: u32) -> MvRead {
        match self.slot_index(key, false) {
            Ok(Some(slot)) => self.read_at(slot, txn),
            _ => MvRead::Storage(0),
        }
    }

    /// Reads the key in `slot` as transaction `txn` sees it.
    pub fn read_at(&self, slot: u32, txn: u32) -> MvRead {
        self.with_list(slot, |head| {
            let mut sum: u64 = 0;
            let mut n = *head;
            while n != NIL {
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
        })
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
        self.with_list(slot, |head| {
            if existing {
                self.node(node, |d| {
                    d.value = value;
                    d.estimate = estimate;
                });
                return;
            }
            // Insert keeping the list sorted by descending txn.
            let mut prev = NIL;
            let mut cur = *head;
            while cur != NIL {
                let d = self.node(cur, |d| *d);
                if d.txn < txn {
                    break;
                }
                prev = cur;
                cur = d.next;
            }
            self.node(node, |d| *d = NodeData { txn, next: cur, estimate, value });
            if prev == NIL {
                *head = node;
            } else {
                self.node(prev, |d| d.next = node);
            }
        });
    }

    /// Marks node `node` (in the list of `slot`) as an estimate.
    pub fn mark_estimate_at(&self, slot: u32, node: u32) {
        self.with_list(slot, |_| self.node(node, |d| d.estimate = true));
    }

    /// Unlinks node `node` from the list of `slot`.
    pub fn remove_at(&self, slot: u32, node: u32) {
        self.with_list(slot, |head| {
            let mut prev = NIL;
            let mut cur = *head;
            while cur != NIL {
                let next = self.node(cur, |d| d.next);
                if cur == node {
                    if prev == NIL {
                        *head = next;
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

    /// After the workers joined: every key that has at least one version, with what a
    /// transaction `end` would read (the value at the end of the block when `end` is the
    /// number of transactions), in table order.
    pub fn final_versions(&self, end: u32) -> impl Iterator<Item = (StateKey, MvRead)> + '_ {
        let ready = self.epoch << STATE_BITS | READY;
        self.keys.iter().enumerate().filter_map(move |(i, s)| {
            // Relaxed: single-threaded use after the workers joined.
            if s.state.load(Ordering::Relaxed) != ready {
                return None;
            }
            if self.with_list(i as u32, |head| *head) == NIL {
                return None;
            }
            // SAFETY: the slot is READY in this epoch: `key` is immutable.
            let key = s.key.with(|p| unsafe { *p });
            Some((key, self.read_at(i as u32, end)))
        })
    }
}
