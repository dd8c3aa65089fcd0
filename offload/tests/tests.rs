//! parex-offload integration tests, one binary.
//!
//! - `kat`: the Keccak team's ShortMsgKAT_256 vectors through every backend.
//! - `cpu`: the CPU backends against each other and the hook contract.
//! - `lanes`: every SIMD backend this CPU runs (`Lanes::available()`: scalar, AVX2,
//!   AVX-512) on the KATs, long and random batches and inconsistent lengths.
//!   `PAREX_REQUIRE_LANES=avx512` (or `avx2`) makes a missing backend a failure.
//! - `api`: kinds, specs, errors that need no device.
//! - `device` (feature `opencl`): OpenCL against the CPU byte for byte, Merkle roots,
//!   program binaries, errors, fallback. A missing device is a failure when
//!   `PAREX_REQUIRE_OPENCL=1`, else the test prints `SKIPPED` and passes.

use parex_core::{keccak256, Hash32, Hasher, KeccakHasher};
use parex_offload::{CpuHasher, Lanes};

// ---------------------------------------------------------------- helpers

/// `(message, digest)` for every byte-aligned vector of the KAT file.
fn kat_vectors() -> Vec<(Vec<u8>, Hash32)> {
    let text = include_str!("data/ShortMsgKAT_256.txt");
    let mut vectors = Vec::new();
    let mut len_bits: Option<usize> = None;
    let mut msg: Option<Vec<u8>> = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(" = ") else { continue };
        match key.trim() {
            "Len" => len_bits = Some(value.trim().parse().expect("Len")),
            "Msg" => msg = Some(unhex(value.trim())),
            "MD" => {
                let (bits, m) = (len_bits.take().expect("Len before MD"), msg.take().expect("Msg"));
                if bits % 8 != 0 {
                    continue;
                }
                let digest: Hash32 = unhex(value.trim()).try_into().expect("32-byte MD");
                vectors.push((m[..bits / 8].to_vec(), digest));
            }
            _ => {}
        }
    }
    vectors
}

fn unhex(s: &str) -> Vec<u8> {
    parex_offload::parse_hex_line(s).expect("hex")
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Asserts two digest lists are equal, naming the first differing message.
#[track_caller]
fn assert_digests(what: &str, got: &[Hash32], want: &[Hash32]) {
    assert_eq!(got.len(), want.len(), "{what}: digest count");
    if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
        panic!(
            "{what}: message {i} differs\n  expected {}\n  actual   {}",
            hex(&want[i]),
            hex(&got[i])
        );
    }
}

/// Deterministic pseudo-random bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Concatenated messages plus their end offsets.
fn var_batch(msgs: &[Vec<u8>]) -> (Vec<u8>, Vec<u32>) {
    let mut data = Vec::new();
    let mut ends = Vec::new();
    for m in msgs {
        data.extend_from_slice(m);
        ends.push(data.len() as u32);
    }
    (data, ends)
}

fn reference_fixed(data: &[u8], msg_len: usize, count: usize) -> Vec<Hash32> {
    let mut out = vec![[0u8; 32]; count];
    KeccakHasher.hash_fixed(data, msg_len, &mut out);
    out
}

/// The CPU backends of this build.
fn cpu_backends() -> Vec<(&'static str, CpuHasher)> {
    #[allow(unused_mut)]
    let mut v = vec![("cpu-1", CpuHasher::single_thread())];
    #[cfg(feature = "rayon")]
    v.push(("cpu-all", CpuHasher::all_threads()));
    v
}

