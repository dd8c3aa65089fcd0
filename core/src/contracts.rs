//! Sample contracts, written with the [`Asm`] builder. The host's workloads and the
//! tests use them; each module documents its methods (`args[0]` selects one), storage
//! layout and the slot helpers that genesis builders need.
//!
//! Conventions: a failed business rule ends in `REVERT` with a small code; counters that
//! many transactions only add to use `SADD`, so they do not make transactions conflict.

use crate::tx::{AccessEntry, AccessList, Transaction, TxKind};
use crate::types::{Address, StateKey};
use crate::vm::asm::{Asm, AsmError};
use crate::vm::{hash2, Op};

/// A buffer large enough for every sample contract.
pub const MAX_CODE_LEN: usize = 512;

/// The sample contracts, for iteration and genesis building.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Sample {
    /// [`token`].
    Token,
    /// [`amm`].
    Amm,
    /// [`nft`].
    Nft,
    /// [`dao`].
    Dao,
    /// [`depin`].
    Depin,
    /// [`game`].
    Game,
}

impl Sample {
    /// Every sample.
    pub const ALL: [Sample; 6] =
        [Sample::Token, Sample::Amm, Sample::Nft, Sample::Dao, Sample::Depin, Sample::Game];

    /// Assembles the contract into `buf` and returns its length.
    pub fn build(self, buf: &mut [u8]) -> Result<usize, AsmError> {
        match self {
            Sample::Token => token::build(buf),
            Sample::Amm => amm::build(buf),
            Sample::Nft => nft::build(buf),
            Sample::Dao => dao::build(buf),
            Sample::Depin => depin::build(buf),
            Sample::Game => game::build(buf),
        }
    }

    /// Lowercase name.
    pub const fn name(self) -> &'static str {
        match self {
            Sample::Token => "token",
            Sample::Amm => "amm",
            Sample::Nft => "nft",
            Sample::Dao => "dao",
            Sample::Depin => "depin",
            Sample::Game => "game",
        }
    }

    /// The access list a wallet's access-list tool would declare for `tx`, a call of
    /// this sample deployed at `tx.to()`: every key the call touches besides the implicit
    /// ones (sender nonce and balance, beneficiary balance), given its arguments and,
    /// where a key depends on the state (an NFT's next id), the value `read` gives for
    /// that word (the state the tool expects the call to run on). The contract's native
    /// balance is declared when the call moves value in or out of it. Empty for a
    /// transfer.
    pub fn access_list(self, tx: &Transaction, read: impl FnOnce(&StateKey) -> u64) -> AccessList {
        let mut list = Declared(AccessList::new());
        let TxKind::Call { to, value, args } = &tx.kind else { return list.0 };
        let (c, from) = (*to, tx.from.0);
        // The VM's `ARG i`: 0 past the arguments given.
        let arg = |i: usize| args.get(i).copied().unwrap_or(0);
        let mut pays_out = false;
        match (self, arg(0)) {
            (Sample::Token, token::TRANSFER) => {
                list.write(c, token::balance_slot(from));
                list.write(c, token::balance_slot(arg(1)));
            }
            (Sample::Token, token::MINT) => {
                list.read(c, token::OWNER);
                list.write(c, token::balance_slot(arg(1)));
                list.write(c, token::TOTAL_SUPPLY);
            }
            (Sample::Amm, amm::SWAP) if arg(1) <= 1 => {
                list.write(c, amm::RESERVE_NATIVE);
                list.write(c, amm::RESERVE_TOKEN);
                list.write(c, amm::balance_slot(from));
                pays_out = arg(1) == 1;
            }
            (Sample::Nft, nft::MINT) => {
                let id = read(&StateKey::storage(c, nft::NEXT_ID));
                list.write(c, nft::NEXT_ID);
                list.read(c, nft::MAX_SUPPLY);
                list.write(c, nft::owner_slot(id));
                list.write(c, nft::count_slot(from));
            }
            (Sample::Dao, dao::VOTE) if arg(2) <= 1 => {
                list.write(c, dao::voted_slot(arg(1), from));
                list.write(c, dao::tally_slot(arg(1), arg(2)));
            }
            (Sample::Depin, method @ (depin::REPORT | depin::CLAIM)) => {
                list.write(c, depin::work_slot(from));
                list.write(c, depin::TOTAL_WORK);
                pays_out = method == depin::CLAIM;
            }
            (Sample::Game, game::MOVE) => {
                list.write(c, game::turn_slot(arg(1)));
                list.write(c, game::position_slot(arg(1), from));
            }
            // `depin::FUND`, and selectors that revert at once: the value only.
            _ => {}
        }
        if *value > 0 || pays_out {
            list.push(StateKey::balance(c), true);
        }
        list.0
    }
}

