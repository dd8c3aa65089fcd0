//! Transactions: native transfers and contract calls, their optional declared access
//! lists, and their canonical byte encoding (hashed for the block's transaction root,
//! and decoded by appliances that receive transactions as bytes).
//!
//! Validity, nonce and fee rules are in `docs/semantics.md` ("Transactions").

use core::fmt;

use heapless::Vec;

use crate::types::{Address, KeyKind, StateKey};

/// Maximum arguments of a contract call.
pub const MAX_ARGS: usize = 4;
/// Maximum entries of a declared access list.
pub const MAX_ACCESS: usize = 8;
/// Maximum length of [`Transaction::encode`]'s output.
pub const MAX_ENCODED_LEN: usize = 8 * 4 + 1 + 8 + 8 + 1 + 8 * MAX_ARGS + 2 + 18 * MAX_ACCESS;

/// What a transaction does.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TxKind {
    /// Move `value` native units from the sender to `to`.
    Transfer {
        /// Recipient.
        to: Address,
        /// Amount.
        value: u64,
    },
    /// Run the contract at `to` with `args`, after moving `value` to it.
    Call {
        /// The contract.
        to: Address,
        /// Native units sent along (the VM's `CALLVALUE`).
        value: u64,
        /// Arguments (the VM's `ARG`); by convention `args[0]` selects the method.
        args: Vec<u64, MAX_ARGS>,
    },
    /// A call delivered from another shard (`crate::shard`): the contract at `to` runs
    /// with `args` for `from` (the sender, on its own shard) after `value` is credited
    /// to it. Built by the receiving shard from a message, never signed: no checks, no
    /// nonce and no fee (paid at the source); `nonce` is the message's number and
    /// `gas_limit` the VM's gas.
    Delivered {
        /// The contract.
        to: Address,
        /// Native units the message carries (the VM's `CALLVALUE`).
        value: u64,
        /// Arguments.
        args: Vec<u64, MAX_ARGS>,
    },
}

/// One declared access: a key and whether the transaction may write it. 24 bytes: the
/// key's fields are kept beside the flag (a [`StateKey`] and a `bool` would take 32), since
/// every transaction carries room for [`MAX_ACCESS`] of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AccessEntry {
    addr: Address,
    slot: u64,
    /// The key's kind, as its byte ([`StateKey::to_bytes`]'s tag): a [`KeyKind`] is a
    /// word.
    kind: u8,
    /// Declared as written (a write implies a read may happen too).
    pub write: bool,
}

impl AccessEntry {
    /// `key`, declared as written or not.
    #[inline]
    pub const fn new(key: StateKey, write: bool) -> Self {
        Self { addr: key.addr, slot: key.slot, kind: key.kind as u8, write }
    }

    /// The key.
    #[inline]
    pub const fn key(&self) -> StateKey {
        // Only `new` writes `kind`, from a `KeyKind`.
        let kind = match KeyKind::from_u8(self.kind) {
            Some(k) => k,
            None => KeyKind::Storage,
        };
        StateKey { addr: self.addr, kind, slot: self.slot }
    }
}

const _: () = assert!(core::mem::size_of::<AccessEntry>() == 24);

/// A declared access list: the keys a transaction promises to touch besides its implicit
/// ones (sender nonce and balance, beneficiary balance).
pub type AccessList = Vec<AccessEntry, MAX_ACCESS>;

/// A transaction. Its declared access list, if any, is borrowed (`'a`): a block's
/// transactions are read side by side by every worker, and a list held inline took 200
/// of a transaction's 304 bytes, room that a native transfer never used (now 104
/// bytes). A host's block owns its lists beside its transactions; an appliance hands in
/// memory for its lists (`crate::reference::block`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Transaction<'a> {
    /// Sender; pays value and fee.
    pub from: Address,
    /// Must equal the sender's nonce.
    pub nonce: u64,
    /// Most gas the transaction may use.
    pub gas_limit: u64,
    /// Native units per gas paid to the block's beneficiary.
    pub gas_price: u64,
    /// Transfer or call.
    pub kind: TxKind,
    /// Optional declared access list (used by the parallel scheduler).
    pub access: Option<&'a AccessList>,
}

