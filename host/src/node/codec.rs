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

use std::fmt;
use std::ops::RangeInclusive;

use bytes::Bytes;
use malachitebft_app_channel::app::consensus::LivenessMsg;
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::codec::{Codec, HasEncodedLen};
use malachitebft_app_channel::app::types::core::{
    ExtendedCommitCertificate, ExtendedCommitSignature, NilOrVal, PolkaCertificate, PolkaSignature,
    Round, RoundCertificate, RoundCertificateType, RoundSignature, SignedMessage, ValidatorProof,
    Validity, VoteType,
};
use malachitebft_app_channel::app::types::sync::{RawDecidedValue, Request, Response, Status};
use malachitebft_app_channel::app::types::{PeerId, ProposedValue, SignedConsensusMsg};
use malachitebft_sync::{ValueRequest, ValueResponse};
use parex_core::block::BlockHeader;
use parex_core::Address;

use super::types::{
    BlockId, BlockValue, Height, ParexContext, Proposal, ProposalPart, Signature, ValidatorAddress,
    Vote,
};

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

impl Wire for Height {
    fn put(&self, w: &mut Writer) {
        w.u64(self.0);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        r.u64().map(Height)
    }
}

impl Wire for Round {
    fn put(&self, w: &mut Writer) {
        w.u64(self.as_i64() as u64);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        match r.u64()? as i64 {
            -1 => Ok(Round::Nil),
            n => u32::try_from(n).map(Round::new).map_err(|_| CodecError(format!("round {n}"))),
        }
    }
}

impl Wire for ValidatorAddress {
    fn put(&self, w: &mut Writer) {
        w.fixed(&self.0);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        r.array().map(ValidatorAddress)
    }
}

impl Wire for BlockId {
    fn put(&self, w: &mut Writer) {
        w.fixed(&self.0);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        r.array().map(BlockId)
    }
}

impl Wire for Signature {
    fn put(&self, w: &mut Writer) {
        w.fixed(&self.to_bytes());
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        r.array().map(Signature::from_bytes)
    }
}

impl Wire for BlockHeader {
    fn put(&self, w: &mut Writer) {
        w.fixed(&self.encode());
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        let hash = |r: &mut Reader<'_>| r.array::<32>();
        Ok(BlockHeader {
            parent_hash: hash(r)?,
            number: r.u64()?,
            beneficiary: Address(r.u64()?),
            tx_root: hash(r)?,
            receipts_root: hash(r)?,
            state_root: hash(r)?,
            gas_used: r.u64()?,
            tx_count: r.u64()?,
        })
    }
}

impl Wire for BlockValue {
    fn put(&self, w: &mut Writer) {
        self.header.put(w);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        // The hash is the header's: recomputed, never trusted.
        BlockHeader::get(r).map(BlockValue::new)
    }
}

impl Wire for VoteType {
    fn put(&self, w: &mut Writer) {
        w.u8(match self {
            VoteType::Prevote => 0,
            VoteType::Precommit => 1,
        });
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        match r.u8()? {
            0 => Ok(VoteType::Prevote),
            1 => Ok(VoteType::Precommit),
            t => bad("vote type", t),
        }
    }
}

impl Wire for NilOrVal<BlockId> {
    fn put(&self, w: &mut Writer) {
        match self {
            NilOrVal::Nil => w.u8(0),
            NilOrVal::Val(id) => {
                w.u8(1);
                id.put(w);
            }
        }
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        match r.u8()? {
            0 => Ok(NilOrVal::Nil),
            1 => BlockId::get(r).map(NilOrVal::Val),
            t => bad("nil or value", t),
        }
    }
}

impl<T: Wire> Wire for Option<T> {
    fn put(&self, w: &mut Writer) {
        match self {
            None => w.u8(0),
            Some(v) => {
                w.u8(1);
                v.put(w);
            }
        }
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        match r.u8()? {
            0 => Ok(None),
            1 => T::get(r).map(Some),
            t => bad("option", t),
        }
    }
}

impl Wire for () {
    fn put(&self, _: &mut Writer) {}
    fn get(_: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(())
    }
}

impl<M: Wire> Wire for SignedMessage<ParexContext, M> {
    fn put(&self, w: &mut Writer) {
        self.message.put(w);
        self.signature.put(w);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(SignedMessage::new(M::get(r)?, Signature::get(r)?))
    }
}

