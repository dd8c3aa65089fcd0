//! The history predictor: which contracts' calls made the blocks already run contended,
//! so that the policy sends the next block of such calls to the sequential engine up
//! front ([`Reason::Predicted`]) instead of starting Block-STM and giving up on it
//! after a wasted prefix ([`Reason::Contended`]).
//!
//! A block of contract calls that do not declare their access lists shows what it
//! touches only when run; so the history remembers contracts, not keys. When Block-STM
//! gives up on a block as contended, the contracts that a quarter or more of its
//! transactions call become *hot*, trusted for a number of blocks: a block half or more
//! of whose transactions call hot contracts is predicted contended. Each block sent to the
//! sequential engine on that word spends one block of the trust of the hot contracts it
//! calls; when a contract's trust is spent, the next block that calls it runs on
//! Block-STM again, to check: if that block is contended too, the trust doubles (up to
//! [`MAX_TRUST`]), and if not, the contract is forgotten. So a contract that is always
//! contended costs a wasted prefix ever more rarely, and one that stops being contended
//! is tried again within a few blocks.
//!
//! # Hot keys
//!
//! Block-STM tallies the keys at which its executions waited or failed validation
//! ([`ExecStats::conflicts`]: events, so one call may count several times). A contract's
//! storage word with as many such events as an eighth of the block's calls to that
//! contract (and at least [`HOT_CONFLICTS`]) is a *hot key*: an AMM pool's reserves, an
//! NFT collection's counter, a game match's turn. (For a block that Block-STM gave up
//! on, the count of its prefix is scaled to the whole block.) For the next blocks the
//! policy hands the hot keys to Block-STM ([`Choice::predicted`]), which treats every
//! undeclared call of the key's contract as a writer of the key from the time it is
//! claimed: a call that finds an earlier call's estimate there waits for it instead of
//! running on a value about to change. So the calls on a hot key mostly run one after
//! another in block order (a call claimed before its predecessor's estimate is in runs
//! optimistically, as before), while the block's other transactions run beside them.
//! While predicted, a key's tally also counts the calls that did write it, which
//! confirm it; a key whose count falls below the mark in a block that calls its
//! contract loses a block of trust, and after [`KEY_TRUST`] such blocks it is forgotten
//! (a wrong key, never written, goes that way).
//!
//! A block in which three in four of the transactions waited for a hot key's previous
//! caller ([`ExecStats::predicted_waits`]) ran as one chain, in block order, on workers
//! handing its keys to each other: no faster than the sequential engine, and slower by
//! Block-STM's bookkeeping (a chain of swaps on one AMM pool ran at about 0.8× the
//! sequential time, block after block). The history counts such a block as contended,
//! like one Block-STM gave up on: its contracts become hot and the next blocks run on the
//! sequential engine, with the same doubling checks.
//!
//! The prediction only chooses the engine, and every engine gives the same result:
//! whatever the history, a block's receipts, state and roots are those of the
//! sequential executor. The history depends on the blocks and on how their engines
//! ended (whether Block-STM gave up on a block depends on timing), so two runs of a
//! chain may choose engines differently, never with different results. It is small (a
//! fixed table, no allocation) and belongs to the caller, which keeps it from block to
//! block.

use heapless::Vec;

use crate::engine::{Choice, EngineKind, Reason};
use crate::exec::{ExecStats, HotKeys, HOT_KEYS};
use crate::tx::{Transaction, TxKind};
use crate::types::{Address, KeyKind};

/// Contracts the history remembers.
pub const HOT_CONTRACTS: usize = 8;
/// Contracts counted per block when the history learns from it (the first called).
const COUNTED: usize = 16;
/// Blocks a contract is trusted to be contended for after the first contended block.
pub const FIRST_TRUST: u16 = 4;
/// The most blocks a contract is trusted for before Block-STM checks it again.
pub const MAX_TRUST: u16 = 64;
/// A key's count in the conflict tally (conflicts, and confirming writes while it is
/// predicted), at the least, that makes it hot (see the module docs).
pub const HOT_CONFLICTS: u32 = 8;
/// Blocks calling its contract with too low a count at it that a hot key survives.
pub const KEY_TRUST: u32 = 4;

/// What the history made of one block (see [`History::learn`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Prediction {
    /// Predicted contended: the block ran on the sequential engine up front.
    Sequential,
    /// Predicted not contended, and Block-STM ran it without giving up.
    Hit,
    /// Predicted not contended, but Block-STM gave up on it as contended, or ran it as
    /// one chain (see the module docs).
    Miss,
}

/// Blocks of each [`Prediction`] so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Predictions {
    /// Sent to the sequential engine up front.
    pub sequential: u64,
    /// Run on Block-STM, which did not give up.
    pub hits: u64,
    /// Run on Block-STM, which gave up as contended or ran the block as one chain.
    pub misses: u64,
}

