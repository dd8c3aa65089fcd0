//! `parex bench --shards`: a sharded chain of transfers against the unsharded engine on
//! the same transactions, with the roots checked against the one-thread reference.

use std::time::Duration;

use parex_core::exec::Limits;
use parex_offload::hex::hash_hex;
use parex_offload::CpuHasher;
use serde::Serialize;

use super::{replay_sharded, ShardRun, ShardedError, ShardedOutcome};
use crate::chain::{replay, ReplayError};
use crate::engine::Mode;
use crate::txblock::TxBlock;
use crate::workload::{Generator, Spec};

/// What a sharded bench measured (`parex bench --shards --json`, fields in
/// `docs/cli.md`).
#[derive(Clone, Debug, Serialize)]
pub struct ShardedReport {
    /// The workload (transfers).
    pub workload: String,
    /// Shards.
    pub shards: u16,
    /// Transfers per thousand to another shard.
    pub cross_per_mille: u32,
    /// User accounts.
    pub accounts: usize,
    /// Transactions per block (all shards).
    pub txs_per_block: usize,
    /// Blocks (heights).
    pub blocks: usize,
    /// Threads given.
    pub threads: usize,
    /// Shards run side by side.
    pub runners: usize,
    /// Workers of each shard's engine.
    pub workers_per_shard: usize,
    /// Measured rounds (the median is reported).
    pub repeats: usize,
    /// Transactions per second of the sharded chain: all transactions over the sum of
    /// the heights' wall times (messages, blocks and commitments of every shard).
    pub tps: f64,
    /// The unsharded engine's end-to-end TPS on the same transactions (execution and
    /// commitment, `--threads` workers).
    pub unsharded_tps: f64,
    /// `tps / unsharded_tps`.
    pub ratio: f64,
    /// Per shard, in the median round.
    pub per_shard: Vec<ShardTps>,
    /// Messages emitted over all heights.
    pub messages: usize,
    /// Messages emitted per height, on average.
    pub messages_per_height: f64,
    /// Heights a delivered message waited after its emission, on average (0 when none
    /// was delivered).
    pub latency_heights: f64,
    /// The last height's global root.
    pub global_root: String,
    /// Every measured round's global roots equal the one-thread reference run's.
    pub roots_match: bool,
}

/// One shard's share of a sharded bench.
#[derive(Clone, Debug, Serialize)]
pub struct ShardTps {
    /// The shard.
    pub shard: u16,
    /// Its transactions over all heights.
    pub txs: usize,
    /// Its transactions over its own time (messages in, execution, commitment).
    pub tps: f64,
    /// Execution time, summed over heights.
    pub exec_secs: f64,
    /// Commitment time (outbox included), summed over heights.
    pub commit_secs: f64,
    /// Time accepting and applying messages, summed over heights.
    pub deliver_secs: f64,
}

/// Why a sharded bench failed.
#[derive(Debug)]
pub enum ShardBenchError {
    /// The sharded chain failed.
    Sharded(ShardedError),
    /// The unsharded replay failed.
    Unsharded(ReplayError),
}

impl std::fmt::Display for ShardBenchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sharded(e) => write!(f, "sharded chain: {e}"),
            Self::Unsharded(e) => write!(f, "unsharded replay: {e}"),
        }
    }
}

impl std::error::Error for ShardBenchError {}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn total(out: &ShardedOutcome) -> Duration {
    out.heights.iter().map(|h| h.wall).sum()
}

