//! Blocks: the header, its hash, and committing an executed block (transaction root,
//! receipts root, state update and root) through the [`Hasher`] hook.

//!
//! One file a part: this one the header, the memory and [`commit`] on one thread;
//! `parts.rs` the commitment in parts ([`Commit`]) and the transaction list's share
//! ([`TxList`]); `batch.rs` the whole commitment as one batch for a device
//! ([`Commit::finish_levels`]).

mod batch;
mod parts;

pub use parts::{Commit, TxList, TxListDone};

use crate::error::BlockError;
use crate::hash::Hasher;
use crate::merkle::HashScratch;
use crate::receipt::Receipt;
use crate::state::{Staging, State, StateEntry};
use crate::sync::Slot;
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

/// Digests a commitment of `txs` transactions needs ([`CommitMemory::digests`]): one per
/// transaction, and one per pair of receipts (receipts are hashed two at a time).
pub const fn digests_len(txs: usize) -> usize {
    txs + txs.div_ceil(2)
}

/// Caller memory for committing a block.
pub struct CommitMemory<'a> {
    /// Entries and leaves of written keys: at least twice the write set's length.
    pub dirty: &'a mut [u32],
    /// Transaction and receipt digests: at least [`digests_len`] of the transactions.
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
                // The transaction list first (a `TxList` of as many parts, all of them or
                // every other one, or of one part more, whose token the commitment
                // ignores), on stale digests, or not.
                let mut digests = std::vec![[0x5a; 32]; 2 * n];
                let early = match parts % 4 {
                    0 => None,
                    k => {
                        let list =
                            TxList::new(&txs, &mut digests, parts + (k == 3) as usize).unwrap();
                        for p in (0..list.parts()).step_by(if k == 2 { 2 } else { 1 }) {
                            list.run_part(p, &mut KeccakHasher, &mut scratch);
                        }
                        list.finish()
                    }
                };
                let staging = Staging::new(&mut state, &[], &mut dirty, parts).unwrap();
                let tree = staging.run_alone().unwrap();
                let mut job = Commit::new(tree, &txs, &receipts, &mut digests).unwrap();
                if let Some(done) = early {
                    job = job.with_tx_list(done);
                }
                for p in (0..job.parts()).rev() {
                    job.run_part(p, &mut KeccakHasher, &mut scratch);
                }
                let h = job.finish([0; 32], 1, Address(9), 0, &mut KeccakHasher, &mut scratch);
                assert_eq!(h.tx_root, want_tx, "tx root, {n} txs, {parts} parts");
                assert_eq!(h.receipts_root, want_rc, "receipts root, {n} txs, {parts} parts");
            }
        }
    }

    /// A `TxList` gives a token of the parts that ran, and none if none did.
    #[test]
    fn a_tx_list_gives_a_token_of_the_parts_that_ran() {
        let txs: Vec<Transaction> = (0..40)
            .map(|i| Transaction::transfer(Address(i), i, Address(1), 1, 1_000, 1))
            .collect();
        let (mut m, mut d, mut e) = (std::vec![0; 4096], std::vec![[0; 32]; 3], std::vec![0; 3]);
        let mut scratch = HashScratch { msgs: &mut m, digests: &mut d, ends: &mut e };
        let mut digests = std::vec![[0u8; 32]; 80];
        let list = TxList::new(&txs, &mut digests, 3).unwrap();
        list.run_part(0, &mut KeccakHasher, &mut scratch);
        list.run_part(2, &mut KeccakHasher, &mut scratch);
        assert_eq!(list.finish().map(|t| t.ran), Some(0b101));
        assert_eq!(TxList::new(&txs, &mut digests, 3).unwrap().finish(), None);
        assert!(TxList::new(&txs, &mut digests[..39], 1).is_err());
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
