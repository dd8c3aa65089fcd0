//! Unit tests of the multi-version memory.

use super::*;

fn final_of(mut mv: MvMemory<'_>) -> [Option<MvRead>; 2] {
    let mut got = [None, None];
    for (key, read) in mv.final_versions() {
        got[key.addr.0 as usize] = Some(read);
    }
    got
}

/// The read-out's shortcut for lists of adds (the tallies) and its walk agree with
/// a read at the end through every kind of list change.
#[test]
fn tallies_follow_every_list_change() {
    let (a, b) = (StateKey::balance(Address(0)), StateKey::balance(Address(1)));
    let mut index: [IndexWord; 8] = core::array::from_fn(|_| IndexWord::new());
    let keys: [MvKey; 2] = core::array::from_fn(|_| MvKey::new());
    let nodes: [MvNode; 8] = core::array::from_fn(|_| MvNode::new());
    let mv = MvMemory::new(&mut index, &keys, &nodes).unwrap();
    // Key a: adds from txns 0, 1 and 2, then txn 1's add becomes a set and back.
    let sa = mv.insert(&a, 0, 0, Write::Add(1), false).unwrap();
    mv.insert(&a, 1, 1, Write::Add(2), false).unwrap();
    mv.insert(&a, 2, 2, Write::Add(4), false).unwrap();
    mv.write_at(sa, 1, 1, true, Write::Set(10), false);
    assert_eq!(mv.read(&a, 3), MvRead::Value(14));
    mv.write_at(sa, 1, 1, true, Write::Add(8), false);
    // Key b: an add, an estimate over it, then the estimate's node removed.
    let sb = mv.insert(&b, 0, 4, Write::Add(5), false).unwrap();
    mv.insert(&b, 1, 5, Write::Add(6), false).unwrap();
    mv.mark_estimate_at(sb, 5);
    assert_eq!(mv.read(&b, 2), MvRead::Dependency(1));
    mv.remove_at(sb, 5);
    assert_eq!(mv.read(&a, 3), MvRead::Storage(13));
    assert_eq!(mv.read(&b, 2), MvRead::Storage(5));
    assert_eq!(final_of(mv), [Some(MvRead::Storage(13)), Some(MvRead::Storage(5))]);
}

/// The answer kept for reads above the head (`List::top`) agrees with walking the
/// list, at every transaction and in the read-out, through random sequences of
/// every list change.
#[test]
fn the_top_answer_agrees_with_a_walk() {
    use proptest::prelude::*;
    const TXS: u32 = 6;
    let op = (0..4u8, 0..TXS, 0..3u8, 0..4u64);
    proptest!(|(ops in proptest::collection::vec(op, 1..40))| {
        let key = StateKey::balance(Address(0));
        let mut index: [IndexWord; 4] = core::array::from_fn(|_| IndexWord::new());
        let keys: [MvKey; 1] = core::array::from_fn(|_| MvKey::new());
        // One node per transaction: node t holds t's version.
        let nodes: [MvNode; TXS as usize] = core::array::from_fn(|_| MvNode::new());
        let mut mv = MvMemory::new(&mut index, &keys, &nodes).unwrap();
        let mut linked = [false; TXS as usize];
        let mut slot = None;
        for (kind, txn, w, v) in ops {
            let value = match w {
                0 => Write::Set(v),
                1 => Write::Add(v),
                _ => Write::None,
            };
            let node = txn;
            match (kind, slot, linked[txn as usize]) {
                // Link t's version (a first one creates the record).
                (0 | 1, _, false) => {
                    slot = Some(mv.insert(&key, txn, node, value, kind == 1).unwrap());
                    linked[txn as usize] = true;
                }
                // Replace it, possibly as an estimate.
                (0 | 1, Some(s), true) => mv.write_at(s, txn, node, true, value, kind == 1),
                (2, Some(s), true) => mv.mark_estimate_at(s, node),
                (3, Some(s), true) => {
                    mv.remove_at(s, node);
                    linked[txn as usize] = false;
                }
                _ => {}
            }
            if let Some(s) = slot {
                let head = mv.with_list(s, |l| l.head);
                for t in 0..=TXS {
                    prop_assert_eq!(mv.read_at(s, t), mv.read_list(head, t), "read at {}", t);
                }
            }
        }
        let head = slot.map(|s| mv.with_list(s, |l| l.head));
        let walked = head.filter(|&h| h != NIL).map(|h| mv.read_list(h, u32::MAX));
        let mut out = mv.final_versions().map(|(_, r)| r);
        prop_assert_eq!(out.next(), walked);
        prop_assert_eq!(out.next(), None);
    });
}

