//! Roots over lists of digests (a block's transactions and receipts): a tree of arity
//! four whose missing children at level `l` are the empty subtree `zero[l]`
//! (`zero[0]` = 32 zero bytes, `zero[l + 1] = keccak(zero[l] ×4)`), reduced until one
//! node is left (`list_height(n)` levels), then `root = keccak(top ‖ n as u64 LE)`.
//!
//! Because node `i` of level `l` covers digests `i * 4^l .. (i + 1) * 4^l`, a chunk of
//! `4^k` digests aligned on a multiple of `4^k` reduces on its own to its node of level
//! `k` (for `k` below the list's height): workers reduce chunks side by side and one
//! finishes from level `k` ([`crate::block::Commit`]).

use core::ops::Range;

use super::levels::{LevelBuilder, LevelLengths, NO_NODE};
use super::{hash_node, HashScratch, ARITY, NODE_MSG_LEN};
use crate::hash::Hasher;
use crate::sync::Slot;
use crate::types::Hash32;

/// Levels of [`list_zeros`]: enough for lists of up to 2^32 digests.
pub const LIST_DEPTH: usize = 17;

/// Levels a list of `n` digests reduces through: the fewest `h` with `4^h >= n`.
pub const fn list_height(n: usize) -> usize {
    let mut h = 0;
    while h < LIST_DEPTH - 1 && (1usize << (2 * h)) < n {
        h += 1;
    }
    h
}

/// The empty subtrees of list trees, by level.
pub fn list_zeros<H: Hasher + ?Sized>(hasher: &mut H) -> [Hash32; LIST_DEPTH] {
    let mut zero = [[0u8; 32]; LIST_DEPTH];
    for l in 0..LIST_DEPTH - 1 {
        zero[l + 1] = hash_node(hasher, [&zero[l]; ARITY]);
    }
    zero
}

/// Reduces the `count` nodes of level `from` at the front of `nodes` by `levels` levels,
/// in place; returns how many nodes are left. Caller: the only accessor of `nodes`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn reduce<H: Hasher + ?Sized>(
    nodes: &[Slot<Hash32>],
    mut count: usize,
    from: usize,
    levels: usize,
    zero: &[Hash32; LIST_DEPTH],
    hasher: &mut H,
    scratch: &mut HashScratch<'_>,
) -> usize {
    for &z in &zero[from..from + levels] {
        let parents = count.div_ceil(ARITY);
        scratch.run(
            hasher,
            parents,
            NODE_MSG_LEN,
            |i, m| {
                for (c, out) in m.chunks_exact_mut(32).enumerate() {
                    let child = ARITY * i + c;
                    out.copy_from_slice(&if child < count { nodes[child].get() } else { z });
                }
            },
            // Parent i is written after every message of its batch was filled; it lands
            // at index i <= 4i, which no later batch reads.
            |i, d| nodes[i].set(*d),
        );
        count = parents;
    }
    count
}

/// Length of [`finish_list`]'s message.
const FINISH_LEN: usize = 40;

/// `keccak(top ‖ n as u64 LE)`, with `top` the reduced list (32 zero bytes when empty).
pub(crate) fn finish_list<H: Hasher + ?Sized>(top: &Hash32, n: usize, hasher: &mut H) -> Hash32 {
    let mut msg = [0u8; FINISH_LEN];
    msg[..32].copy_from_slice(top);
    msg[32..].copy_from_slice(&(n as u64).to_le_bytes());
    let mut out = [[0u8; 32]; 1];
    hasher.hash_fixed(&msg, FINISH_LEN, &mut out);
    out[0]
}

/// The root over `hashes` (see the module docs), on one thread. `hashes` is overwritten.
pub fn list_root<H: Hasher + ?Sized>(
    hashes: &mut [Hash32],
    hasher: &mut H,
    scratch: &mut HashScratch<'_>,
) -> Hash32 {
    let n = hashes.len();
    let zero = list_zeros(hasher);
    finish_chunked(hashes, n, 0, n, &zero, hasher, scratch)
}

