//! Sharded chains: a world split into shards by the core's rule (`Shard::of`), each with
//! its own state, executor and block per height, run side by side on threads; the
//! host's part is routing each height's messages (with their proofs and the source
//! headers) to the next height's shards, and the global header. The shard-local rules
//! (emitting, accepting and applying messages, outbox roots, headers) are the core's
//! (`parex_core::shard`); `docs/semantics.md` ("Shards") states them.
//!
//! Per height, every shard runs [`step`](step::step): its system writes (its own sent
//! counters, then the messages delivered to it, each accepted against its source's
//! outbox root), its block, its commitment, its outbox. A height's shards share nothing
//! while they run, so their order and the threads that run them cannot change a root
//! (`tests/suite/shards.rs` checks it against one thread running them one by one).

mod bench;
mod checkpoint;
mod step;
mod world;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::txblock::{BlockTxs, TxBlock};
use parex_core::block::BlockHeader;
use parex_core::engine::Choice;
use parex_core::error::{BlockError, GenesisError};
use parex_core::exec::Limits;
use parex_core::merkle::HashScratch;
use parex_core::receipt::Receipt;
use parex_core::shard::{BatchProof, GlobalHeader, Message, ShardError, ShardHeader};
use parex_core::state::StateEntry;
use parex_core::{Address, Hash32, KeccakHasher, Shard};

use crate::engine::{HashBuffers, Mode};
use crate::pool::{Pool, WorkerLost};
use crate::workload::World;

pub use bench::{measure_sharded, table, ShardBenchError, ShardTps, ShardedReport};
pub use checkpoint::{Checkpoint, CheckpointError};
pub use world::{check_world, conserved, shard_world, split_block};

/// How a sharded chain is run.
#[derive(Clone, Debug)]
pub struct ShardRun {
    /// Shards (1 to `Shard::MAX`).
    pub shards: u16,
    /// Threads that run a height's shards side by side, each one shard at a time.
    pub runners: usize,
    /// How each shard executes its block (its workers: `Mode::workers`).
    pub mode: Mode,
    /// The order in which a height's shards are handed to the runners (a permutation
    /// of `0..shards`; `None`: in shard order).
    pub order: Option<Vec<u16>>,
    /// Per-transaction limits.
    pub limits: Limits,
}

impl ShardRun {
    /// `shards` shards on `threads` threads: each shard on its own runner while there
    /// are threads for all (a shard with two threads or more runs the parallel engine
    /// on them), else `threads` runners taking shards in turn, each with the sequential
    /// engine.
    pub fn new(shards: u16, threads: usize) -> Self {
        let threads = threads.max(1);
        let per = threads / shards.max(1) as usize;
        let mode = if per >= 2 { Mode::Parallel(per) } else { Mode::Sequential };
        Self {
            shards,
            runners: threads.min(shards.max(1) as usize),
            mode,
            order: None,
            limits: Limits::DEFAULT,
        }
    }

    /// One thread running the shards one after another with the sequential engine: the
    /// reference every other run must agree with.
    pub fn reference(shards: u16) -> Self {
        Self { runners: 1, mode: Mode::Sequential, ..Self::new(shards, 1) }
    }
}

/// One shard's block of one height.
#[derive(Clone, Debug)]
pub struct ShardBlock {
    /// The shard header.
    pub header: ShardHeader,
    /// Its hash.
    pub hash: Hash32,
    /// The shard's block header (as an unsharded chain's).
    pub block: BlockHeader,
    /// One per transaction of the shard's block.
    pub receipts: Vec<Receipt>,
    /// The engine that ran it, and why.
    pub choice: Choice,
    /// Time of the system writes (messages accepted and applied).
    pub deliver_time: Duration,
    /// Execution time.
    pub exec_time: Duration,
    /// Commitment time, the outbox's root and proofs included.
    pub commit_time: Duration,
    /// Messages delivered to the shard at this height.
    pub delivered: usize,
    /// Messages its block emitted.
    pub emitted: usize,
    /// The sum of the heights messages waited between emission and delivery (each
    /// waits one: see `docs/semantics.md`).
    pub latency_sum: u64,
}

/// One height of a sharded chain.
#[derive(Clone, Debug)]
pub struct HeightOutcome {
    /// The global header.
    pub global: GlobalHeader,
    /// Its hash: the height's global root.
    pub hash: Hash32,
    /// Per shard, in shard order.
    pub shards: Vec<ShardBlock>,
    /// Wall time of the height (all its shards, side by side).
    pub wall: Duration,
}

/// A sharded replay's result.
#[derive(Clone, Debug)]
pub struct ShardedOutcome {
    /// Each shard's genesis state root.
    pub genesis_roots: Vec<Hash32>,
    /// Per height.
    pub heights: Vec<HeightOutcome>,
    /// Each shard's state words at the end, in leaf order.
    pub states: Vec<Vec<StateEntry>>,
    /// Messages the last height emitted, to be delivered at the next.
    pub in_flight: Vec<Message>,
    /// The same messages as the last height's batches, with their proofs: from each
    /// shard to each shard, by source then destination.
    pub batches: Vec<Batch>,
}

