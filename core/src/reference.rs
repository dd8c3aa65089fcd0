//! The reference block: a fixed genesis and block touching every sample contract, every
//! kind of failure, a declared transfer and declared contract calls, with all memory in
//! one struct. The
//! appliance test (QEMU, `appliance/`) and a host test execute it and must both arrive at
//! [`EXPECTED_STATE_ROOT`] and [`EXPECTED_BLOCK_HASH`].

use core::mem::MaybeUninit;
use core::ptr::addr_of_mut;

use crate::block::{commit, digests_len, BlockHeader, CommitMemory};
use crate::contracts::{amm, dao, depin, game, nft, token, Sample, MAX_CODE_LEN};
use crate::engine::{Block, Choice, Engine, KeyTable, Outcome as Executed, Output, WorkerMemory};
use crate::error::BlockError;
use crate::exec::{Access, BlockEnv, Limits};
use crate::hash::Hasher;
use crate::merkle::{HashScratch, Leaf, MerkleTree};
use crate::parallel::block_stm::mvmemory::{IndexWord, MvKey, MvNode};
use crate::parallel::block_stm::scheduler::TxState;
use crate::parallel::block_stm::{BlockStmMemory, ReadCell, TxData, WriteCell};
use crate::parallel::footprint::FootprintMemory;
use crate::policy::{run_block, Memory, Mode, Policy, Workers};
use crate::receipt::Receipt;
use crate::sequential::{SeqMemory, Sequential};
use crate::state::{
    Contract, Genesis, GenesisAccount, GenesisStorage, State, StateEntry, StateMemory, StateReader,
};
use crate::tx::{AccessEntry, AccessList, Transaction};
use crate::types::Shard;
use crate::types::{Address, Hash32, StateKey};
use crate::vm::VmScratch;

/// Transactions in the reference block.
pub const TXS: usize = 24;
/// Users.
pub const USERS: usize = 8;
/// Limits of the reference run.
pub const LIMITS: Limits = Limits { max_reads: 8, max_writes: 8, max_logs: 4 };
/// State capacity.
pub const CAPACITY: usize = 128;

const W: usize = TXS * (LIMITS.max_writes as usize + crate::exec::SYSTEM_ACCESSES);
const R: usize =
    TXS * (LIMITS.max_reads as usize + LIMITS.max_writes as usize + crate::exec::SYSTEM_ACCESSES);
const SEQ_INDEX: usize = SeqMemory::index_len(W);
const INDEX: usize = BlockStmMemory::index_len(W);
const ACC: usize =
    LIMITS.max_reads as usize + LIMITS.max_writes as usize + crate::exec::SYSTEM_ACCESSES;
const BATCH: usize = 8;
const NODES: usize = MerkleTree::nodes_needed(CAPACITY);

/// State root after the reference block (pinned by `tests/suite/reference.rs`).
pub const EXPECTED_STATE_ROOT: Hash32 = [
    0x66, 0x09, 0xc9, 0x59, 0x90, 0x69, 0xad, 0xdb, 0x0f, 0x4d, 0x3a, 0x3e, 0x04, 0x08, 0x9c, 0xab,
    0x04, 0xea, 0xff, 0xfe, 0xd1, 0x60, 0xb1, 0xc7, 0x67, 0xee, 0xb7, 0x72, 0xef, 0xb6, 0x7f, 0xe1,
];
/// Hash of the reference block (pinned by `tests/suite/reference.rs`).
pub const EXPECTED_BLOCK_HASH: Hash32 = [
    0x70, 0x01, 0x61, 0x89, 0x32, 0xfa, 0x64, 0x01, 0x78, 0x3d, 0x5c, 0x79, 0xbd, 0x31, 0x1f, 0x8e,
    0x2d, 0xc2, 0x09, 0x58, 0x7f, 0xed, 0xaa, 0x1a, 0xd9, 0x02, 0x2e, 0x08, 0x90, 0x34, 0xf3, 0xb5,
];

