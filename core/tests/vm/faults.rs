//! Every fault: its status, and all gas consumed.

use parex_core::receipt::Status;
use parex_core::vm::opcode::GAS_KECCAK_WORD;
use parex_core::vm::{self, Exit, Interrupt, Op, VmScratch};
use parex_core::StateKey;

use crate::harness::*;

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
    ];
    for code in programs {
        assert_fault(run(&code, GAS), Status::MemoryOutOfBounds, GAS);
    }
    // Issue #16: gas before memory. A KECCAK length past memory that the gas cannot pay
    // for either (its per-word gas saturates) is out of gas; one that it can pay for is
    // out of memory after paying.
    let huge = asm(|a| {
        a.push(2).push(u64::MAX).op(Op::Keccak);
    });
    assert_fault(run(&huge, GAS), Status::OutOfGas, GAS);
    let affordable = asm(|a| {
        a.push(0).push(257).op(Op::Keccak);
    });
    let static_gas = gas_of(&[Op::Push1, Op::Push8, Op::Keccak]);
    let word_gas = GAS_KECCAK_WORD * 257u64.div_ceil(8);
    assert_fault(
        run(&affordable, static_gas + word_gas - 1),
        Status::OutOfGas,
        static_gas + word_gas - 1,
    );
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
