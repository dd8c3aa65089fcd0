//! The per-transaction lifecycle, shared by every engine.
//!
//! ```text
//!                 check                    execute                  finalize
//!   Pending ─────────────────▶ Checked ─────────────▶ Executed ─────────────▶ Receipt
//!      │                          (nonce ok,            (status, gas;         (nonce+1,
//!      │ check                     funds cover           failed: writes        fee paid,
//!      ▼                           gas*price+value)      rolled back)          beneficiary
//!   Rejected ──receipt──▶ Receipt (invalid status: no state change, no fee)    credited)
//! ```
//!
//! Each stage is its own type and each transition consumes it, so a transaction cannot
//! be executed before it is checked, finalized twice, or charged after being rejected:
//! illegal transitions do not type-check. Any stage may instead be interrupted by
//! Block-STM's view ([`Interrupt`]); the engine then discards the attempt and starts
//! again from `Pending` in a later incarnation.
//!
//! The rules each transition applies are in `docs/semantics.md` ("Transactions").

use super::access::{AccessSet, TxHost, View, Write};
use super::env::{BlockEnv, INTRINSIC_GAS};
use crate::receipt::{Receipt, Status};
use crate::tx::{Transaction, TxKind};
use crate::types::{Hash32, StateKey};
use crate::vm::{self, CallEnv, Exit, Interrupt, VmScratch};

/// A transaction not yet looked at.
pub struct Pending<'t> {
    tx: &'t Transaction<'t>,
}

/// A valid transaction: nonce matches, funds cover the worst case.
pub struct Checked<'t> {
    tx: &'t Transaction<'t>,
    nonce: u64,
}

/// An executed transaction, before fee and nonce.
pub struct Executed<'t> {
    tx: &'t Transaction<'t>,
    nonce: u64,
    status: Status,
    gas_used: u64,
    output: u64,
    logs_digest: Hash32,
    logs: u32,
}

/// An invalid transaction.
pub struct Rejected {
    status: Status,
}

impl Rejected {
    /// Its receipt: the invalid status, no gas.
    pub fn receipt(self) -> Receipt {
        Receipt { status: self.status, ..Receipt::EMPTY }
    }
}

type Checking<'t> = Result<Result<Checked<'t>, Rejected>, Interrupt>;

fn halt_or_interrupt<'t>(e: Exit) -> Checking<'t> {
    match e {
        Exit::Halt(status) => Ok(Err(Rejected { status })),
        Exit::Interrupt(i) => Err(i),
    }
}

impl<'t> Pending<'t> {
    /// Starts the lifecycle of `tx`.
    pub fn new(tx: &'t Transaction) -> Self {
        Self { tx }
    }

    /// Validity: access list shape, sender not a contract, nonce, intrinsic gas, fee
    /// overflow, funds. Reads the sender's nonce and balance.
    pub fn check<V: View>(
        self,
        env: &BlockEnv<'_>,
        view: &mut V,
        acc: &mut AccessSet<'_>,
    ) -> Checking<'t> {
        let tx = self.tx;
        // A call delivered from another shard was checked and paid for at its source.
        if let TxKind::Delivered { .. } = tx.kind {
            return Ok(Ok(Checked { tx, nonce: tx.nonce }));
        }
        let reject = |status| Ok(Err(Rejected { status }));
        if !tx.access_list_is_well_formed() {
            return reject(Status::BadAccessList);
        }
        if env.code(tx.from).is_some() {
            return reject(Status::SenderIsContract);
        }
        let nonce = match acc.load(view, &StateKey::nonce(tx.from)) {
            Ok(n) => n,
            Err(e) => return halt_or_interrupt(e),
        };
        if nonce != tx.nonce || nonce == u64::MAX {
            return reject(Status::InvalidNonce);
        }
        if tx.gas_limit < INTRINSIC_GAS {
            return reject(Status::IntrinsicGas);
        }
        let Some(upfront) =
            tx.gas_limit.checked_mul(tx.gas_price).and_then(|f| f.checked_add(tx.value()))
        else {
            return reject(Status::FeeOverflow);
        };
        let balance = match acc.load(view, &StateKey::balance(tx.from)) {
            Ok(b) => b,
            Err(e) => return halt_or_interrupt(e),
        };
        if balance < upfront {
            return reject(Status::InsufficientFunds);
        }
        Ok(Ok(Checked { tx, nonce }))
    }
}

