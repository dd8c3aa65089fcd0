//! Prints the break-even table of [`parex_offload::bench_table`]: hashes/s per backend
//! per batch size, and the batch size from which the OpenCL device beats the CPU.
//!
//! ```text
//! cargo run --release -p parex-offload --features opencl,rayon --example hash_bench -- [MSG_LEN] [MIN_MS] [DEVICE]
//! ```

use parex_offload::{bench::default_backends, bench_table, DeviceSpec};
use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1);
    let msg_len: usize = args.next().map_or(64, |a| a.parse().expect("MSG_LEN"));
    let min_ms: u64 = args.next().map_or(300, |a| a.parse().expect("MIN_MS"));
    let device: Option<DeviceSpec> = args.next().map(|a| a.parse().expect("DEVICE"));
    if std::env::var_os("POCL_CACHE_DIR").is_none() {
        let dir = std::env::temp_dir().join("parex-offload-pocl-cache");
        if std::fs::create_dir_all(&dir).is_ok() {
            std::env::set_var("POCL_CACHE_DIR", &dir);
        }
    }
    let (mut backends, skipped) = default_backends(device.as_ref(), &[]);
    for s in &skipped {
        eprintln!("skipped {s}");
    }
    let sizes: Vec<usize> = (4..=18).step_by(2).map(|p| 1usize << p).collect();
    let table = bench_table(&mut backends, msg_len, &sizes, Duration::from_millis(min_ms));
    print!("{table}");
}
