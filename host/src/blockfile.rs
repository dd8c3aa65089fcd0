//! Block files: the JSON formats `parex gen` writes and `parex run` reads (a genesis, one
//! file per block, the `--dump-state` document), documented field by field in
//! `docs/formats.md`.
//!
//! Parsing is strict, and every rejection is one [`InputError`] line naming the file, the
//! position (line and column) and the field path, for example
//! `blocks/0001.json:14:52: transactions[3].value: expected an unsigned 64-bit integer, got -5`:
//!
//! * syntax and type errors come from `serde_json` (position) and `serde_path_to_error`
//!   (field path); unknown fields are rejected (`deny_unknown_fields`);
//! * amounts are JSON integers only ([`Amount`]); addresses are `0x` hex strings
//!   ([`Addr`]); words (call arguments, storage values) take either ([`Word`]);
//! * what only makes sense with the whole file at hand (duplicate accounts, a call to an
//!   address with no contract, a block over a capacity) is checked after parsing, and the
//!   field's position is found again in the text by [`locate`].
//!
//! Files are written with [`write_atomic`]: a temporary file in the same directory,
//! renamed over the target only once it is complete.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use parex_core::contracts::{Sample, MAX_CODE_LEN};
use parex_core::state::{GenesisAccount, GenesisStorage, StateEntry};
use parex_core::tx::{AccessEntry, AccessList, Transaction, TxKind, MAX_ACCESS, MAX_ARGS};
use parex_core::{Address, Hash32, KeyKind, StateKey};
use parex_offload::hex::{excerpt, hash_hex, hex_string, parse_hex_bytes, parse_hex_u64};
use serde::de::{self, DeserializeOwned, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::workload::World;

/// Most transactions one block file may hold.
pub const MAX_BLOCK_TXS: usize = 1_000_000;
/// Most bytes of code one genesis contract may have.
pub const MAX_CODE_BYTES: usize = 65_536;

/// A rejected input file: one line naming the file, the position and the field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    /// The file, as the user named it (or `stdin`).
    pub file: String,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    /// The field path (`transactions[3].value`), when the error is about one field.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl InputError {
    /// An error about the file as a whole (unreadable, say).
    pub fn file(file: impl Into<String>, message: impl Into<String>) -> Self {
        Self { file: file.into(), position: None, field: None, message: message.into() }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        // One line, whatever the underlying error says.
        write!(f, ": {}", self.message.replace(['\n', '\r'], " "))
    }
}

impl std::error::Error for InputError {}

// ---------------------------------------------------------------------------------------
// Value types

/// An amount (balance, nonce, gas, value): a JSON integer from 0 to 2^64 - 1. Negative,
/// fractional, exponent and out-of-range numbers, strings and everything else are
/// rejected with the value that was found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Amount(pub u64);

/// An address: a `0x`-prefixed hex string of 1 to 16 digits (a `u64`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Addr(pub u64);

/// A 64-bit word (call argument, storage value): a JSON integer like [`Amount`], or a
/// `0x` hex string like [`Addr`]. Written as an integer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Word(pub u64);

/// A storage slot: read like [`Word`], written as a `0x` hex string (slots are mostly
/// hashes, and JSON readers outside Rust lose precision above 2^53).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Slot(pub u64);

/// Bytes (contract code) as a `0x`-prefixed hex string with an even number of digits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HexBytes(pub Vec<u8>);

const U64_TEXT: &str = "an unsigned 64-bit integer";
const WORD_TEXT: &str = "an unsigned 64-bit integer or a 0x-prefixed hex string";

fn describe_f64(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v >= 18_446_744_073_709_551_616.0 {
        "a number larger than 18446744073709551615".to_string()
    } else if v < 0.0 {
        format!("the negative number {v}")
    } else {
        format!("{v} (a number with a fraction or an exponent)")
    }
}

/// Visits any JSON value and accepts unsigned integers (and hex strings when `hex`).
struct WordVisitor {
    hex: bool,
}

impl WordVisitor {
    fn what(&self) -> &'static str {
        if self.hex {
            WORD_TEXT
        } else {
            U64_TEXT
        }
    }
    fn got<E: de::Error>(&self, got: impl fmt::Display) -> E {
        E::custom(format_args!("expected {}, got {got}", self.what()))
    }
}

