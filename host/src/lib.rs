//! parex-host: the `parex` binary's library.
pub mod chain;
pub mod engine;
pub mod workload;
