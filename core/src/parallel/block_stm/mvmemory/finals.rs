//! The memory read out at the end of a block: every key that has a version, with what a
//! read at the end of the block returns.
//!
//! One reader takes the whole memory ([`MvMemory::final_versions`], after the workers
//! joined); several workers can each read a range of the records side by side once
//! every task has ended ([`MvMemory::final_versions_in`]).

use core::ops::Range;

use super::{MvMemory, MvRead, NIL};
use crate::state::prefetch;
use crate::sync::Ordering;
use crate::types::{Address, StateKey};

/// Keys [`FinalVersions`] looks ahead by: their first version is prefetched while earlier
/// keys are read, since each list head is a likely cache miss.
const FINAL_LAG: usize = 16;

impl<'a> MvMemory<'a> {
    /// After the workers joined (the exclusive borrow proves it: see [`FinalVersions`]):
    /// every key that has at least one version, with what a read at the end of the block
    /// returns, roughly in the order the keys were first written.
    pub fn final_versions(&mut self) -> FinalVersions<'_, 'a> {
        let records = self.records();
        FinalVersions::new(self, 0..records)
    }

    /// The same for the records numbered in `range` (clamped to those handed out),
    /// through a shared borrow, so that workers can read disjoint ranges side by side.
    ///
    /// # Safety
    ///
    /// Nothing may write the memory any more, and every write to it must happen before
    /// this call: e.g. every task of the block has ended and the caller saw that through
    /// an acquire (a worker that saw the scheduler done, not halted).
    pub unsafe fn final_versions_in(&self, range: Range<usize>) -> FinalVersions<'_, 'a> {
        let records = self.records();
        FinalVersions::new(self, range.start.min(records)..range.end.min(records))
    }

    /// Records handed out in this block (at most the records there are). Relaxed: read
    /// once the claims are over (see the callers), after an edge that orders them before.
    pub fn records(&self) -> usize {
        (self.used.load(Ordering::Relaxed) as usize).min(self.keys.len())
    }
}

/// The iterator of [`MvMemory::final_versions`] and [`MvMemory::final_versions_in`].
///
/// The version lists are read without their locks. Either the memory was borrowed
/// exclusively (`final_versions`): every other user reached it through a shared borrow
/// (the executor's workers), so those borrows ended. Or it was borrowed under the
/// contract of `final_versions_in`.
pub struct FinalVersions<'m, 'a> {
    mv: &'m MvMemory<'a>,
    /// Next record to scan, and the end of the range.
    scan: usize,
    end: usize,
    /// Keys found and not yet returned, with their list heads (prefetched).
    ring: [(StateKey, u32); FINAL_LAG],
    first: usize,
    len: usize,
}

impl<'m, 'a> FinalVersions<'m, 'a> {
    fn new(mv: &'m MvMemory<'a>, range: Range<usize>) -> Self {
        Self {
            mv,
            scan: range.start,
            end: range.end,
            ring: [(StateKey::balance(Address(0)), NIL); FINAL_LAG],
            first: 0,
            len: 0,
        }
    }
}

impl Iterator for FinalVersions<'_, '_> {
    type Item = (StateKey, MvRead);

    fn next(&mut self) -> Option<Self::Item> {
        let mv = self.mv;
        while self.len < FINAL_LAG && self.scan < self.end {
            // Nothing writes the memory any more (type docs).
            if let Some((key, list)) = mv.final_record(self.scan) {
                if let Some(read) = list.top_read(u32::MAX) {
                    // Known without the list (see `List`).
                    self.scan += 1;
                    return Some((key, read));
                }
                if list.others == 0 {
                    // Only adds: the tallies answer without the list (see `List`).
                    self.scan += 1;
                    return Some((key, MvRead::Storage(list.adds)));
                }
                if let Some(node) = mv.nodes.get(list.head as usize) {
                    prefetch(node);
                }
                self.ring[(self.first + self.len) % FINAL_LAG] = (key, list.head);
                self.len += 1;
            }
            self.scan += 1;
        }
        if self.len == 0 {
            return None;
        }
        let (key, head) = self.ring[self.first];
        self.first = (self.first + 1) % FINAL_LAG;
        self.len -= 1;
        // Nothing writes the memory any more (type docs).
        Some((key, mv.read_list(head, u32::MAX)))
    }
}
