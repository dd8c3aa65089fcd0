//! The footprint engine's caller memory: the per-partition key records, sources and
//! touch lists, the `done` flags, and their lengths (see "Memory and sharing" in the
//! module docs).

use crate::sync::AtomicU32;
use crate::tx::{Footprint, FOOTPRINT};
use crate::types::{Address, StateKey};

use super::{Slot, MAX_PARTITIONS};

/// One key of one partition.
#[derive(Clone, Copy, Debug)]
pub struct KeyRecord {
    pub(super) key: StateKey,
    /// Committed value.
    pub(super) base: u64,
    /// Sum of the deltas of a summed key (read-out).
    pub(super) sum: u64,
    /// Cell of the latest toucher so far (`NONE` before the first).
    pub(super) last: u32,
    /// Some toucher reads the key (see the module docs).
    pub(super) chained: bool,
    /// Some toucher wrote the key (read-out).
    pub(super) wrote: bool,
}

impl KeyRecord {
    pub(super) fn new(key: StateKey, base: u64) -> Self {
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
    pub(super) base: u64,
    /// The previous toucher's cell, or `NONE`.
    pub(super) prev: u32,
    /// The key is chained (else summed: the transaction only adds to it).
    pub(super) chained: bool,
}

pub(super) const NONE: u32 = u32::MAX;

/// One touch of a key: the cell (transaction × footprint position) and, once planned,
/// the key's id in its partition.
#[derive(Clone, Copy, Debug, Default)]
pub struct Touch {
    /// The key's account; the cell's footprint position says which of its words.
    pub(super) addr: u64,
    pub(super) cell: u32,
    pub(super) id: u32,
}

impl Touch {
    pub(super) fn key(&self) -> StateKey {
        Footprint::key_at(Address(self.addr), self.cell as usize % FOOTPRINT)
    }
}

/// A transaction's `done` word: the block's round in the high bits and the flags
/// in the low ones (done, batch claimed, which keys it wrote).
#[derive(Debug, Default)]
pub struct Done(pub(super) AtomicU32);

impl Done {
    /// Not done.
    pub fn new() -> Self {
        Self(AtomicU32::new(0))
    }
}

/// Caller memory for [`FootprintEngine`].
pub struct FootprintMemory<'a> {
    /// One per transaction, plus a header that counts blocks ([`Lengths::done`]): a
    /// flag stamped with another block's count reads as clear, so the flags are never
    /// cleared between blocks.
    pub done: &'a mut [Done],
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
}

/// Buffer lengths for [`FootprintMemory`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lengths {
    /// The output's receipts.
    pub txs: usize,
    /// `done`.
    pub done: usize,
    /// `values`, and the output's writes.
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

pub(super) const fn clamp_partitions(p: usize) -> usize {
    if p == 0 {
        1
    } else if p > MAX_PARTITIONS {
        MAX_PARTITIONS
    } else {
        p
    }
}
