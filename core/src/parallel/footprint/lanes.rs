//! The footprint engine's lanes: which worker runs which transactions (see "Execute" in
//! the module docs). A block whose batches would mostly wait for each other (one
//! transaction in [`SERIAL_RATIO`] reads a key written fewer than [`NEAR`] transactions
//! before) is dealt to lanes instead: each transaction joins the lane of its heaviest
//! chain (the chained key with the most touches in the block) when that chain is hot
//! (at least [`HOT`] touches), and that of its batch otherwise. A worker claims lanes
//! and runs their transactions in block order, so a chain that stays in one lane never
//! waits; if the lanes would still wait for each other as often, the block runs in one
//! lane.

use crate::error::Abort;
use crate::state::StateReader;
use crate::sync::Ordering;
use crate::tx::Footprint;

use super::execute::{Aside, Lane, Worker};
use super::*;

/// One worker's lanes: those it claimed (bit `l`).
pub(super) struct Lanes {
    mask: u32,
    /// How the block's transactions are dealt to lanes.
    kind: LaneKind,
}

/// How a block's transactions are dealt to lanes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum LaneKind {
    /// One lane (the lanes would mostly wait for each other).
    Single,
    /// Batches of [`BATCH`] in turn (no chain is hot).
    Batches,
    /// As `assign` stamped them.
    Stamped,
}

impl Lanes {
    /// For a block run in batches (`FootprintEngine::run_batches`).
    pub(super) fn batches() -> Self {
        Self { mask: 0, kind: LaneKind::Batches }
    }

    /// The lanes this worker claimed (bit `l`).
    pub(super) fn claimed(&self) -> u32 {
        self.mask
    }

    /// Whether this worker claimed `lane`.
    fn has(&self, lane: usize) -> bool {
        self.mask & 1 << lane != 0
    }
}

