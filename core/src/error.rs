//! Typed errors of the core. Small `Copy` enums with `Display`; nothing here allocates.

use core::fmt;

use crate::types::StateKey;

/// Why a block could not be executed or committed. The state is unchanged when one is
/// returned, except after [`BlockError::WorkerLost`] during a commitment.
///
/// Which of these the engine policy answers with another engine is decided by
/// [`crate::engine::Policy::after`], from the variant alone.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BlockError {
    /// A caller-provided buffer is too small for this block; `needed` elements of
    /// `buffer` are required.
    BufferTooSmall {
        /// Which buffer.
        buffer: &'static str,
        /// How many elements the block needs.
        needed: usize,
        /// How many were given.
        given: usize,
    },
    /// The block has more transactions than the engine's index type or buffers allow.
    TooManyTransactions {
        /// Transactions in the block.
        txs: usize,
        /// The limit.
        limit: usize,
    },
    /// The state table has no room for the keys this block creates.
    StateFull {
        /// Entries the state holds plus the new ones.
        needed: usize,
        /// The state's capacity.
        capacity: usize,
    },
    /// A VM scratch buffer (stack, memory, per-transaction accesses) has length zero or
    /// exceeds the limits' bounds.
    BadScratch,
    /// Block-STM gave up on a block that kept conflicting (see
    /// `BlockStm::set_contention_fallback`); run it sequentially.
    Contended {
        /// Executions so far.
        executions: u32,
        /// Of which aborted or stopped to wait.
        wasted: u32,
        /// The key at which they conflicted most, with its count (what the history
        /// learns hot keys from).
        hottest: Option<(StateKey, u32)>,
    },
    /// Block-STM's multi-version key records (or their index) ran out: the block writes
    /// more distinct keys than `records`. Retry with more (at most one per write).
    MvFull {
        /// Records the engine was given.
        records: usize,
    },
    /// The footprint engine's key tables ran out (cannot happen when sized by
    /// `FootprintMemory::lengths`).
    FootprintFull,
    /// A transaction read (or set) the beneficiary's balance while Block-STM pooled the
    /// credits to it ([`crate::engine::Credits::Pooled`]): run it again with the credits
    /// in the multi-version memory.
    BeneficiaryRead,
    /// A transaction touched a key outside its footprint, or not in the planned way
    /// (the footprint engine; impossible for footprints computed by
    /// [`crate::tx::Transaction::footprint`], but checked).
    OffFootprint,
    /// An engine's internal invariant failed; the result was discarded. The policy runs
    /// the block on the next engine.
    Invariant(Invariant),
    /// A worker thread panicked or could not start (a host's thread pool).
    WorkerLost,
    /// The genesis could not be loaded.
    Genesis(GenesisError),
    /// A sample contract did not assemble (the reference block).
    Contract,
    /// A delivered call ([`crate::tx::TxKind::Delivered`]) where the block's environment
    /// does not place one (`BlockEnv::delivered`), or one missing where it does: only a
    /// shard delivering accepted messages builds them.
    Undelivered {
        /// The transaction's index.
        index: usize,
    },
}

/// Which internal invariant of an engine failed (see [`BlockError::Invariant`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Invariant {
    /// An execution claimed in order read an estimate (Block-STM).
    EstimateInOrder,
    /// `finish` was called before the workers finished the block.
    NotDone,
    /// A transaction was not executed at the end (Block-STM).
    NotExecuted,
    /// A final read set does not validate (Block-STM, debug builds).
    StaleReadSet,
    /// An estimate was left in the multi-version memory at the end (Block-STM).
    EstimateLeft,
    /// The one-worker form ran after workers began, or twice (Block-STM).
    AloneTwice,
    /// A view that never interrupts interrupted (the sequential engine).
    Interrupted,
    /// The write set handed to the commitment is not sorted and unique.
    UnsortedWrites,
    /// Pooled credits to the beneficiary found no record of its balance (Block-STM).
    PooledCredits,
}

/// Why an engine's workers stopped a block early: the one code the workers of an engine
/// share through an atomic (stored as its `repr`, `0` meaning none; see
/// `parallel::AbortFlag`). [`crate::engine::Engine::finish`] turns it into a
/// [`BlockError`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u32)]
pub enum Abort {
    /// A worker's scratch memory does not match the limits.
    BadScratch = 1,
    /// Block-STM's key records ran out ([`BlockError::MvFull`]).
    MvFull = 2,
    /// Block-STM wasted too many executions ([`BlockError::Contended`]).
    Contended = 3,
    /// [`Invariant::EstimateInOrder`].
    EstimateInOrder = 4,
    /// [`BlockError::FootprintFull`].
    FootprintFull = 5,
    /// [`BlockError::OffFootprint`].
    OffFootprint = 6,
    /// [`BlockError::BeneficiaryRead`].
    BeneficiaryRead = 7,
}

