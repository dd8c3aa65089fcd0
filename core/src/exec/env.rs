//! What the block gives every transaction: the per-transaction [`Limits`] and the
//! [`BlockEnv`] (number, beneficiary, deployed contracts, shard).

use crate::state::Contract;
use crate::types::{Address, Shard};

/// Gas every transaction pays before anything runs.
pub const INTRINSIC_GAS: u64 = 1_000;

/// Accesses every transaction may make outside the VM's limits: sender nonce and
/// balance, recipient (or contract) balance, beneficiary balance.
pub const SYSTEM_ACCESSES: usize = 4;

/// Per-transaction limits. Exceeding one fails the transaction with
/// [`crate::receipt::Status::CapacityExceeded`] (fee charged), identically in both executors.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Limits {
    /// Distinct keys the VM may read (beyond the system accesses).
    pub max_reads: u32,
    /// Distinct keys the VM may write (beyond the system accesses).
    pub max_writes: u32,
    /// Logs per transaction.
    pub max_logs: u32,
}

impl Limits {
    /// Defaults used by the host and tests.
    pub const DEFAULT: Self = Self { max_reads: 16, max_writes: 16, max_logs: 8 };

    /// Entries an [`super::AccessSet`] needs under these limits.
    pub const fn access_entries(&self) -> usize {
        self.max_reads as usize + self.max_writes as usize + SYSTEM_ACCESSES
    }

    /// Most distinct keys one transaction can write.
    pub const fn writes_per_tx(&self) -> usize {
        self.max_writes as usize + SYSTEM_ACCESSES
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What the block gives every transaction.
#[derive(Clone, Copy, Debug)]
pub struct BlockEnv<'a> {
    /// Block number.
    pub number: u64,
    /// Receives every fee.
    pub beneficiary: Address,
    /// Deployed contracts (strictly ascending by address).
    pub contracts: &'a [Contract<'a>],
    /// Per-transaction limits.
    pub limits: Limits,
    /// The shard the block runs on ([`Shard::WHOLE`] unsharded): a transfer to an
    /// address of another shard debits the sender only, its value carried by a message
    /// (`crate::shard`).
    pub shard: Shard,
    /// How many of the block's first transactions are calls delivered from other shards
    /// ([`crate::tx::TxKind::Delivered`], built from accepted messages): exactly these
    /// may be, and no other ([`crate::policy::run_block`] refuses the block otherwise).
    pub delivered: u32,
}

impl BlockEnv<'_> {
    /// The code at `addr`.
    pub fn code(&self, addr: Address) -> Option<&[u8]> {
        self.contracts.binary_search_by_key(&addr, |c| c.addr).ok().map(|i| self.contracts[i].code)
    }
}
