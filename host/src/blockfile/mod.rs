//! Block files: the JSON formats `parex gen` writes and `parex run` reads (a genesis, one
//! file per block, the `--dump-state` document), documented field by field in
//! `docs/formats.md`.
//!
//! Parsing is strict, and every rejection is one [`InputError`] line naming the file, the
//! position (line and column) and the field path, for example
//! `blocks/0001.json:14:52: transactions[3].value: expected an unsigned 64-bit integer, got -5`:
//!
//! * syntax and type errors come from `serde_json` (position) and `serde_path_to_error`
//!   (field path); unknown fields are rejected (`deny_unknown_fields`);
//! * amounts are JSON integers only ([`Amount`]); addresses are `0x` hex strings
//!   ([`Addr`]); words (call arguments, storage values) take either ([`Word`]);
//! * what only makes sense with the whole file at hand (duplicate accounts, a call to an
//!   address with no contract, a block over a capacity) is checked after parsing, and the
//!   field's position is found again in the text by [`locate`].
//!
//! Files are written with [`write_atomic`]: a temporary file in the same directory,
//! renamed over the target only once it is complete.
//!
//! One concern a file: `values.rs` (the scalar value types, how they read and print),
//! `schema.rs` (the documents' structs), `read.rs` (reading, parsing, the whole-file
//! checks), `load.rs` (paths to blocks), `split.rs` (a large block read in pieces, from
//! its text or straight from its file), `canonical.rs` (its transactions read without
//! `serde_json` when written as `parex gen` writes them), `locate.rs` (field paths and
//! their positions in the text), `write.rs` (the documents' text, [`write_atomic`]).
//! Everything public is re-exported here.

use std::fmt;

mod canonical;
mod checkpoint;
mod load;
mod locate;
mod read;
mod schema;
mod split;
mod txs;
mod values;
mod write;

pub use checkpoint::{checkpoint_to_json, load_checkpoint, parse_checkpoint};
pub use load::{load_blocks, load_blocks_after, load_genesis, read_first_beside, Prepared};
pub use locate::{locate, Seg};
pub use read::{
    parse_block, parse_block_on, parse_genesis, parse_json, read_text, transaction_of, ReadTx,
};
pub use schema::{
    AccessJson, AccountJson, BlockFile, ContractJson, EntryJson, GenesisFile, KeyJson, KindJson,
    StateDump, StorageJson, TxJson,
};
pub use split::{read_in_pieces, read_in_windows};
pub use values::{Addr, Amount, Digest, HexBytes, Slot, Word};
pub use write::{
    block_to_json, genesis_to_json, sample_of, state_to_json, tx_to_json, write_atomic,
};

/// Most transactions one block file may hold.
pub const MAX_BLOCK_TXS: usize = 1_000_000;
/// Most bytes of code one genesis contract may have.
pub const MAX_CODE_BYTES: usize = 65_536;
/// Largest genesis or block file read: 1 GiB (a block of [`MAX_BLOCK_TXS`] transfers
/// takes about 110 MB, a call with a full access list under 1 KB).
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// A rejected input file: one line naming the file, the position and the field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    /// The file, as the user named it (or `stdin`).
    pub file: String,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    /// The field path (`transactions[3].value`), when the error is about one field.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl InputError {
    /// An error about the file as a whole (unreadable, say).
    pub fn file(file: impl Into<String>, message: impl Into<String>) -> Self {
        Self { file: file.into(), position: None, field: None, message: message.into() }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        // One line, whatever the underlying error says.
        write!(f, ": {}", self.message.replace(['\n', '\r'], " "))
    }
}

impl std::error::Error for InputError {}
