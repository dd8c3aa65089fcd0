//! Receipts and their status codes.

use crate::types::Hash32;

/// How a transaction ended. Codes are grouped in byte ranges so they stay stable:
/// `0x00..=0x0f` success, `0x10..=0x1f` revert, `0x20..=0x3f` halts (a fault: state changes
/// rolled back, fee charged), `0x40..=0x5f` invalid (nothing changes, no fee, no nonce).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum Status {
    /// Executed; its writes are in the block.
    Success = 0x00,
    /// The contract executed `REVERT`.
    Reverted = 0x10,
    /// Gas ran out.
    OutOfGas = 0x20,
    /// A push beyond the stack's capacity.
    StackOverflow = 0x21,
    /// A pop from an empty stack, or `DUP`/`SWAP` deeper than the stack.
    StackUnderflow = 0x22,
    /// A jump to a byte that is not `JUMPDEST`.
    BadJump = 0x23,
    /// An undefined opcode, or an immediate running past the code's end.
    InvalidOpcode = 0x24,
    /// Division by zero, or a checked operation overflowed.
    ArithmeticFault = 0x25,
    /// A memory access outside the VM's memory.
    MemoryOutOfBounds = 0x26,
    /// `TRANSFER` of more than the contract holds.
    InsufficientBalance = 0x27,
    /// More distinct reads, writes or logs than the limits allow.
    CapacityExceeded = 0x28,
    /// A call to an address without code.
    NotAContract = 0x29,
    /// The nonce is not the sender's.
    InvalidNonce = 0x40,
    /// The sender cannot pay `gas_limit * gas_price + value`.
    InsufficientFunds = 0x41,
    /// `gas_limit` is below the intrinsic gas.
    IntrinsicGas = 0x42,
    /// `gas_limit * gas_price + value` overflows.
    FeeOverflow = 0x43,
    /// The access list names a key twice or a code hash.
    BadAccessList = 0x44,
    /// The sender is a contract (contracts do not sign transactions).
    SenderIsContract = 0x45,
}

impl Status {
    /// Executed and kept.
    pub const fn is_success(self) -> bool {
        (self as u8) < 0x10
    }
    /// Included with fee and nonce, but its other effects were rolled back.
    pub const fn is_failure(self) -> bool {
        (self as u8) >= 0x10 && (self as u8) < 0x40
    }
    /// Rejected: no effect at all.
    pub const fn is_invalid(self) -> bool {
        (self as u8) >= 0x40
    }

    /// Decodes a status byte.
    pub const fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            0x00 => Self::Success,
            0x10 => Self::Reverted,
            0x20 => Self::OutOfGas,
            0x21 => Self::StackOverflow,
            0x22 => Self::StackUnderflow,
            0x23 => Self::BadJump,
            0x24 => Self::InvalidOpcode,
            0x25 => Self::ArithmeticFault,
            0x26 => Self::MemoryOutOfBounds,
            0x27 => Self::InsufficientBalance,
            0x28 => Self::CapacityExceeded,
            0x29 => Self::NotAContract,
            0x40 => Self::InvalidNonce,
            0x41 => Self::InsufficientFunds,
            0x42 => Self::IntrinsicGas,
            0x43 => Self::FeeOverflow,
            0x44 => Self::BadAccessList,
            0x45 => Self::SenderIsContract,
            _ => return None,
        })
    }

    /// A short lowercase name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Reverted => "reverted",
            Self::OutOfGas => "out_of_gas",
            Self::StackOverflow => "stack_overflow",
            Self::StackUnderflow => "stack_underflow",
            Self::BadJump => "bad_jump",
            Self::InvalidOpcode => "invalid_opcode",
            Self::ArithmeticFault => "arithmetic_fault",
            Self::MemoryOutOfBounds => "memory_out_of_bounds",
            Self::InsufficientBalance => "insufficient_balance",
            Self::CapacityExceeded => "capacity_exceeded",
            Self::NotAContract => "not_a_contract",
            Self::InvalidNonce => "invalid_nonce",
            Self::InsufficientFunds => "insufficient_funds",
            Self::IntrinsicGas => "intrinsic_gas",
            Self::FeeOverflow => "fee_overflow",
            Self::BadAccessList => "bad_access_list",
            Self::SenderIsContract => "sender_is_contract",
        }
    }
}

/// What a transaction left behind.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Receipt {
    /// How it ended.
    pub status: Status,
    /// Gas charged (0 for invalid transactions).
    pub gas_used: u64,
    /// The word passed to `RETURN` or `REVERT`; 0 otherwise.
    pub output: u64,
    /// Keccak-256 over the logs (24 bytes each: address, topic, data, LE), or 32 zero
    /// bytes when there are none.
    pub logs_digest: Hash32,
    /// Number of logs.
    pub logs: u32,
    /// The transaction declared an access list and touched a key outside it.
    pub undeclared_access: bool,
}

impl Receipt {
    /// A placeholder for initialising buffers.
    pub const EMPTY: Self = Self {
        status: Status::InvalidNonce,
        gas_used: 0,
        output: 0,
        logs_digest: [0; 32],
        logs: 0,
        undeclared_access: false,
    };

    /// Length of [`Self::encode`].
    pub const ENCODED_LEN: usize = 1 + 8 + 8 + 32 + 4 + 1;

    /// Canonical encoding hashed into the receipts root: status, gas_used, output,
    /// logs_digest, logs, undeclared_access (integers LE).
    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut b = [0u8; Self::ENCODED_LEN];
        b[0] = self.status as u8;
        b[1..9].copy_from_slice(&self.gas_used.to_le_bytes());
        b[9..17].copy_from_slice(&self.output.to_le_bytes());
        b[17..49].copy_from_slice(&self.logs_digest);
        b[49..53].copy_from_slice(&self.logs.to_le_bytes());
        b[53] = self.undeclared_access as u8;
        b
    }
}

impl Default for Receipt {
    fn default() -> Self {
        Self::EMPTY
    }
}
