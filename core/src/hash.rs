//! The hash hook: every digest of the state commitment, transaction and receipt roots
//! and the block hash is computed through a [`Hasher`], in whole batches (one Merkle
//! level, all leaves of a block, all transactions of a block), so an appliance can plug
//! in a hardware Keccak engine and the host an OpenCL device (`parex-offload`).
//!
//! All digests are Keccak-256 with the original Keccak padding (`0x01`, rate 136 bytes),
//! as Ethereum uses; [`KeccakHasher`] is the default, built on `tiny-keccak`.
//! The VM's `KECCAK` opcodes hash single small messages inline with [`keccak256`]:
//! they are part of a transaction's execution, not of the commitment.

use crate::types::Hash32;
use tiny_keccak::{Hasher as _, Keccak};

/// A batch Keccak-256 engine.
///
/// Implementations must be byte-exact with [`keccak256`] for every message. They are
/// infallible by contract: a device backend that fails must fall back (for example to
/// the CPU) rather than return a partial batch, because the core has already committed
/// to the batch when it asks. The core always passes consistent lengths; an
/// implementation given inconsistent ones hashes as many whole messages as fit and
/// leaves the remaining outputs untouched (it must not panic).
pub trait Hasher {
    /// Hashes `out.len()` messages of `msg_len` bytes each, laid end to end in `data`
    /// (`data.len() == msg_len * out.len()`). `msg_len` may be 0.
    fn hash_fixed(&mut self, data: &[u8], msg_len: usize, out: &mut [Hash32]);

    /// Hashes variable-length messages: message `i` is `data[ends[i - 1]..ends[i]]`
    /// (with `ends[-1] = 0`), `ends` non-decreasing, `ends.len() == out.len()`.
    fn hash_var(&mut self, data: &[u8], ends: &[u32], out: &mut [Hash32]);

    /// True for a hasher that computes on the calling thread and keeps no state between
    /// batches (the CPU backends): a caller may then hash independent parts of a block's
    /// commitment on other threads with CPU hashers of its own, which give the same
    /// digests. False (the default) for a device, whose batches should all go to it.
    fn runs_on_cpu(&self) -> bool {
        false
    }

    /// Hashes a batch whose messages embed digests of earlier messages of the same batch
    /// (a Merkle tree's written paths up to its root, see [`Levels`]): digest `i` of
    /// `out` is message `i`'s, after its level's links were copied in. The default hashes
    /// level after level through [`Self::hash_var`] and [`Self::hash_fixed`]; a device
    /// overrides it to upload the batch once, run every level and read back once. A
    /// batch that [`Levels::is_valid`] rejects is left unhashed (`out` untouched).
    fn hash_levels(&mut self, batch: Levels<'_>, out: &mut [Hash32]) {
        hash_levels_in_turn(self, batch, out)
    }
}

/// A link of a [`Levels`] batch: before the level that holds byte `at` of the batch is
/// hashed, the digest of message `from` (of an earlier level) is copied to
/// `data[at..at + 32]`. `#[repr(C)]`: devices read it as two `u32`s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Link {
    /// Byte offset in the batch's data.
    pub at: u32,
    /// Index of the message whose digest is copied.
    pub from: u32,
}

/// Where a level of a [`Levels`] batch ends: its messages end before message `msgs`,
/// its links before link `links` (both counted from the start of the batch).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LevelEnd {
    /// One past the level's last message.
    pub msgs: u32,
    /// One past the level's last link.
    pub links: u32,
}

/// A batch of messages in levels, each level's messages embedding digests of earlier
/// levels' ([`Hasher::hash_levels`]). Messages lie end to end as in
/// [`Hasher::hash_var`]: message `i` is `data[ends[i - 1]..ends[i]]`. Level `k` holds the
/// messages and links from the previous level's [`LevelEnd`] (or 0) to its own.
#[derive(Debug)]
pub struct Levels<'a> {
    /// The messages, with room for the digests the links copy in.
    pub data: &'a mut [u8],
    /// Message ends, non-decreasing, at most `data.len()`.
    pub ends: &'a [u32],
    /// Level ends, non-decreasing, the last one covering every message and link.
    pub levels: &'a [LevelEnd],
    /// Links, in level order; within a level, in byte order and not overlapping.
    pub links: &'a [Link],
}

