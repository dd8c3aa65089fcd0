//! Batch submission: chunks of a batch bound to a slot's kernel arguments, queued as
//! upload, kernel, download, and the kernel-only timing.

use super::engine::Engine;
use super::{cl_err, Result, DIGEST_BYTES};
use crate::OffloadError;
use ocl::core::{self as cl, ArgVal, Event, Kernel, ProfilingInfo, ProfilingInfoResult};
use parex_core::Hash32;
use std::time::Duration;

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

impl Engine {
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
        // SAFETY: every argument is bound to a live buffer sized for this chunk: the input
        // covers all `count` messages (the fixed kernel reads count * msg_len bytes, the var
        // kernel ends[count-1] - base) and the output holds count digests.
        unsafe { launch(&slot.queue, kernel, count, self.local, None) }?;
        // SAFETY: non-blocking read into `output`, which the caller keeps alive and
        // untouched until the queues finish; the output buffer holds `output.len()` bytes.
        unsafe {
            cl::enqueue_read_buffer(&slot.queue, slot.output.get()?, false, 0, output, none, none)
        }
        .map_err(cl_err("clEnqueueReadBuffer"))
    }

    /// Hashes a well-formed fixed batch (`data.len() == msg_len * out.len()`, non-empty).
    pub(super) fn run_fixed(
        &mut self,
        data: &[u8],
        msg_len: usize,
        out: &mut [Hash32],
    ) -> Result<()> {
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

    /// Hashes a well-formed var batch (`ends` validated by
    /// [`var_count`](crate::cpu::var_count), non-empty).
    pub(super) fn run_var(&mut self, data: &[u8], ends: &[u32], out: &mut [Hash32]) -> Result<()> {
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
    pub(super) fn time_fixed(
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
        let mut total_ns = 0u64;
        let mut left = iters;
        while left > 0 {
            let round = left.min(64);
            let mut events = Vec::with_capacity(round as usize);
            for _ in 0..round {
                let mut event = Event::null();
                // SAFETY: the arguments are bound to this slot's buffers, sized for `count`
                // messages of `msg_len` bytes.
                unsafe { launch(&slot.queue, kernel, count, self.local, Some(&mut event)) }?;
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

/// Queues `kernel` over `count` work-items on `queue`, the global size rounded up to
/// whole work-groups of `local` (the kernels return early past `count`); `event`, if
/// given, receives the launch's event.
///
/// # Safety
///
/// Every argument of `kernel` is bound to a live buffer that its first `count` work-items
/// may read and write (as each kernel's comment in `keccak.cl` says).
pub(super) unsafe fn launch(
    queue: &cl::CommandQueue,
    kernel: &Kernel,
    count: usize,
    local: usize,
    event: Option<&mut Event>,
) -> Result<()> {
    let local = local.max(1);
    let global = count.div_ceil(local) * local;
    // SAFETY: the caller's promise covers the arguments; work-items at or past `count`
    // return before touching memory, so the padding reads and writes nothing.
    unsafe {
        cl::enqueue_kernel(
            queue,
            kernel,
            1,
            None,
            &[global, 1, 1],
            Some([local, 1, 1]),
            None::<()>,
            event,
        )
    }
    .map_err(cl_err("clEnqueueNDRangeKernel"))
}
