//! The OpenCL backend (feature `opencl`): [`OpenClHasher`].
//!
//! How a batch runs:
//!
//! 1. The program (`keccak.cl`, or a prebuilt binary for FPGA flows) is built once, when
//!    the hasher is made; both kernels are created then.
//! 2. A batch is cut into chunks of at most `chunk_bytes` input bytes (1 MiB by default)
//!    that also respect the device's `CL_DEVICE_MAX_MEM_ALLOC_SIZE`; a single message that
//!    does not fit is [`OffloadError::BatchTooLarge`] (the [`Hasher`] impl hashes such a
//!    batch on the CPU).
//! 3. Chunks alternate between two slots, each with its own in-order command queue and its
//!    own input, ends and output buffers, so chunk `i + 1` uploads while chunk `i`
//!    computes. Per chunk: non-blocking write, kernel, non-blocking read. Buffers only grow
//!    and are kept across batches.
//! 4. The global size is the message count rounded up to a multiple of the work-group size
//!    (PoCL requires it); the kernels skip work-items past the count.
//! 5. Both queues are finished before any batch function returns, on success and on error
//!    alike: the non-blocking transfers borrow the caller's slices.
//!
//! Every call into the OpenCL wrapper runs under `catch_unwind` (the wrapper panics on
//! some unexpected driver answers) and the platform probe calls `clGetPlatformIDs`
//! directly, because the wrapper's own enumeration sleeps and retries for seconds when
//! no platform is installed.
//!
//! One file a part: `devices.rs` the platform probe and the device listing,
//! `program.rs` the program's source or binary and its build, `engine.rs` the context,
//! the two pipeline slots and their buffers, `batch.rs` how a batch is cut into chunks
//! and queued (and the kernel-only timing); this file the [`OpenClHasher`] API, its
//! fallback to the CPU, and the guard every wrapper call runs under.

use crate::cpu::{fixed_count, var_count, CpuHasher};
use crate::{DeviceInfo, DeviceSpec, OffloadError, KECCAK_CL};
use engine::Engine;
use ocl::core as cl;
use parex_core::hash::{hash_levels_in_turn, Levels};
use parex_core::{Hash32, Hasher};
use program::ProgramSource;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::Duration;

mod batch;
mod devices;
mod engine;
mod levels;
mod program;

pub(crate) use devices::list_devices;

type Result<T> = std::result::Result<T, OffloadError>;

const DIGEST_BYTES: usize = 32;

/// Maps a wrapper error to [`OffloadError::Cl`], keeping the status code and the call.
fn cl_err(call: &'static str) -> impl FnOnce(cl::Error) -> OffloadError {
    move |e| {
        let status = e.api_status().map(|s| s as i32);
        let detail =
            if status.is_some() { String::new() } else { e.to_string().trim().to_string() };
        OffloadError::Cl { call, status, detail }
    }
}

/// Held while a device is enumerated or opened: PoCL's device queries are not safe from
/// several threads at once (under `cargo test` threads, `clGetDeviceInfo` crashed in
/// `strlen` about one run in four while another thread opened the device), and opening
/// is rare enough that doing it one thread at a time costs nothing.
pub(super) static OPENING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Holds [`OPENING`] (a panic elsewhere while it was held leaves nothing to repair).
pub(super) fn opening() -> std::sync::MutexGuard<'static, ()> {
    OPENING.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs `f`, turning a panic inside the OpenCL wrapper into [`OffloadError::Panicked`].
fn guarded<T>(call: &'static str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic payload".to_string());
        Err(OffloadError::Panicked { call, message })
    })
}

/// Keccak-256 batches on an OpenCL device, with a CPU fallback.
///
/// As a [`Hasher`] it is infallible: the first device failure prints one warning on
/// stderr and every later batch runs on the CPU ([`CpuHasher::best`]). The `try_*`
/// methods report errors instead and never fall back.
pub struct OpenClHasher {
    engine: Option<Engine>,
    info: DeviceInfo,
    cpu: CpuHasher,
    cpu_below: usize,
    disabled: Option<String>,
}

impl std::fmt::Debug for OpenClHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenClHasher")
            .field("device", &self.info)
            .field("on_device", &self.engine.is_some())
            .field("cpu_below", &self.cpu_below)
            .field("disabled", &self.disabled)
            .finish()
    }
}

impl OpenClHasher {
    /// Opens the device `spec` names and builds the Keccak kernels from source.
    pub fn new(spec: &DeviceSpec) -> Result<Self> {
        Self::from_source(spec, KECCAK_CL)
    }

    /// Like [`Self::new`] with another kernel source, which must define `keccak256_fixed`
    /// and `keccak256_var` with the signatures of [`KECCAK_CL`] (a tuned variant, say).
    pub fn from_source(spec: &DeviceSpec, source: &str) -> Result<Self> {
        Self::open(spec, ProgramSource::Source(source))
    }

