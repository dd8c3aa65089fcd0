//! [`TxBlock`]: a block's transactions, owned together with the access lists they
//! borrow.
//!
//! A core [`Transaction`] borrows its declared access list (it is 104 bytes, where a
//! list held inline made it 304, and a large block is read by every worker and
//! faulted into fresh memory once per run). The host's blocks live longer than any one
//! call, so a `TxBlock` owns both: the lists, which never move once the block is made,
//! and the transactions that point into them (`self_cell` ties the two).

use parex_core::tx::{AccessList, Transaction};

type Txs<'a> = Vec<Transaction<'a>>;

self_cell::self_cell!(
    struct Cell {
        owner: Vec<AccessList>,
        #[covariant]
        dependent: Txs,
    }
);

/// A block's transactions in block order, and their access lists.
pub struct TxBlock(Cell);

impl TxBlock {
    /// Transactions that declare no list, or only lists that live for ever.
    pub fn new(txs: Vec<Transaction<'static>>) -> Self {
        Self(Cell::new(Vec::new(), |_| txs))
    }

    /// `txs`, whose lists are set afterwards from `declared`: transaction `i` gets
    /// `list` for each `(i, list)` (an index past the block is ignored).
    pub fn with_lists(txs: Vec<Transaction<'static>>, declared: Vec<(usize, AccessList)>) -> Self {
        let (at, lists): (Vec<usize>, Vec<AccessList>) = declared.into_iter().unzip();
        Self(Cell::new(lists, move |lists| {
            let mut txs: Txs<'_> = txs;
            for (&i, list) in at.iter().zip(lists) {
                if let Some(tx) = txs.get_mut(i) {
                    tx.access = Some(list);
                }
            }
            txs
        }))
    }

    /// A copy of `txs`, lists included.
    pub fn copy_of(txs: &[Transaction<'_>]) -> Self {
        let declared =
            txs.iter().enumerate().filter_map(|(i, tx)| Some((i, tx.access?.clone()))).collect();
        let bare = txs.iter().map(|tx| Transaction { access: None, ..tx.clone() }).collect();
        Self::with_lists(bare, declared)
    }

    /// The transactions.
    pub fn txs(&self) -> &[Transaction<'_>] {
        self.0.borrow_dependent()
    }

    /// Number of transactions.
    pub fn len(&self) -> usize {
        self.txs().len()
    }

    /// No transactions.
    pub fn is_empty(&self) -> bool {
        self.txs().is_empty()
    }
}

/// A block's transactions, however they are held: a [`TxBlock`], or a `Vec` of
/// transactions whose lists live elsewhere (a test's, say).
pub trait BlockTxs {
    /// The transactions, in block order.
    fn txs(&self) -> &[Transaction<'_>];
}

impl BlockTxs for TxBlock {
    fn txs(&self) -> &[Transaction<'_>] {
        TxBlock::txs(self)
    }
}

impl BlockTxs for Vec<Transaction<'_>> {
    fn txs(&self) -> &[Transaction<'_>] {
        self
    }
}

impl Default for TxBlock {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl Clone for TxBlock {
    fn clone(&self) -> Self {
        Self::copy_of(self.txs())
    }
}

impl PartialEq for TxBlock {
    fn eq(&self, other: &Self) -> bool {
        self.txs() == other.txs()
    }
}

impl Eq for TxBlock {}

impl std::fmt::Debug for TxBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.txs()).finish()
    }
}

impl From<Vec<Transaction<'static>>> for TxBlock {
    fn from(txs: Vec<Transaction<'static>>) -> Self {
        Self::new(txs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parex_core::tx::AccessEntry;
    use parex_core::{Address, StateKey};

    /// A block's transactions keep their lists when the block moves, is copied or is
    /// cloned; lists set by index go to those transactions only.
    #[test]
    fn a_block_keeps_its_transactions_lists() {
        let call = |n| Transaction::call(Address(n), 0, Address(9), 0, &[1], 50_000, 1).unwrap();
        let list = |slot| {
            let mut l = AccessList::new();
            l.push(AccessEntry::new(StateKey::storage(Address(9), slot), true)).unwrap();
            l
        };
        let block =
            TxBlock::with_lists(vec![call(1), call(2), call(3)], vec![(0, list(5)), (2, list(7))]);
        let moved = Box::new(block);
        let txs = moved.txs();
        assert_eq!(txs[0].access, Some(&list(5)));
        assert_eq!(txs[1].access, None);
        assert_eq!(txs[2].access, Some(&list(7)));
        let copy = TxBlock::copy_of(txs);
        assert_eq!(copy, *moved);
        assert_eq!(TxBlock::clone(&moved), copy);
        assert_eq!(copy.len(), 3);
        assert!(TxBlock::default().is_empty());
    }
}
