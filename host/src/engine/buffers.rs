//! The host's memory for the core: state, hash batches, each worker's scratch, and the
//! engines' buffers ([`EngineBuffers`], the host's [`Memory`]), all from `Vec`s that
//! grow to the largest block seen and are reused from block to block.

use parex_core::engine::{Choice, EngineKind, KeyTable};
use parex_core::error::GenesisError;
use parex_core::exec::{Access, Limits};
use parex_core::hash::{Hasher, Link};
use parex_core::merkle::{HashScratch, Leaf, LevelLengths, LevelMemory};
use parex_core::parallel::block_stm::mvmemory::{IndexWord, MvKey, MvNode};
use parex_core::parallel::block_stm::scheduler::TxState;
use parex_core::parallel::block_stm::{BlockStmMemory, ReadCell, TxData, WriteCell};
use parex_core::parallel::footprint::{
    self as footprint, Done, FootprintMemory, KeyRecord, Lengths, Slot, Touch,
};
use parex_core::policy::Memory;
use parex_core::sequential::SeqMemory;
use parex_core::state::{Contract, Genesis, State, StateEntry, StateMemory};
use parex_core::vm::VmScratch;
use parex_core::Hash32;

use parex_core::engine::WorkerMemory;

use crate::pool::side_by_side;

/// VM stack depth used by the host.
pub const VM_STACK: usize = 256;
/// VM memory bytes used by the host.
pub const VM_MEMORY: usize = 1024;
/// Distinct keys per transaction the multi-version table is first sized for.
pub const MV_KEYS_PER_TX: usize = 4;
/// Messages per hash batch.
pub const HASH_BATCH: usize = 4096;

/// Buffers smaller than this are filled on the calling thread.
const FILL_ON_THREADS_BYTES: usize = 4 << 20;

/// `n` values made by `f`, written on up to `threads` threads.
///
/// Fresh memory costs its page faults when first written: about 0.5 ms a megabyte on
/// the development VM, more than the engines' execution of a transfer per its 460 bytes
/// of buffers. Two threads fault a buffer in about 1.7 times faster than one, so a
/// large buffer is written in even shares on scoped threads (the run's worker count,
/// so no more cores than the user gave).
pub(super) fn filled<T: Send>(n: usize, threads: usize, f: impl Fn() -> T + Sync) -> Vec<T> {
    let threads = threads.clamp(1, n.max(1));
    if threads == 1 || n.saturating_mul(std::mem::size_of::<T>()) < FILL_ON_THREADS_BYTES {
        return (0..n).map(|_| f()).collect();
    }
    let mut v = Vec::with_capacity(n);
    let shares = v.spare_capacity_mut()[..n].chunks_mut(n.div_ceil(threads));
    side_by_side(shares, |part| part.iter_mut().for_each(|x| _ = x.write(f())));
    // SAFETY: `side_by_side` joined every thread (a panic in one resumes there, before
    // this line), and the shares, disjoint, covered the first `n` elements of the
    // capacity: each was written once.
    unsafe { v.set_len(n) };
    v
}

/// Grows `v` to `len` elements made by `f` (a no-op once it is long enough), on up to
/// `threads` threads.
fn grow<T: Send>(v: &mut Vec<T>, len: usize, threads: usize, f: impl Fn() -> T + Sync) {
    if v.len() < len {
        *v = filled(len, threads, f);
    }
}

/// Types whose all-zero bytes are a valid value, for [`zeroed`].
///
/// # Safety
///
/// Every field (recursively) must be an integer, a `bool`, an array of those, or a
/// `#[repr(u8)]` enum with a variant of discriminant 0; no references, `NonZero`s or
/// other types with invalid zero bytes. Check the type's definition in the core when it
/// changes.
pub(super) unsafe trait ZeroValid {}

// SAFETY: a key (`u64` address, `#[repr(u8)]` `KeyKind` whose `Balance` is 0, `u64`
// slot) and a `u64` value: all zero is the entry of the balance of address 0, valued 0
// (`StateEntry::EMPTY`).
unsafe impl ZeroValid for StateEntry {}
// SAFETY: a `u8` tag, a `u64` address and three `u64` words (`Leaf::EMPTY` is all zero).
unsafe impl ZeroValid for Leaf {}
// SAFETY: a digest is 32 bytes.
unsafe impl ZeroValid for Hash32 {}
// SAFETY: `Slot` is a `repr(transparent)` `UnsafeCell` of a `u32`.
unsafe impl ZeroValid for Slot<u32> {}
// SAFETY: `Slot` is a `repr(transparent)` `UnsafeCell`; a key record is a key (see
// `StateEntry`), two `u64`s, a `u32`, three `bool`s and a `u8`. The engine writes a
// record before it reads it.
unsafe impl ZeroValid for Slot<KeyRecord> {}

