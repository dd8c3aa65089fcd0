//! The VM opcode by opcode and fault by fault, the assembler, and a fuzz run.
//!
//! Every program runs through [`vm::run`] against [`MapHost`], a `BTreeMap` of state
//! words. Gas expectations are computed from [`Op::gas`] over the instructions a program
//! executes, so a changed cost table shows up here as a failure naming the opcode.

use std::collections::BTreeMap;

use parex_core::hash::keccak256;
use parex_core::receipt::Status;
use parex_core::vm::asm::{Asm, AsmError, MAX_FIXUPS, MAX_LABELS};
use parex_core::vm::opcode::GAS_KECCAK_WORD;
use parex_core::vm::{
    self, hash2, prefix_u64, CallEnv, Exit, Host, Interrupt, Op, VmOutcome, VmScratch,
};
use parex_core::{Address, StateKey};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

// ---------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------

const CALLER: Address = Address(0xCA11);
const CONTRACT: Address = Address(0xC0DE);
const OTHER: Address = Address(0xAAAA);
const VALUE: u64 = 77;
const ARGS: [u64; 3] = [10, 20, 30];
const NUMBER: u64 = 42;
const MAX_LOGS: u32 = 2;
const CONTRACT_BALANCE: u64 = 1000;
const OTHER_BALANCE: u64 = 555;
const SLOT: u64 = 5;
const SLOT_VALUE: u64 = 99;
/// Plenty for every program here.
const GAS: u64 = 1_000_000;

/// State words in a map; a key can be made to fail with an [`Exit`].
#[derive(Default)]
struct MapHost {
    words: BTreeMap<StateKey, u64>,
    fail: Option<(StateKey, Exit)>,
}

impl MapHost {
    fn new() -> Self {
        let mut h = Self::default();
        h.words.insert(StateKey::balance(CONTRACT), CONTRACT_BALANCE);
        h.words.insert(StateKey::balance(OTHER), OTHER_BALANCE);
        h.words.insert(StateKey::storage(CONTRACT, SLOT), SLOT_VALUE);
        h
    }

