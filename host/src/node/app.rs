//! The application side of consensus ([`run`]): one answer to each of the engine's
//! messages, in order.
//!
//! ```text
//!  engine ──ConsensusReady──▶ start at the stored tip + 1
//!         ──StartedRound────▶ hand back proposals already seen for the round
//!         ──GetValue────────▶ build a block from the mempool (on a copy of the state),
//!                             keep it, answer its header, stream its parts
//!         ──ProposalPart────▶ reassemble; once whole, execute it on a copy and answer
//!                             Valid only if the header is what the execution gives
//!         ──Decided─────────▶ execute and commit it on the state; store the height
//!         ──Finalized───────▶ start the next height
//!         ──GetDecidedValues / ProcessSyncedValue: serve and take whole blocks (sync)
//! ```
//!
//! A validator therefore never votes for a block whose header (state root, receipts
//! root, transaction root) it did not compute itself, and a height is on disk before
//! the engine hears it is committed.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use malachitebft_app_channel::app::engine::host::{HeightParams, Next, SyncedValueOutcome};
use malachitebft_app_channel::app::streaming::StreamId;
use malachitebft_app_channel::app::types::core::{
    ExtendedCommitCertificate, LinearTimeouts, Round, Validity,
};
use malachitebft_app_channel::app::types::sync::RawDecidedValue;
use malachitebft_app_channel::app::types::{LocallyProposedValue, ProposedValue};
use malachitebft_app_channel::{AppMsg, Channels, NetworkMsg};

use super::block::Block;
use super::chain::{Chain, Tip};
use super::mempool::Mempool;
use super::parts::{stream, Placement, Received, Streams};
use super::store::{Store, Undecided};
use super::types::{Height, ParexContext, PrivateKey, ValidatorAddress, ValidatorSet};

/// Whole proposals kept for heights not started yet.
const MAX_EARLY: usize = 64;

/// Misbehaviour a test can ask a validator for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Byzantine {
    /// Propose blocks whose header claims a wrong state root.
    WrongRoot,
}

/// What the API shares with the consensus side.
pub struct Shared {
    /// Waiting transactions.
    pub mempool: Mutex<Mempool>,
    /// The database.
    pub store: Arc<Store>,
    /// The state.
    pub chain: Chain,
    /// This validator.
    pub me: ValidatorAddress,
}

/// A validator's side of consensus.
pub struct App {
    /// Its address.
    pub me: ValidatorAddress,
    /// Its key (proposal parts are signed with it).
    pub key: PrivateKey,
    /// Every validator.
    pub validators: ValidatorSet,
    /// The consensus timeouts.
    pub timeouts: LinearTimeouts,
    /// The least time a height takes, if any.
    pub block_time: Option<Duration>,
    /// What the API sees too.
    pub shared: Arc<Shared>,
    /// Most transactions a block of its proposing holds.
    pub max_block_txs: usize,
    /// Misbehaviour, in tests only.
    pub byzantine: Option<Byzantine>,
    streams: Streams,
    height: Height,
    /// Whole proposals for heights not started yet.
    early: Vec<Received>,
    streams_sent: u64,
    /// Whether the decided block of the current height was committed.
    committed: bool,
}

impl App {
    /// A validator's side of consensus, before the engine starts.
    pub fn new(
        me: ValidatorAddress,
        key: PrivateKey,
        validators: ValidatorSet,
        (timeouts, block_time): (LinearTimeouts, Option<Duration>),
        shared: Arc<Shared>,
        max_block_txs: usize,
        byzantine: Option<Byzantine>,
    ) -> Self {
        Self {
            me,
            key,
            validators,
            timeouts,
            block_time,
            shared,
            max_block_txs,
            byzantine,
            streams: Streams::default(),
            height: Height(0),
            early: Vec::new(),
            streams_sent: 0,
            committed: false,
        }
    }

    fn params(&self) -> HeightParams<ParexContext> {
        HeightParams::new(self.validators.clone(), self.timeouts, self.block_time)
    }

    fn store(&self) -> &Store {
        &self.shared.store
    }
}

/// Answers the engine until it stops.
pub async fn run(mut app: App, mut channels: Channels<ParexContext>) -> Result<(), String> {
    while let Some(msg) = channels.consensus.recv().await {
        handle(&mut app, &mut channels, msg).await?;
    }
    Ok(())
}

