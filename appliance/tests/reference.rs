//! The reference block under QEMU (`mps2-an386`, Cortex-M4F): every engine must reach
//! the state root and block hash pinned in `parex_core::reference` (and by the host's
//! `tests/suite/reference.rs`). Prints one line per check, then
//! `appliance: N passed, M failed`, and exits QEMU with status 0 only if all passed.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use parex_appliance::{check_engine, exit, reference_memory, reset, stack, ENGINES};

#[entry]
fn main() -> ! {
    // First thing, so that `stack::peak` sees everything `run_all` does.
    stack::paint();
    hprintln!("appliance: reference block on Cortex-M4F (no allocator, no std)");
    let failed = run_all();
    hprintln!("appliance: stack peak since boot {} bytes", stack::peak());
    hprintln!("appliance: {} passed, {} failed", ENGINES.len() - failed, failed);
    exit(failed == 0)
}

/// Checks every engine on fresh buffers; returns how many failed. Out of line, like
/// everything it calls, so `main`'s paint covers its frames.
#[inline(never)]
fn run_all() -> usize {
    let Some(mem) = reference_memory() else {
        hprintln!("appliance: FAIL: reference memory already taken");
        return ENGINES.len();
    };
    hprintln!("appliance: ReferenceMemory is {} bytes (static .bss)", core::mem::size_of_val(mem));
    let mut failed = 0;
    for (i, (engine, name)) in ENGINES.into_iter().enumerate() {
        if i > 0 {
            reset(mem);
        }
        if !check_engine(mem, engine, name) {
            failed += 1;
        }
    }
    failed
}
