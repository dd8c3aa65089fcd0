//! The Keccak program: where it comes from, its build (with the log on failure) and its
//! binary read back for saving.

use super::devices::clean;
use super::engine::Engine;
use super::{cl_err, Result};
use crate::{DeviceInfo, OffloadError};
use ocl::core::{
    self as cl, ffi, DeviceId, Program, ProgramBuildInfo, ProgramBuildInfoResult, ProgramInfo,
    ProgramInfoResult,
};

pub(super) const KERNEL_FIXED: &str = "keccak256_fixed";
pub(super) const KERNEL_VAR: &str = "keccak256_var";
/// The two kernels of a levels batch; optional (a custom source or an older binary may
/// lack them: such batches then go level by level).
pub(super) const KERNEL_LINKS: &str = "keccak256_links";
pub(super) const KERNEL_LEVEL: &str = "keccak256_level";

/// Where the program comes from.
pub(super) enum ProgramSource<'a> {
    Source(&'a str),
    Binary(&'a [u8]),
}

/// Calls `clBuildProgram` directly so that a failure always comes back with its status
/// and the build log (the wrapper loses the status, and the failure itself when the log
/// is empty).
pub(super) fn build(program: &Program, device: DeviceId, info: &DeviceInfo) -> Result<()> {
    let options = c"";
    let device_ptr = cl::ClDeviceIdPtr::as_ptr(&device);
    // SAFETY: `program` and `device` are live handles of one context; the device list is
    // one pointer read during the call; `options` is NUL-terminated and static; no
    // callback, so the call blocks until the build ends.
    let status = unsafe {
        ffi::clBuildProgram(
            program.as_ptr(),
            1,
            &device_ptr,
            options.as_ptr(),
            None,
            std::ptr::null_mut(),
        )
    };
    if status == 0 {
        return Ok(());
    }
    let log = match cl::get_program_build_info(program, device, ProgramBuildInfo::BuildLog) {
        Ok(ProgramBuildInfoResult::BuildLog(log)) => clean(log),
        Ok(other) => other.to_string(),
        Err(e) => format!("<build log unavailable: {}>", e.to_string().trim()),
    };
    Err(OffloadError::Build { device: info.device_name.clone(), status, log })
}

impl Engine {
    pub(super) fn binary(&self) -> Result<Vec<u8>> {
        match cl::get_program_info(&self.program, ProgramInfo::Binaries)
            .map_err(cl_err("clGetProgramInfo"))?
        {
            ProgramInfoResult::Binaries(mut bins)
                if bins.first().is_some_and(|b| !b.is_empty()) =>
            {
                Ok(bins.swap_remove(0))
            }
            _ => Err(OffloadError::Cl {
                call: "clGetProgramInfo",
                status: None,
                detail: "the driver returned no program binary".to_string(),
            }),
        }
    }
}