    /// Opens the device and loads a prebuilt program binary (the FPGA flow: `aocx`,
    /// `xclbin` or a binary saved by [`Self::save_program_binary`]).
    pub fn from_binary_file(spec: &DeviceSpec, path: &Path) -> Result<Self> {
        let bin = std::fs::read(path)
            .map_err(|source| OffloadError::Io { path: path.to_path_buf(), source })?;
        Self::from_binary(spec, &bin)
    }

    /// Like [`Self::from_binary_file`] with the binary in memory.
    pub fn from_binary(spec: &DeviceSpec, binary: &[u8]) -> Result<Self> {
        if binary.is_empty() {
            return Err(OffloadError::BadLengths { reason: "the program binary is empty" });
        }
        Self::open(spec, ProgramSource::Binary(binary))
    }

    fn open(spec: &DeviceSpec, source: ProgramSource<'_>) -> Result<Self> {
        let (engine, info) = {
            let _one = opening();
            guarded("opening the device", || Engine::open(spec, source))?
        };
        Ok(Self {
            engine: Some(engine),
            info,
            cpu: CpuHasher::best(),
            cpu_below: 0,
            disabled: None,
        })
    }

    /// The device this hasher runs on.
    pub fn device(&self) -> &DeviceInfo {
        &self.info
    }

    /// Whether batches still go to the device (false after a device failure).
    pub fn is_on_device(&self) -> bool {
        self.engine.is_some()
    }

    /// The work-group (local) size the kernels are launched with.
    pub fn local_size(&self) -> usize {
        self.engine.as_ref().map_or(0, |e| e.local)
    }

    /// Sets the input bytes per pipelined chunk (default 1 MiB; clamped to the device's
    /// max allocation). Smaller chunks overlap transfers with compute sooner.
    pub fn set_chunk_bytes(&mut self, bytes: usize) {
        if let Some(e) = &mut self.engine {
            e.chunk_bytes = bytes.max(1);
        }
    }

    /// As a [`Hasher`], hash batches of fewer than `messages` messages on the CPU (set it
    /// to the measured break-even batch size; 0, the default, sends everything to the
    /// device).
    pub fn set_cpu_below(&mut self, messages: usize) {
        self.cpu_below = messages;
    }

    /// The built program's binary for this device, to save for
    /// [`Self::from_binary_file`].
    pub fn program_binary(&self) -> Result<Vec<u8>> {
        let engine = self.engine()?;
        guarded("reading the program binary", || engine.binary())
    }

    /// Writes [`Self::program_binary`] to `path`.
    pub fn save_program_binary(&self, path: &Path) -> Result<()> {
        let bin = self.program_binary()?;
        std::fs::write(path, bin)
            .map_err(|source| OffloadError::Io { path: path.to_path_buf(), source })
    }

    fn engine(&self) -> Result<&Engine> {
        self.engine.as_ref().ok_or_else(|| self.disabled_error())
    }

    fn disabled_error(&self) -> OffloadError {
        OffloadError::Cl {
            call: "(device disabled)",
            status: None,
            detail: format!(
                "the device was disabled after an earlier failure: {}",
                self.disabled.as_deref().unwrap_or("unknown")
            ),
        }
    }

    /// Hashes `out.len()` messages of `msg_len` bytes on the device, or says why not.
    /// Requires `data.len() == msg_len * out.len()` and a non-empty batch.
    pub fn try_hash_fixed(
        &mut self,
        data: &[u8],
        msg_len: usize,
        out: &mut [Hash32],
    ) -> Result<()> {
        if out.is_empty() {
            return Err(OffloadError::EmptyBatch);
        }
        if msg_len.checked_mul(out.len()) != Some(data.len()) {
            return Err(OffloadError::BadLengths { reason: "data.len() != msg_len * out.len()" });
        }
        let err = self.disabled_error();
        let engine = self.engine.as_mut().ok_or(err)?;
        guarded("keccak256_fixed batch", || engine.run_fixed(data, msg_len, out))
    }

    /// Hashes variable-length messages (`ends` as in [`Hasher::hash_var`]) on the device,
    /// or says why not. Requires `ends.len() == out.len()`, a non-empty batch and `ends`
    /// non-decreasing within `data`.
    pub fn try_hash_var(&mut self, data: &[u8], ends: &[u32], out: &mut [Hash32]) -> Result<()> {
        if out.is_empty() {
            return Err(OffloadError::EmptyBatch);
        }
        if ends.len() != out.len() {
            return Err(OffloadError::BadLengths { reason: "ends.len() != out.len()" });
        }
        if var_count(data.len(), ends, out.len()) != out.len() {
            return Err(OffloadError::BadLengths {
                reason: "ends must be non-decreasing and at most data.len()",
            });
        }
        let err = self.disabled_error();
        let engine = self.engine.as_mut().ok_or(err)?;
        guarded("keccak256_var batch", || engine.run_var(data, ends, out))
    }

