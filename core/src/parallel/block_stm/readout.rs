//! Reading a finished block out of Block-STM's memory (step 4 of the worker loop in
//! the module docs): receipts, and every written key's final value, sorted.
//!
//! With several workers the key records are read out side by side: each worker that
//! sees the scheduler done claims parts ([`ReadParts`]); a part reads its range of the
//! records into a run at the top of the output (the records' ranges laid out in the
//! output's last `records` entries), and sorts it; `finish` merges the runs to the
//! bottom (keys are distinct across records, so the runs are disjoint and the merge is
//! the sorted write set). The merge writes below every entry it has yet to read as long
//! as the room under the runs exceeds what the other runs could put in front of each
//! one (`merge_runs`): an output of twice the records always has it, and so does a
//! block of native transfers on a few workers, whose output holds four entries a
//! transaction for about two records. The serial read-out covers every other case (one
//! worker, a part that could not run, too little room), with the same result: the
//! sorted final values of the keys that have a version.

use crate::engine::Outcome;
use crate::error::{Abort, BlockError, Invariant};
use crate::exec::ExecStats;
use crate::state::{sort_by_key, StateEntry, StateReader};
use crate::sync::{claimed, settled, AtomicBool, AtomicU32, Ordering};

use super::mvmemory::{FinalVersions, MvRead};
use super::store::Pool;
use super::{scheduler, too_small, BlockStm};
use crate::types::StateKey;

/// Most parts a block is read out in (more workers than this leave the rest to these).
pub const READ_PARTS: usize = 8;

/// A part's length before it ran, or when it could not (the serial read-out then runs).
const NOT_READ: u32 = u32::MAX;

/// The parts of the side-by-side read-out (module docs).
pub(super) struct ReadParts {
    /// Parts (the block's workers, at most [`READ_PARTS`]); below 2, no parts run.
    parts: usize,
    /// Claimed parts. Relaxed swaps: a flag only hands out distinct parts.
    claims: [AtomicBool; READ_PARTS],
    /// Entries of each part's run, or [`NOT_READ`].
    lens: [AtomicU32; READ_PARTS],
}

impl ReadParts {
    pub(super) fn new(workers: usize) -> Self {
        Self {
            parts: workers.min(READ_PARTS),
            claims: core::array::from_fn(|_| AtomicBool::new(false)),
            lens: core::array::from_fn(|_| AtomicU32::new(NOT_READ)),
        }
    }
}

/// Records of part `p` of `parts` when `records` were handed out.
fn part_range(p: usize, parts: usize, records: usize) -> core::ops::Range<usize> {
    p * records / parts..(p + 1) * records / parts
}

impl<'a, S: StateReader + Sync> BlockStm<'a, S> {
    /// Called by a worker that saw the scheduler done: claims and runs parts of the
    /// read-out, its own (its index) first. Does nothing after a failure (the scheduler
    /// was halted, not done: tasks may still be running) or with one part.
    pub(super) fn read_out_parts(&self, index: usize) {
        let parts = self.read.parts;
        // Relaxed: a failure raises the flag before it halts the scheduler, and this
        // worker saw the halt (or the end) through a `SeqCst` load, which orders it.
        if parts < 2 || self.abort.is_raised() {
            return;
        }
        for k in 0..parts {
            let p = (index + k) % parts;
            if !self.read.claims[p].swap(true, Ordering::Relaxed) {
                // Release: publishes the run; `finish` reads it after the join anyway.
                self.read.lens[p].store(self.read_out_part(p), Ordering::Release);
            }
        }
    }

    /// Reads part `p`'s records out into its run, sorted; its length, or [`NOT_READ`]
    /// when the output has no room for the runs or a record is not final.
    fn read_out_part(&self, p: usize) -> u32 {
        let records = self.mv.records();
        let range = part_range(p, self.read.parts, records);
        let Some(top) = self.out.len().checked_sub(records) else {
            return NOT_READ;
        };
        let Some(run) = self.out.get(top + range.start..top + range.end) else {
            return NOT_READ;
        };
        // SAFETY: the run is this part's alone: the parts' ranges are disjoint, only the
        // worker that claimed part `p` writes it, and `finish` reads it after the join.
        let run = unsafe { claimed(run) };
        // SAFETY: this worker saw the scheduler done and no failure (`read_out_parts`):
        // every task has ended, and its writes happen before that `SeqCst` load (each
        // task ends with a `SeqCst` read-modify-write of the scheduler's counters, which
        // the worker that set `done` read before setting it).
        let versions = unsafe { self.mv.final_versions_in(range) };
        match read_versions(self.state, versions, run) {
            Ok(len) => {
                sort_by_key(&mut run[..len]);
                len as u32
            }
            Err(_) => NOT_READ,
        }
    }

