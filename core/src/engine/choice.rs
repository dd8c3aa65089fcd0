//! A decision of the engine policy ([`crate::policy`]): which engine runs a block, on
//! how many workers, with which options, and why. Engines read it in
//! [`super::Engine::prepare`]; reports show it per block.

use crate::exec::HotKeys;

/// The engines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EngineKind {
    /// The reference: one transaction after another.
    #[default]
    Sequential,
    /// Optimistic execution with validation (multi-version memory, collaborative
    /// scheduler).
    BlockStm,
    /// Footprint scheduling: known footprints, planned, executed once each.
    Footprint,
}

impl EngineKind {
    /// A stable lower-case name (reports, JSON).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sequential => "sequential",
            Self::BlockStm => "block_stm",
            Self::Footprint => "footprint",
        }
    }
}

/// Why the engine of a [`Choice`] runs the block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Reason {
    /// The mode names the engine.
    #[default]
    Requested,
    /// Every transaction is a native transfer or a call that declares its access list:
    /// footprints known before execution.
    KnownFootprints,
    /// Some transaction calls a contract without declaring its access list: its
    /// footprint is known only by running it.
    Contracts,
    /// Known footprints, but the caller has no footprint memory (an appliance).
    NoFootprintMemory,
    /// One worker: no parallel engine beats the sequential one without a second worker
    /// to share the block (the footprint engine's plan cost 1.39× the sequential time on
    /// the default transfers row, Block-STM's one-worker form 1.06× on token
    /// transfers), so the sequential engine runs it, as Aptos' executor does at a
    /// concurrency of one.
    OneWorker,
    /// A block of known footprints whose read keys (senders, declared keys) repeat so
    /// often that it is a chain ([`crate::policy::looks_contended`]).
    LooksContended,
    /// Block-STM gave up on the block as contended ([`crate::error::BlockError::Contended`]).
    Contended,
    /// Contract calls that the caller's history predicts contended
    /// ([`crate::policy::History`]): the sequential engine runs the block up front.
    Predicted,
    /// The footprint engine failed; Block-STM runs the block.
    FootprintFailed,
    /// Block-STM failed (not for contention); the sequential engine runs the block.
    BlockStmFailed,
    /// Block-STM's key table was full ([`crate::error::BlockError::MvFull`]): again, with one record
    /// per write.
    KeyTableFull,
    /// A transaction read the beneficiary's balance while Block-STM pooled its credits
    /// ([`crate::error::BlockError::BeneficiaryRead`]): again, with the credits as
    /// versions ([`Credits::Versioned`]).
    BeneficiaryRead,
}

impl Reason {
    /// A stable lower-case name (reports, JSON).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::KnownFootprints => "known_footprints",
            Self::Contracts => "contracts",
            Self::NoFootprintMemory => "no_footprint_memory",
            Self::OneWorker => "one_worker",
            Self::LooksContended => "looks_contended",
            Self::Contended => "contended",
            Self::Predicted => "predicted_contended",
            Self::FootprintFailed => "footprint_failed",
            Self::BlockStmFailed => "block_stm_failed",
            Self::KeyTableFull => "key_table_full",
            Self::BeneficiaryRead => "beneficiary_read",
        }
    }

    /// Whether the block runs on another engine than first chosen, because that one gave
    /// up on it or because it looked (or was predicted) too contended for a parallel
    /// engine.
    pub const fn fell_back(self) -> bool {
        matches!(
            self,
            Self::LooksContended
                | Self::Contended
                | Self::Predicted
                | Self::FootprintFailed
                | Self::BlockStmFailed
        )
    }
}

/// How many multi-version key records Block-STM gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum KeyTable {
    /// As many as a typical block needs (the caller's choice; a block that writes more
    /// distinct keys ends with [`crate::error::BlockError::MvFull`] and runs again with `Full`).
    #[default]
    Typical,
    /// One per write: never runs out.
    Full,
}

/// How Block-STM keeps what transactions add to the beneficiary's balance (every fee).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Credits {
    /// Outside the multi-version memory: each worker sums the credits of the
    /// transactions it executed (their latest incarnations), and the read-out adds the
    /// sums, so the balance's version list is not a lock that every transaction takes. A
    /// block in which a transaction reads the balance fails with
    /// [`crate::error::BlockError::BeneficiaryRead`] and runs again with `Versioned`.
    #[default]
    Pooled,
    /// As versions of the balance, like every other write.
    Versioned,
}

/// One decision of the policy: which engine, on how many workers, why.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Choice {
    /// The engine.
    pub engine: EngineKind,
    /// Why.
    pub reason: Reason,
    /// Workers (and the footprint engine's partitions).
    pub workers: usize,
    /// Block-STM's key records.
    pub keys: KeyTable,
    /// How Block-STM keeps the credits to the beneficiary (not in its one-worker form).
    pub credits: Credits,
    /// Block-STM gives up on a contended block ([`crate::error::BlockError::Contended`]).
    pub contention_fallback: bool,
    /// Block-STM in its one-worker form.
    pub alone: bool,
    /// The footprint engine's cells per transaction: the block's
    /// [`crate::parallel::footprint::width`] (0 for another engine; the footprint
    /// engine then takes the widest).
    pub width: usize,
    /// Keys the history predicts hot ([`crate::policy::History`]), each a contract's
    /// storage word: Block-STM treats every call of that contract that declares no
    /// access list as a writer of the key, so such calls mostly run one after another in
    /// block order instead of conflicting (results are unaffected either way).
    pub predicted: HotKeys,
}
