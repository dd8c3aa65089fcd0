//! Kinds, specs, errors that need no device.

use parex_offload::{make_hasher, DeviceSpec, HasherKind, OffloadError};

#[test]
fn hasher_kind_parses_and_cpu_hasher_works() {
    assert_eq!("cpu".parse::<HasherKind>().unwrap(), HasherKind::Cpu);
    assert_eq!("OpenCL".parse::<HasherKind>().unwrap(), HasherKind::OpenCl);
    let e = "gpu".parse::<HasherKind>().unwrap_err();
    assert!(matches!(e, OffloadError::UnknownHasherKind { .. }));
    assert!(e.to_string().contains("`gpu`"));
    let mut h = make_hasher(HasherKind::Cpu, None, None).unwrap();
    let mut out = [[0u8; 32]; 1];
    h.hash_fixed(b"", 0, &mut out);
    assert_eq!(out[0], parex_core::keccak256(b""));
}

#[cfg(not(feature = "opencl"))]
#[test]
fn opencl_not_compiled_in() {
    assert!(matches!(parex_offload::list_devices(), Err(OffloadError::OpenClNotCompiled)));
    let spec: DeviceSpec = "pocl".parse().unwrap();
    let e = make_hasher(HasherKind::OpenCl, Some(&spec), None).err().expect("error");
    assert!(matches!(e, OffloadError::OpenClNotCompiled));
    assert!(e.to_string().contains("not compiled in"));
    eprintln!("note: built without the `opencl` feature: OpenCL device tests not compiled");
}

#[test]
fn errors_display_their_details() {
    let e = OffloadError::Build { device: "dev".into(), status: -11, log: "line 3: oops".into() };
    let text = e.to_string();
    assert!(text.contains("CL_BUILD_PROGRAM_FAILURE") && text.contains("line 3: oops"), "{text}");
    let e = OffloadError::Cl { call: "clFinish", status: Some(-5), detail: String::new() };
    assert!(e.to_string().contains("clFinish") && e.to_string().contains("CL_OUT_OF_RESOURCES"));
    assert_eq!(e.cl_status(), Some(-5));
    assert!(e.is_device_failure());
    let e = OffloadError::NoPlatform { call: "clGetPlatformIDs", status: -1001 };
    assert!(e.to_string().contains("CL_PLATFORM_NOT_FOUND_KHR"));
    assert!(!e.is_device_failure());
    let _: &dyn std::error::Error = &e;
    assert!("1:x".parse::<DeviceSpec>().unwrap_err().to_string().contains("`1:x`"));
}
