//! A replicated parex (`parex node`, `parex testnet`): validators that agree on blocks
//! through the Malachite BFT engine (Tendermint's algorithm) and execute them with
//! parex's engines. Built with the `node` feature.
//!
//! ```text
//!            HTTP/JSON (api.rs)                      peers (libp2p, the engine's)
//!   client ──▶ submit ──▶ mempool.rs                          ▲
//!                           │ candidates                      │ votes, proposals,
//!                           ▼                                 │ parts, sync
//!   Malachite engine ◀──▶ app.rs ──▶ chain.rs (thread: state, execution)
//!                           │            build / check on a copy, commit
//!                           ▼
//!                        store.rs (redb: decided blocks, certificates, receipts,
//!                                  state at the tip, undecided proposals)
//! ```
//!
//! - `types.rs`: the engine's `Context` for parex; the value agreed on is a block
//!   header, named by the block hash, which commits to the state root.
//! - `block.rs`: signed transactions and blocks; `parts.rs`: a block as a stream of
//!   proposal parts; `codec.rs`: the bytes of everything; `sign.rs`: Ed25519.
//! - `testnet.rs`: N validators as processes on 127.0.0.1, with a load generator.
//!
//! The formats (configuration, API, wire) are in `docs/node.md`.

pub mod api;
pub mod app;
pub mod block;
pub mod chain;
pub mod codec;
pub mod mempool;
pub mod parts;
pub mod sign;
pub mod store;
pub mod testnet;
pub mod types;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use malachitebft_app_channel::app::config::{ConsensusConfig, NodeConfig, ValueSyncConfig};
use malachitebft_app_channel::app::net::Multiaddr;
use malachitebft_app_channel::app::types::core::LinearTimeouts;
use malachitebft_app_channel::app::types::Keypair;
use malachitebft_app_channel::{
    ConsensusContext, NetworkContext, NetworkIdentity, RequestContext, SyncContext, WalContext,
};
use serde::{Deserialize, Serialize};

use crate::blockfile::{self, HexBytes, InputError};
use app::{App, Byzantine, Shared};
use chain::Chain;
use codec::ParexCodec;
use mempool::Mempool;
use sign::{KeySigner, KeyVerifier};
use store::Store;
use types::{ParexContext, PrivateKey, PublicKey, Validator, ValidatorAddress, ValidatorSet};

/// A node's configuration file, `config.json` in its home directory (`docs/node.md`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeFile {
    /// A name for logs and metrics.
    pub moniker: String,
    /// The validator's Ed25519 secret key (32 bytes).
    pub key: HexBytes,
    /// The genesis file, relative to the home directory.
    pub genesis: PathBuf,
    /// Every validator.
    pub validators: Vec<ValidatorFile>,
    /// The peer-to-peer address to listen on (a multiaddr, `/ip4/127.0.0.1/tcp/PORT`).
    pub listen: String,
    /// The other validators' peer-to-peer addresses.
    pub peers: Vec<String>,
    /// The API's address (`127.0.0.1:PORT`).
    pub api: String,
    /// Workers that execute a block.
    #[serde(default = "one")]
    pub threads: usize,
    /// Most transactions in a block this validator proposes.
    #[serde(default = "default_max_block_txs")]
    pub max_block_txs: usize,
    /// How long a round waits for its proposal (milliseconds).
    #[serde(default = "default_propose_ms")]
    pub timeout_propose_ms: u64,
    /// How long a round waits for votes once it has a quorum of any (milliseconds).
    #[serde(default = "default_vote_ms")]
    pub timeout_vote_ms: u64,
    /// The least time a height takes (milliseconds; 0: none): the next height starts
    /// no sooner, so that blocks gather more transactions.
    #[serde(default)]
    pub block_time_ms: u64,
}

/// One validator of a [`NodeFile`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorFile {
    /// Its Ed25519 public key (32 bytes).
    pub public_key: HexBytes,
    /// Its voting power.
    pub power: u64,
}

fn one() -> usize {
    1
}
fn default_max_block_txs() -> usize {
    10_000
}
fn default_propose_ms() -> u64 {
    1_000
}
fn default_vote_ms() -> u64 {
    500
}

/// The engine's configuration (Malachite's `NodeConfig`).
struct EngineConfig {
    moniker: String,
    consensus: ConsensusConfig,
    value_sync: ValueSyncConfig,
}

impl NodeConfig for EngineConfig {
    fn moniker(&self) -> &str {
        &self.moniker
    }
    fn consensus(&self) -> &ConsensusConfig {
        &self.consensus
    }
    fn consensus_mut(&mut self) -> &mut ConsensusConfig {
        &mut self.consensus
    }
    fn value_sync(&self) -> &ValueSyncConfig {
        &self.value_sync
    }
    fn value_sync_mut(&mut self) -> &mut ValueSyncConfig {
        &mut self.value_sync
    }
}

/// A node that cannot start or stopped: bad configuration (exit status 2), or a
/// failure while running (1).
#[derive(Debug)]
pub enum NodeError {
    /// A file or a value in one is wrong.
    Input(InputError),
    /// Something failed at run time.
    Run(String),
}

impl From<InputError> for NodeError {
    fn from(e: InputError) -> Self {
        NodeError::Input(e)
    }
}

fn bad(file: &Path, message: impl Into<String>) -> NodeError {
    NodeError::Input(InputError::file(file.display().to_string(), message))
}

