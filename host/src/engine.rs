//! Running the core on the host: buffers sized from `Vec`s, the parallel engines on the
//! calling thread and the helper threads of a [`Pool`], and the sequential fallback.
//! (The `rayon` feature spreads commitment hashing over the cores, through
//! `parex-offload`'s CPU backend.)

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use parex_core::block::{BlockHeader, Commit};
use parex_core::error::{BlockError, GenesisError};
use parex_core::exec::{Access, BlockEnv, Limits};
use parex_core::hash::Hasher;
use parex_core::merkle::{HashScratch, Leaf, MAX_PARTS};
use parex_core::parallel::footprint::{
    self, Done, FootprintExecutor, FootprintMemory, KeyRecord, Lengths, Slot, Source, Touch,
};
use parex_core::parallel::mvmemory::{IndexWord, MvKey, MvNode};
use parex_core::parallel::scheduler::TxState;
use parex_core::parallel::{
    ParallelExecutor, ParallelMemory, ReadCell, TxData, WorkerMemory, WriteCell,
};
use parex_core::receipt::Receipt;
use parex_core::sequential::{execute_sequential, ExecStats, SeqMemory};
use parex_core::state::{Genesis, Staging, State, StateEntry, StateMemory};
use parex_core::tx::Transaction;
use parex_core::vm::VmScratch;
use parex_core::{Counting, Hash32};

use parex_offload::CpuHasher;

use crate::pool::{Pool, WorkerLost};

/// VM stack depth used by the host.
pub const VM_STACK: usize = 256;
/// VM memory bytes used by the host.
pub const VM_MEMORY: usize = 1024;
/// Distinct keys per transaction the multi-version table is first sized for.
pub const MV_KEYS_PER_TX: usize = 4;
const MV_FULL: &str = parex_core::parallel::MV_FULL;
/// Messages per hash batch.
pub const HASH_BATCH: usize = 4096;

fn filled<T>(n: usize, f: impl Fn() -> T) -> Vec<T> {
    (0..n).map(|_| f()).collect()
}

/// Memory for a [`State`].
pub struct StateBuffers {
    index: Vec<u32>,
    entries: Vec<StateEntry>,
    leaves: Vec<Leaf>,
    leaf_of: Vec<u32>,
    nodes: Vec<Hash32>,
}

impl StateBuffers {
    /// Room for `capacity` state words.
    pub fn new(capacity: usize) -> Self {
        let l = StateMemory::lengths(capacity);
        Self {
            index: vec![0; l.index],
            entries: vec![StateEntry::EMPTY; l.entries],
            leaves: vec![Leaf::EMPTY; l.entries],
            leaf_of: vec![0; l.entries],
            nodes: vec![[0; 32]; l.nodes],
        }
    }

    /// Loads `genesis`.
    pub fn load<'a, H: Hasher + ?Sized>(
        &'a mut self,
        genesis: &Genesis<'a>,
        hasher: &mut H,
        hash: &mut HashBuffers,
    ) -> Result<State<'a>, GenesisError> {
        let mem = StateMemory {
            index: &mut self.index,
            entries: &mut self.entries,
            leaves: &mut self.leaves,
            leaf_of: &mut self.leaf_of,
            nodes: &mut self.nodes,
        };
        State::from_genesis(mem, genesis, hasher, &mut hash.scratch())
    }
}

/// Hash batch memory.
pub struct HashBuffers {
    msgs: Vec<u8>,
    digests: Vec<Hash32>,
    ends: Vec<u32>,
}

impl Default for HashBuffers {
    fn default() -> Self {
        Self::new(HASH_BATCH)
    }
}

impl HashBuffers {
    /// Batches of `batch` messages.
    pub fn new(batch: usize) -> Self {
        let (m, d, e) = HashScratch::lengths(batch);
        Self { msgs: vec![0; m], digests: vec![[0; 32]; d], ends: vec![0; e] }
    }

    /// The core's view.
    pub fn scratch(&mut self) -> HashScratch<'_> {
        HashScratch { msgs: &mut self.msgs, digests: &mut self.digests, ends: &mut self.ends }
    }
}

/// One worker's VM and access-set memory.
pub struct WorkerBuffers {
    stack: Vec<u64>,
    memory: Vec<u8>,
    access: Vec<Access>,
    /// Hash batches of the worker's part of a commitment.
    hash: HashBuffers,
}

impl WorkerBuffers {
    /// For `limits`.
    pub fn new(limits: &Limits) -> Self {
        Self {
            stack: vec![0; VM_STACK],
            memory: vec![0; VM_MEMORY],
            access: vec![Access::EMPTY; limits.access_entries()],
            hash: HashBuffers::default(),
        }
    }

