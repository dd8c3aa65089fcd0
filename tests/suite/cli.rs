//! The `parex` command line, driven through `parex::host::cli::run` with in-memory
//! streams (plus one smoke test of the real binary when it has been built): the
//! `gen` -> `run` round trip against in-process replay, every kind of bad input (exit 2,
//! one line naming file, position and field, no `--dump-state` file left behind), `hash`
//! on known vectors, `bench --json`'s documented fields and `devices` without OpenCL.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use parex::core::exec::Limits;
use parex::core::KeccakHasher;
use parex::host::chain::replay;
use parex::host::engine::Mode;
use parex::host::workload::{Generator, Spec, Workload};
use parex::offload::hex::hash_hex;
use serde_json::Value;

/// What one command line did.
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}\n--- stdout\n{}\n--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

fn parex_with_stdin(args: &[&str], stdin: &str) -> Out {
    let mut input = stdin.as_bytes();
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let argv = std::iter::once("parex").chain(args.iter().copied());
    let code = parex::host::cli::run(argv, &mut input, &mut stdout, &mut stderr);
    Out {
        code,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

fn parex(args: &[&str]) -> Out {
    parex_with_stdin(args, "")
}

/// A fresh directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "parex-cli-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    fn write(&self, name: &str, text: &str) -> String {
        let p = self.path(name);
        std::fs::write(&p, text).expect("write test file");
        s(&p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn json(out: &Out) -> Value {
    assert_eq!(out.code, 0, "{out:?}");
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {out:?}"))
}

fn gen(
    dir: &TempDir,
    workload: Workload,
    accounts: usize,
    txs: usize,
    blocks: usize,
) -> Vec<String> {
    let out = parex(&[
        "gen",
        "--workload",
        workload.name(),
        "--accounts",
        &accounts.to_string(),
        "--txs",
        &txs.to_string(),
        "--blocks",
        &blocks.to_string(),
        "--seed",
        "9",
        "--declare",
        "200",
        "--out",
        &s(&dir.0),
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    (1..=blocks).map(|n| s(&dir.path(&format!("blocks/{n:04}.json")))).collect()
}

fn run_args<'a>(genesis: &'a str, blocks: &'a [String], extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run", "--genesis", genesis];
    for b in blocks {
        args.push("--block");
        args.push(b);
    }
    args.extend_from_slice(extra);
    args
}

#[test]
fn gen_then_run_matches_in_process_replay_for_every_workload() {
    for w in Workload::ALL {
        let dir = TempDir::new("roundtrip");
        let blocks = gen(&dir, w, 40, 60, 2);
        let genesis = s(&dir.path("genesis.json"));

        let mut spec = Spec::new(w, 40, 60, 2, 9);
        spec.declare_per_mille = 200;
        let (world, mut g) = Generator::new(&spec);
        let txs: Vec<_> = (0..spec.blocks).map(|_| g.block()).collect();
        let expect = replay(&world, &txs, Mode::Sequential, Limits::DEFAULT, &mut KeccakHasher)
            .expect("in-process replay");
        let expect_root = hash_hex(&expect.blocks[1].header.state_root);
        let expect_hash = hash_hex(&expect.blocks[1].hash);

        let dump = s(&dir.path("state.json"));
        let seq = json(&parex(&run_args(&genesis, &blocks, &["--sequential", "--json"])));
        let par = json(&parex(&run_args(
            &genesis,
            &blocks,
            &["--threads", "2", "--json", "--dump-state", &dump],
        )));
        for doc in [&seq, &par] {
            assert_eq!(doc["state_root"], expect_root.as_str(), "{w}");
            assert_eq!(doc["block_hash"], expect_hash.as_str(), "{w}");
            assert_eq!(doc["blocks"][0]["receipts"].as_array().map(Vec::len), Some(60), "{w}");
            assert_eq!(doc["hasher"], "cpu");
        }
        assert_eq!(seq["blocks"], {
            // Timings, re-execution counts and the engine that ran differ between
            // engines; nothing else may.
            let mut b = par["blocks"].clone();
            for (x, y) in
                b.as_array_mut().unwrap().iter_mut().zip(seq["blocks"].as_array().unwrap())
            {
                assert_eq!(
                    (&y["engine"], &y["reason"]),
                    (&"sequential".into(), &"requested".into())
                );
                let engine = x["engine"].as_str().unwrap_or_default();
                assert!(["footprint", "block_stm", "sequential"].contains(&engine), "{x}");
                for k in
                    ["exec_secs", "commit_secs", "reexecutions", "fell_back", "engine", "reason"]
                {
                    x[k] = y[k].clone();
                }
            }
            b
        });
        for (r, e) in
            par["blocks"][0]["receipts"].as_array().unwrap().iter().zip(&expect.blocks[0].receipts)
        {
            assert_eq!(r["status"], e.status.name(), "{w}");
            assert_eq!(r["gas_used"], e.gas_used, "{w}");
        }
        let state: Value =
            serde_json::from_str(&std::fs::read_to_string(&dump).expect("dump written")).unwrap();
        assert_eq!(state["state_root"], expect_root.as_str());
        assert_eq!(state["block_number"], 2);
        assert_eq!(state["entries"].as_array().map(Vec::len), Some(expect.state.len()));

        // The text output names every block's hash and state root.
        let text = parex(&run_args(&genesis, &blocks, &[]));
        assert_eq!(text.code, 0, "{text:?}");
        assert!(text.stdout.contains(&expect_root), "{text:?}");
        assert!(text.stdout.contains(&hash_hex(&expect.blocks[0].hash)), "{text:?}");
        assert!(text.stdout.contains("receipts"), "{text:?}");
    }
}

/// A genesis with one user, one token contract (the sample) and the beneficiary.
fn small_genesis(dir: &TempDir) -> String {
    gen(dir, Workload::Token, 3, 2, 1);
    s(&dir.path("genesis.json"))
}

const GOOD_TX: &str = r#"{"from":"0x1000","nonce":0,"gas_limit":1000,"gas_price":1,"kind":"transfer","to":"0x1001","value":5}"#;

/// Runs `genesis` + `block` (texts; `None` = the missing file) with `--dump-state` and
/// checks the bad-input contract; returns the error line.
fn rejects(genesis: Option<&str>, block: Option<&str>, extra: &[&str], expect: &[&str]) -> String {
    let dir = TempDir::new("bad");
    let genesis = match genesis {
        Some(text) => dir.write("genesis.json", text),
        None => small_genesis(&dir),
    };
    let block = match block {
        Some(text) => dir.write("block.json", text),
        None => s(&dir.path("missing.json")),
    };
    let good = dir.write("good.json", &format!("{{\"transactions\":[{GOOD_TX}]}}"));
    let dump = s(&dir.path("state.json"));
    let blocks = [good, block];
    let mut args = run_args(&genesis, &blocks, &["--dump-state", &dump]);
    args.extend_from_slice(extra);
    let out = parex(&args);
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(out.stdout, "", "nothing printed before the error: {out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "one line: {out:?}");
    for e in expect {
        assert!(out.stderr.contains(e), "expected {e:?} in {out:?}");
    }
    assert!(!dir.path("state.json").exists(), "no state file after bad input");
    let leftovers: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary files: {leftovers:?}");
    out.stderr
}

fn block_with(tx: &str) -> String {
    format!("{{\n  \"transactions\": [\n    {GOOD_TX},\n    {tx}\n  ]\n}}\n")
}

fn tx_set(field: &str, value: &str) -> String {
    // Replace the field's value in GOOD_TX.
    let v: Value = serde_json::from_str(GOOD_TX).unwrap();
    let mut m = v.as_object().unwrap().clone();
    m.remove(field);
    let mut text = serde_json::to_string(&m).unwrap();
    text.pop();
    format!("{text},\"{field}\":{value}}}")
}

#[test]
fn missing_files() {
    rejects(None, None, &[], &["missing.json", "cannot read"]);
    let dir = TempDir::new("nogenesis");
    let out = parex(&["run", "--genesis", &s(&dir.path("nope.json")), "--block", "x.json"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("nope.json: cannot read"), "{out:?}");
}

#[test]
fn malformed_json_reports_line_and_column() {
    let e = rejects(
        None,
        Some("{\"transactions\": [\n  {\"from\": \"0x1000\" \"nonce\": 0}\n]}"),
        &[],
        &["block.json:2:", "malformed JSON"],
    );
    assert!(e.contains("block.json:2:21"), "{e}");
    rejects(None, Some(""), &[], &["block.json:1:", "malformed JSON", "EOF"]);
    rejects(None, Some("{\"transactions\": []} trailing"), &[], &["block.json:1:", "trailing"]);
}

#[test]
fn unknown_and_missing_fields() {
    rejects(
        None,
        Some(&block_with(&tx_set("memo", "1"))),
        &[],
        &["block.json:4:", "transactions[1].memo", "unknown field `memo`"],
    );
    rejects(
        None,
        Some("{\"transactions\": [], \"extra\": 1}"),
        &[],
        &["block.json:1:", "extra", "unknown field"],
    );
    let no_nonce = GOOD_TX.replace("\"nonce\":0,", "");
    rejects(
        None,
        Some(&block_with(&no_nonce)),
        &[],
        &["block.json:4:", "transactions[1]", "missing field `nonce`"],
    );
    rejects(
        Some("{\"accounts\": []}"),
        Some("{\"transactions\": []}"),
        &[],
        &["genesis.json:1:", "missing field `beneficiary`"],
    );
    rejects(None, Some("{\"number\": 1}"), &[], &["block.json:1:", "missing field `transactions`"]);
}

#[test]
fn wrong_types() {
    rejects(
        None,
        Some(&block_with(&tx_set("nonce", "\"0\""))),
        &[],
        &[
            "block.json:4:",
            "transactions[1].nonce",
            "expected an unsigned 64-bit integer, got the string \"0\"",
        ],
    );
    rejects(
        None,
        Some(&block_with(&tx_set("to", "4097"))),
        &[],
        &["transactions[1].to", "hex address", "got the number 4097"],
    );
    rejects(
        None,
        Some(&block_with(&tx_set("value", "null"))),
        &[],
        &["transactions[1].value", "got null"],
    );
    rejects(
        None,
        Some(&block_with(&tx_set("kind", "\"mint\""))),
        &[],
        &["transactions[1].kind", "unknown variant `mint`"],
    );
    rejects(None, Some("{\"transactions\": {}}"), &[], &["block.json:1:", "transactions"]);
}

#[test]
fn negative_fractional_and_overflowing_amounts() {
    let e = rejects(
        None,
        Some(&block_with(&tx_set("value", "-5"))),
        &[],
        &["block.json:4:", "transactions[1].value: expected an unsigned 64-bit integer, got -5"],
    );
    assert!(e.starts_with("parex: error: "), "{e}");
    rejects(
        None,
        Some(&block_with(&tx_set("gas_price", "1.5"))),
        &[],
        &["transactions[1].gas_price", "got 1.5"],
    );
    rejects(
        None,
        Some(&block_with(&tx_set("value", "18446744073709551616"))),
        &[],
        &["transactions[1].value", "larger than 18446744073709551615"],
    );
    // The largest u64 is fine as a value; the total supply may not overflow.
    rejects(
        Some(
            r#"{"beneficiary":"0xbeef","accounts":[
  {"address":"0x1000","balance":18446744073709551615},
  {"address":"0x1001","balance":1}
]}"#,
        ),
        Some("{\"transactions\": []}"),
        &[],
        &["genesis.json:3:", "accounts[1].balance", "more than 18446744073709551615"],
    );
    rejects(
        Some(r#"{"beneficiary":"0xbeef","accounts":[{"address":"0x1000","balance":-1}]}"#),
        Some("{\"transactions\": []}"),
        &[],
        &["genesis.json:1:", "accounts[0].balance", "got -1"],
    );
}

#[test]
fn bad_hex() {
    rejects(
        None,
        Some(&block_with(&tx_set("from", "\"0x10g0\""))),
        &[],
        &["block.json:4:", "transactions[1].from", "invalid hex digit 'g'"],
    );
    rejects(
        None,
        Some(&block_with(&tx_set("to", "\"1001\""))),
        &[],
        &["transactions[1].to", "0x-prefixed"],
    );
    rejects(
        None,
        Some(&block_with(&tx_set("to", "\"0x10000000000000000\""))),
        &[],
        &["transactions[1].to", "does not fit 64 bits"],
    );
    rejects(
        Some(r#"{"beneficiary":"0xbeef","contracts":[{"address":"0xc0","code":"0x60z0"}]}"#),
        Some("{\"transactions\": []}"),
        &[],
        &["genesis.json:1:", "contracts[0].code", "invalid hex digit 'z'"],
    );
    rejects(
        Some(r#"{"beneficiary":"0xbeef","contracts":[{"address":"0xc0","code":"0x600"}]}"#),
        Some("{\"transactions\": []}"),
        &[],
        &["contracts[0].code", "odd number of hex digits"],
    );
}

#[test]
fn calls_to_unknown_contracts() {
    let call = r#"{"from":"0x1000","nonce":0,"gas_limit":100000,"gas_price":1,"kind":"call","to":"0xdead","args":[0]}"#;
    rejects(
        None,
        Some(&block_with(call)),
        &[],
        &["block.json:4:", "transactions[1].to", "0xdead", "no contract in the genesis"],
    );
}

#[test]
fn blocks_over_a_capacity() {
    let five_args = r#"{"from":"0x1000","nonce":0,"gas_limit":100000,"gas_price":1,"kind":"call","to":"0xc0000000","args":[0,1,2,3,4]}"#;
    rejects(
        None,
        Some(&block_with(five_args)),
        &[],
        &["block.json:4:", "transactions[1].args", "5 arguments, at most 4"],
    );
    let entry = r#"{"address":"0x1001","key":"balance","write":true}"#;
    let access = format!("[{}]", [entry; 9].join(","));
    rejects(
        None,
        Some(&block_with(&tx_set("access", &access))),
        &[],
        &["transactions[1].access", "9 access entries, at most 8"],
    );
    let many = format!("{{\"transactions\": [{}]}}", [GOOD_TX; 4].join(",\n"));
    rejects(
        None,
        Some(&many),
        &["--max-txs", "3"],
        &["block.json:1:", "transactions: 4 transactions, more than the capacity of 3"],
    );
    // A transfer with call arguments, a number that is not the block's position.
    rejects(
        None,
        Some(&block_with(&tx_set("args", "[1]"))),
        &[],
        &["transactions[1].args", "transfer"],
    );
    rejects(
        None,
        Some("{\"number\": 5, \"transactions\": []}"),
        &[],
        &["block.json:1:", "number: expected 2"],
    );
}

#[test]
fn duplicate_genesis_entries() {
    rejects(
        Some(
            r#"{"beneficiary":"0xbeef","accounts":[{"address":"0x1","balance":1},{"address":"0x01","balance":1}]}"#,
        ),
        Some("{\"transactions\": []}"),
        &[],
        &["genesis.json:1:", "accounts[1].address", "duplicate account 0x1"],
    );
}

#[test]
fn dump_state_is_written_only_on_success_and_atomically() {
    let dir = TempDir::new("dump");
    let blocks = gen(&dir, Workload::Transfers, 10, 20, 2);
    let genesis = s(&dir.path("genesis.json"));
    let dump = s(&dir.path("out/state.json"));
    let out = parex(&run_args(&genesis, &blocks, &["--dump-state", &dump]));
    assert_eq!(out.code, 2, "missing directory is bad input: {out:?}");
    std::fs::create_dir_all(dir.path("out")).unwrap();
    let out = parex(&run_args(&genesis, &blocks, &["--dump-state", &dump]));
    assert_eq!(out.code, 0, "{out:?}");
    let names: Vec<_> = std::fs::read_dir(dir.path("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["state.json"]);
}

#[test]
fn hash_known_vectors() {
    let out = parex_with_stdin(&["hash"], "\n616263\n0x616263\r\n");
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout,
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470\n\
         4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45\n\
         4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45\n"
    );
    // More lines than one batch, in order.
    let input: String = (0..5000).map(|i| format!("{:08x}\n", i)).collect();
    let out = parex_with_stdin(&["hash"], &input);
    assert_eq!(out.code, 0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 5000);
    assert_eq!(lines[4321], hex(&parex::core::keccak256(&4321u32.to_be_bytes())));
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn hash_bad_hex_names_the_line() {
    let out = parex_with_stdin(&["hash"], "00\n0xzz\n11\n");
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(out.stderr.contains("stdin:2:3: bad hex"), "{out:?}");
    assert_eq!(out.stdout.lines().count(), 1, "the digest of line 1 is printed: {out:?}");
    let out = parex_with_stdin(&["hash"], "abc\n");
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("stdin:1:") && out.stderr.contains("odd"), "{out:?}");
}

#[test]
fn bench_json_has_every_documented_field() {
    let out = parex(&[
        "bench",
        "--workload",
        "amm",
        "--accounts",
        "20",
        "--hot",
        "2",
        "--txs",
        "50",
        "--blocks",
        "2",
        "--threads",
        "2",
        "--repeats",
        "1",
        "--json",
    ]);
    let doc = json(&out);
    let runs = doc["runs"].as_array().expect("runs array");
    assert_eq!(runs.len(), 1);
    let r = &runs[0];
    for k in [
        "workload",
        "contention",
        "knob",
        "txs",
        "accounts",
        "blocks",
        "threads",
        "seed",
        "hasher",
        "hasher_requested",
        "repeats",
        "sequential",
        "parallel",
        "speedup",
        "hashing_share",
        "state_root",
        "block_hash",
        "roots_match",
    ] {
        assert!(!r[k].is_null(), "missing {k}: {r}");
    }
    for engine in ["sequential", "parallel"] {
        for k in ["secs", "exec_secs", "commit_secs", "tps", "exec_tps"] {
            assert!(r[engine][k].as_f64().is_some_and(|v| v >= 0.0), "{engine}.{k}: {r}");
        }
    }
    assert!(r["parallel"]["reexecutions"].is_u64(), "{r}");
    assert_eq!(r["workload"], "amm");
    assert_eq!(r["txs"], 50);
    assert_eq!(r["accounts"], 20);
    assert_eq!(r["blocks"], 2);
    assert_eq!(r["threads"], 2);
    assert_eq!(r["hasher"], "cpu");
    assert_eq!(r["knob"]["value"], 2);
    assert_eq!(r["roots_match"], true);
    assert!(doc["threads_available"].is_u64());

    // With neither --accounts nor --hot, both contention levels; the table names them.
    let out = parex(&[
        "bench",
        "--workload",
        "transfers",
        "--txs",
        "40",
        "--blocks",
        "1",
        "--repeats",
        "1",
    ]);
    assert_eq!(out.code, 0, "{out:?}");
    for word in [
        "seq TPS",
        "par TPS",
        "speedup",
        "re-exec",
        "hashing",
        "roots",
        "low (accounts=10000)",
        "high (accounts=2)",
        "match",
    ] {
        assert!(out.stdout.contains(word), "{word}: {out:?}");
    }
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["frobnicate"][..],
        &["bench", "--workload", "casino"],
        &["bench", "--txs", "0"],
        &["bench", "--declare", "1001"],
        &["run", "--genesis", "g.json"],
        &["hash-bench", "--chunk-bytes", "0"],
        &["hash-bench", "--chunk-bytes", "64Q"],
    ] {
        let out = parex(args);
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
    }
    let out = parex(&["--help"]);
    assert_eq!(out.code, 0);
    for cmd in ["bench", "gen", "run", "devices", "hash", "hash-bench"] {
        assert!(out.stdout.contains(cmd), "{cmd}: {out:?}");
    }
}

#[test]
fn hash_bench_prints_a_row_per_batch_and_a_column_per_chunk_size() {
    let out = parex(&["hash-bench", "--batch", "16,64", "--min-ms", "1", "--chunk-bytes", "1K,1M"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with("Keccak-256, 64-byte messages"), "{out:?}");
    assert!(out.stdout.contains("cpu-1"), "{out:?}");
    for batch in ["        16 ", "        64 "] {
        assert!(out.stdout.contains(batch), "{batch}: {out:?}");
    }
    // Each chunk size is its own device column, or (no device here) a skipped backend.
    let opened = out.stdout.contains("opencl/1K") && out.stdout.contains("opencl/1M");
    assert!(opened || out.stderr.contains("backend skipped: opencl/1K"), "{out:?}");
}

#[cfg(not(feature = "opencl"))]
#[test]
fn devices_without_opencl_says_how_to_enable_it() {
    let out = parex(&["devices"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("OpenCL support is not compiled in"), "{out:?}");
    assert!(out.stderr.contains("--features opencl"), "{out:?}");

    // --hasher opencl falls back to the CPU with one warning, and says so in JSON.
    let out = parex_with_stdin(&["hash", "--hasher", "opencl"], "616263\n");
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45\n");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(out.stderr.contains("warning") && out.stderr.contains("CPU"), "{out:?}");
    let doc = json(&parex(&[
        "bench",
        "--workload",
        "transfers",
        "--accounts",
        "5",
        "--txs",
        "20",
        "--blocks",
        "1",
        "--repeats",
        "1",
        "--hasher",
        "opencl",
        "--json",
    ]));
    assert_eq!(doc["runs"][0]["hasher"], "cpu");
    assert_eq!(doc["runs"][0]["hasher_requested"], "opencl");
}

/// With the `opencl` feature (CI runs this on PoCL with `PAREX_REQUIRE_OPENCL=1`): the
/// device is listed, and hashing, state roots and block hashes through OpenCL equal
/// the CPU's. Without a device it fails in CI and skips loudly elsewhere.
#[cfg(feature = "opencl")]
#[test]
fn opencl_hashing_matches_the_cpu() {
    if std::env::var_os("POCL_CACHE_DIR").is_none() {
        let dir = std::env::temp_dir().join("parex-pocl-cache-tests");
        let _ = std::fs::create_dir_all(&dir);
        std::env::set_var("POCL_CACHE_DIR", dir);
    }
    let devices = parex(&["devices"]);
    if devices.code != 0 {
        assert!(
            std::env::var("PAREX_REQUIRE_OPENCL").as_deref() != Ok("1"),
            "PAREX_REQUIRE_OPENCL=1 but no OpenCL device: {devices:?}"
        );
        eprintln!(
            "*** opencl_hashing_matches_the_cpu: SKIPPED: no OpenCL device ({}) ***",
            devices.stderr.trim()
        );
        return;
    }
    let lines = "\n616263\n".to_string() + &"ab".repeat(300) + "\n";
    let cpu = parex_with_stdin(&["hash", "--hasher", "cpu"], &lines);
    let ocl = parex_with_stdin(&["hash", "--hasher", "opencl"], &lines);
    assert_eq!((cpu.code, ocl.code), (0, 0), "{cpu:?} {ocl:?}");
    assert!(ocl.stderr.is_empty(), "the device must be used, not the CPU fallback: {ocl:?}");
    assert_eq!(cpu.stdout, ocl.stdout);

    let dir = TempDir::new("opencl");
    let blocks = gen(&dir, Workload::Mixed, 200, 300, 2);
    let genesis = s(&dir.path("genesis.json"));
    let on_cpu = json(&parex(&run_args(&genesis, &blocks, &["--hasher", "cpu", "--json"])));
    let on_dev = json(&parex(&run_args(&genesis, &blocks, &["--hasher", "opencl", "--json"])));
    assert_eq!(on_dev["hasher"], "opencl");
    assert_eq!(on_cpu["state_root"], on_dev["state_root"]);
    assert_eq!(on_cpu["block_hash"], on_dev["block_hash"]);
}
