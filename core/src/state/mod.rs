//! The committed state: every `u64` word under its [`StateKey`], in caller memory, with
//! the incremental Merkle commitment over it.
//!
//! Memory (all from the caller, sized with [`StateMemory::lengths`]):
//! * `entries`: the words in insertion order.
//! * `index`: an open-addressing table (linear probing, load ≤ 1/2) of entry numbers,
//!   `u32::MAX` when empty. Keys are never removed, so probing needs no tombstones. Only
//!   its live part is used: the first power of two of slots that holds the entries at
//!   most a quarter full, grown (every entry filed again) as keys are added. The rest is
//!   never written, so a host's index sized for the keys a block might create is not
//!   mapped for the keys it does not (32 MB for a block of a million transfers). Its
//!   layout is that of filing the entries one by one in entry order, also when a block's
//!   new keys are filed by several workers at once (`filing.rs`).
//! * `leaves`: the Merkle leaves in insertion order, one per account (its balance, nonce
//!   and code hash) and one per storage word; `leaf_of[i]` is entry `i`'s leaf.
//! * `nodes`: the Merkle tree (see [`crate::merkle`]).
//!
//! A key absent from the state reads as 0. Contract code is immutable and lives in the
//! genesis's [`Contract`] list (sorted by address); its digest is committed under
//! [`crate::types::KeyKind::CodeHash`].

use crate::error::{BlockError, GenesisError};
use crate::hash::{keccak256, Hasher};
use crate::merkle::{HashScratch, Leaf, MerkleTree};
use crate::types::{Address, Hash32, KeyKind, StateKey};

/// An empty slot of an open-addressing index.
pub(crate) const EMPTY: u32 = u32::MAX;

/// The fewest slots of an index's live part.
const MIN_LIVE: usize = 64;

/// The live part of an index of `max` slots (a power of two) for `total` entries.
fn live_len(total: usize, max: usize) -> usize {
    (4 * total).max(MIN_LIVE).next_power_of_two().min(max)
}

mod filing;
mod sort;
mod stage;

pub use sort::sort_by_key;
pub(crate) use sort::sort_into;
pub use stage::{Staging, Updates};

/// One word of state.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StateEntry {
    /// Where.
    pub key: StateKey,
    /// What.
    pub value: u64,
}

impl StateEntry {
    /// A placeholder for initialising buffers.
    pub const EMPTY: Self = Self { key: StateKey::balance(Address(0)), value: 0 };
}

impl Default for StateEntry {
    fn default() -> Self {
        Self::EMPTY
    }
}

/// Caller-provided memory for a [`State`] of some capacity.
pub struct StateMemory<'a> {
    /// Hash index: a power of two, at least `2 * entries.len()`.
    pub index: &'a mut [u32],
    /// One per possible key; its length is the capacity.
    pub entries: &'a mut [StateEntry],
    /// Merkle leaves: as many as `entries` (a state of storage words only needs that
    /// many).
    pub leaves: &'a mut [Leaf],
    /// Each entry's leaf: as many as `entries`.
    pub leaf_of: &'a mut [u32],
    /// Merkle nodes: at least [`MerkleTree::nodes_needed`]`(entries.len())`.
    pub nodes: &'a mut [Hash32],
}

/// Buffer lengths for [`StateMemory`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateLengths {
    /// `index` (a power of two).
    pub index: usize,
    /// `entries`, `leaves` and `leaf_of`: the capacity.
    pub entries: usize,
    /// `nodes`.
    pub nodes: usize,
}

impl StateMemory<'_> {
    /// Lengths for a state holding up to `capacity` words.
    pub const fn lengths(capacity: usize) -> StateLengths {
        let cap = if capacity == 0 { 1 } else { capacity };
        StateLengths {
            index: (2 * cap).next_power_of_two(),
            entries: cap,
            nodes: MerkleTree::nodes_needed(cap),
        }
    }
}

