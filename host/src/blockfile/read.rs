//! Reading: files to text ([`read_text`]), text to documents ([`parse_json`], strict,
//! every error one [`InputError`]), documents to the core's types with the checks that
//! need the whole file ([`parse_genesis`], [`parse_block`]).

use std::fs;
use std::path::Path;

use parex_core::shard::{is_system, SYSTEM_ADDRESSES};
use parex_core::state::{GenesisAccount, GenesisStorage};
use parex_core::tx::{AccessEntry, AccessList, Transaction, MAX_ACCESS, MAX_ARGS};
use parex_core::{Address, Shard, StateKey};
use std::marker::PhantomData;

use serde::de::{DeserializeOwned, DeserializeSeed};

use super::locate::{invalid, Seg};
use super::schema::{GenesisFile, KindJson, TxJson};
use super::split::{pieces, read_in_pieces, SPLIT_BYTES};
use super::txs::BlockSeed;
use super::{InputError, MAX_BLOCK_TXS, MAX_CODE_BYTES, MAX_FILE_BYTES};
use crate::pool::side_by_side;
use crate::txblock::TxBlock;
use crate::workload::World;

/// Files read to text from this size on are read on several threads ([`read_on`]).
const PARTS_BYTES: usize = 8 << 20;

/// Reads a file to a string; errors name the file (and, for text that is not UTF-8 or
/// starts with a byte order mark, the position).
pub fn read_text(path: &Path) -> Result<String, InputError> {
    read_text_on(path, 1)
}

/// [`read_text`], a large file read on up to `threads` threads.
pub(super) fn read_text_on(path: &Path, threads: usize) -> Result<String, InputError> {
    let name = path.display().to_string();
    let (bytes, utf8) =
        read_bounded(path, threads).map_err(|e| InputError::file(name.clone(), e))?;
    let at = |text: &[u8], message: String| {
        let line = text.iter().filter(|&&b| b == b'\n').count() + 1;
        let last = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&text[last..]).chars().count() + 1;
        InputError { file: name.clone(), position: Some((line, column)), field: None, message }
    };
    let text = if utf8 {
        // SAFETY: `read_bounded` found every byte in parts that are each UTF-8, and so is
        // their concatenation (a part that cut a character in two would not have been).
        unsafe { String::from_utf8_unchecked(bytes) }
    } else {
        String::from_utf8(bytes).map_err(|e| {
            let good = e.utf8_error().valid_up_to();
            let byte = e.as_bytes()[good];
            at(&e.as_bytes()[..good], format!("not UTF-8 text: byte {byte:#04x} here"))
        })?
    };
    if text.starts_with('\u{feff}') {
        let message = "the file starts with a byte order mark (U+FEFF); JSON files are read \
                       without one: save it as UTF-8 without BOM";
        return Err(at(b"", message.to_string()));
    }
    Ok(text)
}

