//! A proposed block on the wire: cut into a stream of parts by its proposer
//! ([`stream`]) and put back together by every other validator ([`Streams`]).
//!
//! A stream is `Init` (height, round, proposer, the header), the block's bytes in
//! pieces of [`PIECE`] bytes, then `Fin`: the proposer's signature over the Keccak-256
//! of the earlier parts' encodings. A receiver keys streams by publisher and stream id,
//! takes parts in any order and at most once each, and gives a block only once every
//! part is there, the signature is the named proposer's, and the block's header is the
//! one announced. What any peer can send is bounded: the streams kept, and each
//! stream's bytes.

use std::collections::{BTreeMap, HashMap, VecDeque};

use bytes::Bytes;
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::core::Round;
use malachitebft_app_channel::app::types::PeerId;
use parex_core::hash::keccak256;

use super::block::Block;
use super::codec::{encode, MAX_BLOCK_BYTES};
use super::types::{Height, PrivateKey, ProposalPart, ValidatorAddress, ValidatorSet};
use malachitebft_app_channel::app::types::core::ValidatorSet as _;

/// Bytes of the block per `Data` part.
pub const PIECE: usize = 256 << 10;

/// Streams kept at once (the oldest is dropped beyond it).
const MAX_STREAMS: usize = 64;
/// Bytes kept in all streams at once (the oldest streams are dropped beyond it).
const MAX_KEPT_BYTES: usize = 256 << 20;

/// Where a proposal is, and who made it.
#[derive(Clone, Copy, Debug)]
pub struct Placement {
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// Polka round of a re-proposal.
    pub pol_round: Round,
    /// The proposer who signs it.
    pub proposer: ValidatorAddress,
}

/// The stream of messages that carries `block` as proposed at `at`, signed with `key`
/// (the proposer's), under stream id `id`.
pub fn stream(
    block: &Block,
    at: Placement,
    key: &PrivateKey,
    id: StreamId,
) -> Vec<StreamMessage<ProposalPart>> {
    let mut parts = vec![ProposalPart::Init {
        height: at.height,
        round: at.round,
        pol_round: at.pol_round,
        proposer: at.proposer,
        value: block.value.clone(),
    }];
    let bytes = block.to_bytes();
    parts.extend(bytes.chunks(PIECE).map(|c| ProposalPart::Data(Bytes::copy_from_slice(c))));
    let signature = key.sign(&parts_digest(&parts));
    parts.push(ProposalPart::Fin(signature));
    let n = parts.len() as u64;
    let mut out: Vec<_> = parts
        .into_iter()
        .enumerate()
        .map(|(i, p)| StreamMessage::new(id.clone(), i as u64, StreamContent::Data(p)))
        .collect();
    out.push(StreamMessage::new(id, n, StreamContent::Fin));
    out
}

/// What the proposer signs: the Keccak-256 of the parts' encodings, in order.
fn parts_digest(parts: &[ProposalPart]) -> [u8; 32] {
    let mut all = Vec::new();
    for p in parts {
        all.extend_from_slice(&encode(p));
    }
    keccak256(&all)
}

/// A proposal received whole.
#[derive(Clone, Debug)]
pub struct Received {
    /// Where it was proposed and by whom.
    pub at: Placement,
    /// The block.
    pub block: Block,
}

#[derive(Default)]
struct Partial {
    parts: BTreeMap<u64, ProposalPart>,
    /// The sequence number of the stream's end, once seen.
    end: Option<u64>,
    bytes: usize,
}

/// Streams being received.
#[derive(Default)]
pub struct Streams {
    open: HashMap<(PeerId, Bytes), Partial>,
    order: VecDeque<(PeerId, Bytes)>,
    kept: usize,
    /// Streams given whole lately: parts of them sent again are ignored.
    done: VecDeque<(PeerId, Bytes)>,
}

impl Streams {
    /// Takes one message of `publisher`'s; the proposal once the stream is whole and
    /// checks out (`Err` says why one does not: the stream is then dropped).
    pub fn insert(
        &mut self,
        publisher: PeerId,
        msg: StreamMessage<ProposalPart>,
        validators: &ValidatorSet,
    ) -> Result<Option<Received>, String> {
        let key = (publisher, msg.stream_id.to_bytes());
        if self.done.contains(&key) {
            return Ok(None);
        }
        if !self.open.contains_key(&key) {
            if self.order.len() == MAX_STREAMS {
                if let Some(old) = self.order.front().cloned() {
                    self.drop_stream(&old);
                }
            }
            self.order.push_back(key.clone());
        }
        let partial = self.open.entry(key.clone()).or_default();
        match msg.content {
            StreamContent::Fin => partial.end = Some(msg.sequence),
            StreamContent::Data(part) => {
                let size = match &part {
                    ProposalPart::Data(b) => b.len(),
                    _ => 256,
                };
                if let std::collections::btree_map::Entry::Vacant(v) =
                    partial.parts.entry(msg.sequence)
                {
                    v.insert(part);
                    partial.bytes += size;
                    self.kept += size;
                }
            }
        }
        let (too_long, whole) = (
            partial.bytes > MAX_BLOCK_BYTES + PIECE,
            partial.end.is_some_and(|end| {
                partial.parts.len() as u64 == end
                    && partial.parts.keys().next_back() == Some(&(end - 1))
            }),
        );
        while self.kept > MAX_KEPT_BYTES {
            match self.order.front().cloned() {
                Some(old) if old != key => {
                    self.drop_stream(&old);
                }
                _ => break,
            }
        }
        if too_long {
            self.drop_stream(&key);
            return Err("a stream longer than any block".into());
        }
        if !whole {
            return Ok(None);
        }
        let partial = self.drop_stream(&key).unwrap_or_default();
        if self.done.len() == MAX_STREAMS {
            self.done.pop_front();
        }
        self.done.push_back(key);
        assemble(partial.parts.into_values().collect(), validators).map(Some)
    }

