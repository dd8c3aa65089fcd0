//! Failed but included: fee charged, nonce bumped, everything else rolled back. Also the
//! limits (inclusive), the exact charge of a successful transaction, and the block's gas
//! used saturating.

use parex::core::contracts::{amm, token, Sample};
use parex::core::exec::{Limits, INTRINSIC_GAS};
use parex::core::receipt::Status;
use parex::core::tx::Transaction;
use parex::core::vm::Op;
use parex::core::{Address, StateKey};
use parex::host::engine::Mode;
use parex::host::workload::{World, BENEFICIARY};

use super::*;
use crate::suite::differential::replay_with;

/// `n` distinct `SSTORE`s.
fn writes(n: u64) -> Vec<u8> {
    program(|a| {
        for i in 0..n {
            a.push(i).push(1).op(Op::SStore);
        }
    })
}

/// `n` distinct `SLOAD`s.
fn reads(n: u64) -> Vec<u8> {
    program(|a| {
        for i in 0..n {
            a.push(i).op(Op::SLoad).op(Op::Pop);
        }
    })
}

/// `n` logs.
fn logs(n: u64) -> Vec<u8> {
    program(|a| {
        for i in 0..n {
            a.push(i).push(i).op(Op::Log);
        }
    })
}

/// C0 token (Alice holds 1000), C1 AMM whose native reserve is not backed by a balance
/// (Alice holds pool tokens), C2 an undefined opcode, C3 a division by zero, C4/C5
/// writes and reads one slot more than the limit, C6 one log too many, C7 a `REVERT`
/// after a write, a transfer and a log, C8 returns `SELFBALANCE`.
fn failures_world() -> World {
    let l = Limits::DEFAULT;
    let revert_after_effects = program(|a| {
        a.push(1).push(42).op(Op::SStore);
        a.op(Op::Caller).push(10).op(Op::Transfer);
        a.push(1).push(2).op(Op::Log);
        a.push(7).op(Op::Revert);
    });
    let contracts = vec![
        (C0, code(Sample::Token)),
        (C1, code(Sample::Amm)),
        (C2, vec![0xff]),
        (
            C3,
            program(|a| {
                a.push(1).push(0).op(Op::Div);
            }),
        ),
        (C4, writes(l.max_writes as u64 + 1)),
        (C5, reads(l.max_reads as u64 + 1)),
        (C6, logs(l.max_logs as u64 + 1)),
        (C7, revert_after_effects),
        (
            C8,
            program(|a| {
                a.op(Op::SelfBalance).op(Op::Return);
            }),
        ),
    ];
    let w = world(
        contracts,
        &[
            (C0, token::OWNER, ALICE.0),
            (C0, token::TOTAL_SUPPLY, 1000),
            (C0, token::balance_slot(ALICE.0), 1000),
            (C1, amm::RESERVE_NATIVE, 1_000_000),
            (C1, amm::RESERVE_TOKEN, 1_000_000),
            (C1, amm::balance_slot(ALICE.0), 10_000),
            (C7, 1, 5),
        ],
    );
    with_account(w, C7, 1_000, 0)
}

