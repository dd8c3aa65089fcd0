//! `devices` and `--hasher opencl`: without the `opencl` feature, the advice and the CPU
//! fallback; with it, the device's results equal the CPU's.

#[cfg(feature = "opencl")]
use parex::host::workload::Workload;

use super::*;

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
