//! The VM opcode by opcode and fault by fault, the assembler, and a fuzz run.
//!
//! Every program runs through [`vm::run`](parex_core::vm::run) against
//! [`MapHost`](harness::MapHost), a `BTreeMap` of state words. Gas expectations are
//! computed from [`Op::gas`](parex_core::vm::Op::gas) over the instructions a program
//! executes, so a changed cost table shows up here as a failure naming the opcode.
//!
//! One file a concern: `harness.rs` (the host, running programs, assertions),
//! `opcodes.rs` (one case per opcode), `edges.rs` (opcode behaviour past that case),
//! `faults.rs` (every fault), `assembler.rs`, `fuzz.rs` (random bytecode).

mod harness;

mod assembler;
mod edges;
mod faults;
mod fuzz;
mod opcodes;
