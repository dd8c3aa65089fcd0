//! The sequential engine, the reference: transactions one after another, each seeing
//! every earlier write. Its output defines what the parallel engines must reproduce bit
//! for bit.
//!
//! Memory: a block overlay (an open-addressing table of the words the block wrote, with
//! their latest values), whose entries are the caller's [`Output::writes`] and whose
//! index is [`SeqMemory`]; the worker's access set and VM scratch. Committed state is
//! only read; the commitment ([`crate::block`]) applies the sorted write set afterwards.
//!
//! Through the engine protocol, the first worker to call [`Engine::run_worker`] runs the
//! whole block and any other returns at once.

use crate::engine::{Block, Choice, Engine, Outcome, Output, WorkerMemory};
use crate::error::{BlockError, Invariant};
use crate::exec::{execute_transaction, AccessSet, ExecStats, View, Write};
use crate::parallel::too_small;
use crate::receipt::Receipt;
use crate::state::{home_slot, prefetch, StateEntry, StateReader, EMPTY, PREFETCHES};
use crate::sync::{AtomicU32, Ordering, UnsafeCell};
use crate::tx::{Transaction, TxKind};
use crate::types::StateKey;
use crate::vm::Interrupt;

/// How many transactions ahead the engine starts loading the words a transaction reads
/// first (its sender's nonce and balance, a transfer's recipient's balance): the index
/// slots of the overlay and of the committed state this many ahead, then the entries the
/// slots name [`PREFETCH_ENTRIES`] ahead. Without it each lookup of a state larger than
/// the cache waits on memory, one after another.
const PREFETCH_SLOTS: usize = 8;
const PREFETCH_ENTRIES: usize = 4;

/// Caller memory for one sequential block (besides the [`Output`]).
pub struct SeqMemory<'a> {
    /// Overlay index: a power of two, at least twice `Output::writes`
    /// ([`SeqMemory::index_len`]).
    pub index: &'a mut [u32],
}

impl SeqMemory<'_> {
    /// The index length for an output of `writes` entries.
    pub const fn index_len(writes: usize) -> usize {
        (2 * if writes == 0 { 1 } else { writes }).next_power_of_two()
    }
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

    /// Starts loading what reading the first keys of `tx` will need (see
    /// [`PREFETCH_SLOTS`]): `stage` 0 the index slots (the overlay's and `state`'s),
    /// stage 1 the entries they name. Only a hint: it changes no result.
    #[inline]
    fn prefetch(&self, state: &impl StateReader, tx: &Transaction, stage: u8) {
        let to = match tx.kind {
            TxKind::Transfer { to, .. } => Some(StateKey::balance(to)),
            _ => None,
        };
        let keys = [Some(StateKey::nonce(tx.from)), Some(StateKey::balance(tx.from)), to];
        for key in keys.iter().flatten() {
            let hash = key.table_hash();
            state.prefetch(key, hash, stage);
            let slot = &self.index[home_slot(self.index, hash)];
            if stage == 0 {
                prefetch(slot);
            } else if let Some(e) = self.entries.get(*slot as usize) {
                prefetch(e);
            }
        }
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

/// What the one running worker changes.
struct Run<'a> {
    overlay: Overlay<'a>,
    receipts: &'a mut [Receipt],
    stats: ExecStats,
    /// `None` until the block ran; then how it ended.
    result: Option<Result<(), BlockError>>,
}

/// A block being executed sequentially (see the module docs).
pub struct Sequential<'a, S> {
    block: Block<'a, S>,
    run: UnsafeCell<Run<'a>>,
    /// Some worker took the block.
    claimed: AtomicU32,
}

// SAFETY: `run` is accessed by the one worker whose swap of `claimed` returned 0 (see
// `run_worker`), or through `&mut self` (`run_alone`, `finish`, which the caller calls
// after every worker returned); so never by two threads at once. The rest is read only.
unsafe impl<S: Sync> Sync for Sequential<'_, S> {}