/// Every buffer the reference run needs but Block-STM's: all that the sequential engine
/// alone ([`run_sequential`]) needs (about 40 KiB on a 32-bit target).
pub struct SequentialMemory {
    code: [[u8; MAX_CODE_LEN]; 6],
    code_len: [usize; 6],
    index: [u32; 2 * CAPACITY],
    entries: [StateEntry; CAPACITY],
    leaves: [Leaf; CAPACITY],
    leaf_of: [u32; CAPACITY],
    nodes: [Hash32; NODES],
    msgs: [u8; BATCH * crate::tx::MAX_ENCODED_LEN],
    digests: [Hash32; digests_len(TXS)],
    batch_digests: [Hash32; BATCH],
    ends: [u32; BATCH],
    receipts: [Receipt; TXS],
    writes: [StateEntry; W],
    seq_index: [u32; SEQ_INDEX],
    dirty: [u32; 2 * W],
    access: [Access; ACC],
    stack: [u64; 64],
    memory: [u8; 256],
}

/// Every buffer the reference run needs with any engine (about 96 KiB on a 32-bit
/// target, more on a 64-bit host); build it in place with [`ReferenceMemory::init`] (an
/// appliance's `static`) or with [`ReferenceMemory::new`] somewhere with room (a host
/// `Box`).
pub struct ReferenceMemory {
    seq: SequentialMemory,
    states: [TxState; TXS],
    data: [TxData; TXS],
    reads: [ReadCell; R],
    wcells: [WriteCell; W],
    keys: [MvKey; W],
    mv_index: [IndexWord; INDEX],
    mv_nodes: [MvNode; W],
}

impl Default for ReferenceMemory {
    fn default() -> Self {
        Self::new()
    }
}

impl ReferenceMemory {
    /// Fresh buffers.
    pub fn new() -> Self {
        Self {
            seq: SequentialMemory::new(),
            states: core::array::from_fn(|_| TxState::new()),
            data: core::array::from_fn(|_| TxData::new()),
            reads: core::array::from_fn(|_| ReadCell::default()),
            wcells: core::array::from_fn(|_| WriteCell::default()),
            keys: core::array::from_fn(|_| MvKey::new()),
            mv_index: core::array::from_fn(|_| IndexWord::new()),
            mv_nodes: core::array::from_fn(|_| MvNode::new()),
        }
    }

    /// Builds fresh buffers directly in `slot`, one element at a time, so that no
    /// temporary of the struct's size is made (on an appliance, [`Self::new`] needs
    /// about twice the struct in stack).
    pub fn init(slot: &mut MaybeUninit<Self>) -> &mut Self {
        let p = slot.as_mut_ptr();
        // SAFETY: `p` points to writable, properly aligned memory for one `Self` (it comes
        // from a `&mut MaybeUninit<Self>`). Every field is initialised below exactly once,
        // element by element, through raw pointers (`addr_of_mut!` never creates a
        // reference to uninitialised data), before `assume_init_mut` is called.
        unsafe {
            SequentialMemory::init_at(addr_of_mut!((*p).seq));
            fill(addr_of_mut!((*p).states), TxState::new);
            fill(addr_of_mut!((*p).data), TxData::new);
            fill(addr_of_mut!((*p).reads), ReadCell::default);
            fill(addr_of_mut!((*p).wcells), WriteCell::default);
            fill(addr_of_mut!((*p).keys), MvKey::new);
            fill(addr_of_mut!((*p).mv_index), IndexWord::new);
            fill(addr_of_mut!((*p).mv_nodes), MvNode::new);
            slot.assume_init_mut()
        }
    }

    /// Gives every buffer its fresh value again, in place (no temporary of the struct's
    /// size), as before another run.
    pub fn reset(&mut self) {
        // SAFETY: see `in_place`.
        Self::init(unsafe { in_place(self) });
    }
}

impl Default for SequentialMemory {
    fn default() -> Self {
        Self::new()
    }
}

impl SequentialMemory {
    /// Fresh buffers.
    pub fn new() -> Self {
        Self {
            code: [[0; MAX_CODE_LEN]; 6],
            code_len: [0; 6],
            index: [0; 2 * CAPACITY],
            entries: [StateEntry::EMPTY; CAPACITY],
            leaves: [Leaf::EMPTY; CAPACITY],
            leaf_of: [0; CAPACITY],
            nodes: [[0; 32]; NODES],
            msgs: [0; BATCH * crate::tx::MAX_ENCODED_LEN],
            digests: [[0; 32]; digests_len(TXS)],
            batch_digests: [[0; 32]; BATCH],
            ends: [0; BATCH],
            receipts: [Receipt::EMPTY; TXS],
            writes: [StateEntry::EMPTY; W],
            seq_index: [0; SEQ_INDEX],
            dirty: [0; 2 * W],
            access: [Access::EMPTY; ACC],
            stack: [0; 64],
            memory: [0; 256],
        }
    }