impl Transaction<'_> {
    /// A native transfer without an access list.
    pub fn transfer(
        from: Address,
        nonce: u64,
        to: Address,
        value: u64,
        gas_limit: u64,
        gas_price: u64,
    ) -> Self {
        Self {
            from,
            nonce,
            gas_limit,
            gas_price,
            kind: TxKind::Transfer { to, value },
            access: None,
        }
    }

    /// A contract call without an access list; extra arguments beyond [`MAX_ARGS`] are
    /// an error.
    pub fn call(
        from: Address,
        nonce: u64,
        to: Address,
        value: u64,
        args: &[u64],
        gas_limit: u64,
        gas_price: u64,
    ) -> Result<Self, DecodeError> {
        let args = Vec::from_slice(args).map_err(|_| DecodeError::TooManyArgs)?;
        Ok(Self {
            from,
            nonce,
            gas_limit,
            gas_price,
            kind: TxKind::Call { to, value, args },
            access: None,
        })
    }

    /// The account the transaction is addressed to.
    pub fn to(&self) -> Address {
        match &self.kind {
            TxKind::Transfer { to, .. }
            | TxKind::Call { to, .. }
            | TxKind::Delivered { to, .. } => *to,
        }
    }

    /// Native units moved to [`Self::to`].
    pub fn value(&self) -> u64 {
        match &self.kind {
            TxKind::Transfer { value, .. }
            | TxKind::Call { value, .. }
            | TxKind::Delivered { value, .. } => *value,
        }
    }

    /// True when the access list (if any) has the documented shape: no key twice and no
    /// code-hash keys.
    pub fn access_list_is_well_formed(&self) -> bool {
        let Some(list) = &self.access else { return true };
        list.iter().enumerate().all(|(i, a)| {
            a.key().kind != KeyKind::CodeHash && list[..i].iter().all(|b| b.key() != a.key())
        })
    }

    /// Whether the access list declares `key` (for writing when `write`).
    pub fn declares(&self, key: &StateKey, write: bool) -> bool {
        match &self.access {
            None => true,
            Some(list) => list.iter().any(|a| a.key() == *key && (a.write || !write)),
        }
    }

    /// Writes the canonical encoding into `out` and returns its length (at most
    /// [`MAX_ENCODED_LEN`]; `out` must be that long). Layout, all integers LE:
    /// `from, nonce, gas_limit, gas_price` (8 each), kind (1: 0 transfer, 1 call, 2 a call
    /// delivered from another shard), `to`, `value` (8 each); for calls `nargs` (1) and
    /// the args (8 each); then the access flag
    /// (1: 0 none, 1 present) and, when present, count (1) and per entry the key (17) and
    /// the write flag (1).
    pub fn encode(&self, out: &mut [u8; MAX_ENCODED_LEN]) -> usize {
        let mut w = Writer { buf: out, pos: 0 };
        w.u64(self.from.0);
        w.u64(self.nonce);
        w.u64(self.gas_limit);
        w.u64(self.gas_price);
        match &self.kind {
            TxKind::Transfer { to, value } => {
                w.u8(0);
                w.u64(to.0);
                w.u64(*value);
            }
            TxKind::Call { to, value, args } | TxKind::Delivered { to, value, args } => {
                w.u8(if matches!(self.kind, TxKind::Call { .. }) { 1 } else { 2 });
                w.u64(to.0);
                w.u64(*value);
                w.u8(args.len() as u8);
                args.iter().for_each(|a| w.u64(*a));
            }
        }
        match &self.access {
            None => w.u8(0),
            Some(list) => {
                w.u8(1);
                w.u8(list.len() as u8);
                for a in list.iter() {
                    w.bytes(&a.key().to_bytes());
                    w.u8(a.write as u8);
                }
            }
        }
        w.pos
    }

    /// Decodes [`Self::encode`]'s format; the whole input must be consumed. A declared
    /// access list is decoded into `list`, which the transaction borrows.
    pub fn decode<'l>(
        bytes: &[u8],
        list: &'l mut AccessList,
    ) -> Result<Transaction<'l>, DecodeError> {
        let mut r = Reader { buf: bytes, pos: 0 };
        let from = Address(r.u64()?);
        let nonce = r.u64()?;
        let gas_limit = r.u64()?;
        let gas_price = r.u64()?;
        let kind = match r.u8()? {
            0 => TxKind::Transfer { to: Address(r.u64()?), value: r.u64()? },
            k @ (1 | 2) => {
                let to = Address(r.u64()?);
                let value = r.u64()?;
                let n = r.u8()? as usize;
                if n > MAX_ARGS {
                    return Err(DecodeError::TooManyArgs);
                }
                let mut args = Vec::new();
                for _ in 0..n {
                    // Cannot fail: n <= MAX_ARGS was checked above.
                    let _ = args.push(r.u64()?);
                }
                if k == 1 {
                    TxKind::Call { to, value, args }
                } else {
                    TxKind::Delivered { to, value, args }
                }
            }
            k => return Err(DecodeError::BadKind(k)),
        };
        let access = match r.u8()? {
            0 => None,
            1 => {
                let n = r.u8()? as usize;
                if n > MAX_ACCESS {
                    return Err(DecodeError::TooManyAccesses);
                }
                list.clear();
                for _ in 0..n {
                    let addr = Address(r.u64()?);
                    let tag = r.u8()?;
                    let kind = KeyKind::from_u8(tag).ok_or(DecodeError::BadKeyKind(tag))?;
                    let slot = r.u64()?;
                    let write = match r.u8()? {
                        0 => false,
                        1 => true,
                        b => return Err(DecodeError::BadFlag(b)),
                    };
                    // Cannot fail: n <= MAX_ACCESS was checked above.
                    let _ = list.push(AccessEntry::new(StateKey { addr, kind, slot }, write));
                }
                Some(())
            }
            b => return Err(DecodeError::BadFlag(b)),
        };
        if r.pos != bytes.len() {
            return Err(DecodeError::TrailingBytes(bytes.len() - r.pos));
        }
        let list: &'l AccessList = list;
        let access = access.map(|()| list);
        Ok(Transaction { from, nonce, gas_limit, gas_price, kind, access })
    }
}

