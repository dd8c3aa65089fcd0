//! The genesis and block file parsers never panic on arbitrary text: bad input is an
//! error value naming what is wrong. And a block file read in pieces (as a large one is,
//! on several threads, from its text or a window at a time from its file) reads as when
//! read whole, or is left to the whole-file reader.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parex_core::state::GenesisAccount;
use parex_core::Address;
use parex_host::blockfile::{parse_block, parse_genesis, read_in_pieces, read_in_windows};
use parex_host::workload::World;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = parse_genesis("fuzz/genesis.json", text);
    let world = World {
        accounts: vec![GenesisAccount { addr: Address(0x1000), balance: 1_000_000, nonce: 0 }],
        beneficiary: Address(0xBEEF),
        ..World::default()
    };
    let whole = parse_block("fuzz/block.json", text, 1, &world, 1_000);
    for threads in [1, 2, 3] {
        if let Some((number, txs)) = read_in_pieces(text, &world, 1_000, threads) {
            if number.is_none_or(|n| n == 1) {
                assert_eq!(whole.as_ref().ok(), Some(&txs), "pieces read otherwise");
            }
        }
        // As from a file, a window at a time (windows that cut elements and lines).
        for window in [64, 200] {
            if let Some((number, txs)) = read_in_windows(text, &world, 1_000, threads, window) {
                if number.is_none_or(|n| n == 1) {
                    assert_eq!(whole.as_ref().ok(), Some(&txs), "windows read otherwise");
                }
            }
        }
    }
});