/// A hot contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Hot {
    contract: Address,
    /// Blocks still predicted contended on its word (0: the next one checks).
    trust: u16,
    /// The trust it gets if the check finds it contended again.
    next: u16,
}

/// The history: the hot contracts, and the predictions made (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct History {
    hot: Vec<Hot, HOT_CONTRACTS>,
    /// Hot keys, each with the blocks of trust it has left.
    keys: HotKeys,
    /// Predictions so far.
    pub predictions: Predictions,
}

impl History {
    /// An empty history: nothing is predicted contended.
    pub const fn new() -> Self {
        Self {
            hot: Vec::new(),
            keys: HotKeys::new(),
            predictions: Predictions { sequential: 0, hits: 0, misses: 0 },
        }
    }

    /// Whether `txs` should run on the sequential engine up front: half or more of them
    /// call contracts trusted to be contended.
    pub fn predicts_contended(&self, txs: &[Transaction]) -> bool {
        if txs.is_empty() || !self.hot.iter().any(|h| h.trust > 0) {
            return false;
        }
        let trusted = |to: &Address| self.hot.iter().any(|h| h.contract == *to && h.trust > 0);
        let calls = txs.iter().filter(|tx| callee(tx).is_some_and(trusted)).count();
        2 * calls >= txs.len()
    }

    /// The hot keys (see the module docs), for [`Choice::predicted`].
    pub fn hot_keys(&self) -> HotKeys {
        self.keys
    }

    /// Learns from block `txs`, which ended on `ran` (the choice that produced its
    /// result) with `stats`; returns what the prediction was worth, if the block ran on
    /// the sequential engine on the history's word or on Block-STM as the policy's
    /// choice for contract calls.
    pub fn learn(
        &mut self,
        txs: &[Transaction],
        ran: &Choice,
        stats: &ExecStats,
    ) -> Option<Prediction> {
        if matches!(ran.engine, EngineKind::BlockStm) || matches!(ran.reason, Reason::Contended) {
            self.learn_keys(txs, &stats.conflicts);
        }
        let main = main_contracts(txs);
        // A block run again for reading the beneficiary's balance counts as the run of
        // the policy's choice it is.
        let reason = match ran.reason {
            Reason::BeneficiaryRead => Reason::Contracts,
            r => r,
        };
        let contended = match (ran.engine, reason) {
            (EngineKind::Sequential, Reason::Contended) => true,
            (EngineKind::BlockStm, Reason::Contracts) => ran_as_chain(txs, stats),
            _ => false,
        };
        if contended {
            for &contract in &main {
                self.trust(contract);
            }
            self.predictions.misses += 1;
            return Some(Prediction::Miss);
        }
        let called = |h: &Hot| main.contains(&h.contract);
        match (ran.engine, reason) {
            (EngineKind::Sequential, Reason::Predicted) => {
                for h in self.hot.iter_mut().filter(|h| called(h)) {
                    h.trust = h.trust.saturating_sub(1);
                }
                self.predictions.sequential += 1;
                Some(Prediction::Sequential)
            }
            (EngineKind::BlockStm, Reason::Contracts) => {
                // Checked and found fine: forget the contracts it checked.
                self.hot.retain(|h| !(h.trust == 0 && called(h)));
                self.predictions.hits += 1;
                Some(Prediction::Hit)
            }
            _ => None,
        }
    }

    /// Learns hot keys from the conflicts of a block that Block-STM ran (to its end or
    /// until it gave up): see the module docs.
    fn learn_keys(&mut self, txs: &[Transaction], conflicts: &HotKeys) {
        if conflicts.is_empty() && self.keys.is_empty() {
            return;
        }
        // Calls per contract of a conflict key or a hot key.
        let mut contracts = [(Address(0), 0u32); 2 * HOT_KEYS];
        let mut len = 0;
        for (key, _) in conflicts.iter().chain(self.keys.iter()) {
            if key.kind == KeyKind::Storage && !contracts[..len].iter().any(|c| c.0 == key.addr) {
                contracts[len] = (key.addr, 0);
                len += 1;
            }
        }
        for to in txs.iter().filter_map(callee) {
            if let Some(c) = contracts[..len].iter_mut().find(|c| c.0 == *to) {
                c.1 += 1;
            }
        }
        let calls =
            |addr: Address| contracts[..len].iter().find(|c| c.0 == addr).map_or(0, |c| c.1);
        let hot = |key: &crate::types::StateKey, n: u32| {
            key.kind == KeyKind::Storage
                && n >= HOT_CONFLICTS
                && n.saturating_mul(8) >= calls(key.addr)
        };
        // Hot keys whose contract this block called with too low a count there (conflicts
        // and confirming writes) lose trust.
        self.keys.retain(|key, trust| {
            if !hot(&key, conflicts.count(&key)) && calls(key.addr) > 0 {
                *trust = trust.saturating_sub(1);
            }
            *trust > 0
        });
        for (key, n) in conflicts.iter() {
            if hot(&key, n) {
                self.keys.set(key, KEY_TRUST);
            }
        }
    }

