//! Workloads: one definition of each, shared by `parex bench`, `parex gen`, the criterion
//! benches and the tests. Every sample contract of the core is a workload, with a
//! contention knob ([`Spec::hot`]), and blocks include failing transactions at a small
//! rate ([`Spec::fail_per_mille`]), as real blocks do.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use parex_core::contracts::{amm, dao, depin, game, nft, token, Sample, MAX_CODE_LEN};
use parex_core::exec::INTRINSIC_GAS;
use parex_core::state::{GenesisAccount, GenesisStorage};
use parex_core::tx::{AccessEntry, AccessList, Transaction, TxKind};
use parex_core::{Address, Shard, StateKey};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::blockfile::ReadTx;
use crate::txblock::TxBlock;

/// The workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Workload {
    /// Native transfers between accounts.
    Transfers,
    /// Token contract transfers (and a few mints).
    Token,
    /// Swaps on constant-product pools.
    Amm,
    /// NFT mints against collection counters.
    Nft,
    /// DAO votes on proposals.
    Dao,
    /// DePIN work reports and reward claims.
    Depin,
    /// Game moves within matches.
    Game,
    /// A blend of all of the above.
    Mixed,
}

impl Workload {
    /// Every workload, in table order.
    pub const ALL: [Workload; 8] = [
        Workload::Transfers,
        Workload::Token,
        Workload::Amm,
        Workload::Nft,
        Workload::Dao,
        Workload::Depin,
        Workload::Game,
        Workload::Mixed,
    ];

    /// Its command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Transfers => "transfers",
            Workload::Token => "token",
            Workload::Amm => "amm",
            Workload::Nft => "nft",
            Workload::Dao => "dao",
            Workload::Depin => "depin",
            Workload::Game => "game",
            Workload::Mixed => "mixed",
        }
    }

    /// What the contention knob counts, and its low- and high-contention settings.
    pub fn knob(self) -> (&'static str, usize, usize) {
        match self {
            Workload::Transfers | Workload::Token => ("accounts", 0, 0),
            Workload::Amm => ("pools", 64, 1),
            Workload::Nft => ("collections", 64, 1),
            Workload::Dao => ("proposals", 256, 1),
            Workload::Depin => ("providers per pool", 16, 100_000),
            Workload::Game => ("players per match", 2, 100_000),
            Workload::Mixed => ("hot contracts", 16, 1),
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Workload {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Workload::ALL.into_iter().find(|w| w.name() == s).ok_or_else(|| {
            let names: Vec<_> = Workload::ALL.iter().map(|w| w.name()).collect();
            format!("unknown workload `{s}` (expected one of {})", names.join(", "))
        })
    }
}

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// Which workload.
    pub workload: Workload,
    /// User accounts (senders and recipients). For transfers and token this is the
    /// contention knob: 2 accounts is fully hot.
    pub accounts: usize,
    /// Transactions per block.
    pub txs: usize,
    /// Blocks.
    pub blocks: usize,
    /// Seed of the generator.
    pub seed: u64,
    /// The workload's contention knob (see [`Workload::knob`]); `None` = low contention.
    pub hot: Option<usize>,
    /// Failing transactions per thousand (bad nonce, insufficient funds, reverts,
    /// out of gas).
    pub fail_per_mille: u32,
    /// Attach declared access lists to this many transactions per thousand.
    pub declare_per_mille: u32,
    /// A sharded chain's traffic: transfers pick their recipient on another shard
    /// than their sender's this often ([`Cross`]); `None`: anywhere.
    pub cross: Option<Cross>,
}

/// How a transfers workload crosses shards: `per_mille` of its transfers go to an
/// account on another shard than the sender's (by `Shard::of` over `shards`), the others
/// to one on the sender's shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cross {
    /// Shards of the chain.
    pub shards: u16,
    /// Transfers to another shard, per thousand.
    pub per_mille: u32,
}

impl Spec {
    /// A spec with the defaults: low contention, 1% failures, no access lists.
    pub fn new(workload: Workload, accounts: usize, txs: usize, blocks: usize, seed: u64) -> Self {
        Self {
            workload,
            accounts,
            txs,
            blocks,
            seed,
            hot: None,
            fail_per_mille: 10,
            declare_per_mille: 0,
            cross: None,
        }
    }

    fn knob(&self) -> usize {
        self.hot.unwrap_or(self.workload.knob().1).max(1)
    }
}

