//! A block's commitment in parts that workers run side by side ([`Commit`]), and the
//! transaction list's share of it, which depends on the transactions alone and so can
//! run before or beside their execution ([`TxList`]).

use core::ops::Range;

use super::{digests_len, hash_txs, BlockHeader};
use crate::error::BlockError;
use crate::hash::{Hasher, KeccakHasher};
use crate::merkle::{
    finish_chunked, list_height, list_zeros, reduce, HashScratch, TreeJob, LIST_DEPTH, MAX_PARTS,
};
use crate::receipt::Receipt;
use crate::sync::{settled, Slot};
use crate::tx::Transaction;
use crate::types::{Address, Hash32};

/// Digests of the receipt pairs `pairs` (pair `j`: the encodings of receipts `2j` and
/// `2j + 1`, or of the last receipt alone) into `out`.
fn hash_receipt_pairs<H: Hasher + ?Sized>(
    receipts: &[Receipt],
    pairs: Range<usize>,
    out: &[Slot<Hash32>],
    hasher: &mut H,
    scratch: &mut HashScratch<'_>,
) {
    let first = pairs.start;
    scratch.run_var(
        hasher,
        pairs.len().min(out.len()),
        2 * Receipt::ENCODED_LEN,
        |i, buf| {
            let at = 2 * (first + i);
            let pair = &receipts[at..(at + 2).min(receipts.len())];
            for (r, m) in pair.iter().zip(buf.chunks_exact_mut(Receipt::ENCODED_LEN)) {
                m.copy_from_slice(&r.encode());
            }
            pair.len() * Receipt::ENCODED_LEN
        },
        |i, d| out[i].set(*d),
    );
}

/// How a block's transaction and receipt lists are cut into parts: part `p` hashes the
/// transactions (and receipt pairs) of [`Self::range`] and reduces its digests within
/// aligned chunks of `4^chunk_levels`, so that every part's chunks are whole and the
/// top levels are left for one thread. The same for a [`Commit`] and a [`TxList`] of
/// as many parts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Cut {
    n: usize,
    chunk_levels: usize,
    parts: usize,
}

impl Cut {
    fn new(n: usize, parts: usize) -> Self {
        // Chunks of 4^k digests, at least four per part, below the list's height.
        let mut chunk_levels = 0;
        if parts > 1 {
            while chunk_levels + 1 < list_height(n)
                && (4usize << (2 * chunk_levels)) * 4 * parts <= n
            {
                chunk_levels += 1;
            }
        }
        Self { n, chunk_levels, parts }
    }

    /// Part `p`'s transactions: whole chunks, the parts' shares as even as chunks allow.
    fn range(&self, p: usize) -> Range<usize> {
        // Whole chunks of the transaction list, and an even start (receipts go in pairs).
        let unit = (1usize << (2 * self.chunk_levels)).max(2);
        let units = self.n.div_ceil(unit);
        let at = |q: usize| (q * units / self.parts * unit).min(self.n);
        at(p)..at(p + 1)
    }

    /// Hashes part `p`'s transactions into `txd` (the list's digests) and reduces its
    /// chunks.
    fn tx_part<H: Hasher + ?Sized>(
        &self,
        p: usize,
        txs: &[Transaction],
        txd: &[Slot<Hash32>],
        zero: &[Hash32; LIST_DEPTH],
        hasher: &mut H,
        scratch: &mut HashScratch<'_>,
    ) {
        let r = self.range(p);
        hash_txs(&txs[r.clone()], &txd[r.clone()], hasher, scratch);
        if self.chunk_levels > 0 {
            let chunk = 1usize << (2 * self.chunk_levels);
            for c in txd[r].chunks(chunk) {
                reduce(c, c.len(), 0, self.chunk_levels, zero, hasher, scratch);
            }
        }
    }
}

/// The transaction list's share of a block's commitment (the transactions' digests,
/// reduced within the chunks a [`Commit`] of as many parts uses), which depends on the
/// transactions alone: a caller can run it before or beside their execution, on a
/// worker the execution leaves idle, and hand [`Self::finish`]'s token to
/// [`Commit::with_tx_list`]. Parts as [`Commit`]'s: each once, any thread, any order.
pub struct TxList<'c> {
    txs: &'c [Transaction<'c>],
    digests: &'c mut [Slot<Hash32>],
    cut: Cut,
    zero: [Hash32; LIST_DEPTH],
    /// Which parts ran (1) so far.
    ran: [Slot<u8>; MAX_PARTS],
}

