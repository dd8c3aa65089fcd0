//! The threads that run a block's workers: worker 0 on the calling thread, the others on
//! helper threads that an [`Executor`](crate::engine::Executor) keeps from block to
//! block. Starting a thread costs about 50 µs on the calling thread and as long again
//! before the new thread runs (measured on the development VM), a few percent of a
//! 10,000-transaction block; a helper that is still waiting for work starts within a
//! microsecond or so.
//!
//! After a job a helper spins, then yields its core, for [`STAY_AWAKE`], so that a
//! caller executing blocks back to back finds it awake; then it parks until the next job
//! unparks it. (OpenMP runtimes and rayon do the same, for longer or shorter.)

use std::cell::UnsafeCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long a helper stays awake waiting for the next job.
pub const STAY_AWAKE: Duration = Duration::from_millis(1);
/// Waits spin this many times before they start yielding the core.
const SPINS: u32 = 64;

/// `f` of each of `items`, side by side: the first on the calling thread, each other on
/// a scoped thread of its own; the results in the items' order. For one-off passes over
/// large buffers (a file's parts read, a block surveyed, fresh memory faulted in, its
/// pieces parsed), where starting a thread (about 50 µs) is small beside the pass; a
/// block's workers run on the [`Pool`] instead. An item whose thread cannot be started
/// runs on the calling thread too, after the first (slower, never a failure). A panic in
/// `f` resumes on the calling thread once the others are joined.
pub fn side_by_side<T: Send, R: Send>(
    items: impl IntoIterator<Item = T>,
    f: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    let mut items = items.into_iter();
    let Some(first) = items.next() else { return Vec::new() };
    let f = &f;
    // Each other item waits in a slot its thread takes it from; if the thread cannot be
    // started (or has not started by the time this one is free), the item is still
    // there, for this thread.
    let slots: Vec<Mutex<Option<T>>> = items.map(|item| Mutex::new(Some(item))).collect();
    thread::scope(|s| {
        let threads: Vec<_> = slots
            .iter()
            .map(|slot| {
                let run = move || lock(slot).take().map(f);
                spawn_scoped(s, run).ok()
            })
            .collect();
        let mut out = Vec::with_capacity(slots.len() + 1);
        out.push(f(first));
        let here: Vec<Option<R>> = slots.iter().map(|slot| lock(slot).take().map(f)).collect();
        for (t, mine) in threads.into_iter().zip(here) {
            let theirs = t.and_then(|t| t.join().unwrap_or_else(|p| panic::resume_unwind(p)));
            // One of the two ran the item: whoever took it from the slot.
            out.extend(mine.or(theirs));
        }
        out
    })
}

/// A slot's lock; a poisoned one (a panic while it was held, which `take` cannot cause)
/// is used all the same.
fn lock<T>(slot: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `thread::Builder::spawn_scoped`; in this module's tests, refused while
/// `REFUSE_THREADS` is set (as the system refuses a thread past its limits).
fn spawn_scoped<'s, 'e, R: Send + 's>(
    s: &'s thread::Scope<'s, 'e>,
    run: impl FnOnce() -> R + Send + 's,
) -> std::io::Result<thread::ScopedJoinHandle<'s, R>> {
    #[cfg(test)]
    if tests::REFUSE_THREADS.load(Ordering::Relaxed) {
        return Err(std::io::Error::other("refused in a test"));
    }
    thread::Builder::new().spawn_scoped(s, run)
}

/// A job: called with the worker's index.
type Job = dyn Fn(usize) + Sync;

/// A worker thread did not finish its job: it panicked, or could not be started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerLost;

/// Helper threads (see the module docs). Dropping the pool stops and joins them.
#[derive(Default)]
pub struct Pool {
    helpers: Vec<Helper>,
}

struct Helper {
    post: Arc<Post>,
    thread: Option<JoinHandle<()>>,
}

/// What the caller and one helper share, on a cache line of its own.
#[repr(align(64))]
struct Post {
    /// The number of the latest job posted: the helper runs a job when it differs from
    /// the last one it ran.
    posted: AtomicU32,
    /// The number of the latest job the helper finished.
    finished: AtomicU32,
    /// The latest job, with its lifetime erased (see `Pool::run`).
    job: UnsafeCell<Option<*const Job>>,
    /// The helper caught a panic from a job.
    panicked: AtomicBool,
    stop: AtomicBool,
}

// SAFETY: `job` is written by the caller only while the helper is idle (every job it was
// given is finished, which the caller saw with an acquire load of `finished`), and
// published by the release store of `posted`; the helper reads it after an acquire load
// of `posted` and is done with it before its release store of `finished`. The job itself
// is `Sync`.
unsafe impl Sync for Post {}
// SAFETY: as above; the pointer is only dereferenced under that protocol.
unsafe impl Send for Post {}

