extern crate std;
use std::vec;
use std::vec::Vec;

use super::*;
use crate::hash::KeccakHasher;
use crate::merkle::list_height;
use crate::receipt::Status;
use crate::state::{fixture, GenesisAccount};

fn scratch_bufs() -> (Vec<u8>, Vec<Hash32>, Vec<u32>) {
    (vec![0; 4096], vec![[0; 32]; 8], vec![0; 8])
}

fn digests(n: usize) -> Vec<Hash32> {
    (0..n).map(|i| crate::keccak256(&(i as u64).to_le_bytes())).collect()
}

#[test]
fn a_shard_holds_its_addresses() {
    assert_eq!(Shard::of(Address(13), 4), 1);
    assert_eq!(Shard::of(Address(13), 1), 0);
    assert_eq!(Shard::of(Address(13), 0), 0);
    let s = Shard::new(1, 4).unwrap();
    assert!(s.holds(Address(5)) && !s.holds(Address(6)));
    assert!(Shard::WHOLE.holds(Address(u64::MAX)));
    assert!(Shard::new(4, 4).is_none() && Shard::new(0, Shard::MAX + 1).is_none());
}

/// The outbox tree's root is the list root (the transaction root's shape) at every
/// length, and every message's proof verifies against it.
#[test]
fn outbox_proofs_verify_and_the_root_is_the_list_root() {
    let (mut m, mut d, mut e) = scratch_bufs();
    let mut scratch = HashScratch { msgs: &mut m, digests: &mut d, ends: &mut e };
    for n in (0..70).chain([255, 256, 257, 1025]) {
        let leaves = digests(n);
        let mut nodes = vec![[0; 32]; OutboxTree::nodes_len(n)];
        let tree = OutboxTree::build(&leaves, &mut nodes, &mut KeccakHasher, &mut scratch).unwrap();
        let mut copy = leaves.clone();
        assert_eq!(tree.root(), list_root(&mut copy, &mut KeccakHasher, &mut scratch), "{n}");
        assert!(tree.proof(n).is_none());
        for (i, leaf) in leaves.iter().enumerate() {
            let p = tree.proof(i).unwrap();
            assert!(verify(leaf, &p, &tree.root(), &mut KeccakHasher), "{n} {i}");
        }
    }
}

/// A proof for another message, position, length or root fails, as does a changed
/// sibling.
#[test]
fn altered_proofs_fail() {
    let (mut m, mut d, mut e) = scratch_bufs();
    let mut scratch = HashScratch { msgs: &mut m, digests: &mut d, ends: &mut e };
    let leaves = digests(37);
    let mut nodes = vec![[0; 32]; OutboxTree::nodes_len(37)];
    let tree = OutboxTree::build(&leaves, &mut nodes, &mut KeccakHasher, &mut scratch).unwrap();
    let root = tree.root();
    let p = tree.proof(9).unwrap();
    let h = &mut KeccakHasher;
    assert!(verify(&leaves[9], &p, &root, h));
    assert!(!verify(&leaves[10], &p, &root, h));
    assert!(!verify(&leaves[9], &MessageProof { index: 10, ..p }, &root, h));
    assert!(!verify(&leaves[9], &MessageProof { count: 36, ..p }, &root, h));
    assert!(!verify(&leaves[9], &MessageProof { index: 37, ..p }, &root, h));
    let mut other = root;
    other[0] ^= 1;
    assert!(!verify(&leaves[9], &p, &other, h));
    for level in 0..list_height(37) {
        for k in 0..3 {
            let mut q = p;
            q.siblings[level][k][5] ^= 0x80;
            assert!(!verify(&leaves[9], &q, &root, h), "{level} {k}");
        }
    }
    let too_small = &mut [[0; 32]; 3][..];
    assert!(OutboxTree::build(&leaves, too_small, h, &mut scratch).is_err());
}

