//! What the suites share: the KAT file, digest comparison, deterministic random bytes,
//! batch builders, the CPU backends of this build, and the checks run on every backend.

use parex_core::{keccak256, Hash32, Hasher, KeccakHasher};
use parex_offload::CpuHasher;

/// `(message, digest)` for every byte-aligned vector of the KAT file.
pub(crate) fn kat_vectors() -> Vec<(Vec<u8>, Hash32)> {
    let text = include_str!("../data/ShortMsgKAT_256.txt");
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

pub(crate) fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Asserts two digest lists are equal, naming the first differing message.
#[track_caller]
pub(crate) fn assert_digests(what: &str, got: &[Hash32], want: &[Hash32]) {
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
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub(crate) fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Concatenated messages plus their end offsets.
pub(crate) fn var_batch(msgs: &[Vec<u8>]) -> (Vec<u8>, Vec<u32>) {
    let mut data = Vec::new();
    let mut ends = Vec::new();
    for m in msgs {
        data.extend_from_slice(m);
        ends.push(data.len() as u32);
    }
    (data, ends)
}

pub(crate) fn reference_fixed(data: &[u8], msg_len: usize, count: usize) -> Vec<Hash32> {
    let mut out = vec![[0u8; 32]; count];
    KeccakHasher.hash_fixed(data, msg_len, &mut out);
    out
}

/// The CPU backends of this build.
pub(crate) fn cpu_backends() -> Vec<(&'static str, CpuHasher)> {
    #[allow(unused_mut)]
    let mut v = vec![("cpu-1", CpuHasher::single_thread())];
    #[cfg(feature = "rayon")]
    v.push(("cpu-all", CpuHasher::all_threads()));
    v
}

/// Runs every KAT vector through `h`: one message at a time with the fixed API, all at
/// once with the var API, and in fixed batches of three copies.
pub(crate) fn check_kats(name: &str, h: &mut dyn Hasher) {
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

/// The hook's contract for inconsistent input: whole messages are hashed, the rest of
/// `out` is left untouched, nothing panics.
pub(crate) fn hook_contract(name: &str, h: &mut dyn Hasher) {
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
