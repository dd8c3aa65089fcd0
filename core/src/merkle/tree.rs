//! The state tree over caller memory, and its share of a block's commitment split into
//! parts that workers hash side by side ([`TreeJob`]).
//!
//! # Layout
//!
//! `h` stored levels of nodes (the fewest whose `4^h` leaf positions hold the capacity,
//! at least one), level 1 (parents of leaves) first: level `l` holds `4^(h - l)` nodes,
//! node `i` of level `l` covers leaf positions `i * 4^l .. (i + 1) * 4^l`. Level 1 node `i`
//! hashes the encodings of leaves `4i .. 4i + 4` (empty positions encode as zeros);
//! every higher node hashes its four children. The root folds the top stored node up to
//! [`DEPTH`] with the empty subtrees `zero[l]` as its siblings.
//!
//! Leaves come into use in order (the first `used` positions), so a node covers a leaf in
//! use exactly when its first leaf position is below `used`. Only such nodes are read
//! from memory; any other reads as `zero[l]`, whatever its memory holds. A node comes
//! into use with a new leaf under it, and a new leaf is written, so the block that brings
//! it into use rehashes it before any read. The memory is therefore never cleared: room
//! that a state never reaches is never written (on a host, never mapped), where filling a
//! tree sized for millions of leaves with `zero[l]` took tens of milliseconds.
//!
//! # Parts
//!
//! A block's written leaves (sorted) are split at a level `S` into ranges of level-`S`
//! subtrees with about the same number of written leaves each: part `p` rehashes, at
//! levels `1..=S`, only nodes inside its subtrees, which lie in a range of each level of
//! its own, and reads only leaves and nodes inside them. The parts therefore write
//! disjoint memory and read nothing another part writes; [`TreeJob::finish`] (after
//! every part, with exclusive access) rehashes levels `S + 1..=h`, which are few.

use core::ops::Range;

use super::levels::{LevelBuilder, LevelLengths, NO_NODE};
use super::{hash_node, HashScratch, Leaf, ARITY, DEPTH, LEAF_GROUP_LEN, LEAF_LEN, NODE_MSG_LEN};
use crate::hash::Hasher;
use crate::sync::{settled, Slot};
use crate::types::Hash32;

/// Most parts a block's commitment is split into.
pub const MAX_PARTS: usize = 64;

/// Stored levels for `capacity` leaves: the fewest `h >= 1` with `4^h >= capacity`.
const fn height_for(capacity: usize) -> usize {
    let mut h = 1;
    while h < DEPTH && (1usize << (2 * h)) < capacity {
        h += 1;
    }
    h
}

/// The state tree over caller memory (see the module docs for the layout).
pub struct MerkleTree<'a> {
    nodes: &'a mut [Hash32],
    /// Stored levels.
    height: usize,
    /// Leaves in use, as of the last [`Self::rebuild`] or [`Self::job`].
    used: usize,
    /// `zero[l]`: the digest of an empty subtree of level `l >= 1` (`zero[0]` unused).
    zero: [Hash32; DEPTH + 1],
}

impl<'a> MerkleTree<'a> {
    /// Nodes needed to store a tree over `capacity` leaves: `(4^h - 1) / 3`.
    pub const fn nodes_needed(capacity: usize) -> usize {
        let h = height_for(capacity);
        ((1usize << (2 * h)) - 1) / 3
    }

    /// Wraps `nodes` (at least [`Self::nodes_needed`]`(capacity)` long) as an empty tree.
    /// Returns `None` when `nodes` is too short or `capacity` exceeds 2^32.
    pub fn new<H: Hasher + ?Sized>(
        nodes: &'a mut [Hash32],
        capacity: usize,
        hasher: &mut H,
    ) -> Option<Self> {
        if capacity as u64 > 1 << 32 || nodes.len() < Self::nodes_needed(capacity) {
            return None;
        }
        let mut zero = [[0u8; 32]; DEPTH + 1];
        let mut out = [[0u8; 32]; 1];
        hasher.hash_fixed(&[0u8; LEAF_GROUP_LEN], LEAF_GROUP_LEN, &mut out);
        zero[1] = out[0];
        for l in 1..DEPTH {
            zero[l + 1] = hash_node(hasher, [&zero[l]; ARITY]);
        }
        // No leaf is in use, so no node is read (see "Layout" in the module docs).
        Some(Self { nodes, height: height_for(capacity), used: 0, zero })
    }

