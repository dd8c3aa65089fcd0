//! One protocol for every engine, and the policy that picks one per block.
//!
//! ```text
//!   crate::policy: Policy::choose(mode, block)            Policy::after(choice, error)
//!   block ──────────────────────────────▶ Choice ──────────────────────────────▶ next Choice
//!                                           │          (footprint → Block-STM → sequential,
//!                                           ▼           larger key table on MvFull)
//!   Engine::prepare(block, memory, output, choice)
//!        │
//!        ├─ Workers::run(n, |i, w| engine.run_worker(i, w, idle))   one phase per call;
//!        │  (or Workers::run_here(|w| engine.run_alone(w)))        any number of phases
//!        ▼
//!   Engine::finish() ──▶ Outcome { receipts, sorted write set, stats } in the caller's Output
//! ```
//!
//! An engine ([`Engine`]) is prepared for one block over caller memory, run by
//! whatever workers the caller has, each calling [`Engine::run_worker`] with its index
//! and its own [`WorkerMemory`], and finished into an [`Outcome`]: receipts and the
//! block's write set, in the caller's [`Output`]. [`crate::policy::run_block`] drives
//! that protocol with a [`crate::policy::Policy`] over the caller's
//! [`crate::policy::Memory`] and [`crate::policy::Workers`]: it is how the host,
//! the appliance, the benches and the tests execute a block, so they all take the same
//! path, including the fallback chain. The threads stay the caller's: the core never
//! spawns, allocates or blocks; idle workers call the caller's
//! [`crate::policy::Workers::idle`].
//!
//! The engines:
//!
//! | [`EngineKind`] | type | when the policy picks it |
//! | --- | --- | --- |
//! | `Sequential` | [`crate::sequential::Sequential`] | asked for; a contended block; the last fallback |
//! | `BlockStm` | [`crate::parallel::block_stm::BlockStm`] | blocks with contract calls |
//! | `Footprint` | [`crate::parallel::footprint::FootprintEngine`] | blocks of native transfers |
//!
//! A later phase run by the same workers (the commitment's parts, see
//! [`crate::block::Commit`]) goes through [`crate::policy::Workers::run`] the same way.

mod choice;
mod survey;

pub use choice::{Choice, Credits, EngineKind, KeyTable, Reason};
pub use survey::Survey;

use crate::error::BlockError;
use crate::exec::{Access, BlockEnv, ExecStats, Limits};
use crate::receipt::Receipt;
use crate::state::{StateEntry, StateReader};
use crate::tx::Transaction;
use crate::vm::VmScratch;

/// The block an engine executes: the committed state before it, its environment and its
/// transactions in block order.
pub struct Block<'a, S> {
    /// Committed state (read only).
    pub state: &'a S,
    /// Number, beneficiary, contracts, limits.
    pub env: BlockEnv<'a>,
    /// The transactions.
    pub txs: &'a [Transaction<'a>],
}

impl<S> Clone for Block<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for Block<'_, S> {}

/// Where an engine leaves its result (caller memory, [`Output::lengths`]).
pub struct Output<'a> {
    /// One receipt per transaction.
    pub receipts: &'a mut [Receipt],
    /// The block's write set, sorted by key.
    pub writes: &'a mut [StateEntry],
}

impl<'a> Output<'a> {
    /// `(receipts, writes)` lengths that suffice for `txs` transactions under `limits`
    /// whatever the engine (at most `limits.writes_per_tx()` distinct keys per
    /// transaction).
    pub const fn lengths(txs: usize, limits: &Limits) -> (usize, usize) {
        (txs, if txs == 0 { 1 } else { txs * limits.writes_per_tx() })
    }

