//! `parex testnet`: N validators as processes on 127.0.0.1 ([`init`] writes their keys,
//! genesis and configurations; [`run`] starts them, prints every height's hash as each
//! node commits it, drives a load of signed transfers through their APIs, and stops
//! them all).
//!
//! Keys are derived from their index ([`validator_key`], [`account_key`]): a testnet is
//! for testing, and a test can sign for its accounts without reading files.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use parex_core::hash::keccak256;
use parex_core::state::GenesisAccount;
use parex_core::tx::Transaction;
use parex_core::Address;
use serde_json::json;

use super::block::{account_of, SignedTx};
use super::types::PrivateKey;
use super::{NodeFile, ValidatorFile};
use crate::blockfile::{genesis_to_json, tx_to_json, HexBytes};
use crate::workload::{World, TRANSFER_GAS};

/// The secret key of validator `i`.
pub fn validator_key(i: usize) -> [u8; 32] {
    derived(b"parex-testnet-validator", i)
}

/// The secret key of test account `i`.
pub fn account_key(i: usize) -> [u8; 32] {
    derived(b"parex-testnet-account", i)
}

fn derived(tag: &[u8], i: usize) -> [u8; 32] {
    let mut b = tag.to_vec();
    b.extend_from_slice(&(i as u64).to_le_bytes());
    keccak256(&b)
}

/// Every test account's balance at genesis.
pub const ACCOUNT_BALANCE: u64 = 1 << 50;

/// What [`init`] wrote.
pub struct Layout {
    /// Each validator's home directory.
    pub homes: Vec<PathBuf>,
    /// Each validator's API address.
    pub apis: Vec<SocketAddr>,
}

/// `n` ports free on 127.0.0.1 now.
fn free_ports(n: usize) -> Result<Vec<u16>, String> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    listeners.iter().map(|l| l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())).collect()
}

fn hex(b: &[u8]) -> HexBytes {
    HexBytes(b.to_vec())
}

/// Writes a testnet of `validators` validators and `accounts` funded accounts in `dir`
/// (which must not hold one already): `genesis.json`, and `node<i>/config.json` for
/// each validator, with free ports on 127.0.0.1.
pub fn init(
    dir: &Path,
    validators: usize,
    accounts: usize,
    threads: usize,
    max_block_txs: usize,
    block_time_ms: u64,
) -> Result<Layout, String> {
    if dir.join("genesis.json").exists() {
        return Err(format!(
            "{} holds a testnet already: remove it, or choose another",
            dir.display()
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut world = World { beneficiary: Address(0xFEE), ..World::default() };
    for i in 0..accounts {
        let addr = account_of(&PrivateKey::from(account_key(i)).public_key());
        world.accounts.push(GenesisAccount { addr, balance: ACCOUNT_BALANCE, nonce: 0 });
    }
    world.accounts.sort_by_key(|a| a.addr);
    world.accounts.dedup_by_key(|a| a.addr);
    crate::blockfile::write_atomic(&dir.join("genesis.json"), genesis_to_json(&world).as_bytes())
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let ports = free_ports(2 * validators)?;
    let p2p = |i: usize| format!("/ip4/127.0.0.1/tcp/{}", ports[i]);
    let keys: Vec<PrivateKey> =
        (0..validators).map(|i| PrivateKey::from(validator_key(i))).collect();
    let set: Vec<ValidatorFile> = keys
        .iter()
        .map(|k| ValidatorFile { public_key: hex(k.public_key().as_bytes()), power: 1 })
        .collect();
    let mut layout = Layout { homes: Vec::new(), apis: Vec::new() };
    for i in 0..validators {
        let home = dir.join(format!("node{i}"));
        std::fs::create_dir_all(&home).map_err(|e| format!("{}: {e}", home.display()))?;
        let api: SocketAddr = ([127, 0, 0, 1], ports[validators + i]).into();
        let cfg = NodeFile {
            moniker: format!("node{i}"),
            key: hex(&validator_key(i)),
            genesis: PathBuf::from("../genesis.json"),
            validators: set.clone(),
            listen: p2p(i),
            peers: (0..validators).filter(|&j| j != i).map(p2p).collect(),
            api: api.to_string(),
            threads,
            max_block_txs,
            timeout_propose_ms: 1_000,
            timeout_vote_ms: 500,
            block_time_ms,
        };
        let text = serde_json::to_string_pretty(&cfg).map_err(|e| e.to_string())?;
        crate::blockfile::write_atomic(&home.join("config.json"), text.as_bytes())
            .map_err(|e| format!("{}: {e}", home.display()))?;
        layout.homes.push(home);
        layout.apis.push(api);
    }
    Ok(layout)
}

/// One line a node prints when it commits a height.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitLine {
    /// Height.
    pub height: u64,
    /// Block hash, as printed.
    pub hash: String,
    /// Transactions in the block.
    pub txs: u64,
    /// The round it was decided in.
    pub round: i64,
    /// Its proposer's address.
    pub proposer: String,
}

/// The [`CommitLine`] of a node's output line, if it is one.
pub fn commit_line(line: &str) -> Option<CommitLine> {
    let mut fields = line.strip_prefix("committed ")?.split(' ');
    let mut get =
        |name: &str| fields.next()?.strip_prefix(name)?.strip_prefix('=').map(str::to_string);
    let height = get("height")?.parse().ok()?;
    let hash = get("hash")?;
    let txs = get("txs")?.parse().ok()?;
    let round = get("round")?.parse().ok()?;
    let proposer = get("proposer")?;
    Some(CommitLine { height, hash, txs, round, proposer })
}

/// Starts `parex node --home HOME` (this executable), its stdout read into `commits`
/// (with the node's index), its stderr to `HOME/node.log`.
pub fn spawn_node(
    exe: &Path,
    home: &Path,
    index: usize,
    commits: mpsc::Sender<(usize, CommitLine)>,
    extra: &[&str],
) -> Result<Child, String> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(home.join("node.log"))
        .map_err(|e| format!("{}: {e}", home.display()))?;
    let mut child = Command::new(exe)
        .arg("node")
        .arg("--home")
        .arg(home)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    if let Some(out) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(c) = commit_line(&line) {
                    if commits.send((index, c)).is_err() {
                        return;
                    }
                }
            }
        });
    }
    Ok(child)
}

