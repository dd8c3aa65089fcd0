//! The sequential reference executor: transactions one after another, each seeing every
//! earlier write. Its output defines what the parallel engine must reproduce bit for bit.
//!
//! Memory: a block overlay (an open-addressing table of the words the block wrote, with
//! their latest values) and one [`AccessSet`], both from the caller
//! ([`SeqMemory::lengths`]). Committed state is only read; [`crate::block::commit`]
//! applies the sorted write set afterwards.

use crate::error::BlockError;
use crate::exec::{execute_transaction, Access, AccessSet, BlockEnv, View, Write};
use crate::receipt::Receipt;
use crate::state::{StateEntry, StateReader};
use crate::tx::Transaction;
use crate::types::StateKey;
use crate::vm::{Interrupt, VmScratch};

use crate::state::EMPTY;

/// Caller memory for one sequential block.
pub struct SeqMemory<'a> {
    /// Overlay index: a power of two, at least `2 * writes.len()`.
    pub index: &'a mut [u32],
    /// Overlay entries: at least the number of distinct keys the block writes
    /// (`txs * limits.writes_per_tx()` always suffices).
    pub writes: &'a mut [StateEntry],
    /// One access set: `limits.access_entries()`.
    pub access: &'a mut [Access],
}

impl SeqMemory<'_> {
    /// `(index, writes, access)` lengths that always suffice for `txs` transactions.
    pub const fn lengths(txs: usize, limits: &crate::exec::Limits) -> (usize, usize, usize) {
        let w = if txs == 0 { 1 } else { txs * limits.writes_per_tx() };
        ((2 * w).next_power_of_two(), w, limits.access_entries())
    }
}

/// What executing a block produced, before commitment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecStats {
    /// Gas used by all transactions.
    pub gas_used: u64,
    /// Transaction executions beyond one per transaction (parallel engine only).
    pub reexecutions: u64,
    /// Validations that failed (parallel engine only).
    pub aborts: u64,
    /// Reads that waited on an estimate (parallel engine only).
    pub dependency_waits: u64,
    /// Transactions that touched keys outside their declared access list.
    pub undeclared: u64,
    /// True when the parallel engine ran the block sequentially instead.
    pub fell_back: bool,
}

struct Overlay<'m> {
    index: &'m mut [u32],
    entries: &'m mut [StateEntry],
    len: usize,
}

impl Overlay<'_> {
    fn probe(&self, key: &StateKey) -> Result<usize, usize> {
        crate::state::probe(self.index, self.entries, key)
    }

    fn get(&self, key: &StateKey) -> Option<u64> {
        self.probe(key).ok().map(|i| self.entries[i].value)
    }

    fn set(&mut self, key: &StateKey, value: u64) -> Result<(), BlockError> {
        match self.probe(key) {
            Ok(i) => self.entries[i].value = value,
            Err(slot) => {
                // The index is at least twice the entries, so probing always finds an
                // empty slot while entries remain.
                if self.len >= self.entries.len() {
                    return Err(BlockError::BufferTooSmall {
                        buffer: "sequential writes",
                        needed: self.len + 1,
                        given: self.entries.len(),
                    });
                }
                self.entries[self.len] = StateEntry { key: *key, value };
                self.index[slot] = self.len as u32;
                self.len += 1;
            }
        }
        Ok(())
    }
}

struct SeqView<'v, 'm, S: StateReader> {
    state: &'v S,
    overlay: &'v Overlay<'m>,
}

impl<S: StateReader> View for SeqView<'_, '_, S> {
    #[inline]
    fn read(&mut self, key: &StateKey) -> Result<u64, Interrupt> {
        Ok(self.overlay.get(key).unwrap_or_else(|| self.state.read(key)))
    }
}

/// Executes `txs` in order over `state`, filling `receipts` (one per transaction) and
/// returning the block's write set sorted by key (in `mem.writes`) with statistics.
pub fn execute_sequential<'m, S: StateReader>(
    state: &S,
    env: &BlockEnv<'_>,
    txs: &[Transaction],
    receipts: &mut [Receipt],
    mem: SeqMemory<'m>,
    vm: &mut VmScratch<'_>,
) -> Result<(&'m [StateEntry], ExecStats), BlockError> {
    let SeqMemory { index, writes, access } = mem;
    if receipts.len() < txs.len() {
        return Err(BlockError::BufferTooSmall {
            buffer: "receipts",
            needed: txs.len(),
            given: receipts.len(),
        });
    }
    if !index.len().is_power_of_two() || index.len() < 2 * writes.len() {
        return Err(BlockError::BufferTooSmall {
            buffer: "sequential index",
            needed: (2 * writes.len()).next_power_of_two(),
            given: index.len(),
        });
    }
    if vm.stack.is_empty() {
        return Err(BlockError::BadScratch);
    }
    let mut acc = AccessSet::new(access, env.limits).ok_or(BlockError::BufferTooSmall {
        buffer: "access set",
        needed: env.limits.access_entries(),
        given: 0,
    })?;
    index.iter_mut().for_each(|i| *i = EMPTY);
    let mut overlay = Overlay { index, entries: writes, len: 0 };
    let mut stats = ExecStats::default();
    for (tx, receipt) in txs.iter().zip(receipts.iter_mut()) {
        let mut view = SeqView { state, overlay: &overlay };
        let r = execute_transaction(tx, env, &mut view, &mut acc, vm)
            .map_err(|_| BlockError::ParallelInvariant("the sequential view never interrupts"))?;
        for a in acc.accesses() {
            let v = match a.write {
                Write::None => continue,
                Write::Set(v) => v,
                Write::Add(d) => {
                    let base = overlay.get(&a.key).unwrap_or_else(|| state.read(&a.key));
                    base.wrapping_add(d)
                }
            };
            overlay.set(&a.key, v)?;
        }
        stats.gas_used = stats.gas_used.saturating_add(r.gas_used);
        stats.undeclared += r.undeclared_access as u64;
        *receipt = r;
    }
    let len = overlay.len;
    let out = &mut overlay.entries[..len];
    crate::state::sort_by_key(out);
    Ok((out, stats))
}
