//! parex: facade.
pub use parex_core as core;
pub use parex_host as host;
pub use parex_offload as offload;