/// Runs every KAT vector through `h`: one message at a time with the fixed API, all at
/// once with the var API, and in fixed batches of three copies.
fn check_kats(name: &str, h: &mut dyn Hasher) {
    let vectors = kat_vectors();
    for (msg, md) in &vectors {
        let mut out = [[0u8; 32]; 1];
        h.hash_fixed(msg, msg.len(), &mut out);
        assert_digests(&format!("{name}: fixed, {} bytes", msg.len()), &out, &[*md]);
        let triple = [msg.as_slice(), msg, msg].concat();
        let mut out = [[0u8; 32]; 3];
        h.hash_fixed(&triple, msg.len(), &mut out);
        assert_digests(&format!("{name}: fixed x3, {} bytes", msg.len()), &out, &[*md; 3]);
    }
    let msgs: Vec<Vec<u8>> = vectors.iter().map(|(m, _)| m.clone()).collect();
    let want: Vec<Hash32> = vectors.iter().map(|(_, d)| *d).collect();
    let (data, ends) = var_batch(&msgs);
    let mut out = vec![[0u8; 32]; msgs.len()];
    h.hash_var(&data, &ends, &mut out);
    assert_digests(&format!("{name}: var, all KATs"), &out, &want);
}

// ---------------------------------------------------------------- kat

mod kat {
    use super::*;

    #[test]
    fn kat_file_matches_tiny_keccak() {
        let vectors = kat_vectors();
        assert_eq!(vectors.len(), 256, "byte-aligned vectors, Len 0..=2040");
        assert_eq!(
            hex(&vectors[0].1),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
        for (msg, md) in &vectors {
            assert_eq!(&keccak256(msg), md, "tiny-keccak, {} bytes", msg.len());
        }
    }

    #[test]
    fn kat_every_cpu_backend() {
        for (name, mut h) in cpu_backends() {
            check_kats(name, &mut h);
        }
    }
}

// ---------------------------------------------------------------- cpu

mod cpu {
    use super::*;

    #[test]
    fn cpu_backends_agree_on_large_batches() {
        let mut rng = Rng(7);
        for msg_len in [0usize, 1, 32, 64, 135, 136, 137, 272] {
            let count = 5000;
            let data = rng.bytes(msg_len * count);
            let want = reference_fixed(&data, msg_len, count);
            for (name, mut h) in cpu_backends() {
                let mut out = vec![[0u8; 32]; count];
                h.hash_fixed(&data, msg_len, &mut out);
                assert_digests(&format!("{name} fixed {msg_len}"), &out, &want);
            }
        }
        let msgs: Vec<Vec<u8>> = (0..5000)
            .map(|_| {
                let n = rng.below(400);
                rng.bytes(n)
            })
            .collect();
        let (data, ends) = var_batch(&msgs);
        let want: Vec<Hash32> = msgs.iter().map(|m| keccak256(m)).collect();
        for (name, mut h) in cpu_backends() {
            let mut out = vec![[0u8; 32]; msgs.len()];
            h.hash_var(&data, &ends, &mut out);
            assert_digests(&format!("{name} var"), &out, &want);
        }
    }

    #[test]
    fn inconsistent_lengths_hash_whole_messages_only() {
        for (name, mut h) in cpu_backends() {
            hook_contract(name, &mut h);
        }
    }
}

/// The hook's contract for inconsistent input: whole messages are hashed, the rest of
/// `out` is left untouched, nothing panics.
fn hook_contract(name: &str, h: &mut dyn Hasher) {
    let data = b"abcdefghijk"; // 11 bytes: two whole 4-byte messages
    let mut out = [[9u8; 32]; 4];
    h.hash_fixed(data, 4, &mut out);
    assert_eq!(out[0], keccak256(b"abcd"), "{name}");
    assert_eq!(out[1], keccak256(b"efgh"), "{name}");
    assert_eq!(out[2..], [[9u8; 32]; 2], "{name}: untouched");
    let mut out = [[9u8; 32]; 4];
    h.hash_var(data, &[2, 1, 5], &mut out); // decreasing at index 1
    assert_eq!(out[0], keccak256(b"ab"), "{name}");
    assert_eq!(out[1..], [[9u8; 32]; 3], "{name}: untouched");
    let mut out = [[9u8; 32]; 2];
    h.hash_var(data, &[2, 99], &mut out); // past the data
    assert_eq!(out[1], [9u8; 32], "{name}: untouched");
    let mut none: [Hash32; 0] = [];
    h.hash_fixed(&[], 64, &mut none);
    h.hash_var(&[], &[], &mut none);
}

// ---------------------------------------------------------------- lanes

mod lanes {
    use super::*;

