//! What a transaction may touch is stated once, by `Transaction::footprint`: every
//! access set a transfer's execution leaves stays inside its footprint, read keys only
//! at the read positions, the others only added to (or left alone), whatever the
//! balances, nonces and gas, and whichever of sender, recipient and beneficiary
//! coincide. A contract call has a footprint only when it declares its access list.
//! The policy's contention look tells chains from groups of chains.

use std::collections::HashMap;

use parex_core::engine::creates_at_most;
use parex_core::exec::{execute_transaction, Access, AccessSet, BlockEnv, Limits, View, Write};
use parex_core::policy::looks_contended;
use parex_core::receipt::Receipt;
use parex_core::tx::{AccessEntry, AccessList, Transaction};
use parex_core::vm::{Interrupt, VmScratch};
use parex_core::{Address, Shard, StateKey};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

struct MapView(HashMap<StateKey, u64>);

impl View for MapView {
    fn read(&mut self, key: &StateKey) -> Result<u64, Interrupt> {
        Ok(self.0.get(key).copied().unwrap_or(0))
    }
}

/// Executes `tx` alone over `state`, in a block whose beneficiary is `beneficiary`: its
/// receipt and its accesses.
fn execute_alone(
    tx: &Transaction,
    beneficiary: Address,
    state: HashMap<StateKey, u64>,
) -> (Receipt, Vec<Access>) {
    let limits = Limits::DEFAULT;
    let env = BlockEnv {
        number: 1,
        beneficiary,
        contracts: &[],
        limits,
        shard: Shard::WHOLE,
        delivered: 0,
    };
    let mut entries = vec![Access::EMPTY; limits.access_entries()];
    let mut acc = AccessSet::new(&mut entries, limits).unwrap();
    let (mut stack, mut memory) = ([0u64; 16], [0u8; 64]);
    let mut vm = VmScratch { stack: &mut stack, memory: &mut memory };
    let receipt = execute_transaction(tx, &env, &mut MapView(state), &mut acc, &mut vm)
        .expect("a map view never interrupts");
    (receipt, acc.accesses().to_vec())
}

/// One of three addresses, so that sender, recipient and beneficiary often coincide.
fn addr() -> impl Strategy<Value = Address> {
    (1u64..=3).prop_map(Address)
}

fn amount() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0), 0u64..10_000, Just(u64::MAX), (u64::MAX - 10_000)..=u64::MAX]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 4_000,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0xF007_0001),
        ..ProptestConfig::default()
    })]

    #[test]
    fn transfers_stay_inside_their_footprint(
        (from, to, beneficiary) in (addr(), addr(), addr()),
        (nonce, state_nonce) in (0u64..3, 0u64..3),
        (value, balance, to_balance) in (amount(), amount(), amount()),
        (gas_limit, gas_price) in (prop_oneof![Just(0u64), 0u64..3_000], amount()),
    ) {
        let tx = Transaction::transfer(from, nonce, to, value, gas_limit, gas_price);
        let fp = tx.footprint(beneficiary).expect("a transfer has a footprint");
        let mut state = HashMap::new();
        state.insert(StateKey::balance(to), to_balance);
        state.insert(StateKey::balance(from), balance);
        state.insert(StateKey::nonce(from), state_nonce);
        let (receipt, accesses) = execute_alone(&tx, beneficiary, state);
        for a in &accesses {
            let j = fp.position(&a.key);
            prop_assert!(j.is_some(), "{:?} touched {:?} outside {:?} ({:?})", tx, a, fp, receipt);
            let j = j.unwrap();
            if !fp.reads(j) {
                prop_assert!(a.read.is_none(), "{:?} read add-only {:?} ({:?})", tx, a, fp);
                prop_assert!(
                    matches!(a.write, Write::None | Write::Add(_)),
                    "{:?} set add-only {:?} ({:?})", tx, a, fp
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 4_000,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0xF007_0002),
        ..ProptestConfig::default()
    })]

    /// The state's room for a block is counted with `creates_at_most`: a transfer
    /// creates at most that many keys besides the beneficiary's balance, whichever keys
    /// exist before it.
    #[test]
    fn transfers_create_at_most_what_they_declare(
        (from, to, beneficiary) in (addr(), addr(), addr()),
        nonce in 0u64..2,
        (value, gas_limit, gas_price) in (amount(), 0u64..3_000, prop_oneof![Just(0u64), amount()]),
        present in proptest::collection::vec(proptest::option::of(amount()), 3),
    ) {
        let tx = Transaction::transfer(from, nonce, to, value, gas_limit, gas_price);
        let keys = [StateKey::balance(from), StateKey::nonce(from), StateKey::balance(to)];
        let state: HashMap<_, _> =
            keys.iter().zip(&present).filter_map(|(k, v)| v.map(|v| (*k, v))).collect();
        let had = state.clone();
        let (_, accesses) = execute_alone(&tx, beneficiary, state);
        let created = accesses
            .iter()
            .filter(|a| a.write != Write::None && !had.contains_key(&a.key))
            .filter(|a| a.key != StateKey::balance(beneficiary))
            .count();
        prop_assert!(created <= creates_at_most(&tx, &Limits::DEFAULT), "{:?} on {:?} created {}", tx, had, created);
    }
}

