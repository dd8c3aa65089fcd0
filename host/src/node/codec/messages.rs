//! The [`Wire`] form of every message: the engine's types and parex's, field by field.

use std::ops::RangeInclusive;

use bytes::Bytes;
use malachitebft_app_channel::app::consensus::LivenessMsg;
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
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

use super::{bad, get_list, list, CodecError, Reader, Wire, Writer};
use crate::node::types::{
    BlockId, BlockValue, Height, ParexContext, Proposal, ProposalPart, Signature, ValidatorAddress,
    Vote,
};

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
