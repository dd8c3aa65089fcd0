//! Sharded chains (issue #15): one shard is today's chain; roots do not depend on
//! threads, workers per shard or the order shards run in; value is conserved and every
//! message is delivered once, in order, at the next height.

use parex::core::shard::{received_key, sent_key, Message, ShardError, PENDING};
use parex::core::state::StateEntry;
use parex::core::tx::Transaction;
use parex::core::Address;
use parex::host::blockfile;
use parex::host::engine::Mode;
use parex::host::shard::{
    conserved, replay_sharded, replay_sharded_from, Checkpoint, CheckpointError, ShardRun,
    ShardedError, ShardedOutcome,
};
use parex::host::txblock::{BlockTxs, TxBlock};
use parex::host::workload::{Cross, Generator, Spec, Workload, World};
use proptest::prelude::*;

use super::differential::{config, replay_with};

fn chain(spec: &Spec) -> (World, Vec<TxBlock>) {
    let (world, mut gen) = Generator::new(spec);
    let blocks = (0..spec.blocks).map(|_| gen.block()).collect();
    (world, blocks)
}

fn transfers(
    shards: u16,
    per_mille: u32,
    accounts: usize,
    txs: usize,
    blocks: usize,
    seed: u64,
) -> Spec {
    let mut spec = Spec::new(Workload::Transfers, accounts, txs, blocks, seed);
    spec.cross = Some(Cross { shards, per_mille });
    spec
}

fn run(world: &World, blocks: &[impl BlockTxs], r: &ShardRun) -> ShardedOutcome {
    replay_sharded(world, blocks, r).unwrap_or_else(|e| panic!("{r:?}: {e}"))
}

/// Everything a run commits to, height by height: the global roots, and every shard's
/// header hash, state root and receipts.
fn commitments(out: &ShardedOutcome) -> Vec<(parex::core::Hash32, Vec<parex::core::Hash32>)> {
    out.heights.iter().map(|h| (h.hash, h.shards.iter().map(|s| s.hash).collect())).collect()
}

fn assert_same(a: &ShardedOutcome, b: &ShardedOutcome, what: &str) {
    assert_eq!(commitments(a), commitments(b), "{what}");
    assert_eq!(a.states, b.states, "{what}");
    for (ha, hb) in a.heights.iter().zip(&b.heights) {
        for (sa, sb) in ha.shards.iter().zip(&hb.shards) {
            assert_eq!(sa.receipts, sb.receipts, "{what}");
            assert_eq!(sa.block, sb.block, "{what}");
        }
    }
}

/// One shard is the unsharded chain: the same state roots, block hashes and receipts,
/// on every workload.
#[test]
fn one_shard_reproduces_the_unsharded_chain() {
    for (i, workload) in Workload::ALL.into_iter().enumerate() {
        let spec = Spec::new(workload, 300, 400, 3, 0x5A4D_0000 + i as u64);
        let (world, blocks) = chain(&spec);
        let plain = replay_with(&world, &blocks, Mode::Sequential);
        for r in [ShardRun::reference(1), ShardRun::new(1, 2)] {
            let out = run(&world, &blocks, &r);
            for (b, h) in plain.blocks.iter().zip(&out.heights) {
                let s = &h.shards[0];
                assert_eq!(s.block, b.header, "{workload:?} {r:?}");
                assert_eq!(s.header.block_hash, b.hash, "{workload:?}");
                assert_eq!(s.receipts, b.receipts, "{workload:?}");
                assert_eq!(s.emitted + s.delivered, 0);
            }
            assert_eq!(out.states[0], plain.state, "{workload:?}");
            assert_eq!(out.genesis_roots[0], plain.genesis_root);
        }
    }
}

