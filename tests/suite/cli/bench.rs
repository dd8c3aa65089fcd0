//! `bench --json`'s documented fields, and the text table of both contention levels.

use super::*;

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
    // One speed-up per measured round, each a positive ratio.
    let rounds = r["speedup_rounds"].as_array().expect("speedup_rounds");
    assert_eq!(rounds.len() as u64, r["repeats"].as_u64().unwrap(), "{r}");
    assert!(rounds.iter().all(|x| x.as_f64().is_some_and(|v| v > 0.0)), "{r}");
    // The machine's ceiling, measured in every round.
    let ceilings = r["capacity_rounds"].as_array().expect("capacity_rounds");
    assert_eq!(ceilings.len(), rounds.len(), "{r}");
    assert!(ceilings.iter().all(|x| x.as_f64().is_some_and(|v| v > 0.0)), "{r}");
    assert!(r["capacity"].as_f64().is_some_and(|v| v > 0.0), "{r}");
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
        "rounds",
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

/// Issue #16: `--txs` and `--threads` take lists (a scaling table, a row per size and
/// thread count) and `--plot FILE` draws it as an SVG chart, one line per engine.
#[test]
fn bench_scales_and_plots() {
    let dir = TempDir::new("plot");
    let svg = dir.path("scale.svg");
    let out = parex(&[
        "bench",
        "--workload",
        "transfers",
        "--accounts",
        "50",
        "--txs",
        "40,80",
        "--threads",
        "1,2",
        "--blocks",
        "1",
        "--repeats",
        "1",
        "--json",
        "--plot",
        &s(&svg),
    ]);
    let doc = json(&out);
    let runs = doc["runs"].as_array().expect("runs array");
    let rows: Vec<(u64, u64)> =
        runs.iter().map(|r| (r["txs"].as_u64().unwrap(), r["threads"].as_u64().unwrap())).collect();
    assert_eq!(rows, [(40, 1), (40, 2), (80, 1), (80, 2)]);
    let text = std::fs::read_to_string(&svg).expect("the chart was written");
    assert!(text.starts_with("<svg"), "{}", &text[..text.len().min(100)]);
    for label in [
        "transfers custom sequential",
        "transfers custom parallel (1 threads)",
        "transfers custom parallel (2 threads)",
        "transactions per block",
    ] {
        assert!(text.contains(label), "{label} missing from the chart");
    }
}
