//! Inclusion proofs of messages in a shard's outbox root.
//!
//! The outbox root is a list root (`merkle/list.rs`): a tree of arity four over the
//! message digests, missing children the empty subtree of their level, then
//! `keccak(top ‖ count)`. [`OutboxTree`] keeps every level in caller memory, so proving
//! each of a block's messages costs no hashing; a [`MessageProof`] holds, per level, the
//! three siblings of the path's node, and [`verify`] hashes the path back up.

use crate::hash::Hasher;
use crate::merkle::NODE_MSG_LEN;
use crate::merkle::{finish_list, list_height, list_zeros, HashScratch, ARITY, LIST_DEPTH};
use crate::types::Hash32;

use super::ShardError;

/// Levels a proof can climb: a list of up to 4^16 messages.
pub const PROOF_LEVELS: usize = LIST_DEPTH - 1;

/// The path of one message to its outbox root: its position, the list's length, and
/// for each of the `list_height(count)` levels the three siblings of the node on the
/// path, left to right.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MessageProof {
    /// The message's position in its block's outbox.
    pub index: u32,
    /// The number of messages in that outbox.
    pub count: u32,
    /// Siblings by level (only the first `list_height(count)` are used).
    pub siblings: [[Hash32; ARITY - 1]; PROOF_LEVELS],
}

impl Default for MessageProof {
    fn default() -> Self {
        Self { index: 0, count: 0, siblings: [[[0; 32]; ARITY - 1]; PROOF_LEVELS] }
    }
}

/// Every level of an outbox's tree, in caller memory: level 0 (the digests) first, then
/// each level above, to the top node.
pub struct OutboxTree<'a> {
    nodes: &'a [Hash32],
    count: usize,
    zero: [Hash32; LIST_DEPTH],
    root: Hash32,
}

impl<'a> OutboxTree<'a> {
    /// Nodes [`Self::build`] needs for `count` digests: every level's.
    pub const fn nodes_len(count: usize) -> usize {
        let mut total = count;
        let mut len = count;
        let mut h = 0;
        while h < list_height(count) {
            len = len.div_ceil(ARITY);
            total += len;
            h += 1;
        }
        total
    }

    /// Builds the tree over `digests` in `nodes` (at least [`Self::nodes_len`] long); its
    /// root is the list root over `digests`.
    pub fn build<H: Hasher + ?Sized>(
        digests: &[Hash32],
        nodes: &'a mut [Hash32],
        hasher: &mut H,
        scratch: &mut HashScratch<'_>,
    ) -> Result<Self, ShardError> {
        let count = digests.len();
        let needed = Self::nodes_len(count);
        if nodes.len() < needed || count > u32::MAX as usize {
            return Err(ShardError::BufferTooSmall { buffer: "outbox tree", needed });
        }
        let zero = list_zeros(hasher);
        nodes[..count].copy_from_slice(digests);
        let (mut start, mut len) = (0, count);
        for z in &zero[..list_height(count)] {
            let parents = len.div_ceil(ARITY);
            let (below, above) = nodes.split_at_mut(start + len);
            let below = &below[start..];
            scratch.run(
                hasher,
                parents,
                NODE_MSG_LEN,
                |i, m| {
                    for (c, out) in m.chunks_exact_mut(32).enumerate() {
                        out.copy_from_slice(below.get(ARITY * i + c).unwrap_or(z));
                    }
                },
                |i, d| above[i] = *d,
            );
            start += len;
            len = parents;
        }
        let top = if count == 0 { [0; 32] } else { nodes[start] };
        let root = finish_list(&top, count, hasher);
        Ok(Self { nodes: &nodes[..needed], count, zero, root })
    }

    /// The outbox root.
    pub fn root(&self) -> Hash32 {
        self.root
    }

    /// The proof of message `index`; `None` past the end.
    pub fn proof(&self, index: usize) -> Option<MessageProof> {
        if index >= self.count {
            return None;
        }
        let mut proof =
            MessageProof { index: index as u32, count: self.count as u32, ..Default::default() };
        let (mut start, mut len, mut i) = (0, self.count, index);
        for (level, siblings) in proof.siblings.iter_mut().enumerate().take(list_height(self.count))
        {
            let first = i - i % ARITY;
            let mut k = 0;
            for c in first..first + ARITY {
                if c != i {
                    siblings[k] = if c < len { self.nodes[start + c] } else { self.zero[level] };
                    k += 1;
                }
            }
            start += len;
            len = len.div_ceil(ARITY);
            i /= ARITY;
        }
        Some(proof)
    }
}

/// Whether `proof` leads from a message's `digest` to `root`.
pub fn verify<H: Hasher + ?Sized>(
    digest: &Hash32,
    proof: &MessageProof,
    root: &Hash32,
    hasher: &mut H,
) -> bool {
    let count = proof.count as usize;
    let mut i = proof.index as usize;
    if i >= count {
        return false;
    }
    let mut node = *digest;
    for siblings in &proof.siblings[..list_height(count)] {
        let pos = i % ARITY;
        let mut msg = [0u8; NODE_MSG_LEN];
        let mut rest = siblings.iter();
        for (c, out) in msg.chunks_exact_mut(32).enumerate() {
            // Three siblings for the other three positions: never runs out.
            let child = if c == pos { &node } else { rest.next().unwrap_or(&node) };
            out.copy_from_slice(child);
        }
        let mut out = [[0u8; 32]; 1];
        hasher.hash_fixed(&msg, NODE_MSG_LEN, &mut out);
        node = out[0];
        i /= ARITY;
    }
    finish_list(&node, count, hasher) == *root
}
