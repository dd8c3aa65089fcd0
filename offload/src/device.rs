//! Which OpenCL device to use: [`DeviceSpec`] (parsed from the command line) and
//! [`DeviceInfo`] (what [`crate::list_devices`] reports). Both are plain data, present
//! with or without the `opencl` feature, and selection is pure Rust so it is tested
//! without a device.
//!
//! Device specification syntax:
//!
//! | text | meaning |
//! | --- | --- |
//! | `auto` or empty | the first GPU, else the first accelerator, else the first device |
//! | `P:D`, e.g. `0:1` | device `D` of platform `P` (indices as [`crate::list_devices`] prints them) |
//! | `N`, e.g. `2` | the `N`-th device over all platforms, counting from 0 |
//! | `cpu`, `gpu`, `accelerator` (or `fpga`, `acc`) | the first device of that type |
//! | anything else, e.g. `pocl` | the first device whose platform name, platform vendor or device name contains the text, ignoring case |

use crate::OffloadError;
use std::fmt;
use std::str::FromStr;

/// An OpenCL device type (`CL_DEVICE_TYPE_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeviceType {
    /// `CL_DEVICE_TYPE_CPU` (PoCL's `pthread` device, for one).
    Cpu,
    /// `CL_DEVICE_TYPE_GPU`.
    Gpu,
    /// `CL_DEVICE_TYPE_ACCELERATOR`: FPGAs and fixed-function accelerators.
    Accelerator,
    /// `CL_DEVICE_TYPE_CUSTOM`.
    Custom,
    /// Anything else a driver reports.
    Other,
}

impl fmt::Display for DeviceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Cpu => "cpu",
            Self::Gpu => "gpu",
            Self::Accelerator => "accelerator",
            Self::Custom => "custom",
            Self::Other => "other",
        })
    }
}

/// One OpenCL device, as enumerated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Index of the platform in the ICD loader's list.
    pub platform_index: usize,
    /// `CL_PLATFORM_NAME`.
    pub platform_name: String,
    /// `CL_PLATFORM_VENDOR` (PoCL's is "The pocl project").
    pub platform_vendor: String,
    /// Index of the device within its platform.
    pub device_index: usize,
    /// `CL_DEVICE_NAME`.
    pub device_name: String,
    /// `CL_DEVICE_TYPE`.
    pub device_type: DeviceType,
    /// `CL_DEVICE_MAX_MEM_ALLOC_SIZE`: the largest single buffer, in bytes.
    pub max_alloc: u64,
    /// `CL_DEVICE_MAX_COMPUTE_UNITS`.
    pub compute_units: u32,
    /// `CL_DEVICE_MAX_WORK_GROUP_SIZE`.
    pub max_work_group_size: usize,
}

impl DeviceInfo {
    /// `P:D`, the index pair a [`DeviceSpec`] accepts.
    pub fn index_spec(&self) -> String {
        format!("{}:{}", self.platform_index, self.device_index)
    }
}

impl fmt::Display for DeviceInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{} {} [{}] on {}: {} compute units, max alloc {} MiB, max work-group {}",
            self.platform_index,
            self.device_index,
            self.device_name,
            self.device_type,
            self.platform_name,
            self.compute_units,
            self.max_alloc >> 20,
            self.max_work_group_size
        )
    }
}

/// Which device to use; see the module docs for the text syntax.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum DeviceSpec {
    /// The first GPU, else the first accelerator, else the first device.
    #[default]
    Auto,
    /// Device `device` of platform `platform`.
    Index {
        /// Platform index.
        platform: usize,
        /// Device index within the platform.
        device: usize,
    },
    /// The `n`-th device over all platforms.
    Ordinal(usize),
    /// The first device of this type.
    Type(DeviceType),
    /// The first device whose platform name, platform vendor or device name contains this
    /// text (any case).
    Name(String),
}

impl DeviceSpec {
    /// Picks the device this specification names from an enumeration (in
    /// [`crate::list_devices`] order); `None` if none matches.
    pub fn select<'a>(&self, devices: &'a [DeviceInfo]) -> Option<&'a DeviceInfo> {
        match self {
            Self::Auto => [DeviceType::Gpu, DeviceType::Accelerator]
                .iter()
                .find_map(|t| devices.iter().find(|d| d.device_type == *t))
                .or_else(|| devices.first()),
            Self::Index { platform, device } => {
                devices.iter().find(|d| d.platform_index == *platform && d.device_index == *device)
            }
            Self::Ordinal(n) => devices.get(*n),
            Self::Type(t) => devices.iter().find(|d| d.device_type == *t),
            Self::Name(name) => {
                let name = name.to_lowercase();
                devices.iter().find(|d| {
                    [&d.platform_name, &d.platform_vendor, &d.device_name]
                        .iter()
                        .any(|field| field.to_lowercase().contains(&name))
                })
            }
        }
    }
}

