//! [`CliError`]: what ended a command, and the exit status it ends with.

use std::fmt;
use std::io;
use std::path::PathBuf;

use clap::error::ErrorKind;
use parex_core::error::{BlockError, GenesisError};
use parex_offload::{HexError, OffloadError};

use crate::blockfile::InputError;
use crate::chain::ReplayError;
use crate::shard::{ShardBenchError, ShardedError};
use crate::workload::Workload;

/// Exit status: success.
pub const EXIT_OK: i32 = 0;
/// Exit status: a failure that is not the input's fault.
pub const EXIT_FAILURE: i32 = 1;
/// Exit status: bad input (usage, files, hex).
pub const EXIT_BAD_INPUT: i32 = 2;

/// What ended a command. [`CliError::exit_code`] chooses the exit status from the variant;
/// `Display` is the one line printed after `parex: error: ` (for a [`CliError::Usage`],
/// clap's first line).
#[derive(Debug)]
pub enum CliError {
    /// The command line does not parse (exit status 2).
    Usage(clap::Error),
    /// A genesis or block file is unreadable or invalid (exit status 2).
    Input(InputError),
    /// `--device` does not parse (exit status 2).
    DeviceSpec(OffloadError),
    /// `--program-binary` cannot be read (exit status 2).
    ProgramBinary {
        /// The file.
        path: PathBuf,
        /// Why it cannot be read.
        source: io::Error,
    },
    /// `--dump-state` names a directory, not a file (exit status 2).
    DumpStateIsDir {
        /// The path given.
        file: PathBuf,
    },
    /// `--dump-state` names a file in a directory that does not exist (exit status 2).
    DumpStateDir {
        /// The file given.
        file: PathBuf,
        /// Its directory.
        dir: PathBuf,
    },
    /// The engine refuses the genesis (exit status 2).
    Genesis {
        /// The genesis file.
        file: PathBuf,
        /// Why.
        error: GenesisError,
    },
    /// A block holds more transactions than the engine takes (exit status 2).
    BlockCapacity {
        /// The block file.
        file: String,
        /// The engine's error ([`BlockError::TooManyTransactions`]).
        error: BlockError,
    },
    /// `hash`: stdin cannot be read (exit status 2).
    Stdin {
        /// The 1-based line being read.
        line: usize,
        /// Why.
        source: io::Error,
    },
    /// `hash`: a line of stdin is not hex (exit status 2).
    Hex {
        /// The 1-based line.
        line: usize,
        /// Where in the line and what is wrong.
        error: HexError,
    },
    /// `hash`: a message longer than a batch can address (exit status 2).
    MessageTooLong {
        /// The 1-based line.
        line: usize,
    },
    /// Standard output cannot be written (exit status 1).
    Output(io::Error),
    /// A JSON document cannot be produced (exit status 1).
    Json(serde_json::Error),
    /// `gen`: a directory cannot be created (exit status 1).
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// `gen`: a file cannot be written (exit status 1).
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// `run`: the `--dump-state` file cannot be written (exit status 1).
    DumpState {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// `run`: the engine rejected a block (exit status 1).
    Block {
        /// The block file.
        file: String,
        /// The block's 1-based position in the chain.
        number: usize,
        /// The engine's error.
        error: BlockError,
    },
    /// `bench`: a replay of a generated chain failed (exit status 1).
    Bench {
        /// The workload.
        workload: Workload,
        /// Its contention level (`low`, `high`, `custom`).
        contention: &'static str,
        /// The replay's error.
        error: ReplayError,
    },
    /// `bench`: a replay's roots differ from the sequential warm-up's (exit status 1).
    RootsDiffer {
        /// The workload.
        workload: String,
        /// Its contention level.
        contention: &'static str,
        /// The first difference, when known.
        mismatch: Option<String>,
    },
    /// A sharded chain stopped: a message refused or a genesis or block unusable (exit
    /// status 2), or a block failed in its engine (exit status 1).
    Sharded(ShardedError),
    /// `bench --shards`: a replay failed (exit status 1).
    ShardBench(ShardBenchError),
    /// The CPU hasher cannot be built (exit status 1).
    CpuHasher(OffloadError),
    /// `devices` in a build without the `opencl` feature (exit status 1).
    OpenClNotCompiled,
    /// `devices`: listing the OpenCL devices failed (exit status 1).
    Devices(OffloadError),
    /// `node` or `testnet` failed while running (exit status 1).
    Node(String),
}

impl CliError {
    /// The process exit status for this error: [`EXIT_BAD_INPUT`] when the input is
    /// wrong, else [`EXIT_FAILURE`].
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Usage(_)
            | Self::Input(_)
            | Self::DeviceSpec(_)
            | Self::ProgramBinary { .. }
            | Self::DumpStateDir { .. }
            | Self::DumpStateIsDir { .. }
            | Self::Genesis { .. }
            | Self::BlockCapacity { .. }
            | Self::Stdin { .. }
            | Self::Hex { .. }
            | Self::MessageTooLong { .. } => EXIT_BAD_INPUT,
            Self::Sharded(ShardedError::Block { .. }) => EXIT_FAILURE,
            Self::Sharded(_) => EXIT_BAD_INPUT,
            Self::Output(_)
            | Self::Json(_)
            | Self::CreateDir { .. }
            | Self::Write { .. }
            | Self::DumpState { .. }
            | Self::Block { .. }
            | Self::Bench { .. }
            | Self::ShardBench(_)
            | Self::RootsDiffer { .. }
            | Self::CpuHasher(_)
            | Self::OpenClNotCompiled
            | Self::Devices(_)
            | Self::Node(_) => EXIT_FAILURE,
        }
    }

    fn message(&self, f: &mut dyn fmt::Write) -> fmt::Result {
        match self {
            // clap's message (`error: ...` and the lines that complete it) on one line,
            // then its `Usage:` line if it has one, and a pointer to `--help` instead of
            // the rest. With no command at all, clap renders the whole help instead.
            Self::Usage(e) => {
                let text = e.render().to_string();
                let lines: Vec<&str> =
                    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
                let usage = lines.iter().find(|l| l.starts_with("Usage:"));
                let message = if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    "no command given".to_string()
                } else {
                    let body = lines
                        .iter()
                        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more"));
                    let body = body.copied().collect::<Vec<_>>().join(" ");
                    body.strip_prefix("error:").unwrap_or(&body).trim().to_string()
                };
                match usage {
                    Some(usage) => write!(f, "{message} ({usage}; see --help)"),
                    None => write!(f, "{message} (see --help)"),
                }
            }
            Self::Input(e) => write!(f, "{e}"),
            Self::DeviceSpec(e) => write!(f, "--device: {e}"),
            Self::ProgramBinary { path, source } => {
                write!(f, "--program-binary {}: cannot read: {source}", path.display())
            }
            Self::DumpStateIsDir { file } => {
                write!(f, "--dump-state {}: is a directory, not a file", file.display())
            }
            Self::DumpStateDir { file, dir } => write!(
                f,
                "--dump-state {}: directory {} does not exist",
                file.display(),
                dir.display()
            ),
            Self::Genesis { file, error } => write!(f, "{}: {error}", file.display()),
            Self::BlockCapacity { file, error } => write!(f, "{file}: transactions: {error}"),
            Self::Stdin { line, source } => write!(f, "stdin:{line}: cannot read: {source}"),
            Self::Hex { line, error } => {
                write!(f, "stdin:{line}:{}: bad hex: {}", error.column(), error.reason())
            }
            Self::MessageTooLong { line } => write!(f, "stdin:{line}: message too long"),
            Self::Output(e) => write!(f, "cannot write output: {e}"),
            Self::Json(e) => write!(f, "JSON: {e}"),
            Self::CreateDir { path, source } => {
                write!(f, "{}: cannot create: {source}", path.display())
            }
            Self::Write { path, source } => write!(f, "{}: cannot write: {source}", path.display()),
            Self::DumpState { path, source } => {
                write!(f, "--dump-state {}: cannot write: {source}", path.display())
            }
            Self::Block { file, number, error } => write!(f, "{file}: block {number}: {error}"),
            Self::Bench { workload, contention, error } => {
                write!(f, "{workload} ({contention}): {error}")
            }
            Self::RootsDiffer { workload, contention, mismatch } => write!(
                f,
                "determinism violated: {workload} ({contention}): {} differs from the \
                 sequential warm-up",
                mismatch.as_deref().unwrap_or("a replay")
            ),
            Self::Sharded(e) => write!(f, "{e}"),
            Self::ShardBench(e) => write!(f, "bench: {e}"),
            Self::CpuHasher(e) => write!(f, "CPU hasher: {e}"),
            Self::OpenClNotCompiled => f.write_str(OPENCL_NOT_COMPILED),
            Self::Devices(e) => write!(f, "listing OpenCL devices: {e}"),
            Self::Node(e) => f.write_str(e),
        }
    }
}

