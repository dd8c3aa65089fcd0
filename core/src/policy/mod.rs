//! The engine policy: which engine runs a block, and what runs it when that engine gives
//! up; and [`run_block`], which drives the engine protocol ([`crate::engine`]) with it.

mod predict;
mod run;

pub use predict::{
    History, Prediction, Predictions, FIRST_TRUST, HOT_CONFLICTS, HOT_CONTRACTS, KEY_TRUST,
    MAX_TRUST,
};
pub use run::{run_block, Memory, Workers};

use crate::engine::{Choice, Credits, EngineKind, KeyTable, Reason, Survey};
use crate::error::BlockError;
use crate::exec::HotKeys;
use crate::parallel::footprint::{width, SERIAL_RATIO};
use crate::tx::{Transaction, TxKind};
use crate::types::StateKey;

/// What the caller asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Mode {
    /// The sequential engine.
    Sequential,
    /// The policy's choice, on this many workers: a block of native transfers goes to
    /// the footprint engine, any other block to Block-STM, a block that looks like a
    /// chain of dependencies to the sequential engine; an engine that gives up hands the
    /// block to the next (footprint → Block-STM → sequential). On one worker (or 0),
    /// every block goes to the sequential engine ([`Reason::OneWorker`]).
    Parallel(usize),
    /// Block-STM on this many workers through its scheduler (even one), with its
    /// contention fallback off and no other engine after it: every block runs through
    /// speculation and validation however contended, or fails (the differential tests).
    BlockStm(usize),
    /// Block-STM in its one-worker form (`BlockStm::run_alone`), no fallback.
    BlockStmAlone,
    /// The footprint engine on this many workers, no contention check, no fallback
    /// (native transfers and declared calls only).
    Footprint(usize),
}

impl Mode {
    /// Workers the mode runs a block on (the sequential engine and the one-worker form:
    /// one).
    pub fn workers(self) -> usize {
        match self {
            Self::Sequential | Self::BlockStmAlone => 1,
            Self::Parallel(n) | Self::BlockStm(n) | Self::Footprint(n) => n.max(1),
        }
    }
}

/// The engine policy for one mode (see [`Mode`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// What the caller asked for.
    pub mode: Mode,
    /// The caller can give the footprint engine memory ([`super::Memory::footprint`]).
    pub footprint_memory: bool,
    /// The caller's [`History`] predicts the block contended
    /// ([`History::predicts_contended`]): under [`Mode::Parallel`], a block of contract
    /// calls runs on the sequential engine up front ([`Reason::Predicted`]).
    pub predicted_contended: bool,
    /// Hot keys for the Block-STM choices ([`Choice::predicted`]): under
    /// [`Mode::Parallel`], the caller's [`History`]'s ([`History::hot_keys`]); a caller
    /// may set any (tests do, under [`Mode::BlockStm`]). They never change a result.
    pub predicted: HotKeys,
    /// The caller's [`Survey`] of the block, if it made one: [`Policy::choose`] then
    /// takes the block's footprint width from it instead of reading every transaction
    /// again. Used only for a block of its length; a survey of other transactions can
    /// only make the footprint engine give up (see [`Survey`]).
    pub survey: Option<Survey>,
}

impl Policy {
    /// The policy for `mode`, with footprint memory, without a prediction.
    pub const fn new(mode: Mode) -> Self {
        Self {
            mode,
            footprint_memory: true,
            predicted_contended: false,
            predicted: HotKeys::new(),
            survey: None,
        }
    }

    /// The policy for `mode` and the block `txs`, with what `history` predicts of it
    /// (under [`Mode::Parallel`] only).
    pub fn predicting(mode: Mode, history: Option<&History>, txs: &[Transaction]) -> Self {
        let history = history.filter(|_| matches!(mode, Mode::Parallel(_)));
        Self {
            predicted_contended: history.is_some_and(|h| h.predicts_contended(txs)),
            predicted: history.map_or(HotKeys::new(), History::hot_keys),
            ..Self::new(mode)
        }
    }

    /// The first engine for `txs`.
    pub fn choose(&self, txs: &[Transaction]) -> Choice {
        let workers = self.mode.workers();
        let base = Choice { workers, ..Choice::default() };
        let on = |engine, reason| Choice { engine, reason, ..base };
        match self.mode {
            Mode::Sequential => on(EngineKind::Sequential, Reason::Requested),
            Mode::BlockStm(_) => {
                Choice { predicted: self.predicted, ..on(EngineKind::BlockStm, Reason::Requested) }
            }
            Mode::BlockStmAlone => {
                Choice { alone: true, ..on(EngineKind::BlockStm, Reason::Requested) }
            }
            Mode::Footprint(_) => Choice {
                width: self.width(txs).unwrap_or(0),
                ..on(EngineKind::Footprint, Reason::Requested)
            },
            Mode::Parallel(n) if n <= 1 => on(EngineKind::Sequential, Reason::OneWorker),
            Mode::Parallel(_) => {
                let stm = |reason| Choice {
                    contention_fallback: true,
                    predicted: self.predicted,
                    ..on(EngineKind::BlockStm, reason)
                };
                match self.width(txs) {
                    None if self.predicted_contended => {
                        on(EngineKind::Sequential, Reason::Predicted)
                    }
                    None => stm(Reason::Contracts),
                    Some(_) if looks_contended(txs) => {
                        on(EngineKind::Sequential, Reason::LooksContended)
                    }
                    Some(_) if !self.footprint_memory => stm(Reason::NoFootprintMemory),
                    Some(width) => {
                        Choice { width, ..on(EngineKind::Footprint, Reason::KnownFootprints) }
                    }
                }
            }
        }
    }

