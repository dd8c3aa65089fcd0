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

use crate::cpu::{fixed_count, var_count, CpuHasher};
use crate::{DeviceInfo, DeviceSpec, DeviceType, OffloadError, KECCAK_CL};
use ocl::core::{
    self as cl, ffi, ArgVal, CommandQueue, CommandQueueProperties, Context, ContextProperties,
    DeviceId, DeviceInfo as ClDeviceInfo, DeviceInfoResult, Event, Kernel, KernelWorkGroupInfo,
    KernelWorkGroupInfoResult, Mem, MemFlags, PlatformId, PlatformInfo, PlatformInfoResult,
    ProfilingInfo, ProfilingInfoResult, Program, ProgramBuildInfo, ProgramBuildInfoResult,
    ProgramInfo, ProgramInfoResult, Status,
};
use parex_core::{Hash32, Hasher};
use std::ffi::CString;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::Duration;

type Result<T> = std::result::Result<T, OffloadError>;

const DIGEST_BYTES: usize = 32;
/// Default input bytes per chunk: large enough to amortise a launch, small enough that a
/// big batch pipelines over a few chunks.
const DEFAULT_CHUNK_BYTES: usize = 1 << 20;
/// Upper bound of the work-group size; the kernel uses no local memory, so this only
/// trades scheduling granularity.
const MAX_LOCAL_SIZE: usize = 64;
const KERNEL_FIXED: &str = "keccak256_fixed";
const KERNEL_VAR: &str = "keccak256_var";