#[test]
fn failed_transactions_pay_and_bump_the_nonce_only() {
    let w = failures_world();
    let c = |to, value, args: &[u64], gas_limit, gas_price| {
        Transaction::call(ALICE, 0, to, value, args, gas_limit, gas_price).unwrap()
    };
    // (name, tx, status, output, gas_used if known: None = between intrinsic and limit)
    let cases: Vec<(&str, Transaction, Status, u64, Option<u64>)> = vec![
        (
            "token revert with value",
            c(C0, 500, &[token::TRANSFER, BOB.0, 1001], GAS, 3),
            Status::Reverted,
            1,
            None,
        ),
        ("unknown selector", c(C0, 0, &[9], GAS, 1), Status::Reverted, 0xff, None),
        ("revert after effects", c(C7, 77, &[], GAS, 2), Status::Reverted, 7, None),
        (
            "out of gas",
            c(C0, 5, &[token::TRANSFER, BOB.0, 1], INTRINSIC_GAS + 20, 2),
            Status::OutOfGas,
            0,
            Some(INTRINSIC_GAS + 20),
        ),
        (
            "intrinsic gas only",
            c(C0, 0, &[token::TRANSFER, BOB.0, 1], INTRINSIC_GAS, 2),
            Status::OutOfGas,
            0,
            Some(INTRINSIC_GAS),
        ),
        ("not a contract", c(BOB, 100, &[], GAS, 3), Status::NotAContract, 0, Some(INTRINSIC_GAS)),
        (
            "pool cannot pay",
            c(C1, 0, &[amm::SWAP, 1, 0, 500], GAS, 1),
            Status::InsufficientBalance,
            0,
            Some(GAS),
        ),
        ("invalid opcode", c(C2, 9, &[], GAS, 1), Status::InvalidOpcode, 0, Some(GAS)),
        ("division by zero", c(C3, 9, &[], 5_000, 1), Status::ArithmeticFault, 0, Some(5_000)),
        ("too many writes", c(C4, 9, &[], GAS, 1), Status::CapacityExceeded, 0, Some(GAS)),
        ("too many reads", c(C5, 9, &[], GAS, 1), Status::CapacityExceeded, 0, Some(GAS)),
        ("too many logs", c(C6, 9, &[], GAS, 1), Status::CapacityExceeded, 0, Some(GAS)),
    ];
    let before = genesis(&w);
    for (name, tx, status, output, gas) in cases {
        let (r, after) = run(&w, std::slice::from_ref(&tx));
        let r = r[0];
        assert_eq!((r.status, r.output), (status, output), "{name}: {r:?}");
        assert!(r.status.is_failure(), "{name}");
        if let Some(g) = gas {
            assert_eq!(r.gas_used, g, "{name}");
        }
        assert!(r.gas_used >= INTRINSIC_GAS && r.gas_used <= tx.gas_limit, "{name}: {r:?}");
        assert_eq!((r.logs, r.logs_digest, r.undeclared_access), (0, [0; 32], false), "{name}");
        let fee = r.gas_used * tx.gas_price;
        let mut expect = before.clone();
        expect.set(StateKey::nonce(ALICE), 1);
        expect.set(StateKey::balance(ALICE), B - fee);
        expect.set(StateKey::balance(BENEFICIARY), fee);
        assert_eq!(after, expect, "{name}: only nonce and fee may change");
    }
}

#[test]
fn limits_are_inclusive() {
    let l = Limits::DEFAULT;
    let w = world(
        vec![
            (C0, writes(l.max_writes as u64)),
            (C1, reads(l.max_reads as u64)),
            (C2, logs(l.max_logs as u64)),
        ],
        &[],
    );
    let txs = sequenced(vec![
        call(ALICE, 0, C0, 0, &[]),
        call(ALICE, 0, C1, 0, &[]),
        call(ALICE, 0, C2, 0, &[]),
    ]);
    let (r, after) = run(&w, &txs);
    assert!(r.iter().all(|r| r.status == Status::Success), "{r:?}");
    assert_eq!(r[2].logs, l.max_logs);
    assert_eq!(after.slot(C0, l.max_writes as u64 - 1), 1);
}

#[test]
fn successful_transactions_charge_exactly_gas_used() {
    let w = failures_world();
    let txs = vec![
        Transaction::transfer(ALICE, 0, BOB, 12_345, 50_000, 2),
        Transaction::call(ALICE, 1, C8, 700, &[], GAS, 3).unwrap(),
        Transaction::call(ALICE, 2, C0, 0, &[token::TRANSFER, CAROL.0, 10], GAS, 1).unwrap(),
    ];
    let (r, after) = run(&w, &txs);
    assert!(r.iter().all(|r| r.status == Status::Success), "{r:?}");
    // A native transfer costs exactly the intrinsic gas, whatever its limit.
    assert_eq!(r[0].gas_used, INTRINSIC_GAS);
    // The call's value reaches the contract before its code runs.
    assert_eq!(r[1].output, 700);
    assert_eq!(r[1].gas_used, INTRINSIC_GAS + Op::SelfBalance.gas() + Op::Return.gas());
    let fee = fees(&txs, &r, ALICE);
    assert_eq!(fee, 2 * INTRINSIC_GAS + 3 * r[1].gas_used + r[2].gas_used);
    assert_eq!(after.bal(ALICE), B - 12_345 - 700 - fee);
    assert_eq!(after.bal(BOB), B + 12_345);
    assert_eq!(after.bal(C8), 700);
    assert_eq!(after.bal(BENEFICIARY), fee);
    assert_eq!(after.nonce(ALICE), 3);
    assert_eq!(after.slot(C0, token::balance_slot(CAROL.0)), 10);
}

