//! The minimal appliance image: the reference block on the sequential engine alone
//! (`reference::run_sequential`: no policy, no parallel engine linked), in the memory
//! that needs ([`SequentialMemory`](parex_core::reference::SequentialMemory), a
//! `static`), reporting over semihosting. `.ci/embedded.sh` prints its size and runs it
//! in QEMU; it must reach the same pinned root and hash as every engine.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use parex_appliance::{check_sequential, exit, sequential_memory, stack};

#[entry]
fn main() -> ! {
    // First thing, so that `stack::peak` sees everything `app` does.
    stack::paint();
    let ok = app();
    hprintln!("appliance (minimal): stack peak since boot {} bytes", stack::peak());
    exit(ok)
}

/// Out of line: its frame lies below the stack pointer `main` painted from.
#[inline(never)]
fn app() -> bool {
    match sequential_memory() {
        Some(mem) => {
            hprintln!(
                "appliance (minimal): SequentialMemory is {} bytes (static .bss)",
                core::mem::size_of_val(mem)
            );
            check_sequential(mem)
        }
        None => false,
    }
}