impl<'de> Visitor<'de> for WordVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.what())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| self.got(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
        Err(self.got(describe_f64(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        if self.hex {
            parse_hex_u64(v).map_err(E::custom)
        } else {
            Err(self.got(format_args!("the string {:?}", excerpt(v))))
        }
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<u64, E> {
        Err(self.got(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<u64, E> {
        Err(self.got("null"))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<u64, A::Error> {
        Err(self.got("an array"))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<u64, A::Error> {
        Err(self.got("an object"))
    }
}

/// Visits any JSON value and accepts a string, handing it to `parse`.
struct StrVisitor<T, PE> {
    what: &'static str,
    parse: fn(&str) -> Result<T, PE>,
}

impl<T, PE> StrVisitor<T, PE> {
    fn got<E: de::Error>(&self, got: impl fmt::Display) -> E {
        E::custom(format_args!("expected {}, got {got}", self.what))
    }
}

impl<'de, T, PE: fmt::Display> Visitor<'de> for StrVisitor<T, PE> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.what)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.parse)(v).map_err(E::custom)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        Err(self.got(format_args!("the number {v}")))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        Err(self.got(format_args!("the number {v}")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        Err(self.got(format_args!("the number {v}")))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<T, E> {
        Err(self.got(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Err(self.got("null"))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<T, A::Error> {
        Err(self.got("an array"))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<T, A::Error> {
        Err(self.got("an object"))
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(WordVisitor { hex: false }).map(Amount)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for Word {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(WordVisitor { hex: true }).map(Word)
    }
}

impl Serialize for Word {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for Slot {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(WordVisitor { hex: true }).map(Slot)
    }
}

impl Serialize for Slot {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{:#x}", self.0))
    }
}

impl<'de> Deserialize<'de> for Addr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrVisitor {
            what: "a 0x-prefixed hex address string (at most 16 hex digits)",
            parse: parse_hex_u64,
        })
        .map(Addr)
    }
}

impl Serialize for Addr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{:#x}", self.0))
    }
}

impl<'de> Deserialize<'de> for HexBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrVisitor {
            what: "a 0x-prefixed hex string of bytes",
            parse: parse_hex_bytes,
        })
        .map(HexBytes)
    }
}

impl Serialize for HexBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex_string(&self.0))
    }
}

// ---------------------------------------------------------------------------------------
// Documents

/// A genesis file (`genesis.json`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisFile {
    /// Receives every fee.
    pub beneficiary: Addr,
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
#[serde(deny_unknown_fields)]
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
#[serde(deny_unknown_fields)]
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
#[serde(deny_unknown_fields)]
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
#[serde(deny_unknown_fields)]
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
#[serde(deny_unknown_fields)]
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
    /// Call arguments (calls only; at most [`MAX_ARGS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<Word>>,
    /// Declared access list (at most [`MAX_ACCESS`] entries).
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
#[serde(deny_unknown_fields)]
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
#[serde(deny_unknown_fields)]
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
#[serde(deny_unknown_fields)]
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

// ---------------------------------------------------------------------------------------
// Reading

/// Reads a file to a string; errors name the file.
pub fn read_text(path: &Path) -> Result<String, InputError> {
    fs::read_to_string(path)
        .map_err(|e| InputError::file(path.display().to_string(), format!("cannot read: {e}")))
}

/// One step of a field path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seg {
    /// An object member.
    Key(&'static str),
    /// An array element.
    Index(usize),
}

fn path_text(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

fn invalid(file: &str, text: &str, path: &[Seg], message: impl Into<String>) -> InputError {
    InputError {
        file: file.to_string(),
        position: locate(text, path),
        field: Some(path_text(path)),
        message: message.into(),
    }
}

/// Deserializes `text` strictly, mapping every error to an [`InputError`].
pub fn parse_json<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, InputError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        // serde_path_to_error writes `?` for a segment it could not name (inside a
        // syntax error, say); keep the part it could.
        let mut path = e.path().to_string();
        while let Some(stripped) = path.strip_suffix(".?").or_else(|| path.strip_suffix('?')) {
            path = stripped.to_string();
        }
        let field = (!path.is_empty() && path != ".").then_some(path);
        json_error(file, field, e.into_inner())
    })?;
    de.end().map_err(|e| json_error(file, None, e))?;
    Ok(value)
}

fn json_error(file: &str, field: Option<String>, e: serde_json::Error) -> InputError {
    let position = (e.line() != 0).then(|| (e.line(), e.column().max(1)));
    let mut message = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    if let Some(stripped) = message.strip_suffix(&suffix) {
        message = stripped.to_string();
    }
    if e.is_syntax() || e.is_eof() {
        message = format!("malformed JSON: {message}");
    }
    InputError { file: file.to_string(), position, field, message }
}

