//! Transaction encoding: round trips, every decode error, and decoding arbitrary bytes.

use parex_core::tx::{
    AccessEntry, AccessList, DecodeError, Transaction, TxKind, MAX_ACCESS, MAX_ARGS,
    MAX_ENCODED_LEN,
};
use parex_core::{Address, KeyKind, StateKey};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x5eed_0002),
        ..ProptestConfig::default()
    }
}

fn encode(tx: &Transaction) -> Vec<u8> {
    let mut buf = [0u8; MAX_ENCODED_LEN];
    let n = tx.encode(&mut buf);
    buf[..n].to_vec()
}

/// Documented layout length.
fn encoded_len(tx: &Transaction) -> usize {
    let kind = match &tx.kind {
        TxKind::Transfer { .. } => 16,
        TxKind::Call { args, .. } | TxKind::Delivered { args, .. } => 16 + 1 + 8 * args.len(),
    };
    let access = match &tx.access {
        None => 1,
        Some(l) => 2 + 18 * l.len(),
    };
    32 + 1 + kind + access
}

fn key() -> impl Strategy<Value = StateKey> {
    let kind = prop::sample::select(vec![
        KeyKind::Balance,
        KeyKind::Nonce,
        KeyKind::CodeHash,
        KeyKind::Storage,
    ]);
    (any::<u64>(), kind, any::<u64>()).prop_map(|(a, kind, slot)| StateKey {
        addr: Address(a),
        kind,
        slot,
    })
}

fn transaction() -> impl Strategy<Value = Transaction<'static>> {
    let kind =
        prop_oneof![
            (any::<u64>(), any::<u64>())
                .prop_map(|(to, value)| TxKind::Transfer { to: Address(to), value }),
            (any::<u64>(), any::<u64>(), prop::collection::vec(any::<u64>(), 0..=MAX_ARGS))
                .prop_map(|(to, value, args)| TxKind::Call {
                    to: Address(to),
                    value,
                    args: heapless::Vec::from_slice(&args).unwrap(),
                }),
            (any::<u64>(), any::<u64>(), prop::collection::vec(any::<u64>(), 0..=MAX_ARGS))
                .prop_map(|(to, value, args)| TxKind::Delivered {
                    to: Address(to),
                    value,
                    args: heapless::Vec::from_slice(&args).unwrap(),
                }),
        ];
    let access = prop::option::of(prop::collection::vec((key(), any::<bool>()), 0..=MAX_ACCESS))
        .prop_map(|l| {
            l.map(|l| {
                // Leaked: the few thousand cases' lists live as long as the test.
                let list = l.into_iter().map(|(key, write)| AccessEntry::new(key, write)).collect();
                &*Box::leak(Box::new(list))
            })
        });
    (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>(), kind, access).prop_map(
        |(from, nonce, gas_limit, gas_price, kind, access)| Transaction {
            from: Address(from),
            nonce,
            gas_limit,
            gas_price,
            kind,
            access,
        },
    )
}

proptest! {
    #![proptest_config(config(2_000))]

    #[test]
    fn encode_decode_round_trip(tx in transaction()) {
        let bytes = encode(&tx);
        prop_assert_eq!(bytes.len(), encoded_len(&tx));
        prop_assert!(bytes.len() <= MAX_ENCODED_LEN);
        let mut list = AccessList::new();
        prop_assert_eq!(Transaction::decode(&bytes, &mut list), Ok(tx.clone()));
        // Every proper prefix is truncated.
        for cut in 0..bytes.len() {
            prop_assert!(
                matches!(reencode(&bytes[..cut]), Err(DecodeError::Truncated(_))),
                "prefix {}", cut
            );
        }
        // One byte more is trailing.
        let mut long = bytes.clone();
        long.push(0);
        prop_assert_eq!(reencode(&long), Err(DecodeError::TrailingBytes(1)));
    }

    #[test]
    fn decode_never_panics_and_is_canonical(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(again) = reencode(&bytes) {
            prop_assert_eq!(again, bytes);
        }
    }

    #[test]
    fn decoding_a_mutated_encoding_never_panics(
        tx in transaction(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut bytes = encode(&tx);
        let i = at.index(bytes.len());
        bytes[i] = byte;
        if let Ok(again) = reencode(&bytes) {
            prop_assert_eq!(again, bytes);
        }
    }
}

/// `bytes` decoded and encoded again (the decoded list lives only in here).
fn reencode(bytes: &[u8]) -> Result<Vec<u8>, DecodeError> {
    Transaction::decode(bytes, &mut AccessList::new()).map(|tx| encode(&tx))
}

fn sample_call() -> Transaction<'static> {
    let mut tx =
        Transaction::call(Address(1), 2, Address(3), 4, &[5, 6], 7, 8).expect("two args fit");
    let mut list = AccessList::new();
    list.push(AccessEntry::new(StateKey::storage(Address(3), 9), true)).unwrap();
    tx.access = Some(Box::leak(Box::new(list)));
    tx
}