    /// Drops every stream of a proposal below `height` (decided heights).
    pub fn forget_below(&mut self, height: Height) {
        let stale: Vec<_> = self
            .open
            .iter()
            .filter(|(_, p)| {
                matches!(p.parts.get(&0), Some(ProposalPart::Init { height: h, .. }) if *h < height)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in stale {
            self.drop_stream(&k);
        }
    }

    fn drop_stream(&mut self, key: &(PeerId, Bytes)) -> Option<Partial> {
        self.order.retain(|k| k != key);
        let gone = self.open.remove(key);
        self.kept -= gone.as_ref().map_or(0, |p| p.bytes);
        gone
    }
}

/// The proposal of a whole stream's `parts`, checked.
fn assemble(parts: Vec<ProposalPart>, validators: &ValidatorSet) -> Result<Received, String> {
    let (Some(ProposalPart::Init { height, round, pol_round, proposer, value }), Some(fin)) =
        (parts.first(), parts.last())
    else {
        return Err("a stream that does not start with Init".into());
    };
    let ProposalPart::Fin(signature) = fin else {
        return Err("a stream that does not end with Fin".into());
    };
    let Some(validator) = validators.get_by_address(proposer) else {
        return Err(format!("a proposal by {proposer}, not a validator"));
    };
    let signed = &parts[..parts.len() - 1];
    if validator.public_key.verify(&parts_digest(signed), signature).is_err() {
        return Err(format!("a proposal whose signature is not {proposer}'s"));
    }
    let mut bytes = Vec::new();
    for p in &signed[1..] {
        match p {
            ProposalPart::Data(b) => bytes.extend_from_slice(b),
            _ => return Err("a stream with a part out of place".into()),
        }
    }
    let block =
        Block::from_bytes(&bytes).map_err(|e| format!("a block that does not decode: {e}"))?;
    if block.value != *value {
        return Err("a block whose header is not the one announced".into());
    }
    let at =
        Placement { height: *height, round: *round, pol_round: *pol_round, proposer: *proposer };
    if block.value.header.number != height.0 {
        return Err(format!("block {} proposed at height {}", block.value.header.number, height.0));
    }
    Ok(Received { at, block })
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::node::types::Validator;

    fn peer(i: u8) -> PeerId {
        PeerId::from_bytes(&[0, 4, i, 2, 3, 4]).unwrap()
    }

    fn setup(txs: u64) -> (PrivateKey, ValidatorSet, Block, Placement) {
        let key = PrivateKey::from([7; 32]);
        let set = ValidatorSet::new(vec![Validator::new(key.public_key(), 1)]);
        let block = crate::node::block::signed_block(3, txs);
        let at = Placement {
            height: Height(3),
            round: Round::new(0),
            pol_round: Round::Nil,
            proposer: crate::node::types::ValidatorAddress::of(&key.public_key()),
        };
        (key, set, block, at)
    }

    /// A stream of several pieces, delivered backwards and with repeats, gives the
    /// block once, when its last missing part arrives.
    #[test]
    fn a_stream_in_any_order_gives_the_block_once() {
        let (key, set, block, at) = setup(4_000);
        let msgs = stream(&block, at, &key, StreamId::new(Bytes::from_static(b"s")));
        assert!(msgs.len() > 4, "{} messages: more than one piece", msgs.len());
        let mut streams = Streams::default();
        let mut got = Vec::new();
        for m in msgs.iter().rev().chain(msgs.iter().take(2)) {
            if let Some(r) = streams.insert(peer(1), m.clone(), &set).unwrap() {
                got.push(r);
            }
        }
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].block, block);
        assert_eq!(streams.kept, 0);
    }

    /// A stream signed by another key than its proposer's, or whose block is not the
    /// announced one, or by no validator, is refused.
    #[test]
    fn forged_streams_are_refused() {
        let (key, set, block, at) = setup(3);
        let id = || StreamId::new(Bytes::from_static(b"f"));
        let whole = |msgs: Vec<StreamMessage<ProposalPart>>| {
            let mut streams = Streams::default();
            msgs.into_iter().map(|m| streams.insert(peer(2), m, &set)).last().unwrap()
        };
        let other = PrivateKey::from([8; 32]);
        assert!(whole(stream(&block, at, &other, id())).is_err(), "another key");
        let mut msgs = stream(&block, at, &key, id());
        let mut forged = block.clone();
        forged.txs.pop();
        let forged_bytes = stream(&forged, at, &key, id());
        msgs[1] = forged_bytes[1].clone();
        assert!(whole(msgs).is_err(), "a piece swapped");
        let stranger = Placement { proposer: crate::node::types::ValidatorAddress([1; 20]), ..at };
        assert!(whole(stream(&block, stranger, &key, id())).is_err(), "not a validator");
        assert!(whole(stream(&block, at, &key, id())).unwrap().is_some());
    }
}
