//! The sharded checkpoint file (`parex run --checkpoint FILE`, `--resume FILE`):
//! [`checkpoint_to_json`] and [`parse_checkpoint`], field by field in `docs/formats.md`
//! ("Sharded checkpoint"). Parsing checks the shape (shards in order, proofs of the
//! right length); whether the headers chain and the messages hold is the shard code's
//! to check (`shard::Checkpoint::check`, and delivery).

use parex_core::block::BlockHeader;
use parex_core::merkle::list_height;
use parex_core::shard::{BatchProof, GlobalHeader, Message, MessageKind, ShardHeader};
use parex_core::state::StateEntry;
use parex_core::tx::MAX_ARGS;
use parex_core::{Address, Shard};
use serde::{Deserialize, Serialize};

use super::locate::{invalid, Seg};
use super::read::{parse_json, read_text};
use super::schema::EntryJson;
use super::values::{Addr, Amount, Digest, Word};
use super::InputError;
use crate::shard::{Batch, Checkpoint};

/// The highest height a checkpoint may be of.
const MAX_HEIGHT: u64 = 1 << 62;

/// A checkpoint file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a checkpoint object")]
struct CheckpointFile {
    shards: Amount,
    height: Amount,
    global_root: Digest,
    parent_hash: Digest,
    shards_root: Digest,
    shard_blocks: Vec<ShardBlockJson>,
    batches: Vec<BatchJson>,
}

/// One shard's last block, its shard header's fields and its state.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a shard block object")]
struct ShardBlockJson {
    shard: Amount,
    parent_hash: Digest,
    beneficiary: Addr,
    tx_root: Digest,
    receipts_root: Digest,
    state_root: Digest,
    gas_used: Amount,
    tx_count: Amount,
    block_hash: Digest,
    outbox_root: Digest,
    outbox_count: Amount,
    entries: Vec<EntryJson>,
}

/// The messages in flight from one shard to another, and the proof of their batch root.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a batch object")]
struct BatchJson {
    source: Amount,
    dest: Amount,
    siblings: Vec<Digest>,
    messages: Vec<MessageJson>,
}

/// One message of a batch.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a message object")]
struct MessageJson {
    seq: Amount,
    height: Amount,
    kind: MessageKindJson,
    from: Addr,
    to: Addr,
    value: Amount,
    /// A call's gas.
    #[serde(default, skip_serializing_if = "is_zero")]
    gas: Amount,
    /// A call's arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    args: Vec<Word>,
}

fn is_zero(a: &Amount) -> bool {
    a.0 == 0
}

/// A message's kind.
#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum MessageKindJson {
    Transfer,
    Call,
    Refund,
}

impl From<MessageKind> for MessageKindJson {
    fn from(k: MessageKind) -> Self {
        match k {
            MessageKind::Transfer => Self::Transfer,
            MessageKind::Call => Self::Call,
            MessageKind::Refund => Self::Refund,
        }
    }
}

impl From<MessageKindJson> for MessageKind {
    fn from(k: MessageKindJson) -> Self {
        match k {
            MessageKindJson::Transfer => Self::Transfer,
            MessageKindJson::Call => Self::Call,
            MessageKindJson::Refund => Self::Refund,
        }
    }
}