impl<'t> Checked<'t> {
    /// Runs the transfer or the call. A failure rolls back every write made here.
    pub fn execute<V: View>(
        self,
        env: &BlockEnv<'_>,
        view: &mut V,
        acc: &mut AccessSet<'_>,
        scratch: &mut VmScratch<'_>,
    ) -> Result<Executed<'t>, Interrupt> {
        let tx = self.tx;
        let delivered = matches!(tx.kind, TxKind::Delivered { .. });
        let mut out = Executed {
            tx,
            nonce: self.nonce,
            status: Status::Success,
            // A delivered call's intrinsic gas was paid at its source.
            gas_used: if delivered { 0 } else { INTRINSIC_GAS },
            output: 0,
            logs_digest: [0; 32],
            logs: 0,
        };
        let mut host = TxHost { view, acc };
        let moved = match &tx.kind {
            // A recipient on another shard is credited there, by the message the shard
            // emits for this transaction (`crate::shard`): here the value only leaves
            // the sender. So for a call to a contract on another shard, which runs
            // there with the rest of its gas, all of which it pays here.
            TxKind::Transfer { to, value } | TxKind::Call { to, value, .. }
                if !env.shard.holds(*to) =>
            {
                if matches!(tx.kind, TxKind::Call { .. }) {
                    out.gas_used = tx.gas_limit;
                }
                vm::debit(&mut host, tx.from, *value)
            }
            TxKind::Transfer { to, value } => vm::transfer(&mut host, tx.from, *to, *value),
            TxKind::Call { to, value, args } | TxKind::Delivered { to, value, args } => {
                match env.code(*to) {
                    None => Err(Exit::Halt(Status::NotAContract)),
                    Some(code) => {
                        let credited = if delivered {
                            vm::credit(&mut host, *to, *value)
                        } else {
                            vm::transfer(&mut host, tx.from, *to, *value)
                        };
                        match credited {
                            Ok(()) => {
                                let call = CallEnv {
                                    caller: tx.from,
                                    address: *to,
                                    value: *value,
                                    args,
                                    number: env.number,
                                    max_logs: env.limits.max_logs,
                                    shard: env.shard,
                                };
                                let gas = tx.gas_limit - out.gas_used;
                                host.acc.set_counting(true);
                                let r = vm::run(code, &call, &mut host, gas, scratch);
                                host.acc.set_counting(false);
                                let r = r?;
                                out.status = r.status;
                                out.gas_used += r.gas_used;
                                out.output = r.output;
                                out.logs_digest = r.logs_digest;
                                out.logs = r.logs;
                                Ok(())
                            }
                            e => e,
                        }
                    }
                }
            }
        };
        match moved {
            Ok(()) => {}
            Err(Exit::Halt(s)) => out.status = s,
            Err(Exit::Interrupt(i)) => return Err(i),
        }
        if !out.status.is_success() {
            host.acc.rollback();
        }
        Ok(out)
    }
}

impl Executed<'_> {
    /// Bumps the nonce, charges `gas_used * gas_price` and credits it to the beneficiary
    /// (a commutative add), then builds the receipt.
    ///
    /// Inlined into its caller, which reads the fields where `Checked::execute` wrote
    /// them: passed by value, the whole struct was copied in 16-byte pieces that span
    /// its fields, and each such load waited for a failed store-to-load forward (half of
    /// this function's time on native transfers).
    #[inline(always)]
    pub fn finalize<V: View>(
        self,
        env: &BlockEnv<'_>,
        view: &mut V,
        acc: &mut AccessSet<'_>,
    ) -> Result<Receipt, Interrupt> {
        let tx = self.tx;
        // Cannot overflow: gas_used <= gas_limit and gas_limit * gas_price was checked.
        let fee = self.gas_used.saturating_mul(tx.gas_price);
        let mut receipt = Receipt {
            status: self.status,
            gas_used: self.gas_used,
            output: self.output,
            logs_digest: self.logs_digest,
            logs: self.logs,
            undeclared_access: false,
        };
        // A delivered call changes no nonce and pays no fee here.
        let charged = match tx.kind {
            TxKind::Delivered { .. } => Ok(()),
            _ => charge(tx, self.nonce, fee, env, view, acc),
        };
        match charged {
            Ok(()) => {}
            Err(Exit::Interrupt(i)) => return Err(i),
            // Unreachable: the system accesses always fit the access set (see
            // `SYSTEM_ACCESSES`). Kept deterministic rather than panicking.
            Err(Exit::Halt(s)) => {
                acc.rollback();
                receipt.status = s;
            }
        }
        receipt.undeclared_access = tx.access.is_some()
            && acc.accesses().iter().any(|a| {
                let implicit = a.key == StateKey::nonce(tx.from)
                    || a.key == StateKey::balance(tx.from)
                    || a.key == StateKey::balance(env.beneficiary);
                !implicit && !tx.declares(&a.key, a.write != Write::None)
            });
        Ok(receipt)
    }
}

fn charge<V: View>(
    tx: &Transaction,
    nonce: u64,
    fee: u64,
    env: &BlockEnv<'_>,
    view: &mut V,
    acc: &mut AccessSet<'_>,
) -> Result<(), Exit> {
    acc.store(&StateKey::nonce(tx.from), nonce + 1)?;
    if fee > 0 {
        let key = StateKey::balance(tx.from);
        // Cannot underflow: the sender held gas_limit * gas_price + value, lost at most
        // value (only contracts' own balances are debited by the VM, and senders are
        // never contracts).
        let bal = acc.load(view, &key)?.saturating_sub(fee);
        acc.store(&key, bal)?;
        acc.add(&StateKey::balance(env.beneficiary), fee)?;
    }
    Ok(())
}