/// The roots do not depend on the threads, the workers per shard or the order in which
/// a height's shards are run: every run agrees with one thread running the shards one by
/// one with the sequential engine.
#[test]
fn roots_do_not_depend_on_threads_workers_or_order() {
    for (shards, per_mille) in [(2u16, 100u32), (3, 500), (4, 0), (4, 1000), (8, 300)] {
        let spec = transfers(shards, per_mille, 500, 600, 4, 0x0DE7 + shards as u64);
        let (world, blocks) = chain(&spec);
        let reference = run(&world, &blocks, &ShardRun::reference(shards));
        let reversed: Vec<u16> = (0..shards).rev().collect();
        let mut runs = vec![
            ShardRun::new(shards, 2),
            ShardRun::new(shards, 3),
            ShardRun::new(shards, 2 * shards as usize),
            ShardRun { order: Some(reversed.clone()), ..ShardRun::new(shards, 2) },
            ShardRun { order: Some(reversed), ..ShardRun::reference(shards) },
        ];
        for workers in [2, 3] {
            runs.push(ShardRun { mode: Mode::Parallel(workers), ..ShardRun::new(shards, 2) });
            runs.push(ShardRun { mode: Mode::Footprint(workers), ..ShardRun::new(shards, 1) });
            runs.push(ShardRun { mode: Mode::BlockStm(workers), ..ShardRun::new(shards, 1) });
        }
        for r in &runs {
            let out = run(&world, &blocks, r);
            assert_same(&reference, &out, &format!("{shards} shards, {per_mille}‰, {r:?}"));
        }
        let crossed: usize =
            reference.heights.iter().flat_map(|h| &h.shards).map(|s| s.emitted).sum();
        assert_eq!(crossed > 0, per_mille > 0, "{shards} {per_mille}");
    }
}

fn balance_sum(world: &World) -> u128 {
    world.accounts.iter().map(|a| u128::from(a.balance)).sum()
}

fn counter(states: &[Vec<StateEntry>], shard: usize, key: parex::core::StateKey) -> u64 {
    states[shard].iter().find(|e| e.key == key).map_or(0, |e| e.value)
}

proptest! {
    #![proptest_config(config(48, 0x5_4A2D))]

    /// Over generated sharded chains (1 to 8 shards, 0 to 100% crossing, every workload
    /// whose contracts can be called across shards, failures, so failing deliveries):
    /// value is conserved (in flight included), every message emitted at a height is
    /// delivered at the next, once, in order (the received counters end equal to the
    /// sent ones, less what is still in flight), and the run agrees with the one-thread
    /// reference.
    #[test]
    fn value_is_conserved_and_messages_delivered_once(
        workload in prop::sample::select(vec![Workload::Transfers, Workload::Transfers, Workload::Token, Workload::Amm, Workload::Nft, Workload::Dao, Workload::Depin, Workload::Game, Workload::Mixed]),
        shards in 1u16..=8,
        per_mille in prop_oneof![Just(0u32), Just(1000u32), 0u32..=1000],
        accounts in 2usize..=300,
        txs in 1usize..=150,
        blocks in 1usize..=4,
        fail in 0u32..=200,
        seed in any::<u64>(),
        threads in 1usize..=4,
    ) {
        let mut spec = transfers(shards, per_mille, accounts, txs, blocks, seed);
        spec.workload = workload;
        spec.fail_per_mille = fail;
        let (world, blocks) = chain(&spec);
        let out = run(&world, &blocks, &ShardRun::new(shards, threads));
        let reference = run(&world, &blocks, &ShardRun::reference(shards));
        prop_assert_eq!(commitments(&out), commitments(&reference));
        prop_assert_eq!(conserved(&out.states, &out.in_flight), balance_sum(&world));
        for (h, height) in out.heights.iter().enumerate() {
            let delivered: usize = height.shards.iter().map(|s| s.delivered).sum();
            let emitted_before: usize =
                if h == 0 { 0 } else { out.heights[h - 1].shards.iter().map(|s| s.emitted).sum() };
            prop_assert_eq!(delivered, emitted_before, "height {}", h + 1);
            let latency: u64 = height.shards.iter().map(|s| s.latency_sum).sum();
            prop_assert_eq!(latency, delivered as u64);
        }
        for s in 0..shards {
            for d in 0..shards {
                let in_flight = out.in_flight.iter().filter(|m| m.source == s && m.dest == d).count() as u64;
                // Sent counters count what was sent up to the height before the last
                // (they advance at the start of the next height).
                let sent = counter(&out.states, s as usize, sent_key(d));
                let received = counter(&out.states, d as usize, received_key(s));
                prop_assert_eq!(sent, received, "{} -> {}", s, d);
                // In flight: numbered from there, in order.
                let seqs: Vec<u64> = out.in_flight.iter().filter(|m| m.source == s && m.dest == d).map(|m| m.seq).collect();
                prop_assert_eq!(seqs, (sent..sent + in_flight).collect::<Vec<_>>());
            }
        }
        // Cut after a height, written to a checkpoint file and read back: resumed, the
        // chain ends where the uncut one did, no message lost or delivered twice.
        if blocks.len() > 1 {
            let cut = 1 + (seed as usize) % (blocks.len() - 1);
            let first = run(&world, &blocks[..cut], &ShardRun::new(shards, threads));
            let text = blockfile::checkpoint_to_json(&Checkpoint::of(&first).unwrap());
            let saved = blockfile::parse_checkpoint("cp.json", &text).unwrap();
            let rest = replay_sharded_from(&world, Some(&saved), &blocks[cut..], &ShardRun::new(shards, threads)).unwrap();
            prop_assert_eq!(commitments(&rest), commitments(&out)[cut..].to_vec());
            prop_assert_eq!(&rest.states, &out.states);
            prop_assert_eq!(&rest.batches, &out.batches);
        }
    }
}

