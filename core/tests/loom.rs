//! Model-checks the scheduler's task and status transitions, and the multi-version
//! memory's key index, with loom:
//! `RUSTFLAGS="--cfg loom" cargo test -p parex-core --test loom --release`
//! (`LOOM_MAX_PREEMPTIONS=3` in `.ci/run`).
//!
//! Two workers run the real [`Scheduler`] over mock transactions: transaction 1 reads
//! what transaction 0 writes, so it must be re-executed whenever it ran before 0
//! finished. Every interleaving must end done, with every transaction `Executed` and
//! transaction 1's last incarnation having seen transaction 0's write.
//!
//! Two threads insert versions into the real [`MvMemory`] through a two-slot index (so
//! claims race on one slot and probes collide): one key gets one record whatever the
//! interleaving, colliding keys both stay findable, a reader racing a claim sees
//! either no record or the whole first version, and two workers that saw each other end
//! read disjoint ranges of the records out without their locks.
#![cfg(loom)]

use loom::sync::atomic::{AtomicU32, Ordering};
use loom::sync::Arc;
use loom::thread;
use parex_core::exec::Write;
use parex_core::parallel::block_stm::mvmemory::{IndexWord, MvKey, MvMemory, MvNode, MvRead};
use parex_core::parallel::block_stm::scheduler::{Scheduler, Task, TxState, TxStatus};
use parex_core::types::{Address, StateKey};

struct Mock {
    sched: Scheduler<'static>,
    /// Incarnation of tx 0 that finished, plus one (0 = none yet).
    written: AtomicU32,
    /// What tx 1's incarnations saw (indexed by incarnation, up to 8).
    seen: [AtomicU32; 8],
    /// Which of tx 1's incarnations were claimed in order (1) or not (0).
    in_order: [AtomicU32; 8],
}

fn worker(m: &Mock) {
    let mut task = None;
    loop {
        task = match task {
            Some(Task::Execute(0, i) | Task::ExecuteInOrder(0, i)) => {
                m.written.store(i + 1, Ordering::SeqCst);
                m.sched.finish_execution(0, i, i == 0)
            }
            Some(task @ (Task::Execute(t, i) | Task::ExecuteInOrder(t, i))) => {
                let w = m.written.load(Ordering::SeqCst);
                m.seen[i as usize % 8].store(w, Ordering::SeqCst);
                let in_order = matches!(task, Task::ExecuteInOrder(..)) as u32;
                m.in_order[i as usize % 8].store(in_order, Ordering::SeqCst);
                m.sched.finish_execution(t, i, i == 0)
            }
            Some(Task::Validate(t, i)) => {
                let valid = t == 0
                    || m.seen[i as usize % 8].load(Ordering::SeqCst)
                        == m.written.load(Ordering::SeqCst);
                // The executor skips recording the read set of an in-order execution:
                // the claim is that no validation of one can fail.
                let claimed_in_order =
                    t == 1 && m.in_order[i as usize % 8].load(Ordering::SeqCst) == 1;
                assert!(valid || !claimed_in_order, "an in-order execution failed validation");
                let aborted = !valid && m.sched.try_validation_abort(t, i);
                m.sched.finish_validation(t, aborted)
            }
            None => match m.sched.next_task() {
                Some(t) => Some(t),
                None => return,
            },
        };
    }
}

fn leak_states() -> &'static mut [TxState] {
    Box::leak(vec![TxState::new(), TxState::new()].into_boxed_slice())
}

#[test]
fn two_workers_two_dependent_txs() {
    loom::model(|| {
        let m = Arc::new(Mock {
            sched: Scheduler::new(leak_states()),
            written: AtomicU32::new(0),
            seen: core::array::from_fn(|_| AtomicU32::new(u32::MAX)),
            in_order: core::array::from_fn(|_| AtomicU32::new(0)),
        });
        let m2 = m.clone();
        let h = thread::spawn(move || worker(&m2));
        worker(&m);
        h.join().unwrap();
        assert!(m.sched.is_done());
        let (s0, _) = m.sched.status(0);
        let (s1, inc1) = m.sched.status(1);
        assert_eq!((s0, s1), (TxStatus::Executed, TxStatus::Executed));
        assert_eq!(
            m.seen[inc1 as usize % 8].load(Ordering::SeqCst),
            m.written.load(Ordering::SeqCst)
        );
    });
}

#[test]
fn dependency_wait_and_resume() {
    loom::model(|| {
        let sched = Arc::new(Scheduler::new(leak_states()));
        // Worker A takes tx 0; worker B takes tx 1, which then waits on tx 0.
        // Tx 0 is claimed in order (nothing active, both indices at 0); tx 1 is not.
        assert_eq!(sched.next_task(), Some(Task::ExecuteInOrder(0, 0)));
        assert_eq!(sched.next_task(), Some(Task::Execute(1, 0)));
        let s2 = sched.clone();
        let h = thread::spawn(move || {
            if s2.add_dependency(1, 0) {
                None
            } else {
                s2.finish_execution(1, 0, true)
            }
        });
        let next_a = sched.finish_execution(0, 0, true);
        let next_b = h.join().unwrap();
        let mut task = next_a.or(next_b);
        loop {
            task = match task {
                Some(Task::Execute(t, i) | Task::ExecuteInOrder(t, i)) => {
                    sched.finish_execution(t, i, false)
                }
                Some(Task::Validate(t, _)) => sched.finish_validation(t, false),
                None => match sched.next_task() {
                    Some(t) => Some(t),
                    None => break,
                },
            };
        }
        assert_eq!(sched.status(0).0, TxStatus::Executed);
        assert_eq!(sched.status(1).0, TxStatus::Executed);
    });
}