/// Why bytes are not a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DecodeError {
    /// Input ended at this offset.
    Truncated(usize),
    /// Unknown transaction kind byte.
    BadKind(u8),
    /// More than [`MAX_ARGS`] arguments.
    TooManyArgs,
    /// More than [`MAX_ACCESS`] access entries.
    TooManyAccesses,
    /// Unknown key kind byte.
    BadKeyKind(u8),
    /// A flag byte other than 0 or 1.
    BadFlag(u8),
    /// Bytes left after the transaction.
    TrailingBytes(usize),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated(at) => write!(f, "transaction truncated at byte {at}"),
            Self::BadKind(k) => write!(f, "unknown transaction kind {k}"),
            Self::TooManyArgs => write!(f, "more than {MAX_ARGS} call arguments"),
            Self::TooManyAccesses => write!(f, "more than {MAX_ACCESS} access-list entries"),
            Self::BadKeyKind(k) => write!(f, "unknown key kind {k}"),
            Self::BadFlag(b) => write!(f, "flag byte {b} is neither 0 nor 1"),
            Self::TrailingBytes(n) => write!(f, "{n} trailing bytes after the transaction"),
        }
    }
}

impl core::error::Error for DecodeError {}

struct Writer<'a> {
    buf: &'a mut [u8; MAX_ENCODED_LEN],
    pos: usize,
}

