//! The contract VM: a small, deterministic, gas-metered stack machine over 64-bit words.
//!
//! * Stack and memory are caller buffers ([`VmScratch`]); their lengths are the limits.
//! * State goes through a [`Host`], which the transaction executor implements over its
//!   per-transaction access set; the VM never sees the executors.
//! * Every fault ends the run with a [`Status`]; nothing here panics or allocates.
//!   A [`Host`] may instead *interrupt* the run (the parallel engine does when a read hits
//!   an estimate), which the executor handles by running the transaction again later.
//!
//! Opcodes, gas and overflow rules: [`opcode`] and `docs/semantics.md` ("VM").

pub mod asm;
pub mod opcode;

use tiny_keccak::{Hasher as _, Keccak};

use crate::hash::keccak256;
use crate::receipt::Status;
use crate::types::{Address, Hash32, Shard, StateKey};
pub use opcode::Op;

/// Why an engine must stop running a transaction without a result (Block-STM's view
/// only; the other engines' views never interrupt).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Interrupt {
    /// A read hit an estimate written by this lower transaction: wait for it.
    Dependency(u32),
}

/// How a state access ended when it did not return a value.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Exit {
    /// The transaction fails with this status (capacity exceeded, say).
    Halt(Status),
    /// Stop without a result; see [`Interrupt`].
    Interrupt(Interrupt),
}

impl From<Interrupt> for Exit {
    fn from(i: Interrupt) -> Self {
        Exit::Interrupt(i)
    }
}

/// The VM's window onto state.
pub trait Host {
    /// Reads a word.
    fn load(&mut self, key: &StateKey) -> Result<u64, Exit>;
    /// Writes a word.
    fn store(&mut self, key: &StateKey, value: u64) -> Result<(), Exit>;
    /// Adds to a word (wrapping) without reading it.
    fn add(&mut self, key: &StateKey, delta: u64) -> Result<(), Exit>;
}

/// Caller buffers of one VM; reused across transactions.
pub struct VmScratch<'a> {
    /// The operand stack; its length is the stack limit.
    pub stack: &'a mut [u64],
    /// Linear memory; its length is the memory limit. Zeroed at each run's start.
    pub memory: &'a mut [u8],
}

/// What a call sees of its environment.
#[derive(Clone, Copy, Debug)]
pub struct CallEnv<'a> {
    /// The transaction's sender.
    pub caller: Address,
    /// The contract being run.
    pub address: Address,
    /// Native units sent with the call.
    pub value: u64,
    /// Call arguments.
    pub args: &'a [u64],
    /// Block number.
    pub number: u64,
    /// Most logs one transaction may emit.
    pub max_logs: u32,
    /// The shard the block runs on: a `TRANSFER` to an address of another shard pays
    /// into [`Shard::PENDING`] instead ([`Shard::WHOLE`] unsharded).
    pub shard: Shard,
}

/// The result of a run that was not interrupted.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct VmOutcome {
    /// How it ended.
    pub status: Status,
    /// Gas consumed (all of `gas` on a fault other than `REVERT`).
    pub gas_used: u64,
    /// `RETURN`/`REVERT` word.
    pub output: u64,
    /// Digest over the logs (zero when none or on failure).
    pub logs_digest: Hash32,
    /// Logs emitted (0 on failure).
    pub logs: u32,
}

/// Runs `code` with `gas` and returns how it ended; `Err` only when the host interrupts.
pub fn run<H: Host>(
    code: &[u8],
    env: &CallEnv<'_>,
    host: &mut H,
    gas: u64,
    scratch: &mut VmScratch<'_>,
) -> Result<VmOutcome, Interrupt> {
    scratch.memory.iter_mut().for_each(|b| *b = 0);
    let mut m = Machine {
        code,
        env,
        pc: 0,
        gas,
        stack: &mut *scratch.stack,
        sp: 0,
        memory: &mut *scratch.memory,
        logs: 0,
        log_hash: Keccak::v256(),
    };
    let end = m.execute(host);
    let used = gas - m.gas;
    Ok(match end {
        End::Stop(output) => {
            let mut logs_digest = [0u8; 32];
            if m.logs > 0 {
                m.log_hash.finalize(&mut logs_digest);
            }
            VmOutcome { status: Status::Success, gas_used: used, output, logs_digest, logs: m.logs }
        }
        End::Revert(output) => VmOutcome {
            status: Status::Reverted,
            gas_used: used,
            output,
            logs_digest: [0; 32],
            logs: 0,
        },
        End::Halt(status) => {
            VmOutcome { status, gas_used: gas, output: 0, logs_digest: [0; 32], logs: 0 }
        }
        End::Interrupt(i) => return Err(i),
    })
}

