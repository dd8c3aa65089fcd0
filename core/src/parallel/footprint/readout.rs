//! The footprint engine's read-out: summed deltas added up, written keys counted, each
//! partition's final values written after the lower partitions' and sorted.

use crate::state::{sort_into, StateReader};
use crate::sync::Ordering;

use super::*;

impl<S: StateReader + Sync> FootprintEngine<'_, S> {
    /// Sums partition `p`'s deltas and counts its written keys (read-out, first step).
    pub(super) fn tally_keys(&self, p: usize) {
        let ids = self.counts[p].load(Ordering::Relaxed) as usize;
        let keys = &self.mem.keys[self.key_region(p)][..ids];
        // Deltas of summed keys, and whether anyone wrote each key.
        let listed = (0..self.parts).flat_map(|c| {
            let (group, credits) = self.groups(c, p);
            self.mem.list[group].iter().chain(&self.mem.list[credits])
        });
        for e in listed {
            let touch = e.get();
            let (cell, id) = (touch.cell(), touch.id);
            let value = self.mem.values[cell as usize].get();
            let t = self.tx_of(cell as usize);
            // Relaxed: the read-out started after an acquire of `exec_done`.
            let flag = self.flags(self.mem.done[t].0.load(Ordering::Relaxed));
            let j = cell as usize - t * self.width;
            let wrote = flag >> (WROTE_SHIFT + j as u32) & 1 == 1;
            let k = &self.mem.keys[id as usize];
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
    pub(super) fn read_out(&self, p: usize) {
        let offset: usize =
            self.written[..p].iter().map(|c| c.load(Ordering::Relaxed) as usize).sum();
        let ids = self.counts[p].load(Ordering::Relaxed) as usize;
        let keys = &self.mem.keys[self.key_region(p)][..ids];
        let written = self.written[p].load(Ordering::Relaxed) as usize;
        // In bounds: `prepare` checked that the output holds a value per cell.
        let Some(out) = self.out.get(offset..offset + written) else {
            self.fail(Abort::BadScratch);
            return;
        };
        let key = |k: &Slot<KeyRecord>| {
            let rec = k.get();
            rec.wrote.then_some(rec.key)
        };
        let value = |k: &Slot<KeyRecord>| {
            let rec = k.get();
            if rec.chained {
                self.mem.values[rec.last as usize].get()
            } else {
                rec.base.wrapping_add(rec.sum)
            }
        };
        // SAFETY: `Slot<T>` is `repr(transparent)` over `UnsafeCell<T>`, which has the
        // layout of `T`; this region of `out` belongs to partition `p`, claimed by this
        // worker alone, and nobody reads it before the workers are joined.
        let out =
            unsafe { core::slice::from_raw_parts_mut(out.as_ptr() as *mut StateEntry, written) };
        sort_into(keys, key, value, out);
    }
}