/// A signed transfer of 1 unit from test account `from` (its `nonce`) to test
/// account `to`, as the API takes it.
pub fn transfer_body(from: usize, nonce: u64, to: usize) -> serde_json::Value {
    let key = PrivateKey::from(account_key(from));
    let to = account_of(&PrivateKey::from(account_key(to)).public_key());
    let tx = Transaction::transfer(account_of(&key.public_key()), nonce, to, 1, TRANSFER_GAS, 1);
    let signed = SignedTx::sign(tx, &key);
    json!({
        "tx": tx_to_json(&signed.transaction()),
        "public_key": hex(&signed.public_key),
        "signature": hex(&signed.signature),
    })
}

/// What `parex testnet` runs.
pub struct Options {
    /// Validators.
    pub validators: usize,
    /// Where their files go.
    pub dir: PathBuf,
    /// Stop once every node committed this many heights.
    pub heights: Option<u64>,
    /// Transfers submitted per second (0: none).
    pub txs_per_sec: u64,
    /// Funded test accounts.
    pub accounts: usize,
    /// Workers per node.
    pub threads: usize,
    /// Most transactions per block.
    pub max_block_txs: usize,
    /// The least time a height takes (milliseconds; 0: none).
    pub block_time_ms: u64,
}

/// Runs a testnet until `opts.heights` heights are committed everywhere or Ctrl-C:
/// prints each height's hash per node, then what was finalized.
pub fn run(opts: &Options, out: &mut dyn Write) -> Result<(), String> {
    let layout = init(
        &opts.dir,
        opts.validators,
        opts.accounts,
        opts.threads,
        opts.max_block_txs,
        opts.block_time_ms,
    )?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let (tx, commits) = mpsc::channel();
    let mut children = Vec::new();
    for (i, home) in layout.homes.iter().enumerate() {
        match spawn_node(&exe, home, i, tx.clone(), &[]) {
            Ok(c) => children.push(c),
            Err(e) => {
                stop(&mut children);
                return Err(e);
            }
        }
    }
    drop(tx);
    let stopping = Arc::new(AtomicBool::new(false));
    let on_signal = stopping.clone();
    // A second testnet in one process keeps the first handler: it is the same flag's job.
    let _ = ctrlc::set_handler(move || on_signal.store(true, Ordering::SeqCst));
    let submitted = Arc::new(AtomicU64::new(0));
    // One client per node, each for the accounts whose transactions go to it.
    let n = layout.apis.len();
    let load: Vec<_> = (0..n)
        .filter(|_| opts.txs_per_sec > 0)
        .map(|node| {
            let api = layout.apis[node];
            let (rate, accounts) = (opts.txs_per_sec.div_ceil(n as u64), opts.accounts);
            let (stop, count) = (stopping.clone(), submitted.clone());
            std::thread::spawn(move || drive(api, node, n, rate, accounts, &stop, &count))
        })
        .collect();
    let _ = writeln!(
        out,
        "testnet: {} validators in {} (APIs {})",
        opts.validators,
        opts.dir.display(),
        layout.apis.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ")
    );
    let started = Instant::now();
    let mut seen: BTreeMap<u64, Vec<Option<CommitLine>>> = BTreeMap::new();
    let (mut printed, mut txs, mut first_at) = (0u64, 0u64, None);
    let mut last_at = started;
    let outcome = loop {
        if stopping.load(Ordering::SeqCst) {
            break Ok(());
        }
        match commits.recv_timeout(Duration::from_millis(200)) {
            Ok((node, c)) => {
                let row = seen.entry(c.height).or_insert_with(|| vec![None; opts.validators]);
                row[node] = Some(c);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break Err("every node stopped".to_string())
            }
        }
        // Print heights in order, once every node has committed them.
        while let Some(row) = seen.get(&(printed + 1)) {
            if row.iter().any(Option::is_none) {
                break;
            }
            printed += 1;
            let hashes: Vec<&str> = row.iter().flatten().map(|c| c.hash.as_str()).collect();
            let n = row[0].as_ref().map_or(0, |c| c.txs);
            let agree = hashes.windows(2).all(|w| w[0] == w[1]);
            let per_node: Vec<String> = hashes
                .iter()
                .enumerate()
                .map(|(i, h)| format!("node{i} {}…", h.get(..12).unwrap_or(h)))
                .collect();
            let verdict = if agree { "agree" } else { "DISAGREE" };
            let _ = writeln!(
                out,
                "height {printed:>4}  txs {n:>5}  {}  {verdict}",
                per_node.join("  ")
            );
            let _ = out.flush();
            txs += n;
            first_at.get_or_insert_with(Instant::now);
            last_at = Instant::now();
            if !agree {
                break;
            }
        }
        if opts.heights.is_some_and(|h| printed >= h) {
            break Ok(());
        }
    };
    stopping.store(true, Ordering::SeqCst);
    stop(&mut children);
    for l in load {
        let _ = l.join();
    }
    let secs = first_at.map_or(0.0, |f| last_at.duration_since(f).as_secs_f64());
    let per_height = if printed > 1 { secs / (printed - 1) as f64 } else { 0.0 };
    let tps = if secs > 0.0 { txs as f64 / secs } else { 0.0 };
    let _ = writeln!(
        out,
        "finalized {printed} heights, {txs} transactions ({} submitted) in {:.1} s: {:.0} ms a height, {:.0} TPS",
        submitted.load(Ordering::SeqCst),
        started.elapsed().as_secs_f64(),
        per_height * 1e3,
        tps
    );
    outcome
}

