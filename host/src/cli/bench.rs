//! `parex bench`: sequential against parallel TPS on the workloads, with the roots checked.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use parex_offload::HasherKind;

use super::args::{
    available_threads, block_txs, parse_workload, positive, thread_count, WorkloadOpts,
};
use super::error::{output_error, CliError};
use super::hashing::{open_hasher, HasherOpts};
use super::print_json;
use super::run::conflict;
use crate::bench::{self, Case, RunReport};
use crate::blockfile;
use crate::shard::{measure_sharded, table as shard_table, ShardedReport};
use crate::workload::{Spec, Workload};

#[derive(Args, Debug)]
pub(super) struct BenchArgs {
    /// Run only this workload (transfers, token, amm, nft, dao, depin, game, mixed).
    #[arg(long, value_parser = parse_workload)]
    workload: Option<Workload>,
    #[command(flatten)]
    w: WorkloadOpts,
    /// Transactions per block; a comma-separated list runs every size (a scaling table)
    /// [default: 5000].
    #[arg(long, value_parser = block_txs, value_delimiter = ',', value_name = "N[,N...]")]
    txs: Vec<usize>,
    /// Workers of the parallel engine, at most 512; a comma-separated list runs every
    /// count [default: the available hardware threads].
    #[arg(long, value_parser = thread_count, value_delimiter = ',', value_name = "N[,N...]")]
    threads: Vec<usize>,
    /// Also write the results as an SVG chart to FILE: TPS of each engine against the
    /// block size (or the thread count, when only that varies).
    #[arg(long, value_name = "FILE")]
    plot: Option<std::path::PathBuf>,
    /// Measured rounds per engine after the warm-up; the median is reported.
    #[arg(long, value_parser = positive, default_value_t = bench::DEFAULT_REPEATS)]
    repeats: usize,
    #[command(flatten)]
    hashing: HasherOpts,
    /// The parallel engine's history predictor: `on` sends blocks of contract calls that
    /// earlier blocks found contended to the sequential engine up front, and gives
    /// Block-STM the hot keys earlier blocks conflicted at, so that the calls on each run
    /// in block order; `off` judges each block by itself.
    #[arg(long, action = clap::ArgAction::Set, value_parser = on_off, default_value = "on", value_name = "on|off")]
    predict: bool,
    /// Print one JSON document instead of the table.
    #[arg(long)]
    json: bool,
}

/// `on` or `off`.
fn on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("expected on or off, got {s:?}")),
    }
}

