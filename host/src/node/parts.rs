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
        if !self.open.contains_key(&key) {
            if self.order.len() == MAX_STREAMS {
                if let Some(old) = self.order.pop_front() {
                    self.open.remove(&old);
                }
            }
            self.order.push_back(key.clone());
        }
        let partial = self.open.entry(key.clone()).or_default();
        match msg.content {
            StreamContent::Fin => partial.end = Some(msg.sequence),
            StreamContent::Data(part) => {
                partial.bytes += match &part {
                    ProposalPart::Data(b) => b.len(),
                    _ => 256,
                };
                partial.parts.entry(msg.sequence).or_insert(part);
            }
        }
        if partial.bytes > MAX_BLOCK_BYTES + PIECE {
            self.drop_stream(&key);
            return Err("a stream longer than any block".into());
        }
        let whole = partial.end.is_some_and(|end| {
            partial.parts.len() as u64 == end
                && partial.parts.keys().next_back() == Some(&(end - 1))
        });
        if !whole {
            return Ok(None);
        }
        let partial = self.drop_stream(&key).unwrap_or_default();
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
        self.open.remove(key)
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
