//! A block document read transaction by transaction ([`BlockSeed`]): each is checked
//! and turned into the core's [`Transaction`] as soon as it is read, so that a block's
//! transactions are never held twice (as JSON structs and as transactions). The fields,
//! their defaults and the errors are those of [`BlockFile`](super::BlockFile).

use std::fmt;

use parex_core::tx::{AccessList, Transaction};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::read::transaction;
use super::schema::TxJson;
use super::values::Amount;
use super::InputError;
use crate::workload::World;

/// A block file as read: its transactions as far as they are valid, how many there are,
/// and the first one that is not, with why.
pub(super) struct BlockRead {
    pub(super) number: Option<u64>,
    /// Transactions in the file (converted: at most the capacity).
    pub(super) count: usize,
    pub(super) txs: Vec<Transaction<'static>>,
    /// The declared access lists, by index in `txs`.
    pub(super) lists: Vec<(usize, AccessList)>,
    pub(super) error: Option<InputError>,
}

/// Reads a block document; converts its first `max_txs` transactions until one fails.
#[derive(Clone, Copy)]
pub(super) struct BlockSeed<'a> {
    pub(super) file: &'a str,
    pub(super) text: &'a str,
    pub(super) world: &'a World,
    pub(super) max_txs: usize,
}

/// The shortest text a transaction can have (`{"from":"0x0","nonce":0,"gas_limit":0,
/// "gas_price":0,"kind":"call","to":"0x0"}` and a comma is 78 bytes): room for the
/// transactions of a text is reserved from its length, so the list never moves.
pub(super) const MIN_TX_TEXT: usize = 64;

const FIELDS: &[&str] = &["number", "transactions"];

impl<'de> DeserializeSeed<'de> for BlockSeed<'_> {
    type Value = BlockRead;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<BlockRead, D::Error> {
        d.deserialize_struct("BlockFile", FIELDS, self)
    }
}

impl<'de> Visitor<'de> for BlockSeed<'_> {
    type Value = BlockRead;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a block object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BlockRead, A::Error> {
        let mut number: Option<Option<Amount>> = None;
        let mut read = None;
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Number if number.is_some() => {
                    return Err(de::Error::duplicate_field("number"));
                }
                Field::Number => number = Some(map.next_value()?),
                Field::Transactions if read.is_some() => {
                    return Err(de::Error::duplicate_field("transactions"));
                }
                Field::Transactions => read = Some(map.next_value_seed(TxsSeed(self))?),
            }
        }
        let mut read: BlockRead = read.ok_or_else(|| de::Error::missing_field("transactions"))?;
        read.number = number.flatten().map(|n| n.0);
        Ok(read)
    }
}

/// The `transactions` array (`split.rs` reads a large file's pieces element by element
/// instead).
struct TxsSeed<'a>(BlockSeed<'a>);

impl<'de> DeserializeSeed<'de> for TxsSeed<'_> {
    type Value = BlockRead;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<BlockRead, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for TxsSeed<'_> {
    type Value = BlockRead;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<BlockRead, A::Error> {
        let b = self.0;
        let room = (b.text.len() / MIN_TX_TEXT).min(b.max_txs);
        let mut read = BlockRead {
            number: None,
            count: 0,
            txs: Vec::with_capacity(room),
            lists: Vec::new(),
            error: None,
        };
        // Every element is read (a later syntax or type error is still the one reported),
        // but converted only up to the capacity and the first failure.
        while let Some(t) = seq.next_element::<TxJson>()? {
            if read.error.is_none() && read.count < b.max_txs {
                match transaction(b.file, b.text, read.count, &t, b.world) {
                    Ok((tx, list)) => {
                        if let Some(list) = list {
                            read.lists.push((read.txs.len(), list));
                        }
                        read.txs.push(tx);
                    }
                    Err(e) => read.error = Some(e),
                }
            }
            read.count += 1;
        }
        read.txs.shrink_to_fit();
        Ok(read)
    }
}

/// A block object's key.
enum Field {
    Number,
    Transactions,
}

impl<'de> de::Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_identifier(FieldVisitor)
    }
}

struct FieldVisitor;

impl Visitor<'_> for FieldVisitor {
    type Value = Field;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field identifier")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
        match v {
            "number" => Ok(Field::Number),
            "transactions" => Ok(Field::Transactions),
            _ => Err(E::unknown_field(v, FIELDS)),
        }
    }
}
