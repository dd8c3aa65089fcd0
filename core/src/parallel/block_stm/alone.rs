//! Block-STM's one-worker form ([`BlockStm::run_alone`]).

use crate::engine::WorkerMemory;
use crate::error::{Abort, BlockError, Invariant};
use crate::exec::{execute_transaction, Write};
use crate::state::StateReader;
use crate::sync::Ordering;

use super::store::MvView;
use super::{BlockStm, PREP_CHUNK};

impl<S: StateReader + Sync> BlockStm<'_, S> {
    /// The engine's one-worker form: executes the whole block on the calling thread, for
    /// [`Self::finish`] to read out as after [`Self::run_worker`].
    ///
    /// With a single worker the scheduler hands out every execution in order
    /// ([`Task::ExecuteInOrder`]: every lower transaction final), so it has nothing to
    /// decide. This runs transactions `0..n` in order through the same execution as such
    /// executions ([`MvView`] over the multi-version memory) and the same read-out,
    /// without the scheduler's shared counters and status locks: each of those is an
    /// atomic read-modify-write, a full fence on x86, that waits for the transaction's
    /// stores to reach the cache.
    ///
    /// `&mut self` proves that no worker runs beside it. Since nothing runs twice, it
    /// records no read sets and no write lists, and its versions need no nodes: each
    /// write goes to the head of its key's list ([`MvMemory::write_alone`]), where the
    /// next reads and the read-out find it. Declared access lists install no estimates:
    /// an estimate only makes a higher transaction wait for a lower one, and in order
    /// nothing waits.
    ///
    /// Must be the only run of the block: after a worker began, or a second time, it
    /// fails with [`Invariant::AloneTwice`]; afterwards, [`Self::run_worker`]
    /// returns at once. Like `run_worker`, it returns `Ok` when a transaction's recording
    /// fails and leaves the error to `finish`, which accepts the block only if every
    /// transaction was executed.
    pub fn run_alone(&mut self, worker: WorkerMemory<'_>) -> Result<(), BlockError> {
        let n = self.txs.len();
        let chunks = n.div_ceil(PREP_CHUNK) as u32;
        // Relaxed: `&mut self` excludes every other access. Claiming every preparation
        // chunk makes a later `run_worker` skip preparation, and halting the scheduler
        // makes it return at once.
        if self.prep_next.swap(chunks, Ordering::Relaxed) != 0 || self.alone {
            return Err(BlockError::Invariant(Invariant::AloneTwice));
        }
        self.prep_done.store(chunks, Ordering::Relaxed);
        self.sched.halt();
        self.alone = true;
        // Nothing to pool with one worker: the credits go in as versions.
        self.pooled = None;
        let (mut acc, mut vm) = self.scratch(worker)?;
        for t in 0..n as u32 {
            let ti = t as usize;
            let mut view = MvView::new(&self.mv, self.state, t, None);
            let Ok(receipt) =
                execute_transaction(&self.txs[ti], &self.env, &mut view, &mut acc, &mut vm)
            else {
                // Only an estimate interrupts a multi-version view, and none was installed.
                self.fail(Abort::EstimateInOrder);
                return Ok(());
            };
            // Every lower transaction is final and nothing will run twice: no read set to
            // validate, no write list to undo, and the writes go in at the heads of their
            // lists without version nodes (`MvMemory::write_alone`).
            for a in acc.accesses().iter().filter(|a| a.write != Write::None) {
                if self.mv.write_alone(&a.key, t, a.write).is_err() {
                    self.fail(Abort::MvFull);
                    return Ok(());
                }
            }
            // SAFETY: `&mut self`: nothing else accesses the executor's memory.
            self.data[ti].receipt.with_mut(|p| unsafe { *p = receipt });
        }
        self.executions.store(n as u32, Ordering::Relaxed);
        Ok(())
    }
}
