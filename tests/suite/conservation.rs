//! Native balance is conserved: fees move to the beneficiary, values between accounts and
//! contracts, and nothing is created or destroyed, whatever the block holds.

use parex::core::state::StateEntry;
use parex::core::KeyKind;
use parex::host::chain::ChainOutcome;
use parex::host::engine::Mode;
use parex::host::workload::{Generator, Spec, Workload};
use proptest::prelude::*;

use super::differential::{config, replay_with, spec_of};

fn total_balance(state: &[StateEntry]) -> u128 {
    state.iter().filter(|e| e.key.kind == KeyKind::Balance).map(|e| e.value as u128).sum()
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::sample::select(Workload::ALL.to_vec()),
        prop_oneof![3 => 2usize..=10, 2 => 11usize..=500, 1 => 501usize..=5_000],
        1usize..=200,
        1usize..=3,
        any::<u64>(),
        prop::option::of(1usize..=20),
        0u32..=300,
        prop::sample::select(vec![0u32, 500, 1000]),
    )
        .prop_map(spec_of)
}

proptest! {
    #![proptest_config(config(64, 0xC0_5E77))]

    #[test]
    fn native_balance_is_conserved(spec in spec(), threads in prop::sample::select(vec![2usize, 3, 4])) {
        let (world, mut gen) = Generator::new(&spec);
        let genesis: u128 = world.accounts.iter().map(|a| a.balance as u128).sum();
        let blocks: Vec<_> = (0..spec.blocks).map(|_| gen.block()).collect();
        for mode in [Mode::Sequential, Mode::Parallel(threads)] {
            let out: ChainOutcome = replay_with(&world, &blocks, mode);
            prop_assert_eq!(total_balance(&out.state), genesis, "{:?}", mode);
            // Every fee reached the beneficiary.
            let fees: u128 = blocks
                .iter()
                .zip(&out.blocks)
                .flat_map(|(txs, b)| txs.txs().iter().zip(&b.receipts))
                .map(|(tx, r)| r.gas_used as u128 * tx.gas_price as u128)
                .sum();
            let beneficiary = out
                .state
                .iter()
                .find(|e| e.key == parex::core::StateKey::balance(world.beneficiary))
                .map_or(0, |e| e.value as u128);
            prop_assert_eq!(beneficiary, fees, "{:?}", mode);
        }
    }
}
