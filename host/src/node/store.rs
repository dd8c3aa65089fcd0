//! What a node keeps on disk, in one `redb` database ([`Store`]): every decided block
//! with its commit certificate and receipts, where each transaction went, the state at
//! the tip, and the blocks proposed but not decided yet (the engine's write-ahead log
//! keeps only their headers).
//!
//! A height is written in one transaction ([`Store::commit`]): its block, certificate,
//! receipts, transaction index, the state words it changed and the new tip land together
//! or not at all, so a node killed at any point restarts at a height it decided, with that
//! height's state, and catches up on the rest from its peers.

use std::path::Path;

use malachitebft_app_channel::app::types::core::{ExtendedCommitCertificate, Round, Validity};
use parex_core::receipt::{Receipt, Status};
use parex_core::state::StateEntry;
use parex_core::{Address, Hash32, KeyKind, StateKey};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::block::Block;
use super::chain::{Saved, Tip};
use super::codec::{self, CodecError, Reader, Wire, Writer};
use super::types::{Height, ParexContext, ValidatorAddress};

const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
const CERTIFICATES: TableDefinition<u64, &[u8]> = TableDefinition::new("certificates");
const RECEIPTS: TableDefinition<u64, &[u8]> = TableDefinition::new("receipts");
/// Transaction hash → height (8 bytes) and index (4 bytes), little-endian.
const TX_INDEX: TableDefinition<&[u8], &[u8]> = TableDefinition::new("tx_index");
/// Block hash → an undecided proposal ([`Undecided`]).
const UNDECIDED: TableDefinition<&[u8], &[u8]> = TableDefinition::new("undecided");
/// The state at the tip: each word by its place in the state's leaf order.
const STATE: TableDefinition<u64, &[u8]> = TableDefinition::new("state");
/// `tip` (height and hash) and `words` (how many words the state holds).
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// A failed store operation, worded.
pub type StoreResult<T> = Result<T, String>;

fn err(e: impl std::fmt::Display) -> String {
    format!("store: {e}")
}

/// A proposal seen but not decided: enough to hand it back to the engine after a
/// restart and to commit it if it is decided.
#[derive(Clone, Debug)]
pub struct Undecided {
    /// Height.
    pub height: Height,
    /// Round it was proposed in.
    pub round: Round,
    /// The polka round of a re-proposal.
    pub valid_round: Round,
    /// Its proposer.
    pub proposer: ValidatorAddress,
    /// Whether this node found it valid.
    pub validity: Validity,
    /// The block.
    pub block: Block,
}

impl Wire for Undecided {
    fn put(&self, w: &mut Writer) {
        self.height.put(w);
        self.round.put(w);
        self.valid_round.put(w);
        self.proposer.put(w);
        w.u8(self.validity.is_valid() as u8);
        self.block.put(w);
    }

    fn get(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(Self {
            height: Height::get(r)?,
            round: Round::get(r)?,
            valid_round: Round::get(r)?,
            proposer: ValidatorAddress::get(r)?,
            validity: Validity::from_bool(r.u8()? == 1),
            block: Block::get(r)?,
        })
    }
}

/// A decided block as the store keeps it.
pub struct Decided {
    /// The block.
    pub block: Block,
    /// Its receipts.
    pub receipts: Vec<Receipt>,
}

/// The node's database.
pub struct Store {
    db: Database,
}

impl Store {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> StoreResult<Self> {
        let db = Database::create(path).map_err(err)?;
        let tx = db.begin_write().map_err(err)?;
        tx.open_table(BLOCKS).map_err(err)?;
        tx.open_table(CERTIFICATES).map_err(err)?;
        tx.open_table(RECEIPTS).map_err(err)?;
        tx.open_table(TX_INDEX).map_err(err)?;
        tx.open_table(UNDECIDED).map_err(err)?;
        tx.open_table(STATE).map_err(err)?;
        tx.open_table(META).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(Self { db })
    }