/// Multi-version memory with a two-slot index, two records and two nodes (node `t` is
/// transaction `t`'s), leaked for the model's threads.
fn small_mv() -> MvMemory<'static> {
    let index = Box::leak(vec![IndexWord::new(), IndexWord::new()].into_boxed_slice());
    let keys = Box::leak(vec![MvKey::new(), MvKey::new()].into_boxed_slice());
    let nodes = Box::leak(vec![MvNode::new(), MvNode::new()].into_boxed_slice());
    MvMemory::new(index, keys, nodes).expect("power-of-two index")
}

/// Two different keys with the same home slot in a two-slot index.
fn colliding_keys() -> (StateKey, StateKey) {
    let a = StateKey::balance(Address(1));
    let home = a.table_hash() & 1;
    let b = (2..)
        .map(|i| StateKey::balance(Address(i)))
        .find(|k| k.table_hash() & 1 == home)
        .expect("some address collides");
    (a, b)
}

#[test]
fn racing_inserts_of_one_key_share_one_record() {
    loom::model(|| {
        let key = StateKey::balance(Address(7));
        let mv = Arc::new(small_mv());
        let mv2 = mv.clone();
        let h = thread::spawn(move || mv2.insert(&key, 1, 1, Write::Set(20), false));
        let a = mv.insert(&key, 0, 0, Write::Set(10), false).expect("room");
        let b = h.join().unwrap().expect("room");
        assert_eq!(a, b, "one record per key");
        assert_eq!(mv.read(&key, 1), MvRead::Value(10));
        assert_eq!(mv.read(&key, 2), MvRead::Value(20));
        let mut mv = Arc::try_unwrap(mv).ok().expect("threads joined");
        let finals: Vec<_> = mv.final_versions().collect();
        assert_eq!(finals, vec![(key, MvRead::Value(20))]);
    });
}

#[test]
fn colliding_keys_both_stay_findable() {
    loom::model(|| {
        let (ka, kb) = colliding_keys();
        let mv = Arc::new(small_mv());
        let mv2 = mv.clone();
        let h = thread::spawn(move || mv2.insert(&kb, 1, 1, Write::Add(5), false));
        let a = mv.insert(&ka, 0, 0, Write::Set(3), false).expect("room");
        let b = h.join().unwrap().expect("room");
        assert_ne!(a, b);
        assert_eq!(mv.read(&ka, 2), MvRead::Value(3));
        assert_eq!(mv.read(&kb, 2), MvRead::Storage(5));
        assert_eq!(mv.read(&kb, 1), MvRead::Storage(0));
        // The read-out answers a list of adds from its tallies, a list with a set by
        // walking it: both must agree with the reads above.
        let mut mv = Arc::try_unwrap(mv).ok().expect("threads joined");
        let mut finals: Vec<_> = mv.final_versions().collect();
        finals.sort_by_key(|(k, _)| *k);
        let mut want = vec![(ka, MvRead::Value(3)), (kb, MvRead::Storage(5))];
        want.sort_by_key(|(k, _)| *k);
        assert_eq!(finals, want);
    });
}

#[test]
fn a_reader_racing_a_claim_sees_nothing_or_the_version() {
    loom::model(|| {
        let key = StateKey::balance(Address(9));
        let mv = Arc::new(small_mv());
        let mv2 = mv.clone();
        let h = thread::spawn(move || mv2.read(&key, 1));
        mv.insert(&key, 0, 0, Write::Set(42), false).expect("room");
        let seen = h.join().unwrap();
        assert!(matches!(seen, MvRead::Storage(0) | MvRead::Value(42)), "{seen:?}");
    });
}

/// The side-by-side read-out (`block_stm::readout`): each worker writes a key, counts
/// itself done with a `SeqCst` read-modify-write (as every task ends in the scheduler),
/// waits until both are (as a worker waits to see the scheduler done), then reads its
/// half of the records without their locks. Loom checks that these unlocked reads are
/// ordered after the other worker's locked writes; together they read every key once.
#[test]
fn workers_read_disjoint_record_ranges_out_after_the_end() {
    loom::model(|| {
        let (ka, kb) = colliding_keys();
        let mv = Arc::new(small_mv());
        let ended = Arc::new(AtomicU32::new(0));
        let run = move |mv: Arc<MvMemory<'static>>, ended: Arc<AtomicU32>, t: u32, part: usize| {
            let (key, value) = if t == 0 { (ka, Write::Set(3)) } else { (kb, Write::Add(5)) };
            mv.insert(&key, t, t, value, false).expect("room");
            ended.fetch_add(1, Ordering::SeqCst);
            while ended.load(Ordering::SeqCst) < 2 {
                thread::yield_now();
            }
            // SAFETY: both workers' writes happen before the load that saw them end, and
            // nothing writes the memory afterwards.
            unsafe { mv.final_versions_in(part..part + 1) }.collect::<Vec<_>>()
        };
        let (mv2, ended2) = (mv.clone(), ended.clone());
        let h = thread::spawn(move || run(mv2, ended2, 1, 1));
        let mut finals = run(mv, ended, 0, 0);
        finals.extend(h.join().unwrap());
        finals.sort_by_key(|(k, _)| *k);
        let mut want = vec![(ka, MvRead::Value(3)), (kb, MvRead::Storage(5))];
        want.sort_by_key(|(k, _)| *k);
        assert_eq!(finals, want);
    });
}
