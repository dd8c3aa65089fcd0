//! Every atomic and shared cell of the parallel engine comes from here, so that
//! `RUSTFLAGS="--cfg loom"` swaps in loom's model-checked versions (see
//! `core/tests/loom.rs`). Only 32-bit atomics are used: `thumbv7em-none-eabihf` and
//! `riscv32imac-unknown-none-elf` have no 64-bit ones.

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// An `UnsafeCell` with loom's closure-based API.
#[cfg(not(loom))]
#[derive(Debug, Default)]
pub(crate) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(v: T) -> Self {
        Self(core::cell::UnsafeCell::new(v))
    }
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
    pub(crate) fn into_inner(self) -> T {
        self.0.into_inner()
    }
}

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// Tells the processor (or loom's scheduler) that this thread is waiting.
#[inline(always)]
pub(crate) fn spin_hint() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    core::hint::spin_loop();
}

/// A test-and-test-and-set spin lock protecting data that lives elsewhere (the caller
/// pairs it with `UnsafeCell`s and says so in a `// SAFETY:` comment). Critical sections
/// in the engine are a few dozen instructions and never nest except as documented in
/// `parallel::scheduler` (lower transaction index first).
#[derive(Debug, Default)]
pub(crate) struct RawSpin {
    locked: AtomicBool,
}

impl RawSpin {
    pub(crate) fn new() -> Self {
        Self { locked: AtomicBool::new(false) }
    }

    /// Acquire: everything the previous holder wrote before `unlock` is visible to us.
    #[inline]
    pub(crate) fn lock(&self) -> SpinGuard<'_> {
        loop {
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return SpinGuard { lock: self };
            }
            // Relaxed suffices while waiting: the successful CAS above is what acquires.
            while self.locked.load(Ordering::Relaxed) {
                spin_hint();
            }
        }
    }
}

/// Releases the lock when dropped.
pub(crate) struct SpinGuard<'a> {
    lock: &'a RawSpin,
}

impl Drop for SpinGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // Release: publishes the critical section's writes to the next acquirer.
        self.lock.locked.store(false, Ordering::Release);
    }
}

/// Keeps a hot shared value on a cache line of its own, so that workers updating one
/// counter do not also bounce their neighbours' lines.
#[derive(Debug, Default)]
#[repr(align(64))]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> core::ops::Deref for Padded<T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        &self.0
    }
}

/// A cell of caller memory that workers share under a discipline stated where the cells
/// are used (the footprint scheduler's phases, the commitment's disjoint parts): each
/// cell is written by one worker at a time and read only after a release/acquire edge
/// (or a thread join) that follows the write. `get` and `set` are safe to call but their
/// callers must keep that discipline; every use site says how it does.
#[repr(transparent)]
pub struct Slot<T>(core::cell::UnsafeCell<T>);

// SAFETY: a `Slot` is written by one worker at a time and read only after an edge that
// orders the write before the read (see the type's docs and each use site).
unsafe impl<T: Send> Sync for Slot<T> {}

impl<T: Copy> Slot<T> {
    /// A slot holding `v`.
    pub const fn new(v: T) -> Self {
        Self(core::cell::UnsafeCell::new(v))
    }

    /// The value. Caller: no concurrent write (the use site's discipline).
    #[inline(always)]
    pub(crate) fn get(&self) -> T {
        // SAFETY: per the caller's contract, nobody writes this slot concurrently.
        unsafe { *self.0.get() }
    }

    /// Replaces the value. Caller: the only accessor right now (the use site's discipline).
    #[inline(always)]
    pub(crate) fn set(&self, v: T) {
        // SAFETY: per the caller's contract, nobody else accesses this slot now.
        unsafe { *self.0.get() = v }
    }
}

impl<T> Slot<T> {
    /// Views exclusively borrowed values as slots (as `Cell::from_mut` does), so that a
    /// caller's own vector can receive results without a copy.
    pub fn from_mut_slice(values: &mut [T]) -> &mut [Slot<T>] {
        // SAFETY: `Slot<T>` is `repr(transparent)` over `UnsafeCell<T>`, which has the
        // layout of `T`; the exclusive borrow carries over to the slots.
        unsafe { &mut *(values as *mut [T] as *mut [Slot<T>]) }
    }
}

impl<T: Copy + Default> Default for Slot<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> core::fmt::Debug for Slot<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The value is not shown: a worker may be writing it.
        f.write_str("Slot(..)")
    }
}

/// The plain values of slots that the caller alone accesses now, though it reached them
/// through a shared borrow (a part claimed by one worker of a phase).
///
/// # Safety
///
/// For as long as the returned borrow lives, nothing else may read or write these
/// slots (the use site's discipline says why nothing does).
#[allow(clippy::mut_from_ref)]
pub(crate) unsafe fn claimed<T>(slots: &[Slot<T>]) -> &mut [T] {
    // SAFETY: `Slot<T>` is `repr(transparent)` over `UnsafeCell<T>`, which has the layout
    // of `T` and allows writes through a shared borrow; the caller guarantees that no
    // other access overlaps the returned one.
    unsafe { core::slice::from_raw_parts_mut(slots.as_ptr() as *mut T, slots.len()) }
}

/// The plain values of exclusively borrowed slots (the inverse of
/// [`Slot::from_mut_slice`]).
pub(crate) fn settled<T>(slots: &mut [Slot<T>]) -> &mut [T] {
    // SAFETY: `Slot<T>` is `repr(transparent)` over `UnsafeCell<T>`, which has the layout
    // of `T`; the exclusive borrow carries over to the values.
    unsafe { &mut *(slots as *mut [Slot<T>] as *mut [T]) }
}