/// `n` values, all zero, from zeroed memory: large allocations are mapped pages that
/// the kernel supplies zeroed when first written, so the part of a buffer that a block
/// never reaches (the state's room for keys the blocks might create, the records of
/// keys the block's transactions might all touch separately) takes no memory.
pub(super) fn zeroed<T: ZeroValid>(n: usize) -> Vec<T> {
    use std::alloc::{alloc_zeroed, handle_alloc_error, Layout};
    let layout = Layout::array::<T>(n).expect("a buffer the size of a block's");
    if layout.size() == 0 {
        return Vec::new();
    }
    // SAFETY: the layout has a non-zero size.
    let ptr = unsafe { alloc_zeroed(layout) } as *mut T;
    if ptr.is_null() {
        handle_alloc_error(layout);
    }
    // SAFETY: `ptr` was allocated by the global allocator with the layout of `n` values
    // of `T` (so with `T`'s alignment), and all-zero bytes are `n` valid values of `T`
    // (`ZeroValid`).
    unsafe { Vec::from_raw_parts(ptr, n, n) }
}

/// Memory for a [`State`].
pub struct StateBuffers {
    index: Vec<u32>,
    entries: Vec<StateEntry>,
    leaves: Vec<Leaf>,
    leaf_of: Vec<u32>,
    nodes: Vec<Hash32>,
}

impl StateBuffers {
    /// Room for `capacity` state words.
    pub fn new(capacity: usize) -> Self {
        let l = StateMemory::lengths(capacity);
        Self {
            index: vec![0; l.index],
            entries: zeroed(l.entries),
            leaves: zeroed(l.entries),
            leaf_of: vec![0; l.entries],
            // Zeroed memory: the tree reads only the nodes over leaves in use, each
            // written before it is read, so the rest is never mapped.
            nodes: zeroed(l.nodes),
        }
    }

    /// Loads `genesis`.
    pub fn load<'a, H: Hasher + ?Sized>(
        &'a mut self,
        genesis: &Genesis<'a>,
        hasher: &mut H,
        hash: &mut HashBuffers,
    ) -> Result<State<'a>, GenesisError> {
        State::from_genesis(self.memory(), genesis, hasher, &mut hash.scratch())
    }

    /// Loads a saved state: its `words` in leaf order, over `contracts`
    /// ([`State::from_entries`]).
    pub fn load_saved<'a, H: Hasher + ?Sized>(
        &'a mut self,
        contracts: &'a [Contract<'a>],
        words: &[StateEntry],
        hasher: &mut H,
        hash: &mut HashBuffers,
    ) -> Result<State<'a>, GenesisError> {
        State::from_entries(self.memory(), contracts, words, hasher, &mut hash.scratch())
    }

    /// A copy of `state` in this memory (which must be of the same capacity), nothing
    /// hashed ([`State::copy_into`]): to execute a block that may be discarded.
    pub fn copy<'s, 'a: 's>(&'s mut self, state: &State<'a>) -> Result<State<'s>, GenesisError> {
        state.copy_into(self.memory())
    }

    /// The core's view of the memory.
    fn memory(&mut self) -> StateMemory<'_> {
        StateMemory {
            index: &mut self.index,
            entries: &mut self.entries,
            leaves: &mut self.leaves,
            leaf_of: &mut self.leaf_of,
            nodes: &mut self.nodes,
        }
    }
}

/// Hash batch memory.
pub struct HashBuffers {
    msgs: Vec<u8>,
    digests: Vec<Hash32>,
    ends: Vec<u32>,
}

impl Default for HashBuffers {
    fn default() -> Self {
        Self::new(HASH_BATCH)
    }
}

impl HashBuffers {
    /// Batches of `batch` messages.
    pub fn new(batch: usize) -> Self {
        let (m, d, e) = HashScratch::lengths(batch);
        Self { msgs: vec![0; m], digests: vec![[0; 32]; d], ends: vec![0; e] }
    }