/// The initial state of a workload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct World {
    /// Accounts and balances.
    pub accounts: Vec<GenesisAccount>,
    /// Contracts (ascending by address) and their code.
    pub contracts: Vec<(Address, Vec<u8>)>,
    /// Initial contract storage.
    pub storage: Vec<GenesisStorage>,
    /// Receives the fees.
    pub beneficiary: Address,
    /// A sharded chain's number of shards (`docs/semantics.md`, "Shards"); `None`: not
    /// sharded.
    pub shards: Option<u16>,
}

impl World {
    /// State words the genesis occupies.
    pub fn words(&self) -> usize {
        self.accounts.len()
            + self.accounts.iter().filter(|a| a.nonce != 0).count()
            + self.contracts.len()
            + self.storage.len()
    }
}

/// First user address.
pub const USER_BASE: u64 = 0x1000;
/// First contract address.
pub const CONTRACT_BASE: u64 = 0xC000_0000;
/// The fee beneficiary.
pub const BENEFICIARY: Address = Address(0xBEEF_0000_0000);
/// Initial native balance of each user.
pub const USER_BALANCE: u64 = 1_000_000_000_000;
/// Gas limit of native transfers.
pub const TRANSFER_GAS: u64 = INTRINSIC_GAS;
/// Gas limit of contract calls.
pub const CALL_GAS: u64 = 100_000;

fn user(i: usize) -> Address {
    Address(USER_BASE + i as u64)
}

/// Deterministic workload generator (ChaCha8 seeded with [`Spec::seed`]).
pub struct Generator {
    spec: Spec,
    rng: ChaCha8Rng,
    nonces: Vec<u64>,
    /// (sample, address) of each contract, in address order.
    contracts: Vec<(Sample, Address)>,
    /// The next NFT id of each collection, as the blocks so far leave it (the state a
    /// wallet's access-list tool reads for a mint, see `Sample::access_list`).
    next_ids: HashMap<Address, u64>,
}

impl Generator {
    /// Builds the world for `spec` and a generator of its blocks.
    pub fn new(spec: &Spec) -> (World, Generator) {
        let accounts = spec.accounts.max(2);
        let shards = spec.cross.map(|c| c.shards);
        let mut world = World { beneficiary: BENEFICIARY, shards, ..World::default() };
        world.accounts = (0..accounts)
            .map(|i| GenesisAccount { addr: user(i), balance: USER_BALANCE, nonce: 0 })
            .collect();
        world.accounts.push(GenesisAccount { addr: BENEFICIARY, balance: 0, nonce: 0 });
        let mut contracts = Vec::new();
        let knob = spec.knob();
        let add = |sample: Sample, count: usize, contracts: &mut Vec<(Sample, Address)>| {
            for _ in 0..count {
                let addr = Address(CONTRACT_BASE + contracts.len() as u64);
                contracts.push((sample, addr));
            }
        };
        let n = |c: usize| c.clamp(1, accounts);
        match spec.workload {
            Workload::Transfers => {}
            Workload::Token => add(Sample::Token, 1, &mut contracts),
            Workload::Amm => add(Sample::Amm, n(knob), &mut contracts),
            Workload::Nft => add(Sample::Nft, n(knob), &mut contracts),
            Workload::Dao => add(Sample::Dao, 1, &mut contracts),
            Workload::Depin => add(Sample::Depin, accounts.div_ceil(knob), &mut contracts),
            Workload::Game => add(Sample::Game, 1, &mut contracts),
            Workload::Mixed => {
                add(Sample::Token, 1, &mut contracts);
                add(Sample::Amm, n(knob), &mut contracts);
                add(Sample::Nft, n(knob), &mut contracts);
                add(Sample::Dao, 1, &mut contracts);
                add(Sample::Depin, n(knob), &mut contracts);
                add(Sample::Game, 1, &mut contracts);
            }
        }
        for &(sample, addr) in &contracts {
            let mut buf = [0u8; MAX_CODE_LEN];
            // The sample contracts fit MAX_CODE_LEN; a failure here is a bug in them.
            let len = sample.build(&mut buf).expect("sample contract assembles");
            world.contracts.push((addr, buf[..len].to_vec()));
            let mut put = |slot, value| world.storage.push(GenesisStorage { addr, slot, value });
            match sample {
                Sample::Token => {
                    put(token::OWNER, user(0).0);
                    put(token::TOTAL_SUPPLY, accounts as u64 * 1_000_000_000);
                    for i in 0..accounts {
                        put(token::balance_slot(user(i).0), 1_000_000_000);
                    }
                }
                Sample::Amm => {
                    put(amm::RESERVE_NATIVE, 1_000_000_000_000);
                    put(amm::RESERVE_TOKEN, 1_000_000_000_000);
                }
                Sample::Nft => put(nft::MAX_SUPPLY, u64::MAX / 2),
                _ => {}
            }
        }
        // AMM users hold tokens in their home pool; pools hold their native reserve.
        let pools: Vec<Address> =
            contracts.iter().filter(|c| c.0 == Sample::Amm).map(|c| c.1).collect();
        if !pools.is_empty() {
            for i in 0..accounts {
                let pool = pools[i % pools.len()];
                world.storage.push(GenesisStorage {
                    addr: pool,
                    slot: amm::balance_slot(user(i).0),
                    value: 1_000_000_000,
                });
            }
            for &p in &pools {
                world.accounts.push(GenesisAccount {
                    addr: p,
                    balance: 1_000_000_000_000,
                    nonce: 0,
                });
            }
        }
        for &(s, addr) in &contracts {
            if s == Sample::Depin {
                world.accounts.push(GenesisAccount { addr, balance: 1_000_000_000_000, nonce: 0 });
            }
        }
        let gen = Generator {
            spec: Spec { accounts, ..spec.clone() },
            rng: ChaCha8Rng::seed_from_u64(spec.seed),
            nonces: vec![0; accounts],
            contracts,
            next_ids: HashMap::new(),
        };
        (world, gen)
    }

