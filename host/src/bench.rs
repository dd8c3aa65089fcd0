//! `parex bench`: sequential against parallel execution of the workloads, measured
//! honestly, with the state roots checked to be identical.
//!
//! How one [`Case`] is measured ([`measure`]):
//!
//! 1. The world and the blocks are generated ([`crate::workload`]); not timed.
//! 2. One warm-up replay per engine (caches, allocator, thread start-up); its results
//!    are the reference the later runs are compared with.
//! 3. `repeats` rounds, each replaying the whole chain once sequentially and once in
//!    parallel ([`crate::chain::replay`]). Genesis loading and buffer set-up inside a
//!    replay are not timed: only each block's execution and its commitment (transaction
//!    and receipt roots, state update and state root) are, separately.
//! 4. Per engine, the round with the median execution-plus-commitment time is reported;
//!    TPS = transactions / (execution + commitment seconds).
//!
//! Every replay's block hashes (which cover the state, transaction and receipt roots)
//! are compared with the sequential warm-up's: `roots_match` is false if any differs.

use std::time::{Duration, Instant};

use parex_core::engine::Choice;
use parex_core::exec::Limits;
use parex_core::hash::Hasher;
use parex_core::policy::{Prediction, Predictions};
use parex_offload::hex::hash_hex;
use parex_offload::CpuHasher;
use serde::Serialize;

use crate::capacity::capacity;
use crate::chain::{replay_kept, ChainOutcome, ReplayError};
use crate::engine::{Executor, Mode};
use crate::pool::side_by_side;
use crate::workload::{Generator, Spec, Workload};

/// Default user accounts at low contention.
pub const DEFAULT_ACCOUNTS: usize = 10_000;
/// Default transactions per block.
pub const DEFAULT_TXS: usize = 5_000;
/// Default blocks per run.
pub const DEFAULT_BLOCKS: usize = 2;
/// Default measured rounds per engine (after the warm-up).
pub const DEFAULT_REPEATS: usize = 3;

/// One configuration to measure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    /// What to generate.
    pub spec: Spec,
    /// `low`, `high` or `custom`.
    pub contention: &'static str,
    /// Workers of the parallel engine.
    pub threads: usize,
    /// The parallel engine's history predictor is on (`--predict`).
    pub predict: bool,
}

impl Case {
    /// The contention knob's name and value for this case.
    pub fn knob(&self) -> Knob {
        let (name, low, _) = self.spec.workload.knob();
        let value = match self.spec.workload {
            Workload::Transfers | Workload::Token => self.spec.accounts.max(2),
            _ => self.spec.hot.unwrap_or(low),
        };
        Knob { name, value }
    }
}

/// A workload's contention knob (see [`Workload::knob`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Knob {
    /// What it counts.
    pub name: &'static str,
    /// Its value.
    pub value: usize,
}

/// The contention levels to run for `workload`.
///
/// With neither `accounts` nor `hot` given: low contention (`DEFAULT_ACCOUNTS` accounts,
/// the knob's low setting) and high contention (2 accounts for transfers and token, the
/// knob's high setting otherwise). With either given: one `custom` level; for transfers
/// and token, `hot` stands for the number of accounts when `accounts` is not given.
pub fn levels(
    workload: Workload,
    accounts: Option<usize>,
    hot: Option<usize>,
) -> Vec<(&'static str, usize, Option<usize>)> {
    let account_knob = matches!(workload, Workload::Transfers | Workload::Token);
    if accounts.is_none() && hot.is_none() {
        let (_, _, high) = workload.knob();
        let high_level =
            if account_knob { ("high", 2, None) } else { ("high", DEFAULT_ACCOUNTS, Some(high)) };
        return vec![("low", DEFAULT_ACCOUNTS, None), high_level];
    }
    let n = match (accounts, hot) {
        (Some(a), _) => a,
        (None, Some(h)) if account_knob => h,
        _ => DEFAULT_ACCOUNTS,
    };
    vec![("custom", n, hot)]
}