    /// As [`ReferenceMemory::init`].
    pub fn init(slot: &mut MaybeUninit<Self>) -> &mut Self {
        // SAFETY: `slot` is writable, aligned memory for one `Self`; `init_at` initialises
        // every field before `assume_init_mut`.
        unsafe {
            Self::init_at(slot.as_mut_ptr());
            slot.assume_init_mut()
        }
    }

    /// As [`ReferenceMemory::reset`].
    pub fn reset(&mut self) {
        // SAFETY: see `in_place`.
        Self::init(unsafe { in_place(self) });
    }

    /// Initialises every field of the `Self` at `p`, element by element.
    ///
    /// # Safety
    /// `p` must be valid for writes of one `Self` and properly aligned.
    unsafe fn init_at(p: *mut Self) {
        // SAFETY: the caller's promise; `addr_of_mut!` never makes a reference to
        // uninitialised data, and `fill` writes every element once.
        unsafe {
            fill(addr_of_mut!((*p).code), || [0; MAX_CODE_LEN]);
            fill(addr_of_mut!((*p).code_len), || 0);
            fill(addr_of_mut!((*p).index), || 0);
            fill(addr_of_mut!((*p).entries), || StateEntry::EMPTY);
            fill(addr_of_mut!((*p).leaves), || Leaf::EMPTY);
            fill(addr_of_mut!((*p).leaf_of), || 0);
            fill(addr_of_mut!((*p).nodes), || [0; 32]);
            fill(addr_of_mut!((*p).msgs), || 0);
            fill(addr_of_mut!((*p).digests), || [0; 32]);
            fill(addr_of_mut!((*p).batch_digests), || [0; 32]);
            fill(addr_of_mut!((*p).ends), || 0);
            fill(addr_of_mut!((*p).receipts), || Receipt::EMPTY);
            fill(addr_of_mut!((*p).writes), || StateEntry::EMPTY);
            fill(addr_of_mut!((*p).seq_index), || 0);
            fill(addr_of_mut!((*p).dirty), || 0);
            fill(addr_of_mut!((*p).access), || Access::EMPTY);
            fill(addr_of_mut!((*p).stack), || 0);
            fill(addr_of_mut!((*p).memory), || 0);
        }
    }
}

/// `value` seen as uninitialised memory, to be initialised again in place.
///
/// # Safety
/// `MaybeUninit<T>` has the layout of `T`; the caller initialises the value again before
/// the borrow ends (the old fields need no drop: every field type here is plain data with
/// no `Drop`), and `value` is borrowed mutably for the whole time, so nothing observes the
/// intermediate state.
unsafe fn in_place<T>(value: &mut T) -> &mut MaybeUninit<T> {
    let p: *mut T = value;
    // SAFETY: as the function's contract says.
    unsafe { &mut *p.cast::<MaybeUninit<T>>() }
}

/// Writes `f()` into every element of the array at `dst`.
///
/// # Safety
/// `dst` must be valid for writes of one `[T; N]` and properly aligned.
unsafe fn fill<T, const N: usize>(dst: *mut [T; N], f: impl Fn() -> T) {
    let first = dst.cast::<T>();
    for i in 0..N {
        // SAFETY: `i < N`, so `first.add(i)` stays inside the array the caller vouches
        // for; `write` does not read or drop the old (possibly uninitialised) value.
        unsafe { first.add(i).write(f()) };
    }
}

/// The user accounts' addresses.
pub const fn user(i: usize) -> Address {
    Address(0x1000 + i as u64)
}

/// The beneficiary.
pub const BENEFICIARY: Address = Address(0xBEEF);

/// Address of sample contract `i` (in [`Sample::ALL`] order).
pub const fn contract(i: usize) -> Address {
    Address(0xC000_0000 + i as u64)
}