/// A contract: code deployed at genesis under an address.
#[derive(Clone, Copy, Debug)]
pub struct Contract<'c> {
    /// Where it lives.
    pub addr: Address,
    /// Its bytecode (see `docs/semantics.md`, "VM").
    pub code: &'c [u8],
}

/// An account at genesis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GenesisAccount {
    /// Address.
    pub addr: Address,
    /// Native balance.
    pub balance: u64,
    /// Transactions already sent.
    pub nonce: u64,
}

/// A contract storage word at genesis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GenesisStorage {
    /// The contract.
    pub addr: Address,
    /// The slot.
    pub slot: u64,
    /// Its value.
    pub value: u64,
}

/// The initial state, as the caller provides it.
#[derive(Clone, Copy, Debug)]
pub struct Genesis<'g> {
    /// Accounts and balances.
    pub accounts: &'g [GenesisAccount],
    /// Contracts, strictly ascending by address.
    pub contracts: &'g [Contract<'g>],
    /// Initial contract storage.
    pub storage: &'g [GenesisStorage],
}

/// Read access to committed state, as the executors need it.
pub trait StateReader {
    /// The value under `key`, 0 when absent.
    fn read(&self, key: &StateKey) -> u64;

    /// [`Self::read`] for a caller that has the key's [`StateKey::table_hash`] already
    /// (`hash`), which a hashed lookup then need not compute again. The default ignores
    /// it.
    #[inline(always)]
    fn read_hashed(&self, key: &StateKey, hash: u64) -> u64 {
        let _ = hash;
        self.read(key)
    }

    /// A hint that `key`, whose [`StateKey::table_hash`] is `hash`, will be read soon.
    /// `stage` 0 may start loading the first level of the lookup (an index slot); stage
    /// 1, issued later, the value itself. Only a hint: it never changes a result. The
    /// default does nothing.
    #[inline(always)]
    fn prefetch(&self, key: &StateKey, hash: u64, stage: u8) {
        let _ = (key, hash, stage);
    }
}

/// Whether [`prefetch`] asks the processor anything on this target: where it does not,
/// work done only to prefetch (hashing keys ahead) is skipped.
pub(crate) const PREFETCHES: bool = cfg!(target_arch = "x86_64");

/// Asks the processor to start loading the cache line of `p` (a no-op where the core
/// has no portable way to ask).
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it never faults and has no visible effect, whatever
    // the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// The committed state (see the module docs).
pub struct State<'a> {
    index: &'a mut [u32],
    /// Slots of `index` in use (see the module docs).
    live: usize,
    entries: &'a mut [StateEntry],
    len: usize,
    leaves: &'a mut [Leaf],
    leaf_of: &'a mut [u32],
    leaf_len: usize,
    tree: MerkleTree<'a>,
    contracts: &'a [Contract<'a>],
    root: Hash32,
}

impl<'a> State<'a> {
    /// Loads `genesis` into `mem` and computes its root.
    pub fn from_genesis<H: Hasher + ?Sized>(
        mem: StateMemory<'a>,
        genesis: &Genesis<'a>,
        hasher: &mut H,
        scratch: &mut HashScratch<'_>,
    ) -> Result<Self, GenesisError> {
        let needed = genesis.accounts.len()
            + genesis.accounts.iter().filter(|a| a.nonce != 0).count()
            + genesis.contracts.len()
            + genesis.storage.len();
        let mut state = Self::empty(mem, genesis.contracts, needed, scratch, hasher)?;
        let mut supply: u64 = 0;
        for a in genesis.accounts {
            supply = supply.checked_add(a.balance).ok_or(GenesisError::SupplyOverflow)?;
        }
        for a in genesis.accounts {
            state.insert_new(StateKey::balance(a.addr), a.balance)?;
            if a.nonce != 0 {
                state.insert_new(StateKey::nonce(a.addr), a.nonce)?;
            }
        }
        for c in genesis.contracts {
            state.insert_new(StateKey::code_hash(c.addr), code_digest(c.code))?;
        }
        for s in genesis.storage {
            state.insert_new(StateKey::storage(s.addr, s.slot), s.value)?;
        }
        state.tree.rebuild(state.leaves, state.leaf_len, hasher, scratch);
        state.root = state.tree.root(hasher);
        Ok(state)
    }