    /// The same tree in `nodes`, copied (nothing hashed); `None` when `nodes` is shorter
    /// than this tree's stored levels.
    pub fn copy_into<'b>(&self, nodes: &'b mut [Hash32]) -> Option<MerkleTree<'b>> {
        let h = self.height;
        nodes.get(..((1usize << (2 * h)) - 1) / 3)?;
        // Only the nodes in use: no other is ever read (see "Layout" in the module docs).
        for l in 1..=h {
            let level = level_range(h, l);
            let count = self.used.div_ceil(1 << (2 * l));
            let range = level.start..level.start + count;
            nodes[range.clone()].copy_from_slice(&self.nodes[range]);
        }
        Some(MerkleTree { nodes, height: h, used: self.used, zero: self.zero })
    }

    /// Indices of level `l` (1..=height) in `nodes`.
    fn level(&self, l: usize) -> Range<usize> {
        level_range(self.height, l)
    }

    /// Hashes the first `len` leaves into every stored level. Used once at genesis, on an
    /// empty tree.
    pub fn rebuild<H: Hasher + ?Sized>(
        &mut self,
        leaves: &[Leaf],
        len: usize,
        hasher: &mut H,
        scratch: &mut HashScratch<'_>,
    ) {
        let (h, len) = (self.height, len.min(leaves.len()));
        // Only the leaves in use: the rest of the memory may hold anything.
        let leaves = &leaves[..len];
        self.used = len;
        let nodes = &*Slot::from_mut_slice(self.nodes);
        let mut count = len;
        for l in 1..=h {
            count = count.div_ceil(ARITY);
            hash_level(h, l, nodes, leaves, &self.zero, count, |i| i, hasher, scratch);
        }
    }

    /// The stored nodes.
    #[cfg(test)]
    pub(crate) fn nodes(&self) -> &[Hash32] {
        self.nodes
    }

    /// The root of the full depth-[`DEPTH`] tree.
    pub fn root<H: Hasher + ?Sized>(&self, hasher: &mut H) -> Hash32 {
        let h = self.height;
        let top =
            if in_use(h, 0, self.used) { self.nodes[self.level(h).start] } else { self.zero[h] };
        fold_root(&top, h, &self.zero, hasher)
    }

    /// Splits the rehashing of `dirty` (indices into `leaves`, the leaves in use, sorted
    /// ascending, deduplicated; used as working space) into `parts` parts (at most
    /// [`MAX_PARTS`]). `root` receives the new root in [`TreeJob::finish`].
    ///
    /// Leaves come into use only written: every leaf past those in use at the last job
    /// (or rebuild) must be in `dirty`, else the root reads nodes never written (see
    /// "Layout" in the module docs; checked in debug builds).
    pub fn job<'t>(
        &'t mut self,
        leaves: &'t [Leaf],
        dirty: &'t mut [u32],
        parts: usize,
        root: &'t mut Hash32,
    ) -> TreeJob<'t> {
        let h = self.height;
        debug_assert!(
            {
                let new = &dirty[dirty.partition_point(|&d| (d as usize) < self.used)..];
                new.len() == leaves.len().saturating_sub(self.used)
                    && new.iter().zip(self.used..).all(|(&d, i)| d as usize == i)
            },
            "every new leaf is written"
        );
        self.used = leaves.len();
        let parts = parts.clamp(1, MAX_PARTS);
        // The split level: as high as leaves at least 16 subtrees per part under the
        // leaves in use (a state's capacity is often far above its size, and the leaves
        // in use are the first ones).
        let used = height_for(leaves.len()).min(h);
        let mut split = used;
        while split > 1 && (1usize << (2 * (used - split))) < 16 * parts {
            split -= 1;
        }
        let d = dirty.len();
        let mut ranges = [0u32; MAX_PARTS + 1];
        let shift = 2 * split as u32;
        for (p, start) in ranges.iter_mut().enumerate().take(parts).skip(1) {
            // Part p starts at the subtree of its share's first written leaf.
            let first = (p * d / parts).min(d.saturating_sub(1));
            let bound = dirty.get(first).map_or(0, |leaf| leaf >> shift);
            *start = dirty.partition_point(|leaf| leaf >> shift < bound) as u32;
        }
        ranges[parts] = d as u32;
        TreeJob {
            nodes: Slot::from_mut_slice(self.nodes),
            leaves,
            dirty: Slot::from_mut_slice(dirty),
            zero: &self.zero,
            height: h,
            split,
            parts,
            ranges,
            counts: [const { Slot::new(0u32) }; MAX_PARTS],
            root,
        }
    }
}