impl Post {
    fn new() -> Self {
        Self {
            posted: AtomicU32::new(0),
            finished: AtomicU32::new(0),
            job: UnsafeCell::new(None),
            panicked: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        }
    }
}

impl Pool {
    /// Starts the helpers that `workers` workers need and are not running yet (a caller
    /// that knows it will run that many does it outside the work it times: a start costs
    /// about 100 µs). A thread that cannot be started is [`WorkerLost`].
    pub fn start(&mut self, workers: usize) -> Result<(), WorkerLost> {
        while self.helpers.len() + 1 < workers {
            let index = self.helpers.len() + 1;
            let post = Arc::new(Post::new());
            let theirs = Arc::clone(&post);
            let thread = thread::Builder::new()
                .name(format!("parex-worker-{index}"))
                .spawn(move || help(index, &theirs))
                .map_err(|_| WorkerLost)?;
            self.helpers.push(Helper { post, thread: Some(thread) });
        }
        Ok(())
    }

    /// Runs `job(i)` for every `i` in `0..workers` (none for 0), `job(0)` on this thread
    /// and the others on helpers (started the first time they are needed), and returns
    /// when every call has returned. A panic of `job(0)` resumes here after that.
    pub fn run(&mut self, workers: usize, job: &(dyn Fn(usize) + Sync)) -> Result<(), WorkerLost> {
        if workers == 0 {
            return Ok(());
        }
        let ((), helpers) = self.run_beside(workers - 1, job, || job(0));
        helpers
    }

    /// Runs `main` on this thread while helpers `1..=helpers` run `beside(i)`, and returns
    /// when every one returned: `main`'s result, and [`WorkerLost`] if a helper could not
    /// be started (then none runs `beside`) or panicked. This runs a one-worker phase
    /// with work that needs none of its results on the cores it leaves idle. A panic of
    /// `main` resumes here after the helpers finished.
    pub fn run_beside<R>(
        &mut self,
        helpers: usize,
        beside: &(dyn Fn(usize) + Sync),
        main: impl FnOnce() -> R,
    ) -> (R, Result<(), WorkerLost>) {
        if self.start(helpers + 1).is_err() {
            return (main(), Err(WorkerLost));
        }
        // SAFETY: only the lifetime is erased. `Finish` below waits, also when `main`
        // unwinds, until every helper given the job has finished it, so no helper uses the
        // pointer after `beside`'s borrow ends.
        let erased: *const Job = unsafe {
            std::mem::transmute::<*const (dyn Fn(usize) + Sync + '_), *const Job>(beside)
        };
        let posts = &self.helpers[..helpers];
        // Waits for the helpers when dropped, also if `main` unwinds; from here on,
        // whatever is posted is waited for.
        let finish = Finish { helpers: posts };
        for h in posts {
            // Relaxed: the helper's last store to it came before its release of
            // `finished`, acquired by the previous `run`'s `Finish`.
            h.post.panicked.store(false, Ordering::Relaxed);
            let post = &h.post;
            // SAFETY: the helper is idle: every earlier `run` waited for it (see `Post`).
            unsafe { *post.job.get() = Some(erased) };
            // Release: publishes the job to the helper's acquire load.
            post.posted.fetch_add(1, Ordering::Release);
            if let Some(t) = &h.thread {
                t.thread().unpark();
            }
        }
        let result = main();
        drop(finish);
        let lost = posts.iter().any(|h| h.post.panicked.load(Ordering::Relaxed));
        (result, if lost { Err(WorkerLost) } else { Ok(()) })
    }
}

/// Waits for the helpers of a `run` when dropped: after `job(0)` returns or unwinds.
struct Finish<'p> {
    helpers: &'p [Helper],
}

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        for h in self.helpers {
            // Relaxed: only this thread writes `posted`.
            let job = h.post.posted.load(Ordering::Relaxed);
            let mut spins = 0u32;
            // Acquire: pairs with the helper's release store, so everything the job
            // wrote is visible here.
            while h.post.finished.load(Ordering::Acquire) != job {
                spins = spins.saturating_add(1);
                pause(spins);
            }
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        for h in &self.helpers {
            h.post.stop.store(true, Ordering::Release);
            if let Some(t) = &h.thread {
                t.thread().unpark();
            }
        }
        for h in &mut self.helpers {
            if let Some(t) = h.thread.take() {
                let _ = t.join();
            }
        }
    }
}