/// Parses and checks a genesis document.
pub fn parse_genesis(file: &str, text: &str) -> Result<World, InputError> {
    let g: GenesisFile = parse_json(file, text)?;
    use Seg::{Index, Key};
    let mut world = World { beneficiary: Address(g.beneficiary.0), ..World::default() };
    let mut seen: HashMap<u64, usize> = HashMap::new();
    let mut supply: u64 = 0;
    for (i, a) in g.accounts.iter().enumerate() {
        if let Some(j) = seen.insert(a.address.0, i) {
            return Err(invalid(
                file,
                text,
                &[Key("accounts"), Index(i), Key("address")],
                format!("duplicate account {:#x} (also accounts[{j}])", a.address.0),
            ));
        }
        supply = supply.checked_add(a.balance.0).ok_or_else(|| {
            invalid(
                file,
                text,
                &[Key("accounts"), Index(i), Key("balance")],
                "the balances up to here sum to more than 18446744073709551615 (the total \
                 supply must fit 64 bits)",
            )
        })?;
        world.accounts.push(GenesisAccount {
            addr: Address(a.address.0),
            balance: a.balance.0,
            nonce: a.nonce.0,
        });
    }
    let mut seen: HashMap<u64, usize> = HashMap::new();
    for (i, c) in g.contracts.iter().enumerate() {
        if let Some(j) = seen.insert(c.address.0, i) {
            return Err(invalid(
                file,
                text,
                &[Key("contracts"), Index(i), Key("address")],
                format!("duplicate contract {:#x} (also contracts[{j}])", c.address.0),
            ));
        }
        if c.code.0.len() > MAX_CODE_BYTES {
            return Err(invalid(
                file,
                text,
                &[Key("contracts"), Index(i), Key("code")],
                format!("{} bytes of code, at most {MAX_CODE_BYTES}", c.code.0.len()),
            ));
        }
        world.contracts.push((Address(c.address.0), c.code.0.clone()));
    }
    world.contracts.sort_by_key(|c| c.0);
    let mut seen: HashMap<(u64, u64), usize> = HashMap::new();
    for (i, s) in g.storage.iter().enumerate() {
        if let Some(j) = seen.insert((s.address.0, s.slot.0), i) {
            return Err(invalid(
                file,
                text,
                &[Key("storage"), Index(i), Key("slot")],
                format!(
                    "duplicate storage word {:#x} slot {:#x} (also storage[{j}])",
                    s.address.0, s.slot.0
                ),
            ));
        }
        world.storage.push(GenesisStorage {
            addr: Address(s.address.0),
            slot: s.slot.0,
            value: s.value.0,
        });
    }
    Ok(world)
}

