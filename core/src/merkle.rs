//! Binary Keccak-256 Merkle trees, hashed one level at a time through the [`Hasher`] hook.
//!
//! Two shapes, both described in `docs/semantics.md` ("Commitment layout"):
//!
//! * [`MerkleTree`]: the state tree. A fixed-depth ([`DEPTH`] = 32) tree whose leaf `i`
//!   is the `i`-th state entry in insertion order. Only the leftmost `P` leaves (a power
//!   of two ≥ the state's capacity) are stored, in heap order (`nodes[1]` covers them,
//!   leaf `i` is `nodes[P + i]`); the rest of the tree is empty and folds in as the
//!   precomputed empty-subtree digests `zero[l]`. The root therefore does not depend on
//!   how much memory the caller gave: an appliance and a server agree.
//!   Updates rehash only the touched leaves and their paths.
//! * [`list_root`]: roots over a block's transaction and receipt digests.
//!
//! An empty leaf is 32 zero bytes; `zero[l + 1] = keccak(zero[l] || zero[l])`.

use core::cell::Cell;

use crate::hash::Hasher;
use crate::types::Hash32;

/// Depth of the state tree: up to 2^32 leaves.
pub const DEPTH: usize = 32;

/// Caller-provided buffers for hashing in batches. Larger buffers mean larger (and, on an
/// accelerator, faster) batches; any non-zero size works.
pub struct HashScratch<'a> {
    /// Message bytes of one batch: at least 64 bytes (one node pair).
    pub msgs: &'a mut [u8],
    /// Digests of one batch: at least 1.
    pub digests: &'a mut [Hash32],
    /// Message ends of one variable-length batch: at least 1.
    pub ends: &'a mut [u32],
}

impl HashScratch<'_> {
    /// How many messages of `msg_len` bytes fit in one batch.
    fn batch(&self, msg_len: usize) -> usize {
        let by_bytes = self.msgs.len().checked_div(msg_len).unwrap_or(usize::MAX);
        by_bytes.min(self.digests.len())
    }

    /// Hashes `count` messages of `msg_len` bytes, produced by `fill(i, buf)`, handing each
    /// digest to `take(i, digest)`, in batches as large as the scratch allows.
    pub(crate) fn run<H: Hasher + ?Sized>(
        &mut self,
        hasher: &mut H,
        count: usize,
        msg_len: usize,
        mut fill: impl FnMut(usize, &mut [u8]),
        mut take: impl FnMut(usize, &Hash32),
    ) {
        let batch = self.batch(msg_len).max(1);
        let mut done = 0;
        while done < count {
            let n = batch.min(count - done);
            let msgs = &mut self.msgs[..n * msg_len];
            for (j, m) in msgs.chunks_exact_mut(msg_len.max(1)).enumerate().take(n) {
                fill(done + j, m);
            }
            let digests = &mut self.digests[..n];
            hasher.hash_fixed(msgs, msg_len, digests);
            for (j, d) in digests.iter().enumerate() {
                take(done + j, d);
            }
            done += n;
        }
    }

    /// Hashes `count` variable-length messages: `fill(i, buf)` writes message `i` into
    /// `buf` (at least `max_len` bytes) and returns its length; digests go to `take`.
    pub(crate) fn run_var<H: Hasher + ?Sized>(
        &mut self,
        hasher: &mut H,
        count: usize,
        max_len: usize,
        mut fill: impl FnMut(usize, &mut [u8]) -> usize,
        mut take: impl FnMut(usize, &Hash32),
    ) {
        let batch =
            (self.msgs.len() / max_len.max(1)).min(self.digests.len()).min(self.ends.len()).max(1);
        let mut done = 0;
        while done < count {
            let n = batch.min(count - done);
            let mut pos = 0usize;
            for j in 0..n {
                let Some(buf) = self.msgs.get_mut(pos..pos + max_len) else { return };
                pos += fill(done + j, buf).min(max_len);
                self.ends[j] = pos as u32;
            }
            let digests = &mut self.digests[..n];
            hasher.hash_var(&self.msgs[..pos], &self.ends[..n], digests);
            for (j, d) in digests.iter().enumerate() {
                take(done + j, d);
            }
            done += n;
        }
    }

    /// True when the scratch can hold at least one node pair and one transaction.
    pub fn is_usable(&self) -> bool {
        self.msgs.len() >= crate::tx::MAX_ENCODED_LEN.max(64)
            && !self.digests.is_empty()
            && !self.ends.is_empty()
    }

    /// Lengths `(msgs, digests, ends)` for batches of `batch` messages.
    pub const fn lengths(batch: usize) -> (usize, usize, usize) {
        let b = if batch == 0 { 1 } else { batch };
        (b * crate::tx::MAX_ENCODED_LEN, b, b)
    }
}