    /// `(receipts, writes)` lengths that suffice for the block `txs` under `limits`
    /// whatever the engine: each transaction adds at most the keys it may write, which
    /// for a native transfer is its footprint ([`Transaction::footprint`], at most
    /// [`crate::tx::FOOTPRINT`] keys) and for a call `limits.writes_per_tx()` (a call's
    /// declared footprint may be wrong, and then another engine runs it). At most
    /// [`Self::lengths`] of as many transactions, and far less for a block of transfers.
    /// ([`Survey::lengths`] of the block's [`Survey`], which a caller that surveys the
    /// block anyway uses instead of this second pass.)
    pub fn lengths_of(txs: &[Transaction], limits: &Limits) -> (usize, usize) {
        Survey::of(txs, limits).lengths()
    }

    /// The same memory, borrowed for shorter (to try another engine afterwards).
    pub fn reborrow(&mut self) -> Output<'_> {
        Output { receipts: self.receipts, writes: self.writes }
    }
}

/// The distinct keys `tx` may write: its footprint's for a native transfer, the limits'
/// for a call.
pub fn writes_at_most(tx: &Transaction, limits: &Limits) -> usize {
    match tx.kind {
        crate::tx::TxKind::Transfer { .. } => crate::tx::FOOTPRINT,
        crate::tx::TxKind::Call { .. } | crate::tx::TxKind::Delivered { .. } => {
            limits.writes_per_tx()
        }
    }
}

/// The keys `tx` may create, the beneficiary's balance aside (one key per block at
/// most): for a native transfer, its sender's nonce and its recipient's balance (a
/// non-zero debit needs a balance, and a zero amount touches no key: `docs/semantics.md`,
/// "Zero amounts"); for a call, every key it may write.
pub fn creates_at_most(tx: &Transaction, limits: &Limits) -> usize {
    match tx.kind {
        crate::tx::TxKind::Transfer { .. } => 2,
        crate::tx::TxKind::Call { .. } | crate::tx::TxKind::Delivered { .. } => {
            limits.writes_per_tx()
        }
    }
}

/// A finished block: receipts and sorted write set (in the caller's [`Output`]) and
/// what the execution counted.
#[derive(Debug)]
pub struct Outcome<'a> {
    /// One per transaction.
    pub receipts: &'a [Receipt],
    /// Every key the block wrote, with its value at the end of the block, sorted by key.
    pub writes: &'a [StateEntry],
    /// Counters.
    pub stats: ExecStats,
}

/// One worker's own memory.
pub struct WorkerMemory<'w> {
    /// VM stack and memory.
    pub vm: VmScratch<'w>,
    /// The access set of the transaction being executed: `limits.access_entries()`.
    pub access: &'w mut [Access],
}

/// The steps every engine takes (see the module docs).
///
/// `prepare` checks the buffers and returns a typed error before anything runs;
/// `run_worker` is called by every worker, concurrently, each with its own index in
/// `0..choice.workers` and its own memory, and returns once the worker finds nothing
/// left to do (any number of workers, with any indices, finishes the block: indices
/// only steer which parts a worker takes first); `finish` is called once, after every
/// worker returned, and reads the result out.
pub trait Engine<'a, S: StateReader + Sync>: Sized + Sync {
    /// The engine's own caller memory.
    type Memory;

    /// Prepares `block` over `memory`, with its result to go to `output`.
    fn prepare(
        block: Block<'a, S>,
        memory: Self::Memory,
        output: Output<'a>,
        choice: &Choice,
    ) -> Result<Self, BlockError>;

    /// Runs this worker's share of the block. `idle` is called with the count of
    /// consecutive attempts while there is nothing to do yet. An error here stops every
    /// worker; `finish` reports the block's error.
    fn run_worker(
        &self,
        index: usize,
        worker: WorkerMemory<'_>,
        idle: &mut impl FnMut(u32),
    ) -> Result<(), BlockError>;

    /// The whole block on the calling thread, the only worker (`&mut self` proves it).
    /// Engines with a faster one-worker form override this.
    fn run_alone(&mut self, worker: WorkerMemory<'_>) -> Result<(), BlockError> {
        self.run_worker(0, worker, &mut |_| crate::sync::spin_hint())
    }

    /// After every worker returned: the result, or why the block failed.
    fn finish(self) -> Result<Outcome<'a>, BlockError>;
}
