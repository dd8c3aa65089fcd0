//! The `parex` command line, as a library function ([`run`]) so the tests drive it with
//! in-memory streams; `main.rs` only passes the process's own.
//!
//! Commands: `bench`, `gen`, `run`, `devices`, `hash`, `hash-bench` (documented in
//! `docs/cli.md`). Every error ends as one [`CliError`], printed as one line on stderr;
//! [`CliError::exit_code`] is the only place exit statuses are chosen:
//!
//! | status | meaning |
//! | --- | --- |
//! | 0 | success |
//! | 1 | failure (I/O on output, engine error, roots that differ, OpenCL not compiled in for `devices`) |
//! | 2 | bad input (usage, files, hex) |

use std::ffi::OsString;
use std::fmt;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use parex_core::block::tx_hashes;
use parex_core::error::BlockError;
use parex_core::exec::Limits;
use parex_core::hash::Hasher;
use parex_offload::hex::{hash_hex, push_hex};
use parex_offload::{DeviceSpec, HasherKind, OffloadError, SkipReason};
use serde::Serialize;

use crate::bench::{self, Case, RunReport};
use crate::blockfile::{self, InputError};
use crate::chain::{replay, ReplayError};
use crate::engine::{HashBuffers, Mode};
use crate::workload::{Generator, Spec, Workload};

/// Exit status: success.
pub const EXIT_OK: i32 = 0;
/// Exit status: a failure that is not the input's fault.
pub const EXIT_FAILURE: i32 = 1;
/// Exit status: bad input (usage, files, hex).
pub const EXIT_BAD_INPUT: i32 = 2;

/// What ended a command.
#[derive(Debug)]
pub enum CliError {
    /// The input is wrong (exit status 2).
    BadInput(String),
    /// Something else failed (exit status 1).
    Failed(String),
}

impl CliError {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::BadInput(_) => EXIT_BAD_INPUT,
            Self::Failed(_) => EXIT_FAILURE,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (Self::BadInput(m) | Self::Failed(m)) = self;
        f.write_str(&m.replace(['\n', '\r'], " "))
    }
}

impl std::error::Error for CliError {}

impl From<InputError> for CliError {
    fn from(e: InputError) -> Self {
        Self::BadInput(e.to_string())
    }
}

fn output_error(e: std::io::Error) -> CliError {
    CliError::Failed(format!("cannot write output: {e}"))
}

const OPENCL_NOT_COMPILED: &str = "OpenCL support is not compiled in; rebuild with \
     `cargo build --release --features opencl` (needs the OpenCL ICD loader, Debian: \
     ocl-icd-opencl-dev)";
const INSTALL_POCL: &str = "to run OpenCL on the CPU, install PoCL (Debian/Ubuntu: \
     `apt-get install pocl-opencl-icd`), or a GPU or FPGA vendor's OpenCL driver";

/// Deterministic parallel blockchain transaction execution.
#[derive(Parser, Debug)]
#[command(name = "parex", version, about, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Sequential vs parallel TPS on the workloads, checking identical state roots.
    Bench(BenchArgs),
    /// Write a workload's genesis and blocks as JSON files.
    Gen(GenArgs),
    /// Execute a genesis and block files; print block hashes and state roots.
    Run(RunArgs),
    /// List OpenCL platforms and devices.
    Devices,
    /// Keccak-256 of one hex message per stdin line, one hex digest per line.
    Hash(HashArgs),
    /// Hashes/s per backend and batch size, with the device's break-even batch size.
    HashBench(HashBenchArgs),
}

/// Which hasher computes roots and hashes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
enum HasherArg {
    /// tiny-keccak on the CPU.
    #[default]
    Cpu,
    /// An OpenCL device (falls back to the CPU with a warning when unavailable).
    Opencl,
}

impl From<HasherArg> for HasherKind {
    fn from(h: HasherArg) -> Self {
        match h {
            HasherArg::Cpu => HasherKind::Cpu,
            HasherArg::Opencl => HasherKind::OpenCl,
        }
    }
}

#[derive(Args, Debug, Clone)]
struct HasherOpts {
    /// Hasher for state roots, transaction and receipt roots and block hashes.
    #[arg(long, value_enum, default_value_t = HasherArg::Cpu)]
    hasher: HasherArg,
    /// OpenCL device: `auto`, `P:D`, `N`, `cpu`, `gpu`, `accelerator` or a name part.
    #[arg(long, value_name = "SPEC")]
    device: Option<String>,
    /// Prebuilt OpenCL program binary to load instead of compiling the kernel (FPGA flow).
    #[arg(long, value_name = "FILE")]
    program_binary: Option<PathBuf>,
}