enum End {
    Stop(u64),
    Revert(u64),
    Halt(Status),
    Interrupt(Interrupt),
}

impl From<Exit> for End {
    fn from(e: Exit) -> Self {
        match e {
            Exit::Halt(s) => End::Halt(s),
            Exit::Interrupt(i) => End::Interrupt(i),
        }
    }
}

struct Machine<'c, 's> {
    code: &'c [u8],
    env: &'c CallEnv<'c>,
    pc: usize,
    gas: u64,
    stack: &'s mut [u64],
    sp: usize,
    memory: &'s mut [u8],
    logs: u32,
    log_hash: Keccak,
}

/// `?` on stack and memory helpers: a failed helper ends the run with its status.
macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(s) => return End::Halt(s),
        }
    };
}

impl Machine<'_, '_> {
    #[inline]
    fn pop(&mut self) -> Result<u64, Status> {
        if self.sp == 0 {
            return Err(Status::StackUnderflow);
        }
        self.sp -= 1;
        Ok(self.stack[self.sp])
    }

    #[inline]
    fn push(&mut self, v: u64) -> Result<(), Status> {
        let slot = self.stack.get_mut(self.sp).ok_or(Status::StackOverflow)?;
        *slot = v;
        self.sp += 1;
        Ok(())
    }

    #[inline]
    fn charge(&mut self, cost: u64) -> Result<(), Status> {
        self.gas = self.gas.checked_sub(cost).ok_or(Status::OutOfGas)?;
        Ok(())
    }

