//! What a transaction does, end to end on hand-built worlds: invalid transactions change
//! nothing; failed ones pay their fee and bump the nonce but change nothing else; each
//! sample contract's methods, reverts, storage and logs.
//!
//! Every block here runs through [`assert_same`], so it is also checked against the
//! parallel engine.

use std::collections::BTreeMap;

use parex::core::contracts::{amm, dao, depin, game, nft, token, Sample, MAX_CODE_LEN};
use parex::core::exec::{Limits, INTRINSIC_GAS};
use parex::core::policy::plannable;
use parex::core::receipt::{Receipt, Status};
use parex::core::state::{GenesisAccount, GenesisStorage, StateEntry};
use parex::core::tx::{AccessEntry, AccessList, Transaction};
use parex::core::vm::asm::Asm;
use parex::core::vm::Op;
use parex::core::{keccak256, Address, StateKey};
use parex::host::engine::Mode;
use parex::host::workload::{World, BENEFICIARY};

use super::differential::{assert_same, assert_same_on, replay_with, Path};

const ALICE: Address = Address(0x1000);
const BOB: Address = Address(0x1001);
const CAROL: Address = Address(0x1002);
const C0: Address = Address(0xC000_0000);
const C1: Address = Address(0xC000_0001);
const C2: Address = Address(0xC000_0002);
const C3: Address = Address(0xC000_0003);
const C4: Address = Address(0xC000_0004);
const C5: Address = Address(0xC000_0005);
const C6: Address = Address(0xC000_0006);
const C7: Address = Address(0xC000_0007);
const C8: Address = Address(0xC000_0008);
/// Every user's starting native balance.
const B: u64 = 1_000_000_000;
const GAS: u64 = 100_000;

/// The state as a map; absent keys read as 0.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Words(BTreeMap<StateKey, u64>);

impl Words {
    fn of(state: &[StateEntry]) -> Self {
        Self(state.iter().map(|e| (e.key, e.value)).collect())
    }
    fn get(&self, key: StateKey) -> u64 {
        self.0.get(&key).copied().unwrap_or(0)
    }
    fn bal(&self, a: Address) -> u64 {
        self.get(StateKey::balance(a))
    }
    fn nonce(&self, a: Address) -> u64 {
        self.get(StateKey::nonce(a))
    }
    fn slot(&self, c: Address, slot: u64) -> u64 {
        self.get(StateKey::storage(c, slot))
    }
    fn set(&mut self, key: StateKey, v: u64) {
        self.0.insert(key, v);
    }
}

fn code(s: Sample) -> Vec<u8> {
    let mut buf = [0u8; MAX_CODE_LEN];
    let n = s.build(&mut buf).expect("sample assembles");
    buf[..n].to_vec()
}