#[test]
fn message_digests_are_keccak_of_the_encoding() {
    let (mut m, mut d, mut e) = scratch_bufs();
    let mut scratch = HashScratch { msgs: &mut m, digests: &mut d, ends: &mut e };
    let msgs: Vec<Message> = (0..20)
        .map(|i| Message {
            source: 1,
            dest: 2,
            seq: i,
            height: 7,
            from: Address(i),
            to: Address(2),
            value: 5,
        })
        .collect();
    let mut out = vec![[0; 32]; 20];
    message_digests(&msgs, &mut out, &mut KeccakHasher, &mut scratch).unwrap();
    for (m, d) in msgs.iter().zip(&out) {
        assert_eq!(*d, crate::keccak256(&m.encode()));
    }
    assert_eq!(msgs[0].encode().len(), Message::ENCODED_LEN);
    assert!(message_digests(&msgs, &mut out[..3], &mut KeccakHasher, &mut scratch).is_err());
}

/// Emission numbers each destination's messages from the state's sent counter, skips
/// local, failed and zero-value transfers; the system writes merge credits to one
/// recipient and advance the counters.
#[test]
fn emission_and_system_writes() {
    let accounts = [
        GenesisAccount { addr: Address(4), balance: 100, nonce: 0 },
        GenesisAccount { addr: Address(9), balance: 7, nonce: 0 },
    ];
    let mut b = fixture::bufs(64);
    let state = fixture::state(&mut b, &accounts);
    let me = Shard::new(0, 4).unwrap();
    let t = |to, value| Transaction::transfer(Address(4), 0, Address(to), value, 1000, 1);
    let txs = [t(9, 5), t(8, 5), t(6, 3), t(5, 0), t(10, 2), t(9, 1)];
    let ok = Receipt { status: Status::Success, ..Receipt::EMPTY };
    let failed = Receipt { status: Status::InsufficientFunds, ..Receipt::EMPTY };
    let receipts = [ok, ok, ok, ok, failed, ok];
    let mut sent = [0u64; 4];
    let mut out = [Message::default(); 8];
    assert_eq!(emitted_at_most(me, &txs), 5);
    let n = emit(me, 3, &state, &txs, &receipts, &mut sent, &mut out).unwrap();
    let got: Vec<(u16, u64, u64)> = out[..n].iter().map(|m| (m.dest, m.seq, m.to.0)).collect();
    assert_eq!(got, [(1, 0, 9), (2, 0, 6), (1, 1, 9)]);
    assert!(out[..n].iter().all(|m| m.source == 0 && m.height == 3 && m.from == Address(4)));
    assert!(emit(me, 3, &state, &txs, &receipts, &mut sent, &mut out[..2]).is_err());

    // Shard 1 receives both messages for it: address 9 gets 5 + 1.
    let received = [out[0], out[2]];
    let mut writes = [StateEntry::EMPTY; 8];
    let sent_before = [Message { dest: 3, ..out[1] }, Message { dest: 3, ..out[1] }];
    let n = system_writes(&state, &sent_before, &received, &mut writes).unwrap();
    let got: Vec<(StateKey, u64)> = writes[..n].iter().map(|e| (e.key, e.value)).collect();
    assert_eq!(got, [(StateKey::balance(Address(9)), 13), (sent_key(3), 2), (received_key(0), 2)],);
    assert!(system_writes(&state, &sent_before, &received, &mut writes[..5]).is_err());
}

