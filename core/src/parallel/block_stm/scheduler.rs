//! The collaborative scheduler: hands out execution and validation tasks in the block's
//! preset order and decides when the block is done (the design of Block-STM, Gelashvili
//! et al., PPoPP 2023, §3–4; this is an independent implementation).
//!
//! # Transaction status
//!
//! ```text
//!                 try_incarnate                finish_execution
//!   Ready(i) ─────────────────────▶ Executing(i) ─────────────────▶ Executed(i)
//!      ▲                                │                                │
//!      │ set_ready (i+1)                │ add_dependency                 │ try_validation_abort
//!      │                                ▼                                ▼
//!      └───────────────────────────  Aborting(i) ◀───────────────────────┘
//!        (resume_dependencies when the blocking txn finishes; finish_validation)
//! ```
//!
//! `i` is the incarnation. Each status lives behind its transaction's spin lock; the
//! only place two locks are held is [`Scheduler::add_dependency`], which takes the
//! blocking (lower-index) transaction's lock first, then the waiter's: a fixed order, so
//! no deadlock.
//!
//! # Shared counters (all `AtomicU32`)
//!
//! * `execution_idx`: next transaction to try executing. Any worker `fetch_add`s it;
//!   `decrease_execution_idx` lowers it (`fetch_min`) when dependencies resume.
//! * `validation_idx`: next transaction to validate; lowered when a transaction aborts
//!   (to `txn + 1`) or writes a key its previous incarnation did not (to `txn`).
//! * `decrease_cnt`: bumped after every lowering, so `check_done` can tell that nothing
//!   was lowered between its two reads.
//! * `num_active_tasks`: tasks handed out and not finished; bumped *before* an index is
//!   claimed so that `check_done` never sees "no work" while a claim is in flight.
//! * `done`: set once; every worker then returns.
//!
//! Orderings: counters use `SeqCst`. The done-detection argument of the paper (no
//! decrease between two reads of `decrease_cnt`, no active task, both indices past the
//! end) needs a single total order over these five variables; `SeqCst` is the ordering
//! that provides it, and the counters are touched once per task, so it costs little.
//! Per-transaction data is published by the status locks (acquire/release).
//!
//! # In-order executions
//!
//! An execution claimed at an instant when no task was active and both indices stood at
//! its index reads only final values: every lower transaction is executed and
//! validated, and nothing can change them without an active task (the check and its
//! argument are in `next_version_to_execute`). Such an execution is handed out as
//! [`Task::ExecuteInOrder`] and skips its validation (`finish_execution` moves
//! `validation_idx` past it; if a worker looking for validations moved it first, the
//! validation runs, and cannot fail). A single worker therefore never validates, and
//! several workers skip validation whenever they keep up with each other in order.
//!
//! # Waiters
//!
//! A transaction that must wait for a lower one is pushed on that one's waiter list: a
//! singly linked list threaded through `next_dep` of the waiters, whose head lives in the
//! blocking transaction's status cell. Both are only touched under the blocking
//! transaction's lock. A waiter is in at most one list (it is `Aborting` until resumed).

use crate::sync::{spin_hint, AtomicBool, AtomicU32, Ordering, Padded, RawSpin, UnsafeCell};

const NIL: u32 = u32::MAX;

/// Where a transaction is in its Block-STM life (see the module diagram).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TxStatus {
    /// May be executed as incarnation `i`.
    Ready,
    /// Incarnation `i` is running on some worker.
    Executing,
    /// Incarnation `i` finished; its writes are in multi-version memory.
    Executed,
    /// Incarnation `i` was aborted (failed validation or is waiting on a dependency).
    Aborting,
}

#[derive(Clone, Copy, Debug)]
struct StatusCell {
    status: TxStatus,
    incarnation: u32,
    /// First waiter on this transaction, or `NIL`.
    deps_head: u32,
    /// The running incarnation was claimed in order (see `next_version_to_execute`).
    in_order: bool,
}