fn program(f: impl FnOnce(&mut Asm<'_>)) -> Vec<u8> {
    let mut buf = [0u8; 1024];
    let mut a = Asm::new(&mut buf);
    f(&mut a);
    let n = a.finish().expect("test program assembles");
    buf[..n].to_vec()
}

/// Alice, Bob and Carol with [`B`] each, the beneficiary, and `contracts` (ascending).
fn world(contracts: Vec<(Address, Vec<u8>)>, storage: &[(Address, u64, u64)]) -> World {
    let accounts = [ALICE, BOB, CAROL, BENEFICIARY]
        .iter()
        .map(|&addr| GenesisAccount {
            addr,
            balance: if addr == BENEFICIARY { 0 } else { B },
            nonce: 0,
        })
        .collect();
    let storage =
        storage.iter().map(|&(addr, slot, value)| GenesisStorage { addr, slot, value }).collect();
    World { accounts, contracts, storage, beneficiary: BENEFICIARY }
}

fn with_account(mut w: World, addr: Address, balance: u64, nonce: u64) -> World {
    w.accounts.retain(|a| a.addr != addr);
    w.accounts.push(GenesisAccount { addr, balance, nonce });
    w
}

fn genesis(w: &World) -> Words {
    Words::of(&replay_with(w, &[], Mode::Sequential).state)
}

/// Runs one block (sequential, checked against both parallel paths) and returns
/// receipts and state.
fn run(w: &World, txs: &[Transaction]) -> (Vec<Receipt>, Words) {
    let blocks = [txs.to_vec()];
    assert_same_on(Path::Engine, w, &blocks, &[2], 1);
    if plannable(txs) {
        assert_same_on(Path::Footprint, w, &blocks, &[1, 2], 1);
    }
    let out = assert_same(w, &blocks, &[2], 1);
    (out.blocks[0].receipts.clone(), Words::of(&out.state))
}

fn call(from: Address, nonce: u64, to: Address, value: u64, args: &[u64]) -> Transaction {
    Transaction::call(from, nonce, to, value, args, GAS, 1).expect("args fit")
}

/// Sends `txs` in order, each from its sender with consecutive nonces.
fn sequenced(txs: Vec<Transaction>) -> Vec<Transaction> {
    let mut nonces: BTreeMap<Address, u64> = BTreeMap::new();
    txs.into_iter()
        .map(|mut tx| {
            let n = nonces.entry(tx.from).or_default();
            tx.nonce = *n;
            *n += 1;
            tx
        })
        .collect()
}

/// Fees `addr` paid in this block.
fn fees(txs: &[Transaction], receipts: &[Receipt], addr: Address) -> u64 {
    txs.iter()
        .zip(receipts)
        .filter(|(t, _)| t.from == addr)
        .map(|(t, r)| r.gas_used * t.gas_price)
        .sum()
}

fn log_digest(entries: &[(Address, u64, u64)]) -> [u8; 32] {
    let mut m = Vec::new();
    for (a, t, d) in entries {
        m.extend_from_slice(&a.0.to_le_bytes());
        m.extend_from_slice(&t.to_le_bytes());
        m.extend_from_slice(&d.to_le_bytes());
    }
    keccak256(&m)
}

#[track_caller]
fn assert_status(receipts: &[Receipt], expected: &[(Status, u64)]) {
    let got: Vec<_> = receipts.iter().map(|r| (r.status, r.output)).collect();
    assert_eq!(got, expected);
}

// ---------------------------------------------------------------------------------------
// Invalid transactions: rejected, no state change, no fee, no nonce
// ---------------------------------------------------------------------------------------

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
        Some(entries.iter().map(|&(key, write)| AccessEntry { key, write }).collect::<AccessList>())
    };
    let with_list = |mut tx: Transaction, l: Option<AccessList>| {
        tx.access = l;
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

// ---------------------------------------------------------------------------------------
// Failed but included: fee charged, nonce bumped, everything else rolled back
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// Sample contracts end to end
// ---------------------------------------------------------------------------------------

#[test]
fn token_transfers_mints_and_reverts() {
    let w = world(
        vec![(C0, code(Sample::Token))],
        &[
            (C0, token::OWNER, ALICE.0),
            (C0, token::TOTAL_SUPPLY, 1000),
            (C0, token::balance_slot(ALICE.0), 1000),
        ],
    );
    let txs = sequenced(vec![
        call(ALICE, 0, C0, 0, &[token::TRANSFER, BOB.0, 300]),
        call(BOB, 0, C0, 0, &[token::TRANSFER, CAROL.0, 301]),
        call(BOB, 0, C0, 0, &[token::MINT, BOB.0, 50]),
        call(ALICE, 0, C0, 0, &[token::MINT, BOB.0, 50]),
        call(BOB, 0, C0, 0, &[token::TRANSFER, CAROL.0, 350]),
        call(ALICE, 0, C0, 0, &[token::TRANSFER, ALICE.0, 100]),
        call(CAROL, 0, C0, 0, &[7]),
        call(ALICE, 0, C0, 0, &[token::TRANSFER, BOB.0, 701]),
        call(CAROL, 0, C0, 0, &[token::TRANSFER, ALICE.0, 0]),
    ]);
    let (r, s) = run(&w, &txs);
    use Status::*;
    assert_status(
        &r,
        &[
            (Success, 0),
            (Reverted, 1),
            (Reverted, 2),
            (Success, 0),
            (Success, 0),
            (Success, 0),
            (Reverted, 0xff),
            (Reverted, 1),
            (Success, 0),
        ],
    );
    assert_eq!((r[0].logs, r[0].logs_digest), (1, log_digest(&[(C0, 1, 300)])));
    assert_eq!((r[3].logs, r[3].logs_digest), (1, log_digest(&[(C0, 2, 50)])));
    let bal = |a: Address| s.slot(C0, token::balance_slot(a.0));
    assert_eq!((bal(ALICE), bal(BOB), bal(CAROL)), (700, 0, 350));
    assert_eq!(s.slot(C0, token::TOTAL_SUPPLY), 1050);
    assert_eq!(bal(ALICE) + bal(BOB) + bal(CAROL), s.slot(C0, token::TOTAL_SUPPLY));
    assert_eq!(s.slot(C0, token::OWNER), ALICE.0);
    for a in [ALICE, BOB, CAROL] {
        assert_eq!(s.bal(a), B - fees(&txs, &r, a), "{a}");
    }
    assert_eq!((s.nonce(ALICE), s.nonce(BOB), s.nonce(CAROL)), (4, 3, 2));
}

#[test]
fn amm_swaps_follow_the_constant_product_formula() {
    let (rn, rt) = (1_000_000u64, 2_000_000u64);
    let w = world(
        vec![(C0, code(Sample::Amm))],
        &[
            (C0, amm::RESERVE_NATIVE, rn),
            (C0, amm::RESERVE_TOKEN, rt),
            (C0, amm::balance_slot(ALICE.0), 10_000),
        ],
    );
    let w = with_account(w, C0, rn, 0);
    let out0 = amm::quote(1_000, rn, rt).unwrap();
    let (rn1, rt1) = (rn + 1_000, rt - out0);
    let out1 = amm::quote(500, rt1, rn1).unwrap();
    let (rn2, rt2) = (rn1 - out1, rt1 + 500);
    let out2 = amm::quote(2_000, rn2, rt2).unwrap();
    assert!(out0 > 0 && out1 > 0 && out2 > 0);
    let txs = sequenced(vec![
        call(ALICE, 0, C0, 1_000, &[amm::SWAP, 0, 0]),
        call(ALICE, 0, C0, 0, &[amm::SWAP, 1, 0, 500]),
        call(BOB, 0, C0, 2_000, &[amm::SWAP, 0, out2 + 1]), // min_out not met
        call(BOB, 0, C0, 0, &[amm::SWAP, 1, 0, 1]),         // holds no tokens
        call(BOB, 0, C0, 0, &[amm::SWAP, 2, 0, 1]),         // bad direction
        call(BOB, 0, C0, 2_000, &[amm::SWAP, 0, out2]),     // min_out met exactly
        call(CAROL, 0, C0, 0, &[amm::SWAP + 1]),            // unknown method
    ]);
    let (r, s) = run(&w, &txs);
    use Status::*;
    assert_status(
        &r,
        &[
            (Success, 0),
            (Success, 0),
            (Reverted, 1),
            (Reverted, 2),
            (Reverted, 3),
            (Success, 0),
            (Reverted, 0xff),
        ],
    );
    assert_eq!(r[0].logs_digest, log_digest(&[(C0, 3, out0)]));
    assert_eq!(r[1].logs_digest, log_digest(&[(C0, 4, out1)]));
    assert_eq!(r[5].logs_digest, log_digest(&[(C0, 3, out2)]));
    let (rn3, rt3) = (rn2 + 2_000, rt2 - out2);
    assert_eq!((s.slot(C0, amm::RESERVE_NATIVE), s.slot(C0, amm::RESERVE_TOKEN)), (rn3, rt3));
    // The product never shrinks.
    for (a, b) in [((rn, rt), (rn1, rt1)), ((rn1, rt1), (rn2, rt2)), ((rn2, rt2), (rn3, rt3))] {
        assert!(b.0 as u128 * b.1 as u128 >= a.0 as u128 * a.1 as u128);
    }
    assert_eq!(s.slot(C0, amm::balance_slot(ALICE.0)), 10_000 + out0 - 500);
    assert_eq!(s.slot(C0, amm::balance_slot(BOB.0)), out2);
    // Native coin: the pool's balance tracks its native reserve here.
    assert_eq!(s.bal(C0), rn3);
    assert_eq!(s.bal(ALICE), B - 1_000 + out1 - fees(&txs, &r, ALICE));
    assert_eq!(s.bal(BOB), B - 2_000 - fees(&txs, &r, BOB));
}

#[test]
fn nft_ids_increment_until_sold_out() {
    let w = world(vec![(C0, code(Sample::Nft))], &[(C0, nft::MAX_SUPPLY, 3)]);
    let txs = sequenced(vec![
        call(ALICE, 0, C0, 0, &[nft::MINT]),
        call(BOB, 0, C0, 0, &[nft::MINT]),
        call(ALICE, 0, C0, 0, &[nft::MINT]),
        call(CAROL, 0, C0, 0, &[nft::MINT]),
        call(BOB, 0, C0, 0, &[7]),
    ]);
    let (r, s) = run(&w, &txs);
    use Status::*;
    assert_status(&r, &[(Success, 0), (Success, 1), (Success, 2), (Reverted, 1), (Reverted, 0xff)]);
    for (i, (id, owner)) in [(0u64, ALICE), (1, BOB), (2, ALICE)].into_iter().enumerate() {
        assert_eq!(s.slot(C0, nft::owner_slot(id)), owner.0);
        assert_eq!(r[i].logs_digest, log_digest(&[(C0, 5, id)]));
    }
    assert_eq!(s.slot(C0, nft::owner_slot(3)), 0);
    assert_eq!(s.slot(C0, nft::NEXT_ID), 3);
    let count = |a: Address| s.slot(C0, nft::count_slot(a.0));
    assert_eq!((count(ALICE), count(BOB), count(CAROL)), (2, 1, 0));
}

#[test]
fn dao_one_vote_per_address_and_tallies() {
    let w = world(vec![(C0, code(Sample::Dao))], &[]);
    let vote = |from, p, support| call(from, 0, C0, 0, &[dao::VOTE, p, support]);
    let txs = sequenced(vec![
        vote(ALICE, 1, 1),
        vote(BOB, 1, 0),
        vote(ALICE, 1, 0), // already voted on 1
        vote(CAROL, 1, 2), // bad support
        vote(CAROL, 2, 1),
        vote(ALICE, 2, 1),
        vote(CAROL, 1, 1),
    ]);
    let (r, s) = run(&w, &txs);
    use Status::*;
    assert_status(
        &r,
        &[
            (Success, 0),
            (Success, 0),
            (Reverted, 1),
            (Reverted, 2),
            (Success, 0),
            (Success, 0),
            (Success, 0),
        ],
    );
    assert_eq!(r[0].logs_digest, log_digest(&[(C0, 6, 1)]));
    let tally = |p, sup| s.slot(C0, dao::tally_slot(p, sup));
    assert_eq!((tally(1, 1), tally(1, 0), tally(2, 1), tally(2, 0)), (2, 1, 2, 0));
    let voted = |p, a: Address| s.slot(C0, dao::voted_slot(p, a.0));
    assert_eq!([voted(1, ALICE), voted(1, BOB), voted(1, CAROL), voted(2, BOB)], [1, 1, 1, 0]);
}

#[test]
fn depin_reports_and_pro_rata_claims() {
    let w = world(vec![(C0, code(Sample::Depin))], &[]);
    let c = |from, value, args: &[u64]| call(from, 0, C0, value, args);
    let txs = sequenced(vec![
        c(ALICE, 1_000, &[depin::FUND]),
        c(ALICE, 0, &[depin::REPORT, 30]),
        c(BOB, 0, &[depin::REPORT, 10]),
        c(ALICE, 0, &[depin::CLAIM]), // 1000 * 30 / 40
        c(CAROL, 0, &[depin::CLAIM]), // nothing reported
        c(BOB, 0, &[depin::CLAIM]),   // 250 * 10 / 10
        c(ALICE, 0, &[depin::CLAIM]), // already claimed
        c(CAROL, 0, &[depin::REPORT, 5]),
    ]);
    let (r, s) = run(&w, &txs);
    use Status::*;
    assert_status(
        &r,
        &[
            (Success, 0),
            (Success, 0),
            (Success, 0),
            (Success, 0),
            (Reverted, 1),
            (Success, 0),
            (Reverted, 1),
            (Success, 0),
        ],
    );
    assert_eq!(r[1].logs_digest, log_digest(&[(C0, 7, 30)]));
    assert_eq!(r[3].logs_digest, log_digest(&[(C0, 8, 750)]));
    assert_eq!(r[5].logs_digest, log_digest(&[(C0, 8, 250)]));
    assert_eq!(s.bal(C0), 0);
    assert_eq!(s.bal(ALICE), B - 1_000 + 750 - fees(&txs, &r, ALICE));
    assert_eq!(s.bal(BOB), B + 250 - fees(&txs, &r, BOB));
    assert_eq!(s.slot(C0, depin::TOTAL_WORK), 5);
    let work = |a: Address| s.slot(C0, depin::work_slot(a.0));
    assert_eq!((work(ALICE), work(BOB), work(CAROL)), (0, 0, 5));
}

#[test]
fn game_moves_turns_and_board_edges() {
    let w = world(vec![(C0, code(Sample::Game))], &[(C0, game::turn_slot(3), game::MAX_TURNS - 1)]);
    let mv = |from, m, step| call(from, 0, C0, 0, &[game::MOVE, m, step]);
    let txs = sequenced(vec![
        mv(ALICE, 1, 3),
        mv(ALICE, 1, 2),
        mv(BOB, 1, game::BOARD), // off the board
        mv(BOB, 1, game::BOARD - 1),
        mv(ALICE, 1, u64::MAX), // position + step overflows: a fault, not a revert
        mv(ALICE, 2, 1),
        mv(BOB, 1, 1),   // reaches BOARD: off the board
        mv(CAROL, 3, 1), // the last turn of match 3
        mv(ALICE, 3, 1), // match 3 is over
    ]);
    let (r, s) = run(&w, &txs);
    use Status::*;
    assert_status(
        &r,
        &[
            (Success, 0),
            (Success, 0),
            (Reverted, 1),
            (Success, 0),
            (ArithmeticFault, 0),
            (Success, 0),
            (Reverted, 1),
            (Success, 0),
            (Reverted, 2),
        ],
    );
    assert_eq!(r[0].logs_digest, log_digest(&[(C0, 9, 3)]));
    assert_eq!(r[1].logs_digest, log_digest(&[(C0, 9, 5)]));
    let pos = |m, a: Address| s.slot(C0, game::position_slot(m, a.0));
    assert_eq!(
        (pos(1, ALICE), pos(1, BOB), pos(2, ALICE), pos(3, CAROL)),
        (5, game::BOARD - 1, 1, 1)
    );
    let turn = |m| s.slot(C0, game::turn_slot(m));
    assert_eq!((turn(1), turn(2), turn(3)), (3, 1, game::MAX_TURNS));
    assert_eq!(r[4].gas_used, GAS);
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