/// Writes through to a formatter with every line break turned into a space.
struct OneLine<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl fmt::Write for OneLine<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for (i, part) in s.split(['\n', '\r']).enumerate() {
            if i > 0 {
                self.0.write_char(' ')?;
            }
            self.0.write_str(part)?;
        }
        Ok(())
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.message(&mut OneLine(f))
    }
}

impl std::error::Error for CliError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Usage(e) => Some(e),
            Self::Input(e) => Some(e),
            Self::DeviceSpec(e) | Self::CpuHasher(e) | Self::Devices(e) => Some(e),
            Self::ProgramBinary { source, .. }
            | Self::Stdin { source, .. }
            | Self::CreateDir { source, .. }
            | Self::Write { source, .. }
            | Self::DumpState { source, .. }
            | Self::Output(source) => Some(source),
            Self::Genesis { error, .. } => Some(error),
            Self::BlockCapacity { error, .. } | Self::Block { error, .. } => Some(error),
            Self::Hex { error, .. } => Some(error),
            Self::Json(e) => Some(e),
            Self::Bench { error, .. } => Some(error),
            Self::Sharded(e) => Some(e),
            Self::ShardBench(e) => Some(e),
            Self::DumpStateDir { .. }
            | Self::DumpStateIsDir { .. }
            | Self::MessageTooLong { .. }
            | Self::Node(_)
            | Self::RootsDiffer { .. }
            | Self::OpenClNotCompiled => None,
        }
    }
}