impl Wire for Vote {
    fn put(&self, w: &mut Writer) {
        self.vote_type.put(w);
        self.height.put(w);
        self.round.put(w);
        self.value.put(w);
        self.validator.put(w);
        self.extension.put(w);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(Vote {
            vote_type: VoteType::get(r)?,
            height: Height::get(r)?,
            round: Round::get(r)?,
            value: NilOrVal::get(r)?,
            validator: ValidatorAddress::get(r)?,
            extension: Option::get(r)?,
        })
    }
}

impl Wire for Proposal {
    fn put(&self, w: &mut Writer) {
        self.height.put(w);
        self.round.put(w);
        self.value.put(w);
        self.pol_round.put(w);
        self.proposer.put(w);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(Proposal {
            height: Height::get(r)?,
            round: Round::get(r)?,
            value: BlockValue::get(r)?,
            pol_round: Round::get(r)?,
            proposer: ValidatorAddress::get(r)?,
        })
    }
}

/// Largest piece of a block in one proposal part.
pub const MAX_PART_BYTES: usize = 1 << 20;

impl Wire for ProposalPart {
    fn put(&self, w: &mut Writer) {
        match self {
            ProposalPart::Init { height, round, pol_round, proposer, value } => {
                w.u8(0);
                height.put(w);
                round.put(w);
                pol_round.put(w);
                proposer.put(w);
                value.put(w);
            }
            ProposalPart::Data(bytes) => {
                w.u8(1);
                w.bytes(bytes);
            }
            ProposalPart::Fin(signature) => {
                w.u8(2);
                signature.put(w);
            }
        }
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        match r.u8()? {
            0 => Ok(ProposalPart::Init {
                height: Height::get(r)?,
                round: Round::get(r)?,
                pol_round: Round::get(r)?,
                proposer: ValidatorAddress::get(r)?,
                value: BlockValue::get(r)?,
            }),
            1 => Ok(ProposalPart::Data(Bytes::copy_from_slice(r.bytes(MAX_PART_BYTES)?))),
            2 => Signature::get(r).map(ProposalPart::Fin),
            t => bad("proposal part", t),
        }
    }
}

impl Wire for SignedConsensusMsg<ParexContext> {
    fn put(&self, w: &mut Writer) {
        match self {
            SignedConsensusMsg::Vote(v) => {
                w.u8(0);
                v.put(w);
            }
            SignedConsensusMsg::Proposal(p) => {
                w.u8(1);
                p.put(w);
            }
        }
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        match r.u8()? {
            0 => SignedMessage::get(r).map(SignedConsensusMsg::Vote),
            1 => SignedMessage::get(r).map(SignedConsensusMsg::Proposal),
            t => bad("consensus message", t),
        }
    }
}

/// An address and a signature: the entries of polka and commit certificates.
const SIGNED_ENTRY: usize = 20 + 64;

impl Wire for PolkaSignature<ParexContext> {
    fn put(&self, w: &mut Writer) {
        self.address.put(w);
        self.signature.put(w);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(PolkaSignature::new(ValidatorAddress::get(r)?, Signature::get(r)?))
    }
}

impl Wire for PolkaCertificate<ParexContext> {
    fn put(&self, w: &mut Writer) {
        self.height.put(w);
        self.round.put(w);
        self.value_id.put(w);
        list(w, &self.polka_signatures);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(PolkaCertificate {
            height: Height::get(r)?,
            round: Round::get(r)?,
            value_id: BlockId::get(r)?,
            polka_signatures: get_list(r, SIGNED_ENTRY)?,
        })
    }
}

impl Wire for RoundSignature<ParexContext> {
    fn put(&self, w: &mut Writer) {
        self.vote_type.put(w);
        self.value_id.put(w);
        self.address.put(w);
        self.signature.put(w);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(RoundSignature::new(
            VoteType::get(r)?,
            NilOrVal::get(r)?,
            ValidatorAddress::get(r)?,
            Signature::get(r)?,
        ))
    }
}