    /// The block's footprint width: the survey's, or a pass over `txs`.
    fn width(&self, txs: &[Transaction]) -> Option<usize> {
        match self.survey {
            Some(survey) if survey.txs == txs.len() => survey.width,
            _ => width(txs),
        }
    }

    /// What runs the block after `failed` ended with `error`; `None`: the error is the
    /// block's. Decided by the error's variant alone.
    pub fn after(&self, failed: &Choice, error: &BlockError) -> Option<Choice> {
        if let (EngineKind::BlockStm, BlockError::MvFull { .. }, KeyTable::Typical) =
            (failed.engine, error, failed.keys)
        {
            return Some(Choice { keys: KeyTable::Full, reason: Reason::KeyTableFull, ..*failed });
        }
        if let (EngineKind::BlockStm, BlockError::BeneficiaryRead, Credits::Pooled) =
            (failed.engine, error, failed.credits)
        {
            let versioned = Choice { credits: Credits::Versioned, ..*failed };
            return Some(Choice { reason: Reason::BeneficiaryRead, ..versioned });
        }
        if !matches!(self.mode, Mode::Parallel(_)) {
            return None;
        }
        // Bad worker memory fails every engine alike.
        if *error == BlockError::BadScratch {
            return None;
        }
        let sequential = Choice {
            engine: EngineKind::Sequential,
            workers: 1,
            contention_fallback: false,
            alone: false,
            ..*failed
        };
        match failed.engine {
            EngineKind::Sequential => None,
            EngineKind::Footprint => Some(Choice {
                engine: EngineKind::BlockStm,
                reason: Reason::FootprintFailed,
                contention_fallback: true,
                predicted: self.predicted,
                alone: failed.workers == 1,
                ..*failed
            }),
            EngineKind::BlockStm => Some(Choice {
                reason: match error {
                    BlockError::Contended { .. } => Reason::Contended,
                    _ => Reason::BlockStmFailed,
                },
                ..sequential
            }),
        }
    }
}

/// True when every transaction's footprint is known before execution
/// ([`Transaction::has_footprint`]: a native transfer, or a call that declares its
/// access list), so the footprint engine can run the block.
pub fn plannable(txs: &[Transaction]) -> bool {
    width(txs).is_some()
}

/// Transactions [`looks_contended`] samples.
pub const CONTENTION_SAMPLE: usize = 256;

/// Lanes the contention look deals the sample to (see [`looks_contended`]).
const LOOK_LANES: u64 = 2;
/// Sampled transactions from which [`looks_contended`] judges the lanes' balance.
pub const BALANCE_SAMPLE: usize = 16;