/// The bytes of `path`: at most [`MAX_FILE_BYTES`], and only while they can still be a
/// JSON document (its first byte other than white space is `{`), so that
/// `/dev/zero` or a device of random bytes is refused at once instead of filling memory.
/// The flag: the bytes were found to be UTF-8 while they were read (a large file's, on
/// the threads that read its parts); `false` says only that they were not checked.
fn read_bounded(path: &Path, threads: usize) -> Result<(Vec<u8>, bool), String> {
    use std::io::Read;
    let file = fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    // Room for the whole file (as its size says), so the rest is read straight in.
    let size = file.metadata().map_or(0, |m| m.len().min(MAX_FILE_BYTES));
    let mut reader = file.take(MAX_FILE_BYTES + 1);
    let mut bytes = Vec::with_capacity(size as usize + 1);
    let mut piece = vec![0u8; 1 << 16];
    // Whether the document's first byte (other than white space) was seen and allowed.
    let mut started = false;
    while !started {
        let n = match reader.read(&mut piece) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("cannot read: {e}")),
        };
        let new = &piece[..n];
        match new.iter().find(|b| !b" \t\r\n".contains(b)) {
            None => {}
            // A byte order mark is named by the caller, with its position.
            Some(b'{') | Some(0xef) => started = true,
            Some(&b) => {
                return Err(format!("not a JSON object: it starts with the byte {b:#04x}"));
            }
        }
        bytes.extend_from_slice(new);
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(format!("larger than {MAX_FILE_BYTES} bytes, the most a file may hold"));
        }
    }
    let mut utf8 = false;
    if started {
        if threads > 1 && size >= PARTS_BYTES as u64 && bytes.len() as u64 <= size {
            let ahead = size - bytes.len() as u64;
            (bytes, utf8) = read_on(reader.get_ref(), bytes, size as usize, threads)
                .map_err(|e| format!("cannot read: {e}"))?;
            reader.set_limit(reader.limit() - ahead);
        }
        // The rest (all of it for a small file or a pipe; after `read_on`, whatever the
        // file gained meanwhile).
        let before = bytes.len();
        reader.read_to_end(&mut bytes).map_err(|e| format!("cannot read: {e}"))?;
        utf8 = utf8 && std::str::from_utf8(&bytes[before..]).is_ok();
    }
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("larger than {MAX_FILE_BYTES} bytes, the most a file may hold"));
    }
    Ok((bytes, utf8))
}

/// The first `size` bytes of `file`, of which `head` holds the first, read at their
/// offsets on up to `threads` threads; the file's position is then `size`. The flag:
/// `head` and every part are UTF-8, each checked by the thread that read it.
///
/// Copying a file from the page cache costs little; writing fresh memory costs its page
/// faults (about half a millisecond a megabyte here), and several threads take them
/// side by side: a 109 MB block is read in about half the time on two. Its check as
/// UTF-8, on one thread, took about 10 ms more.
fn read_on(
    mut file: &fs::File,
    head: Vec<u8>,
    size: usize,
    threads: usize,
) -> std::io::Result<(Vec<u8>, bool)> {
    use std::io::{Seek, SeekFrom};
    use std::os::unix::fs::FileExt;
    // Zeroed memory: mapped as the reads write it, on their threads.
    let mut bytes = vec![0u8; size];
    bytes[..head.len()].copy_from_slice(&head);
    let rest = &mut bytes[head.len()..size];
    let share = rest.len().div_ceil(threads).max(1);
    let parts = side_by_side(rest.chunks_mut(share).enumerate(), |(i, part)| {
        let at = (head.len() + i * share) as u64;
        file.read_exact_at(part, at).map(|()| std::str::from_utf8(part).is_ok())
    });
    let utf8 = parts.into_iter().try_fold(std::str::from_utf8(&head).is_ok(), |utf8, part| {
        Ok::<_, std::io::Error>(utf8 && part?)
    })?;
    file.seek(SeekFrom::Start(size as u64))?;
    Ok((bytes, utf8))
}

/// Deserializes `text` strictly, mapping every error to an [`InputError`].
pub fn parse_json<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, InputError> {
    parse_seed(file, text, PhantomData::<T>)
}

/// Deserializes `text` with `seed` strictly, mapping every error to an [`InputError`].
/// Valid documents are the rule: they are read without tracking the field path (about
/// three times as fast), and a failing one is read again with it, to name the field.
pub(super) fn parse_seed<'de, S: DeserializeSeed<'de> + Copy>(
    file: &str,
    text: &'de str,
    seed: S,
) -> Result<S::Value, InputError> {
    let mut de = serde_json::Deserializer::from_str(text);
    if let Ok(value) = seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v)) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let mut track = serde_path_to_error::Track::new();
    let value = seed
        .deserialize(serde_path_to_error::Deserializer::new(&mut de, &mut track))
        .map_err(|e| {
            // serde_path_to_error writes `?` for a segment it could not name (inside a
            // syntax error, say); keep the part it could.
            let mut path = track.path().to_string();
            while let Some(stripped) = path.strip_suffix(".?").or_else(|| path.strip_suffix('?')) {
                path = stripped.to_string();
            }
            let field = (!path.is_empty() && path != ".").then_some(path);
            json_error(file, field, e)
        })?;
    de.end().map_err(|e| json_error(file, None, e))?;
    Ok(value)
}

