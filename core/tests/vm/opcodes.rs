//! Every opcode: one passing case each, with its output and exact gas, and the opcode
//! table itself.

use parex_core::hash::keccak256;
use parex_core::receipt::Status;
use parex_core::vm::opcode::GAS_KECCAK_WORD;
use parex_core::vm::{hash2, prefix_u64, Op};

use crate::harness::*;

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
