//! The reference block executes to the constants the appliance checks under QEMU.

use parex::core::policy::Mode;
use parex::core::reference::{
    run, run_sequential, ReferenceMemory, SequentialMemory, EXPECTED_BLOCK_HASH,
    EXPECTED_STATE_ROOT,
};
use parex::core::KeccakHasher;

#[test]
fn reference_block_matches_pinned_root_and_hash() {
    for engine in [Mode::Sequential, Mode::BlockStm(1), Mode::BlockStmAlone, Mode::Parallel(1)] {
        let mut mem = Box::new(ReferenceMemory::new());
        let out = run(&mut mem, engine, &mut KeccakHasher).expect("reference block runs");
        assert_eq!(out.header.state_root, EXPECTED_STATE_ROOT, "{engine:?}");
        assert_eq!(out.block_hash, EXPECTED_BLOCK_HASH, "{engine:?}");
    }
}

/// The minimal appliance image's run: the sequential engine alone, in its own memory.
#[test]
fn the_sequential_run_alone_matches_too() {
    let mut mem = Box::new(SequentialMemory::new());
    let out = run_sequential(&mut mem, &mut KeccakHasher).expect("reference block runs");
    assert_eq!(out.header.state_root, EXPECTED_STATE_ROOT);
    assert_eq!(out.block_hash, EXPECTED_BLOCK_HASH);
    mem.reset();
    let again = run_sequential(&mut mem, &mut KeccakHasher).expect("runs again after reset");
    assert_eq!(again, out);
}