impl Wire for RoundCertificate<ParexContext> {
    fn put(&self, w: &mut Writer) {
        self.height.put(w);
        self.round.put(w);
        w.u8(match self.cert_type {
            RoundCertificateType::Skip => 0,
            RoundCertificateType::Precommit => 1,
        });
        list(w, &self.round_signatures);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        let (height, round) = (Height::get(r)?, Round::get(r)?);
        let cert_type = match r.u8()? {
            0 => RoundCertificateType::Skip,
            1 => RoundCertificateType::Precommit,
            t => return bad("round certificate type", t),
        };
        Ok(RoundCertificate {
            height,
            round,
            cert_type,
            round_signatures: get_list(r, 2 + SIGNED_ENTRY)?,
        })
    }
}

impl Wire for LivenessMsg<ParexContext> {
    fn put(&self, w: &mut Writer) {
        match self {
            LivenessMsg::Vote(v) => {
                w.u8(0);
                v.put(w);
            }
            LivenessMsg::PolkaCertificate(c) => {
                w.u8(1);
                c.put(w);
            }
            LivenessMsg::SkipRoundCertificate(c) => {
                w.u8(2);
                c.put(w);
            }
        }
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        match r.u8()? {
            0 => SignedMessage::get(r).map(LivenessMsg::Vote),
            1 => PolkaCertificate::get(r).map(LivenessMsg::PolkaCertificate),
            2 => RoundCertificate::get(r).map(LivenessMsg::SkipRoundCertificate),
            t => bad("liveness message", t),
        }
    }
}

/// Longest stream id a node makes (height, round and a counter) or accepts.
const MAX_STREAM_ID: usize = 64;

impl Wire for StreamMessage<ProposalPart> {
    fn put(&self, w: &mut Writer) {
        w.bytes(&self.stream_id.to_bytes());
        w.u64(self.sequence);
        match &self.content {
            StreamContent::Data(part) => {
                w.u8(0);
                part.put(w);
            }
            StreamContent::Fin => w.u8(1),
        }
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        let id = StreamId::new(Bytes::copy_from_slice(r.bytes(MAX_STREAM_ID)?));
        let sequence = r.u64()?;
        let content = match r.u8()? {
            0 => StreamContent::Data(ProposalPart::get(r)?),
            1 => StreamContent::Fin,
            t => return bad("stream content", t),
        };
        Ok(StreamMessage::new(id, sequence, content))
    }
}

/// Longest key or peer id in a validator proof.
const MAX_KEY_BYTES: usize = 128;

impl Wire for ValidatorProof<ParexContext> {
    fn put(&self, w: &mut Writer) {
        w.bytes(&self.public_key);
        w.bytes(&self.peer_id);
        self.signature.put(w);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        let public_key = r.bytes(MAX_KEY_BYTES)?.to_vec();
        let peer_id = r.bytes(MAX_KEY_BYTES)?.to_vec();
        Ok(ValidatorProof::new(public_key, peer_id, Signature::get(r)?))
    }
}

impl Wire for PeerId {
    fn put(&self, w: &mut Writer) {
        w.bytes(&self.to_bytes());
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        PeerId::from_bytes(r.bytes(MAX_KEY_BYTES)?).map_err(|e| CodecError(format!("peer id: {e}")))
    }
}

impl Wire for Status<ParexContext> {
    fn put(&self, w: &mut Writer) {
        self.peer_id.put(w);
        self.tip_height.put(w);
        self.history_min_height.put(w);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(Status {
            peer_id: PeerId::get(r)?,
            tip_height: Height::get(r)?,
            history_min_height: Height::get(r)?,
        })
    }
}

impl Wire for Request<ParexContext> {
    fn put(&self, w: &mut Writer) {
        let Request::ValueRequest(ValueRequest { range }) = self;
        w.u8(0);
        range.start().put(w);
        range.end().put(w);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        match r.u8()? {
            0 => {
                let range: RangeInclusive<Height> = Height::get(r)?..=Height::get(r)?;
                Ok(Request::ValueRequest(ValueRequest::new(range)))
            }
            t => bad("sync request", t),
        }
    }
}

impl Wire for ExtendedCommitSignature<ParexContext> {
    fn put(&self, w: &mut Writer) {
        self.address.put(w);
        self.signature.put(w);
        self.extension.put(w);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(ExtendedCommitSignature {
            address: ValidatorAddress::get(r)?,
            signature: Signature::get(r)?,
            extension: Option::get(r)?,
        })
    }
}

