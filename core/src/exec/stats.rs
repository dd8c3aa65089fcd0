//! What executing a block did, counted the same way by every engine.

/// Counters of one block's execution (before commitment). Which engine ran the block
/// and why is reported beside these, by the policy ([`crate::engine::Choice`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecStats {
    /// Gas used by all transactions.
    pub gas_used: u64,
    /// Transaction executions beyond one per transaction (Block-STM only).
    pub reexecutions: u64,
    /// Validations that failed (Block-STM only).
    pub aborts: u64,
    /// Reads that waited on an earlier transaction (the parallel engines).
    pub dependency_waits: u64,
    /// Transactions that touched keys outside their declared access list.
    pub undeclared: u64,
}

impl ExecStats {
    /// Adds one receipt's gas and undeclared flag.
    pub(crate) fn count(&mut self, receipt: &crate::receipt::Receipt) {
        self.gas_used = self.gas_used.saturating_add(receipt.gas_used);
        self.undeclared += receipt.undeclared_access as u64;
    }
}