/// Timings of one engine.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EngineResult {
    /// Execution plus commitment, seconds (the median round).
    pub secs: f64,
    /// Execution, seconds.
    pub exec_secs: f64,
    /// Commitment (roots, state update), seconds.
    pub commit_secs: f64,
    /// Transactions per second over execution plus commitment.
    pub tps: f64,
    /// Transactions per second over execution alone.
    pub exec_tps: f64,
    /// Keccak permutations of the commitment per transaction (roots, header hash),
    /// those hashed beside the execution included.
    pub perms_per_tx: f64,
    /// Permutations per second while committing (those hashed beside the execution
    /// left out, as their time is).
    pub commit_perm_rate: f64,
    /// Executions beyond one per transaction (parallel only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reexecutions: Option<u64>,
    /// Failed validations (parallel only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aborts: Option<u64>,
    /// Reads that waited on an estimate (parallel only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dependency_waits: Option<u64>,
    /// Executions that waited, before running, on a transaction predicted to write a
    /// hot key (Block-STM with the history's hot keys; parallel only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicted_waits: Option<u64>,
    /// Blocks the parallel engine ran sequentially instead (parallel only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fell_back_blocks: Option<u64>,
    /// Blocks the history predictor sent to the sequential engine up front (parallel
    /// only; `parex_core::policy::History`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicted_sequential: Option<u64>,
    /// Blocks of contract calls the predictor let Block-STM run, which it ran without
    /// giving up (parallel only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prediction_hits: Option<u64>,
    /// Blocks of contract calls the predictor let Block-STM run, which gave up on them as
    /// contended (parallel only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prediction_misses: Option<u64>,
    /// Per block of the median round: the engine that ran it and why the policy chose it.
    pub blocks: Vec<BlockEngine>,
}

/// Which engine ran one block and why: an element of `blocks` in `parex bench --json`
/// and `parex run --json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct BlockEngine {
    /// `sequential`, `block_stm` or `footprint` (`parex_core::engine::EngineKind::name`).
    pub engine: &'static str,
    /// Why (`parex_core::engine::Reason::name`): `requested`, `known_footprints`, `contracts`,
    /// `looks_contended`, `contended`, `predicted_contended`, `footprint_failed`,
    /// `block_stm_failed`, `key_table_full`, `beneficiary_read`, `no_footprint_memory`,
    /// `one_worker`.
    pub reason: &'static str,
}

impl From<Choice> for BlockEngine {
    fn from(c: Choice) -> Self {
        Self { engine: c.engine.name(), reason: c.reason.name() }
    }
}

/// One measured case: an element of the `runs` array of `parex bench --json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunReport {
    /// Workload name.
    pub workload: String,
    /// `low`, `high` or `custom`.
    pub contention: &'static str,
    /// The contention knob.
    pub knob: Knob,
    /// Transactions per block.
    pub txs: usize,
    /// User accounts.
    pub accounts: usize,
    /// Blocks.
    pub blocks: usize,
    /// Workers of the parallel engine.
    pub threads: usize,
    /// Generator seed.
    pub seed: u64,
    /// Failing transactions per thousand.
    pub fail_per_mille: u32,
    /// Transactions with declared access lists per thousand.
    pub declare_per_mille: u32,
    /// The hasher that ran (`cpu` or `opencl`).
    pub hasher: String,
    /// The hasher asked for.
    pub hasher_requested: String,
    /// Measured rounds per engine.
    pub repeats: usize,
    /// The sequential engine.
    pub sequential: EngineResult,
    /// The parallel engine.
    pub parallel: EngineResult,
    /// `parallel.tps / sequential.tps`.
    pub speedup: f64,
    /// Each measured round's parallel TPS over its sequential TPS, in round order (the
    /// two engines run back to back in a round): how much the machine moved between
    /// rounds.
    pub speedup_rounds: Vec<f64>,
    /// The machine's ceiling for `threads` workers: how much faster that many threads of
    /// pure computation ran at once than one alone ([`crate::capacity`]), the median of
    /// `capacity_rounds`: what more workers alone can give. A speed-up above it comes from
    /// doing less work than the sequential engine, or from the cores' own caches.
    pub capacity: f64,
    /// The ceiling in each round: the mean of a probe just before its sequential run and
    /// one just after its parallel run.
    pub capacity_rounds: Vec<f64>,
    /// Share of the parallel run's time spent committing (where the hashing is).
    pub hashing_share: f64,
    /// Keccak permutations of the commitment per transaction (the parallel run's).
    pub perms_per_tx: f64,
    /// The hasher's raw rate on batches of 4,096 one-permutation messages, with as many
    /// threads as the parallel run commits on, permutations per second.
    pub raw_perm_rate: f64,
    /// `parallel.commit_perm_rate / raw_perm_rate`: how close the parallel run's
    /// commitment comes to the raw rate (the rest is applying writes, walking the tree,
    /// building messages, and idle workers).
    pub perm_rate_share: f64,
    /// State root after the last block.
    pub state_root: String,
    /// Hash of the last block.
    pub block_hash: String,
    /// Every replay produced the same block hashes as the sequential reference.
    pub roots_match: bool,
    /// When not: the first difference found (which replay, block and receipt).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mismatch: Option<String>,
}

