//! How a transaction sees and changes the state: the [`View`] of the state before it,
//! and the [`AccessSet`] recording what it read and wrote ([`Access`], [`Write`]).

use crate::receipt::Status;
use crate::types::{Address, StateKey};
use crate::vm::{Exit, Host, Interrupt};

use super::env::Limits;

/// The state as one transaction sees it: everything the transactions before it wrote.
pub trait View {
    /// The value of `key` before this transaction.
    fn read(&mut self, key: &StateKey) -> Result<u64, Interrupt>;
}

/// A write a transaction made to one key.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Write {
    /// Not written.
    None,
    /// Set to a value.
    Set(u64),
    /// Added to (wrapping), without reading: commutes with other adds.
    Add(u64),
}

/// One key a transaction touched: the value it read from the view (the value before the
/// transaction; a read set entry) and what it wrote (a write set entry).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Access {
    /// The key.
    pub key: StateKey,
    /// Value observed from the view, if the transaction read it.
    pub read: Option<u64>,
    /// What it wrote.
    pub write: Write,
}

impl Access {
    /// A placeholder for initialising buffers.
    pub const EMPTY: Self =
        Self { key: StateKey::balance(Address(0)), read: None, write: Write::None };
}

impl Default for Access {
    fn default() -> Self {
        Self::EMPTY
    }
}

/// The read and write set of one execution, in caller memory
/// ([`Limits::access_entries`] entries). Keys are distinct; lookups are linear, which is
/// the fast choice for the few keys a transaction touches.
pub struct AccessSet<'a> {
    entries: &'a mut [Access],
    len: usize,
    vm_reads: u32,
    vm_writes: u32,
    limits: Limits,
    /// While false (system accesses), reads and writes do not count against the limits.
    counting: bool,
}

impl<'a> AccessSet<'a> {
    /// Wraps caller memory. `None` when shorter than `limits.access_entries()`.
    pub fn new(entries: &'a mut [Access], limits: Limits) -> Option<Self> {
        if entries.len() < limits.access_entries() {
            return None;
        }
        Some(Self { entries, len: 0, vm_reads: 0, vm_writes: 0, limits, counting: false })
    }

    /// Forgets everything, for the next transaction.
    pub fn clear(&mut self) {
        self.len = 0;
        self.vm_reads = 0;
        self.vm_writes = 0;
        self.counting = false;
    }

    /// The keys touched, in first-touch order.
    pub fn accesses(&self) -> &[Access] {
        &self.entries[..self.len]
    }

    fn find(&self, key: &StateKey) -> Option<usize> {
        self.entries[..self.len].iter().position(|a| a.key == *key)
    }

    /// Appends an entry. Field by field: an `Access` built first and then copied is
    /// stored in pieces and read back whole, and such a load waits until the pieces
    /// reach the cache (a failed store-to-load forward: a third of `load`'s time).
    #[inline(always)]
    fn insert(&mut self, key: &StateKey, read: Option<u64>, write: Write) -> Result<(), Exit> {
        let slot = self.entries.get_mut(self.len).ok_or(Exit::Halt(Status::CapacityExceeded))?;
        slot.key = *key;
        slot.read = read;
        slot.write = write;
        self.len += 1;
        Ok(())
    }

    fn count_read(&mut self) -> Result<(), Exit> {
        if self.counting {
            if self.vm_reads >= self.limits.max_reads {
                return Err(Exit::Halt(Status::CapacityExceeded));
            }
            self.vm_reads += 1;
        }
        Ok(())
    }

    fn count_write(&mut self) -> Result<(), Exit> {
        if self.counting {
            if self.vm_writes >= self.limits.max_writes {
                return Err(Exit::Halt(Status::CapacityExceeded));
            }
            self.vm_writes += 1;
        }
        Ok(())
    }

    /// Reads `key`: this transaction's own write if any, else the view (recorded).
    pub fn load<V: View>(&mut self, view: &mut V, key: &StateKey) -> Result<u64, Exit> {
        match self.find(key) {
            Some(i) => {
                let a = self.entries[i];
                match (a.write, a.read) {
                    (Write::Set(v), _) => Ok(v),
                    (Write::Add(d), Some(r)) => Ok(r.wrapping_add(d)),
                    (Write::None, Some(r)) => Ok(r),
                    (Write::Add(d), None) => {
                        // An add not yet read: resolve it now and keep it as a set.
                        self.count_read()?;
                        let r = view.read(key)?;
                        let v = r.wrapping_add(d);
                        self.entries[i].read = Some(r);
                        self.entries[i].write = Write::Set(v);
                        Ok(v)
                    }
                    // An entry without read or write exists only after a rollback.
                    (Write::None, None) => {
                        self.count_read()?;
                        let r = view.read(key)?;
                        self.entries[i].read = Some(r);
                        Ok(r)
                    }
                }
            }
            None => {
                self.count_read()?;
                let r = view.read(key)?;
                self.insert(key, Some(r), Write::None)?;
                Ok(r)
            }
        }
    }

    /// Sets `key`.
    pub fn store(&mut self, key: &StateKey, value: u64) -> Result<(), Exit> {
        match self.find(key) {
            Some(i) => {
                if self.entries[i].write == Write::None {
                    self.count_write()?;
                }
                self.entries[i].write = Write::Set(value);
            }
            None => {
                self.count_write()?;
                self.insert(key, None, Write::Set(value))?;
            }
        }
        Ok(())
    }

    /// Adds to `key` without reading it.
    pub fn add(&mut self, key: &StateKey, delta: u64) -> Result<(), Exit> {
        match self.find(key) {
            Some(i) => {
                let a = &mut self.entries[i];
                let w = match (a.write, a.read) {
                    (Write::Set(v), _) => Write::Set(v.wrapping_add(delta)),
                    (Write::Add(d), _) => Write::Add(d.wrapping_add(delta)),
                    (Write::None, Some(r)) => Write::Set(r.wrapping_add(delta)),
                    (Write::None, None) => Write::Add(delta),
                };
                if a.write == Write::None {
                    self.count_write()?;
                }
                self.entries[i].write = w;
            }
            None => {
                self.count_write()?;
                self.insert(key, None, Write::Add(delta))?;
            }
        }
        Ok(())
    }

    /// Drops every write, keeping what was read (a failed execution's reads still decided
    /// its outcome).
    pub fn rollback(&mut self) {
        self.entries[..self.len].iter_mut().for_each(|a| a.write = Write::None);
        self.vm_writes = 0;
    }

    pub(crate) fn set_counting(&mut self, on: bool) {
        self.counting = on;
    }
}

/// [`Host`] for the VM: an access set over a view.
pub(crate) struct TxHost<'x, 'a, V: View> {
    pub(crate) view: &'x mut V,
    pub(crate) acc: &'x mut AccessSet<'a>,
}

impl<V: View> Host for TxHost<'_, '_, V> {
    fn load(&mut self, key: &StateKey) -> Result<u64, Exit> {
        self.acc.load(self.view, key)
    }
    fn store(&mut self, key: &StateKey, value: u64) -> Result<(), Exit> {
        self.acc.store(key, value)
    }
    fn add(&mut self, key: &StateKey, delta: u64) -> Result<(), Exit> {
        self.acc.add(key, delta)
    }
}
