//! `parex run` on a sharded genesis (`"shards": N`): every height's global root, and
//! each shard's block, outbox and inbox.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::txblock::BlockTxs;
use parex_offload::hex::hash_hex;
use serde::Serialize;

use super::error::{output_error, CliError};
use super::print_json;
use super::run::{status_counts, statuses_text};
use crate::blockfile;
use crate::engine::Mode;
use crate::shard::{replay_sharded_from, Checkpoint, ShardBlock, ShardRun};
use crate::workload::World;

/// What `run` was asked, for a sharded chain.
pub(super) struct ShardedArgs<'a> {
    pub(super) genesis: &'a Path,
    pub(super) blocks: &'a [PathBuf],
    pub(super) threads: usize,
    pub(super) sequential: bool,
    pub(super) json: bool,
    /// The checkpoint the chain goes on from.
    pub(super) resume: Option<&'a Checkpoint>,
    /// Where to write the checkpoint after the last block.
    pub(super) checkpoint: Option<&'a Path>,
}

/// `parex run --json` for a sharded chain (fields in `docs/cli.md`).
#[derive(Serialize)]
struct ShardedRunDoc {
    engine: &'static str,
    shards: u16,
    threads: usize,
    runners: usize,
    workers_per_shard: usize,
    hasher: &'static str,
    genesis: ShardedGenesisDoc,
    heights: Vec<HeightDoc>,
    global_root: String,
    in_flight: usize,
}

#[derive(Serialize)]
struct ShardedGenesisDoc {
    file: String,
    accounts: usize,
    contracts: usize,
    storage: usize,
    state_roots: Vec<String>,
}

#[derive(Serialize)]
struct HeightDoc {
    number: u64,
    file: String,
    global_root: String,
    parent_hash: String,
    shards: Vec<ShardDoc>,
}

#[derive(Serialize)]
struct ShardDoc {
    shard: u16,
    hash: String,
    block_hash: String,
    state_root: String,
    tx_root: String,
    receipts_root: String,
    outbox_root: String,
    tx_count: u64,
    gas_used: u64,
    statuses: BTreeMap<&'static str, u64>,
    emitted: usize,
    delivered: usize,
    engine: &'static str,
    exec_secs: f64,
    commit_secs: f64,
    deliver_secs: f64,
}

fn shard_doc(s: &ShardBlock) -> ShardDoc {
    let statuses = status_counts(&s.receipts);
    ShardDoc {
        shard: s.header.shard,
        hash: hash_hex(&s.hash),
        block_hash: hash_hex(&s.header.block_hash),
        state_root: hash_hex(&s.block.state_root),
        tx_root: hash_hex(&s.block.tx_root),
        receipts_root: hash_hex(&s.block.receipts_root),
        outbox_root: hash_hex(&s.header.outbox_root),
        tx_count: s.block.tx_count,
        gas_used: s.block.gas_used,
        statuses,
        emitted: s.emitted,
        delivered: s.delivered,
        engine: s.choice.engine.name(),
        exec_secs: s.exec_time.as_secs_f64(),
        commit_secs: s.commit_time.as_secs_f64(),
        deliver_secs: s.deliver_time.as_secs_f64(),
    }
}

/// Runs the sharded chain `world` (of `shards` shards) over `blocks` and prints it.
pub(super) fn execute(
    a: ShardedArgs<'_>,
    world: &World,
    blocks: &[impl BlockTxs],
    shards: u16,
    stdout: &mut dyn Write,
) -> Result<(), CliError> {
    let run =
        if a.sequential { ShardRun::reference(shards) } else { ShardRun::new(shards, a.threads) };
    let out = replay_sharded_from(world, a.resume, blocks, &run).map_err(CliError::Sharded)?;
    if let (Some(path), Some(c)) = (a.checkpoint, Checkpoint::of(&out)) {
        let text = blockfile::checkpoint_to_json(&c);
        blockfile::write_atomic(path, text.as_bytes())
            .map_err(|source| CliError::Write { path: path.to_path_buf(), source })?;
    }
    let heights: Vec<HeightDoc> = out
        .heights
        .iter()
        .zip(a.blocks)
        .map(|(h, file)| HeightDoc {
            number: h.global.number,
            file: file.display().to_string(),
            global_root: hash_hex(&h.hash),
            parent_hash: hash_hex(&h.global.parent_hash),
            shards: h.shards.iter().map(shard_doc).collect(),
        })
        .collect();
    let doc = ShardedRunDoc {
        engine: if a.sequential { "sequential" } else { "parallel" },
        shards,
        threads: if a.sequential { 1 } else { a.threads },
        runners: run.runners,
        workers_per_shard: match run.mode {
            Mode::Sequential => 1,
            m => m.workers(),
        },
        hasher: "cpu",
        genesis: ShardedGenesisDoc {
            file: a.genesis.display().to_string(),
            accounts: world.accounts.len(),
            contracts: world.contracts.len(),
            storage: world.storage.len(),
            state_roots: out.genesis_roots.iter().map(hash_hex).collect(),
        },
        global_root: out.heights.last().map_or_else(|| hash_hex(&[0; 32]), |h| hash_hex(&h.hash)),
        heights,
        in_flight: out.in_flight.len(),
    };
    if a.json {
        print_json(&doc, stdout)
    } else {
        print_sharded(&doc, stdout).map_err(output_error)
    }
}

fn print_sharded(doc: &ShardedRunDoc, out: &mut dyn Write) -> std::io::Result<()> {
    let how = if doc.engine == "sequential" {
        "one thread, shard after shard, sequential executor".to_string()
    } else {
        format!(
            "{} threads: {} shards side by side, each block on {} worker(s)",
            doc.threads, doc.runners, doc.workers_per_shard
        )
    };
    writeln!(out, "engine      sharded: {} shards; {how}; hasher {}", doc.shards, doc.hasher)?;
    let g = &doc.genesis;
    writeln!(
        out,
        "genesis     {} ({} accounts, {} contracts, {} storage words)",
        g.file, g.accounts, g.contracts, g.storage
    )?;
    for (s, root) in g.state_roots.iter().enumerate() {
        writeln!(out, "  shard {s:<4} state_root {root}")?;
    }
    for h in &doc.heights {
        writeln!(out, "height {:<4} {}", h.number, h.file)?;
        writeln!(out, "  global_root {}", h.global_root)?;
        for s in &h.shards {
            writeln!(out, "  shard {:<4} hash {}", s.shard, s.hash)?;
            writeln!(out, "              state_root {}", s.state_root)?;
            writeln!(
                out,
                "              {} transactions: {}; messages out {}, in {}; engine {}",
                s.tx_count,
                statuses_text(&s.statuses),
                s.emitted,
                s.delivered,
                s.engine
            )?;
        }
    }
    writeln!(out, "final global_root {}", doc.global_root)?;
    writeln!(out, "in flight   {} messages (delivered at the next height)", doc.in_flight)
}
