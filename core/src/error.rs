//! Typed errors of the core. Small `Copy` enums with `Display`; nothing here allocates.

use core::fmt;

use crate::types::StateKey;

/// Why a block could not be executed or committed. The state is unchanged when one is
/// returned.
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
    /// The parallel engine gave up on a block that kept conflicting (see
    /// `ParallelExecutor::set_contention_fallback`); run it sequentially.
    Contended {
        /// Executions so far.
        executions: u32,
        /// Of which aborted or stopped to wait.
        wasted: u32,
    },
    /// An internal invariant of the parallel engine failed; the caller should run the
    /// block sequentially instead (the sequential executor never returns this).
    ParallelInvariant(&'static str),
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
            Self::Contended { executions, wasted } => {
                write!(f, "block too contended for parallel execution: {wasted} of {executions} executions wasted")
            }
            Self::BadScratch => f.write_str("VM scratch buffers do not match the limits"),
            Self::ParallelInvariant(what) => write!(f, "parallel engine invariant failed: {what}"),
        }
    }
}

impl core::error::Error for BlockError {}

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
        }
    }
}

impl core::error::Error for GenesisError {}
