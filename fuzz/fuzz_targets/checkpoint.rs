//! The sharded checkpoint parser never panics on arbitrary text, and a chain resumed
//! from whatever it accepts (a height with no transactions: the batches delivered, the
//! states loaded and checked) ends in a result or a typed error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parex_core::state::GenesisAccount;
use parex_core::Address;
use parex_host::blockfile::parse_checkpoint;
use parex_host::shard::{replay_sharded_from, ShardRun};
use parex_host::workload::World;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(checkpoint) = parse_checkpoint("fuzz/checkpoint.json", text) else { return };
    let shards = checkpoint.headers.len();
    if !(1..=4).contains(&shards) {
        return;
    }
    let world = World {
        accounts: vec![GenesisAccount { addr: Address(0x1000), balance: 1_000_000, nonce: 0 }],
        beneficiary: Address(0xBEEF),
        shards: Some(shards as u16),
        ..World::default()
    };
    let run = ShardRun::new(shards as u16, 1);
    let _ = replay_sharded_from(&world, Some(&checkpoint), &[Vec::new()], &run);
});
