//! A large block file read on several threads: its `transactions` array cut where a line
//! starts an element, each piece read by its own thread with `serde_json` as an array
//! of its own ([`read_in_pieces`]).
//!
//! The cuts are guesses, and each guess is checked: a piece is the text from one cut to
//! the comma before the next, and it must read as a whole array by itself. A cut inside
//! an element would leave that element's `{` unclosed in the piece before it (a line
//! break cannot be inside a string), so every cut that reads is between two elements,
//! and the pieces' elements, in order, are the array's. Anything else (another shape of
//! document, any error, more transactions than the capacity) gives `None`, and the
//! caller reads the file whole, which also finds and words every error.

use std::mem::MaybeUninit;

use parex_core::tx::{AccessList, Transaction};
use serde::Deserialize;

use super::read::transaction;
use super::schema::TxJson;
use super::values::Amount;
use crate::txblock::TxBlock;
use crate::workload::World;

/// Files shorter than this are read on one thread.
pub(super) const SPLIT_BYTES: usize = 8 << 20;

/// The transactions of the block document `text` and its `number` if given, read on
/// `threads` threads; `None` when the document is not of the shape
/// `{"number": N, "transactions": [...]}` (`number` optional, any white space), or a
/// cut cannot be checked, or anything fails (see the module docs).
pub fn read_in_pieces(
    text: &str,
    world: &World,
    max_txs: usize,
    threads: usize,
) -> Option<(Option<u64>, TxBlock)> {
    let bytes = text.as_bytes();
    let mut at = expect(bytes, 0, b"{")?;
    let mut number = None;
    if let Some(after) = expect(bytes, at, b"\"number\"") {
        let colon = expect(bytes, after, b":")?;
        let (n, end) = value::<Amount>(text, colon)?;
        number = Some(n.0);
        at = expect(bytes, end, b",")?;
    }
    at = expect(bytes, at, b"\"transactions\"")?;
    at = expect(bytes, at, b":")?;
    let first = expect(bytes, at, b"[")?;
    // The array's `]`: the document ends `] }` (and white space).
    let close = back_over(bytes, back_over(bytes, bytes.len(), b'}')?, b']')?;
    if close < first {
        return None;
    }
    // Where each piece starts: the first element, then a line that starts an element
    // after each even share of the array; and where it ends: at the comma before the
    // next piece, or at the `]`.
    let mut starts = vec![first];
    for k in 1..threads {
        let from = first + (close - first) * k / threads;
        match element_line(&bytes[..close], from.max(*starts.last()? + 1)) {
            Some(start) => starts.push(start),
            None => break,
        }
    }
    let mut ends = Vec::with_capacity(starts.len());
    for &next in &starts[1..] {
        ends.push(back_over(bytes, next, b',')?);
    }
    ends.push(close);
    // Each piece's room in the one list: its lines that start an element (one per
    // transaction in the files `parex gen` writes, so the list is written in place, each
    // transaction once). A piece of another count is read again into a list of its own
    // (the rooms' text may have any layout), and the lists are joined.
    // Counted side by side, a piece on each thread (a pass over 109 MB took about 10 ms
    // on one thread).
    let rooms: Vec<usize> = std::thread::scope(|s| {
        let counts: Vec<_> = starts
            .iter()
            .zip(&ends)
            .map(|(&start, &end)| s.spawn(move || element_lines(&bytes[start..end])))
            .collect();
        // Counting cannot panic; `join` fails only if it did.
        counts
            .into_iter()
            .map(|c| c.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let total: usize = rooms.iter().sum();
    if total > max_txs {
        return None;
    }
    let pieces = |rooms: &[usize], list: &mut [MaybeUninit<Transaction<'static>>]| {
        std::thread::scope(|s| {
            let mut rest = list;
            let mut readers = Vec::with_capacity(starts.len());
            for ((&start, &end), &room) in starts.iter().zip(&ends).zip(rooms) {
                let (mine, after) = std::mem::take(&mut rest).split_at_mut(room);
                rest = after;
                let piece = &text[start..end];
                readers.push(s.spawn(move || read_piece(piece, world, max_txs, mine)));
            }
            let read: Vec<Option<Piece>> =
                readers.into_iter().map(|r| r.join().ok().flatten()).collect();
            read.into_iter().collect::<Option<Vec<Piece>>>()
        })
    };
    let mut txs = Vec::with_capacity(total);
    let mut read = pieces(&rooms, &mut txs.spare_capacity_mut()[..total])?;
    if read.iter().zip(&rooms).all(|(p, &room)| p.written == room && p.aside.is_empty()) {
        // SAFETY: the pieces wrote their rooms whole (`written == room`, each place once:
        // `read_piece`), the rooms cover the first `total` places of the capacity, and
        // the scope joined their threads before this line.
        unsafe { txs.set_len(total) };
    } else {
        read = pieces(&vec![0; rooms.len()], &mut [])?;
        txs = read.iter_mut().flat_map(|p| std::mem::take(&mut p.aside)).collect();
    }
    // Each piece's lists, by index in the piece, to indices in the block.
    let mut first = 0;
    let mut lists = Vec::new();
    for p in read {
        lists.extend(p.lists.into_iter().map(|(i, list)| (first + i, list)));
        first += p.count;
    }
    (txs.len() <= max_txs).then(|| (number, TxBlock::with_lists(txs, lists)))
}

/// A piece as read: how many of its transactions went into its room in the list, those
/// that did not fit, and the declared access lists of all of them by their index in the
/// piece (`count` in all).
struct Piece {
    written: usize,
    aside: Vec<Transaction<'static>>,
    lists: Vec<(usize, AccessList)>,
    count: usize,
}

/// The transactions of `piece`, the text of some elements of the array and the commas
/// between them, in order: the first written into `room` (each place once), those
/// beyond it kept aside; `None` if it is not such a text, or a transaction is not valid,
/// or it has more than `max_txs`.
fn read_piece(
    piece: &str,
    world: &World,
    max_txs: usize,
    room: &mut [MaybeUninit<Transaction<'static>>],
) -> Option<Piece> {
    let bytes = piece.as_bytes();
    let mut read = Piece { written: 0, aside: Vec::new(), lists: Vec::new(), count: 0 };
    let mut at = skip_ws(bytes, 0);
    while at < bytes.len() {
        // One element at a time, straight from the file's text; then a comma and the
        // next element, or the piece's end.
        let mut values = serde_json::Deserializer::from_str(&piece[at..]).into_iter::<TxJson>();
        let t = values.next()?.ok()?;
        at = skip_ws(bytes, at + values.byte_offset());
        // Errors are worded by the whole-file reader: no file name here.
        let (tx, list) = transaction("", "", read.count, &t, world).ok()?;
        if let Some(list) = list {
            read.lists.push((read.count, list));
        }
        read.count += 1;
        if read.count > max_txs {
            return None;
        }
        match room.get_mut(read.written) {
            Some(place) => {
                place.write(tx);
                read.written += 1;
            }
            None => read.aside.push(tx),
        }
        match bytes.get(at) {
            None => break,
            Some(b',') => at = skip_ws(bytes, at + 1),
            Some(_) => return None,
        }
        if at == bytes.len() {
            return None; // a comma before the array's end
        }
    }
    Some(read)
}

/// The value of type `T` that starts at `at`, and where it ends.
fn value<'de, T: Deserialize<'de>>(text: &'de str, at: usize) -> Option<(T, usize)> {
    let mut values = serde_json::Deserializer::from_str(text.get(at..)?).into_iter::<T>();
    let value = values.next()?.ok()?;
    Some((value, at + values.byte_offset()))
}

/// How many lines of `bytes` start (after white space) with `{`.
fn element_lines(bytes: &[u8]) -> usize {
    let starts_element = |line: &[u8]| line.iter().find(|b| !b" \t".contains(b)) == Some(&b'{');
    // The first line of a piece starts with its first element.
    let first = usize::from(bytes.first() == Some(&b'{'));
    first + memchr::memchr_iter(b'\n', bytes).filter(|&i| starts_element(&bytes[i + 1..])).count()
}

/// The first position from `from` that starts a line whose first byte other than white
/// space is `{`: that byte's.
fn element_line(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        at += bytes.get(at..)?.iter().position(|&b| b == b'\n')? + 1;
        let start = at + bytes[at..].iter().take_while(|&&b| b == b' ' || b == b'\t').count();
        if bytes.get(start) == Some(&b'{') {
            return Some(start);
        }
    }
}

/// Where `byte` is, the last byte before `end` other than white space; `None` if that is
/// another byte.
fn back_over(bytes: &[u8], end: usize, byte: u8) -> Option<usize> {
    let at = bytes[..end].iter().rposition(|b| !b" \t\n\r".contains(b))?;
    (bytes[at] == byte).then_some(at)
}

/// Past `token` at `at` (after white space), and the white space after it.
fn expect(bytes: &[u8], at: usize, token: &[u8]) -> Option<usize> {
    let at = skip_ws(bytes, at);
    bytes.get(at..)?.starts_with(token).then(|| skip_ws(bytes, at + token.len()))
}

fn skip_ws(bytes: &[u8], mut at: usize) -> usize {
    while matches!(bytes.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blockfile::{block_to_json, parse_block};
    use crate::workload::{Generator, Spec, Workload};

    fn block(workload: Workload, txs: usize, declare: u32) -> (World, TxBlock) {
        let mut spec = Spec::new(workload, 200, txs, 1, 0x5B11);
        spec.declare_per_mille = declare;
        let (world, mut gen) = Generator::new(&spec);
        let block = gen.block();
        (world, block)
    }

    /// Every thread count reads what the whole-file reader reads, on every workload,
    /// declared lists included.
    #[test]
    fn pieces_read_what_the_whole_file_reads() {
        for workload in Workload::ALL {
            let (world, txs) = block(workload, 300, 500);
            let text = block_to_json(1, txs.txs());
            let whole = parse_block("b.json", &text, 1, &world, 1_000).unwrap();
            assert_eq!(whole, txs);
            for threads in 1..=9 {
                let (number, split) = read_in_pieces(&text, &world, 1_000, threads).unwrap();
                assert_eq!((number, &split), (Some(1), &whole), "{workload:?} {threads}");
            }
        }
    }

    /// A cut inside an element (here: a line that starts an access entry) is refused,
    /// never read as an element; the document is then read whole.
    #[test]
    fn a_cut_inside_an_element_is_refused() {
        let (world, txs) = block(Workload::Token, 40, 1_000);
        let text = block_to_json(1, txs.txs()).replace("{\"address\"", "\n  {\"address\"");
        assert!(text.matches("\n  {\"address\"").count() > 40);
        let whole = parse_block("b.json", &text, 1, &world, 1_000).unwrap();
        for threads in 2..=16 {
            if let Some((_, split)) = read_in_pieces(&text, &world, 1_000, threads) {
                assert_eq!(split, whole, "{threads}");
            }
        }
        // Cut after the first line of an element: refused.
        let first = text.find("\n  {\"address\"").unwrap() + 3;
        assert!(read_piece(&text[first..], &world, 1_000, &mut []).is_none());
    }

    /// Other shapes, errors and a block over the capacity are left to the whole-file
    /// reader.
    #[test]
    fn anything_else_is_left_to_the_whole_file_reader() {
        let (world, txs) = block(Workload::Transfers, 50, 0);
        let text = block_to_json(1, txs.txs());
        assert!(read_in_pieces(&text, &world, 49, 2).is_none(), "over the capacity");
        let swapped =
            text.replacen("\"number\": 1,\n", "", 1).replacen("}\n", ", \"number\": 1}\n", 1);
        assert!(read_in_pieces(&swapped, &world, 1_000, 2).is_none(), "number last");
        let bad = text.replacen("\"value\":", "\"value\": -", 7);
        assert!(read_in_pieces(&bad, &world, 1_000, 2).is_none(), "a bad value");
        let trailing = text.replacen("}\n", "} x", 1);
        assert!(read_in_pieces(&trailing, &world, 1_000, 2).is_none(), "trailing text");
        // Every element on one line: the one piece is read again into a list of its own.
        let one_line = text.replace(",\n", ", ");
        assert_eq!(read_in_pieces(&one_line, &world, 1_000, 3), Some((Some(1), txs.clone())));
        let without = text.replacen("\"number\": 1,\n", "", 1);
        let (number, split) = read_in_pieces(&without, &world, 1_000, 3).unwrap();
        assert_eq!((number, split), (None, txs));
        let empty = "{\"number\": 1, \"transactions\": [ ]}";
        assert_eq!(read_in_pieces(empty, &world, 1_000, 4), Some((Some(1), TxBlock::default())));
    }
}