/// A progress bar on stderr when it is a terminal, else a hidden one.
fn progress_bar(len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} replays  {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// `parex bench`.
pub(super) fn execute(
    a: BenchArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<(), CliError> {
    let start = Instant::now();
    let or = |v: &[usize], d: usize| if v.is_empty() { vec![d] } else { v.to_vec() };
    let (sizes, thread_counts) =
        (or(&a.txs, bench::DEFAULT_TXS), or(&a.threads, available_threads()));
    if a.w.shards.is_some() {
        return sharded(&a, &sizes, &thread_counts, stdout);
    }
    let workloads = match a.workload {
        Some(w) => vec![w],
        None => Workload::ALL.to_vec(),
    };
    let mut cases = Vec::new();
    for w in workloads {
        for (contention, accounts, hot) in bench::levels(w, a.w.accounts, a.w.hot) {
            for (&txs, &threads) in
                sizes.iter().flat_map(|s| thread_counts.iter().map(move |t| (s, t)))
            {
                let blocks = a.w.blocks.unwrap_or(bench::DEFAULT_BLOCKS);
                let mut spec = Spec::new(w, accounts, txs, blocks, a.w.seed);
                spec.hot = hot;
                spec.fail_per_mille = a.w.fail;
                spec.declare_per_mille = a.w.declare;
                cases.push(Case { spec, contention, threads, predict: a.predict });
            }
        }
    }
    let mut hashing = open_hasher(&a.hashing, stderr)?;
    let (used, requested) = (hashing.used.to_string(), hashing.requested.to_string());
    let per_case = 2 * (a.repeats as u64 + 1);
    let bar = progress_bar(per_case * cases.len() as u64);
    let mut runs: Vec<RunReport> = Vec::with_capacity(cases.len());
    for case in &cases {
        bar.set_message(format!("{} {}", case.spec.workload, case.contention));
        let mut single = parex_offload::CpuHasher::single_thread();
        let seq_hasher: Option<&mut (dyn parex_core::hash::Hasher + Send)> =
            if hashing.used == HasherKind::Cpu { Some(&mut single) } else { None };
        let report = bench::measure(
            case,
            a.repeats,
            seq_hasher,
            hashing.hasher.as_mut(),
            &used,
            &requested,
            &mut || bar.inc(1),
        )
        .map_err(|error| CliError::Bench {
            workload: case.spec.workload,
            contention: case.contention,
            error,
        })?;
        runs.push(report);
    }
    bar.finish_and_clear();
    let wall = start.elapsed();
    if let Some(path) = &a.plot {
        let svg = crate::plot::scaling_svg(&runs);
        blockfile::write_atomic(path, svg.as_bytes())
            .map_err(|source| CliError::Write { path: path.clone(), source })?;
    }
    if a.json {
        let doc = bench::BenchReport {
            version: env!("CARGO_PKG_VERSION"),
            threads_available: available_threads(),
            wall_secs: wall.as_secs_f64(),
            runs,
        };
        print_json(&doc, stdout)?;
        check_roots(&doc.runs)
    } else {
        writeln!(
            stdout,
            "parex bench: hasher {used}; median of {} rounds after a warm-up; TPS = transactions / \
             (execution + commitment) time; ceiling = the machine's own speed-up on as many threads \
             of pure computation; hashing = commitment share of the parallel time",
            a.repeats
        )
        .map_err(output_error)?;
        write!(stdout, "{}", bench::table(&runs)).map_err(output_error)?;
        writeln!(stdout, "{} runs in {:.1} s", runs.len(), wall.as_secs_f64())
            .map_err(output_error)?;
        check_roots(&runs)
    }
}

/// `parex bench --shards`: the sharded chain of transfers against the unsharded engine,
/// for every size and thread count given.
fn sharded(
    a: &BenchArgs,
    sizes: &[usize],
    thread_counts: &[usize],
    stdout: &mut dyn Write,
) -> Result<(), CliError> {
    let start = Instant::now();
    let workload = a.workload.unwrap_or(Workload::Transfers);
    let cross = a.w.cross();
    if a.plot.is_some() {
        return Err(conflict("--plot does not chart a sharded bench"));
    }
    if !a.hashing.is_cpu() {
        return Err(conflict("a sharded chain hashes on the CPU: use --hasher cpu"));
    }
    let accounts = a.w.accounts.unwrap_or(bench::DEFAULT_ACCOUNTS);
    let blocks = a.w.blocks.unwrap_or(bench::DEFAULT_BLOCKS);
    let runs = (a.repeats as u64 + 1) * 2;
    let bar = progress_bar(runs * (sizes.len() * thread_counts.len()) as u64);
    let mut reports = Vec::new();
    for &txs in sizes {
        for &threads in thread_counts {
            let mut spec = Spec::new(workload, accounts, txs, blocks, a.w.seed);
            spec.fail_per_mille = a.w.fail;
            spec.cross = cross;
            let report = measure_sharded(&spec, threads, a.repeats, &mut || bar.inc(1))
                .map_err(CliError::ShardBench)?;
            reports.push(report);
        }
    }
    bar.finish_and_clear();
    if a.json {
        #[derive(serde::Serialize)]
        struct Doc {
            version: &'static str,
            threads_available: usize,
            wall_secs: f64,
            sharded: Vec<ShardedReport>,
        }
        let doc = Doc {
            version: env!("CARGO_PKG_VERSION"),
            threads_available: available_threads(),
            wall_secs: start.elapsed().as_secs_f64(),
            sharded: reports.clone(),
        };
        print_json(&doc, stdout)?;
    } else {
        for r in &reports {
            write!(stdout, "{}", shard_table(r)).map_err(output_error)?;
        }
    }
    match reports.iter().find(|r| !r.roots_match) {
        None => Ok(()),
        Some(r) => Err(CliError::RootsDiffer {
            workload: format!("{} on {} shards", r.workload, r.shards),
            contention: "sharded",
            mismatch: Some("a global root".to_string()),
        }),
    }
}

/// [`CliError::RootsDiffer`] for the first run whose roots differ.
fn check_roots(runs: &[RunReport]) -> Result<(), CliError> {
    match runs.iter().find(|r| !r.roots_match) {
        None => Ok(()),
        Some(r) => Err(CliError::RootsDiffer {
            workload: r.workload.clone(),
            contention: r.contention,
            mismatch: r.mismatch.clone(),
        }),
    }
}
