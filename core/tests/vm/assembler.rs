//! The test assembler: encodings, labels, variables and every [`AsmError`].

use parex_core::vm::asm::{Asm, AsmError, MAX_FIXUPS, MAX_LABELS};
use parex_core::vm::Op;

use crate::harness::*;

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