/// The root of a list of `len` digests whose chunks of `4^levels` were reduced `levels`
/// levels in place (each chunk's node at its start): gathers those nodes, reduces the
/// rest and returns `keccak(top ‖ count)`.
pub(crate) fn finish_chunked<H: Hasher + ?Sized>(
    list: &mut [Hash32],
    len: usize,
    levels: usize,
    count: usize,
    zero: &[Hash32; LIST_DEPTH],
    hasher: &mut H,
    scratch: &mut HashScratch<'_>,
) -> Hash32 {
    let chunk = 1usize << (2 * levels);
    let nodes = len.div_ceil(chunk);
    for j in 1..nodes {
        list[j] = list[j * chunk];
    }
    let cells = &*Slot::from_mut_slice(&mut list[..len]);
    let rest = list_height(len).saturating_sub(levels);
    reduce(cells, nodes, levels, rest, zero, hasher, scratch);
    let top = cells.first().map_or([0; 32], Slot::get);
    finish_list(&top, count, hasher)
}

/// A list tree's levels in one batch (`merkle/levels.rs`): the caller emits its level 0
/// (the messages of its `len` digests) and hands their range to [`Self::set_leaves`];
/// [`Self::emit`] adds the levels above and the final hash, as [`list_root`] computes
/// them, with `count` as the list's length in the final hash.
pub(crate) struct ListLevels {
    count: usize,
    height: usize,
    /// The messages of the last level emitted.
    prev: Range<usize>,
    /// The final hash's message.
    root: usize,
}

impl ListLevels {
    pub(crate) fn new(len: usize, count: usize) -> Self {
        Self { count, height: list_height(len), prev: 0..0, root: usize::MAX }
    }

    /// What the levels above level 0 may take, at most.
    pub(crate) fn level_lengths(len: usize, lengths: &mut LevelLengths) {
        let mut count = len;
        for _ in 0..list_height(len) {
            count = count.div_ceil(ARITY);
            lengths.add(count, NODE_MSG_LEN, ARITY);
        }
        lengths.add(1, FINISH_LEN, 1);
    }

    /// Level 0: the list's digests are the messages `leaves`.
    pub(crate) fn set_leaves(&mut self, leaves: Range<usize>) {
        self.prev = leaves;
    }

    /// Emits level `depth` (1 up to the list's height: each node over four of the level
    /// below, missing ones the empty subtree), or at `height + 1` the final hash.
    pub(crate) fn emit(
        &mut self,
        depth: usize,
        zero: &[Hash32; LIST_DEPTH],
        b: &mut LevelBuilder<'_, '_>,
    ) {
        let below = self.prev.clone();
        if (1..=self.height).contains(&depth) {
            let first = b.len();
            let z = zero[depth - 1];
            for i in 0..below.len().div_ceil(ARITY) {
                let (_, at) = b.push(NODE_MSG_LEN, NO_NODE, |m| {
                    for (c, out) in m.chunks_exact_mut(32).enumerate() {
                        let real = ARITY * i + c < below.len();
                        out.copy_from_slice(if real { &[0; 32] } else { &z });
                    }
                });
                for c in 0..ARITY {
                    if ARITY * i + c < below.len() {
                        b.link(at + 32 * c, below.start + ARITY * i + c);
                    }
                }
            }
            self.prev = first..b.len();
        } else if depth == self.height + 1 {
            let (m, at) = b.push(FINISH_LEN, NO_NODE, |m| {
                m[..32].fill(0);
                m[32..].copy_from_slice(&(self.count as u64).to_le_bytes());
            });
            if !below.is_empty() {
                b.link(at, below.start);
            }
            self.root = m;
        }
    }

    /// The depth of the final hash.
    pub(crate) fn last_depth(&self) -> usize {
        self.height + 1
    }

    /// The final hash's message (once emitted).
    pub(crate) fn root_msg(&self) -> usize {
        self.root
    }

    /// The root, after the batch was hashed.
    pub(crate) fn root(&self, b: &LevelBuilder<'_, '_>) -> Hash32 {
        b.digest(self.root)
    }
}