fn json_error(file: &str, field: Option<String>, e: serde_json::Error) -> InputError {
    let position = (e.line() != 0).then(|| (e.line(), e.column().max(1)));
    let mut message = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    if let Some(stripped) = message.strip_suffix(&suffix) {
        message = stripped.to_string();
    }
    if e.is_syntax() || e.is_eof() {
        message = format!("malformed JSON: {message}");
    }
    InputError { file: file.to_string(), position, field, message }
}

/// The first of `keys` equal to an earlier one, with that one's index: `(i, j)`, `j < i`,
/// the least such `i` (before it the keys are distinct, so `j` is the only earlier one).
/// Found by sorting: a hash set of 100,000 genesis accounts took a fifth of the genesis
/// file's parse (`HashMap::insert`, 42 M of 206 M instructions).
fn first_repeat<K: Ord>(keys: impl Iterator<Item = K>) -> Option<(usize, usize)> {
    let mut sorted: Vec<(K, usize)> = keys.enumerate().map(|(i, k)| (k, i)).collect();
    sorted.sort_unstable();
    sorted.windows(2).filter(|w| w[0].0 == w[1].0).map(|w| (w[1].1, w[0].1)).min()
}

/// The earlier index of `repeat` if it is at `i`.
fn repeat_at(repeat: Option<(usize, usize)>, i: usize) -> Option<usize> {
    repeat.filter(|&(at, _)| at == i).map(|(_, j)| j)
}

