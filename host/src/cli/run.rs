//! `parex run`: a genesis and block files executed; block hashes, state roots, receipts.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use parex_core::block::tx_hashes;
use parex_core::error::BlockError;
use parex_core::exec::{HotKeys, Limits};
use parex_core::receipt::Receipt;
use parex_offload::hex::hash_hex;
use serde::Serialize;

use super::args::{available_threads, block_txs, thread_count};
use super::error::{output_error, CliError};
use super::hashing::{open_hasher, HasherOpts};
use super::print_json;
use super::run_shards::{self, ShardedArgs};
use crate::bench::BlockEngine;
use crate::blockfile;
use crate::chain::{replay, BlockOutcome, ChainOutcome, ReplayError};
use crate::engine::{HashBuffers, Mode};

#[derive(Args, Debug)]
pub(super) struct RunArgs {
    /// The genesis file.
    #[arg(long, value_name = "FILE")]
    genesis: PathBuf,
    /// A block file; repeat for a chain, in order.
    #[arg(long = "block", value_name = "FILE", required = true)]
    blocks: Vec<PathBuf>,
    /// Workers of the parallel engine, at most 512 (default: the available hardware
    /// threads).
    #[arg(long, value_parser = thread_count, conflicts_with = "sequential")]
    threads: Option<usize>,
    /// Use the sequential reference executor.
    #[arg(long)]
    sequential: bool,
    #[command(flatten)]
    hashing: HasherOpts,
    /// Print one JSON document with every receipt.
    #[arg(long)]
    json: bool,
    /// Write the final state here (only when every block succeeded; atomically).
    #[arg(long, value_name = "FILE")]
    dump_state: Option<PathBuf>,
    /// A sharded genesis: after the last block, write a checkpoint here (atomically):
    /// every shard's state and last headers, and the messages in flight, to go on from
    /// with --resume.
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// A sharded genesis: start from this checkpoint (written by --checkpoint) instead of
    /// the genesis state; the --block files are the heights after it.
    #[arg(long, value_name = "FILE")]
    resume: Option<PathBuf>,
    /// Capacity: most transactions a block file may hold.
    #[arg(long, value_parser = block_txs, default_value_t = blockfile::MAX_BLOCK_TXS)]
    max_txs: usize,
    /// After the report, print to stderr where the run's wall time went: files read and
    /// parsed, genesis state, the engines' memory, execution, commitment, report.
    #[arg(long)]
    timings: bool,
}

/// Where a run's wall time went (`--timings`).
struct Timings {
    started: Instant,
    genesis_file: Duration,
    block_files: Duration,
}

