//! Platforms and devices: the direct platform probe, device descriptions, the listing.

use super::{cl_err, guarded, opening, Result};
use crate::{DeviceInfo, DeviceType, OffloadError};
use ocl::core::{
    self as cl, ffi, DeviceId, DeviceInfo as ClDeviceInfo, DeviceInfoResult, PlatformId,
    PlatformInfo, PlatformInfoResult, Status,
};

/// The platforms, or [`OffloadError::NoPlatform`] at once when there is none.
fn platform_ids() -> Result<Vec<PlatformId>> {
    let mut count: ffi::cl_uint = 0;
    // SAFETY: asks for the platform count only: the spec allows a zero-length list with a
    // null pointer, and `count` is a live local that the call writes one cl_uint to.
    let status = unsafe { ffi::clGetPlatformIDs(0, std::ptr::null_mut(), &mut count) };
    if status != 0 || count == 0 {
        return Err(OffloadError::NoPlatform { call: "clGetPlatformIDs", status });
    }
    // Platforms exist, so the wrapper's retry loop (taken only on "none found") is skipped.
    cl::get_platform_ids().map_err(cl_err("clGetPlatformIDs"))
}

pub(super) fn clean(s: String) -> String {
    s.trim_end_matches('\0').trim().to_string()
}

fn describe(
    platform_index: usize,
    (platform_name, platform_vendor): (&str, &str),
    device_index: usize,
    id: DeviceId,
) -> Result<DeviceInfo> {
    let get = |req| cl::get_device_info(id, req).map_err(cl_err("clGetDeviceInfo"));
    let device_name = match get(ClDeviceInfo::Name)? {
        DeviceInfoResult::Name(n) => clean(n),
        other => other.to_string(),
    };
    let device_type = match get(ClDeviceInfo::Type)? {
        DeviceInfoResult::Type(t) if t.contains(cl::DeviceType::GPU) => DeviceType::Gpu,
        DeviceInfoResult::Type(t) if t.contains(cl::DeviceType::ACCELERATOR) => {
            DeviceType::Accelerator
        }
        DeviceInfoResult::Type(t) if t.contains(cl::DeviceType::CPU) => DeviceType::Cpu,
        DeviceInfoResult::Type(t) if t.contains(cl::DeviceType::CUSTOM) => DeviceType::Custom,
        _ => DeviceType::Other,
    };
    let max_alloc = match get(ClDeviceInfo::MaxMemAllocSize)? {
        DeviceInfoResult::MaxMemAllocSize(n) => n,
        _ => 0,
    };
    let compute_units = match get(ClDeviceInfo::MaxComputeUnits)? {
        DeviceInfoResult::MaxComputeUnits(n) => n,
        _ => 0,
    };
    let max_work_group_size = match get(ClDeviceInfo::MaxWorkGroupSize)? {
        DeviceInfoResult::MaxWorkGroupSize(n) => n,
        _ => 1,
    };
    Ok(DeviceInfo {
        platform_index,
        platform_name: platform_name.to_string(),
        platform_vendor: platform_vendor.to_string(),
        device_index,
        device_name,
        device_type,
        max_alloc,
        compute_units,
        max_work_group_size,
    })
}

/// Every device of every platform, with the handles needed to open one.
pub(super) fn enumerate() -> Result<Vec<(DeviceInfo, PlatformId, DeviceId)>> {
    let mut found = Vec::new();
    for (pi, platform) in platform_ids()?.into_iter().enumerate() {
        let platform_text = |req| {
            cl::get_platform_info(platform, req).map_err(cl_err("clGetPlatformInfo")).map(|r| {
                match r {
                    PlatformInfoResult::Name(n) | PlatformInfoResult::Vendor(n) => clean(n),
                    other => other.to_string(),
                }
            })
        };
        let name = platform_text(PlatformInfo::Name)?;
        let vendor = platform_text(PlatformInfo::Vendor)?;
        let ids = match cl::get_device_ids(platform, Some(cl::DeviceType::ALL), None) {
            Ok(ids) => ids,
            Err(e) if e.api_status() == Some(Status::CL_DEVICE_NOT_FOUND) => continue,
            Err(e) => return Err(cl_err("clGetDeviceIDs")(e)),
        };
        for (di, id) in ids.into_iter().enumerate() {
            found.push((describe(pi, (&name, &vendor), di, id)?, platform, id));
        }
    }
    Ok(found)
}

/// Lists every OpenCL device (see [`crate::list_devices`]).
pub(crate) fn list_devices() -> Result<Vec<DeviceInfo>> {
    let _one = opening();
    guarded("device enumeration", || Ok(enumerate()?.into_iter().map(|(i, _, _)| i).collect()))
}
