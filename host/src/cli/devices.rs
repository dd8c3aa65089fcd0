//! `parex devices`: the OpenCL platforms and devices.

use std::io::Write;

use parex_offload::OffloadError;

use super::error::{output_error, CliError};
use super::hashing::prepare_opencl_env;

/// What to install when no OpenCL platform or device is found.
const INSTALL_POCL: &str = "to run OpenCL on the CPU, install PoCL (Debian/Ubuntu: \
     `apt-get install pocl-opencl-icd`), or a GPU or FPGA vendor's OpenCL driver";

/// `parex devices`.
pub(super) fn execute(stdout: &mut dyn Write) -> Result<(), CliError> {
    prepare_opencl_env();
    match parex_offload::list_devices() {
        Ok(devices) if devices.is_empty() => {
            writeln!(stdout, "no OpenCL devices found; {INSTALL_POCL}").map_err(output_error)
        }
        Ok(devices) => {
            for d in devices {
                writeln!(stdout, "{d}").map_err(output_error)?;
            }
            Ok(())
        }
        Err(OffloadError::OpenClNotCompiled) => Err(CliError::OpenClNotCompiled),
        Err(e @ OffloadError::NoPlatform { .. }) => {
            writeln!(stdout, "no OpenCL platform found ({e}); {INSTALL_POCL}").map_err(output_error)
        }
        Err(e) => Err(CliError::Devices(e)),
    }
}
