//! parex-host: the `parex` binary's library.
pub mod bench;
pub mod blockfile;
pub mod capacity;
pub mod chain;
pub mod cli;
pub mod engine;
#[cfg(feature = "node")]
pub mod node;
pub mod plot;
pub mod pool;
pub mod shard;
pub mod txblock;
pub mod workload;