/// Each wrong message is refused with its own error, checked in a fixed order.
#[test]
fn accept_refuses_each_bad_message() {
    let (mut m, mut d, mut e) = scratch_bufs();
    let mut scratch = HashScratch { msgs: &mut m, digests: &mut d, ends: &mut e };
    let msg = Message {
        source: 2,
        dest: 1,
        seq: 4,
        height: 6,
        from: Address(2),
        to: Address(5),
        value: 9,
    };
    let other = Message { seq: 5, to: Address(9), ..msg };
    let mut ds = vec![[0; 32]; 2];
    message_digests(&[msg, other], &mut ds, &mut KeccakHasher, &mut scratch).unwrap();
    let mut nodes = vec![[0; 32]; OutboxTree::nodes_len(2)];
    let tree = OutboxTree::build(&ds, &mut nodes, &mut KeccakHasher, &mut scratch).unwrap();
    let header = ShardHeader {
        number: 6,
        shard: 2,
        shards: 4,
        block_hash: [1; 32],
        outbox_root: tree.root(),
        outbox_count: 2,
    };
    let me = Shard::new(1, 4).unwrap();
    let p = tree.proof(0).unwrap();
    let h = &mut KeccakHasher;
    let check =
        |m: &Message,
         p: &MessageProof,
         hd: &ShardHeader,
         height,
         expected,
         h: &mut KeccakHasher| { accept(me, height, m, p, hd, expected, h) };
    assert_eq!(check(&msg, &p, &header, 7, 4, h), Ok(()));
    assert_eq!(check(&other, &tree.proof(1).unwrap(), &header, 7, 5, h), Ok(()));
    let e = check(&Message { dest: 4, ..msg }, &p, &header, 7, 4, h);
    assert_eq!(e, Err(ShardError::NoSuchShard { shard: 4, shards: 4 }));
    let e = check(&Message { source: 9, ..msg }, &p, &header, 7, 4, h);
    assert_eq!(e, Err(ShardError::NoSuchShard { shard: 9, shards: 4 }));
    let e = check(&Message { dest: 3, ..msg }, &p, &header, 7, 4, h);
    assert!(matches!(e, Err(ShardError::WrongShard { dest: 3, .. })));
    let e = check(&Message { to: Address(6), ..msg }, &p, &header, 7, 4, h);
    assert!(matches!(e, Err(ShardError::WrongShard { .. })));
    let e = check(&msg, &p, &header, 8, 4, h);
    assert_eq!(e, Err(ShardError::WrongHeight { height: 6, expected: 7 }));
    let e = check(&msg, &p, &header, 0, 4, h);
    assert_eq!(e, Err(ShardError::WrongHeight { height: 6, expected: 0 }));
    let e = check(&msg, &p, &ShardHeader { shard: 3, ..header }, 7, 4, h);
    assert_eq!(e, Err(ShardError::NotItsHeader { source: 2, height: 6 }));
    let e = check(&msg, &p, &header, 7, 5, h);
    assert_eq!(e, Err(ShardError::Replayed { source: 2, seq: 4, expected: 5 }));
    let e = check(&msg, &p, &header, 7, 3, h);
    assert_eq!(e, Err(ShardError::Gap { source: 2, seq: 4, expected: 3 }));
    // A forged value: the proof no longer holds.
    let e = check(&Message { value: 10, ..msg }, &p, &header, 7, 4, h);
    assert_eq!(e, Err(ShardError::BadProof { source: 2, seq: 4 }));
    let e = check(&msg, &tree.proof(1).unwrap(), &header, 7, 4, h);
    assert_eq!(e, Err(ShardError::BadProof { source: 2, seq: 4 }));
}

/// The global header commits each shard header, in order.
#[test]
fn the_global_header_commits_every_shard() {
    let (mut m, mut d, mut e) = scratch_bufs();
    let mut scratch = HashScratch { msgs: &mut m, digests: &mut d, ends: &mut e };
    let headers: Vec<ShardHeader> = (0..3)
        .map(|i| ShardHeader { number: 1, shard: i, shards: 3, ..Default::default() })
        .collect();
    let mut hashes = [[0; 32]; 3];
    let h = &mut KeccakHasher;
    let g = GlobalHeader::over(1, [0; 32], &headers, &mut hashes, h, &mut scratch).unwrap();
    let mut swapped = headers.clone();
    swapped.swap(0, 1);
    let g2 = GlobalHeader::over(1, [0; 32], &swapped, &mut hashes, h, &mut scratch).unwrap();
    assert_ne!(g.hash(h), g2.hash(h));
    let mut changed = headers.clone();
    changed[2].outbox_count = 1;
    let g3 = GlobalHeader::over(1, [0; 32], &changed, &mut hashes, h, &mut scratch).unwrap();
    assert_ne!(g.hash(h), g3.hash(h));
    assert_eq!(g.shards, 3);
    assert!(GlobalHeader::over(1, [0; 32], &[], &mut hashes, h, &mut scratch).is_err());
}