    /// After every worker returned: the receipts and the block's sorted write set, into
    /// the output given to `prepare`.
    pub(super) fn read_out(self) -> Result<Outcome<'a>, BlockError> {
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
                    hottest: self.conflicts.get().heaviest(),
                });
            }
            Some(Abort::BeneficiaryRead) => return Err(BlockError::BeneficiaryRead),
            Some(Abort::BadScratch | Abort::FootprintFull | Abort::OffFootprint) => {
                return Err(BlockError::BadScratch)
            }
        }
        let n = self.txs.len();
        too_small("receipts", n, self.receipts.len())?;
        if !self.sched.is_done() {
            return Err(BlockError::Invariant(Invariant::NotDone));
        }
        // `run_alone` counts its executions only after the last one.
        if self.alone && self.executions.load(Ordering::Relaxed) as usize != n {
            return Err(BlockError::Invariant(Invariant::NotDone));
        }
        let mut stats = ExecStats::default();
        for (t, r) in self.receipts[..n].iter_mut().enumerate() {
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
        let execs = self.executions.load(Ordering::Relaxed) as u64;
        stats.reexecutions = execs.saturating_sub(n as u64);
        stats.aborts = self.aborts.load(Ordering::Relaxed) as u64;
        stats.dependency_waits = self.waits.load(Ordering::Relaxed) as u64;
        stats.predicted_waits = self.predicted_waits.load(Ordering::Relaxed) as u64;
        stats.conflicts = self.conflicts.get();

        // The parts' runs, if every part ran (read after the join: relaxed suffices).
        let parts = self.read.parts;
        let lens =
            core::array::from_fn::<_, READ_PARTS, _>(|p| self.read.lens[p].load(Ordering::Relaxed));
        let records = self.mv.records();
        let ran = !self.alone && parts >= 2 && lens[..parts].iter().all(|&l| l != NOT_READ);
        let Self { mut mv, receipts, out, state, pooled, pool, .. } = self;
        let out = settled(out);
        let len = match ran.then(|| merge_runs(out, records, parts, &lens)).flatten() {
            Some(len) => len,
            None => {
                let len = read_versions(state, mv.final_versions(), out)?;
                sort_by_key(&mut out[..len]);
                len
            }
        };
        let len = match pooled {
            Some(ben) => add_credits(out, len, ben, &pool.get())?,
            None => len,
        };
        Ok(Outcome { receipts: &receipts[..n], writes: &mut out[..len], stats })
    }
}

/// Adds the pooled credits to the beneficiary's balance `ben` in the sorted write set
/// `out[..len]`, where its record (reserved by the first credit, with no version) read
/// out as the committed value; or takes the balance out again when no transaction's last
/// incarnation credited it. Returns the write set's new length.
fn add_credits(
    out: &mut [StateEntry],
    len: usize,
    ben: StateKey,
    pool: &Pool,
) -> Result<usize, BlockError> {
    match out[..len].binary_search_by(|e| e.key.cmp(&ben)) {
        Ok(i) if pool.count != 0 => {
            out[i].value = out[i].value.wrapping_add(pool.sum);
            Ok(len)
        }
        Ok(i) => {
            out.copy_within(i + 1..len, i);
            Ok(len - 1)
        }
        Err(_) if pool.count == 0 => Ok(len),
        Err(_) => Err(BlockError::Invariant(Invariant::PooledCredits)),
    }
}

