//! (Feature `opencl`.) OpenCL against the CPU byte for byte, Merkle roots, program
//! binaries, errors, fallback. A missing device is a failure when
//! `PAREX_REQUIRE_OPENCL=1`, else the test prints `SKIPPED` and passes.

use super::*;
use parex_core::hash::{hash_levels_in_turn, LevelEnd, Levels, Link};
use parex_offload::{
    list_devices, make_hasher, DeviceSpec, HasherKind, OffloadError, OpenClHasher, KECCAK_CL,
};
use std::path::PathBuf;
use std::sync::Once;
use std::time::{Duration, Instant};

/// PoCL lists no device unless its kernel cache directory is writable.
fn prepare_env() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("POCL_CACHE_DIR").is_none() {
            let dir = std::env::temp_dir().join("parex-offload-pocl-cache");
            std::fs::create_dir_all(&dir).expect("create POCL_CACHE_DIR");
            std::env::set_var("POCL_CACHE_DIR", &dir);
        }
    });
}

fn required() -> bool {
    std::env::var("PAREX_REQUIRE_OPENCL").is_ok_and(|v| v == "1")
}

/// The default device, or `None` after a loud SKIPPED (a failure when required).
fn device(test: &str) -> Option<OpenClHasher> {
    prepare_env();
    // PoCL's first platform and device enumeration is not safe to run from several
    // test threads at once (seen in CI: one thread found 0 devices while others found
    // the device), so hashers are created one at a time.
    static CREATE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let made = {
        let _one_at_a_time = CREATE.lock().unwrap_or_else(|p| p.into_inner());
        OpenClHasher::new(&DeviceSpec::Auto)
    };
    match made {
        Ok(h) => Some(h),
        Err(e) if required() => {
            panic!("{test}: PAREX_REQUIRE_OPENCL=1 but no OpenCL device: {e}")
        }
        Err(e) => {
            // Straight to the stderr handle: libtest captures `eprintln!` of passing tests.
            use std::io::Write as _;
            let line = format!("\n*** {test}: SKIPPED: no OpenCL device ({e}) ***\n");
            std::io::stderr().write_all(line.as_bytes()).ok();
            None
        }
    }
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("parex-offload-{}-{name}", std::process::id()))
}

#[test]
fn kat_opencl() {
    let Some(mut h) = device("kat_opencl") else { return };
    eprintln!("device: {}", h.device());
    check_kats("opencl", &mut h);
    assert!(h.is_on_device(), "no fallback happened");
}

#[test]
fn random_fixed_batches_match_cpu() {
    let Some(mut h) = device("random_fixed_batches_match_cpu") else { return };
    let mut rng = Rng(42);
    for msg_len in [0usize, 1, 31, 32, 64, 135, 136, 137, 200, 271, 272, 273, 500, 1100] {
        for count in [1usize, 63, 64, 65, 777] {
            let data = rng.bytes(msg_len * count);
            let want = reference_fixed(&data, msg_len, count);
            let mut out = vec![[0u8; 32]; count];
            h.try_hash_fixed(&data, msg_len, &mut out).expect("device batch");
            assert_digests(&format!("try fixed len {msg_len} x {count}"), &out, &want);
            let mut out = vec![[0u8; 32]; count];
            h.hash_fixed(&data, msg_len, &mut out);
            assert_digests(&format!("hook fixed len {msg_len} x {count}"), &out, &want);
        }
    }
    assert!(h.is_on_device());
}

#[test]
fn random_var_batches_match_cpu() {
    let Some(mut h) = device("random_var_batches_match_cpu") else { return };
    let mut rng = Rng(1234);
    let special = [0usize, 1, 135, 136, 137, 272, 0, 271, 273, 408, 1000];
    for round in 0..6 {
        let count = [1usize, 11, 64, 65, 500, 3000][round];
        let msgs: Vec<Vec<u8>> = (0..count)
            .map(|i| {
                let n = if i < special.len() { special[i] } else { rng.below(700) };
                rng.bytes(n)
            })
            .collect();
        let (data, ends) = var_batch(&msgs);
        let want: Vec<Hash32> = msgs.iter().map(|m| keccak256(m)).collect();
        let mut out = vec![[0u8; 32]; count];
        h.try_hash_var(&data, &ends, &mut out).expect("device batch");
        assert_digests(&format!("try var x {count}"), &out, &want);
        let mut out = vec![[0u8; 32]; count];
        h.hash_var(&data, &ends, &mut out);
        assert_digests(&format!("hook var x {count}"), &out, &want);
    }
    // All-empty messages: no input bytes at all.
    let mut out = vec![[0u8; 32]; 5];
    h.try_hash_var(&[], &[0; 5], &mut out).expect("empty messages");
    assert_digests("five empty", &out, &[keccak256(b""); 5]);
    assert!(h.is_on_device());
}