    fn of(&self, sample: Sample) -> Vec<Address> {
        self.contracts.iter().filter(|c| c.0 == sample).map(|c| c.1).collect()
    }

    /// The next block's transactions.
    pub fn block(&mut self) -> TxBlock {
        let mut lists = Vec::new();
        let txs = (0..self.spec.txs)
            .map(|i| {
                let (tx, list) = self.tx();
                lists.extend(list.map(|l| (i, l)));
                tx
            })
            .collect();
        TxBlock::with_lists(txs, lists)
    }

    fn pick_user(&mut self) -> usize {
        self.rng.gen_range(0..self.spec.accounts)
    }

    /// A recipient for `sender` on another shard `cross.per_mille` times in a thousand,
    /// else on the sender's shard (drawn until one is found, for at most 64 draws; a
    /// chain whose accounts leave a shard without another account takes the last draw).
    fn pick_recipient(&mut self, sender: Address, cross: Cross) -> Address {
        let home = Shard::of(sender, cross.shards);
        let away = cross.shards > 1 && self.rng.gen_range(0..1000) < cross.per_mille;
        let mut to = user(self.pick_user());
        for _ in 0..64 {
            if (Shard::of(to, cross.shards) != home) == away {
                break;
            }
            to = user(self.pick_user());
        }
        to
    }

    /// The next transaction, and the access list it declares.
    fn tx(&mut self) -> ReadTx {
        let kind = match self.spec.workload {
            Workload::Mixed => match self.rng.gen_range(0..100) {
                0..=39 => Workload::Transfers,
                40..=59 => Workload::Token,
                60..=69 => Workload::Amm,
                70..=79 => Workload::Nft,
                80..=89 => Workload::Dao,
                90..=94 => Workload::Depin,
                _ => Workload::Game,
            },
            w => w,
        };
        let from = self.pick_user();
        let fail = self.rng.gen_range(0..1000) < self.spec.fail_per_mille;
        let fail_kind = self.rng.gen_range(0..4u8);
        let mut tx = self.body(kind, from, fail && fail_kind == 2);
        tx.nonce = self.nonces[from];
        if fail {
            match fail_kind {
                // Wrong nonce: invalid, no state change.
                0 => tx.nonce += 1_000_000,
                // Cannot afford the gas: invalid.
                1 => tx.gas_price = USER_BALANCE,
                // Business-rule revert (built into the body above).
                2 => {}
                // Out of gas (calls) or a transfer of more than the balance.
                _ => match &mut tx.kind {
                    TxKind::Call { .. } | TxKind::Delivered { .. } => {
                        tx.gas_limit = INTRINSIC_GAS + 20
                    }
                    TxKind::Transfer { value, .. } => *value = USER_BALANCE * 2,
                },
            }
        }
        // Invalid transactions (wrong nonce, unaffordable gas, a transfer of more than
        // the balance) do not consume the sender's nonce; included ones do.
        let invalid = fail && fail_kind <= 1;
        let overdrawn = fail && fail_kind == 3 && matches!(tx.kind, TxKind::Transfer { .. });
        if !(invalid || overdrawn) {
            self.nonces[from] += 1;
        }
        let sample = self.contracts.iter().find(|c| c.1 == tx.to()).map(|c| c.0);
        let mut list = None;
        if self.rng.gen_range(0..1000) < self.spec.declare_per_mille {
            let next_ids = &self.next_ids;
            list = Some(declare(&tx, sample, |k| next_ids.get(&k.addr).copied().unwrap_or(0)));
        }
        // A mint that runs (the failures above leave the counter alone) takes the next id.
        if sample == Some(Sample::Nft) && !fail {
            *self.next_ids.entry(tx.to()).or_insert(0) += 1;
        }
        (tx, list)
    }

