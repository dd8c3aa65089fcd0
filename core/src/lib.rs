//! parex-core (essay to come).
#![no_std]

pub mod block;
pub mod contracts;
pub mod error;
pub mod exec;
pub mod hash;
pub mod lifecycle;
pub mod merkle;
pub mod parallel;
pub mod receipt;
pub mod reference;
pub mod sequential;
pub mod state;
mod sync;
pub mod tx;
pub mod types;
pub mod vm;

pub use hash::{keccak256, Hasher, KeccakHasher};
pub use types::{Address, Hash32, KeyKind, StateKey};