#[test]
fn chunked_and_pipelined_batches_match_cpu() {
    let Some(mut h) = device("chunked_and_pipelined_batches_match_cpu") else { return };
    let mut rng = Rng(99);
    // Tiny chunks force many chunks through both pipeline slots, and buffer growth.
    for chunk in [1usize, 100, 1000, 4096] {
        h.set_chunk_bytes(chunk);
        let data = rng.bytes(64 * 2000);
        let mut out = vec![[0u8; 32]; 2000];
        h.try_hash_fixed(&data, 64, &mut out).unwrap();
        assert_digests(&format!("fixed, chunk {chunk}"), &out, &reference_fixed(&data, 64, 2000));
        let msgs: Vec<Vec<u8>> = (0..1500)
            .map(|_| {
                let n = rng.below(300);
                rng.bytes(n)
            })
            .collect();
        let (data, ends) = var_batch(&msgs);
        let want: Vec<Hash32> = msgs.iter().map(|m| keccak256(m)).collect();
        let mut out = vec![[0u8; 32]; msgs.len()];
        h.try_hash_var(&data, &ends, &mut out).unwrap();
        assert_digests(&format!("var, chunk {chunk}"), &out, &want);
    }
}

#[test]
fn inconsistent_lengths_follow_hook_contract() {
    let Some(mut h) = device("inconsistent_lengths_follow_hook_contract") else { return };
    hook_contract("opencl", &mut h);
    assert!(h.is_on_device());
}

/// A binary Merkle tree over `leaves`, level by level through `h.hash_fixed`: a level
/// with an odd count carries its last node up unchanged.
fn merkle_root(h: &mut dyn Hasher, leaves: &[Hash32]) -> Hash32 {
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        let pairs = level.len() / 2;
        let data: Vec<u8> = level[..pairs * 2].concat();
        let mut next = vec![[0u8; 32]; pairs];
        h.hash_fixed(&data, 64, &mut next);
        if level.len() % 2 == 1 {
            next.push(level[level.len() - 1]);
        }
        level = next;
    }
    level[0]
}

#[test]
fn merkle_root_matches_cpu() {
    let Some(mut h) = device("merkle_root_matches_cpu") else { return };
    let mut rng = Rng(5);
    for n in [1usize, 2, 3, 1000, 4097] {
        let leaves: Vec<Hash32> = (0..n).map(|_| keccak256(&rng.bytes(40))).collect();
        let cpu = merkle_root(&mut KeccakHasher, &leaves);
        let dev = merkle_root(&mut h, &leaves);
        assert_eq!(hex(&dev), hex(&cpu), "root of {n} leaves");
    }
    assert!(h.is_on_device());
    // The same through the host constructor.
    let mut boxed = make_hasher(HasherKind::OpenCl, Some(&"pocl".parse().unwrap()), None)
        .or_else(|_| make_hasher(HasherKind::OpenCl, None, None))
        .expect("device opened above");
    let leaves: Vec<Hash32> = (0..333).map(|_| keccak256(&rng.bytes(8))).collect();
    assert_eq!(merkle_root(&mut *boxed, &leaves), merkle_root(&mut KeccakHasher, &leaves));
}

#[test]
fn program_binary_round_trip() {
    let Some(h) = device("program_binary_round_trip") else { return };
    let path = temp_path("keccak.bin");
    h.save_program_binary(&path).expect("save binary");
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size > 0);
    let spec: DeviceSpec = h.device().index_spec().parse().unwrap();
    let mut loaded = OpenClHasher::from_binary_file(&spec, &path).expect("load binary");
    check_kats("opencl from binary", &mut loaded);
    let mut boxed = make_hasher(HasherKind::OpenCl, Some(&spec), Some(&path)).expect("make_hasher");
    check_kats("make_hasher from binary", &mut *boxed);
    std::fs::remove_file(&path).ok();
}

