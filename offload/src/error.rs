//! [`OffloadError`]: every way a backend can refuse or fail, typed.
//!
//! OpenCL failures keep the failing call's name and its status code; a program build
//! failure keeps the compiler log in its own field. Nothing here waits or aborts: every
//! error is returned as soon as the condition is seen.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// An error from a hash backend, device enumeration or a parser of this crate.
#[derive(Debug)]
#[non_exhaustive]
pub enum OffloadError {
    /// The crate was built without the `opencl` feature.
    OpenClNotCompiled,
    /// The OpenCL ICD loader found no platform (no driver installed, or none usable).
    NoPlatform {
        /// The OpenCL call that reported it.
        call: &'static str,
        /// Its status code (`CL_PLATFORM_NOT_FOUND_KHR` is -1001), or 0 when the call
        /// succeeded but listed no platform.
        status: i32,
    },
    /// Platforms exist but no device matches the request.
    NoDevice {
        /// The device specification asked for (see [`crate::DeviceSpec`]).
        wanted: String,
        /// How many devices all platforms offered.
        available: usize,
    },
    /// An OpenCL call failed.
    Cl {
        /// The OpenCL call (`clEnqueueNDRangeKernel`, ...).
        call: &'static str,
        /// Its status code, when the call returned one.
        status: Option<i32>,
        /// The OpenCL wrapper's own description when there is no status, else empty.
        detail: String,
    },
    /// `clBuildProgram` failed; `log` is the device compiler's build log.
    Build {
        /// The device the program was built for.
        device: String,
        /// The status `clBuildProgram` returned.
        status: i32,
        /// The compiler's build log, verbatim.
        log: String,
    },
    /// The OpenCL program lacks a kernel this call needs (a custom source or an older
    /// program binary); the work can still go another way.
    MissingKernel {
        /// The kernel's name.
        name: &'static str,
    },
    /// A batch with no message in it.
    EmptyBatch,
    /// A batch (or one message of it) exceeds what the backend can address.
    BatchTooLarge {
        /// What is too large ("message", "batch", ...).
        what: &'static str,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A batch whose lengths do not describe whole messages.
    BadLengths {
        /// Which rule the batch breaks.
        reason: &'static str,
    },
    /// Reading or writing a program binary failed.
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A device specification that does not parse.
    BadDeviceSpec {
        /// The text given.
        spec: String,
        /// Why it does not parse.
        reason: &'static str,
    },
    /// A hasher kind other than `cpu` or `opencl`.
    UnknownHasherKind {
        /// The text given.
        given: String,
    },
    /// The OpenCL wrapper panicked (it does on some unexpected driver answers); the panic
    /// was caught.
    Panicked {
        /// The operation that was running.
        call: &'static str,
        /// The panic message.
        message: String,
    },
}

impl OffloadError {
    /// Whether this error means the device is unusable (as opposed to a batch the caller
    /// got wrong or that simply does not fit). The hashers fall back to the CPU for good
    /// after such an error.
    pub fn is_device_failure(&self) -> bool {
        matches!(self, Self::Cl { .. } | Self::Build { .. } | Self::Panicked { .. })
    }

    /// The OpenCL status code carried by this error, if any.
    pub fn cl_status(&self) -> Option<i32> {
        match self {
            Self::NoPlatform { status, .. } | Self::Build { status, .. } => Some(*status),
            Self::Cl { status, .. } => *status,
            _ => None,
        }
    }
}

/// The symbolic name of an OpenCL status code, for the common ones.
pub fn cl_status_name(status: i32) -> &'static str {
    match status {
        0 => "CL_SUCCESS",
        -1 => "CL_DEVICE_NOT_FOUND",
        -2 => "CL_DEVICE_NOT_AVAILABLE",
        -3 => "CL_COMPILER_NOT_AVAILABLE",
        -4 => "CL_MEM_OBJECT_ALLOCATION_FAILURE",
        -5 => "CL_OUT_OF_RESOURCES",
        -6 => "CL_OUT_OF_HOST_MEMORY",
        -7 => "CL_PROFILING_INFO_NOT_AVAILABLE",
        -11 => "CL_BUILD_PROGRAM_FAILURE",
        -30 => "CL_INVALID_VALUE",
        -32 => "CL_INVALID_PLATFORM",
        -33 => "CL_INVALID_DEVICE",
        -34 => "CL_INVALID_CONTEXT",
        -36 => "CL_INVALID_COMMAND_QUEUE",
        -38 => "CL_INVALID_MEM_OBJECT",
        -42 => "CL_INVALID_BINARY",
        -43 => "CL_INVALID_BUILD_OPTIONS",
        -44 => "CL_INVALID_PROGRAM",
        -45 => "CL_INVALID_PROGRAM_EXECUTABLE",
        -46 => "CL_INVALID_KERNEL_NAME",
        -48 => "CL_INVALID_KERNEL",
        -49 => "CL_INVALID_ARG_INDEX",
        -50 => "CL_INVALID_ARG_VALUE",
        -51 => "CL_INVALID_ARG_SIZE",
        -52 => "CL_INVALID_KERNEL_ARGS",
        -54 => "CL_INVALID_WORK_GROUP_SIZE",
        -55 => "CL_INVALID_WORK_ITEM_SIZE",
        -61 => "CL_INVALID_BUFFER_SIZE",
        -63 => "CL_INVALID_GLOBAL_WORK_SIZE",
        -1001 => "CL_PLATFORM_NOT_FOUND_KHR",
        _ => "unknown status",
    }
}

impl fmt::Display for OffloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OpenClNotCompiled => {
                f.write_str("OpenCL support is not compiled in (build with the `opencl` feature)")
            }
            Self::NoPlatform { call, status } => write!(
                f,
                "no OpenCL platform: {call} returned {status} ({}); install an ICD such as \
                 pocl-opencl-icd (see /etc/OpenCL/vendors or OCL_ICD_VENDORS)",
                cl_status_name(*status)
            ),
            Self::NoDevice { wanted, available } => write!(
                f,
                "no OpenCL device matches `{wanted}` ({available} device(s) found; PoCL lists \
                 none when POCL_CACHE_DIR is not writable)"
            ),
            Self::Cl { call, status: Some(s), .. } => {
                write!(f, "OpenCL call {call} failed with {s} ({})", cl_status_name(*s))
            }
            Self::Cl { call, status: None, detail } => {
                write!(f, "OpenCL call {call} failed: {detail}")
            }
            Self::Build { device, status, log } => write!(
                f,
                "building the Keccak program for `{device}` failed with {status} ({}); build \
                 log:\n{log}",
                cl_status_name(*status)
            ),
            Self::EmptyBatch => f.write_str("empty batch: no message to hash"),
            Self::BatchTooLarge { what, size, limit } => {
                write!(f, "{what} too large: {size} bytes, the limit is {limit}")
            }
            Self::BadLengths { reason } => write!(f, "inconsistent batch: {reason}"),
            Self::MissingKernel { name } => {
                write!(f, "the OpenCL program has no kernel `{name}`")
            }
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::BadDeviceSpec { spec, reason } => {
                write!(f, "bad device specification `{spec}`: {reason}")
            }
            Self::UnknownHasherKind { given } => {
                write!(f, "unknown hasher `{given}` (expected `cpu` or `opencl`)")
            }
            Self::Panicked { call, message } => {
                write!(f, "the OpenCL wrapper panicked during {call}: {message}")
            }
        }
    }
}

impl std::error::Error for OffloadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
