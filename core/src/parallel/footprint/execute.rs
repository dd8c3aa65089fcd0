//! The footprint engine's execute phase: batches claimed in block order, each
//! transaction run once against its planned values (see the module docs).

use crate::exec::{execute_transaction, View, Write};
use crate::vm::Interrupt;

use crate::error::Abort;
use crate::state::{prefetch, StateReader};
use crate::sync::Ordering;

use super::*;

/// The view of one transaction: the value before it of each chained footprint key.
struct FootprintView {
    fp: Footprint,
    before: [u64; FOOTPRINT],
    chained: [bool; FOOTPRINT],
    /// The transaction read a key the plan gives it no value for (then the execution is
    /// discarded and the block fails with `OffFootprint`).
    off: bool,
}

impl View for FootprintView {
    #[inline]
    fn read(&mut self, key: &StateKey) -> Result<u64, Interrupt> {
        match self.fp.position(key) {
            Some(j) if self.chained[j] => Ok(self.before[j]),
            _ => {
                self.off = true;
                Ok(0)
            }
        }
    }
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
    /// Claims batch `b` (of `batch` transactions), through its first transaction's flag.
    pub(super) fn claim_batch(&self, b: usize, batch: usize) -> bool {
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

    /// The flags of a `done` word in this block (none if stamped by another block).
    #[inline]
    pub(super) fn flags(&self, word: u32) -> u32 {
        if word >> ROUND_SHIFT == self.round {
            word & ((1 << ROUND_SHIFT) - 1)
        } else {
            0
        }
    }

    /// Runs claimed batch `b`; on failure, sets the error and returns `Ok` early.
    pub(super) fn run_batch(
        &self,
        b: usize,
        batch: usize,
        acc: &mut AccessSet<'_>,
        vm: &mut crate::vm::VmScratch<'_>,
        tally: &mut Tally,
        idle: &mut impl FnMut(u32),
    ) -> Result<(), BlockError> {
        let n = self.txs.len();
        let (start, end) = (b * batch, ((b + 1) * batch).min(n));
        for t in start..end {
            // The sources of a later transaction, written by the planners (on other
            // cores, for other partitions): start loading them now.
            let ahead = (t + PREFETCH_ENTRY) * FOOTPRINT;
            if ahead < n * FOOTPRINT {
                for p in 0..self.parts {
                    prefetch(&self.mem.sources[self.region(p).start + ahead]);
                }
            }
            if let Err(code) = self.execute(t, t == start, acc, vm, tally, idle) {
                // Not counted as done: the read-out never starts on a failed block.
                self.fail(code);
                return Ok(());
            }
        }
        // Counted in `exec_done` when the worker is out of batches.
        tally.executed += (end - start) as u32;
        Ok(())
    }

    /// Executes transaction `t` (execute).
    pub(super) fn execute(
        &self,
        t: usize,
        first: bool,
        acc: &mut AccessSet<'_>,
        vm: &mut crate::vm::VmScratch<'_>,
        tally: &mut Tally,
        idle: &mut impl FnMut(u32),
    ) -> Result<(), Abort> {
        let tx = &self.txs[t];
        let fp = tx.footprint(self.env.beneficiary).ok_or(Abort::OffFootprint)?;
        let mut view =
            FootprintView { fp, before: [0; FOOTPRINT], chained: [false; FOOTPRINT], off: false };
        let cells = t * FOOTPRINT;
        let pooled = tally.pooling;
        for j in 0..fp.len() {
            if self.is_pooled(&fp, j, pooled) {
                // A pooled credit has no source: the transaction only adds to it.
                continue;
            }
            let p = self.partition(&fp.keys()[j]);
            let src = self.mem.sources[self.region(p).start + cells + j].get();
            if !src.chained {
                continue;
            }
            view.chained[j] = true;
            view.before[j] = if src.prev == NONE {
                src.base
            } else {
                let prev = src.prev as usize;
                let done = &self.mem.done[prev / FOOTPRINT].0;
                // Acquire: pairs with the release store of the previous toucher, so its
                // value below is complete.
                if self.flags(done.load(Ordering::Acquire)) & DONE == 0 {
                    tally.waits += 1;
                    let mut spins = 0;
                    while self.flags(done.load(Ordering::Acquire)) & DONE == 0 {
                        if self.failed() {
                            // Another worker's abort ended the block (and is the one
                            // recorded: the first raised wins).
                            return Err(Abort::OffFootprint);
                        }
                        spins += 1;
                        idle(spins);
                    }
                }
                self.mem.values[prev].get()
            };
        }
        let receipt = execute_transaction(tx, &self.env, &mut view, acc, vm)
            .map_err(|_| Abort::OffFootprint)?;
        if view.off {
            return Err(Abort::OffFootprint);
        }
        // What each footprint key holds after `t`: chained keys their full value (kept
        // when not written), summed keys their delta; and whether `t` wrote it.
        let mut after = [(0u64, false); FOOTPRINT];
        for ((a, chained), before) in after.iter_mut().zip(view.chained).zip(view.before) {
            a.0 = if chained { before } else { 0 };
        }
        for a in acc.accesses() {
            let j = fp.position(&a.key).ok_or(Abort::OffFootprint)?;
            after[j] = match (view.chained[j], a.write) {
                (_, Write::None) => after[j],
                (true, Write::Set(v)) => (v, true),
                (true, Write::Add(d)) => (view.before[j].wrapping_add(d), true),
                (false, Write::Add(d)) => (d, true),
                (false, Write::Set(_)) => return Err(Abort::OffFootprint),
            };
        }
        let base = t * FOOTPRINT;
        let mut wrote = 0;
        for (j, (v, w)) in after.iter().enumerate().take(fp.len()) {
            if self.is_pooled(&fp, j, pooled) {
                tally.pooled = (tally.pooled.0.wrapping_add(*v), tally.pooled.1 | *w);
            }
            self.mem.values[base + j].set(*v);
            wrote |= (*w as u32) << (WROTE_SHIFT + j as u32);
        }
        tally.gas = tally.gas.saturating_add(receipt.gas_used);
        tally.undeclared += receipt.undeclared_access as u64;
        self.receipts[t].set(receipt);
        // Release: publishes the values and receipt written above.
        // (The first transaction of a batch keeps its batch's claim.)
        let flags = if first { DONE | CLAIMED | wrote } else { DONE | wrote };
        let flag = self.round << ROUND_SHIFT | flags;
        self.mem.done[t].0.store(flag, Ordering::Release);
        Ok(())
    }
}
