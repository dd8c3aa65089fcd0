//! The device side: context, queues, the two pipeline slots and their growing buffers.

use super::program::{build, ProgramSource, KERNEL_FIXED, KERNEL_LEVEL, KERNEL_LINKS, KERNEL_VAR};
use super::{cl_err, devices::enumerate, Result, DIGEST_BYTES};
use crate::{DeviceInfo, DeviceSpec, OffloadError};
use ocl::core::{
    self as cl, CommandQueue, CommandQueueProperties, Context, ContextProperties, Kernel,
    KernelWorkGroupInfo, KernelWorkGroupInfoResult, Mem, MemFlags, Program,
};
use std::ffi::CString;

/// Default input bytes per chunk: large enough to amortise a launch, small enough that a
/// big batch pipelines over a few chunks.
const DEFAULT_CHUNK_BYTES: usize = 1 << 20;
/// Upper bound of the work-group size; the kernel uses no local memory, so this only
/// trades scheduling granularity.
const MAX_LOCAL_SIZE: usize = 64;

/// A device buffer that only grows.
#[derive(Default)]
pub(super) struct GrowBuf {
    mem: Option<Mem>,
    cap: usize,
}

impl GrowBuf {
    /// Makes the buffer hold at least `bytes` bytes (at least 1: OpenCL has no empty
    /// buffers). Only called while no command that uses the buffer is queued.
    pub(super) fn reserve(
        &mut self,
        context: &Context,
        flags: MemFlags,
        bytes: usize,
    ) -> Result<&Mem> {
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

    pub(super) fn get(&self) -> Result<&Mem> {
        self.mem.as_ref().ok_or(OffloadError::Cl {
            call: "clCreateBuffer",
            status: None,
            detail: "buffer used before it was allocated".to_string(),
        })
    }
}

/// One pipeline slot: a queue and the buffers of the chunk in flight on it.
pub(super) struct Slot {
    pub(super) queue: CommandQueue,
    pub(super) input: GrowBuf,
    pub(super) ends: GrowBuf,
    pub(super) output: GrowBuf,
}

/// A levels batch's kernels ([`KERNEL_LINKS`], [`KERNEL_LEVEL`]) and its buffers, the
/// whole batch resident at once.
pub(super) struct LevelKernels {
    pub(super) links: Kernel,
    pub(super) level: Kernel,
    pub(super) data: GrowBuf,
    pub(super) ends: GrowBuf,
    pub(super) link_buf: GrowBuf,
    pub(super) out: GrowBuf,
}

/// The device side: context, program, kernels, two pipeline slots.
pub(super) struct Engine {
    // Field order is drop order: kernels before the program, buffers and queues before
    // the context.
    pub(super) fixed: Kernel,
    pub(super) var: Kernel,
    /// Absent from a program without them.
    pub(super) levels: Option<LevelKernels>,
    pub(super) program: Program,
    pub(super) slots: [Slot; 2],
    pub(super) context: Context,
    pub(super) local: usize,
    pub(super) max_alloc: usize,
    pub(super) chunk_bytes: usize,
}

impl Engine {
    pub(super) fn open(spec: &DeviceSpec, source: ProgramSource<'_>) -> Result<(Self, DeviceInfo)> {
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
        let levels = match (
            cl::create_kernel(&program, KERNEL_LINKS),
            cl::create_kernel(&program, KERNEL_LEVEL),
        ) {
            (Ok(links), Ok(level)) => Some(LevelKernels {
                links,
                level,
                data: GrowBuf::default(),
                ends: GrowBuf::default(),
                link_buf: GrowBuf::default(),
                out: GrowBuf::default(),
            }),
            _ => None,
        };
        let mut local = MAX_LOCAL_SIZE.min(info.max_work_group_size.max(1));
        let level_kernels = levels.iter().flat_map(|l| [&l.links, &l.level]);
        for k in [&fixed, &var].into_iter().chain(level_kernels) {
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
            levels,
            program,
            slots,
            context,
            local,
            max_alloc,
            chunk_bytes: DEFAULT_CHUNK_BYTES,
        };
        Ok((engine, info))
    }

    pub(super) fn finish_all(&self) -> Result<()> {
        let mut result = Ok(());
        for slot in &self.slots {
            let r = cl::finish(&slot.queue).map_err(cl_err("clFinish"));
            result = result.and(r);
        }
        result
    }

    /// Input bytes per chunk, clamped to the device's allocation limit.
    pub(super) fn chunk_cap(&self) -> usize {
        self.chunk_bytes.clamp(1, self.max_alloc)
    }

    /// Most messages a chunk may hold, given the output buffer and the kernel's `uint`.
    pub(super) fn max_msgs(&self) -> usize {
        (self.max_alloc / DIGEST_BYTES).min(u32::MAX as usize).max(1)
    }

    /// Sizes both slots' buffers for chunks of up to `input` bytes, `ends` messages in the
    /// ends buffer and `msgs` digests. Only called while the queues are idle.
    pub(super) fn reserve(&mut self, input: usize, ends: usize, msgs: usize) -> Result<()> {
        let context = &self.context;
        for slot in &mut self.slots {
            slot.input.reserve(context, MemFlags::READ_ONLY, input)?;
            slot.ends.reserve(context, MemFlags::READ_ONLY, ends * 4)?;
            slot.output.reserve(context, MemFlags::WRITE_ONLY, msgs * DIGEST_BYTES)?;
        }
        Ok(())
    }
}
