//! [`Survey`]: what one pass over a block's transactions tells the policy and the
//! caller's memory, so that a large block is read once for all of them.
//!
//! The policy needs the block's widest footprint ([`crate::parallel::footprint::width`]),
//! the caller's memory needs the keys the block may write ([`Output::lengths_of`](super::Output::lengths_of)) and
//! create ([`creates_at_most`]). Each is a pass over every transaction, and on a large
//! block a pass costs what memory does, not what the sums do (about 9 ms for 1,000,000
//! transactions on the development VM, one cache line each): a caller that asks for all
//! three on one thread reads the block three or four times. A survey reads it once, and
//! surveys of consecutive parts combine ([`Survey::then`]), so a host can take the parts
//! on its workers.
//!
//! A survey is a hint, never trusted with a result: a [`crate::policy::Policy`] given
//! the survey of other transactions ([`crate::policy::Policy::survey`] is checked against
//! the block's length only) may choose an engine that then gives up
//! (the footprint engine stops at a footprint wider than its width), and the fallback
//! runs the block; memory sized from it is checked by the engines like any other.

use super::{creates_at_most, writes_at_most};
use crate::exec::Limits;
use crate::tx::Transaction;

/// What a pass over a block's transactions counted; see the module docs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Survey {
    /// Transactions surveyed.
    pub txs: usize,
    /// The widest [`Transaction::footprint_len`], or `None` when some transaction has no
    /// footprint known before it runs (what [`crate::parallel::footprint::width`] says).
    pub width: Option<usize>,
    /// The distinct keys the transactions may write, summed ([`writes_at_most`]).
    pub writes: usize,
    /// The keys the transactions may create, summed ([`creates_at_most`]).
    pub creates: usize,
}

impl Survey {
    /// The survey of no transactions.
    pub const EMPTY: Self = Self { txs: 0, width: Some(1), writes: 0, creates: 0 };

    /// Surveys `txs` under `limits` (one pass).
    pub fn of(txs: &[Transaction], limits: &Limits) -> Self {
        let mut s = Self::EMPTY;
        let mut plannable = true;
        let mut width = 1;
        for tx in txs {
            match tx.footprint_len() {
                0 => plannable = false,
                len => width = width.max(len),
            }
            s.writes += writes_at_most(tx, limits);
            s.creates += creates_at_most(tx, limits);
        }
        s.txs = txs.len();
        s.width = plannable.then_some(width);
        s
    }

    /// The survey of these transactions followed by `later`'s.
    pub fn then(self, later: Self) -> Self {
        Self {
            txs: self.txs + later.txs,
            width: match (self.width, later.width) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            },
            writes: self.writes + later.writes,
            creates: self.creates + later.creates,
        }
    }

    /// [`Output::lengths_of`](super::Output::lengths_of) the surveyed transactions.
    pub fn lengths(&self) -> (usize, usize) {
        (self.txs, self.writes.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Output;
    use crate::tx::{AccessEntry, AccessList};
    use crate::types::{Address, StateKey};

    fn block(list: &mut AccessList) -> [Transaction<'_>; 5] {
        let transfer = |n| Transaction::transfer(Address(n), 0, Address(n + 1), 5, 21_000, 1);
        let call = |n| Transaction::call(Address(n), 0, Address(99), 0, &[1], 50_000, 1).unwrap();
        for slot in 0..3 {
            list.push(AccessEntry::new(StateKey::storage(Address(99), slot), true)).unwrap();
        }
        let declared = Transaction { access: Some(list), ..call(4) };
        [transfer(1), declared, transfer(2), call(3), transfer(5)]
    }

    /// A survey says what the separate passes say, and surveys of the parts of a block,
    /// combined in order, are the survey of the whole, wherever it is cut.
    #[test]
    fn a_survey_is_the_passes_it_stands_for_and_its_parts_combine() {
        let limits = Limits::DEFAULT;
        let mut list = AccessList::new();
        let txs = block(&mut list);
        for n in 0..=txs.len() {
            let whole = Survey::of(&txs[..n], &limits);
            assert_eq!(whole.width, crate::parallel::footprint::width(&txs[..n]), "{n}");
            assert_eq!(whole.lengths(), Output::lengths_of(&txs[..n], &limits), "{n}");
            let creates: usize = txs[..n].iter().map(|tx| creates_at_most(tx, &limits)).sum();
            assert_eq!(whole.creates, creates, "{n}");
            for cut in 0..=n {
                let parts =
                    Survey::of(&txs[..cut], &limits).then(Survey::of(&txs[cut..n], &limits));
                assert_eq!(parts, whole, "{n} cut at {cut}");
            }
        }
    }
}