/// The checkpoint document of `c`.
pub fn checkpoint_to_json(c: &Checkpoint) -> String {
    let shard_blocks: Vec<ShardBlockJson> = c
        .blocks
        .iter()
        .zip(&c.headers)
        .zip(&c.states)
        .map(|((b, h), state)| ShardBlockJson {
            shard: Amount(u64::from(h.shard)),
            parent_hash: Digest(b.parent_hash),
            beneficiary: Addr(b.beneficiary.0),
            tx_root: Digest(b.tx_root),
            receipts_root: Digest(b.receipts_root),
            state_root: Digest(b.state_root),
            gas_used: Amount(b.gas_used),
            tx_count: Amount(b.tx_count),
            block_hash: Digest(h.block_hash),
            outbox_root: Digest(h.outbox_root),
            outbox_count: Amount(h.outbox_count),
            entries: state.iter().map(EntryJson::from).collect(),
        })
        .collect();
    let batches: Vec<BatchJson> = c
        .batches
        .iter()
        .map(|b| BatchJson {
            source: Amount(u64::from(b.source)),
            dest: Amount(u64::from(b.dest)),
            siblings: b.proof.siblings[..list_height(b.proof.count as usize)]
                .iter()
                .flatten()
                .map(|d| Digest(*d))
                .collect(),
            messages: b
                .messages
                .iter()
                .map(|m| MessageJson {
                    seq: Amount(m.seq),
                    height: Amount(m.height),
                    kind: m.kind.into(),
                    from: Addr(m.from.0),
                    to: Addr(m.to.0),
                    value: Amount(m.value),
                    gas: Amount(m.gas),
                    args: m.args[..(m.nargs as usize).min(MAX_ARGS)]
                        .iter()
                        .map(|a| Word(*a))
                        .collect(),
                })
                .collect(),
        })
        .collect();
    // One state word and one message per line, as the other files are written.
    let mut out = format!(
        "{{\n  \"shards\": {},\n  \"height\": {},\n  \"global_root\": {},\n  \
         \"parent_hash\": {},\n  \"shards_root\": {},\n",
        c.headers.len(),
        c.height,
        json(&Digest(c.global_hash)),
        json(&Digest(c.global.parent_hash)),
        json(&Digest(c.global.shards_root)),
    );
    let blocks: Vec<String> = shard_blocks
        .into_iter()
        .map(|mut b: ShardBlockJson| {
            let entries: Vec<String> = std::mem::take(&mut b.entries).iter().map(json).collect();
            with_list(&json(&b), "entries", &entries)
        })
        .collect();
    out += &format!("  \"shard_blocks\": [{}],\n", list(&blocks, "\n    ", "\n  "));
    let batches: Vec<String> = batches
        .into_iter()
        .map(|mut b: BatchJson| {
            let messages: Vec<String> = std::mem::take(&mut b.messages).iter().map(json).collect();
            with_list(&json(&b), "messages", &messages)
        })
        .collect();
    out += &format!("  \"batches\": [{}]\n}}\n", list(&batches, "\n    ", "\n  "));
    out
}

/// `value` as one line of JSON (plain structs of strings and numbers: cannot fail).
fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// `items` joined by commas, each after `before`, the last followed by `after` (nothing
/// for none).
fn list(items: &[String], before: &str, after: &str) -> String {
    if items.is_empty() {
        return String::new();
    }
    let joined: Vec<String> = items.iter().map(|i| format!("{before}{i}")).collect();
    format!("{}{after}", joined.join(","))
}

/// `object` (one line, ending in `"key":[]}`) with its `key` list filled with `items`,
/// one per line.
fn with_list(object: &str, key: &str, items: &[String]) -> String {
    let empty = format!("\"{key}\":[]}}");
    let head = object.strip_suffix(&empty).unwrap_or(object);
    format!("{head}\"{key}\":[{}]}}", list(items, "\n      ", "\n    "))
}

/// Reads the checkpoint file at `path`.
pub fn load_checkpoint(path: &std::path::Path) -> Result<Checkpoint, InputError> {
    let text = read_text(path)?;
    parse_checkpoint(&path.display().to_string(), &text)
}

