//! `hash` on known vectors and bad hex, and `hash-bench`'s table.

use super::*;

#[test]
fn hash_known_vectors() {
    let out = parex_with_stdin(&["hash"], "\n616263\n0x616263\r\n");
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout,
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470\n\
         4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45\n\
         4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45\n"
    );
    // More lines than one batch, in order.
    let input: String = (0..5000).map(|i| format!("{:08x}\n", i)).collect();
    let out = parex_with_stdin(&["hash"], &input);
    assert_eq!(out.code, 0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 5000);
    assert_eq!(lines[4321], hex(&parex::core::keccak256(&4321u32.to_be_bytes())));
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn hash_bad_hex_names_the_line() {
    let out = parex_with_stdin(&["hash"], "00\n0xzz\n11\n");
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(out.stderr.contains("stdin:2:3: bad hex"), "{out:?}");
    assert_eq!(out.stdout.lines().count(), 1, "the digest of line 1 is printed: {out:?}");
    let out = parex_with_stdin(&["hash"], "abc\n");
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("stdin:1:") && out.stderr.contains("odd"), "{out:?}");
}

#[test]
fn hash_bench_prints_a_row_per_batch_and_a_column_per_chunk_size() {
    let out = parex(&["hash-bench", "--batch", "16,64", "--min-ms", "1", "--chunk-bytes", "1K,1M"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with("Keccak-256, 64-byte messages"), "{out:?}");
    assert!(out.stdout.contains("cpu-1"), "{out:?}");
    for batch in ["        16 ", "        64 "] {
        assert!(out.stdout.contains(batch), "{batch}: {out:?}");
    }
    // Each chunk size is its own device column, or (no device here) a skipped backend.
    let opened = out.stdout.contains("opencl/1K") && out.stdout.contains("opencl/1M");
    assert!(opened || out.stderr.contains("backend skipped: opencl/1K"), "{out:?}");
}
