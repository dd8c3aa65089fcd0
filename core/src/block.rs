//! Blocks: the header, its hash, and committing an executed block (transaction root,
//! receipts root, state update and root) through the [`Hasher`] hook.

use core::ops::Range;

use crate::error::BlockError;
use crate::hash::{Hasher, KeccakHasher};
use crate::merkle::{
    finish_chunked, list_height, list_zeros, reduce, HashScratch, LevelBuilder, LevelLengths,
    LevelMemory, ListLevels, Top, TreeJob, DEPTH, LEAF_GROUP_LEN, LIST_DEPTH, NO_NODE,
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
    let job = Commit::new(tree, txs, receipts, digests)?;
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
    pub fn new(
        tree: TreeJob<'c>,
        txs: &'c [Transaction],
        receipts: &'c [Receipt],
        digests: &'c mut [Hash32],
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
            // Constants, the same from every hasher: no device round trips for them.
            zero: list_zeros(&mut KeccakHasher),
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
        for p in 0..self.parts {
            self.run_part(p, hasher, &mut scratch);
        }
        let (parent, number, beneficiary, gas) =
            (h.parent_hash, h.number, h.beneficiary, h.gas_used);
        let header = self.finish(parent, number, beneficiary, gas, hasher, &mut scratch);
        let hash = header.hash(hasher);
        (header, hash)
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
                let job = Commit::new(tree, &txs, &receipts, &mut digests).unwrap();
                for p in (0..job.parts()).rev() {
                    job.run_part(p, &mut KeccakHasher, &mut scratch);
                }
                let h = job.finish([0; 32], 1, Address(9), 0, &mut KeccakHasher, &mut scratch);
                assert_eq!(h.tx_root, want_tx, "tx root, {n} txs, {parts} parts");
                assert_eq!(h.receipts_root, want_rc, "receipts root, {n} txs, {parts} parts");
            }
        }
    }

    /// The whole commitment as one `Levels` batch (through the default level-by-level
    /// `hash_levels`) equals the parts and `finish` on one thread, block after block:
    /// header, block hash, state root and every stored node; memory one byte too small
    /// takes the parts path, with the same result.
    #[test]
    fn one_batch_equals_the_parts() {
        use crate::merkle::{LevelMemory, MAX_PARTS};
        use crate::state::StateEntry;
        use crate::types::StateKey;
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |m: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % m
        };
        for case in 0..40 {
            let genesis = 1 + next(300);
            let accounts: Vec<GenesisAccount> = (0..genesis)
                .map(|a| GenesisAccount { addr: Address(a * 3), balance: a * 10, nonce: 0 })
                .collect();
            let cap = 4 * genesis as usize + 2_000;
            let (mut b1, mut b2) = (bufs(cap), bufs(cap));
            let (mut one, mut many) = (state(&mut b1, &accounts), state(&mut b2, &accounts));
            let mut parent = [0u8; 32];
            for block in 0..3u64 {
                let n = [0, 1, 2, 3, 5, 16, 17, 70, 300][next(9) as usize];
                let txs: Vec<Transaction> = (0..n as u64)
                    .map(|i| Transaction::transfer(Address(i % 5), i, Address(i * 7), i, 1_000, 1))
                    .collect();
                let receipts: Vec<Receipt> = (0..n as u64)
                    .map(|i| Receipt {
                        status: Status::Success,
                        gas_used: i + block,
                        ..Receipt::EMPTY
                    })
                    .collect();
                let mut writes: Vec<StateEntry> = (0..next(200))
                    .map(|_| {
                        let a = Address(next(3 * genesis + 40));
                        let key = match next(3) {
                            0 => StateKey::balance(a),
                            1 => StateKey::nonce(a),
                            _ => StateKey::storage(a, next(4)),
                        };
                        StateEntry { key, value: next(1 << 40) }
                    })
                    .collect();
                writes.sort_by_key(|e| e.key);
                writes.dedup_by_key(|e| e.key);
                let head = (parent, block + 1, Address(9), 77 + block);
                // The parts on one thread.
                let (mut m, mut d, mut e) =
                    (std::vec![0; 4096], std::vec![[0; 32]; 3], std::vec![0; 3]);
                let mut scratch = HashScratch { msgs: &mut m, digests: &mut d, ends: &mut e };
                let mut dirty = std::vec![0u32; 2 * writes.len()];
                let mut digests = std::vec![[0u8; 32]; 2 * n];
                let parts = 1 + next(MAX_PARTS as u64) as usize;
                let tree = Staging::new(&mut one, &writes, &mut dirty, parts).unwrap();
                let job =
                    Commit::new(tree.run_alone().unwrap(), &txs, &receipts, &mut digests).unwrap();
                for p in 0..job.parts() {
                    job.run_part(p, &mut KeccakHasher, &mut scratch);
                }
                let want =
                    job.finish(head.0, head.1, head.2, head.3, &mut KeccakHasher, &mut scratch);
                let want_hash = want.hash(&mut KeccakHasher);
                // One batch, or (one case in four) a byte short of it.
                let mut dirty = std::vec![0u32; 2 * writes.len()];
                let mut digests = std::vec![[0u8; 32]; 2 * n];
                let tree = Staging::new(&mut many, &writes, &mut dirty, parts).unwrap();
                let job =
                    Commit::new(tree.run_alone().unwrap(), &txs, &receipts, &mut digests).unwrap();
                let l = job.level_lengths();
                let short = usize::from(next(4) == 0);
                let mut data = std::vec![0u8; l.bytes - short];
                let (mut ends, mut nodes) = (std::vec![0u32; l.msgs], std::vec![0u32; l.msgs]);
                let mut dg = std::vec![[0u8; 32]; l.msgs];
                let mut links = std::vec![crate::hash::Link::default(); l.links];
                let mut mem = LevelMemory {
                    data: &mut data,
                    ends: &mut ends,
                    nodes: &mut nodes,
                    digests: &mut dg,
                    links: &mut links,
                };
                let (got, got_hash) =
                    job.finish_levels(head.0, head.1, head.2, head.3, &mut KeccakHasher, &mut mem);
                assert_eq!(
                    got,
                    want,
                    "case {case} block {block}: {n} txs, {} writes",
                    writes.len()
                );
                assert_eq!(got_hash, want_hash, "case {case} block {block}");
                assert_eq!(one.root(), many.root());
                assert!(one.tree_nodes() == many.tree_nodes(), "case {case} block {block}: nodes");
                parent = want_hash;
            }
        }
    }
}
