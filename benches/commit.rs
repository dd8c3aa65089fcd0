//! Commitment throughput (transactions/s) on its own: the roots and the block hash of
//! an executed 10,000-transaction block, on one part (the sequential engine's way) and
//! on two workers (the parallel engine's, in the parts `parex_host::engine::commit_parts` says),
//! with the CPU's multi-lane Keccak.
//!
//! Cases: transfers over 100,000 accounts (about 20,000 written leaves of 100,000, the
//! transaction and receipt lists) and token transfers over 100,000 accounts (storage
//! leaves too). The block is executed once; every iteration commits its write set onto
//! the same state again, so after the first the keys exist (a steady state: no new keys,
//! the same leaves rehashed).
//!
//! ```text
//! cargo bench -p parex --bench commit -- --measurement-time 3 --warm-up-time 1
//! ```

#[path = "support.rs"]
mod support;

use criterion::Criterion;
use parex::core::exec::{BlockEnv, Limits};
use parex::core::types::Shard;
use parex::host::chain::{state_capacity, WorldState};
use parex::host::engine::{Executor, Mode};
use parex::host::workload::{Generator, Spec, Workload};
use parex::offload::CpuHasher;

fn bench_case(c: &mut Criterion, name: &str, spec: Spec) {
    let limits = Limits::DEFAULT;
    let (world, mut gen) = Generator::new(&spec);
    let txs = gen.block();
    let mut loaded =
        WorldState::new(&world, state_capacity(&world, std::slice::from_ref(&txs), &limits));
    let mut hasher = CpuHasher::single_thread();
    let (mut state, contracts) = loaded.load(&mut hasher).expect("genesis loads");
    let env = BlockEnv {
        number: 1,
        beneficiary: world.beneficiary,
        contracts,
        limits,
        shard: Shard::WHOLE,
        delivered: 0,
    };
    let mut exec = Executor::new(limits);
    let executed = exec.execute(&state, &env, txs.txs(), Mode::Sequential).expect("block executes");

    let mut group = support::block_group(c, name, txs.len());
    for (label, workers) in [("parts-1", 1), ("parts-2", 2)] {
        group.bench_function(label, |b| {
            b.iter(|| {
                exec.commit(&mut state, [0; 32], &env, txs.txs(), &executed, &mut hasher, workers)
                    .expect("block commits")
            })
        });
    }
    group.finish();
}

// `criterion_group!` would generate an undocumented `pub fn`; this is its expansion.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    let transfers = Spec::new(Workload::Transfers, 100_000, 10_000, 1, 1);
    bench_case(&mut c, "commit_transfers_100k_accounts", transfers);
    let token = Spec::new(Workload::Token, 100_000, 10_000, 1, 1);
    bench_case(&mut c, "commit_token_100k_accounts", token);
    c.final_summary();
}