impl Writer<'_> {
    // The encoding of any `Transaction` fits MAX_ENCODED_LEN by construction (bounded
    // args and access list), so these never run past the buffer; `get_mut` keeps them
    // panic-free regardless.
    fn bytes(&mut self, b: &[u8]) {
        if let Some(dst) = self.buf.get_mut(self.pos..self.pos + b.len()) {
            dst.copy_from_slice(b);
        }
        self.pos += b.len();
    }
    fn u8(&mut self, b: u8) {
        self.bytes(&[b]);
    }
    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let s = self.buf.get(self.pos..self.pos + N).ok_or(DecodeError::Truncated(self.pos))?;
        self.pos += N;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take::<1>()?[0])
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.take::<8>()?))
    }
}

/// Most keys in a native transfer's [`Footprint`] (and the width of a block of them in
/// the footprint engine's tables).
pub const FOOTPRINT: usize = 4;
/// Most keys in any [`Footprint`]: a declared call's sender nonce and balance, its
/// [`MAX_ACCESS`] declared keys and the beneficiary's balance.
pub const FOOTPRINT_MAX: usize = 2 + MAX_ACCESS + 1;

/// What a transaction may touch, known before it runs ([`Transaction::footprint`]): the
/// one statement of it, which the footprint engine plans from and which a test checks
/// every executed access set against. Each key is either *read* (the transaction may
/// read and set it) or *added to* only.
///
/// A native transfer's footprint: the sender's nonce and balance (read: the nonce check,
/// the funds check, the fee), the recipient's balance (credited) and the beneficiary's
/// balance (the fee, credited). A call that declares an access list: the sender's nonce
/// and balance (read), every declared key (read, whether declared for writing or not),
/// and the beneficiary's balance (credited) unless declared. Keys are listed once,
/// read ones first; a key listed twice keeps its first mode, so the sender's balance
/// (read) wins over being the recipient or the beneficiary. A call without an access list
/// has no footprint: its keys are known only by running it.
#[derive(Clone, Copy, Debug)]
pub struct Footprint {
    /// The first `len` are the keys; the rest hold whatever an earlier [`Self::set`] left.
    keys: [StateKey; FOOTPRINT_MAX],
    len: u8,
    /// How many of the first keys are read (the others are only added to).
    read: u8,
    /// Bit `j`: key `j` is declared read-only (a declared call's entry without `write`).
    only_read: u16,
}

impl Footprint {
    /// The keys, read ones first.
    #[inline]
    pub fn keys(&self) -> &[StateKey] {
        &self.keys[..self.len as usize]
    }

    /// How many keys.
    #[allow(clippy::len_without_is_empty)] // never empty: a sender's nonce and balance
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// The position of `key`, if the footprint holds it.
    #[inline]
    pub fn position(&self, key: &StateKey) -> Option<usize> {
        self.keys().iter().position(|k| k == key)
    }

    /// Whether position `j` may be read (else only added to).
    #[inline]
    pub const fn reads(&self, j: usize) -> bool {
        j < self.read as usize
    }

    /// Whether position `j` is declared read-only: the transaction promises not to
    /// write it (a promise the footprint engine checks).
    #[inline]
    pub const fn only_reads(&self, j: usize) -> bool {
        self.only_read & 1 << j != 0
    }

    /// Appends `key` in mode `read` unless listed already (then false); read keys must
    /// all come first.
    #[inline(always)]
    fn push(&mut self, key: StateKey, read: bool) -> bool {
        let len = self.len as usize;
        if self.keys[..len].contains(&key) || len == FOOTPRINT_MAX {
            return false;
        }
        self.keys[len] = key;
        self.len += 1;
        self.read += read as u8;
        true
    }
}

impl Default for Footprint {
    fn default() -> Self {
        Self::new()
    }
}

/// Equal when the keys and their modes are (not the room past them, which
/// [`Footprint::set`] leaves as it was).
impl PartialEq for Footprint {
    fn eq(&self, other: &Self) -> bool {
        self.keys() == other.keys() && self.read == other.read && self.only_read == other.only_read
    }
}

impl Eq for Footprint {}