    /// The last decided block, and the state after it; `None` before the first.
    pub fn saved(&self) -> StoreResult<Option<Saved>> {
        let tx = self.db.begin_read().map_err(err)?;
        let meta = tx.open_table(META).map_err(err)?;
        let (Some(tip), Some(words)) =
            (meta.get("tip").map_err(err)?, meta.get("words").map_err(err)?)
        else {
            return Ok(None);
        };
        let tip = decode_tip(tip.value()).map_err(err)?;
        let words = Reader::new(words.value()).u64().map_err(err)?;
        let state = tx.open_table(STATE).map_err(err)?;
        let mut entries = Vec::with_capacity(words.min(1 << 24) as usize);
        for (i, row) in state.range(0..words).map_err(err)?.enumerate() {
            let (at, word) = row.map_err(err)?;
            if at.value() != i as u64 {
                return Err(err(format!("state word {i} missing")));
            }
            entries.push(decode_word(word.value()).map_err(err)?);
        }
        if entries.len() as u64 != words {
            return Err(err(format!("{} state words of {words}", entries.len())));
        }
        let blocks = tx.open_table(BLOCKS).map_err(err)?;
        let Some(block) = blocks.get(tip.height).map_err(err)? else {
            return Err(err(format!("the tip's block {} is missing", tip.height)));
        };
        let state_root = Block::from_bytes(block.value()).map_err(err)?.value.header.state_root;
        Ok(Some(Saved { tip, entries, state_root }))
    }

    /// The last decided height's number and hash (zero before the first).
    pub fn tip(&self) -> StoreResult<Tip> {
        let tx = self.db.begin_read().map_err(err)?;
        let meta = tx.open_table(META).map_err(err)?;
        let tip = meta.get("tip").map_err(err)?;
        match tip {
            Some(tip) => decode_tip(tip.value()).map_err(err),
            None => Ok(Tip::default()),
        }
    }

