//! Blocks: the header, its hash, and committing an executed block (transaction root,
//! receipts root, state update and root) through the [`Hasher`] hook.

use core::ops::Range;

use crate::error::BlockError;
use crate::hash::Hasher;
use crate::merkle::{
    finish_chunked, list_height, list_zeros, reduce, HashScratch, TreeJob, LIST_DEPTH,
};
use crate::receipt::Receipt;
use crate::state::{Staging, State, StateEntry};
use crate::sync::{settled, Slot};
use crate::tx::{Transaction, MAX_ENCODED_LEN};
use crate::types::{Address, Hash32};

/// A block header. Its hash is Keccak-256 of [`BlockHeader::encode`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BlockHeader {
    /// Hash of the previous block's header (zero for the first block).
    pub parent_hash: Hash32,
    /// Height.
    pub number: u64,
    /// Receives the fees.
    pub beneficiary: Address,
    /// Root over the transaction hashes.
    pub tx_root: Hash32,
    /// Root over the receipt hashes.
    pub receipts_root: Hash32,
    /// State root after the block.
    pub state_root: Hash32,
    /// Gas used by all transactions.
    pub gas_used: u64,
    /// Number of transactions.
    pub tx_count: u64,
}

impl BlockHeader {
    /// Length of [`Self::encode`].
    pub const ENCODED_LEN: usize = 32 + 8 + 8 + 32 * 3 + 8 + 8;

    /// parent_hash, number, beneficiary, tx_root, receipts_root, state_root, gas_used,
    /// tx_count (integers LE).
    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut b = [0u8; Self::ENCODED_LEN];
        b[..32].copy_from_slice(&self.parent_hash);
        b[32..40].copy_from_slice(&self.number.to_le_bytes());
        b[40..48].copy_from_slice(&self.beneficiary.0.to_le_bytes());
        b[48..80].copy_from_slice(&self.tx_root);
        b[80..112].copy_from_slice(&self.receipts_root);
        b[112..144].copy_from_slice(&self.state_root);
        b[144..152].copy_from_slice(&self.gas_used.to_le_bytes());
        b[152..160].copy_from_slice(&self.tx_count.to_le_bytes());
        b
    }

    /// The block hash.
    pub fn hash<H: Hasher + ?Sized>(&self, hasher: &mut H) -> Hash32 {
        let mut out = [[0u8; 32]; 1];
        hasher.hash_fixed(&self.encode(), Self::ENCODED_LEN, &mut out);
        out[0]
    }
}

/// Caller memory for committing a block.
pub struct CommitMemory<'a> {
    /// Entries and leaves of written keys: at least twice the write set's length.
    pub dirty: &'a mut [u32],
    /// Transaction and receipt digests: at least two per transaction.
    pub digests: &'a mut [Hash32],
    /// Hash batches.
    pub scratch: HashScratch<'a>,
}

/// Transaction hashes: Keccak-256 of each [`Transaction::encode`], hashed in batches.
pub fn tx_hashes<H: Hasher + ?Sized>(
    txs: &[Transaction],
    out: &mut [Hash32],
    hasher: &mut H,
    scratch: &mut HashScratch<'_>,
) {
    let out = Slot::from_mut_slice(out);
    hash_txs(txs, out, hasher, scratch);
}

fn hash_txs<H: Hasher + ?Sized>(
    txs: &[Transaction],
    out: &[Slot<Hash32>],
    hasher: &mut H,
    scratch: &mut HashScratch<'_>,
) {
    scratch.run_var(
        hasher,
        txs.len().min(out.len()),
        MAX_ENCODED_LEN,
        |i, buf| {
            let mut enc = [0u8; MAX_ENCODED_LEN];
            let n = txs[i].encode(&mut enc);
            buf[..n].copy_from_slice(&enc[..n]);
            n
        },
        |i, d| out[i].set(*d),
    );
}