/// The reference genesis accounts.
pub fn accounts() -> [GenesisAccount; USERS + 3] {
    let mut a = [GenesisAccount { addr: BENEFICIARY, balance: 0, nonce: 0 }; USERS + 3];
    for (i, acc) in a.iter_mut().take(USERS).enumerate() {
        *acc = GenesisAccount { addr: user(i), balance: 10_000_000 + i as u64, nonce: 0 };
    }
    a[USERS + 1] = GenesisAccount { addr: contract(1), balance: 1_000_000, nonce: 0 };
    a[USERS + 2] = GenesisAccount { addr: contract(4), balance: 500_000, nonce: 0 };
    a
}

/// The reference genesis storage.
pub fn storage() -> [GenesisStorage; 8] {
    let s = |c: usize, slot, value| GenesisStorage { addr: contract(c), slot, value };
    [
        s(0, token::OWNER, user(0).0),
        s(0, token::TOTAL_SUPPLY, 3_000),
        s(0, token::balance_slot(user(1).0), 1_000),
        s(0, token::balance_slot(user(2).0), 2_000),
        s(1, amm::RESERVE_NATIVE, 1_000_000),
        s(1, amm::RESERVE_TOKEN, 2_000_000),
        s(1, amm::balance_slot(user(7).0), 10_000),
        s(2, nft::MAX_SUPPLY, 2),
    ]
}

/// Transactions of the reference block that declare an access list.
pub const DECLARED: usize = 4;

/// The reference block's transactions, their declared access lists written to `lists`.
pub fn block(lists: &mut [AccessList; DECLARED]) -> [Transaction<'_>; TXS] {
    let c = contract;
    let call = |from: usize, nonce: u64, to: Address, value: u64, args: &[u64]| {
        // At most 4 arguments below: cannot fail.
        Transaction::call(user(from), nonce, to, value, args, 50_000, 2)
            .unwrap_or_else(|_| Transaction::transfer(user(from), nonce, to, 0, 1_000, 1))
    };
    let xfer = |from: usize, nonce: u64, to: Address, value: u64| {
        Transaction::transfer(user(from), nonce, to, value, 1_000, 1)
    };
    // Calls that declare the lists a wallet would (`Sample::access_list`), and a
    // transfer that declares its recipient's balance.
    let token = call(1, 0, c(0), 0, &[token::TRANSFER, user(2).0, 50]);
    let dao = call(4, 0, c(3), 0, &[dao::VOTE, 1, 1]);
    let game = call(6, 0, c(5), 0, &[game::MOVE, 0, 3]);
    let transfer = xfer(7, 2, user(1), 9);
    lists[0] = Sample::Token.access_list(&token, |_| 0);
    lists[1] = Sample::Dao.access_list(&dao, |_| 0);
    lists[2] = Sample::Game.access_list(&game, |_| 0);
    lists[3] = AccessList::new();
    let _ = lists[3].push(AccessEntry::new(StateKey::balance(user(1)), true));
    let [token_list, dao_list, game_list, transfer_list] = &*lists;
    let declare = |tx: Transaction<'static>, list| Transaction { access: Some(list), ..tx };
    let mut low_gas = call(0, 2, c(5), 0, &[game::MOVE, 0, 1]);
    low_gas.gas_limit = 1_010;
    let mut broke = xfer(2, 1, user(3), 1);
    broke.gas_price = u64::MAX / 1_000;
    [
        xfer(0, 0, user(1), 100),
        declare(token, token_list),
        call(2, 0, c(1), 1_000, &[amm::SWAP, 0, 0]),
        call(3, 0, c(2), 0, &[nft::MINT]),
        declare(dao, dao_list),
        call(5, 0, c(4), 0, &[depin::REPORT, 10]),
        declare(game, game_list),
        xfer(7, 0, user(0), 5),
        call(0, 1, c(2), 0, &[nft::MINT]),
        call(1, 1, c(0), 0, &[token::TRANSFER, user(2).0, 1_000_000]),
        xfer(2, 5, user(0), 1),
        call(3, 1, c(3), 0, &[dao::VOTE, 1, 0]),
        call(4, 1, c(3), 0, &[dao::VOTE, 1, 1]),
        call(5, 1, c(4), 0, &[depin::REPORT, 30]),
        call(5, 2, c(4), 0, &[depin::CLAIM]),
        call(7, 1, c(1), 0, &[amm::SWAP, 1, 0, 500]),
        low_gas,
        call(1, 2, user(2), 0, &[0]),
        broke,
        call(3, 2, c(2), 0, &[nft::MINT]),
        call(4, 2, c(0), 0, &[token::MINT, user(4).0, 5]),
        call(0, 3, c(0), 0, &[token::MINT, user(3).0, 77]),
        xfer(6, 1, c(4), 300),
        declare(transfer, transfer_list),
    ]
}