/// The whole `parex bench --json` document.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BenchReport {
    /// The parex version.
    pub version: &'static str,
    /// Hardware threads available to the process.
    pub threads_available: usize,
    /// Wall time of the whole suite, generation included, seconds.
    pub wall_secs: f64,
    /// One per case.
    pub runs: Vec<RunReport>,
}

struct Round {
    exec: Duration,
    commit: Duration,
    permutations: u64,
    beside_permutations: u64,
    reexecutions: u64,
    aborts: u64,
    waits: u64,
    predicted_waits: u64,
    fell_back: u64,
    /// Of `commit`, the waits for the transaction list hashed beside the execution.
    beside_wait: Duration,
    predictions: Predictions,
    blocks: Vec<BlockEngine>,
}

impl Round {
    fn of(out: &ChainOutcome) -> Self {
        let mut r = Round {
            exec: Duration::ZERO,
            commit: Duration::ZERO,
            permutations: 0,
            beside_permutations: 0,
            reexecutions: 0,
            aborts: 0,
            waits: 0,
            predicted_waits: 0,
            fell_back: 0,
            beside_wait: Duration::ZERO,
            predictions: Predictions::default(),
            blocks: Vec::with_capacity(out.blocks.len()),
        };
        for b in &out.blocks {
            r.exec += b.exec_time;
            r.commit += b.commit_time;
            r.beside_wait += b.beside_wait;
            r.permutations += b.commit_permutations;
            r.beside_permutations += b.beside_permutations;
            r.reexecutions += b.stats.reexecutions;
            r.aborts += b.stats.aborts;
            r.waits += b.stats.dependency_waits;
            r.predicted_waits += b.stats.predicted_waits;
            r.fell_back += b.choice.reason.fell_back() as u64;
            let p = &mut r.predictions;
            match b.prediction {
                Some(Prediction::Sequential) => p.sequential += 1,
                Some(Prediction::Hit) => p.hits += 1,
                Some(Prediction::Miss) => p.misses += 1,
                None => {}
            }
            r.blocks.push(b.choice.into());
        }
        r
    }
}

fn median(mut rounds: Vec<Round>, txs: usize, parallel: bool) -> EngineResult {
    rounds.sort_by_key(|r| r.exec + r.commit);
    let Some(r) = rounds.get(rounds.len().saturating_sub(1) / 2) else {
        return EngineResult::default();
    };
    let secs = (r.exec + r.commit).as_secs_f64();
    let exec_secs = r.exec.as_secs_f64();
    let rate = |s: f64| if s > 0.0 { txs as f64 / s } else { 0.0 };
    EngineResult {
        secs,
        exec_secs,
        commit_secs: r.commit.as_secs_f64(),
        tps: rate(secs),
        exec_tps: rate(exec_secs),
        perms_per_tx: if txs > 0 {
            (r.permutations + r.beside_permutations) as f64 / txs as f64
        } else {
            0.0
        },
        // The waits for the list hashed beside are left out, as its permutations are.
        commit_perm_rate: if r.commit > r.beside_wait {
            r.permutations as f64 / (r.commit - r.beside_wait).as_secs_f64()
        } else {
            0.0
        },
        reexecutions: parallel.then_some(r.reexecutions),
        aborts: parallel.then_some(r.aborts),
        dependency_waits: parallel.then_some(r.waits),
        predicted_waits: parallel.then_some(r.predicted_waits),
        fell_back_blocks: parallel.then_some(r.fell_back),
        predicted_sequential: parallel.then_some(r.predictions.sequential),
        prediction_hits: parallel.then_some(r.predictions.hits),
        prediction_misses: parallel.then_some(r.predictions.misses),
        blocks: r.blocks.clone(),
    }
}

/// The first difference between two replays of the same chain, if any.
fn first_difference(a: &ChainOutcome, b: &ChainOutcome) -> Option<String> {
    if a.genesis_root != b.genesis_root {
        return Some("genesis roots differ".to_string());
    }
    if a.blocks.len() != b.blocks.len() {
        return Some(format!("{} blocks against {}", a.blocks.len(), b.blocks.len()));
    }
    for (x, y) in a.blocks.iter().zip(&b.blocks) {
        if x.hash == y.hash && x.header == y.header {
            continue;
        }
        let n = x.header.number;
        let what = if x.receipts != y.receipts {
            let i = x.receipts.iter().zip(&y.receipts).position(|(r, q)| r != q).unwrap_or(0);
            let (r, q) = (x.receipts.get(i), y.receipts.get(i));
            format!(
                "receipt {i}: {:?}/{:?} gas against {:?}/{:?} gas",
                r.map(|r| r.status),
                r.map(|r| r.gas_used),
                q.map(|q| q.status),
                q.map(|q| q.gas_used)
            )
        } else if x.header.state_root != y.header.state_root {
            "state roots differ (receipts equal)".to_string()
        } else {
            "headers differ".to_string()
        };
        return Some(format!("block {n}: {what}"));
    }
    None
}

