//! Shards: what one shard of a sharded chain does on its own, `no_std` and without
//! allocation, so that an appliance can be a shard. The rules are in
//! `docs/semantics.md` ("Shards"); the host routes messages between shards and runs
//! them on threads (`parex-host`, `shard/`).
//!
//! ```text
//!  height h-1, shard s                               height h, shard d
//!  ─────────────────────                             ─────────────────────────────────
//!  block: a transfer or call to d debits             1. accept() the batch from every
//!    the sender only (`BlockEnv::shard`)                shard (its root against the
//!  emit(): Transfer / Call messages, and a              source's outbox root; numbers
//!    Refund per failed delivered call                   from d's received counters)
//!  sort_outbox: one batch per destination            2. system writes: d's sent counters
//!  batch_roots ─▶ OutboxTree ─▶ outbox root             += its messages of h-1; received
//!  ShardHeader { block hash, outbox root }              counters += 1 a message; transfer
//!        │                                              and refund values credited
//!        └── batches, proofs, headers ─ host ──▶    3. the block: delivered calls
//!                                                       (`Message::delivered`) first
//! ```
//!
//! A shard exchanges only batches, proofs and headers with the others, so a shard
//! could be a separate process or a separately replicated chain. Each message is
//! delivered at the next height, in the order of its source shard, then its sequence
//! number; the counters that make delivery exactly-once are state words of the system
//! addresses ([`sent_key`], [`received_key`]), so the state root commits them.

mod error;
mod header;
mod proof;

pub use error::ShardError;
pub use header::{GlobalHeader, ShardHeader};
pub use proof::{verify, BatchProof, OutboxTree, PROOF_LEVELS};

use core::ops::Range;

use crate::exec::INTRINSIC_GAS;
use crate::hash::Hasher;
use crate::merkle::{list_root, HashScratch};
use crate::receipt::Receipt;
use crate::state::{sort_by_key, State, StateEntry};
use crate::tx::{Transaction, TxKind, MAX_ARGS};
use crate::types::{Address, Hash32, Shard, StateKey};
use heapless::Vec as HVec;

/// Addresses from here up belong to the system in a sharded chain: a genesis may not use
/// them.
pub const SYSTEM_ADDRESSES: u64 = 0xFFFF_FFFF_FFFF_FF00;
/// Holds a shard's sent counters: storage word `d` counts the messages sent to shard `d`.
pub const OUTBOX: Address = Address(0xFFFF_FFFF_FFFF_FFF0);
/// Holds a shard's received counters: storage word `s` counts the messages received
/// from shard `s`.
pub const INBOX: Address = Address(0xFFFF_FFFF_FFFF_FFF1);

/// Holds what contracts owe to addresses of other shards (see [`Shard::PENDING`]).
pub const PENDING: Address = Shard::PENDING;

/// Whether `addr` is one of the system's ([`SYSTEM_ADDRESSES`]).
pub const fn is_system(addr: Address) -> bool {
    addr.0 >= SYSTEM_ADDRESSES
}

/// The state word counting the messages a shard has sent to shard `dest`.
pub const fn sent_key(dest: u16) -> StateKey {
    StateKey::storage(OUTBOX, dest as u64)
}

/// The state word counting the messages a shard has received from shard `source`.
pub const fn received_key(source: u16) -> StateKey {
    StateKey::storage(INBOX, source as u64)
}

/// What a message does at its destination.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum MessageKind {
    /// Credits `value` to `to`: a transfer to an address of another shard.
    #[default]
    Transfer = 0,
    /// Runs the contract `to` for `from` with `args` and `gas`, `value` credited to it
    /// first: a call to a contract of another shard ([`TxKind::Delivered`] there). If
    /// it fails, its value comes back in a [`MessageKind::Refund`].
    Call = 1,
    /// Credits `value` back to `to`, the sender of a call that failed at its
    /// destination.
    Refund = 2,
}

/// A message: `value` (and, for a call, the call) from `from` on shard `source` to `to`
/// on shard `dest`, emitted by the source's block of height `height`, the `seq`-th
/// message (from 0) the source ever sent to `dest`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Message {
    /// The sending shard.
    pub source: u16,
    /// The receiving shard.
    pub dest: u16,
    /// Messages the source sent to `dest` before this one.
    pub seq: u64,
    /// The height of the block that emitted it.
    pub height: u64,
    /// The sender of the transaction (of a refund: the contract that failed).
    pub from: Address,
    /// The recipient, on `dest`.
    pub to: Address,
    /// Native units carried.
    pub value: u64,
    /// What it does.
    pub kind: MessageKind,
    /// A call's gas for the VM (0 otherwise).
    pub gas: u64,
    /// A call's arguments, the first `nargs` used.
    pub args: [u64; MAX_ARGS],
    /// How many arguments.
    pub nargs: u8,
}

