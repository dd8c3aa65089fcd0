//! `gen` then `run`: the round trip against in-process replay for every workload, and
//! `--dump-state` written only on success and atomically.

use parex::core::exec::Limits;
use parex::core::KeccakHasher;
use parex::host::chain::replay;
use parex::host::engine::Mode;
use parex::host::workload::{Generator, Spec, Workload};
use parex::offload::hex::hash_hex;
use serde_json::Value;

use super::*;

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
                // Conflicts: Block-STM's tally, keys as a state dump names them.
                for c in x["conflicts"].as_array().expect("conflicts") {
                    assert!(c["address"].is_string() && c["key"].is_string(), "{c}");
                    assert!(c["slot"].is_string() && c["count"].as_u64() > Some(0), "{c}");
                }
                assert_eq!(y["conflicts"], serde_json::json!([]), "the sequential engine's");
                for k in [
                    "exec_secs",
                    "commit_secs",
                    "reexecutions",
                    "fell_back",
                    "conflicts",
                    "engine",
                    "reason",
                ] {
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
    // Issue #16: a directory named as the dump was only found after the whole run.
    let out = parex(&run_args(&genesis, &blocks, &["--dump-state", &s(&dir.path("out"))]));
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!((out.stdout.as_str(), out.stderr.lines().count()), ("", 1), "{out:?}");
    assert!(out.stderr.contains("is a directory"), "{out:?}");
}

/// A reader that goes away after the first bytes, like `head -c 10`.
struct ClosesEarly(usize);

impl std::io::Write for ClosesEarly {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0 == 0 {
            return Err(std::io::ErrorKind::BrokenPipe.into());
        }
        let n = buf.len().min(self.0);
        self.0 -= n;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Issue #16: `parex run | head` said "Broken pipe", exited 1 and wrote no dump. A
/// reader that stops early is no error, and the dump is complete.
#[test]
fn a_reader_that_stops_early_loses_no_dump() {
    let dir = TempDir::new("pipe");
    let blocks = gen(&dir, Workload::Transfers, 10, 20, 2);
    let genesis = s(&dir.path("genesis.json"));
    let dump = s(&dir.path("state.json"));
    let args = run_args(&genesis, &blocks, &["--dump-state", &dump]);
    let argv = std::iter::once("parex").chain(args.iter().copied());
    let mut stderr = Vec::new();
    let code = parex::host::cli::run(argv, &mut &b""[..], &mut ClosesEarly(10), &mut stderr);
    assert_eq!((code, String::from_utf8_lossy(&stderr).as_ref()), (0, ""));
    let full = parex(&run_args(&genesis, &blocks, &["--dump-state", &s(&dir.path("again.json"))]));
    assert_eq!(full.code, 0, "{full:?}");
    let (a, b) = (std::fs::read(&dump).unwrap(), std::fs::read(dir.path("again.json")).unwrap());
    assert_eq!(a, b, "the dump of the interrupted run is complete");
}

/// Issue #16: `gen --workload transfers --hot 2` wrote 10,001 accounts where `bench
/// --hot 2` uses 2; `hash --help` described `--hasher` as hashing roots; `gen --help`
/// showed no defaults.
#[test]
fn gen_follows_bench_flags_and_help_says_what_each_flag_does() {
    let dir = TempDir::new("genhot");
    let out = parex(&["gen", "--workload", "transfers", "--hot", "2", "--out", &s(&dir.0)]);
    assert_eq!(out.code, 0, "{out:?}");
    let genesis: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path("genesis.json")).unwrap()).unwrap();
    let accounts = genesis["accounts"].as_array().map_or(0, Vec::len);
    assert!(accounts <= 3, "2 users (and the beneficiary), got {accounts}: {out:?}");
    let hash = parex(&["hash", "--help"]);
    assert!(hash.stdout.contains("for `hash` the messages read"), "{hash:?}");
    let gen = parex(&["gen", "--help"]);
    assert!(gen.stdout.contains("[default: 1000]"), "{gen:?}");
    assert!(gen.stdout.contains("default: bench 2, gen 1"), "{gen:?}");
    let bench = parex(&["bench", "--help"]);
    assert!(bench.stdout.contains("[default: 5000]"), "{bench:?}");
}

/// `--timings` adds the table of where the wall time went on stderr and changes nothing
/// on stdout; a sharded genesis refuses it (exit 2, one line).
#[test]
fn timings_go_to_stderr_and_leave_the_report_alone() {
    let dir = TempDir::new("timings");
    let blocks = gen(&dir, Workload::Token, 30, 40, 2);
    let genesis = s(&dir.path("genesis.json"));
    // Sequential: the parallel report's re-execution counts vary from run to run.
    let plain = parex(&run_args(&genesis, &blocks, &["--sequential"]));
    let timed = parex(&run_args(&genesis, &blocks, &["--sequential", "--timings"]));
    assert_eq!((timed.code, &timed.stdout), (0, &plain.stdout), "{timed:?}");
    let rows: Vec<&str> = timed.stderr.lines().collect();
    assert_eq!(rows[0], "timings (wall, ms)", "{timed:?}");
    let names: Vec<&str> = rows[1..].iter().filter_map(|r| r.split("  ").nth(1)).collect();
    let expect = ["genesis file", "block files", "genesis state", "room", "execution"];
    assert_eq!(names[..5], expect, "{timed:?}");
    assert_eq!(rows.last().map(|r| r.trim_start().starts_with("total")), Some(true));
    // Under execution, the part every worker ran at once: none for the sequential engine.
    let ms = |rows: &[&str], name: &str| -> f64 {
        let row = rows.iter().find(|r| r.trim_start().starts_with(name)).expect(name);
        row.trim_start()[name.len()..].split_whitespace().next().unwrap().parse().unwrap()
    };
    assert_eq!(ms(&rows, "in parallel"), 0.0, "{timed:?}");
    let par = parex(&run_args(&genesis, &blocks, &["--threads", "2", "--timings"]));
    let rows: Vec<&str> = par.stderr.lines().collect();
    assert!(ms(&rows, "in parallel") <= ms(&rows, "execution"), "{par:?}");

    let sharded = TempDir::new("timings-shards");
    let (blocks, _) = gen_with(&sharded, Workload::Transfers, 30, 40, 1, &["--shards", "2"]);
    let genesis = s(&sharded.path("genesis.json"));
    let out = parex(&run_args(&genesis, &blocks, &["--timings"]));
    assert_eq!((out.code, out.stderr.lines().count()), (2, 1), "{out:?}");
}