/// An access list being built: each key once (the first mode given wins, as in
/// [`crate::tx::Transaction::access_list_is_well_formed`]'s "no key twice"), and no
/// more than fit.
struct Declared(AccessList);

impl Declared {
    fn push(&mut self, key: StateKey, write: bool) {
        if self.0.iter().all(|a| a.key() != key) {
            // A sample call declares at most 5 keys, far below MAX_ACCESS.
            let _ = self.0.push(AccessEntry::new(key, write));
        }
    }
    fn write(&mut self, c: Address, slot: u64) {
        self.push(StateKey::storage(c, slot), true);
    }
    fn read(&mut self, c: Address, slot: u64) {
        self.push(StateKey::storage(c, slot), false);
    }
}

/// Emits the method dispatch: jumps to `methods[i]` when `args[0] == i`, reverts with
/// code 0xff otherwise. Leaves the stack empty at each method.
fn dispatch(a: &mut Asm<'_>, methods: &[crate::vm::asm::Label]) {
    for (i, &m) in methods.iter().enumerate() {
        a.arg(0).push(i as u64).op(Op::Eq).jump_if(m);
    }
    a.push(0xff).op(Op::Revert);
}

/// Fungible token.
///
/// Methods: `0 transfer(to, amount)`, `1 mint(to, amount)` (owner only).
/// Storage: slot [`token::TOTAL_SUPPLY`], slot [`token::OWNER`], balances at
/// [`token::balance_slot`]. Reverts: 1 insufficient balance, 2 not the owner.
/// Logs: topic 1 transfer (data amount), topic 2 mint (data amount).
pub mod token {
    use super::*;

    /// Method selector.
    pub const TRANSFER: u64 = 0;
    /// Method selector.
    pub const MINT: u64 = 1;
    /// Total supply (grown by `mint` with `SADD`).
    pub const TOTAL_SUPPLY: u64 = 0;
    /// The address allowed to mint.
    pub const OWNER: u64 = 2;

    /// Storage slot of `holder`'s balance.
    pub fn balance_slot(holder: u64) -> u64 {
        hash2(1, holder)
    }

    /// Assembles the contract.
    pub fn build(buf: &mut [u8]) -> Result<usize, AsmError> {
        let mut a = Asm::new(buf);
        let (transfer, mint, fail, not_owner) = (a.label(), a.label(), a.label(), a.label());
        dispatch(&mut a, &[transfer, mint]);

        a.bind(transfer);
        a.push(1).op(Op::Caller).op(Op::Hash2); // [s_from]
        a.dup(0).op(Op::SLoad); // [s_from, bal]
        a.arg(2); // [s_from, bal, amt]
        a.dup(1).dup(1).op(Op::Lt).jump_if(fail); // bal < amt
        a.op(Op::Sub).op(Op::SStore); // balance[from] = bal - amt
        a.push(1).arg(1).op(Op::Hash2).arg(2).op(Op::SAdd); // balance[to] += amt
        a.push(1).arg(2).op(Op::Log).op(Op::Stop);

        a.bind(mint);
        a.push(OWNER).op(Op::SLoad).op(Op::Caller).op(Op::Eq).op(Op::IsZero).jump_if(not_owner);
        a.push(1).arg(1).op(Op::Hash2).arg(2).op(Op::SAdd);
        a.push(TOTAL_SUPPLY).arg(2).op(Op::SAdd);
        a.push(2).arg(2).op(Op::Log).op(Op::Stop);

        a.bind(fail).push(1).op(Op::Revert);
        a.bind(not_owner).push(2).op(Op::Revert);
        a.finish()
    }
}

/// Constant-product AMM pool between the native coin and an internal token
/// (0.3% fee: `out = in*997*R_out / (R_in*1000 + in*997)`).
///
/// Methods: `0 swap(dir, min_out, amount_in)`: `dir 0` sells the call's value for tokens
/// (credited inside the pool), `dir 1` sells `amount_in` internal tokens for native coin
/// (paid with `TRANSFER`). Storage: reserves [`amm::RESERVE_NATIVE`],
/// [`amm::RESERVE_TOKEN`], token balances at [`amm::balance_slot`].
/// Reverts: 1 output below `min_out`, 2 insufficient token balance, 3 bad direction.
/// Arithmetic overflow faults (checked ops). Logs: topic 3 (dir 0) / 4 (dir 1), data out.
pub mod amm {
    use super::*;

