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

    /// Sorts the touches of chunk `c` into the partitions' lists (scatter), in block
    /// order: chunk `c`'s touches of partition `p` go to the part of `p`'s list that
    /// starts at the chunk's first cell, so the chunks never overlap.
    pub(super) fn scatter(&self, c: usize) -> Result<(), Abort> {
        let chunk = self.chunk(c);
        let mut fill = [0usize; MAX_PARTITIONS];
        let first = chunk.start * self.width;
        // Credits to the beneficiary are left out: pooled, unless it sends (then `plan`
        // lists its partition again, credits included).
        let ben_sends = self.touches(chunk, true, |p, touch| {
            // In bounds: a chunk has at most `width` touches per transaction.
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
    pub(super) fn list_partition(&self, p: usize, list: &[Slot<Touch>]) -> Result<usize, Abort> {
        let mut filled = 0;
        self.touches(0..self.txs.len(), false, |q, touch| {
            if q == p {
                // In bounds: the region has `width` cells per transaction.
                list[filled].set(touch);
                filled += 1;
            }
        })?;
        Ok(filled)
    }

    /// Calls `f(partition, touch)` for every touch of the transactions `txs`, in block
    /// order, leaving out the credits to the beneficiary if `pooled`. Returns whether one
    /// of the transactions reads the beneficiary's balance (sends from it, or declares
    /// it).
    pub(super) fn touches(
        &self,
        txs: core::ops::Range<usize>,
        pooled: bool,
        mut f: impl FnMut(usize, Touch),
    ) -> Result<bool, Abort> {
        let mut ben_sends = false;
        let ben = StateKey::balance(self.env.beneficiary);
        for t in txs {
            let tx = &self.txs[t];
            let fp = Footprint::of(tx, self.env.beneficiary);
            if fp.len() == 0 || fp.len() > self.width {
                return Err(Abort::OffFootprint);
            }
            for (j, key) in fp.keys().iter().enumerate() {
                let reads = fp.reads(j);
                ben_sends |= reads && *key == ben;
                if self.is_pooled(&fp, j, pooled) {
                    continue;
                }
                let cell = (t * self.width + j) as u32;
                let mode = if fp.only_reads(j) { ONLY_READS } else { reads as u32 };
                f(self.partition(key), Touch::new(key, cell, mode));
            }
        }
        Ok(ben_sends)
    }

    /// Plans partition `p` (plan). Only this worker touches the partition's table,
    /// records and lists until `plan_done` is released.
    pub(super) fn plan(&self, p: usize) -> Result<(), Abort> {
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
                return Err(Abort::FootprintFull);
            };
            slot.set((self.epoch, 0));
            rec.set(KeyRecord::new(ben, self.state.read(&ben)));
            ids = 1;
        }
        // Gives each touch of `touches` (part of `list`, in block order) its key's id,
        // then moves it to the front of `list`, behind the touches before it.
        let mut list_touches = |touches: &[Slot<Touch>]| -> Result<(), Abort> {
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
                let key = touch.key();
                let mut i = key.table_hash() as usize & mask;
                let id = loop {
                    let (epoch, id) = table[i].get();
                    if epoch != self.epoch {
                        // At most half full, so probes stay short and always end.
                        if 2 * (ids + 1) > table.len() || ids >= keys.len() {
                            return Err(Abort::FootprintFull);
                        }
                        table[i].set((self.epoch, ids as u32));
                        let mut rec = KeyRecord::new(key, self.state.read(&key));
                        rec.fixed = touch.id == ONLY_READS;
                        keys[ids].set(rec);
                        ids += 1;
                        break ids - 1;
                    }
                    if keys[id as usize].get().key == key {
                        break id as usize;
                    }
                    i = (i + 1) & mask;
                };
                // A touch that reads makes the key chained; one that may write, not fixed.
                if touch.id != 0 || keys[id].get().fixed {
                    let mut rec = keys[id].get();
                    rec.chained |= touch.id != 0;
                    rec.fixed &= touch.id == ONLY_READS;
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
                let first = self.chunk(c).start * self.width;
                let filled = self.scattered[c][p].load(Ordering::Relaxed) as usize;
                list_touches(&list[first..first + filled])?;
            }
        }
        // Link each touch to the previous one of its key, now that chained keys are
        // known; count the near dependencies, and each chained key's touches.
        let mut near = 0u32;
        for e in &list[..listed] {
            let touch = e.get();
            let (cell, id) = (touch.cell(), touch.id);
            let k = &keys[id as usize];
            let mut rec = k.get();
            if rec.fixed {
                // Every toucher reads the committed value; nobody waits.
                sources[cell as usize].set(Source::new(rec.base, NONE, id, &rec));
                continue;
            }
            sources[cell as usize].set(Source::new(rec.base, rec.last, id, &rec));
            if rec.chained {
                if rec.last != NONE {
                    let gap = (cell - rec.last) as usize >> self.shift;
                    near += (gap < NEAR) as u32;
                }
                rec.sum += 1;
            }
            rec.last = cell;
            k.set(rec);
        }
        self.counts[p].store(ids as u32, Ordering::Relaxed);
        self.listed[p].store(listed as u32, Ordering::Relaxed);
        self.near.fetch_add(near, Ordering::Relaxed);
        Ok(())
    }
}
