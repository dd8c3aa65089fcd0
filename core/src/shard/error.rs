//! Why a shard refused a batch, or could not work.

use core::fmt;

use crate::types::{Address, Shard};

/// Why a shard refused a message, or could not work.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ShardError {
    /// A caller buffer is too small; `needed` elements of `buffer` are required.
    BufferTooSmall {
        /// Which buffer.
        buffer: &'static str,
        /// How many elements are needed.
        needed: usize,
    },
    /// A chain of this many shards cannot be (1 to [`Shard::MAX`]).
    ShardCount {
        /// The number given.
        shards: usize,
    },
    /// A message names a shard the chain does not have.
    NoSuchShard {
        /// The shard named.
        shard: u16,
        /// The chain's number of shards.
        shards: u16,
    },
    /// A message or batch for another shard.
    WrongShard {
        /// Its destination.
        dest: u16,
        /// The shard it was given to.
        shard: u16,
    },
    /// A message to an address that does not live on its destination shard.
    NotHere {
        /// The recipient.
        to: Address,
        /// The destination.
        shard: u16,
    },
    /// A message not emitted at the height before the one delivering it.
    WrongHeight {
        /// The message's height.
        height: u64,
        /// The height it must have.
        expected: u64,
    },
    /// The header given for a message's source is not its source's of its height.
    NotItsHeader {
        /// The message's source.
        source: u16,
        /// The message's height.
        height: u64,
    },
    /// A message delivered already.
    Replayed {
        /// The source.
        source: u16,
        /// The message's number.
        seq: u64,
        /// The number expected next.
        expected: u64,
    },
    /// A message whose predecessors from its source were not delivered.
    Gap {
        /// The source.
        source: u16,
        /// The message's number.
        seq: u64,
        /// The number expected next.
        expected: u64,
    },
    /// A batch whose root does not reach its source's outbox root through its proof:
    /// a message forged, altered, left out or added.
    BadProof {
        /// The source.
        source: u16,
        /// The height that emitted it.
        height: u64,
    },
    /// No batch from shard `source` was delivered (every shard sends every other one a
    /// batch per height, empty or not).
    Missing {
        /// The source.
        source: u16,
    },
    /// A message counter or a credited balance would pass 2^64 - 1 (only a saved state
    /// made up for it can get there).
    Overflow,
}

impl fmt::Display for ShardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::BufferTooSmall { buffer, needed } => {
                write!(f, "buffer `{buffer}` too small: {needed} needed")
            }
            Self::ShardCount { shards } => {
                write!(f, "{shards} shards: a chain has 1 to {} shards", Shard::MAX)
            }
            Self::NoSuchShard { shard, shards } => {
                write!(f, "a message names shard {shard}, but the chain has {shards} shards")
            }
            Self::WrongShard { dest, shard } => {
                write!(f, "a message for shard {dest} was given to shard {shard}")
            }
            Self::NotHere { to, shard } => {
                write!(f, "a message to {to}, which does not live on shard {shard}")
            }
            Self::WrongHeight { height, expected } => {
                write!(f, "a message of height {height} where height {expected} is delivered")
            }
            Self::NotItsHeader { source, height } => {
                write!(f, "the header given is not shard {source}'s of height {height}")
            }
            Self::Replayed { source, seq, expected } => write!(
                f,
                "message {seq} from shard {source} was delivered already (next is {expected})"
            ),
            Self::Gap { source, seq, expected } => write!(
                f,
                "message {seq} from shard {source} arrived before message {expected}, which \
                 is missing"
            ),
            Self::BadProof { source, height } => write!(
                f,
                "the batch from shard {source} of height {height} does not match its outbox \
                 root: a message forged, altered, left out or added"
            ),
            Self::Missing { source } => {
                write!(f, "the batch from shard {source} is missing")
            }
            Self::Overflow => f.write_str("a message counter or a balance would pass 2^64 - 1"),
        }
    }
}
