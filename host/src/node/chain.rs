//! A node's state and execution, on a thread of their own ([`Chain`]): the consensus
//! side asks it to build a block from the mempool, to check a proposed block, to commit
//! a decided one, or for an account, and waits for the answer.
//!
//! The committed state is the one the chain's decided blocks lead to. A block that is
//! only proposed runs on a copy of it ([`StateBuffers::copy`]: the same words, tree and
//! root, nothing hashed) and is thrown away with the copy; a decided block runs on the
//! committed state itself. The engines are the host's (`crate::engine`), with the
//! policy's choice of engine on the node's threads, so a validator's result is the
//! sequential reference's, as everywhere else.

use std::collections::HashMap;
use std::sync::mpsc;

use parex_core::block::BlockHeader;
use parex_core::engine::creates_at_most;
use parex_core::exec::{BlockEnv, Limits};
use parex_core::receipt::Receipt;
use parex_core::state::{State, StateEntry};
use parex_core::{Address, Hash32, Shard, StateKey};
use parex_offload::CpuHasher;
use tokio::sync::oneshot;

use super::block::{Block, SignedTx};
use super::types::BlockValue;
use crate::chain::WorldState;
use crate::engine::{Executed, Executor, Mode, StateBuffers};
use crate::workload::World;

/// State words of room beyond the genesis's when a node starts: the room doubles when
/// a block could need more.
const HEADROOM: usize = 1 << 16;

/// The last committed block: its number (0 before the first) and hash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tip {
    /// Height.
    pub height: u64,
    /// Block hash (zero before the first block).
    pub hash: Hash32,
}

/// A state saved at a tip, to start from instead of the genesis.
pub struct Saved {
    /// Where the state is.
    pub tip: Tip,
    /// Its words, in leaf order ([`State::entries`]).
    pub entries: Vec<StateEntry>,
    /// The state root the tip's block claims: the words must hash to it.
    pub state_root: Hash32,
}

/// What a committed block left.
pub struct Committed {
    /// Its header and hash.
    pub value: BlockValue,
    /// One per transaction.
    pub receipts: Vec<Receipt>,
    /// The state words it changed, with their places in [`State::entries`] (for the
    /// first block, every word: the genesis's too), so the store saves only those.
    pub changed: Vec<(u64, StateEntry)>,
    /// How many words the state holds after it.
    pub words: u64,
}

type Reply<T> = oneshot::Sender<Result<T, String>>;

enum Job {
    Build { candidates: Vec<SignedTx>, max_txs: usize, reply: Reply<Block> },
    Check { block: Block, reply: Reply<()> },
    Commit { block: Block, reply: Reply<Committed> },
    Account { addr: Address, reply: Reply<(u64, u64)> },
}

impl Job {
    /// The transactions the job executes, if it executes any.
    fn txs(&self) -> Option<Vec<&parex_core::tx::Transaction<'_>>> {
        match self {
            Job::Build { candidates, .. } => Some(candidates.iter().map(|t| &t.tx).collect()),
            Job::Check { block, .. } | Job::Commit { block, .. } => {
                Some(block.txs.iter().map(|t| &t.tx).collect())
            }
            Job::Account { .. } => None,
        }
    }
}

/// The handle of a chain's thread; cloned freely.
#[derive(Clone)]
pub struct Chain {
    jobs: mpsc::Sender<Job>,
}

impl Chain {
    /// Starts the thread over `world`, from `saved` (or the genesis), executing on
    /// `threads` workers; fails if the state does not load.
    pub fn start(world: World, saved: Option<Saved>, threads: usize) -> Result<Self, String> {
        let (jobs, rx) = mpsc::channel();
        let (ready_tx, ready) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("parex-chain".into())
            .spawn(move || serve(&world, saved, threads.max(1), rx, ready_tx))
            .map_err(|e| format!("cannot start the chain's thread: {e}"))?;
        ready.recv().map_err(|_| "the chain's thread ended".to_string())??;
        Ok(Self { jobs })
    }

    async fn ask<T>(&self, job: impl FnOnce(Reply<T>) -> Job) -> Result<T, String> {
        let (tx, rx) = oneshot::channel();
        self.jobs.send(job(tx)).map_err(|_| "the chain's thread ended".to_string())?;
        rx.await.map_err(|_| "the chain's thread ended".to_string())?
    }

