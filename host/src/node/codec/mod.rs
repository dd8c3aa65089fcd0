//! The bytes of everything a node sends or keeps: consensus and liveness messages,
//! proposal parts, sync requests and responses, and the write-ahead log's entries
//! ([`ParexCodec`], the engine's `Codec<T>` for each), written out field by field in
//! one small binary format (`docs/node.md`, "Wire format").
//!
//! Every document starts with [`VERSION`]; integers are little-endian; a list or a byte
//! string is its `u32` length, then its items. Decoding trusts nothing: a length is
//! checked against the bytes left and a cap before anything is reserved, and any
//! mismatch is a [`CodecError`], never a panic (the engine drops what does not decode,
//! and a peer's bytes must not stop a node).
//!
//! This file has the reader, the writer and the engine's codec; `messages.rs` has each
//! type's form.

use std::fmt;

use bytes::Bytes;
use malachitebft_app_channel::app::consensus::LivenessMsg;
use malachitebft_app_channel::app::streaming::StreamMessage;
use malachitebft_app_channel::app::types::codec::{Codec, HasEncodedLen};
use malachitebft_app_channel::app::types::core::{
    ExtendedCommitCertificate, PolkaCertificate, ValidatorProof,
};
use malachitebft_app_channel::app::types::sync::{Request, Response, Status};
use malachitebft_app_channel::app::types::{ProposedValue, SignedConsensusMsg};

use super::types::{ParexContext, ProposalPart};

mod messages;
#[cfg(test)]
mod tests;

pub use messages::{MAX_BLOCK_BYTES, MAX_PART_BYTES};

/// The format's version: the first byte of every document.
pub const VERSION: u8 = 1;

/// Most items a decoded list may have (signatures, synced blocks).
const MAX_ITEMS: usize = 1 << 16;

/// Bytes that do not decode: what was expected, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodecError(pub String);

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CodecError {}

/// Bytes being written.
#[derive(Default)]
pub struct Writer(pub Vec<u8>);

impl Writer {
    /// A writer that starts with [`VERSION`].
    pub fn versioned() -> Self {
        Self(vec![VERSION])
    }

    /// One byte.
    pub fn u8(&mut self, v: u8) {
        self.0.push(v);
    }

    /// A `u32`, little-endian.
    pub fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    /// A `u64`, little-endian.
    pub fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    /// Bytes of a length both sides know.
    pub fn fixed(&mut self, v: &[u8]) {
        self.0.extend_from_slice(v);
    }

    /// A byte string: its length, then its bytes.
    pub fn bytes(&mut self, v: &[u8]) {
        self.len(v.len());
        self.0.extend_from_slice(v);
    }

    /// A list's length.
    pub fn len(&mut self, n: usize) {
        // Nothing a node writes comes near 4 GiB; saturate rather than wrap.
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }
}

/// Bytes being read; every read checks what is left.
pub struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// A reader of `bytes` (no version byte expected).
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    /// A reader of a document: its first byte must be [`VERSION`].
    pub fn versioned(bytes: &'a [u8]) -> Result<Self, CodecError> {
        let mut r = Self::new(bytes);
        match r.u8()? {
            VERSION => Ok(r),
            v => Err(CodecError(format!("format version {v}, expected {VERSION}"))),
        }
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| {
            CodecError(format!("{n} bytes wanted at {}, {} left", self.at, self.left()))
        })?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    /// Bytes not read yet.
    pub fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }

    /// A `u32`.
    pub fn u32(&mut self) -> Result<u32, CodecError> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(b))
    }

    /// A `u64`.
    pub fn u64(&mut self) -> Result<u64, CodecError> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }

    /// `N` bytes.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let mut b = [0u8; N];
        b.copy_from_slice(self.take(N)?);
        Ok(b)
    }

    /// A byte string of at most `max` bytes.
    pub fn bytes(&mut self, max: usize) -> Result<&'a [u8], CodecError> {
        let n = self.u32()? as usize;
        if n > max {
            return Err(CodecError(format!("a byte string of {n} bytes, at most {max}")));
        }
        self.take(n)
    }

    /// A list's length: at most [`MAX_ITEMS`], and at most one item per `min_item`
    /// bytes left (so a forged length reserves nothing).
    pub fn len(&mut self, min_item: usize) -> Result<usize, CodecError> {
        let n = self.u32()? as usize;
        if n > MAX_ITEMS || n.saturating_mul(min_item.max(1)) > self.left() {
            return Err(CodecError(format!("a list of {n} items in {} bytes", self.left())));
        }
        Ok(n)
    }

    /// Nothing may follow the document.
    pub fn end(&self) -> Result<(), CodecError> {
        match self.left() {
            0 => Ok(()),
            n => Err(CodecError(format!("{n} bytes after the end"))),
        }
    }
}

/// What can be written to and read from the format.
pub trait Wire: Sized {
    /// Appends `self`.
    fn put(&self, w: &mut Writer);
    /// Reads one.
    fn get(r: &mut Reader<'_>) -> Result<Self, CodecError>;
}

/// A whole document: [`VERSION`], then `v`.
pub fn encode<T: Wire>(v: &T) -> Bytes {
    let mut w = Writer::versioned();
    v.put(&mut w);
    Bytes::from(w.0)
}

/// The document `bytes`: [`VERSION`], then one `T` and nothing after it.
pub fn decode<T: Wire>(bytes: &[u8]) -> Result<T, CodecError> {
    let mut r = Reader::versioned(bytes)?;
    let v = T::get(&mut r)?;
    r.end()?;
    Ok(v)
}

fn list<T: Wire>(w: &mut Writer, items: &[T]) {
    w.len(items.len());
    items.iter().for_each(|i| i.put(w));
}

fn get_list<T: Wire>(r: &mut Reader<'_>, min_item: usize) -> Result<Vec<T>, CodecError> {
    let n = r.len(min_item)?;
    (0..n).map(|_| T::get(r)).collect()
}

fn bad<T>(what: &str, tag: u8) -> Result<T, CodecError> {
    Err(CodecError(format!("{what}: unknown tag {tag}")))
}

/// The engine's codec for every type it sends, syncs or logs: [`encode`] and
/// [`decode`] of the type's [`Wire`] form.
#[derive(Clone, Copy, Debug, Default)]
pub struct ParexCodec;

macro_rules! codec_for {
    ($($t:ty),* $(,)?) => {$(
        impl Codec<$t> for ParexCodec {
            type Error = CodecError;

            fn decode(&self, bytes: Bytes) -> Result<$t, CodecError> {
                decode(&bytes)
            }

            fn encode(&self, msg: &$t) -> Result<Bytes, CodecError> {
                Ok(encode(msg))
            }
        }
    )*};
}

codec_for!(
    ProposalPart,
    SignedConsensusMsg<ParexContext>,
    LivenessMsg<ParexContext>,
    StreamMessage<ProposalPart>,
    ValidatorProof<ParexContext>,
    Status<ParexContext>,
    Request<ParexContext>,
    Response<ParexContext>,
    ProposedValue<ParexContext>,
    PolkaCertificate<ParexContext>,
    ExtendedCommitCertificate<ParexContext>,
);

impl HasEncodedLen<Response<ParexContext>> for ParexCodec {
    fn encoded_len(&self, msg: &Response<ParexContext>) -> Result<usize, CodecError> {
        Ok(encode(msg).len())
    }
}
