//! A block's whole commitment as one [`Levels`] batch, for hashers that run on a device
//! ([`Hasher::hash_levels`]): the state tree's written paths with the fold up to its
//! root, both list trees with their final hashes, and the header, each message in the
//! level of its depth, each digest it needs from an earlier level a [`Link`]. A device
//! then takes one upload, a kernel or two per level and one read-back per block, where
//! level-by-level batches took a round trip each.
//!
//! [`LevelBuilder`] writes the batch into caller memory ([`LevelMemory`]); the trees emit
//! their levels into it (`TreeJob::emit_level`, `ListLevels::emit`), depth by depth, and
//! [`crate::block::Commit::finish_levels`] drives them. A builder that runs out of memory
//! stops writing and says so; nothing else was changed, so the caller can hash the same
//! commitment the other way.
//!
//! [`Hasher::hash_levels`]: crate::hash::Hasher::hash_levels

use crate::hash::{LevelEnd, Levels, Link};
use crate::types::Hash32;

/// Most levels a commitment's batch has: the state tree's [`super::DEPTH`] levels, or a
/// list tree's [`super::LIST_DEPTH`] levels and its final hash, then the header.
pub const MAX_LEVELS: usize = super::LIST_DEPTH + 2;

/// A message's `node` entry when its digest replaces no state-tree node.
pub const NO_NODE: u32 = u32::MAX;

/// Caller memory for a commitment hashed as one batch: lengths from
/// [`crate::block::Commit::level_lengths`].
pub struct LevelMemory<'a> {
    /// The messages' bytes.
    pub data: &'a mut [u8],
    /// Per message: its end in `data`.
    pub ends: &'a mut [u32],
    /// Per message: the index of the state-tree node its digest replaces, or [`NO_NODE`].
    pub nodes: &'a mut [u32],
    /// Per message: its digest.
    pub digests: &'a mut [Hash32],
    /// The links.
    pub links: &'a mut [Link],
}

/// How much of each kind of [`LevelMemory`] a batch takes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LevelLengths {
    /// Message bytes (`data`).
    pub bytes: usize,
    /// Messages (`ends`, `nodes`, `digests`).
    pub msgs: usize,
    /// Links.
    pub links: usize,
}

impl LevelLengths {
    /// Adds `msgs` messages of at most `len` bytes with at most `links` links each.
    pub(crate) fn add(&mut self, msgs: usize, len: usize, links: usize) {
        self.msgs = self.msgs.saturating_add(msgs);
        self.bytes = self.bytes.saturating_add(msgs.saturating_mul(len));
        self.links = self.links.saturating_add(msgs.saturating_mul(links));
    }

    /// True when `mem` holds this much.
    pub fn fit(&self, mem: &LevelMemory<'_>) -> bool {
        mem.data.len() >= self.bytes
            && mem.ends.len() >= self.msgs
            && mem.nodes.len() >= self.msgs
            && mem.digests.len() >= self.msgs
            && mem.links.len() >= self.links
    }
}

/// Writes a [`Levels`] batch into a [`LevelMemory`], message by message and level by
/// level. Out of room, it stops writing and [`Self::overflowed`] says so.
pub(crate) struct LevelBuilder<'b, 'a> {
    mem: &'b mut LevelMemory<'a>,
    msgs: usize,
    bytes: usize,
    links: usize,
    levels: [LevelEnd; MAX_LEVELS],
    level_count: usize,
    overflowed: bool,
}

impl<'b, 'a> LevelBuilder<'b, 'a> {
    pub(crate) fn new(mem: &'b mut LevelMemory<'a>) -> Self {
        Self {
            mem,
            msgs: 0,
            bytes: 0,
            links: 0,
            levels: [LevelEnd::default(); MAX_LEVELS],
            level_count: 0,
            overflowed: false,
        }
    }

    /// Messages so far: the next message's index.
    pub(crate) fn len(&self) -> usize {
        self.msgs
    }

    /// The `node` entry of message `m` (a message of an earlier level of this batch).
    pub(crate) fn node_of(&self, m: usize) -> u32 {
        self.mem.nodes.get(m).copied().unwrap_or(NO_NODE)
    }

    /// Appends a message of `len` bytes, written by `fill`, whose digest replaces
    /// state-tree node `node` (or [`NO_NODE`]). Returns its index and the offset of its
    /// first byte in the batch (for [`Self::link`]).
    pub(crate) fn push(
        &mut self,
        len: usize,
        node: u32,
        fill: impl FnOnce(&mut [u8]),
    ) -> (usize, usize) {
        let (m, at) = (self.msgs, self.bytes);
        let end = at + len;
        let (Some(buf), Some(e), Some(n)) =
            (self.mem.data.get_mut(at..end), self.mem.ends.get_mut(m), self.mem.nodes.get_mut(m))
        else {
            self.overflowed = true;
            return (m, at);
        };
        fill(buf);
        *e = end as u32;
        *n = node;
        self.msgs += 1;
        self.bytes = end;
        (m, at)
    }

    /// Copies message `from`'s digest to byte `at` of the batch before the current
    /// level is hashed.
    pub(crate) fn link(&mut self, at: usize, from: usize) {
        match self.mem.links.get_mut(self.links) {
            Some(l) => {
                *l = Link { at: at as u32, from: from as u32 };
                self.links += 1;
            }
            None => self.overflowed = true,
        }
    }

    /// Closes the current level (an empty one is dropped).
    pub(crate) fn end_level(&mut self) {
        let end = LevelEnd { msgs: self.msgs as u32, links: self.links as u32 };
        let last = self.level_count.checked_sub(1).map(|l| self.levels[l]);
        if last == Some(end) || (last.is_none() && self.msgs == 0) {
            return;
        }
        match self.levels.get_mut(self.level_count) {
            Some(l) => {
                *l = end;
                self.level_count += 1;
            }
            None => self.overflowed = true,
        }
    }

    /// True when something did not fit: the batch is incomplete.
    pub(crate) fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Hashes the batch: `hash` gets it and the digests, one per message.
    pub(crate) fn hash(&mut self, hash: impl FnOnce(Levels<'_>, &mut [Hash32])) {
        let mem = &mut *self.mem;
        let batch = Levels {
            data: &mut mem.data[..self.bytes],
            ends: &mem.ends[..self.msgs],
            levels: &self.levels[..self.level_count],
            links: &mem.links[..self.links],
        };
        hash(batch, &mut mem.digests[..self.msgs]);
    }

    /// Message `m`'s digest, once hashed.
    pub(crate) fn digest(&self, m: usize) -> Hash32 {
        self.mem.digests.get(m).copied().unwrap_or_default()
    }

    /// Every message's state-tree node and digest (after [`Self::hash`]).
    pub(crate) fn nodes(&self) -> impl Iterator<Item = (u32, &Hash32)> {
        self.mem.nodes[..self.msgs].iter().copied().zip(&self.mem.digests[..self.msgs])
    }
}