    /// One [`Lanes`] backend behind the hook, so the shared checks run on it.
    struct LanesHasher(Lanes);

    impl Hasher for LanesHasher {
        fn hash_fixed(&mut self, data: &[u8], msg_len: usize, out: &mut [Hash32]) {
            self.0.hash_fixed(data, msg_len, out)
        }
        fn hash_var(&mut self, data: &[u8], ends: &[u32], out: &mut [Hash32]) {
            self.0.hash_var(data, ends, out)
        }
    }

    fn backends() -> Vec<Lanes> {
        let v = Lanes::available();
        eprintln!("lanes available: {:?}", v.iter().map(|l| l.name()).collect::<Vec<_>>());
        v
    }

    /// `msgs` through `lanes` as one var batch, and (when all have one length) as one
    /// fixed batch, against `keccak256`.
    #[track_caller]
    fn check_batch(what: &str, lanes: Lanes, msgs: &[Vec<u8>]) {
        let want: Vec<Hash32> = msgs.iter().map(|m| keccak256(m)).collect();
        let (data, ends) = var_batch(msgs);
        let mut out = vec![[0u8; 32]; msgs.len()];
        lanes.hash_var(&data, &ends, &mut out);
        assert_digests(&format!("{}: {what}, var", lanes.name()), &out, &want);
        if let Some(first) = msgs.first() {
            if msgs.iter().all(|m| m.len() == first.len()) {
                let mut out = vec![[0u8; 32]; msgs.len()];
                lanes.hash_fixed(&data, first.len(), &mut out);
                assert_digests(&format!("{}: {what}, fixed", lanes.name()), &out, &want);
            }
        }
    }

    #[test]
    fn names_and_widths_are_consistent() {
        let all = [Lanes::Scalar, Lanes::Avx2, Lanes::Avx512];
        let named: Vec<(&str, usize)> = all.iter().map(|l| (l.name(), l.width())).collect();
        assert_eq!(named, [("scalar", 1), ("avx2", 4), ("avx512", 8)]);
        let available = Lanes::available();
        assert_eq!(available.first(), Some(&Lanes::Scalar));
        assert!(available.windows(2).all(|w| w[0].width() < w[1].width()));
        assert!(available.iter().all(|l| l.is_supported()));
        let best = Lanes::detect();
        assert_eq!(available.last(), Some(&best), "detect() is the widest available");
        assert_eq!(Lanes::detect(), best, "cached");
        assert_eq!(CpuHasher::single_thread().lanes(), best);
        assert_eq!(CpuHasher::best().lanes(), best);
        if cfg!(not(target_arch = "x86_64")) {
            assert_eq!(available, [Lanes::Scalar]);
        }
    }

