//! The documents as `serde` structs: [`GenesisFile`], [`BlockFile`] (of [`TxJson`]) and
//! the `--dump-state` [`StateDump`], field by field as `docs/formats.md` lists them.
//! Unknown fields are rejected.

use parex_core::state::StateEntry;
use parex_core::{Address, KeyKind, StateKey};
use serde::{Deserialize, Serialize};

use super::values::{Addr, Amount, HexBytes, Slot, Word};

/// A genesis file (`genesis.json`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a genesis object")]
pub struct GenesisFile {
    /// Receives every fee.
    pub beneficiary: Addr,
    /// A sharded chain's number of shards (1 to 1024); absent: not sharded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<Amount>,
    /// Accounts with a balance (and nonce).
    #[serde(default)]
    pub accounts: Vec<AccountJson>,
    /// Contracts and their code.
    #[serde(default)]
    pub contracts: Vec<ContractJson>,
    /// Initial contract storage.
    #[serde(default)]
    pub storage: Vec<StorageJson>,
}

/// One genesis account.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an account object")]
pub struct AccountJson {
    /// Its address.
    pub address: Addr,
    /// Native balance.
    pub balance: Amount,
    /// Transactions already sent (default 0).
    #[serde(default)]
    pub nonce: Amount,
}

/// One genesis contract.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a contract object")]
pub struct ContractJson {
    /// Its address.
    pub address: Addr,
    /// A label for people (`parex gen` names the sample contract); ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its bytecode.
    pub code: HexBytes,
}

/// One genesis storage word.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a storage entry object")]
pub struct StorageJson {
    /// The contract.
    pub address: Addr,
    /// The slot.
    pub slot: Slot,
    /// The value.
    pub value: Word,
}

/// A block file (`blocks/0001.json`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a block object")]
pub struct BlockFile {
    /// The block number; when present it must be the block's position in the chain
    /// (1 for the first block given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<Amount>,
    /// The transactions, in block order.
    pub transactions: Vec<TxJson>,
}

/// Transfer or call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KindJson {
    /// A native transfer.
    Transfer,
    /// A contract call.
    Call,
}

/// One transaction.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a transaction object")]
pub struct TxJson {
    /// Sender.
    pub from: Addr,
    /// The sender's nonce.
    pub nonce: Amount,
    /// Most gas the transaction may use.
    pub gas_limit: Amount,
    /// Native units per gas.
    pub gas_price: Amount,
    /// `transfer` or `call`.
    pub kind: KindJson,
    /// Recipient or contract.
    pub to: Addr,
    /// Native units moved to `to` (default 0).
    #[serde(default)]
    pub value: Amount,
    /// Call arguments (calls only; at most [`MAX_ARGS`](parex_core::tx::MAX_ARGS)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<Word>>,
    /// Declared access list (at most [`MAX_ACCESS`](parex_core::tx::MAX_ACCESS) entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<Vec<AccessJson>>,
}

/// Which word of an account a key names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyJson {
    /// Native balance.
    Balance,
    /// Nonce.
    Nonce,
    /// Code digest (a declared access list naming one makes the transaction invalid).
    CodeHash,
    /// A storage slot.
    Storage,
}

impl From<KeyJson> for KeyKind {
    fn from(k: KeyJson) -> Self {
        match k {
            KeyJson::Balance => KeyKind::Balance,
            KeyJson::Nonce => KeyKind::Nonce,
            KeyJson::CodeHash => KeyKind::CodeHash,
            KeyJson::Storage => KeyKind::Storage,
        }
    }
}

impl From<KeyKind> for KeyJson {
    fn from(k: KeyKind) -> Self {
        match k {
            KeyKind::Balance => KeyJson::Balance,
            KeyKind::Nonce => KeyJson::Nonce,
            KeyKind::CodeHash => KeyJson::CodeHash,
            KeyKind::Storage => KeyJson::Storage,
        }
    }
}

/// One declared access.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an access entry object")]
pub struct AccessJson {
    /// The account.
    pub address: Addr,
    /// Which word.
    pub key: KeyJson,
    /// Storage slot (0 and omitted for the other kinds).
    #[serde(default, skip_serializing_if = "is_zero_slot")]
    pub slot: Slot,
    /// Declared as written (default false).
    #[serde(default)]
    pub write: bool,
}

fn is_zero_slot(s: &Slot) -> bool {
    s.0 == 0
}

/// The `--dump-state` document: every state word after the last block, in Merkle leaf
/// order.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a state dump object")]
pub struct StateDump {
    /// Number of the last block applied (0: the genesis).
    pub block_number: u64,
    /// Its hash (all zero for the genesis).
    pub block_hash: String,
    /// The state root the entries commit to.
    pub state_root: String,
    /// Every word, in leaf order (the order that defines the root).
    pub entries: Vec<EntryJson>,
}

/// One state word.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a state entry object")]
pub struct EntryJson {
    /// The account.
    pub address: Addr,
    /// Which word.
    pub key: KeyJson,
    /// Storage slot (0 for the other kinds).
    pub slot: Slot,
    /// The value.
    pub value: Word,
}

impl From<&StateEntry> for EntryJson {
    fn from(e: &StateEntry) -> Self {
        Self {
            address: Addr(e.key.addr.0),
            key: e.key.kind.into(),
            slot: Slot(e.key.slot),
            value: Word(e.value),
        }
    }
}

impl From<&EntryJson> for StateEntry {
    fn from(e: &EntryJson) -> Self {
        let key = StateKey { addr: Address(e.address.0), kind: e.key.into(), slot: e.slot.0 };
        Self { key, value: e.value.0 }
    }
}