/// True when the block looks like a chain of dependencies that workers would mostly wait
/// on each other to run, judged from a sample: its first [`CONTENTION_SAMPLE`]
/// transactions, or fewer when their keys would pass [`CONTENTION_SAMPLE`].
///
/// The look follows the footprint engine (see `parallel/footprint/lanes.rs`): each
/// sampled transaction goes to one of two lanes by the key of its footprint that the
/// sample touches most (a transaction runs after its lane's earlier ones, without
/// waiting); a transaction that touches a key an earlier one of the other lane touched
/// (and some transaction reads and some writes: the sender's balance, a declared key
/// not declared read-only by all, a recipient that also sends) would wait. The block looks contended when one sampled transaction in
/// [`SERIAL_RATIO`] would wait, or when one lane holds three in four of them by their
/// shared keys (in a sample of at least [`BALANCE_SAMPLE`]). So
/// transfers among a few accounts, or calls that all touch one pool, look contended;
/// many calls on a few dozen contracts (each contract's calls in one lane) do not.
pub fn looks_contended(txs: &[Transaction]) -> bool {
    /// A key's slot in the sample's table: its hash (0: empty), how many sampled
    /// transactions touch it, whether one reads it, and the lane of its last toucher.
    #[derive(Clone, Copy, Default)]
    struct Seen {
        hash: u64,
        touches: u16,
        read: bool,
        written: bool,
        lane: Option<u8>,
    }
    // An open-addressing table twice as long as the keys it takes, so probes stay
    // short: far less code than sorting on an appliance. A hash of 0 is stored as 1.
    const SLOTS: usize = 2 * CONTENTION_SAMPLE;
    let mut seen = [Seen::default(); SLOTS];
    let slot = |seen: &[Seen; SLOTS], hash: u64| {
        let mut at = hash as usize % SLOTS;
        while seen[at].hash != 0 && seen[at].hash != hash {
            at = (at + 1) % SLOTS;
        }
        at
    };
    // The keys a transaction's footprint touches, with whether it reads and may write
    // them: the sender's balance (standing for its nonce too), then a transfer's
    // recipient balance (added to) or a declared call's keys (read, and written unless
    // declared read-only).
    let keys = |tx: &Transaction, f: &mut dyn FnMut(StateKey, bool, bool)| {
        f(StateKey::balance(tx.from), true, true);
        match (&tx.kind, &tx.access) {
            (TxKind::Transfer { to, .. }, _) => f(StateKey::balance(*to), false, true),
            (TxKind::Call { .. }, Some(list)) => {
                list.iter().for_each(|a| f(a.key(), true, a.write));
            }
            (TxKind::Call { .. }, None) | (TxKind::Delivered { .. }, _) => {}
        }
    };
    // First pass: the sample, and each key's touches.
    let mut sampled = 0;
    let mut taken = 0;
    for tx in txs.iter().take(CONTENTION_SAMPLE) {
        let more = match (&tx.kind, &tx.access) {
            (TxKind::Call { .. }, Some(list)) => list.len(),
            _ => 1,
        };
        taken += 1 + more;
        if taken > CONTENTION_SAMPLE {
            break;
        }
        keys(tx, &mut |key, read, write| {
            let hash = key.table_hash().max(1);
            let at = slot(&seen, hash);
            let s = &mut seen[at];
            s.hash = hash;
            s.touches += 1;
            s.read |= read;
            s.written |= write;
        });
        sampled += 1;
    }
    // Second pass: lanes, and the transactions that would wait.
    let (mut waits, mut loads) = (0, [0usize; LOOK_LANES as usize]);
    for tx in &txs[..sampled] {
        // The most touched key that some transaction reads and some writes (the first on
        // ties): a chain.
        let (mut best, mut hot) = (0, 0);
        keys(tx, &mut |key, _, _| {
            let s = seen[slot(&seen, key.table_hash().max(1))];
            if s.read && s.written && s.touches > best {
                (best, hot) = (s.touches, s.hash);
            }
        });
        let lane = (hot >> 32) % LOOK_LANES;
        // Transactions grouped by a shared key: those that can unbalance the lanes.
        loads[lane as usize] += (best > 1) as usize;
        let mut waiting = false;
        keys(tx, &mut |key, _, _| {
            let at = slot(&seen, key.table_hash().max(1));
            let s = &mut seen[at];
            waiting |= s.read && s.written && s.lane.is_some_and(|l| u64::from(l) != lane);
            s.lane = Some(lane as u8);
        });
        waits += waiting as usize;
    }
    let busiest = loads.iter().copied().max().unwrap_or(0);
    let unbalanced = sampled >= BALANCE_SAMPLE && 4 * busiest >= 3 * sampled;
    sampled > 0 && (waits * SERIAL_RATIO >= sampled || unbalanced)
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::types::Address;

    /// Transfers go to the footprint engine on two workers, contract calls without lists
    /// to Block-STM; on one worker, both go to the sequential engine.
    #[test]
    fn one_worker_runs_every_block_sequentially() {
        let transfers: std::vec::Vec<Transaction<'static>> = (0..64u64)
            .map(|i| Transaction::transfer(Address(i), 0, Address(1000 + i), 1, 21_000, 1))
            .collect();
        let calls: std::vec::Vec<Transaction<'static>> = (0..64u64)
            .map(|i| {
                Transaction::call(Address(i), 0, Address(5000 + i), 0, &[], 100_000, 1).unwrap()
            })
            .collect();
        let choose =
            |workers, txs: &[Transaction]| Policy::new(Mode::Parallel(workers)).choose(txs);
        let two = choose(2, &transfers);
        assert_eq!((two.engine, two.reason), (EngineKind::Footprint, Reason::KnownFootprints));
        let one = choose(1, &transfers);
        assert_eq!((one.engine, one.reason), (EngineKind::Sequential, Reason::OneWorker));
        assert!(!one.reason.fell_back());
        let stm = choose(2, &calls);
        assert_eq!((stm.engine, stm.reason), (EngineKind::BlockStm, Reason::Contracts));
        let one = choose(1, &calls);
        assert_eq!((one.engine, one.reason), (EngineKind::Sequential, Reason::OneWorker));
        assert_eq!(choose(0, &calls).engine, EngineKind::Sequential);
    }
}
