//! Replaying a chain of blocks from a genesis: the one place the host turns a
//! [`World`] into a [`State`](parex_core::state::State), executes each block with some
//! [`Mode`], commits it and measures both steps.

use std::time::{Duration, Instant};

use parex_core::block::BlockHeader;
use parex_core::engine::Choice;
use parex_core::error::{BlockError, GenesisError};
use parex_core::exec::{BlockEnv, ExecStats, HotKeys, Limits};
use parex_core::hash::Hasher;
use parex_core::policy::Prediction;
use parex_core::receipt::Receipt;
use parex_core::state::{Contract, Genesis, State, StateEntry};
use parex_core::types::Shard;
use parex_core::Hash32;

use crate::engine::{survey_on, Executed, Executor, HashBuffers, Mode, StateBuffers};
use crate::txblock::BlockTxs;
use crate::workload::World;

/// One block's result.
#[derive(Clone, Debug)]
pub struct BlockOutcome {
    /// The committed header.
    pub header: BlockHeader,
    /// Its hash.
    pub hash: Hash32,
    /// One per transaction.
    pub receipts: Vec<Receipt>,
    /// Engine statistics.
    pub stats: ExecStats,
    /// The engine that ran the block, and why.
    pub choice: Choice,
    /// Time the engine's memory took to make ready before the execution's clock started
    /// (mostly the page faults of fresh buffers: see `engine::buffers::filled`).
    pub prepare_time: Duration,
    /// Execution time.
    pub exec_time: Duration,
    /// Of `exec_time`, the phases every worker ran at once ([`Executed::parallel_time`]).
    ///
    /// [`Executed::parallel_time`]: crate::engine::Executed::parallel_time
    pub parallel_time: Duration,
    /// Commitment time (roots and state update), `beside_wait` included.
    pub commit_time: Duration,
    /// Of `commit_time`, the time the execution, done, waited for the transaction list
    /// being hashed beside it (a one-worker engine's idle workers hash it meanwhile).
    pub beside_wait: Duration,
    /// Keccak permutations of the commitment, hashed while committing.
    pub commit_permutations: u64,
    /// Keccak permutations of the commitment hashed beside the execution (the
    /// transaction list, when a one-worker engine left workers idle).
    pub beside_permutations: u64,
    /// What the history predictor made of the block, if it had a say.
    pub prediction: Option<Prediction>,
}

/// A replay's result.
#[derive(Clone, Debug)]
pub struct ChainOutcome {
    /// Root of the genesis state.
    pub genesis_root: Hash32,
    /// Time the genesis state took to load and hash (its memory made ready included).
    pub load_time: Duration,
    /// Per block.
    pub blocks: Vec<BlockOutcome>,
    /// Every state word at the end, in leaf order.
    pub state: Vec<StateEntry>,
}

/// Why a replay stopped.
#[derive(Debug)]
pub enum ReplayError {
    /// The genesis is unusable.
    Genesis(GenesisError),
    /// Block `.0` (0-based) failed.
    Block(usize, BlockError),
}

impl std::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Genesis(e) => write!(f, "genesis: {e}"),
            Self::Block(i, e) => write!(f, "block {i}: {e}"),
        }
    }
}

impl std::error::Error for ReplayError {}

/// Capacity given to the state: the genesis plus room for what the blocks may create
/// (the beneficiary's balance once, and what each transaction may create besides).
pub fn state_capacity(world: &World, blocks: &[impl BlockTxs], limits: &Limits) -> usize {
    state_capacity_on(world, blocks, limits, 1)
}

/// [`state_capacity`], each block surveyed on up to `threads` threads ([`survey_on`]).
pub fn state_capacity_on(
    world: &World,
    blocks: &[impl BlockTxs],
    limits: &Limits,
    threads: usize,
) -> usize {
    let created: usize = blocks.iter().map(|b| survey_on(b.txs(), limits, threads).creates).sum();
    world.words() + created + 16
}

/// A world's contracts and state memory: the one place a [`World`] becomes a
/// [`State`] (the replay, the benches and the tests all start here).
pub struct WorldState<'w> {
    world: &'w World,
    contracts: Vec<Contract<'w>>,
    bufs: StateBuffers,
}

impl<'w> WorldState<'w> {
    /// Room for `capacity` state words (see [`state_capacity`]).
    pub fn new(world: &'w World, capacity: usize) -> Self {
        let contracts =
            world.contracts.iter().map(|(a, c)| Contract { addr: *a, code: c }).collect();
        Self { world, contracts, bufs: StateBuffers::new(capacity) }
    }

    /// Loads the world's genesis: the state, and the contracts a [`BlockEnv`] needs.
    pub fn load<H: Hasher + ?Sized>(
        &mut self,
        hasher: &mut H,
    ) -> Result<(State<'_>, &[Contract<'w>]), GenesisError> {
        let Self { world, contracts, bufs } = self;
        let genesis = Genesis { accounts: &world.accounts, contracts, storage: &world.storage };
        let state = bufs.load(&genesis, hasher, &mut HashBuffers::default())?;
        Ok((state, contracts))
    }

    /// Loads a saved state of the world (its `words` in leaf order, as
    /// [`State::entries`] lists them) instead of its genesis.
    pub fn load_saved<H: Hasher + ?Sized>(
        &mut self,
        words: &[StateEntry],
        hasher: &mut H,
    ) -> Result<(State<'_>, &[Contract<'w>]), GenesisError> {
        let Self { contracts, bufs, .. } = self;
        let state = bufs.load_saved(contracts, words, hasher, &mut HashBuffers::default())?;
        Ok((state, contracts))
    }
}