    /// Loads a state saved as its words in their order ([`Self::entries`], as a
    /// `--dump-state` file lists them) over `contracts`, and computes its root: the same
    /// leaves, so the same root, as the state they were read from. Each contract's code
    /// hash word must be its code's digest.
    pub fn from_entries<H: Hasher + ?Sized>(
        mem: StateMemory<'a>,
        contracts: &'a [Contract<'a>],
        words: &[StateEntry],
        hasher: &mut H,
        scratch: &mut HashScratch<'_>,
    ) -> Result<Self, GenesisError> {
        let mut state = Self::empty(mem, contracts, words.len(), scratch, hasher)?;
        let mut supply: u64 = 0;
        for e in words.iter().filter(|e| e.key.kind == KeyKind::Balance) {
            supply = supply.checked_add(e.value).ok_or(GenesisError::SupplyOverflow)?;
        }
        for e in words {
            state.insert_new(e.key, e.value)?;
        }
        for c in contracts {
            if state.get(&StateKey::code_hash(c.addr)) != Some(code_digest(c.code)) {
                return Err(GenesisError::CodeHash(c.addr));
            }
        }
        state.tree.rebuild(state.leaves, state.leaf_len, hasher, scratch);
        state.root = state.tree.root(hasher);
        Ok(state)
    }

    /// This state in `mem`, copied (nothing hashed): the same words in the same order, the
    /// same tree and root. For a caller that executes a block it may discard, such as a
    /// validator checking a proposal on top of the committed state. `mem` must be of
    /// this state's capacity and index length (the layout of the index and of the tree
    /// follow from them).
    pub fn copy_into<'b>(&self, mem: StateMemory<'b>) -> Result<State<'b>, GenesisError>
    where
        'a: 'b,
    {
        let StateMemory { index, entries, leaves, leaf_of, nodes } = mem;
        if entries.len() != self.entries.len() || index.len() != self.index.len() {
            return Err(GenesisError::BadMemory("a copy needs the same capacity and index length"));
        }
        if leaves.len() < self.leaf_len || leaf_of.len() < self.len {
            return Err(GenesisError::BadMemory("leaves and leaf_of must be >= entries"));
        }
        let tree = self
            .tree
            .copy_into(nodes)
            .ok_or(GenesisError::BadMemory("nodes must be >= MerkleTree::nodes_needed(entries)"))?;
        index[..self.live].copy_from_slice(&self.index[..self.live]);
        entries[..self.len].copy_from_slice(&self.entries[..self.len]);
        leaves[..self.leaf_len].copy_from_slice(&self.leaves[..self.leaf_len]);
        leaf_of[..self.len].copy_from_slice(&self.leaf_of[..self.len]);
        Ok(State {
            index,
            live: self.live,
            entries,
            len: self.len,
            leaves,
            leaf_of,
            leaf_len: self.leaf_len,
            tree,
            contracts: self.contracts,
            root: self.root,
        })
    }

    /// An empty state in `mem` for `needed` words over `contracts`, its memory checked.
    fn empty<H: Hasher + ?Sized>(
        mem: StateMemory<'a>,
        contracts: &'a [Contract<'a>],
        needed: usize,
        scratch: &HashScratch<'_>,
        hasher: &mut H,
    ) -> Result<Self, GenesisError> {
        let StateMemory { index, entries, leaves, leaf_of, nodes } = mem;
        let cap = entries.len();
        if cap == 0 || cap >= EMPTY as usize {
            return Err(GenesisError::BadMemory("entries must be non-empty and < 2^32"));
        }
        if !index.len().is_power_of_two() || index.len() < 2 * cap {
            return Err(GenesisError::BadMemory("index must be a power of two >= 2 * entries"));
        }
        if leaves.len() < cap || leaf_of.len() < cap {
            return Err(GenesisError::BadMemory("leaves and leaf_of must be >= entries"));
        }
        if !scratch.is_usable() {
            return Err(GenesisError::BadMemory("hash scratch must hold one transaction"));
        }
        let tree = MerkleTree::new(nodes, cap, hasher)
            .ok_or(GenesisError::BadMemory("nodes must be >= MerkleTree::nodes_needed(entries)"))?;
        if contracts.windows(2).any(|w| w[0].addr >= w[1].addr) {
            return Err(GenesisError::BadMemory("contracts must be strictly ascending by address"));
        }
        if needed > cap {
            return Err(GenesisError::StateFull { needed, capacity: cap });
        }
        let live = live_len(needed, index.len());
        index[..live].fill(EMPTY);
        // The leaves are not cleared: only those in use are ever read (the tree reads the
        // rest as empty), and a leaf is written whole when it comes into use. Room a
        // chain never reaches is then never written (for a host: never mapped).
        Ok(Self {
            index,
            live,
            entries,
            len: 0,
            leaves,
            leaf_of,
            leaf_len: 0,
            tree,
            contracts,
            root: [0; 32],
        })
    }

    /// Inserts a key known to be new; genesis only.
    fn insert_new(&mut self, key: StateKey, value: u64) -> Result<(), GenesisError> {
        self.reserve_index(self.len + 1);
        match self.probe(&key) {
            Ok(_) => Err(GenesisError::DuplicateKey(key)),
            Err(slot) => {
                self.insert(key, value, slot, EMPTY);
                Ok(())
            }
        }
    }

    /// The leaf of `key`'s account, if `key` is an account word and the account has
    /// another word already.
    fn account_leaf(&self, key: &StateKey) -> Option<usize> {
        if key.kind == KeyKind::Storage {
            return None;
        }
        [KeyKind::Balance, KeyKind::Nonce, KeyKind::CodeHash]
            .into_iter()
            .filter(|k| *k != key.kind)
            .find_map(|kind| self.probe(&StateKey { kind, ..*key }).ok())
            .map(|e| self.leaf_of[e] as usize)
    }

    /// `Ok(entry)` if `key` is present, else `Err(empty index slot)` where it would go.
    #[inline]
    fn probe(&self, key: &StateKey) -> Result<usize, usize> {
        probe(self.live_index(), self.entries, key)
    }

    /// [`Self::probe`] for a key whose [`StateKey::table_hash`] is `hash`.
    #[inline]
    fn probe_hashed(&self, key: &StateKey, hash: u64) -> Result<usize, usize> {
        let index = self.live_index();
        probe_from(index, self.entries, key, home_slot(index, hash))
    }

    /// The index's live part.
    #[inline]
    fn live_index(&self) -> &[u32] {
        &self.index[..self.live]
    }

    /// Makes the index's live part hold `total` entries at most a quarter full (short
    /// probes: a half-full table probed about twice as long), or be the whole index, which
    /// holds the capacity at most half full: when it does not, grows it and files every
    /// entry again, in entry order. The layout then follows from the entries alone.
    pub(crate) fn reserve_index(&mut self, total: usize) {
        if 4 * total <= self.live || self.live == self.index.len() {
            return;
        }
        self.live = live_len(total, self.index.len());
        self.index[..self.live].fill(EMPTY);
        for i in 0..self.len {
            let key = self.entries[i].key;
            self.file(&key, i);
        }
    }

    /// The value under `key`, if present.
    #[inline]
    pub fn get(&self, key: &StateKey) -> Option<u64> {
        self.probe(key).ok().map(|i| self.entries[i].value)
    }

    /// Where `key` is in [`Self::entries`], if present (a word keeps its place: new words
    /// are appended), so a caller can save only the words a block wrote.
    #[inline]
    pub fn position(&self, key: &StateKey) -> Option<usize> {
        self.probe(key).ok()
    }

    /// Number of words stored.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Maximum number of words.
    pub fn capacity(&self) -> usize {
        self.entries.len()
    }

    /// Every stored word, in insertion order.
    pub fn entries(&self) -> &[StateEntry] {
        &self.entries[..self.len]
    }

    /// Every Merkle leaf, in leaf order.
    pub fn leaves(&self) -> &[Leaf] {
        &self.leaves[..self.leaf_len]
    }

    /// The genesis contracts.
    pub fn contracts(&self) -> &'a [Contract<'a>] {
        self.contracts
    }

    /// The state tree's stored nodes (for tests comparing two ways of updating it).
    #[cfg(test)]
    pub(crate) fn tree_nodes(&self) -> &[Hash32] {
        self.tree.nodes()
    }

    /// The current state root.
    pub fn root(&self) -> Hash32 {
        self.root
    }

    /// Applies a block's write set and updates the commitment, on one thread.
    ///
    /// `writes` must be sorted by key without duplicates (both executors produce it so);
    /// new keys are appended in that order. `dirty` needs `2 * writes.len()` elements.
    /// On error nothing has changed.
    pub fn apply<H: Hasher + ?Sized>(
        &mut self,
        writes: &[StateEntry],
        dirty: &mut [u32],
        hasher: &mut H,
        scratch: &mut HashScratch<'_>,
    ) -> Result<Hash32, BlockError> {
        if !scratch.is_usable() {
            return Err(BlockError::BufferTooSmall {
                buffer: "hash scratch",
                needed: crate::tx::MAX_ENCODED_LEN,
                given: scratch.msgs.len(),
            });
        }
        let job = Staging::new(self, writes, dirty, 1)?.run_alone()?;
        job.run_part(0, hasher, scratch);
        job.finish(hasher, scratch);
        Ok(self.root)
    }

    /// Files entry `entry` (holding `key`, which the index lacks) in the index: in the
    /// first empty slot of `key`'s probe sequence.
    fn file(&mut self, key: &StateKey, entry: usize) {
        let mask = self.live - 1;
        let mut slot = home_slot(self.live_index(), key.table_hash());
        // Keys are never removed and the load is at most 1/2: an empty slot exists.
        while self.index[slot] != EMPTY {
            slot = (slot + 1) & mask;
        }
        self.index[slot] = entry as u32;
    }

    /// Appends an entry for `key`, which is absent, at or after index slot `from` of its
    /// probe sequence (every slot before `from` holds another key), and sets its word in
    /// `leaf`, or in its account's leaf or a new one when `leaf` is `EMPTY`. Returns the
    /// leaf.
    fn insert(&mut self, key: StateKey, value: u64, from: usize, leaf: u32) -> usize {
        let mask = self.live - 1;
        let mut slot = from & mask;
        // Keys are never removed, so the slots before `from` still hold other keys and
        // the first empty one from there is where `key` goes (load <= 1/2: one exists).
        while self.index[slot] != EMPTY {
            slot = (slot + 1) & mask;
        }
        let i = self.len;
        self.entries[i] = StateEntry { key, value };
        self.index[slot] = i as u32;
        self.len += 1;
        let leaf = match leaf {
            EMPTY => self.account_leaf(&key).unwrap_or_else(|| {
                // In bounds: there are as many leaves as entries, and a leaf is only
                // created with an entry.
                let l = self.leaf_len;
                self.leaves[l] = Leaf::new(key.addr.0, key.kind, key.slot);
                self.leaf_len += 1;
                l
            }),
            l => l as usize,
        };
        self.leaf_of[i] = leaf as u32;
        self.leaves[leaf].set(key.kind, value);
        leaf
    }
}