/// A fault charges all of the transaction's gas; two free transactions with enormous
/// gas limits fault, and the block's gas used saturates instead of overflowing.
#[test]
fn block_gas_used_saturates() {
    let bad = Address(0xC000_0000);
    let w = world(vec![(bad, vec![0xff])], &[]);
    let huge = u64::MAX / 2 + 1;
    let txs: Vec<_> = [ALICE, BOB]
        .iter()
        .map(|&from| Transaction::call(from, 0, bad, 0, &[], huge, 0).expect("no args"))
        .collect();
    let (receipts, _) = run(&w, &txs);
    assert!(receipts.iter().all(|r| r.status == Status::InvalidOpcode && r.gas_used == huge));
    let out = replay_with(&w, &[txs], Mode::Sequential);
    assert_eq!(out.blocks[0].header.gas_used, u64::MAX);
}

/// Issue #16: the limits that decide `capacity_exceeded`, stack overflow and memory out
/// of bounds, as docs/semantics.md ("Per-transaction limits") states them for `parex`.
#[test]
fn the_documented_limits_are_the_hosts() {
    use parex::core::exec::Limits;
    use parex::host::engine::{VM_MEMORY, VM_STACK};
    let l = Limits::DEFAULT;
    assert_eq!((l.max_reads, l.max_writes, l.max_logs), (16, 16, 8));
    assert_eq!((VM_STACK, VM_MEMORY), (256, 1024));
    let doc = include_str!("../../../docs/semantics.md");
    for row in [
        "| distinct keys read by the VM | 16 |",
        "| distinct keys written by the VM | 16 |",
        "| logs | 8 |",
        "| VM stack | 256 words |",
        "| VM memory | 1,024 bytes",
    ] {
        assert!(doc.contains(row), "docs/semantics.md lost {row:?}");
    }
}

/// Issue #16: one rule for amounts of zero (docs/semantics.md, "Zero amounts"): a zero
/// fee, a zero-value transfer, a call's zero value and a contract's `TRANSFER` of zero
/// move nothing and create no key; a non-zero amount creates the key it credits.
#[test]
fn zero_amounts_create_no_key() {
    let fresh = Address(0xF00D);
    let payer = program(|a| {
        a.push(0xF00E).push(0).op(Op::Transfer).op(Op::Stop);
    });
    // The beneficiary has no balance key in this world, and C0 none either.
    let mut w = world(vec![(C0, payer)], &[]);
    w.accounts.retain(|a| a.addr != BENEFICIARY);
    let free = |from, nonce, to, value| Transaction::transfer(from, nonce, to, value, 1_000, 0);
    let txs = vec![
        free(ALICE, 0, fresh, 0),
        Transaction::call(BOB, 0, C0, 0, &[], GAS, 0).expect("no args"),
        free(CAROL, 0, Address(0xF00F), 5),
    ];
    let (receipts, words) = run(&w, &txs);
    assert!(receipts.iter().all(|r| r.status == Status::Success), "{receipts:?}");
    for key in [
        StateKey::balance(fresh),
        StateKey::balance(BENEFICIARY),
        StateKey::balance(C0),
        StateKey::balance(Address(0xF00E)),
    ] {
        assert!(!words.0.contains_key(&key), "{key:?} was created: {words:?}");
    }
    assert_eq!(words.bal(Address(0xF00F)), 5, "a non-zero credit creates its key");
}
