//! The incremental, split tree and list roots against a direct model of the layout in
//! `docs/semantics.md`: every level computed in full, padded to the fixed depth.

extern crate std;
use std::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::hash::{keccak256, KeccakHasher};
use crate::sync::Slot;

fn model_zero(level: usize) -> Hash32 {
    let mut z = keccak256(&[0u8; LEAF_GROUP_LEN]);
    for _ in 1..level {
        z = keccak256(&[z, z, z, z].concat());
    }
    z
}

/// One node over up to four `children`, the missing ones `z`.
fn model_node(children: &[Hash32], z: &Hash32) -> Hash32 {
    let mut msg = Vec::new();
    (0..ARITY).for_each(|i| msg.extend_from_slice(children.get(i).unwrap_or(z)));
    keccak256(&msg)
}

/// The state root straight from the definition.
fn model_state_root(leaves: &[Leaf]) -> Hash32 {
    let mut level: Vec<Hash32> = leaves
        .chunks(ARITY)
        .map(|group| {
            let mut msg = [0u8; LEAF_GROUP_LEN];
            for (l, out) in group.iter().zip(msg.chunks_exact_mut(LEAF_LEN)) {
                l.encode(out);
            }
            keccak256(&msg)
        })
        .collect();
    for l in 1..DEPTH {
        let z = model_zero(l);
        if level.is_empty() {
            level.push(z);
        }
        level = level.chunks(ARITY).map(|c| model_node(c, &z)).collect();
    }
    level.first().copied().unwrap_or_else(|| model_zero(DEPTH))
}

/// The root of a list of `digests` straight from the definition, `count` in its last
/// hash (the digests' number, or the receipts' for receipt pairs).
pub(crate) fn model_list_root(digests: &[Hash32], count: usize) -> Hash32 {
    let mut level = digests.to_vec();
    let mut z = [0u8; 32];
    while level.len() > 1 {
        level = level.chunks(ARITY).map(|c| model_node(c, &z)).collect();
        z = keccak256(&[z, z, z, z].concat());
    }
    let top = level.first().copied().unwrap_or([0; 32]);
    keccak256(&[&top[..], &(count as u64).to_le_bytes()].concat())
}

fn leaf(seed: u64) -> Leaf {
    let storage = seed.is_multiple_of(3);
    let mut l = Leaf::new(seed, if storage { KeyKind::Storage } else { KeyKind::Balance }, 7);
    l.set(if storage { KeyKind::Storage } else { KeyKind::Nonce }, seed.wrapping_mul(31));
    l
}

fn scratch_bufs(batch: usize) -> (Vec<u8>, Vec<Hash32>, Vec<u32>) {
    let (m, d, e) = HashScratch::lengths(batch);
    (std::vec![0; m], std::vec![[0; 32]; d], std::vec![0; e])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Genesis and then blocks of updates in any number of parts (run in reverse order)
    /// give the model's root, whatever the capacity and batch size. Leaves come into use
    /// in order and written, as a state's do; the room beyond them (leaves and nodes)
    /// holds garbage that must never be read, and a copy of the tree (which copies only
    /// the nodes in use into garbage) has the same root.
    #[test]
    fn tree_matches_model(
        cap in 1usize..400,
        len_share in 0usize..=100,
        blocks in proptest::collection::vec(
            (0usize..=100, proptest::collection::vec((0usize..400, any::<u64>()), 0..60)),
            1..4,
        ),
        parts in 1usize..9,
        batch in 1usize..9,
    ) {
        let mut used = cap * len_share / 100;
        let garbage = leaf(u64::MAX);
        let mut leaves: Vec<Leaf> = (0..cap).map(|i| if i < used { leaf(i as u64) } else { garbage }).collect();
        let mut nodes = std::vec![[0xa5u8; 32]; MerkleTree::nodes_needed(cap)];
        let (mut m, mut d, mut e) = scratch_bufs(batch);
        let mut scratch = HashScratch { msgs: &mut m, digests: &mut d, ends: &mut e };
        let mut tree = MerkleTree::new(&mut nodes, cap, &mut KeccakHasher).unwrap();
        tree.rebuild(&leaves, used, &mut KeccakHasher, &mut scratch);
        prop_assert_eq!(tree.root(&mut KeccakHasher), model_state_root(&leaves[..used]));
        for (grow_share, updates) in blocks {
            // New leaves, each written, then updates of leaves in use.
            let grown = used + (cap - used) * grow_share / 100;
            let mut dirty: Vec<u32> = (used as u32..grown as u32).collect();
            for (i, l) in leaves.iter_mut().enumerate().take(grown).skip(used) {
                *l = leaf(i as u64 ^ 0x55);
            }
            used = grown;
            if used > 0 {
                for (i, v) in &updates {
                    leaves[i % used] = leaf(*v);
                    dirty.push((i % used) as u32);
                }
            }
            dirty.sort_unstable();
            dirty.dedup();
            let mut root = [0u8; 32];
            let job = tree.job(&leaves[..used], &mut dirty, parts, &mut root);
            for p in (0..job.parts()).rev() {
                job.run_part(p, &mut KeccakHasher, &mut scratch);
            }
            let got = job.finish(&mut KeccakHasher, &mut scratch);
            prop_assert_eq!(got, root);
            prop_assert_eq!(got, model_state_root(&leaves[..used]));
            prop_assert_eq!(tree.root(&mut KeccakHasher), got);
            let mut other = std::vec![[0x3cu8; 32]; MerkleTree::nodes_needed(cap)];
            let copy = tree.copy_into(&mut other).unwrap();
            prop_assert_eq!(copy.root(&mut KeccakHasher), got);
        }
    }

    /// List roots, whole and reduced in chunks first, give the model's root.
    #[test]
    fn list_matches_model(n in 0usize..700, batch in 1usize..9, chunk_levels in 1usize..4) {
        let digests: Vec<Hash32> = (0..n).map(|i| keccak256(&(i as u64).to_le_bytes())).collect();
        let want = model_list_root(&digests, n);
        let (mut m, mut d, mut e) = scratch_bufs(batch);
        let mut scratch = HashScratch { msgs: &mut m, digests: &mut d, ends: &mut e };
        let mut whole = digests.clone();
        prop_assert_eq!(list_root(&mut whole, &mut KeccakHasher, &mut scratch), want);
        // Chunks of 4^k reduced on their own, then the rest from level k.
        let k = chunk_levels.min(list_height(n).saturating_sub(1));
        let chunk = 1usize << (2 * k);
        let zero = list_zeros(&mut KeccakHasher);
        let mut list = digests.clone();
        for c in Slot::from_mut_slice(&mut list).chunks(chunk) {
            reduce(c, c.len(), 0, k, &zero, &mut KeccakHasher, &mut scratch);
        }
        let root = finish_chunked(&mut list, n, k, n, &zero, &mut KeccakHasher, &mut scratch);
        prop_assert_eq!(root, want);
    }
}
