//! Block-STM's one-worker entry point driven directly: `run_alone` is the only run of
//! its block.

use parex::core::engine::{Block, Choice, Engine, EngineKind, KeyTable, Output, WorkerMemory};
use parex::core::error::{BlockError, Invariant};
use parex::core::exec::{Access, BlockEnv, Limits};
use parex::core::parallel::block_stm::mvmemory::{IndexWord, MvKey, MvNode};
use parex::core::parallel::block_stm::scheduler::TxState;
use parex::core::parallel::block_stm::{BlockStm, BlockStmMemory, ReadCell, TxData, WriteCell};
use parex::core::receipt::Receipt;
use parex::core::state::StateEntry;
use parex::core::types::Shard;
use parex::core::vm::VmScratch;
use parex::core::KeccakHasher;
use parex::host::chain::{state_capacity, WorldState};
use parex::host::engine::{Mode, VM_MEMORY, VM_STACK};
use parex::host::workload::{Generator, Spec, Workload};

use super::*;

fn worker<'w>(
    stack: &'w mut [u64],
    memory: &'w mut [u8],
    access: &'w mut [Access],
) -> WorkerMemory<'w> {
    WorkerMemory { vm: VmScratch { stack, memory }, access }
}

/// Block-STM's buffers for one block, `records` key records.
struct StmBufs {
    states: Vec<TxState>,
    data: Vec<TxData>,
    reads: Vec<ReadCell>,
    wcells: Vec<WriteCell>,
    keys: Vec<MvKey>,
    nodes: Vec<MvNode>,
    index: Vec<IndexWord>,
}

impl StmBufs {
    fn new(txs: usize, limits: &Limits, records: usize) -> Self {
        let l = BlockStmMemory::lengths(txs, limits);
        Self {
            states: (0..l.txs).map(|_| TxState::new()).collect(),
            data: (0..l.txs).map(|_| TxData::new()).collect(),
            reads: (0..l.reads).map(|_| ReadCell::default()).collect(),
            wcells: (0..l.writes).map(|_| WriteCell::default()).collect(),
            keys: (0..records).map(|_| MvKey::new()).collect(),
            nodes: (0..l.writes).map(|_| MvNode::new()).collect(),
            index: (0..BlockStmMemory::index_len(records)).map(|_| IndexWord::new()).collect(),
        }
    }

    fn memory(&mut self) -> BlockStmMemory<'_> {
        BlockStmMemory {
            states: &mut self.states,
            data: &mut self.data,
            reads: &mut self.reads,
            writes: &mut self.wcells,
            keys: &mut self.keys,
            index: &mut self.index,
            nodes: &mut self.nodes,
        }
    }
}

/// `run_alone` runs a block only once and only on its own: after it, a worker returns at
/// once and `finish` reads the block out; after a worker, it refuses.
#[test]
fn run_alone_is_the_only_run_of_its_block() {
    let spec = Spec::new(Workload::Token, 50, 200, 1, 0xA10E);
    let (world, mut gen) = Generator::new(&spec);
    let txs = gen.block();
    let seq = replay_with(&world, std::slice::from_ref(&txs), Mode::Sequential);
    let limits = Limits::DEFAULT;
    let mut loaded =
        WorldState::new(&world, state_capacity(&world, std::slice::from_ref(&txs), &limits));
    let (state, contracts) = loaded.load(&mut KeccakHasher).unwrap();
    let env = BlockEnv {
        number: 1,
        beneficiary: world.beneficiary,
        contracts,
        limits,
        shard: Shard::WHOLE,
        delivered: 0,
    };
    let block = Block { state: &state, env, txs: txs.txs() };
    let (n, w) = Output::lengths(txs.len(), &limits);
    let (mut stack, mut memory) = (vec![0u64; VM_STACK], vec![0u8; VM_MEMORY]);
    let mut access = vec![Access::EMPTY; limits.access_entries()];
    let mut idle = |_| std::hint::spin_loop();
    let choice = Choice { engine: EngineKind::BlockStm, keys: KeyTable::Full, ..Choice::default() };
    let full = BlockStmMemory::lengths(txs.len(), &limits).keys;
    for alone_first in [true, false] {
        let mut bufs = StmBufs::new(txs.len(), &limits, full);
        let (mut receipts, mut writes) = (vec![Receipt::EMPTY; n], vec![StateEntry::EMPTY; w]);
        let output = Output { receipts: &mut receipts, writes: &mut writes };
        let mut exec = BlockStm::prepare(block, bufs.memory(), output, &choice).unwrap();
        let alone_twice = Err(BlockError::Invariant(Invariant::AloneTwice));
        if alone_first {
            exec.run_alone(worker(&mut stack, &mut memory, &mut access)).unwrap();
            exec.run_worker(0, worker(&mut stack, &mut memory, &mut access), &mut idle).unwrap();
            let again = exec.run_alone(worker(&mut stack, &mut memory, &mut access));
            assert_eq!(again, alone_twice);
        } else {
            exec.run_worker(0, worker(&mut stack, &mut memory, &mut access), &mut idle).unwrap();
            let after = exec.run_alone(worker(&mut stack, &mut memory, &mut access));
            assert_eq!(after, alone_twice);
        }
        let out = exec.finish().unwrap();
        assert_eq!(out.receipts, seq.blocks[0].receipts, "alone first: {alone_first}");
    }
    // A block that fails under `run_alone` (too few key records) fails in `finish`, with
    // the typed error the policy answers with a full key table.
    let mut bufs = StmBufs::new(txs.len(), &limits, 2);
    let (mut receipts, mut writes) = (vec![Receipt::EMPTY; n], vec![StateEntry::EMPTY; w]);
    let output = Output { receipts: &mut receipts, writes: &mut writes };
    let mut exec = BlockStm::prepare(block, bufs.memory(), output, &choice).unwrap();
    exec.run_alone(worker(&mut stack, &mut memory, &mut access)).unwrap();
    assert_eq!(exec.finish().unwrap_err(), BlockError::MvFull { records: 2 });
}