impl Message {
    /// Length of [`Self::encode`].
    pub const ENCODED_LEN: usize = 2 + 2 + 8 * 5 + 1 + 8 + 1 + 8 * MAX_ARGS;

    /// source, dest (2 bytes LE each), seq, height, from, to, value (8 LE each), kind
    /// (1), gas (8 LE), nargs (1), and [`MAX_ARGS`] argument words (8 LE each, unused
    /// ones 0): 86 bytes, one Keccak permutation.
    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut b = [0u8; Self::ENCODED_LEN];
        b[..2].copy_from_slice(&self.source.to_le_bytes());
        b[2..4].copy_from_slice(&self.dest.to_le_bytes());
        for (i, w) in [self.seq, self.height, self.from.0, self.to.0, self.value].iter().enumerate()
        {
            b[4 + 8 * i..12 + 8 * i].copy_from_slice(&w.to_le_bytes());
        }
        b[44] = self.kind as u8;
        b[45..53].copy_from_slice(&self.gas.to_le_bytes());
        b[53] = self.nargs;
        for (i, a) in self.args.iter().enumerate() {
            b[54 + 8 * i..62 + 8 * i].copy_from_slice(&a.to_le_bytes());
        }
        b
    }

    /// The transaction that runs a [`MessageKind::Call`] at its destination (the first
    /// transactions of the destination's block, `docs/semantics.md` "Shards"): from the
    /// call's sender, its number as the nonce, its gas, no fee; `None` for the other
    /// kinds.
    pub fn delivered(&self) -> Option<Transaction<'static>> {
        if self.kind != MessageKind::Call {
            return None;
        }
        let n = (self.nargs as usize).min(MAX_ARGS);
        let args = HVec::from_slice(&self.args[..n]).unwrap_or_default();
        Some(Transaction {
            from: self.from,
            nonce: self.seq,
            gas_limit: self.gas,
            gas_price: 0,
            kind: TxKind::Delivered { to: self.to, value: self.value, args },
            access: None,
        })
    }
}

/// The digests of `msgs` (Keccak-256 of each [`Message::encode`]) into `out`, in
/// batches.
pub fn message_digests<H: Hasher + ?Sized>(
    msgs: &[Message],
    out: &mut [Hash32],
    hasher: &mut H,
    scratch: &mut HashScratch<'_>,
) -> Result<(), ShardError> {
    let Some(out) = out.get_mut(..msgs.len()) else {
        return Err(ShardError::BufferTooSmall { buffer: "digests", needed: msgs.len() });
    };
    scratch.run(
        hasher,
        msgs.len(),
        Message::ENCODED_LEN,
        |i, m| m.copy_from_slice(&msgs[i].encode()),
        |i, d| out[i] = *d,
    );
    Ok(())
}

/// The messages a shard block emits, numbered from the state's sent counters (`state`
/// as the block left it): first, in block order, for each transfer to an address of
/// another shard that succeeded with a non-zero value, a [`MessageKind::Transfer`]; for
/// each call to a contract of another shard that succeeded (it only sends the call), a
/// [`MessageKind::Call`] with the gas left after the intrinsic gas; for each delivered
/// call that failed with a non-zero value, a [`MessageKind::Refund`] of it to its
/// sender. Then, in address order, a [`MessageKind::Transfer`] from [`PENDING`] of what
/// the block's contracts paid each address of another shard (its `writes`, the sorted
/// write set, hold those words). `sent` is scratch for one counter per shard. Returns
/// how many were written to `out`.
#[allow(clippy::too_many_arguments)]
pub fn emit(
    shard: Shard,
    height: u64,
    state: &State<'_>,
    txs: &[Transaction],
    receipts: &[Receipt],
    writes: &[StateEntry],
    sent: &mut [u64],
    out: &mut [Message],
) -> Result<usize, ShardError> {
    let shards = shard.count() as usize;
    let Some(sent) = sent.get_mut(..shards) else {
        return Err(ShardError::BufferTooSmall { buffer: "sent counters", needed: shards });
    };
    for (d, c) in sent.iter_mut().enumerate() {
        *c = state.get(&sent_key(d as u16)).unwrap_or(0);
    }
    let from_txs = txs.iter().zip(receipts).filter_map(|(tx, r)| {
        let ok = r.status.is_success();
        let mut msg =
            Message { source: shard.index(), height, from: tx.from, ..Message::default() };
        match &tx.kind {
            TxKind::Transfer { to, value } if !shard.holds(*to) && ok && *value > 0 => {
                (msg.to, msg.value) = (*to, *value);
            }
            TxKind::Call { to, value, args } if !shard.holds(*to) && ok => {
                (msg.to, msg.value, msg.kind) = (*to, *value, MessageKind::Call);
                msg.gas = tx.gas_limit.saturating_sub(INTRINSIC_GAS);
                msg.args[..args.len()].copy_from_slice(args);
                msg.nargs = args.len() as u8;
            }
            TxKind::Delivered { to, value, .. } if !ok && *value > 0 => {
                (msg.from, msg.to, msg.value) = (*to, tx.from, *value);
                msg.kind = MessageKind::Refund;
            }
            _ => return None,
        }
        Some(msg)
    });
    let from_contracts = pending(writes).map(|(to, value)| Message {
        source: shard.index(),
        height,
        from: PENDING,
        to,
        value,
        ..Message::default()
    });
    let mut n = 0;
    for mut msg in from_txs.chain(from_contracts) {
        msg.dest = Shard::of(msg.to, shard.count());
        msg.seq = sent[msg.dest as usize];
        let next = msg.seq.checked_add(1).ok_or(ShardError::Overflow)?;
        let slot = out.get_mut(n).ok_or_else(|| ShardError::BufferTooSmall {
            buffer: "messages",
            needed: emitted_at_most(shard, txs, writes),
        })?;
        *slot = msg;
        sent[msg.dest as usize] = next;
        n += 1;
    }
    Ok(n)
}