    fn get(&self, key: &StateKey) -> u64 {
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

fn env() -> CallEnv<'static> {
    CallEnv {
        caller: CALLER,
        address: CONTRACT,
        value: VALUE,
        args: &ARGS,
        number: NUMBER,
        max_logs: MAX_LOGS,
    }
}

/// Assembles a program.
fn asm(f: impl FnOnce(&mut Asm<'_>)) -> Vec<u8> {
    let mut buf = [0u8; 2048];
    let mut a = Asm::new(&mut buf);
    f(&mut a);
    let len = a.finish().expect("test program assembles");
    buf[..len].to_vec()
}

/// Runs `code` with a fresh host, 256 stack words and 256 bytes of memory.
fn run(code: &[u8], gas: u64) -> VmOutcome {
    run_with(code, gas, &mut MapHost::new(), 256, 256)
}

fn run_with(code: &[u8], gas: u64, host: &mut MapHost, stack: usize, memory: usize) -> VmOutcome {
    let mut st = vec![0u64; stack];
    let mut mem = vec![0u8; memory];
    let mut scratch = VmScratch { stack: &mut st, memory: &mut mem };
    vm::run(code, &env(), host, gas, &mut scratch).expect("the map host never interrupts")
}

/// Gas of the instructions `code` executes when it runs straight through (no jumps),
/// stopping after `RETURN`/`REVERT`/`STOP` or at the end. KECCAK's per-word cost is not
/// included.
fn linear_gas(code: &[u8]) -> u64 {
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

fn gas_of(ops: &[Op]) -> u64 {
    ops.iter().map(|o| o.gas()).sum()
}

#[track_caller]
fn assert_fault(out: VmOutcome, status: Status, gas: u64) {
    assert_eq!(out.status, status, "{out:?}");
    assert_eq!(out.gas_used, gas, "a fault consumes all gas: {out:?}");
    assert_eq!(out.output, 0);
    assert_eq!(out.logs, 0);
    assert_eq!(out.logs_digest, [0; 32]);
}

#[track_caller]
fn assert_returns(code: &[u8], output: u64) -> VmOutcome {
    let out = run(code, GAS);
    assert_eq!(out.status, Status::Success, "{out:?}");
    assert_eq!(out.output, output, "{out:?}");
    out
}

fn log_digest(entries: &[(Address, u64, u64)]) -> [u8; 32] {
    let mut m = Vec::new();
    for (a, t, d) in entries {
        m.extend_from_slice(&a.0.to_le_bytes());
        m.extend_from_slice(&t.to_le_bytes());
        m.extend_from_slice(&d.to_le_bytes());
    }
    keccak256(&m)
}

// ---------------------------------------------------------------------------------------
// Every opcode
// ---------------------------------------------------------------------------------------

/// One successful program per opcode: `(code, output, gas_used)`. The match is
/// exhaustive, so a new opcode does not compile here until it has a case.
fn case(op: Op) -> (Vec<u8>, u64, u64) {
    // Binary operation `a op b`, returned.
    let bin = |a: u64, b: u64, op: Op| {
        asm(|x| {
            x.push(a).push(b).op(op).op(Op::Return);
        })
    };
    let lin = |code: Vec<u8>, out: u64| {
        let g = linear_gas(&code);
        (code, out, g)
    };
    match op {
        Op::Stop => {
            // Code after STOP (an undefined byte) is never reached.
            let mut code = asm(|a| {
                a.push(5).op(Op::Stop);
            });
            code.push(0xff);
            (code, 0, gas_of(&[Op::Push1, Op::Stop]))
        }
        Op::Push1 => lin(
            asm(|a| {
                a.push(0xab).op(Op::Return);
            }),
            0xab,
        ),
        Op::Push8 => lin(
            asm(|a| {
                a.push(0x0102_0304_0506_0708).op(Op::Return);
            }),
            0x0102_0304_0506_0708,
        ),
        Op::Pop => lin(
            asm(|a| {
                a.push(1).push(2).op(Op::Pop).op(Op::Return);
            }),
            1,
        ),
        Op::Dup => lin(
            asm(|a| {
                a.push(1).push(2).push(3).dup(2).op(Op::Return);
            }),
            1,
        ),
        Op::Swap => {
            // [1, 2, 3] -> [3, 2, 1]: return the new top, after checking the old top
            // moved down by popping twice.
            let code = asm(|a| {
                a.push(1).push(2).push(3).swap(2); // [3, 2, 1]
                a.op(Op::Pop).op(Op::Pop).op(Op::Return); // 3
            });
            lin(code, 3)
        }
        Op::JumpDest => lin(
            asm(|a| {
                a.push(5).op(Op::JumpDest).op(Op::Return);
            }),
            5,
        ),
        Op::Jump => {
            let code = asm(|a| {
                let l = a.label();
                a.jump(l).push(99).op(Op::Return);
                a.bind(l).push(7).op(Op::Return);
            });
            (code, 7, gas_of(&[Op::Push8, Op::Jump, Op::JumpDest, Op::Push1, Op::Return]))
        }
        Op::JumpI => {
            // Not taken (cond 0), then taken (cond 1).
            let code = asm(|a| {
                let (l, m) = (a.label(), a.label());
                a.push(0).jump_if(l).push(1).jump_if(m).push(99).op(Op::Return);
                a.bind(l).push(98).op(Op::Return);
                a.bind(m).push(7).op(Op::Return);
            });
            let ops = [Op::Push1, Op::Push8, Op::JumpI, Op::Push1, Op::Push8, Op::JumpI];
            (code, 7, gas_of(&ops) + gas_of(&[Op::JumpDest, Op::Push1, Op::Return]))
        }
        Op::Return => lin(
            asm(|a| {
                a.push(9).op(Op::Return);
            }),
            9,
        ),
        Op::Revert => {
            // Tested as a successful *case* in `revert_keeps_output_and_gas_so_far`; here
            // a REVERT that is jumped over.
            let code = asm(|a| {
                let l = a.label();
                a.jump(l).push(1).op(Op::Revert);
                a.bind(l).push(3).op(Op::Return);
            });
            (code, 3, gas_of(&[Op::Push8, Op::Jump, Op::JumpDest, Op::Push1, Op::Return]))
        }
        Op::Add => lin(bin(u64::MAX, 2, Op::Add), 1),
        Op::Sub => lin(bin(1, 2, Op::Sub), u64::MAX),
        Op::Mul => lin(bin(1 << 63, 6, Op::Mul), 0),
        Op::Div => lin(bin(7, 2, Op::Div), 3),
        Op::Mod => lin(bin(7, 3, Op::Mod), 1),
        Op::AddC => lin(bin(u64::MAX - 2, 2, Op::AddC), u64::MAX),
        Op::SubC => lin(bin(5, 5, Op::SubC), 0),
        Op::MulC => lin(bin(u32::MAX as u64, u32::MAX as u64 + 2, Op::MulC), u64::MAX),
        Op::MulDiv => {
            // The product needs 128 bits.
            let code = asm(|a| {
                a.push(u64::MAX).push(u64::MAX - 1).push(u64::MAX).op(op).op(Op::Return);
            });
            lin(code, u64::MAX - 1)
        }
        Op::Lt => lin(bin(1, 2, Op::Lt), 1),
        Op::Gt => lin(bin(1, 2, Op::Gt), 0),
        Op::Eq => lin(bin(u64::MAX, u64::MAX, Op::Eq), 1),
        Op::IsZero => lin(
            asm(|a| {
                a.push(0).op(Op::IsZero).op(Op::Return);
            }),
            1,
        ),
        Op::And => lin(bin(0b1100, 0b1010, Op::And), 0b1000),
        Op::Or => lin(bin(0b1100, 0b1010, Op::Or), 0b1110),
        Op::Xor => lin(bin(0b1100, 0b1010, Op::Xor), 0b0110),
        Op::Not => lin(
            asm(|a| {
                a.push(0xff).op(Op::Not).op(Op::Return);
            }),
            !0xffu64,
        ),
        Op::Shl => lin(bin(3, 62, Op::Shl), 3 << 62),
        Op::Shr => lin(bin(u64::MAX, 60, Op::Shr), 15),
        Op::Caller => lin(
            asm(|a| {
                a.op(Op::Caller).op(Op::Return);
            }),
            CALLER.0,
        ),
        Op::Address => lin(
            asm(|a| {
                a.op(Op::Address).op(Op::Return);
            }),
            CONTRACT.0,
        ),
        Op::CallValue => lin(
            asm(|a| {
                a.op(Op::CallValue).op(Op::Return);
            }),
            VALUE,
        ),
        Op::Arg => lin(
            asm(|a| {
                a.arg(1).op(Op::Return);
            }),
            ARGS[1],
        ),
        Op::ArgC => lin(
            asm(|a| {
                a.op(Op::ArgC).op(Op::Return);
            }),
            ARGS.len() as u64,
        ),
        // GAS pushes what is left after its own cost.
        Op::Gas => lin(
            asm(|a| {
                a.op(Op::Gas).op(Op::Return);
            }),
            GAS - Op::Gas.gas(),
        ),
        Op::Balance => lin(
            asm(|a| {
                a.push(OTHER.0).op(Op::Balance).op(Op::Return);
            }),
            OTHER_BALANCE,
        ),
        Op::SelfBalance => lin(
            asm(|a| {
                a.op(Op::SelfBalance).op(Op::Return);
            }),
            CONTRACT_BALANCE,
        ),
        Op::Number => lin(
            asm(|a| {
                a.op(Op::Number).op(Op::Return);
            }),
            NUMBER,
        ),
        Op::SLoad => lin(
            asm(|a| {
                a.push(SLOT).op(Op::SLoad).op(Op::Return);
            }),
            SLOT_VALUE,
        ),
        Op::SStore => {
            let code = asm(|a| {
                a.push(6).push(123).op(Op::SStore).push(6).op(Op::SLoad).op(Op::Return);
            });
            lin(code, 123)
        }
        Op::SAdd => {
            let code = asm(|a| {
                a.push(SLOT).push(u64::MAX).op(Op::SAdd); // wraps: 99 - 1
                a.push(SLOT).op(Op::SLoad).op(Op::Return);
            });
            lin(code, SLOT_VALUE - 1)
        }
        Op::Transfer => {
            let code = asm(|a| {
                a.push(OTHER.0).push(400).op(Op::Transfer);
                a.op(Op::SelfBalance).push(OTHER.0).op(Op::Balance).op(Op::Add).op(Op::Return);
            });
            lin(code, CONTRACT_BALANCE + OTHER_BALANCE)
        }
        Op::MLoad => lin(
            asm(|a| {
                a.push(248).op(Op::MLoad).op(Op::Return);
            }),
            0,
        ),
        Op::MStore => {
            // Unaligned: bytes 3..11.
            let code = asm(|a| {
                a.push(3).push(0x1122_3344_5566_7788).op(Op::MStore);
                a.push(4).op(Op::MLoad).op(Op::Return);
            });
            lin(code, 0x0011_2233_4455_6677)
        }
        Op::Keccak => {
            let v = 0xdead_beef_u64;
            let code = asm(|a| {
                a.push(0).push(v).op(Op::MStore);
                a.push(0).push(8).op(Op::Keccak).op(Op::Return);
            });
            let g = linear_gas(&code) + GAS_KECCAK_WORD;
            (code, prefix_u64(&keccak256(&v.to_le_bytes())), g)
        }
        Op::Hash2 => lin(
            asm(|a| {
                a.push(1).push(0xCAFE).op(Op::Hash2).op(Op::Return);
            }),
            hash2(1, 0xCAFE),
        ),
        Op::Log => {
            let code = asm(|a| {
                a.push(4).push(5).op(Op::Log).push(6).op(Op::Return);
            });
            lin(code, 6)
        }
    }
}

#[test]
fn every_opcode_has_a_passing_case() {
    assert_eq!(Op::ALL.len(), 48);
    for op in Op::ALL {
        let (code, output, gas) = case(op);
        assert!(code.contains(&(op as u8)), "{}: the case does not use the opcode", op.mnemonic());
        let out = run(&code, GAS);
        assert_eq!(out.status, Status::Success, "{}: {out:?}", op.mnemonic());
        assert_eq!(out.output, output, "{}: output", op.mnemonic());
        assert_eq!(out.gas_used, gas, "{}: gas", op.mnemonic());
        // Exactly enough gas still succeeds; one less runs out.
        assert_eq!(run(&code, gas).status, Status::Success, "{}: exact gas", op.mnemonic());
        assert_fault(run(&code, gas - 1), Status::OutOfGas, gas - 1);
    }
}

#[test]
fn opcode_table_is_consistent() {
    for (i, op) in Op::ALL.iter().enumerate() {
        assert_eq!(Op::from_u8(*op as u8), Some(*op));
        assert!(Op::ALL[..i].iter().all(|o| o.mnemonic() != op.mnemonic()));
    }
    let defined = (0..=255u8).filter(|b| Op::from_u8(*b).is_some()).count();
    assert_eq!(defined, Op::ALL.len(), "every decodable byte is in Op::ALL");
}

#[test]
fn stop_and_falling_off_the_end_succeed_with_output_zero() {
    let out = run(&[], GAS);
    assert_eq!((out.status, out.gas_used, out.output), (Status::Success, 0, 0));
    let out = run(
        &asm(|a| {
            a.push(1).push(2);
        }),
        GAS,
    );
    assert_eq!((out.status, out.gas_used, out.output), (Status::Success, 2, 0));
}

#[test]
fn revert_keeps_output_and_gas_so_far() {
    let code = asm(|a| {
        a.push(1).push(2).op(Op::Add).op(Op::Revert).push(9);
    });
    let out = run(&code, GAS);
    assert_eq!(out.status, Status::Reverted);
    assert_eq!(out.output, 3);
    assert_eq!(out.gas_used, gas_of(&[Op::Push1, Op::Push1, Op::Add, Op::Revert]));
    // Logs before a revert are dropped.
    let code = asm(|a| {
        a.push(1).push(2).op(Op::Log).push(7).op(Op::Revert);
    });
    let out = run(&code, GAS);
    assert_eq!(
        (out.status, out.output, out.logs, out.logs_digest),
        (Status::Reverted, 7, 0, [0; 32])
    );
}

#[test]
fn jumpi_ignores_bad_target_when_not_taken() {
    let code = asm(|a| {
        a.push(0).push(1).op(Op::JumpI).push(4).op(Op::Return);
    });
    assert_returns(&code, 4);
}

#[test]
fn shifts_by_64_or_more_give_zero() {
    for s in [64, 65, 255, 1 << 32, u64::MAX] {
        for op in [Op::Shl, Op::Shr] {
            let code = asm(|a| {
                a.push(u64::MAX).push(s).op(op).op(Op::Return);
            });
            assert_returns(&code, 0);
        }
    }
    assert_returns(
        &asm(|a| {
            a.push(1).push(63).op(Op::Shl).op(Op::Return);
        }),
        1 << 63,
    );
    assert_returns(
        &asm(|a| {
            a.push(u64::MAX).push(63).op(Op::Shr).op(Op::Return);
        }),
        1,
    );
    assert_returns(
        &asm(|a| {
            a.push(5).push(0).op(Op::Shl).op(Op::Return);
        }),
        5,
    );
}

#[test]
fn arg_out_of_range_is_zero() {
    for i in [3, 4, 255, u64::MAX] {
        assert_returns(
            &asm(|a| {
                a.push(i).op(Op::Arg).op(Op::Return);
            }),
            0,
        );
    }
    assert_returns(
        &asm(|a| {
            a.push(2).op(Op::Arg).op(Op::Return);
        }),
        ARGS[2],
    );
}

#[test]
fn hash2_is_the_library_function() {
    for (x, y) in [(0, 0), (1, 2), (u64::MAX, 7), (0xC000_0000, 0x1000)] {
        let code = asm(|a| {
            a.push(x).push(y).op(Op::Hash2).op(Op::Return);
        });
        assert_returns(&code, hash2(x, y));
        let mut m = [0u8; 16];
        m[..8].copy_from_slice(&x.to_le_bytes());
        m[8..].copy_from_slice(&y.to_le_bytes());
        assert_eq!(hash2(x, y), prefix_u64(&keccak256(&m)));
    }
}

#[test]
fn keccak_charges_per_started_word() {
    for len in [0u64, 1, 7, 8, 9, 16, 17, 64] {
        let code = asm(|a| {
            a.push(3).push(len).op(Op::Keccak).op(Op::Return);
        });
        let out = assert_returns(&code, prefix_u64(&keccak256(&vec![0u8; len as usize])));
        assert_eq!(
            out.gas_used,
            linear_gas(&code) + GAS_KECCAK_WORD * len.div_ceil(8),
            "len {len}"
        );
        // The per-word charge can run out on its own.
        let static_gas = gas_of(&[Op::Push1, Op::Push1, Op::Keccak]);
        if len > 0 {
            assert_fault(run(&code, static_gas), Status::OutOfGas, static_gas);
        }
    }
}

#[test]
fn logs_digest_is_keccak_over_24_byte_entries() {
    let out = assert_returns(
        &asm(|a| {
            a.push(0).op(Op::Return);
        }),
        0,
    );
    assert_eq!((out.logs, out.logs_digest), (0, [0; 32]), "no logs: zero digest");

    let code = asm(|a| {
        a.push(1).push(2).op(Op::Log).push(0x00ff_ffff_ffff).push(4).op(Op::Log).op(Op::Stop);
    });
    let out = run(&code, GAS);
    assert_eq!(out.status, Status::Success);
    assert_eq!(out.logs, 2);
    assert_eq!(out.logs_digest, log_digest(&[(CONTRACT, 1, 2), (CONTRACT, 0x00ff_ffff_ffff, 4)]));
    assert_ne!(out.logs_digest, log_digest(&[(CONTRACT, 2, 1), (CONTRACT, 0x00ff_ffff_ffff, 4)]));
}

#[test]
fn memory_is_zeroed_at_each_run() {
    let mut st = vec![0u64; 16];
    let mut mem = vec![0xAAu8; 64];
    let mut host = MapHost::new();
    let read = asm(|a| {
        a.push(0).op(Op::MLoad).push(56).op(Op::MLoad).op(Op::Or).op(Op::Return);
    });
    let write = asm(|a| {
        a.push(0).push(u64::MAX).op(Op::MStore).push(56).push(u64::MAX).op(Op::MStore);
    });
    for code in [&read, &write, &read] {
        let mut scratch = VmScratch { stack: &mut st, memory: &mut mem };
        let out = vm::run(code, &env(), &mut host, GAS, &mut scratch).unwrap();
        assert_eq!(out.status, Status::Success);
        assert_eq!(out.output, 0);
    }
}

// ---------------------------------------------------------------------------------------
// Every fault
// ---------------------------------------------------------------------------------------

#[test]
fn out_of_gas_consumes_all_gas() {
    let code = asm(|a| {
        a.push(1).push(2).op(Op::Add).op(Op::Return);
    });
    let need = linear_gas(&code);
    for g in 0..need {
        assert_fault(run(&code, g), Status::OutOfGas, g);
    }
    assert_eq!(run(&code, need).gas_used, need);
    // An expensive instruction with gas left, but not enough.
    let code = asm(|a| {
        a.push(1).push(2).op(Op::SStore);
    });
    assert_fault(run(&code, 50), Status::OutOfGas, 50);
    // An endless loop.
    let code = asm(|a| {
        let l = a.label();
        a.bind(l).jump(l);
    });
    assert_fault(run(&code, 10_000), Status::OutOfGas, 10_000);
}

#[test]
fn stack_overflow() {
    let code = asm(|a| {
        a.push(1).push(2).push(3);
    });
    assert_fault(run_with(&code, GAS, &mut MapHost::new(), 2, 8), Status::StackOverflow, GAS);
    assert_eq!(run_with(&code, GAS, &mut MapHost::new(), 3, 8).status, Status::Success);
    // DUP and environment pushes overflow too.
    let code = asm(|a| {
        a.push(1).dup(0);
    });
    assert_fault(run_with(&code, GAS, &mut MapHost::new(), 1, 8), Status::StackOverflow, GAS);
    let code = asm(|a| {
        a.op(Op::Caller);
    });
    assert_fault(run_with(&code, GAS, &mut MapHost::new(), 0, 8), Status::StackOverflow, GAS);
}

#[test]
fn stack_underflow() {
    let programs: Vec<Vec<u8>> = vec![
        asm(|a| {
            a.op(Op::Pop);
        }),
        asm(|a| {
            a.op(Op::Return);
        }),
        asm(|a| {
            a.op(Op::Revert);
        }),
        asm(|a| {
            a.push(1).op(Op::Add);
        }),
        asm(|a| {
            a.push(1).push(2).op(Op::MulDiv);
        }),
        asm(|a| {
            a.op(Op::IsZero);
        }),
        asm(|a| {
            a.op(Op::Jump);
        }),
        asm(|a| {
            a.push(1).op(Op::JumpI);
        }),
        asm(|a| {
            a.push(1).op(Op::SStore);
        }),
        asm(|a| {
            a.push(1).op(Op::Log);
        }),
        asm(|a| {
            a.dup(0);
        }),
        asm(|a| {
            a.push(1).dup(1);
        }),
        asm(|a| {
            a.push(1).push(2).dup(2);
        }),
        asm(|a| {
            a.push(1).swap(1);
        }),
        asm(|a| {
            a.push(1).push(2).swap(2);
        }),
        // SWAP 0 is not an instruction even with a deep stack.
        asm(|a| {
            a.push(1).push(2).swap(0);
        }),
    ];
    for code in programs {
        assert_fault(run(&code, GAS), Status::StackUnderflow, GAS);
    }
}

#[test]
fn bad_jump() {
    let programs: Vec<Vec<u8>> = vec![
        // Target 0 holds PUSH1, not JUMPDEST.
        asm(|a| {
            a.push(0).op(Op::Jump);
        }),
        // Past the end, far past it, and at exactly the code length.
        asm(|a| {
            a.push(1000).op(Op::Jump);
        }),
        asm(|a| {
            a.push(u64::MAX).op(Op::Jump);
        }),
        asm(|a| {
            a.push(3).op(Op::Jump);
        }),
        asm(|a| {
            a.push(1).push(0).op(Op::JumpI);
        }),
        asm(|a| {
            a.push(1).push(u64::MAX).op(Op::JumpI);
        }),
    ];
    for code in programs {
        assert_fault(run(&code, GAS), Status::BadJump, GAS);
    }
}

#[test]
fn invalid_opcode() {
    let undefined: Vec<u8> = (0..=255u8).filter(|b| Op::from_u8(*b).is_none()).collect();
    assert_eq!(undefined.len(), 256 - Op::ALL.len());
    for b in undefined {
        assert_fault(run(&[b], GAS), Status::InvalidOpcode, GAS);
        assert_fault(run(&[Op::Push1 as u8, 1, b], GAS), Status::InvalidOpcode, GAS);
    }
    // Truncated immediates.
    let truncated: [&[u8]; 6] = [
        &[Op::Push8 as u8, 1, 2, 3],
        &[Op::Push8 as u8, 1, 2, 3, 4, 5, 6, 7],
        &[Op::Push8 as u8],
        &[Op::Push1 as u8],
        &[Op::Push1 as u8, 1, Op::Dup as u8],
        &[Op::Push1 as u8, 1, Op::Push1 as u8, 1, Op::Swap as u8],
    ];
    for code in truncated {
        assert_fault(run(code, GAS), Status::InvalidOpcode, GAS);
    }
    // A full PUSH8 at the very end is fine.
    assert_eq!(run(&[Op::Push8 as u8, 1, 2, 3, 4, 5, 6, 7, 8], GAS).status, Status::Success);
}

#[test]
fn arithmetic_fault() {
    let programs: Vec<Vec<u8>> = vec![
        asm(|a| {
            a.push(1).push(0).op(Op::Div);
        }),
        asm(|a| {
            a.push(0).push(0).op(Op::Mod);
        }),
        asm(|a| {
            a.push(u64::MAX).push(1).op(Op::AddC);
        }),
        asm(|a| {
            a.push(1).push(2).op(Op::SubC);
        }),
        asm(|a| {
            a.push(1 << 32).push(1 << 32).op(Op::MulC);
        }),
        asm(|a| {
            a.push(1).push(1).push(0).op(Op::MulDiv);
        }),
        // Quotient one past u64::MAX.
        asm(|a| {
            a.push(1 << 32).push(1 << 32).push(1).op(Op::MulDiv);
        }),
        asm(|a| {
            a.push(u64::MAX).push(u64::MAX).push(u64::MAX - 1).op(Op::MulDiv);
        }),
    ];
    for code in programs {
        assert_fault(run(&code, GAS), Status::ArithmeticFault, GAS);
    }
    // The boundary that still fits.
    assert_returns(
        &asm(|a| {
            a.push(u64::MAX).push(u64::MAX).push(u64::MAX).op(Op::MulDiv).op(Op::Return);
        }),
        u64::MAX,
    );
}

#[test]
fn memory_out_of_bounds() {
    // 256 bytes of memory.
    let programs: Vec<Vec<u8>> = vec![
        asm(|a| {
            a.push(249).op(Op::MLoad);
        }),
        asm(|a| {
            a.push(256).op(Op::MLoad);
        }),
        asm(|a| {
            a.push(u64::MAX).op(Op::MLoad);
        }),
        asm(|a| {
            a.push(u64::MAX - 3).op(Op::MLoad);
        }),
        asm(|a| {
            a.push(249).push(1).op(Op::MStore);
        }),
        asm(|a| {
            a.push(u64::MAX).push(1).op(Op::MStore);
        }),
        asm(|a| {
            a.push(0).push(257).op(Op::Keccak);
        }),
        asm(|a| {
            a.push(256).push(1).op(Op::Keccak);
        }),
        // offset + len overflows.
        asm(|a| {
            a.push(u64::MAX).push(2).op(Op::Keccak);
        }),
        asm(|a| {
            a.push(2).push(u64::MAX).op(Op::Keccak);
        }),
    ];
    for code in programs {
        assert_fault(run(&code, GAS), Status::MemoryOutOfBounds, GAS);
    }
    assert_eq!(
        run(
            &asm(|a| {
                a.push(248).op(Op::MLoad);
            }),
            GAS
        )
        .status,
        Status::Success
    );
    assert_eq!(
        run(
            &asm(|a| {
                a.push(0).push(256).op(Op::Keccak);
            }),
            GAS
        )
        .status,
        Status::Success
    );
    assert_eq!(
        run(
            &asm(|a| {
                a.push(256).push(0).op(Op::Keccak);
            }),
            GAS
        )
        .status,
        Status::Success
    );
}

#[test]
fn transfer_of_more_than_the_balance() {
    let mut host = MapHost::new();
    let code = asm(|a| {
        a.push(OTHER.0).push(CONTRACT_BALANCE + 1).op(Op::Transfer);
    });
    assert_fault(run_with(&code, GAS, &mut host, 16, 16), Status::InsufficientBalance, GAS);
    // The whole balance is fine.
    let mut host = MapHost::new();
    let code = asm(|a| {
        a.push(OTHER.0).push(CONTRACT_BALANCE).op(Op::Transfer);
    });
    assert_eq!(run_with(&code, GAS, &mut host, 16, 16).status, Status::Success);
    assert_eq!(host.get(&StateKey::balance(CONTRACT)), 0);
    assert_eq!(host.get(&StateKey::balance(OTHER)), OTHER_BALANCE + CONTRACT_BALANCE);
    // To itself: balance unchanged.
    let mut host = MapHost::new();
    let code = asm(|a| {
        a.push(CONTRACT.0).push(10).op(Op::Transfer);
    });
    assert_eq!(run_with(&code, GAS, &mut host, 16, 16).status, Status::Success);
    assert_eq!(host.get(&StateKey::balance(CONTRACT)), CONTRACT_BALANCE);
}

#[test]
fn logs_beyond_max_logs() {
    let log = |n: usize| {
        asm(|a| {
            for i in 0..n {
                a.push(i as u64).push(1).op(Op::Log);
            }
        })
    };
    let out = run(&log(MAX_LOGS as usize), GAS);
    assert_eq!((out.status, out.logs), (Status::Success, MAX_LOGS));
    assert_fault(run(&log(MAX_LOGS as usize + 1), GAS), Status::CapacityExceeded, GAS);
}

#[test]
fn host_halt_and_interrupt_propagate() {
    let key = StateKey::storage(CONTRACT, 1);
    let programs: Vec<Vec<u8>> = vec![
        asm(|a| {
            a.push(1).op(Op::SLoad);
        }),
        asm(|a| {
            a.push(1).push(2).op(Op::SStore);
        }),
        asm(|a| {
            a.push(1).push(2).op(Op::SAdd);
        }),
    ];
    for code in &programs {
        let mut host =
            MapHost { fail: Some((key, Exit::Halt(Status::CapacityExceeded))), ..MapHost::new() };
        assert_fault(run_with(code, GAS, &mut host, 8, 8), Status::CapacityExceeded, GAS);

        let mut host = MapHost {
            fail: Some((key, Exit::Interrupt(Interrupt::Dependency(7)))),
            ..MapHost::new()
        };
        let (mut st, mut mem) = (vec![0u64; 8], vec![0u8; 8]);
        let mut scratch = VmScratch { stack: &mut st, memory: &mut mem };
        let r = vm::run(code, &env(), &mut host, GAS, &mut scratch);
        assert_eq!(r, Err(Interrupt::Dependency(7)));
    }
    // Balance reads and both sides of a transfer go through the host too.
    let cases: [(StateKey, Vec<u8>); 4] = [
        (
            StateKey::balance(OTHER),
            asm(|a| {
                a.push(OTHER.0).op(Op::Balance);
            }),
        ),
        (
            StateKey::balance(CONTRACT),
            asm(|a| {
                a.op(Op::SelfBalance);
            }),
        ),
        (
            StateKey::balance(CONTRACT),
            asm(|a| {
                a.push(OTHER.0).push(1).op(Op::Transfer);
            }),
        ),
        (
            StateKey::balance(OTHER),
            asm(|a| {
                a.push(OTHER.0).push(1).op(Op::Transfer);
            }),
        ),
    ];
    for (key, code) in cases {
        let mut host =
            MapHost { fail: Some((key, Exit::Halt(Status::CapacityExceeded))), ..MapHost::new() };
        assert_fault(run_with(&code, GAS, &mut host, 8, 8), Status::CapacityExceeded, GAS);
        let mut host = MapHost {
            fail: Some((key, Exit::Interrupt(Interrupt::Dependency(3)))),
            ..MapHost::new()
        };
        let (mut st, mut mem) = (vec![0u64; 8], vec![0u8; 8]);
        let mut scratch = VmScratch { stack: &mut st, memory: &mut mem };
        assert_eq!(
            vm::run(&code, &env(), &mut host, GAS, &mut scratch),
            Err(Interrupt::Dependency(3))
        );
    }
}

// ---------------------------------------------------------------------------------------
// Assembler
// ---------------------------------------------------------------------------------------

#[test]
fn asm_encodes_pushes_and_resolves_labels() {
    let code = asm(|a| {
        a.push(0).push(255).push(256).push(u64::MAX);
    });
    let mut want = vec![Op::Push1 as u8, 0, Op::Push1 as u8, 255, Op::Push8 as u8];
    want.extend_from_slice(&256u64.to_le_bytes());
    want.push(Op::Push8 as u8);
    want.extend_from_slice(&u64::MAX.to_le_bytes());
    assert_eq!(code, want);

    // A forward and a backward jump land on their JUMPDESTs.
    let code = asm(|a| {
        let (fwd, back, end) = (a.label(), a.label(), a.label());
        a.jump(fwd);
        a.bind(back).push(7).jump(end);
        a.bind(fwd).jump(back);
        a.bind(end).op(Op::Return);
    });
    assert_eq!(code[0], Op::Push8 as u8);
    let target = u64::from_le_bytes(code[1..9].try_into().unwrap()) as usize;
    assert_eq!(code[target], Op::JumpDest as u8);
    assert_returns(&code, 7);

    // Memory variables.
    assert_returns(
        &asm(|a| {
            a.push(41).set_var(3).push(1).var(3).op(Op::Add).op(Op::Return);
        }),
        42,
    );
}

#[test]
fn asm_errors() {
    let mut buf = [0u8; 3];
    let mut a = Asm::new(&mut buf);
    a.push(1).push(1000);
    assert_eq!(a.finish(), Err(AsmError::BufferFull));

    // The jump's PUSH8 does not fit.
    let mut buf = [0u8; 5];
    let mut a = Asm::new(&mut buf);
    let l = a.label();
    a.bind(l).jump(l);
    assert_eq!(a.finish(), Err(AsmError::BufferFull));

    let mut buf = [0u8; 64];
    let mut a = Asm::new(&mut buf);
    let l = a.label();
    a.jump(l);
    assert_eq!(a.finish(), Err(AsmError::UnboundLabel));

    let mut buf = [0u8; 64];
    let mut a = Asm::new(&mut buf);
    let l = a.label();
    a.bind(l).bind(l);
    assert_eq!(a.finish(), Err(AsmError::ReboundLabel));

    let mut buf = [0u8; 64];
    let mut a = Asm::new(&mut buf);
    for _ in 0..MAX_LABELS {
        a.label();
    }
    assert!(a.finish().is_ok(), "MAX_LABELS labels are fine");
    let mut buf = [0u8; 64];
    let mut a = Asm::new(&mut buf);
    let labels: Vec<_> = (0..=MAX_LABELS).map(|_| a.label()).collect();
    a.bind(labels[MAX_LABELS]);
    assert_eq!(a.finish(), Err(AsmError::TooManyLabels));

    let mut buf = [0u8; 2048];
    let mut a = Asm::new(&mut buf);
    let l = a.label();
    a.bind(l);
    for _ in 0..MAX_FIXUPS {
        a.jump(l);
    }
    assert!(a.finish().is_ok(), "MAX_FIXUPS jumps are fine");
    let mut buf = [0u8; 2048];
    let mut a = Asm::new(&mut buf);
    let l = a.label();
    a.bind(l);
    for _ in 0..=MAX_FIXUPS {
        a.jump(l);
    }
    assert_eq!(a.finish(), Err(AsmError::TooManyJumps));

    // The first error is the one reported.
    let mut buf = [0u8; 1];
    let mut a = Asm::new(&mut buf);
    let l = a.label();
    a.push(300).bind(l).bind(l);
    assert_eq!(a.finish(), Err(AsmError::BufferFull));

    for e in [
        AsmError::BufferFull,
        AsmError::TooManyLabels,
        AsmError::TooManyJumps,
        AsmError::UnboundLabel,
        AsmError::ReboundLabel,
    ] {
        assert!(!e.to_string().is_empty());
    }
}

// ---------------------------------------------------------------------------------------
// Fuzz
// ---------------------------------------------------------------------------------------

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x5eed_0001),
        ..ProptestConfig::default()
    }
}

