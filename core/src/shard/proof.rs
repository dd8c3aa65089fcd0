//! The outbox root and the proof that delivers a batch against it.
//!
//! A shard block's outbox root is a list root (`merkle/list.rs`: a tree of arity four,
//! missing children the empty subtree of their level, then `keccak(top ‖ count)`) over
//! one *batch root* per destination shard, in shard order; a batch root is the list
//! root over the digests of the messages to that shard, in sequence order (an empty
//! batch: the root of an empty list). [`OutboxTree`] keeps the levels over the batch
//! roots in caller memory; a [`BatchProof`] holds, per level, the three siblings of the
//! destination's node, and [`verify`] hashes a batch root back up to the outbox root.
//! A destination recomputes its batch root from the messages it is given, so one proof
//! per source and height proves every message of the batch, and that none is missing.

use crate::hash::Hasher;
use crate::merkle::NODE_MSG_LEN;
use crate::merkle::{finish_list, list_height, list_zeros, HashScratch, ARITY, LIST_DEPTH};
use crate::types::{Hash32, Shard};

use super::ShardError;

/// Levels a batch proof climbs: an outbox root over up to [`Shard::MAX`] batch roots.
pub const PROOF_LEVELS: usize = list_height(Shard::MAX as usize);

/// The path of one destination's batch root to its source's outbox root: its position
/// (the destination), the number of batch roots (the shards), and for each of the
/// `list_height(count)` levels the three siblings of the node on the path, left to
/// right.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BatchProof {
    /// The batch root's position: the destination shard.
    pub index: u32,
    /// The number of batch roots: the chain's shards.
    pub count: u32,
    /// Siblings by level (only the first `list_height(count)` are used).
    pub siblings: [[Hash32; ARITY - 1]; PROOF_LEVELS],
}

impl Default for BatchProof {
    fn default() -> Self {
        Self { index: 0, count: 0, siblings: [[[0; 32]; ARITY - 1]; PROOF_LEVELS] }
    }
}

/// Every level of an outbox's tree over its batch roots, in caller memory: level 0 (the
/// batch roots) first, then each level above, to the top node.
pub struct OutboxTree<'a> {
    nodes: &'a [Hash32],
    count: usize,
    zero: [Hash32; LIST_DEPTH],
    root: Hash32,
}

impl<'a> OutboxTree<'a> {
    /// Nodes [`Self::build`] needs over `count` batch roots: every level's.
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

    /// Builds the tree over `batch_roots` (one per shard, in shard order) in `nodes` (at
    /// least [`Self::nodes_len`] long); its root is the list root over `batch_roots`.
    pub fn build<H: Hasher + ?Sized>(
        batch_roots: &[Hash32],
        nodes: &'a mut [Hash32],
        hasher: &mut H,
        scratch: &mut HashScratch<'_>,
    ) -> Result<Self, ShardError> {
        let count = batch_roots.len();
        let needed = Self::nodes_len(count);
        if nodes.len() < needed {
            return Err(ShardError::BufferTooSmall { buffer: "outbox tree", needed });
        }
        if count == 0 || count > Shard::MAX as usize {
            return Err(ShardError::ShardCount { shards: count });
        }
        let zero = list_zeros(hasher);
        nodes[..count].copy_from_slice(batch_roots);
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
        let root = finish_list(&nodes[start], count, hasher);
        Ok(Self { nodes: &nodes[..needed], count, zero, root })
    }

    /// The outbox root.
    pub fn root(&self) -> Hash32 {
        self.root
    }

    /// The proof of the batch for shard `dest`; `None` past the last shard.
    pub fn proof(&self, dest: usize) -> Option<BatchProof> {
        if dest >= self.count {
            return None;
        }
        let mut proof =
            BatchProof { index: dest as u32, count: self.count as u32, ..Default::default() };
        let (mut start, mut len, mut i) = (0, self.count, dest);
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

/// Whether `proof` leads from a batch root to the outbox root `root`.
pub fn verify<H: Hasher + ?Sized>(
    batch_root: &Hash32,
    proof: &BatchProof,
    root: &Hash32,
    hasher: &mut H,
) -> bool {
    let count = proof.count as usize;
    let mut i = proof.index as usize;
    if i >= count || count > Shard::MAX as usize {
        return false;
    }
    let mut node = *batch_root;
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