impl StateReader for State<'_> {
    #[inline]
    fn read(&self, key: &StateKey) -> u64 {
        self.get(key).unwrap_or(0)
    }

    #[inline]
    fn read_hashed(&self, key: &StateKey, hash: u64) -> u64 {
        match self.probe_hashed(key, hash) {
            Ok(i) => self.entries[i].value,
            Err(_) => 0,
        }
    }

    #[inline]
    fn prefetch(&self, key: &StateKey, hash: u64, stage: u8) {
        let _ = key;
        let slot = home_slot(self.live_index(), hash);
        if stage == 0 {
            prefetch(&self.index[slot]);
        } else if let Some(e) = self.entries.get(self.index[slot] as usize) {
            // The first probe's entry: where the key nearly always is.
            prefetch(e);
        }
    }
}

/// Looks `key` up in an open-addressing `index` (linear probing, a power of two long,
/// `u32::MAX` for empty) of positions in `entries`: `Ok(entry)` if present, else
/// `Err(empty index slot)` where it would go. Shared by the state and the sequential
/// executor's block overlay. Terminates because both keep the index at most half full.
#[inline]
pub(crate) fn probe(index: &[u32], entries: &[StateEntry], key: &StateKey) -> Result<usize, usize> {
    probe_from(index, entries, key, home_slot(index, key.table_hash()))
}