/// Parses and checks a block document: `number` is its 1-based position in the chain;
/// calls must name contracts of `world`; at most `max_txs` transactions (at most
/// [`MAX_BLOCK_TXS`] whatever is given).
pub fn parse_block(
    file: &str,
    text: &str,
    number: u64,
    world: &World,
    max_txs: usize,
) -> Result<Vec<Transaction>, InputError> {
    let max_txs = max_txs.min(MAX_BLOCK_TXS);
    let b: BlockFile = parse_json(file, text)?;
    use Seg::{Index, Key};
    if let Some(n) = b.number {
        if n.0 != number {
            return Err(invalid(
                file,
                text,
                &[Key("number")],
                format!("expected {number} (the block's position in the chain), got {}", n.0),
            ));
        }
    }
    if b.transactions.len() > max_txs {
        return Err(invalid(
            file,
            text,
            &[Key("transactions")],
            format!(
                "{} transactions, more than the capacity of {max_txs} per block",
                b.transactions.len()
            ),
        ));
    }
    let mut txs = Vec::with_capacity(b.transactions.len());
    for (i, t) in b.transactions.iter().enumerate() {
        let at = |field: &'static str| [Key("transactions"), Index(i), Key(field)];
        let mut tx = match t.kind {
            KindJson::Transfer => {
                if t.args.is_some() {
                    return Err(invalid(
                        file,
                        text,
                        &at("args"),
                        "a transfer takes no args (use \"kind\": \"call\")",
                    ));
                }
                Transaction::transfer(
                    Address(t.from.0),
                    t.nonce.0,
                    Address(t.to.0),
                    t.value.0,
                    t.gas_limit.0,
                    t.gas_price.0,
                )
            }
            KindJson::Call => {
                let args: Vec<u64> = t.args.iter().flatten().map(|a| a.0).collect();
                if args.len() > MAX_ARGS {
                    return Err(invalid(
                        file,
                        text,
                        &at("args"),
                        format!("{} arguments, at most {MAX_ARGS}", args.len()),
                    ));
                }
                if world.contracts.binary_search_by_key(&t.to.0, |c| c.0 .0).is_err() {
                    return Err(invalid(
                        file,
                        text,
                        &at("to"),
                        format!("call to {:#x}, which has no contract in the genesis", t.to.0),
                    ));
                }
                Transaction::call(
                    Address(t.from.0),
                    t.nonce.0,
                    Address(t.to.0),
                    t.value.0,
                    &args,
                    t.gas_limit.0,
                    t.gas_price.0,
                )
                .map_err(|e| invalid(file, text, &at("args"), e.to_string()))?
            }
        };
        let access = match &t.access {
            None => None,
            Some(list) => {
                let mut out = AccessList::new();
                for a in list {
                    let key =
                        StateKey { addr: Address(a.address.0), kind: a.key.into(), slot: a.slot.0 };
                    if out.push(AccessEntry { key, write: a.write }).is_err() {
                        return Err(invalid(
                            file,
                            text,
                            &at("access"),
                            format!("{} access entries, at most {MAX_ACCESS}", list.len()),
                        ));
                    }
                }
                Some(out)
            }
        };
        tx.access = access;
        txs.push(tx);
    }
    Ok(txs)
}

/// Finds the 1-based line and column where the value at `path` starts in the JSON
/// `text` (`None` if the path is not there). Object keys are compared as written.
pub fn locate(text: &str, path: &[Seg]) -> Option<(usize, usize)> {
    let mut s = Scan { b: text.as_bytes(), i: 0 };
    s.ws();
    for seg in path {
        match *seg {
            Seg::Key(key) => {
                s.eat(b'{')?;
                loop {
                    s.ws();
                    let k = s.string()?;
                    s.ws();
                    s.eat(b':')?;
                    s.ws();
                    if k == key.as_bytes() {
                        break;
                    }
                    s.skip_value()?;
                    s.ws();
                    s.eat(b',')?;
                }
            }
            Seg::Index(n) => {
                s.eat(b'[')?;
                for _ in 0..n {
                    s.ws();
                    s.skip_value()?;
                    s.ws();
                    s.eat(b',')?;
                }
                s.ws();
            }
        }
    }
    let before = &text.as_bytes()[..s.i];
    let line = before.iter().filter(|&&c| c == b'\n').count() + 1;
    let start = before.iter().rposition(|&c| c == b'\n').map_or(0, |p| p + 1);
    let column = String::from_utf8_lossy(&before[start..]).chars().count() + 1;
    Some((line, column))
}

struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scan<'a> {
    fn ws(&mut self) {
        while self.b.get(self.i).is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) -> Option<()> {
        (self.b.get(self.i) == Some(&c)).then(|| self.i += 1)
    }
    /// A string's raw bytes (escapes left as written).
    fn string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let start = self.i;
        loop {
            match *self.b.get(self.i)? {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    return Some(&self.b[start..self.i - 1]);
                }
                _ => self.i += 1,
            }
        }
    }
    fn skip_value(&mut self) -> Option<()> {
        match *self.b.get(self.i)? {
            b'"' => self.string().map(|_| ()),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match *self.b.get(self.i)? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
            }
            _ => {
                while self
                    .b
                    .get(self.i)
                    .is_some_and(|c| !matches!(c, b',' | b'}' | b']') && !c.is_ascii_whitespace())
                {
                    self.i += 1;
                }
                Some(())
            }
        }
    }
}

/// Reads and parses a genesis file.
pub fn load_genesis(path: &Path) -> Result<World, InputError> {
    let text = read_text(path)?;
    parse_genesis(&path.display().to_string(), &text)
}

