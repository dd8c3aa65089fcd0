//! The integration test binary: every behaviour a user sees, grouped by module.

mod suite {
    /// The `parex` command line: happy paths and bad input.
    mod cli;
    /// Native balance is conserved across random blocks.
    mod conservation;
    /// Parallel vs sequential on generated blocks (the determinism contract).
    mod differential;
    /// The reference block's pinned root and hash (shared with the QEMU appliance test).
    mod reference;
    /// Invalid transactions and their documented outcomes; sample contracts end to end.
    mod semantics;
    /// Sharded chains: one shard is today's chain, roots independent of threads and
    /// order, value conserved, messages delivered once.
    mod shards;
}
