//! Validators as a user of a BFT chain would test them: real `parex node` processes on
//! 127.0.0.1 (the binary of this build, feature `node`), killed and restarted with
//! SIGKILL, driven through their HTTP API.
//!
//! Each test is bounded in time, and the tests run one at a time (they share the
//! machine's cores with the nodes).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{mpsc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use parex_host::node::testnet::{self, account_key, spawn_node, transfer_body, CommitLine};
use parex_host::node::types::{PrivateKey, ValidatorAddress};
use serde_json::Value;

/// One test at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// A testnet under a test's control.
struct Net {
    dir: PathBuf,
    homes: Vec<PathBuf>,
    apis: Vec<SocketAddr>,
    nodes: Vec<Option<Child>>,
    tx: mpsc::Sender<(usize, CommitLine)>,
    commits: mpsc::Receiver<(usize, CommitLine)>,
    /// Per node: height → what it printed when it committed it.
    seen: Vec<BTreeMap<u64, CommitLine>>,
    agent: ureq::Agent,
}

impl Net {
    fn new(name: &str, validators: usize) -> Self {
        let dir = std::env::temp_dir().join(format!("parex-node-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let layout = testnet::init(&dir, validators, 40, 1, 1_000, 0).expect("testnet files");
        let (tx, commits) = mpsc::channel();
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            dir,
            homes: layout.homes,
            apis: layout.apis,
            nodes: (0..validators).map(|_| None).collect(),
            tx,
            commits,
            seen: vec![BTreeMap::new(); validators],
            agent,
        }
    }

    fn start(&mut self, i: usize, extra: &[&str]) {
        let exe = Path::new(env!("CARGO_BIN_EXE_parex"));
        let child =
            spawn_node(exe, &self.homes[i], i, self.tx.clone(), extra).expect("node starts");
        self.nodes[i] = Some(child);
    }

    fn start_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.start(i, &[]);
        }
    }

    /// SIGKILL.
    fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn pump(&mut self, wait: Duration) {
        if let Ok((i, c)) = self.commits.recv_timeout(wait) {
            self.seen[i].insert(c.height, c);
        }
        while let Ok((i, c)) = self.commits.try_recv() {
            self.seen[i].insert(c.height, c);
        }
    }

    fn height(&self, i: usize) -> u64 {
        self.seen[i].keys().next_back().copied().unwrap_or(0)
    }

    /// Waits until every node of `nodes` committed `height`; false after `limit`.
    fn wait_for(&mut self, nodes: &[usize], height: u64, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if nodes.iter().all(|&i| self.height(i) >= height) {
                return true;
            }
            self.pump(Duration::from_millis(100));
        }
        false
    }

    fn get(&self, i: usize, path: &str) -> (u16, Value) {
        let url = format!("http://{}{path}", self.apis[i]);
        match self.agent.get(&url).call() {
            Ok(mut r) => (r.status().as_u16(), r.body_mut().read_json().unwrap_or(Value::Null)),
            Err(e) => panic!("GET {url}: {e}"),
        }
    }

    fn post(&self, i: usize, body: &[u8]) -> (u16, String) {
        let url = format!("http://{}/tx", self.apis[i]);
        let r = self.agent.post(&url).header("content-type", "application/json").send(body);
        match r {
            Ok(mut r) => (r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default()),
            Err(e) => panic!("POST {url}: {e}"),
        }
    }

    /// The block hashes node `i` serves for heights 1 to `top`.
    fn stored(&self, i: usize, top: u64) -> Vec<String> {
        (1..=top)
            .map(|h| {
                let (status, b) = self.get(i, &format!("/block/{h}"));
                assert_eq!(status, 200, "node {i} has no block {h}: {b}");
                b["hash"].as_str().unwrap_or_default().to_string()
            })
            .collect()
    }

    /// Node `i`'s log, for a failure's message.
    fn log(&self, i: usize) -> String {
        let text = std::fs::read_to_string(self.homes[i].join("node.log")).unwrap_or_default();
        text.lines().rev().take(15).collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const MINUTE: Duration = Duration::from_secs(60);

/// Four validators finalize twenty heights with the same hash at every height on every
/// node, and each submitted transaction lands in exactly one block, with its receipt.
#[test]
fn four_validators_agree_at_every_height_and_take_each_transaction_once() {
    let _serial = serial();
    let mut net = Net::new("agree", 4);
    net.start_all();
    assert!(net.wait_for(&[0, 1, 2, 3], 2, MINUTE), "no start: {}", net.log(0));
    let mut hashes = Vec::new();
    for from in 0..20 {
        for nonce in 0..3 {
            let body = transfer_body(from, nonce, (from + 7) % 40);
            let (status, text) = net.post(from % 4, body.to_string().as_bytes());
            assert_eq!(status, 202, "{text}");
            let v: Value = serde_json::from_str(&text).unwrap();
            hashes.push(v["hash"].as_str().unwrap().to_string());
        }
    }
    assert!(net.wait_for(&[0, 1, 2, 3], 20, 2 * MINUTE), "stalled: {}", net.log(0));
    let top = (0..4).map(|i| net.height(i)).min().unwrap();
    for h in 1..=top {
        let at: Vec<&str> = (0..4).map(|i| net.seen[i][&h].hash.as_str()).collect();
        assert!(at.windows(2).all(|w| w[0] == w[1]), "height {h}: {at:?}");
    }
    // Every transaction decided once: in one block's list, with a success receipt.
    let end = Instant::now() + MINUTE;
    let mut placed = HashMap::new();
    for hash in &hashes {
        loop {
            let (status, r) = net.get(0, &format!("/tx/{hash}"));
            if status == 200 {
                assert_eq!(r["status"], "success", "{r}");
                placed.insert(hash.clone(), r["height"].as_u64().unwrap());
                break;
            }
            assert!(Instant::now() < end, "{hash} never decided: {r}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let top = placed.values().copied().max().unwrap();
    let mut count: HashMap<String, usize> = HashMap::new();
    for h in 1..=top {
        let (_, b) = net.get(1, &format!("/block/{h}"));
        for t in b["transactions"].as_array().unwrap() {
            *count.entry(t.as_str().unwrap().to_string()).or_default() += 1;
        }
    }
    for hash in &hashes {
        assert_eq!(count.get(hash), Some(&1), "{hash}");
    }
    assert_eq!(count.len(), hashes.len(), "blocks hold only the submitted transactions");
}

/// A validator SIGKILLed at various points: the other three keep finalizing; restarted,
/// it catches up and its store holds every height, with the others' hashes.
#[test]
fn a_killed_validator_catches_up_and_loses_no_decided_height() {
    let _serial = serial();
    let mut net = Net::new("kill", 4);
    net.start_all();
    assert!(net.wait_for(&[0, 1, 2, 3], 3, MINUTE), "no start: {}", net.log(0));
    for (round, pause) in [300u64, 50, 900].into_iter().enumerate() {
        std::thread::sleep(Duration::from_millis(pause));
        net.kill(3);
        let h = net.height(0);
        assert!(net.wait_for(&[0, 1, 2], h + 4, MINUTE), "three stalled: {}", net.log(0));
        net.start(3, &[]);
        let target = net.height(0) + 1;
        assert!(
            net.wait_for(&[3], target, 2 * MINUTE),
            "round {round}: no catch-up: {}",
            net.log(3)
        );
    }
    let top = net.height(3);
    let reference = net.stored(0, top);
    for i in 1..4 {
        assert_eq!(net.stored(i, top), reference, "node {i}'s store");
    }
}

/// With two of four validators down nothing is finalized (safety over liveness); when
/// one returns, heights are finalized again.
#[test]
fn two_of_four_down_finalize_nothing_until_one_returns() {
    let _serial = serial();
    let mut net = Net::new("halt", 4);
    net.start_all();
    assert!(net.wait_for(&[0, 1, 2, 3], 3, MINUTE), "no start: {}", net.log(0));
    net.kill(2);
    net.kill(3);
    // A height whose precommits were all out before the kills may still land.
    net.pump(Duration::from_secs(1));
    let stuck = net.height(0).max(net.height(1));
    let end = Instant::now() + Duration::from_secs(4);
    while Instant::now() < end {
        net.pump(Duration::from_millis(100));
    }
    assert_eq!(net.height(0).max(net.height(1)), stuck, "a height finalized by half the power");
    net.start(2, &[]);
    assert!(net.wait_for(&[0, 1, 2], stuck + 3, 2 * MINUTE), "no progress: {}", net.log(0));
}

/// A validator that proposes blocks whose header claims a wrong state root is never
/// followed: its rounds fail, the others' blocks are finalized, and all agree.
#[test]
fn a_proposer_claiming_a_wrong_state_root_is_not_followed() {
    let _serial = serial();
    let mut net = Net::new("byzantine", 4);
    for i in 0..3 {
        net.start(i, &[]);
    }
    net.start(3, &["--byzantine", "wrong-root"]);
    let liar = ValidatorAddress::of(&PrivateKey::from(testnet::validator_key(3)).public_key());
    assert!(net.wait_for(&[0, 1, 2], 12, 2 * MINUTE), "stalled: {}", net.log(0));
    let top = (0..3).map(|i| net.height(i)).min().unwrap();
    let reference = net.stored(0, top);
    for i in 1..3 {
        assert_eq!(net.stored(i, top), reference, "node {i}");
    }
    let mut later_rounds = 0;
    for h in 1..=top {
        let c = &net.seen[0][&h];
        assert_ne!(c.proposer, liar.to_string(), "height {h} was the liar's block");
        later_rounds += usize::from(c.round > 0);
    }
    assert!(later_rounds > 0, "the liar never had a turn in {top} heights");
    let refused = std::fs::read_to_string(net.homes[0].join("node.log")).unwrap_or_default();
    assert!(refused.contains("state root"), "no refusal logged: {}", net.log(0));
}

/// Bad input to the API: a 4xx with one line of JSON naming what is wrong, and nothing
/// reaches a block; a good transaction is decided, and the account moves.
#[test]
fn the_api_refuses_bad_input_in_one_line_and_takes_good_transactions() {
    let _serial = serial();
    let mut net = Net::new("api", 1);
    net.start(0, &[]);
    assert!(net.wait_for(&[0], 1, MINUTE), "no start: {}", net.log(0));
    let good = transfer_body(0, 0, 1);
    let refused = |net: &Net, body: &[u8], status: u16, says: &str| {
        let (got, text) = net.post(0, body);
        assert_eq!(got, status, "{text}");
        assert_eq!(text.lines().count(), 1, "{text}");
        let v: Value = serde_json::from_str(&text).expect("JSON error");
        assert!(v["error"].as_str().unwrap().contains(says), "{text}");
    };
    refused(&net, b"{\"tx\": ", 400, "bad JSON");
    refused(&net, b"[1, 2]", 400, "bad JSON");
    let mut forged = good.clone();
    let sig = forged["signature"].as_str().unwrap().to_string();
    let flipped = if sig.ends_with('0') { "1" } else { "0" };
    forged["signature"] = Value::from(format!("{}{flipped}", &sig[..sig.len() - 1]));
    refused(&net, forged.to_string().as_bytes(), 400, "bad signature");
    let mut other = good.clone();
    other["public_key"] = transfer_body(1, 0, 2)["public_key"].clone();
    refused(&net, other.to_string().as_bytes(), 400, "not for the sender");
    let mut short = good.clone();
    short["signature"] = Value::from("0x1234");
    refused(&net, short.to_string().as_bytes(), 400, "64 bytes");
    let mut call = good.clone();
    call["tx"]["kind"] = Value::from("call");
    refused(&net, call.to_string().as_bytes(), 400, "bad transaction");
    let huge = format!("{{\"tx\": \"{}\"}}", "x".repeat(40_000));
    let (status, _) = net.post(0, huge.as_bytes());
    assert_eq!(status, 413);

    let (status, text) = net.post(0, good.to_string().as_bytes());
    assert_eq!(status, 202, "{text}");
    let hash = serde_json::from_str::<Value>(&text).unwrap()["hash"].as_str().unwrap().to_string();
    refused(&net, good.to_string().as_bytes(), 409, "waiting already");
    let end = Instant::now() + MINUTE;
    loop {
        let (status, r) = net.get(0, &format!("/tx/{hash}"));
        if status == 200 {
            assert_eq!(r["status"], "success");
            break;
        }
        assert!(Instant::now() < end, "never decided: {r}");
        std::thread::sleep(Duration::from_millis(100));
    }
    refused(&net, good.to_string().as_bytes(), 400, "nonce 0 is used");
    let sender =
        parex_host::node::block::account_of(&PrivateKey::from(account_key(0)).public_key());
    let (status, a) = net.get(0, &format!("/account/{:#x}", sender.0));
    assert_eq!((status, a["nonce"].as_u64()), (200, Some(1)), "{a}");
    assert_eq!(net.get(0, "/block/x").0, 400);
    assert_eq!(net.get(0, "/block/99999").0, 404);
    assert_eq!(net.get(0, "/tx/0x12").0, 400);
    let (status, s) = net.get(0, "/status");
    assert_eq!(status, 200);
    assert!(s["height"].as_u64().unwrap() >= 1, "{s}");
}

/// Bad input to the commands: exit 2, one line on stderr, nothing started.
#[test]
fn bad_configurations_exit_2_in_one_line() {
    let _serial = serial();
    let exe = env!("CARGO_BIN_EXE_parex");
    let dir = std::env::temp_dir().join(format!("parex-node-{}-bad", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let run = |args: &[&str]| {
        let out = std::process::Command::new(exe).args(args).output().expect("runs");
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let d = dir.to_str().unwrap();
    let (code, _) = run(&["testnet", "--validators", "2", "--dir", d, "--init-only"]);
    assert_eq!(code, Some(0));
    let (code, err) = run(&["testnet", "--validators", "2", "--dir", d, "--heights", "1"]);
    assert_eq!((code, err.lines().count()), (Some(2), 1), "{err}");
    assert!(err.contains("holds a testnet already"), "{err}");
    let home = dir.join("node0");
    let config = std::fs::read_to_string(home.join("config.json")).unwrap();
    for (broken, says) in [
        (config.replace("\"moniker\"", "\"monicker\""), "unknown field"),
        (config.replacen("\"key\": \"0x", "\"key\": \"0x00", 1), "key: 33 bytes"),
        (config.replace("/ip4/127.0.0.1/tcp/", "/ip4/127.0.0.1/udpx/"), "not a multiaddr"),
        (config.replace("../genesis.json", "../nothing.json"), "cannot read"),
    ] {
        std::fs::write(home.join("config.json"), &broken).unwrap();
        let (code, err) = run(&["node", "--home", home.to_str().unwrap()]);
        assert_eq!((code, err.lines().count()), (Some(2), 1), "{says}: {err}");
        assert!(err.contains(says), "{says}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