impl Levels<'_> {
    /// True when the batch is consistent (checked in one pass, so that an implementation
    /// may run it without bounds checks): ends and level ends non-decreasing and in
    /// range, the last level ending at the last message and link, and every link
    /// copying a message of an earlier level into 32 bytes of a message of its own,
    /// after the bytes of the level's previous link: a level's links never overlap, so a
    /// device may copy them all at once.
    pub fn is_valid(&self, out_len: usize) -> bool {
        let (n, data) = (self.ends.len(), self.data.len());
        let sorted = self.ends.windows(2).all(|w| w[0] <= w[1]);
        let last = self.levels.last().copied().unwrap_or_default();
        if !sorted
            || out_len < n
            || self.ends.last().is_some_and(|&e| e as usize > data)
            || last.msgs as usize != n
            || last.links as usize != self.links.len()
        {
            return false;
        }
        let mut start = LevelEnd::default();
        for end in self.levels {
            if end.msgs < start.msgs || end.links < start.links || end.msgs > last.msgs {
                return false;
            }
            let first_byte = match start.msgs {
                0 => 0,
                m => self.ends[m as usize - 1],
            } as u64;
            let end_byte = match end.msgs {
                0 => 0,
                m => self.ends[m as usize - 1],
            } as u64;
            let links = &self.links[start.links as usize..end.links as usize];
            // `free`: the first byte not yet written by this level's links.
            let mut free = first_byte;
            for l in links {
                let at = l.at as u64;
                if l.from >= start.msgs || at < free || at + 32 > end_byte {
                    return false;
                }
                free = at + 32;
            }
            start = *end;
        }
        true
    }
}

/// [`Hasher::hash_levels`]'s default: each level's links copied in, then its messages
/// hashed through `hasher`'s own batches (variable-length ones where the level starts at
/// byte 0, else runs of equal length).
pub fn hash_levels_in_turn<H: Hasher + ?Sized>(
    hasher: &mut H,
    batch: Levels<'_>,
    out: &mut [Hash32],
) {
    if !batch.is_valid(out.len()) {
        return;
    }
    let Levels { data, ends, levels, links } = batch;
    let start_of = |m: usize| if m == 0 { 0 } else { ends[m - 1] as usize };
    let mut start = LevelEnd::default();
    for end in levels {
        for l in &links[start.links as usize..end.links as usize] {
            let at = l.at as usize;
            data[at..at + 32].copy_from_slice(&out[l.from as usize]);
        }
        let (first, last) = (start.msgs as usize, end.msgs as usize);
        if first == 0 {
            hasher.hash_var(data, &ends[..last], &mut out[..last]);
        } else {
            // Runs of messages of one length, each one fixed batch.
            let mut m = first;
            while m < last {
                let len = ends[m] as usize - start_of(m);
                let mut k = m + 1;
                while k < last && ends[k] as usize - start_of(k) == len {
                    k += 1;
                }
                hasher.hash_fixed(&data[start_of(m)..start_of(k)], len, &mut out[m..k]);
                m = k;
            }
        }
        start = *end;
    }
}

impl<H: Hasher + ?Sized> Hasher for &mut H {
    fn hash_fixed(&mut self, data: &[u8], msg_len: usize, out: &mut [Hash32]) {
        (**self).hash_fixed(data, msg_len, out)
    }
    fn hash_var(&mut self, data: &[u8], ends: &[u32], out: &mut [Hash32]) {
        (**self).hash_var(data, ends, out)
    }
    fn runs_on_cpu(&self) -> bool {
        (**self).runs_on_cpu()
    }
    fn hash_levels(&mut self, batch: Levels<'_>, out: &mut [Hash32]) {
        (**self).hash_levels(batch, out)
    }
}

/// Keccak-256 of one message.
#[inline]
pub fn keccak256(data: &[u8]) -> Hash32 {
    let mut k = Keccak::v256();
    k.update(data);
    let mut out = [0u8; 32];
    k.finalize(&mut out);
    out
}

/// Bytes Keccak-256 absorbs per permutation (its rate).
pub const RATE: usize = 136;

/// Keccak-f\[1600\] permutations that hashing a message of `len` bytes costs (the
/// padding takes at least one byte, so 136 bytes take two).
pub const fn permutations(len: usize) -> u64 {
    (len / RATE + 1) as u64
}

/// A [`Hasher`] that passes every batch on to `inner` and counts the permutations it
/// costs (what `parex bench` reports per transaction).
#[derive(Clone, Copy, Debug, Default)]
pub struct Counting<H> {
    /// The hasher doing the work.
    pub inner: H,
    /// Permutations hashed so far.
    pub permutations: u64,
}

impl<H> Counting<H> {
    /// Counts from zero.
    pub const fn new(inner: H) -> Self {
        Self { inner, permutations: 0 }
    }
}

impl<H: Hasher> Hasher for Counting<H> {
    fn hash_fixed(&mut self, data: &[u8], msg_len: usize, out: &mut [Hash32]) {
        let n = data.len().checked_div(msg_len).map_or(out.len(), |n| n.min(out.len()));
        self.permutations += n as u64 * permutations(msg_len);
        self.inner.hash_fixed(data, msg_len, out)
    }

    fn hash_var(&mut self, data: &[u8], ends: &[u32], out: &mut [Hash32]) {
        let mut start = 0;
        for &end in ends.iter().take(out.len()) {
            self.permutations += permutations((end as usize).saturating_sub(start));
            start = end as usize;
        }
        self.inner.hash_var(data, ends, out)
    }

    fn runs_on_cpu(&self) -> bool {
        self.inner.runs_on_cpu()
    }