impl FromStr for DeviceSpec {
    type Err = OffloadError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let bad = |reason| OffloadError::BadDeviceSpec { spec: s.to_string(), reason };
        if text.is_empty() || text.eq_ignore_ascii_case("auto") {
            return Ok(Self::Auto);
        }
        if let Some((p, d)) = text.split_once(':') {
            let platform = p.trim().parse().map_err(|_| bad("platform index is not a number"))?;
            let device = d.trim().parse().map_err(|_| bad("device index is not a number"))?;
            return Ok(Self::Index { platform, device });
        }
        if text.bytes().all(|b| b.is_ascii_digit()) {
            return text.parse().map(Self::Ordinal).map_err(|_| bad("device number too large"));
        }
        Ok(match text.to_ascii_lowercase().as_str() {
            "cpu" => Self::Type(DeviceType::Cpu),
            "gpu" => Self::Type(DeviceType::Gpu),
            "accelerator" | "acc" | "fpga" => Self::Type(DeviceType::Accelerator),
            "custom" => Self::Type(DeviceType::Custom),
            _ => Self::Name(text.to_string()),
        })
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Index { platform, device } => write!(f, "{platform}:{device}"),
            Self::Ordinal(n) => write!(f, "{n}"),
            Self::Type(t) => write!(f, "{t}"),
            Self::Name(n) => f.write_str(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(p: usize, d: usize, name: &str, t: DeviceType) -> DeviceInfo {
        DeviceInfo {
            platform_index: p,
            platform_name: if p == 0 { "Portable Computing Language" } else { "Acme" }.into(),
            platform_vendor: if p == 0 { "The pocl project" } else { "Acme Inc" }.into(),
            device_index: d,
            device_name: name.into(),
            device_type: t,
            max_alloc: 1 << 30,
            compute_units: 2,
            max_work_group_size: 4096,
        }
    }

    #[test]
    fn parses_every_form() {
        let p = |s: &str| s.parse::<DeviceSpec>().unwrap();
        assert_eq!(p(""), DeviceSpec::Auto);
        assert_eq!(p("AUTO"), DeviceSpec::Auto);
        assert_eq!(p("0:1"), DeviceSpec::Index { platform: 0, device: 1 });
        assert_eq!(p(" 2 : 3 "), DeviceSpec::Index { platform: 2, device: 3 });
        assert_eq!(p("4"), DeviceSpec::Ordinal(4));
        assert_eq!(p("cpu"), DeviceSpec::Type(DeviceType::Cpu));
        assert_eq!(p("FPGA"), DeviceSpec::Type(DeviceType::Accelerator));
        assert_eq!(p("pocl"), DeviceSpec::Name("pocl".into()));
        assert!(matches!(
            "x:1".parse::<DeviceSpec>(),
            Err(OffloadError::BadDeviceSpec { reason: "platform index is not a number", .. })
        ));
        assert!("0:".parse::<DeviceSpec>().is_err());
        for s in ["auto", "0:1", "4", "cpu", "accelerator", "pocl"] {
            assert_eq!(p(&p(s).to_string()), p(s));
        }
    }

    #[test]
    fn selects_by_every_form() {
        let devs = [
            dev(0, 0, "pthread-skylake", DeviceType::Cpu),
            dev(1, 0, "Widget FPGA", DeviceType::Accelerator),
            dev(1, 1, "Widget GPU", DeviceType::Gpu),
        ];
        let sel = |s: &str| s.parse::<DeviceSpec>().unwrap().select(&devs).map(|d| d.index_spec());
        assert_eq!(sel("auto").as_deref(), Some("1:1"));
        assert_eq!(sel("1:0").as_deref(), Some("1:0"));
        assert_eq!(sel("2").as_deref(), Some("1:1"));
        assert_eq!(sel("cpu").as_deref(), Some("0:0"));
        assert_eq!(sel("fpga").as_deref(), Some("1:0"));
        assert_eq!(sel("POCL").as_deref(), Some("0:0"));
        assert_eq!(sel("3"), None);
        assert_eq!(sel("nvidia"), None);
        assert_eq!(
            DeviceSpec::Auto.select(&devs[..1]).map(|d| d.index_spec()).as_deref(),
            Some("0:0")
        );
        assert_eq!(DeviceSpec::Auto.select(&[]), None);
    }
}
