//! A sharded chain cut between two heights: everything the next height needs, so that a
//! chain resumed from it ends where the uncut chain ends. Its file format is in
//! `docs/formats.md` ("Sharded checkpoint"); `blockfile::checkpoint` reads and writes it.

use parex_core::block::BlockHeader;
use parex_core::merkle::HashScratch;
use parex_core::shard::{GlobalHeader, ShardHeader};
use parex_core::state::StateEntry;
use parex_core::{Hash32, KeccakHasher};

use super::{conserved, Batch, ShardedError, ShardedOutcome};
use crate::engine::HashBuffers;

/// The chain after height `height`: each shard's last block and state, the global
/// header, and the messages in flight (emitted at `height`, with their proofs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The last height run.
    pub height: u64,
    /// Its global header.
    pub global: GlobalHeader,
    /// Its hash (the global root).
    pub global_hash: Hash32,
    /// Per shard: its block header of that height.
    pub blocks: Vec<BlockHeader>,
    /// Per shard: its shard header of that height.
    pub headers: Vec<ShardHeader>,
    /// Per shard: its state words, in leaf order.
    pub states: Vec<Vec<StateEntry>>,
    /// The batches in flight (emitted at `height`, from each shard to each shard), by
    /// source then destination.
    pub batches: Vec<Batch>,
}

/// What is wrong with a checkpoint (before any message is delivered; a batch that does
/// not hold, or is missing, is refused at delivery, as [`ShardedError::Message`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckpointError {
    /// It is for another number of shards than the genesis.
    Shards {
        /// The checkpoint's.
        found: usize,
        /// The genesis's.
        expected: u16,
    },
    /// Shard `shard`'s headers do not chain: its block header does not hash to its
    /// shard header's block hash, or its shard header is not of this height and shard.
    ShardHeader {
        /// The shard.
        shard: u16,
    },
    /// The shard headers do not hash to the global header, or it to the global root.
    GlobalHeader,
    /// Shard `shard`'s state does not hash to its block's state root.
    StateRoot {
        /// The shard.
        shard: u16,
    },
    /// Its balances and the value in flight sum to more than 2^64 - 1: the supply of a
    /// chain must fit 64 bits.
    Supply,
}

impl std::fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Shards { found, expected } => {
                write!(f, "it has {found} shards, the genesis {expected}")
            }
            Self::ShardHeader { shard } => write!(
                f,
                "shard {shard}'s headers do not chain (its block header, shard header and \
                 height disagree)"
            ),
            Self::GlobalHeader => f.write_str(
                "the shard headers do not hash to the global header, or it to the global root",
            ),
            Self::StateRoot { shard } => {
                write!(f, "shard {shard}'s state does not hash to its block's state root")
            }
            Self::Supply => f.write_str(
                "its balances and the value in flight sum to more than 2^64 - 1, the most a \
                 chain's supply may be",
            ),
        }
    }
}

impl Checkpoint {
    /// The checkpoint after the last height of `out`; `None` when it ran none.
    pub fn of(out: &ShardedOutcome) -> Option<Self> {
        let last = out.heights.last()?;
        Some(Self {
            height: last.global.number,
            global: last.global,
            global_hash: last.hash,
            blocks: last.shards.iter().map(|s| s.block).collect(),
            headers: last.shards.iter().map(|s| s.header).collect(),
            states: out.states.clone(),
            batches: out.batches.clone(),
        })
    }

    /// Checks that the headers chain (block header → shard header → global header →
    /// global root) for a chain of `shards` shards. The states are checked against their
    /// roots when loaded, the batches when delivered.
    pub fn check(&self, shards: u16) -> Result<(), ShardedError> {
        let fail = |e| Err(ShardedError::Checkpoint(e));
        let n = shards as usize;
        for found in [self.blocks.len(), self.headers.len(), self.states.len()] {
            if found != n {
                return fail(CheckpointError::Shards { found, expected: shards });
            }
        }
        let hasher = &mut KeccakHasher;
        for (s, (b, h)) in self.blocks.iter().zip(&self.headers).enumerate() {
            let chained = b.hash(hasher) == h.block_hash
                && h.shard as usize == s
                && h.shards == shards
                && h.number == self.height
                && b.number == self.height;
            if !chained {
                return fail(CheckpointError::ShardHeader { shard: s as u16 });
            }
        }
        let mut bufs = HashBuffers::default();
        let mut scratch: HashScratch<'_> = bufs.scratch();
        let mut hashes = vec![[0u8; 32]; n];
        let global = GlobalHeader::over(
            self.height,
            self.global.parent_hash,
            &self.headers,
            &mut hashes,
            hasher,
            &mut scratch,
        );
        if global.ok() != Some(self.global) || self.global.hash(hasher) != self.global_hash {
            return fail(CheckpointError::GlobalHeader);
        }
        let in_flight: Vec<_> =
            self.batches.iter().flat_map(|b| b.messages.iter().copied()).collect();
        if conserved(&self.states, &in_flight) > u128::from(u64::MAX) {
            return fail(CheckpointError::Supply);
        }
        Ok(())
    }
}