/// Parses a checkpoint document.
pub fn parse_checkpoint(file: &str, text: &str) -> Result<Checkpoint, InputError> {
    use Seg::{Index, Key};
    let doc: CheckpointFile = parse_json(file, text)?;
    let bad = |at: &[Seg], message: String| invalid(file, text, at, message);
    let shards = doc.shards.0;
    if !(1..=u64::from(Shard::MAX)).contains(&shards) {
        return Err(bad(&[Key("shards")], format!("expected 1 to {} shards", Shard::MAX)));
    }
    if doc.shard_blocks.len() as u64 != shards {
        let message = format!("{} shard blocks for {shards} shards", doc.shard_blocks.len());
        return Err(bad(&[Key("shard_blocks")], message));
    }
    let height = doc.height.0;
    // Heights after it are counted from it: keep them far from 2^64.
    if height > MAX_HEIGHT {
        return Err(bad(&[Key("height")], format!("{height} is above {MAX_HEIGHT}")));
    }
    let (mut blocks, mut headers, mut states) = (Vec::new(), Vec::new(), Vec::new());
    for (i, b) in doc.shard_blocks.iter().enumerate() {
        if b.shard.0 != i as u64 {
            let message = format!("expected shard {i} (shard blocks in shard order)");
            return Err(bad(&[Key("shard_blocks"), Index(i), Key("shard")], message));
        }
        blocks.push(BlockHeader {
            parent_hash: b.parent_hash.0,
            number: height,
            beneficiary: Address(b.beneficiary.0),
            tx_root: b.tx_root.0,
            receipts_root: b.receipts_root.0,
            state_root: b.state_root.0,
            gas_used: b.gas_used.0,
            tx_count: b.tx_count.0,
        });
        headers.push(ShardHeader {
            number: height,
            shard: i as u16,
            shards: shards as u16,
            block_hash: b.block_hash.0,
            outbox_root: b.outbox_root.0,
            outbox_count: b.outbox_count.0,
        });
        states.push(b.entries.iter().map(StateEntry::from).collect());
    }
    let levels = list_height(shards as usize);
    let mut batches = Vec::with_capacity(doc.batches.len());
    for (i, b) in doc.batches.iter().enumerate() {
        let at = |field: &'static str| [Key("batches"), Index(i), Key(field)];
        let shard = |v: &Amount, field| {
            u16::try_from(v.0).map_err(|_| bad(&at(field), format!("no shard {}", v.0)))
        };
        let (source, dest) = (shard(&b.source, "source")?, shard(&b.dest, "dest")?);
        if b.siblings.len() != 3 * levels {
            let message = format!(
                "{} siblings, expected {} (three per level over {shards} shards)",
                b.siblings.len(),
                3 * levels
            );
            return Err(bad(&at("siblings"), message));
        }
        let mut proof =
            BatchProof { index: u32::from(dest), count: shards as u32, ..BatchProof::default() };
        for (d, s) in b.siblings.iter().zip(proof.siblings.iter_mut().flatten()) {
            *s = d.0;
        }
        let mut messages = Vec::with_capacity(b.messages.len());
        for (k, m) in b.messages.iter().enumerate() {
            if m.args.len() > MAX_ARGS {
                let at = [Key("batches"), Index(i), Key("messages"), Index(k), Key("args")];
                let message = format!("{} arguments, at most {MAX_ARGS}", m.args.len());
                return Err(bad(&at, message));
            }
            let mut args = [0; MAX_ARGS];
            for (a, w) in args.iter_mut().zip(&m.args) {
                *a = w.0;
            }
            messages.push(Message {
                source,
                dest,
                seq: m.seq.0,
                height: m.height.0,
                from: Address(m.from.0),
                to: Address(m.to.0),
                value: m.value.0,
                kind: m.kind.into(),
                gas: m.gas.0,
                args,
                nargs: m.args.len() as u8,
            });
        }
        batches.push(Batch { source, dest, messages, proof });
    }
    Ok(Checkpoint {
        height,
        global: GlobalHeader {
            number: height,
            parent_hash: doc.parent_hash.0,
            shards: shards as u16,
            shards_root: doc.shards_root.0,
        },
        global_hash: doc.global_root.0,
        blocks,
        headers,
        states,
        batches,
    })
}
