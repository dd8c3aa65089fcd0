#!/usr/bin/env bash
# Embedded checks for parex-core (no_std, alloc-free, 32-bit atomics only):
#   1. parex-core builds for thumbv7em-none-eabihf and riscv32imac-unknown-none-elf,
#      with and without the `defmt` feature;
#   2. it builds on riscv32imac with `-Zbuild-std=core` (nightly): no `alloc` anywhere;
#   3. appliance/ runs the reference block under QEMU (Cortex-M4, mps2-an386) with both
#      engines and must reach the pinned state root and block hash;
#   4. prints the flash and RAM size of the appliance image (release, opt-level "z", LTO);
#   5. builds the minimal image (the sequential engine alone), runs it under QEMU and
#      fails if it takes more than 64 KiB of flash or of RAM (static + stack peak).
#
# Installs what it needs (rustup targets, nightly + rust-src, qemu-system-arm,
# binutils-arm-none-eabi) and is idempotent. Meant to run as root on Debian with rustup.
# Usage: bash .ci/embedded.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TARGETS=(thumbv7em-none-eabihf riscv32imac-unknown-none-elf)
START=$SECONDS

section() {
    printf '\n==== [%3ss] %s ====\n' "$((SECONDS - START))" "$*"
}

# ---------------------------------------------------------------------------------------
section "setup: toolchains and tools"

installed_targets="$(rustup target list --installed)"
for target in "${TARGETS[@]}"; do
    if ! grep -qx "$target" <<<"$installed_targets"; then
        rustup target add "$target"
    fi
done

# Nightly is only for -Zbuild-std; install it once, never update it here.
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal --component rust-src
elif ! rustup component list --installed --toolchain nightly | grep -q '^rust-src'; then
    rustup component add rust-src --toolchain nightly
fi

apt_packages=()
command -v qemu-system-arm >/dev/null || apt_packages+=(qemu-system-arm)
command -v arm-none-eabi-size >/dev/null || apt_packages+=(binutils-arm-none-eabi)
if ((${#apt_packages[@]})); then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${apt_packages[@]}"
fi

rustc --version
rustc +nightly --version
qemu-system-arm --version | head -n1
arm-none-eabi-size --version | head -n1

LOCKED=()
if [ -f Cargo.lock ]; then LOCKED=(--locked); fi
# Cross builds of core get their own target dir (host builds keep ./target).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target-embedded}"

# ---------------------------------------------------------------------------------------
for target in "${TARGETS[@]}"; do
    for features in "" "defmt"; do
        section "build parex-core --target $target${features:+ --features $features}"
        cargo build -p parex-core --target "$target" "${LOCKED[@]}" \
            ${features:+--features "$features"}
    done
done

# ---------------------------------------------------------------------------------------
section "alloc-free proof: parex-core on riscv32imac with -Zbuild-std=core (nightly)"
# Only `core` is built for the target, so any `extern crate alloc` (in parex-core or a
# dependency) fails to resolve.
cargo +nightly build -p parex-core --target riscv32imac-unknown-none-elf \
    -Zbuild-std=core "${LOCKED[@]}"

# ---------------------------------------------------------------------------------------
section "appliance: reference block under QEMU (cortex-m4, mps2-an386)"
cd "$ROOT/appliance"
# The appliance has its own workspace, config (.cargo/config.toml: target, linker
# script, QEMU runner under `timeout 60`) and target dir.
export CARGO_TARGET_DIR="$ROOT/appliance/target"
# Fails (QEMU exits 1, or 124 on timeout) unless every engine matches the pinned values.
cargo test

# ---------------------------------------------------------------------------------------
section "appliance: image size (release: opt-level \"z\", LTO, codegen-units 1)"
cargo build --release
IMAGE="$CARGO_TARGET_DIR/thumbv7em-none-eabihf/release/parex-appliance"
arm-none-eabi-size -A "$IMAGE" | grep -E '^(section|\.vector_table|\.text|\.rodata|\.data|\.bss|\.uninit) '
arm-none-eabi-size -A "$IMAGE" | awk '
    $1 == ".vector_table" || $1 == ".text" || $1 == ".rodata" || $1 == ".data" { flash += $2 }
    $1 == ".data" || $1 == ".bss" || $1 == ".uninit" { ram += $2 }
    $1 == ".text" { text = $2 } $1 == ".rodata" { rodata = $2 }
    END {
        printf "flash: %d bytes (%.1f KiB): .text+.rodata %d bytes, plus vector table and .data\n", flash, flash / 1024, text + rodata
        printf "static RAM: %d bytes (%.1f KiB) .data+.bss+.uninit (stack not included)\n", ram, ram / 1024
    }'
# The image itself prints the stack high-water mark of its reference run.
cargo run --release

# ---------------------------------------------------------------------------------------
section "appliance: minimal image (the sequential engine alone), at most 64 KiB flash and 64 KiB RAM"
cargo build --release --bin parex-appliance-minimal
MINIMAL="$CARGO_TARGET_DIR/thumbv7em-none-eabihf/release/parex-appliance-minimal"
arm-none-eabi-size -A "$MINIMAL" | grep -E '^(section|\.vector_table|\.text|\.rodata|\.data|\.bss|\.uninit) '
read -r FLASH STATIC < <(arm-none-eabi-size -A "$MINIMAL" | awk '
    $1 == ".vector_table" || $1 == ".text" || $1 == ".rodata" || $1 == ".data" { flash += $2 }
    $1 == ".data" || $1 == ".bss" || $1 == ".uninit" { ram += $2 }
    END { print flash, ram }')
RUN_LOG="$(cargo run --release --bin parex-appliance-minimal 2>&1)"
echo "$RUN_LOG"
STACK="$(sed -n 's/.*stack peak since boot \([0-9]*\) bytes.*/\1/p' <<<"$RUN_LOG" | tail -n1)"
echo "minimal image: flash $FLASH bytes, RAM $((STATIC + STACK)) bytes ($STATIC static + $STACK stack peak)"
if [ "$FLASH" -gt 65536 ] || [ $((STATIC + STACK)) -gt 65536 ]; then
    echo "minimal image: over its 64 KiB budget (flash or RAM)"
    exit 1
fi

section "embedded checks passed in $((SECONDS - START)) s"