/// A helper's life: wait for a job, run it, say so, until stopped.
fn help(index: usize, post: &Post) {
    let mut seen = 0u32;
    loop {
        let mut spins = 0u32;
        let mut awake = None;
        loop {
            if post.stop.load(Ordering::Acquire) {
                return;
            }
            // Acquire: pairs with the caller's release, so the job pointer is visible.
            let posted = post.posted.load(Ordering::Acquire);
            if posted != seen {
                seen = posted;
                break;
            }
            spins = spins.saturating_add(1);
            if spins < SPINS {
                std::hint::spin_loop();
            } else if awake.get_or_insert_with(Instant::now).elapsed() < STAY_AWAKE {
                thread::yield_now();
            } else {
                // Unparked by the next post (or by `drop`); a spurious return loops.
                thread::park();
            }
        }
        // SAFETY: posted before `posted` was bumped (acquired above); the caller keeps the
        // job alive until it sees `finished` (see `Post` and `Pool::run`).
        let job = unsafe { *post.job.get() };
        if let Some(job) = job {
            // SAFETY: as above: the job outlives this call.
            let job = unsafe { &*job };
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| job(index))) {
                post.panicked.store(true, Ordering::Relaxed);
                // Leaked: a payload whose drop panicked in turn would end this thread
                // before it said `finished`, and the caller would wait forever.
                std::mem::forget(payload);
            }
        }
        // Release: publishes the job's writes (and `panicked`) to the caller's acquire.
        post.finished.store(seen, Ordering::Release);
    }
}

/// Spins, then yields the core.
fn pause(spins: u32) {
    if spins < SPINS {
        std::hint::spin_loop();
    } else {
        thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Makes `spawn_scoped` refuse (`side_by_side`'s threads).
    pub(super) static REFUSE_THREADS: AtomicBool = AtomicBool::new(false);

    /// Every item's result comes back in order, whether its thread started or not (then
    /// it ran on the calling thread).
    #[test]
    fn side_by_side_runs_every_item_in_order() {
        let square = |x: u64| x * x;
        assert_eq!(side_by_side(1..=5u64, square), vec![1, 4, 9, 16, 25]);
        assert_eq!(side_by_side(std::iter::empty::<u64>(), square), Vec::<u64>::new());
        // Relaxed: `spawn_scoped` reads it on this thread.
        REFUSE_THREADS.store(true, Ordering::Relaxed);
        let here = thread::current().id();
        let ran = side_by_side(0..4, |i| (i, thread::current().id() == here));
        REFUSE_THREADS.store(false, Ordering::Relaxed);
        assert_eq!(ran, vec![(0, true), (1, true), (2, true), (3, true)]);
    }

    #[test]
    fn every_worker_runs_once_per_job() {
        let mut pool = Pool::default();
        for workers in [1, 3, 2, 4, 1, 4] {
            let ran: Vec<AtomicUsize> = (0..workers).map(|_| AtomicUsize::new(0)).collect();
            pool.run(workers, &|i| {
                ran[i].fetch_add(1, Ordering::Relaxed);
            })
            .unwrap();
            assert!(ran.iter().all(|r| r.load(Ordering::Relaxed) == 1), "{workers} workers");
        }
    }

    #[test]
    fn a_helper_woken_from_park_runs_its_job() {
        let mut pool = Pool::default();
        pool.run(2, &|_| {}).unwrap();
        std::thread::sleep(STAY_AWAKE * 5);
        let ran = AtomicUsize::new(0);
        pool.run(2, &|i| {
            ran.fetch_add(i, Ordering::Relaxed);
        })
        .unwrap();
        assert_eq!(ran.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_panic_on_the_calling_thread_waits_for_the_helpers() {
        let mut pool = Pool::default();
        let ran = AtomicUsize::new(0);
        let caught = std::panic::catch_unwind(AssertUnwindSafe(|| {
            pool.run(3, &|i| {
                if i == 0 {
                    panic!("worker 0 fails");
                }
                std::thread::sleep(Duration::from_millis(20));
                ran.fetch_add(1, Ordering::Relaxed);
            })
        }));
        assert!(caught.is_err());
        // Both helpers finished before the panic left `run`.
        assert_eq!(ran.load(Ordering::Relaxed), 2);
        pool.run(3, &|_| {}).unwrap();
    }

    #[test]
    fn a_panicking_helper_is_reported_and_the_pool_goes_on() {
        let mut pool = Pool::default();
        let r = pool.run(3, &|i| assert_ne!(i, 2, "worker 2 fails"));
        assert_eq!(r, Err(WorkerLost));
        let ran = AtomicUsize::new(0);
        pool.run(3, &|_| {
            ran.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
        assert_eq!(ran.load(Ordering::Relaxed), 3);
    }
}