async fn handle(
    app: &mut App,
    channels: &mut Channels<ParexContext>,
    msg: AppMsg<ParexContext>,
) -> Result<(), String> {
    match msg {
        AppMsg::ConsensusReady { reply } => {
            let tip = app.store().tip()?;
            let _ = reply.send((Height(tip.height + 1), app.params()));
        }
        AppMsg::StartedRound { height, round, reply_value, .. } => {
            if height != app.height {
                app.height = height;
                app.committed = false;
                app.streams.forget_below(height);
            }
            // Proposals that came whole before their height started: checked now.
            let early: Vec<Received> = std::mem::take(&mut app.early);
            for r in early {
                if r.at.height == height {
                    let validity = check(app, &r.block).await;
                    keep(app, &r, validity)?;
                } else if r.at.height > height {
                    app.early.push(r);
                }
            }
            let seen = app.store().undecided_at(height)?;
            let values = seen.iter().filter(|u| u.round == round).map(proposed_value).collect();
            let _ = reply_value.send(values);
        }
        AppMsg::GetValue { height, round, reply, .. } => {
            let mine = app.store().undecided_at(height)?;
            let block = match mine.into_iter().find(|u| u.round == round && u.proposer == app.me) {
                // The same value as before a restart: proposing another would equivocate.
                Some(u) => u.block,
                None => {
                    let candidates = app.shared.mempool.lock().map_err(poisoned)?.candidates();
                    let mut block =
                        match app.shared.chain.build(candidates, app.max_block_txs).await {
                            Ok(b) => b,
                            Err(e) => {
                                eprintln!("parex node: cannot build block {height}: {e}");
                                return Ok(()); // no value: the round times out
                            }
                        };
                    if app.byzantine == Some(Byzantine::WrongRoot) {
                        let mut header = block.value.header;
                        header.state_root[0] ^= 0xFF;
                        block.value = super::types::BlockValue::new(header);
                    }
                    let at = Placement { height, round, pol_round: Round::Nil, proposer: app.me };
                    let r = Received { at, block };
                    keep(app, &r, Validity::Valid)?;
                    r.block
                }
            };
            let _ = reply.send(LocallyProposedValue::new(height, round, block.value.clone()));
            let at = Placement { height, round, pol_round: Round::Nil, proposer: app.me };
            publish(app, channels, &block, at).await;
        }
        AppMsg::ReceivedProposalPart { from, published_by, part, reply } => {
            let publisher = published_by.unwrap_or(from);
            let whole = match app.streams.insert(publisher, part, &app.validators) {
                Ok(w) => w,
                Err(e) => {
                    eprintln!("parex node: a proposal from {publisher} dropped: {e}");
                    None
                }
            };
            let answer = match whole {
                Some(r) if r.at.height == app.height => {
                    let validity = check(app, &r.block).await;
                    keep(app, &r, validity)?;
                    Some(proposed_value(&undecided(&r, validity)))
                }
                Some(r) if r.at.height > app.height => {
                    // Signed by a validator (checked): a handful at most, but bounded.
                    if app.early.len() == MAX_EARLY {
                        app.early.remove(0);
                    }
                    app.early.push(r);
                    None
                }
                _ => None,
            };
            let _ = reply.send(answer);
        }
        AppMsg::RestreamProposal { height, round, valid_round, value_id, .. } => {
            if let Some(u) = app.store().undecided(&value_id.0)? {
                let at = Placement { height, round, pol_round: valid_round, proposer: app.me };
                publish(app, channels, &u.block, at).await;
            }
        }
        AppMsg::GetHistoryMinHeight { reply } => {
            let tip = app.store().tip()?;
            let _ = reply.send(Height(tip.height.min(1)));
        }
        AppMsg::Decided { certificate, extensions, reply } => {
            let height = certificate.height;
            let tip = app.store().tip()?;
            if height.0 <= tip.height {
                app.committed = true; // decided again after a restart: on disk already
            } else {
                let cert = ExtendedCommitCertificate::from_commit_certificate_and_extensions(
                    certificate,
                    extensions,
                );
                app.committed = match commit(app, &cert).await {
                    Ok(()) => true,
                    Err(e) => {
                        eprintln!("parex node: height {height} not committed: {e}");
                        false
                    }
                };
            }
            let _ = reply.send(());
        }
        AppMsg::Finalized { certificate, reply, .. } => {
            let height = certificate.height;
            let next = if app.committed {
                Next::Start(Height(height.0 + 1), app.params())
            } else {
                Next::Restart(height, app.params())
            };
            let _ = reply.send(next);
        }
        AppMsg::GetDecidedValues { range, reply } => {
            let tip = app.store().tip()?;
            let (start, end) = (range.start().0.max(1), range.end().0.min(tip.height));
            let mut values = Vec::new();
            for h in start..=end {
                match app.store().raw_decided(h)? {
                    Some((bytes, cert)) => {
                        values.push(RawDecidedValue::new(Bytes::from(bytes), cert))
                    }
                    None => break,
                }
            }
            let _ = reply.send(values);
        }
        AppMsg::ProcessSyncedValue { height, round, proposer, value_bytes, reply } => {
            let outcome = match Block::from_bytes(&value_bytes) {
                Ok(block) if block.value.header.number == height.0 => {
                    let at = Placement { height, round, pol_round: Round::Nil, proposer };
                    let r = Received { at, block };
                    // Decided by a quorum already: committed when the engine says so.
                    keep(app, &r, Validity::Valid)?;
                    SyncedValueOutcome::Verdict(proposed_value(&undecided(&r, Validity::Valid)))
                }
                _ => SyncedValueOutcome::PeerFault,
            };
            let _ = reply.send(outcome);
        }
        AppMsg::ExtendVote { reply, .. } => {
            let _ = reply.send(None);
        }
        AppMsg::VerifyVoteExtensions { extensions, reply, .. } => {
            let _ = reply.send(extensions.into_iter().map(|(a, _)| (a, Ok(()))).collect());
        }
    }
    Ok(())
}

