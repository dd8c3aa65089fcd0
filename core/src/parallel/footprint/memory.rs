//! The footprint engine's caller memory: the partitions' key records, tables and touch
//! lists, the sources, the `done` flags, and their lengths (see "Memory and sharing" in the
//! module docs).

use crate::sync::AtomicU32;
use crate::types::{Address, KeyKind, StateKey};

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
    /// A hot chained key's lane (see `lanes.rs`).
    pub(super) lane: u8,
    /// Every toucher declared the key read-only: they all read its committed value, and
    /// none may write it (plan).
    pub(super) fixed: bool,
}

impl KeyRecord {
    pub(super) fn new(key: StateKey, base: u64) -> Self {
        let (sum, last) = (0, NONE);
        Self { key, base, sum, last, chained: false, wrote: false, lane: 0, fixed: false }
    }

    /// Touches of a chained key, counted by the plan in `sum` (which only summed keys
    /// use otherwise): how heavy its chain is (see `lanes.rs`).
    pub(super) fn touches(&self) -> u32 {
        self.sum as u32
    }
}

impl Default for KeyRecord {
    fn default() -> Self {
        Self::new(StateKey::balance(Address(0)), 0)
    }
}

/// Where one cell's transaction finds the value before it (planned into the cell's
/// [`Touch`] by the planner of the cell's key, read by the cell's executor).
#[derive(Clone, Copy, Debug, Default)]
pub struct Source {
    /// The committed value, for the first toucher of a chained key.
    pub(super) base: u64,
    /// The previous toucher's cell, or `NONE`.
    pub(super) prev: u32,
    /// The key's id (its record's index in `keys`), and in the top bits whether it is
    /// chained (else summed: the transaction only adds to it) and fixed.
    pub(super) key: u32,
}

/// [`Source::key`]'s bits: chained, fixed ([`KeyRecord::fixed`]).
const CHAINED: u32 = 1 << 31;
const FIXED: u32 = 1 << 30;

impl Source {
    pub(super) fn new(base: u64, prev: u32, id: u32, rec: &KeyRecord) -> Self {
        let bits = if rec.chained { CHAINED } else { 0 } | if rec.fixed { FIXED } else { 0 };
        Self { base, prev, key: id | bits }
    }

    /// Whether the key is chained.
    #[inline]
    pub(super) fn chained(&self) -> bool {
        self.key & CHAINED != 0
    }

    /// Whether the key is fixed: read by all its touchers at its committed value.
    #[inline]
    pub(super) fn fixed(&self) -> bool {
        self.key & FIXED != 0
    }

    /// The key's id: its record's index in `keys`.
    #[inline]
    pub(super) fn id(&self) -> usize {
        (self.key & !(CHAINED | FIXED)) as usize
    }
}

pub(super) const NONE: u32 = u32::MAX;

/// One touch of a key: the cell (transaction × footprint position), and
///
/// * listed (scatter): the key, and how the cell touches it (see `ONLY_READS`);
/// * with an id (plan): the key's id (its record's index in `keys`) instead;
/// * planned (plan, [`Self::planned`]): the cell's [`Source`] instead of the key, the id
///   kept.
///
/// 24 bytes: the key's kind rides in the top bits of the cell (cells stay below 2^28, see
/// `FootprintEngine::prepare`), since the plan streams through these lists, and the
/// source takes the key's place once the key is no longer needed (a list of sources
/// beside it took 16 bytes a cell more).
#[derive(Clone, Copy, Debug, Default)]
pub struct Touch {
    /// The key's address; planned: the source's `base`.
    addr: u64,
    /// The key's slot; planned: the source's `prev` (high half) and `key` (low half).
    slot: u64,
    /// The cell, and the key's kind in the top [`KIND_BITS`].
    pub(super) cell_kind: u32,
    /// Listed: how the cell touches the key (see `ONLY_READS`). Then the key's id.
    pub(super) id: u32,
}

const KIND_BITS: u32 = 2;
const CELL_BITS: u32 = 32 - KIND_BITS;

impl Touch {
    pub(super) fn new(key: &StateKey, cell: u32, id: u32) -> Self {
        let cell_kind = cell | (key.kind as u32) << CELL_BITS;
        Self { addr: key.addr.0, slot: key.slot, cell_kind, id }
    }

    /// This touch with its key's id.
    #[inline]
    pub(super) fn with_id(self, id: u32) -> Self {
        Self { id, ..self }
    }

    /// This touch planned: its source in place of its key.
    #[inline]
    pub(super) fn planned(self, src: Source) -> Self {
        Self { addr: src.base, slot: (src.prev as u64) << 32 | src.key as u64, ..self }
    }

    /// A planned touch's source.
    #[inline]
    pub(super) fn source(&self) -> Source {
        Source { base: self.addr, prev: (self.slot >> 32) as u32, key: self.slot as u32 }
    }

    /// A listed touch's key.
    #[inline]
    pub(super) fn key(&self) -> StateKey {
        let kind = match self.cell_kind >> CELL_BITS {
            0 => KeyKind::Balance,
            1 => KeyKind::Nonce,
            2 => KeyKind::CodeHash,
            _ => KeyKind::Storage,
        };
        StateKey { addr: Address(self.addr), kind, slot: self.slot }
    }

    #[inline]
    pub(super) fn cell(&self) -> u32 {
        self.cell_kind & ((1 << CELL_BITS) - 1)
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
    /// Values, the block's footprint width per transaction (see
    /// [`super::width`]): what the key holds after the transaction
    /// (chained keys) or what it added (summed keys). Whether it wrote each key is in
    /// its `done` flag.
    pub values: &'a mut [Slot<u64>],
    /// Key tables: key ids, [`Lengths::table`] (two slots per key record). Any contents:
    /// each partition clears the part it uses.
    pub table: &'a mut [Slot<u32>],
    /// Key records, [`Lengths::keys`].
    pub keys: &'a mut [Slot<KeyRecord>],
    /// The touches: each chunk's in its cells, grouped by partition, each planned into
    /// its source in place, [`Lengths::values`].
    pub list: &'a mut [Slot<Touch>],
    /// Where each cell's touch (and so its source) is in `list`, [`Lengths::values`].
    pub at: &'a mut [Slot<u32>],
}

/// Buffer lengths for [`FootprintMemory`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lengths {
    /// The output's receipts.
    pub txs: usize,
    /// `done`.
    pub done: usize,
    /// `values`, `list`, `at`, and the output's writes: one per cell.
    pub values: usize,
    /// `keys`: one per cell, and one per partition (its share of the beneficiary).
    pub keys: usize,
    /// `table`.
    pub table: usize,
}

impl FootprintMemory<'_> {
    /// Lengths for `txs` transactions of footprints at most `width` keys long (see
    /// [`super::width`]) planned in `partitions` key ranges. Each partition takes the
    /// share of the records and of the table that its touches need (known once the
    /// touches are counted), so the total is that of one partition holding them all.
    pub const fn lengths(txs: usize, partitions: usize, width: usize) -> Lengths {
        let values = txs * width;
        let keys = values + clamp_partitions(partitions);
        // Each partition's table holds its keys at most half full.
        Lengths { txs, done: txs + 1, values, keys, table: 2 * keys }
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
