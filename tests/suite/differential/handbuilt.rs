//! Hand-built blocks: the footprint scheduler's special cases, declared and undeclared
//! access lists, empty blocks.

use parex::core::engine::Reason;
use parex::core::exec::INTRINSIC_GAS;
use parex::core::receipt::Status;
use parex::core::state::GenesisAccount;
use parex::core::tx::Transaction;
use parex::core::Address;
use parex::host::engine::Mode;
use parex::host::workload::{declare, Generator, Spec, Workload, World, BENEFICIARY};

use super::*;

/// `n` pairs of fresh accounts `(2i, 2i+1)` with `balance` each.
fn pairs_world(n: usize, balance: u64) -> World {
    let mut accounts: Vec<_> = (0..2 * n as u64)
        .map(|i| GenesisAccount { addr: Address(0x1000 + i), balance, nonce: 0 })
        .collect();
    accounts.push(GenesisAccount { addr: BENEFICIARY, balance: 0, nonce: 0 });
    World { accounts, beneficiary: BENEFICIARY, ..World::default() }
}

fn transfer(from: u64, nonce: u64, to: u64, value: u64) -> Transaction<'static> {
    Transaction::transfer(Address(from), nonce, Address(to), value, INTRINSIC_GAS, 1)
}

/// `tx` without a fee.
fn free(mut tx: Transaction<'static>) -> Transaction<'static> {
    tx.gas_price = 0;
    tx
}

/// Four pairs of accounts and a beneficiary that can pay for transfers of its own.
fn funded_beneficiary_world() -> World {
    let mut world = pairs_world(4, 1_000_000);
    for a in &mut world.accounts {
        if a.addr == BENEFICIARY {
            a.balance = 50_000;
        }
    }
    world
}

/// The footprint scheduler on the shapes of transfer its footprints special-case: self
/// transfers, transfers to and from the beneficiary (which makes the beneficiary's
/// balance a read key), new recipients, zero values, failures that still pay fees,
/// rejections that write nothing, free gas, and several transactions per sender.
#[test]
fn footprint_edge_cases_match_sequential() {
    let world = funded_beneficiary_world();
    let ben = BENEFICIARY.0;
    let block = vec![
        transfer(0x1000, 0, 0x1001, 5),
        transfer(0x1002, 0, 0x1002, 7),          // to itself
        transfer(0x1003, 0, ben, 11),            // to the beneficiary
        transfer(ben, 0, 0x1004, 13),            // from the beneficiary
        transfer(0x1000, 1, 0x9999, 17),         // to a new account
        transfer(0x1001, 0, 0x8888, 0),          // zero value, new account
        transfer(0x1004, 0, 0x1005, 10_000_000), // insufficient balance: fee only
        transfer(0x1005, 7, 0x1006, 1),          // bad nonce: rejected
        free(transfer(0x1006, 0, 0x1007, 3)),    // no fee
        transfer(ben, 1, ben, 1),                // beneficiary to itself
        transfer(0x9999, 0, 0x1000, 1),          // spends what it just received
        Transaction::transfer(Address(0x1007), 0, Address(0x1000), 1, u64::MAX, 2),
    ];
    // Without the transactions from the beneficiary its credits are pooled rather than
    // chained; also blocks that credit it nothing (every transaction rejected) and only
    // free credits.
    let pooled: Vec<_> = block.iter().filter(|t| t.from != BENEFICIARY).cloned().collect();
    let rejected = vec![transfer(0x1005, 7, 0x1006, 1), transfer(0x1000, 9, ben, 1)];
    let free_only = vec![free(transfer(0x1006, 0, 0x1007, 3)), free(transfer(0x1002, 0, ben, 3))];
    let blocks = vec![block.clone(), block];
    assert_same_on(Path::Footprint, &world, &blocks, &[1, 2, 3, 4, 8], 20);
    assert_same(&world, &blocks, &[1, 2, 4], 5);
    for block in [pooled, rejected, free_only] {
        let blocks = vec![block.clone(), block];
        assert_same_on(Path::Footprint, &world, &blocks, &[1, 2, 3, 4, 8], 20);
    }
}

/// Block-STM pools the credits to the beneficiary (`Credits::Pooled`) and, when a
/// transaction reads its balance (here: the beneficiary sends, in a block of transfers
/// and in one of contract calls), runs the block again with the credits as versions
/// (reason `beneficiary_read`). Blocks that credit it nothing, or only free transfers,
/// keep it out of the write set or in it exactly as the sequential executor does.
#[test]
fn block_stm_pools_credits_and_reruns_when_the_beneficiary_is_read() {
    let world = funded_beneficiary_world();
    let ben = BENEFICIARY.0;
    let sends = vec![transfer(0x1000, 0, ben, 5), transfer(ben, 0, 0x1001, 7)];
    let credits = vec![transfer(0x1000, 0, 0x1001, 5), transfer(0x1002, 0, ben, 9)];
    let rejected = vec![transfer(0x1005, 7, 0x1006, 1), transfer(0x1000, 9, ben, 1)];
    let free_only = vec![free(transfer(0x1006, 0, 0x1007, 3)), free(transfer(0x1002, 0, ben, 3))];
    for (block, reread) in [(sends, true), (credits, false), (rejected, false), (free_only, false)]
    {
        let blocks = vec![block.clone(), block];
        assert_same_on(Path::Engine, &world, &blocks, &[1, 2, 3, 4], 5);
        let par = replay_with(&world, &blocks, Mode::BlockStm(2));
        let reason = par.blocks[0].choice.reason;
        assert_eq!(reason == Reason::BeneficiaryRead, reread, "{reason:?}");
    }

    let spec = Spec { fail_per_mille: 50, ..Spec::new(Workload::Mixed, 200, 400, 2, 0xBE2) };
    let (mut world, mut gen) = Generator::new(&spec);
    for a in &mut world.accounts {
        if a.addr == world.beneficiary {
            a.balance = 1_000_000;
        }
    }
    let generated: Vec<_> = (0..2).map(|_| gen.block()).collect();
    let mut blocks: Vec<Vec<Transaction>> = generated.iter().map(|b| b.txs().to_vec()).collect();
    assert_same_on(Path::Engine, &world, &blocks, &[2, 4], 2);
    blocks[1].insert(150, transfer(world.beneficiary.0, 0, 0x1000, 10));
    assert_same_on(Path::Engine, &world, &blocks, &[2, 4], 2);
    assert_same(&world, &blocks, &[2], 2);
    let par = replay_with(&world, &blocks, Mode::BlockStm(2));
    let reasons: Vec<_> = par.blocks.iter().map(|b| b.choice.reason).collect();
    assert_eq!(reasons, [Reason::Requested, Reason::BeneficiaryRead]);
}

/// A large block in which the beneficiary sends now and then: its partition is listed
/// again from the whole block, credits included, over every chunk.
#[test]
fn footprint_beneficiary_sending_in_a_large_block_matches_sequential() {
    let spec = Spec { fail_per_mille: 20, ..Spec::new(Workload::Transfers, 500, 3_000, 1, 0xBE) };
    let (mut world, mut gen) = Generator::new(&spec);
    for a in &mut world.accounts {
        if a.addr == world.beneficiary {
            a.balance = 1_000_000;
        }
    }
    let generated = gen.block();
    let mut block = generated.txs().to_vec();
    for k in 0..6u64 {
        let at = (k as usize * 557) % block.len();
        block.insert(at, transfer(world.beneficiary.0, k, 0x1000 + k, 10 + k));
    }
    assert_same_on(Path::Footprint, &world, &[block], &[1, 2, 3, 4], 3);
}

#[test]
fn disjoint_declared_transfers_never_abort() {
    let n = 500;
    let world = pairs_world(n, 1_000_000);
    let block: Vec<_> = (0..n as u64)
        .map(|i| {
            let mut tx = transfer(0x1000 + 2 * i, 0, 0x1000 + 2 * i + 1, 10 + i);
            tx.access = Some(leak(declare(&tx, None, |_| 0)));
            tx
        })
        .collect();
    let blocks = vec![block];
    let seq = assert_same(&world, &blocks, &[2, 4], 5);
    assert_same_on(Path::Engine, &world, &blocks, &[2, 4], 5);
    assert!(seq.blocks[0].receipts.iter().all(|r| r.status == Status::Success));
    assert!(seq.blocks[0].receipts.iter().all(|r| !r.undeclared_access));
    for run in 0..20 {
        let par = replay_with(&world, &blocks, Mode::Parallel(2));
        let s = par.blocks[0].stats;
        assert_eq!((s.aborts, s.reexecutions, s.undeclared), (0, 0, 0), "run {run}: {s:?}");
        assert!(!par.blocks[0].choice.reason.fell_back());
    }
}

#[test]
fn undeclared_access_is_flagged_and_still_exact() {
    let world = pairs_world(4, 1_000_000);
    // 0x1007 starts empty: only tx 1's undeclared credit lets it pay for tx 2.
    let mut accounts = world.accounts.clone();
    accounts[7].balance = 0;
    let world = World { accounts, ..world };
    let declared = |mut tx: Transaction<'static>| {
        tx.access = Some(leak(declare(&tx, None, |_| 0)));
        tx
    };
    let mut undeclared = transfer(0x1000, 0, 0x1007, 5_000);
    undeclared.access = Some(leak(Default::default())); // declares nothing: the credit is undeclared
    let mut read_only = transfer(0x1002, 0, 0x1003, 7);
    let mut list = declare(&read_only, None, |_| 0);
    list[0].write = false; // declared read, but written
    read_only.access = Some(leak(list));
    let block = vec![
        declared(transfer(0x1004, 0, 0x1005, 1)),
        undeclared,
        declared(transfer(0x1007, 0, 0x1006, 1_000)),
        read_only,
        transfer(0x1001, 0, 0x1000, 3), // no list at all: never flagged
    ];
    let blocks = vec![block];
    let seq = assert_same(&world, &blocks, &[1, 2, 3, 4, 8], 10);
    assert_same_on(Path::Engine, &world, &blocks, &[1, 2, 3, 4, 8], 10);
    let flags: Vec<_> = seq.blocks[0].receipts.iter().map(|r| r.undeclared_access).collect();
    assert_eq!(flags, [false, true, false, true, false]);
    assert!(seq.blocks[0].receipts.iter().all(|r| r.status == Status::Success), "{seq:?}");
    assert_eq!(seq.blocks[0].stats.undeclared, 2);
    let par = replay_with(&world, &blocks, Mode::Parallel(2));
    assert_eq!(par.blocks[0].stats.undeclared, 2);
    assert!(!par.blocks[0].choice.reason.fell_back());
}