/// Digests of empty subtrees: `zero[0]` is the empty leaf, `zero[DEPTH]` the empty root.
pub fn zero_hashes<H: Hasher + ?Sized>(hasher: &mut H) -> [Hash32; DEPTH + 1] {
    let mut zero = [[0u8; 32]; DEPTH + 1];
    for l in 0..DEPTH {
        let mut pair = [0u8; 64];
        pair[..32].copy_from_slice(&zero[l]);
        pair[32..].copy_from_slice(&zero[l]);
        let mut out = [[0u8; 32]; 1];
        hasher.hash_fixed(&pair, 64, &mut out);
        zero[l + 1] = out[0];
    }
    zero
}

/// The state tree over caller memory (see the module docs for the layout).
pub struct MerkleTree<'a> {
    nodes: &'a mut [Hash32],
    /// Stored leaves `P` (a power of two).
    width: usize,
    /// log2(width).
    height: usize,
    zero: [Hash32; DEPTH + 1],
}

impl<'a> MerkleTree<'a> {
    /// Nodes needed to store a tree over `capacity` leaves.
    pub const fn nodes_needed(capacity: usize) -> usize {
        2 * capacity.next_power_of_two()
    }

    /// Wraps `nodes` (at least [`Self::nodes_needed`]`(capacity)` long) as an empty tree.
    /// Returns `None` when `nodes` is too short or `capacity` exceeds 2^32.
    pub fn new<H: Hasher + ?Sized>(
        nodes: &'a mut [Hash32],
        capacity: usize,
        hasher: &mut H,
    ) -> Option<Self> {
        let width = capacity.max(1).checked_next_power_of_two()?;
        if nodes.len() < 2 * width || width.trailing_zeros() as usize > DEPTH {
            return None;
        }
        let height = width.trailing_zeros() as usize;
        let zero = zero_hashes(hasher);
        let tree = Self { nodes, width, height, zero };
        // Every stored node starts as the empty subtree of its level.
        for l in 0..=height {
            let (lo, hi) = tree.level_range(l);
            let z = tree.zero[l];
            tree.nodes[lo..hi].iter_mut().for_each(|n| *n = z);
        }
        Some(tree)
    }

    /// Indices of level `l` (0 = leaves) in `nodes`.
    fn level_range(&self, l: usize) -> (usize, usize) {
        let lo = self.width >> l;
        (lo, 2 * lo)
    }

    /// Recomputes every stored node from the first `len` leaves, whose 25-byte leaf
    /// messages `leaf(i, buf)` writes. Used once at genesis.
    pub fn rebuild<H: Hasher + ?Sized>(
        &mut self,
        len: usize,
        hasher: &mut H,
        scratch: &mut HashScratch<'_>,
        mut leaf: impl FnMut(usize, &mut [u8]),
    ) {
        let len = len.min(self.width);
        let base = self.width;
        let nodes = &mut *self.nodes;
        scratch.run(hasher, len, LEAF_MSG_LEN, &mut leaf, |i, d| nodes[base + i] = *d);
        let mut count = len;
        for l in 1..=self.height {
            count = count.div_ceil(2);
            let lo = self.width >> l;
            let cells = Cell::from_mut(&mut *self.nodes).as_slice_of_cells();
            // Reads level l - 1 and writes level l: disjoint index ranges.
            scratch.run(
                hasher,
                count,
                64,
                |i, m| {
                    let c = 2 * (lo + i);
                    m[..32].copy_from_slice(&cells[c].get());
                    m[32..].copy_from_slice(&cells[c + 1].get());
                },
                |i, d| cells[lo + i].set(*d),
            );
        }
    }