/// What a reference run produced.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Outcome {
    /// Root of the genesis.
    pub genesis_root: Hash32,
    /// The committed header.
    pub header: BlockHeader,
    /// Its hash.
    pub block_hash: Hash32,
}

/// The engines' memory of a reference run (no footprint memory: the policy never
/// chooses that engine here).
struct Engines<'m> {
    seq_index: &'m mut [u32],
    /// One key record per write already: `KeyTable::Full`.
    stm: BlockStmMemory<'m>,
}

impl Memory for Engines<'_> {
    fn sequential(&mut self) -> SeqMemory<'_> {
        SeqMemory { index: self.seq_index }
    }

    fn block_stm(&mut self, _: KeyTable) -> BlockStmMemory<'_> {
        let m = &mut self.stm;
        BlockStmMemory {
            states: m.states,
            data: m.data,
            reads: m.reads,
            writes: m.writes,
            keys: m.keys,
            index: m.index,
            nodes: m.nodes,
        }
    }

    fn footprint(&mut self, _: usize, _: usize) -> Option<FootprintMemory<'_>> {
        None
    }

    fn has_footprint(&self) -> bool {
        false
    }
}

/// The one core of an appliance: every worker's job runs on the calling thread, one
/// after another, with the same memory (an engine finishes its block with any number of
/// workers, whichever order they run in).
struct OneCore<'m> {
    stack: &'m mut [u64],
    memory: &'m mut [u8],
    access: &'m mut [Access],
}

impl OneCore<'_> {
    fn worker(&mut self) -> WorkerMemory<'_> {
        WorkerMemory {
            vm: VmScratch { stack: self.stack, memory: self.memory },
            access: self.access,
        }
    }
}

impl Workers for OneCore<'_> {
    fn count(&self) -> usize {
        1
    }

    fn run<F>(&mut self, n: usize, job: &F) -> Result<(), BlockError>
    where
        F: Fn(usize, WorkerMemory<'_>) -> Result<(), BlockError> + Sync,
    {
        (0..n).try_for_each(|i| job(i, self.worker()))
    }

    fn run_here<R>(&mut self, job: impl FnOnce(WorkerMemory<'_>) -> R) -> R {
        job(self.worker())
    }
}

/// How a reference run executes its block: through the policy ([`run`]) or with the
/// sequential engine alone ([`run_sequential`], which links no other engine).
trait Execute {
    fn execute<'o, S: StateReader + Sync>(
        self,
        block: Block<'_, S>,
        output: Output<'o>,
        seq_index: &mut [u32],
        core: &mut OneCore<'_>,
    ) -> Result<Executed<'o>, BlockError>;
}

/// The policy's engine for `mode`, with Block-STM's memory.
struct ByPolicy<'m> {
    mode: Mode,
    stm: BlockStmMemory<'m>,
}

impl Execute for ByPolicy<'_> {
    fn execute<'o, S: StateReader + Sync>(
        self,
        block: Block<'_, S>,
        output: Output<'o>,
        seq_index: &mut [u32],
        core: &mut OneCore<'_>,
    ) -> Result<Executed<'o>, BlockError> {
        let mut engines = Engines { seq_index, stm: self.stm };
        let (executed, _) = run_block(&Policy::new(self.mode), block, output, &mut engines, core)?;
        Ok(executed)
    }
}

/// The sequential engine, driven through the protocol directly.
struct Alone;