/// Why a sharded replay stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShardedError {
    /// The number of shards is not 1 to `Shard::MAX`, or the run order is not a
    /// permutation of the shards.
    Shards(u16),
    /// A genesis address is one of the system's (`parex_core::shard::SYSTEM_ADDRESSES`).
    SystemAddress(Address),
    /// A shard's genesis is unusable.
    Genesis(u16, GenesisError),
    /// Shard `shard`'s block of height `height` failed.
    Block {
        /// The height (from 1).
        height: u64,
        /// The shard.
        shard: u16,
        /// Why.
        error: BlockError,
    },
    /// A checkpoint to resume from does not hold together.
    Checkpoint(CheckpointError),
    /// Shard `shard` refused a message at height `height`.
    Message {
        /// The height (from 1).
        height: u64,
        /// The shard.
        shard: u16,
        /// Why.
        error: ShardError,
    },
}

impl std::fmt::Display for ShardedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Shards(n) => write!(f, "{n} shards: a chain has 1 to {} shards", Shard::MAX),
            Self::SystemAddress(a) => write!(
                f,
                "address {a} is reserved for the system in a sharded chain (from {:#x} up)",
                parex_core::shard::SYSTEM_ADDRESSES
            ),
            Self::Genesis(s, e) => write!(f, "shard {s}: genesis: {e}"),
            Self::Block { height, shard, error } => {
                write!(f, "height {height}, shard {shard}: {error}")
            }
            Self::Checkpoint(e) => write!(f, "checkpoint: {e}"),
            Self::Message { height, shard, error } => {
                write!(f, "height {height}, shard {shard}: message refused: {error}")
            }
        }
    }
}

impl std::error::Error for ShardedError {}

/// The messages of one height from shard `source` to shard `dest` (possibly none), in
/// order, and the proof of their batch root against the source's outbox root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// The sending shard.
    pub source: u16,
    /// The receiving shard.
    pub dest: u16,
    /// The messages, by number.
    pub messages: Vec<Message>,
    /// The path of their batch root to the source's outbox root.
    pub proof: BatchProof,
}

/// What is in flight between two heights: every batch the last height emitted (from
/// each shard to each shard), and the headers of the shards that emitted them.
#[derive(Clone, Debug, Default)]
pub struct InFlight {
    /// The batches, by source then destination.
    pub batches: Vec<Batch>,
    /// The shard headers of the height that emitted them.
    pub headers: Vec<ShardHeader>,
}

impl InFlight {
    /// The batches for shard `dest`, by source.
    pub fn for_shard(&self, dest: u16) -> Vec<&Batch> {
        self.batches.iter().filter(|b| b.dest == dest).collect()
    }
}

/// Executes `blocks` (heights from 1) on `world` split into `run.shards` shards; each
/// block's transactions go to their senders' shards.
pub fn replay_sharded(
    world: &World,
    blocks: &[impl BlockTxs],
    run: &ShardRun,
) -> Result<ShardedOutcome, ShardedError> {
    replay_sharded_from(world, None, blocks, run)
}