/// Commits an executed block on one thread: computes the transaction and receipts
/// roots, applies the sorted write set to `state` (updating its root) and returns the
/// header. On error the state is unchanged.
#[allow(clippy::too_many_arguments)]
pub fn commit<H: Hasher + ?Sized>(
    state: &mut State<'_>,
    parent_hash: Hash32,
    number: u64,
    beneficiary: Address,
    txs: &[Transaction],
    receipts: &[Receipt],
    writes: &[StateEntry],
    gas_used: u64,
    hasher: &mut H,
    mem: &mut CommitMemory<'_>,
) -> Result<BlockHeader, BlockError> {
    let CommitMemory { dirty, digests, scratch } = mem;
    Commit::check(txs, receipts, digests)?;
    if !scratch.is_usable() {
        return Err(BlockError::BufferTooSmall {
            buffer: "hash scratch",
            needed: MAX_ENCODED_LEN,
            given: scratch.msgs.len(),
        });
    }
    let tree = Staging::new(state, writes, dirty, 1)?.run_alone()?;
    let job = Commit::new(tree, txs, receipts, digests, hasher)?;
    job.run_part(0, hasher, scratch);
    Ok(job.finish(parent_hash, number, beneficiary, gas_used, hasher, scratch))
}

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

/// A block's commitment split into parts that workers run side by side: part `p`
/// hashes its range of the transactions and receipts (and reduces their list trees
/// within aligned chunks), and rehashes its subtrees of the state tree
/// ([`TreeJob`]); [`Self::finish`] does the few top levels and the header. Every
/// part writes only memory of its own and reads only the block and memory of its own,
/// so parts need no synchronisation beyond running all of them before `finish` (the
/// caller joins its threads in between). The roots are the same for any number of
/// parts, and the same as [`commit`]'s.
pub struct Commit<'c> {
    tree: TreeJob<'c>,
    txs: &'c [Transaction],
    receipts: &'c [Receipt],
    /// Transaction digests, then receipt digests (`2 * txs.len()`).
    digests: &'c mut [Slot<Hash32>],
    /// Parts reduce their chunks of `4^chunk_levels` digests this many levels.
    chunk_levels: usize,
    parts: usize,
    zero: [Hash32; LIST_DEPTH],
}

impl<'c> Commit<'c> {
    /// Checks the memory a commitment of `txs` needs: `digests` two per transaction and
    /// a receipt per transaction. Callers check before staging the write set, so that an
    /// error leaves the state unchanged.
    pub fn check(
        txs: &[Transaction],
        receipts: &[Receipt],
        digests: &[Hash32],
    ) -> Result<(), BlockError> {
        let n = txs.len();
        if digests.len() < 2 * n || receipts.len() < n {
            return Err(BlockError::BufferTooSmall {
                buffer: "digests",
                needed: 2 * n,
                given: digests.len(),
            });
        }
        Ok(())
    }

    /// The commitment of a block whose write set was staged into `tree`
    /// ([`Staging::finish`]), in as many parts as the staging had. Fails only as
    /// [`Self::check`] does.
    pub fn new<H: Hasher + ?Sized>(
        tree: TreeJob<'c>,
        txs: &'c [Transaction],
        receipts: &'c [Receipt],
        digests: &'c mut [Hash32],
        hasher: &mut H,
    ) -> Result<Self, BlockError> {
        Self::check(txs, receipts, digests)?;
        let n = txs.len();
        let parts = tree.parts();
        // Chunks of 4^k digests, at least four per part, below the list's height.
        let mut chunk_levels = 0;
        if parts > 1 {
            while chunk_levels + 1 < list_height(n)
                && (4usize << (2 * chunk_levels)) * 4 * parts <= n
            {
                chunk_levels += 1;
            }
        }
        Ok(Self {
            tree,
            txs,
            receipts: &receipts[..n],
            digests: Slot::from_mut_slice(&mut digests[..2 * n]),
            chunk_levels,
            parts,
            zero: list_zeros(hasher),
        })
    }

    /// How many parts the job has.
    pub fn parts(&self) -> usize {
        self.parts
    }