fn stop(children: &mut [Child]) {
    for c in children.iter_mut() {
        let _ = c.kill();
    }
    for c in children.iter_mut() {
        let _ = c.wait();
    }
}

/// Submits `rate` transfers a second to the node at `api` (number `node` of `nodes`)
/// until `stop`: from the test accounts `i` with `i mod nodes == node`, so each sender's
/// nonces wait in one mempool, in order.
fn drive(
    api: SocketAddr,
    node: usize,
    nodes: usize,
    rate: u64,
    accounts: usize,
    stop: &AtomicBool,
    count: &AtomicU64,
) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(2)))
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("http://{api}/tx");
    let senders: Vec<usize> = (node..accounts).step_by(nodes).collect();
    if senders.is_empty() {
        return;
    }
    let mut nonces = vec![0u64; senders.len()];
    let started = Instant::now();
    let (mut sent, mut next) = (0u64, 0usize);
    while !stop.load(Ordering::SeqCst) {
        let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
        if sent >= due {
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        let from = senders[next];
        let body = transfer_body(from, nonces[next], (from + 1) % accounts);
        if let Ok(r) = agent.post(&url).send_json(&body) {
            if r.status().as_u16() == 202 {
                nonces[next] += 1;
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        sent += 1;
        next = (next + 1) % senders.len();
    }
}
