//! The real `parex` binary, as a user runs it (the other CLI tests call
//! `parex_host::cli::run` in-process, in `tests/suite/cli/`).

use std::io::Write as _;
use std::process::{Command, Stdio};

#[test]
fn hash_reads_stdin_and_exits_2_naming_the_bad_line() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_parex"))
        .arg("hash")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn parex");
    child.stdin.take().expect("stdin").write_all(b"\nzz\n").expect("write stdin");
    let out = child.wait_with_output().expect("parex runs");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470\n"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("stdin:2:1"));
}

#[test]
fn no_arguments_prints_usage_and_exits_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_parex")).output().expect("parex runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).to_lowercase().contains("usage"));
}