/// What the block's contracts owe to addresses of other shards: the non-zero
/// [`PENDING`] words of its sorted write set, as (address, value).
fn pending(writes: &[StateEntry]) -> impl Iterator<Item = (Address, u64)> + '_ {
    let first = writes.partition_point(|e| e.key.addr < PENDING);
    writes[first..]
        .iter()
        .take_while(|e| e.key.addr == PENDING)
        .filter(|e| e.key.kind == crate::types::KeyKind::Storage && e.value > 0)
        .map(|e| (Address(e.key.slot), e.value))
}

/// Most messages [`emit`] can write for `txs` and their `writes` on `shard`: its
/// transfers and calls to other shards, its delivered calls and the addresses its
/// contracts pay on other shards.
pub fn emitted_at_most(shard: Shard, txs: &[Transaction], writes: &[StateEntry]) -> usize {
    let from_txs = txs
        .iter()
        .filter(|tx| match tx.kind {
            TxKind::Transfer { to, .. } | TxKind::Call { to, .. } => !shard.holds(to),
            TxKind::Delivered { .. } => true,
        })
        .count();
    from_txs + pending(writes).count()
}

/// Sorts a block's messages into its outbox's order: by destination, then number (the
/// batches, in shard order).
pub fn sort_outbox(msgs: &mut [Message]) {
    msgs.sort_unstable_by_key(|m| (m.dest, m.seq));
}

/// Where the batch for shard `dest` lies in an outbox sorted by [`sort_outbox`].
pub fn batch_range(outbox: &[Message], dest: u16) -> Range<usize> {
    outbox.partition_point(|m| m.dest < dest)..outbox.partition_point(|m| m.dest <= dest)
}

/// The batch root of `batch` (the messages to one shard, in order): the list root over
/// their digests. `digests` is scratch, at least one per message.
pub fn batch_root<H: Hasher + ?Sized>(
    batch: &[Message],
    digests: &mut [Hash32],
    hasher: &mut H,
    scratch: &mut HashScratch<'_>,
) -> Result<Hash32, ShardError> {
    message_digests(batch, digests, hasher, scratch)?;
    Ok(list_root(&mut digests[..batch.len()], hasher, scratch))
}

/// The batch roots of an outbox sorted by [`sort_outbox`], one per shard of `shards`,
/// into `roots`; the outbox root is the list root over them ([`OutboxTree`]).
pub fn batch_roots<H: Hasher + ?Sized>(
    shards: u16,
    outbox: &[Message],
    roots: &mut [Hash32],
    digests: &mut [Hash32],
    hasher: &mut H,
    scratch: &mut HashScratch<'_>,
) -> Result<(), ShardError> {
    let Some(roots) = roots.get_mut(..shards as usize) else {
        return Err(ShardError::BufferTooSmall { buffer: "batch roots", needed: shards as usize });
    };
    for (d, root) in roots.iter_mut().enumerate() {
        *root = batch_root(&outbox[batch_range(outbox, d as u16)], digests, hasher, scratch)?;
    }
    Ok(())
}

