use parex::core::exec::Limits;
use parex::core::KeccakHasher;
use parex::host::chain::replay;
use parex::host::engine::Mode;
use parex::host::workload::{Generator, Spec, Workload};

#[test]
fn smoke() {
    for w in Workload::ALL {
        for accounts in [2usize, 50, 1000] {
            let spec = Spec::new(w, accounts, 300, 2, 7);
            let (world, mut g) = Generator::new(&spec);
            let blocks: Vec<_> = (0..spec.blocks).map(|_| g.block()).collect();
            let seq = replay(&world, &blocks, Mode::Sequential, Limits::DEFAULT, &mut KeccakHasher)
                .unwrap();
            let mut st = std::collections::BTreeMap::new();
            for r in &seq.blocks[0].receipts {
                *st.entry(r.status.name()).or_insert(0) += 1;
            }
            println!("{w} {accounts}: {:?}", st);
            for threads in [1, 2, 4] {
                let par = replay(
                    &world,
                    &blocks,
                    Mode::Parallel(threads),
                    Limits::DEFAULT,
                    &mut KeccakHasher,
                )
                .unwrap();
                for (a, b) in seq.blocks.iter().zip(&par.blocks) {
                    assert_eq!(a.receipts, b.receipts, "{w} {accounts} {threads}");
                    assert_eq!(a.hash, b.hash, "{w} {accounts} {threads}");
                    assert!(!b.stats.fell_back);
                }
                println!(
                    "  t={threads} reexec={} aborts={} waits={}",
                    par.blocks[0].stats.reexecutions,
                    par.blocks[0].stats.aborts,
                    par.blocks[0].stats.dependency_waits
                );
            }
        }
    }
}