fn parse_workload(s: &str) -> Result<Workload, String> {
    s.parse()
}

fn per_mille(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(v) if v <= 1000 => Ok(v),
        _ => Err(format!("expected a number from 0 to 1000, got `{s}`")),
    }
}

fn positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(v) if v > 0 => Ok(v),
        _ => Err(format!("expected a positive integer, got `{s}`")),
    }
}

fn block_txs(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(v) if v > 0 && v <= blockfile::MAX_BLOCK_TXS => Ok(v),
        _ => Err(format!(
            "expected a number of transactions from 1 to {}, got `{s}`",
            blockfile::MAX_BLOCK_TXS
        )),
    }
}

#[derive(Args, Debug)]
struct WorkloadOpts {
    /// User accounts (for transfers and token: the contention knob; 2 is fully hot).
    #[arg(long, value_parser = positive)]
    accounts: Option<usize>,
    /// The workload's contention knob: AMM pools, NFT collections, DAO proposals,
    /// DePIN providers per pool, game players per match, mixed hot contracts.
    #[arg(long, value_parser = positive, value_name = "N")]
    hot: Option<usize>,
    /// Transactions per block.
    #[arg(long, value_parser = block_txs)]
    txs: Option<usize>,
    /// Blocks.
    #[arg(long, value_parser = positive)]
    blocks: Option<usize>,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Transactions per thousand that carry a declared access list.
    #[arg(long, value_parser = per_mille, default_value_t = 0, value_name = "PER_MILLE")]
    declare: u32,
    /// Transactions per thousand made to fail (bad nonce, no funds, revert, out of gas).
    #[arg(long, value_parser = per_mille, default_value_t = 10, value_name = "PER_MILLE")]
    fail: u32,
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// Run only this workload (transfers, token, amm, nft, dao, depin, game, mixed).
    #[arg(long, value_parser = parse_workload)]
    workload: Option<Workload>,
    #[command(flatten)]
    w: WorkloadOpts,
    /// Workers of the parallel engine (default: the available hardware threads).
    #[arg(long, value_parser = positive)]
    threads: Option<usize>,
    /// Measured rounds per engine after the warm-up; the median is reported.
    #[arg(long, value_parser = positive, default_value_t = bench::DEFAULT_REPEATS)]
    repeats: usize,
    #[command(flatten)]
    hashing: HasherOpts,
    /// Print one JSON document instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct GenArgs {
    /// The workload.
    #[arg(long, value_parser = parse_workload)]
    workload: Workload,
    #[command(flatten)]
    w: WorkloadOpts,
    /// Output directory (created): genesis.json and blocks/0001.json, ...
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// The genesis file.
    #[arg(long, value_name = "FILE")]
    genesis: PathBuf,
    /// A block file; repeat for a chain, in order.
    #[arg(long = "block", value_name = "FILE", required = true)]
    blocks: Vec<PathBuf>,
    /// Workers of the parallel engine (default: the available hardware threads).
    #[arg(long, value_parser = positive, conflicts_with = "sequential")]
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
    /// Capacity: most transactions a block file may hold.
    #[arg(long, value_parser = block_txs, default_value_t = blockfile::MAX_BLOCK_TXS)]
    max_txs: usize,
}

#[derive(Args, Debug)]
struct HashArgs {
    #[command(flatten)]
    hashing: HasherOpts,
}

#[derive(Args, Debug)]
struct HashBenchArgs {
    /// Message length in bytes.
    #[arg(long, default_value_t = 64)]
    msg_len: usize,
    /// Batch sizes to measure (comma-separated).
    #[arg(
        long = "batch",
        value_delimiter = ',',
        value_parser = positive,
        default_values_t = [16usize, 64, 256, 1024, 4096, 16384, 65536]
    )]
    batches: Vec<usize>,
    /// Minimum time per backend and batch size, in milliseconds.
    #[arg(long, default_value_t = 200)]
    min_ms: u64,
    /// OpenCL device (see `parex devices`).
    #[arg(long, value_name = "SPEC")]
    device: Option<String>,
    /// OpenCL chunk sizes to compare (comma-separated bytes, `K`/`M` suffixes allowed):
    /// one `opencl/SIZE` column each. Default: one `opencl` column at the default 1M.
    #[arg(long = "chunk-bytes", value_delimiter = ',', value_parser = byte_size)]
    chunk_bytes: Vec<usize>,
}