    /// Rehashes the leaves in `dirty` (sorted ascending, deduplicated, each `< width`) and
    /// their paths. `dirty` is used as working space and left holding garbage.
    pub fn update<H: Hasher + ?Sized>(
        &mut self,
        dirty: &mut [u32],
        hasher: &mut H,
        scratch: &mut HashScratch<'_>,
        mut leaf: impl FnMut(usize, &mut [u8]),
    ) {
        let mut count = dirty.len();
        {
            let base = self.width;
            let nodes = &mut *self.nodes;
            let d = &*dirty;
            scratch.run(
                hasher,
                count,
                LEAF_MSG_LEN,
                |i, m| leaf(d[i] as usize, m),
                |i, h| nodes[base + d[i] as usize] = *h,
            );
        }
        for l in 1..=self.height {
            // Parents of the dirty nodes of level l - 1, deduplicated; order is kept.
            let mut w = 0;
            for r in 0..count {
                let p = dirty[r] >> 1;
                if w == 0 || dirty[w - 1] != p {
                    dirty[w] = p;
                    w += 1;
                }
            }
            count = w;
            let lo = self.width >> l;
            let cells = Cell::from_mut(&mut *self.nodes).as_slice_of_cells();
            let d = &dirty[..count];
            scratch.run(
                hasher,
                count,
                64,
                |i, m| {
                    let c = 2 * (lo + d[i] as usize);
                    m[..32].copy_from_slice(&cells[c].get());
                    m[32..].copy_from_slice(&cells[c + 1].get());
                },
                |i, h| cells[lo + d[i] as usize].set(*h),
            );
        }
    }

    /// The root of the full depth-[`DEPTH`] tree.
    pub fn root<H: Hasher + ?Sized>(&self, hasher: &mut H) -> Hash32 {
        let mut h = self.nodes[1];
        for l in self.height..DEPTH {
            let mut pair = [0u8; 64];
            pair[..32].copy_from_slice(&h);
            pair[32..].copy_from_slice(&self.zero[l]);
            let mut out = [[0u8; 32]; 1];
            hasher.hash_fixed(&pair, 64, &mut out);
            h = out[0];
        }
        h
    }
}

/// Length of a state leaf message: key (17 bytes) followed by the value (8 bytes LE).
pub const LEAF_MSG_LEN: usize = 25;

/// Root over a list of digests (a block's transactions or receipts): a binary tree whose
/// odd node at any level pairs with the empty subtree digest of that level, then
/// `keccak(tree_root || count as u64 LE)`. `hashes` is overwritten.
pub fn list_root<H: Hasher + ?Sized>(
    hashes: &mut [Hash32],
    hasher: &mut H,
    scratch: &mut HashScratch<'_>,
) -> Hash32 {
    let total = hashes.len();
    let zero = zero_hashes(hasher);
    let mut count = total;
    let mut level = 0;
    while count > 1 {
        let parents = count.div_ceil(2);
        let cells = Cell::from_mut(&mut *hashes).as_slice_of_cells();
        let z = zero[level];
        scratch.run(
            hasher,
            parents,
            64,
            |i, m| {
                m[..32].copy_from_slice(&cells[2 * i].get());
                let right = if 2 * i + 1 < count { cells[2 * i + 1].get() } else { z };
                m[32..].copy_from_slice(&right);
            },
            // Parent i is written after every message of its batch was filled; it lands
            // at index i <= 2i, which no later batch reads.
            |i, d| cells[i].set(*d),
        );
        count = parents;
        level += 1;
    }
    let top = if total == 0 { zero[0] } else { hashes[0] };
    let mut msg = [0u8; 40];
    msg[..32].copy_from_slice(&top);
    msg[32..].copy_from_slice(&(total as u64).to_le_bytes());
    let mut out = [[0u8; 32]; 1];
    hasher.hash_fixed(&msg, 40, &mut out);
    out[0]
}
