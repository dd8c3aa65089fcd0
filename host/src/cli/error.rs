//! [`CliError`]: what ended a command, and the exit status it ends with.

use std::fmt;

use crate::blockfile::InputError;

/// Exit status: success.
pub const EXIT_OK: i32 = 0;
/// Exit status: a failure that is not the input's fault.
pub const EXIT_FAILURE: i32 = 1;
/// Exit status: bad input (usage, files, hex).
pub const EXIT_BAD_INPUT: i32 = 2;

/// What ended a command.
#[derive(Debug)]
pub enum CliError {
    /// The input is wrong (exit status 2).
    BadInput(String),
    /// Something else failed (exit status 1).
    Failed(String),
}

impl CliError {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::BadInput(_) => EXIT_BAD_INPUT,
            Self::Failed(_) => EXIT_FAILURE,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (Self::BadInput(m) | Self::Failed(m)) = self;
        f.write_str(&m.replace(['\n', '\r'], " "))
    }
}

impl std::error::Error for CliError {}

impl From<InputError> for CliError {
    fn from(e: InputError) -> Self {
        Self::BadInput(e.to_string())
    }
}

pub(super) fn output_error(e: std::io::Error) -> CliError {
    CliError::Failed(format!("cannot write output: {e}"))
}

pub(super) const OPENCL_NOT_COMPILED: &str = "OpenCL support is not compiled in; rebuild with \
     `cargo build --release --features opencl` (needs the OpenCL ICD loader, Debian: \
     ocl-icd-opencl-dev)";