#[test]
fn typed_errors_come_back_fast() {
    let Some(mut h) = device("typed_errors_come_back_fast") else { return };
    let spec: DeviceSpec = h.device().index_spec().parse().unwrap();

    let t = Instant::now();
    let e = OpenClHasher::new(&"no-such-device-xyz".parse().unwrap()).unwrap_err();
    assert!(matches!(e, OffloadError::NoDevice { available, .. } if available > 0), "{e}");
    let e = OpenClHasher::new(&"7:7".parse().unwrap()).unwrap_err();
    assert!(matches!(e, OffloadError::NoDevice { .. }), "{e}");
    assert!(t.elapsed() < Duration::from_secs(1), "NoDevice took {:?}", t.elapsed());

    let missing = temp_path("does-not-exist.bin");
    let e = OpenClHasher::from_binary_file(&spec, &missing).unwrap_err();
    assert!(matches!(e, OffloadError::Io { .. }), "{e}");
    assert!(e.to_string().contains("does-not-exist"));

    let e = OpenClHasher::from_binary(&spec, b"not a program binary at all").unwrap_err();
    assert!(e.cl_status().is_some(), "status kept: {e:?}");
    assert!(matches!(e, OffloadError::Cl { .. } | OffloadError::Build { .. }), "{e}");

    let broken = "__kernel void keccak256_fixed(__global uchar *p) { this is not C; }";
    match OpenClHasher::from_source(&spec, broken).unwrap_err() {
        OffloadError::Build { status, log, .. } => {
            assert_eq!(status, -11);
            assert!(!log.is_empty(), "build log kept");
            eprintln!("build log as reported: {log}");
        }
        e => panic!("expected a build error, got {e}"),
    }

    let mut out = vec![[0u8; 32]; 2];
    assert!(matches!(h.try_hash_fixed(&[], 64, &mut []), Err(OffloadError::EmptyBatch)));
    assert!(matches!(h.try_hash_var(&[], &[], &mut []), Err(OffloadError::EmptyBatch)));
    assert!(matches!(
        h.try_hash_fixed(&[0; 100], 64, &mut out),
        Err(OffloadError::BadLengths { .. })
    ));
    assert!(matches!(
        h.try_hash_var(&[0; 10], &[5, 3], &mut out),
        Err(OffloadError::BadLengths { .. })
    ));
    assert!(matches!(
        h.try_hash_var(&[0; 10], &[5], &mut out),
        Err(OffloadError::BadLengths { .. })
    ));
    assert!(matches!(h.time_kernel_fixed(&[], 64, 0, 1), Err(OffloadError::EmptyBatch)));
    assert!(h.is_on_device(), "caller errors do not disable the device");
}

#[test]
fn device_failure_falls_back_to_cpu() {
    let Some(mut h) = device("device_failure_falls_back_to_cpu") else { return };
    h.simulate_device_failure(); // prints the one warning
    assert!(!h.is_on_device());
    h.simulate_device_failure(); // no second warning
    check_kats("opencl after fallback", &mut h);
    let mut out = [[0u8; 32]; 1];
    let e = h.try_hash_fixed(&[1; 64], 64, &mut out).unwrap_err();
    assert!(e.to_string().contains("disabled"), "{e}");
}

#[test]
fn listing_and_kernel_timing() {
    let Some(mut h) = device("listing_and_kernel_timing") else { return };
    let t = Instant::now();
    let devices = list_devices().expect("list");
    assert!(t.elapsed() < Duration::from_secs(1));
    assert!(devices.iter().any(|d| d == h.device()));
    for d in &devices {
        eprintln!("{d}");
        assert!(d.max_alloc > 0 && d.compute_units > 0);
    }
    assert!(h.local_size() >= 1);
    let data = vec![7u8; 64 * 4096];
    let t = h.time_kernel_fixed(&data, 64, 4096, 3).expect("kernel timing");
    assert!(t > Duration::ZERO, "profiling reported {t:?}");
    // Results are still right afterwards (the timing used the same buffers).
    let mut out = vec![[0u8; 32]; 4096];
    h.hash_fixed(&data, 64, &mut out);
    assert_digests("after timing", &out, &reference_fixed(&data, 64, 4096));
}

/// With no OpenCL platform installed (an empty `OCL_ICD_VENDORS`), every entry point
/// answers `NoPlatform` at once instead of the wrapper's ten-second retry. Runs itself
/// in a child process because the ICD loader reads its vendors once per process.
#[test]
fn no_platform_is_a_fast_typed_error() {
    if std::env::var_os("PAREX_OFFLOAD_NO_PLATFORM_CHILD").is_some() {
        let t = Instant::now();
        let e = list_devices().unwrap_err();
        assert!(matches!(e, OffloadError::NoPlatform { .. }), "{e}");
        let e = OpenClHasher::new(&DeviceSpec::Auto).unwrap_err();
        assert!(matches!(e, OffloadError::NoPlatform { .. }), "{e}");
        let e = make_hasher(HasherKind::OpenCl, None, None).err().unwrap();
        assert!(e.to_string().contains("no OpenCL platform"), "{e}");
        assert!(t.elapsed() < Duration::from_millis(500), "took {:?}", t.elapsed());
        return;
    }
    let empty = temp_path("no-vendors");
    std::fs::create_dir_all(&empty).unwrap();
    let exe = std::env::current_exe().unwrap();
    let t = Instant::now();
    let child = std::process::Command::new(exe)
        .args(["--exact", "device::no_platform_is_a_fast_typed_error", "--nocapture"])
        .env("PAREX_OFFLOAD_NO_PLATFORM_CHILD", "1")
        .env("OCL_ICD_VENDORS", &empty)
        .env("OCL_ICD_FILENAMES", "")
        .output()
        .expect("spawn child test");
    std::fs::remove_dir_all(&empty).ok();
    assert!(
        child.status.success(),
        "child failed: {}\n{}{}",
        child.status,
        String::from_utf8_lossy(&child.stdout),
        String::from_utf8_lossy(&child.stderr)
    );
    assert!(t.elapsed() < Duration::from_secs(5), "child took {:?}", t.elapsed());
}

