//! Running the core on the host: buffers sized from `Vec`s ([`buffers`]), the core's
//! engine policy ([`parex_core::policy::run_block`]) on the calling thread and the
//! helper threads of a [`Pool`] ([`workers`]), and the commitment's parts on the same
//! threads. (The `rayon` feature spreads commitment hashing over the cores, through
//! `parex-offload`'s CPU backend.)

pub mod buffers;
mod workers;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use parex_core::block::{digests_len, BlockHeader, Commit, TxList, TxListDone};
use parex_core::engine::{Block, Choice, Output, Survey};
use parex_core::error::BlockError;
use parex_core::exec::{BlockEnv, ExecStats, HotKeys, Limits};
use parex_core::hash::Hasher;
use parex_core::merkle::MAX_PARTS;
use parex_core::policy::{run_block, History, Policy, Prediction, Predictions};
use parex_core::receipt::Receipt;
use parex_core::state::{Staging, State, StateEntry};
use parex_core::tx::Transaction;
use parex_core::{Counting, Hash32};

use parex_offload::CpuHasher;

pub use buffers::{
    EngineBuffers, HashBuffers, LevelBuffers, StateBuffers, WorkerBuffers, HASH_BATCH,
    MV_KEYS_PER_TX, VM_MEMORY, VM_STACK,
};
pub use parex_core::policy::Mode;

use crate::pool::{side_by_side, Pool, WorkerLost};
use buffers::{filled, zeroed};
use workers::PoolWorkers;

/// Blocks from this many transactions are surveyed on several threads ([`survey_on`]).
const SURVEY_ON_THREADS: usize = 1 << 16;

/// A commitment on several workers is cut into this many parts per worker, which the
/// workers claim one at a time ([`claim_parts`]): a worker whose core runs slower (a
/// busy sibling hyperthread, a VM's neighbour) takes fewer of them, where one part per
/// worker left the others waiting for its last one. On the development VM the helper
/// thread's vCPU hashed at 60–85% of the calling thread's rate: see BENCHMARKS.md.
pub const PARTS_PER_WORKER: usize = 4;

/// The parts a commitment on `workers` workers is cut into (see [`PARTS_PER_WORKER`]).
pub fn commit_parts(workers: usize) -> usize {
    match workers {
        0 | 1 => 1,
        w => (w * PARTS_PER_WORKER).min(MAX_PARTS),
    }
}

/// Runs `part(worker, p)` for every `p` in `0..parts` on `workers` workers of `pool`,
/// each worker claiming the next part not yet claimed until none is left.
fn claim_parts(
    pool: &mut Pool,
    workers: usize,
    parts: usize,
    part: &(dyn Fn(usize, usize) + Sync),
) -> Result<(), WorkerLost> {
    let next = AtomicUsize::new(0);
    pool.run(workers.min(parts), &|w| loop {
        // Relaxed: the counter only hands out distinct parts; what a part needs was
        // written before the pool posted the job, and what it writes is read after the
        // pool joined the workers.
        let p = next.fetch_add(1, Ordering::Relaxed);
        if p >= parts {
            break;
        }
        part(w, p);
    })
}

/// The block's [`Survey`] (its footprint width, and the keys it may write and create),
/// its parts read side by side on up to `threads` scoped threads when it is large. A
/// pass over 1,000,000 transactions takes about 9 ms on one thread of the development
/// VM, bound by memory: one cache line a transaction.
pub fn survey_on(txs: &[Transaction], limits: &Limits, threads: usize) -> Survey {
    let threads = threads.clamp(1, txs.len().div_ceil(SURVEY_ON_THREADS / 2).max(1));
    if threads == 1 || txs.len() < SURVEY_ON_THREADS {
        return Survey::of(txs, limits);
    }
    side_by_side(txs.chunks(txs.len().div_ceil(threads)), |part| Survey::of(part, limits))
        .into_iter()
        .reduce(Survey::then)
        .unwrap_or_else(|| Survey::of(txs, limits))
}

/// Reusable memory for executing blocks of up to some size.
pub struct Executor {
    limits: Limits,
    engines: EngineBuffers,
    workers: Vec<WorkerBuffers>,
    dirty: Vec<u32>,
    digests: Vec<Hash32>,
    hash: HashBuffers,
    /// A device's commitment, as one batch.
    levels: LevelBuffers,
    /// Threads for workers 1 and up, kept from block to block.
    pool: Pool,
    /// Keccak permutations of the last commitment: in the commitment itself, and
    /// beside the block's execution (its transaction list, see `tx_list`).
    commit_permutations: u64,
    beside_permutations: u64,
    /// The transaction list of the last block executed, hashed beside a one-worker
    /// engine: its token, the transactions' address and count (the commitment uses it
    /// only for the same slice), and the permutations it took.
    tx_list: Option<(TxListDone, usize, usize, u64)>,
    /// What the blocks run so far predict of the next ([`History`]; `None`: predictor
    /// off).
    history: Option<History>,
    /// Hot keys given for every block instead of the history's ([`Self::force_hot_keys`]).
    forced_keys: Option<HotKeys>,
}