    /// Writes a decided height at once: its block, certificate, receipts, the
    /// transactions' places, the state words it `changed` (by place) and the state's
    /// number of `words`, and the new tip; forgets the undecided proposals up to it.
    pub fn commit(
        &self,
        block: &Block,
        certificate: &ExtendedCommitCertificate<ParexContext>,
        receipts: &[Receipt],
        changed: &[(u64, StateEntry)],
        words: u64,
    ) -> StoreResult<()> {
        let height = block.value.header.number;
        let tx = self.db.begin_write().map_err(err)?;
        {
            tx.open_table(BLOCKS)
                .map_err(err)?
                .insert(height, block.to_bytes().as_slice())
                .map_err(err)?;
            let cert = codec::encode(certificate);
            tx.open_table(CERTIFICATES).map_err(err)?.insert(height, cert.as_ref()).map_err(err)?;
            let mut w = Writer::versioned();
            w.len(receipts.len());
            receipts.iter().for_each(|r| w.fixed(&r.encode()));
            tx.open_table(RECEIPTS).map_err(err)?.insert(height, w.0.as_slice()).map_err(err)?;
            let mut index = tx.open_table(TX_INDEX).map_err(err)?;
            for (i, t) in block.txs.iter().enumerate() {
                let mut place = [0u8; 12];
                place[..8].copy_from_slice(&height.to_le_bytes());
                place[8..].copy_from_slice(&(i as u32).to_le_bytes());
                index.insert(t.hash.as_slice(), place.as_slice()).map_err(err)?;
            }
            let mut state = tx.open_table(STATE).map_err(err)?;
            for (at, word) in changed {
                state.insert(*at, encode_word(word).as_slice()).map_err(err)?;
            }
            let mut meta = tx.open_table(META).map_err(err)?;
            meta.insert("words", words.to_le_bytes().as_slice()).map_err(err)?;
            let mut tip = [0u8; 40];
            tip[..8].copy_from_slice(&height.to_le_bytes());
            tip[8..].copy_from_slice(&block.value.hash);
            meta.insert("tip", tip.as_slice()).map_err(err)?;
            let mut undecided = tx.open_table(UNDECIDED).map_err(err)?;
            undecided
                .retain(|_, v| {
                    Reader::versioned(v)
                        .and_then(|mut r| Height::get(&mut r))
                        .is_ok_and(|h| h.0 > height)
                })
                .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// Keeps a proposal until its height is decided.
    pub fn keep_undecided(&self, u: &Undecided) -> StoreResult<()> {
        let tx = self.db.begin_write().map_err(err)?;
        {
            let bytes = codec::encode(u);
            let mut t = tx.open_table(UNDECIDED).map_err(err)?;
            t.insert(u.block.value.hash.as_slice(), bytes.as_ref()).map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// The undecided proposal of the block `hash`.
    pub fn undecided(&self, hash: &Hash32) -> StoreResult<Option<Undecided>> {
        let tx = self.db.begin_read().map_err(err)?;
        let t = tx.open_table(UNDECIDED).map_err(err)?;
        let found = t.get(hash.as_slice()).map_err(err)?;
        found.map(|v| codec::decode(v.value()).map_err(err)).transpose()
    }

    /// Every undecided proposal at `height`.
    pub fn undecided_at(&self, height: Height) -> StoreResult<Vec<Undecided>> {
        let tx = self.db.begin_read().map_err(err)?;
        let t = tx.open_table(UNDECIDED).map_err(err)?;
        let mut out = Vec::new();
        for entry in t.iter().map_err(err)? {
            let (_, v) = entry.map_err(err)?;
            let u: Undecided = codec::decode(v.value()).map_err(err)?;
            if u.height == height {
                out.push(u);
            }
        }
        Ok(out)
    }

    /// The decided block at `height`, with its receipts.
    pub fn decided(&self, height: u64) -> StoreResult<Option<Decided>> {
        let tx = self.db.begin_read().map_err(err)?;
        let blocks = tx.open_table(BLOCKS).map_err(err)?;
        let Some(bytes) = blocks.get(height).map_err(err)? else {
            return Ok(None);
        };
        let block = Block::from_bytes(bytes.value()).map_err(err)?;
        let receipts_table = tx.open_table(RECEIPTS).map_err(err)?;
        let receipts = match receipts_table.get(height).map_err(err)? {
            Some(r) => decode_receipts(r.value()).map_err(err)?,
            None => Vec::new(),
        };
        Ok(Some(Decided { block, receipts }))
    }

    /// The decided block at `height` as bytes and its certificate (what sync serves).
    pub fn raw_decided(
        &self,
        height: u64,
    ) -> StoreResult<Option<(Vec<u8>, ExtendedCommitCertificate<ParexContext>)>> {
        let tx = self.db.begin_read().map_err(err)?;
        let block = tx.open_table(BLOCKS).map_err(err)?;
        let certs = tx.open_table(CERTIFICATES).map_err(err)?;
        let (Some(b), Some(c)) = (block.get(height).map_err(err)?, certs.get(height).map_err(err)?)
        else {
            return Ok(None);
        };
        let cert = codec::decode(c.value()).map_err(err)?;
        Ok(Some((b.value().to_vec(), cert)))
    }

    /// Where the transaction `hash` was decided: height and index.
    pub fn find_tx(&self, hash: &Hash32) -> StoreResult<Option<(u64, u32)>> {
        let tx = self.db.begin_read().map_err(err)?;
        let t = tx.open_table(TX_INDEX).map_err(err)?;
        let found = t.get(hash.as_slice()).map_err(err)?;
        Ok(found.and_then(|v| {
            let v = v.value();
            let height = u64::from_le_bytes(v.get(..8)?.try_into().ok()?);
            let index = u32::from_le_bytes(v.get(8..12)?.try_into().ok()?);
            Some((height, index))
        }))
    }
}

fn decode_tip(b: &[u8]) -> Result<Tip, CodecError> {
    let mut r = Reader::new(b);
    let tip = Tip { height: r.u64()?, hash: r.array()? };
    r.end()?;
    Ok(tip)
}

/// A state word: address, kind, slot, value.
fn encode_word(e: &StateEntry) -> [u8; StateKey::ENCODED_LEN + 8] {
    let mut b = [0u8; StateKey::ENCODED_LEN + 8];
    b[..StateKey::ENCODED_LEN].copy_from_slice(&e.key.to_bytes());
    b[StateKey::ENCODED_LEN..].copy_from_slice(&e.value.to_le_bytes());
    b
}

fn decode_word(b: &[u8]) -> Result<StateEntry, CodecError> {
    let mut r = Reader::new(b);
    let addr = Address(r.u64()?);
    let kind = r.u8()?;
    let kind = KeyKind::from_u8(kind).ok_or_else(|| CodecError(format!("key kind {kind}")))?;
    let slot = r.u64()?;
    let value = r.u64()?;
    r.end()?;
    Ok(StateEntry { key: StateKey { addr, kind, slot }, value })
}

fn decode_receipts(b: &[u8]) -> Result<Vec<Receipt>, CodecError> {
    let mut r = Reader::versioned(b)?;
    let n = r.len(Receipt::ENCODED_LEN)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let status = r.u8()?;
        let status = Status::from_u8(status)
            .ok_or_else(|| CodecError(format!("receipt status {status}")))?;
        out.push(Receipt {
            status,
            gas_used: r.u64()?,
            output: r.u64()?,
            logs_digest: r.array()?,
            logs: r.u32()?,
            undeclared_access: r.u8()? == 1,
        });
    }
    r.end()?;
    Ok(out)
}