/// Indices of level `l` (1..=h) of a tree of `h` stored levels: level 1 first.
fn level_range(h: usize, l: usize) -> Range<usize> {
    // Levels below l hold 4^(h-1) + ... + 4^(h-l+1) nodes.
    let size = |j: usize| 1usize << (2 * (h - j));
    let start: usize = (1..l).map(size).sum();
    start..start + size(l)
}

/// Node `i` of level `l`, stored from `nodes[start]`, of a tree whose first `used` leaves
/// are in use: as stored if it covers one of them, else the empty subtree `zero[l]` (see
/// "Layout" in the module docs).
#[inline]
fn node(
    nodes: &[Slot<Hash32>],
    start: usize,
    l: usize,
    i: usize,
    used: usize,
    zero: &[Hash32; DEPTH + 1],
) -> Hash32 {
    if in_use(l, i, used) {
        nodes[start + i].get()
    } else {
        zero[l]
    }
}

/// Whether node `i` of level `l` covers one of the first `used` leaves.
#[inline]
fn in_use(l: usize, i: usize, used: usize) -> bool {
    // i < 4^(h - l) for a stored node, so i * 4^l < 4^h <= 2^32.
    ((i as u64) << (2 * l)) < used as u64
}

/// Folds the top stored node (level `h`) up to [`DEPTH`] with empty siblings.
fn fold_root<H: Hasher + ?Sized>(
    top: &Hash32,
    h: usize,
    zero: &[Hash32; DEPTH + 1],
    hasher: &mut H,
) -> Hash32 {
    let mut node = *top;
    for z in &zero[h..DEPTH] {
        node = hash_node(hasher, [&node, z, z, z]);
    }
    node
}

/// Rehashes `count` nodes of level `l`, the `parent(i)`-th for `i < count`, from their
/// children (leaf records at level 1, level `l - 1` nodes above), `leaves` being the
/// leaves in use. Caller: no one else accesses these nodes or their children now (see
/// `TreeJob`).
#[allow(clippy::too_many_arguments)]
fn hash_level<H: Hasher + ?Sized>(
    h: usize,
    l: usize,
    nodes: &[Slot<Hash32>],
    leaves: &[Leaf],
    zero: &[Hash32; DEPTH + 1],
    count: usize,
    parent: impl Fn(usize) -> usize,
    hasher: &mut H,
    scratch: &mut HashScratch<'_>,
) {
    let at = level_range(h, l).start;
    let store = |i: usize, d: &Hash32| nodes[at + parent(i)].set(*d);
    if l == 1 {
        let fill = |i: usize, m: &mut [u8]| {
            let first = ARITY * parent(i);
            for (c, out) in m.chunks_exact_mut(LEAF_LEN).enumerate() {
                leaves.get(first + c).unwrap_or(&Leaf::EMPTY).encode(out);
            }
        };
        scratch.run(hasher, count, LEAF_GROUP_LEN, fill, store);
    } else {
        let (used, below) = (leaves.len(), level_range(h, l - 1).start);
        let fill = |i: usize, m: &mut [u8]| {
            let first = ARITY * parent(i);
            for (c, out) in m.chunks_exact_mut(32).enumerate() {
                out.copy_from_slice(&node(nodes, below, l - 1, first + c, used, zero));
            }
        };
        scratch.run(hasher, count, NODE_MSG_LEN, fill, store);
    }
}

