//! Invalid transactions: rejected, no state change, no fee, no nonce.

use parex::core::contracts::{token, Sample};
use parex::core::exec::INTRINSIC_GAS;
use parex::core::receipt::{Receipt, Status};
use parex::core::tx::{AccessEntry, AccessList, Transaction};
use parex::core::StateKey;
use parex::host::workload::BENEFICIARY;

use super::*;

#[test]
fn invalid_transactions_change_nothing() {
    let w = world(vec![(C0, code(Sample::Token))], &[(C0, token::OWNER, ALICE.0)]);
    let w = with_account(w, ALICE, 1_000_000, 5);
    let w = with_account(w, CAROL, B, u64::MAX);
    let w = with_account(w, C0, 1_000_000, 0);
    let t = |nonce, gas_limit, gas_price, value| {
        Transaction::transfer(ALICE, nonce, BOB, value, gas_limit, gas_price)
    };
    let list = |entries: &[(StateKey, bool)]| {
        Some(
            entries
                .iter()
                .map(|&(key, write)| AccessEntry::new(key, write))
                .collect::<AccessList>(),
        )
    };
    let with_list = |mut tx: Transaction<'static>, l: Option<AccessList>| {
        tx.access = l.map(|l| &*Box::leak(Box::new(l)));
        tx
    };
    let dup = list(&[(StateKey::balance(BOB), true), (StateKey::balance(BOB), false)]);
    let code_hash = list(&[(StateKey::code_hash(C0), false)]);
    let cases: Vec<(&str, Transaction, Status)> = vec![
        ("nonce too high", t(6, 1000, 1, 1), Status::InvalidNonce),
        ("nonce too low", t(4, 1000, 1, 1), Status::InvalidNonce),
        ("nonce zero", t(0, 1000, 1, 1), Status::InvalidNonce),
        (
            "nonce at u64::MAX",
            Transaction::transfer(CAROL, u64::MAX, BOB, 1, 1000, 1),
            Status::InvalidNonce,
        ),
        (
            "fee + value one more than the balance",
            t(5, 1000, 1, 1_000_000 - 1000 + 1),
            Status::InsufficientFunds,
        ),
        ("fee alone above the balance", t(5, 1_000_001, 1, 0), Status::InsufficientFunds),
        ("native transfer above the balance", t(5, 1000, 0, 1_000_001), Status::InsufficientFunds),
        (
            "call value + fee above the balance",
            Transaction::call(ALICE, 5, C0, 1, &[token::TRANSFER, BOB.0, 0], 1_000_000, 1).unwrap(),
            Status::InsufficientFunds,
        ),
        ("gas limit one below intrinsic", t(5, INTRINSIC_GAS - 1, 1, 1), Status::IntrinsicGas),
        ("gas limit zero", t(5, 0, 0, 0), Status::IntrinsicGas),
        ("gas_limit * gas_price overflows", t(5, u64::MAX, 2, 0), Status::FeeOverflow),
        ("fee + value overflows", t(5, 1000, 1, u64::MAX - 999), Status::FeeOverflow),
        (
            "sender is a contract",
            Transaction::transfer(C0, 0, BOB, 1, 1000, 1),
            Status::SenderIsContract,
        ),
        (
            "duplicate access-list key",
            with_list(t(5, 1000, 1, 1), dup.clone()),
            Status::BadAccessList,
        ),
        (
            "code hash in the access list",
            with_list(t(5, 1000, 1, 1), code_hash),
            Status::BadAccessList,
        ),
        // Checks run in the documented order.
        ("bad list before bad nonce", with_list(t(9, 1, u64::MAX, 1), dup), Status::BadAccessList),
        (
            "contract sender before nonce",
            Transaction::transfer(C0, 7, BOB, 1, 1, 1),
            Status::SenderIsContract,
        ),
        ("nonce before intrinsic gas", t(6, 999, 1, 1), Status::InvalidNonce),
        ("intrinsic gas before fee overflow", t(5, 999, u64::MAX, 0), Status::IntrinsicGas),
        ("fee overflow before funds", t(5, u64::MAX, u64::MAX, 0), Status::FeeOverflow),
    ];
    let before = genesis(&w);
    for (name, tx, status) in cases {
        assert!(status.is_invalid());
        // The invalid transaction, then a valid one with Alice's real nonce: it still
        // matches, so the nonce was not bumped.
        let valid = t(5, 1000, 1, 10);
        let (r, after) = run(&w, &[tx.clone(), valid.clone()]);
        assert_eq!(r[0], Receipt { status, ..Receipt::EMPTY }, "{name}");
        assert_eq!(r[1].status, Status::Success, "{name}: the next transaction");
        let mut expect = before.clone();
        expect.set(StateKey::nonce(ALICE), 6);
        expect.set(StateKey::balance(ALICE), 1_000_000 - 1000 - 10);
        expect.set(StateKey::balance(BOB), B + 10);
        expect.set(StateKey::balance(BENEFICIARY), 1000);
        assert_eq!(after, expect, "{name}: the invalid transaction changed state");

        let (r, after) = run(&w, &[tx]);
        assert_eq!(r[0].status, status, "{name}");
        assert_eq!(after, before, "{name}: state changed");
    }
}

#[test]
fn exact_funds_are_enough() {
    let w = with_account(world(vec![], &[]), ALICE, 5_000, 0);
    let (r, after) = run(&w, &[Transaction::transfer(ALICE, 0, BOB, 3_000, 1_000, 2)]);
    assert_eq!(r[0].status, Status::Success);
    assert_eq!((after.bal(ALICE), after.bal(BOB), after.bal(BENEFICIARY)), (0, B + 3_000, 2_000));
}
