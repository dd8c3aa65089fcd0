//! The Keccak team's ShortMsgKAT_256 vectors through every backend.

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