/// Replaces the first `count` entries of `d` (node indices, sorted) by their parents,
/// deduplicated; returns how many. Caller: the only accessor of `d`.
fn to_parents(d: &[Slot<u32>], count: usize) -> usize {
    let mut w = 0;
    for r in 0..count {
        let p = d[r].get() >> 2;
        if w == 0 || d[w - 1].get() != p {
            d[w].set(p);
            w += 1;
        }
    }
    w
}

/// The state tree's share of one block's commitment, in parts (see the module docs).
/// Run every part once, on any threads ([`Self::run_part`]), then [`Self::finish`].
pub struct TreeJob<'t> {
    nodes: &'t mut [Slot<Hash32>],
    leaves: &'t [Leaf],
    dirty: &'t mut [Slot<u32>],
    zero: &'t [Hash32; DEPTH + 1],
    height: usize,
    /// Parts rehash levels `1..=split`.
    split: usize,
    parts: usize,
    /// Part `p` starts from the written leaves `dirty[ranges[p]..ranges[p + 1]]`.
    ranges: [u32; MAX_PARTS + 1],
    /// How many nodes of level `split` part `p` rehashed (at the start of its range).
    counts: [Slot<u32>; MAX_PARTS],
    root: &'t mut Hash32,
}

impl TreeJob<'_> {
    /// How many parts the job has.
    pub fn parts(&self) -> usize {
        self.parts
    }

    /// Rehashes part `p`'s subtrees at levels `1..=split`. Each part must run exactly
    /// once (any order, any threads) before [`Self::finish`]; an index out of range does
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
        let range = self.ranges[p] as usize..self.ranges[p + 1] as usize;
        // Part p reads and writes only its range of `dirty`, the nodes of its subtrees
        // and their leaves (module docs); `counts[p]` is its own.
        let d = &self.dirty[range];
        let mut count = d.len();
        for l in 1..=self.split {
            count = to_parents(d, count);
            let parent = |i: usize| d[i].get() as usize;
            let (nodes, leaves, zero) = (&*self.nodes, self.leaves, self.zero);
            hash_level(self.height, l, nodes, leaves, zero, count, parent, hasher, scratch);
        }
        self.counts[p].set(count as u32);
    }

    /// After every part ran (and the threads that ran them were joined): rehashes the
    /// levels above the split, stores the new root (in the state) and returns it.
    pub fn finish<H: Hasher + ?Sized>(
        self,
        hasher: &mut H,
        scratch: &mut HashScratch<'_>,
    ) -> Hash32 {
        let dirty = settled(self.dirty);
        // Gather the parts' level-`split` nodes at the front, in order (each part's
        // range starts at or after the gathered ones).
        let mut count = 0;
        for p in 0..self.parts {
            let start = self.ranges[p] as usize;
            let n = self.counts[p].get() as usize;
            dirty.copy_within(start..start + n, count);
            count += n;
        }
        let d = &*Slot::from_mut_slice(&mut dirty[..count]);
        for l in self.split + 1..=self.height {
            count = to_parents(d, count);
            let parent = |i: usize| d[i].get() as usize;
            let (nodes, leaves, zero) = (&*self.nodes, self.leaves, self.zero);
            hash_level(self.height, l, nodes, leaves, zero, count, parent, hasher, scratch);
        }
        let top = self.top();
        *self.root = fold_root(&top, self.height, self.zero, hasher);
        *self.root
    }
}

/// Where the state tree's top node stands while its levels go into one batch: stored
/// (no written leaf reaches it yet) or the digest of a message of the batch.
#[derive(Clone, Copy)]
pub(crate) enum Top {
    Stored(Hash32),
    Msg(usize),
}

