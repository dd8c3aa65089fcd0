//! The minimal appliance image: the reference block on the sequential engine alone
//! (`reference::run_sequential`: no policy, no parallel engine linked), in the memory
//! that needs ([`SequentialMemory`](parex_core::reference::SequentialMemory), a
//! `static`), reporting over semihosting. `.ci/embedded.sh` prints its size and runs it
//! in QEMU; it must reach the same pinned root and hash as every engine.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use parex_appliance::{check_sequential, image_main, sequential_memory};

#[entry]
fn main() -> ! {
    image_main("appliance (minimal)", app)
}

fn app() -> bool {
    let Some(mem) = sequential_memory() else { return false };
    hprintln!(
        "appliance (minimal): SequentialMemory is {} bytes (static .bss)",
        core::mem::size_of_val(mem)
    );
    check_sequential(mem)
}