/// Merges the parts' sorted runs (part `p`'s: `lens[p]` entries from `out.len() -
/// records` plus the start of its range) into `out[..total]`; returns `total`, or `None`
/// (nothing done) if a run does not lie within its range and the output, or if the
/// merge could overwrite an entry it has yet to read.
///
/// The merge writes entry `w` once it has taken `w` entries from the runs. Run `q`'s
/// next entry lies at `top + start_q + taken_q` (`top = out.len() - records`, `start_q`
/// its range's start), and in front of it at most the other runs' `total - len_q`
/// entries are written: so when `total - len_q < top + start_q` for every run `q` that
/// has entries, no write lands on an entry not yet taken.
fn merge_runs(out: &mut [StateEntry], records: usize, parts: usize, lens: &[u32]) -> Option<usize> {
    let parts = parts.min(READ_PARTS);
    let top = out.len().checked_sub(records)?;
    let mut heads = [0usize; READ_PARTS];
    let mut ends = [0usize; READ_PARTS];
    let mut total = 0;
    for p in 0..parts {
        let range = part_range(p, parts, records);
        let len = *lens.get(p)? as usize;
        if len > range.len() {
            return None;
        }
        heads[p] = top + range.start;
        ends[p] = heads[p] + len;
        total += len;
    }
    if (0..parts).any(|q| ends[q] > heads[q] && total - (ends[q] - heads[q]) >= heads[q]) {
        return None;
    }
    let mut len = 0;
    loop {
        // The run whose head has the smallest key (keys are distinct across the runs).
        let mut min: Option<usize> = None;
        for p in 0..parts {
            if heads[p] < ends[p] && min.is_none_or(|m| out[heads[p]].key < out[heads[m]].key) {
                min = Some(p);
            }
        }
        let Some(m) = min else { return Some(len) };
        out[len] = out[heads[m]];
        heads[m] += 1;
        len += 1;
    }
}

