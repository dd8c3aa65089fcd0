//! `parex hash-bench`: hashes/s per backend and batch size, and the break-even batch size.

use std::io::Write;
use std::time::Duration;

use clap::Args;
use parex_offload::SkipReason;

use super::args::positive;
use super::error::{output_error, CliError, OffloadReason};
use super::hashing::{device_spec, prepare_opencl_env};

#[derive(Args, Debug)]
pub(super) struct HashBenchArgs {
    /// Message length in bytes.
    #[arg(long, default_value_t = 64)]
    msg_len: usize,
    /// Batch sizes to measure (comma-separated).
    #[arg(
        long = "batch",
        value_delimiter = ',',
        value_parser = positive,
        default_values_t = [16usize, 64, 256, 1024, 4096, 16384, 65536]
    )]
    batches: Vec<usize>,
    /// Minimum time per backend and batch size, in milliseconds.
    #[arg(long, default_value_t = 200)]
    min_ms: u64,
    /// OpenCL device (see `parex devices`).
    #[arg(long, value_name = "SPEC")]
    device: Option<String>,
    /// OpenCL chunk sizes to compare (comma-separated bytes, `K`/`M` suffixes allowed):
    /// one `opencl/SIZE` column each. Default: one `opencl` column at the default 1M.
    #[arg(long = "chunk-bytes", value_delimiter = ',', value_parser = byte_size)]
    chunk_bytes: Vec<usize>,
}

/// A positive byte count: digits with an optional `K` or `M` suffix (binary units).
fn byte_size(s: &str) -> Result<usize, String> {
    let (digits, unit) = match s.strip_suffix(['K', 'k']) {
        Some(d) => (d, 1usize << 10),
        None => match s.strip_suffix(['M', 'm']) {
            Some(d) => (d, 1 << 20),
            None => (s, 1),
        },
    };
    match digits.parse::<usize>().ok().and_then(|v| v.checked_mul(unit)) {
        Some(v) if v > 0 => Ok(v),
        _ => Err(format!("expected a positive byte count such as 65536, 64K or 16M, got `{s}`")),
    }
}

/// `parex hash-bench`.
pub(super) fn execute(
    a: HashBenchArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<(), CliError> {
    let spec = device_spec(a.device.as_deref())?;
    prepare_opencl_env();
    let (mut backends, skipped) =
        parex_offload::bench::default_backends(spec.as_ref(), &a.chunk_bytes);
    for s in skipped {
        let _ = match &s.reason {
            SkipReason::Unavailable(e) => {
                writeln!(stderr, "parex: note: backend skipped: {}: {}", s.name, OffloadReason(e))
            }
            SkipReason::FeatureOff(_) => writeln!(stderr, "parex: note: backend skipped: {s}"),
        };
    }
    let table = parex_offload::bench_table(
        &mut backends,
        a.msg_len,
        &a.batches,
        Duration::from_millis(a.min_ms),
    );
    write!(stdout, "{table}").map_err(output_error)
}
