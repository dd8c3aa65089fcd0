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
    /// counts (Block-STM only; what the history learns hot keys from).
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
/// the table is full, replaces the lightest entry and starts from its count, so a key
/// that is hit often enough always ends up in the table, its count at most over-stated by
/// the count it took over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HotKeys {
    keys: [(StateKey, u32); HOT_KEYS],
    len: u8,
}

impl Default for HotKeys {
    fn default() -> Self {
        Self::new()
    }
}

impl HotKeys {
    /// An empty table.
    pub const fn new() -> Self {
        Self { keys: [(StateKey::balance(Address(0)), 0); HOT_KEYS], len: 0 }
    }

    /// The keys and their counts, in no particular order.
    pub fn as_slice(&self) -> &[(StateKey, u32)] {
        &self.keys[..self.len as usize]
    }

    /// True when the table holds no key.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Counts `n` more at `key` (space-saving when the table is full).
    pub fn add(&mut self, key: StateKey, n: u32) {
        let len = self.len as usize;
        if let Some(e) = self.keys[..len].iter_mut().find(|e| e.0 == key) {
            e.1 = e.1.saturating_add(n);
        } else if len < HOT_KEYS {
            self.keys[len] = (key, n);
            self.len += 1;
        } else if let Some(e) = self.keys.iter_mut().min_by_key(|e| e.1) {
            *e = (key, e.1.saturating_add(n));
        }
    }

    /// Sets `key`'s count to `n`: its entry's, a new entry's, or (the table full) the
    /// lightest entry's, which `key` replaces.
    pub fn set(&mut self, key: StateKey, n: u32) {
        let len = self.len as usize;
        if let Some(e) = self.keys[..len].iter_mut().find(|e| e.0 == key) {
            e.1 = n;
        } else if len < HOT_KEYS {
            self.keys[len] = (key, n);
            self.len += 1;
        } else if let Some(e) = self.keys.iter_mut().min_by_key(|e| e.1) {
            *e = (key, n);
        }
    }

    /// Counts every entry of `other` in.
    pub fn merge(&mut self, other: &HotKeys) {
        other.as_slice().iter().for_each(|&(k, n)| self.add(k, n));
    }

    /// The entry with the highest count (the first of them).
    pub fn heaviest(&self) -> Option<(StateKey, u32)> {
        self.as_slice().iter().copied().reduce(|a, b| if b.1 > a.1 { b } else { a })
    }

    /// Keeps the entries for which `f` holds.
    pub fn retain(&mut self, mut f: impl FnMut(&mut (StateKey, u32)) -> bool) {
        let mut kept = 0;
        for i in 0..self.len as usize {
            let mut e = self.keys[i];
            if f(&mut e) {
                self.keys[kept] = e;
                kept += 1;
            }
        }
        self.len = kept as u8;
    }

    /// Whether some key of the table belongs to `addr` (a contract's storage word).
    pub fn has_contract(&self, addr: Address) -> bool {
        self.as_slice().iter().any(|(k, _)| k.addr == addr)
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
        // than a quarter (the table's share, 250 / HOT_KEYS), so it must be kept, and
        // counted at least as often as it was hit.
        for i in 0..250u64 {
            t.add(if i % 3 == 0 { key(1) } else { key(100 + i % 100) }, 1);
        }
        let (hot, n) = t.heaviest().expect("a key");
        assert_eq!(hot, key(1));
        assert!(n >= 84);
        let mut u = HotKeys::new();
        u.add(key(2), 3);
        u.merge(&t);
        assert_eq!(u.heaviest().map(|e| e.0), Some(key(1)));
        u.retain(|e| e.0 == key(1));
        assert_eq!(u.as_slice().len(), 1);
        assert!(u.has_contract(Address(7)) && !u.has_contract(Address(8)));
    }
}
