//! A shard's header for one height, and the global header over every shard's.

use crate::hash::Hasher;
use crate::merkle::{list_root, HashScratch};
use crate::types::{Hash32, Shard};

use super::ShardError;

/// A shard's header for one height: its block's hash (the unsharded [`BlockHeader`]'s,
/// whose state root includes the height's system writes) and the root of the messages
/// its block emitted. Its hash is Keccak-256 of [`Self::encode`].
///
/// [`BlockHeader`]: crate::block::BlockHeader
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ShardHeader {
    /// The height.
    pub number: u64,
    /// This shard.
    pub shard: u16,
    /// The chain's number of shards.
    pub shards: u16,
    /// The hash of the shard's block of this height.
    pub block_hash: Hash32,
    /// The root over the digests of the messages the block emitted (a list root, as
    /// the transaction root).
    pub outbox_root: Hash32,
    /// How many messages it emitted.
    pub outbox_count: u64,
}

impl ShardHeader {
    /// Length of [`Self::encode`].
    pub const ENCODED_LEN: usize = 8 + 2 + 2 + 32 + 32 + 8;

    /// number (8 LE), shard, shards (2 LE each), block_hash, outbox_root, outbox_count
    /// (8 LE).
    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut b = [0u8; Self::ENCODED_LEN];
        b[..8].copy_from_slice(&self.number.to_le_bytes());
        b[8..10].copy_from_slice(&self.shard.to_le_bytes());
        b[10..12].copy_from_slice(&self.shards.to_le_bytes());
        b[12..44].copy_from_slice(&self.block_hash);
        b[44..76].copy_from_slice(&self.outbox_root);
        b[76..].copy_from_slice(&self.outbox_count.to_le_bytes());
        b
    }

    /// The shard header's hash.
    pub fn hash<H: Hasher + ?Sized>(&self, hasher: &mut H) -> Hash32 {
        let mut out = [[0u8; 32]; 1];
        hasher.hash_fixed(&self.encode(), Self::ENCODED_LEN, &mut out);
        out[0]
    }
}

/// The header of a height of the whole sharded chain: it commits every shard's header
/// (a list root over their hashes, in shard order) and the previous global header, so
/// one hash identifies the whole sharded state.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GlobalHeader {
    /// The height.
    pub number: u64,
    /// The previous global header's hash (zero for height 1).
    pub parent_hash: Hash32,
    /// The number of shards.
    pub shards: u16,
    /// The list root over the shard headers' hashes ([`shards_root`]).
    pub shards_root: Hash32,
}

impl GlobalHeader {
    /// Length of [`Self::encode`].
    pub const ENCODED_LEN: usize = 8 + 32 + 2 + 32;

    /// number (8 LE), parent_hash, shards (2 LE), shards_root.
    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut b = [0u8; Self::ENCODED_LEN];
        b[..8].copy_from_slice(&self.number.to_le_bytes());
        b[8..40].copy_from_slice(&self.parent_hash);
        b[40..42].copy_from_slice(&self.shards.to_le_bytes());
        b[42..].copy_from_slice(&self.shards_root);
        b
    }

    /// The global header's hash: the height's global root.
    pub fn hash<H: Hasher + ?Sized>(&self, hasher: &mut H) -> Hash32 {
        let mut out = [[0u8; 32]; 1];
        hasher.hash_fixed(&self.encode(), Self::ENCODED_LEN, &mut out);
        out[0]
    }

    /// The global header of height `number` over `headers` (one per shard, in shard
    /// order), after the one hashed `parent_hash`. `hashes` is scratch, one per shard.
    pub fn over<H: Hasher + ?Sized>(
        number: u64,
        parent_hash: Hash32,
        headers: &[ShardHeader],
        hashes: &mut [Hash32],
        hasher: &mut H,
        scratch: &mut HashScratch<'_>,
    ) -> Result<Self, ShardError> {
        let n = headers.len();
        let Some(hashes) = hashes.get_mut(..n) else {
            return Err(ShardError::BufferTooSmall { buffer: "shard hashes", needed: n });
        };
        for (h, header) in hashes.iter_mut().zip(headers) {
            *h = header.hash(hasher);
        }
        if n == 0 || n > Shard::MAX as usize {
            return Err(ShardError::ShardCount { shards: n });
        }
        let shards = n as u16;
        Ok(Self { number, parent_hash, shards, shards_root: list_root(hashes, hasher, scratch) })
    }
}
