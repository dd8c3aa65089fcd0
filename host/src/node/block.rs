//! What a node's chain is made of: transactions signed by their senders ([`SignedTx`])
//! and blocks of them under their header ([`Block`]), with their bytes
//! (`docs/node.md`, "Wire format").
//!
//! parex transactions carry no signature of their own: a node takes one beside each, an
//! Ed25519 signature over the transaction's hash, and checks that the sender is the
//! account of the key ([`account_of`]). The API refuses a transaction whose signature
//! does not hold, and a validator refuses a proposed block that holds one.

use parex_core::hash::keccak256;
use parex_core::shard::is_system;
use parex_core::tx::{AccessList, Transaction, MAX_ENCODED_LEN};
use parex_core::{Address, Hash32};

use super::codec::{CodecError, Reader, Wire, Writer, MAX_BLOCK_BYTES};
use super::types::{BlockValue, PrivateKey, PublicKey, Signature};
use crate::txblock::TxBlock;

/// The account that `key` signs for: the first 8 bytes (little-endian) of the
/// Keccak-256 of the key.
pub fn account_of(key: &PublicKey) -> Address {
    account_of_bytes(key.as_bytes())
}

/// [`account_of`] the key of these bytes.
fn account_of_bytes(key: &[u8; 32]) -> Address {
    let d = keccak256(key);
    let mut a = [0u8; 8];
    a.copy_from_slice(&d[..8]);
    Address(u64::from_le_bytes(a))
}

/// What a sender signs: a domain tag and the transaction's hash.
fn signed_bytes(hash: &Hash32) -> [u8; 41] {
    let mut b = [0u8; 41];
    b[..9].copy_from_slice(b"parex-tx\0");
    b[9..].copy_from_slice(hash);
    b
}

/// The hash of `tx`: Keccak-256 of its encoding (as in the transaction root).
pub fn tx_hash(tx: &Transaction) -> Hash32 {
    let mut buf = [0u8; MAX_ENCODED_LEN];
    let n = tx.encode(&mut buf);
    keccak256(&buf[..n])
}

/// Why a signed transaction is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxError {
    /// The signature does not verify under the key.
    BadSignature,
    /// The key signs for another account than the sender.
    NotTheSender {
        /// The sender named in the transaction.
        from: Address,
        /// The account of the key.
        key_account: Address,
    },
    /// The key is not an Ed25519 public key.
    BadKey,
}

impl std::fmt::Display for TxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TxError::BadSignature => f.write_str("the signature does not verify"),
            TxError::NotTheSender { from, key_account } => write!(
                f,
                "the key signs for account {:#x}, not for the sender {:#x}",
                key_account.0, from.0
            ),
            TxError::BadKey => f.write_str("the public key is not an Ed25519 key"),
        }
    }
}

/// A transaction with its sender's key and signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTx {
    /// The transaction, without its declared access list ([`SignedTx::transaction`]
    /// has it).
    pub tx: Transaction<'static>,
    /// Its declared access list, if it declares one.
    pub access: Option<AccessList>,
    /// The sender's Ed25519 public key.
    pub public_key: [u8; 32],
    /// The signature over the transaction's hash.
    pub signature: [u8; 64],
    /// [`tx_hash`] of `tx`.
    pub hash: Hash32,
}

impl SignedTx {
    /// `tx`, signed with `key` (whose account must be the sender's for it to verify).
    pub fn sign(tx: Transaction<'_>, key: &PrivateKey) -> Self {
        let hash = tx_hash(&tx);
        let signature = key.sign(&signed_bytes(&hash)).to_bytes();
        Self::new(tx, *key.public_key().as_bytes(), signature)
    }

    /// `tx` with a signature made elsewhere.
    pub fn new(tx: Transaction<'_>, public_key: [u8; 32], signature: [u8; 64]) -> Self {
        let hash = tx_hash(&tx);
        let access = tx.access.cloned();
        Self { hash, tx: Transaction { access: None, ..tx }, access, public_key, signature }
    }

    /// The transaction, with its list.
    pub fn transaction(&self) -> Transaction<'_> {
        Transaction { access: self.access.as_ref(), ..self.tx.clone() }
    }

    /// Checks the signature, and that the key signs for the sender.
    pub fn verify(&self) -> Result<(), TxError> {
        let key = PublicKey::from_bytes(self.public_key).map_err(|_| TxError::BadKey)?;
        let key_account = account_of(&key);
        if key_account != self.tx.from {
            return Err(TxError::NotTheSender { from: self.tx.from, key_account });
        }
        let signature = Signature::from_bytes(self.signature);
        key.verify(&signed_bytes(&self.hash), &signature).map_err(|_| TxError::BadSignature)
    }
}

impl Wire for SignedTx {
    fn put(&self, w: &mut Writer) {
        let mut buf = [0u8; MAX_ENCODED_LEN];
        let n = self.transaction().encode(&mut buf);
        w.bytes(&buf[..n]);
        w.fixed(&self.public_key);
        w.fixed(&self.signature);
    }

