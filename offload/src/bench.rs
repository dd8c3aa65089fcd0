//! Break-even measurement: [`bench_table`] times every backend on every batch size and
//! finds the smallest batch from which a device backend beats the best CPU backend.
//! The host exposes it as `parex hash-bench`; the criterion bench (`benches/hash.rs`)
//! measures the same backends with statistics.

use parex_core::Hasher;
use std::fmt;
use std::time::{Duration, Instant};

/// A backend to measure.
pub struct BenchBackend {
    /// Its label in the table (`cpu-1`, `cpu-all`, `opencl`, ...).
    pub name: String,
    /// Whether it is a device backend (compared against the best CPU backend).
    pub is_device: bool,
    /// The hasher.
    pub hasher: Box<dyn Hasher + Send>,
}

impl fmt::Debug for BenchBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BenchBackend")
            .field("name", &self.name)
            .field("is_device", &self.is_device)
            .finish()
    }
}

/// A backend [`default_backends`] left out, and why. Prints as `NAME: REASON`.
#[derive(Debug)]
pub struct SkippedBackend {
    /// Its label (`cpu-all`, `opencl`, `opencl/64K`, ...).
    pub name: String,
    /// Why it is not measured.
    pub reason: SkipReason,
}

/// Why a backend is not measured.
#[derive(Debug)]
pub enum SkipReason {
    /// This build lacks the Cargo feature the backend needs (`rayon` for `cpu-all`).
    FeatureOff(&'static str),
    /// The backend would not open; without the `opencl` feature the device backends are
    /// [`crate::OffloadError::OpenClNotCompiled`].
    Unavailable(crate::OffloadError),
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FeatureOff(feature) => write!(f, "the `{feature}` feature is off"),
            Self::Unavailable(e) => e.fmt(f),
        }
    }
}

impl fmt::Display for SkippedBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.reason)
    }
}

/// The backends this build has: `cpu-1`, `cpu-all` (feature `rayon`) and `opencl` on the
/// `device` (feature `opencl`). A backend that cannot be opened is left out; the second
/// list says which and why.
///
/// `chunk_bytes` lists the OpenCL pipeline's chunk sizes to measure
/// ([`crate::OpenClHasher::set_chunk_bytes`]): empty measures one `opencl` backend with
/// the default; otherwise there is one backend per size, named `opencl/SIZE` (`SIZE` in
/// KiB or MiB), each on its own copy of the device.
pub fn default_backends(
    device: Option<&crate::DeviceSpec>,
    chunk_bytes: &[usize],
) -> (Vec<BenchBackend>, Vec<SkippedBackend>) {
    let mut backends = vec![BenchBackend {
        name: "cpu-1".to_string(),
        is_device: false,
        hasher: Box::new(crate::CpuHasher::single_thread()),
    }];
    let mut skipped = Vec::new();
    #[cfg(feature = "rayon")]
    backends.push(BenchBackend {
        name: "cpu-all".to_string(),
        is_device: false,
        hasher: Box::new(crate::CpuHasher::all_threads()),
    });
    #[cfg(not(feature = "rayon"))]
    skipped.push(SkippedBackend {
        name: "cpu-all".to_string(),
        reason: SkipReason::FeatureOff("rayon"),
    });
    let chunks: Vec<Option<usize>> = match chunk_bytes {
        [] => vec![None],
        sizes => sizes.iter().map(|&b| Some(b)).collect(),
    };
    for chunk in chunks {
        let name = match chunk {
            None => "opencl".to_string(),
            Some(b) => format!("opencl/{}", size_label(b)),
        };
        match open_device(device, chunk) {
            Ok(hasher) => backends.push(BenchBackend { name, is_device: true, hasher }),
            Err(e) => {
                skipped.push(SkippedBackend { name, reason: SkipReason::Unavailable(e) });
                // The device will not open for the next chunk size either.
                break;
            }
        }
    }
    (backends, skipped)
}

#[cfg(feature = "opencl")]
fn open_device(
    device: Option<&crate::DeviceSpec>,
    chunk_bytes: Option<usize>,
) -> Result<Box<dyn Hasher + Send>, crate::OffloadError> {
    let mut hasher = crate::OpenClHasher::new(device.unwrap_or(&crate::DeviceSpec::Auto))?;
    if let Some(bytes) = chunk_bytes {
        hasher.set_chunk_bytes(bytes);
    }
    Ok(Box::new(hasher))
}