#[test]
fn contract_calls_have_a_footprint_only_with_an_access_list() {
    let mut call = Transaction::call(Address(1), 0, Address(9), 0, &[1, 2], 50_000, 1).unwrap();
    assert_eq!(call.footprint(Address(2)), None);
    assert!(!call.has_footprint());
    assert_eq!(call.footprint_len(), 0);
    assert!(Transaction::transfer(Address(1), 0, Address(2), 1, 1_000, 1).has_footprint());
    // Declared keys are read keys, after the sender's; a declared implicit key (the
    // sender's balance, the beneficiary's) is listed once, read.
    let (slot, ben) = (StateKey::storage(Address(9), 7), Address(2));
    let list =
        [(slot, true), (StateKey::balance(Address(1)), false), (StateKey::balance(ben), false)];
    let declared: AccessList =
        list.iter().map(|&(key, write)| AccessEntry::new(key, write)).collect();
    call.access = Some(&declared);
    let fp = call.footprint(ben).expect("declared");
    let keys =
        [StateKey::nonce(Address(1)), StateKey::balance(Address(1)), slot, StateKey::balance(ben)];
    assert_eq!(fp.keys(), &keys[..]);
    assert!((0..4).all(|j| fp.reads(j)));
    assert!(call.footprint_len() >= fp.len());
    // Without the beneficiary declared, its balance is only added to.
    let mut first = declared.clone();
    first.truncate(1);
    call.access = Some(&first);
    let fp = call.footprint(ben).unwrap();
    assert_eq!(fp.keys(), &[keys[0], keys[1], slot, StateKey::balance(ben)][..]);
    assert!(fp.reads(2) && !fp.reads(3));
}

/// A footprint set in place over another's (as the footprint engine's loops reuse one)
/// is the footprint built afresh, and equal to it: the longer one's keys left past the
/// new length are not part of it.
#[test]
fn a_footprint_set_in_place_is_the_one_built_afresh() {
    let ben = Address(2);
    let mut call = Transaction::call(Address(1), 0, Address(9), 0, &[1], 50_000, 1).unwrap();
    let declared: AccessList =
        (10..16).map(|s| AccessEntry::new(StateKey::storage(Address(9), s), true)).collect();
    call.access = Some(&declared);
    let transfer = Transaction::transfer(Address(3), 0, Address(4), 1, 1_000, 1);
    let mut fp = parex_core::tx::Footprint::of(&call, ben);
    assert_eq!(fp.len(), 9);
    fp.set(&transfer, ben);
    let fresh = transfer.footprint(ben).unwrap();
    assert_eq!(fp.keys(), fresh.keys());
    assert_eq!(fp, fresh);
    assert!((0..fp.len()).all(|j| fp.reads(j) == fresh.reads(j)));
}