/// Maps a wrapper error to [`OffloadError::Cl`], keeping the status code and the call.
fn cl_err(call: &'static str) -> impl FnOnce(cl::Error) -> OffloadError {
    move |e| {
        let status = e.api_status().map(|s| s as i32);
        let detail =
            if status.is_some() { String::new() } else { e.to_string().trim().to_string() };
        OffloadError::Cl { call, status, detail }
    }
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

fn clean(s: String) -> String {
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
fn enumerate() -> Result<Vec<(DeviceInfo, PlatformId, DeviceId)>> {
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
    guarded("device enumeration", || Ok(enumerate()?.into_iter().map(|(i, _, _)| i).collect()))
}

/// A device buffer that only grows.
#[derive(Default)]
struct GrowBuf {
    mem: Option<Mem>,
    cap: usize,
}

impl GrowBuf {
    /// Makes the buffer hold at least `bytes` bytes (at least 1: OpenCL has no empty
    /// buffers). Only called while no command that uses the buffer is queued.
    fn reserve(&mut self, context: &Context, flags: MemFlags, bytes: usize) -> Result<&Mem> {
        if self.mem.is_none() || self.cap < bytes {
            self.mem = None;
            let cap = bytes.max(1);
            // SAFETY: no host pointer is passed and the flags name no host-pointer mode,
            // so OpenCL allocates `cap` (>= 1) bytes of device memory it owns; the
            // contents are written before any kernel reads them.
            let mem = unsafe { cl::create_buffer::<_, u8>(context, flags, cap, None) }
                .map_err(cl_err("clCreateBuffer"))?;
            self.mem = Some(mem);
            self.cap = cap;
        }
        self.get()
    }

    fn get(&self) -> Result<&Mem> {
        self.mem.as_ref().ok_or(OffloadError::Cl {
            call: "clCreateBuffer",
            status: None,
            detail: "buffer used before it was allocated".to_string(),
        })
    }
}

/// One pipeline slot: a queue and the buffers of the chunk in flight on it.
struct Slot {
    queue: CommandQueue,
    input: GrowBuf,
    ends: GrowBuf,
    output: GrowBuf,
}

/// What a chunk hashes.
#[derive(Clone, Copy)]
enum Job<'a> {
    Fixed {
        msg_len: u64,
    },
    /// `ends` of this chunk's messages (absolute), `base` the offset of its first byte.
    Var {
        ends: &'a [u32],
        base: u32,
    },
}

/// The device side: context, program, kernels, two pipeline slots.
struct Engine {
    // Field order is drop order: kernels before the program, buffers and queues before
    // the context.
    fixed: Kernel,
    var: Kernel,
    program: Program,
    slots: [Slot; 2],
    context: Context,
    local: usize,
    max_alloc: usize,
    chunk_bytes: usize,
}

/// Where the program comes from.
enum ProgramSource<'a> {
    Source(&'a str),
    Binary(&'a [u8]),
}

impl Engine {
    fn open(spec: &DeviceSpec, source: ProgramSource<'_>) -> Result<(Self, DeviceInfo)> {
        let devices = enumerate()?;
        let infos: Vec<DeviceInfo> = devices.iter().map(|(i, _, _)| i.clone()).collect();
        let chosen = spec.select(&infos).ok_or_else(|| OffloadError::NoDevice {
            wanted: spec.to_string(),
            available: infos.len(),
        })?;
        let (info, platform, device) = devices
            .into_iter()
            .find(|(i, _, _)| i == chosen)
            .ok_or(OffloadError::NoDevice { wanted: spec.to_string(), available: infos.len() })?;

        let props = ContextProperties::new().platform(platform);
        let context = cl::create_context(Some(&props), &[device], None, None)
            .map_err(cl_err("clCreateContext"))?;
        let queue = || {
            cl::create_command_queue(
                &context,
                device,
                Some(CommandQueueProperties::PROFILING_ENABLE),
            )
            .map_err(cl_err("clCreateCommandQueue"))
        };
        let slot = |queue| Slot {
            queue,
            input: GrowBuf::default(),
            ends: GrowBuf::default(),
            output: GrowBuf::default(),
        };
        let slots = [slot(queue()?), slot(queue()?)];

        let program = match source {
            ProgramSource::Source(src) => {
                let src = CString::new(src).map_err(|_| OffloadError::Cl {
                    call: "clCreateProgramWithSource",
                    status: None,
                    detail: "the kernel source contains a NUL byte".to_string(),
                })?;
                cl::create_program_with_source(&context, &[src])
                    .map_err(cl_err("clCreateProgramWithSource"))?
            }
            ProgramSource::Binary(bin) => {
                cl::create_program_with_binary(&context, &[device], &[bin])
                    .map_err(cl_err("clCreateProgramWithBinary"))?
            }
        };
        build(&program, device, &info)?;

        let fixed = cl::create_kernel(&program, KERNEL_FIXED).map_err(cl_err("clCreateKernel"))?;
        let var = cl::create_kernel(&program, KERNEL_VAR).map_err(cl_err("clCreateKernel"))?;
        let mut local = MAX_LOCAL_SIZE.min(info.max_work_group_size.max(1));
        for k in [&fixed, &var] {
            if let Ok(KernelWorkGroupInfoResult::WorkGroupSize(n)) =
                cl::get_kernel_work_group_info(k, device, KernelWorkGroupInfo::WorkGroupSize)
            {
                local = local.min(n.max(1));
            }
        }
        let max_alloc = usize::try_from(info.max_alloc).unwrap_or(usize::MAX).max(DIGEST_BYTES);
        let engine = Self {
            fixed,
            var,
            program,
            slots,
            context,
            local,
            max_alloc,
            chunk_bytes: DEFAULT_CHUNK_BYTES,
        };
        Ok((engine, info))
    }

    fn binary(&self) -> Result<Vec<u8>> {
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

    fn finish_all(&self) -> Result<()> {
        let mut result = Ok(());
        for slot in &self.slots {
            let r = cl::finish(&slot.queue).map_err(cl_err("clFinish"));
            result = result.and(r);
        }
        result
    }

    /// Input bytes per chunk, clamped to the device's allocation limit.
    fn chunk_cap(&self) -> usize {
        self.chunk_bytes.clamp(1, self.max_alloc)
    }

    /// Most messages a chunk may hold, given the output buffer and the kernel's `uint`.
    fn max_msgs(&self) -> usize {
        (self.max_alloc / DIGEST_BYTES).min(u32::MAX as usize).max(1)
    }

    /// Sizes both slots' buffers for chunks of up to `input` bytes, `ends` messages in the
    /// ends buffer and `msgs` digests. Only called while the queues are idle.
    fn reserve(&mut self, input: usize, ends: usize, msgs: usize) -> Result<()> {
        let context = &self.context;
        for slot in &mut self.slots {
            slot.input.reserve(context, MemFlags::READ_ONLY, input)?;
            slot.ends.reserve(context, MemFlags::READ_ONLY, ends * 4)?;
            slot.output.reserve(context, MemFlags::WRITE_ONLY, msgs * DIGEST_BYTES)?;
        }
        Ok(())
    }

    /// Sets the kernel arguments of `job` on slot `s`; returns the kernel.
    fn bind(&self, s: usize, job: Job<'_>, count: u32) -> Result<&Kernel> {
        let slot = &self.slots[s];
        let set = |k: &Kernel, i: u32, v: ArgVal<'_>| {
            cl::set_kernel_arg(k, i, v).map_err(cl_err("clSetKernelArg"))
        };
        let (input, output) = (slot.input.get()?, slot.output.get()?);
        match job {
            Job::Fixed { msg_len } => {
                set(&self.fixed, 0, ArgVal::mem(input))?;
                set(&self.fixed, 1, ArgVal::scalar(&msg_len))?;
                set(&self.fixed, 2, ArgVal::scalar(&count))?;
                set(&self.fixed, 3, ArgVal::mem(output))?;
                Ok(&self.fixed)
            }
            Job::Var { base, .. } => {
                set(&self.var, 0, ArgVal::mem(input))?;
                set(&self.var, 1, ArgVal::mem(slot.ends.get()?))?;
                set(&self.var, 2, ArgVal::scalar(&base))?;
                set(&self.var, 3, ArgVal::scalar(&count))?;
                set(&self.var, 4, ArgVal::mem(output))?;
                Ok(&self.var)
            }
        }
    }

    fn global_size(&self, count: usize) -> usize {
        count.div_ceil(self.local) * self.local
    }

    /// Queues one chunk on slot `s`: upload, kernel, download. Nothing waits here.
    ///
    /// # Safety
    ///
    /// `input` and `output` must stay alive and untouched until both queues are finished
    /// ([`Self::finish_all`]); the buffers must have been reserved for this chunk.
    unsafe fn enqueue_chunk(
        &self,
        s: usize,
        job: Job<'_>,
        input: &[u8],
        output: &mut [u8],
    ) -> Result<()> {
        let slot = &self.slots[s];
        let count = output.len() / DIGEST_BYTES;
        let none = None::<()>;
        if !input.is_empty() {
            // SAFETY: non-blocking write from `input`, which the caller keeps alive until
            // the queues finish; the input buffer holds at least `input.len()` bytes.
            unsafe {
                cl::enqueue_write_buffer(
                    &slot.queue,
                    slot.input.get()?,
                    false,
                    0,
                    input,
                    none,
                    none,
                )
            }
            .map_err(cl_err("clEnqueueWriteBuffer"))?;
        }
        if let Job::Var { ends, .. } = job {
            // SAFETY: as above, `ends` borrows the caller's batch; the ends buffer holds
            // at least `ends.len()` u32s.
            unsafe {
                cl::enqueue_write_buffer(&slot.queue, slot.ends.get()?, false, 0, ends, none, none)
            }
            .map_err(cl_err("clEnqueueWriteBuffer"))?;
        }
        let kernel = self.bind(s, job, count as u32)?;
        let global = self.global_size(count);
        // SAFETY: every argument is bound to a live buffer sized for this chunk: the input
        // covers all `count` messages (the fixed kernel reads count * msg_len bytes, the var
        // kernel ends[count-1] - base), the output holds count digests, and the kernels
        // return early for work-items at or past `count`, so the padded global size reads
        // and writes nothing out of bounds. `global` >= `local` >= 1.
        unsafe {
            cl::enqueue_kernel(
                &slot.queue,
                kernel,
                1,
                None,
                &[global, 1, 1],
                Some([self.local, 1, 1]),
                none,
                none,
            )
        }
        .map_err(cl_err("clEnqueueNDRangeKernel"))?;
        // SAFETY: non-blocking read into `output`, which the caller keeps alive and
        // untouched until the queues finish; the output buffer holds `output.len()` bytes.
        unsafe {
            cl::enqueue_read_buffer(&slot.queue, slot.output.get()?, false, 0, output, none, none)
        }
        .map_err(cl_err("clEnqueueReadBuffer"))
    }

    /// Hashes a well-formed fixed batch (`data.len() == msg_len * out.len()`, non-empty).
    fn run_fixed(&mut self, data: &[u8], msg_len: usize, out: &mut [Hash32]) -> Result<()> {
        if msg_len > self.max_alloc {
            let (size, limit) = (msg_len as u64, self.max_alloc as u64);
            return Err(OffloadError::BatchTooLarge { what: "message", size, limit });
        }
        let per_chunk = match msg_len {
            0 => self.max_msgs(),
            _ => (self.chunk_cap().max(msg_len) / msg_len).min(self.max_msgs()),
        };
        let n = out.len();
        let largest = per_chunk.min(n);
        self.reserve(largest * msg_len, 0, largest)?;
        let out = out.as_flattened_mut();
        let job = Job::Fixed { msg_len: msg_len as u64 };
        let mut result = Ok(());
        for (ci, first) in (0..n).step_by(per_chunk).enumerate() {
            let count = per_chunk.min(n - first);
            let input = &data[first * msg_len..(first + count) * msg_len];
            let output = &mut out[first * DIGEST_BYTES..(first + count) * DIGEST_BYTES];
            // SAFETY: `data` and `out` outlive this function, which finishes both queues
            // below before returning on every path; buffers were reserved for `largest`.
            result = unsafe { self.enqueue_chunk(ci % 2, job, input, output) };
            if result.is_err() {
                break;
            }
        }
        let finished = self.finish_all();
        result.and(finished)
    }

    /// Hashes a well-formed var batch (`ends` validated by [`var_count`], non-empty).
    fn run_var(&mut self, data: &[u8], ends: &[u32], out: &mut [Hash32]) -> Result<()> {
        let (cap, max_msgs) = (self.chunk_cap(), self.max_msgs());
        // Cut the batch into chunks [first, last) of contiguous messages.
        let mut chunks = Vec::new();
        let (mut first, mut largest_in, mut largest_n) = (0usize, 0usize, 0usize);
        while first < ends.len() {
            let base = if first == 0 { 0 } else { ends[first - 1] as usize };
            let size = ends[first] as usize - base;
            if size > self.max_alloc {
                let (size, limit) = (size as u64, self.max_alloc as u64);
                return Err(OffloadError::BatchTooLarge { what: "message", size, limit });
            }
            let mut last = first + 1;
            while last < ends.len() && last - first < max_msgs && ends[last] as usize - base <= cap
            {
                last += 1;
            }
            largest_in = largest_in.max(ends[last - 1] as usize - base);
            largest_n = largest_n.max(last - first);
            chunks.push((first, last, base));
            first = last;
        }
        self.reserve(largest_in, largest_n, largest_n)?;
        let out = out.as_flattened_mut();
        let mut result = Ok(());
        for (ci, &(first, last, base)) in chunks.iter().enumerate() {
            let input = &data[base..ends[last - 1] as usize];
            let output = &mut out[first * DIGEST_BYTES..last * DIGEST_BYTES];
            let job = Job::Var { ends: &ends[first..last], base: base as u32 };
            // SAFETY: `data`, `ends` and `out` outlive this function, which finishes both
            // queues below before returning on every path; buffers were reserved above.
            result = unsafe { self.enqueue_chunk(ci % 2, job, input, output) };
            if result.is_err() {
                break;
            }
        }
        let finished = self.finish_all();
        result.and(finished)
    }

    /// Uploads one fixed batch, runs the kernel `iters` times on it and returns the summed
    /// kernel execution time from the profiling events.
    fn time_fixed(
        &mut self,
        data: &[u8],
        msg_len: usize,
        count: usize,
        iters: u64,
    ) -> Result<Duration> {
        if data.len() > self.max_alloc || count > self.max_msgs() {
            let (size, limit) =
                (data.len().max(count * DIGEST_BYTES) as u64, self.max_alloc as u64);
            return Err(OffloadError::BatchTooLarge { what: "resident batch", size, limit });
        }
        self.reserve(data.len(), 0, count)?;
        let slot = &self.slots[0];
        let none = None::<()>;
        if !data.is_empty() {
            // SAFETY: blocking write: `data` is only read during the call; the input buffer
            // holds at least `data.len()` bytes.
            unsafe {
                cl::enqueue_write_buffer(&slot.queue, slot.input.get()?, true, 0, data, none, none)
            }
            .map_err(cl_err("clEnqueueWriteBuffer"))?;
        }
        let kernel = self.bind(0, Job::Fixed { msg_len: msg_len as u64 }, count as u32)?;
        let global = self.global_size(count);
        let mut total_ns = 0u64;
        let mut left = iters;
        while left > 0 {
            let round = left.min(64);
            let mut events = Vec::with_capacity(round as usize);
            for _ in 0..round {
                let mut event = Event::null();
                // SAFETY: the arguments are bound to this slot's buffers, sized for `count`
                // messages of `msg_len` bytes; the kernel skips work-items past `count`.
                unsafe {
                    cl::enqueue_kernel(
                        &slot.queue,
                        kernel,
                        1,
                        None,
                        &[global, 1, 1],
                        Some([self.local, 1, 1]),
                        none,
                        Some(&mut event),
                    )
                }
                .map_err(cl_err("clEnqueueNDRangeKernel"))?;
                events.push(event);
            }
            cl::finish(&slot.queue).map_err(cl_err("clFinish"))?;
            for event in &events {
                let stamp = |what| match cl::get_event_profiling_info(event, what)
                    .map_err(cl_err("clGetEventProfilingInfo"))?
                {
                    ProfilingInfoResult::Start(t) | ProfilingInfoResult::End(t) => Ok(t),
                    _ => Ok(0),
                };
                let (start, end) = (stamp(ProfilingInfo::Start)?, stamp(ProfilingInfo::End)?);
                total_ns += end.saturating_sub(start);
            }
            left -= round;
        }
        Ok(Duration::from_nanos(total_ns))
    }
}

/// Calls `clBuildProgram` directly so that a failure always comes back with its status
/// and the build log (the wrapper loses the status, and the failure itself when the log
/// is empty).
fn build(program: &Program, device: DeviceId, info: &DeviceInfo) -> Result<()> {
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
        let (engine, info) = guarded("opening the device", || Engine::open(spec, source))?;
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