/// Measures `case` (see the module docs). The sequential engine commits with
/// `seq_hasher` when given (one CPU thread: the reference executor is single-threaded),
/// else with `hasher` like the parallel engine (every core with the `rayon` feature, or
/// the OpenCL device). `tick` is called after every replay
/// (`2 * (repeats + 1)` of them) to drive a progress bar.
pub fn measure(
    case: &Case,
    repeats: usize,
    mut seq_hasher: Option<&mut (dyn Hasher + Send)>,
    hasher: &mut (dyn Hasher + Send),
    hasher_used: &str,
    hasher_requested: &str,
    tick: &mut dyn FnMut(),
) -> Result<RunReport, ReplayError> {
    let spec = &case.spec;
    let (world, mut gen) = Generator::new(spec);
    let blocks: Vec<_> = (0..spec.blocks).map(|_| gen.block()).collect();
    let limits = Limits::DEFAULT;
    let seq_mode = Mode::Sequential;
    let par_mode = Mode::Parallel(case.threads.max(1));

    // One executor per engine for the warm-up and every round, as a node keeps one: the
    // rounds measure blocks executed one after another, not the first block's start
    // (threads, fresh memory), which the warm-up pays.
    let (mut seq_exec, mut par_exec) = (Executor::new(limits), Executor::new(limits));
    let mut seq_replay = |h: &mut (dyn Hasher + Send)| {
        replay_kept(&mut seq_exec, &world, &blocks, seq_mode, h, true)
    };
    let reference = match seq_hasher.as_deref_mut() {
        Some(h) => seq_replay(h)?,
        None => seq_replay(hasher)?,
    };
    tick();
    let mut par_replay = |h: &mut (dyn Hasher + Send)| {
        replay_kept(&mut par_exec, &world, &blocks, par_mode, h, case.predict)
    };
    let warm = par_replay(hasher)?;
    tick();
    let mut mismatch = first_difference(&reference, &warm).map(|d| format!("warm-up: {d}"));
    let (mut seq, mut par, mut capacity_rounds) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=repeats.max(1) {
        // The ceiling is probed around the round, which runs its engines back to back.
        let before = capacity(case.threads);
        let s = match seq_hasher.as_deref_mut() {
            Some(h) => seq_replay(h)?,
            None => seq_replay(hasher)?,
        };
        tick();
        let p = par_replay(hasher)?;
        capacity_rounds.push((before + capacity(case.threads)) / 2.0);
        tick();
        for (engine, out) in [("sequential", &s), ("parallel", &p)] {
            if mismatch.is_none() {
                mismatch = first_difference(&reference, out)
                    .map(|d| format!("{engine} round {round}: {d}"));
            }
        }
        seq.push(Round::of(&s));
        par.push(Round::of(&p));
    }
    let speedup_rounds = seq
        .iter()
        .zip(&par)
        .map(|(s, p)| {
            let par = (p.exec + p.commit).as_secs_f64();
            if par > 0.0 {
                (s.exec + s.commit).as_secs_f64() / par
            } else {
                0.0
            }
        })
        .collect();
    let mut ceilings = capacity_rounds.clone();
    ceilings.sort_by(f64::total_cmp);
    // The lower median for an even count, as `median` takes the engines' round.
    let capacity = ceilings[(ceilings.len() - 1) / 2];
    let total = spec.txs * spec.blocks;
    let sequential = median(seq, total, false);
    let parallel = median(par, total, true);
    let speedup = if sequential.tps > 0.0 { parallel.tps / sequential.tps } else { 0.0 };
    let hashing_share =
        if parallel.secs > 0.0 { parallel.commit_secs / parallel.secs } else { 0.0 };
    let threads = if hasher.runs_on_cpu() { par_mode.workers() } else { 1 };
    let raw_perm_rate = raw_rate(hasher, threads);
    let perm_rate_share =
        if raw_perm_rate > 0.0 { parallel.commit_perm_rate / raw_perm_rate } else { 0.0 };
    let perms_per_tx = parallel.perms_per_tx;
    let (state_root, block_hash) = match reference.blocks.last() {
        Some(b) => (b.header.state_root, b.hash),
        None => (reference.genesis_root, [0; 32]),
    };
    Ok(RunReport {
        workload: spec.workload.name().to_string(),
        contention: case.contention,
        knob: case.knob(),
        txs: spec.txs,
        accounts: spec.accounts.max(2),
        blocks: spec.blocks,
        threads: case.threads,
        seed: spec.seed,
        fail_per_mille: spec.fail_per_mille,
        declare_per_mille: spec.declare_per_mille,
        hasher: hasher_used.to_string(),
        hasher_requested: hasher_requested.to_string(),
        repeats: repeats.max(1),
        sequential,
        parallel,
        speedup,
        speedup_rounds,
        capacity,
        capacity_rounds,
        hashing_share,
        perms_per_tx,
        raw_perm_rate,
        perm_rate_share,
        state_root: hash_hex(&state_root),
        block_hash: hash_hex(&block_hash),
        roots_match: mismatch.is_none(),
        mismatch,
    })
}

