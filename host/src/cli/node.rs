//! `parex node` and `parex testnet` (feature `node`; `docs/node.md`).

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::CliError;
use crate::blockfile::InputError;
use crate::node::app::Byzantine;
use crate::node::{run_node, testnet, NodeError};

#[derive(Args, Debug)]
pub(super) struct NodeArgs {
    /// The validator's home directory: its `config.json`, and where it keeps its store
    /// and consensus log.
    #[arg(long, value_name = "DIR")]
    home: PathBuf,
    /// Misbehave, for tests: propose blocks whose header claims a wrong state root.
    #[arg(long, value_enum, hide = true)]
    byzantine: Option<ByzantineArg>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ByzantineArg {
    WrongRoot,
}

#[derive(Args, Debug)]
pub(super) struct TestnetArgs {
    /// Validators (each a process).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    validators: u16,
    /// Directory for the genesis, keys and configurations, and each node's store; it
    /// must not hold a testnet already.
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// Stop once every node committed this many heights (default: run until Ctrl-C).
    #[arg(long)]
    heights: Option<u64>,
    /// Signed transfers submitted per second through the nodes' APIs.
    #[arg(long, default_value_t = 0)]
    txs_per_sec: u64,
    /// Funded test accounts in the genesis (their keys follow from their index).
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(2..=1_000_000))]
    accounts: u32,
    /// Workers per node that execute a block.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=512))]
    threads: u16,
    /// Most transactions in one block.
    #[arg(long, default_value_t = 10_000)]
    max_block_txs: usize,
    /// The least time a height takes, in milliseconds (0: as fast as consensus goes);
    /// longer heights make fewer, larger blocks.
    #[arg(long, default_value_t = 0)]
    block_time_ms: u64,
    /// Write the files and stop (start each node with `parex node --home DIR/node<i>`).
    #[arg(long)]
    init_only: bool,
}

fn node_error(e: NodeError) -> CliError {
    match e {
        NodeError::Input(e) => CliError::Input(e),
        NodeError::Run(e) => CliError::Node(e),
    }
}

/// `parex node`.
pub(super) fn node(a: NodeArgs) -> Result<(), CliError> {
    let byzantine = a.byzantine.map(|ByzantineArg::WrongRoot| Byzantine::WrongRoot);
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
    run_node(&a.home, byzantine).map_err(node_error)
}

/// `parex testnet`.
pub(super) fn testnet(a: TestnetArgs, stdout: &mut dyn Write) -> Result<(), CliError> {
    let (validators, accounts) = (a.validators as usize, a.accounts as usize);
    if a.dir.join("genesis.json").exists() {
        // Bad input (exit 2), found before anything is written or started.
        let message = "holds a testnet already: remove it, or choose another directory";
        return Err(CliError::Input(InputError::file(a.dir.display().to_string(), message)));
    }
    if a.init_only {
        let layout = testnet::init(
            &a.dir,
            validators,
            accounts,
            a.threads as usize,
            a.max_block_txs,
            a.block_time_ms,
        )
        .map_err(CliError::Node)?;
        for (home, api) in layout.homes.iter().zip(&layout.apis) {
            writeln!(stdout, "{} api {api}", home.display()).map_err(super::output_error)?;
        }
        return Ok(());
    }
    let opts = testnet::Options {
        validators,
        dir: a.dir,
        heights: a.heights,
        txs_per_sec: a.txs_per_sec,
        accounts,
        threads: a.threads as usize,
        max_block_txs: a.max_block_txs,
        block_time_ms: a.block_time_ms,
    };
    testnet::run(&opts, stdout).map_err(CliError::Node)
}
