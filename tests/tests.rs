//! The integration test binary: every behaviour a user sees, grouped by module.

mod suite {
    /// Parallel vs sequential on generated blocks (the determinism contract).
    mod differential;
    /// Native balance is conserved across random blocks.
    mod conservation;
    /// Invalid transactions and their documented outcomes; sample contracts end to end.
    mod semantics;
    /// The reference block's pinned root and hash (shared with the QEMU appliance test).
    mod reference;
    /// The `parex` command line: happy paths and bad input.
    mod cli;
}
