//! The host's [`Workers`]: worker 0 on the calling thread, the others on the kept
//! helper threads of a [`Pool`], each with its own [`WorkerBuffers`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use parex_core::engine::WorkerMemory;
use parex_core::error::BlockError;
use parex_core::policy::Workers;

use super::buffers::WorkerBuffers;
use crate::pool::{Pool, WorkerLost};

/// Work for the workers that a one-worker engine leaves idle: helper `i` (1 and up)
/// calls it with its index, how many helpers there are and its buffers.
pub(super) type Beside<'p> = &'p (dyn Fn(usize, usize, &mut WorkerBuffers) + Sync);

/// A pool's threads and the workers' buffers, for one block.
pub(super) struct PoolWorkers<'p> {
    pub(super) pool: &'p mut Pool,
    pub(super) workers: &'p mut [WorkerBuffers],
    /// Run beside the first one-worker engine ([`Workers::run_here`]), if any.
    pub(super) beside: Option<Beside<'p>>,
    /// Set when the one-worker engine is done, so that the beside work can stop early.
    pub(super) engine_done: Option<&'p AtomicBool>,
    /// How long the one-worker engine, done, waited for the helpers' beside work: time
    /// of the commitment, not of the execution.
    pub(super) waited: Duration,
    /// Wall time of the phases that every worker ran at once ([`Workers::run`]).
    pub(super) parallel: Duration,
}

impl Workers for PoolWorkers<'_> {
    fn count(&self) -> usize {
        self.workers.len()
    }

    /// Workers spin briefly while no task is available, so they get threads of their
    /// own rather than rayon tasks, whose pool may run them one after another.
    fn run<F>(&mut self, n: usize, job: &F) -> Result<(), BlockError>
    where
        F: Fn(usize, WorkerMemory<'_>) -> Result<(), BlockError> + Sync,
    {
        let Some(workers) = self.workers.get_mut(..n).filter(|w| !w.is_empty()) else {
            return Err(BlockError::BadScratch);
        };
        // Each worker locks its own slot, once: the locks only hand the buffers over.
        let slots: Vec<Mutex<(&mut WorkerBuffers, Result<(), BlockError>)>> =
            workers.iter_mut().map(|w| Mutex::new((w, Ok(())))).collect();
        let started = Instant::now();
        let ran = self
            .pool
            .run(n, &|i| {
                let mut slot = slots[i].lock().unwrap_or_else(PoisonError::into_inner);
                let (w, result) = &mut *slot;
                *result = job(i, w.worker());
            })
            .map_err(|WorkerLost| BlockError::WorkerLost);
        self.parallel += started.elapsed();
        ran?;
        slots
            .into_iter()
            .map(|s| s.into_inner().unwrap_or_else(PoisonError::into_inner).1)
            .fold(Ok(()), Result::and)
    }

    /// Worker 0 runs `job` here; the other workers, on the helpers, run the
    /// [`PoolWorkers::beside`] work meanwhile (once per block). A lost helper leaves its
    /// share undone, which the beside work must allow for.
    fn run_here<R>(&mut self, job: impl FnOnce(WorkerMemory<'_>) -> R) -> R {
        let (first, rest) = self.workers.split_at_mut(1);
        let Some(beside) = self.beside.take().filter(|_| !rest.is_empty()) else {
            return job(first[0].worker());
        };
        let helpers = rest.len();
        let slots: Vec<Mutex<&mut WorkerBuffers>> = rest.iter_mut().map(Mutex::new).collect();
        let work = |i: usize| {
            let mut w = slots[i - 1].lock().unwrap_or_else(PoisonError::into_inner);
            beside(i, helpers, &mut w);
        };
        let (mut done, engine_done) = (None, self.engine_done);
        let (result, _) = self.pool.run_beside(helpers, &work, || {
            let result = job(first[0].worker());
            done = Some(Instant::now());
            // Relaxed: a hint (see `engine_done`).
            if let Some(d) = engine_done {
                d.store(true, Ordering::Relaxed);
            }
            result
        });
        self.waited = done.map_or(Duration::ZERO, |t| t.elapsed());
        result
    }

    /// Spin briefly, then yield the core.
    fn idle(spins: u32) {
        if spins < 32 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

#[cfg(test)]
mod tests {
    use parex_core::exec::Limits;

    use super::*;

    /// A one-worker engine that finishes before the work beside it measures its wait:
    /// the executor counts it as commitment time, not execution time.
    #[test]
    fn the_wait_for_the_work_beside_is_measured() {
        let mut pool = Pool::default();
        let mut workers: Vec<_> = (0..2).map(|_| WorkerBuffers::new(&Limits::DEFAULT)).collect();
        let beside = |_: usize, _: usize, _: &mut WorkerBuffers| {
            std::thread::sleep(Duration::from_millis(30));
        };
        let mut w = PoolWorkers {
            pool: &mut pool,
            workers: &mut workers,
            beside: Some(&beside),
            engine_done: None,
            waited: Duration::ZERO,
            parallel: Duration::ZERO,
        };
        w.run_here(|_| ());
        assert!(w.waited >= Duration::from_millis(20), "{:?}", w.waited);
        // Without work beside, nothing is waited for.
        let mut w = PoolWorkers {
            pool: &mut pool,
            workers: &mut workers,
            beside: None,
            engine_done: None,
            waited: Duration::ZERO,
            parallel: Duration::ZERO,
        };
        w.run_here(|_| ());
        assert_eq!(w.waited, Duration::ZERO);
    }
}
