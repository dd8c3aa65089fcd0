//! # parex-core
//!
//! Deterministic execution of blockchain transactions, sequentially or in parallel, on
//! anything from a microcontroller to a many-core server: `#![no_std]`, no allocation,
//! no panics on any input, at most 32-bit atomics. Every buffer larger than a few words
//! is handed in by the caller, so a host sizes it from a `Vec` and an appliance from a
//! `static`.
//!
//! ## How a block runs
//!
//! 1. **State** ([`state`]): every value is a `u64` under a [`StateKey`] (balance, nonce,
//!    code hash or contract storage of an address), in caller memory, loaded from a
//!    [`state::Genesis`].
//! 2. **Transactions** ([`tx`]) are native transfers or contract calls, optionally with
//!    a declared access list; [`tx::Transaction::footprint`] states what a transfer may
//!    touch. Each one walks the lifecycle of [`exec::lifecycle`]
//!    (`Pending → Checked → Executed → Receipt`, or `Rejected`), implemented once in
//!    [`exec`] against an [`exec::View`] of the state before it. Contracts run on the
//!    metered [`vm`]; the sample contracts ([`contracts`]) are written with its
//!    assembler.
//! 3. **Engines** produce receipts and the block's sorted write set, all through one
//!    protocol ([`engine::Engine`]: prepare, `run_worker` on the caller's workers,
//!    finish) and with identical results:
//!    * [`sequential::Sequential`], the reference: one transaction after another;
//!    * [`parallel::block_stm::BlockStm`]: Block-STM-class optimistic execution
//!      (multi-version memory, read-set validation, estimates, commutative adds,
//!      declared access lists, a collaborative scheduler);
//!    * [`parallel::footprint::FootprintEngine`]: Sealevel-style scheduling of blocks
//!      whose footprints are known (native transfers), each transaction run once.
//! 4. **Policy** ([`policy`]): [`policy::Policy::choose`] picks the engine for a block
//!    and [`policy::Policy::after`] the next one when it gives up (footprint →
//!    Block-STM → sequential, a larger key table on [`error::BlockError::MvFull`]);
//!    [`policy::run_block`] drives it all over the caller's memory and workers, and
//!    returns the [`engine::Choice`] with its reason.
//! 5. **Commitment** ([`block`], [`merkle`]): transaction root, receipts root, the
//!    incremental Merkle state root and the block hash, all hashed in batches through
//!    the [`Hasher`] hook ([`hash`]), so hardware or an OpenCL device can do the work;
//!    its parts run on the same workers.
//!
//! Errors are typed ([`error`]): [`error::BlockError`] for a block, with the engines'
//! shared [`error::Abort`] codes and [`error::Invariant`]s. Module dependencies run
//! one way: `types`, `tx`, `state`, `vm` ← `exec` ← `engine` ← `sequential`,
//! `parallel` ← `policy` ← `block`, `reference`.
//!
//! The rules themselves (validity, fees, what a failed transaction changes, opcodes and
//! gas, commitment layout) are in `docs/semantics.md`; the data flow is drawn in
//! `docs/architecture.md`. [`reference`](mod@reference) is a fixed block that the host
//! and an emulated Cortex-M4 must agree on.
//!
//! ## Feature flags
//!
//! * `defmt`: derive `defmt::Format` on public types, for logging on embedded targets.
//!
//! Building with `RUSTFLAGS="--cfg loom"` swaps the engines' atomics for loom's
//! (see `tests/loom.rs`).

#![no_std]

pub mod block;
pub mod contracts;
pub mod engine;
pub mod error;
pub mod exec;
pub mod hash;
pub mod merkle;
pub mod parallel;
pub mod policy;
pub mod receipt;
pub mod reference;
pub mod sequential;
pub mod shard;
pub mod state;
mod sync;
pub mod tx;
pub mod types;
pub mod vm;

pub use hash::{keccak256, Counting, Hasher, KeccakHasher};
pub use types::{Address, Hash32, KeyKind, Shard, StateKey};