    /// Method selector.
    pub const SWAP: u64 = 0;
    /// Native reserve slot.
    pub const RESERVE_NATIVE: u64 = 0;
    /// Token reserve slot.
    pub const RESERVE_TOKEN: u64 = 1;

    /// Storage slot of `holder`'s internal token balance.
    pub fn balance_slot(holder: u64) -> u64 {
        hash2(3, holder)
    }

    /// Output of a swap of `amount_in` against reserves (`None` on overflow or empty pool).
    pub fn quote(amount_in: u64, reserve_in: u64, reserve_out: u64) -> Option<u64> {
        let inf = amount_in.checked_mul(997)?;
        let den = reserve_in.checked_mul(1000)?.checked_add(inf)?;
        let q = (inf as u128 * reserve_out as u128).checked_div(den as u128)?;
        u64::try_from(q).ok()
    }

    // Memory variables.
    const IN: u8 = 0;
    const R_IN: u8 = 1;
    const R_OUT: u8 = 2;
    const OUT: u8 = 3;
    const SLOT: u8 = 4;
    const DIR: u8 = 5;

    /// Assembles the contract.
    pub fn build(buf: &mut [u8]) -> Result<usize, AsmError> {
        let mut a = Asm::new(buf);
        let (swap, sell_token, compute, token_in) = (a.label(), a.label(), a.label(), a.label());
        let (fail_out, fail_bal, bad_dir) = (a.label(), a.label(), a.label());
        dispatch(&mut a, &[swap]);

        a.bind(swap);
        a.arg(1).set_var(DIR);
        a.var(DIR).push(1).op(Op::Gt).jump_if(bad_dir);
        a.var(DIR).jump_if(sell_token);
        // dir 0: the call's value in, tokens out.
        a.op(Op::CallValue).set_var(IN);
        a.push(RESERVE_NATIVE).op(Op::SLoad).set_var(R_IN);
        a.push(RESERVE_TOKEN).op(Op::SLoad).set_var(R_OUT);
        a.jump(compute);
        // dir 1: internal tokens in, native out.
        a.bind(sell_token);
        a.arg(3).set_var(IN);
        a.push(3).op(Op::Caller).op(Op::Hash2).set_var(SLOT);
        a.var(SLOT).op(Op::SLoad); // [bal]
        a.dup(0).var(IN).op(Op::Lt).jump_if(fail_bal); // bal < in
        a.var(IN).op(Op::Sub).var(SLOT).swap(1).op(Op::SStore); // balance = bal - in
        a.push(RESERVE_TOKEN).op(Op::SLoad).set_var(R_IN);
        a.push(RESERVE_NATIVE).op(Op::SLoad).set_var(R_OUT);
        // out = in*997*R_out / (R_in*1000 + in*997)
        a.bind(compute);
        a.var(IN).push(997).op(Op::MulC).var(R_OUT); // [inf, r_out]
        a.var(R_IN).push(1000).op(Op::MulC).var(IN).push(997).op(Op::MulC).op(Op::AddC); // [inf, r_out, den]
        a.op(Op::MulDiv).set_var(OUT);
        a.var(OUT).arg(2).op(Op::Lt).jump_if(fail_out);
        a.var(DIR).jump_if(token_in);
        a.push(RESERVE_NATIVE).var(R_IN).var(IN).op(Op::AddC).op(Op::SStore);
        a.push(RESERVE_TOKEN).var(R_OUT).var(OUT).op(Op::SubC).op(Op::SStore);
        a.push(3).op(Op::Caller).op(Op::Hash2).var(OUT).op(Op::SAdd);
        a.push(3).var(OUT).op(Op::Log).op(Op::Stop);
        a.bind(token_in);
        a.push(RESERVE_TOKEN).var(R_IN).var(IN).op(Op::AddC).op(Op::SStore);
        a.push(RESERVE_NATIVE).var(R_OUT).var(OUT).op(Op::SubC).op(Op::SStore);
        a.op(Op::Caller).var(OUT).op(Op::Transfer);
        a.push(4).var(OUT).op(Op::Log).op(Op::Stop);

        a.bind(fail_out).push(1).op(Op::Revert);
        a.bind(fail_bal).push(2).op(Op::Revert);
        a.bind(bad_dir).push(3).op(Op::Revert);
        a.finish()
    }
}