    fn immediate<const N: usize>(&mut self) -> Result<[u8; N], Status> {
        let s = self.code.get(self.pc..self.pc + N).ok_or(Status::InvalidOpcode)?;
        self.pc += N;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn mem_range(&self, offset: u64, len: u64) -> Result<core::ops::Range<usize>, Status> {
        let end = offset.checked_add(len).ok_or(Status::MemoryOutOfBounds)?;
        if end > self.memory.len() as u64 {
            return Err(Status::MemoryOutOfBounds);
        }
        Ok(offset as usize..end as usize)
    }

    fn binop(&mut self, f: impl FnOnce(u64, u64) -> Option<u64>) -> Result<(), Status> {
        let b = self.pop()?;
        let a = self.pop()?;
        let r = f(a, b).ok_or(Status::ArithmeticFault)?;
        self.push(r)
    }

    fn jump_to(&mut self, target: u64) -> Result<(), Status> {
        match self.code.get(target as usize) {
            Some(&b) if b == Op::JumpDest as u8 && target <= usize::MAX as u64 => {
                self.pc = target as usize;
                Ok(())
            }
            _ => Err(Status::BadJump),
        }
    }

    fn execute<H: Host>(&mut self, host: &mut H) -> End {
        loop {
            let Some(&byte) = self.code.get(self.pc) else { return End::Stop(0) };
            let Some(op) = Op::from_u8(byte) else { return End::Halt(Status::InvalidOpcode) };
            self.pc += 1;
            tri!(self.charge(op.gas()));
            match op {
                Op::Stop => return End::Stop(0),
                Op::Push1 => {
                    let [b] = tri!(self.immediate::<1>());
                    tri!(self.push(b as u64));
                }
                Op::Push8 => {
                    let b = tri!(self.immediate::<8>());
                    tri!(self.push(u64::from_le_bytes(b)));
                }
                Op::Pop => {
                    tri!(self.pop());
                }
                Op::Dup => {
                    let [n] = tri!(self.immediate::<1>());
                    let n = n as usize;
                    if n >= self.sp {
                        return End::Halt(Status::StackUnderflow);
                    }
                    let v = self.stack[self.sp - 1 - n];
                    tri!(self.push(v));
                }
                Op::Swap => {
                    let [n] = tri!(self.immediate::<1>());
                    let n = n as usize;
                    if n == 0 || n >= self.sp {
                        return End::Halt(Status::StackUnderflow);
                    }
                    self.stack.swap(self.sp - 1, self.sp - 1 - n);
                }
                Op::JumpDest => {}
                Op::Jump => {
                    let t = tri!(self.pop());
                    tri!(self.jump_to(t));
                }
                Op::JumpI => {
                    let t = tri!(self.pop());
                    let c = tri!(self.pop());
                    if c != 0 {
                        tri!(self.jump_to(t));
                    }
                }
                Op::Return => return End::Stop(tri!(self.pop())),
                Op::Revert => return End::Revert(tri!(self.pop())),
                Op::Add => tri!(self.binop(|a, b| Some(a.wrapping_add(b)))),
                Op::Sub => tri!(self.binop(|a, b| Some(a.wrapping_sub(b)))),
                Op::Mul => tri!(self.binop(|a, b| Some(a.wrapping_mul(b)))),
                Op::Div => tri!(self.binop(|a, b| a.checked_div(b))),
                Op::Mod => tri!(self.binop(|a, b| a.checked_rem(b))),
                Op::AddC => tri!(self.binop(|a, b| a.checked_add(b))),
                Op::SubC => tri!(self.binop(|a, b| a.checked_sub(b))),
                Op::MulC => tri!(self.binop(|a, b| a.checked_mul(b))),
                Op::MulDiv => {
                    let c = tri!(self.pop());
                    let b = tri!(self.pop());
                    let a = tri!(self.pop());
                    let q = (a as u128 * b as u128).checked_div(c as u128);
                    match q {
                        Some(q) if q <= u64::MAX as u128 => tri!(self.push(q as u64)),
                        _ => return End::Halt(Status::ArithmeticFault),
                    }
                }
                Op::Lt => tri!(self.binop(|a, b| Some((a < b) as u64))),
                Op::Gt => tri!(self.binop(|a, b| Some((a > b) as u64))),
                Op::Eq => tri!(self.binop(|a, b| Some((a == b) as u64))),
                Op::IsZero => {
                    let a = tri!(self.pop());
                    tri!(self.push((a == 0) as u64));
                }
                Op::And => tri!(self.binop(|a, b| Some(a & b))),
                Op::Or => tri!(self.binop(|a, b| Some(a | b))),
                Op::Xor => tri!(self.binop(|a, b| Some(a ^ b))),
                Op::Not => {
                    let a = tri!(self.pop());
                    tri!(self.push(!a));
                }
                Op::Shl => tri!(self.binop(|a, b| Some(if b >= 64 { 0 } else { a << b }))),
                Op::Shr => tri!(self.binop(|a, b| Some(if b >= 64 { 0 } else { a >> b }))),
                Op::Caller => tri!(self.push(self.env.caller.0)),
                Op::Address => tri!(self.push(self.env.address.0)),
                Op::CallValue => tri!(self.push(self.env.value)),
                Op::Arg => {
                    let i = tri!(self.pop());
                    let v = self.env.args.get(i as usize).copied().unwrap_or(0);
                    tri!(self.push(v));
                }
                Op::ArgC => tri!(self.push(self.env.args.len() as u64)),
                Op::Gas => tri!(self.push(self.gas)),
                Op::Number => tri!(self.push(self.env.number)),
                Op::Balance => {
                    let a = tri!(self.pop());
                    match host.load(&StateKey::balance(Address(a))) {
                        Ok(v) => tri!(self.push(v)),
                        Err(e) => return e.into(),
                    }
                }
                Op::SelfBalance => match host.load(&StateKey::balance(self.env.address)) {
                    Ok(v) => tri!(self.push(v)),
                    Err(e) => return e.into(),
                },
                Op::SLoad => {
                    let slot = tri!(self.pop());
                    match host.load(&StateKey::storage(self.env.address, slot)) {
                        Ok(v) => tri!(self.push(v)),
                        Err(e) => return e.into(),
                    }
                }
                Op::SStore => {
                    let v = tri!(self.pop());
                    let slot = tri!(self.pop());
                    if let Err(e) = host.store(&StateKey::storage(self.env.address, slot), v) {
                        return e.into();
                    }
                }
                Op::SAdd => {
                    let d = tri!(self.pop());
                    let slot = tri!(self.pop());
                    if let Err(e) = host.add(&StateKey::storage(self.env.address, slot), d) {
                        return e.into();
                    }
                }
                Op::Transfer => {
                    let amount = tri!(self.pop());
                    let to = tri!(self.pop());
                    let paid = if self.env.shard.holds(Address(to)) {
                        transfer(host, self.env.address, Address(to), amount)
                    } else {
                        // Owed to an address of another shard: carried by a message at
                        // the block's end (`crate::shard::emit`).
                        let pending = StateKey::storage(Shard::PENDING, to);
                        debit(host, self.env.address, amount).and_then(|()| {
                            if amount == 0 {
                                return Ok(());
                            }
                            host.add(&pending, amount)
                        })
                    };
                    if let Err(e) = paid {
                        return e.into();
                    }
                }
                Op::MLoad => {
                    let off = tri!(self.pop());
                    let r = tri!(self.mem_range(off, 8));
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&self.memory[r]);
                    tri!(self.push(u64::from_le_bytes(b)));
                }
                Op::MStore => {
                    let v = tri!(self.pop());
                    let off = tri!(self.pop());
                    let r = tri!(self.mem_range(off, 8));
                    self.memory[r].copy_from_slice(&v.to_le_bytes());
                }
                Op::Keccak => {
                    let len = tri!(self.pop());
                    let off = tri!(self.pop());
                    // All of the instruction's gas before it touches memory
                    // (docs/semantics.md): a length past memory that gas cannot pay for
                    // either is out of gas.
                    tri!(self.charge(GAS_KECCAK_WORD_U64.saturating_mul(len.div_ceil(8))));
                    let r = tri!(self.mem_range(off, len));
                    let h = keccak256(&self.memory[r]);
                    tri!(self.push(prefix_u64(&h)));
                }
                Op::Hash2 => {
                    let b = tri!(self.pop());
                    let a = tri!(self.pop());
                    tri!(self.push(hash2(a, b)));
                }
                Op::Log => {
                    let data = tri!(self.pop());
                    let topic = tri!(self.pop());
                    if self.logs >= self.env.max_logs {
                        return End::Halt(Status::CapacityExceeded);
                    }
                    self.logs += 1;
                    self.log_hash.update(&self.env.address.0.to_le_bytes());
                    self.log_hash.update(&topic.to_le_bytes());
                    self.log_hash.update(&data.to_le_bytes());
                }
            }
        }
    }
}