/// An empty block and a chain with empty blocks between full ones.
#[test]
fn empty_blocks_match() {
    let (world, mut gen) = Generator::new(&Spec::new(Workload::Mixed, 20, 50, 2, 3));
    let blocks = vec![TxBlock::default(), gen.block(), TxBlock::default(), gen.block()];
    assert_same(&world, &blocks, &[1, 2, 4], 2);
    assert_same_on(Path::Engine, &world, &blocks, &[1, 2, 4], 2);
    let (world, mut gen) = Generator::new(&Spec::new(Workload::Transfers, 20, 50, 2, 3));
    let blocks = vec![TxBlock::default(), gen.block(), TxBlock::default(), gen.block()];
    assert_same_on(Path::Footprint, &world, &blocks, &[1, 2, 4], 2);
}

/// The transaction list hashed beside a one-worker engine belongs to the block executed
/// last: committing a block executed before it hashes the block's own list (same roots
/// as the sequential replay), and so does committing it after its own execution.
#[test]
fn a_transaction_list_hashed_beside_another_block_is_not_used() {
    use parex::core::exec::BlockEnv;
    use parex::core::types::Shard;
    use parex::host::chain::{state_capacity, WorldState};
    use parex::host::engine::Executor;
    let spec = Spec { fail_per_mille: 0, ..Spec::new(Workload::Transfers, 2, 600, 2, 0x7715) };
    let (world, mut gen) = Generator::new(&spec);
    let blocks = vec![gen.block(), gen.block()];
    let want = replay_with(&world, &blocks, Mode::Sequential);
    let capacity = state_capacity(&world, &blocks, &Limits::DEFAULT);
    let mut loaded = WorldState::new(&world, capacity);
    let (mut state, contracts) = loaded.load(&mut KeccakHasher).expect("genesis");
    let env = |number| BlockEnv {
        number,
        beneficiary: world.beneficiary,
        contracts,
        limits: Limits::DEFAULT,
        shard: Shard::WHOLE,
        delivered: 0,
    };
    let mut exec = Executor::new(Limits::DEFAULT);
    let mode = Mode::Parallel(2);
    // Block 1 executed, then block 2 (on the state before block 1: its list is what
    // counts here), then block 1 committed: block 2's list must not be used for it.
    let first = exec.execute(&state, &env(1), blocks[0].txs(), mode).expect("block 1");
    exec.execute(&state, &env(1), blocks[1].txs(), mode).expect("block 2, early");
    assert_eq!(first.choice.engine, EngineKind::Sequential, "a contended block runs on one worker");
    let (_, hash) = exec
        .commit(&mut state, [0; 32], &env(1), blocks[0].txs(), &first, &mut KeccakHasher, 2)
        .expect("commit 1");
    assert_eq!(hash, want.blocks[0].hash, "block 1");
    let second = exec.execute(&state, &env(2), blocks[1].txs(), mode).expect("block 2");
    let (_, hash) = exec
        .commit(&mut state, hash, &env(2), blocks[1].txs(), &second, &mut KeccakHasher, 2)
        .expect("commit 2");
    // Whatever part of block 2's list the helper hashed before the engine was done (it
    // starts no part after), the commitment hashed the rest.
    assert_eq!(hash, want.blocks[1].hash, "block 2");
}