/// Proof that a [`TxList`] of `n` transactions in `parts` parts ran some of its parts
/// into the digests it was given, and which (see [`Commit::with_tx_list`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TxListDone {
    cut: Cut,
    /// Bit `p`: part `p` ran.
    pub(super) ran: u64,
}

impl<'c> TxList<'c> {
    /// The list of `txs` in `parts` parts (at most [`MAX_PARTS`]), into `digests[..n]`
    /// (the memory a [`Commit`] later takes as its digests).
    pub fn new(
        txs: &'c [Transaction<'c>],
        digests: &'c mut [Hash32],
        parts: usize,
    ) -> Result<Self, BlockError> {
        let n = txs.len();
        if digests.len() < n {
            return Err(BlockError::BufferTooSmall {
                buffer: "digests",
                needed: n,
                given: digests.len(),
            });
        }
        Ok(Self {
            txs,
            digests: Slot::from_mut_slice(&mut digests[..n]),
            cut: Cut::new(n, parts.clamp(1, MAX_PARTS)),
            zero: list_zeros(&mut KeccakHasher),
            ran: [const { Slot::new(0u8) }; MAX_PARTS],
        })
    }

    /// How many parts the list has.
    pub fn parts(&self) -> usize {
        self.cut.parts
    }

    /// Runs part `p` with its own hasher and (usable) scratch; an index out of range
    /// does nothing.
    pub fn run_part<H: Hasher + ?Sized>(
        &self,
        p: usize,
        hasher: &mut H,
        scratch: &mut HashScratch<'_>,
    ) {
        if p >= self.cut.parts {
            return;
        }
        // Part p writes only the digests of its range and its own flag.
        self.cut.tx_part(p, self.txs, self.digests, &self.zero, hasher, scratch);
        self.ran[p].set(1);
    }

    /// After the threads that ran parts were joined: the token of the parts that ran
    /// (a caller may stop early: the commitment hashes the others), or `None` if none
    /// did.
    pub fn finish(self) -> Option<TxListDone> {
        let ran = self.ran[..self.cut.parts]
            .iter()
            .enumerate()
            .fold(0u64, |mask, (p, r)| mask | u64::from(r.get() == 1) << p);
        (ran != 0).then_some(TxListDone { cut: self.cut, ran })
    }
}

/// A block's commitment split into parts that workers run side by side: part `p`
/// hashes its range of the transactions and receipts (and reduces their list trees
/// within aligned chunks), and rehashes its subtrees of the state tree
/// ([`TreeJob`]); [`Self::finish`] does the few top levels and the header. Every
/// part writes only memory of its own and reads only the block and memory of its own,
/// so parts need no synchronisation beyond running all of them before `finish` (the
/// caller joins its threads in between). The roots are the same for any number of
/// parts, and the same as [`super::commit`]'s.
pub struct Commit<'c> {
    pub(super) tree: TreeJob<'c>,
    pub(super) txs: &'c [Transaction<'c>],
    pub(super) receipts: &'c [Receipt],
    /// Transaction digests, then receipt pairs' digests ([`digests_len`]).
    digests: &'c mut [Slot<Hash32>],
    cut: Cut,
    pub(super) zero: [Hash32; LIST_DEPTH],
    /// Bit `p`: part `p`'s share of the transaction list already ran
    /// ([`Self::with_tx_list`]).
    tx_done: u64,
}

impl<'c> Commit<'c> {
    /// Checks the memory a commitment of `txs` needs: [`digests_len`] digests and a receipt
    /// per transaction. Callers check before staging the write set, so that an
    /// error leaves the state unchanged.
    pub fn check(
        txs: &[Transaction],
        receipts: &[Receipt],
        digests: &[Hash32],
    ) -> Result<(), BlockError> {
        let n = txs.len();
        if digests.len() < digests_len(n) || receipts.len() < n {
            return Err(BlockError::BufferTooSmall {
                buffer: "digests",
                needed: digests_len(n),
                given: digests.len(),
            });
        }
        Ok(())
    }