const GAS_KECCAK_WORD_U64: u64 = opcode::GAS_KECCAK_WORD;

/// Moves `amount` from `from`'s balance to `to`'s: the debit reads and writes, the credit
/// is a commutative add. Shared by `TRANSFER`, call values and native transfers. An
/// amount of zero moves nothing and touches no key (docs/semantics.md, "Zero amounts"),
/// like a zero fee.
pub(crate) fn transfer<H: Host>(
    host: &mut H,
    from: Address,
    to: Address,
    amount: u64,
) -> Result<(), Exit> {
    if amount == 0 {
        return Ok(());
    }
    debit(host, from, amount)?;
    host.add(&StateKey::balance(to), amount)
}

/// Adds `amount` to `to`'s balance (nothing for 0): the receiving half of [`transfer`],
/// alone for a call delivered from another shard, whose value left its sender there.
pub(crate) fn credit<H: Host>(host: &mut H, to: Address, amount: u64) -> Result<(), Exit> {
    if amount == 0 {
        return Ok(());
    }
    host.add(&StateKey::balance(to), amount)
}

/// Takes `amount` from `from`'s balance (nothing for 0): the sending half of
/// [`transfer`], alone for a transfer to another shard.
pub(crate) fn debit<H: Host>(host: &mut H, from: Address, amount: u64) -> Result<(), Exit> {
    if amount == 0 {
        return Ok(());
    }
    let key = StateKey::balance(from);
    let bal = host.load(&key)?;
    let left = bal.checked_sub(amount).ok_or(Exit::Halt(Status::InsufficientBalance))?;
    host.store(&key, left)
}

/// The first 8 bytes of a digest as a little-endian word.
pub fn prefix_u64(h: &Hash32) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[..8]);
    u64::from_le_bytes(b)
}

/// `HASH2`: the map-slot derivation `keccak(a_le || b_le)[..8]` as a word.
pub fn hash2(a: u64, b: u64) -> u64 {
    let mut m = [0u8; 16];
    m[..8].copy_from_slice(&a.to_le_bytes());
    m[8..].copy_from_slice(&b.to_le_bytes());
    prefix_u64(&keccak256(&m))
}