    /// Part `p`'s transactions: whole chunks, the parts' shares as even as chunks allow.
    fn range(&self, p: usize) -> Range<usize> {
        let n = self.txs.len();
        // Whole chunks of the transaction list, and an even start (receipts go in pairs).
        let unit = (1usize << (2 * self.chunk_levels)).max(2);
        let units = n.div_ceil(unit);
        let at = |q: usize| (q * units / self.parts * unit).min(n);
        at(p)..at(p + 1)
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
        if p >= self.parts {
            return;
        }
        self.tree.run_part(p, hasher, scratch);
        let r = self.range(p);
        let n = self.txs.len();
        // Part p writes only the digests of its range, in both lists.
        let (txd, rcd) = self.digests.split_at(n);
        hash_txs(&self.txs[r.clone()], &txd[r.clone()], hasher, scratch);
        // Receipt pair j is receipts 2j and 2j + 1; part p's range starts at an even one.
        let pairs = r.start / 2..r.end.div_ceil(2);
        hash_receipt_pairs(self.receipts, pairs.clone(), &rcd[pairs.clone()], hasher, scratch);
        if self.chunk_levels > 0 {
            let chunk = 1usize << (2 * self.chunk_levels);
            for c in txd[r].chunks(chunk) {
                reduce(c, c.len(), 0, self.chunk_levels, &self.zero, hasher, scratch);
            }
            // A part's range holds whole chunks of 4^(k-1) pairs.
            let pair_levels = self.chunk_levels - 1;
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
        let (chunk_levels, zero) = (self.chunk_levels, self.zero);
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

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;
    use crate::hash::{keccak256, KeccakHasher};
    use crate::merkle::tests::model_list_root as model_list;
    use crate::receipt::Status;
    use crate::state::fixture::{bufs, state};
    use crate::state::GenesisAccount;

    /// Transaction and receipt roots in 1..=8 parts (with chunks reduced by the parts
    /// for the larger blocks) against the model, receipts hashed in pairs.
    #[test]
    fn list_roots_in_parts_match_the_model() {
        for n in [0usize, 1, 2, 3, 5, 17, 130, 600, 2100, 3000] {
            let txs: Vec<Transaction> = (0..n as u64)
                .map(|i| Transaction::transfer(Address(i % 7), i, Address(i * 3), i, 1_000, 1))
                .collect();
            let receipts: Vec<Receipt> = (0..n as u64)
                .map(|i| Receipt { status: Status::Success, gas_used: i, ..Receipt::EMPTY })
                .collect();
            let tx_digests: Vec<Hash32> = txs
                .iter()
                .map(|t| {
                    let mut enc = [0u8; MAX_ENCODED_LEN];
                    let len = t.encode(&mut enc);
                    keccak256(&enc[..len])
                })
                .collect();
            let pair_digests: Vec<Hash32> = receipts
                .chunks(2)
                .map(|p| keccak256(&p.iter().flat_map(|r| r.encode()).collect::<Vec<u8>>()))
                .collect();
            let (want_tx, want_rc) = (model_list(&tx_digests, n), model_list(&pair_digests, n));
            for parts in 1..=8 {
                let (mut m, mut d, mut e) =
                    (std::vec![0; 4096], std::vec![[0; 32]; 3], std::vec![0; 3]);
                let mut scratch = HashScratch { msgs: &mut m, digests: &mut d, ends: &mut e };
                let accounts = [GenesisAccount { addr: Address(1), balance: 5, nonce: 0 }];
                let mut bufs = bufs(4);
                let mut state = state(&mut bufs, &accounts);
                let mut dirty = [0u32; 0];
                let mut digests = std::vec![[0u8; 32]; 2 * n];
                let staging = Staging::new(&mut state, &[], &mut dirty, parts).unwrap();
                let tree = staging.run_alone().unwrap();
                let job =
                    Commit::new(tree, &txs, &receipts, &mut digests, &mut KeccakHasher).unwrap();
                for p in (0..job.parts()).rev() {
                    job.run_part(p, &mut KeccakHasher, &mut scratch);
                }
                let h = job.finish([0; 32], 1, Address(9), 0, &mut KeccakHasher, &mut scratch);
                assert_eq!(h.tx_root, want_tx, "tx root, {n} txs, {parts} parts");
                assert_eq!(h.receipts_root, want_rc, "receipts root, {n} txs, {parts} parts");
            }
        }
    }
}