/// Refused before anything runs: a system address in the genesis, a chain of no shards,
/// an order that is not one of the shards.
#[test]
fn what_a_sharded_chain_refuses() {
    let spec = transfers(2, 500, 40, 60, 1, 0x8);
    let (mut world, blocks) = chain(&spec);
    assert!(replay_sharded(&world, &blocks, &ShardRun::new(0, 2)).is_err());
    let bad_order = ShardRun { order: Some(vec![0, 0]), ..ShardRun::new(2, 2) };
    assert_eq!(replay_sharded(&world, &blocks, &bad_order).unwrap_err(), ShardedError::Shards(2));
    world.accounts[0].addr = Address(u64::MAX);
    let e = replay_sharded(&world, &blocks, &ShardRun::new(2, 2)).unwrap_err();
    assert_eq!(e, ShardedError::SystemAddress(Address(u64::MAX)));
}

/// Contract workloads on shards: calls from senders on other shards than the contract
/// are carried to it and run there, a height later; the roots do not depend on threads,
/// workers or order; value is conserved.
#[test]
fn cross_shard_calls_run_at_their_contracts_shard() {
    // Every workload with contracts.
    for (i, workload) in Workload::ALL[1..].iter().copied().enumerate() {
        // (AMM users call their home pool, which lives on their own shard when there
        // are two: crossing needs three there.)
        let mut crossed = 0;
        for shards in [2u16, 3] {
            let mut spec = Spec::new(workload, 120, 200, 4, 0xCA11 + i as u64);
            spec.cross = Some(Cross { shards, per_mille: 300 });
            spec.fail_per_mille = 100;
            let (world, blocks) = chain(&spec);
            let reference = run(&world, &blocks, &ShardRun::reference(shards));
            crossed += reference
                .heights
                .iter()
                .flat_map(|h| &h.shards)
                .map(|s| s.delivered)
                .sum::<usize>();
            // Contracts that pay their callers (AMM, DePIN) paid some on other shards.
            let pays = matches!(workload, Workload::Amm | Workload::Depin | Workload::Mixed);
            if shards == 3 && pays {
                let paid = reference.states.iter().flatten().any(|e| e.key.addr == PENDING);
                assert!(paid, "{workload:?}");
            }
            for r in [
                ShardRun::new(shards, 2),
                ShardRun::new(shards, 2 * shards as usize),
                ShardRun { order: Some((0..shards).rev().collect()), ..ShardRun::new(shards, 3) },
                ShardRun { mode: Mode::BlockStm(2), ..ShardRun::new(shards, 1) },
            ] {
                let out = run(&world, &blocks, &r);
                assert_same(&reference, &out, &format!("{workload:?} {shards} {r:?}"));
            }
            assert_eq!(conserved(&reference.states, &reference.in_flight), balance_sum(&world));
            // Cut after each height, calls in flight: resumed, the same end.
            for cut in 1..blocks.len() {
                let r = ShardRun::new(shards, 2);
                let saved = Checkpoint::of(&run(&world, &blocks[..cut], &r)).unwrap();
                let rest = replay_sharded_from(&world, Some(&saved), &blocks[cut..], &r).unwrap();
                assert_eq!(rest.states, reference.states, "{workload:?} {shards} {cut}");
                assert_eq!(commitments(&rest), commitments(&reference)[cut..].to_vec());
            }
        }
        assert!(crossed > 0, "{workload:?}");
    }
}