/// Measures `spec` (transfers with `spec.cross` set) sharded on `threads` threads and
/// unsharded on as many workers, `repeats` rounds each after a warm-up (the sharded
/// warm-up is the one-thread reference run); `tick` after each run.
pub fn measure_sharded(
    spec: &Spec,
    threads: usize,
    repeats: usize,
    tick: &mut dyn FnMut(),
) -> Result<ShardedReport, ShardBenchError> {
    let cross = spec.cross.unwrap_or(crate::workload::Cross { shards: 1, per_mille: 0 });
    let (world, mut gen) = Generator::new(spec);
    let blocks: Vec<_> = (0..spec.blocks).map(|_| gen.block()).collect();
    let txs: usize = blocks.iter().map(TxBlock::len).sum();
    let run = ShardRun::new(cross.shards, threads);
    let reference = replay_sharded(&world, &blocks, &ShardRun::reference(cross.shards))
        .map_err(ShardBenchError::Sharded)?;
    tick();
    let roots = |o: &ShardedOutcome| o.heights.iter().map(|h| h.hash).collect::<Vec<_>>();
    let mode = Mode::Parallel(threads);
    let unsharded_round = || -> Result<f64, ShardBenchError> {
        let mut hasher = CpuHasher::single_thread();
        let out = replay(&world, &blocks, mode, Limits::DEFAULT, &mut hasher)
            .map_err(ShardBenchError::Unsharded)?;
        let secs: f64 =
            out.blocks.iter().map(|b| (b.exec_time + b.commit_time).as_secs_f64()).sum();
        Ok(txs as f64 / secs.max(1e-9))
    };
    // The unsharded warm-up, then the rounds of both alternated, so that a change of
    // the machine's speed during the bench touches both alike.
    unsharded_round()?;
    tick();
    let mut rounds = Vec::with_capacity(repeats);
    let mut unsharded = Vec::with_capacity(repeats);
    let mut roots_match = true;
    for _ in 0..repeats.max(1) {
        let out = replay_sharded(&world, &blocks, &run).map_err(ShardBenchError::Sharded)?;
        roots_match &= roots(&out) == roots(&reference);
        rounds.push(out);
        tick();
        unsharded.push(unsharded_round()?);
        tick();
    }
    rounds.sort_by_key(total);
    let mid = &rounds[rounds.len() / 2];
    let tps = txs as f64 / total(mid).as_secs_f64().max(1e-9);
    let unsharded_tps = median(unsharded);
    let per_shard = (0..cross.shards as usize)
        .map(|s| {
            let blocks = mid.heights.iter().map(|h| &h.shards[s]);
            let (mut txs, mut exec, mut commit, mut deliver) = (0, 0.0, 0.0, 0.0);
            for b in blocks {
                txs += b.receipts.len();
                exec += b.exec_time.as_secs_f64();
                commit += b.commit_time.as_secs_f64();
                deliver += b.deliver_time.as_secs_f64();
            }
            let tps = txs as f64 / (exec + commit + deliver).max(1e-9);
            ShardTps {
                shard: s as u16,
                txs,
                tps,
                exec_secs: exec,
                commit_secs: commit,
                deliver_secs: deliver,
            }
        })
        .collect();
    let all = mid.heights.iter().flat_map(|h| &h.shards);
    let messages: usize = all.clone().map(|s| s.emitted).sum();
    let delivered: usize = all.clone().map(|s| s.delivered).sum();
    let latency: u64 = all.map(|s| s.latency_sum).sum();
    Ok(ShardedReport {
        workload: spec.workload.to_string(),
        shards: cross.shards,
        cross_per_mille: cross.per_mille,
        accounts: spec.accounts,
        txs_per_block: spec.txs,
        blocks: spec.blocks,
        threads,
        runners: run.runners,
        workers_per_shard: run.mode.workers(),
        repeats: repeats.max(1),
        tps,
        unsharded_tps,
        ratio: tps / unsharded_tps.max(1e-9),
        per_shard,
        messages,
        messages_per_height: messages as f64 / spec.blocks.max(1) as f64,
        latency_heights: if delivered == 0 { 0.0 } else { latency as f64 / delivered as f64 },
        global_root: mid.heights.last().map_or_else(|| hash_hex(&[0; 32]), |h| hash_hex(&h.hash)),
        roots_match,
    })
}

/// The report as a few lines of text.
pub fn table(r: &ShardedReport) -> String {
    let mut out = format!(
        "parex bench --shards: {} shards, {}‰ of transfers crossing; {} accounts, {} \
         transactions x {} blocks; {} threads ({} shards side by side, {} worker(s) each); \
         median of {} rounds\n",
        r.shards,
        r.cross_per_mille,
        r.accounts,
        r.txs_per_block,
        r.blocks,
        r.threads,
        r.runners,
        r.workers_per_shard,
        r.repeats
    );
    out += &format!(
        "  sharded    {:>12.0} TPS  (global root {}{})\n",
        r.tps,
        r.global_root,
        if r.roots_match { ", as the one-thread reference" } else { ", DIFFERS" }
    );
    out += &format!(
        "  unsharded  {:>12.0} TPS  (parallel engine, {} workers)   sharded/unsharded {:.2}x\n",
        r.unsharded_tps, r.threads, r.ratio
    );
    out += "  shard        txs           TPS   exec ms  commit ms  deliver ms\n";
    for s in &r.per_shard {
        out += &format!(
            "  {:>5} {:>10} {:>13.0} {:>9.1} {:>10.1} {:>11.1}\n",
            s.shard,
            s.txs,
            s.tps,
            1e3 * s.exec_secs,
            1e3 * s.commit_secs,
            1e3 * s.deliver_secs
        );
    }
    out += &format!(
        "  messages   {} ({:.1} per height), delivered after {:.2} heights on average\n",
        r.messages, r.messages_per_height, r.latency_heights
    );
    out
}
