//! A world and its blocks split into shards, the checks a sharded chain needs before it
//! runs, and the conservation of value across shards.

use parex_core::shard::{is_system, Message};
use parex_core::state::StateEntry;
use parex_core::tx::Transaction;

use crate::txblock::TxBlock;
use parex_core::{KeyKind, Shard};

use super::ShardedError;
use crate::workload::World;

/// The part of `world` that lives on `shard`: its accounts, contracts and storage words
/// (by their addresses); the beneficiary is every shard's.
pub fn shard_world(world: &World, shard: Shard) -> World {
    World {
        accounts: world.accounts.iter().filter(|a| shard.holds(a.addr)).copied().collect(),
        contracts: world.contracts.iter().filter(|c| shard.holds(c.0)).cloned().collect(),
        storage: world.storage.iter().filter(|s| shard.holds(s.addr)).copied().collect(),
        beneficiary: world.beneficiary,
        shards: world.shards,
    }
}

/// `txs` split by their senders' shards, each part in block order.
pub fn split_block(txs: &[Transaction<'_>], shards: u16) -> Vec<TxBlock> {
    let mut parts = vec![Vec::new(); shards.max(1) as usize];
    for tx in txs {
        parts[Shard::of(tx.from, shards) as usize].push(tx.clone());
    }
    parts.iter().map(|part| TxBlock::copy_of(part)).collect()
}

/// What a chain of `shards` shards refuses before it runs: a genesis address among the
/// system's (with more than one shard).
pub fn check_world(world: &World, shards: u16) -> Result<(), ShardedError> {
    if shards > 1 {
        let addrs = world.accounts.iter().map(|a| a.addr);
        let addrs = addrs.chain(world.contracts.iter().map(|c| c.0));
        let addrs = addrs.chain(world.storage.iter().map(|s| s.addr));
        let mut addrs = addrs.chain([world.beneficiary]);
        if let Some(a) = addrs.find(|&a| is_system(a)) {
            return Err(ShardedError::SystemAddress(a));
        }
    }
    Ok(())
}

/// The value in a sharded chain: every balance of every shard's state, and the value
/// of the messages in flight. Value is conserved when it equals the genesis supply.
pub fn conserved(states: &[Vec<StateEntry>], in_flight: &[Message]) -> u128 {
    let balances = states
        .iter()
        .flatten()
        .filter(|e| e.key.kind == KeyKind::Balance)
        .map(|e| u128::from(e.value));
    balances.sum::<u128>() + in_flight.iter().map(|m| u128::from(m.value)).sum::<u128>()
}