/// A 32-byte key of a configuration file.
fn key32(file: &Path, what: &str, v: &HexBytes) -> Result<[u8; 32], NodeError> {
    <[u8; 32]>::try_from(v.0.as_slice())
        .map_err(|_| bad(file, format!("{what}: {} bytes, expected 32", v.0.len())))
}

/// Runs the validator whose home directory is `home` until it is stopped.
pub fn run_node(home: &Path, byzantine: Option<Byzantine>) -> Result<(), NodeError> {
    let file = home.join("config.json");
    let cfg: NodeFile =
        blockfile::parse_json(&file.display().to_string(), &blockfile::read_text(&file)?)?;
    let seed = key32(&file, "key", &cfg.key)?;
    let key = PrivateKey::from(seed);
    let me = ValidatorAddress::of(&key.public_key());
    let mut validators = Vec::new();
    for v in &cfg.validators {
        let public_key =
            PublicKey::from_bytes(key32(&file, "validators.public_key", &v.public_key)?)
                .map_err(|_| bad(&file, "validators.public_key: not an Ed25519 key"))?;
        validators.push(Validator::new(public_key, v.power));
    }
    let validators = ValidatorSet::new(validators);
    if !validators.validators().iter().any(|v| v.address == me) {
        return Err(bad(&file, "key: not the key of any of the validators"));
    }
    let api: SocketAddr =
        cfg.api.parse().map_err(|_| bad(&file, format!("api: not an address: {}", cfg.api)))?;
    let listen: Multiaddr = cfg
        .listen
        .parse()
        .map_err(|_| bad(&file, format!("listen: not a multiaddr: {}", cfg.listen)))?;
    let peers = cfg
        .peers
        .iter()
        .map(|p| p.parse().map_err(|_| bad(&file, format!("peers: not a multiaddr: {p}"))))
        .collect::<Result<Vec<Multiaddr>, _>>()?;
    let world = blockfile::load_genesis(&home.join(&cfg.genesis))?;
    if world.shards.is_some() {
        return Err(bad(&file, "genesis: a sharded genesis cannot run as a node yet"));
    }

    let store = Arc::new(Store::open(&home.join("store.redb")).map_err(NodeError::Run)?);
    let saved = store.saved().map_err(NodeError::Run)?;
    let world = Arc::new(world);
    let chain = Chain::start((*world).clone(), saved, cfg.threads).map_err(NodeError::Run)?;
    let shared = Arc::new(Shared { mempool: Mutex::new(Mempool::new(100_000)), store, chain, me });
    let vote = Duration::from_millis(cfg.timeout_vote_ms);
    let timeouts = LinearTimeouts {
        propose: Duration::from_millis(cfg.timeout_propose_ms),
        prevote: vote,
        precommit: vote,
        rebroadcast: Duration::from_millis(cfg.timeout_propose_ms) + 2 * vote,
        ..LinearTimeouts::default()
    };
    let block_time = (cfg.block_time_ms > 0).then(|| Duration::from_millis(cfg.block_time_ms));
    let app = App::new(
        me,
        key,
        validators,
        (timeouts, block_time),
        shared.clone(),
        cfg.max_block_txs,
        byzantine,
    );

    let mut consensus = ConsensusConfig::default();
    consensus.p2p.listen_addr = listen;
    consensus.p2p.persistent_peers = peers;
    let value_sync = ValueSyncConfig {
        enabled: true,
        status_update_interval: Duration::from_millis(500),
        request_timeout: Duration::from_secs(5),
        ..ValueSyncConfig::default()
    };
    let engine = EngineConfig { moniker: cfg.moniker.clone(), consensus, value_sync };
    let wal = home.join("wal");
    std::fs::create_dir_all(&wal).map_err(|e| NodeError::Run(format!("{}: {e}", wal.display())))?;
    let keypair = Keypair::ed25519_from_bytes(seed).map_err(|e| NodeError::Run(e.to_string()))?;
    let identity = NetworkIdentity::new(cfg.moniker.clone(), keypair, Some(me.to_string()));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .build()
        .map_err(|e| NodeError::Run(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async move {
        let (channels, engine) = malachitebft_app_channel::start_engine(
            ParexContext,
            engine,
            WalContext::new(wal.join("consensus.wal"), ParexCodec),
            NetworkContext::new(identity, ParexCodec),
            ConsensusContext::new_validator(
                me,
                Box::new(KeyVerifier),
                Box::new(KeySigner(app.key.clone())),
            ),
            SyncContext::new(ParexCodec),
            RequestContext::new(100),
        )
        .await
        .map_err(|e| NodeError::Run(format!("the consensus engine did not start: {e}")))?;
        let served = tokio::spawn(api::serve(api, shared, world));
        let outcome = tokio::select! {
            r = app::run(app, channels) => r.map_err(NodeError::Run),
            r = served => match r {
                Ok(Err(e)) => Err(NodeError::Run(e)),
                _ => Err(NodeError::Run("the API stopped".into())),
            },
            _ = tokio::signal::ctrl_c() => Ok(()),
            _ = terminated() => Ok(()),
        };
        engine.actor.stop(None);
        outcome
    })
}

/// Resolves when the process receives SIGTERM (how `parex testnet` stops its nodes).
async fn terminated() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}
