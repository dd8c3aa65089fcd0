//! What the block benches share: one criterion group shape (included by `exec.rs` and
//! `commit.rs`; not a bench of its own).

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};

/// A group of ten samples over three seconds, counting `txs` transactions per iteration.
pub(crate) fn block_group<'c>(
    c: &'c mut Criterion,
    name: &str,
    txs: usize,
) -> BenchmarkGroup<'c, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(txs as u64));
    group
}