/// [`replay_sharded`] from `from` when given: its states, headers and messages in
/// flight (checked first, [`Checkpoint::check`]), `blocks` being the heights after it.
pub fn replay_sharded_from(
    world: &World,
    from: Option<&Checkpoint>,
    blocks: &[impl BlockTxs],
    run: &ShardRun,
) -> Result<ShardedOutcome, ShardedError> {
    let n = run.shards;
    if n == 0 || n > Shard::MAX {
        return Err(ShardedError::Shards(n));
    }
    let order: Vec<u16> = run.order.clone().unwrap_or_else(|| (0..n).collect());
    let mut sorted = order.clone();
    sorted.sort_unstable();
    if sorted != (0..n).collect::<Vec<_>>() {
        return Err(ShardedError::Shards(n));
    }
    check_world(world, n)?;
    if let Some(c) = from {
        c.check(n)?;
    }
    let split: Vec<Vec<TxBlock>> = blocks.iter().map(|b| split_block(b.txs(), n)).collect();
    let worlds: Vec<World> =
        (0..n).map(|s| shard_world(world, Shard::new(s, n).expect("s < n"))).collect();
    let saved = |s: usize| from.map(|c| (c.states[s].as_slice(), c.headers[s].block_hash));
    let mut loaded: Vec<_> = (0..n as usize)
        .map(|s| step::Loaded::new(&worlds[s], blocks, &split, s as u16, run, from))
        .collect();
    let mut ctxs = Vec::with_capacity(n as usize);
    for (s, l) in loaded.iter_mut().enumerate() {
        let shard = Shard::new(s as u16, n).expect("s < n");
        let ctx =
            l.context(shard, run, saved(s)).map_err(|e| ShardedError::Genesis(s as u16, e))?;
        if from.is_some_and(|c| c.blocks[s].state_root != ctx.state.root()) {
            return Err(ShardedError::Checkpoint(CheckpointError::StateRoot { shard: s as u16 }));
        }
        ctxs.push(ctx);
    }
    // Each shard's buffers grown for its largest block before the clock starts, as an
    // unsharded replay's are.
    for (s, ctx) in ctxs.iter_mut().enumerate() {
        if let Some(largest) = split.iter().map(|b| &b[s]).max_by_key(|b| b.len()) {
            ctx.reserve(largest.txs(), run.mode);
        }
    }
    let genesis_roots = ctxs.iter().map(|c| c.state.root()).collect();
    let mut in_flight = InFlight::default();
    let mut parent = [0u8; 32];
    let mut first = 1;
    if let Some(c) = from {
        // What each shard sent at the checkpoint's height: its sent counters advance by
        // it (a batch that does not hold is refused at its delivery).
        for b in &c.batches {
            if let Some(ctx) = ctxs.get_mut(b.source as usize) {
                ctx.sent.extend(b.messages.iter().copied());
            }
        }
        in_flight = InFlight { batches: c.batches.clone(), headers: c.headers.clone() };
        parent = c.global_hash;
        first = c.height + 1;
    }
    let mut heights = Vec::with_capacity(blocks.len());
    let mut hash = HashBuffers::default();
    // The runners, kept from height to height (a thread started per height cost about
    // a tenth of a 5,000-transaction height on the development VM).
    let mut pool = Pool::default();
    for (i, shard_txs) in split.iter().enumerate() {
        let height = first + i as u64;
        let start = Instant::now();
        let inboxes: Vec<_> = (0..n).map(|d| in_flight.for_shard(d)).collect();
        if let Some(e) = misrouted(&in_flight, n, height) {
            return Err(e);
        }
        let results = run_shards(&mut pool, &mut ctxs, &order, run.runners, |ctx| {
            let s = ctx.shard.index() as usize;
            ctx.step(height, shard_txs[s].txs(), &inboxes[s], &in_flight.headers, run.mode)
        })
        .map_err(|WorkerLost| ShardedError::Block {
            height,
            shard: 0,
            error: BlockError::WorkerLost,
        })?;
        let mut steps = Vec::with_capacity(n as usize);
        for r in results {
            steps.push(r?);
        }
        let headers: Vec<ShardHeader> = steps.iter().map(|s| s.block.header).collect();
        let mut scratch_hashes = vec![[0u8; 32]; n as usize];
        let mut scratch: HashScratch<'_> = hash.scratch();
        let global = GlobalHeader::over(
            height,
            parent,
            &headers,
            &mut scratch_hashes,
            &mut KeccakHasher,
            &mut scratch,
        )
        .map_err(|error| ShardedError::Message { height, shard: 0, error })?;
        parent = global.hash(&mut KeccakHasher);
        in_flight = InFlight {
            headers,
            batches: steps.iter_mut().flat_map(|s| std::mem::take(&mut s.outbox)).collect(),
        };
        heights.push(HeightOutcome {
            global,
            hash: parent,
            shards: steps.into_iter().map(|s| s.block).collect(),
            wall: start.elapsed(),
        });
    }
    let batches = in_flight.batches;
    Ok(ShardedOutcome {
        genesis_roots,
        heights,
        states: ctxs.iter().map(|c| c.state.entries().to_vec()).collect(),
        in_flight: batches.iter().flat_map(|b| b.messages.iter().copied()).collect(),
        batches,
    })
}

/// A batch in flight from or for a shard that does not exist: no shard would be handed
/// it, so it is refused here, as its destination would.
fn misrouted(in_flight: &InFlight, shards: u16, height: u64) -> Option<ShardedError> {
    let b = in_flight.batches.iter().find(|b| b.dest >= shards || b.source >= shards)?;
    let shard = if b.dest >= shards { b.dest } else { b.source };
    Some(ShardedError::Message {
        height,
        shard: b.dest.min(shards - 1),
        error: ShardError::NoSuchShard { shard, shards },
    })
}

/// Runs `job` on every context, handing them out in `order` to `runners` workers of
/// `pool` (the calling thread is one); returns the results in shard order.
fn run_shards<C: Send, R: Send>(
    pool: &mut Pool,
    ctxs: &mut [C],
    order: &[u16],
    runners: usize,
    job: impl Fn(&mut C) -> R + Sync,
) -> Result<Vec<R>, WorkerLost> {
    let mut slots: Vec<Option<&mut C>> = ctxs.iter_mut().map(Some).collect();
    // Popped from the back: reversed, so the first in `order` goes first.
    let queue: Vec<(usize, &mut C)> = order
        .iter()
        .rev()
        .filter_map(|&s| slots[s as usize].take().map(|c| (s as usize, c)))
        .collect();
    let queue = Mutex::new(queue);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..order.len()).map(|_| None).collect());
    let work = |_: usize| loop {
        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let Some((s, ctx)) = next else { break };
        let r = job(ctx);
        results.lock().unwrap_or_else(|e| e.into_inner())[s] = Some(r);
    };
    pool.run(runners.clamp(1, order.len().max(1)), &work)?;
    // Every shard ran: the pool returned after every runner did (a runner's panic is
    // `WorkerLost`, or resumes here for the calling thread's).
    Ok(results.into_inner().unwrap_or_else(|e| e.into_inner()).into_iter().flatten().collect())
}