    /// A block on the tip from `candidates` (sorted by sender and nonce): each sender's
    /// transactions from its next nonce on, without gaps, at most `max_txs`.
    pub async fn build(&self, candidates: Vec<SignedTx>, max_txs: usize) -> Result<Block, String> {
        self.ask(|reply| Job::Build { candidates, max_txs, reply }).await
    }

    /// Whether `block` is what executing its transactions on the tip gives: `Err`
    /// says why not.
    pub async fn check(&self, block: Block) -> Result<(), String> {
        self.ask(|reply| Job::Check { block, reply }).await
    }

    /// Executes and commits the decided `block` on the tip; `Err` if its header is not
    /// what the execution gives (which a quorum of honest validators rules out).
    pub async fn commit(&self, block: Block) -> Result<Committed, String> {
        self.ask(|reply| Job::Commit { block, reply }).await
    }

    /// An account's balance and nonce at the tip.
    pub async fn account(&self, addr: Address) -> Result<(u64, u64), String> {
        self.ask(|reply| Job::Account { addr, reply }).await
    }
}

/// The thread: loads the state, then answers jobs; when a block may need more room
/// than the state has, reloads it into twice the room it needs and goes on.
fn serve(
    world: &World,
    saved: Option<Saved>,
    threads: usize,
    jobs: mpsc::Receiver<Job>,
    ready: mpsc::SyncSender<Result<(), String>>,
) {
    let limits = Limits::DEFAULT;
    let mut tip = saved.as_ref().map_or(Tip::default(), |s| s.tip);
    let mut expected_root = saved.as_ref().map(|s| s.state_root);
    let mut words = saved.map(|s| s.entries);
    let mut capacity = (world.words() + HEADROOM).max(2 * words.as_ref().map_or(0, Vec::len));
    let mut exec = Executor::new(limits);
    let mut executed = Executed::default();
    let mut hasher = CpuHasher::best();
    let mut ready = Some(ready);
    let mut retry: Option<Job> = None;
    loop {
        let mut loaded = WorldState::new(world, capacity);
        let state = match &words {
            None => loaded.load(&mut hasher),
            Some(w) => loaded.load_saved(w, &mut hasher),
        };
        let (mut state, contracts) = match state {
            Ok(s) => s,
            Err(e) => {
                if let Some(r) = ready.take() {
                    let _ = r.send(Err(format!("the state does not load: {e:?}")));
                }
                return;
            }
        };
        if let Some(root) = expected_root.take() {
            if state.root() != root {
                if let Some(r) = ready.take() {
                    let message = format!(
                        "the stored state does not hash to block {}'s state root",
                        tip.height
                    );
                    let _ = r.send(Err(message));
                }
                return;
            }
        }
        if let Some(r) = ready.take() {
            let _ = r.send(Ok(()));
        }
        let mut scratch = StateBuffers::new(capacity);
        let mut run = Run { exec: &mut exec, executed: &mut executed, hasher: &mut hasher };
        loop {
            let job = match retry.take() {
                Some(job) => job,
                None => match jobs.recv() {
                    Ok(job) => job,
                    Err(_) => return,
                },
            };
            if let Some(txs) = job.txs() {
                let creates: usize = txs.iter().map(|tx| creates_at_most(tx, &limits)).sum();
                if state.len() + creates > capacity {
                    words = Some(state.entries().to_vec());
                    capacity = 2 * (state.len() + creates);
                    retry = Some(job);
                    break;
                }
            }
            let env = |number: u64| BlockEnv {
                number,
                beneficiary: world.beneficiary,
                contracts,
                limits,
                shard: Shard::WHOLE,
                delivered: 0,
            };
            match job {
                Job::Build { candidates, max_txs, reply } => {
                    let txs = choose(&state, candidates, max_txs);
                    let block =
                        scratch.copy(&state).map_err(|e| format!("{e:?}")).and_then(|mut copy| {
                            let plain: Vec<_> = txs.iter().map(SignedTx::transaction).collect();
                            let header =
                                run.block(&mut copy, tip, &env(tip.height + 1), &plain, threads)?;
                            Ok(Block { value: BlockValue::new(header), txs })
                        });
                    let _ = reply.send(block);
                }
                Job::Check { block, reply } => {
                    let checked =
                        scratch.copy(&state).map_err(|e| format!("{e:?}")).and_then(|mut copy| {
                            let header = block.value.header;
                            if header.number != tip.height + 1 || header.parent_hash != tip.hash {
                                return Err(format!(
                                    "block {} is not on the tip ({})",
                                    header.number, tip.height
                                ));
                            }
                            block.verify().map_err(|(i, e)| format!("transaction {i}: {e}"))?;
                            let got = run.block(
                                &mut copy,
                                tip,
                                &env(header.number),
                                block.transactions().txs(),
                                threads,
                            )?;
                            same(&got, &header)
                        });
                    let _ = reply.send(checked);
                }
                Job::Commit { block, reply } => {
                    let header = block.value.header;
                    let committed = if header.number != tip.height + 1 {
                        Err(format!("block {} is not on the tip ({})", header.number, tip.height))
                    } else {
                        run.block(
                            &mut state,
                            tip,
                            &env(header.number),
                            block.transactions().txs(),
                            threads,
                        )
                        .and_then(|got| same(&got, &header))
                        .map(|()| {
                            let entries = state.entries();
                            let changed = if tip.height == 0 {
                                entries.iter().enumerate().map(|(i, e)| (i as u64, *e)).collect()
                            } else {
                                let written = run.executed.writes().iter();
                                let places = written.filter_map(|w| state.position(&w.key));
                                places.map(|at| (at as u64, entries[at])).collect()
                            };
                            tip = Tip { height: header.number, hash: block.value.hash };
                            Committed {
                                value: block.value.clone(),
                                receipts: run.executed.receipts.clone(),
                                changed,
                                words: entries.len() as u64,
                            }
                        })
                    };
                    let _ = reply.send(committed);
                }
                Job::Account { addr, reply } => {
                    let balance = state.get(&StateKey::balance(addr)).unwrap_or(0);
                    let nonce = state.get(&StateKey::nonce(addr)).unwrap_or(0);
                    let _ = reply.send(Ok((balance, nonce)));
                }
            }
        }
    }
}

