//! Keccak-256 batch throughput (hashes/s) per backend: CPU on one thread, CPU on all
//! threads (feature `rayon`), OpenCL end to end (transfers included) and OpenCL kernel
//! only (data resident on the device, timed by profiling events) (feature `opencl`).
//!
//! Batches of 1k and 64k messages of 64 and 136 bytes; `PAREX_BENCH_LARGE=1` adds 1M.
//! `PAREX_BENCH_DEVICE` picks the OpenCL device (see `docs/offload.md`; default `auto`).
//!
//! Group `lanes_64B`: one thread, `tiny-keccak` (`keccak256` in a loop) against every
//! SIMD backend this CPU runs (`Lanes::available()`), batches of 256, 1024 and 4096
//! 64-byte messages.
//!
//! ```text
//! cargo bench -p parex --bench hash --features opencl,rayon -- --measurement-time 2 --warm-up-time 1
//! cargo bench -p parex --bench hash -- lanes --measurement-time 2 --warm-up-time 1
//! ```

use criterion::{BenchmarkId, Criterion, Throughput};
use parex::core::Hasher;
use parex::offload::bench::bench_data;
use parex::offload::{CpuHasher, Lanes};
use std::time::Duration;

fn batch_sizes() -> Vec<usize> {
    let mut sizes = vec![1 << 10, 1 << 16];
    if std::env::var("PAREX_BENCH_LARGE").is_ok_and(|v| v == "1") {
        sizes.push(1 << 20);
    }
    sizes
}

#[cfg(feature = "opencl")]
fn open_device() -> Option<parex::offload::OpenClHasher> {
    if std::env::var_os("POCL_CACHE_DIR").is_none() {
        let dir = std::env::temp_dir().join("parex-offload-pocl-cache");
        if std::fs::create_dir_all(&dir).is_ok() {
            std::env::set_var("POCL_CACHE_DIR", &dir);
        }
    }
    let spec = std::env::var("PAREX_BENCH_DEVICE").unwrap_or_default();
    let opened = spec
        .parse::<parex::offload::DeviceSpec>()
        .and_then(|spec| parex::offload::OpenClHasher::new(&spec));
    match opened {
        Ok(h) => {
            eprintln!("OpenCL device: {}", h.device());
            Some(h)
        }
        Err(e) => {
            eprintln!("\n*** OpenCL benches SKIPPED: no OpenCL device ({e}) ***\n");
            None
        }
    }
}

fn keccak_batches(c: &mut Criterion) {
    #[cfg(feature = "opencl")]
    let mut device = open_device();
    for msg_len in [64usize, 136] {
        let mut group = c.benchmark_group(format!("keccak256_{msg_len}B"));
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(3))
            .warm_up_time(Duration::from_secs(1));
        for n in batch_sizes() {
            let data = bench_data(n * msg_len);
            let mut out = vec![[0u8; 32]; n];
            group.throughput(Throughput::Elements(n as u64));

            let mut cpu1 = CpuHasher::single_thread();
            group.bench_with_input(BenchmarkId::new("cpu-1", n), &n, |b, _| {
                b.iter(|| cpu1.hash_fixed(&data, msg_len, &mut out))
            });

            #[cfg(feature = "rayon")]
            {
                let mut all = CpuHasher::all_threads();
                group.bench_with_input(BenchmarkId::new("cpu-all", n), &n, |b, _| {
                    b.iter(|| all.hash_fixed(&data, msg_len, &mut out))
                });
            }

            #[cfg(feature = "opencl")]
            if let Some(dev) = device.as_mut() {
                group.bench_with_input(BenchmarkId::new("opencl", n), &n, |b, _| {
                    b.iter(|| dev.try_hash_fixed(&data, msg_len, &mut out).expect("device batch"))
                });
                group.bench_with_input(BenchmarkId::new("opencl-kernel", n), &n, |b, _| {
                    b.iter_custom(|iters| {
                        dev.time_kernel_fixed(&data, msg_len, n, iters).expect("kernel timing")
                    })
                });
            }
        }
        group.finish();
    }
}

fn lanes_batches(c: &mut Criterion) {
    let msg_len = 64;
    let mut group = c.benchmark_group(format!("lanes_{msg_len}B"));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for n in [256usize, 1024, 4096] {
        let data = bench_data(n * msg_len);
        let mut out = vec![[0u8; 32]; n];
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("tiny-keccak", n), &n, |b, _| {
            b.iter(|| {
                for (msg, o) in data.chunks_exact(msg_len).zip(out.iter_mut()) {
                    *o = parex::core::keccak256(msg);
                }
            })
        });
        for lanes in Lanes::available() {
            group.bench_with_input(BenchmarkId::new(lanes.name(), n), &n, |b, _| {
                b.iter(|| lanes.hash_fixed(&data, msg_len, &mut out))
            });
        }
    }
    group.finish();
}

// `criterion_group!` would generate an undocumented `pub fn`; this is its expansion.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    keccak_batches(&mut c);
    lanes_batches(&mut c);
    c.final_summary();
}