/// A random levels batch: level 0 of variable-length messages, then levels whose
/// messages embed 0–3 digests of earlier levels at random, non-overlapping offsets.
fn levels_of<'a>(
    data: &'a mut [u8],
    ends: &'a [u32],
    levels: &'a [LevelEnd],
    links: &'a [Link],
) -> Levels<'a> {
    Levels { data, ends, levels, links }
}

fn random_levels(rng: &mut Rng) -> (Vec<u8>, Vec<u32>, Vec<LevelEnd>, Vec<Link>) {
    let (mut data, mut ends, mut levels, mut links) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for level in 0..1 + rng.below(6) {
        let first = ends.len();
        for _ in 0..rng.below(70) {
            let len = if level == 0 { rng.below(300) } else { 32 + rng.below(200) };
            let at = data.len();
            data.extend(rng.bytes(len));
            ends.push(data.len() as u32);
            if level > 0 && first > 0 {
                // In byte order, never overlapping (`Levels::is_valid`).
                let mut free = at;
                for _ in 0..rng.below(4) {
                    let room = at + len - free;
                    if room < 32 {
                        break;
                    }
                    let offset = free + rng.below(room - 31);
                    links.push(Link { at: offset as u32, from: rng.below(first) as u32 });
                    free = offset + 32;
                }
            }
        }
        levels.push(LevelEnd { msgs: ends.len() as u32, links: links.len() as u32 });
    }
    (data, ends, levels, links)
}

/// Levels batches (a block's commitment in one submission) on the device, byte for byte
/// with the CPU's level-by-level default; a program without the levels kernels says so
/// and its `Hasher` still gets them right, level by level.
#[test]
fn random_levels_batches_match_cpu() {
    let Some(mut gpu) = device("random_levels_batches_match_cpu") else { return };
    let cut = KECCAK_CL.find("// One level of a levels batch").expect("the levels kernels");
    let mut old = OpenClHasher::from_source(&DeviceSpec::Auto, &KECCAK_CL[..cut]).expect("program");
    let mut rng = Rng(0x1e7e15);
    let mut batches = 0;
    for _ in 0..60 {
        let (data, ends, levels, links) = random_levels(&mut rng);
        let n = ends.len();
        let mut want = vec![[0u8; 32]; n];
        hash_levels_in_turn(
            &mut KeccakHasher,
            levels_of(&mut data.clone(), &ends, &levels, &links),
            &mut want,
        );
        let mut got = vec![[0u8; 32]; n];
        if n == 0 {
            assert!(matches!(
                gpu.try_hash_levels(levels_of(&mut data.clone(), &ends, &levels, &links), &mut got),
                Err(OffloadError::EmptyBatch)
            ));
            continue;
        }
        gpu.try_hash_levels(levels_of(&mut data.clone(), &ends, &levels, &links), &mut got)
            .expect("levels on the device");
        assert_digests("levels batch", &got, &want);
        let mut via_hook = vec![[0u8; 32]; n];
        gpu.hash_levels(levels_of(&mut data.clone(), &ends, &levels, &links), &mut via_hook);
        assert_digests("levels through the hook", &via_hook, &want);
        let mut level_by_level = vec![[0u8; 32]; n];
        let missing = old.try_hash_levels(
            levels_of(&mut data.clone(), &ends, &levels, &links),
            &mut level_by_level,
        );
        assert!(matches!(missing, Err(OffloadError::MissingKernel { .. })), "{missing:?}");
        old.hash_levels(levels_of(&mut data.clone(), &ends, &levels, &links), &mut level_by_level);
        assert_digests("levels without the kernels", &level_by_level, &want);
        batches += 1;
    }
    assert!(batches > 40, "only {batches} non-empty batches");
    assert!(gpu.is_on_device() && old.is_on_device());
}
