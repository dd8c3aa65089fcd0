//! Random bytecode never panics and keeps the outcome invariants; gas near `u64::MAX`.

use parex_core::receipt::Status;
use parex_core::vm::Op;
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

use crate::harness::*;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x5eed_0001),
        ..ProptestConfig::default()
    }
}

/// Bytecode biased towards defined opcodes and small immediates, so runs get past the
/// first byte.
fn bytecode() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => prop::sample::select(Op::ALL.to_vec()).prop_map(|o| o as u8),
        2 => 0u8..16,
        1 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..256)
}

proptest! {
    #![proptest_config(config(5_000))]

    #[test]
    fn random_bytecode_never_panics(
        code in bytecode(),
        gas in prop_oneof![0u64..5_000, 0u64..1_000_000],
        stack in 0usize..8,
        memory in prop::sample::select(vec![0usize, 8, 64]),
    ) {
        let mut host = MapHost::new();
        let out = run_with(&code, gas, &mut host, stack, memory);
        prop_assert!(out.gas_used <= gas);
        match out.status {
            Status::Success => {}
            Status::Reverted => prop_assert_eq!(out.logs, 0),
            s => {
                prop_assert!(s.is_failure(), "{:?}", s);
                prop_assert_eq!(out.gas_used, gas);
                prop_assert_eq!((out.output, out.logs), (0, 0));
            }
        }
        if out.logs == 0 {
            prop_assert_eq!(out.logs_digest, [0; 32]);
        }
    }
}

#[test]
fn huge_gas_does_not_overflow() {
    let code = asm(|a| {
        a.push(1).push(2).op(Op::Add).op(Op::Gas).op(Op::Return);
    });
    let out = run(&code, u64::MAX);
    assert_eq!(out.status, Status::Success);
    assert_eq!(out.gas_used, linear_gas(&code));
    assert_eq!(out.output, u64::MAX - gas_of(&[Op::Push1, Op::Push1, Op::Add, Op::Gas]));
}
