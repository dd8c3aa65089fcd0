//! Arbitrary bytecode with arbitrary gas, arguments and storage never panics the VM, and
//! gas used never exceeds the gas given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parex_core::receipt::Status;
use parex_core::vm::{run, CallEnv, Exit, Host, VmScratch};
use parex_core::{Address, Shard, StateKey};

/// A tiny host: a few words of storage, adds and stores accepted up to a capacity.
struct Words(Vec<(StateKey, u64)>);

impl Host for Words {
    fn load(&mut self, key: &StateKey) -> Result<u64, Exit> {
        Ok(self.0.iter().find(|(k, _)| k == key).map_or(0, |(_, v)| *v))
    }
    fn store(&mut self, key: &StateKey, value: u64) -> Result<(), Exit> {
        if let Some(e) = self.0.iter_mut().find(|(k, _)| k == key) {
            e.1 = value;
        } else if self.0.len() < 16 {
            self.0.push((*key, value));
        } else {
            return Err(Exit::Halt(Status::CapacityExceeded));
        }
        Ok(())
    }
    fn add(&mut self, key: &StateKey, delta: u64) -> Result<(), Exit> {
        let v = self.load(key)?.wrapping_add(delta);
        self.store(key, v)
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 10 {
        return;
    }
    let gas = u64::from(u16::from_le_bytes([data[0], data[1]])) * 16;
    let args = [u64::from(data[2]), u64::from(data[3]), u64::MAX, 0];
    let nargs = usize::from(data[4] % 5);
    let env = CallEnv {
        caller: Address(1),
        address: Address(2),
        value: u64::from(data[5]),
        args: &args[..nargs],
        number: 7,
        max_logs: u32::from(data[6] % 4),
        // One to four shards (the contract on shard 0): a TRANSFER elsewhere pays into
        // the pending words.
        shard: Shard::new(0, 1 + u16::from(data[6] >> 4) % 4).unwrap_or(Shard::WHOLE),
    };
    let mut stack = vec![0u64; 1 + usize::from(data[7] % 64)];
    let mut memory = vec![0u8; usize::from(data[8]) * 4];
    let mut scratch = VmScratch { stack: &mut stack, memory: &mut memory };
    let mut host = Words(vec![(StateKey::balance(Address(2)), u64::from(data[9]) * 1000)]);
    if let Ok(out) = run(&data[10..], &env, &mut host, gas, &mut scratch) {
        assert!(out.gas_used <= gas);
    }
});
