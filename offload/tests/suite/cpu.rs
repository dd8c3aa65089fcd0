//! The CPU backends against each other and the hook contract.

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
