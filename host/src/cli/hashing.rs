//! `--hasher`, `--device` and `--program-binary`, and opening the hasher they name.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use parex_core::hash::Hasher;
use parex_offload::{DeviceSpec, HasherKind, OffloadError};

use super::error::{CliError, OffloadReason};

/// Which Keccak-256 backend hashes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
enum HasherArg {
    /// The CPU: several messages per permutation with AVX-512 or AVX2 when present,
    /// tiny-keccak otherwise.
    #[default]
    Cpu,
    /// An OpenCL device (falls back to the CPU with a warning when unavailable).
    Opencl,
}

impl From<HasherArg> for HasherKind {
    fn from(h: HasherArg) -> Self {
        match h {
            HasherArg::Cpu => HasherKind::Cpu,
            HasherArg::Opencl => HasherKind::OpenCl,
        }
    }
}

#[derive(Args, Debug, Clone)]
pub(super) struct HasherOpts {
    /// Keccak-256 backend: for `run` and `bench` the state, transaction and receipt roots
    /// and the block hashes; for `hash` the messages read.
    #[arg(long, value_enum, default_value_t = HasherArg::Cpu)]
    hasher: HasherArg,
    /// OpenCL device: `auto`, `P:D`, `N`, `cpu`, `gpu`, `accelerator` or a name part.
    #[arg(long, value_name = "SPEC")]
    device: Option<String>,
    /// Prebuilt OpenCL program binary to load instead of compiling the kernel (FPGA flow).
    #[arg(long, value_name = "FILE")]
    program_binary: Option<PathBuf>,
}

impl HasherOpts {
    /// Whether the CPU backend was asked for.
    pub(super) fn is_cpu(&self) -> bool {
        self.hasher == HasherArg::Cpu
    }
}

/// The hasher a command runs with.
pub(super) struct Hashing {
    pub(super) hasher: Box<dyn Hasher + Send>,
    pub(super) used: HasherKind,
    pub(super) requested: HasherKind,
}

/// PoCL needs a writable kernel cache or it reports no device.
pub(super) fn prepare_opencl_env() {
    #[cfg(feature = "opencl")]
    if std::env::var_os("POCL_CACHE_DIR").is_none() {
        let dir = std::env::temp_dir().join("parex-offload-pocl-cache");
        if std::fs::create_dir_all(&dir).is_ok() {
            std::env::set_var("POCL_CACHE_DIR", &dir);
        }
    }
}

/// Parses `--device`, when given.
pub(super) fn device_spec(text: Option<&str>) -> Result<Option<DeviceSpec>, CliError> {
    text.map(|t| t.parse::<DeviceSpec>().map_err(CliError::DeviceSpec)).transpose()
}

/// Opens the requested hasher; an unavailable OpenCL device falls back to the CPU with
/// one warning line on `stderr`.
pub(super) fn open_hasher(opts: &HasherOpts, stderr: &mut dyn Write) -> Result<Hashing, CliError> {
    let requested: HasherKind = opts.hasher.into();
    let cpu = || parex_offload::make_hasher(HasherKind::Cpu, None, None);
    let cpu_hashing = |requested| -> Result<Hashing, CliError> {
        let hasher = cpu().map_err(CliError::CpuHasher)?;
        Ok(Hashing { hasher, used: HasherKind::Cpu, requested })
    };
    if requested == HasherKind::Cpu {
        return cpu_hashing(requested);
    }
    let spec = device_spec(opts.device.as_deref())?;
    prepare_opencl_env();
    match parex_offload::make_hasher(requested, spec.as_ref(), opts.program_binary.as_deref()) {
        Ok(hasher) => Ok(Hashing { hasher, used: requested, requested }),
        Err(OffloadError::Io { path, source }) => Err(CliError::ProgramBinary { path, source }),
        Err(e) => {
            let _ = writeln!(
                stderr,
                "parex: warning: --hasher opencl unavailable ({}); hashing on the CPU",
                OffloadReason(&e)
            );
            cpu_hashing(requested)
        }
    }
}
