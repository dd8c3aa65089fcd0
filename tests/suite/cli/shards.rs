//! `parex gen --shards`, `run` on a sharded genesis (global roots, checkpoints, resume)
//! and `bench --shards`, with their bad input.

use serde_json::Value;

use parex::host::workload::Workload;

use super::{gen_with, json, parex, run_args, s, TempDir};

/// A sharded chain of transfers in `dir`: its genesis and block files.
fn gen_sharded(dir: &TempDir, shards: u16, cross: u32, blocks: usize) -> (String, Vec<String>) {
    let (shards, cross) = (shards.to_string(), cross.to_string());
    let extra = ["--shards", &shards, "--cross-per-mille", &cross];
    let (blocks, printed) = gen_with(dir, Workload::Transfers, 200, 300, blocks, &extra);
    assert!(printed.contains(&format!("{shards} shards")), "{printed}");
    (s(&dir.path("genesis.json")), blocks)
}

fn global_roots(doc: &Value) -> Vec<String> {
    doc["heights"].as_array().unwrap().iter().map(|h| h["global_root"].to_string()).collect()
}

/// `run` prints every height's global root; the same whatever the threads and with the
/// sequential executor; a run cut into two with `--checkpoint` and `--resume` ends with
/// the same global root as the whole run.
#[test]
fn a_sharded_chain_runs_cut_and_resumed() {
    let dir = TempDir::new("shards-run");
    let (genesis, blocks) = gen_sharded(&dir, 4, 300, 4);
    let text = parex(&run_args(&genesis, &blocks, &["--threads", "2"]));
    assert_eq!(text.code, 0, "{text:?}");
    assert_eq!(text.stdout.matches("global_root").count(), 5, "{text:?}");
    let whole = json(&parex(&run_args(&genesis, &blocks, &["--json", "--threads", "2"])));
    assert_eq!(whole["shards"], 4);
    assert_eq!(whole["heights"].as_array().unwrap().len(), 4);
    let emitted: u64 = whole["heights"][0]["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["emitted"].as_u64().unwrap())
        .sum();
    assert!(emitted > 0);
    for extra in [
        &["--json", "--threads", "1"][..],
        &["--json", "--threads", "8"],
        &["--json", "--sequential"],
    ] {
        let other = json(&parex(&run_args(&genesis, &blocks, extra)));
        assert_eq!(global_roots(&other), global_roots(&whole), "{extra:?}");
    }
    let cp = s(&dir.path("cp.json"));
    let first = json(&parex(&run_args(&genesis, &blocks[..2], &["--json", "--checkpoint", &cp])));
    assert_eq!(global_roots(&first), global_roots(&whole)[..2].to_vec());
    let rest = json(&parex(&run_args(&genesis, &blocks[2..], &["--json", "--resume", &cp])));
    assert_eq!(global_roots(&rest), global_roots(&whole)[2..].to_vec());
    assert_eq!(rest["global_root"], whole["global_root"]);
    assert_eq!(rest["in_flight"], whole["in_flight"]);
    // Resumed at the wrong height: the block numbers say so.
    let wrong = parex(&run_args(&genesis, &blocks[..1], &["--resume", &cp]));
    assert_eq!(wrong.code, 2, "{wrong:?}");
    assert!(wrong.stderr.contains("expected 3"), "{wrong:?}");
}

/// Every altered checkpoint: exit 2, one line saying what is wrong, no new checkpoint
/// written.
#[test]
fn an_altered_checkpoint_exits_2_and_writes_nothing() {
    let dir = TempDir::new("shards-bad");
    let (genesis, blocks) = gen_sharded(&dir, 3, 700, 2);
    let cp = s(&dir.path("cp.json"));
    let out = parex(&run_args(&genesis, &blocks[..1], &["--checkpoint", &cp]));
    assert_eq!(out.code, 0, "{out:?}");
    let good: Value = serde_json::from_str(&std::fs::read_to_string(&cp).unwrap()).unwrap();
    type Change = Box<dyn Fn(&mut Value)>;
    // The first batch with messages in it.
    let k = good["batches"]
        .as_array()
        .unwrap()
        .iter()
        .position(|b| !b["messages"].as_array().unwrap().is_empty())
        .unwrap();
    let cases: Vec<(&str, Change, &str)> = vec![
        (
            "forged",
            Box::new(move |v| v["batches"][k]["messages"][0]["value"] = 999_999.into()),
            "forged",
        ),
        (
            "replayed",
            Box::new(move |v| {
                let b = v["batches"][k].clone();
                v["batches"].as_array_mut().unwrap().push(b);
            }),
            "delivered already",
        ),
        ("no shard", Box::new(move |v| v["batches"][k]["dest"] = 5.into()), "shard 5"),
        (
            "headers",
            Box::new(|v| v["shard_blocks"][1]["gas_used"] = 1.into()),
            "headers do not chain",
        ),
        (
            "global",
            Box::new(|v| {
                v["global_root"] = format!("0x{}", "11".repeat(32)).into();
            }),
            "global root",
        ),
        (
            "lost batch",
            Box::new(move |v| _ = v["batches"].as_array_mut().unwrap().remove(k)),
            "missing",
        ),
        (
            "lost message",
            Box::new(move |v| _ = v["batches"][k]["messages"].as_array_mut().unwrap().pop()),
            "left out",
        ),
        ("state", Box::new(|v| v["shard_blocks"][0]["entries"][0]["value"] = 1.into()), "state"),
        (
            "short proof",
            Box::new(move |v| _ = v["batches"][k]["siblings"].as_array_mut().unwrap().pop()),
            "siblings",
        ),
    ];
    let next = s(&dir.path("next.json"));
    for (name, change, expect) in cases {
        let mut v = good.clone();
        change(&mut v);
        let bad = dir.write(&format!("{name}.json"), &serde_json::to_string(&v).unwrap());
        let out =
            parex(&run_args(&genesis, &blocks[1..], &["--resume", &bad, "--checkpoint", &next]));
        assert_eq!(out.code, 2, "{name}: {out:?}");
        assert_eq!(out.stderr.lines().count(), 1, "{name}: {out:?}");
        assert!(out.stderr.contains(expect), "{name}: {out:?}");
        assert!(!dir.path("next.json").exists(), "{name}");
    }
}

/// Sharding flags and files that do not go together: exit 2, one line.
#[test]
fn sharded_bad_input_exits_2() {
    let dir = TempDir::new("shards-input");
    let (genesis, blocks) = gen_sharded(&dir, 2, 100, 1);
    let plain = TempDir::new("shards-plain");
    super::gen(&plain, Workload::Token, 20, 10, 1);
    let plain_genesis = s(&plain.path("genesis.json"));
    let plain_block = vec![s(&plain.path("blocks/0001.json"))];
    // A token chain on 3 shards: the calls from other shards run at the token's, a
    // height later, the same on any number of threads.
    let token = TempDir::new("shards-token");
    let (token_blocks, _) = gen_with(&token, Workload::Token, 60, 90, 3, &["--shards", "3"]);
    let token_genesis = s(&token.path("genesis.json"));
    let a = json(&parex(&run_args(&token_genesis, &token_blocks, &["--json", "--threads", "3"])));
    let b = json(&parex(&run_args(&token_genesis, &token_blocks, &["--json", "--sequential"])));
    assert_eq!(global_roots(&a), global_roots(&b));
    assert!(a["heights"][1]["shards"][0]["delivered"].as_u64().unwrap() > 0, "{a}");
    let cp = s(&dir.path("cp.json"));
    let text = std::fs::read_to_string(&genesis).unwrap();
    let zero = dir.write("zero.json", &text.replace("\"shards\": 2", "\"shards\": 0"));
    let system = dir.write(
        "system.json",
        &text.replace(
            "\"accounts\": [",
            "\"accounts\": [\n    {\"address\":\"0xffffffffffffff00\",\"balance\":1},",
        ),
    );
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (run_args(&plain_genesis, &plain_block, &["--resume", &cp]), "need a sharded genesis"),
        (run_args(&genesis, &blocks, &["--dump-state", &cp]), "--dump-state"),
        (run_args(&zero, &blocks, &[]), "expected 1 to 1024 shards"),
        (run_args(&system, &blocks, &[]), "reserved for the system"),
        (vec!["gen", "--workload", "transfers", "--shards", "0", "--out", &cp], "shards"),
        (
            vec!["gen", "--workload", "transfers", "--cross-per-mille", "5", "--out", &cp],
            "--shards",
        ),
    ];
    for (args, expect) in cases {
        let out = parex(&args);
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {out:?}");
        assert!(out.stderr.contains(expect), "{args:?}: {out:?}");
    }
    assert!(!dir.path("cp.json").exists());
}

/// `bench --shards --json`: the documented fields, roots checked.
#[test]
fn bench_shards_reports_totals_and_shards() {
    let out = parex(&[
        "bench",
        "--shards",
        "3",
        "--cross-per-mille",
        "200",
        "--txs",
        "600",
        "--accounts",
        "300",
        "--threads",
        "2",
        "--repeats",
        "1",
        "--json",
    ]);
    let doc = json(&out);
    let r = &doc["sharded"][0];
    for field in [
        "tps",
        "unsharded_tps",
        "ratio",
        "messages",
        "messages_per_height",
        "latency_heights",
        "global_root",
        "runners",
        "workers_per_shard",
    ] {
        assert!(!r[field].is_null(), "{field}: {r}");
    }
    assert_eq!(r["roots_match"], true);
    assert_eq!(r["shards"], 3);
    assert_eq!(r["per_shard"].as_array().unwrap().len(), 3);
    assert_eq!(r["latency_heights"], 1.0);
    let table = parex(&["bench", "--shards", "2", "--txs", "200", "--repeats", "1"]);
    assert_eq!(table.code, 0, "{table:?}");
    assert!(table.stdout.contains("sharded/unsharded"), "{table:?}");
}
