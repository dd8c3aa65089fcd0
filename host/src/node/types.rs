//! The consensus engine's view of parex ([`ParexContext`], Malachite's `Context`):
//! heights, validators, the value the validators agree on (a block's header, named by the
//! block hash), proposals, votes, and the parts a proposed block travels in.
//!
//! The value is the header only: the engine gossips it inside every signed proposal.
//! The transactions travel once, in the proposal's parts ([`ProposalPart`]), and a
//! validator that has them all executes them and compares the header it gets with the
//! one proposed.

use std::cmp::Ordering;
use std::fmt;

use bytes::Bytes;
use malachitebft_app_channel::app::types::core::{
    self as mc, LinearTimeouts, NilOrVal, Round, SignedExtension, VoteType,
};
use parex_core::block::BlockHeader;
use parex_core::hash::keccak256;
use parex_core::Hash32;

pub use malachitebft_signing_ed25519::{Ed25519, PrivateKey, PublicKey, Signature};

/// A height of the chain: the number of the block decided there (the first is 1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Height(pub u64);

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl mc::Height for Height {
    const ZERO: Self = Height(0);
    const INITIAL: Self = Height(1);

    fn increment_by(&self, n: u64) -> Self {
        Height(self.0.saturating_add(n))
    }

    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(Height)
    }

    fn as_u64(&self) -> u64 {
        self.0
    }
}

/// A validator's address: the last 20 bytes of the Keccak-256 of its Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ValidatorAddress(pub [u8; 20]);

impl ValidatorAddress {
    /// The address of `key`.
    pub fn of(key: &PublicKey) -> Self {
        let digest = keccak256(key.as_bytes());
        let mut a = [0u8; 20];
        a.copy_from_slice(&digest[12..]);
        Self(a)
    }
}

impl fmt::Display for ValidatorAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("0x")?;
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for ValidatorAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl mc::Address for ValidatorAddress {}

/// A block hash: what names a value.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockId(pub Hash32);

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&parex_offload::hex::hash_hex(&self.0))
    }
}

impl fmt::Debug for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The value the validators agree on: a block's header (which commits to the state
/// root after the block, and to its transactions and receipts), and its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockValue {
    /// The header.
    pub header: BlockHeader,
    /// Keccak-256 of the header's encoding: the block hash.
    pub hash: Hash32,
}

impl BlockValue {
    /// `header` and its hash.
    pub fn new(header: BlockHeader) -> Self {
        Self { hash: keccak256(&header.encode()), header }
    }
}

impl PartialOrd for BlockValue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for BlockValue {
    fn cmp(&self, other: &Self) -> Ordering {
        self.hash.cmp(&other.hash)
    }
}

impl mc::Value for BlockValue {
    type Id = BlockId;

    fn id(&self) -> BlockId {
        BlockId(self.hash)
    }
}

/// One validator: its address, key and voting power.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    /// [`ValidatorAddress::of`] its key.
    pub address: ValidatorAddress,
    /// Verifies its votes, proposals and proposal parts.
    pub public_key: PublicKey,
    /// Its weight in every quorum.
    pub power: u64,
}

impl Validator {
    /// The validator of `key` with `power`.
    pub fn new(public_key: PublicKey, power: u64) -> Self {
        Self { address: ValidatorAddress::of(&public_key), public_key, power }
    }
}

impl mc::Validator<ParexContext> for Validator {
    fn address(&self) -> &ValidatorAddress {
        &self.address
    }

    fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    fn voting_power(&self) -> u64 {
        self.power
    }
}

/// The validators, by address (the same order on every node).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet {
    validators: Vec<Validator>,
}

impl ValidatorSet {
    /// The set of `validators`, sorted by address.
    pub fn new(mut validators: Vec<Validator>) -> Self {
        validators.sort_by_key(|v| v.address);
        validators.dedup_by_key(|v| v.address);
        Self { validators }
    }

    /// The validators, by address.
    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }
}

impl mc::ValidatorSet<ParexContext> for ValidatorSet {
    fn count(&self) -> usize {
        self.validators.len()
    }

    fn total_voting_power(&self) -> u64 {
        self.validators.iter().map(|v| v.power).sum()
    }

    fn get_by_address(&self, address: &ValidatorAddress) -> Option<&Validator> {
        let at = self.validators.binary_search_by_key(address, |v| v.address).ok()?;
        self.validators.get(at)
    }

    fn get_by_index(&self, index: usize) -> Option<&Validator> {
        self.validators.get(index)
    }
}

/// A proposal: a value for a height and round, by the round's proposer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// The proposed value.
    pub value: BlockValue,
    /// The round of the polka the value was locked in, if re-proposed.
    pub pol_round: Round,
    /// The proposer.
    pub proposer: ValidatorAddress,
}

impl Proposal {
    /// The bytes a proposer signs.
    pub fn sign_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(96);
        b.extend_from_slice(b"parex-proposal\0");
        b.extend_from_slice(&self.height.0.to_le_bytes());
        b.extend_from_slice(&self.round.as_i64().to_le_bytes());
        b.extend_from_slice(&self.value.hash);
        b.extend_from_slice(&self.pol_round.as_i64().to_le_bytes());
        b.extend_from_slice(&self.proposer.0);
        b
    }
}

