//! Plain data shared by every part of the core: addresses, state keys, digests.
//!
//! The byte encodings here are part of the commitment and documented in
//! `docs/semantics.md` ("Commitment layout").

use core::fmt;

/// A 32-byte Keccak-256 digest.
pub type Hash32 = [u8; 32];

/// An account address. Accounts are named by a 64-bit number so that the VM, whose
/// words are 64 bits wide, can hold an address in one stack slot.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Address(pub u64);

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#018x}", self.0)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#018x}", self.0)
    }
}

/// What a [`StateKey`] names inside an account.
///
/// A whole word, though a byte would hold it: a [`StateKey`] is 24 bytes either way (its
/// other fields are words), and with a byte, building a key stored one byte where
/// copying it loads the whole word, padding included. Such a load waits until the
/// byte reaches the cache (a failed store-to-load forward), which cost the executors'
/// access sets about a tenth of their time; with a word, every store is whole.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u64)]
pub enum KeyKind {
    /// The account's native balance.
    Balance = 0,
    /// The account's transaction counter.
    Nonce = 1,
    /// The first 8 bytes (little endian) of the Keccak-256 of the account's contract code;
    /// written at genesis only.
    CodeHash = 2,
    /// A contract storage word; the key's `slot` names it.
    Storage = 3,
}

impl KeyKind {
    /// Decodes the tag byte of [`StateKey::to_bytes`].
    pub const fn from_u8(b: u8) -> Option<Self> {
        match b {
            0 => Some(Self::Balance),
            1 => Some(Self::Nonce),
            2 => Some(Self::CodeHash),
            3 => Some(Self::Storage),
            _ => None,
        }
    }
}

/// One word of state: every value in the state is a `u64` stored under a `StateKey`.
///
/// Keys order by (address, kind, slot); block write sets are applied in that order,
/// which fixes where new keys land in the Merkle tree.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StateKey {
    /// The account.
    pub addr: Address,
    /// Which word of the account.
    pub kind: KeyKind,
    /// Storage slot for [`KeyKind::Storage`]; 0 otherwise.
    pub slot: u64,
}

const _: () = assert!(core::mem::size_of::<StateKey>() == 24);

impl StateKey {
    /// Length of [`StateKey::to_bytes`].
    pub const ENCODED_LEN: usize = 17;

    /// The balance of `addr`.
    pub const fn balance(addr: Address) -> Self {
        Self { addr, kind: KeyKind::Balance, slot: 0 }
    }

    /// The nonce of `addr`.
    pub const fn nonce(addr: Address) -> Self {
        Self { addr, kind: KeyKind::Nonce, slot: 0 }
    }

    /// The code hash of `addr`.
    pub const fn code_hash(addr: Address) -> Self {
        Self { addr, kind: KeyKind::CodeHash, slot: 0 }
    }

    /// Storage word `slot` of contract `addr`.
    pub const fn storage(addr: Address, slot: u64) -> Self {
        Self { addr, kind: KeyKind::Storage, slot }
    }

    /// Canonical encoding: address (8 bytes LE), kind (1 byte), slot (8 bytes LE).
    pub fn to_bytes(&self) -> [u8; Self::ENCODED_LEN] {
        let mut b = [0u8; Self::ENCODED_LEN];
        b[..8].copy_from_slice(&self.addr.0.to_le_bytes());
        b[8] = self.kind as u8;
        b[9..].copy_from_slice(&self.slot.to_le_bytes());
        b
    }

    /// A well-mixed 64-bit hash of the key for the core's open-addressing tables.
    /// Not cryptographic; only spreads sequential addresses and slots.
    #[inline]
    pub fn table_hash(&self) -> u64 {
        // splitmix64 finaliser over a cheap combination of the fields.
        let mut z = self
            .addr
            .0
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(self.slot.rotate_left(29) ^ ((self.kind as u64) << 61));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Which part of a sharded state a block runs on: shard `index` of `count`
/// ([`Shard::WHOLE`] for an unsharded chain). An address belongs to shard
/// `address mod count` ([`Shard::of`]); the rules are in `docs/semantics.md` ("Shards")
/// and `crate::shard`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Shard {
    index: u16,
    count: u16,
}

impl Shard {
    /// Most shards a chain may have.
    pub const MAX: u16 = 1024;
    /// The whole state: every address is here.
    pub const WHOLE: Self = Self { index: 0, count: 1 };
    /// Holds the value contracts pay to addresses of other shards (`TRANSFER`) until the
    /// block's end: storage word `a` is what is owed to address `a`, sent as one message
    /// at the block's end and cleared at the next height (`crate::shard`).
    pub const PENDING: Address = Address(0xFFFF_FFFF_FFFF_FFF2);

    /// Shard `index` of `count`; `None` unless `index < count <= MAX`.
    pub const fn new(index: u16, count: u16) -> Option<Self> {
        if index < count && count <= Self::MAX {
            Some(Self { index, count })
        } else {
            None
        }
    }

    /// The shard of `addr` in a chain of `count` shards (`count` at least 1).
    pub const fn of(addr: Address, count: u16) -> u16 {
        if count <= 1 {
            0
        } else {
            (addr.0 % count as u64) as u16
        }
    }

    /// This shard's number.
    pub const fn index(&self) -> u16 {
        self.index
    }

    /// The chain's number of shards.
    pub const fn count(&self) -> u16 {
        self.count
    }

    /// Whether `addr` belongs to this shard.
    pub const fn holds(&self, addr: Address) -> bool {
        Self::of(addr, self.count) == self.index
    }
}

impl Default for Shard {
    fn default() -> Self {
        Self::WHOLE
    }
}
