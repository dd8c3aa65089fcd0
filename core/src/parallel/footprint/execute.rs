//! The footprint engine's execute phase: batches claimed in block order, each
//! transaction run once against its planned values (see the module docs).

use crate::exec::{execute_transaction, View, Write};
use crate::vm::{Interrupt, VmScratch};

use crate::error::Abort;
use crate::state::{prefetch, StateReader};
use crate::sync::Ordering;

use super::lanes::Lanes;

/// Where a transaction being executed comes from: a batch (its first transaction, which
/// keeps the batch's claim, or another), or a stamped lane (which its `done` word keeps).
#[derive(Clone, Copy)]
pub(super) enum Lane {
    First,
    Batch,
    Stamped(usize),
}
use super::*;

/// The view of one transaction: the value before it of each chained footprint key.
struct FootprintView<'f> {
    fp: &'f Footprint,
    /// Chained keys' values before the transaction; 0 for the others.
    before: [u64; FOOTPRINT_MAX],
    /// Bit `j`: key `j` is chained.
    chained: u32,
    /// The transaction read a key the plan gives it no value for (then the execution is
    /// discarded and the block fails with `OffFootprint`).
    off: bool,
}

impl View for FootprintView<'_> {
    #[inline]
    fn read(&mut self, key: &StateKey) -> Result<u64, Interrupt> {
        match self.fp.position(key) {
            Some(j) if self.chained & 1 << j != 0 => Ok(self.before[j]),
            _ => {
                self.off = true;
                Ok(0)
            }
        }
    }
}

/// The transactions a worker set aside (see "Execute" in the module docs), in block
/// order: each, where it comes from, and the previous toucher it found not done.
pub(super) struct Aside {
    txs: [(usize, Lane, usize); ASIDE],
    held: usize,
    /// At most this many (0: never any).
    most: usize,
}

impl Aside {
    /// Room for [`ASIDE`] transactions set aside; none if `alone` (a worker that runs
    /// the whole block would only set aside what waits for its own).
    pub(super) const fn new(alone: bool) -> Self {
        Self { txs: [(0, Lane::Batch, 0); ASIDE], held: 0, most: if alone { 0 } else { ASIDE } }
    }

    /// Forgets those aside (none of them ran).
    pub(super) fn clear(&mut self) {
        self.held = 0;
    }
}

/// One worker while it executes: its access set and VM scratch, what it counts, how it
/// idles while it waits, and the lanes it claimed.
pub(super) struct Worker<'w, 's, I> {
    pub(super) acc: &'w mut AccessSet<'s>,
    pub(super) vm: &'w mut VmScratch<'s>,
    pub(super) tally: Tally,
    pub(super) idle: &'w mut I,
    pub(super) lanes: Lanes,
}

/// What one worker counts while executing, added to the executor's totals when it has
/// nothing left to execute.
#[derive(Default)]
pub(super) struct Tally {
    /// The beneficiary's credits are pooled (`FootprintEngine::pooled`, read once).
    pub(super) pooling: bool,
    /// Transactions executed.
    pub(super) executed: u32,
    pub(super) waits: u32,
    pub(super) gas: u64,
    pub(super) undeclared: u64,
    /// The sum of the pooled credits, and whether there was any.
    pub(super) pooled: (u64, bool),
}

