//! parex-offload integration tests, one binary; one file a concern under `suite/`.
//!
//! - `kat`: the Keccak team's ShortMsgKAT_256 vectors through every backend.
//! - `cpu`: the CPU backends against each other and the hook contract.
//! - `lanes`: every SIMD backend this CPU runs (`Lanes::available()`: scalar, AVX2,
//!   AVX-512) on the KATs, long and random batches and inconsistent lengths.
//!   `PAREX_REQUIRE_LANES=avx512` (or `avx2`) makes a missing backend a failure.
//! - `api`: kinds, specs, errors that need no device.
//! - `device` (feature `opencl`): OpenCL against the CPU byte for byte, Merkle roots,
//!   program binaries, errors, fallback. A missing device is a failure when
//!   `PAREX_REQUIRE_OPENCL=1`, else the test prints `SKIPPED` and passes.

use parex_core::{keccak256, Hash32, Hasher, KeccakHasher};
use parex_offload::{CpuHasher, Lanes};

#[path = "suite/helpers.rs"]
mod helpers;
use helpers::*;

#[path = "suite/kat.rs"]
mod kat;

#[path = "suite/cpu.rs"]
mod cpu;

#[path = "suite/lanes.rs"]
mod lanes;

#[path = "suite/api.rs"]
mod api;

#[cfg(feature = "opencl")]
#[path = "suite/device.rs"]
mod device;