impl Abort {
    /// Every code, in `repr` order.
    pub const ALL: [Abort; 7] = [
        Self::BadScratch,
        Self::MvFull,
        Self::Contended,
        Self::EstimateInOrder,
        Self::FootprintFull,
        Self::OffFootprint,
        Self::BeneficiaryRead,
    ];

    /// The abort stored as `code`; `None` for `0` (no abort) or an unknown code.
    pub fn from_repr(code: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|a| *a as u32 == code)
    }
}

impl fmt::Display for BlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall { buffer, needed, given } => {
                write!(f, "buffer `{buffer}` too small: block needs {needed}, given {given}")
            }
            Self::TooManyTransactions { txs, limit } => {
                write!(f, "block has {txs} transactions, limit is {limit}")
            }
            Self::StateFull { needed, capacity } => {
                write!(f, "state full: block needs {needed} entries, capacity is {capacity}")
            }
            Self::Contended { executions, wasted, .. } => {
                write!(f, "block too contended for parallel execution: {wasted} of {executions} executions wasted")
            }
            Self::BadScratch => f.write_str("VM scratch buffers do not match the limits"),
            Self::MvFull { records } => {
                write!(f, "multi-version table full: the block writes more than {records} keys")
            }
            Self::FootprintFull => f.write_str("footprint table full"),
            Self::BeneficiaryRead => f.write_str(
                "a transaction read the beneficiary's balance while its credits were pooled",
            ),
            Self::OffFootprint => f.write_str("a transaction left its planned footprint"),
            Self::Invariant(what) => write!(f, "engine invariant failed: {what}"),
            Self::Undelivered { index } => write!(
                f,
                "transaction {index}: a delivered call out of place (only a shard delivering \
                 messages puts them, first in its block)"
            ),
            Self::WorkerLost => f.write_str("a worker thread panicked or could not start"),
            Self::Genesis(e) => write!(f, "genesis: {e}"),
            Self::Contract => f.write_str("a sample contract does not assemble"),
        }
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::EstimateInOrder => "an in-order execution read an estimate",
            Self::NotDone => "finish called before the block was done",
            Self::NotExecuted => "transaction not executed at the end",
            Self::StaleReadSet => "a final read set does not validate",
            Self::EstimateLeft => "estimate left at the end",
            Self::AloneTwice => "the one-worker form ran after workers began, or twice",
            Self::Interrupted => "the sequential view interrupted",
            Self::UnsortedWrites => "write set not sorted and unique",
            Self::PooledCredits => "pooled credits found no record of the beneficiary's balance",
        })
    }
}

impl core::error::Error for BlockError {}

impl From<GenesisError> for BlockError {
    fn from(e: GenesisError) -> Self {
        Self::Genesis(e)
    }
}

/// Why a genesis could not be loaded.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum GenesisError {
    /// The state table is too small for the genesis.
    StateFull {
        /// Entries the genesis needs.
        needed: usize,
        /// The state's capacity.
        capacity: usize,
    },
    /// The same key appears twice.
    DuplicateKey(StateKey),
    /// The sum of all balances does not fit in a `u64`; balances could then overflow.
    SupplyOverflow,
    /// State memory slices have inconsistent sizes (see [`crate::state::StateMemory`]).
    BadMemory(&'static str),
    /// A saved state's code hash word for this contract is missing or is not its
    /// code's digest ([`crate::state::State::from_entries`]).
    CodeHash(crate::types::Address),
}

impl fmt::Display for GenesisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StateFull { needed, capacity } => {
                write!(f, "genesis needs {needed} state entries, capacity is {capacity}")
            }
            Self::DuplicateKey(k) => write!(f, "duplicate genesis key {k:?}"),
            Self::SupplyOverflow => f.write_str("total balance exceeds u64::MAX"),
            Self::BadMemory(what) => write!(f, "bad state memory: {what}"),
            Self::CodeHash(a) => {
                write!(f, "contract {a}: the saved code hash is not its code's digest")
            }
        }
    }
}

impl core::error::Error for GenesisError {}