/// Issue #16: a block's buffers are sized from its transactions: a transfer writes at
/// most its footprint's four keys, a call the limits' `writes_per_tx` (a 1,000,000-transfer
/// block once took 8 GB, sized as if every transfer were a call); and the state's room
/// counts what each may create (`creates_at_most`: two keys for a transfer).
#[test]
fn buffers_are_sized_from_the_block() {
    use parex::core::engine::Output;
    use parex::core::tx::FOOTPRINT;
    use parex::host::chain::state_capacity;
    let limits = Limits::DEFAULT;
    let spec = Spec::new(Workload::Transfers, 100, 1_000, 2, 0x16);
    let (world, mut gen) = Generator::new(&spec);
    let blocks = vec![gen.block(), gen.block()];
    assert_eq!(Output::lengths_of(blocks[0].txs(), &limits), (1_000, 1_000 * FOOTPRINT));
    assert!(FOOTPRINT < limits.writes_per_tx());
    assert_eq!(state_capacity(&world, &blocks, &limits), world.words() + 2_000 * 2 + 16);
    let spec = Spec::new(Workload::Amm, 100, 10, 1, 0x16);
    let (_, mut gen) = Generator::new(&spec);
    let calls = gen.block();
    assert_eq!(Output::lengths_of(calls.txs(), &limits).1, 10 * limits.writes_per_tx());
    // And the blocks still run to the sequential roots with these buffers.
    assert_same(&world, &blocks, &[2], 1);
}

/// Issue #16: the footprint engine's memory is that of one partition, whatever the
/// number of workers (each partition had a block's worth of touch list, key records,
/// sources and key table: about 6.6 GB for 1,000,000 transfers on sixteen workers).
#[test]
fn footprint_memory_does_not_grow_with_the_workers() {
    use parex::core::parallel::footprint::{FootprintMemory, FOOTPRINT};
    let (n, w) = (1_000, FOOTPRINT);
    let one = FootprintMemory::lengths(n, 1, w);
    for workers in [2, 8, 16, 64] {
        let l = FootprintMemory::lengths(n, workers, w);
        assert_eq!((l.values, l.done), (n * w, n + 1));
        assert!(l.keys <= one.keys + 16 && l.table <= one.table + 32, "{workers}: {l:?}");
    }
    // And blocks of transfers run to the sequential roots on up to 16 partitions.
    let spec = Spec::new(Workload::Transfers, 50, 500, 2, 0x16F);
    let (world, mut gen) = Generator::new(&spec);
    let blocks = vec![gen.block(), gen.block()];
    assert_same_on(Path::Footprint, &world, &blocks, &[3, 16], 1);
}