impl Wire for ExtendedCommitCertificate<ParexContext> {
    fn put(&self, w: &mut Writer) {
        self.height.put(w);
        self.round.put(w);
        self.value_id.put(w);
        list(w, &self.commit_signatures);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(ExtendedCommitCertificate {
            height: Height::get(r)?,
            round: Round::get(r)?,
            value_id: BlockId::get(r)?,
            commit_signatures: get_list(r, SIGNED_ENTRY + 1)?,
        })
    }
}

/// Largest block a synced value or a stored block may be.
pub const MAX_BLOCK_BYTES: usize = 64 << 20;

impl Wire for RawDecidedValue<ParexContext> {
    fn put(&self, w: &mut Writer) {
        w.bytes(&self.value_bytes);
        self.certificate.put(w);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        let value_bytes = Bytes::copy_from_slice(r.bytes(MAX_BLOCK_BYTES)?);
        Ok(RawDecidedValue::new(value_bytes, ExtendedCommitCertificate::get(r)?))
    }
}

impl Wire for Response<ParexContext> {
    fn put(&self, w: &mut Writer) {
        let Response::ValueResponse(ValueResponse { start_height, values }) = self;
        w.u8(0);
        start_height.put(w);
        list(w, values);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        match r.u8()? {
            0 => {
                let start = Height::get(r)?;
                let values = get_list(r, 4 + 8 + 8 + 32 + 4)?;
                Ok(Response::ValueResponse(ValueResponse::new(start, values)))
            }
            t => bad("sync response", t),
        }
    }
}

impl Wire for ProposedValue<ParexContext> {
    fn put(&self, w: &mut Writer) {
        self.height.put(w);
        self.round.put(w);
        self.valid_round.put(w);
        self.proposer.put(w);
        self.value.put(w);
        w.u8(self.validity.is_valid() as u8);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(ProposedValue {
            height: Height::get(r)?,
            round: Round::get(r)?,
            valid_round: Round::get(r)?,
            proposer: ValidatorAddress::get(r)?,
            value: BlockValue::get(r)?,
            validity: match r.u8()? {
                0 => Validity::Invalid,
                1 => Validity::Valid,
                t => return bad("validity", t),
            },
        })
    }
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

#[cfg(test)]
mod tests {
    use malachitebft_app_channel::app::types::core::SignedExtension;
    use parex_core::tx::Transaction;
    use proptest::prelude::*;

    use super::*;
    use crate::node::block::{Block, SignedTx};
    use crate::node::types::PrivateKey;

    fn key(i: u8) -> PrivateKey {
        PrivateKey::from([i; 32])
    }

    fn value(n: u64) -> BlockValue {
        BlockValue::new(BlockHeader {
            parent_hash: [1; 32],
            number: n,
            beneficiary: Address(7),
            tx_root: [2; 32],
            receipts_root: [3; 32],
            state_root: [4; 32],
            gas_used: 5,
            tx_count: 6,
        })
    }

    fn addr(i: u8) -> ValidatorAddress {
        ValidatorAddress::of(&key(i).public_key())
    }

    fn vote(t: VoteType, id: Option<u8>) -> Vote {
        Vote {
            vote_type: t,
            height: Height(9),
            round: Round::new(2),
            value: id.map_or(NilOrVal::Nil, |i| NilOrVal::Val(BlockId([i; 32]))),
            validator: addr(1),
            extension: Some(SignedExtension::<ParexContext>::new((), key(1).sign(b"x"))),
        }
    }

    fn block() -> Block {
        let txs = (0..3)
            .map(|n| {
                SignedTx::sign(
                    Transaction::transfer(Address(5), n, Address(6), 1, 1_000, 1),
                    &key(3),
                )
            })
            .collect();
        Block { value: value(4), txs }
    }

