//! What executing a block did, counted the same way by every engine.

use crate::types::{Address, StateKey};

/// Counters of one block's execution (before commitment). Which engine ran the block
/// and why is reported beside these, by the policy ([`crate::engine::Choice`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecStats {
    /// Gas used by all transactions.
    pub gas_used: u64,
    /// Transaction executions beyond one per transaction (Block-STM only).
    pub reexecutions: u64,
    /// Validations that failed (Block-STM only).
    pub aborts: u64,
    /// Reads that waited on an earlier transaction (the parallel engines).
    pub dependency_waits: u64,
    /// Transactions that touched keys outside their declared access list.
    pub undeclared: u64,
    /// Reads that waited on a transaction predicted to write the key
    /// ([`crate::engine::Choice::predicted`]) before it ran (Block-STM only; not counted
    /// in `dependency_waits`).
    pub predicted_waits: u64,
    /// The keys at which the most executions waited or failed validation, with their
    /// counts, a predicted hot key's also counting the calls that wrote it (once each)
    /// (Block-STM only; what the history learns hot keys from).
    pub conflicts: HotKeys,
}

impl ExecStats {
    /// Adds one receipt's gas and undeclared flag.
    pub(crate) fn count(&mut self, receipt: &crate::receipt::Receipt) {
        self.gas_used = self.gas_used.saturating_add(receipt.gas_used);
        self.undeclared += receipt.undeclared_access as u64;
    }
}

/// Keys a [`HotKeys`] table holds.
pub const HOT_KEYS: usize = 4;

/// A few keys with a count each: the keys at which a block's executions conflicted most
/// ([`ExecStats::conflicts`], counted by Block-STM), or the keys the history predicts
/// hot ([`crate::engine::Choice::predicted`], with the blocks they are trusted for).
///
/// As a conflict tally it keeps the heaviest keys of a stream in [`HOT_KEYS`] entries
/// without allocating (the *space-saving* scheme of Metwally et al.): a new key, when
/// the table is full, replaces the entry of the highest possible count that is lowest,
/// and inherits that count as a possible over-count; so a key hit more often than one
/// in [`HOT_KEYS`] times always ends up in the table (of one worker's tally; the
/// workers' merged tallies only approximately). The counts it reports ([`Self::iter`])
/// leave the inherited part out: each is at most the key's true count.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HotKeys {
    entries: [Entry; HOT_KEYS],
    len: u8,
}

/// One key of a [`HotKeys`]: its count, and what it may over-state (inherited).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Entry {
    key: StateKey,
    count: u32,
    over: u32,
}

impl Entry {
    const EMPTY: Self = Self { key: StateKey::balance(Address(0)), count: 0, over: 0 };

    /// The highest count the key may have had.
    fn most(&self) -> u32 {
        self.count.saturating_add(self.over)
    }
}

/// Equal tables hold the same entries in the same order (what lies past them is not
/// compared).
impl PartialEq for HotKeys {
    fn eq(&self, other: &Self) -> bool {
        self.entries[..self.len as usize] == other.entries[..other.len as usize]
    }
}

impl Eq for HotKeys {}

impl Default for HotKeys {
    fn default() -> Self {
        Self::new()
    }
}

impl HotKeys {
    /// An empty table.
    pub const fn new() -> Self {
        Self { entries: [Entry::EMPTY; HOT_KEYS], len: 0 }
    }

    /// The keys and their counts (each at most the key's true count), in no particular
    /// order.
    pub fn iter(&self) -> impl Iterator<Item = (StateKey, u32)> + '_ {
        self.entries[..self.len as usize].iter().map(|e| (e.key, e.count))
    }

    /// True when the table holds no key.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Counts `n` more at `key` (space-saving when the table is full).
    pub fn add(&mut self, key: StateKey, n: u32) {
        self.add_over(key, n, 0);
    }

    /// Counts `n` more at `key`, of which `over` may be over-stated.
    fn add_over(&mut self, key: StateKey, n: u32, over: u32) {
        let (e, found) = self.entry(key);
        if found {
            e.count = e.count.saturating_add(n);
            e.over = e.over.saturating_add(over);
        } else {
            // A replaced entry's highest count is inherited as a possible over-count.
            *e = Entry { key, count: n, over: e.most().saturating_add(over) };
        }
    }

    /// Sets `key`'s count to `n` (exact): its entry's, a new entry's, or (the table
    /// full) the lightest entry's, which `key` replaces.
    pub fn set(&mut self, key: StateKey, n: u32) {
        *self.entry(key).0 = Entry { key, count: n, over: 0 };
    }

    /// `key`'s entry and `true`; or, with `false`, where a new entry for it goes: a free
    /// one (empty), or the one of the lowest highest count.
    fn entry(&mut self, key: StateKey) -> (&mut Entry, bool) {
        let len = self.len as usize;
        if let Some(i) = self.entries[..len].iter().position(|e| e.key == key) {
            return (&mut self.entries[i], true);
        }
        let i = if len < HOT_KEYS {
            self.len += 1;
            self.entries[len] = Entry::EMPTY;
            len
        } else {
            (0..HOT_KEYS).min_by_key(|&i| self.entries[i].most()).unwrap_or(0)
        };
        (&mut self.entries[i], false)
    }

    /// Counts every entry of `other` in (a worker's tally into the block's).
    pub fn merge(&mut self, other: &HotKeys) {
        let len = other.len as usize;
        other.entries[..len].iter().for_each(|e| self.add_over(e.key, e.count, e.over));
    }

    /// The entry with the highest count (the first of them).
    pub fn heaviest(&self) -> Option<(StateKey, u32)> {
        self.iter().reduce(|a, b| if b.1 > a.1 { b } else { a })
    }

    /// Keeps the entries for which `f` holds; `f` may change their counts.
    pub fn retain(&mut self, mut f: impl FnMut(StateKey, &mut u32) -> bool) {
        let mut kept = 0;
        for i in 0..self.len as usize {
            let mut e = self.entries[i];
            if f(e.key, &mut e.count) {
                self.entries[kept] = e;
                kept += 1;
            }
        }
        self.len = kept as u8;
    }

    /// The count of `key` (0 when it is not in the table).
    pub fn count(&self, key: &StateKey) -> u32 {
        self.iter().find(|(k, _)| k == key).map_or(0, |e| e.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_heaviest_keys_stay_whatever_the_order() {
        let key = |i: u64| StateKey::storage(Address(7), i);
        let mut t = HotKeys::new();
        // Key 1 is hit 84 times among 250 hits, the others spread over 100 keys: more
        // than a quarter (the table's share, 250 / HOT_KEYS), so it must be kept.
        for i in 0..250u64 {
            t.add(if i % 3 == 0 { key(1) } else { key(100 + i % 100) }, 1);
        }
        // Counts without what they inherited: key 1's is its true count at most, and
        // none of the others' exceeds its two hits.
        let (hot, n) = t.heaviest().expect("a key");
        assert_eq!(hot, key(1));
        assert!(n <= 84 && n > 2, "{n}");
        assert!(t.iter().filter(|e| e.0 != key(1)).all(|e| e.1 <= 2));
        let mut u = HotKeys::new();
        u.add(key(2), 3);
        u.merge(&t);
        assert_eq!(u.heaviest().map(|e| e.0), Some(key(1)));
        u.retain(|k, _| k == key(1));
        assert_eq!(u.iter().count(), 1);
        assert_eq!(u.count(&key(2)), 0);
    }
}