    fn worker(&mut self) -> WorkerMemory<'_> {
        WorkerMemory {
            vm: VmScratch { stack: &mut self.stack, memory: &mut self.memory },
            access: &mut self.access,
        }
    }
}

/// Which engine runs a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The sequential reference executor.
    Sequential,
    /// The parallel engines with this many workers: a block of native transfers goes to
    /// the footprint scheduler (`parex_core::parallel::footprint`), any other block to
    /// Block-STM. A block too contended for either (a transfer block that
    /// `footprint::looks_contended`, or see `ParallelExecutor::set_contention_fallback`)
    /// runs sequentially instead.
    Parallel(usize),
    /// Block-STM with this many workers and no contention fallback, for every block:
    /// each runs through speculation and validation however contended (the
    /// differential tests use it to exercise the engine on worst cases).
    Speculative(usize),
}

impl Mode {
    /// Workers the mode runs a block on (the sequential executor: one).
    pub fn workers(self) -> usize {
        match self {
            Mode::Sequential => 1,
            Mode::Parallel(n) | Mode::Speculative(n) => n.max(1),
        }
    }
}

/// Reusable memory for executing blocks of up to some size.
pub struct Executor {
    limits: Limits,
    receipts: Vec<Receipt>,
    writes: Vec<StateEntry>,
    seq_index: Vec<u32>,
    workers: Vec<WorkerBuffers>,
    states: Vec<TxState>,
    data: Vec<TxData>,
    reads: Vec<ReadCell>,
    wcells: Vec<WriteCell>,
    keys: Vec<MvKey>,
    /// The index over `keys`: `ParallelMemory::index_len(keys.len())` slots.
    index: Vec<IndexWord>,
    nodes: Vec<MvNode>,
    dirty: Vec<u32>,
    digests: Vec<Hash32>,
    hash: HashBuffers,
    fp: FootprintBuffers,
    /// Threads for workers 1 and up, kept from block to block.
    pool: Pool,
    /// Keccak permutations of the last commitment.
    commit_permutations: u64,
}

/// Memory of the footprint scheduler (`parex_core::parallel::footprint`).
#[derive(Default)]
struct FootprintBuffers {
    done: Vec<Done>,
    values: Vec<Slot<u64>>,
    table: Vec<Slot<(u32, u32)>>,
    keys: Vec<Slot<KeyRecord>>,
    list: Vec<Slot<Touch>>,
    sources: Vec<Slot<Source>>,
}

impl FootprintBuffers {
    /// Grows every buffer for `txs` transactions on `workers` workers; returns the
    /// lengths the scheduler needs.
    fn reserve(&mut self, txs: usize, workers: usize) -> Lengths {
        let l = FootprintMemory::lengths(txs, workers);
        fn grow<T>(v: &mut Vec<T>, len: usize, f: impl Fn() -> T) {
            if v.len() < len {
                *v = filled(len, f);
            }
        }
        grow(&mut self.done, l.done, Done::new);
        grow(&mut self.values, l.values, || Slot::new(0));
        // A table of another length has another layout: start it afresh.
        if self.table.len() != l.table {
            self.table = filled(l.table, || Slot::new((0, 0)));
        }
        grow(&mut self.keys, l.cells, Slot::default);
        grow(&mut self.list, l.cells, Slot::default);
        grow(&mut self.sources, l.cells, Slot::default);
        l
    }
}

/// What executing one block produced.
#[derive(Clone, Debug, Default)]
pub struct Executed {
    /// One per transaction.
    pub receipts: Vec<Receipt>,
    /// The block's write set, sorted by key.
    pub writes: Vec<StateEntry>,
    /// Engine statistics.
    pub stats: ExecStats,
    /// Wall time of execution.
    pub exec_time: Duration,
}