impl<S: StateReader + Sync> FootprintEngine<'_, S> {
    /// Whether batches would wait for each other (one transaction in [`SERIAL_RATIO`]
    /// with a near dependency) in a block of more than one batch: then `assign` deals
    /// the transactions to lanes. (A block of one batch runs on one worker either way.)
    pub(super) fn chained_block(&self) -> bool {
        // Relaxed: read after the acquire that saw `plan_done` complete.
        let near = self.near.load(Ordering::Relaxed) as usize;
        let n = self.txs.len();
        self.parts > 1 && n > BATCH && near * SERIAL_RATIO >= n
    }

    /// How this block's transactions go to lanes: in batches, unless they would wait for
    /// each other; then in stamped lanes, unless those would wait as often (counted by
    /// `cross`) or one lane holds three in four transactions; then in one lane.
    pub(super) fn lane_kind(&self) -> LaneKind {
        if self.parts == 1 {
            LaneKind::Single
        } else if !self.chained_block() {
            // One batch per worker and no near dependency, or a block of one batch.
            let near = self.near.load(Ordering::Relaxed) as usize;
            if near * SERIAL_RATIO >= self.txs.len() {
                LaneKind::Single
            } else {
                LaneKind::Batches
            }
        } else {
            // Relaxed: read after the acquire that saw `crossed` complete.
            let n = self.txs.len();
            let cross = self.cross.load(Ordering::Relaxed) as usize;
            let busiest = self.loads.iter().map(|l| l.load(Ordering::Relaxed)).max().unwrap_or(0);
            if cross * SERIAL_RATIO >= n || 4 * busiest as usize >= 3 * n {
                LaneKind::Single
            } else {
                LaneKind::Stamped
            }
        }
    }

    /// Transaction `t`'s lane, as `assign` stamped it in its `done` word.
    #[inline]
    fn stamp_of(&self, t: usize) -> usize {
        // Relaxed: stamped before `assigned` was released, and kept by every later store.
        let flags = self.flags(self.mem.done[t].0.load(Ordering::Relaxed));
        (flags >> LANE_SHIFT) as usize & (MAX_PARTITIONS - 1)
    }

    /// Calls `f(source, record)` for every planned (not pooled) footprint key of `t`.
    /// (`fp` is the caller's, set here: see [`Footprint::set`].)
    fn sources_of(
        &self,
        t: usize,
        pooled: bool,
        fp: &mut Footprint,
        mut f: impl FnMut(Source, &KeyRecord),
    ) {
        fp.set(&self.txs[t], self.env.beneficiary);
        for j in 0..fp.len() {
            if !self.is_pooled(fp, j, pooled) {
                let src = self.source(t * self.width + j);
                f(src, &self.mem.keys[src.id()].get());
            }
        }
    }

    /// Deals the hot chains (chained keys with at least [`HOT`] touches) to the lanes,
    /// each to the lane with the fewest touches so far, in partition and key order
    /// (balance: one worker, before `assign`).
    pub(super) fn balance(&self) {
        let mut loads = [0u32; MAX_PARTITIONS];
        for p in 0..self.parts {
            let ids = self.counts[p].load(Ordering::Relaxed) as usize;
            for k in &self.mem.keys[self.key_region(p)][..ids] {
                let mut rec = k.get();
                if rec.chained && !rec.fixed && rec.touches() >= HOT {
                    // The least loaded lane (the first on ties).
                    let lane =
                        (1..self.parts).fold(0, |l, m| if loads[m] < loads[l] { m } else { l });
                    loads[lane] += rec.touches();
                    rec.lane = lane as u8;
                    k.set(rec);
                }
            }
        }
    }

    /// Stamps the lane of every transaction of chunk `c` (assign): that of its heaviest
    /// chain (ties: the first key of its footprint) when that chain is hot (see
    /// `balance`); otherwise that of its batch ([`BATCH`] consecutive transactions,
    /// dealt to the lanes in turn), which keeps neighbouring transactions (and their
    /// memory) with one worker.
    pub(super) fn assign(&self, c: usize) -> Result<(), Abort> {
        let pooled = self.pooled();
        let mut loads = [0u32; MAX_PARTITIONS];
        let mut fp = Footprint::new();
        for t in self.chunk(c) {
            let (mut weight, mut hot) = (0, 0);
            self.sources_of(t, pooled, &mut fp, |src, rec| {
                if src.chained() && !src.fixed() && rec.touches() > weight {
                    (weight, hot) = (rec.touches(), rec.lane as usize);
                }
            });
            let lane = if weight >= HOT { hot } else { t / BATCH % self.parts };
            // Relaxed: published by `assigned`; nobody executes before that.
            let word = self.round << ROUND_SHIFT | (lane as u32) << LANE_SHIFT;
            self.mem.done[t].0.store(word, Ordering::Relaxed);
            loads[lane] += 1;
        }
        for (total, load) in self.loads.iter().zip(loads) {
            // Relaxed: published by `assigned`.
            total.fetch_add(load, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Counts the transactions of chunk `c` that depend on a transaction of another lane
    /// fewer than [`NEAR`] transactions before them (cross): they may wait.
    pub(super) fn cross(&self, c: usize) -> Result<(), Abort> {
        let pooled = self.pooled();
        let mut cross = 0;
        let mut fp = Footprint::new();
        for t in self.chunk(c) {
            let lane = self.stamp_of(t);
            let mut waits = false;
            self.sources_of(t, pooled, &mut fp, |src, _| {
                if src.chained() && src.prev != NONE {
                    let p = self.tx_of(src.prev as usize);
                    waits |= t - p < NEAR && self.stamp_of(p) != lane;
                }
            });
            cross += waits as u32;
        }
        self.cross.fetch_add(cross, Ordering::Relaxed);
        Ok(())
    }

    fn claim_lane(&self, lane: usize) -> bool {
        // Relaxed: the claim only hands the lane out once; results are published by the
        // `done` flags and `exec_done`.
        self.lane_claims[lane].swap(1, Ordering::Relaxed) == 0
    }

    /// Whether lane `lane` is claimed, by anyone.
    pub(super) fn lane_claimed(&self, lane: usize) -> bool {
        self.lane_claims[lane].load(Ordering::Relaxed) != 0
    }

    /// Runs the stamped lanes (execute, when some chain is hot): this worker's own lane
    /// (its index), with the lanes it claims on the way (a transaction about to wait for
    /// one nobody claimed), then every lane nobody claimed. Each lane is claimed once; a
    /// worker runs the transactions of all its lanes in block order (see `run_below`),
    /// so the lowest unfinished transaction can always run: no deadlock, whatever the
    /// number of workers.
    pub(super) fn run_lanes(
        &self,
        index: usize,
        w: &mut Worker<'_, '_, impl FnMut(u32)>,
    ) -> Result<(), Abort> {
        let lanes = self.parts;
        let n = self.txs.len();
        w.lanes = Lanes { mask: 0, kind: LaneKind::Stamped };
        if self.claim_lane(index % lanes) {
            w.lanes.mask |= 1 << (index % lanes);
            self.run_below(n, w)?;
        }
        for lane in 0..lanes {
            if self.claim_lane(lane) {
                w.lanes.mask |= 1 << lane;
                self.run_below(n, w)?;
            }
        }
        Ok(())
    }

    /// Runs, in block order, every transaction below `limit` of this worker's lanes that
    /// is not done yet, setting aside those whose previous touchers are not done (as in
    /// batches: see "Execute" in the module docs). A lane claimed meanwhile (by
    /// `before_wait`, deeper down) makes it drop those set aside and start over, so
    /// that when it returns every transaction of its lanes below `limit` is done,
    /// whatever was claimed.
    fn run_below(
        &self,
        limit: usize,
        w: &mut Worker<'_, '_, impl FnMut(u32)>,
    ) -> Result<(), Abort> {
        let aside = &mut Aside::new(false);
        'scan: loop {
            let mask = w.lanes.mask;
            let mut t = 0;
            while t < limit {
                if w.lanes.mask != mask {
                    // Those set aside are not done: the scan finds them again.
                    aside.clear();
                    continue 'scan;
                }
                let lane = self.stamp_of(t);
                if !w.lanes.has(lane) {
                    t += 1;
                    continue;
                }
                // Relaxed: only this worker runs its lanes' transactions.
                let done = self.flags(self.mem.done[t].0.load(Ordering::Relaxed)) & DONE != 0;
                t += 1;
                if done {
                    continue;
                }
                self.run_or_set_aside(t - 1, Lane::Stamped(lane), aside, w)?;
            }
            // Running those set aside may claim lanes (`before_wait`), and then drops
            // the rest; as may the last transaction's turn above.
            if w.lanes.mask == mask {
                self.run_aside(aside, true, w)?;
            }
            if w.lanes.mask != mask {
                aside.clear();
                continue 'scan;
            }
            return Ok(());
        }
    }

    /// Before transaction `t` waits for `prev`: if nobody claimed `prev`'s lane, this
    /// worker claims it and runs its lanes up to `t` (so `prev` too), rather than wait
    /// for a lane nobody runs. (A `prev` in this worker's own lanes is done already:
    /// `run_below`.)
    pub(super) fn before_wait(
        &self,
        t: usize,
        prev: usize,
        w: &mut Worker<'_, '_, impl FnMut(u32)>,
    ) -> Result<(), Abort> {
        if w.lanes.kind != LaneKind::Stamped {
            // Batches: the batch of `prev` is claimed (see `run_batches`).
            return Ok(());
        }
        let lane = self.stamp_of(prev);
        if w.lanes.has(lane) {
            // Impossible (see above); an error rather than a wait that never ends.
            return Err(Abort::OffFootprint);
        }
        if !self.lane_claimed(lane) && self.claim_lane(lane) {
            w.lanes.mask |= 1 << lane;
            self.run_below(t, w)?;
        }
        Ok(())
    }
}
