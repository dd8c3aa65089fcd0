//! A levels batch ([`Levels`]: a block's whole commitment, each level's messages
//! embedding digests of earlier levels) in one submission: one upload of the messages,
//! their ends and the links; per level, the links kernel copies the digests in and the
//! level kernel hashes the level's messages, all on one in-order queue with no wait in
//! between; one read-back of every digest at the end. The batch stays resident, so it
//! must fit the device's largest allocation.

use super::batch::launch;
use super::engine::{Engine, GrowBuf};
use super::{cl_err, Result, DIGEST_BYTES};
use crate::OffloadError;
use ocl::core::{self as cl, ArgVal, Context, Mem, MemFlags};
use parex_core::hash::{LevelEnd, Levels, Link};
use parex_core::Hash32;

/// Writes `src` (if any) into `dst`, returning once the write is done. (A pageable
/// upload is a copy in the driver either way. An occasional wrong digest in
/// `random_levels_batches_match_cpu`, once blamed on non-blocking uploads, came from
/// the test's overlapping links, which the links kernel copies all at once: such
/// batches are now invalid.)
///
/// # Safety
///
/// `dst` holds `src`.
unsafe fn upload<T: cl::OclPrm>(queue: &cl::CommandQueue, dst: &Mem, src: &[T]) -> Result<()> {
    if src.is_empty() {
        return Ok(());
    }
    // SAFETY: the caller's promise.
    unsafe { cl::enqueue_write_buffer(queue, dst, true, 0, src, None::<()>, None::<()>) }
        .map_err(cl_err("clEnqueueWriteBuffer"))
}

fn set(kernel: &cl::Kernel, i: u32, v: ArgVal<'_>) -> Result<()> {
    cl::set_kernel_arg(kernel, i, v).map_err(cl_err("clSetKernelArg"))
}

/// Grows `buf` for `bytes` and returns it, or says that the batch is too large.
fn sized<'b>(
    buf: &'b mut GrowBuf,
    context: &Context,
    flags: MemFlags,
    bytes: usize,
    max_alloc: usize,
) -> Result<&'b Mem> {
    if bytes > max_alloc {
        let (size, limit) = (bytes as u64, max_alloc as u64);
        return Err(OffloadError::BatchTooLarge { what: "levels batch", size, limit });
    }
    buf.reserve(context, flags, bytes)
}

impl Engine {
    /// Hashes a valid ([`Levels::is_valid`]), non-empty levels batch into `out` (one
    /// digest per message), as the module docs say. Fails with
    /// [`OffloadError::MissingKernel`] when the program lacks the two kernels.
    pub(super) fn run_levels(&mut self, batch: Levels<'_>, out: &mut [Hash32]) -> Result<()> {
        let Self { levels, slots, context, max_alloc, local, .. } = self;
        let k = levels.as_mut().ok_or(OffloadError::MissingKernel { name: "keccak256_level" })?;
        let n = batch.ends.len();
        let out = &mut out[..n];
        // SAFETY: `Link` is `#[repr(C)]` of two `u32`s, so a slice of `len` links is
        // `2 * len` initialised, aligned `u32`s with no padding, borrowed as long as
        // `batch.links`.
        let links: &[u32] = unsafe {
            core::slice::from_raw_parts(batch.links.as_ptr().cast::<u32>(), 2 * batch.links.len())
        };
        let rw = MemFlags::READ_WRITE;
        let data = sized(&mut k.data, context, rw, batch.data.len(), *max_alloc)?;
        let ro = MemFlags::READ_ONLY;
        let ends = sized(&mut k.ends, context, ro, 4 * n, *max_alloc)?;
        let link_buf = sized(&mut k.link_buf, context, ro, 4 * links.len(), *max_alloc)?;
        let digests = sized(&mut k.out, context, rw, DIGEST_BYTES * n, *max_alloc)?;
        let queue = &slots[0].queue;
        let (none, local) = (None::<()>, *local);
        let mut submit = || -> Result<()> {
            // The buffers were just sized to hold the three uploads.
            // SAFETY: as just said.
            unsafe { upload(queue, data, batch.data) }?;
            // SAFETY: as above.
            unsafe { upload(queue, ends, batch.ends) }?;
            // SAFETY: as above.
            unsafe { upload(queue, link_buf, links) }?;
            set(&k.links, 0, ArgVal::mem(data))?;
            set(&k.links, 1, ArgVal::mem(link_buf))?;
            set(&k.links, 4, ArgVal::mem(digests))?;
            set(&k.level, 0, ArgVal::mem(data))?;
            set(&k.level, 1, ArgVal::mem(ends))?;
            set(&k.level, 4, ArgVal::mem(digests))?;
            let mut start = LevelEnd::default();
            for end in batch.levels {
                for (kernel, first, last) in
                    [(&k.links, start.links, end.links), (&k.level, start.msgs, end.msgs)]
                {
                    if last > first {
                        let count = last - first;
                        set(kernel, 2, ArgVal::scalar(&first))?;
                        set(kernel, 3, ArgVal::scalar(&count))?;
                        // SAFETY: the kernels' buffers were bound above and hold the whole
                        // batch; a valid batch's links and ends stay inside them.
                        unsafe { launch(queue, kernel, count as usize, local, None) }?;
                    }
                }
                start = *end;
            }
            // A blocking read into `out`, which holds `n` digests; the in-order queue runs
            // it after every level.
            let bytes = out.as_flattened_mut();
            // SAFETY: as said above.
            unsafe { cl::enqueue_read_buffer(queue, digests, true, 0, bytes, none, none) }
                .map_err(cl_err("clEnqueueReadBuffer"))
        };
        let result = submit();
        // The writes borrow the caller's slices: wait for them on error too.
        let finished = cl::finish(queue).map_err(cl_err("clFinish"));
        result.and(finished)
    }
}

/// `Link`'s layout, as the cast in `run_levels` assumes it.
const _: () = assert!(core::mem::size_of::<Link>() == 8 && core::mem::align_of::<Link>() == 4);
