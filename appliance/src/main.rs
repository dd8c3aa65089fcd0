//! The appliance image: runs the reference block once (the engine policy, one worker)
//! and reports over semihosting. `cargo build --release` gives the image whose flash
//! size `README.md` quotes; `cargo run --release` boots it in QEMU.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use parex_appliance::{check_engine, exit, reference_memory, stack};
use parex_core::policy::Mode;

#[entry]
fn main() -> ! {
    // First thing, so that `stack::peak` sees everything `app` does.
    stack::paint();
    let ok = app();
    hprintln!("appliance: stack peak since boot {} bytes", stack::peak());
    exit(ok)
}

/// Out of line: its frame (with `ReferenceMemory::new`'s temporaries) lies below the
/// stack pointer `main` painted from.
#[inline(never)]
fn app() -> bool {
    match reference_memory() {
        Some(mem) => check_engine(mem, Mode::Parallel(1), "policy (1 worker)"),
        None => false,
    }
}