impl TreeJob<'_> {
    /// What [`Self::emit_level`] over every depth may take, at most.
    pub(crate) fn level_lengths(&self, lengths: &mut LevelLengths) {
        let mut count = self.dirty.len();
        for l in 1..=self.height {
            count = count.min(1 << (2 * (self.height - l)));
            let (len, links) = if l == 1 { (LEAF_GROUP_LEN, 0) } else { (NODE_MSG_LEN, ARITY) };
            lengths.add(count, len, links);
        }
        lengths.add(DEPTH - self.height, NODE_MSG_LEN, 1);
    }

    /// The top node as it is stored, before [`Self::emit_level`] begins.
    pub(crate) fn stored_top(&self) -> Top {
        Top::Stored(self.top())
    }

    /// The top node (level `height`), or the empty tree's while no leaf is in use.
    fn top(&self) -> Hash32 {
        let (h, used) = (self.height, self.leaves.len());
        node(self.nodes, level_range(h, h).start, h, 0, used, self.zero)
    }

    /// Emits the messages of level `depth + 1` into `b`: level 1 hashes the written leaves'
    /// groups of four; a level up to the stored height hashes the parents of the previous
    /// level's messages `prev`, linking them in and copying the other children from the
    /// stored nodes; above it, one node folds `top` with empty subtrees (as
    /// [`MerkleTree::root`] does), up to [`DEPTH`]. Returns this level's messages and
    /// keeps `top` on the newest top node.
    pub(crate) fn emit_level(
        &self,
        depth: usize,
        prev: Range<usize>,
        top: &mut Top,
        b: &mut LevelBuilder<'_, '_>,
    ) -> Range<usize> {
        let (h, l) = (self.height, depth + 1);
        let first = b.len();
        if l == 1 {
            let here = level_range(h, 1).start;
            let mut last = None;
            for leaf in self.dirty.iter().map(Slot::get) {
                let p = (leaf >> 2) as usize;
                if last == Some(p) {
                    continue;
                }
                last = Some(p);
                b.push(LEAF_GROUP_LEN, (here + p) as u32, |m| {
                    for (c, out) in m.chunks_exact_mut(LEAF_LEN).enumerate() {
                        self.leaves.get(ARITY * p + c).unwrap_or(&Leaf::EMPTY).encode(out);
                    }
                });
            }
        } else if l <= h {
            let (below, here) = (level_range(h, l - 1).start, level_range(h, l).start);
            let used = self.leaves.len();
            let mut last: Option<(usize, usize)> = None;
            for r in prev {
                let t = (b.node_of(r) as usize).wrapping_sub(below);
                let p = t >> 2;
                let at = match last {
                    Some((q, at)) if q == p => at,
                    _ => {
                        let (_, at) = b.push(NODE_MSG_LEN, (here + p) as u32, |m| {
                            for (c, out) in m.chunks_exact_mut(32).enumerate() {
                                let child = ARITY * p + c;
                                let (nodes, zero) = (&*self.nodes, self.zero);
                                let n = node(nodes, below, l - 1, child, used, zero);
                                out.copy_from_slice(&n);
                            }
                        });
                        last = Some((p, at));
                        at
                    }
                };
                b.link(at + 32 * (t & 3), r);
            }
        } else if l <= DEPTH {
            let z = self.zero[l - 1];
            let (_, at) = b.push(NODE_MSG_LEN, NO_NODE, |m| {
                let child = match *top {
                    Top::Stored(d) => d,
                    Top::Msg(_) => [0; 32],
                };
                m[..32].copy_from_slice(&child);
                m[32..].chunks_exact_mut(32).for_each(|c| c.copy_from_slice(&z));
            });
            if let Top::Msg(from) = *top {
                b.link(at, from);
            }
        }
        let emitted = first..b.len();
        if (l == h || l > h && l <= DEPTH) && !emitted.is_empty() {
            *top = Top::Msg(emitted.start);
        }
        emitted
    }

    /// After the batch was hashed: stores every rehashed node and the new root (in the
    /// state), and returns the root.
    pub(crate) fn finish_levels(self, top: Top, b: &LevelBuilder<'_, '_>) -> Hash32 {
        for (node, digest) in b.nodes().filter(|(n, _)| *n != NO_NODE) {
            if let Some(n) = self.nodes.get(node as usize) {
                n.set(*digest);
            }
        }
        *self.root = match top {
            Top::Stored(d) => d,
            Top::Msg(m) => b.digest(m),
        };
        *self.root
    }
}
