//! Reading a finished block out of Block-STM's memory (step 4 of the worker loop in
//! the module docs): receipts, and every written key's final value, sorted.

use crate::engine::Outcome;
use crate::error::{Abort, BlockError, Invariant};
use crate::exec::ExecStats;
use crate::state::{StateEntry, StateReader};
use crate::sync::Ordering;

use super::mvmemory::MvRead;
use super::{scheduler, too_small, BlockStm};

impl<'a, S: StateReader + Sync> BlockStm<'a, S> {
    /// After every worker returned: the receipts and the block's sorted write set, into
    /// the output given to `prepare`.
    pub(super) fn read_out(mut self) -> Result<Outcome<'a>, BlockError> {
        match self.abort.get() {
            None => {}
            Some(Abort::MvFull) => return Err(BlockError::MvFull { records: self.records }),
            Some(Abort::EstimateInOrder) => {
                return Err(BlockError::Invariant(Invariant::EstimateInOrder))
            }
            Some(Abort::Contended) => {
                return Err(BlockError::Contended {
                    executions: self.executions.load(Ordering::Relaxed),
                    wasted: self.aborts.load(Ordering::Relaxed)
                        + self.waits.load(Ordering::Relaxed),
                })
            }
            Some(Abort::BadScratch | Abort::FootprintFull | Abort::OffFootprint) => {
                return Err(BlockError::BadScratch)
            }
        }
        let n = self.txs.len();
        // Taken out of `self`, which the read-out below still reads.
        let receipts = core::mem::take(&mut self.output.receipts);
        let out = core::mem::take(&mut self.output.writes);
        too_small("receipts", n, receipts.len())?;
        if !self.sched.is_done() {
            return Err(BlockError::Invariant(Invariant::NotDone));
        }
        // `run_alone` counts its executions only after the last one.
        if self.alone && self.executions.load(Ordering::Relaxed) as usize != n {
            return Err(BlockError::Invariant(Invariant::NotDone));
        }
        let mut stats = ExecStats::default();
        for (t, r) in receipts[..n].iter_mut().enumerate() {
            // (`run_alone` executed every transaction without the scheduler.)
            if !self.alone && self.sched.status(t as u32).0 != scheduler::TxStatus::Executed {
                return Err(BlockError::Invariant(Invariant::NotExecuted));
            }
            // SAFETY: all workers have returned (the caller joined them), so nothing else
            // accesses the receipt.
            *r = self.data[t].receipt.with(|p| unsafe { *p });
            stats.count(r);
        }
        // Debug builds re-check every read set against the final versions: a failure here
        // means the scheduler declared the block done too early. (`run_alone` records no
        // read sets, and its version lists answer only reads above their heads.)
        if cfg!(debug_assertions) && !self.alone {
            for t in 0..n as u32 {
                if !self.reads_valid(t, None) {
                    return Err(BlockError::Invariant(Invariant::StaleReadSet));
                }
            }
        }
        let mut len = 0;
        let mut bad = None;
        // Keys that only received deltas need their committed value: a state lookup,
        // two dependent cache misses. They are prefetched (index slot, then entry) and
        // read `STATE_LAG` such keys later; meanwhile `out[i].value` holds the delta.
        const STATE_LAG: usize = 16;
        let mut lagging = [0usize; STATE_LAG];
        let mut lagged = 0usize;
        let resolve = |e: &mut StateEntry| e.value = self.state.read(&e.key).wrapping_add(e.value);
        // Every key written by some transaction's last incarnation (the keys whose
        // version lists are not empty: each incarnation removes what the previous one
        // wrote and it did not), at the end of the block, deltas folded in. One pass
        // over the key records; the order does not matter, the entries are sorted below.
        for (key, read) in self.mv.final_versions() {
            let (value, delta) = match read {
                MvRead::Value(v) => (v, false),
                MvRead::Storage(d) => (d, true),
                MvRead::Dependency(_) => {
                    bad = Some(BlockError::Invariant(Invariant::EstimateLeft));
                    continue;
                }
            };
            let Some(slot) = out.get_mut(len) else {
                bad = Some(BlockError::BufferTooSmall {
                    buffer: "writes",
                    needed: len + 1,
                    given: len,
                });
                len += 1;
                continue;
            };
            *slot = StateEntry { key, value };
            if delta {
                self.state.prefetch(&key, 0);
                let at = lagged % STATE_LAG;
                // `lagging` only holds indices of entries already written.
                if lagged >= STATE_LAG {
                    if let Some(e) = out.get_mut(lagging[at]) {
                        resolve(e);
                    }
                }
                if lagged >= STATE_LAG / 2 {
                    if let Some(e) = out.get(lagging[(lagged - STATE_LAG / 2) % STATE_LAG]) {
                        self.state.prefetch(&e.key, 1);
                    }
                }
                lagging[at] = len;
                lagged += 1;
            }
            len += 1;
        }
        for i in lagged.saturating_sub(STATE_LAG)..lagged {
            if let Some(e) = out.get_mut(lagging[i % STATE_LAG]) {
                resolve(e);
            }
        }
        if let Some(e) = bad {
            return Err(e);
        }
        let out = &mut out[..len];
        crate::state::sort_by_key(out);
        let execs = self.executions.load(Ordering::Relaxed) as u64;
        stats.reexecutions = execs.saturating_sub(n as u64);
        stats.aborts = self.aborts.load(Ordering::Relaxed) as u64;
        stats.dependency_waits = self.waits.load(Ordering::Relaxed) as u64;
        Ok(Outcome { receipts: &receipts[..n], writes: out, stats })
    }
}