/// A positive byte count: digits with an optional `K` or `M` suffix (binary units).
fn byte_size(s: &str) -> Result<usize, String> {
    let (digits, unit) = match s.strip_suffix(['K', 'k']) {
        Some(d) => (d, 1usize << 10),
        None => match s.strip_suffix(['M', 'm']) {
            Some(d) => (d, 1 << 20),
            None => (s, 1),
        },
    };
    match digits.parse::<usize>().ok().and_then(|v| v.checked_mul(unit)) {
        Some(v) if v > 0 => Ok(v),
        _ => Err(format!("expected a positive byte count such as 65536, 64K or 16M, got `{s}`")),
    }
}

/// Runs the command line `args` (program name first) against the given streams and
/// returns the exit status. Never panics on bad input.
pub fn run<I, T>(
    args: I,
    stdin: &mut dyn BufRead,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let text = e.to_string();
            let _ = if e.use_stderr() {
                stderr.write_all(text.as_bytes())
            } else {
                stdout.write_all(text.as_bytes())
            };
            return e.exit_code();
        }
    };
    let result = match cli.command {
        Command::Bench(a) => cmd_bench(a, stdout, stderr),
        Command::Gen(a) => cmd_gen(a, stdout),
        Command::Run(a) => cmd_run(a, stdout, stderr),
        Command::Devices => cmd_devices(stdout),
        Command::Hash(a) => cmd_hash(a, stdin, stdout, stderr),
        Command::HashBench(a) => cmd_hash_bench(a, stdout, stderr),
    };
    let flushed = stdout.flush();
    match result.and_then(|()| flushed.map_err(output_error)) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            let _ = writeln!(stderr, "parex: error: {e}");
            e.exit_code()
        }
    }
}

fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The hasher a command runs with.
struct Hashing {
    hasher: Box<dyn Hasher + Send>,
    used: HasherKind,
    requested: HasherKind,
}

/// PoCL needs a writable kernel cache or it reports no device.
fn prepare_opencl_env() {
    #[cfg(feature = "opencl")]
    if std::env::var_os("POCL_CACHE_DIR").is_none() {
        let dir = std::env::temp_dir().join("parex-offload-pocl-cache");
        if std::fs::create_dir_all(&dir).is_ok() {
            std::env::set_var("POCL_CACHE_DIR", &dir);
        }
    }
}

fn device_spec(text: Option<&str>) -> Result<Option<DeviceSpec>, CliError> {
    text.map(|t| t.parse::<DeviceSpec>().map_err(|e| CliError::BadInput(format!("--device: {e}"))))
        .transpose()
}

/// Opens the requested hasher; an unavailable OpenCL device falls back to the CPU with
/// one warning line on `stderr`.
fn open_hasher(opts: &HasherOpts, stderr: &mut dyn Write) -> Result<Hashing, CliError> {
    let requested: HasherKind = opts.hasher.into();
    let cpu = || parex_offload::make_hasher(HasherKind::Cpu, None, None);
    let cpu_hashing = |requested| -> Result<Hashing, CliError> {
        let hasher = cpu().map_err(|e| CliError::Failed(format!("CPU hasher: {e}")))?;
        Ok(Hashing { hasher, used: HasherKind::Cpu, requested })
    };
    if requested == HasherKind::Cpu {
        return cpu_hashing(requested);
    }
    let spec = device_spec(opts.device.as_deref())?;
    prepare_opencl_env();
    match parex_offload::make_hasher(requested, spec.as_ref(), opts.program_binary.as_deref()) {
        Ok(hasher) => Ok(Hashing { hasher, used: requested, requested }),
        Err(OffloadError::Io { path, source }) => Err(CliError::BadInput(format!(
            "--program-binary {}: cannot read: {source}",
            path.display()
        ))),
        Err(e) => {
            let why = match e {
                OffloadError::OpenClNotCompiled => OPENCL_NOT_COMPILED.to_string(),
                e => e.to_string(),
            };
            let _ = writeln!(
                stderr,
                "parex: warning: --hasher opencl unavailable ({why}); hashing on the CPU"
            );
            cpu_hashing(requested)
        }
    }
}