/// Parses and checks a genesis document.
pub fn parse_genesis(file: &str, text: &str) -> Result<World, InputError> {
    let g: GenesisFile = parse_json(file, text)?;
    use Seg::{Index, Key};
    let mut world = World { beneficiary: Address(g.beneficiary.0), ..World::default() };
    if let Some(n) = g.shards {
        if !(1..=u64::from(Shard::MAX)).contains(&n.0) {
            let message = format!("expected 1 to {} shards, got {}", Shard::MAX, n.0);
            return Err(invalid(file, text, &[Key("shards")], message));
        }
        world.shards = Some(n.0 as u16);
    }
    // A sharded chain keeps the top addresses for its own counters.
    let shards = world.shards;
    let system = |addr: u64, at: &[Seg]| match shards {
        Some(n) if n > 1 && is_system(Address(addr)) => Err(invalid(
            file,
            text,
            at,
            format!(
                "{addr:#x} is reserved for the system in a sharded chain (addresses from \
                 {SYSTEM_ADDRESSES:#x} up)"
            ),
        )),
        _ => Ok(()),
    };
    system(g.beneficiary.0, &[Key("beneficiary")])?;
    let repeat = first_repeat(g.accounts.iter().map(|a| a.address.0));
    let mut supply: u64 = 0;
    for (i, a) in g.accounts.iter().enumerate() {
        if let Some(j) = repeat_at(repeat, i) {
            return Err(invalid(
                file,
                text,
                &[Key("accounts"), Index(i), Key("address")],
                format!("duplicate account {:#x} (also accounts[{j}])", a.address.0),
            ));
        }
        supply = supply.checked_add(a.balance.0).ok_or_else(|| {
            invalid(
                file,
                text,
                &[Key("accounts"), Index(i), Key("balance")],
                "the balances up to here sum to more than 18446744073709551615 (the total \
                 supply must fit 64 bits)",
            )
        })?;
        system(a.address.0, &[Key("accounts"), Index(i), Key("address")])?;
        world.accounts.push(GenesisAccount {
            addr: Address(a.address.0),
            balance: a.balance.0,
            nonce: a.nonce.0,
        });
    }
    let repeat = first_repeat(g.contracts.iter().map(|c| c.address.0));
    for (i, c) in g.contracts.iter().enumerate() {
        if let Some(j) = repeat_at(repeat, i) {
            return Err(invalid(
                file,
                text,
                &[Key("contracts"), Index(i), Key("address")],
                format!("duplicate contract {:#x} (also contracts[{j}])", c.address.0),
            ));
        }
        if c.code.0.len() > MAX_CODE_BYTES {
            return Err(invalid(
                file,
                text,
                &[Key("contracts"), Index(i), Key("code")],
                format!("{} bytes of code, at most {MAX_CODE_BYTES}", c.code.0.len()),
            ));
        }
        system(c.address.0, &[Key("contracts"), Index(i), Key("address")])?;
        world.contracts.push((Address(c.address.0), c.code.0.clone()));
    }
    world.contracts.sort_by_key(|c| c.0);
    let repeat = first_repeat(g.storage.iter().map(|s| (s.address.0, s.slot.0)));
    for (i, s) in g.storage.iter().enumerate() {
        if let Some(j) = repeat_at(repeat, i) {
            return Err(invalid(
                file,
                text,
                &[Key("storage"), Index(i), Key("slot")],
                format!(
                    "duplicate storage word {:#x} slot {:#x} (also storage[{j}])",
                    s.address.0, s.slot.0
                ),
            ));
        }
        if world.contracts.binary_search_by_key(&s.address.0, |c| c.0 .0).is_err() {
            return Err(invalid(
                file,
                text,
                &[Key("storage"), Index(i), Key("address")],
                format!(
                    "{:#x} is not a contract of this genesis (storage belongs to contracts)",
                    s.address.0
                ),
            ));
        }
        world.storage.push(GenesisStorage {
            addr: Address(s.address.0),
            slot: s.slot.0,
            value: s.value.0,
        });
    }
    Ok(world)
}

/// Parses and checks a block document: `number` is its 1-based position in the chain;
/// calls must name contracts of `world`; at most `max_txs` transactions (at most
/// [`MAX_BLOCK_TXS`] whatever is given). The transactions are checked as they are read
/// (`txs.rs`); the first error in document order is the one reported, as if the file
/// had been read whole and then checked.
pub fn parse_block(
    file: &str,
    text: &str,
    number: u64,
    world: &World,
    max_txs: usize,
) -> Result<TxBlock, InputError> {
    let max_txs = max_txs.min(MAX_BLOCK_TXS);
    let b = parse_seed(file, text, BlockSeed { file, text, world, max_txs })?;
    use Seg::Key;
    if let Some(n) = b.number {
        if n != number {
            return Err(invalid(
                file,
                text,
                &[Key("number")],
                format!("expected {number} (the block's position in the chain), got {n}"),
            ));
        }
    }
    if b.count > max_txs {
        return Err(invalid(
            file,
            text,
            &[Key("transactions")],
            format!("{} transactions, more than the capacity of {max_txs} per block", b.count),
        ));
    }
    match b.error {
        Some(e) => Err(e),
        None => Ok(TxBlock::with_lists(b.txs, b.lists)),
    }
}

/// [`parse_block`], on `threads` threads when the file is large (see `split.rs`): the
/// same transactions and the same errors.
pub fn parse_block_on(
    file: &str,
    text: &str,
    number: u64,
    world: &World,
    max_txs: usize,
    threads: usize,
) -> Result<TxBlock, InputError> {
    if text.len() >= SPLIT_BYTES {
        let max = max_txs.min(MAX_BLOCK_TXS);
        let parts = pieces(text.len() as u64, threads);
        if let Some((n, txs)) = read_in_pieces(text, world, max, parts) {
            if n.is_none_or(|n| n == number) {
                return Ok(txs);
            }
        }
    }
    parse_block(file, text, number, world, max_txs)
}