impl<'a, S: StateReader + Sync> Sequential<'a, S> {
    fn execute(block: &Block<'a, S>, run: &mut Run<'a>, worker: WorkerMemory<'_>) {
        run.result = Some(Self::execute_all(block, run, worker));
    }

    fn execute_all(
        block: &Block<'a, S>,
        run: &mut Run<'a>,
        worker: WorkerMemory<'_>,
    ) -> Result<(), BlockError> {
        let WorkerMemory { mut vm, access } = worker;
        let Some(mut acc) = AccessSet::new(access, block.env.limits) else {
            return Err(BlockError::BadScratch);
        };
        if vm.stack.is_empty() {
            return Err(BlockError::BadScratch);
        }
        let (state, overlay) = (block.state, &mut run.overlay);
        for (t, (tx, receipt)) in block.txs.iter().zip(run.receipts.iter_mut()).enumerate() {
            if PREFETCHES {
                if let Some(ahead) = block.txs.get(t + PREFETCH_SLOTS) {
                    overlay.prefetch(state, ahead, 0);
                }
                if let Some(ahead) = block.txs.get(t + PREFETCH_ENTRIES) {
                    overlay.prefetch(state, ahead, 1);
                }
            }
            let mut view = SeqView { state, overlay };
            let r = execute_transaction(tx, &block.env, &mut view, &mut acc, &mut vm)
                .map_err(|_| BlockError::Invariant(Invariant::Interrupted))?;
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
            run.stats.count(&r);
            *receipt = r;
        }
        Ok(())
    }
}

impl<'a, S: StateReader + Sync> Engine<'a, S> for Sequential<'a, S> {
    type Memory = SeqMemory<'a>;

    fn prepare(
        block: Block<'a, S>,
        memory: SeqMemory<'a>,
        output: Output<'a>,
        _: &Choice,
    ) -> Result<Self, BlockError> {
        let SeqMemory { index } = memory;
        let Output { receipts, writes } = output;
        too_small("receipts", block.txs.len(), receipts.len())?;
        if !index.len().is_power_of_two() || index.len() < 2 * writes.len() {
            return Err(BlockError::BufferTooSmall {
                buffer: "sequential index",
                needed: SeqMemory::index_len(writes.len()),
                given: index.len(),
            });
        }
        index.iter_mut().for_each(|i| *i = EMPTY);
        let overlay = Overlay { index, entries: writes, len: 0 };
        let run = Run { overlay, receipts, stats: ExecStats::default(), result: None };
        Ok(Self { block, run: UnsafeCell::new(run), claimed: AtomicU32::new(0) })
    }

    fn run_worker(
        &self,
        _: usize,
        worker: WorkerMemory<'_>,
        _: &mut impl FnMut(u32),
    ) -> Result<(), BlockError> {
        // Relaxed: the swap only elects the one worker; `finish` runs after the caller
        // joined every worker, an edge of its own.
        if self.claimed.swap(1, Ordering::Relaxed) != 0 {
            return Ok(());
        }
        // SAFETY: this worker won the claim, so it alone accesses `run` until `finish`.
        self.run.with_mut(|run| Self::execute(&self.block, unsafe { &mut *run }, worker));
        Ok(())
    }

    fn run_alone(&mut self, worker: WorkerMemory<'_>) -> Result<(), BlockError> {
        self.run_worker(0, worker, &mut |_| ())
    }

    fn finish(self) -> Result<Outcome<'a>, BlockError> {
        let Run { overlay, receipts, stats, result } = self.run.into_inner();
        result.unwrap_or(Err(BlockError::Invariant(Invariant::NotDone)))?;
        let out = &mut overlay.entries[..overlay.len];
        crate::state::sort_by_key(out);
        Ok(Outcome { receipts: &receipts[..self.block.txs.len()], writes: out, stats })
    }
}
