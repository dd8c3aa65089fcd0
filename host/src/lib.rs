//! parex-host: the `parex` binary's library.
pub mod bench;
pub mod blockfile;
pub mod chain;
pub mod cli;
pub mod engine;
pub mod plot;
pub mod pool;
pub mod shard;
pub mod workload;
