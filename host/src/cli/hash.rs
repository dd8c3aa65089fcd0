//! `parex hash`: Keccak-256 of one hex message per stdin line, one digest per line.

use std::io::{BufRead, Write};

use clap::Args;
use parex_core::hash::Hasher;
use parex_offload::hex::push_hex;

use super::error::{output_error, CliError};
use super::hashing::{open_hasher, HasherOpts};

#[derive(Args, Debug)]
pub(super) struct HashArgs {
    #[command(flatten)]
    hashing: HasherOpts,
}

/// Messages per batch handed to the hasher by `parex hash`.
pub const HASH_LINES_PER_BATCH: usize = 4096;
/// Most message bytes per batch handed to the hasher by `parex hash`.
const HASH_BYTES_PER_BATCH: usize = 8 << 20;

/// Messages read but not hashed yet, and the digests' buffer.
struct HashBatch {
    data: Vec<u8>,
    ends: Vec<u32>,
    out: Vec<parex_core::Hash32>,
}

impl HashBatch {
    fn flush(&mut self, hasher: &mut dyn Hasher, stdout: &mut dyn Write) -> Result<(), CliError> {
        if self.ends.is_empty() {
            return Ok(());
        }
        self.out.clear();
        self.out.resize(self.ends.len(), [0; 32]);
        hasher.hash_var(&self.data, &self.ends, &mut self.out);
        let mut text = String::with_capacity(self.out.len() * 65);
        for d in &self.out {
            push_hex(&mut text, d);
            text.push('\n');
        }
        stdout.write_all(text.as_bytes()).map_err(output_error)?;
        self.data.clear();
        self.ends.clear();
        Ok(())
    }
}

/// `parex hash`.
pub(super) fn execute(
    a: HashArgs,
    stdin: &mut dyn BufRead,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<(), CliError> {
    let mut hashing = open_hasher(&a.hashing, stderr)?;
    let hasher = hashing.hasher.as_mut();
    let mut batch = HashBatch { data: Vec::new(), ends: Vec::new(), out: Vec::new() };
    let mut line = String::new();
    let mut number = 0usize;
    loop {
        line.clear();
        number += 1;
        let n = match stdin.read_line(&mut line) {
            Ok(n) => n,
            Err(e) => {
                batch.flush(hasher, stdout)?;
                return Err(CliError::Stdin { line: number, source: e });
            }
        };
        if n == 0 {
            break;
        }
        let msg = match parex_offload::parse_hex_line(&line) {
            Ok(m) => m,
            Err(e) => {
                // Digests of the lines before stay correct: print them, then stop.
                batch.flush(hasher, stdout)?;
                return Err(CliError::Hex { line: number, error: e });
            }
        };
        if batch.data.len() + msg.len() > HASH_BYTES_PER_BATCH {
            batch.flush(hasher, stdout)?;
        }
        if msg.len() > u32::MAX as usize {
            return Err(CliError::MessageTooLong { line: number });
        }
        batch.data.extend_from_slice(&msg);
        batch.ends.push(batch.data.len() as u32);
        if batch.ends.len() >= HASH_LINES_PER_BATCH {
            batch.flush(hasher, stdout)?;
        }
    }
    batch.flush(hasher, stdout)
}