/// The executor and its buffers, borrowed for one block.
struct Run<'r> {
    exec: &'r mut Executor,
    executed: &'r mut Executed,
    hasher: &'r mut CpuHasher,
}

impl Run<'_> {
    /// Executes and commits `txs` on `state` at `tip`: the header.
    fn block(
        &mut self,
        state: &mut State<'_>,
        tip: Tip,
        env: &BlockEnv<'_>,
        txs: &[parex_core::tx::Transaction],
        threads: usize,
    ) -> Result<BlockHeader, String> {
        let mode = Mode::Parallel(threads);
        self.exec
            .execute_into(state, env, txs, mode, self.executed)
            .map_err(|e| format!("{e:?}"))?;
        let (header, _) = self
            .exec
            .commit(state, tip.hash, env, txs, self.executed, self.hasher, threads)
            .map_err(|e| format!("{e:?}"))?;
        Ok(header)
    }
}

/// `Err` naming the first field where `got` (what execution gave) and `claimed` differ.
fn same(got: &BlockHeader, claimed: &BlockHeader) -> Result<(), String> {
    let fields: [(&str, bool); 6] = [
        ("state root", got.state_root == claimed.state_root),
        ("transaction root", got.tx_root == claimed.tx_root),
        ("receipts root", got.receipts_root == claimed.receipts_root),
        ("gas used", got.gas_used == claimed.gas_used),
        ("transaction count", got.tx_count == claimed.tx_count),
        ("beneficiary", got.beneficiary == claimed.beneficiary),
    ];
    match fields.iter().find(|(_, ok)| !ok) {
        Some((name, _)) => Err(format!("its {name} is not what its transactions give")),
        None if got != claimed => Err("its header is not what its transactions give".into()),
        None => Ok(()),
    }
}

/// From `candidates` (sorted by sender, then nonce), each sender's run of transactions
/// from its nonce in `state` on, without gaps, at most `max` in all, in that order.
fn choose(state: &State<'_>, candidates: Vec<SignedTx>, max: usize) -> Vec<SignedTx> {
    let mut next: HashMap<Address, u64> = HashMap::new();
    let mut chosen = Vec::new();
    for t in candidates {
        if chosen.len() == max {
            break;
        }
        let from = t.tx.from;
        let n = next.entry(from).or_insert_with(|| state.get(&StateKey::nonce(from)).unwrap_or(0));
        if t.tx.nonce == *n {
            *n += 1;
            chosen.push(t);
        }
    }
    chosen
}