    fn get(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        let encoded = r.bytes(MAX_ENCODED_LEN)?;
        let mut list = AccessList::new();
        let decoded = Transaction::decode(encoded, &mut list)
            .map_err(|e| CodecError(format!("transaction: {e:?}")))?;
        let declared = decoded.access.is_some();
        let tx = Transaction { access: None, ..decoded };
        let access = declared.then_some(list);
        let public_key = r.array()?;
        let signature = r.array()?;
        Ok(Self { hash: keccak256(encoded), tx, access, public_key, signature })
    }
}

/// A block: its header (as the value agreed on) and its signed transactions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// The header and hash.
    pub value: BlockValue,
    /// The transactions, in order.
    pub txs: Vec<SignedTx>,
}

impl Block {
    /// The transactions without their signatures, as the engines take them.
    pub fn transactions(&self) -> TxBlock {
        let lists = self.txs.iter().enumerate();
        let lists = lists.filter_map(|(i, t)| Some((i, t.access.clone()?))).collect();
        TxBlock::with_lists(self.txs.iter().map(|t| t.tx.clone()).collect(), lists)
    }

    /// The bytes of the block (a versioned document).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::versioned();
        self.put(&mut w);
        w.0
    }

    /// The block of `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CodecError> {
        if bytes.len() > MAX_BLOCK_BYTES {
            return Err(CodecError(format!("a block of {} bytes", bytes.len())));
        }
        super::codec::decode(bytes)
    }

    /// Checks every transaction's sender and signature: the first that fails, by index.
    ///
    /// The signatures are checked in one batch (`ed25519-consensus`: about twice as fast
    /// as one by one, with random weights, so that no set of bad signatures can cancel
    /// out); only a batch that fails is checked one by one, to name the transaction.
    pub fn verify(&self) -> Result<(), (usize, TxError)> {
        use ed25519_consensus::{batch, Signature as Sig, VerificationKeyBytes};
        for (i, t) in self.txs.iter().enumerate() {
            let key_account = account_of_bytes(&t.public_key);
            if key_account != t.tx.from {
                return Err((i, TxError::NotTheSender { from: t.tx.from, key_account }));
            }
            if is_system(t.tx.from) {
                return Err((i, TxError::BadKey));
            }
        }
        let messages: Vec<[u8; 41]> = self.txs.iter().map(|t| signed_bytes(&t.hash)).collect();
        let mut all = batch::Verifier::new();
        for (t, m) in self.txs.iter().zip(&messages) {
            all.queue((VerificationKeyBytes::from(t.public_key), Sig::from(t.signature), m));
        }
        if all.verify(rand::rngs::OsRng).is_ok() {
            return Ok(());
        }
        for (i, t) in self.txs.iter().enumerate() {
            t.verify().map_err(|e| (i, e))?;
        }
        Ok(())
    }
}

impl Wire for Block {
    fn put(&self, w: &mut Writer) {
        self.value.put(w);
        w.len(self.txs.len());
        self.txs.iter().for_each(|t| t.put(w));
    }

    fn get(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        let value = BlockValue::get(r)?;
        let n = r.len(4 + 32 + 64)?;
        let txs = (0..n).map(|_| SignedTx::get(r)).collect::<Result<_, _>>()?;
        Ok(Self { value, txs })
    }
}

/// A block `number` of `n` transfers, each signed by its sender's key: for tests.
#[cfg(test)]
pub(crate) fn signed_block(number: u64, n: u64) -> Block {
    use parex_core::block::BlockHeader;
    let key = PrivateKey::from([4; 32]);
    let from = account_of(&key.public_key());
    let txs = (0..n)
        .map(|i| SignedTx::sign(Transaction::transfer(from, i, Address(9), 1, 1_000, 1), &key))
        .collect();
    let header = BlockHeader {
        parent_hash: [0; 32],
        number,
        beneficiary: Address(1),
        tx_root: [1; 32],
        receipts_root: [2; 32],
        state_root: [3; 32],
        gas_used: 0,
        tx_count: n,
    };
    Block { value: BlockValue::new(header), txs }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(n: u64) -> Block {
        signed_block(1, n)
    }

    /// A block verifies in one batch; a forged signature or a key that is not the
    /// sender's is found and named by its index.
    #[test]
    fn a_bad_transaction_is_found_by_its_index() {
        let good = block(40);
        assert_eq!(good.verify(), Ok(()));
        let mut forged = good.clone();
        forged.txs[17].signature[5] ^= 1;
        assert_eq!(forged.verify(), Err((17, TxError::BadSignature)));
        let mut other = good.clone();
        other.txs[3].public_key = *PrivateKey::from([5; 32]).public_key().as_bytes();
        assert!(matches!(other.verify(), Err((3, TxError::NotTheSender { .. }))));
        let mut swapped = good;
        swapped.txs[8].signature = swapped.txs[9].signature;
        assert_eq!(swapped.verify(), Err((8, TxError::BadSignature)));
    }
}