impl Transaction<'_> {
    /// Whether [`Self::footprint`] is known before the transaction runs (without
    /// building it): a native transfer, or a call that declares an access list.
    #[inline]
    pub fn has_footprint(&self) -> bool {
        match self.kind {
            TxKind::Transfer { .. } => true,
            TxKind::Call { .. } => self.access.is_some(),
            TxKind::Delivered { .. } => false,
        }
    }

    /// Most keys of [`Self::footprint`] (without building it); 0 when it has none.
    #[inline]
    pub fn footprint_len(&self) -> usize {
        match &self.kind {
            TxKind::Transfer { .. } => FOOTPRINT,
            TxKind::Call { .. } => self.access.as_ref().map_or(0, |list| 3 + list.len()),
            TxKind::Delivered { .. } => 0,
        }
    }

    /// What the transaction may touch in a block whose fees go to `beneficiary`, when
    /// that is known before it runs (see [`Footprint`]); `None` for a call without an
    /// access list.
    #[inline]
    pub fn footprint(&self, beneficiary: Address) -> Option<Footprint> {
        let fp = Footprint::of(self, beneficiary);
        (fp.len > 0).then_some(fp)
    }
}

impl Footprint {
    /// [`Transaction::footprint`] without the `Option`: empty (no keys) when unknown.
    #[inline(always)]
    pub fn of(tx: &Transaction, beneficiary: Address) -> Self {
        let mut fp = Self::new();
        fp.set(tx, beneficiary);
        fp
    }

    /// No keys, room for [`Self::set`].
    #[inline(always)]
    pub fn new() -> Self {
        const NONE: StateKey = StateKey::balance(Address(0));
        // Key by key: an array constant was copied in with a call to `memmove`.
        Footprint { keys: core::array::from_fn(|_| NONE), len: 0, read: 0, only_read: 0 }
    }

    /// Makes this [`Footprint::of`] `tx`, in place: a loop over transactions keeps one
    /// and sets it for each (the keys past the new length are left as they were, and never
    /// read), where building and returning one per transaction copied its 272 bytes
    /// with a call to `memmove`, which cost more than the rest of a transfer's footprint.
    #[inline(always)]
    pub fn set(&mut self, tx: &Transaction, beneficiary: Address) {
        let from = tx.from;
        self.keys[0] = StateKey::nonce(from);
        self.keys[1] = StateKey::balance(from);
        match (&tx.kind, &tx.access) {
            (TxKind::Transfer { to, .. }, _)
                if *to != from && *to != beneficiary && beneficiary != from =>
            {
                // The common case without the duplicate checks of `push`. The three
                // counts are set together, in one store: the callers read them back at
                // once, and a load that spans several smaller stores waits for them
                // to reach the cache (a failed store-to-load forward, which cost a
                // third of the footprint engine's scatter).
                self.keys[2] = StateKey::balance(*to);
                self.keys[3] = StateKey::balance(beneficiary);
                (self.len, self.read, self.only_read) = (4, 2, 0);
            }
            _ => self.set_rest(tx, beneficiary),
        }
    }

    /// [`Self::set`] for every case but a transfer between three different accounts.
    #[inline(never)]
    fn set_rest(&mut self, tx: &Transaction, beneficiary: Address) {
        (self.len, self.read, self.only_read) = (2, 2, 0);
        match (&tx.kind, &tx.access) {
            (TxKind::Transfer { to, .. }, _) => {
                self.push(StateKey::balance(*to), false);
                self.push(StateKey::balance(beneficiary), false);
            }
            (TxKind::Call { .. }, Some(list)) => {
                for a in list.iter() {
                    let j = self.len;
                    if self.push(a.key(), true) && !a.write {
                        self.only_read |= 1 << j;
                    }
                }
                self.push(StateKey::balance(beneficiary), false);
            }
            (TxKind::Call { .. }, None) | (TxKind::Delivered { .. }, _) => {
                (self.len, self.read) = (0, 0)
            }
        }
    }
}

// A block's transactions are read side by side by every worker: keep them small (the
// list is borrowed, see `Transaction`).
const _: () = assert!(core::mem::size_of::<Transaction<'static>>() <= 104);