    /// Hashes a levels batch ([`Hasher::hash_levels`]) on the device in one submission
    /// (`levels.rs`), or says why not: an invalid or empty batch, a program without the
    /// levels kernels ([`OffloadError::MissingKernel`]), a batch larger than one device
    /// allocation, or a device error.
    pub fn try_hash_levels(&mut self, batch: Levels<'_>, out: &mut [Hash32]) -> Result<()> {
        if batch.ends.is_empty() {
            return Err(OffloadError::EmptyBatch);
        }
        if !batch.is_valid(out.len()) {
            return Err(OffloadError::BadLengths { reason: "not a valid levels batch" });
        }
        let err = self.disabled_error();
        let engine = self.engine.as_mut().ok_or(err)?;
        guarded("levels batch", || engine.run_levels(batch, out))
    }

    /// Kernel-only timing: uploads `count` messages of `msg_len` bytes once, runs the
    /// fixed kernel `iters` times on the resident data and returns the summed kernel
    /// execution time measured by OpenCL profiling events (no transfers included). The
    /// batch must fit one device allocation. Suits criterion's `iter_custom`.
    pub fn time_kernel_fixed(
        &mut self,
        data: &[u8],
        msg_len: usize,
        count: usize,
        iters: u64,
    ) -> Result<Duration> {
        if count == 0 {
            return Err(OffloadError::EmptyBatch);
        }
        if msg_len.checked_mul(count) != Some(data.len()) {
            return Err(OffloadError::BadLengths { reason: "data.len() != msg_len * count" });
        }
        let err = self.disabled_error();
        let engine = self.engine.as_mut().ok_or(err)?;
        guarded("kernel timing", || engine.time_fixed(data, msg_len, count, iters))
    }

    /// Simulates a device failure, as if the last batch had failed: the [`Hasher`] path
    /// warns once and continues on the CPU. For tests of the fallback.
    #[doc(hidden)]
    pub fn simulate_device_failure(&mut self) {
        let err = OffloadError::Cl { call: "(simulated)", status: Some(-5), detail: String::new() };
        self.fall_back(&err);
    }

    /// Handles a device error in the infallible path: a device failure disables the
    /// device for good, with one warning.
    fn fall_back(&mut self, err: &OffloadError) {
        if err.is_device_failure() && self.engine.is_some() {
            eprintln!(
                "parex-offload: WARNING: OpenCL device `{}` failed: {err}; hashing on the CPU \
                 from now on",
                self.info.device_name
            );
            self.engine = None;
            self.disabled = Some(err.to_string());
        }
    }
}

impl Hasher for OpenClHasher {
    fn hash_fixed(&mut self, data: &[u8], msg_len: usize, out: &mut [Hash32]) {
        let n = fixed_count(data.len(), msg_len, out.len());
        if n == 0 {
            return;
        }
        let (data, out) = (&data[..n * msg_len], &mut out[..n]);
        if n >= self.cpu_below {
            let result = self.engine.as_mut().map(|engine| {
                guarded("keccak256_fixed batch", || engine.run_fixed(data, msg_len, out))
            });
            match result {
                Some(Ok(())) => return,
                Some(Err(e)) => self.fall_back(&e),
                None => {}
            }
        }
        self.cpu.hash_fixed(data, msg_len, out)
    }

    /// One submission per batch when the device has the levels kernels (see
    /// [`Self::try_hash_levels`]); else, or for a batch of fewer messages than
    /// [`Self::set_cpu_below`], or when the batch does not fit the device, level by level
    /// through [`Self::hash_fixed`] and [`Self::hash_var`].
    fn hash_levels(&mut self, batch: Levels<'_>, out: &mut [Hash32]) {
        let n = batch.ends.len();
        if n == 0 || !batch.is_valid(out.len()) {
            return;
        }
        let on_device = self.engine.as_ref().is_some_and(|e| e.levels.is_some());
        if on_device && n >= self.cpu_below {
            // The device writes the links into its own copy of the batch, so `batch`
            // is left as it was for the other way, should the device fail.
            let again = Levels {
                data: &mut *batch.data,
                ends: batch.ends,
                levels: batch.levels,
                links: batch.links,
            };
            let result =
                self.engine.as_mut().map(|e| guarded("levels batch", || e.run_levels(again, out)));
            match result {
                Some(Ok(())) => return,
                Some(Err(e)) if e.is_device_failure() => self.fall_back(&e),
                _ => {}
            }
        }
        hash_levels_in_turn(self, batch, out)
    }

    fn hash_var(&mut self, data: &[u8], ends: &[u32], out: &mut [Hash32]) {
        let n = var_count(data.len(), ends, out.len());
        if n == 0 {
            return;
        }
        let (ends, out) = (&ends[..n], &mut out[..n]);
        if n >= self.cpu_below {
            let result = self
                .engine
                .as_mut()
                .map(|engine| guarded("keccak256_var batch", || engine.run_var(data, ends, out)));
            match result {
                Some(Ok(())) => return,
                Some(Err(e)) => self.fall_back(&e),
                None => {}
            }
        }
        self.cpu.hash_var(data, ends, out)
    }
}