    fn hash_levels(&mut self, batch: Levels<'_>, out: &mut [Hash32]) {
        if batch.is_valid(out.len()) {
            let mut start = 0;
            for &end in batch.ends {
                self.permutations += permutations(end as usize - start);
                start = end as usize;
            }
        }
        self.inner.hash_levels(batch, out)
    }
}

/// The default [`Hasher`]: `tiny-keccak` on the calling core, one message after another.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeccakHasher;

impl Hasher for KeccakHasher {
    fn runs_on_cpu(&self) -> bool {
        true
    }

    fn hash_fixed(&mut self, data: &[u8], msg_len: usize, out: &mut [Hash32]) {
        if msg_len == 0 {
            let empty = keccak256(&[]);
            out.iter_mut().for_each(|o| *o = empty);
            return;
        }
        for (msg, o) in data.chunks_exact(msg_len).zip(out.iter_mut()) {
            *o = keccak256(msg);
        }
    }

    fn hash_var(&mut self, data: &[u8], ends: &[u32], out: &mut [Hash32]) {
        let mut start = 0usize;
        for (&end, o) in ends.iter().zip(out.iter_mut()) {
            let end = end as usize;
            match data.get(start..end) {
                Some(msg) => *o = keccak256(msg),
                None => return,
            }
            start = end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_message_digest() {
        // Keccak-256("") as published by the Keccak team (and used by Ethereum).
        let expect = [
            0xc5, 0xd2, 0x46, 0x01, 0x86, 0xf7, 0x23, 0x3c, 0x92, 0x7e, 0x7d, 0xb2, 0xdc, 0xc7,
            0x03, 0xc0, 0xe5, 0x00, 0xb6, 0x53, 0xca, 0x82, 0x27, 0x3b, 0x7b, 0xfa, 0xd8, 0x04,
            0x5d, 0x85, 0xa4, 0x70,
        ];
        assert_eq!(keccak256(&[]), expect);
        let mut out = [[0u8; 32]; 2];
        KeccakHasher.hash_fixed(&[], 0, &mut out);
        assert_eq!(out, [expect, expect]);
        KeccakHasher.hash_var(&[], &[0, 0], &mut out);
        assert_eq!(out, [expect, expect]);
    }

    /// Level ends past the batch, backwards, or a link out of its level: invalid, and
    /// the default leaves `out` untouched instead of panicking.
    #[test]
    fn bad_levels_are_refused() {
        let ends = [40u32, 80];
        let link = |at, from| Link { at, from };
        let end = |msgs, links| LevelEnd { msgs, links };
        let cases: [(&[LevelEnd], &[Link]); 7] = [
            (&[end(100, 0), end(2, 0)], &[]),
            (&[end(2, 0), end(1, 0), end(2, 0)], &[]),
            (&[end(1, 0), end(2, 1)], &[link(60, 1)]),
            (&[end(1, 0), end(2, 1)], &[link(20, 0)]),
            (&[end(1, 1), end(2, 1)], &[link(0, 0)]),
            // Overlapping, and out of byte order: a device copies a level's links at once.
            (&[end(1, 0), end(2, 2)], &[link(40, 0), link(41, 0)]),
            (&[end(1, 0), end(2, 2)], &[link(48, 0), link(40, 0)]),
        ];
        for (levels, links) in cases {
            let mut data = [7u8; 80];
            let mut out = [[1u8; 32]; 2];
            let batch = Levels { data: &mut data, ends: &ends, levels, links };
            assert!(!batch.is_valid(2), "{levels:?} {links:?}");
            KeccakHasher.hash_levels(batch, &mut out);
            assert_eq!(out, [[1u8; 32]; 2]);
        }
        let (mut data, mut out) = ([7u8; 80], [[0u8; 32]; 2]);
        let levels = [end(1, 0), end(2, 1)];
        let good = Levels { data: &mut data, ends: &ends, levels: &levels, links: &[link(48, 0)] };
        assert!(good.is_valid(2));
        KeccakHasher.hash_levels(good, &mut out);
        let mut second = [7u8; 40];
        second[8..].copy_from_slice(&keccak256(&[7u8; 40]));
        assert_eq!(out, [keccak256(&[7u8; 40]), keccak256(&second)]);
    }

    #[test]
    fn batch_matches_single() {
        let data: [u8; 12] = *b"abcdefghijkl";
        let mut out = [[0u8; 32]; 3];
        KeccakHasher.hash_fixed(&data, 4, &mut out);
        assert_eq!(out[1], keccak256(b"efgh"));
        KeccakHasher.hash_var(&data, &[1, 1, 12], &mut out);
        assert_eq!(out[0], keccak256(b"a"));
        assert_eq!(out[1], keccak256(b""));
        assert_eq!(out[2], keccak256(b"bcdefghijkl"));
        let mut counting = Counting::new(KeccakHasher);
        counting.hash_fixed(&[0; 270], 135, &mut out[..2]);
        counting.hash_var(&[0; 200], &[136, 200], &mut out[..2]);
        assert_eq!(counting.permutations, 2 + 2 + 1);
    }
}
