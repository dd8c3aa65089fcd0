//! `parex gen`: a workload's genesis and blocks as JSON files.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;

use super::args::{block_txs, parse_workload, WorkloadOpts};
use super::error::{output_error, CliError};
use crate::bench;
use crate::blockfile;
use crate::workload::{Generator, Spec, Workload};

#[derive(Args, Debug)]
pub(super) struct GenArgs {
    /// The workload.
    #[arg(long, value_parser = parse_workload)]
    workload: Workload,
    #[command(flatten)]
    w: WorkloadOpts,
    /// Transactions per block.
    #[arg(long, value_parser = block_txs, default_value_t = 1_000)]
    txs: usize,
    /// Output directory (created): genesis.json and blocks/0001.json, ...
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// Writes `text` to `path` atomically.
fn write_file(path: &Path, text: &str) -> Result<(), CliError> {
    blockfile::write_atomic(path, text.as_bytes())
        .map_err(|source| CliError::Write { path: path.to_path_buf(), source })
}

/// `parex gen`.
pub(super) fn execute(a: GenArgs, stdout: &mut dyn Write) -> Result<(), CliError> {
    // The accounts and knob `bench` gives the same flags (its low level when neither is
    // given), so that the same flags give the same chain.
    let (_, accounts, hot) = bench::levels(a.workload, a.w.accounts, a.w.hot)[0];
    let mut spec = Spec::new(a.workload, accounts, a.txs, a.w.blocks.unwrap_or(1), a.w.seed);
    spec.hot = hot;
    spec.fail_per_mille = a.w.fail;
    spec.declare_per_mille = a.w.declare;
    spec.cross = a.w.cross();
    let blocks_dir = a.out.join("blocks");
    std::fs::create_dir_all(&blocks_dir)
        .map_err(|source| CliError::CreateDir { path: blocks_dir.clone(), source })?;
    let (world, mut gen) = Generator::new(&spec);
    let genesis = a.out.join("genesis.json");
    write_file(&genesis, &blockfile::genesis_to_json(&world))?;
    for n in 1..=spec.blocks {
        let txs = gen.block();
        write_file(&block_path(&blocks_dir, n), &blockfile::block_to_json(n as u64, txs.txs()))?;
    }
    let sharded = match spec.cross {
        Some(c) => format!(", {} shards, {}‰ of transfers crossing", c.shards, c.per_mille),
        None => String::new(),
    };
    writeln!(
        stdout,
        "wrote {} ({} accounts, {} contracts, {} storage words{sharded}) and {} blocks of {} \
         transactions in {}",
        genesis.display(),
        world.accounts.len(),
        world.contracts.len(),
        world.storage.len(),
        spec.blocks,
        spec.txs,
        blocks_dir.display()
    )
    .map_err(output_error)
}

/// `DIR/0001.json` for block 1.
fn block_path(dir: &Path, n: usize) -> PathBuf {
    dir.join(format!("{n:04}.json"))
}