fn replay_error(e: ReplayError, genesis: &Path, blocks: &[PathBuf]) -> CliError {
    match e {
        ReplayError::Genesis(g) => CliError::BadInput(format!("{}: {g}", genesis.display())),
        ReplayError::Block(i, b) => {
            let file = blocks
                .get(i)
                .map_or_else(|| format!("block {}", i + 1), |p| p.display().to_string());
            match b {
                BlockError::TooManyTransactions { .. } => {
                    CliError::BadInput(format!("{file}: transactions: {b}"))
                }
                _ => CliError::Failed(format!("{file}: block {}: {b}", i + 1)),
            }
        }
    }
}

// --------------------------------------------------------------------------------------
// bench

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

fn cmd_bench(a: BenchArgs, stdout: &mut dyn Write, stderr: &mut dyn Write) -> Result<(), CliError> {
    let start = Instant::now();
    let threads = a.threads.unwrap_or_else(available_threads);
    let workloads = match a.workload {
        Some(w) => vec![w],
        None => Workload::ALL.to_vec(),
    };
    let mut cases = Vec::new();
    for w in workloads {
        for (contention, accounts, hot) in bench::levels(w, a.w.accounts, a.w.hot) {
            let mut spec = Spec::new(
                w,
                accounts,
                a.w.txs.unwrap_or(bench::DEFAULT_TXS),
                a.w.blocks.unwrap_or(bench::DEFAULT_BLOCKS),
                a.w.seed,
            );
            spec.hot = hot;
            spec.fail_per_mille = a.w.fail;
            spec.declare_per_mille = a.w.declare;
            cases.push(Case { spec, contention, threads });
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
        .map_err(|e| {
            CliError::Failed(format!("{} ({}): {e}", case.spec.workload, case.contention))
        })?;
        runs.push(report);
    }
    bar.finish_and_clear();
    let wall = start.elapsed();
    if a.json {
        let doc = bench::BenchReport {
            version: env!("CARGO_PKG_VERSION"),
            threads_available: available_threads(),
            wall_secs: wall.as_secs_f64(),
            runs,
        };
        let text = serde_json::to_string_pretty(&doc)
            .map_err(|e| CliError::Failed(format!("JSON: {e}")))?;
        writeln!(stdout, "{text}").map_err(output_error)?;
        check_roots(&doc.runs)
    } else {
        writeln!(
            stdout,
            "parex bench: hasher {used}; median of {} rounds after a warm-up; TPS = transactions / \
             (execution + commitment) time; hashing = commitment share of the parallel time",
            a.repeats
        )
        .map_err(output_error)?;
        write!(stdout, "{}", bench::table(&runs)).map_err(output_error)?;
        writeln!(stdout, "{} runs in {:.1} s", runs.len(), wall.as_secs_f64())
            .map_err(output_error)?;
        check_roots(&runs)
    }
}

fn check_roots(runs: &[RunReport]) -> Result<(), CliError> {
    match runs.iter().find(|r| !r.roots_match) {
        None => Ok(()),
        Some(r) => Err(CliError::Failed(format!(
            "determinism violated: {} ({}): {} differs from the sequential warm-up",
            r.workload,
            r.contention,
            r.mismatch.as_deref().unwrap_or("a replay")
        ))),
    }
}

// --------------------------------------------------------------------------------------
// gen

fn write_file(path: &Path, text: &str) -> Result<(), CliError> {
    blockfile::write_atomic(path, text.as_bytes())
        .map_err(|e| CliError::Failed(format!("{}: cannot write: {e}", path.display())))
}

fn cmd_gen(a: GenArgs, stdout: &mut dyn Write) -> Result<(), CliError> {
    let mut spec = Spec::new(
        a.workload,
        a.w.accounts.unwrap_or(bench::DEFAULT_ACCOUNTS),
        a.w.txs.unwrap_or(1_000),
        a.w.blocks.unwrap_or(1),
        a.w.seed,
    );
    spec.hot = a.w.hot;
    spec.fail_per_mille = a.w.fail;
    spec.declare_per_mille = a.w.declare;
    let blocks_dir = a.out.join("blocks");
    std::fs::create_dir_all(&blocks_dir)
        .map_err(|e| CliError::Failed(format!("{}: cannot create: {e}", blocks_dir.display())))?;
    let (world, mut gen) = Generator::new(&spec);
    let genesis = a.out.join("genesis.json");
    write_file(&genesis, &blockfile::genesis_to_json(&world))?;
    for n in 1..=spec.blocks {
        let txs = gen.block();
        write_file(&block_path(&blocks_dir, n), &blockfile::block_to_json(n as u64, &txs))?;
    }
    writeln!(
        stdout,
        "wrote {} ({} accounts, {} contracts, {} storage words) and {} blocks of {} \
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

// --------------------------------------------------------------------------------------
// run

#[derive(Serialize)]
struct RunDoc {
    engine: &'static str,
    threads: usize,
    hasher: String,
    hasher_requested: String,
    genesis: GenesisDoc,
    blocks: Vec<BlockDoc>,
    state_root: String,
    block_hash: String,
}

#[derive(Serialize)]
struct GenesisDoc {
    file: String,
    state_root: String,
    accounts: usize,
    contracts: usize,
    storage: usize,
}

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
    statuses: std::collections::BTreeMap<&'static str, u64>,
    reexecutions: u64,
    fell_back: bool,
    exec_secs: f64,
    commit_secs: f64,
    receipts: Vec<ReceiptDoc>,
}

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

fn cmd_run(a: RunArgs, stdout: &mut dyn Write, stderr: &mut dyn Write) -> Result<(), CliError> {
    if let Some(dump) = &a.dump_state {
        let dir = dump.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !dir.is_dir() {
            return Err(CliError::BadInput(format!(
                "--dump-state {}: directory {} does not exist",
                dump.display(),
                dir.display()
            )));
        }
    }
    let world = blockfile::load_genesis(&a.genesis)?;
    let blocks = blockfile::load_blocks(&a.blocks, &world, a.max_txs)?;
    let mut hashing = open_hasher(&a.hashing, stderr)?;
    let threads = a.threads.unwrap_or_else(available_threads);
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
        let mut statuses = std::collections::BTreeMap::new();
        for r in &b.receipts {
            *statuses.entry(r.status.name()).or_insert(0u64) += 1;
        }
        let receipts = if a.json {
            let mut digests = vec![[0u8; 32]; txs.len()];
            tx_hashes(txs, &mut digests, hashing.hasher.as_mut(), &mut hash_bufs.scratch());
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
            fell_back: b.stats.fell_back,
            exec_secs: b.exec_time.as_secs_f64(),
            commit_secs: b.commit_time.as_secs_f64(),
            receipts,
        });
    }
    let doc = RunDoc {
        engine: if a.sequential { "sequential" } else { "parallel" },
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
    if a.json {
        let text = serde_json::to_string_pretty(&doc)
            .map_err(|e| CliError::Failed(format!("JSON: {e}")))?;
        writeln!(stdout, "{text}").map_err(output_error)?;
    } else {
        print_run(&doc, stdout).map_err(output_error)?;
    }
    if let Some(path) = &a.dump_state {
        let number = out.blocks.last().map_or(0, |b| b.header.number);
        let text = blockfile::state_to_json(number, &block_hash, &state_root, &out.state);
        blockfile::write_atomic(path, text.as_bytes()).map_err(|e| {
            CliError::Failed(format!("--dump-state {}: cannot write: {e}", path.display()))
        })?;
    }
    Ok(())
}

fn print_run(doc: &RunDoc, out: &mut dyn Write) -> std::io::Result<()> {
    let engine = if doc.engine == "parallel" {
        format!("parallel, {} threads", doc.threads)
    } else {
        "sequential".to_string()
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
        let statuses: Vec<String> = b.statuses.iter().map(|(s, n)| format!("{n} {s}")).collect();
        writeln!(
            out,
            "  receipts    {} transactions: {}; gas used {}; re-executions {}",
            b.tx_count,
            if statuses.is_empty() { "none".to_string() } else { statuses.join(", ") },
            b.gas_used,
            b.reexecutions
        )?;
    }
    writeln!(out, "final state_root {}", doc.state_root)?;
    writeln!(out, "final block_hash {}", doc.block_hash)
}

// --------------------------------------------------------------------------------------
// devices

fn cmd_devices(stdout: &mut dyn Write) -> Result<(), CliError> {
    prepare_opencl_env();
    match parex_offload::list_devices() {
        Ok(devices) if devices.is_empty() => {
            writeln!(stdout, "no OpenCL devices found; {INSTALL_POCL}").map_err(output_error)
        }
        Ok(devices) => {
            for d in devices {
                writeln!(stdout, "{d}").map_err(output_error)?;
            }
            Ok(())
        }
        Err(OffloadError::OpenClNotCompiled) => Err(CliError::Failed(OPENCL_NOT_COMPILED.into())),
        Err(e @ OffloadError::NoPlatform { .. }) => {
            writeln!(stdout, "no OpenCL platform found ({e}); {INSTALL_POCL}").map_err(output_error)
        }
        Err(e) => Err(CliError::Failed(format!("listing OpenCL devices: {e}"))),
    }
}

// --------------------------------------------------------------------------------------
// hash

/// Messages per batch handed to the hasher by `parex hash`.
pub const HASH_LINES_PER_BATCH: usize = 4096;
const HASH_BYTES_PER_BATCH: usize = 8 << 20;

struct HashBatch {
    data: Vec<u8>,
    ends: Vec<u32>,
    out: Vec<parex_core::Hash32>,
}

impl HashBatch {
    fn flush(&mut self, hasher: &mut dyn Hasher, stdout: &mut dyn Write) -> Result<(), CliError> {
        if self.ends.is_empty() {
            return Ok(());
        }
        self.out.clear();
        self.out.resize(self.ends.len(), [0; 32]);
        hasher.hash_var(&self.data, &self.ends, &mut self.out);
        let mut text = String::with_capacity(self.out.len() * 65);
        for d in &self.out {
            push_hex(&mut text, d);
            text.push('\n');
        }
        stdout.write_all(text.as_bytes()).map_err(output_error)?;
        self.data.clear();
        self.ends.clear();
        Ok(())
    }
}

fn cmd_hash(
    a: HashArgs,
    stdin: &mut dyn BufRead,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<(), CliError> {
    let mut hashing = open_hasher(&a.hashing, stderr)?;
    let hasher = hashing.hasher.as_mut();
    let mut batch = HashBatch { data: Vec::new(), ends: Vec::new(), out: Vec::new() };
    let mut line = String::new();
    let mut number = 0usize;
    loop {
        line.clear();
        number += 1;
        let n = match stdin.read_line(&mut line) {
            Ok(n) => n,
            Err(e) => {
                batch.flush(hasher, stdout)?;
                return Err(CliError::BadInput(format!("stdin:{number}: cannot read: {e}")));
            }
        };
        if n == 0 {
            break;
        }
        let msg = match parex_offload::parse_hex_line(&line) {
            Ok(m) => m,
            Err(e) => {
                // Digests of the lines before stay correct: print them, then stop.
                batch.flush(hasher, stdout)?;
                return Err(CliError::BadInput(format!(
                    "stdin:{number}:{}: bad hex: {}",
                    e.column(),
                    e.reason()
                )));
            }
        };
        if batch.data.len() + msg.len() > HASH_BYTES_PER_BATCH {
            batch.flush(hasher, stdout)?;
        }
        if msg.len() > u32::MAX as usize {
            return Err(CliError::BadInput(format!("stdin:{number}: message too long")));
        }
        batch.data.extend_from_slice(&msg);
        batch.ends.push(batch.data.len() as u32);
        if batch.ends.len() >= HASH_LINES_PER_BATCH {
            batch.flush(hasher, stdout)?;
        }
    }
    batch.flush(hasher, stdout)
}

// --------------------------------------------------------------------------------------
// hash-bench

fn cmd_hash_bench(
    a: HashBenchArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<(), CliError> {
    let spec = device_spec(a.device.as_deref())?;
    prepare_opencl_env();
    let (mut backends, skipped) =
        parex_offload::bench::default_backends(spec.as_ref(), &a.chunk_bytes);
    for s in skipped {
        let _ = match s.reason {
            SkipReason::Unavailable(OffloadError::OpenClNotCompiled) => {
                writeln!(stderr, "parex: note: backend skipped: {}: {OPENCL_NOT_COMPILED}", s.name)
            }
            _ => writeln!(stderr, "parex: note: backend skipped: {s}"),
        };
    }
    let table = parex_offload::bench_table(
        &mut backends,
        a.msg_len,
        &a.batches,
        Duration::from_millis(a.min_ms),
    );
    write!(stdout, "{table}").map_err(output_error)
}