/// Lists without nodes (`write_alone`, the one-worker form) answer every read above
/// their heads and the read-out as lists with nodes do, for random in-order writes to
/// a few keys; and a block that runs out of records says so.
#[test]
fn lists_without_nodes_answer_as_lists_with_nodes() {
    use proptest::prelude::*;
    const KEYS: usize = 3;
    let write = (0..KEYS, 0..3u8, 0..4u64);
    let txs = proptest::collection::vec(proptest::collection::vec(write, 0..3), 1..12);
    proptest!(|(txs in txs)| {
        let key = |k: usize| StateKey::balance(Address(k as u64));
        let mut index: [IndexWord; 8] = core::array::from_fn(|_| IndexWord::new());
        let keys: [MvKey; KEYS] = core::array::from_fn(|_| MvKey::new());
        let mut alone = MvMemory::new(&mut index, &keys, &[]).unwrap();
        let mut index2: [IndexWord; 8] = core::array::from_fn(|_| IndexWord::new());
        let keys2: [MvKey; KEYS] = core::array::from_fn(|_| MvKey::new());
        let nodes: [MvNode; 36] = core::array::from_fn(|_| MvNode::new());
        let linked = MvMemory::new(&mut index2, &keys2, &nodes).unwrap();
        let mut used = 0u32;
        for (t, writes) in txs.iter().enumerate() {
            let t = t as u32;
            for k in 0..KEYS {
                prop_assert_eq!(alone.read(&key(k), t), linked.read(&key(k), t));
            }
            let mut seen = [false; KEYS];
            for &(k, w, v) in writes {
                // One version per key and transaction, as an access set gives.
                if core::mem::replace(&mut seen[k], true) {
                    continue;
                }
                let value = match w {
                    0 => Write::Set(v),
                    1 => Write::Add(v),
                    _ => Write::None,
                };
                alone.write_alone(&key(k), t, value).unwrap();
                linked.insert(&key(k), t, used, value, false).unwrap();
                used += 1;
            }
        }
        let by_key = |mut mv: MvMemory<'_>| {
            let mut got = [None; KEYS];
            for (k, read) in mv.final_versions() {
                got[k.addr.0 as usize] = Some(read);
            }
            got
        };
        prop_assert_eq!(by_key(alone), by_key(linked));
    });
    let mut index: [IndexWord; 4] = core::array::from_fn(|_| IndexWord::new());
    let keys: [MvKey; 1] = core::array::from_fn(|_| MvKey::new());
    let mut mv = MvMemory::new(&mut index, &keys, &[]).unwrap();
    mv.write_alone(&StateKey::balance(Address(0)), 0, Write::Add(1)).unwrap();
    let full = mv.write_alone(&StateKey::balance(Address(1)), 1, Write::Set(1));
    assert_eq!(full, Err(MvFull));
}

#[test]
fn a_set_under_adds_is_walked_to() {
    let a = StateKey::balance(Address(0));
    let mut index: [IndexWord; 4] = core::array::from_fn(|_| IndexWord::new());
    let keys: [MvKey; 1] = core::array::from_fn(|_| MvKey::new());
    let nodes: [MvNode; 3] = core::array::from_fn(|_| MvNode::new());
    let mv = MvMemory::new(&mut index, &keys, &nodes).unwrap();
    mv.insert(&a, 0, 0, Write::Set(100), false).unwrap();
    mv.insert(&a, 1, 1, Write::Add(1), false).unwrap();
    mv.insert(&a, 2, 2, Write::Add(2), false).unwrap();
    assert_eq!(final_of(mv), [Some(MvRead::Value(103)), None]);
}