    /// The core's view.
    pub fn scratch(&mut self) -> HashScratch<'_> {
        HashScratch { msgs: &mut self.msgs, digests: &mut self.digests, ends: &mut self.ends }
    }
}

/// Memory for a commitment hashed as one batch ([`Commit::finish_levels`]), grown to
/// what each block needs and kept.
///
/// [`Commit::finish_levels`]: parex_core::block::Commit::finish_levels
#[derive(Default)]
pub struct LevelBuffers {
    data: Vec<u8>,
    ends: Vec<u32>,
    nodes: Vec<u32>,
    digests: Vec<Hash32>,
    links: Vec<Link>,
}

impl LevelBuffers {
    /// The core's view, at least `l` long.
    pub fn memory(&mut self, l: LevelLengths) -> LevelMemory<'_> {
        fn grow<T: Clone + Default>(v: &mut Vec<T>, len: usize) -> &mut [T] {
            if v.len() < len {
                v.resize(len, T::default());
            }
            v
        }
        LevelMemory {
            data: grow(&mut self.data, l.bytes),
            ends: grow(&mut self.ends, l.msgs),
            nodes: grow(&mut self.nodes, l.msgs),
            digests: grow(&mut self.digests, l.msgs),
            links: grow(&mut self.links, l.links),
        }
    }
}

/// One worker's VM and access-set memory.
pub struct WorkerBuffers {
    stack: Vec<u64>,
    memory: Vec<u8>,
    access: Vec<Access>,
    /// Hash batches of the worker's part of a commitment.
    pub(super) hash: HashBuffers,
}

impl WorkerBuffers {
    /// For `limits`.
    pub fn new(limits: &Limits) -> Self {
        Self {
            stack: vec![0; VM_STACK],
            memory: vec![0; VM_MEMORY],
            access: vec![Access::EMPTY; limits.access_entries()],
            hash: HashBuffers::default(),
        }
    }

    /// The core's view.
    pub fn worker(&mut self) -> WorkerMemory<'_> {
        WorkerMemory {
            vm: VmScratch { stack: &mut self.stack, memory: &mut self.memory },
            access: &mut self.access,
        }
    }
}

/// Memory of the footprint engine (`parex_core::parallel::footprint`).
#[derive(Default)]
struct FootprintBuffers {
    done: Vec<Done>,
    values: Vec<Slot<u64>>,
    table: Vec<Slot<u32>>,
    keys: Vec<Slot<KeyRecord>>,
    list: Vec<Slot<Touch>>,
    at: Vec<Slot<u32>>,
}

impl FootprintBuffers {
    /// Grows every buffer for `txs` transactions of footprints `width` keys long on
    /// `workers` workers; returns the lengths the engine needs.
    fn reserve(&mut self, txs: usize, workers: usize, width: usize) -> Lengths {
        let l = FootprintMemory::lengths(txs, workers, width);
        let t = workers;
        grow(&mut self.done, l.done, t, Done::new);
        grow(&mut self.values, l.values, t, || Slot::new(0));
        // Zeroed memory: each partition clears and uses only the part of its table that
        // its distinct keys need, so the rest is never mapped.
        if self.table.len() < l.table {
            self.table = zeroed(l.table);
        }
        if self.keys.len() < l.keys {
            self.keys = zeroed(l.keys);
        }
        grow(&mut self.list, l.values, t, Slot::default);
        grow(&mut self.at, l.values, t, || Slot::new(0));
        l
    }
}

/// Every engine's buffers, handed to the core's policy as its [`Memory`] for the block
/// they were last reserved for ([`EngineBuffers::reserve`]).
pub struct EngineBuffers {
    limits: Limits,
    /// The block being run: its transactions.
    txs: usize,
    /// The block's workers: the threads that fill fresh buffers.
    threads: usize,
    seq_index: Vec<u32>,
    states: Vec<TxState>,
    data: Vec<TxData>,
    reads: Vec<ReadCell>,
    wcells: Vec<WriteCell>,
    keys: Vec<MvKey>,
    /// The index over `keys`: `BlockStmMemory::index_len(keys.len())` slots.
    index: Vec<IndexWord>,
    nodes: Vec<MvNode>,
    fp: FootprintBuffers,
}