/// Bytecode biased towards defined opcodes and small immediates, so runs get past the
/// first byte.
fn bytecode() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => prop::sample::select(Op::ALL.to_vec()).prop_map(|o| o as u8),
        2 => 0u8..16,
        1 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..256)
}

proptest! {
    #![proptest_config(config(5_000))]

    #[test]
    fn random_bytecode_never_panics(
        code in bytecode(),
        gas in prop_oneof![0u64..5_000, 0u64..1_000_000],
        stack in 0usize..8,
        memory in prop::sample::select(vec![0usize, 8, 64]),
    ) {
        let mut host = MapHost::new();
        let out = run_with(&code, gas, &mut host, stack, memory);
        prop_assert!(out.gas_used <= gas);
        match out.status {
            Status::Success => {}
            Status::Reverted => prop_assert_eq!(out.logs, 0),
            s => {
                prop_assert!(s.is_failure(), "{:?}", s);
                prop_assert_eq!(out.gas_used, gas);
                prop_assert_eq!((out.output, out.logs), (0, 0));
            }
        }
        if out.logs == 0 {
            prop_assert_eq!(out.logs_digest, [0; 32]);
        }
    }
}

#[test]
fn huge_gas_does_not_overflow() {
    let code = asm(|a| {
        a.push(1).push(2).op(Op::Add).op(Op::Gas).op(Op::Return);
    });
    let out = run(&code, u64::MAX);
    assert_eq!(out.status, Status::Success);
    assert_eq!(out.gas_used, linear_gas(&code));
    assert_eq!(out.output, u64::MAX - gas_of(&[Op::Push1, Op::Push1, Op::Add, Op::Gas]));
}