/// A delivered call only runs where a shard delivering messages puts it: anywhere else
/// (an unsharded block, or after the block's own transactions) the block is refused.
#[test]
fn a_delivered_call_out_of_place_is_refused() {
    use parex::core::error::BlockError;
    use parex::core::shard::MessageKind;
    let spec = Spec::new(Workload::Token, 20, 10, 1, 0xDE1);
    let (world, generated) = chain(&spec);
    let mut blocks: Vec<Vec<Transaction>> = generated.iter().map(|b| b.txs().to_vec()).collect();
    let call = Message {
        kind: MessageKind::Call,
        to: world.contracts[0].0,
        value: 5,
        gas: 9_000,
        ..Message::default()
    };
    blocks[0].insert(3, call.delivered().unwrap());
    let e = parex::host::chain::replay(
        &world,
        &blocks,
        Mode::Parallel(2),
        parex::core::exec::Limits::DEFAULT,
        &mut parex::core::KeccakHasher,
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            parex::host::chain::ReplayError::Block(0, BlockError::Undelivered { index: 3 })
        ),
        "{e:?}"
    );
    let mut sharded = world.clone();
    sharded.shards = Some(2);
    let e = replay_sharded(&sharded, &blocks, &ShardRun::new(2, 2)).unwrap_err();
    assert!(
        matches!(e, ShardedError::Block { error: BlockError::Undelivered { .. }, .. }),
        "{e:?}"
    );
}

/// A call with value to a contract on another shard that fails there sends its value
/// back: the sender is debited at height 1, the call fails at height 2 (its delivered
/// transaction's receipt says why) and the refund is credited at height 3. A call that
/// succeeds keeps the value at the contract. Value is conserved at every height.
#[test]
fn a_failed_cross_shard_call_refunds_its_value() {
    use parex::core::state::GenesisAccount;
    use parex::core::vm::asm::Asm;
    use parex::core::vm::Op;
    // A contract that reverts when its first argument is 1, else stops.
    let mut buf = [0u8; 64];
    let mut a = Asm::new(&mut buf);
    let fail = a.label();
    a.arg(0).push(1).op(Op::Eq).jump_if(fail).op(Op::Stop);
    a.bind(fail).push(7).op(Op::Revert);
    let len = a.finish().unwrap();
    let code = buf[..len].to_vec();
    let contract = Address(0xC000_0001); // shard 1 of 2
    let sender = Address(0x1000); // shard 0
    let world = World {
        accounts: vec![GenesisAccount { addr: sender, balance: 1_000_000, nonce: 0 }],
        contracts: vec![(contract, code)],
        storage: vec![],
        beneficiary: Address(0xBEEF_0000),
        shards: Some(2),
    };
    let call = |nonce, arg, value| {
        Transaction::call(sender, nonce, contract, value, &[arg], 5_000, 2).unwrap()
    };
    let blocks = vec![vec![call(0, 1, 300), call(1, 0, 200)], vec![], vec![]];
    let out = run(&world, &blocks, &ShardRun::new(2, 2));
    let balance = |out: &ShardedOutcome, shard: usize, addr| {
        out.states[shard]
            .iter()
            .find(|e| e.key == parex::core::StateKey::balance(addr))
            .map_or(0, |e| e.value)
    };
    // Height 1, shard 0: both calls sent, each paying its whole gas limit (5,000 x 2).
    let h1 = &out.heights[0].shards[0];
    assert_eq!(h1.emitted, 2);
    assert!(h1.receipts.iter().all(|r| r.status.is_success() && r.gas_used == 5_000));
    // Height 2, shard 1: the delivered calls run first; the first reverts.
    let h2 = &out.heights[1].shards[1];
    assert_eq!(h2.delivered, 2);
    assert_eq!(h2.receipts.len(), 2);
    assert_eq!(h2.receipts[0].status.name(), "reverted");
    assert_eq!(h2.receipts[0].output, 7);
    assert!(h2.receipts[1].status.is_success());
    assert_eq!(h2.emitted, 1);
    // Height 3, shard 0: the refund.
    assert_eq!(out.heights[2].shards[0].delivered, 1);
    let fees = 2 * 5_000 * 2;
    assert_eq!(balance(&out, 0, sender), 1_000_000 - fees - 200);
    assert_eq!(balance(&out, 1, contract), 200);
    assert!(out.in_flight.is_empty());
    assert_eq!(conserved(&out.states, &out.in_flight), 1_000_000);
    // Cut after height 2, with the refund in flight: resumed, the same end.
    let first = run(&world, &blocks[..2], &ShardRun::new(2, 2));
    assert_eq!(first.in_flight.len(), 1);
    assert_eq!(conserved(&first.states, &first.in_flight), 1_000_000);
    let cp = Checkpoint::of(&first).unwrap();
    let read = blockfile::parse_checkpoint("cp.json", &blockfile::checkpoint_to_json(&cp)).unwrap();
    assert_eq!(read, cp);
    let rest =
        replay_sharded_from(&world, Some(&read), &blocks[2..], &ShardRun::new(2, 1)).unwrap();
    assert_eq!(rest.states, out.states);
    assert_eq!(rest.heights.last().unwrap().hash, out.heights.last().unwrap().hash);
}

