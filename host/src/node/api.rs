//! A node's HTTP/JSON API on the loopback interface (`docs/node.md`, "API"): submit a
//! signed transaction; read the status, a decided block, where a transaction went and
//! its receipt, an account.
//!
//! Every refusal is a 4xx with one line of JSON, `{"error": "..."}`, and a refused
//! transaction never reaches the mempool, so it never reaches consensus.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use parex_core::tx::Transaction;
use parex_core::Address;
use parex_offload::hex::{hash_hex, parse_hex_bytes};
use serde::Deserialize;
use serde_json::{json, Value};

use super::app::Shared;
use super::block::SignedTx;
use super::mempool::Refused;
use crate::blockfile::{transaction_of, HexBytes, TxJson};
use crate::workload::World;

/// Largest request body: a transaction with a full access list is under 2 KB.
pub const MAX_BODY: usize = 16 << 10;

/// A submitted transaction: the block files' transaction, the sender's key and its
/// signature (`docs/node.md`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Submit {
    tx: TxJson,
    public_key: HexBytes,
    signature: HexBytes,
}

struct Api {
    shared: Arc<Shared>,
    world: Arc<World>,
}

type Reply = Response;

fn refuse(status: StatusCode, message: impl std::fmt::Display) -> Reply {
    // One line: the message's own line breaks are folded.
    let line = message.to_string().replace('\n', " ");
    (status, Json(json!({ "error": line }))).into_response()
}

fn internal(e: impl std::fmt::Display) -> Reply {
    refuse(StatusCode::INTERNAL_SERVER_ERROR, e)
}

/// Serves the API on `addr` until the process ends.
pub async fn serve(addr: SocketAddr, shared: Arc<Shared>, world: Arc<World>) -> Result<(), String> {
    let api = Arc::new(Api { shared, world });
    let app = Router::new()
        .route("/tx", post(submit))
        .route("/tx/{hash}", get(tx))
        .route("/status", get(status))
        .route("/block/{height}", get(block))
        .route("/account/{address}", get(account))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(api);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    axum::serve(listener, app).await.map_err(|e| format!("the API stopped: {e}"))
}

async fn submit(State(api): State<Arc<Api>>, body: Bytes) -> Reply {
    let s: Submit = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, format!("bad JSON: {e}")),
    };
    let (tx, list) = match transaction_of(&s.tx, &api.world) {
        Ok(read) => read,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, format!("bad transaction: {e}")),
    };
    let (Ok(public_key), Ok(signature)) = (
        <[u8; 32]>::try_from(s.public_key.0.as_slice()),
        <[u8; 64]>::try_from(s.signature.0.as_slice()),
    ) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "public_key must be 32 bytes and signature 64 bytes (0x-prefixed hex)",
        );
    };
    let signed = SignedTx::new(Transaction { access: list.as_ref(), ..tx }, public_key, signature);
    if let Err(e) = signed.verify() {
        return refuse(StatusCode::BAD_REQUEST, format!("bad signature: {e}"));
    }
    let (_, next) = match api.shared.chain.account(signed.tx.from).await {
        Ok(a) => a,
        Err(e) => return internal(e),
    };
    if signed.tx.nonce < next {
        return refuse(
            StatusCode::BAD_REQUEST,
            format!("nonce {} is used: the sender's next nonce is {next}", signed.tx.nonce),
        );
    }
    let added = match api.shared.mempool.lock() {
        Ok(mut m) => m.add(signed),
        Err(_) => return internal("a lock was poisoned"),
    };
    match added {
        Ok(hash) => {
            (StatusCode::ACCEPTED, Json(json!({ "hash": hash_hex(&hash) }))).into_response()
        }
        Err(e @ Refused::Full) => refuse(StatusCode::SERVICE_UNAVAILABLE, e),
        Err(e) => refuse(StatusCode::CONFLICT, e),
    }
}

async fn status(State(api): State<Arc<Api>>) -> Reply {
    let tip = match api.shared.store.tip() {
        Ok(t) => t,
        Err(e) => return internal(e),
    };
    let waiting = api.shared.mempool.lock().map(|m| m.len()).unwrap_or(0);
    Json(json!({
        "height": tip.height,
        "hash": hash_hex(&tip.hash),
        "mempool": waiting,
        "validator": api.shared.me.to_string(),
    }))
    .into_response()
}

async fn block(State(api): State<Arc<Api>>, Path(height): Path<String>) -> Reply {
    let Ok(height) = height.parse::<u64>() else {
        return refuse(StatusCode::BAD_REQUEST, format!("not a height: {height}"));
    };
    let d = match api.shared.store.decided(height) {
        Ok(Some(d)) => d,
        Ok(None) => {
            return refuse(StatusCode::NOT_FOUND, format!("no block {height} decided here"))
        }
        Err(e) => return internal(e),
    };
    let h = d.block.value.header;
    let txs: Vec<Value> = d.block.txs.iter().map(|t| json!(hash_hex(&t.hash))).collect();
    Json(json!({
        "height": h.number,
        "hash": hash_hex(&d.block.value.hash),
        "parent_hash": hash_hex(&h.parent_hash),
        "state_root": hash_hex(&h.state_root),
        "tx_root": hash_hex(&h.tx_root),
        "receipts_root": hash_hex(&h.receipts_root),
        "gas_used": h.gas_used,
        "tx_count": h.tx_count,
        "transactions": txs,
    }))
    .into_response()
}

async fn tx(State(api): State<Arc<Api>>, Path(hash): Path<String>) -> Reply {
    let Some(hash) = parse_hash(&hash) else {
        return refuse(StatusCode::BAD_REQUEST, format!("not a transaction hash: {hash}"));
    };
    let place = match api.shared.store.find_tx(&hash) {
        Ok(Some(p)) => p,
        Ok(None) => {
            let waiting = api.shared.mempool.lock().is_ok_and(|m| m.contains(&hash));
            let what = if waiting { "waiting in the mempool" } else { "not known here" };
            return refuse(
                StatusCode::NOT_FOUND,
                format!("transaction {}: {what}", hash_hex(&hash)),
            );
        }
        Err(e) => return internal(e),
    };
    let (height, index) = place;
    let receipt = match api.shared.store.decided(height) {
        Ok(Some(d)) => d.receipts.get(index as usize).copied(),
        Ok(None) => None,
        Err(e) => return internal(e),
    };
    let Some(r) = receipt else {
        return internal(format!("block {height} has no receipt {index}"));
    };
    Json(json!({
        "hash": hash_hex(&hash),
        "height": height,
        "index": index,
        "status": r.status.name(),
        "gas_used": r.gas_used,
        "output": r.output,
        "logs": r.logs,
    }))
    .into_response()
}

async fn account(State(api): State<Arc<Api>>, Path(address): Path<String>) -> Reply {
    let digits = address.strip_prefix("0x").unwrap_or(&address);
    let Ok(addr) = u64::from_str_radix(digits, 16) else {
        return refuse(StatusCode::BAD_REQUEST, format!("not an address: {address}"));
    };
    match api.shared.chain.account(Address(addr)).await {
        Ok((balance, nonce)) => {
            Json(json!({ "address": format!("{addr:#x}"), "balance": balance, "nonce": nonce }))
                .into_response()
        }
        Err(e) => internal(e),
    }
}

fn parse_hash(s: &str) -> Option<[u8; 32]> {
    parse_hex_bytes(s).ok()?.try_into().ok()
}