/// [`probe`] from `key`'s home slot `slot`.
#[inline]
fn probe_from(
    index: &[u32],
    entries: &[StateEntry],
    key: &StateKey,
    mut slot: usize,
) -> Result<usize, usize> {
    let mask = index.len() - 1;
    loop {
        let e = index[slot];
        if e == EMPTY {
            return Err(slot);
        }
        if entries[e as usize].key == *key {
            return Ok(e as usize);
        }
        slot = (slot + 1) & mask;
    }
}

/// Where probing starts in an open-addressing `index` (a power of two long) for a key
/// whose [`StateKey::table_hash`] is `hash`.
#[inline]
pub(crate) fn home_slot(index: &[u32], hash: u64) -> usize {
    home_slot_of(index.len(), hash)
}

/// [`home_slot`] in an index of `len` slots (a power of two).
#[inline]
pub(crate) fn home_slot_of(len: usize, hash: u64) -> usize {
    hash as usize & (len - 1)
}

/// The committed code digest: the first 8 bytes (LE) of Keccak-256 of the code.
pub fn code_digest(code: &[u8]) -> u64 {
    let h = keccak256(code);
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[..8]);
    u64::from_le_bytes(b)
}

/// A small state for the core's tests: buffers from `Vec`s and a genesis of accounts.
#[cfg(test)]
pub(crate) mod fixture {
    extern crate std;
    use std::vec::Vec;