#[test]
fn a_footprint_lists_each_key_once_reads_first() {
    let (a, b, c) = (Address(1), Address(2), Address(3));
    let cases = [
        (
            (a, b, c),
            vec![
                StateKey::nonce(a),
                StateKey::balance(a),
                StateKey::balance(b),
                StateKey::balance(c),
            ],
        ),
        ((a, a, c), vec![StateKey::nonce(a), StateKey::balance(a), StateKey::balance(c)]),
        ((a, b, b), vec![StateKey::nonce(a), StateKey::balance(a), StateKey::balance(b)]),
        ((a, b, a), vec![StateKey::nonce(a), StateKey::balance(a), StateKey::balance(b)]),
        ((a, a, a), vec![StateKey::nonce(a), StateKey::balance(a)]),
    ];
    for ((from, to, ben), keys) in cases {
        let fp = Transaction::transfer(from, 0, to, 1, 1_000, 1).footprint(ben).unwrap();
        assert_eq!(fp.keys(), &keys[..], "{from:?} → {to:?}, beneficiary {ben:?}");
        assert_eq!(fp.len(), keys.len());
    }
}

/// A call from `from` to contract 9 declaring `keys` (written unless `read_only`). The
/// list is leaked: a test's few hundred lists live as long as the test process.
fn declared_call(from: u64, keys: &[u64], read_only: bool) -> Transaction<'static> {
    let mut call = Transaction::call(Address(from), 0, Address(9), 0, &[0], 50_000, 1).unwrap();
    let entry = |&slot: &u64| AccessEntry::new(StateKey::storage(Address(9), slot), !read_only);
    call.access = Some(Box::leak(Box::new(keys.iter().map(entry).collect())));
    call
}

#[test]
fn looks_contended_sees_chains_not_groups() {
    let transfer =
        |from: u64, to: u64| Transaction::transfer(Address(from), 0, Address(to), 1, 1_000, 1);
    // Distinct senders paying accounts that never send: nothing to wait for.
    let fresh: Vec<_> = (0..600).map(|i| transfer(1_000 + i, 100_000 + i % 7)).collect();
    assert!(!looks_contended(&fresh));
    // Two accounts paying each other: every transfer reads what the one before wrote.
    let ping_pong: Vec<_> = (0..600).map(|i| transfer(1 + i % 2, 2 - i % 2)).collect();
    assert!(looks_contended(&ping_pong));
    // One sender: one chain, one lane.
    let one_sender: Vec<_> = (0..600).map(|i| transfer(5, 1_000 + i)).collect();
    assert!(looks_contended(&one_sender));
    // Calls on 64 contracts' counters (an NFT collection's next id): each counter's
    // calls form a chain, but the chains spread over the lanes.
    let groups: Vec<_> =
        (0..600).map(|i| declared_call(1_000 + i, &[i % 64, 10_000 + i], false)).collect();
    assert!(!looks_contended(&groups));
    // One counter for all: one chain.
    let one_pool: Vec<_> =
        (0..600).map(|i| declared_call(1_000 + i, &[0, 10_000 + i], false)).collect();
    assert!(looks_contended(&one_pool));
    // A key every call only reads (a collection's maximum supply): no chain at all.
    let read_only: Vec<_> = (0..600).map(|i| declared_call(1_000 + i, &[1], true)).collect();
    assert!(!looks_contended(&read_only));
    // Senders that repeat, one in three: each sender's transactions are one lane's.
    let repeats: Vec<_> = (0..600).map(|i| transfer(1_000 + i % 200, 100_000 + i)).collect();
    assert!(!looks_contended(&repeats));
    assert!(!looks_contended(&[]));
}
