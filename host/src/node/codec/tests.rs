//! Round trips of every message, and any bytes decoded without a panic.
use malachitebft_app_channel::app::types::core::SignedExtension;
use proptest::prelude::*;

use bytes::Bytes;
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId};
use malachitebft_app_channel::app::types::core::RoundCertificate;
use malachitebft_app_channel::app::types::core::{
    ExtendedCommitSignature, NilOrVal, PolkaSignature, Round, RoundCertificateType, RoundSignature,
    SignedMessage, Validity, VoteType,
};
use malachitebft_app_channel::app::types::sync::RawDecidedValue;
use malachitebft_sync::{ValueRequest, ValueResponse};
use parex_core::block::BlockHeader;
use parex_core::Address;

use super::*;
use crate::node::block::Block;
use crate::node::types::PrivateKey;
use crate::node::types::{BlockId, BlockValue, Height, Proposal, ValidatorAddress, Vote};

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
    crate::node::block::signed_block(4, 3)
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