// Offsets in `sample_call`'s encoding.
const KIND: usize = 32;
const NARGS: usize = 49;
const ACCESS_FLAG: usize = NARGS + 1 + 16;
const ACCESS_COUNT: usize = ACCESS_FLAG + 1;
const KEY_KIND: usize = ACCESS_COUNT + 1 + 8;
const WRITE_FLAG: usize = ACCESS_COUNT + 1 + 17;

#[test]
fn layout_offsets() {
    let b = encode(&sample_call());
    assert_eq!(b.len(), WRITE_FLAG + 1);
    assert_eq!(b[KIND], 1);
    assert_eq!(b[NARGS], 2);
    assert_eq!(b[ACCESS_FLAG], 1);
    assert_eq!(b[ACCESS_COUNT], 1);
    assert_eq!(b[KEY_KIND], KeyKind::Storage as u8);
    assert_eq!(b[WRITE_FLAG], 1);
    let t = Transaction::transfer(Address(1), 0, Address(2), 3, 4, 5);
    let b = encode(&t);
    assert_eq!((b.len(), b[KIND], b[49]), (50, 0, 0));
}

#[test]
fn every_decode_error() {
    let good = encode(&sample_call());
    let with = |at: usize, v: u8| {
        let mut b = good.clone();
        b[at] = v;
        reencode(&b)
    };
    assert_eq!(reencode(&[]), Err(DecodeError::Truncated(0)));
    assert_eq!(reencode(&good[..31]), Err(DecodeError::Truncated(24)));
    assert_eq!(reencode(&good[..good.len() - 1]), Err(DecodeError::Truncated(WRITE_FLAG)));
    assert_eq!(with(KIND, 3), Err(DecodeError::BadKind(3)));
    assert_eq!(with(KIND, 0xff), Err(DecodeError::BadKind(0xff)));
    assert_eq!(with(NARGS, MAX_ARGS as u8 + 1), Err(DecodeError::TooManyArgs));
    assert_eq!(with(ACCESS_FLAG, 2), Err(DecodeError::BadFlag(2)));
    assert_eq!(with(ACCESS_COUNT, MAX_ACCESS as u8 + 1), Err(DecodeError::TooManyAccesses));
    assert_eq!(with(KEY_KIND, 4), Err(DecodeError::BadKeyKind(4)));
    assert_eq!(with(WRITE_FLAG, 7), Err(DecodeError::BadFlag(7)));
    let mut long = good.clone();
    long.extend_from_slice(&[0, 0, 0]);
    assert_eq!(reencode(&long), Err(DecodeError::TrailingBytes(3)));
    // The builder refuses too many arguments too.
    assert_eq!(
        Transaction::call(Address(1), 0, Address(2), 0, &[0; MAX_ARGS + 1], 1, 1),
        Err(DecodeError::TooManyArgs)
    );
    for e in [
        DecodeError::Truncated(3),
        DecodeError::BadKind(9),
        DecodeError::TooManyArgs,
        DecodeError::TooManyAccesses,
        DecodeError::BadKeyKind(9),
        DecodeError::BadFlag(9),
        DecodeError::TrailingBytes(2),
    ] {
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn access_list_shape() {
    let mut tx = sample_call();
    assert!(tx.access_list_is_well_formed());
    let k = StateKey::storage(Address(3), 9);
    assert!(tx.declares(&k, true) && tx.declares(&k, false));
    assert!(!tx.declares(&StateKey::storage(Address(3), 10), false));
    // Same key twice, even with different write flags.
    let mut twice = tx.access.unwrap().clone();
    twice.push(AccessEntry::new(k, false)).unwrap();
    tx.access = Some(&twice);
    assert!(!tx.access_list_is_well_formed());
    // A code hash.
    let mut code = sample_call().access.unwrap().clone();
    code[0] = AccessEntry::new(StateKey::code_hash(Address(3)), code[0].write);
    tx.access = Some(&code);
    assert!(!tx.access_list_is_well_formed());
    // Read-only declarations do not cover writes; no list declares everything.
    let mut read = sample_call().access.unwrap().clone();
    read[0].write = false;
    tx.access = Some(&read);
    assert!(tx.declares(&k, false) && !tx.declares(&k, true));
    tx.access = None;
    assert!(tx.declares(&k, true));
}
