//! Executing one transaction: the code every engine shares. The engines differ only in
//! the [`View`] they give it (sequential: block overlay over committed state; Block-STM:
//! multi-version memory; footprint: planned values) and in what they do with the
//! resulting [`AccessSet`].
//!
//! One way down: [`env`] (limits, block environment) ← [`access`] (views, access sets)
//! ← [`lifecycle`] (the typestate a transaction walks) ← this module's
//! [`execute_transaction`]; [`stats`] counts what a block's execution did.

pub mod access;
pub mod env;
pub mod lifecycle;
pub mod stats;

pub use access::{Access, AccessSet, View, Write};
pub use env::{BlockEnv, Limits, INTRINSIC_GAS, SYSTEM_ACCESSES};
pub use stats::{ExecStats, HotKeys, HOT_KEYS};

use crate::receipt::Receipt;
use crate::tx::Transaction;
use crate::vm::{Interrupt, VmScratch};
use lifecycle::Pending;

/// Executes `tx` against `view`, leaving its read and write set in `acc` and returning
/// its receipt, or the interrupt that stopped it (parallel engine only).
///
/// The transaction walks the lifecycle of [`lifecycle`]:
/// `Pending --check--> Checked --execute--> Executed --finalize--> Receipt`.
pub fn execute_transaction<V: View>(
    tx: &Transaction,
    env: &BlockEnv<'_>,
    view: &mut V,
    acc: &mut AccessSet<'_>,
    vm: &mut VmScratch<'_>,
) -> Result<Receipt, Interrupt> {
    acc.clear();
    let checked = match Pending::new(tx).check(env, view, acc)? {
        Ok(c) => c,
        Err(rejected) => return Ok(rejected.receipt()),
    };
    let executed = checked.execute(env, view, acc, vm)?;
    executed.finalize(env, view, acc)
}