impl EngineBuffers {
    /// Empty, for `limits`.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            txs: 0,
            threads: 1,
            seq_index: Vec::new(),
            states: Vec::new(),
            data: Vec::new(),
            reads: Vec::new(),
            wcells: Vec::new(),
            keys: Vec::new(),
            index: Vec::new(),
            nodes: Vec::new(),
            fp: FootprintBuffers::default(),
        }
    }

    /// Grows the buffers for the block `txs` on `workers` workers with an output of
    /// `writes` entries (a no-op once they are large enough): the sequential engine's,
    /// and those of `first`, the engine the policy chooses first. Another engine's
    /// buffers grow when a fallback runs it ([`Memory`]).
    pub fn reserve(&mut self, txs: usize, workers: usize, writes: usize, first: &Choice) {
        self.txs = txs;
        self.threads = workers.max(1);
        // Zeroed memory, mapped only if the sequential engine runs the block.
        let index = SeqMemory::index_len(writes);
        if self.seq_index.len() < index {
            self.seq_index = vec![0; index];
        }
        if workers == 0 {
            return;
        }
        match first.engine {
            EngineKind::Footprint => {
                self.fp.reserve(txs, workers, footprint::width_of(first));
            }
            EngineKind::BlockStm => self.reserve_block_stm(),
            EngineKind::Sequential => {}
        }
    }

    /// Grows Block-STM's buffers for the block being run.
    fn reserve_block_stm(&mut self) {
        let (txs, t) = (self.txs, self.threads);
        let l = BlockStmMemory::lengths(txs, &self.limits);
        if self.states.len() < l.txs {
            self.states = filled(l.txs, t, TxState::new);
            self.data = filled(l.txs, t, TxData::new);
        }
        grow(&mut self.reads, l.reads, t, ReadCell::default);
        if self.wcells.len() < l.writes {
            self.wcells = filled(l.writes, t, WriteCell::default);
            self.nodes = filled(l.writes, t, MvNode::new);
        }
        // The key records are sized for the typical block (a few new keys per
        // transaction) rather than the worst case, which would be n * writes_per_tx:
        // running out makes the policy retry with `KeyTable::Full`.
        let keys = l.keys.min(MV_KEYS_PER_TX * txs).max(1);
        if self.keys.len() < keys {
            self.set_key_table(keys);
        }
    }

    /// Fresh multi-version key records, `len` of them, and their index.
    fn set_key_table(&mut self, len: usize) {
        let t = self.threads;
        self.keys = filled(len, t, MvKey::new);
        self.index = filled(BlockStmMemory::index_len(len), t, IndexWord::new);
    }
}

impl Memory for EngineBuffers {
    fn sequential(&mut self) -> SeqMemory<'_> {
        SeqMemory { index: &mut self.seq_index }
    }

    fn block_stm(&mut self, keys: KeyTable) -> BlockStmMemory<'_> {
        self.reserve_block_stm();
        let full = BlockStmMemory::lengths(self.txs, &self.limits).keys;
        if keys == KeyTable::Full && self.keys.len() < full {
            self.set_key_table(full);
        }
        // No more records than this block could use, and the index for them (each block
        // clears its index, so a larger one left by an earlier block would cost time).
        let records = self.keys.len().min(full);
        let index = BlockStmMemory::index_len(records).min(self.index.len());
        BlockStmMemory {
            states: &mut self.states,
            data: &mut self.data,
            reads: &mut self.reads,
            writes: &mut self.wcells,
            keys: &mut self.keys[..records],
            index: &mut self.index[..index],
            nodes: &mut self.nodes,
        }
    }

    fn footprint(&mut self, partitions: usize, width: usize) -> Option<FootprintMemory<'_>> {
        self.fp.reserve(self.txs, partitions, width);
        let fp = &mut self.fp;
        Some(FootprintMemory {
            done: &mut fp.done,
            values: &mut fp.values,
            table: &mut fp.table,
            keys: &mut fp.keys,
            list: &mut fp.list,
            at: &mut fp.at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Large buffers filled on several threads hold `n` values, each made by `f`, at
    /// every thread count and around the shares' edges; small ones too.
    #[test]
    fn filled_on_threads_writes_every_value() {
        let big = FILL_ON_THREADS_BYTES / 8;
        for n in [0, 1, 7, big - 1, big, big + 1, big + 4099] {
            for threads in [0, 1, 2, 3, 8] {
                let v = filled(n, threads, || 0x5EED_u64);
                assert_eq!(v.len(), n, "{n} {threads}");
                assert!(v.iter().all(|&x| x == 0x5EED), "{n} {threads}");
            }
        }
    }
}
