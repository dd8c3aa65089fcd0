//! The `parex` command line, driven through `parex::host::cli::run` with in-memory
//! streams (plus one smoke test of the real binary when it has been built): the
//! `gen` -> `run` round trip against in-process replay, every kind of bad input (exit 2,
//! one line naming file, position and field, no `--dump-state` file left behind), `hash`
//! on known vectors, `bench --json`'s documented fields and `devices` without OpenCL.
//!
//! This file holds the in-process runner and the temporary directories; the cases are in
//! `run.rs`, `bad_input.rs`, `hash.rs`, `bench.rs` and `opencl.rs`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use parex::host::workload::Workload;
use serde_json::Value;

mod bad_input;
mod bench;
mod hash;
mod opencl;
mod run;
mod shards;

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
    gen_with(dir, workload, accounts, txs, blocks, &[]).0
}

/// [`gen`] with more flags (`--shards N`, say); also what it printed.
fn gen_with(
    dir: &TempDir,
    workload: Workload,
    accounts: usize,
    txs: usize,
    blocks: usize,
    extra: &[&str],
) -> (Vec<String>, String) {
    let (accounts, txs, blocks_text) = (accounts.to_string(), txs.to_string(), blocks.to_string());
    let out_dir = s(&dir.0);
    let mut args = vec![
        "gen",
        "--workload",
        workload.name(),
        "--accounts",
        &accounts,
        "--txs",
        &txs,
        "--blocks",
        &blocks_text,
        "--seed",
        "9",
        "--declare",
        "200",
        "--out",
        &out_dir,
    ];
    args.extend_from_slice(extra);
    let out = parex(&args);
    assert_eq!(out.code, 0, "{out:?}");
    let files = (1..=blocks).map(|n| s(&dir.path(&format!("blocks/{n:04}.json")))).collect();
    (files, out.stdout)
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
