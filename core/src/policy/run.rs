//! [`run_block`]: one block through the engine protocol, the policy choosing the engine
//! and the next one when an engine gives up, over the caller's memory and workers.

use crate::engine::{Block, Choice, Engine, EngineKind, KeyTable, Outcome, Output, WorkerMemory};
use crate::error::BlockError;
use crate::exec::ExecStats;
use crate::parallel::block_stm::{BlockStm, BlockStmMemory};
use crate::parallel::footprint::{FootprintEngine, FootprintMemory};
use crate::sequential::{SeqMemory, Sequential};
use crate::state::StateReader;
use crate::tx::TxKind;

use super::Policy;

/// The engines' memory, handed out per attempt by the caller (a host grows its vectors
/// there; an appliance lends its statics). Every buffer must have the length the
/// engine's `lengths` function gives for the block, or the engine returns
/// [`BlockError::BufferTooSmall`] before anything runs.
pub trait Memory {
    /// The sequential engine's.
    fn sequential(&mut self) -> SeqMemory<'_>;
    /// Block-STM's, with `keys` key records (`KeyTable::Full`: one per write).
    fn block_stm(&mut self, keys: KeyTable) -> BlockStmMemory<'_>;
    /// The footprint engine's for `partitions` partitions of footprints `width` keys
    /// long ([`crate::parallel::footprint::width`]), if the caller has it (see
    /// [`Memory::has_footprint`]).
    fn footprint(&mut self, partitions: usize, width: usize) -> Option<FootprintMemory<'_>>;
    /// Whether [`Memory::footprint`] gives memory; when not, the policy never chooses the
    /// footprint engine.
    fn has_footprint(&self) -> bool {
        true
    }
}

/// The caller's workers: threads, cores, or the one thread of an appliance.
pub trait Workers {
    /// Workers available (at least one). A [`Choice`] for more runs on this many.
    fn count(&self) -> usize;

    /// Runs `job(i, memory of worker i)` for every `i` in `0..n`, on `n` workers at
    /// once (`n <= self.count()`), and returns when every one returned: the first error
    /// a job returned, or [`BlockError::WorkerLost`] if a worker could not run its job.
    /// One call runs one phase; an engine that needs more phases runs them inside its
    /// job, and a later phase over the same workers (the commitment) is another call.
    fn run<F>(&mut self, n: usize, job: &F) -> Result<(), BlockError>
    where
        F: Fn(usize, WorkerMemory<'_>) -> Result<(), BlockError> + Sync;

    /// Runs `job` with worker 0's memory on the calling thread.
    fn run_here<R>(&mut self, job: impl FnOnce(WorkerMemory<'_>) -> R) -> R;

    /// Called by a worker with nothing to do yet, with the count of its consecutive
    /// idle attempts (a host yields its thread after a few spins, so that an idle worker
    /// never starves a busy one on an oversubscribed machine).
    fn idle(spins: u32) {
        let _ = spins;
        crate::sync::spin_hint();
    }
}

/// Executes `block` as `policy` says: chooses the engine, prepares it over `memory`,
/// runs it on `workers`, and on failure runs the block on the engine
/// [`Policy::after`] names, until one succeeds or the policy has nothing left. The
/// result is in `output`, with the [`Choice`] that produced it (its reason says why that
/// engine ran the block).
pub fn run_block<'o, S, M, W>(
    policy: &Policy,
    block: Block<'_, S>,
    mut output: Output<'o>,
    memory: &mut M,
    workers: &mut W,
) -> Result<(Outcome<'o>, Choice), BlockError>
where
    S: StateReader + Sync,
    M: Memory,
    W: Workers,
{
    // Delivered calls run without checks or fees: only where the environment puts them.
    let delivered = block.env.delivered as usize;
    for (index, tx) in block.txs.iter().enumerate() {
        if matches!(tx.kind, TxKind::Delivered { .. }) != (index < delivered) {
            return Err(BlockError::Undelivered { index });
        }
    }
    if delivered > block.txs.len() {
        return Err(BlockError::Undelivered { index: block.txs.len() });
    }
    let policy =
        Policy { footprint_memory: policy.footprint_memory && memory.has_footprint(), ..*policy };
    let mut choice = policy.choose(block.txs);
    // Where a contended attempt conflicted most, for the final counts.
    let mut hottest = None;
    loop {
        choice.workers = choice.workers.clamp(1, workers.count().max(1));
        match attempt(&choice, block, output.reborrow(), memory, workers) {
            Ok((mut stats, written)) => {
                if let Some((key, n)) = hottest {
                    stats.conflicts.add(key, n);
                }
                let n = block.txs.len();
                let Output { receipts, writes } = output;
                let (Some(receipts), Some(writes)) = (receipts.get(..n), writes.get(..written))
                else {
                    return Err(BlockError::Invariant(crate::error::Invariant::NotDone));
                };
                return Ok((Outcome { receipts, writes, stats }, choice));
            }
            Err(e) => {
                if let BlockError::Contended { executions, hottest: Some((key, n)), .. } = e {
                    // Counted over the prefix that ran: scaled to the whole block, as the
                    // history compares it with the block's calls (never below the count:
                    // the executions include re-executions).
                    let whole =
                        u64::from(n) * block.txs.len() as u64 / u64::from(executions.max(1));
                    hottest = Some((key, whole.clamp(u64::from(n), u64::from(u32::MAX)) as u32));
                }
                match policy.after(&choice, &e) {
                    Some(next) => choice = next,
                    None => return Err(e),
                }
            }
        }
    }
}

/// One engine's run: the counters and the length of the write set it left in `output`.
fn attempt<S, M, W>(
    choice: &Choice,
    block: Block<'_, S>,
    output: Output<'_>,
    memory: &mut M,
    workers: &mut W,
) -> Result<(ExecStats, usize), BlockError>
where
    S: StateReader + Sync,
    M: Memory,
    W: Workers,
{
    match choice.engine {
        EngineKind::Sequential => {
            drive(Sequential::prepare(block, memory.sequential(), output, choice)?, choice, workers)
        }
        EngineKind::BlockStm => {
            let mem = memory.block_stm(choice.keys);
            drive(BlockStm::prepare(block, mem, output, choice)?, choice, workers)
        }
        EngineKind::Footprint => {
            let width = crate::parallel::footprint::width_of(choice);
            let mem =
                memory.footprint(choice.workers, width).ok_or(BlockError::BufferTooSmall {
                    buffer: "footprint memory",
                    needed: 1,
                    given: 0,
                })?;
            drive(FootprintEngine::prepare(block, mem, output, choice)?, choice, workers)
        }
    }
}

fn drive<'a, S, E, W>(
    mut engine: E,
    choice: &Choice,
    workers: &mut W,
) -> Result<(ExecStats, usize), BlockError>
where
    S: StateReader + Sync,
    E: Engine<'a, S>,
    W: Workers,
{
    let ran = if choice.alone || choice.engine == EngineKind::Sequential {
        workers.run_here(|w| engine.run_alone(w))
    } else {
        workers.run(choice.workers, &|i, w| engine.run_worker(i, w, &mut W::idle))
    };
    // The engine's own error says more than a worker's (which stopped because of it),
    // unless a worker was lost.
    let finished = engine.finish();
    match (ran, finished) {
        (Err(BlockError::WorkerLost), _) => Err(BlockError::WorkerLost),
        (_, Err(e)) | (Err(e), Ok(_)) => Err(e),
        (Ok(()), Ok(o)) => Ok((o.stats, o.writes.len())),
    }
}