    /// Marks `contract` hot after a contended block: trusted for [`FIRST_TRUST`] blocks,
    /// or for twice as long as the last time if it was hot already. A full table gives
    /// up its least trusted contract (the first of them).
    fn trust(&mut self, contract: Address) {
        if let Some(h) = self.hot.iter_mut().find(|h| h.contract == contract) {
            h.trust = h.next;
            h.next = (h.next * 2).min(MAX_TRUST);
            return;
        }
        let hot = Hot { contract, trust: FIRST_TRUST, next: (FIRST_TRUST * 2).min(MAX_TRUST) };
        if let Err(hot) = self.hot.push(hot) {
            let weakest = (0..self.hot.len()).min_by_key(|&i| self.hot[i].trust);
            if let Some(i) = weakest {
                self.hot[i] = hot;
            }
        }
    }
}

/// The contract `tx` calls, if it is a call.
fn callee<'t>(tx: &'t Transaction<'_>) -> Option<&'t Address> {
    match &tx.kind {
        TxKind::Call { to, .. } | TxKind::Delivered { to, .. } => Some(to),
        TxKind::Transfer { .. } => None,
    }
}

/// The contracts that a quarter or more of `txs` call (of the first [`COUNTED`] called).
fn main_contracts(txs: &[Transaction]) -> Vec<Address, COUNTED> {
    let mut counts: Vec<(Address, usize), COUNTED> = Vec::new();
    for to in txs.iter().filter_map(callee) {
        match counts.iter_mut().find(|(c, _)| c == to) {
            Some((_, n)) => *n += 1,
            None => {
                let _ = counts.push((*to, 1));
            }
        }
    }
    counts.iter().filter(|(_, n)| 4 * n >= txs.len()).map(|(c, _)| *c).collect()
}

