//! The appliance image: runs the reference block once (the engine policy, one worker)
//! and reports over semihosting. `cargo build --release` gives the image whose flash
//! size `README.md` quotes; `cargo run --release` boots it in QEMU.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use parex_appliance::{check_engine, image_main, reference_memory};
use parex_core::policy::Mode;

#[entry]
fn main() -> ! {
    image_main("appliance", app)
}

fn app() -> bool {
    match reference_memory() {
        Some(mem) => check_engine(mem, Mode::Parallel(1), "policy (1 worker)"),
        None => false,
    }
}