/// Checks that `batch`, the messages from the shard whose header of the height before
/// is `source`, may be delivered to shard `me` at `height`: the shards exist, every
/// message is from that source and height and for `me` (its recipient living here),
/// their numbers follow the source's received counter `expected`, and their batch root
/// reaches the source's outbox root through `proof`, so that none was forged, altered,
/// left out or added. `digests` is scratch, at least one per message.
#[allow(clippy::too_many_arguments)]
pub fn accept<H: Hasher + ?Sized>(
    me: Shard,
    height: u64,
    source: &ShardHeader,
    batch: &[Message],
    proof: &BatchProof,
    expected: u64,
    digests: &mut [Hash32],
    hasher: &mut H,
    scratch: &mut HashScratch<'_>,
) -> Result<(), ShardError> {
    let shards = me.count();
    for shard in [source.shard].into_iter().chain(batch.iter().flat_map(|m| [m.source, m.dest])) {
        if shard >= shards {
            return Err(ShardError::NoSuchShard { shard, shards });
        }
    }
    if source.shards != shards || source.number.checked_add(1) != Some(height) {
        return Err(ShardError::NotItsHeader {
            source: source.shard,
            height: height.saturating_sub(1),
        });
    }
    if proof.count != u32::from(shards) {
        return Err(ShardError::BadProof { source: source.shard, height: source.number });
    }
    if proof.index != u32::from(me.index()) {
        return Err(ShardError::WrongShard { dest: proof.index as u16, shard: me.index() });
    }
    for (k, m) in batch.iter().enumerate() {
        if m.dest != me.index() {
            return Err(ShardError::WrongShard { dest: m.dest, shard: me.index() });
        }
        if !me.holds(m.to) {
            return Err(ShardError::NotHere { to: m.to, shard: me.index() });
        }
        if m.source != source.shard {
            return Err(ShardError::NotItsHeader { source: m.source, height: m.height });
        }
        if m.height != source.number {
            return Err(ShardError::WrongHeight { height: m.height, expected: source.number });
        }
        let next = expected.saturating_add(k as u64);
        if m.seq < next {
            return Err(ShardError::Replayed { source: m.source, seq: m.seq, expected: next });
        }
        if m.seq > next {
            return Err(ShardError::Gap { source: m.source, seq: m.seq, expected: next });
        }
    }
    let root = batch_root(batch, digests, hasher, scratch)?;
    if !verify(&root, proof, &source.outbox_root, hasher) {
        return Err(ShardError::BadProof { source: source.shard, height: source.number });
    }
    Ok(())
}

/// Entries [`system_writes`] may need.
pub const fn system_writes_len(sent: usize, received: usize) -> usize {
    2 * sent + 2 * received
}

/// The write set a shard applies at the start of a height, before its block: its sent
/// counters advanced by `sent` (the messages its block of the height before emitted)
/// and the [`PENDING`] words those paid out cleared, and for each message of `received`
/// (accepted, in order) its source's received counter advanced and, but for a call
/// (whose delivered transaction credits it), its value credited to its recipient. Sorted by key, as
/// [`State::apply`] wants; empty when there is nothing to do. Returns its length in
/// `out` (at least [`system_writes_len`] long).
pub fn system_writes(
    state: &State<'_>,
    sent: &[Message],
    received: &[Message],
    out: &mut [StateEntry],
) -> Result<usize, ShardError> {
    let needed = system_writes_len(sent.len(), received.len());
    if out.len() < needed {
        return Err(ShardError::BufferTooSmall { buffer: "system writes", needed });
    }
    // Deltas first, then merged by key and added to the state's words.
    let mut n = 0;
    let mut push = |key: StateKey, delta: u64| {
        out[n] = StateEntry { key, value: delta };
        n += 1;
    };
    for m in sent {
        push(sent_key(m.dest), 1);
    }
    for m in received {
        push(received_key(m.source), 1);
        // A call's value is credited by its delivered transaction, which may fail; a
        // zero value creates no key (`docs/semantics.md`, "Zero amounts").
        if m.kind != MessageKind::Call && m.value > 0 {
            push(StateKey::balance(m.to), m.value);
        }
    }
    let deltas = &mut out[..n];
    sort_by_key(deltas);
    let mut len = 0;
    for i in 0..deltas.len() {
        let e = deltas[i];
        if len > 0 && deltas[len - 1].key == e.key {
            let sum = deltas[len - 1].value.checked_add(e.value);
            deltas[len - 1].value = sum.ok_or(ShardError::Overflow)?;
        } else {
            deltas[len] = e;
            len += 1;
        }
    }
    for e in &mut deltas[..len] {
        // A balance cannot pass 2^64 - 1 while the supply (in flight included) fits 64
        // bits, nor a counter in any real chain: checked all the same, since a saved
        // state is input.
        let sum = state.get(&e.key).unwrap_or(0).checked_add(e.value);
        e.value = sum.ok_or(ShardError::Overflow)?;
    }
    // The PENDING words sent at the height before, cleared: they sort after every other
    // key here (the highest system address), each once (one message per word).
    let start = len;
    for m in sent.iter().filter(|m| m.from == PENDING && m.kind == MessageKind::Transfer) {
        out[len] = StateEntry { key: StateKey::storage(PENDING, m.to.0), value: 0 };
        len += 1;
    }
    sort_by_key(&mut out[start..len]);
    Ok(len)
}

#[cfg(test)]
mod tests;