impl Executor {
    /// An executor for `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            receipts: Vec::new(),
            writes: Vec::new(),
            seq_index: Vec::new(),
            workers: Vec::new(),
            states: Vec::new(),
            data: Vec::new(),
            reads: Vec::new(),
            wcells: Vec::new(),
            keys: Vec::new(),
            index: Vec::new(),
            nodes: Vec::new(),
            dirty: Vec::new(),
            digests: Vec::new(),
            hash: HashBuffers::default(),
            fp: FootprintBuffers::default(),
            pool: Pool::default(),
            commit_permutations: 0,
        }
    }

    /// Keccak permutations the last [`Self::commit`] cost (roots, header hash).
    pub fn commit_permutations(&self) -> u64 {
        self.commit_permutations
    }

    /// The limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Grows every buffer for `txs` transactions and `workers` workers (outside timing).
    pub fn reserve(&mut self, txs: usize, workers: usize) {
        let (si, sw, _) = SeqMemory::lengths(txs, &self.limits);
        if self.receipts.len() < txs {
            self.receipts.resize(txs, Receipt::EMPTY);
        }
        if self.writes.len() < sw {
            self.writes.resize(sw, StateEntry::EMPTY);
            self.seq_index.resize(si, 0);
            self.dirty.resize(sw, 0);
        }
        if self.digests.len() < 2 * txs {
            self.digests.resize(2 * txs, [0; 32]);
        }
        while self.workers.len() < workers.max(1) {
            self.workers.push(WorkerBuffers::new(&self.limits));
        }
        if workers > 0 {
            // The footprint scheduler's buffers too, so that its first block does not
            // pay for them (a no-op once they are large enough).
            self.fp.reserve(txs, workers);
            let l = ParallelMemory::lengths(txs, &self.limits);
            if self.states.len() < l.txs {
                self.states = filled(l.txs, TxState::new);
                self.data = filled(l.txs, TxData::new);
            }
            if self.reads.len() < l.reads {
                self.reads = filled(l.reads, ReadCell::default);
            }
            if self.wcells.len() < l.writes {
                self.wcells = filled(l.writes, WriteCell::default);
                self.nodes = filled(l.writes, MvNode::new);
            }
            // The key records are sized for the typical block (a few new keys per
            // transaction) rather than the worst case, which would be n * writes_per_tx:
            // running out makes `run_parallel` retry with the worst case.
            let keys = l.keys.min(MV_KEYS_PER_TX * txs).max(1);
            if self.keys.len() < keys {
                self.set_key_table(keys);
            }
        }
    }

    /// Fresh multi-version key records, `len` of them, and their index.
    fn set_key_table(&mut self, len: usize) {
        self.keys = filled(len, MvKey::new);
        self.index = filled(ParallelMemory::index_len(len), IndexWord::new);
    }

    /// Executes `txs` over `state` without committing.
    pub fn execute(
        &mut self,
        state: &State<'_>,
        env: &BlockEnv<'_>,
        txs: &[Transaction],
        mode: Mode,
    ) -> Result<Executed, BlockError> {
        let mut out = Executed::default();
        self.execute_into(state, env, txs, mode, &mut out)?;
        Ok(out)
    }

    /// [`Self::execute`] into `out`, reusing its vectors' memory (a caller executing
    /// block after block saves an allocation of every receipt and write per block).
    pub fn execute_into(
        &mut self,
        state: &State<'_>,
        env: &BlockEnv<'_>,
        txs: &[Transaction],
        mode: Mode,
        out: &mut Executed,
    ) -> Result<(), BlockError> {
        let workers = match mode {
            Mode::Sequential => 0,
            Mode::Parallel(n) | Mode::Speculative(n) => n.max(1),
        };
        let fallback = matches!(mode, Mode::Parallel(_));
        self.reserve(txs.len(), workers);
        let start = Instant::now();
        // Known footprints are scheduled without speculation, unless the block is a
        // chain (then it runs sequentially). Should the plan not hold (it always does
        // for the footprints the core computes), Block-STM runs the block.
        let planned = matches!(mode, Mode::Parallel(_)) && footprint::plannable(txs);
        let chain = planned && footprint::looks_contended(txs);
        if planned && !chain {
            if let Ok(stats) = self.run_footprint(state, env, txs, workers, out) {
                out.stats = stats;
                out.exec_time = start.elapsed();
                return Ok(());
            }
        }
        let stats = match mode {
            Mode::Sequential => self.run_sequential(state, env, txs, &mut out.writes)?,
            Mode::Parallel(_) if chain => self.fall_back(state, env, txs, &mut out.writes)?,
            Mode::Parallel(_) | Mode::Speculative(_) => {
                match self.run_parallel(state, env, txs, workers, fallback, &mut out.writes) {
                    Ok(s) => s,
                    Err(_) => self.fall_back(state, env, txs, &mut out.writes)?,
                }
            }
        };
        out.exec_time = start.elapsed();
        out.stats = stats;
        copy_into(&mut out.receipts, &self.receipts[..txs.len()]);
        Ok(())
    }

    fn run_footprint(
        &mut self,
        state: &State<'_>,
        env: &BlockEnv<'_>,
        txs: &[Transaction],
        workers: usize,
        out: &mut Executed,
    ) -> Result<ExecStats, BlockError> {
        let l = self.fp.reserve(txs.len(), workers);
        // Receipts and the write set go straight into `out`'s vectors.
        out.receipts.resize(l.txs, Receipt::EMPTY);
        out.writes.resize(l.values, StateEntry::EMPTY);
        let fp = &mut self.fp;
        let mem = FootprintMemory {
            done: &mut fp.done,
            receipts: Slot::from_mut_slice(&mut out.receipts),
            values: &mut fp.values,
            table: &mut fp.table,
            keys: &mut fp.keys,
            list: &mut fp.list,
            sources: &mut fp.sources,
            out: Slot::from_mut_slice(&mut out.writes),
        };
        let exec = FootprintExecutor::new(state, *env, txs, mem, workers)?;
        run_workers(&mut self.pool, &mut self.workers[..workers], |i, w| {
            exec.run_worker_with(i, w, backoff)
        })?;
        let (_, writes, stats) = exec.finish()?;
        let written = writes.len();
        out.writes.truncate(written);
        Ok(stats)
    }

    /// A block the parallel engines gave up on (or left alone), run sequentially.
    fn fall_back(
        &mut self,
        state: &State<'_>,
        env: &BlockEnv<'_>,
        txs: &[Transaction],
        out: &mut Vec<StateEntry>,
    ) -> Result<ExecStats, BlockError> {
        let stats = self.run_sequential(state, env, txs, out)?;
        Ok(ExecStats { fell_back: true, ..stats })
    }

    fn run_sequential(
        &mut self,
        state: &State<'_>,
        env: &BlockEnv<'_>,
        txs: &[Transaction],
        out: &mut Vec<StateEntry>,
    ) -> Result<ExecStats, BlockError> {
        let w = &mut self.workers[0];
        let mem = SeqMemory {
            index: &mut self.seq_index,
            writes: &mut self.writes,
            access: &mut w.access,
        };
        let mut vm = VmScratch { stack: &mut w.stack, memory: &mut w.memory };
        let (writes, stats) =
            execute_sequential(state, env, txs, &mut self.receipts, mem, &mut vm)?;
        copy_into(out, writes);
        Ok(stats)
    }

    fn run_parallel(
        &mut self,
        state: &State<'_>,
        env: &BlockEnv<'_>,
        txs: &[Transaction],
        workers: usize,
        fallback: bool,
        out: &mut Vec<StateEntry>,
    ) -> Result<ExecStats, BlockError> {
        // No more records than this block could use, and the index for them (each block
        // clears its index, so a larger one left by an earlier block would cost time).
        let records = self.keys.len().min(ParallelMemory::lengths(txs.len(), &self.limits).keys);
        let index = ParallelMemory::index_len(records).min(self.index.len());
        let mem = ParallelMemory {
            states: &mut self.states,
            data: &mut self.data,
            reads: &mut self.reads,
            writes: &mut self.wcells,
            keys: &mut self.keys[..records],
            index: &mut self.index[..index],
            nodes: &mut self.nodes,
        };
        let mut exec = ParallelExecutor::new(state, *env, txs, mem)?;
        exec.set_contention_fallback(fallback);
        if workers == 1 {
            // One worker: the engine's one-worker form, on this thread.
            exec.run_alone(self.workers[0].worker())?;
        } else {
            run_workers(&mut self.pool, &mut self.workers[..workers], |_, w| {
                exec.run_worker_with(w, backoff)
            })?;
        }
        match exec.finish(&mut self.receipts, &mut self.writes) {
            Ok((writes, stats)) => {
                copy_into(out, writes);
                Ok(stats)
            }
            Err(BlockError::ParallelInvariant(MV_FULL)) => {
                let full = ParallelMemory::lengths(txs.len(), &self.limits).keys;
                if records >= full {
                    return Err(BlockError::ParallelInvariant(MV_FULL));
                }
                self.set_key_table(full);
                self.run_parallel(state, env, txs, workers, fallback, out)
            }
            Err(e) => Err(e),
        }
    }

    /// Commits an executed block onto `state`; returns the header and its hash.
    ///
    /// With `workers > 1` and a CPU hasher ([`Hasher::runs_on_cpu`]), the commitment is
    /// split into that many parts ([`Commit`]) hashed on the executor's workers (the
    /// calling thread and the pool's helpers), each with a one-thread multi-lane
    /// [`CpuHasher`]; `hasher` hashes the few top levels. Otherwise (one worker, or a
    /// device hasher, whose batches should all go to the device) it runs on the calling
    /// thread with `hasher`. The roots are the same either way.
    #[allow(clippy::too_many_arguments)]
    pub fn commit<H: Hasher + ?Sized>(
        &mut self,
        state: &mut State<'_>,
        parent_hash: Hash32,
        env: &BlockEnv<'_>,
        txs: &[Transaction],
        executed: &Executed,
        hasher: &mut H,
        workers: usize,
    ) -> Result<(BlockHeader, Hash32), BlockError> {
        if self.dirty.len() < 2 * executed.writes.len() {
            self.dirty.resize(2 * executed.writes.len(), 0);
        }
        if self.digests.len() < 2 * txs.len() {
            self.digests.resize(2 * txs.len(), [0; 32]);
        }
        let parts = if hasher.runs_on_cpu() { workers.clamp(1, MAX_PARTS) } else { 1 };
        let mut hasher = Counting::new(hasher);
        let worker_perms = AtomicU64::new(0);
        while self.workers.len() < parts {
            self.workers.push(WorkerBuffers::new(&self.limits));
        }
        Commit::check(txs, &executed.receipts, &self.digests)?;
        let mut staging = Staging::new(state, &executed.writes, &mut self.dirty, parts)?;
        let job = if parts == 1 {
            let tree = staging.run_alone()?;
            let job = Commit::new(tree, txs, &executed.receipts, &mut self.digests, &mut hasher)?;
            job.run_part(0, &mut hasher, &mut self.hash.scratch());
            job
        } else {
            // A lost worker leaves its part undone; once the updates began, the state's
            // words are partly updated, an error the caller cannot retry (see `Pool`).
            let lost =
                || BlockError::ParallelInvariant("a commitment worker panicked or could not start");
            let pool = &mut self.pool;
            pool.run(parts, &|i| staging.lookup_part(i)).map_err(|WorkerLost| lost())?;
            let updates = staging.updates()?;
            pool.run(parts, &|i| updates.run_part(i)).map_err(|WorkerLost| lost())?;
            let tree = staging.finish();
            let job = Commit::new(tree, txs, &executed.receipts, &mut self.digests, &mut hasher)?;
            let slots: Vec<Mutex<&mut WorkerBuffers>> =
                self.workers[..parts].iter_mut().map(Mutex::new).collect();
            pool.run(parts, &|i| {
                let mut w = slots[i].lock().unwrap_or_else(PoisonError::into_inner);
                let mut h = Counting::new(CpuHasher::single_thread());
                job.run_part(i, &mut h, &mut w.hash.scratch());
                // Relaxed: read after the pool joined the workers.
                worker_perms.fetch_add(h.permutations, Ordering::Relaxed);
            })
            .map_err(|WorkerLost| lost())?;
            job
        };
        let number = env.number;
        let gas = executed.stats.gas_used;
        let scratch = &mut self.hash.scratch();
        let header = job.finish(parent_hash, number, env.beneficiary, gas, &mut hasher, scratch);
        let hash = header.hash(&mut hasher);
        self.commit_permutations = hasher.permutations + worker_perms.into_inner();
        Ok((header, hash))
    }
}