/// Writes `versions` to `out` (keys that only received deltas get the committed value
/// added); returns how many.
fn read_versions<S: StateReader>(
    state: &S,
    versions: FinalVersions<'_, '_>,
    out: &mut [StateEntry],
) -> Result<usize, BlockError> {
    let mut len = 0;
    let mut bad = None;
    // Keys that only received deltas need their committed value: a state lookup,
    // two dependent cache misses. They are prefetched (index slot, then entry) and
    // read `STATE_LAG` such keys later; meanwhile `out[i].value` holds the delta.
    const STATE_LAG: usize = 16;
    let mut lagging = [0usize; STATE_LAG];
    let mut lagged = 0usize;
    let resolve = |e: &mut StateEntry| e.value = state.read(&e.key).wrapping_add(e.value);
    for (key, read) in versions {
        let (value, delta) = match read {
            MvRead::Value(v) => (v, false),
            MvRead::Storage(d) => (d, true),
            MvRead::Dependency(_) => {
                bad = Some(BlockError::Invariant(Invariant::EstimateLeft));
                continue;
            }
        };
        let given = out.len();
        let Some(slot) = out.get_mut(len) else {
            bad = Some(BlockError::BufferTooSmall { buffer: "writes", needed: len + 1, given });
            len += 1;
            continue;
        };
        *slot = StateEntry { key, value };
        if delta {
            state.prefetch(&key, key.table_hash(), 0);
            let at = lagged % STATE_LAG;
            // `lagging` only holds indices of entries already written.
            if lagged >= STATE_LAG {
                if let Some(e) = out.get_mut(lagging[at]) {
                    resolve(e);
                }
            }
            if lagged >= STATE_LAG / 2 {
                if let Some(e) = out.get(lagging[(lagged - STATE_LAG / 2) % STATE_LAG]) {
                    state.prefetch(&e.key, e.key.table_hash(), 1);
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
    match bad {
        Some(e) => Err(e),
        None => Ok(len),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    extern crate std;
    use super::*;
    use crate::types::{Address, StateKey};
    use std::{vec, vec::Vec};

    fn entry(addr: u64, value: u64) -> StateEntry {
        StateEntry { key: StateKey::balance(Address(addr)), value }
    }

    /// Lays `runs` (addresses, sorted) out at the top of `out` as the read-out parts do,
    /// merges them, and checks the result against a sort of the same entries.
    fn merge_at_the_top(out_len: usize, records: usize, runs: &[&[u64]]) -> Option<usize> {
        let mut out = vec![entry(u64::MAX, 0); out_len];
        let top = out_len - records;
        let mut lens = vec![0u32; runs.len()];
        let mut want = Vec::new();
        for (p, run) in runs.iter().enumerate() {
            let start = top + part_range(p, runs.len(), records).start;
            for (i, &a) in run.iter().enumerate() {
                out[start + i] = entry(a, a * 10);
                want.push(a);
            }
            lens[p] = run.len() as u32;
        }
        want.sort_unstable();
        let total = merge_runs(&mut out, records, runs.len(), &lens)?;
        assert_eq!(total, want.len());
        assert!(out[..total].iter().map(|e| e.key.addr.0).eq(want.iter().copied()));
        assert!(out[..total].iter().all(|e| e.value == e.key.addr.0 * 10));
        Some(total)
    }

    #[test]
    fn runs_merge_into_the_sorted_write_set_below_them() {
        // 10 records in 3 parts (ranges 0..3, 3..6, 6..10).
        let runs: [&[u64]; 3] = [&[2, 9], &[1, 5, 7], &[0, 3, 4, 8]];
        assert_eq!(merge_at_the_top(20, 10, &runs), Some(9));
        // The other runs could put 9 - 2 entries in front of the first run's head: it
        // must lie above 7.
        assert_eq!(merge_at_the_top(18, 10, &runs), Some(9));
        assert_eq!(merge_at_the_top(17, 10, &runs), None);
        // Two full runs over 10 records (ranges 0..5, 5..10) with 5 entries beneath
        // them: the second run's 5 could overwrite the first's head, so no merge.
        let full: [&[u64]; 2] = [&[1, 3, 5, 7, 9], &[0, 2, 4, 6, 8]];
        assert_eq!(merge_at_the_top(15, 10, &full), None);
        assert_eq!(merge_at_the_top(16, 10, &full), Some(10));
        // Runs shorter than their ranges need less room.
        let short: [&[u64]; 2] = [&[1, 3, 5], &[0, 2, 4]];
        assert_eq!(merge_at_the_top(14, 10, &short), Some(6));
        assert_eq!(merge_at_the_top(13, 10, &short), None);
    }

    /// Every layout of small runs that `merge_runs` accepts merges exactly (the check
    /// above against overwriting), and an output of twice the records is always taken.
    /// The keys interleave the runs, or put them one after another either way (the
    /// runs at the bottom taken last: the case the check guards against).
    #[test]
    fn every_accepted_layout_merges_exactly() {
        let orders: [fn(u64, u64, u64) -> u64; 3] = [
            |i, p, parts| i * parts + p,
            |i, p, _| p * 100 + i,
            |i, p, parts| (parts - p) * 100 + i,
        ];
        for records in 0..9usize {
            for parts in 2..5usize {
                for extra in 0..=records {
                    // Runs as long as their ranges, or one short.
                    for (short, key) in (0..2usize).flat_map(|s| orders.map(|o| (s, o))) {
                        let mut runs = Vec::new();
                        for p in 0..parts {
                            let n = part_range(p, parts, records).len().saturating_sub(short);
                            let (p, parts) = (p as u64, parts as u64);
                            runs.push((0..n as u64).map(|i| key(i, p, parts)).collect::<Vec<_>>());
                        }
                        let runs: Vec<&[u64]> = runs.iter().map(|r| r.as_slice()).collect();
                        let merged = merge_at_the_top(records + extra, records, &runs);
                        if extra == records {
                            assert!(merged.is_some(), "{records} {parts} {extra} {short}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_run_outside_its_range_or_the_output_is_refused() {
        let mut out = [entry(0, 0); 12];
        // Part 0 of 2 over 6 records has 3 records: a run of 4 cannot be its.
        assert_eq!(merge_runs(&mut out, 6, 2, &[4, 0]), None);
        // More records than the output holds.
        assert_eq!(merge_runs(&mut out, 13, 2, &[0, 4]), None);
        assert_eq!(merge_runs(&mut out, 0, 2, &[0, 0]), Some(0));
    }
}