fn poisoned<T>(_: T) -> String {
    "a lock was poisoned".into()
}

/// Whether `block` is what executing its transactions on the tip gives.
async fn check(app: &App, block: &Block) -> Validity {
    match app.shared.chain.check(block.clone()).await {
        Ok(()) => Validity::Valid,
        Err(e) => {
            eprintln!("parex node: block {} refused: {e}", block.value.header.number);
            Validity::Invalid
        }
    }
}

fn undecided(r: &Received, validity: Validity) -> Undecided {
    Undecided {
        height: r.at.height,
        round: r.at.round,
        valid_round: r.at.pol_round,
        proposer: r.at.proposer,
        validity,
        block: r.block.clone(),
    }
}

/// Keeps a proposal on disk until its height is decided.
fn keep(app: &App, r: &Received, validity: Validity) -> Result<(), String> {
    app.store().keep_undecided(&undecided(r, validity))
}

fn proposed_value(u: &Undecided) -> ProposedValue<ParexContext> {
    ProposedValue {
        height: u.height,
        round: u.round,
        valid_round: u.valid_round,
        proposer: u.proposer,
        value: u.block.value.clone(),
        validity: u.validity,
    }
}

/// Streams `block`'s parts as proposed at `at`.
async fn publish(
    app: &mut App,
    channels: &mut Channels<ParexContext>,
    block: &Block,
    at: Placement,
) {
    app.streams_sent += 1;
    let mut id = Vec::with_capacity(24);
    id.extend_from_slice(&at.height.0.to_le_bytes());
    id.extend_from_slice(&at.round.as_i64().to_le_bytes());
    id.extend_from_slice(&app.streams_sent.to_le_bytes());
    for msg in stream(block, at, &app.key, StreamId::new(Bytes::from(id))) {
        if channels.network.send(NetworkMsg::PublishProposalPart(msg)).await.is_err() {
            return;
        }
    }
}

/// Executes and commits the decided block of `cert`, and writes the height.
async fn commit(
    app: &mut App,
    cert: &ExtendedCommitCertificate<ParexContext>,
) -> Result<(), String> {
    let Some(u) = app.store().undecided(&cert.value_id.0)? else {
        return Err(format!("the decided block {} was never received", cert.value_id));
    };
    let done = app.shared.chain.commit(u.block.clone()).await?;
    app.store().commit(&u.block, cert, &done.receipts, &done.changed, done.words)?;
    let tip = Tip { height: done.value.header.number, hash: done.value.hash };
    app.shared.mempool.lock().map_err(poisoned)?.remove_decided(&u.block);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "committed height={} hash={} txs={} round={} proposer={}",
        tip.height,
        cert.value_id,
        u.block.txs.len(),
        cert.round.as_i64(),
        u.proposer
    );
    let _ = out.flush();
    Ok(())
}