/// Replaces `v`'s contents with `from`, keeping its allocation.
fn copy_into<T: Copy>(v: &mut Vec<T>, from: &[T]) {
    v.clear();
    v.extend_from_slice(from);
}

/// Idle workers spin briefly, then yield their core.
fn backoff(spins: u32) {
    if spins < 32 {
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

/// Runs `run(index, memory)` for worker 0 on the calling thread and for the others on
/// the pool's helper threads, each with its own buffers.
/// (Workers spin briefly while no task is available, so they get threads of their own
/// rather than rayon tasks, whose pool may run them one after another.)
fn run_workers<F>(pool: &mut Pool, workers: &mut [WorkerBuffers], run: F) -> Result<(), BlockError>
where
    F: Fn(usize, WorkerMemory<'_>) -> Result<(), BlockError> + Sync,
{
    let n = workers.len();
    if n == 0 {
        return Err(BlockError::BadScratch);
    }
    // Each worker locks its own slot, once: the locks only hand the buffers over.
    let slots: Vec<Mutex<(&mut WorkerBuffers, Result<(), BlockError>)>> =
        workers.iter_mut().map(|w| Mutex::new((w, Ok(())))).collect();
    let lost = BlockError::ParallelInvariant("a worker thread panicked or could not start");
    pool.run(n, &|i| {
        let mut slot = slots[i].lock().unwrap_or_else(PoisonError::into_inner);
        let (w, result) = &mut *slot;
        *result = run(i, w.worker());
    })
    .map_err(|WorkerLost| lost)?;
    slots
        .into_iter()
        .map(|s| s.into_inner().unwrap_or_else(PoisonError::into_inner).1)
        .fold(Ok(()), Result::and)
}