/// NFT collection with a global counter (every mint conflicts with every other: the
/// counter is read).
///
/// Methods: `0 mint()` returns the new id. Storage: [`nft::NEXT_ID`], [`nft::MAX_SUPPLY`]
/// (set at genesis), owners at [`nft::owner_slot`], holdings counts at
/// [`nft::count_slot`]. Reverts: 1 sold out. Logs: topic 5, data id.
pub mod nft {
    use super::*;

    /// Method selector.
    pub const MINT: u64 = 0;
    /// Next token id.
    pub const NEXT_ID: u64 = 0;
    /// Maximum number of tokens.
    pub const MAX_SUPPLY: u64 = 1;

    /// Slot of token `id`'s owner.
    pub fn owner_slot(id: u64) -> u64 {
        hash2(2, id)
    }

    /// Slot of `holder`'s token count.
    pub fn count_slot(holder: u64) -> u64 {
        hash2(3, holder)
    }

    /// Assembles the contract.
    pub fn build(buf: &mut [u8]) -> Result<usize, AsmError> {
        let mut a = Asm::new(buf);
        let (mint, sold_out) = (a.label(), a.label());
        dispatch(&mut a, &[mint]);
        a.bind(mint);
        a.push(NEXT_ID).op(Op::SLoad); // [id]
        a.dup(0).push(MAX_SUPPLY).op(Op::SLoad).op(Op::Lt).op(Op::IsZero).jump_if(sold_out);
        a.push(NEXT_ID).dup(1).push(1).op(Op::Add).op(Op::SStore); // next = id + 1
        a.push(2).dup(1).op(Op::Hash2).op(Op::Caller).op(Op::SStore); // owner[id] = caller
        a.push(3).op(Op::Caller).op(Op::Hash2).push(1).op(Op::SAdd); // count[caller] += 1
        a.push(5).dup(1).op(Op::Log);
        a.op(Op::Return); // id
        a.bind(sold_out).push(1).op(Op::Revert);
        a.finish()
    }
}

/// DAO proposal vote tally: one vote per address per proposal; tallies are `SADD`
/// counters, so votes on the same proposal do not conflict.
///
/// Methods: `0 vote(proposal, support)` with support 0 (against) or 1 (for).
/// Storage: voted flags at [`dao::voted_slot`], tallies at [`dao::tally_slot`].
/// Reverts: 1 already voted, 2 bad support value. Logs: topic 6, data proposal.
pub mod dao {
    use super::*;

    /// Method selector.
    pub const VOTE: u64 = 0;

    /// Slot of `voter`'s flag on `proposal`.
    pub fn voted_slot(proposal: u64, voter: u64) -> u64 {
        hash2(hash2(4, proposal), voter)
    }

    /// Slot of the tally of `support` (0 or 1) on `proposal`.
    pub fn tally_slot(proposal: u64, support: u64) -> u64 {
        hash2(5, proposal.wrapping_mul(2).wrapping_add(support))
    }

    /// Assembles the contract.
    pub fn build(buf: &mut [u8]) -> Result<usize, AsmError> {
        let mut a = Asm::new(buf);
        let (vote, voted, bad) = (a.label(), a.label(), a.label());
        dispatch(&mut a, &[vote]);
        a.bind(vote);
        a.arg(2).push(1).op(Op::Gt).jump_if(bad);
        a.push(4).arg(1).op(Op::Hash2).op(Op::Caller).op(Op::Hash2); // [flag_slot]
        a.dup(0).op(Op::SLoad).jump_if(voted);
        a.push(1).op(Op::SStore);
        a.push(5).arg(1).push(2).op(Op::Mul).arg(2).op(Op::Add).op(Op::Hash2).push(1).op(Op::SAdd);
        a.push(6).arg(1).op(Op::Log).op(Op::Stop);
        a.bind(voted).push(1).op(Op::Revert);
        a.bind(bad).push(2).op(Op::Revert);
        a.finish()
    }
}

/// DePIN reward pool: GPU providers report work (`SADD`, no conflicts) and claim a share
/// of the pool's native balance pro rata to their work.
///
/// Methods: `0 report(work)`, `1 claim()` (pays `balance * work / total_work`, resets
/// the caller's work), `2 fund()` (the call's value joins the pool).
/// Storage: [`depin::TOTAL_WORK`], per-provider work at [`depin::work_slot`].
/// Reverts: 1 nothing to claim. Logs: topic 7 report (work), 8 claim (reward).
pub mod depin {
    use super::*;

