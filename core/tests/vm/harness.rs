//! The harness: [`MapHost`], the call environment, assembling and running programs,
//! gas of straight-line code, and the assertions every suite uses.

use std::collections::BTreeMap;

use parex_core::hash::keccak256;
use parex_core::receipt::Status;
use parex_core::vm::asm::Asm;
use parex_core::vm::{self, CallEnv, Exit, Host, Op, VmOutcome, VmScratch};
use parex_core::{Address, StateKey};

pub(crate) const CALLER: Address = Address(0xCA11);
pub(crate) const CONTRACT: Address = Address(0xC0DE);
pub(crate) const OTHER: Address = Address(0xAAAA);
pub(crate) const VALUE: u64 = 77;
pub(crate) const ARGS: [u64; 3] = [10, 20, 30];
pub(crate) const NUMBER: u64 = 42;
pub(crate) const MAX_LOGS: u32 = 2;
pub(crate) const CONTRACT_BALANCE: u64 = 1000;
pub(crate) const OTHER_BALANCE: u64 = 555;
pub(crate) const SLOT: u64 = 5;
pub(crate) const SLOT_VALUE: u64 = 99;
/// Plenty for every program here.
pub(crate) const GAS: u64 = 1_000_000;

/// State words in a map; a key can be made to fail with an [`Exit`].
#[derive(Default)]
pub(crate) struct MapHost {
    pub(crate) words: BTreeMap<StateKey, u64>,
    pub(crate) fail: Option<(StateKey, Exit)>,
}

impl MapHost {
    pub(crate) fn new() -> Self {
        let mut h = Self::default();
        h.words.insert(StateKey::balance(CONTRACT), CONTRACT_BALANCE);
        h.words.insert(StateKey::balance(OTHER), OTHER_BALANCE);
        h.words.insert(StateKey::storage(CONTRACT, SLOT), SLOT_VALUE);
        h
    }

    pub(crate) fn get(&self, key: &StateKey) -> u64 {
        self.words.get(key).copied().unwrap_or(0)
    }

    fn check(&self, key: &StateKey) -> Result<(), Exit> {
        match self.fail {
            Some((k, e)) if k == *key => Err(e),
            _ => Ok(()),
        }
    }
}

impl Host for MapHost {
    fn load(&mut self, key: &StateKey) -> Result<u64, Exit> {
        self.check(key)?;
        Ok(self.get(key))
    }
    fn store(&mut self, key: &StateKey, value: u64) -> Result<(), Exit> {
        self.check(key)?;
        self.words.insert(*key, value);
        Ok(())
    }
    fn add(&mut self, key: &StateKey, delta: u64) -> Result<(), Exit> {
        self.check(key)?;
        let v = self.get(key).wrapping_add(delta);
        self.words.insert(*key, v);
        Ok(())
    }
}

pub(crate) fn env() -> CallEnv<'static> {
    CallEnv {
        caller: CALLER,
        address: CONTRACT,
        value: VALUE,
        args: &ARGS,
        number: NUMBER,
        max_logs: MAX_LOGS,
        shard: parex_core::Shard::WHOLE,
    }
}

/// Assembles a program.
pub(crate) fn asm(f: impl FnOnce(&mut Asm<'_>)) -> Vec<u8> {
    let mut buf = [0u8; 2048];
    let mut a = Asm::new(&mut buf);
    f(&mut a);
    let len = a.finish().expect("test program assembles");
    buf[..len].to_vec()
}

/// Runs `code` with a fresh host, 256 stack words and 256 bytes of memory.
pub(crate) fn run(code: &[u8], gas: u64) -> VmOutcome {
    run_with(code, gas, &mut MapHost::new(), 256, 256)
}

pub(crate) fn run_with(
    code: &[u8],
    gas: u64,
    host: &mut MapHost,
    stack: usize,
    memory: usize,
) -> VmOutcome {
    let mut st = vec![0u64; stack];
    let mut mem = vec![0u8; memory];
    let mut scratch = VmScratch { stack: &mut st, memory: &mut mem };
    vm::run(code, &env(), host, gas, &mut scratch).expect("the map host never interrupts")
}

/// Gas of the instructions `code` executes when it runs straight through (no jumps),
/// stopping after `RETURN`/`REVERT`/`STOP` or at the end. KECCAK's per-word cost is not
/// included.
pub(crate) fn linear_gas(code: &[u8]) -> u64 {
    let mut pc = 0;
    let mut gas = 0;
    while pc < code.len() {
        let op = Op::from_u8(code[pc]).expect("valid opcode");
        gas += op.gas();
        if matches!(op, Op::Return | Op::Revert | Op::Stop) {
            break;
        }
        pc += 1 + op.immediate_len();
    }
    gas
}

pub(crate) fn gas_of(ops: &[Op]) -> u64 {
    ops.iter().map(|o| o.gas()).sum()
}

#[track_caller]
pub(crate) fn assert_fault(out: VmOutcome, status: Status, gas: u64) {
    assert_eq!(out.status, status, "{out:?}");
    assert_eq!(out.gas_used, gas, "a fault consumes all gas: {out:?}");
    assert_eq!(out.output, 0);
    assert_eq!(out.logs, 0);
    assert_eq!(out.logs_digest, [0; 32]);
}

#[track_caller]
pub(crate) fn assert_returns(code: &[u8], output: u64) -> VmOutcome {
    let out = run(code, GAS);
    assert_eq!(out.status, Status::Success, "{out:?}");
    assert_eq!(out.output, output, "{out:?}");
    out
}

pub(crate) fn log_digest(entries: &[(Address, u64, u64)]) -> [u8; 32] {
    let mut m = Vec::new();
    for (a, t, d) in entries {
        m.extend_from_slice(&a.0.to_le_bytes());
        m.extend_from_slice(&t.to_le_bytes());
        m.extend_from_slice(&d.to_le_bytes());
    }
    keccak256(&m)
}