/// A chain cut after any height, saved to a checkpoint file and resumed from it, ends
/// where the uncut chain ends: the same global roots, states and messages in flight (no
/// message lost or delivered twice).
#[test]
fn a_chain_cut_and_resumed_ends_where_the_uncut_one_ends() {
    for (shards, per_mille, threads) in
        [(1u16, 0u32, 2usize), (2, 500, 2), (3, 1000, 1), (5, 200, 3)]
    {
        let spec = transfers(shards, per_mille, 300, 200, 5, 0xC07 + shards as u64);
        let (world, blocks) = chain(&spec);
        let r = ShardRun::new(shards, threads);
        let whole = run(&world, &blocks, &r);
        for cut in 1..blocks.len() {
            let first = run(&world, &blocks[..cut], &r);
            let saved = Checkpoint::of(&first).unwrap();
            let text = blockfile::checkpoint_to_json(&saved);
            let read = blockfile::parse_checkpoint("cp.json", &text).unwrap();
            assert_eq!(read, saved);
            let rest = replay_sharded_from(&world, Some(&read), &blocks[cut..], &r).unwrap();
            assert_eq!(commitments(&rest), commitments(&whole)[cut..].to_vec(), "{shards} {cut}");
            assert_eq!(rest.states, whole.states);
            assert_eq!(rest.in_flight, whole.in_flight);
            assert_eq!(rest.batches, whole.batches);
        }
    }
}

/// A saved state reloads to the same root on every workload (the words in their order
/// rebuild the same leaves).
#[test]
fn a_saved_state_reloads_to_its_root() {
    for (i, workload) in Workload::ALL.into_iter().enumerate() {
        let spec = Spec::new(workload, 200, 300, 2, 0x5A7E + i as u64);
        let (world, blocks) = chain(&spec);
        let out = run(&world, &blocks, &ShardRun::new(1, 2));
        let saved = Checkpoint::of(&out).unwrap();
        let none: &[TxBlock] = &[];
        let rest = replay_sharded_from(&world, Some(&saved), none, &ShardRun::new(1, 1)).unwrap();
        assert_eq!(rest.genesis_roots[0], out.heights.last().unwrap().shards[0].block.state_root);
    }
}

