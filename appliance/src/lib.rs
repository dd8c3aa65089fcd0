//! parex-appliance: parex-core on a bare Cortex-M4.
//!
//! The board is QEMU's `mps2-an386` (Cortex-M4F, 4 MiB code SRAM at `0x0000_0000`,
//! 4 MiB data SRAM at `0x2000_0000`, see `memory.x`). Output and the exit status travel
//! over Arm semihosting, so `cargo test` in this directory runs
//! `tests/reference.rs` in QEMU and reads its verdict from QEMU's exit code.
//!
//! There is no global allocator, no `std` and no 64-bit atomics on this target: that
//! the image links at all proves parex-core needs none of them.
//!
//! This library holds what the test program and the size-measurement image
//! (`src/main.rs`) share:
//! * [`reference_memory`]: the one static [`ReferenceMemory`] (111 KiB of `.bss` on this
//!   32-bit target), and [`reset`] to give it fresh buffers between engines;
//! * [`check_engine`]: runs the reference block with one engine and compares the result
//!   with the pinned [`EXPECTED_STATE_ROOT`] and [`EXPECTED_BLOCK_HASH`];
//! * [`stack`]: paints the free stack and measures the run's high-water mark and the
//!   peak since boot;
//! * [`exit`] and the panic handler, which exits QEMU with a failure status.
#![no_std]

pub mod stack;

use core::fmt;
use core::mem::MaybeUninit;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

use cortex_m_semihosting::{debug, hprintln};
use parex_core::error::BlockError;
use parex_core::policy::Mode;
use parex_core::reference::{
    self, Outcome, ReferenceMemory, SequentialMemory, EXPECTED_BLOCK_HASH, EXPECTED_STATE_ROOT,
};
use parex_core::{Hash32, KeccakHasher};

/// The engine modes the appliance checks, with the names it prints: each engine that
/// runs without footprint memory, and the policy's own choice.
pub const ENGINES: [(Mode, &str); 4] = [
    (Mode::Sequential, "sequential"),
    (Mode::BlockStm(1), "block-stm (1 worker)"),
    (Mode::BlockStmAlone, "block-stm (run_alone)"),
    (Mode::Parallel(1), "policy (1 worker)"),
];

/// Returns the sequential-only run's buffers ([`reference::run_sequential`]), built once
/// in a `static` (`.bss`); `None` if called a second time. The minimal image uses these,
/// not [`reference_memory`]'s, so only what the sequential engine needs is linked.
#[inline(never)]
pub fn sequential_memory() -> Option<&'static mut SequentialMemory> {
    static TAKEN: AtomicBool = AtomicBool::new(false);
    static mut MEMORY: MaybeUninit<SequentialMemory> = MaybeUninit::uninit();
    if TAKEN.swap(true, Ordering::AcqRel) {
        return None;
    }
    // SAFETY: `TAKEN` went from false to true exactly once, here, so this is the only
    // reference to `MEMORY` ever made; it lives for the whole program.
    let memory = unsafe { &mut *core::ptr::addr_of_mut!(MEMORY) };
    Some(SequentialMemory::init(memory))
}

/// Returns the reference run's buffers, built once in a `static` (`.bss`).
///
/// Returns `None` if called a second time: the memory is handed out once, as
/// `&'static mut`, so no two callers can alias it.
///
/// Built in place with `ReferenceMemory::init`, element by element, so no temporary of
/// the struct's size ever lands on the stack.
#[inline(never)]
pub fn reference_memory() -> Option<&'static mut ReferenceMemory> {
    static TAKEN: AtomicBool = AtomicBool::new(false);
    static mut MEMORY: MaybeUninit<ReferenceMemory> = MaybeUninit::uninit();
    if TAKEN.swap(true, Ordering::AcqRel) {
        return None;
    }
    // SAFETY: `TAKEN` went from false to true exactly once, here, so this is the only
    // reference to `MEMORY` ever made; it lives for the whole program.
    let memory = unsafe { &mut *core::ptr::addr_of_mut!(MEMORY) };
    Some(ReferenceMemory::init(memory))
}