/// Whether Block-STM ran `txs` as one chain: three in four of them waited for a hot
/// key's previous caller (see the module docs).
fn ran_as_chain(txs: &[Transaction], stats: &ExecStats) -> bool {
    !txs.is_empty() && stats.predicted_waits.saturating_mul(4) >= 3 * txs.len() as u64
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    fn calls(to: u64, n: usize) -> std::vec::Vec<Transaction<'static>> {
        (0..n)
            .map(|i| Transaction::call(Address(i as u64), 0, Address(to), 0, &[], 1000, 1).unwrap())
            .collect()
    }

    fn ran(engine: EngineKind, reason: Reason) -> Choice {
        Choice { engine, reason, ..Choice::default() }
    }

    #[test]
    fn a_contended_contract_is_trusted_then_checked_with_doubling_trust() {
        let mut h = History::new();
        let block = calls(7, 10);
        assert!(!h.predicts_contended(&block));
        let contended = ran(EngineKind::Sequential, Reason::Contended);
        let predicted = ran(EngineKind::Sequential, Reason::Predicted);
        assert_eq!(h.learn(&block, &contended, &ExecStats::default()), Some(Prediction::Miss));
        for trust in [FIRST_TRUST, 2 * FIRST_TRUST] {
            for _ in 0..trust {
                assert!(h.predicts_contended(&block));
                assert_eq!(
                    h.learn(&block, &predicted, &ExecStats::default()),
                    Some(Prediction::Sequential)
                );
            }
            // Trust spent: the next block checks on Block-STM, and is contended again.
            assert!(!h.predicts_contended(&block));
            assert_eq!(h.learn(&block, &contended, &ExecStats::default()), Some(Prediction::Miss));
        }
        assert_eq!(h.predictions, Predictions { sequential: 12, hits: 0, misses: 3 });
        // Other contracts' blocks are not predicted; a block half of whose calls go to
        // the hot contract is.
        assert!(!h.predicts_contended(&calls(8, 10)));
        let mut half = calls(8, 5);
        half.extend(calls(7, 5));
        assert!(h.predicts_contended(&half));
    }

    /// A block that Block-STM ran with three in four of its calls waiting for a hot key
    /// ran as one chain: contended, like a block it gave up on; fewer waits are fine.
    #[test]
    fn a_block_run_as_one_chain_is_contended() {
        let mut h = History::new();
        let block = calls(7, 12);
        let checked = ran(EngineKind::BlockStm, Reason::Contracts);
        let waits = |n| ExecStats { predicted_waits: n, ..ExecStats::default() };
        assert_eq!(h.learn(&block, &checked, &waits(8)), Some(Prediction::Hit));
        assert!(!h.predicts_contended(&block));
        assert_eq!(h.learn(&block, &checked, &waits(9)), Some(Prediction::Miss));
        assert!(h.predicts_contended(&block));
        assert_eq!(h.predictions, Predictions { sequential: 0, hits: 1, misses: 1 });
        // The empty block is no chain.
        assert_eq!(h.learn(&[], &checked, &waits(0)), Some(Prediction::Hit));
        // Nor does a block run again for reading the beneficiary's balance differ.
        let reran = ran(EngineKind::BlockStm, Reason::BeneficiaryRead);
        assert_eq!(h.learn(&block, &reran, &waits(9)), Some(Prediction::Miss));
        assert_eq!(h.learn(&[], &reran, &waits(0)), Some(Prediction::Hit));
    }

    #[test]
    fn a_contract_found_fine_again_is_forgotten() {
        let mut h = History::new();
        let block = calls(7, 10);
        h.learn(&block, &ran(EngineKind::Sequential, Reason::Contended), &ExecStats::default());
        for _ in 0..FIRST_TRUST {
            h.learn(&block, &ran(EngineKind::Sequential, Reason::Predicted), &ExecStats::default());
        }
        assert_eq!(
            h.learn(&block, &ran(EngineKind::BlockStm, Reason::Contracts), &ExecStats::default()),
            Some(Prediction::Hit)
        );
        assert!(h.hot.is_empty());
        // Blocks the policy sent elsewhere teach nothing.
        assert_eq!(
            h.learn(
                &block,
                &ran(EngineKind::Footprint, Reason::KnownFootprints),
                &ExecStats::default()
            ),
            None
        );
    }

    #[test]
    fn hot_keys_come_from_conflicts_and_go_when_calls_stop_conflicting() {
        use crate::types::StateKey;
        let mut h = History::new();
        let block = calls(7, 100);
        let stm = ran(EngineKind::BlockStm, Reason::Contracts);
        let reserve = StateKey::storage(Address(7), 0);
        let with = |pairs: &[(StateKey, u32)]| {
            let mut stats = ExecStats::default();
            pairs.iter().for_each(|&(k, n)| stats.conflicts.add(k, n));
            stats
        };
        // Too few conflicts for the contract's hundred calls (fewer than one in eight),
        // too few in all, or not a storage word: nothing is learnt.
        let other = StateKey::storage(Address(9), 0);
        let balance = StateKey::balance(Address(7));
        h.learn(&block, &stm, &with(&[(reserve, 12), (other, 7), (balance, 90)]));
        assert!(h.hot_keys().is_empty());
        // One conflict in eight calls at the pool's reserve: hot, for KEY_TRUST blocks.
        h.learn(&block, &stm, &with(&[(reserve, 13)]));
        assert!(h.hot_keys().iter().eq([(reserve, KEY_TRUST)]));
        // Blocks that do not call the contract leave it be; blocks that call it without
        // conflicting there spend its trust, and the last one forgets it.
        h.learn(&calls(8, 100), &stm, &ExecStats::default());
        for left in (0..KEY_TRUST).rev() {
            assert_eq!(h.hot_keys().iter().count(), 1);
            h.learn(&block, &stm, &ExecStats::default());
            assert_eq!(h.hot_keys().iter().map(|e| e.1).sum::<u32>(), left);
        }
        assert!(h.hot_keys().is_empty());
        // A contended block (Block-STM gave up) teaches its conflicts too; other engines'
        // blocks do not.
        let footprint = ran(EngineKind::Footprint, Reason::KnownFootprints);
        h.learn(&block, &footprint, &with(&[(reserve, 50)]));
        assert!(h.hot_keys().is_empty());
        h.learn(&block, &ran(EngineKind::Sequential, Reason::Contended), &with(&[(reserve, 50)]));
        assert!(h.hot_keys().iter().any(|(k, _)| k.addr == Address(7)));
    }

    #[test]
    fn a_full_table_gives_up_its_least_trusted_contract() {
        let mut h = History::new();
        for c in 0..HOT_CONTRACTS as u64 + 1 {
            h.learn(
                &calls(c, 4),
                &ran(EngineKind::Sequential, Reason::Contended),
                &ExecStats::default(),
            );
            if c == 0 {
                h.learn(
                    &calls(0, 4),
                    &ran(EngineKind::Sequential, Reason::Predicted),
                    &ExecStats::default(),
                );
            }
        }
        assert_eq!(h.hot.len(), HOT_CONTRACTS);
        assert!(h.hot.iter().all(|x| x.contract != Address(0)), "the least trusted went");
        assert!(h.predicts_contended(&calls(HOT_CONTRACTS as u64, 4)));
    }
}
