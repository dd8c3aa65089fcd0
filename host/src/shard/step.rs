//! One shard's memory and its step through one height: messages in, block, outbox out.

use std::time::Instant;

use parex_core::error::GenesisError;
use parex_core::exec::{BlockEnv, Limits};
use parex_core::shard::{
    accept, batch_range, batch_roots, emit, emitted_at_most, received_key, sort_outbox,
    system_writes, system_writes_len, Message, MessageKind, OutboxTree, ShardError, ShardHeader,
};
use parex_core::state::{Contract, State, StateEntry};
use parex_core::tx::{Transaction, TxKind};

use crate::txblock::{BlockTxs, TxBlock};
use parex_core::{Address, Hash32, Shard};
use parex_offload::CpuHasher;

use super::{Batch, Checkpoint, ShardBlock, ShardRun, ShardedError};
use crate::chain::{state_capacity, WorldState};
use crate::engine::{Executed, Executor, HashBuffers, Mode};
use crate::workload::World;
use parex_core::engine::creates_at_most;

/// A shard's loaded genesis: its state memory and contracts.
pub(super) struct Loaded<'w> {
    world: WorldState<'w>,
    beneficiary: Address,
}

impl<'w> Loaded<'w> {
    /// Memory for shard `shard` of `run.shards` (its part `shard_world` of the world),
    /// with room for what its blocks (`split` of `blocks`) may create and what other
    /// shards may send it, and for the state and messages of `from` when resuming.
    pub(super) fn new(
        shard_world: &'w World,
        blocks: &[impl BlockTxs],
        split: &[Vec<TxBlock>],
        shard: u16,
        run: &ShardRun,
        from: Option<&Checkpoint>,
    ) -> Self {
        let (shards, limits) = (run.shards, &run.limits);
        let saved = from.map_or(0, |c| c.states[shard as usize].len());
        let in_flight = from.iter().flat_map(|c| &c.batches).flat_map(|b| &b.messages);
        let own: Vec<TxBlock> = split.iter().map(|b| b[shard as usize].clone()).collect();
        // What messages from other shards may create here: a recipient's balance for a
        // transfer, what a call may write for a delivered call; and a refund's credit
        // for a call of its own to another shard.
        let incoming: usize = blocks
            .iter()
            .flat_map(BlockTxs::txs)
            .map(|tx| {
                let (home, away) = (Shard::of(tx.from, shards), Shard::of(tx.to(), shards));
                match tx.kind {
                    _ if home == away => 0,
                    TxKind::Transfer { .. } if away == shard => 1,
                    TxKind::Call { .. } if away == shard => creates_at_most(tx, limits),
                    TxKind::Call { .. } if home == shard => 1,
                    _ => 0,
                }
            })
            .sum::<usize>()
            + in_flight
                .filter(|m| m.dest == shard)
                .map(|m| match m.kind {
                    MessageKind::Call => limits.writes_per_tx(),
                    _ => 1,
                })
                .sum::<usize>();
        // Its own blocks' keys, what incoming messages (the checkpoint's in flight
        // included) may create, and the system counters (one per shard, sent and
        // received).
        // A saved state (`saved` words, resumed from a checkpoint) may hold more.
        let capacity =
            state_capacity(shard_world, &own, limits) + incoming + 2 * shards as usize + saved;
        Self { world: WorldState::new(shard_world, capacity), beneficiary: shard_world.beneficiary }
    }

    /// The shard's genesis state and its executor, for `run`.
    /// From `saved` (its state words and last block hash) when resuming.
    pub(super) fn context(
        &mut self,
        shard: Shard,
        run: &ShardRun,
        saved: Option<(&[StateEntry], Hash32)>,
    ) -> Result<ShardCtx<'_, 'w>, GenesisError> {
        let mut hasher = CpuHasher::single_thread();
        let beneficiary = self.beneficiary;
        let (state, contracts) = match saved {
            None => self.world.load(&mut hasher)?,
            Some((words, _)) => self.world.load_saved(words, &mut hasher)?,
        };
        Ok(ShardCtx {
            shard,
            state,
            contracts,
            beneficiary,
            limits: run.limits,
            exec: Executor::new(run.limits),
            executed: Executed::default(),
            hasher,
            hash: HashBuffers::default(),
            parent: saved.map_or([0; 32], |s| s.1),
            sent: Vec::new(),
            writes: Vec::new(),
            dirty: Vec::new(),
            digests: Vec::new(),
            counters: vec![0; shard.count() as usize],
        })
    }
}

/// A shard between heights.
pub(super) struct ShardCtx<'a, 'w> {
    pub(super) shard: Shard,
    pub(super) state: State<'a>,
    contracts: &'a [Contract<'w>],
    beneficiary: Address,
    limits: Limits,
    exec: Executor,
    executed: Executed,
    hasher: CpuHasher,
    hash: HashBuffers,
    /// The hash of the shard's last block.
    parent: Hash32,
    /// The messages its last block emitted (its sent counters advance by them at the
    /// next height).
    pub(super) sent: Vec<Message>,
    writes: Vec<StateEntry>,
    dirty: Vec<u32>,
    /// Message digests, for batch roots.
    digests: Vec<Hash32>,
    counters: Vec<u64>,
}

/// What a shard's step produced.
pub(super) struct Step {
    pub(super) block: ShardBlock,
    /// The batches its block emitted, one for each shard.
    pub(super) outbox: Vec<Batch>,
}

impl ShardCtx<'_, '_> {
    /// Grows the executor's buffers for the block `txs` in `mode` (outside any timing).
    pub(super) fn reserve(&mut self, txs: &[Transaction], mode: Mode) {
        self.exec.reserve(txs, mode);
    }