/// Per-transaction scheduler state; one per transaction, in caller memory.
///
/// Aligned to a cache line: neighbouring transactions usually run on different workers,
/// and sharing a line would make their status locks bounce between cores.
#[derive(Debug)]
#[repr(align(64))]
pub struct TxState {
    lock: RawSpin,
    cell: UnsafeCell<StatusCell>,
    /// Next waiter in the list of the transaction this one waits on; guarded by that
    /// transaction's lock (so a plain relaxed atomic suffices: the lock orders it).
    next_dep: AtomicU32,
}

// SAFETY: `cell` is only accessed while `lock` is held (see `with_status`), so shared
// references from several threads never touch it concurrently.
unsafe impl Sync for TxState {}

impl Default for TxState {
    fn default() -> Self {
        Self::new()
    }
}

impl TxState {
    /// A fresh state (`Ready`, incarnation 0).
    pub fn new() -> Self {
        Self {
            lock: RawSpin::new(),
            cell: UnsafeCell::new(StatusCell {
                status: TxStatus::Ready,
                incarnation: 0,
                deps_head: NIL,
                in_order: false,
            }),
            next_dep: AtomicU32::new(NIL),
        }
    }

    #[inline]
    fn with_status<R>(&self, f: impl FnOnce(&mut StatusCell) -> R) -> R {
        let _g = self.lock.lock();
        // SAFETY: the lock is held for the whole closure, and `cell` is never accessed
        // without it, so this is the only reference.
        self.cell.with_mut(|p| f(unsafe { &mut *p }))
    }

    fn reset(&mut self) {
        *self = Self::new();
    }
}

/// A unit of work handed to a worker.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Task {
    /// Execute incarnation `.1` of transaction `.0`.
    Execute(u32, u32),
    /// Execute incarnation `.1` of transaction `.0`, claimed in order (module docs): it
    /// reads only final values, so its read set can never fail a validation.
    ExecuteInOrder(u32, u32),
    /// Validate incarnation `.1` of transaction `.0`.
    Validate(u32, u32),
}

/// The scheduler over caller memory (one [`TxState`] per transaction).
pub struct Scheduler<'a> {
    txs: &'a [TxState],
    n: u32,
    execution_idx: Padded<AtomicU32>,
    validation_idx: Padded<AtomicU32>,
    decrease_cnt: Padded<AtomicU32>,
    num_active_tasks: Padded<AtomicU32>,
    done: Padded<AtomicBool>,
}

impl<'a> Scheduler<'a> {
    /// A scheduler for `states.len()` transactions (fewer than `u32::MAX`); resets them.
    pub fn new(states: &'a mut [TxState]) -> Self {
        states.iter_mut().for_each(TxState::reset);
        let n = states.len() as u32;
        Self {
            txs: states,
            n,
            execution_idx: Padded(AtomicU32::new(0)),
            validation_idx: Padded(AtomicU32::new(0)),
            decrease_cnt: Padded(AtomicU32::new(0)),
            num_active_tasks: Padded(AtomicU32::new(0)),
            done: Padded(AtomicBool::new(n == 0)),
        }
    }

    /// Number of transactions.
    pub fn len(&self) -> u32 {
        self.n
    }

