//! A block's whole commitment as one [`crate::hash::Levels`] batch
//! ([`Commit::finish_levels`]), for hashers on a device.

use super::{BlockHeader, Commit};
use crate::hash::Hasher;
use crate::merkle::{
    HashScratch, LevelBuilder, LevelLengths, LevelMemory, ListLevels, Top, DEPTH, LEAF_GROUP_LEN,
    NO_NODE,
};
use crate::receipt::Receipt;
use crate::tx::MAX_ENCODED_LEN;
use crate::types::{Address, Hash32};

impl Commit<'_> {
    /// The [`LevelMemory`] that [`Self::finish_levels`] needs to hash the whole
    /// commitment as one batch (upper bounds).
    pub fn level_lengths(&self) -> LevelLengths {
        let mut lengths = LevelLengths::default();
        self.tree.level_lengths(&mut lengths);
        let (n, pairs) = (self.txs.len(), self.txs.len().div_ceil(2));
        lengths.add(n, MAX_ENCODED_LEN, 0);
        lengths.add(pairs, 2 * Receipt::ENCODED_LEN, 0);
        ListLevels::level_lengths(n, &mut lengths);
        ListLevels::level_lengths(pairs, &mut lengths);
        lengths.add(1, BlockHeader::ENCODED_LEN, 3);
        lengths
    }

    /// The whole commitment, instead of the parts and [`Self::finish`], as one
    /// [`crate::hash::Levels`] batch through [`Hasher::hash_levels`] (for a device: one
    /// upload, every level, one read-back; `merkle/levels.rs`): the written paths of the
    /// state tree and its root, both lists and their roots, the header and its hash. The
    /// roots are the same as the parts'. When `mem` is smaller than
    /// [`Self::level_lengths`], every part and [`Self::finish`] run on this thread
    /// instead, with `mem` as their hash scratch. No part may have run.
    #[allow(clippy::too_many_arguments)]
    pub fn finish_levels<H: Hasher + ?Sized>(
        self,
        parent_hash: Hash32,
        number: u64,
        beneficiary: Address,
        gas_used: u64,
        hasher: &mut H,
        mem: &mut LevelMemory<'_>,
    ) -> (BlockHeader, Hash32) {
        let n = self.txs.len();
        let mut header = BlockHeader {
            parent_hash,
            number,
            beneficiary,
            tx_root: [0; 32],
            receipts_root: [0; 32],
            state_root: [0; 32],
            gas_used,
            tx_count: n as u64,
        };
        if !self.level_lengths().fit(mem) {
            return self.finish_in_parts(header, hasher, mem);
        }
        let mut b = LevelBuilder::new(mem);
        let mut top = self.tree.stored_top();
        let pairs = n.div_ceil(2);
        let (mut txl, mut rcl) = (ListLevels::new(n, n), ListLevels::new(pairs, n));
        let last = (DEPTH - 1).max(txl.last_depth()).max(rcl.last_depth());
        let mut tree_level = 0..0;
        for depth in 0..=last {
            tree_level = self.tree.emit_level(depth, tree_level, &mut top, &mut b);
            if depth == 0 {
                let first = b.len();
                for tx in self.txs {
                    let mut enc = [0u8; MAX_ENCODED_LEN];
                    let len = tx.encode(&mut enc);
                    b.push(len, NO_NODE, |m| m.copy_from_slice(&enc[..len]));
                }
                txl.set_leaves(first..b.len());
                let first = b.len();
                for pair in self.receipts.chunks(2) {
                    b.push(pair.len() * Receipt::ENCODED_LEN, NO_NODE, |m| {
                        for (r, out) in pair.iter().zip(m.chunks_exact_mut(Receipt::ENCODED_LEN)) {
                            out.copy_from_slice(&r.encode());
                        }
                    });
                }
                rcl.set_leaves(first..b.len());
            } else {
                txl.emit(depth, &self.zero, &mut b);
                rcl.emit(depth, &self.zero, &mut b);
            }
            b.end_level();
        }
        if let Top::Stored(root) = top {
            header.state_root = root;
        }
        let (head, at) = b.push(BlockHeader::ENCODED_LEN, NO_NODE, |m| {
            m.copy_from_slice(&header.encode());
        });
        // The roots' places in the encoding (see `BlockHeader::encode`).
        b.link(at + 48, txl.root_msg());
        b.link(at + 80, rcl.root_msg());
        if let Top::Msg(m) = top {
            b.link(at + 112, m);
        }
        b.end_level();
        if b.overflowed() {
            // Only `mem` was written: the bounds were wrong, the other way still works.
            return self.finish_in_parts(header, hasher, mem);
        }
        b.hash(|batch, out| hasher.hash_levels(batch, out));
        header.tx_root = txl.root(&b);
        header.receipts_root = rcl.root(&b);
        header.state_root = self.tree.finish_levels(top, &b);
        (header, b.digest(head))
    }

    /// [`Self::finish_levels`] without the batch: every part, then [`Self::finish`] and
    /// the header's hash, on this thread, with `mem` (or, too small for one transaction,
    /// a stack buffer) as the hash scratch.
    fn finish_in_parts<H: Hasher + ?Sized>(
        self,
        h: BlockHeader,
        hasher: &mut H,
        mem: &mut LevelMemory<'_>,
    ) -> (BlockHeader, Hash32) {
        const ONE: usize =
            if MAX_ENCODED_LEN > LEAF_GROUP_LEN { MAX_ENCODED_LEN } else { LEAF_GROUP_LEN };
        let (mut msgs, mut digests, mut ends) = ([0u8; ONE], [[0u8; 32]; 1], [0u32; 1]);
        let mut scratch = HashScratch { msgs: mem.data, digests: mem.digests, ends: mem.ends };
        if !scratch.is_usable() {
            scratch = HashScratch { msgs: &mut msgs, digests: &mut digests, ends: &mut ends };
        }
        for p in 0..self.parts() {
            self.run_part(p, hasher, &mut scratch);
        }
        let (parent, number, beneficiary, gas) =
            (h.parent_hash, h.number, h.beneficiary, h.gas_used);
        let header = self.finish(parent, number, beneficiary, gas, hasher, &mut scratch);
        let hash = header.hash(hasher);
        (header, hash)
    }
}
