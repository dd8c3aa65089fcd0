//! Every SIMD backend this CPU runs (`Lanes::available()`: scalar, AVX2, AVX-512) on the
//! KATs, long and random batches and inconsistent lengths. `PAREX_REQUIRE_LANES=avx512`
//! (or `avx2`) makes a missing backend a failure.

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