/// What executing one block produced. The engines write straight into its vectors, so a
/// caller executing block after block into one `Executed` ([`Executor::execute_into`])
/// neither allocates nor copies the results.
#[derive(Clone, Debug, Default)]
pub struct Executed {
    /// One per transaction.
    pub receipts: Vec<Receipt>,
    /// The engines' output of writes, as long as the largest block needs; the write set
    /// is its first `written` entries ([`Executed::writes`]).
    buffer: Vec<StateEntry>,
    written: usize,
    /// Engine statistics.
    pub stats: ExecStats,
    /// The engine that produced the result, and why the policy chose it.
    pub choice: Choice,
    /// Wall time the engine's memory took to make ready, before `exec_time`'s clock.
    pub prepare_time: Duration,
    /// Wall time of execution.
    pub exec_time: Duration,
    /// Of `exec_time`, the phases that every worker ran at once; the rest ran on one
    /// thread (the policy, the engine's set-up and read-out, a one-worker engine).
    pub parallel_time: Duration,
    /// What the history predictor made of the block, if it had a say.
    pub prediction: Option<Prediction>,
    /// How long the block's engine, done, waited for its transaction list to be hashed
    /// beside it: commitment time (the caller adds it to the commitment's).
    pub beside_wait: Duration,
}

impl Executed {
    /// The block's write set, sorted by key.
    pub fn writes(&self) -> &[StateEntry] {
        &self.buffer[..self.written]
    }
}

