//! Opcode behaviour past the one case each: stop and revert, jumps not taken, shifts and
//! arguments out of range, the hash opcodes and their gas, the logs digest, memory.

use parex_core::hash::keccak256;
use parex_core::receipt::Status;
use parex_core::vm::opcode::GAS_KECCAK_WORD;
use parex_core::vm::{self, hash2, prefix_u64, Op, VmScratch};

use crate::harness::*;

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

/// docs/semantics.md's memory limit is the caller's buffer: with the host's 1,024 bytes
/// the last word starts at 1,016; a word at 1,017 is out of bounds. With the host's 256
/// words of stack the 257th push overflows.
#[test]
fn the_limits_are_the_buffers() {
    let word_at = |off: u64| {
        asm(|a| {
            a.push(off).push(7).op(Op::MStore).push(off).op(Op::MLoad).op(Op::Return);
        })
    };
    let out = run_with(&word_at(1016), GAS, &mut MapHost::new(), 256, 1024);
    assert_eq!((out.status, out.output), (Status::Success, 7), "{out:?}");
    let out = run_with(&word_at(1017), GAS, &mut MapHost::new(), 256, 1024);
    assert_eq!(out.status, Status::MemoryOutOfBounds, "{out:?}");
    let pushes = |n: usize| {
        asm(|a| {
            for _ in 0..n {
                a.push(1);
            }
            a.op(Op::Stop);
        })
    };
    assert_eq!(run_with(&pushes(256), GAS, &mut MapHost::new(), 256, 1024).status, Status::Success);
    let out = run_with(&pushes(257), GAS, &mut MapHost::new(), 256, 1024);
    assert_eq!(out.status, Status::StackOverflow, "{out:?}");
}
