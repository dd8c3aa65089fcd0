//! Block execution throughput (transactions/s), sequential against parallel, on the same
//! workload definitions `parex bench` uses (`parex::host::workload`).
//!
//! Cases (the issue's performance cases): low contention (100,000 accounts, one
//! 10,000-transaction block of transfers) with the sequential engine and the parallel
//! engine on 2 and on 1 worker, and the same for the default `parex bench` transfers row
//! (10,000 accounts, 5,000 transfers); full contention (transfers between 2 accounts,
//! and swaps on 1 AMM pool) with the sequential engine and 2 parallel workers; and token
//! transfers at low contention, where each transaction runs contract code.
//!
//! Only execution is timed: the world, the block and the committed genesis state are
//! built once per case, and every iteration executes the block against that state with
//! `Executor::execute_into` (which does not commit, so the state does not change).
//! Commitment (hashing) is measured by `benches/hash.rs` and by `parex bench`.
//!
//! ```text
//! cargo bench -p parex --bench exec -- --measurement-time 3 --warm-up-time 1
//! ```

#[path = "support.rs"]
mod support;

use criterion::Criterion;
use parex::core::exec::{BlockEnv, Limits};
use parex::core::types::Shard;
use parex::core::KeccakHasher;
use parex::host::chain::{state_capacity, WorldState};
use parex::host::engine::{Executed, Executor, Mode};
use parex::host::workload::{Generator, Spec, Workload};

fn bench_case(c: &mut Criterion, name: &str, spec: Spec, modes: &[(&str, Mode)]) {
    let limits = Limits::DEFAULT;
    let (world, mut gen) = Generator::new(&spec);
    let txs = gen.block();
    let mut loaded =
        WorldState::new(&world, state_capacity(&world, std::slice::from_ref(&txs), &limits));
    let (state, contracts) = loaded.load(&mut KeccakHasher).expect("genesis loads");
    let env = BlockEnv {
        number: 1,
        beneficiary: world.beneficiary,
        contracts,
        limits,
        shard: Shard::WHOLE,
        delivered: 0,
    };

    let mut group = support::block_group(c, name, txs.len());
    for &(label, mode) in modes {
        let mut exec = Executor::new(limits);
        exec.reserve(txs.txs(), mode);
        // Results go to one reused `Executed`, so that no iteration pays for allocating
        // (and faulting in) fresh receipt and write vectors.
        let mut out = Executed::default();
        group.bench_function(label, |b| {
            b.iter(|| {
                exec.execute_into(&state, &env, txs.txs(), mode, &mut out).expect("block executes")
            })
        });
    }
    group.finish();
}

fn exec_benches(c: &mut Criterion) {
    let seq = ("sequential", Mode::Sequential);
    let par2 = ("parallel-2", Mode::Parallel(2));
    let par1 = ("parallel-1", Mode::Parallel(1));

    let low = Spec::new(Workload::Transfers, 100_000, 10_000, 1, 1);
    bench_case(c, "transfers_low_contention_100k_accounts", low, &[seq, par2, par1]);

    // The default `parex bench` transfers row's block: a state that stays in the cache,
    // so the engines' own bookkeeping, not memory, sets the pace.
    let row = Spec::new(Workload::Transfers, 10_000, 5_000, 1, 1);
    bench_case(c, "transfers_default_row_10k_accounts", row, &[seq, par2, par1]);

    // Contract calls cost more per transaction than native transfers, so the engine's
    // bookkeeping weighs less: the same low-contention shape with token transfers.
    let token = Spec::new(Workload::Token, 100_000, 10_000, 1, 1);
    bench_case(c, "token_low_contention_100k_accounts", token, &[seq, par2, par1]);

    let hot = Spec::new(Workload::Transfers, 2, 10_000, 1, 1);
    bench_case(c, "transfers_full_contention_2_accounts", hot, &[seq, par2]);

    let mut amm = Spec::new(Workload::Amm, 10_000, 10_000, 1, 1);
    amm.hot = Some(1);
    // With one worker nothing conflicts: this measures Block-STM's bookkeeping on
    // contract calls that all touch the same few keys.
    bench_case(c, "amm_full_contention_1_pool", amm, &[seq, par2, par1]);
}

// `criterion_group!` would generate an undocumented `pub fn`; this is its expansion.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    exec_benches(&mut c);
    c.final_summary();
}