    fn round_trip<T: Wire + PartialEq + std::fmt::Debug>(v: T) {
        let bytes = encode(&v);
        assert_eq!(decode::<T>(&bytes).as_ref(), Ok(&v));
        // Every cut short, and one byte more, is an error, never a panic.
        for n in 0..bytes.len() {
            assert!(decode::<T>(&bytes[..n]).is_err(), "{n} of {} bytes", bytes.len());
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(decode::<T>(&longer).is_err());
    }

    /// Every message a node sends or keeps reads back as written; shorter or longer
    /// bytes are refused.
    #[test]
    fn every_message_reads_back_as_written() {
        round_trip(vote(VoteType::Prevote, None));
        round_trip(vote(VoteType::Precommit, Some(8)));
        let proposal = Proposal {
            height: Height(3),
            round: Round::new(0),
            value: value(3),
            pol_round: Round::Nil,
            proposer: addr(2),
        };
        round_trip(proposal.clone());
        round_trip(SignedConsensusMsg::<ParexContext>::Proposal(SignedMessage::new(
            proposal,
            key(2).sign(b"p"),
        )));
        round_trip(SignedConsensusMsg::<ParexContext>::Vote(SignedMessage::new(
            vote(VoteType::Prevote, Some(1)),
            key(1).sign(b"v"),
        )));
        let id = StreamId::new(Bytes::from_static(b"stream"));
        for part in [
            ProposalPart::Init {
                height: Height(3),
                round: Round::new(1),
                pol_round: Round::new(0),
                proposer: addr(2),
                value: value(3),
            },
            ProposalPart::Data(Bytes::from_static(b"some block bytes")),
            ProposalPart::Fin(key(2).sign(b"parts")),
        ] {
            round_trip(StreamMessage::new(id.clone(), 4, StreamContent::Data(part)));
        }
        round_trip(StreamMessage::<ProposalPart>::new(id, 5, StreamContent::Fin));
        let polka = PolkaCertificate::<ParexContext> {
            height: Height(3),
            round: Round::new(1),
            value_id: BlockId([9; 32]),
            polka_signatures: vec![PolkaSignature::new(addr(1), key(1).sign(b"a"))],
        };
        round_trip(polka.clone());
        round_trip(LivenessMsg::PolkaCertificate(polka));
        round_trip(LivenessMsg::<ParexContext>::SkipRoundCertificate(RoundCertificate {
            height: Height(3),
            round: Round::new(2),
            cert_type: RoundCertificateType::Skip,
            round_signatures: vec![RoundSignature::new(
                VoteType::Prevote,
                NilOrVal::Nil,
                addr(1),
                key(1).sign(b"r"),
            )],
        }));
        let extended = ExtendedCommitCertificate::<ParexContext> {
            height: Height(4),
            round: Round::new(0),
            value_id: BlockId(value(4).hash),
            commit_signatures: vec![ExtendedCommitSignature {
                address: addr(1),
                signature: key(1).sign(b"c"),
                extension: None,
            }],
        };
        round_trip(extended.clone());
        round_trip(Response::<ParexContext>::ValueResponse(ValueResponse::new(
            Height(4),
            vec![RawDecidedValue::new(Bytes::from(block().to_bytes()), extended)],
        )));
        round_trip(Request::<ParexContext>::ValueRequest(ValueRequest::new(Height(2)..=Height(7))));
        round_trip(ProposedValue::<ParexContext> {
            height: Height(4),
            round: Round::new(1),
            valid_round: Round::Nil,
            proposer: addr(2),
            value: value(4),
            validity: Validity::Invalid,
        });
        round_trip(block());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Bytes from a peer, whatever they are, decode to a message or an error.
        #[test]
        fn any_bytes_decode_or_fail_without_panicking(
            mut bytes in proptest::collection::vec(any::<u8>(), 0..400),
        ) {
            for first in [None, Some(VERSION)] {
                if let (Some(v), Some(b)) = (first, bytes.first_mut()) {
                    *b = v;
                }
                let _ = decode::<SignedConsensusMsg<ParexContext>>(&bytes);
                let _ = decode::<LivenessMsg<ParexContext>>(&bytes);
                let _ = decode::<StreamMessage<ProposalPart>>(&bytes);
                let _ = decode::<Response<ParexContext>>(&bytes);
                let _ = decode::<Status<ParexContext>>(&bytes);
                let _ = decode::<ProposedValue<ParexContext>>(&bytes);
                let _ = decode::<ValidatorProof<ParexContext>>(&bytes);
                let _ = Block::from_bytes(&bytes);
            }
        }
    }
}
