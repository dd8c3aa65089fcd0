//! Keccak-256 Merkle trees of arity four, hashed a level at a time through the
//! [`Hasher`] hook.
//!
//! Keccak-256 absorbs 136 bytes per permutation, so a node over four 32-byte children
//! (128 bytes) costs one permutation, like a node over two; a tree of arity four is half
//! as deep, so a written leaf rehashes half as many nodes. Two shapes, both described in
//! `docs/semantics.md` ("Commitment layout"):
//!
//! * [`MerkleTree`] (`tree.rs`): the state tree, of fixed depth [`DEPTH`] (4^16 = 2^32
//!   leaves). Its leaves are [`Leaf`] records (an account's words, or one storage word)
//!   of [`LEAF_LEN`] bytes, hashed four at a time into the first level of nodes (132
//!   bytes, one permutation): a leaf costs no permutation of its own. Only the leftmost
//!   `4^h` leaf positions (the fewest that hold the state's capacity) are stored; the
//!   rest of the tree is empty and folds in as precomputed empty-subtree digests, so the
//!   root does not depend on how much memory the caller gave. After a block, the
//!   written leaves' paths are rehashed, split among workers by subtree
//!   ([`TreeJob`]).
//! * [`list_root`] (`list.rs`): roots over a block's transaction and receipt digests,
//!   a tree of arity four too.

mod levels;
mod list;
mod tree;

pub(crate) use levels::LevelBuilder;
pub use levels::{LevelLengths, LevelMemory, MAX_LEVELS, NO_NODE};
pub(crate) use list::{finish_chunked, finish_list, reduce, ListLevels};
pub use list::{list_height, list_root, list_zeros, LIST_DEPTH};
pub(crate) use tree::Top;
pub use tree::{MerkleTree, TreeJob, MAX_PARTS};

use crate::hash::Hasher;
use crate::types::{Hash32, KeyKind};

/// Depth of the state tree, in levels of arity four: up to 4^16 = 2^32 leaves.
pub const DEPTH: usize = 16;
/// Children per node.
pub const ARITY: usize = 4;
/// Length of a leaf record's encoding ([`Leaf::encode`]).
pub const LEAF_LEN: usize = 33;
/// Length of a first-level node's message: four leaf records.
pub const LEAF_GROUP_LEN: usize = ARITY * LEAF_LEN;
/// Length of an inner node's message: four child digests.
pub const NODE_MSG_LEN: usize = ARITY * 32;

/// Tag of an account leaf; bits 0, 1 and 2 say which of its words exist (balance, nonce,
/// code hash).
const ACCOUNT: u8 = 0x10;
/// Tag of a storage leaf.
const STORAGE: u8 = 0x20;

/// One leaf of the state tree: the words of one account (balance, nonce, code hash) or
/// one contract storage word, with which of them exist (a word that was never written
/// differs from one written as 0). Encoded in [`LEAF_LEN`] bytes by [`Leaf::encode`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Leaf {
    tag: u8,
    addr: u64,
    /// Account: balance, nonce, code hash. Storage: slot, value, 0.
    words: [u64; 3],
}

impl Leaf {
    /// An empty leaf position (encodes as zero bytes).
    pub const EMPTY: Self = Self { tag: 0, addr: 0, words: [0; 3] };

    /// The leaf that holds `kind` of `addr` (before any word is set): an account's for
    /// balances, nonces and code hashes, a storage leaf for slot `slot` otherwise.
    pub const fn new(addr: u64, kind: KeyKind, slot: u64) -> Self {
        match kind {
            KeyKind::Storage => Self { tag: STORAGE, addr, words: [slot, 0, 0] },
            _ => Self { tag: ACCOUNT, addr, words: [0; 3] },
        }
    }

    /// Sets word `kind` (for an account leaf; a storage leaf has one word) to `value`.
    pub fn set(&mut self, kind: KeyKind, value: u64) {
        match kind {
            KeyKind::Storage => self.words[1] = value,
            KeyKind::Balance | KeyKind::Nonce | KeyKind::CodeHash => {
                let i = kind as usize;
                self.words[i] = value;
                self.tag |= 1 << i;
            }
        }
    }

    /// True for the record of an account (as opposed to a storage word or nothing).
    pub const fn is_account(&self) -> bool {
        self.tag & 0xf0 == ACCOUNT
    }

    /// The encoding: tag (1), address (8 LE), then three words (8 LE each): balance,
    /// nonce, code hash for an account (tag `0x10 | present`, bit 0 balance, 1 nonce, 2
    /// code hash); slot, value, 0 for storage (tag `0x20`); all zero when empty.
    #[inline]
    pub fn encode(&self, out: &mut [u8]) {
        out[0] = self.tag;
        out[1..9].copy_from_slice(&self.addr.to_le_bytes());
        for (w, o) in self.words.iter().zip(out[9..LEAF_LEN].chunks_exact_mut(8)) {
            o.copy_from_slice(&w.to_le_bytes());
        }
    }
}

impl Default for Leaf {
    fn default() -> Self {
        Self::EMPTY
    }
}

/// Caller-provided buffers for hashing in batches. Larger buffers mean larger (and, on an
/// accelerator, faster) batches; any non-zero size works.
pub struct HashScratch<'a> {
    /// Message bytes of one batch: at least [`crate::tx::MAX_ENCODED_LEN`] (one
    /// transaction; a node's message is shorter).
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

    /// True when the scratch can hold at least one transaction (and so any node).
    pub fn is_usable(&self) -> bool {
        self.msgs.len() >= crate::tx::MAX_ENCODED_LEN.max(LEAF_GROUP_LEN)
            && !self.digests.is_empty()
            && !self.ends.is_empty()
    }

    /// Lengths `(msgs, digests, ends)` for batches of `batch` messages.
    pub const fn lengths(batch: usize) -> (usize, usize, usize) {
        let b = if batch == 0 { 1 } else { batch };
        (b * crate::tx::MAX_ENCODED_LEN, b, b)
    }
}

/// Keccak-256 of one node over `children` (four digests; one permutation).
pub(crate) fn hash_node<H: Hasher + ?Sized>(hasher: &mut H, children: [&Hash32; ARITY]) -> Hash32 {
    let mut msg = [0u8; NODE_MSG_LEN];
    for (c, m) in children.iter().zip(msg.chunks_exact_mut(32)) {
        m.copy_from_slice(*c);
    }
    let mut out = [[0u8; 32]; 1];
    hasher.hash_fixed(&msg, NODE_MSG_LEN, &mut out);
    out[0]
}

#[cfg(test)]
pub(crate) mod tests;