    use super::{Genesis, GenesisAccount, State, StateEntry, StateMemory};
    use crate::hash::KeccakHasher;
    use crate::merkle::{HashScratch, Leaf, MerkleTree};

    pub(crate) struct Bufs {
        index: Vec<u32>,
        entries: Vec<StateEntry>,
        leaves: Vec<Leaf>,
        leaf_of: Vec<u32>,
        nodes: Vec<crate::types::Hash32>,
    }

    pub(crate) fn bufs(cap: usize) -> Bufs {
        let l = StateMemory::lengths(cap);
        Bufs {
            index: std::vec![0; l.index],
            entries: std::vec![StateEntry::EMPTY; l.entries],
            leaves: std::vec![Leaf::EMPTY; l.entries],
            leaf_of: std::vec![0; l.entries],
            nodes: std::vec![[0; 32]; MerkleTree::nodes_needed(cap)],
        }
    }

    impl Bufs {
        pub(crate) fn memory(&mut self) -> StateMemory<'_> {
            StateMemory {
                index: &mut self.index,
                entries: &mut self.entries,
                leaves: &mut self.leaves,
                leaf_of: &mut self.leaf_of,
                nodes: &mut self.nodes,
            }
        }
    }

    pub(crate) fn state<'a>(b: &'a mut Bufs, accounts: &'a [GenesisAccount]) -> State<'a> {
        let mem = b.memory();
        let (mut m, mut d, mut e) = (std::vec![0; 4096], std::vec![[0; 32]; 4], std::vec![0; 4]);
        let mut scratch = HashScratch { msgs: &mut m, digests: &mut d, ends: &mut e };
        let genesis = Genesis { accounts, contracts: &[], storage: &[] };
        State::from_genesis(mem, &genesis, &mut KeccakHasher, &mut scratch).unwrap()
    }
}
