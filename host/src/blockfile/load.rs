//! Loading: a genesis file and block files from paths to the core's types
//! ([`load_genesis`], [`load_blocks`]), the first block file made ready while the genesis
//! parses ([`read_first_beside`]).
//!
//! A large regular block file of the usual layout is read straight from the file by the
//! pieces' threads (`split.rs`; one piece on one thread), a window at a time, and never
//! held whole; anything else, and a large file that does not read in pieces (or
//! changed meanwhile), is read to text and parsed ([`parse_block_on`]), which finds and
//! words every error.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::read::{parse_block, parse_block_on, parse_genesis, read_text, read_text_on};
use super::split::{locate, pieces, read_located, FileSource, Layout, SPLIT_BYTES};
use super::{InputError, MAX_BLOCK_TXS, MAX_FILE_BYTES};
use crate::txblock::TxBlock;
use crate::workload::World;

/// Reads and parses a genesis file.
pub fn load_genesis(path: &Path) -> Result<World, InputError> {
    let text = read_text(path)?;
    parse_genesis(&path.display().to_string(), &text)
}

/// A block file made ready to parse ([`read_first_beside`]): its text, or, for a large
/// regular file of the usual shape, where its pieces lie in the file.
pub struct Prepared(Ready);

enum Ready {
    Text(Result<String, InputError>),
    /// `len` and `modified`: the file's, when it was located (a file that changes before
    /// it is read is read whole).
    Located {
        file: File,
        len: u64,
        modified: Option<SystemTime>,
        layout: Layout,
    },
}

impl Prepared {
    /// `path` made ready on up to `threads` threads: located if it is a regular file of
    /// [`SPLIT_BYTES`] to [`MAX_FILE_BYTES`] whose pieces can be found, else read to text
    /// ([`read_text_on`]: its errors, a file too large among them).
    fn of(path: &Path, threads: usize) -> Self {
        if let Ok(file) = File::open(path) {
            let (len, modified) = stamp(&file);
            if (SPLIT_BYTES as u64..=MAX_FILE_BYTES).contains(&len) {
                let src = FileSource { file: &file, len };
                if let Some(layout) = locate(&src, pieces(len, threads)) {
                    return Self(Ready::Located { file, len, modified, layout });
                }
            }
        }
        Self(Ready::Text(read_text_on(path, threads)))
    }

    /// The block of `path` (made ready as `self`), number `number` in its chain.
    fn parse(
        self,
        path: &Path,
        number: u64,
        world: &World,
        max_txs: usize,
        threads: usize,
    ) -> Result<TxBlock, InputError> {
        let name = path.display().to_string();
        match self.0 {
            Ready::Text(text) => parse_block_on(&name, &text?, number, world, max_txs, threads),
            Ready::Located { file, len, modified, layout } => {
                let src = FileSource { file: &file, len };
                let max = max_txs.min(MAX_BLOCK_TXS);
                if layout.number.is_none_or(|n| n == number) {
                    if let Some(txs) = read_located(&src, &layout, world, max) {
                        if stamp(&file) == (len, modified) {
                            return Ok(txs);
                        }
                    }
                }
                // The whole-file reader finds the error and words it.
                parse_block(&name, &read_text_on(path, threads)?, number, world, max_txs)
            }
        }
    }
}

/// A regular file's length and modification time (length 0 for anything else).
fn stamp(file: &File) -> (u64, Option<SystemTime>) {
    match file.metadata() {
        Ok(m) if m.is_file() => (m.len(), m.modified().ok()),
        _ => (0, None),
    }
}

/// Reads and parses block files, numbered from `first` in the order given (1 for a
/// chain from its genesis), each on up to `threads` threads (see the module docs).
pub fn load_blocks(
    paths: &[PathBuf],
    first: u64,
    world: &World,
    max_txs: usize,
    threads: usize,
) -> Result<Vec<TxBlock>, InputError> {
    load_blocks_after(paths, None, first, world, max_txs, threads)
}

/// The first of `paths` made ready on up to `threads` threads while `genesis` runs on
/// this one, with `genesis`'s result: a large block file's pieces are found (and
/// counted), a smaller one read to text, while the genesis file is parsed. Only a regular
/// file, which the read cannot keep waiting (a pipe could, and `genesis` may fail first).
pub fn read_first_beside<G: Send>(
    paths: &[PathBuf],
    threads: usize,
    genesis: impl FnOnce() -> G + Send,
) -> (G, Option<Prepared>) {
    let first = paths.first().filter(|p| fs::metadata(p).is_ok_and(|m| m.is_file()));
    match first {
        None => (genesis(), None),
        Some(path) => std::thread::scope(|s| {
            // A thread that cannot be started: the file is made ready after the genesis.
            let read = std::thread::Builder::new()
                .spawn_scoped(s, move || Prepared::of(path, threads))
                .ok();
            let g = genesis();
            // Reading cannot panic; `join` fails only if it did.
            let ready = match read {
                Some(read) => read.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
                None => Prepared::of(path, threads),
            };
            (g, Some(ready))
        }),
    }
}

/// [`load_blocks`], the first file already made ready ([`read_first_beside`]) when
/// `first_ready` is given.
pub fn load_blocks_after(
    paths: &[PathBuf],
    mut first_ready: Option<Prepared>,
    first: u64,
    world: &World,
    max_txs: usize,
    threads: usize,
) -> Result<Vec<TxBlock>, InputError> {
    paths
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let ready = first_ready.take().unwrap_or_else(|| Prepared::of(p, threads));
            ready.parse(p, first + i as u64, world, max_txs, threads)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blockfile::block_to_json;
    use crate::blockfile::split::FILE_WINDOW;
    use crate::workload::{Generator, Spec, Workload};

    /// A large block file read from the file in pieces, a window at a time, gives the
    /// block that was written; its errors are the whole-file reader's.
    #[test]
    fn a_large_file_reads_from_the_file_in_pieces() {
        let spec = Spec::new(Workload::Token, 500, 5_000, 1, 0xF11E);
        let (world, mut gen) = Generator::new(&spec);
        let txs = gen.block();
        let text = block_to_json(3, txs.txs());
        // Past the size read in pieces, and more than one window of the file.
        assert!(text.len() >= SPLIT_BYTES.max(2 * FILE_WINDOW as usize), "{}", text.len());
        let dir = std::env::temp_dir().join(format!("parex-load-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("block.json");
        fs::write(&path, &text).unwrap();
        for threads in [1, 2, 3, 4] {
            let ready = Prepared::of(&path, threads);
            assert!(matches!(ready.0, Ready::Located { .. }), "{threads}");
            assert_eq!(ready.parse(&path, 3, &world, 6_000, threads).as_ref(), Ok(&txs));
        }
        let paths = [path.clone()];
        let (_, ready) = read_first_beside(&paths, 2, || ());
        assert_eq!(load_blocks_after(&paths, ready, 3, &world, 6_000, 2), Ok(vec![txs]));
        // The number, the capacity and a bad value: the whole-file reader's words.
        let wrong = load_blocks(&paths, 4, &world, 6_000, 2).unwrap_err();
        assert!(wrong.message.contains("expected 4"), "{wrong}");
        let full = load_blocks(&paths, 3, &world, 4_999, 2).unwrap_err();
        assert!(full.message.contains("more than the capacity of 4999"), "{full}");
        let at = text.rfind("\"value\":").unwrap() + "\"value\":".len();
        let bad = format!("{}-{}", &text[..at], &text[at..]);
        fs::write(&path, &bad).unwrap();
        let e = load_blocks(&paths, 3, &world, 6_000, 2).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("transactions[4999].value"), "{e}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