    fn body(&mut self, kind: Workload, from: usize, revert: bool) -> Transaction<'static> {
        let sender = user(from);
        let call = |to: Address, value: u64, args: &[u64]| {
            // At most MAX_ARGS arguments are passed below.
            Transaction::call(sender, 0, to, value, args, CALL_GAS, 1).expect("args fit")
        };
        match kind {
            Workload::Transfers => {
                let to = match self.spec.cross {
                    None => user(self.pick_user()),
                    Some(cross) => self.pick_recipient(sender, cross),
                };
                Transaction::transfer(sender, 0, to, self.rng.gen_range(1..1000), TRANSFER_GAS, 1)
            }
            Workload::Token => {
                let c = self.of(Sample::Token)[0];
                if from == 0 && self.rng.gen_bool(0.05) {
                    let to = user(self.pick_user());
                    return call(c, 0, &[token::MINT, to.0, 1000]);
                }
                let to = user(self.pick_user());
                let amount = if revert { u64::MAX / 2 } else { self.rng.gen_range(1..1000) };
                call(c, 0, &[token::TRANSFER, to.0, amount])
            }
            Workload::Amm => {
                let pools = self.of(Sample::Amm);
                let pool = pools[from % pools.len()];
                let min_out = if revert { u64::MAX } else { 0 };
                if self.rng.gen_bool(0.5) {
                    call(pool, self.rng.gen_range(1..100_000), &[amm::SWAP, 0, min_out])
                } else {
                    call(pool, 0, &[amm::SWAP, 1, min_out, self.rng.gen_range(1..100_000)])
                }
            }
            Workload::Nft => {
                let cols = self.of(Sample::Nft);
                let c = cols[self.rng.gen_range(0..cols.len())];
                if revert {
                    call(c, 0, &[7])
                } else {
                    call(c, 0, &[nft::MINT])
                }
            }
            Workload::Dao => {
                let c = self.of(Sample::Dao)[0];
                let proposals = self.spec.knob() as u64;
                let p = self.rng.gen_range(0..proposals);
                let support = if revert { 5 } else { self.rng.gen_range(0..2) };
                call(c, 0, &[dao::VOTE, p, support])
            }
            Workload::Depin => {
                let pools = self.of(Sample::Depin);
                let pool = pools[(from / self.spec.knob()).min(pools.len() - 1)];
                match self.rng.gen_range(0..100) {
                    0..=4 => call(pool, 0, &[depin::CLAIM]),
                    5..=6 => call(pool, self.rng.gen_range(1..10_000), &[depin::FUND]),
                    _ if revert => call(pool, 0, &[9]),
                    _ => call(pool, 0, &[depin::REPORT, self.rng.gen_range(1..1_000)]),
                }
            }
            Workload::Game => {
                let c = self.of(Sample::Game)[0];
                let m = (from / self.spec.knob()) as u64;
                let step = if revert { game::BOARD } else { self.rng.gen_range(1..4) };
                call(c, 0, &[game::MOVE, m, step])
            }
            Workload::Mixed => unreachable!("mixed picks a concrete workload first"),
        }
    }
}

/// The access list a well-behaved client declares for `tx`: for a transfer its
/// recipient's balance; for a call of a sample contract (`sample`: the one at
/// `tx.to()`) what [`Sample::access_list`] computes, `read` giving the state word it may
/// depend on; for a call of anything else, the contract's balance.
pub fn declare(
    tx: &Transaction,
    sample: Option<Sample>,
    read: impl FnOnce(&StateKey) -> u64,
) -> AccessList {
    match (&tx.kind, sample) {
        (TxKind::Call { .. }, Some(sample)) => sample.access_list(tx, read),
        _ => {
            let mut list = AccessList::new();
            let _ = list.push(AccessEntry::new(StateKey::balance(tx.to()), true));
            list
        }
    }
}
