//! The opcode table: byte values, immediates and gas costs. `docs/semantics.md` ("VM")
//! lists the same table with each opcode's stack effect; keep the two in step.

/// One VM instruction. Stack effects are written `a b -> c` with `b` on top.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum Op {
    /// End successfully (output 0).
    Stop = 0x00,
    /// `-> imm` (1-byte immediate, zero-extended).
    Push1 = 0x01,
    /// `-> imm` (8-byte little-endian immediate).
    Push8 = 0x02,
    /// `a ->`.
    Pop = 0x03,
    /// `… x(n) … -> … x … x`: copies the word `n` below the top (1-byte immediate `n`).
    Dup = 0x04,
    /// Swaps the top with the word `n` below it (1-byte immediate `n` ≥ 1).
    Swap = 0x05,
    /// A valid jump target; no effect.
    JumpDest = 0x06,
    /// `target ->`: continue at `target`, which must hold `JUMPDEST`.
    Jump = 0x07,
    /// `cond target ->`: jump when `cond != 0`.
    JumpI = 0x08,
    /// `value ->`: end successfully with `value` as output.
    Return = 0x09,
    /// `code ->`: roll back and end with status `Reverted`, output `code`.
    Revert = 0x0a,
    /// `a b -> a + b` (wrapping).
    Add = 0x10,
    /// `a b -> a - b` (wrapping).
    Sub = 0x11,
    /// `a b -> a * b` (wrapping).
    Mul = 0x12,
    /// `a b -> a / b`; `b == 0` faults.
    Div = 0x13,
    /// `a b -> a % b`; `b == 0` faults.
    Mod = 0x14,
    /// `a b -> a + b`; overflow faults.
    AddC = 0x15,
    /// `a b -> a - b`; underflow faults.
    SubC = 0x16,
    /// `a b -> a * b`; overflow faults.
    MulC = 0x17,
    /// `a b c -> a * b / c` with a 128-bit product; `c == 0` or a quotient over 64 bits faults.
    MulDiv = 0x18,
    /// `a b -> a < b`.
    Lt = 0x20,
    /// `a b -> a > b`.
    Gt = 0x21,
    /// `a b -> a == b`.
    Eq = 0x22,
    /// `a -> a == 0`.
    IsZero = 0x23,
    /// `a b -> a & b`.
    And = 0x24,
    /// `a b -> a | b`.
    Or = 0x25,
    /// `a b -> a ^ b`.
    Xor = 0x26,
    /// `a -> !a`.
    Not = 0x27,
    /// `a b -> a << b` (0 when `b >= 64`).
    Shl = 0x28,
    /// `a b -> a >> b` (0 when `b >= 64`).
    Shr = 0x29,
    /// `-> caller`: the transaction's sender.
    Caller = 0x30,
    /// `-> address`: this contract.
    Address = 0x31,
    /// `-> value` sent with the call.
    CallValue = 0x32,
    /// `i -> args[i]`; 0 when `i >= ARGC`.
    Arg = 0x33,
    /// `-> number of arguments`.
    ArgC = 0x34,
    /// `-> gas left` (after this instruction's cost).
    Gas = 0x35,
    /// `addr -> balance of addr`.
    Balance = 0x36,
    /// `-> balance of this contract`.
    SelfBalance = 0x37,
    /// `-> block number`.
    Number = 0x38,
    /// `slot -> storage[slot]`.
    SLoad = 0x40,
    /// `slot value ->`: `storage[slot] = value`.
    SStore = 0x41,
    /// `slot delta ->`: `storage[slot] += delta` (wrapping) without reading it: commutes
    /// with other `SADD`s to the same slot.
    SAdd = 0x42,
    /// `to amount ->`: move native units from this contract to `to`.
    Transfer = 0x43,
    /// `offset -> word`: 8 bytes LE at byte `offset` of memory.
    MLoad = 0x48,
    /// `offset value ->`.
    MStore = 0x49,
    /// `offset len -> h`: the first 8 bytes (LE) of Keccak-256 of memory `[offset, offset+len)`.
    Keccak = 0x50,
    /// `a b -> h`: the first 8 bytes (LE) of Keccak-256 of `a` and `b` (8 bytes LE each);
    /// the way contracts derive map slots.
    Hash2 = 0x51,
    /// `topic data ->`: append a log entry (this address, topic, data).
    Log = 0x58,
}

/// Gas of a plain instruction.
pub const GAS_BASE: u64 = 1;
/// Gas of `JUMP`/`JUMPI`.
pub const GAS_JUMP: u64 = 2;
/// Gas of a memory access (`MLOAD`, `MSTORE`).
pub const GAS_MEMORY: u64 = 3;
/// Gas of `SLOAD`, `BALANCE`, `SELFBALANCE`.
pub const GAS_SLOAD: u64 = 50;
/// Gas of `SSTORE`.
pub const GAS_SSTORE: u64 = 100;
/// Gas of `SADD`.
pub const GAS_SADD: u64 = 60;
/// Gas of `TRANSFER`.
pub const GAS_TRANSFER: u64 = 150;
/// Gas of `KECCAK` (plus [`GAS_KECCAK_WORD`] per started 8-byte word) and `HASH2`.
pub const GAS_KECCAK: u64 = 30;
/// Per started 8-byte word hashed by `KECCAK`.
pub const GAS_KECCAK_WORD: u64 = 3;
/// Gas of `LOG`.
pub const GAS_LOG: u64 = 40;