#[cfg(not(feature = "opencl"))]
fn open_device(
    _device: Option<&crate::DeviceSpec>,
    _chunk_bytes: Option<usize>,
) -> Result<Box<dyn Hasher + Send>, crate::OffloadError> {
    Err(crate::OffloadError::OpenClNotCompiled)
}

/// `1048576` → `1M`, `65536` → `64K`, other sizes in bytes.
fn size_label(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{}M", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{}K", b >> 10),
        b => b.to_string(),
    }
}

/// One measurement.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchRow {
    /// The backend's name.
    pub backend: String,
    /// Messages per batch.
    pub batch: usize,
    /// Hashes per second (messages hashed / wall time, transfers included).
    pub hashes_per_sec: f64,
    /// Batches run.
    pub batches: u64,
}

/// Where a device backend starts to pay against a reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BreakEven {
    /// The device backend.
    pub backend: String,
    /// What it is compared with: `best CPU` (the fastest CPU backend at each size) or
    /// one CPU backend's name.
    pub reference: String,
    /// The smallest measured batch size from which on (for it and every larger measured
    /// size) the backend hashes at least as fast as the reference; `None` if it never
    /// does at the measured sizes.
    pub batch: Option<usize>,
}

/// Result of [`bench_table`].
#[derive(Clone, Debug, PartialEq)]
pub struct BenchTable {
    /// Message length measured, in bytes.
    pub msg_len: usize,
    /// One row per backend per batch size, batch sizes ascending within a backend.
    pub rows: Vec<BenchRow>,
    /// One entry per device backend.
    pub break_even: Vec<BreakEven>,
}

impl BenchTable {
    /// The rate of `backend` at `batch`, if measured.
    pub fn rate(&self, backend: &str, batch: usize) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| r.backend == backend && r.batch == batch)
            .map(|r| r.hashes_per_sec)
    }
}

impl fmt::Display for BenchTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = Vec::new();
        let mut batches: Vec<usize> = Vec::new();
        for r in &self.rows {
            if !names.contains(&r.backend.as_str()) {
                names.push(&r.backend);
            }
            if !batches.contains(&r.batch) {
                batches.push(r.batch);
            }
        }
        batches.sort_unstable();
        writeln!(f, "Keccak-256, {}-byte messages, hashes/s", self.msg_len)?;
        write!(f, "{:>10}", "batch")?;
        for n in &names {
            write!(f, " {n:>14}")?;
        }
        writeln!(f)?;
        for b in &batches {
            write!(f, "{b:>10}")?;
            for n in &names {
                match self.rate(n, *b) {
                    Some(r) => write!(f, " {r:>14.0}")?,
                    None => write!(f, " {:>14}", "-")?,
                }
            }
            writeln!(f)?;
        }
        for be in &self.break_even {
            match be.batch {
                Some(b) => {
                    writeln!(f, "break-even ({} vs {}): {b} messages", be.backend, be.reference)?
                }
                None => writeln!(
                    f,
                    "break-even ({} vs {}): none at these sizes",
                    be.backend, be.reference
                )?,
            }
        }
        Ok(())
    }
}

