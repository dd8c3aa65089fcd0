//! A tiny assembler: build bytecode with named jumps instead of hand-counted offsets.
//!
//! ```
//! use parex_core::vm::{asm::Asm, Op};
//! let mut buf = [0u8; 64];
//! let mut a = Asm::new(&mut buf);
//! let done = a.label();
//! a.push(1).push(2).op(Op::Add).jump(done).op(Op::Revert);
//! a.bind(done).op(Op::Return);
//! assert!(matches!(a.finish(), Ok(len) if len > 0));
//! ```
//!
//! Errors (buffer full, too many labels or jumps, a label never bound) are remembered and
//! reported by [`Asm::finish`], so a program reads as one chain of calls.

use core::fmt;

use heapless::Vec;

use super::Op;

/// Most labels in one program.
pub const MAX_LABELS: usize = 32;
/// Most jumps in one program.
pub const MAX_FIXUPS: usize = 64;

/// A jump target created by [`Asm::label`] and placed by [`Asm::bind`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Label(u8);

/// Why a program could not be assembled.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AsmError {
    /// The output buffer is full.
    BufferFull,
    /// More than [`MAX_LABELS`] labels.
    TooManyLabels,
    /// More than [`MAX_FIXUPS`] jumps.
    TooManyJumps,
    /// A label used by a jump was never bound.
    UnboundLabel,
    /// A label was bound twice.
    ReboundLabel,
}

impl fmt::Display for AsmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BufferFull => "bytecode buffer full",
            Self::TooManyLabels => "too many labels",
            Self::TooManyJumps => "too many jumps",
            Self::UnboundLabel => "label used but never bound",
            Self::ReboundLabel => "label bound twice",
        })
    }
}

impl core::error::Error for AsmError {}

/// The assembler (see the module docs).
pub struct Asm<'b> {
    buf: &'b mut [u8],
    len: usize,
    labels: Vec<Option<u64>, MAX_LABELS>,
    fixups: Vec<(usize, Label), MAX_FIXUPS>,
    error: Option<AsmError>,
}

impl<'b> Asm<'b> {
    /// Starts a program in `buf`.
    pub fn new(buf: &'b mut [u8]) -> Self {
        Self { buf, len: 0, labels: Vec::new(), fixups: Vec::new(), error: None }
    }

    fn fail(&mut self, e: AsmError) {
        self.error.get_or_insert(e);
    }

    fn byte(&mut self, b: u8) {
        match self.buf.get_mut(self.len) {
            Some(slot) => {
                *slot = b;
                self.len += 1;
            }
            None => self.fail(AsmError::BufferFull),
        }
    }

    /// Emits one opcode without immediates.
    pub fn op(&mut self, op: Op) -> &mut Self {
        self.byte(op as u8);
        self
    }

    /// Emits several opcodes.
    pub fn ops(&mut self, ops: &[Op]) -> &mut Self {
        ops.iter().for_each(|&o| self.byte(o as u8));
        self
    }

    /// Pushes a constant (`PUSH1` when it fits, else `PUSH8`).
    pub fn push(&mut self, v: u64) -> &mut Self {
        if v <= u8::MAX as u64 {
            self.byte(Op::Push1 as u8);
            self.byte(v as u8);
        } else {
            self.byte(Op::Push8 as u8);
            v.to_le_bytes().iter().for_each(|&b| self.byte(b));
        }
        self
    }

    /// `DUP n`: copies the word `n` below the top (0 = the top).
    pub fn dup(&mut self, n: u8) -> &mut Self {
        self.byte(Op::Dup as u8);
        self.byte(n);
        self
    }

    /// `SWAP n`: swaps the top with the word `n` below it.
    pub fn swap(&mut self, n: u8) -> &mut Self {
        self.byte(Op::Swap as u8);
        self.byte(n);
        self
    }

    /// Pushes `args[i]`.
    pub fn arg(&mut self, i: u8) -> &mut Self {
        self.push(i as u64).op(Op::Arg)
    }

    /// Pops the top into memory variable `i` (bytes `8i..8i+8`).
    pub fn set_var(&mut self, i: u8) -> &mut Self {
        self.push(8 * i as u64).swap(1).op(Op::MStore)
    }

    /// Pushes memory variable `i`.
    pub fn var(&mut self, i: u8) -> &mut Self {
        self.push(8 * i as u64).op(Op::MLoad)
    }

    /// A new, unbound label.
    pub fn label(&mut self) -> Label {
        let l = Label(self.labels.len() as u8);
        if self.labels.push(None).is_err() {
            self.fail(AsmError::TooManyLabels);
        }
        l
    }

    /// Places `l` here and emits its `JUMPDEST`.
    pub fn bind(&mut self, l: Label) -> &mut Self {
        let here = self.len as u64;
        match self.labels.get_mut(l.0 as usize) {
            Some(slot @ None) => *slot = Some(here),
            Some(Some(_)) => self.fail(AsmError::ReboundLabel),
            None => self.fail(AsmError::TooManyLabels),
        }
        self.op(Op::JumpDest)
    }

    fn target(&mut self, l: Label) {
        let at = self.len + 1;
        if self.fixups.push((at, l)).is_err() {
            self.fail(AsmError::TooManyJumps);
        }
        // Always 8 bytes so the offset can be patched once known.
        self.byte(Op::Push8 as u8);
        (0..8).for_each(|_| self.byte(0));
    }

    /// Jumps to `l`.
    pub fn jump(&mut self, l: Label) -> &mut Self {
        self.target(l);
        self.op(Op::Jump)
    }

    /// Pops a condition and jumps to `l` when it is non-zero.
    pub fn jump_if(&mut self, l: Label) -> &mut Self {
        self.target(l);
        self.op(Op::JumpI)
    }

    /// Resolves jumps and returns the program's length.
    pub fn finish(mut self) -> Result<usize, AsmError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        for &(at, l) in self.fixups.iter() {
            let target =
                self.labels.get(l.0 as usize).copied().flatten().ok_or(AsmError::UnboundLabel)?;
            let dst = self.buf.get_mut(at..at + 8).ok_or(AsmError::BufferFull)?;
            dst.copy_from_slice(&target.to_le_bytes());
        }
        self.error = None;
        Ok(self.len)
    }
}