impl Executor {
    /// An executor for `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            engines: EngineBuffers::new(limits),
            workers: Vec::new(),
            dirty: Vec::new(),
            digests: Vec::new(),
            hash: HashBuffers::default(),
            levels: LevelBuffers::default(),
            pool: Pool::default(),
            commit_permutations: 0,
            beside_permutations: 0,
            tx_list: None,
            history: Some(History::new()),
            forced_keys: None,
        }
    }

    /// Gives Block-STM these hot keys ([`Choice::predicted`]) for every block, whatever
    /// the history learns (`None`: the history's, the default). For tests: any keys,
    /// right or wrong, must leave every result as it is.
    pub fn force_hot_keys(&mut self, keys: Option<HotKeys>) {
        self.forced_keys = keys;
    }

    /// Turns the history predictor on (the default) or off; either way it starts afresh.
    /// Off, the policy judges each block by itself alone (see [`History`]).
    pub fn set_predict(&mut self, on: bool) {
        self.history = on.then(History::new);
    }

    /// The history predictor's predictions so far (all zero when off).
    pub fn predictions(&self) -> Predictions {
        self.history.as_ref().map(|h| h.predictions).unwrap_or_default()
    }

    /// The history predictor, when on: to keep it, or to teach it (`History::learn`).
    pub fn history_mut(&mut self) -> Option<&mut History> {
        self.history.as_mut()
    }

    /// Keccak permutations the last [`Self::commit`] hashed (roots, header hash), not
    /// counting [`Self::beside_permutations`].
    pub fn commit_permutations(&self) -> u64 {
        self.commit_permutations
    }

    /// Keccak permutations of the last [`Self::commit`]'s share that was hashed beside
    /// the block's execution (its transaction list, on the workers a one-worker engine
    /// left idle; 0 when there was none).
    pub fn beside_permutations(&self) -> u64 {
        self.beside_permutations
    }

    /// The limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Grows every buffer the block `txs` needs in `mode` (outside timing): sized from
    /// its transactions (their [`Survey`], [`survey_on`]), with the memory of the engine the
    /// policy chooses first ([`Policy::choose`]; another engine's grows if a fallback
    /// runs it).
    pub fn reserve(&mut self, txs: &[Transaction], mode: Mode) {
        let survey = survey_on(txs, &self.limits, mode.workers());
        let mut policy = Policy::predicting(mode, self.history.as_ref(), txs);
        policy.survey = Some(survey);
        self.reserve_for(txs, mode, &policy, &survey);
    }

    /// [`Self::reserve`] with `policy`; `survey` is the survey of `txs`.
    fn reserve_for(&mut self, txs: &[Transaction], mode: Mode, policy: &Policy, survey: &Survey) {
        let workers = match mode {
            Mode::Sequential => 0,
            _ => mode.workers(),
        };
        let (_, writes) = survey.lengths();
        if self.dirty.len() < 2 * writes {
            // Zeroed memory: the commitment maps the part its dirty leaves use.
            self.dirty = vec![0; 2 * writes];
        }
        if self.digests.len() < digests_len(txs.len()) {
            self.digests = filled(digests_len(txs.len()), workers.max(1), || [0; 32]);
        }
        while self.workers.len() < workers.max(1) {
            self.workers.push(WorkerBuffers::new(&self.limits));
        }
        let first = policy.choose(txs);
        self.engines.reserve(txs.len(), workers, writes, &first);
        // Helper threads too, which the commitment's parts use even when the block ran
        // on one thread. A failure here is reported by the first run that needs them.
        let _ = self.pool.start(workers);
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
    /// block after block saves an allocation, and the zeroing, of every receipt and of
    /// the output of writes per block).
    /// The engine is the core policy's choice for `mode` ([`Policy::choose`]), with its
    /// fallback chain; `out.choice` says which engine ran and why. When the engine runs
    /// on one worker (a contended block, say) and `mode` has more, the others hash the
    /// block's transaction list meanwhile ([`TxList`]), and the next [`Self::commit`] of
    /// these same transactions (the same slice, unchanged) uses it.
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
            _ => mode.workers(),
        };
        let prepare = Instant::now();
        let mut policy = Policy::predicting(mode, self.history.as_ref(), txs);
        if let Some(keys) = self.forced_keys {
            policy.predicted = keys;
        }
        // One pass over the block for the lengths below and the policy's choice (here,
        // and again in `run_block`), side by side on the block's workers.
        let survey = survey_on(txs, &self.limits, workers.max(1));
        policy.survey = Some(survey);
        self.reserve_for(txs, mode, &policy, &survey);
        let (_, writes) = survey.lengths();
        // Fresh room is written on the block's workers (`filled`): its page faults are a
        // large part of a large block's time outside the engine.
        let threads = workers.max(1);
        // The writes take zeroed memory: an engine writes only the block's written keys
        // there, often far fewer than the room, which is then never mapped.
        if out.buffer.len() < writes {
            out.buffer = zeroed(writes);
        }
        if out.receipts.len() < txs.len() {
            out.receipts = filled(txs.len(), threads, || Receipt::EMPTY);
        }
        out.receipts.truncate(txs.len());
        let start = Instant::now();
        out.prepare_time = start - prepare;
        let output = Output { receipts: &mut out.receipts, writes: &mut out.buffer };
        let block = Block { state, env: *env, txs };
        // The transaction list's share of the commitment, for the workers a one-worker
        // engine leaves idle: helper `i` of `h` runs every `h`-th part from `i - 1`.
        self.tx_list = None;
        let list =
            TxList::new(txs, &mut self.digests, commit_parts(workers)).ok().filter(|_| workers > 1);
        let list_perms = AtomicU64::new(0);
        // Set when the one-worker engine is done: a helper starts no more parts of the
        // list then (the commitment hashes the parts left, on every worker).
        let engine_done = AtomicBool::new(false);
        let beside = |i: usize, helpers: usize, w: &mut WorkerBuffers| {
            let Some(list) = &list else { return };
            let mut h = Counting::new(CpuHasher::single_thread());
            for p in (i - 1..list.parts()).step_by(helpers.max(1)) {
                // Relaxed: only a hint to stop; the parts that ran are known from the
                // list's own flags, read after the pool joined the helpers.
                if engine_done.load(Ordering::Relaxed) {
                    break;
                }
                list.run_part(p, &mut h, &mut w.hash.scratch());
            }
            // Relaxed: read after the pool joined the helpers.
            list_perms.fetch_add(h.permutations, Ordering::Relaxed);
        };
        let mut pool = PoolWorkers {
            pool: &mut self.pool,
            workers: &mut self.workers,
            beside: Some(&beside),
            engine_done: Some(&engine_done),
            waited: Duration::ZERO,
            parallel: Duration::ZERO,
        };
        let (done, choice) = run_block(&policy, block, output, &mut self.engines, &mut pool)?;
        let (waited, parallel) = (pool.waited, pool.parallel);
        if let Some(token) = list.and_then(TxList::finish) {
            self.tx_list = Some((token, txs.as_ptr() as usize, txs.len(), list_perms.into_inner()));
        }
        let (stats, written) = (done.stats, done.writes.len());
        out.written = written;
        // The wait for the transaction list hashed beside a one-worker engine is the
        // commitment's time (`beside_wait`), not the execution's.
        out.exec_time = start.elapsed().saturating_sub(waited);
        out.beside_wait = waited;
        out.parallel_time = parallel;
        out.stats = stats;
        out.choice = choice;
        out.prediction = match (&mut self.history, mode) {
            (Some(h), Mode::Parallel(_)) => h.learn(txs, &choice, &stats),
            _ => None,
        };
        Ok(())
    }

    /// Commits an executed block onto `state`; returns the header and its hash.
    ///
    /// With `workers > 1` and a CPU hasher ([`Hasher::runs_on_cpu`]), the commitment is
    /// split into [`commit_parts`] parts ([`Commit`], [`PARTS_PER_WORKER`] per worker),
    /// which the executor's workers (the calling thread and the pool's helpers) claim
    /// one after another and hash, each with a one-thread multi-lane
    /// [`CpuHasher`]; `hasher` hashes the few top levels. Otherwise (one worker, or a
    /// device hasher, whose batches should all go to the device) it runs on the calling
    /// thread with `hasher`, the whole commitment as one batch
    /// ([`Commit::finish_levels`]: one upload and one read-back per block on a device).
    /// The roots are the same either way.
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
        // Room for the written-leaf bitmap too (see `Staging::dirty_len`), with some to
        // spare for the leaves the next blocks add.
        let dirty = Staging::dirty_len(state, executed.writes().len());
        if self.dirty.len() < dirty {
            self.dirty.resize(dirty + dirty / 8, 0);
        }
        if self.digests.len() < digests_len(txs.len()) {
            self.digests.resize(digests_len(txs.len()), [0; 32]);
        }
        let workers = if hasher.runs_on_cpu() { workers.clamp(1, MAX_PARTS) } else { 1 };
        let parts = commit_parts(workers);
        let mut hasher = Counting::new(hasher);
        let worker_perms = AtomicU64::new(0);
        while self.workers.len() < workers {
            self.workers.push(WorkerBuffers::new(&self.limits));
        }
        Commit::check(txs, &executed.receipts, &self.digests)?;
        // The transaction list hashed beside this block's execution, if it was.
        let here = (txs.as_ptr() as usize, txs.len());
        let tx_list = self.tx_list.take().filter(|&(_, at, n, _)| (at, n) == here);
        let mut beside = 0;
        let mut staging = Staging::new(state, executed.writes(), &mut self.dirty, parts)?;
        let (number, gas) = (env.number, executed.stats.gas_used);
        let job = if parts == 1 {
            let tree = staging.run_alone()?;
            let job = Commit::new(tree, txs, &executed.receipts, &mut self.digests)?;
            if !hasher.runs_on_cpu() {
                let mem = &mut self.levels.memory(job.level_lengths());
                let beneficiary = env.beneficiary;
                let done =
                    job.finish_levels(parent_hash, number, beneficiary, gas, &mut hasher, mem);
                (self.commit_permutations, self.beside_permutations) = (hasher.permutations, 0);
                return Ok(done);
            }
            job.run_part(0, &mut hasher, &mut self.hash.scratch());
            job
        } else {
            // A lost worker leaves its part undone; once the updates began, the state's
            // words are partly updated, an error the caller cannot retry (see `Pool`).
            let lost = || BlockError::WorkerLost;
            let pool = &mut self.pool;
            claim_parts(pool, workers, parts, &|_, p| staging.lookup_part(p))
                .map_err(|WorkerLost| lost())?;
            let updates = staging.updates()?;
            claim_parts(pool, workers, parts, &|_, p| updates.run_part(p))
                .map_err(|WorkerLost| lost())?;
            let tree = staging.finish();
            let mut job = Commit::new(tree, txs, &executed.receipts, &mut self.digests)?;
            if let Some((token, _, _, perms)) = tx_list {
                job = job.with_tx_list(token);
                beside = perms;
            }
            let slots: Vec<Mutex<&mut WorkerBuffers>> =
                self.workers[..workers].iter_mut().map(Mutex::new).collect();
            claim_parts(pool, workers, parts, &|wi, p| {
                let mut w = slots[wi].lock().unwrap_or_else(PoisonError::into_inner);
                let mut h = Counting::new(CpuHasher::single_thread());
                job.run_part(p, &mut h, &mut w.hash.scratch());
                // Relaxed: read after the pool joined the workers.
                worker_perms.fetch_add(h.permutations, Ordering::Relaxed);
            })
            .map_err(|WorkerLost| lost())?;
            job
        };
        let scratch = &mut self.hash.scratch();
        let header = job.finish(parent_hash, number, env.beneficiary, gas, &mut hasher, scratch);
        let hash = header.hash(&mut hasher);
        self.commit_permutations = hasher.permutations + worker_perms.into_inner();
        self.beside_permutations = beside;
        Ok((header, hash))
    }
}
