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
    for n in (1..70).chain([255, 256, 257, 1024]) {
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
    assert!(!verify(&leaves[9], &BatchProof { index: 10, ..p }, &root, h));
    assert!(!verify(&leaves[9], &BatchProof { count: 36, ..p }, &root, h));
    assert!(!verify(&leaves[9], &BatchProof { index: 37, ..p }, &root, h));
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
    let mut nodes = vec![[0; 32]; 8];
    assert!(OutboxTree::build(&[], &mut nodes, h, &mut scratch).is_err());
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
            kind: MessageKind::Call,
            gas: 3,
            args: [i, 1, 2, 3],
            nargs: (i % 5) as u8,
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
/// local, failed and zero-value transfers; sends calls to other shards with their gas
/// and arguments, and refunds failed delivered calls; the system writes merge credits
/// to one recipient (not a call's: its delivered transaction credits it) and advance
/// the counters.
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
    let call =
        |to, value| Transaction::call(Address(4), 0, Address(to), value, &[7, 8], 5000, 1).unwrap();
    let delivered = Message {
        from: Address(6),
        to: Address(12),
        value: 30,
        kind: MessageKind::Call,
        nargs: 1,
        args: [3, 0, 0, 0],
        gas: 400,
        seq: 9,
        ..Message::default()
    }
    .delivered()
    .unwrap();
    assert!(Message::default().delivered().is_none());
    assert_eq!((delivered.nonce, delivered.gas_limit, delivered.gas_price), (9, 400, 0));
    let txs = [
        t(9, 5),
        t(8, 5),
        t(6, 3),
        t(5, 0),
        t(10, 2),
        t(9, 1),
        call(13, 0),
        call(15, 2),
        delivered.clone(),
        delivered,
    ];
    let ok = Receipt { status: Status::Success, ..Receipt::EMPTY };
    let failed = Receipt { status: Status::InsufficientFunds, ..Receipt::EMPTY };
    let reverted = Receipt { status: Status::Reverted, ..Receipt::EMPTY };
    let receipts = [ok, ok, ok, ok, failed, ok, ok, ok, ok, reverted];
    let mut sent = [0u64; 4];
    let mut out = [Message::default(); 12];
    // The block's contracts paid address 21 (shard 1) 40 and address 30 nothing.
    let writes = [
        StateEntry { key: StateKey::balance(Address(4)), value: 1 },
        StateEntry { key: StateKey::storage(PENDING, 21), value: 40 },
        StateEntry { key: StateKey::storage(PENDING, 30), value: 0 },
    ];
    assert_eq!(emitted_at_most(me, &txs, &writes), 10);
    let n = emit(me, 3, &state, &txs, &receipts, &writes, &mut sent, &mut out).unwrap();
    let got: Vec<(u16, u64, u64, MessageKind)> =
        out[..n].iter().map(|m| (m.dest, m.seq, m.to.0, m.kind)).collect();
    use MessageKind::{Call, Refund, Transfer};
    assert_eq!(
        got,
        [
            (1, 0, 9, Transfer),
            (2, 0, 6, Transfer),
            (1, 1, 9, Transfer),
            (1, 2, 13, Call),
            (3, 0, 15, Call),
            (2, 1, 6, Refund),
            (1, 3, 21, Transfer)
        ]
    );
    assert!(out[..5].iter().all(|m| m.source == 0 && m.height == 3 && m.from == Address(4)));
    assert_eq!((out[3].gas, out[3].nargs, out[3].args), (4000, 2, [7, 8, 0, 0]));
    assert_eq!((out[5].from, out[5].value), (Address(12), 30));
    assert_eq!((out[6].from, out[6].value), (PENDING, 40));
    assert!(emit(me, 3, &state, &txs, &receipts, &writes, &mut sent, &mut out[..2]).is_err());

    // Shard 1 receives its three messages: address 9 gets 5 + 1, the call nothing.
    let received = [out[0], out[2], out[3]];
    let mut writes = [StateEntry::EMPTY; 12];
    let sent_before = [Message { dest: 3, ..out[1] }, Message { dest: 3, ..out[1] }, out[6]];
    let n = system_writes(&state, &sent_before, &received, &mut writes).unwrap();
    let got: Vec<(StateKey, u64)> = writes[..n].iter().map(|e| (e.key, e.value)).collect();
    assert_eq!(
        got,
        [
            (StateKey::balance(Address(9)), 13),
            (sent_key(1), 1),
            (sent_key(3), 2),
            (received_key(0), 3),
            (StateKey::storage(PENDING, 21), 0),
        ]
    );
    assert!(system_writes(&state, &sent_before, &received, &mut writes[..7]).is_err());
    // A credit past 2^64 - 1 (a made-up saved state) is refused, not wrapped.
    let huge = [Message { value: u64::MAX, ..out[0] }];
    assert_eq!(system_writes(&state, &[], &huge, &mut writes), Err(ShardError::Overflow));
}