/// A checkpoint altered in any way is refused with its own typed error, before or at
/// the delivery of its batches.
#[test]
fn an_altered_checkpoint_is_refused() {
    let spec = transfers(3, 600, 200, 300, 2, 0xBAD);
    let (world, blocks) = chain(&spec);
    let r = ShardRun::new(3, 2);
    let good = Checkpoint::of(&run(&world, &blocks[..1], &r)).unwrap();
    assert_eq!(good.batches.len(), 9);
    // The batch from shard 0 to shard 1: messages in it.
    let b01 = good.batches.iter().position(|b| b.source == 0 && b.dest == 1).unwrap();
    assert!(good.batches[b01].messages.len() > 2);
    let resume = |c: &Checkpoint| replay_sharded_from(&world, Some(c), &blocks[1..], &r);
    resume(&good).unwrap();
    let message_error = |c: &Checkpoint| match resume(c) {
        Err(ShardedError::Message { error, .. }) => error,
        other => panic!("{other:?}"),
    };
    let altered = |f: &dyn Fn(&mut Vec<Message>)| {
        let mut c = good.clone();
        f(&mut c.batches[b01].messages);
        message_error(&c)
    };
    let bad_proof = ShardError::BadProof { source: 0, height: 1 };
    assert_eq!(altered(&|m| m[1].value += 1), bad_proof);
    assert_eq!(altered(&|m| m[0].from = Address(m[0].from.0 + 3)), bad_proof);
    assert_eq!(altered(&|m| _ = m.pop()), bad_proof);
    let extra =
        Message { seq: good.batches[b01].messages.len() as u64, ..good.batches[b01].messages[0] };
    assert_eq!(altered(&|m| m.push(extra)), bad_proof);
    assert!(matches!(altered(&|m| _ = m.remove(0)), ShardError::Gap { .. }));
    assert!(matches!(altered(&|m| m.insert(1, m[0])), ShardError::Replayed { .. }));
    assert!(matches!(altered(&|m| m[0].to = Address(m[0].to.0 + 1)), ShardError::NotHere { .. }));
    assert!(matches!(altered(&|m| m[0].height = 0), ShardError::WrongHeight { .. }));
    // A batch sent twice: its messages replayed.
    let mut c = good.clone();
    let again = c.batches[b01].clone();
    c.batches.push(again);
    assert!(matches!(message_error(&c), ShardError::Replayed { .. }));
    // A batch left out, a batch for a shard that does not exist, a proof of another.
    let mut c = good.clone();
    c.batches.remove(b01);
    assert_eq!(message_error(&c), ShardError::Missing { source: 0 });
    let mut c = good.clone();
    c.batches[b01].dest = 7;
    assert_eq!(message_error(&c), ShardError::NoSuchShard { shard: 7, shards: 3 });
    let mut c = good.clone();
    c.batches[b01].proof.siblings[0][0][0] ^= 1;
    assert_eq!(message_error(&c), bad_proof);

    let checkpoint_error = |c: &Checkpoint| match resume(c) {
        Err(ShardedError::Checkpoint(e)) => e,
        other => panic!("{other:?}"),
    };
    let mut c = good.clone();
    c.headers[1].outbox_root[0] ^= 1;
    assert_eq!(checkpoint_error(&c), CheckpointError::GlobalHeader);
    let mut c = good.clone();
    c.blocks[2].gas_used += 1;
    assert_eq!(checkpoint_error(&c), CheckpointError::ShardHeader { shard: 2 });
    let mut c = good.clone();
    c.global.parent_hash[3] ^= 1;
    assert_eq!(checkpoint_error(&c), CheckpointError::GlobalHeader);
    let mut c = good.clone();
    c.global_hash[0] ^= 1;
    assert_eq!(checkpoint_error(&c), CheckpointError::GlobalHeader);
    let mut c = good.clone();
    c.states[0][0].value += 1;
    assert_eq!(checkpoint_error(&c), CheckpointError::StateRoot { shard: 0 });
    let mut c = good.clone();
    c.states[0][0].value = u64::MAX;
    assert_eq!(checkpoint_error(&c), CheckpointError::Supply);
    let mut c = good.clone();
    c.states.pop();
    assert!(matches!(checkpoint_error(&c), CheckpointError::Shards { found: 2, expected: 3 }));
}