    /// CI on a machine with AVX-512 sets `PAREX_REQUIRE_LANES=avx512` so that a
    /// detection regression fails instead of silently testing less.
    #[test]
    fn required_backend_is_detected() {
        let best = Lanes::detect();
        eprintln!("lanes detected: {} ({} messages per permutation)", best.name(), best.width());
        let Ok(required) = std::env::var("PAREX_REQUIRE_LANES") else { return };
        let required = required.trim().to_ascii_lowercase();
        if required.is_empty() {
            return;
        }
        let Some(want) =
            [Lanes::Scalar, Lanes::Avx2, Lanes::Avx512].into_iter().find(|l| l.name() == required)
        else {
            panic!("PAREX_REQUIRE_LANES={required}: not one of scalar, avx2, avx512");
        };
        assert!(
            Lanes::available().contains(&want) && best.width() >= want.width(),
            "PAREX_REQUIRE_LANES={required} but this CPU runs only {:?}",
            Lanes::available().iter().map(|l| l.name()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn kat_every_lanes_backend() {
        let vectors = kat_vectors();
        for lanes in backends() {
            check_kats(lanes.name(), &mut LanesHasher(lanes));
            // Batches of identical messages fill whole vectors, partial ones and both.
            for (msg, md) in &vectors {
                for count in [2usize, 4, 5, 8, 9, 17] {
                    let data = msg.repeat(count);
                    let mut out = vec![[0u8; 32]; count];
                    lanes.hash_fixed(&data, msg.len(), &mut out);
                    let what = format!("{}: fixed x{count}, {} bytes", lanes.name(), msg.len());
                    assert_digests(&what, &out, &vec![*md; count]);
                }
            }
            // All KATs in one var batch, shortest and longest interleaved.
            let mut order: Vec<usize> = (0..vectors.len()).collect();
            order.sort_by_key(|&i| if i % 2 == 0 { i } else { vectors.len() * 2 - i });
            let msgs: Vec<Vec<u8>> = order.iter().map(|&i| vectors[i].0.clone()).collect();
            check_batch("KATs interleaved", lanes, &msgs);
        }
    }

    #[test]
    fn long_messages_match_tiny_keccak() {
        let mut rng = Rng(0x1a9e5);
        for lanes in backends() {
            let mut every_length = Vec::new();
            for len in 0..=600usize {
                // Nine of them: one whole 8-lane vector (two of 4) and one left over.
                let msgs: Vec<Vec<u8>> = (0..9).map(|_| rng.bytes(len)).collect();
                check_batch(&format!("9 x {len} bytes"), lanes, &msgs);
                every_length.push(msgs[0].clone());
            }
            check_batch("lengths 0..=600", lanes, &every_length);
            every_length.reverse();
            check_batch("lengths 600..=0", lanes, &every_length);
            let mut mixed = Vec::new();
            for len in [1000usize, 2048, 4095, 4096, 4097, 8199, 20_000] {
                let msgs: Vec<Vec<u8>> = (0..5).map(|_| rng.bytes(len)).collect();
                check_batch(&format!("5 x {len} bytes"), lanes, &msgs);
                mixed.push(msgs[0].clone());
                let short = rng.below(140);
                mixed.push(rng.bytes(short));
            }
            check_batch("multi-KB among short ones", lanes, &mixed);
        }
    }

    #[test]
    fn random_batches_match_tiny_keccak() {
        let mut rng = Rng(0x5eed);
        for lanes in backends() {
            for count in 1..=33usize {
                for _ in 0..4 {
                    let len = rng.below(301);
                    let msgs: Vec<Vec<u8>> = (0..count).map(|_| rng.bytes(len)).collect();
                    check_batch(&format!("{count} x {len} bytes"), lanes, &msgs);
                    let msgs: Vec<Vec<u8>> = (0..count)
                        .map(|_| {
                            let n = rng.below(301);
                            rng.bytes(n)
                        })
                        .collect();
                    check_batch(&format!("{count} random lengths"), lanes, &msgs);
                }
            }
        }
    }

    #[test]
    fn inconsistent_lengths_match_the_scalar_path() {
        let mut rng = Rng(77);
        let data = rng.bytes(1000);
        let fixed_cases: [(usize, usize, usize); 7] = [
            (1000, 64, 20),  // more outputs than messages
            (1000, 64, 9),   // fewer outputs than messages
            (999, 100, 12),  // a partial message at the end
            (50, 64, 10),    // not even one message
            (1000, 0, 11),   // empty messages
            (0, 0, 3),       // empty messages, no data
            (1000, 137, 40), // two-block messages, partial tail
        ];
        let ends_ok: Vec<u32> = (1..=30).map(|i| i * 31).collect();
        let mut decreasing = ends_ok.clone();
        decreasing[13] = 5;
        let mut past = ends_ok.clone();
        past[20] = 1001;
        let var_cases: [(&[u32], usize); 5] = [
            (&ends_ok, 30),
            (&ends_ok, 17),      // fewer outputs than ends
            (&ends_ok[..9], 30), // more outputs than ends
            (&decreasing, 30),
            (&past, 30),
        ];
        for lanes in backends() {
            hook_contract(lanes.name(), &mut LanesHasher(lanes));
            for &(len, msg_len, count) in &fixed_cases {
                let (mut want, mut got) = (vec![[9u8; 32]; count], vec![[9u8; 32]; count]);
                Lanes::Scalar.hash_fixed(&data[..len], msg_len, &mut want);
                lanes.hash_fixed(&data[..len], msg_len, &mut got);
                let what = format!("{}: fixed {len} bytes / {msg_len} x {count}", lanes.name());
                assert_digests(&what, &got, &want);
                let mut reference = vec![[9u8; 32]; count];
                KeccakHasher.hash_fixed(&data[..len], msg_len, &mut reference);
                assert_digests(&what, &want, &reference);
            }
            for (i, &(ends, count)) in var_cases.iter().enumerate() {
                let (mut want, mut got) = (vec![[9u8; 32]; count], vec![[9u8; 32]; count]);
                Lanes::Scalar.hash_var(&data, ends, &mut want);
                lanes.hash_var(&data, ends, &mut got);
                assert_digests(&format!("{}: var case {i}", lanes.name()), &got, &want);
                let mut reference = vec![[9u8; 32]; count];
                KeccakHasher.hash_var(&data, &ends[..ends.len().min(count)], &mut reference);
                assert_digests(&format!("scalar: var case {i}"), &want, &reference);
            }
        }
    }
}

// ---------------------------------------------------------------- api

mod api {
    use parex_offload::{make_hasher, DeviceSpec, HasherKind, OffloadError};

    #[test]
    fn hasher_kind_parses_and_cpu_hasher_works() {
        assert_eq!("cpu".parse::<HasherKind>().unwrap(), HasherKind::Cpu);
        assert_eq!("OpenCL".parse::<HasherKind>().unwrap(), HasherKind::OpenCl);
        let e = "gpu".parse::<HasherKind>().unwrap_err();
        assert!(matches!(e, OffloadError::UnknownHasherKind { .. }));
        assert!(e.to_string().contains("`gpu`"));
        let mut h = make_hasher(HasherKind::Cpu, None, None).unwrap();
        let mut out = [[0u8; 32]; 1];
        h.hash_fixed(b"", 0, &mut out);
        assert_eq!(out[0], parex_core::keccak256(b""));
    }

    #[cfg(not(feature = "opencl"))]
    #[test]
    fn opencl_not_compiled_in() {
        assert!(matches!(parex_offload::list_devices(), Err(OffloadError::OpenClNotCompiled)));
        let spec: DeviceSpec = "pocl".parse().unwrap();
        let e = make_hasher(HasherKind::OpenCl, Some(&spec), None).err().expect("error");
        assert!(matches!(e, OffloadError::OpenClNotCompiled));
        assert!(e.to_string().contains("not compiled in"));
        eprintln!("note: built without the `opencl` feature: OpenCL device tests not compiled");
    }

    #[test]
    fn errors_display_their_details() {
        let e =
            OffloadError::Build { device: "dev".into(), status: -11, log: "line 3: oops".into() };
        let text = e.to_string();
        assert!(
            text.contains("CL_BUILD_PROGRAM_FAILURE") && text.contains("line 3: oops"),
            "{text}"
        );
        let e = OffloadError::Cl { call: "clFinish", status: Some(-5), detail: String::new() };
        assert!(
            e.to_string().contains("clFinish") && e.to_string().contains("CL_OUT_OF_RESOURCES")
        );
        assert_eq!(e.cl_status(), Some(-5));
        assert!(e.is_device_failure());
        let e = OffloadError::NoPlatform { call: "clGetPlatformIDs", status: -1001 };
        assert!(e.to_string().contains("CL_PLATFORM_NOT_FOUND_KHR"));
        assert!(!e.is_device_failure());
        let _: &dyn std::error::Error = &e;
        assert!("1:x".parse::<DeviceSpec>().unwrap_err().to_string().contains("`1:x`"));
    }
}

// ---------------------------------------------------------------- device

#[cfg(feature = "opencl")]
mod device {
    use super::*;
    use parex_offload::{
        list_devices, make_hasher, DeviceSpec, HasherKind, OffloadError, OpenClHasher,
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
            assert_digests(
                &format!("fixed, chunk {chunk}"),
                &out,
                &reference_fixed(&data, 64, 2000),
            );
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
        let mut boxed =
            make_hasher(HasherKind::OpenCl, Some(&spec), Some(&path)).expect("make_hasher");
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
}