    /// True for an empty block.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// True once every transaction is executed and validated.
    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::SeqCst)
    }

    /// Marks the block done early (a worker hit an error; everyone stops).
    pub fn halt(&self) {
        self.done.store(true, Ordering::SeqCst);
    }

    /// Status and incarnation of `txn`.
    pub fn status(&self, txn: u32) -> (TxStatus, u32) {
        self.txs[txn as usize].with_status(|c| (c.status, c.incarnation))
    }

    fn decrease_execution_idx(&self, target: u32) {
        self.execution_idx.fetch_min(target, Ordering::SeqCst);
        self.decrease_cnt.fetch_add(1, Ordering::SeqCst);
    }

    fn decrease_validation_idx(&self, target: u32) {
        self.validation_idx.fetch_min(target, Ordering::SeqCst);
        self.decrease_cnt.fetch_add(1, Ordering::SeqCst);
    }

    fn check_done(&self) {
        let observed = self.decrease_cnt.load(Ordering::SeqCst);
        let exec = self.execution_idx.load(Ordering::SeqCst);
        let val = self.validation_idx.load(Ordering::SeqCst);
        let active = self.num_active_tasks.load(Ordering::SeqCst);
        if exec.min(val) >= self.n
            && active == 0
            && observed == self.decrease_cnt.load(Ordering::SeqCst)
        {
            self.done.store(true, Ordering::SeqCst);
        }
    }

    /// `Ready(i) -> Executing(i)`. Does not touch `num_active_tasks`.
    fn try_incarnate(&self, txn: u32, in_order: bool) -> Option<Task> {
        if txn >= self.n {
            return None;
        }
        self.txs[txn as usize].with_status(|c| {
            if c.status == TxStatus::Ready {
                c.status = TxStatus::Executing;
                c.in_order = in_order;
                Some(if in_order {
                    Task::ExecuteInOrder(txn, c.incarnation)
                } else {
                    Task::Execute(txn, c.incarnation)
                })
            } else {
                None
            }
        })
    }

    fn next_version_to_execute(&self) -> Option<Task> {
        if self.execution_idx.load(Ordering::SeqCst) >= self.n {
            self.check_done();
            return None;
        }
        // In order: at the instant of our `num_active_tasks` increment no task was active
        // and both indices stood at `idx`. At such a quiescent instant every lower
        // transaction is executed and validated against final versions (a transaction
        // that is not final needs an active task, or an index below it), so this
        // execution reads final values and needs no validation (see `finish_execution`).
        // Both indices are read before the increment and `validation_idx` again after
        // the claim, with `decrease_cnt` around everything: without a decrease both only
        // grow, so equal values before and after pin them at the increment. (Checking
        // `execution_idx` before the increment matters: another worker may increment
        // `num_active_tasks` after us yet claim `idx - 1` before our claim.)
        let decreases = self.decrease_cnt.load(Ordering::SeqCst);
        let val_before = self.validation_idx.load(Ordering::SeqCst);
        let exec_before = self.execution_idx.load(Ordering::SeqCst);
        let was_active = self.num_active_tasks.fetch_add(1, Ordering::SeqCst);
        let idx = self.execution_idx.fetch_add(1, Ordering::SeqCst);
        let in_order = was_active == 0
            && exec_before == idx
            && val_before == idx
            && self.validation_idx.load(Ordering::SeqCst) == idx
            && self.decrease_cnt.load(Ordering::SeqCst) == decreases;
        let t = self.try_incarnate(idx, in_order);
        if t.is_none() {
            self.num_active_tasks.fetch_sub(1, Ordering::SeqCst);
        }
        t
    }

    fn next_version_to_validate(&self) -> Option<Task> {
        if self.validation_idx.load(Ordering::SeqCst) >= self.n {
            self.check_done();
            return None;
        }
        self.num_active_tasks.fetch_add(1, Ordering::SeqCst);
        let idx = self.validation_idx.fetch_add(1, Ordering::SeqCst);
        if idx < self.n {
            let (status, inc) = self.status(idx);
            if status == TxStatus::Executed {
                return Some(Task::Validate(idx, inc));
            }
        }
        self.num_active_tasks.fetch_sub(1, Ordering::SeqCst);
        None
    }

    /// One attempt at getting a task: `None` when nothing is available right now or the
    /// block is done ([`Self::is_done`] tells which). Prefers validation while it lags
    /// execution, which keeps aborts cheap.
    pub fn try_next_task(&self) -> Option<Task> {
        if self.is_done() {
            return None;
        }
        let val = self.validation_idx.load(Ordering::SeqCst);
        let exec = self.execution_idx.load(Ordering::SeqCst);
        if val < exec {
            self.next_version_to_validate()
        } else {
            self.next_version_to_execute()
        }
    }

    /// The next task, spinning while none is available; `None` when the block is done.
    pub fn next_task(&self) -> Option<Task> {
        loop {
            if let Some(t) = self.try_next_task() {
                return Some(t);
            }
            if self.is_done() {
                return None;
            }
            spin_hint();
        }
    }

    /// `Executing(i) -> Aborting(i)` when `txn` must wait for `blocking` (< `txn`), which
    /// has not finished executing. Returns false when `blocking` is already `Executed`:
    /// the caller re-executes at once. On true the task is over.
    pub fn add_dependency(&self, txn: u32, blocking: u32) -> bool {
        if blocking >= txn {
            return false;
        }
        let b = &self.txs[blocking as usize];
        let added = b.with_status(|bc| {
            if bc.status == TxStatus::Executed {
                return false;
            }
            // Lock order: blocking (lower index) before txn.
            self.txs[txn as usize].with_status(|c| c.status = TxStatus::Aborting);
            // Relaxed: next_dep is guarded by the blocking transaction's lock, held here.
            self.txs[txn as usize].next_dep.store(bc.deps_head, Ordering::Relaxed);
            bc.deps_head = txn;
            true
        });
        if added {
            self.num_active_tasks.fetch_sub(1, Ordering::SeqCst);
        }
        added
    }

    /// `Aborting(i) -> Ready(i + 1)`.
    fn set_ready(&self, txn: u32) {
        self.txs[txn as usize].with_status(|c| {
            c.status = TxStatus::Ready;
            c.incarnation += 1;
        });
    }

    /// `Executing(i) -> Executed(i)`; resumes the waiters. `wrote_new_path`: this
    /// incarnation wrote a key its previous one did not, so every higher transaction
    /// must be validated again. May hand back the validation of this transaction.
    pub fn finish_execution(
        &self,
        txn: u32,
        incarnation: u32,
        wrote_new_path: bool,
    ) -> Option<Task> {
        let (mut dep, in_order) = self.txs[txn as usize].with_status(|c| {
            c.status = TxStatus::Executed;
            (core::mem::replace(&mut c.deps_head, NIL), c.in_order)
        });
        let mut min_dep = NIL;
        while dep != NIL {
            // Relaxed: the list was detached under this transaction's lock, acquired
            // above, which ordered every write of these links before us.
            let next = self.txs[dep as usize].next_dep.load(Ordering::Relaxed);
            self.set_ready(dep);
            min_dep = min_dep.min(dep);
            dep = next;
        }
        if min_dep != NIL {
            self.decrease_execution_idx(min_dep);
        }
        // An in-order execution is valid by construction. If validation still stands at
        // this transaction, no higher one has been validated yet, so stepping past it is
        // all that is needed (new paths included). If it moved, take the general path.
        if in_order
            && self
                .validation_idx
                .compare_exchange(txn, txn + 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            self.num_active_tasks.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        if self.validation_idx.load(Ordering::SeqCst) > txn {
            if wrote_new_path {
                self.decrease_validation_idx(txn);
            } else {
                return Some(Task::Validate(txn, incarnation));
            }
        }
        self.num_active_tasks.fetch_sub(1, Ordering::SeqCst);
        None
    }

    /// `Executed(i) -> Aborting(i)` if `txn` is still at incarnation `i`; only the first
    /// failed validation of an incarnation wins.
    pub fn try_validation_abort(&self, txn: u32, incarnation: u32) -> bool {
        self.txs[txn as usize].with_status(|c| {
            if c.status == TxStatus::Executed && c.incarnation == incarnation {
                c.status = TxStatus::Aborting;
                true
            } else {
                false
            }
        })
    }

    /// Ends a validation task. After an abort, every higher transaction is validated
    /// again and this one is re-executed (here, if execution already passed it).
    pub fn finish_validation(&self, txn: u32, aborted: bool) -> Option<Task> {
        if aborted {
            self.set_ready(txn);
            self.decrease_validation_idx(txn + 1);
            if self.execution_idx.load(Ordering::SeqCst) > txn {
                if let Some(t) = self.try_incarnate(txn, false) {
                    return Some(t);
                }
            }
        }
        self.num_active_tasks.fetch_sub(1, Ordering::SeqCst);
        None
    }
}