/// Deterministic message bytes for benchmarks (a xorshift stream).
pub fn bench_data(len: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Times every backend on batches of every size in `batch_sizes` (messages of `msg_len`
/// bytes through [`Hasher::hash_fixed`]): one warm-up batch, then batches until
/// `min_time` has passed. Returns the rates and each device backend's break-even batch
/// size against the fastest CPU backend at each size and against each CPU backend.
pub fn bench_table(
    backends: &mut [BenchBackend],
    msg_len: usize,
    batch_sizes: &[usize],
    min_time: Duration,
) -> BenchTable {
    let mut sizes: Vec<usize> = batch_sizes.iter().copied().filter(|&b| b > 0).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let largest = sizes.last().copied().unwrap_or(0);
    let data = bench_data(largest * msg_len);
    let mut out = vec![[0u8; 32]; largest];
    let mut rows = Vec::new();
    for backend in backends.iter_mut() {
        for &batch in &sizes {
            let (data, out) = (&data[..batch * msg_len], &mut out[..batch]);
            backend.hasher.hash_fixed(data, msg_len, out);
            let start = Instant::now();
            let mut batches = 0u64;
            while batches == 0 || start.elapsed() < min_time {
                backend.hasher.hash_fixed(data, msg_len, out);
                batches += 1;
            }
            let secs = start.elapsed().as_secs_f64().max(1e-9);
            rows.push(BenchRow {
                backend: backend.name.clone(),
                batch,
                hashes_per_sec: (batches as f64 * batch as f64) / secs,
                batches,
            });
        }
    }
    let rate = |name: &str, batch: usize| {
        rows.iter()
            .find(|r| r.backend == name && r.batch == batch)
            .map_or(0.0, |r| r.hashes_per_sec)
    };
    // Each device backend against the best CPU backend, then against each CPU backend.
    let cpus: Vec<&str> =
        backends.iter().filter(|b| !b.is_device).map(|b| b.name.as_str()).collect();
    let mut references: Vec<(String, Vec<&str>)> = vec![("best CPU".to_string(), cpus.clone())];
    if cpus.len() > 1 {
        references.extend(cpus.iter().map(|c| (c.to_string(), vec![*c])));
    }
    let mut break_even = Vec::new();
    for dev in backends.iter().filter(|b| b.is_device) {
        for (reference, group) in &references {
            let wins: Vec<bool> = sizes
                .iter()
                .map(|&batch| {
                    let best = group.iter().map(|c| rate(c, batch)).fold(0.0, f64::max);
                    rate(&dev.name, batch) >= best
                })
                .collect();
            let from = wins.iter().rposition(|w| !w).map_or(0, |i| i + 1);
            break_even.push(BreakEven {
                backend: dev.name.clone(),
                reference: reference.clone(),
                batch: sizes.get(from).copied(),
            });
        }
    }
    BenchTable { msg_len, rows, break_even }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CpuHasher;

    #[test]
    fn table_has_every_row_and_a_break_even() {
        let mut backends = vec![
            BenchBackend {
                name: "a".into(),
                is_device: false,
                hasher: Box::new(CpuHasher::single_thread()),
            },
            BenchBackend {
                name: "b".into(),
                is_device: true,
                hasher: Box::new(CpuHasher::single_thread()),
            },
        ];
        let t = bench_table(&mut backends, 64, &[4, 1, 4], Duration::from_millis(2));
        assert_eq!(t.rows.len(), 4);
        assert!(t.rows.iter().all(|r| r.hashes_per_sec > 0.0 && r.batches >= 1));
        assert_eq!(t.break_even.len(), 1);
        let text = t.to_string();
        assert!(text.contains("break-even (b vs best CPU)"), "{text}");
    }

    #[test]
    fn skipped_backends_say_why() {
        let (backends, skipped) = default_backends(None, &[1 << 10]);
        assert_eq!(backends[0].name, "cpu-1");
        for s in &skipped {
            match &s.reason {
                SkipReason::FeatureOff(feature) => {
                    assert_eq!((s.name.as_str(), *feature), ("cpu-all", "rayon"));
                    assert_eq!(s.to_string(), "cpu-all: the `rayon` feature is off");
                }
                SkipReason::Unavailable(e) => {
                    assert!(s.name.starts_with("opencl/"), "{s}");
                    assert_eq!(s.to_string(), format!("{}: {e}", s.name));
                }
            }
        }
        #[cfg(not(feature = "opencl"))]
        {
            let opencl = skipped.iter().find(|s| s.name == "opencl/1K").expect("opencl skipped");
            let reason = &opencl.reason;
            assert!(
                matches!(reason, SkipReason::Unavailable(crate::OffloadError::OpenClNotCompiled)),
                "{opencl}"
            );
        }
    }

    #[test]
    fn chunk_sizes_are_labelled_in_binary_units() {
        assert_eq!(size_label(1 << 20), "1M");
        assert_eq!(size_label(16 << 20), "16M");
        assert_eq!(size_label(256 << 10), "256K");
        assert_eq!(size_label(1000), "1000");
    }
}
