//! Filing a block's new entries in the state's index from several threads at once, with
//! the layout that filing them one by one in entry order gives ([`file_shared`]): the
//! parts of [`super::Updates`] each file their own new keys.

use core::sync::atomic::{AtomicU32, Ordering};

use super::{home_slot_of, EMPTY};
use crate::types::StateKey;

/// Views an index as atomics, for parts that file entries in it side by side.
pub(super) fn atomics(index: &mut [u32]) -> &[AtomicU32] {
    const _: () = assert!(core::mem::align_of::<AtomicU32>() == core::mem::align_of::<u32>());
    // SAFETY: `AtomicU32` has the size and bit validity of `u32`, and (checked above) its
    // alignment; the exclusive borrow of `index` carries over to the view, so nothing
    // reads or writes the integers other than through it while it lives.
    unsafe { core::slice::from_raw_parts(index.as_mut_ptr().cast::<AtomicU32>(), index.len()) }
}

/// Files entry `entry` (holding `key`, which the index lacks) in `index` (a power of two
/// long, at most half full) while other threads file theirs, with the layout that filing
/// every entry one by one in entry order gives (as `State::file` does).
///
/// The layout of linear probing filed in entry order is the one in which every entry's
/// slot is the first, from its home slot on, not held by a smaller entry: the slots it
/// passes hold smaller ones (filed before it), and it takes the first empty one. Given
/// the set of entries, exactly one layout has that property (the deterministic linear
/// probing of Shun and Blelloch, "Phase-Concurrent Hash Tables for Determinism", SPAA
/// 2014). So an entry passes slots holding smaller entries, and takes the first slot
/// that holds a larger one or none (`EMPTY` is the largest number); the larger one it
/// displaces goes on from the next slot, as if it were filed now. Every step keeps the property (a displaced entry's slots up to its
/// old one hold smaller entries, and its old one now a smaller one), and a slot's number
/// only ever falls, so when every entry is filed the layout is the one of entry order,
/// however the threads interleaved. Old entries are all smaller than new ones, so they
/// never move.
///
/// Relaxed suffices: a slot's numbers only fall, so a stale load is too large, never too
/// small: passing a slot on a stale number smaller than `entry` passes one that is
/// smaller still, and a stale larger number fails the compare-and-swap and is loaded
/// again. The entries' contents are not reached through the index until the threads
/// were joined.
pub(super) fn file_shared(index: &[AtomicU32], entry: u32, key: &StateKey) {
    let mask = index.len() - 1;
    let (mut entry, mut slot) = (entry, home_slot_of(index.len(), key.table_hash()));
    // At most half full: an empty slot is reached within `index.len()` steps of each
    // entry's walk, and each displacement moves a larger entry on (finitely many).
    while let Some(w) = index.get(slot) {
        let here = w.load(Ordering::Relaxed);
        if here < entry {
            slot = (slot + 1) & mask;
            continue;
        }
        if w.compare_exchange(here, entry, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            if here == EMPTY {
                return;
            }
            entry = here;
            slot = (slot + 1) & mask;
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use proptest::prelude::*;

    use super::*;
    use crate::types::Address;

    /// Keys whose home slots crowd a few slots of a small index, wrapping past its end.
    fn crowded_keys(n: u32, slots: usize) -> Vec<StateKey> {
        let mut keys = Vec::new();
        let mut a = 0u64;
        while keys.len() < n as usize {
            let key = StateKey::balance(Address(a));
            let home = home_slot_of(slots, key.table_hash());
            if home >= slots - 3 || home < 2 {
                keys.push(key);
            }
            a += 1;
        }
        keys
    }

    /// The layout of filing entries one by one in entry order (`State::file`).
    fn filed_in_order(keys: &[StateKey], slots: usize) -> Vec<u32> {
        let mut index = std::vec![EMPTY; slots];
        for (e, key) in keys.iter().enumerate() {
            let mut slot = home_slot_of(slots, key.table_hash());
            while index[slot] != EMPTY {
                slot = (slot + 1) % slots;
            }
            index[slot] = e as u32;
        }
        index
    }

    proptest! {
        /// New entries filed in any order, after old ones filed in entry order, give the
        /// layout of entry order.
        #[test]
        fn shared_filing_in_any_order_gives_the_entry_order_layout(
            order in Just((0u32..12).collect::<Vec<u32>>()).prop_shuffle(),
            old in 0u32..6,
        ) {
            const SLOTS: usize = 32;
            let keys = crowded_keys(12 + old, SLOTS);
            let want = filed_in_order(&keys, SLOTS);
            let mut index = std::vec![EMPTY; SLOTS];
            let view = atomics(&mut index);
            for e in 0..old {
                file_shared(view, e, &keys[e as usize]);
            }
            for &k in &order {
                let e = old + k;
                file_shared(view, e, &keys[e as usize]);
            }
            prop_assert_eq!(index, want);
        }
    }

    /// Threads filing side by side (three at once, again and again) leave the layout of
    /// entry order.
    #[test]
    fn threads_filing_side_by_side_give_the_entry_order_layout() {
        const SLOTS: usize = 64;
        let keys = crowded_keys(30, SLOTS);
        let want = filed_in_order(&keys, SLOTS);
        for round in 0..200u32 {
            let mut index = std::vec![EMPTY; SLOTS];
            let view = atomics(&mut index);
            std::thread::scope(|s| {
                for t in 0..3u32 {
                    let keys = &keys;
                    s.spawn(move || {
                        // Each thread files every third entry, in an order that varies.
                        let mine: Vec<u32> = (0..30).filter(|e| e % 3 == t).collect();
                        for i in 0..mine.len() {
                            let e = mine[(i + round as usize) % mine.len()];
                            file_shared(view, e, &keys[e as usize]);
                        }
                    });
                }
            });
            assert_eq!(index, want, "round {round}");
        }
    }
}
