//! A validator's signatures: votes, proposals and its network identity's proof, with
//! Ed25519 ([`KeySigner`]), and their checks on every node ([`KeyVerifier`]).

use async_trait::async_trait;
use malachitebft_app_channel::app::types::core::{
    SignedMessage, ValidatorProof, VoteExtensionScope,
};
use malachitebft_signing::{Error, Signer, VerificationResult, Verifier};

use super::types::{ParexContext, PrivateKey, Proposal, PublicKey, Signature, Vote};

/// Signs with one validator's key.
pub struct KeySigner(pub PrivateKey);

/// Checks signatures against the keys the engine hands it.
pub struct KeyVerifier;

fn checks(key: &PublicKey, bytes: &[u8], signature: &Signature) -> VerificationResult {
    VerificationResult::from_bool(key.verify(bytes, signature).is_ok())
}

#[async_trait]
impl Signer<ParexContext> for KeySigner {
    async fn sign_vote(&self, vote: Vote) -> Result<SignedMessage<ParexContext, Vote>, Error> {
        let signature = self.0.sign(&vote.sign_bytes());
        Ok(SignedMessage::new(vote, signature))
    }

    async fn sign_proposal(
        &self,
        proposal: Proposal,
    ) -> Result<SignedMessage<ParexContext, Proposal>, Error> {
        let signature = self.0.sign(&proposal.sign_bytes());
        Ok(SignedMessage::new(proposal, signature))
    }

    async fn sign_vote_extension(
        &self,
        _: VoteExtensionScope<ParexContext>,
        extension: (),
    ) -> Result<SignedMessage<ParexContext, ()>, Error> {
        // parex extends no vote; should the engine ask, the extension is empty.
        Ok(SignedMessage::new(extension, self.0.sign(b"parex-extension\0")))
    }

    async fn sign_validator_proof(
        &self,
        public_key: Vec<u8>,
        peer_id: Vec<u8>,
    ) -> Result<ValidatorProof<ParexContext>, Error> {
        let bytes = ValidatorProof::<ParexContext>::signing_bytes(&public_key, &peer_id);
        let signature = self.0.sign(&bytes);
        Ok(ValidatorProof::new(public_key, peer_id, signature))
    }
}

#[async_trait]
impl Verifier<ParexContext> for KeyVerifier {
    async fn verify_signed_vote(
        &self,
        vote: &Vote,
        signature: &Signature,
        key: &PublicKey,
    ) -> Result<VerificationResult, Error> {
        Ok(checks(key, &vote.sign_bytes(), signature))
    }

    async fn verify_signed_proposal(
        &self,
        proposal: &Proposal,
        signature: &Signature,
        key: &PublicKey,
    ) -> Result<VerificationResult, Error> {
        Ok(checks(key, &proposal.sign_bytes(), signature))
    }

    async fn verify_signed_vote_extension(
        &self,
        _: &VoteExtensionScope<ParexContext>,
        _: &(),
        signature: &Signature,
        key: &PublicKey,
    ) -> Result<VerificationResult, Error> {
        Ok(checks(key, b"parex-extension\0", signature))
    }

    async fn verify_validator_proof(
        &self,
        proof: &ValidatorProof<ParexContext>,
    ) -> Result<VerificationResult, Error> {
        let Ok(bytes) = <[u8; 32]>::try_from(proof.public_key.as_slice()) else {
            return Ok(VerificationResult::Invalid);
        };
        let Ok(key) = PublicKey::from_bytes(bytes) else {
            return Ok(VerificationResult::Invalid);
        };
        let signed =
            ValidatorProof::<ParexContext>::signing_bytes(&proof.public_key, &proof.peer_id);
        Ok(checks(&key, &signed, &proof.signature))
    }
}