/// Messages per batch of [`raw_rate`] (128 bytes each: one permutation, an inner node).
const RAW_BATCH: usize = 4096;
/// How long [`raw_rate`] hashes.
const RAW_TIME: Duration = Duration::from_millis(40);

/// Permutations per second of `hasher`'s batches of one-permutation messages: on
/// `threads` threads at once with one-thread CPU hashers when it runs on the CPU (as the
/// host's commitment does), else of `hasher` itself.
fn raw_rate(hasher: &mut (dyn Hasher + Send), threads: usize) -> f64 {
    fn run(h: &mut dyn Hasher) -> f64 {
        let data = vec![0x5au8; RAW_BATCH * 128];
        let mut out = vec![[0u8; 32]; RAW_BATCH];
        let start = Instant::now();
        let mut batches = 0u64;
        while batches == 0 || start.elapsed() < RAW_TIME {
            h.hash_fixed(&data, 128, &mut out);
            batches += 1;
        }
        (batches * RAW_BATCH as u64) as f64 / start.elapsed().as_secs_f64()
    }
    if !hasher.runs_on_cpu() {
        return run(hasher);
    }
    side_by_side(0..threads.max(1), |_| run(&mut CpuHasher::single_thread())).into_iter().sum()
}

/// The lowest and highest of the rounds' speed-ups, `1.21-1.63` (one round: its own).
fn rounds_range(rounds: &[f64]) -> String {
    let lo = rounds.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = rounds.iter().copied().fold(0.0, f64::max);
    match rounds.len() {
        0 => "-".to_string(),
        1 => format!("{hi:.2}"),
        _ => format!("{lo:.2}-{hi:.2}"),
    }
}

/// The human-readable table of `runs`.
pub fn table(runs: &[RunReport]) -> String {
    let header = [
        "workload",
        "contention",
        "txs",
        "blocks",
        "accounts",
        "threads",
        "seq TPS",
        "par TPS",
        "speedup",
        "rounds",
        "ceiling",
        "re-exec",
        "fell back",
        "hashing",
        "perm/tx",
        "rate",
        "roots",
    ];
    let rows: Vec<[String; 17]> = runs
        .iter()
        .map(|r| {
            [
                r.workload.clone(),
                format!("{} ({}={})", r.contention, r.knob.name.replace(' ', "-"), r.knob.value),
                r.txs.to_string(),
                r.blocks.to_string(),
                r.accounts.to_string(),
                r.threads.to_string(),
                format!("{:.0}", r.sequential.tps),
                format!("{:.0}", r.parallel.tps),
                format!("{:.2}x", r.speedup),
                rounds_range(&r.speedup_rounds),
                format!("{:.2}x", r.capacity),
                r.parallel.reexecutions.unwrap_or(0).to_string(),
                format!("{}/{}", r.parallel.fell_back_blocks.unwrap_or(0), r.blocks),
                format!("{:.1}%", 100.0 * r.hashing_share),
                format!("{:.2}", r.perms_per_tx),
                format!("{:.0}%", 100.0 * r.perm_rate_share),
                if r.roots_match { "match" } else { "DIFFER" }.to_string(),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[&str]| {
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            // Text columns left-aligned, numbers right-aligned.
            if i < 2 || i == cells.len() - 1 {
                out.push_str(&format!("{cell:<w$}"));
            } else {
                out.push_str(&format!("{cell:>w$}"));
            }
        }
        while out.ends_with(' ') {
            out.pop();
        }
        out.push('\n');
    };
    line(&mut out, &header);
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        line(&mut out, &cells);
    }
    out
}