impl Execute for Alone {
    fn execute<'o, S: StateReader + Sync>(
        self,
        block: Block<'_, S>,
        mut output: Output<'o>,
        seq_index: &mut [u32],
        core: &mut OneCore<'_>,
    ) -> Result<Executed<'o>, BlockError> {
        let n = block.txs.len();
        let (stats, written) = {
            let memory = SeqMemory { index: seq_index };
            let choice = Choice::default();
            let mut engine = Sequential::prepare(block, memory, output.reborrow(), &choice)?;
            engine.run_alone(core.worker())?;
            let done = engine.finish()?;
            (done.stats, done.writes.len())
        };
        // The result, in the output's own lifetime (as `run_block` hands it back).
        let Output { receipts, writes } = output;
        match (receipts.get(..n), writes.get(..written)) {
            (Some(receipts), Some(writes)) => Ok(Executed { receipts, writes, stats }),
            _ => Err(BlockError::Invariant(crate::error::Invariant::NotDone)),
        }
    }
}

/// Loads the genesis, executes the block with `mode` (one worker: `Sequential`,
/// `BlockStm(1)` or `BlockStmAlone`), commits it.
pub fn run<H: Hasher + ?Sized>(
    mem: &mut ReferenceMemory,
    mode: Mode,
    hasher: &mut H,
) -> Result<Outcome, BlockError> {
    let ReferenceMemory { seq, states, data, reads, wcells, keys, mv_index, mv_nodes } = mem;
    let stm = BlockStmMemory {
        states,
        data,
        reads,
        writes: wcells,
        keys,
        index: mv_index,
        nodes: mv_nodes,
    };
    run_with(seq, ByPolicy { mode, stm }, hasher)
}

/// [`run`] with the sequential engine alone, in the memory it needs: what a minimal
/// appliance image links (no policy, no parallel engine).
pub fn run_sequential<H: Hasher + ?Sized>(
    mem: &mut SequentialMemory,
    hasher: &mut H,
) -> Result<Outcome, BlockError> {
    run_with(mem, Alone, hasher)
}

fn run_with<H: Hasher + ?Sized>(
    mem: &mut SequentialMemory,
    how: impl Execute,
    hasher: &mut H,
) -> Result<Outcome, BlockError> {
    for (i, s) in Sample::ALL.iter().enumerate() {
        mem.code_len[i] = s.build(&mut mem.code[i]).map_err(|_| BlockError::Contract)?;
    }
    let contracts: [Contract<'_>; 6] = core::array::from_fn(|i| Contract {
        addr: contract(i),
        code: &mem.code[i][..mem.code_len[i]],
    });
    let accounts = accounts();
    let storage = storage();
    let genesis = Genesis { accounts: &accounts, contracts: &contracts, storage: &storage };
    let mut scratch =
        HashScratch { msgs: &mut mem.msgs, digests: &mut mem.batch_digests, ends: &mut mem.ends };
    let smem = StateMemory {
        index: &mut mem.index,
        entries: &mut mem.entries,
        leaves: &mut mem.leaves,
        leaf_of: &mut mem.leaf_of,
        nodes: &mut mem.nodes,
    };
    let mut state = State::from_genesis(smem, &genesis, hasher, &mut scratch)?;
    let genesis_root = state.root();
    let mut lists = [const { AccessList::new() }; DECLARED];
    let txs = block(&mut lists);
    let env = BlockEnv {
        number: 1,
        beneficiary: BENEFICIARY,
        contracts: &contracts,
        limits: LIMITS,
        shard: Shard::WHOLE,
        delivered: 0,
    };
    let mut core =
        OneCore { stack: &mut mem.stack, memory: &mut mem.memory, access: &mut mem.access };
    let output = Output { receipts: &mut mem.receipts, writes: &mut mem.writes };
    let block = Block { state: &state, env, txs: &txs };
    let executed = how.execute(block, output, &mut mem.seq_index, &mut core)?;
    let (writes, gas_used) = (executed.writes, executed.stats.gas_used);
    let mut cmem = CommitMemory { dirty: &mut mem.dirty, digests: &mut mem.digests, scratch };
    let header = commit(
        &mut state,
        [0; 32],
        1,
        BENEFICIARY,
        &txs,
        executed.receipts,
        writes,
        gas_used,
        hasher,
        &mut cmem,
    )?;
    Ok(Outcome { genesis_root, header, block_hash: header.hash(hasher) })
}