impl Timings {
    /// The table, once the report is written.
    fn write(&self, out: &ChainOutcome, blocks: usize, to: &mut dyn Write) -> std::io::Result<()> {
        let total = self.started.elapsed();
        let sum = |f: fn(&BlockOutcome) -> Duration| out.blocks.iter().map(f).sum::<Duration>();
        let (room, exec, commit) =
            (sum(|b| b.prepare_time), sum(|b| b.exec_time), sum(|b| b.commit_time));
        let parallel = sum(|b| b.parallel_time);
        let before = self.genesis_file + self.block_files + out.load_time;
        let report = total.saturating_sub(before + room + exec + commit);
        let rows = [
            (
                "genesis file",
                self.genesis_file,
                "read and parsed, the first block file made ready meanwhile".to_string(),
            ),
            ("block files", self.block_files, format!("{blocks} read and parsed")),
            ("genesis state", out.load_time, "loaded and hashed".to_string()),
            ("room", room, "the engines' memory made ready".to_string()),
            ("execution", exec, String::new()),
            (
                "  in parallel",
                parallel,
                "on every worker at once; the rest on one thread".to_string(),
            ),
            ("commitment", commit, String::new()),
            ("report", report, "memory freed, the report and any dump written".to_string()),
            ("total", total, String::new()),
        ];
        writeln!(to, "timings (wall, ms)")?;
        for (name, time, what) in rows {
            let line = format!("  {name:<14}{:>9.1}  {what}", time.as_secs_f64() * 1e3);
            writeln!(to, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// How many receipts end with each status, by the status's name.
pub(super) fn status_counts(receipts: &[Receipt]) -> BTreeMap<&'static str, u64> {
    // Counted by code first: a million receipts are a million map look-ups otherwise.
    let mut by_code = [(0u64, None); 256];
    for r in receipts {
        let (n, status) = &mut by_code[r.status as u8 as usize];
        *n += 1;
        *status = Some(r.status);
    }
    by_code.iter().filter_map(|&(n, s)| Some((s?.name(), n))).collect()
}

/// `statuses` as text: `"19 success, 1 reverted"` (`"none"` for none).
pub(super) fn statuses_text(statuses: &BTreeMap<&'static str, u64>) -> String {
    let parts: Vec<String> = statuses.iter().map(|(s, n)| format!("{n} {s}")).collect();
    if parts.is_empty() {
        "none".to_string()
    } else {
        parts.join(", ")
    }
}

/// A usage error (exit status 2): options that do not go together.
pub(super) fn conflict(message: &str) -> CliError {
    CliError::Usage(clap::Error::raw(clap::error::ErrorKind::ArgumentConflict, message))
}

/// The [`CliError`] of a failed replay, naming the file at fault.
fn replay_error(e: ReplayError, genesis: &Path, blocks: &[PathBuf]) -> CliError {
    match e {
        ReplayError::Genesis(error) => CliError::Genesis { file: genesis.to_path_buf(), error },
        ReplayError::Block(i, error) => {
            let file = blocks
                .get(i)
                .map_or_else(|| format!("block {}", i + 1), |p| p.display().to_string());
            match error {
                BlockError::TooManyTransactions { .. } => CliError::BlockCapacity { file, error },
                _ => CliError::Block { file, number: i + 1, error },
            }
        }
    }
}

/// Which executor ran the blocks (`"engine"` in the JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Engine {
    Sequential,
    Parallel,
}

/// `parex run --json` (every field is in `docs/cli.md`); the text output prints it too.
#[derive(Serialize)]
struct RunDoc {
    engine: Engine,
    threads: usize,
    hasher: String,
    hasher_requested: String,
    genesis: GenesisDoc,
    blocks: Vec<BlockDoc>,
    state_root: String,
    block_hash: String,
}

/// The genesis part of [`RunDoc`].
#[derive(Serialize)]
struct GenesisDoc {
    file: String,
    state_root: String,
    accounts: usize,
    contracts: usize,
    storage: usize,
}

/// One block of [`RunDoc`].
#[derive(Serialize)]
struct BlockDoc {
    number: u64,
    file: String,
    hash: String,
    parent_hash: String,
    state_root: String,
    tx_root: String,
    receipts_root: String,
    gas_used: u64,
    tx_count: u64,
    statuses: BTreeMap<&'static str, u64>,
    reexecutions: u64,
    fell_back: bool,
    /// Where Block-STM's executions waited or failed validation most (heaviest first).
    conflicts: Vec<ConflictDoc>,
    /// The engine that ran the block and why the policy chose it.
    #[serde(flatten)]
    ran: BlockEngine,
    exec_secs: f64,
    commit_secs: f64,
    receipts: Vec<ReceiptDoc>,
}

/// One key of [`BlockDoc::conflicts`]: the key, as a state dump names it, and its count.
#[derive(Serialize)]
struct ConflictDoc {
    address: blockfile::Addr,
    key: blockfile::KeyJson,
    slot: blockfile::Slot,
    count: u32,
}

impl ConflictDoc {
    /// The block's conflict tally, heaviest first (ties in key order).
    fn of(conflicts: &HotKeys) -> Vec<Self> {
        let mut keys: Vec<_> = conflicts.iter().filter(|(_, n)| *n > 0).collect();
        keys.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        keys.into_iter()
            .map(|(k, count)| Self {
                address: blockfile::Addr(k.addr.0),
                key: k.kind.into(),
                slot: blockfile::Slot(k.slot),
                count,
            })
            .collect()
    }
}

/// One receipt of a [`BlockDoc`] (with `--json` only).
#[derive(Serialize)]
struct ReceiptDoc {
    index: usize,
    tx_hash: String,
    status: &'static str,
    status_code: u8,
    gas_used: u64,
    output: u64,
    logs: u32,
    logs_digest: String,
    undeclared_access: bool,
}

/// `parex run`.
pub(super) fn execute(
    a: RunArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<(), CliError> {
    if let Some(dump) = &a.dump_state {
        let dir = dump.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !dir.is_dir() {
            return Err(CliError::DumpStateDir { file: dump.clone(), dir: dir.to_path_buf() });
        }
        if dump.is_dir() {
            return Err(CliError::DumpStateIsDir { file: dump.clone() });
        }
    }
    let started = Instant::now();
    let threads = a.threads.unwrap_or_else(available_threads);
    let readers = if a.sequential { 1 } else { threads };
    // The first block file is made ready while the genesis file is parsed (on one thread).
    let (world, first_ready) =
        blockfile::read_first_beside(&a.blocks, readers, || blockfile::load_genesis(&a.genesis));
    let world = world?;
    let genesis_file = started.elapsed();
    if world.shards.is_none() && (a.checkpoint.is_some() || a.resume.is_some()) {
        return Err(conflict("--checkpoint and --resume need a sharded genesis (\"shards\": N)"));
    }
    if world.shards.is_some() && a.timings {
        return Err(conflict("--timings is not supported for a sharded genesis yet"));
    }
    let resume = a.resume.as_deref().map(blockfile::load_checkpoint).transpose()?;
    let first = resume.as_ref().map_or(1, |c| c.height + 1);
    let blocks =
        blockfile::load_blocks_after(&a.blocks, first_ready, first, &world, a.max_txs, readers)?;
    let timings = Timings { started, genesis_file, block_files: started.elapsed() - genesis_file };
    if let Some(shards) = world.shards {
        if a.dump_state.is_some() {
            return Err(conflict("--dump-state is not supported for a sharded genesis yet"));
        }
        if !a.hashing.is_cpu() {
            return Err(conflict("a sharded chain hashes on the CPU: use --hasher cpu"));
        }
        let sharded = ShardedArgs {
            genesis: &a.genesis,
            blocks: &a.blocks,
            threads,
            sequential: a.sequential,
            json: a.json,
            resume: resume.as_ref(),
            checkpoint: a.checkpoint.as_deref(),
        };
        return run_shards::execute(sharded, &world, &blocks, shards, stdout);
    }
    let mut hashing = open_hasher(&a.hashing, stderr)?;
    let mode = if a.sequential { Mode::Sequential } else { Mode::Parallel(threads) };
    let out = replay(&world, &blocks, mode, Limits::DEFAULT, hashing.hasher.as_mut())
        .map_err(|e| replay_error(e, &a.genesis, &a.blocks))?;
    let (state_root, block_hash) = match out.blocks.last() {
        Some(b) => (b.header.state_root, b.hash),
        None => (out.genesis_root, [0; 32]),
    };
    let mut docs = Vec::with_capacity(out.blocks.len());
    let mut hash_bufs = HashBuffers::default();
    for ((b, txs), file) in out.blocks.iter().zip(&blocks).zip(&a.blocks) {
        let statuses = status_counts(&b.receipts);
        let receipts = if a.json {
            let mut digests = vec![[0u8; 32]; txs.len()];
            tx_hashes(txs.txs(), &mut digests, hashing.hasher.as_mut(), &mut hash_bufs.scratch());
            b.receipts
                .iter()
                .zip(&digests)
                .enumerate()
                .map(|(index, (r, h))| ReceiptDoc {
                    index,
                    tx_hash: hash_hex(h),
                    status: r.status.name(),
                    status_code: r.status as u8,
                    gas_used: r.gas_used,
                    output: r.output,
                    logs: r.logs,
                    logs_digest: hash_hex(&r.logs_digest),
                    undeclared_access: r.undeclared_access,
                })
                .collect()
        } else {
            Vec::new()
        };
        docs.push(BlockDoc {
            number: b.header.number,
            file: file.display().to_string(),
            hash: hash_hex(&b.hash),
            parent_hash: hash_hex(&b.header.parent_hash),
            state_root: hash_hex(&b.header.state_root),
            tx_root: hash_hex(&b.header.tx_root),
            receipts_root: hash_hex(&b.header.receipts_root),
            gas_used: b.header.gas_used,
            tx_count: b.header.tx_count,
            statuses,
            reexecutions: b.stats.reexecutions,
            fell_back: b.choice.reason.fell_back(),
            conflicts: ConflictDoc::of(&b.stats.conflicts),
            ran: b.choice.into(),
            exec_secs: b.exec_time.as_secs_f64(),
            commit_secs: b.commit_time.as_secs_f64(),
            receipts,
        });
    }
    let doc = RunDoc {
        engine: if a.sequential { Engine::Sequential } else { Engine::Parallel },
        threads: if a.sequential { 1 } else { threads },
        hasher: hashing.used.to_string(),
        hasher_requested: hashing.requested.to_string(),
        genesis: GenesisDoc {
            file: a.genesis.display().to_string(),
            state_root: hash_hex(&out.genesis_root),
            accounts: world.accounts.len(),
            contracts: world.contracts.len(),
            storage: world.storage.len(),
        },
        blocks: docs,
        state_root: hash_hex(&state_root),
        block_hash: hash_hex(&block_hash),
    };
    // The state first: a reader that stops reading the report early (`parex run | head`)
    // loses none of it.
    if let Some(path) = &a.dump_state {
        let number = out.blocks.last().map_or(0, |b| b.header.number);
        let text = blockfile::state_to_json(number, &block_hash, &state_root, &out.state);
        blockfile::write_atomic(path, text.as_bytes())
            .map_err(|source| CliError::DumpState { path: path.clone(), source })?;
    }
    if a.json {
        print_json(&doc, stdout)?;
    } else {
        print_run(&doc, stdout).map_err(output_error)?;
    }
    if a.timings {
        // Best effort: the run itself succeeded.
        let _ = timings.write(&out, blocks.len(), stderr);
    }
    Ok(())
}

/// The text form of `doc`: the genesis and every block's hash, root and receipts.
fn print_run(doc: &RunDoc, out: &mut dyn Write) -> std::io::Result<()> {
    let engine = match doc.engine {
        Engine::Parallel => format!("parallel, {} threads", doc.threads),
        Engine::Sequential => "sequential".to_string(),
    };
    writeln!(out, "engine      {engine}; hasher {}", doc.hasher)?;
    writeln!(
        out,
        "genesis     {} ({} accounts, {} contracts, {} storage words)",
        doc.genesis.file, doc.genesis.accounts, doc.genesis.contracts, doc.genesis.storage
    )?;
    writeln!(out, "  state_root  {}", doc.genesis.state_root)?;
    for b in &doc.blocks {
        writeln!(out, "block {:<5} {}", b.number, b.file)?;
        writeln!(out, "  hash        {}", b.hash)?;
        writeln!(out, "  state_root  {}", b.state_root)?;
        writeln!(
            out,
            "  receipts    {} transactions: {}; gas used {}; re-executions {}",
            b.tx_count,
            statuses_text(&b.statuses),
            b.gas_used,
            b.reexecutions
        )?;
        writeln!(out, "  engine      {} ({})", b.ran.engine, b.ran.reason)?;
    }
    writeln!(out, "final state_root {}", doc.state_root)?;
    writeln!(out, "final block_hash {}", doc.block_hash)
}