impl mc::Proposal<ParexContext> for Proposal {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &BlockValue {
        &self.value
    }

    fn take_value(self) -> BlockValue {
        self.value
    }

    fn pol_round(&self) -> Round {
        self.pol_round
    }

    fn validator_address(&self) -> &ValidatorAddress {
        &self.proposer
    }
}

/// A prevote or precommit for a block (or for nil).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vote {
    /// Prevote or precommit.
    pub vote_type: VoteType,
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// The block voted for, or nil.
    pub value: NilOrVal<BlockId>,
    /// The voter.
    pub validator: ValidatorAddress,
    /// A precommit's extension (parex uses none).
    pub extension: Option<SignedExtension<ParexContext>>,
}

impl Vote {
    /// The bytes a voter signs (the extension is signed on its own).
    pub fn sign_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(96);
        b.extend_from_slice(b"parex-vote\0");
        b.push(match self.vote_type {
            VoteType::Prevote => 0,
            VoteType::Precommit => 1,
        });
        b.extend_from_slice(&self.height.0.to_le_bytes());
        b.extend_from_slice(&self.round.as_i64().to_le_bytes());
        match &self.value {
            NilOrVal::Nil => b.push(0),
            NilOrVal::Val(id) => {
                b.push(1);
                b.extend_from_slice(&id.0);
            }
        }
        b.extend_from_slice(&self.validator.0);
        b
    }
}

impl mc::Vote<ParexContext> for Vote {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &NilOrVal<BlockId> {
        &self.value
    }

    fn take_value(self) -> NilOrVal<BlockId> {
        self.value
    }

    fn vote_type(&self) -> VoteType {
        self.vote_type
    }

    fn validator_address(&self) -> &ValidatorAddress {
        &self.validator
    }

    fn extension(&self) -> Option<&SignedExtension<ParexContext>> {
        self.extension.as_ref()
    }

    fn take_extension(&mut self) -> Option<SignedExtension<ParexContext>> {
        self.extension.take()
    }

    fn extend(self, extension: SignedExtension<ParexContext>) -> Self {
        Self { extension: Some(extension), ..self }
    }
}

/// One part of a streamed proposal: the header first, then the block's bytes in
/// pieces, then the proposer's signature over everything before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProposalPart {
    /// What is proposed, where, by whom.
    Init {
        /// Height.
        height: Height,
        /// Round.
        round: Round,
        /// The polka round of a re-proposed value.
        pol_round: Round,
        /// The proposer (who signs `Fin`).
        proposer: ValidatorAddress,
        /// The proposed value.
        value: BlockValue,
    },
    /// A piece of the block's encoding (`super::block`).
    Data(Bytes),
    /// The proposer's signature over the Keccak-256 of the earlier parts' encodings.
    Fin(Signature),
}

impl mc::ProposalPart<ParexContext> for ProposalPart {
    fn is_first(&self) -> bool {
        matches!(self, Self::Init { .. })
    }

    fn is_last(&self) -> bool {
        matches!(self, Self::Fin(_))
    }
}

/// parex for Malachite: the types above, Ed25519 signatures, linear timeouts, no vote
/// extensions, and proposers in turn by height and round.
#[derive(Clone, Copy, Debug, Default)]
pub struct ParexContext;

impl mc::Context for ParexContext {
    type Address = ValidatorAddress;
    type Height = Height;
    type ProposalPart = ProposalPart;
    type Proposal = Proposal;
    type Validator = Validator;
    type ValidatorSet = ValidatorSet;
    type Timeouts = LinearTimeouts;
    type Value = BlockValue;
    type Vote = Vote;
    type Extension = ();
    type SigningScheme = Ed25519;

    fn select_proposer<'a>(
        &self,
        validators: &'a ValidatorSet,
        height: Height,
        round: Round,
    ) -> &'a Validator {
        let n = validators.validators.len().max(1) as u64;
        let round = u64::from(round.as_u32().unwrap_or(0));
        let at = (height.0.wrapping_add(round) % n) as usize;
        // The engine never asks with an empty set (its height parameters refuse one).
        &validators.validators[at]
    }

    fn new_proposal(
        &self,
        height: Height,
        round: Round,
        value: BlockValue,
        pol_round: Round,
        proposer: ValidatorAddress,
    ) -> Proposal {
        Proposal { height, round, value, pol_round, proposer }
    }

    fn new_prevote(
        &self,
        height: Height,
        round: Round,
        value: NilOrVal<BlockId>,
        validator: ValidatorAddress,
    ) -> Vote {
        Vote { vote_type: VoteType::Prevote, height, round, value, validator, extension: None }
    }

    fn new_precommit(
        &self,
        height: Height,
        round: Round,
        value: NilOrVal<BlockId>,
        validator: ValidatorAddress,
    ) -> Vote {
        Vote { vote_type: VoteType::Precommit, height, round, value, validator, extension: None }
    }
}
