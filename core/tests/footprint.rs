//! What a transaction may touch is stated once, by `Transaction::footprint`: every
//! access set a transfer's execution leaves stays inside its footprint, read keys only
//! at the read positions, the others only added to (or left alone), whatever the
//! balances, nonces and gas, and whichever of sender, recipient and beneficiary
//! coincide. Contract calls have no footprint.

use std::collections::HashMap;

use parex_core::exec::{execute_transaction, Access, AccessSet, BlockEnv, Limits, View, Write};
use parex_core::parallel::footprint::SERIAL_RATIO;
use parex_core::policy::{looks_contended, CONTENTION_SAMPLE};
use parex_core::tx::{Footprint, Transaction};
use parex_core::vm::{Interrupt, VmScratch};
use parex_core::{Address, StateKey};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

struct MapView(HashMap<StateKey, u64>);

impl View for MapView {
    fn read(&mut self, key: &StateKey) -> Result<u64, Interrupt> {
        Ok(self.0.get(key).copied().unwrap_or(0))
    }
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
        let limits = Limits::DEFAULT;
        let env = BlockEnv { number: 1, beneficiary, contracts: &[], limits };
        let mut entries = vec![Access::EMPTY; limits.access_entries()];
        let mut acc = AccessSet::new(&mut entries, limits).unwrap();
        let (mut stack, mut memory) = ([0u64; 16], [0u8; 64]);
        let mut vm = VmScratch { stack: &mut stack, memory: &mut memory };
        let receipt = execute_transaction(&tx, &env, &mut MapView(state), &mut acc, &mut vm)
            .expect("a map view never interrupts");
        for a in acc.accesses() {
            let j = fp.position(&a.key);
            prop_assert!(j.is_some(), "{:?} touched {:?} outside {:?} ({:?})", tx, a, fp, receipt);
            let j = j.unwrap();
            if !Footprint::reads(j) {
                prop_assert!(a.read.is_none(), "{:?} read add-only {:?} ({:?})", tx, a, fp);
                prop_assert!(
                    matches!(a.write, Write::None | Write::Add(_)),
                    "{:?} set add-only {:?} ({:?})", tx, a, fp
                );
            }
        }
    }
}

#[test]
fn contract_calls_have_no_footprint() {
    let call = Transaction::call(Address(1), 0, Address(9), 0, &[1, 2], 50_000, 1).unwrap();
    assert_eq!(call.footprint(Address(2)), None);
    assert!(!call.has_footprint());
    assert!(Transaction::transfer(Address(1), 0, Address(2), 1, 1_000, 1).has_footprint());
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

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 500,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0xF007_0002),
        ..ProptestConfig::default()
    })]

    /// The policy's contention look counts repeated senders in the sample exactly.
    #[test]
    fn looks_contended_counts_repeated_senders(
        senders in prop::collection::vec(prop_oneof![0u64..8, 0u64..400, any::<u64>()], 0..600),
    ) {
        let txs: Vec<_> = senders
            .iter()
            .map(|&s| Transaction::transfer(Address(s), 0, Address(1), 1, 1_000, 1))
            .collect();
        let sample = &senders[..senders.len().min(CONTENTION_SAMPLE)];
        let distinct = sample.iter().collect::<std::collections::BTreeSet<_>>().len();
        let expect = !sample.is_empty()
            && (sample.len() - distinct) * SERIAL_RATIO >= sample.len();
        prop_assert_eq!(looks_contended(&txs), expect);
    }
}