    /// Height `height`: accepts and applies `inbox` (the batches for this shard, one from
    /// each shard whose header of the height before is in `headers`; none at the first
    /// height), runs and commits the shard's block `txs` in `mode`, and builds its
    /// outbox.
    pub(super) fn step(
        &mut self,
        height: u64,
        txs: &[Transaction],
        inbox: &[&Batch],
        headers: &[ShardHeader],
        mode: Mode,
    ) -> Result<Step, ShardedError> {
        let shard = self.shard.index();
        let message = |error| ShardedError::Message { height, shard, error };
        let block_error = |error| ShardedError::Block { height, shard, error };
        let start = Instant::now();
        let mut received: Vec<Message> = Vec::new();
        let mut latency_sum = 0;
        for (source, header) in headers.iter().enumerate() {
            let source = source as u16;
            let mut batches = inbox.iter().filter(|b| b.source == source).peekable();
            if batches.peek().is_none() {
                return Err(message(ShardError::Missing { source }));
            }
            // The next number from this source: its received counter, then the messages
            // taken from it at this height (a batch given twice is refused as their
            // replay).
            let mut expected = self.state.get(&received_key(source)).unwrap_or(0);
            for batch in batches {
                let msgs = &batch.messages;
                if self.digests.len() < msgs.len() {
                    self.digests.resize(msgs.len(), [0; 32]);
                }
                let mut scratch = self.hash.scratch();
                accept(
                    self.shard,
                    height,
                    header,
                    msgs,
                    &batch.proof,
                    expected,
                    &mut self.digests,
                    &mut self.hasher,
                    &mut scratch,
                )
                .map_err(message)?;
                latency_sum += msgs.iter().map(|m| height - m.height).sum::<u64>();
                expected = expected.saturating_add(msgs.len() as u64);
                received.extend_from_slice(msgs);
            }
        }
        // The calls delivered here run first in the shard's block, in delivery order.
        let delivered: Vec<Transaction<'static>> =
            received.iter().filter_map(Message::delivered).collect();
        let calls = delivered.len() as u32;
        let block: std::borrow::Cow<'_, [Transaction<'_>]> = if delivered.is_empty() {
            txs.into()
        } else {
            delivered.into_iter().chain(txs.iter().cloned()).collect::<Vec<_>>().into()
        };
        let txs = &block[..];
        self.writes.resize(system_writes_len(self.sent.len(), received.len()), StateEntry::EMPTY);
        let n =
            system_writes(&self.state, &self.sent, &received, &mut self.writes).map_err(message)?;
        if n > 0 {
            self.dirty.resize(2 * n, 0);
            let mut scratch = self.hash.scratch();
            self.state
                .apply(&self.writes[..n], &mut self.dirty, &mut self.hasher, &mut scratch)
                .map_err(block_error)?;
        }
        let deliver_time = start.elapsed();

        let env = BlockEnv {
            number: height,
            beneficiary: self.beneficiary,
            contracts: self.contracts,
            limits: self.limits,
            shard: self.shard,
            delivered: calls,
        };
        self.exec
            .execute_into(&self.state, &env, txs, mode, &mut self.executed)
            .map_err(block_error)?;
        let t = Instant::now();
        let (block, block_hash) = self
            .exec
            .commit(
                &mut self.state,
                self.parent,
                &env,
                txs,
                &self.executed,
                &mut self.hasher,
                mode.workers(),
            )
            .map_err(block_error)?;
        self.parent = block_hash;

        let writes = self.executed.writes();
        let mut msgs = vec![Message::default(); emitted_at_most(self.shard, txs, writes)];
        let receipts = &self.executed.receipts;
        let (state, counters) = (&self.state, &mut self.counters);
        let m = emit(self.shard, height, state, txs, receipts, writes, counters, &mut msgs)
            .map_err(message)?;
        msgs.truncate(m);
        self.sent.clone_from(&msgs);
        sort_outbox(&mut msgs);
        let shards = self.shard.count();
        let mut roots = vec![[0u8; 32]; shards as usize];
        if self.digests.len() < m {
            self.digests.resize(m, [0; 32]);
        }
        let mut scratch = self.hash.scratch();
        batch_roots(shards, &msgs, &mut roots, &mut self.digests, &mut self.hasher, &mut scratch)
            .map_err(message)?;
        let mut nodes = vec![[0u8; 32]; OutboxTree::nodes_len(roots.len())];
        let tree = OutboxTree::build(&roots, &mut nodes, &mut self.hasher, &mut scratch)
            .map_err(message)?;
        let outbox: Vec<Batch> = (0..shards)
            .filter_map(|d| {
                Some(Batch {
                    source: shard,
                    dest: d,
                    messages: msgs[batch_range(&msgs, d)].to_vec(),
                    proof: tree.proof(d as usize)?,
                })
            })
            .collect();
        let header = ShardHeader {
            number: height,
            shard,
            shards: self.shard.count(),
            block_hash,
            outbox_root: tree.root(),
            outbox_count: m as u64,
        };
        let hash = header.hash(&mut self.hasher);
        let commit_time = t.elapsed() + self.executed.beside_wait;
        Ok(Step {
            block: ShardBlock {
                header,
                hash,
                block,
                receipts: std::mem::take(&mut self.executed.receipts),
                choice: self.executed.choice,
                deliver_time,
                exec_time: self.executed.exec_time,
                commit_time,
                delivered: received.len(),
                emitted: m,
                latency_sum,
            },
            outbox,
        })
    }
}
