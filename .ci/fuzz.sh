#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer via libfuzzer-sys) of the transaction decoder, the
# VM, the block-file parsers and the sharded checkpoint (parsed and resumed from), for
# FUZZ_SECONDS each (default 10), or FUZZ_RUNS runs. Works on stable Rust: the
# sanitizer-coverage passes are enabled by RUSTFLAGS (what cargo-fuzz does, minus
# AddressSanitizer), with debug assertions and overflow checks on. A crash leaves its
# input in fuzz/artifacts/ and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-10}"
host="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# --target keeps RUSTFLAGS off build scripts (instrumented build scripts do not link).
cargo build --release --manifest-path fuzz/Cargo.toml --target "$host" --target-dir fuzz/target/cov
mkdir -p fuzz/artifacts
# FUZZ_RUNS=N runs each target N times instead (the recorded 10^7-run soak).
if [ -n "${FUZZ_RUNS:-}" ]; then limit=(-runs="$FUZZ_RUNS"); what="$FUZZ_RUNS runs"
else limit=(-max_total_time="$seconds"); what="${seconds}s"; fi
for t in tx_decode vm block_file checkpoint; do
  mkdir -p "fuzz/corpus/$t"
  # Start from the kept seeds: the corpus of the last long run, minimised (fuzz/seeds/).
  cp -n "fuzz/seeds/$t/"* "fuzz/corpus/$t/" 2>/dev/null || true
  echo "fuzz: $t for $what"
  # A checkpoint worth resuming from takes a few KB (its seed: two shards, 4 KB).
  max_len=512; [ "$t" = checkpoint ] && max_len=8192
  "fuzz/target/cov/$host/release/$t" "fuzz/corpus/$t" "${limit[@]}" -max_len="$max_len" \
    -artifact_prefix="fuzz/artifacts/$t-" -print_final_stats=1 2>&1 | grep -E "^(Done|stat::number_of_executed_units)|ERROR|panicked" || true
  if compgen -G "fuzz/artifacts/$t-*" >/dev/null; then
    echo "fuzz: $t found a crash: $(ls fuzz/artifacts/$t-*)"
    exit 1
  fi
done
echo "fuzz: no crashes"
