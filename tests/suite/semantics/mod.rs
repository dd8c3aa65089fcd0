//! What a transaction does, end to end on hand-built worlds: invalid transactions change
//! nothing; failed ones pay their fee and bump the nonce but change nothing else; each
//! sample contract's methods, reverts, storage and logs.
//!
//! Every block here runs through [`assert_same`], so it is also checked against the
//! parallel engine.
//!
//! This file holds the hand-built worlds and the helpers; the cases are in `invalid.rs`,
//! `failures.rs` and `contracts.rs`.

use std::collections::BTreeMap;

use parex::core::contracts::{Sample, MAX_CODE_LEN};
use parex::core::policy::plannable;
use parex::core::receipt::{Receipt, Status};
use parex::core::state::{GenesisAccount, GenesisStorage, StateEntry};
use parex::core::tx::Transaction;
use parex::core::vm::asm::Asm;
use parex::core::{keccak256, Address, StateKey};
use parex::host::engine::Mode;
use parex::host::workload::{World, BENEFICIARY};

use super::differential::{assert_same, assert_same_on, replay_with, Path};

mod contracts;
mod failures;
mod invalid;

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
    World { accounts, contracts, storage, beneficiary: BENEFICIARY, shards: None }
}

fn with_account(mut w: World, addr: Address, balance: u64, nonce: u64) -> World {
    w.accounts.retain(|a| a.addr != addr);
    w.accounts.push(GenesisAccount { addr, balance, nonce });
    w
}

fn genesis(w: &World) -> Words {
    Words::of(&replay_with(w, &[] as &[Vec<Transaction>], Mode::Sequential).state)
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

fn call(from: Address, nonce: u64, to: Address, value: u64, args: &[u64]) -> Transaction<'static> {
    Transaction::call(from, nonce, to, value, args, GAS, 1).expect("args fit")
}

/// Sends `txs` in order, each from its sender with consecutive nonces.
fn sequenced(txs: Vec<Transaction<'_>>) -> Vec<Transaction<'_>> {
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