impl Op {
    /// Every opcode, for tables and tests.
    pub const ALL: [Op; 48] = [
        Op::Stop,
        Op::Push1,
        Op::Push8,
        Op::Pop,
        Op::Dup,
        Op::Swap,
        Op::JumpDest,
        Op::Jump,
        Op::JumpI,
        Op::Return,
        Op::Revert,
        Op::Add,
        Op::Sub,
        Op::Mul,
        Op::Div,
        Op::Mod,
        Op::AddC,
        Op::SubC,
        Op::MulC,
        Op::MulDiv,
        Op::Lt,
        Op::Gt,
        Op::Eq,
        Op::IsZero,
        Op::And,
        Op::Or,
        Op::Xor,
        Op::Not,
        Op::Shl,
        Op::Shr,
        Op::Caller,
        Op::Address,
        Op::CallValue,
        Op::Arg,
        Op::ArgC,
        Op::Gas,
        Op::Balance,
        Op::SelfBalance,
        Op::Number,
        Op::SLoad,
        Op::SStore,
        Op::SAdd,
        Op::Transfer,
        Op::MLoad,
        Op::MStore,
        Op::Keccak,
        Op::Hash2,
        Op::Log,
    ];

    /// Decodes an opcode byte.
    #[inline]
    pub const fn from_u8(b: u8) -> Option<Op> {
        Some(match b {
            0x00 => Op::Stop,
            0x01 => Op::Push1,
            0x02 => Op::Push8,
            0x03 => Op::Pop,
            0x04 => Op::Dup,
            0x05 => Op::Swap,
            0x06 => Op::JumpDest,
            0x07 => Op::Jump,
            0x08 => Op::JumpI,
            0x09 => Op::Return,
            0x0a => Op::Revert,
            0x10 => Op::Add,
            0x11 => Op::Sub,
            0x12 => Op::Mul,
            0x13 => Op::Div,
            0x14 => Op::Mod,
            0x15 => Op::AddC,
            0x16 => Op::SubC,
            0x17 => Op::MulC,
            0x18 => Op::MulDiv,
            0x20 => Op::Lt,
            0x21 => Op::Gt,
            0x22 => Op::Eq,
            0x23 => Op::IsZero,
            0x24 => Op::And,
            0x25 => Op::Or,
            0x26 => Op::Xor,
            0x27 => Op::Not,
            0x28 => Op::Shl,
            0x29 => Op::Shr,
            0x30 => Op::Caller,
            0x31 => Op::Address,
            0x32 => Op::CallValue,
            0x33 => Op::Arg,
            0x34 => Op::ArgC,
            0x35 => Op::Gas,
            0x36 => Op::Balance,
            0x37 => Op::SelfBalance,
            0x38 => Op::Number,
            0x40 => Op::SLoad,
            0x41 => Op::SStore,
            0x42 => Op::SAdd,
            0x43 => Op::Transfer,
            0x48 => Op::MLoad,
            0x49 => Op::MStore,
            0x50 => Op::Keccak,
            0x51 => Op::Hash2,
            0x58 => Op::Log,
            _ => return None,
        })
    }

    /// Bytes of immediate data after the opcode.
    pub const fn immediate_len(self) -> usize {
        match self {
            Op::Push1 | Op::Dup | Op::Swap => 1,
            Op::Push8 => 8,
            _ => 0,
        }
    }

    /// Static gas cost (`KECCAK` adds a per-word cost).
    pub const fn gas(self) -> u64 {
        match self {
            Op::Jump | Op::JumpI => GAS_JUMP,
            Op::MLoad | Op::MStore => GAS_MEMORY,
            Op::SLoad | Op::Balance | Op::SelfBalance => GAS_SLOAD,
            Op::SStore => GAS_SSTORE,
            Op::SAdd => GAS_SADD,
            Op::Transfer => GAS_TRANSFER,
            Op::Keccak | Op::Hash2 => GAS_KECCAK,
            Op::Log => GAS_LOG,
            _ => GAS_BASE,
        }
    }

    /// Assembler mnemonic.
    pub const fn mnemonic(self) -> &'static str {
        match self {
            Op::Stop => "STOP",
            Op::Push1 => "PUSH1",
            Op::Push8 => "PUSH8",
            Op::Pop => "POP",
            Op::Dup => "DUP",
            Op::Swap => "SWAP",
            Op::JumpDest => "JUMPDEST",
            Op::Jump => "JUMP",
            Op::JumpI => "JUMPI",
            Op::Return => "RETURN",
            Op::Revert => "REVERT",
            Op::Add => "ADD",
            Op::Sub => "SUB",
            Op::Mul => "MUL",
            Op::Div => "DIV",
            Op::Mod => "MOD",
            Op::AddC => "ADDC",
            Op::SubC => "SUBC",
            Op::MulC => "MULC",
            Op::MulDiv => "MULDIV",
            Op::Lt => "LT",
            Op::Gt => "GT",
            Op::Eq => "EQ",
            Op::IsZero => "ISZERO",
            Op::And => "AND",
            Op::Or => "OR",
            Op::Xor => "XOR",
            Op::Not => "NOT",
            Op::Shl => "SHL",
            Op::Shr => "SHR",
            Op::Caller => "CALLER",
            Op::Address => "ADDRESS",
            Op::CallValue => "CALLVALUE",
            Op::Arg => "ARG",
            Op::ArgC => "ARGC",
            Op::Gas => "GAS",
            Op::Balance => "BALANCE",
            Op::SelfBalance => "SELFBALANCE",
            Op::Number => "NUMBER",
            Op::SLoad => "SLOAD",
            Op::SStore => "SSTORE",
            Op::SAdd => "SADD",
            Op::Transfer => "TRANSFER",
            Op::MLoad => "MLOAD",
            Op::MStore => "MSTORE",
            Op::Keccak => "KECCAK",
            Op::Hash2 => "HASH2",
            Op::Log => "LOG",
        }
    }
}