impl From<InputError> for CliError {
    fn from(e: InputError) -> Self {
        Self::Input(e)
    }
}

/// [`CliError::Output`], for `map_err` on writes to standard output.
pub(super) fn output_error(e: io::Error) -> CliError {
    CliError::Output(e)
}

/// How to get OpenCL into a build without it.
const OPENCL_NOT_COMPILED: &str = "OpenCL support is not compiled in; rebuild with \
     `cargo build --release --features opencl` (needs the OpenCL ICD loader, Debian: \
     ocl-icd-opencl-dev)";

/// Why OpenCL is not used, as the CLI says it: for a build without the `opencl` feature
/// how to rebuild, else the error itself.
pub(super) struct OffloadReason<'a>(pub(super) &'a OffloadError);

impl fmt::Display for OffloadReason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            OffloadError::OpenClNotCompiled => f.write_str(OPENCL_NOT_COMPILED),
            e => fmt::Display::fmt(e, f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line_and_statuses_follow_the_variant() {
        let e = CliError::Devices(OffloadError::Build {
            device: "d".into(),
            status: -11,
            log: "line 1\nline 2\r\n".into(),
        });
        assert_eq!(e.exit_code(), EXIT_FAILURE);
        assert!(!e.to_string().contains(['\n', '\r']), "{e}");
        assert!(e.to_string().starts_with("listing OpenCL devices: building"), "{e}");
        let e = CliError::Hex { line: 2, error: HexError::InvalidChar { column: 3, ch: 'z' } };
        assert_eq!(e.exit_code(), EXIT_BAD_INPUT);
        assert_eq!(e.to_string(), "stdin:2:3: bad hex: 'z' is not a hex digit");
        let e = CliError::RootsDiffer { workload: "amm".into(), contention: "low", mismatch: None };
        assert_eq!(
            e.to_string(),
            "determinism violated: amm (low): a replay differs from the sequential warm-up"
        );
        assert!(CliError::OpenClNotCompiled.to_string().contains("--features opencl"));
        let usage =
            <super::super::Cli as clap::Parser>::try_parse_from(["parex", "bench", "--txs", "0"])
                .expect_err("a usage error");
        let e = CliError::Usage(usage);
        assert_eq!(e.exit_code(), EXIT_BAD_INPUT);
        assert_eq!(
            e.to_string(),
            "invalid value '0' for '--txs <N[,N...]>': expected a number of transactions from 1 to \
             1000000, got `0` (see --help)"
        );
        assert_eq!(
            OffloadReason(&OffloadError::OpenClNotCompiled).to_string(),
            CliError::OpenClNotCompiled.to_string()
        );
    }
}