/// Reads and parses block files, numbered from 1 in the order given (see
/// [`parse_block`]).
pub fn load_blocks(
    paths: &[PathBuf],
    world: &World,
    max_txs: usize,
) -> Result<Vec<Vec<Transaction>>, InputError> {
    paths
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let text = read_text(p)?;
            parse_block(&p.display().to_string(), &text, i as u64 + 1, world, max_txs)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Writing

/// The sample contract whose code is `code`, if any.
pub fn sample_of(code: &[u8]) -> Option<Sample> {
    Sample::ALL.into_iter().find(|s| {
        let mut buf = [0u8; MAX_CODE_LEN];
        s.build(&mut buf).is_ok_and(|n| &buf[..n] == code)
    })
}

fn lines<T: Serialize>(out: &mut String, key: &str, items: &[T], last: bool) {
    out.push_str(&format!("  \"{key}\": ["));
    for (i, item) in items.iter().enumerate() {
        out.push_str(if i == 0 { "\n    " } else { ",\n    " });
        // Serializing these plain structs to a string cannot fail.
        out.push_str(&serde_json::to_string(item).unwrap_or_default());
    }
    out.push_str(if items.is_empty() { "]" } else { "\n  ]" });
    out.push_str(if last { "\n" } else { ",\n" });
}

/// The genesis document of `world`, one account, contract or storage word per line.
pub fn genesis_to_json(world: &World) -> String {
    let accounts: Vec<AccountJson> = world
        .accounts
        .iter()
        .map(|a| AccountJson {
            address: Addr(a.addr.0),
            balance: Amount(a.balance),
            nonce: Amount(a.nonce),
        })
        .collect();
    let contracts: Vec<ContractJson> = world
        .contracts
        .iter()
        .map(|(a, code)| ContractJson {
            address: Addr(a.0),
            name: sample_of(code).map(|s| s.name().to_string()),
            code: HexBytes(code.clone()),
        })
        .collect();
    let storage: Vec<StorageJson> = world
        .storage
        .iter()
        .map(|s| StorageJson { address: Addr(s.addr.0), slot: Slot(s.slot), value: Word(s.value) })
        .collect();
    let mut out = format!("{{\n  \"beneficiary\": \"{:#x}\",\n", world.beneficiary.0);
    lines(&mut out, "accounts", &accounts, false);
    lines(&mut out, "contracts", &contracts, false);
    lines(&mut out, "storage", &storage, true);
    out.push_str("}\n");
    out
}

/// The JSON form of one transaction.
pub fn tx_to_json(tx: &Transaction) -> TxJson {
    let (kind, args) = match &tx.kind {
        TxKind::Transfer { .. } => (KindJson::Transfer, None),
        TxKind::Call { args, .. } => {
            (KindJson::Call, Some(args.iter().map(|a| Word(*a)).collect()))
        }
    };
    TxJson {
        from: Addr(tx.from.0),
        nonce: Amount(tx.nonce),
        gas_limit: Amount(tx.gas_limit),
        gas_price: Amount(tx.gas_price),
        kind,
        to: Addr(tx.to().0),
        value: Amount(tx.value()),
        args,
        access: tx.access.as_ref().map(|l| {
            l.iter()
                .map(|a| AccessJson {
                    address: Addr(a.key.addr.0),
                    key: a.key.kind.into(),
                    slot: Slot(a.key.slot),
                    write: a.write,
                })
                .collect()
        }),
    }
}

/// The block document for block `number`, one transaction per line.
pub fn block_to_json(number: u64, txs: &[Transaction]) -> String {
    let txs: Vec<TxJson> = txs.iter().map(tx_to_json).collect();
    let mut out = format!("{{\n  \"number\": {number},\n");
    lines(&mut out, "transactions", &txs, true);
    out.push_str("}\n");
    out
}

/// The `--dump-state` document.
pub fn state_to_json(
    number: u64,
    block_hash: &Hash32,
    root: &Hash32,
    state: &[StateEntry],
) -> String {
    let entries: Vec<EntryJson> = state
        .iter()
        .map(|e| EntryJson {
            address: Addr(e.key.addr.0),
            key: e.key.kind.into(),
            slot: Slot(e.key.slot),
            value: Word(e.value),
        })
        .collect();
    let mut out = format!(
        "{{\n  \"block_number\": {number},\n  \"block_hash\": \"{}\",\n  \"state_root\": \"{}\",\n",
        hash_hex(block_hash),
        hash_hex(root)
    );
    lines(&mut out, "entries", &entries, true);
    out.push_str("}\n");
    out
}

/// Writes `bytes` to `path` atomically: into a temporary file in the same directory,
/// flushed to disk, then renamed over `path`. On error the temporary file is removed and
/// `path` is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let tmp = dir.join(format!(".{}.tmp.{}", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
