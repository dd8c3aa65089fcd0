//! Argument parsers and options more than one command takes.

use clap::Args;

use parex_core::Shard;

use crate::blockfile;
use crate::workload::{Cross, Workload};

/// `--workload`: a workload's name.
pub(super) fn parse_workload(s: &str) -> Result<Workload, String> {
    s.parse()
}

/// A number of transactions per thousand, 0 to 1000.
pub(super) fn per_mille(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(v) if v <= 1000 => Ok(v),
        _ => Err(format!("expected a number from 0 to 1000, got `{s}`")),
    }
}

/// Most workers `--threads` takes: far above the cores of any machine parex runs on,
/// and low enough that every worker's buffers (under 1 MiB each) and thread start.
pub(super) const MAX_THREADS: usize = 512;

/// Workers: 1 to [`MAX_THREADS`].
pub(super) fn thread_count(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(v) if (1..=MAX_THREADS).contains(&v) => Ok(v),
        _ => Err(format!("expected a number of threads from 1 to {MAX_THREADS}, got `{s}`")),
    }
}

/// A positive integer.
pub(super) fn positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(v) if v > 0 => Ok(v),
        _ => Err(format!("expected a positive integer, got `{s}`")),
    }
}

/// Transactions per block: 1 to [`blockfile::MAX_BLOCK_TXS`].
pub(super) fn block_txs(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(v) if v > 0 && v <= blockfile::MAX_BLOCK_TXS => Ok(v),
        _ => Err(format!(
            "expected a number of transactions from 1 to {}, got `{s}`",
            blockfile::MAX_BLOCK_TXS
        )),
    }
}

// What to generate, for `bench` and `gen` (no doc comment: clap would show it in --help).
#[derive(Args, Debug)]
pub(super) struct WorkloadOpts {
    /// User accounts (for transfers and token: the contention knob; 2 is fully hot)
    /// [default: 10000; for transfers and token, `--hot` when given].
    #[arg(long, value_parser = positive)]
    pub(super) accounts: Option<usize>,
    /// The workload's contention knob: AMM pools, NFT collections, DAO proposals,
    /// DePIN providers per pool, game players per match, mixed hot contracts.
    #[arg(long, value_parser = positive, value_name = "N")]
    pub(super) hot: Option<usize>,
    /// Blocks [default: bench 2, gen 1].
    #[arg(long, value_parser = positive)]
    pub(super) blocks: Option<usize>,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    pub(super) seed: u64,
    /// Transactions per thousand that carry a declared access list.
    #[arg(long, value_parser = per_mille, default_value_t = 0, value_name = "PER_MILLE")]
    pub(super) declare: u32,
    /// Transactions per thousand made to fail (bad nonce, no funds, revert, out of gas).
    #[arg(long, value_parser = per_mille, default_value_t = 10, value_name = "PER_MILLE")]
    pub(super) fail: u32,
    /// A sharded chain of N shards, 1 to 1024: `gen` writes `"shards": N` into the
    /// genesis; `bench` runs the chain on N shards and the unsharded engine on the same
    /// transactions.
    #[arg(long, value_parser = shard_count, value_name = "N")]
    pub(super) shards: Option<u16>,
    /// With --shards: transfers per thousand whose recipient lives on another shard than
    /// their sender's [default: 100].
    #[arg(long, value_parser = per_mille, value_name = "PER_MILLE", requires = "shards")]
    pub(super) cross_per_mille: Option<u32>,
}

impl WorkloadOpts {
    /// The sharded traffic asked for (`--shards`, `--cross-per-mille`).
    pub(super) fn cross(&self) -> Option<Cross> {
        let shards = self.shards?;
        Some(Cross { shards, per_mille: self.cross_per_mille.unwrap_or(DEFAULT_CROSS) })
    }
}

/// The default of `--cross-per-mille`.
pub(super) const DEFAULT_CROSS: u32 = 100;

/// Shards: 1 to `Shard::MAX`.
pub(super) fn shard_count(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(v) if (1..=Shard::MAX).contains(&v) => Ok(v),
        _ => Err(format!("expected a number of shards from 1 to {}, got `{s}`", Shard::MAX)),
    }
}

/// The default of `--threads`: the available hardware threads (at most
/// [`MAX_THREADS`]).
pub(super) fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_THREADS)
}
