//! Transactions waiting for a block ([`Mempool`]): those submitted to this node, by
//! sender and nonce, until a block of this node's proposing takes them (transactions
//! are not passed between nodes: each waits for its node's turn to propose).

use std::collections::{BTreeMap, HashSet};

use parex_core::{Address, Hash32};

use super::block::{Block, SignedTx};

/// Why a transaction is not taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The same transaction is waiting already.
    Duplicate,
    /// Another transaction of the sender with this nonce is waiting.
    NonceTaken,
    /// The mempool holds its most transactions.
    Full,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refused::Duplicate => "this transaction is waiting already",
            Refused::NonceTaken => "another transaction of the sender with this nonce is waiting",
            Refused::Full => "the mempool is full; try again later",
        })
    }
}

/// The waiting transactions, by sender and nonce.
pub struct Mempool {
    txs: BTreeMap<(Address, u64), SignedTx>,
    hashes: HashSet<Hash32>,
    max: usize,
}

impl Mempool {
    /// Room for `max` transactions.
    pub fn new(max: usize) -> Self {
        Self { txs: BTreeMap::new(), hashes: HashSet::new(), max }
    }

    /// Takes `tx` (already checked: signature, sender, nonce not used yet).
    pub fn add(&mut self, tx: SignedTx) -> Result<Hash32, Refused> {
        if self.hashes.contains(&tx.hash) {
            return Err(Refused::Duplicate);
        }
        let key = (tx.tx.from, tx.tx.nonce);
        if self.txs.contains_key(&key) {
            return Err(Refused::NonceTaken);
        }
        if self.txs.len() >= self.max {
            return Err(Refused::Full);
        }
        let hash = tx.hash;
        self.hashes.insert(hash);
        self.txs.insert(key, tx);
        Ok(hash)
    }

    /// Every waiting transaction, by sender, then nonce.
    pub fn candidates(&self) -> Vec<SignedTx> {
        self.txs.values().cloned().collect()
    }

    /// Forgets the transactions of a decided block, and every transaction of its senders
    /// with a lower nonce than theirs (used up or never to be valid).
    pub fn remove_decided(&mut self, block: &Block) {
        for t in &block.txs {
            let from = t.tx.from;
            let stale: Vec<(Address, u64)> =
                self.txs.range((from, 0)..=(from, t.tx.nonce)).map(|(k, _)| *k).collect();
            for k in stale {
                if let Some(gone) = self.txs.remove(&k) {
                    self.hashes.remove(&gone.hash);
                }
            }
        }
    }

    /// Whether the transaction `hash` waits.
    pub fn contains(&self, hash: &Hash32) -> bool {
        self.hashes.contains(hash)
    }

    /// How many wait.
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }
}
