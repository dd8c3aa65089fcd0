use parex::core::reference::{run, Engine, ReferenceMemory};
use parex::core::KeccakHasher;
#[test]
fn reference() {
    let mut mem = Box::new(ReferenceMemory::new());
    let a = run(&mut mem, Engine::Sequential, &mut KeccakHasher).unwrap();
    let mut mem = Box::new(ReferenceMemory::new());
    let b = run(&mut mem, Engine::Parallel, &mut KeccakHasher).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.block_hash, parex::core::reference::EXPECTED_BLOCK_HASH);
}
