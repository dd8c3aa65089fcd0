//! The footprint engine's first two phases: choosing the partitions, scattering the
//! touches to them, and planning each partition (see the module docs).

use crate::error::Abort;
use crate::state::{prefetch, StateReader};
use crate::sync::Ordering;

use super::*;

impl<S: StateReader + Sync> FootprintEngine<'_, S> {
    /// Key ranges from the footprints of an even sample of the transactions, so that each
    /// partition gets a similar number of touches: every `len / parts`-th of the sampled
    /// keys (in order) becomes a splitter. Credits to the beneficiary are left out: they
    /// are pooled, so they cost the plan nothing (nearly always, see `pooled`). Any
    /// splitters give the same result; these balance the work.
    pub(super) fn choose_splitters(&mut self) {
        let n = self.txs.len();
        if self.parts == 1 || n == 0 {
            self.parts = 1;
            return;
        }
        let picks = SAMPLE_TXS.min(n);
        // The sample lives at the start of the output, which no one uses before the
        // read-out (and the worker reading out partition 0 writes it there again).
        let ben = StateKey::balance(self.env.beneficiary);
        let sample = settled(&mut self.out[..picks * self.width]);
        let mut want = 0;
        for i in 0..picks {
            // In u64: the product passes u32 on 32-bit targets for large blocks.
            let at = (i as u64 * n as u64 / picks as u64) as usize;
            if let Some(fp) = self.txs[at].footprint(self.env.beneficiary) {
                for (j, k) in fp.keys().iter().enumerate() {
                    if fp.reads(j) || *k != ben {
                        // In bounds: at most `width` keys per sampled transaction.
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
                let (_, s, right) = core::mem::take(&mut rest)
                    .select_nth_unstable_by_key(k - base, |e| place(&e.key));
                split = place(&s.key);
                rest = right;
                base = k + 1;
            }
            self.splitters[p - 1] = split;
        }
    }

    /// Lists the touches of chunk `c` in the chunk's block of `list` (its cells), grouped
    /// by partition in partition order and in block order within each group, the credits
    /// to the beneficiary last; notes where each cell's touch went (`at`) and how many
    /// each group has (scatter). Two passes over the chunk's footprints: the first counts
    /// the groups, the second lists the touches at their places. (Staging the touches
    /// instead took a 32-byte cell per touch of memory that nothing else needs.) Notes
    /// whether some transaction reads the beneficiary's balance.
    pub(super) fn scatter(&self, c: usize) -> Result<(), Abort> {
        let chunk = self.chunk(c);
        let ben = StateKey::balance(self.env.beneficiary);
        // A credit: a touch of the beneficiary that only adds (see `is_pooled`).
        let credit = |key: &StateKey, mode: u32| mode == 0 && key.addr == ben.addr;
        let mut counted = [0usize; MAX_PARTITIONS];
        let (mut credits, mut ben_sends) = (0, false);
        self.touches(chunk.clone(), |p, key, _, mode| {
            if credit(key, mode) {
                credits += 1;
            } else {
                ben_sends |= *key == ben;
                counted[p] += 1;
            }
        })?;
        let mut fill = [0usize; MAX_PARTITIONS + 1];
        let mut next = chunk.start * self.width;
        for (f, n) in fill.iter_mut().zip(&counted).take(self.parts) {
            (*f, next) = (next, next + n);
        }
        fill[MAX_PARTITIONS] = next;
        self.touches(chunk, |p, key, cell, mode| {
            let group = if credit(key, mode) { MAX_PARTITIONS } else { p };
            let at = fill[group];
            // In bounds: the chunk's groups fill its cells at most (the same touches as
            // the first pass counted).
            self.mem.list[at].set(Touch::new(key, cell, mode));
            self.mem.at[cell as usize].set(at as u32);
            fill[group] += 1;
        })?;
        for (p, n) in counted.iter().enumerate().take(self.parts) {
            // Relaxed: published by `scatter_done`.
            self.counted[c][p].store(*n as u32, Ordering::Relaxed);
        }
        self.credits[c].store(credits, Ordering::Relaxed);
        if ben_sends {
            // Relaxed: published by `scatter_done`.
            self.ben_sends.store(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Calls `f(partition, key, cell, mode)` for every touch of the transactions `txs`,
    /// in block order (mode: see `ONLY_READS`).
    pub(super) fn touches(
        &self,
        txs: core::ops::Range<usize>,
        mut f: impl FnMut(usize, &StateKey, u32, u32),
    ) -> Result<(), Abort> {
        let mut fp = Footprint::new();
        for t in txs {
            fp.set(&self.txs[t], self.env.beneficiary);
            if fp.len() == 0 || fp.len() > self.width {
                return Err(Abort::OffFootprint);
            }
            for (j, key) in fp.keys().iter().enumerate() {
                let cell = (t * self.width + j) as u32;
                let mode = if fp.only_reads(j) { ONLY_READS } else { fp.reads(j) as u32 };
                f(self.partition(key), key, cell, mode);
            }
        }
        Ok(())
    }

    /// Plans partition `p` (plan). Only this worker touches the partition's table,
    /// records and groups of the list (and the credits, when it lists them) until
    /// `plan_done` is released.
    pub(super) fn plan(&self, p: usize) -> Result<(), Abort> {
        let whole = self.table(p);
        let region = self.key_region(p);
        let kbase = region.start;
        let keys = &self.mem.keys[region];
        // The table's part in use (see "Plan" in the module docs), cleared.
        let mut live = whole.len().min(LARGE_TABLE);
        let mut table = &whole[..live];
        table.iter().for_each(|s| s.set(EMPTY_SLOT));
        let mut ids = 0usize;
        let ben = StateKey::balance(self.env.beneficiary);
        if self.pooled() && self.ben_part == p && !self.txs.is_empty() {
            // The beneficiary's balance is a summed key without touches: the partition's
            // first record, its sum added by the tally (`tally_keys`).
            let (Some(slot), Some(rec)) =
                (table.get(slot_of(ben.table_hash(), live)), keys.first())
            else {
                return Err(Abort::FootprintFull);
            };
            slot.set(kbase as u32);
            rec.set(KeyRecord::new(ben, self.state.read(&ben)));
            ids = 1;
        }
        // Gives each touch its key's id. Each touch's key is hashed once, when the first
        // prefetch for it is issued, for every lookup of it (the table's and the state's):
        // `hashes` holds the hashes of the touches from `i` on that are in flight.
        let mut give_ids = |list: &[Slot<Touch>]| -> Result<(), Abort> {
            let mut hashes = [0u64; PREFETCH_INDEX];
            for (h, a) in hashes.iter_mut().zip(list) {
                *h = a.get().key().table_hash();
            }
            for (i, e) in list.iter().enumerate() {
                // Read before touch `i + PREFETCH_INDEX` takes its place.
                let hash = hashes[i % PREFETCH_INDEX];
                // Room for one more key, the table at most half full so that probes stay
                // short and always end: else the part in use doubles.
                if 2 * (ids + 1) > live && live < whole.len() {
                    live = whole.len().min(2 * live);
                    table = &whole[..live];
                    refile(table, &keys[..ids], kbase);
                }
                // Committed-state lookups and this table's miss the cache: start them a
                // few touches ahead, the index slots first and the records they name
                // later (a key's record is where its first probe most often ends).
                if let Some(a) = list.get(i + PREFETCH_INDEX) {
                    let key = a.get().key();
                    let hash = key.table_hash();
                    hashes[i % PREFETCH_INDEX] = hash;
                    self.state.prefetch(&key, hash, 0);
                    prefetch(&table[slot_of(hash, live)]);
                }
                if let Some(a) = list.get(i + PREFETCH_ENTRY) {
                    let key = a.get().key();
                    let hash = hashes[(i + PREFETCH_ENTRY) % PREFETCH_INDEX];
                    self.state.prefetch(&key, hash, 1);
                    let id = table[slot_of(hash, live)].get();
                    if let Some(rec) = self.mem.keys.get(id as usize) {
                        prefetch(rec);
                    }
                }
                let touch = e.get();
                let key = touch.key();
                let mut i = slot_of(hash, live);
                let id = loop {
                    let id = table[i].get();
                    if id == EMPTY_SLOT {
                        if 2 * (ids + 1) > live || ids >= keys.len() {
                            return Err(Abort::FootprintFull);
                        }
                        let id = kbase + ids;
                        table[i].set(id as u32);
                        let mut rec = KeyRecord::new(key, self.state.read_hashed(&key, hash));
                        rec.fixed = touch.id == ONLY_READS;
                        keys[ids].set(rec);
                        ids += 1;
                        break id;
                    }
                    if self.mem.keys[id as usize].get().key == key {
                        break id as usize;
                    }
                    i = if i + 1 == live { 0 } else { i + 1 };
                };
                // A touch that reads makes the key chained; one that may write, not fixed.
                let k = &self.mem.keys[id];
                if touch.id != 0 || k.get().fixed {
                    let mut rec = k.get();
                    rec.chained |= touch.id != 0;
                    rec.fixed &= touch.id == ONLY_READS;
                    k.set(rec);
                }
                e.set(touch.with_id(id as u32));
            }
            Ok(())
        };
        for c in 0..self.parts {
            let (group, credits) = self.groups(c, p);
            give_ids(&self.mem.list[group])?;
            give_ids(&self.mem.list[credits])?;
        }
        // Link each touch to the previous one of its key, in block order (a chunk's credits
        // merged with its group), now that chained keys are known; count the near
        // dependencies, and each chained key's touches.
        let mut near = 0u32;
        for c in 0..self.parts {
            let (group, credits) = self.groups(c, p);
            let (mut g, mut r) = (group.start, credits.start);
            while g < group.end || r < credits.end {
                let cell_of = |at: usize| self.mem.list[at].get().cell();
                let at = if r == credits.end || (g < group.end && cell_of(g) < cell_of(r)) {
                    g += 1;
                    g - 1
                } else {
                    r += 1;
                    r - 1
                };
                let touch = self.mem.list[at].get();
                let (cell, id) = (touch.cell(), touch.id);
                let k = &self.mem.keys[id as usize];
                let mut rec = k.get();
                if rec.fixed {
                    // Every toucher reads the committed value; nobody waits.
                    self.mem.list[at].set(touch.planned(Source::new(rec.base, NONE, id, &rec)));
                    continue;
                }
                self.mem.list[at].set(touch.planned(Source::new(rec.base, rec.last, id, &rec)));
                if rec.chained {
                    if rec.last != NONE {
                        let gap = self.tx_of(cell as usize) - self.tx_of(rec.last as usize);
                        near += (gap < NEAR) as u32;
                    }
                    rec.sum += 1;
                }
                rec.last = cell;
                k.set(rec);
            }
        }
        self.counts[p].store(ids as u32, Ordering::Relaxed);
        self.near.fetch_add(near, Ordering::Relaxed);
        Ok(())
    }
}

/// An empty slot of a key table.
const EMPTY_SLOT: u32 = u32::MAX;

/// Clears `table` and files in it the partition's key records `keys` (ids from
/// `kbase`), in id order: the table's part in use after it doubled.
fn refile(table: &[Slot<u32>], keys: &[Slot<KeyRecord>], kbase: usize) {
    table.iter().for_each(|s| s.set(EMPTY_SLOT));
    let len = table.len();
    for (n, rec) in keys.iter().enumerate() {
        let mut i = slot_of(rec.get().key.table_hash(), len);
        // At most half full: an empty slot exists.
        while table[i].get() != EMPTY_SLOT {
            i = if i + 1 == len { 0 } else { i + 1 };
        }
        table[i].set((kbase + n) as u32);
    }
}

/// The slot where a table of `len` slots starts looking for a key whose
/// [`StateKey::table_hash`] is `hash`: the hash scaled to the length (multiply-shift, so
/// that a partition's table can have any length).
#[inline]
fn slot_of(hash: u64, len: usize) -> usize {
    ((hash as u128 * len as u128) >> 64) as usize
}