    /// The commitment of a block whose write set was staged into `tree`
    /// ([`crate::state::Staging::finish`]), in as many parts as the staging had. Fails
    /// only as [`Self::check`] does.
    pub fn new(
        tree: TreeJob<'c>,
        txs: &'c [Transaction<'c>],
        receipts: &'c [Receipt],
        digests: &'c mut [Hash32],
    ) -> Result<Self, BlockError> {
        Self::check(txs, receipts, digests)?;
        let n = txs.len();
        let parts = tree.parts();
        Ok(Self {
            tree,
            txs,
            receipts: &receipts[..n],
            digests: Slot::from_mut_slice(&mut digests[..digests_len(n)]),
            cut: Cut::new(n, parts),
            // Constants, the same from every hasher: no device round trips for them.
            zero: list_zeros(&mut KeccakHasher),
            tx_done: 0,
        })
    }

    /// Skips the transaction list's share in the parts a [`TxList`] of these
    /// transactions, in as many parts, already ran: it left their digests in the memory
    /// this commitment was given (the caller passes the same memory). A token of another
    /// shape is ignored, and the parts hash the list themselves.
    pub fn with_tx_list(mut self, done: TxListDone) -> Self {
        self.tx_done = if done.cut == self.cut { done.ran } else { 0 };
        self
    }

    /// How many parts the job has.
    pub fn parts(&self) -> usize {
        self.cut.parts
    }

    /// Runs part `p` (see the type's docs). Each part must run exactly once, on any
    /// thread, with its own hasher and scratch (a usable one: see
    /// [`HashScratch::is_usable`]), before [`Self::finish`]; an index out of range does
    /// nothing.
    pub fn run_part<H: Hasher + ?Sized>(
        &self,
        p: usize,
        hasher: &mut H,
        scratch: &mut HashScratch<'_>,
    ) {
        if p >= self.cut.parts {
            return;
        }
        self.tree.run_part(p, hasher, scratch);
        let n = self.txs.len();
        // Part p writes only the digests of its range, in both lists.
        let (txd, rcd) = self.digests.split_at(n);
        if self.tx_done >> p & 1 == 0 {
            self.cut.tx_part(p, self.txs, txd, &self.zero, hasher, scratch);
        }
        // Receipt pair j is receipts 2j and 2j + 1; part p's range starts at an even one.
        let r = self.cut.range(p);
        let pairs = r.start / 2..r.end.div_ceil(2);
        hash_receipt_pairs(self.receipts, pairs.clone(), &rcd[pairs.clone()], hasher, scratch);
        if self.cut.chunk_levels > 0 {
            // A part's range holds whole chunks of 4^(k-1) pairs.
            let chunk = 1usize << (2 * self.cut.chunk_levels);
            let pair_levels = self.cut.chunk_levels - 1;
            for c in rcd[pairs].chunks(chunk / 4) {
                reduce(c, c.len(), 0, pair_levels, &self.zero, hasher, scratch);
            }
        }
    }

    /// After every part ran (and the threads that ran them were joined): the top
    /// levels, the roots and the header.
    pub fn finish<H: Hasher + ?Sized>(
        self,
        parent_hash: Hash32,
        number: u64,
        beneficiary: Address,
        gas_used: u64,
        hasher: &mut H,
        scratch: &mut HashScratch<'_>,
    ) -> BlockHeader {
        let n = self.txs.len();
        let (chunk_levels, zero) = (self.cut.chunk_levels, self.zero);
        let state_root = self.tree.finish(hasher, scratch);
        let digests = settled(self.digests);
        let (txd, rcd) = digests.split_at_mut(n);
        let pairs = n.div_ceil(2);
        let tx_root = finish_chunked(txd, n, chunk_levels, n, &zero, hasher, scratch);
        let pair_levels = chunk_levels.saturating_sub(1);
        let receipts_root =
            finish_chunked(&mut rcd[..pairs], pairs, pair_levels, n, &zero, hasher, scratch);
        BlockHeader {
            parent_hash,
            number,
            beneficiary,
            tx_root,
            receipts_root,
            state_root,
            gas_used,
            tx_count: n as u64,
        }
    }
}