    /// Method selector.
    pub const REPORT: u64 = 0;
    /// Method selector.
    pub const CLAIM: u64 = 1;
    /// Method selector.
    pub const FUND: u64 = 2;
    /// Sum of unclaimed work.
    pub const TOTAL_WORK: u64 = 0;

    /// Slot of `provider`'s unclaimed work.
    pub fn work_slot(provider: u64) -> u64 {
        hash2(7, provider)
    }

    /// Assembles the contract.
    pub fn build(buf: &mut [u8]) -> Result<usize, AsmError> {
        let mut a = Asm::new(buf);
        let (report, claim, fund, nothing) = (a.label(), a.label(), a.label(), a.label());
        dispatch(&mut a, &[report, claim, fund]);

        a.bind(report);
        a.push(7).op(Op::Caller).op(Op::Hash2).arg(1).op(Op::SAdd);
        a.push(TOTAL_WORK).arg(1).op(Op::SAdd);
        a.push(7).arg(1).op(Op::Log).op(Op::Stop);

        a.bind(claim);
        a.push(7).op(Op::Caller).op(Op::Hash2).set_var(0); // var0 = slot
        a.var(0).op(Op::SLoad).set_var(1); // var1 = work
        a.var(1).op(Op::IsZero).jump_if(nothing);
        a.op(Op::SelfBalance).var(1).push(TOTAL_WORK).op(Op::SLoad).op(Op::MulDiv).set_var(2); // reward
        a.var(0).push(0).op(Op::SStore);
        a.push(TOTAL_WORK).push(0).var(1).op(Op::Sub).op(Op::SAdd); // total -= work
        a.op(Op::Caller).var(2).op(Op::Transfer);
        a.push(8).var(2).op(Op::Log).op(Op::Stop);

        a.bind(fund).op(Op::Stop);
        a.bind(nothing).push(1).op(Op::Revert);
        a.finish()
    }
}

/// A game move: each player has a position per match; every move also advances the
/// match's turn counter (read and written, so players of one match conflict).
///
/// Methods: `0 move(match, step)`. Storage: positions at [`game::position_slot`], turn
/// counters at [`game::turn_slot`]. Reverts: 1 off the board (position + step ≥
/// [`game::BOARD`]), 2 match over (turn ≥ [`game::MAX_TURNS`]).
/// Logs: topic 9, data new position.
pub mod game {
    use super::*;

    /// Method selector.
    pub const MOVE: u64 = 0;
    /// Board length.
    pub const BOARD: u64 = 1 << 20;
    /// Turns per match.
    pub const MAX_TURNS: u64 = 1 << 32;

    /// Slot of `player`'s position in `match_id`.
    pub fn position_slot(match_id: u64, player: u64) -> u64 {
        hash2(hash2(8, match_id), player)
    }

    /// Slot of `match_id`'s turn counter.
    pub fn turn_slot(match_id: u64) -> u64 {
        hash2(9, match_id)
    }

    /// Assembles the contract.
    pub fn build(buf: &mut [u8]) -> Result<usize, AsmError> {
        let mut a = Asm::new(buf);
        let (mv, off_board, over) = (a.label(), a.label(), a.label());
        dispatch(&mut a, &[mv]);
        a.bind(mv);
        a.push(9).arg(1).op(Op::Hash2); // [turn_slot]
        a.dup(0).op(Op::SLoad); // [ts, turn]
        a.dup(0).push(MAX_TURNS).op(Op::Lt).op(Op::IsZero).jump_if(over);
        a.push(1).op(Op::Add).op(Op::SStore); // turn += 1
        a.push(8).arg(1).op(Op::Hash2).op(Op::Caller).op(Op::Hash2); // [ps]
        a.dup(0).op(Op::SLoad).arg(2).op(Op::AddC); // [ps, new]
        a.dup(0).push(BOARD).op(Op::Lt).op(Op::IsZero).jump_if(off_board);
        a.dup(0).set_var(0).op(Op::SStore);
        a.push(9).var(0).op(Op::Log).op(Op::Stop);
        a.bind(off_board).push(1).op(Op::Revert);
        a.bind(over).push(2).op(Op::Revert);
        a.finish()
    }
}
