//! Every kind of bad input exits 2 with one line naming file, position and field, and
//! leaves no `--dump-state` file behind; usage errors exit 2 too.

use parex::host::workload::Workload;
use serde_json::Value;

use super::*;

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

/// A large block file is read on several threads (`blockfile/split.rs`); its errors are
/// still found and worded as in a file read whole.
#[test]
fn large_files_read_in_pieces_keep_their_errors() {
    let lines = |n: usize, last: &str| {
        let mut txs = vec![GOOD_TX; n];
        txs.push(last);
        format!(
            "{{\n  \"number\": 2,\n  \"transactions\": [\n    {}\n  ]\n}}\n",
            txs.join(",\n    ")
        )
    };
    let n = 90_000;
    let bad = tx_set("value", "-5");
    let text = lines(n, &bad);
    assert!(text.len() > 8 << 20, "large enough to be read in pieces");
    let at = format!("transactions[{n}].value");
    rejects(None, Some(&text), &["--threads", "4"], &[&at, "got -5"]);
    rejects(
        None,
        Some(&lines(n, GOOD_TX)),
        &["--threads", "3", "--max-txs", "90000"],
        &["90001 transactions, more than the capacity of 90000"],
    );
    rejects(
        None,
        Some(&lines(n, GOOD_TX).replacen("\"number\": 2", "\"number\": 7", 1)),
        &["--threads", "2"],
        &["block.json:2:", "number: expected 2"],
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
        assert_eq!(out.stderr.lines().count(), 1, "one line: {args:?}: {out:?}");
        assert!(out.stderr.starts_with("parex: error: "), "{args:?}: {out:?}");
    }
    // Issue #16: thousands of threads crashed the process (a helper thread could not
    // set up its stack guard); `--threads` is bounded, and says so.
    for args in [
        &["bench", "--threads", "30000"][..],
        &["run", "--threads", "20000", "--genesis", "g.json", "--block", "b.json"],
    ] {
        let out = parex(args);
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert_eq!(out.stderr.lines().count(), 1, "one line: {args:?}: {out:?}");
        assert!(
            out.stderr.contains("--threads") && out.stderr.contains("from 1 to 512"),
            "{out:?}"
        );
    }
    let out = parex(&["--help"]);
    assert_eq!(out.code, 0);
    for cmd in ["bench", "gen", "run", "devices", "hash", "hash-bench"] {
        assert!(out.stdout.contains(cmd), "{cmd}: {out:?}");
    }
}

/// Issue #16's corners of the files, each once reported badly: a byte order mark
/// ("expected value at 1:1"), bytes that are not UTF-8 (no position), a value where a
/// transaction goes (the internal type's name), `-0` ("a fraction or an exponent") and
/// genesis storage for an address with no contract (accepted).
#[test]
fn file_corners_say_what_they_are() {
    let e = rejects(
        None,
        Some("\u{feff}{\"transactions\": []}"),
        &[],
        &["block.json:1:1", "byte order mark"],
    );
    assert!(!e.contains("expected value"), "{e}");
    let dir = TempDir::new("utf8");
    let genesis = small_genesis(&dir);
    let bad = dir.path("bad.json");
    std::fs::write(&bad, b"{\"transactions\": [\n  {\"from\": \"0x10\xff\"}]}").unwrap();
    let out = parex(&run_args(&genesis, &[s(&bad)], &[]));
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("bad.json:2:17") && out.stderr.contains("not UTF-8"), "{out:?}");
    // Issue #16: `--genesis /dev/zero` grew to 6.9 GB before it was killed; a file
    // that cannot be a JSON object is refused at its first byte.
    rejects(None, Some("  [1, 2]"), &[], &["block.json", "not a JSON object", "0x5b"]);
    let out = parex(&["run", "--genesis", "/dev/zero", "--block", &s(&bad)]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("/dev/zero: not a JSON object"), "{out:?}");
    let e = rejects(
        None,
        Some("{\"transactions\": [1]}"),
        &[],
        &["transactions[0]", "a transaction object"],
    );
    assert!(!e.contains("TxJson"), "{e}");
    let e = rejects(
        None,
        Some(&block_with(&tx_set("value", "-0"))),
        &[],
        &["transactions[1].value", "negative zero"],
    );
    assert!(!e.contains("fraction"), "{e}");
    rejects(
        Some(r#"{"beneficiary":"0xbeef","storage":[{"address":"0x1000","slot":1,"value":2}]}"#),
        Some("{\"transactions\": []}"),
        &[],
        &["genesis.json:1:", "storage[0].address", "not a contract"],
    );
}