/// Executes and commits `blocks` (numbered from 1) on top of `world`, with the history
/// predictor on.
pub fn replay<H: Hasher + ?Sized>(
    world: &World,
    blocks: &[impl BlockTxs],
    mode: Mode,
    limits: Limits,
    hasher: &mut H,
) -> Result<ChainOutcome, ReplayError> {
    replay_predicting(world, blocks, mode, limits, hasher, true)
}

/// [`replay`], with the history predictor on or off ([`Executor::set_predict`]).
pub fn replay_predicting<H: Hasher + ?Sized>(
    world: &World,
    blocks: &[impl BlockTxs],
    mode: Mode,
    limits: Limits,
    hasher: &mut H,
    predict: bool,
) -> Result<ChainOutcome, ReplayError> {
    replay_on(world, blocks, mode, limits, hasher, |exec| exec.set_predict(predict))
}

/// [`replay`], Block-STM given `keys` as hot keys for every block
/// ([`Executor::force_hot_keys`]): for tests, whose results must not depend on them.
pub fn replay_with_hot_keys<H: Hasher + ?Sized>(
    world: &World,
    blocks: &[impl BlockTxs],
    mode: Mode,
    limits: Limits,
    hasher: &mut H,
    keys: HotKeys,
) -> Result<ChainOutcome, ReplayError> {
    replay_on(world, blocks, mode, limits, hasher, |exec| exec.force_hot_keys(Some(keys)))
}

/// [`replay_predicting`] on `exec`, an executor kept from earlier replays, as a node keeps
/// its executor from block to block: its buffers are grown and faulted in, its helper
/// threads started and awake, and those costs, which a fresh executor pays in its first
/// block, are not measured again. Its history predictor starts afresh, so every replay
/// makes the same choices.
pub fn replay_kept<H: Hasher + ?Sized>(
    exec: &mut Executor,
    world: &World,
    blocks: &[impl BlockTxs],
    mode: Mode,
    hasher: &mut H,
    predict: bool,
) -> Result<ChainOutcome, ReplayError> {
    exec.set_predict(predict);
    replay_with(exec, world, blocks, mode, hasher)
}

/// [`replay`] on a fresh executor set up by `setup`.
fn replay_on<H: Hasher + ?Sized>(
    world: &World,
    blocks: &[impl BlockTxs],
    mode: Mode,
    limits: Limits,
    hasher: &mut H,
    setup: impl FnOnce(&mut Executor),
) -> Result<ChainOutcome, ReplayError> {
    let mut exec = Executor::new(limits);
    setup(&mut exec);
    replay_with(&mut exec, world, blocks, mode, hasher)
}

/// [`replay`] on `exec` as it is.
fn replay_with<H: Hasher + ?Sized>(
    exec: &mut Executor,
    world: &World,
    blocks: &[impl BlockTxs],
    mode: Mode,
    hasher: &mut H,
) -> Result<ChainOutcome, ReplayError> {
    let limits = exec.limits();
    let load = Instant::now();
    let capacity = state_capacity_on(world, blocks, &limits, mode.workers());
    let mut loaded = WorldState::new(world, capacity);
    let (mut state, contracts) = loaded.load(hasher).map_err(ReplayError::Genesis)?;
    let genesis_root = state.root();
    let load_time = load.elapsed();
    let mut parent = [0u8; 32];
    let mut out = Vec::with_capacity(blocks.len());
    // One output for every block: the engines write straight into it.
    let mut executed = Executed::default();
    for (i, block) in blocks.iter().enumerate() {
        let txs = block.txs();
        let env = BlockEnv {
            number: i as u64 + 1,
            beneficiary: world.beneficiary,
            contracts,
            limits,
            shard: Shard::WHOLE,
            delivered: 0,
        };
        exec.execute_into(&state, &env, txs, mode, &mut executed)
            .map_err(|e| ReplayError::Block(i, e))?;
        let t = Instant::now();
        let (header, hash) = exec
            .commit(&mut state, parent, &env, txs, &executed, hasher, mode.workers())
            .map_err(|e| ReplayError::Block(i, e))?;
        // With the wait for the transaction list hashed beside the execution.
        let commit_time = t.elapsed() + executed.beside_wait;
        parent = hash;
        out.push(BlockOutcome {
            header,
            hash,
            // Moved: the next block's receipts start afresh (before its clock starts).
            receipts: std::mem::take(&mut executed.receipts),
            stats: executed.stats,
            choice: executed.choice,
            prepare_time: executed.prepare_time,
            exec_time: executed.exec_time,
            parallel_time: executed.parallel_time,
            commit_time,
            beside_wait: executed.beside_wait,
            commit_permutations: exec.commit_permutations(),
            beside_permutations: exec.beside_permutations(),
            prediction: executed.prediction,
        });
    }
    Ok(ChainOutcome { genesis_root, load_time, blocks: out, state: state.entries().to_vec() })
}