/// Each wrong batch is refused with its own error, checked in a fixed order.
#[test]
fn accept_refuses_each_bad_batch() {
    let (mut m, mut d, mut e) = scratch_bufs();
    let mut scratch = HashScratch { msgs: &mut m, digests: &mut d, ends: &mut e };
    let h = &mut KeccakHasher;
    // Shard 2 of 4 sent shard 1 two messages (numbers 4 and 5) at height 6, shard 3 one.
    let msg = Message {
        source: 2,
        dest: 1,
        seq: 4,
        height: 6,
        from: Address(2),
        to: Address(5),
        value: 9,
        ..Message::default()
    };
    let mut outbox = [
        Message { dest: 3, to: Address(7), seq: 0, ..msg },
        Message { seq: 5, to: Address(9), ..msg },
        msg,
    ];
    sort_outbox(&mut outbox);
    assert_eq!(outbox.map(|m| (m.dest, m.seq)), [(1, 4), (1, 5), (3, 0)]);
    assert_eq!(batch_range(&outbox, 1), 0..2);
    assert_eq!(batch_range(&outbox, 2), 2..2);
    let mut roots = [[0; 32]; 4];
    let mut digests = [[0; 32]; 4];
    batch_roots(4, &outbox, &mut roots, &mut digests, h, &mut scratch).unwrap();
    let mut nodes = vec![[0; 32]; OutboxTree::nodes_len(4)];
    let tree = OutboxTree::build(&roots, &mut nodes, h, &mut scratch).unwrap();
    let header = ShardHeader {
        number: 6,
        shard: 2,
        shards: 4,
        block_hash: [1; 32],
        outbox_root: tree.root(),
        outbox_count: 3,
    };
    let me = Shard::new(1, 4).unwrap();
    let p = tree.proof(1).unwrap();
    let batch = &outbox[..2];
    let mut check = |b: &[Message], p: &BatchProof, hd: &ShardHeader, height, expected| {
        accept(me, height, hd, b, p, expected, &mut digests, h, &mut scratch)
    };
    assert_eq!(check(batch, &p, &header, 7, 4), Ok(()));
    // An empty batch proves that nothing was sent.
    let me0 = Shard::new(0, 4).unwrap();
    let p0 = tree.proof(0).unwrap();
    let (mut m2, mut d2, mut e2) = scratch_bufs();
    let mut s2 = HashScratch { msgs: &mut m2, digests: &mut d2, ends: &mut e2 };
    let mut dg = [[0; 32]; 2];
    assert_eq!(accept(me0, 7, &header, &[], &p0, 0, &mut dg, &mut KeccakHasher, &mut s2), Ok(()));
    assert_eq!(
        accept(me0, 7, &header, &[], &p, 0, &mut dg, &mut KeccakHasher, &mut s2),
        Err(ShardError::WrongShard { dest: 1, shard: 0 })
    );

    let with = |f: &dyn Fn(&mut Message)| {
        let mut b = [batch[0], batch[1]];
        f(&mut b[1]);
        b
    };
    let e = check(&with(&|m| m.dest = 4), &p, &header, 7, 4);
    assert_eq!(e, Err(ShardError::NoSuchShard { shard: 4, shards: 4 }));
    let e = check(&with(&|m| m.source = 9), &p, &header, 7, 4);
    assert_eq!(e, Err(ShardError::NoSuchShard { shard: 9, shards: 4 }));
    let e = check(batch, &p, &ShardHeader { shard: 5, ..header }, 7, 4);
    assert_eq!(e, Err(ShardError::NoSuchShard { shard: 5, shards: 4 }));
    let e = check(batch, &p, &header, 8, 4);
    assert_eq!(e, Err(ShardError::NotItsHeader { source: 2, height: 7 }));
    let e = check(&with(&|m| m.dest = 3), &p, &header, 7, 4);
    assert_eq!(e, Err(ShardError::WrongShard { dest: 3, shard: 1 }));
    let e = check(&with(&|m| m.to = Address(6)), &p, &header, 7, 4);
    assert_eq!(e, Err(ShardError::NotHere { to: Address(6), shard: 1 }));
    let e = check(&with(&|m| m.source = 3), &p, &header, 7, 4);
    assert_eq!(e, Err(ShardError::NotItsHeader { source: 3, height: 6 }));
    let e = check(&with(&|m| m.height = 5), &p, &header, 7, 4);
    assert_eq!(e, Err(ShardError::WrongHeight { height: 5, expected: 6 }));
    let e = check(batch, &p, &header, 7, 5);
    assert_eq!(e, Err(ShardError::Replayed { source: 2, seq: 4, expected: 5 }));
    let e = check(&[batch[0], batch[0]], &p, &header, 7, 4);
    assert_eq!(e, Err(ShardError::Replayed { source: 2, seq: 4, expected: 5 }));
    let e = check(batch, &p, &header, 7, 3);
    assert_eq!(e, Err(ShardError::Gap { source: 2, seq: 4, expected: 3 }));
    let e = check(&batch[1..], &p, &header, 7, 4);
    assert_eq!(e, Err(ShardError::Gap { source: 2, seq: 5, expected: 4 }));
    // Forged, or one left out: the batch root no longer reaches the outbox root.
    let e = check(&with(&|m| m.value = 10), &p, &header, 7, 4);
    assert_eq!(e, Err(ShardError::BadProof { source: 2, height: 6 }));
    let e = check(&batch[..1], &p, &header, 7, 4);
    assert_eq!(e, Err(ShardError::BadProof { source: 2, height: 6 }));
    let e = check(batch, &BatchProof { count: 5, ..p }, &header, 7, 4);
    assert_eq!(e, Err(ShardError::BadProof { source: 2, height: 6 }));
    let mut q = p;
    q.siblings[0][1][0] ^= 1;
    assert_eq!(check(batch, &q, &header, 7, 4), Err(ShardError::BadProof { source: 2, height: 6 }));
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
