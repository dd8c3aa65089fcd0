//! Blocks: the header, its hash, and committing an executed block (transaction root,
//! receipts root, state update and root) through the [`Hasher`] hook.

use crate::error::BlockError;
use crate::hash::Hasher;
use crate::merkle::{list_root, HashScratch};
use crate::receipt::Receipt;
use crate::state::{State, StateEntry};
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
    /// Leaf indices of written keys: at least the write set's length.
    pub dirty: &'a mut [u32],
    /// Transaction and receipt digests: at least one per transaction.
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
        |i, d| out[i] = *d,
    );
}

/// Commits an executed block: computes the transaction and receipts roots, applies the
/// sorted write set to `state` (updating its root) and returns the header. On error the
/// state is unchanged.
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
    let n = txs.len();
    if mem.digests.len() < n || receipts.len() < n {
        return Err(BlockError::BufferTooSmall {
            buffer: "digests",
            needed: n,
            given: mem.digests.len(),
        });
    }
    if !mem.scratch.is_usable() {
        return Err(BlockError::BufferTooSmall {
            buffer: "hash scratch",
            needed: MAX_ENCODED_LEN,
            given: mem.scratch.msgs.len(),
        });
    }
    let digests = &mut mem.digests[..n];
    tx_hashes(txs, digests, hasher, &mut mem.scratch);
    let tx_root = list_root(digests, hasher, &mut mem.scratch);
    mem.scratch.run(
        hasher,
        n,
        Receipt::ENCODED_LEN,
        |i, m| m.copy_from_slice(&receipts[i].encode()),
        |i, d| digests[i] = *d,
    );
    let receipts_root = list_root(digests, hasher, &mut mem.scratch);
    let state_root = state.apply(writes, mem.dirty, hasher, &mut mem.scratch)?;
    Ok(BlockHeader {
        parent_hash,
        number,
        beneficiary,
        tx_root,
        receipts_root,
        state_root,
        gas_used,
        tx_count: n as u64,
    })
}
