//! The reference block executes to the constants the appliance checks under QEMU.

use parex::core::policy::Mode;
use parex::core::reference::{run, ReferenceMemory, EXPECTED_BLOCK_HASH, EXPECTED_STATE_ROOT};
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
