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
//!
//! One file a command (`bench.rs`, `gen.rs`, `run.rs`, `devices.rs`, `hash.rs`,
//! `hash_bench.rs`), each with its arguments and an `execute`; `error.rs` has
//! [`CliError`], `args.rs` the argument parsers and options the commands share,
//! `hashing.rs` the `--hasher` options and how a hasher is opened.

use std::ffi::OsString;
use std::io::{BufRead, Write};

use clap::{Parser, Subcommand};
use serde::Serialize;

mod args;
mod bench;
mod devices;
mod error;
mod gen;
mod hash;
mod hash_bench;
mod hashing;
#[cfg(feature = "node")]
mod node;
mod run;
mod run_shards;

use error::output_error;
pub use error::{CliError, EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK};
pub use hash::HASH_LINES_PER_BATCH;

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
    Bench(bench::BenchArgs),
    /// Write a workload's genesis and blocks as JSON files.
    Gen(gen::GenArgs),
    /// Execute a genesis and block files; print block hashes and state roots.
    Run(run::RunArgs),
    /// List OpenCL platforms and devices.
    Devices,
    /// Keccak-256 of one hex message per stdin line, one hex digest per line.
    Hash(hash::HashArgs),
    /// Hashes/s per backend and batch size, with the device's break-even batch size.
    HashBench(hash_bench::HashBenchArgs),
    /// One validator of a replicated chain on the Malachite BFT engine (`docs/node.md`).
    #[cfg(feature = "node")]
    Node(node::NodeArgs),
    /// Validators as processes on 127.0.0.1, with a load; prints each height's hash per
    /// node (`docs/node.md`).
    #[cfg(feature = "node")]
    Testnet(node::TestnetArgs),
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
        // `--help` and `--version` come back as clap errors that are not errors.
        Err(e) if !e.use_stderr() => {
            let _ = write!(stdout, "{e}");
            return EXIT_OK;
        }
        Err(e) => return report(&CliError::Usage(e), stderr),
    };
    let result = match cli.command {
        Command::Bench(a) => bench::execute(a, stdout, stderr),
        Command::Gen(a) => gen::execute(a, stdout),
        Command::Run(a) => run::execute(a, stdout, stderr),
        Command::Devices => devices::execute(stdout),
        Command::Hash(a) => hash::execute(a, stdin, stdout, stderr),
        Command::HashBench(a) => hash_bench::execute(a, stdout, stderr),
        #[cfg(feature = "node")]
        Command::Node(a) => node::node(a),
        #[cfg(feature = "node")]
        Command::Testnet(a) => node::testnet(a, stdout),
    };
    let flushed = stdout.flush();
    match result.and_then(|()| flushed.map_err(output_error)) {
        Ok(()) => EXIT_OK,
        // The reader went away (`parex run | head`): it has what it wanted; as for other
        // tools in a pipe, that is no error.
        Err(CliError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => EXIT_OK,
        Err(e) => report(&e, stderr),
    }
}

/// Writes `doc` to `stdout` as pretty-printed JSON and a newline.
fn print_json<T: Serialize>(doc: &T, stdout: &mut dyn Write) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(doc).map_err(CliError::Json)?;
    writeln!(stdout, "{text}").map_err(output_error)
}

/// Prints `e` on `stderr` as one line and returns its exit status.
fn report(e: &CliError, stderr: &mut dyn Write) -> i32 {
    let _ = writeln!(stderr, "parex: error: {e}");
    e.exit_code()
}
