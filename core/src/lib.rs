//! parex-core (essay to come).
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod hash;
pub mod types;

pub use hash::{keccak256, Hasher, KeccakHasher};
pub use types::{Address, Hash32, KeyKind, StateKey};