/// A 32-byte hash printed as lowercase hex.
pub struct Hex<'a>(pub &'a Hash32);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{:02x}", b))
    }
}

/// Gives `mem` fresh buffers, as before each engine's run on the host.
///
/// In place (`ReferenceMemory::reset`), element by element: no temporary of the struct's
/// size.
#[inline(never)]
pub fn reset(mem: &mut ReferenceMemory) {
    mem.reset();
}

/// The reference run, out of line: its whole frame lies below the stack pointer that
/// [`check_engine`] paints from, so the high-water mark counts all of it.
#[inline(never)]
fn run_engine(mem: &mut ReferenceMemory, engine: Mode) -> Result<Outcome, BlockError> {
    reference::run(mem, engine, &mut KeccakHasher)
}

/// The sequential-only run, out of line (as [`run_engine`]).
#[inline(never)]
fn run_alone(mem: &mut SequentialMemory) -> Result<Outcome, BlockError> {
    reference::run_sequential(mem, &mut KeccakHasher)
}

/// Runs the reference block with `engine` on `mem` (fresh from [`reference_memory`] or
/// [`reset`]) and prints what it checked, with the stack the run used. Returns whether
/// both the state root and the block hash match the pinned constants.
pub fn check_engine(mem: &mut ReferenceMemory, engine: Mode, name: &str) -> bool {
    check(name, || run_engine(mem, engine))
}

/// [`check_engine`] for the sequential engine alone, on [`sequential_memory`]'s buffers.
pub fn check_sequential(mem: &mut SequentialMemory) -> bool {
    check("sequential (alone)", || run_alone(mem))
}

/// Runs `run` with a freshly painted stack and checks and prints its outcome.
fn check(name: &str, run: impl FnOnce() -> Result<Outcome, BlockError>) -> bool {
    stack::paint();
    let result = run();
    let stack_used = stack::high_water();
    let out = match result {
        Ok(out) => out,
        Err(e) => {
            hprintln!("appliance: {}: FAIL: reference run returned an error: {}", name, e);
            return false;
        }
    };
    let root_ok = out.header.state_root == EXPECTED_STATE_ROOT;
    let hash_ok = out.block_hash == EXPECTED_BLOCK_HASH;
    hprintln!(
        "appliance: {}: {} txs, gas used {}, stack high-water {} bytes",
        name,
        out.header.tx_count,
        out.header.gas_used,
        stack_used
    );
    report("state root", &out.header.state_root, &EXPECTED_STATE_ROOT, root_ok);
    report("block hash", &out.block_hash, &EXPECTED_BLOCK_HASH, hash_ok);
    let ok = root_ok && hash_ok;
    hprintln!("appliance: {}: {}", name, if ok { "ok" } else { "FAIL" });
    ok
}

fn report(what: &str, got: &Hash32, expected: &Hash32, ok: bool) {
    if ok {
        hprintln!("  {} {} (matches)", what, Hex(got));
    } else {
        hprintln!("  {} {} MISMATCH, expected {}", what, Hex(got), Hex(expected));
    }
}

/// The body of an image's `main`: paints the free stack, runs `app` (through a
/// function pointer, so its frames lie below the paint), prints the stack peak since
/// then under `name` and exits QEMU with `app`'s verdict.
pub fn image_main(name: &str, app: fn() -> bool) -> ! {
    stack::paint();
    let ok = app();
    hprintln!("{}: stack peak since boot {} bytes", name, stack::peak());
    exit(ok)
}

/// Ends the QEMU session: status 0 if `success`, 1 otherwise.
pub fn exit(success: bool) -> ! {
    debug::exit(if success { debug::EXIT_SUCCESS } else { debug::EXIT_FAILURE });
    // Only reached if the semihosting host ignored the exit request.
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    hprintln!("appliance: FAIL: {}", info);
    exit(false)
}
