//! The parallel engines, and what they share.
//!
//! * [`block_stm`]: Block-STM-class optimistic execution in the block's preset order
//!   (multi-version memory, read-set validation, estimates, commutative adds, declared
//!   access lists, a collaborative scheduler). Runs any block.
//! * [`footprint`]: footprint scheduling in the manner of Solana's Sealevel: when every
//!   transaction's footprint is known before execution (native transfers), the block is
//!   planned from the footprints and each transaction runs once, with no validation.
//!
//! Both implement [`crate::engine::Engine`]; the policy ([`crate::policy`]) picks one
//! per block. What they share is here: the [`AbortFlag`] through which a worker stops
//! the others, the barrier wait, and the buffer check.

pub mod block_stm;
pub mod footprint;

use crate::error::{Abort, BlockError};
use crate::sync::{AtomicU32, Ordering};

/// The first [`Abort`] any worker of a block raised, stored as its `repr` (0: none).
#[derive(Debug, Default)]
pub(crate) struct AbortFlag(AtomicU32);

impl AbortFlag {
    pub(crate) fn new() -> Self {
        Self(AtomicU32::new(0))
    }

    /// Raises `abort` unless another was raised first. Relaxed: the flag only makes
    /// workers stop early; `finish` reads it after the workers were joined (an edge of
    /// its own), and no data is published through it.
    pub(crate) fn raise(&self, abort: Abort) {
        let _ = self.0.compare_exchange(0, abort as u32, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// The abort raised, if any. Relaxed: see [`Self::raise`].
    pub(crate) fn get(&self) -> Option<Abort> {
        Abort::from_repr(self.0.load(Ordering::Relaxed))
    }

    /// Whether some worker raised an abort. Relaxed: see [`Self::raise`].
    #[inline]
    pub(crate) fn is_raised(&self) -> bool {
        self.0.load(Ordering::Relaxed) != 0
    }
}

/// Spins (calling `idle` with the count of spins) until `counter` reaches `target`;
/// false, without waiting further, as soon as `abort` is raised (a worker failed).
/// Acquire: pairs with the release increments of the counter, so everything written
/// before them is visible afterwards.
pub(crate) fn wait_until(
    counter: &AtomicU32,
    target: u32,
    abort: &AbortFlag,
    idle: &mut impl FnMut(u32),
) -> bool {
    let mut spins = 0;
    while counter.load(Ordering::Acquire) < target {
        if abort.is_raised() {
            return false;
        }
        spins += 1;
        idle(spins);
    }
    true
}

/// `BufferTooSmall` unless `given >= needed`.
pub(crate) fn too_small(
    buffer: &'static str,
    needed: usize,
    given: usize,
) -> Result<(), BlockError> {
    if given < needed {
        Err(BlockError::BufferTooSmall { buffer, needed, given })
    } else {
        Ok(())
    }
}