/// A transaction as read, before it is placed in its block: its declared access list
/// is beside it, for the block to own ([`TxBlock`]).
pub type ReadTx = (Transaction<'static>, Option<AccessList>);

/// Transaction `i` of a block file as the core's [`Transaction`], or why it cannot be.
pub(super) fn transaction(
    file: &str,
    text: &str,
    i: usize,
    t: &TxJson,
    world: &World,
) -> Result<ReadTx, InputError> {
    use Seg::{Index, Key};
    let at = |field: &'static str| [Key("transactions"), Index(i), Key(field)];
    let tx = match t.kind {
        KindJson::Transfer => {
            if t.args.is_some() {
                return Err(invalid(
                    file,
                    text,
                    &at("args"),
                    "a transfer takes no args (use \"kind\": \"call\")",
                ));
            }
            Transaction::transfer(
                Address(t.from.0),
                t.nonce.0,
                Address(t.to.0),
                t.value.0,
                t.gas_limit.0,
                t.gas_price.0,
            )
        }
        KindJson::Call => {
            let args: Vec<u64> = t.args.iter().flatten().map(|a| a.0).collect();
            if args.len() > MAX_ARGS {
                return Err(invalid(
                    file,
                    text,
                    &at("args"),
                    format!("{} arguments, at most {MAX_ARGS}", args.len()),
                ));
            }
            if world.contracts.binary_search_by_key(&t.to.0, |c| c.0 .0).is_err() {
                return Err(invalid(
                    file,
                    text,
                    &at("to"),
                    format!("call to {:#x}, which has no contract in the genesis", t.to.0),
                ));
            }
            Transaction::call(
                Address(t.from.0),
                t.nonce.0,
                Address(t.to.0),
                t.value.0,
                &args,
                t.gas_limit.0,
                t.gas_price.0,
            )
            .map_err(|e| invalid(file, text, &at("args"), e.to_string()))?
        }
    };
    let mut declared = None;
    if let Some(list) = &t.access {
        let mut out = AccessList::new();
        for a in list {
            let key = StateKey { addr: Address(a.address.0), kind: a.key.into(), slot: a.slot.0 };
            if out.push(AccessEntry::new(key, a.write)).is_err() {
                return Err(invalid(
                    file,
                    text,
                    &at("access"),
                    format!("{} access entries, at most {MAX_ACCESS}", list.len()),
                ));
            }
        }
        declared = Some(out);
    }
    Ok((tx, declared))
}

/// One transaction in the block files' form as the core's, with the block files'
/// checks (a call's contract must exist, at most so many arguments and access entries);
/// `Err` names the field and what is wrong with it.
pub fn transaction_of(t: &TxJson, world: &World) -> Result<ReadTx, String> {
    transaction("", "", 0, t, world).map_err(|e| {
        let field = e.field.as_deref().and_then(|f| f.strip_prefix("transactions[0]."));
        match field {
            Some(f) => format!("{f}: {}", e.message),
            None => e.message,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first repeat is the least index equal to an earlier key, with that key's one
    /// earlier index; a genesis names the first error in file order, whatever kind.
    #[test]
    fn the_first_repeat_is_named() {
        assert_eq!(first_repeat([5, 3, 5, 3, 5].into_iter()), Some((2, 0)));
        assert_eq!(first_repeat([1, 2, 9, 4, 2, 1].into_iter()), Some((4, 1)));
        assert_eq!(first_repeat([7, 7, 7].into_iter()), Some((1, 0)));
        assert_eq!(first_repeat([1, 2, 3].into_iter()), None);
        assert_eq!(first_repeat(std::iter::empty::<u64>()), None);
        let acct = |a: &str, b: &str| format!(r#"{{"address":"{a}","balance":{b}}}"#);
        let genesis = |accounts: &[String], rest: &str| {
            format!(r#"{{"beneficiary":"0xbeef","accounts":[{}]{rest}}}"#, accounts.join(","))
        };
        let big = "18446744073709551615";
        // A repeat after an overflow: the overflow is first.
        let text = genesis(&[acct("0x1", "5"), acct("0x2", big), acct("0x1", "1")], "");
        let e = parse_genesis("g.json", &text).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("accounts[1].balance"), "{e}");
        let text =
            genesis(&[acct("0x3", "1"), acct("0x1", "1"), acct("0x3", "1"), acct("0x1", "1")], "");
        let e = parse_genesis("g.json", &text).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("accounts[2].address"), "{e}");
        assert!(e.message.contains("duplicate account 0x3 (also accounts[0])"), "{e}");
        let code = r#"{"address":"0xc1","code":"0x00"}"#;
        let text = genesis(&[], &format!(r#","contracts":[{code},{code}]"#));
        let e = parse_genesis("g.json", &text).unwrap_err();
        assert!(e.message.contains("duplicate contract 0xc1 (also contracts[0])"), "{e}");
        let word = |slot: &str| format!(r#"{{"address":"0xc1","slot":"{slot}","value":1}}"#);
        let storage = [word("0x1"), word("0x2"), word("0x1")].join(",");
        let text = genesis(&[], &format!(r#","contracts":[{code}],"storage":[{storage}]"#));
        let e = parse_genesis("g.json", &text).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("storage[2].slot"), "{e}");
        assert!(e.message.contains("(also storage[0])"), "{e}");
    }

    /// A file past the size read on several threads comes back byte for byte, whatever
    /// the thread count.
    #[test]
    fn a_large_file_reads_the_same_on_any_number_of_threads() {
        let path = std::env::temp_dir().join(format!("parex-read-{}.json", std::process::id()));
        let mut text = String::from("{\"text\": \"");
        let mut x = 0x9E37_79B9_u32;
        while text.len() < PARTS_BYTES + 12_345 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            text.push(char::from(b'a' + (x % 26) as u8));
        }
        text.push_str("\"}");
        fs::write(&path, &text).unwrap();
        for threads in [1, 2, 3, 7] {
            let (read, utf8) = read_bounded(&path, threads).unwrap();
            assert!(read == text.as_bytes(), "{threads} threads");
            assert_eq!(utf8, threads > 1, "{threads} threads");
        }
        let _ = fs::remove_file(&path);
    }

    /// A large file's text is the file's whatever characters its parts cut in two, and
    /// a byte that is not UTF-8 anywhere in it is reported where it is, as for a small
    /// file.
    #[test]
    fn a_large_file_is_checked_as_utf8_wherever_its_parts_end() {
        let path = std::env::temp_dir().join(format!("parex-utf8-{}.json", std::process::id()));
        // Two- to four-byte characters throughout: the parts' ends fall inside some.
        let mut text = String::from("{\"text\": \"");
        while text.len() < PARTS_BYTES + 4_321 {
            text.push_str("é€𝄞a");
        }
        text.push_str("\"}");
        fs::write(&path, &text).unwrap();
        for threads in [1, 2, 3, 7] {
            assert_eq!(read_text_on(&path, threads).as_deref(), Ok(text.as_str()), "{threads}");
        }
        let mut bytes = text.into_bytes();
        let bad = bytes.len() - 3;
        bytes[bad] = 0xff;
        fs::write(&path, &bytes).unwrap();
        for threads in [1, 2, 3] {
            let e = read_text_on(&path, threads).unwrap_err();
            assert!(e.message.contains("not UTF-8 text: byte 0xff"), "{threads}: {e:?}");
            assert_eq!(e.position.map(|(line, _)| line), Some(1), "{threads}");
        }
        let _ = fs::remove_file(&path);
    }
}
