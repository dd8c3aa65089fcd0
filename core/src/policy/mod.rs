//! The engine policy: which engine runs a block, and what runs it when that engine gives
//! up; and [`run_block`], which drives the engine protocol ([`crate::engine`]) with it.

mod run;

pub use run::{run_block, Memory, Workers};

use crate::engine::{Choice, EngineKind, KeyTable, Reason};
use crate::error::BlockError;
use crate::parallel::footprint::SERIAL_RATIO;
use crate::tx::Transaction;

/// What the caller asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Mode {
    /// The sequential engine.
    Sequential,
    /// The policy's choice, on this many workers: a block of native transfers goes to
    /// the footprint engine, any other block to Block-STM, a block that looks like a
    /// chain of dependencies to the sequential engine; an engine that gives up hands
    /// the block to the next (footprint → Block-STM → sequential).
    Parallel(usize),
    /// Block-STM on this many workers through its scheduler (even one), with its
    /// contention fallback off and no other engine after it: every block runs through
    /// speculation and validation however contended, or fails (the differential tests).
    BlockStm(usize),
    /// Block-STM in its one-worker form (`BlockStm::run_alone`), no fallback.
    BlockStmAlone,
    /// The footprint engine on this many workers, no contention check, no fallback
    /// (native transfers only).
    Footprint(usize),
}

impl Mode {
    /// Workers the mode runs a block on (the sequential engine and the one-worker form:
    /// one).
    pub fn workers(self) -> usize {
        match self {
            Self::Sequential | Self::BlockStmAlone => 1,
            Self::Parallel(n) | Self::BlockStm(n) | Self::Footprint(n) => n.max(1),
        }
    }
}

/// The engine policy for one mode (see [`Mode`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// What the caller asked for.
    pub mode: Mode,
    /// The caller can give the footprint engine memory ([`super::Memory::footprint`]).
    pub footprint_memory: bool,
}

impl Policy {
    /// The policy for `mode`, with footprint memory.
    pub const fn new(mode: Mode) -> Self {
        Self { mode, footprint_memory: true }
    }

    /// The first engine for `txs`.
    pub fn choose(&self, txs: &[Transaction]) -> Choice {
        let workers = self.mode.workers();
        let base = Choice { workers, ..Choice::default() };
        let on = |engine, reason| Choice { engine, reason, ..base };
        match self.mode {
            Mode::Sequential => on(EngineKind::Sequential, Reason::Requested),
            Mode::BlockStm(_) => on(EngineKind::BlockStm, Reason::Requested),
            Mode::BlockStmAlone => {
                Choice { alone: true, ..on(EngineKind::BlockStm, Reason::Requested) }
            }
            Mode::Footprint(_) => on(EngineKind::Footprint, Reason::Requested),
            Mode::Parallel(_) => {
                let stm = |reason| Choice {
                    contention_fallback: true,
                    alone: workers == 1,
                    ..on(EngineKind::BlockStm, reason)
                };
                if !plannable(txs) {
                    stm(Reason::Contracts)
                } else if looks_contended(txs) {
                    on(EngineKind::Sequential, Reason::LooksContended)
                } else if !self.footprint_memory {
                    stm(Reason::NoFootprintMemory)
                } else {
                    on(EngineKind::Footprint, Reason::KnownFootprints)
                }
            }
        }
    }

    /// What runs the block after `failed` ended with `error`; `None`: the error is the
    /// block's. Decided by the error's variant alone.
    pub fn after(&self, failed: &Choice, error: &BlockError) -> Option<Choice> {
        if let (EngineKind::BlockStm, BlockError::MvFull { .. }, KeyTable::Typical) =
            (failed.engine, error, failed.keys)
        {
            return Some(Choice { keys: KeyTable::Full, reason: Reason::KeyTableFull, ..*failed });
        }
        if !matches!(self.mode, Mode::Parallel(_)) {
            return None;
        }
        // Bad worker memory fails every engine alike.
        if *error == BlockError::BadScratch {
            return None;
        }
        let sequential = Choice {
            engine: EngineKind::Sequential,
            workers: 1,
            contention_fallback: false,
            alone: false,
            ..*failed
        };
        match failed.engine {
            EngineKind::Sequential => None,
            EngineKind::Footprint => Some(Choice {
                engine: EngineKind::BlockStm,
                reason: Reason::FootprintFailed,
                contention_fallback: true,
                alone: failed.workers == 1,
                ..*failed
            }),
            EngineKind::BlockStm => Some(Choice {
                reason: match error {
                    BlockError::Contended { .. } => Reason::Contended,
                    _ => Reason::BlockStmFailed,
                },
                ..sequential
            }),
        }
    }
}

/// True when every transaction's footprint is known before execution
/// ([`Transaction::has_footprint`]: every one is a native transfer), so the footprint
/// engine can run the block.
pub fn plannable(txs: &[Transaction]) -> bool {
    txs.iter().all(Transaction::has_footprint)
}

/// Transactions [`looks_contended`] samples.
pub const CONTENTION_SAMPLE: usize = 256;

/// True when the block's first [`CONTENTION_SAMPLE`] transactions reuse senders so often
/// (one in [`SERIAL_RATIO`] sends from an account that already sent in the sample) that
/// the block is a chain of dependencies: workers would mostly wait for each other, and
/// the sequential engine is the faster choice. A cheap look before planning; the
/// footprint engine's plan also notices chains and then runs them on one worker.
pub fn looks_contended(txs: &[Transaction]) -> bool {
    // The senders seen, in a small open-addressing set (twice the sample, so probes stay
    // short): a linear pass, and far less code than sorting on an appliance. Slot 0
    // means empty, so each sender is stored as its position in the sample plus one.
    const SLOTS: usize = 2 * CONTENTION_SAMPLE;
    let mut seen = [0u16; SLOTS];
    let sample = &txs[..txs.len().min(CONTENTION_SAMPLE)];
    let mut repeats = 0;
    for (i, tx) in sample.iter().enumerate() {
        let a = tx.from.0;
        // Fibonacci hashing of the address onto the table.
        let mut at = (a.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 55) as usize % SLOTS;
        loop {
            match seen[at] {
                0 => {
                    seen[at] = i as u16 + 1;
                    break;
                }
                j if sample[j as usize - 1].from.0 == a => {
                    repeats += 1;
                    break;
                }
                _ => at = (at + 1) % SLOTS,
            }
        }
    }
    !sample.is_empty() && repeats * SERIAL_RATIO >= sample.len()
}