impl<S: StateReader + Sync> FootprintEngine<'_, S> {
    /// Runs the block in batches of `batch` transactions (execute, when no chain is hot;
    /// `batch` is the whole block when it runs in one lane). Each worker has its own
    /// batches (every `parts`-th, from its index), so that from block to block the same
    /// worker writes the same transactions' memory and finds it in its cache. It claims
    /// its next own batch when it starts the current one, and before starting an own
    /// batch it runs any lower batch that nobody claimed (a missing or lagging
    /// worker's). So every batch a transaction may wait on is claimed, and each worker
    /// runs its claimed batches in block order: the lowest unfinished transaction can
    /// always run, with any number of workers.
    pub(super) fn run_batches(
        &self,
        index: usize,
        batch: usize,
        w: &mut Worker<'_, '_, impl FnMut(u32)>,
    ) -> Result<(), Abort> {
        let batches = self.txs.len().div_ceil(batch);
        // One batch: this worker runs the whole block.
        let aside = &mut Aside::new(batches == 1);
        let mut cursor = 0;
        let mut own = index % self.parts;
        let mut mine = own < batches && self.claim_batch(own, batch);
        loop {
            while cursor < own.min(batches) {
                if self.claim_batch(cursor, batch) {
                    self.run_batch(cursor, batch, aside, w)?;
                }
                cursor += 1;
            }
            if self.failed() {
                return Ok(());
            }
            if own >= batches {
                return self.run_aside(aside, true, w);
            }
            let next = own + self.parts;
            let next_mine = next < batches && self.claim_batch(next, batch);
            if mine {
                self.run_batch(own, batch, aside, w)?;
            }
            cursor = own + 1;
            (own, mine) = (next, next_mine);
        }
    }

    /// Claims batch `b` (of `batch` transactions), through its first transaction's flag.
    fn claim_batch(&self, b: usize, batch: usize) -> bool {
        // Relaxed: the claim only decides who runs the batch; results are published by
        // the `done` flags and `exec_done`.
        // Looking before claiming keeps the line shared while its owner writes the
        // batch's other `done` flags.
        let flag = &self.mem.done[b * batch].0;
        let mut word = flag.load(Ordering::Relaxed);
        loop {
            let flags = self.flags(word);
            if flags & CLAIMED != 0 {
                return false;
            }
            let claimed = self.round << ROUND_SHIFT | flags | CLAIMED;
            match flag.compare_exchange(word, claimed, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => word = now,
            }
        }
    }

    /// Runs claimed batch `b`, setting aside the transactions whose previous touchers
    /// are not done yet (see "Execute" in the module docs): those run once their
    /// touchers are done, checked before each next transaction, or waiting when
    /// [`ASIDE`] are aside.
    fn run_batch(
        &self,
        b: usize,
        batch: usize,
        aside: &mut Aside,
        w: &mut Worker<'_, '_, impl FnMut(u32)>,
    ) -> Result<(), Abort> {
        let (n, start) = (self.txs.len(), b * batch);
        for t in start..((b + 1) * batch).min(n) {
            // The first transaction of a batch keeps its batch's claim.
            let lane = if t == start { Lane::First } else { Lane::Batch };
            self.run_or_set_aside(t, lane, aside, w)?;
        }
        Ok(())
    }

    /// Runs transaction `t` of lane `lane`, or sets it aside if a previous toucher is
    /// not done yet: first runs those set aside whose touchers are done, and if
    /// [`ASIDE`] are still aside, all of them (waiting).
    pub(super) fn run_or_set_aside(
        &self,
        t: usize,
        lane: Lane,
        aside: &mut Aside,
        w: &mut Worker<'_, '_, impl FnMut(u32)>,
    ) -> Result<(), Abort> {
        self.prefetch_ahead(t);
        if aside.held > 0 {
            self.run_aside(aside, false, w)?;
            if aside.held == aside.most {
                self.run_aside(aside, true, w)?;
            }
        }
        if let Some(prev) = self.execute(t, lane, aside.most > 0, w)? {
            aside.txs[aside.held] = (t, lane, prev);
            aside.held += 1;
        }
        Ok(())
    }

    /// Runs the transactions set aside, in block order: with `wait`, every one
    /// (waiting for what it waits for); otherwise those whose previous toucher is done
    /// now, keeping the others aside (perhaps waiting for another key now). If waiting
    /// made this worker claim a lane (`before_wait`), the rest are dropped: the caller
    /// (`run_below`) scans its lanes again from the start and finds them there, in
    /// order with the new lane's transactions (which the rest may wait for).
    pub(super) fn run_aside(
        &self,
        aside: &mut Aside,
        wait: bool,
        w: &mut Worker<'_, '_, impl FnMut(u32)>,
    ) -> Result<(), Abort> {
        let (mut kept, mask) = (0, w.lanes.claimed());
        for k in 0..aside.held {
            let (t, lane, prev) = aside.txs[k];
            // Relaxed: only a hint; `execute` loads the word again (acquire) before it
            // reads the toucher's values.
            if !wait && self.flags(self.mem.done[prev].0.load(Ordering::Relaxed)) & DONE == 0 {
                aside.txs[kept] = (t, lane, prev);
                kept += 1;
                continue;
            }
            if let Some(prev) = self.execute(t, lane, !wait, w)? {
                aside.txs[kept] = (t, lane, prev);
                kept += 1;
            }
            if w.lanes.claimed() != mask {
                aside.clear();
                return Ok(());
            }
        }
        aside.held = kept;
        Ok(())
    }

    /// Starts loading what later transactions than `t` read first, written by the
    /// planners (on other cores, for other partitions), each a miss that the next needs:
    /// the places of their touches (`at`) 16 transactions ahead, the touches' sources
    /// there 8 ahead, and the previous touchers' values and `done` words 4 ahead.
    #[inline(always)]
    pub(super) fn prefetch_ahead(&self, t: usize) {
        let w = self.width;
        if let Some(at) = self.mem.at.get((t + PREFETCH_INDEX) * w) {
            prefetch(at);
        }
        let cells = (t + PREFETCH_ENTRY) * w;
        for at in self.mem.at.get(cells..cells + w).unwrap_or(&[]) {
            if let Some(touch) = self.mem.list.get(at.get() as usize) {
                prefetch(touch);
            }
        }
        let cells = (t + PREFETCH_DONE) * w;
        for at in self.mem.at.get(cells..cells + w).unwrap_or(&[]) {
            if let Some(touch) = self.mem.list.get(at.get() as usize) {
                let prev = touch.get().source().prev;
                if prev != NONE {
                    if let Some(value) = self.mem.values.get(prev as usize) {
                        prefetch(value);
                    }
                    if let Some(done) = self.mem.done.get(self.tx_of(prev as usize)) {
                        prefetch(done);
                    }
                }
            }
        }
    }

    /// The source of cell `cell`: the plan wrote it at the place of the cell's touch in
    /// `list` (`at`, from the scatter).
    #[inline]
    pub(super) fn source(&self, cell: usize) -> Source {
        self.mem.list[self.mem.at[cell].get() as usize].get().source()
    }

    /// The flags of a `done` word in this block (none if stamped by another block).
    #[inline]
    pub(super) fn flags(&self, word: u32) -> u32 {
        if word >> ROUND_SHIFT == self.round {
            word & ((1 << ROUND_SHIFT) - 1)
        } else {
            0
        }
    }

    /// Executes transaction `t` (execute), of a batch or of lane `lane`. With
    /// `set_aside`, a transaction whose previous toucher of some key is not done yet is
    /// not executed: returns that toucher. Otherwise, before waiting for it, lets
    /// `before_wait` run that toucher's lane if nobody claimed it (which runs this
    /// worker's lanes below `t`: so every transaction below `t` that this worker set
    /// aside must be done by then, as `run_aside` ensures).
    pub(super) fn execute(
        &self,
        t: usize,
        lane: Lane,
        set_aside: bool,
        w: &mut Worker<'_, '_, impl FnMut(u32)>,
    ) -> Result<Option<usize>, Abort> {
        let tx = &self.txs[t];
        // Set in place rather than returned by `Footprint::of`, whose 272 bytes were
        // copied with a call to `memmove` here (see `Footprint::set`).
        let mut fp = Footprint::new();
        fp.set(tx, self.env.beneficiary);
        if fp.len() == 0 {
            return Err(Abort::OffFootprint);
        }
        let mut view =
            FootprintView { fp: &fp, before: [0; FOOTPRINT_MAX], chained: 0, off: false };
        let cells = t * self.width;
        // Keys declared read-only by every toucher: a write to one breaks the plan.
        let mut fixed = 0u32;
        let pooled = w.tally.pooling;
        for j in 0..fp.len() {
            if self.is_pooled(&fp, j, pooled) {
                // A pooled credit has no source: the transaction only adds to it.
                continue;
            }
            let src = self.source(cells + j);
            if !src.chained() {
                continue;
            }
            view.chained |= 1 << j;
            fixed |= (src.fixed() as u32) << j;
            view.before[j] = if src.prev == NONE {
                src.base
            } else {
                let prev = src.prev as usize;
                let toucher = self.tx_of(prev);
                let done = &self.mem.done[toucher].0;
                // Acquire: pairs with the release store of the previous toucher, so its
                // value below is complete.
                if self.flags(done.load(Ordering::Acquire)) & DONE == 0 {
                    if set_aside {
                        return Ok(Some(toucher));
                    }
                    self.before_wait(t, toucher, w)?;
                    w.tally.waits += 1;
                    let mut spins = 0;
                    while self.flags(done.load(Ordering::Acquire)) & DONE == 0 {
                        if self.failed() {
                            // Another worker's abort ended the block (and is the one
                            // recorded: the first raised wins).
                            return Err(Abort::OffFootprint);
                        }
                        spins += 1;
                        (w.idle)(spins);
                    }
                }
                self.mem.values[prev].get()
            };
        }
        let receipt = execute_transaction(tx, &self.env, &mut view, w.acc, w.vm)
            .map_err(|_| Abort::OffFootprint)?;
        if view.off {
            return Err(Abort::OffFootprint);
        }
        // What each footprint key holds after `t`: chained keys their full value (kept
        // when not written), summed keys their delta (0 when not written, as `before`
        // holds them); and which keys `t` wrote (bit `j`).
        let mut after = view.before;
        let mut wrote = 0u32;
        for a in w.acc.accesses() {
            let j = fp.position(&a.key).ok_or(Abort::OffFootprint)?;
            if a.write == Write::None {
                continue;
            }
            if fixed & 1 << j != 0 {
                return Err(Abort::OffFootprint);
            }
            after[j] = match (view.chained & 1 << j != 0, a.write) {
                (true, Write::Set(v)) => v,
                (true, Write::Add(d)) => view.before[j].wrapping_add(d),
                (false, Write::Add(d)) => d,
                _ => return Err(Abort::OffFootprint),
            };
            wrote |= 1 << j;
        }
        let base = t * self.width;
        for (j, v) in after.iter().enumerate().take(fp.len()) {
            if self.is_pooled(&fp, j, pooled) {
                let wrote_it = wrote & 1 << j != 0;
                w.tally.pooled = (w.tally.pooled.0.wrapping_add(*v), w.tally.pooled.1 | wrote_it);
            }
            self.mem.values[base + j].set(*v);
        }
        let wrote = wrote << WROTE_SHIFT;
        w.tally.gas = w.tally.gas.saturating_add(receipt.gas_used);
        w.tally.undeclared += receipt.undeclared_access as u64;
        self.receipts[t].set(receipt);
        w.tally.executed += 1;
        // Release: publishes the values and receipt written above. (A lane stays.)
        let kept = match lane {
            Lane::First => CLAIMED,
            Lane::Batch => 0,
            Lane::Stamped(lane) => (lane as u32) << LANE_SHIFT,
        };
        let flags = kept | DONE | wrote;
        self.mem.done[t].0.store(self.round << ROUND_SHIFT | flags, Ordering::Release);
        Ok(None)
    }
}
