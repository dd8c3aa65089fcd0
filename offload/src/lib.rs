//! Keccak-256 in batches, on the CPU or an OpenCL device, behind the core's hash hook
//! [`parex_core::Hasher`].
//!
//! Every digest of a parex state root, transaction root and block hash is computed in
//! whole batches: one Merkle level (fixed 64-byte node pairs), all leaves of a block
//! (variable-length encodings, one buffer plus end offsets). This crate runs those batches:
//!
//! - [`CpuHasher`] (`cpu.rs`): on the calling thread, or over all cores with `rayon`;
//!   each thread hashes with [`Lanes::detect`]'s backend.
//! - [`Lanes`] (`lanes.rs`): multi-lane Keccak-256, 8 messages per permutation with
//!   AVX-512F, 4 with AVX2, else `tiny-keccak`, chosen at run time
//!   (`is_x86_feature_detected!`; scalar only off x86_64).
//! - [`OpenClHasher`] (`opencl/`, feature `opencl`): one work-item per message, kernel
//!   in `keccak.cl` ([`KECCAK_CL`]); programs built once (or loaded from a prebuilt
//!   binary, the FPGA flow), buffers reused across batches, big batches chunked and
//!   pipelined over two queues. As a [`parex_core::Hasher`] it cannot fail: the first
//!   device failure prints one warning on stderr and the hasher continues on the CPU.
//! - [`DeviceSpec`] and [`DeviceInfo`] (`device.rs`): which device, from text such as
//!   `0:1`, `pocl` or `gpu`; [`list_devices`] enumerates them.
//! - [`OffloadError`] (`error.rs`): typed errors that keep the OpenCL call and status and
//!   the compiler log; every one comes back at once, none aborts the process.
//! - [`bench_table`] (`bench.rs`): hashes/s per backend per batch size and the break-even
//!   batch size of the device.
//! - [`hex`] (`hex.rs`): the workspace's one hex reader and writer: [`parse_hex_line`]
//!   reads one hex message per line, [`hex::parse_hex_u64`] and [`hex::parse_hex_bytes`]
//!   the `0x` values of block files, [`hex::hex_string`] and [`hex::hash_hex`] print.
//!
//! Digests are Ethereum's Keccak-256: original Keccak padding (`0x01`, final `0x80`),
//! rate 136 bytes. Every backend is byte-exact with [`parex_core::keccak256`]; the tests
//! run the Keccak team's `ShortMsgKAT_256` vectors through each.
//!
//! # Feature flags
//!
//! - `rayon`: [`CpuHasher::all_threads`] spreads a batch over all cores.
//! - `opencl`: the OpenCL backend ([`OpenClHasher`]) via the `ocl` crate; needs an OpenCL
//!   ICD loader (`libOpenCL.so`) to link and a platform (e.g. PoCL) to run.
//!
//! See `docs/offload.md` for device selection, the FPGA binary flow, environment
//! variables and measured break-even figures.

pub mod bench;
pub mod cpu;
pub mod device;
pub mod error;
pub mod hex;
pub mod lanes;
#[cfg(feature = "opencl")]
pub mod opencl;

pub use bench::{
    bench_table, BenchBackend, BenchRow, BenchTable, BreakEven, SkipReason, SkippedBackend,
};
pub use cpu::CpuHasher;
pub use device::{DeviceInfo, DeviceSpec, DeviceType};
pub use error::OffloadError;
pub use hex::{parse_hex_line, HexError};
pub use lanes::Lanes;
#[cfg(feature = "opencl")]
pub use opencl::OpenClHasher;

use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// The OpenCL C source of the Keccak-256 kernels (`keccak256_fixed`, `keccak256_var`),
/// for offline compilers (FPGA toolchains) and for [`OpenClHasher`].
pub const KECCAK_CL: &str = include_str!("keccak.cl");

/// Which backend [`make_hasher`] builds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum HasherKind {
    /// [`CpuHasher::best`]: all cores with `rayon`, else one.
    #[default]
    Cpu,
    /// [`OpenClHasher`] (feature `opencl`).
    OpenCl,
}

impl FromStr for HasherKind {
    type Err = OffloadError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cpu" => Ok(Self::Cpu),
            "opencl" => Ok(Self::OpenCl),
            _ => Err(OffloadError::UnknownHasherKind { given: s.to_string() }),
        }
    }
}

impl fmt::Display for HasherKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Cpu => "cpu",
            Self::OpenCl => "opencl",
        })
    }
}

/// Builds a hasher for the host.
///
/// `device` (default [`DeviceSpec::Auto`]) and `program_binary` (a prebuilt program to
/// load instead of compiling [`KECCAK_CL`]) apply to [`HasherKind::OpenCl`] only and are
/// ignored for the CPU. Without the `opencl` feature, `OpenCl` is
/// [`OffloadError::OpenClNotCompiled`].
pub fn make_hasher(
    kind: HasherKind,
    device: Option<&DeviceSpec>,
    program_binary: Option<&Path>,
) -> Result<Box<dyn parex_core::Hasher + Send>, OffloadError> {
    match kind {
        HasherKind::Cpu => Ok(Box::new(CpuHasher::best())),
        HasherKind::OpenCl => make_opencl(device, program_binary),
    }
}

#[cfg(feature = "opencl")]
fn make_opencl(
    device: Option<&DeviceSpec>,
    program_binary: Option<&Path>,
) -> Result<Box<dyn parex_core::Hasher + Send>, OffloadError> {
    let auto = DeviceSpec::Auto;
    let spec = device.unwrap_or(&auto);
    let hasher = match program_binary {
        Some(path) => OpenClHasher::from_binary_file(spec, path)?,
        None => OpenClHasher::new(spec)?,
    };
    Ok(Box::new(hasher))
}

#[cfg(not(feature = "opencl"))]
fn make_opencl(
    _device: Option<&DeviceSpec>,
    _program_binary: Option<&Path>,
) -> Result<Box<dyn parex_core::Hasher + Send>, OffloadError> {
    Err(OffloadError::OpenClNotCompiled)
}

/// Every OpenCL device of every platform, in the order [`DeviceSpec`] indices use.
///
/// Answers at once: [`OffloadError::NoPlatform`] when no OpenCL platform is installed,
/// [`OffloadError::OpenClNotCompiled`] without the `opencl` feature.
pub fn list_devices() -> Result<Vec<DeviceInfo>, OffloadError> {
    #[cfg(feature = "opencl")]
    return opencl::list_devices();
    #[cfg(not(feature = "opencl"))]
    Err(OffloadError::OpenClNotCompiled)
}
