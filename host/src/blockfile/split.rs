//! A large block file read in pieces, on as many threads: its `transactions` array cut
//! where a line starts an element, each piece read by its own thread, element by element
//! ([`locate`], then [`read_located`]): with [`canonical::read_tx`] where the element is
//! written as `parex gen` writes it, else with `serde_json`.
//!
//! The cuts are guesses, and each guess is checked: a piece is the text from one cut to
//! the comma before the next, and it must read, element by element, as one or more
//! elements of an array and the commas between them (the array's only piece may be
//! empty). A cut inside an element would leave that element's `{` unclosed in the piece
//! before it (a line break cannot be inside a string), so every cut that reads is
//! between two elements, and the pieces' elements, in order, are the array's. Anything
//! else (another shape of document, any error, more transactions than the capacity)
//! gives `None`, and the caller reads the file whole, which also finds and words every
//! error.
//!
//! The text comes from a [`Source`]: a text in memory ([`read_in_pieces`]), or a file
//! read a window at a time ([`FileSource`]), so that a large block file is never held
//! whole. Locating the pieces reads the document's head and tail, the text around each
//! cut, and each piece once (to count its elements, side by side); reading them reads
//! each piece once more, a window at a time, into a buffer that stays in the cache. Its
//! bytes are never written to fresh memory, whose page faults cost more than the copy
//! (a 109 MB block: about 27,000 faults; see BENCHMARKS.md).

use std::fs::File;
use std::mem::MaybeUninit;
use std::os::unix::fs::FileExt;

use parex_core::tx::{AccessList, Transaction};
use serde::Deserialize;

use super::canonical;
use super::read::transaction;
use super::values::Amount;
use crate::pool::side_by_side;
use crate::txblock::TxBlock;
use crate::workload::World;

/// Files shorter than this (about 600 transactions) are read whole, on one thread, not
/// in pieces. From this size on, what reading in pieces saves (the file's text never
/// held whole, [`canonical`] elements, a thread a piece) outweighs its threads' start.
pub(super) const SPLIT_BYTES: usize = 64 << 10;

/// The least text a piece is given ([`pieces`]): a thread started for less costs more
/// than it saves.
const PIECE_BYTES: u64 = 32 << 10;

/// How many pieces a document of `len` bytes is read in with `threads` threads: one a
/// thread, each of at least [`PIECE_BYTES`] (one for a shorter document).
pub(super) fn pieces(len: u64, threads: usize) -> usize {
    let most = usize::try_from(len / PIECE_BYTES).unwrap_or(usize::MAX);
    threads.min(most).max(1)
}

/// Bytes of a file a piece's reader holds at a time: a window (in the core's cache).
pub(super) const FILE_WINDOW: u64 = 256 << 10;

/// The most bytes read at once to find the document's head, its tail, or a cut.
const PROBE: u64 = 64 << 10;

/// Where a block document's bytes come from (see the module docs). Positions are byte
/// offsets in the document.
pub(super) trait Source: Sync {
    /// The document's length.
    fn len(&self) -> u64;
    /// Bytes from `at` to at most `end`: all of them from a text in memory, a window's
    /// worth from a file (read into `buf`); empty only if `at >= end`. `None` if they
    /// cannot be read (the file ended early, say).
    fn window<'b>(&'b self, at: u64, end: u64, buf: &'b mut Vec<u8>) -> Option<&'b [u8]>;
    /// Exactly the bytes `at..end` (at most [`PROBE`] to find the head, the tail or a
    /// cut, or a window).
    fn span<'b>(&'b self, at: u64, end: u64, buf: &'b mut Vec<u8>) -> Option<&'b [u8]>;
    /// [`Self::window`] as text, up to the last whole character when the window's end
    /// cuts one (not the piece's end); `None` if it is not UTF-8, or empty. One check of
    /// the window, where reading its strings from bytes would check each of them.
    fn text<'b>(&'b self, at: u64, end: u64, buf: &'b mut Vec<u8>) -> Option<&'b str> {
        let bytes = self.window(at, end, buf)?;
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) if e.error_len().is_none() && at + (bytes.len() as u64) < end => {
                std::str::from_utf8(&bytes[..e.valid_up_to()]).ok()?
            }
            Err(_) => return None,
        };
        (!text.is_empty()).then_some(text)
    }
}

impl Source for str {
    fn len(&self) -> u64 {
        str::len(self) as u64
    }
    fn window<'b>(&'b self, at: u64, end: u64, buf: &'b mut Vec<u8>) -> Option<&'b [u8]> {
        self.span(at, end, buf)
    }
    fn span<'b>(&'b self, at: u64, end: u64, _: &'b mut Vec<u8>) -> Option<&'b [u8]> {
        self.as_bytes().get(usize::try_from(at).ok()?..usize::try_from(end).ok()?)
    }
    fn text<'b>(&'b self, at: u64, end: u64, _: &'b mut Vec<u8>) -> Option<&'b str> {
        self.get(usize::try_from(at).ok()?..usize::try_from(end).ok()?)
    }
}

/// A file of `len` bytes, read by position (so threads share it, each with its own
/// buffer), a window at a time.
pub(super) struct FileSource<'f> {
    pub(super) file: &'f File,
    pub(super) len: u64,
}

impl Source for FileSource<'_> {
    fn len(&self) -> u64 {
        self.len
    }
    fn window<'b>(&'b self, at: u64, end: u64, buf: &'b mut Vec<u8>) -> Option<&'b [u8]> {
        self.span(at, end.min(at.saturating_add(FILE_WINDOW)), buf)
    }
    fn span<'b>(&'b self, at: u64, end: u64, buf: &'b mut Vec<u8>) -> Option<&'b [u8]> {
        let n = usize::try_from(end.checked_sub(at)?).ok()?;
        if buf.len() < n {
            buf.resize(n, 0); // once per reader: its windows reuse the memory
        }
        self.file.read_exact_at(&mut buf[..n], at).ok()?;
        Some(&buf[..n])
    }
}

/// A text in memory seen `.1` bytes at a time, as a file is: how the tests and the fuzz
/// target check the windows' edges ([`read_in_windows`]).
struct Windows<'a>(&'a str, u64);

impl Source for Windows<'_> {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }
    fn window<'b>(&'b self, at: u64, end: u64, buf: &'b mut Vec<u8>) -> Option<&'b [u8]> {
        self.0.span(at, end.min(at.saturating_add(self.1)), buf)
    }
    fn span<'b>(&'b self, at: u64, end: u64, buf: &'b mut Vec<u8>) -> Option<&'b [u8]> {
        self.0.span(at, end, buf)
    }
}

/// Where a block document's pieces lie ([`locate`]).
#[derive(Debug)]
pub(super) struct Layout {
    /// The document's `number`, if given.
    pub(super) number: Option<u64>,
    /// Each piece's first byte (the `{` of its first element) and its end (the comma
    /// before the next piece, or the array's `]`).
    starts: Vec<u64>,
    ends: Vec<u64>,
    /// Each piece's lines that start an element: its room in the block's list.
    rooms: Vec<usize>,
}

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
    let layout = locate(text, threads)?;
    Some((layout.number, read_located(text, &layout, world, max_txs)?))
}

/// [`read_in_pieces`], the text seen `window` bytes at a time as a large file is (the
/// same answer for every window).
pub fn read_in_windows(
    text: &str,
    world: &World,
    max_txs: usize,
    threads: usize,
    window: usize,
) -> Option<(Option<u64>, TxBlock)> {
    let src = Windows(text, window.max(1) as u64);
    let layout = locate(&src, threads)?;
    Some((layout.number, read_located(&src, &layout, world, max_txs)?))
}

/// Finds the pieces of the block document in `src` for `threads` readers, and counts
/// their elements (side by side, a piece on each thread); `None` if the document is not
/// of the expected shape (see [`read_in_pieces`]).
pub(super) fn locate<S: Source + ?Sized>(src: &S, threads: usize) -> Option<Layout> {
    let len = src.len();
    let mut buf = Vec::new();
    let head = src.span(0, len.min(PROBE), &mut buf)?;
    let mut at = expect(head, 0, b"{")?;
    let mut number = None;
    if let Some(after) = expect(head, at, b"\"number\"") {
        let colon = expect(head, after, b":")?;
        let (n, end) = value::<Amount>(head, colon)?;
        number = Some(n.0);
        at = expect(head, end, b",")?;
    }
    at = expect(head, at, b"\"transactions\"")?;
    at = expect(head, at, b":")?;
    let first = expect(head, at, b"[")? as u64;
    // The array's `]`: the document ends `] }` (and white space).
    let from = len.saturating_sub(PROBE).max(first);
    let tail = src.span(from, len, &mut buf)?;
    let close = from + back_over(tail, back_over(tail, tail.len(), b'}')?, b']')? as u64;
    // Where each piece starts: the first element, then a line that starts an element
    // after each even share of the array; and where it ends: at the comma before the
    // next piece, or at the `]`.
    let mut starts = vec![first];
    for k in 1..threads as u64 {
        let guess = first + (close - first) * k / threads as u64;
        match element_line(src, guess.max(*starts.last()? + 1), close, &mut buf) {
            Some(start) => starts.push(start),
            None => break,
        }
    }
    let mut ends = Vec::with_capacity(starts.len());
    for &next in &starts[1..] {
        let from = next.saturating_sub(PROBE).max(first);
        let before = src.span(from, next, &mut buf)?;
        ends.push(from + back_over(before, before.len(), b',')? as u64);
    }
    ends.push(close);
    // Each piece's room in the one list: its lines that start an element (one per
    // transaction in the files `parex gen` writes, so the list is written in place, each
    // transaction once). A piece of another count is read again into a list of its own
    // (the rooms' text may have any layout), and the lists are joined.
    let pieces = starts.iter().zip(&ends);
    let rooms = side_by_side(pieces, |(&start, &end)| element_lines(src, start, end));
    let rooms = rooms.into_iter().collect::<Option<Vec<usize>>>()?;
    Some(Layout { number, starts, ends, rooms })
}

/// The transactions of the located pieces of `src`, read side by side, a piece on each
/// thread; `None` if a piece does not read (see the module docs) or they are more than
/// `max_txs`.
pub(super) fn read_located<S: Source + ?Sized>(
    src: &S,
    layout: &Layout,
    world: &World,
    max_txs: usize,
) -> Option<TxBlock> {
    let Layout { starts, ends, rooms, .. } = layout;
    let total: usize = rooms.iter().sum();
    if total > max_txs {
        return None;
    }
    let pieces = |rooms: &[usize], list: &mut [MaybeUninit<Transaction<'static>>]| {
        // Each piece with its room, the rooms cut from the list in order.
        let mut rest = list;
        let mut parts = Vec::with_capacity(starts.len());
        for ((&start, &end), &room) in starts.iter().zip(ends).zip(rooms) {
            let (mine, after) = std::mem::take(&mut rest).split_at_mut(room);
            rest = after;
            parts.push((start, end, mine));
        }
        let read = side_by_side(parts, |(start, end, room)| {
            read_piece(src, start, end, world, max_txs, room)
        });
        let read = read.into_iter().collect::<Option<Vec<Piece>>>()?;
        // Every piece holds an element, or the array is one empty piece: an empty first
        // piece is the text between `[` and a comma (`[ , {...}`, which is no array).
        (read.len() == 1 || read.iter().all(|p| p.count > 0)).then_some(read)
    };
    let mut txs = Vec::with_capacity(total);
    let mut read = pieces(rooms, &mut txs.spare_capacity_mut()[..total])?;
    if read.iter().zip(rooms).all(|(p, &room)| p.written == room && p.aside.is_empty()) {
        // SAFETY: the pieces wrote their rooms whole (`written == room`, each place once:
        // `read_piece`), the rooms cover the first `total` places of the capacity, and
        // `side_by_side` joined their threads before this line.
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
    (txs.len() <= max_txs).then(|| TxBlock::with_lists(txs, lists))
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

/// The transactions of the piece `start..end` of `src`, the text of some elements of
/// the array and the commas between them, in order: the first written into `room` (each
/// place once), those beyond it kept aside; `None` if it is not such a text, or a
/// transaction is not valid, or it has more than `max_txs`.
fn read_piece<S: Source + ?Sized>(
    src: &S,
    start: u64,
    end: u64,
    world: &World,
    max_txs: usize,
    room: &mut [MaybeUninit<Transaction<'static>>],
) -> Option<Piece> {
    let mut read = Piece { written: 0, aside: Vec::new(), lists: Vec::new(), count: 0 };
    let mut buf = Vec::new();
    // The first byte not read yet, and whether an element was read last (a comma or the
    // piece's end must follow).
    let (mut at, mut after_element) = (start, false);
    while at < end {
        let text = src.text(at, end, &mut buf)?;
        let (window, last) = (text.as_bytes(), at + text.len() as u64 == end);
        let mut i = skip_ws(window, 0);
        while i < window.len() {
            if after_element {
                if window[i] != b',' {
                    return None;
                }
                (i, after_element) = (skip_ws(window, i + 1), false);
                if i == window.len() {
                    if last {
                        return None; // a comma before the array's end
                    }
                    break;
                }
            }
            // One element at a time, straight from the text: in the canonical form
            // without `serde_json` (the same value), else with it.
            let rest = text.get(i..)?;
            let (t, len) = match canonical::read_tx(rest) {
                Some(read) => read,
                None => {
                    let mut values = serde_json::Deserializer::from_str(rest).into_iter();
                    match values.next()? {
                        Ok(t) => (t, values.byte_offset()),
                        // Cut by the window's end: read again from the element's start (a
                        // window that starts with an element holds it whole, or it is
                        // too large).
                        Err(e) if e.is_eof() && !last && i > 0 => break,
                        Err(_) => return None,
                    }
                }
            };
            (i, after_element) = (skip_ws(window, i + len), true);
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
        }
        at += i as u64;
    }
    // A comma must not be the piece's last text.
    (read.count == 0 || after_element).then_some(read)
}

/// The value of type `T` that starts at `at`, and where it ends.
fn value<'de, T: Deserialize<'de>>(bytes: &'de [u8], at: usize) -> Option<(T, usize)> {
    let mut values = serde_json::Deserializer::from_slice(bytes.get(at..)?).into_iter::<T>();
    let value = values.next()?.ok()?;
    Some((value, at + values.byte_offset()))
}

/// How many lines of `src` from `start` to `end` start (after blanks) with `{`: the
/// first (where a piece starts) and each after a newline.
fn element_lines<S: Source + ?Sized>(src: &S, start: u64, end: u64) -> Option<usize> {
    let mut buf = Vec::new();
    let (mut count, mut at) = (0, start);
    // Whether the text read so far ends at the start of a line (before its blanks).
    let mut line_start = true;
    while at < end {
        let window = src.window(at, end, &mut buf)?;
        if window.is_empty() {
            return None;
        }
        let mut i = 0;
        loop {
            if line_start {
                let Some(k) = window[i..].iter().position(|b| !b" \t".contains(b)) else {
                    break; // blanks to the window's end: the line starts in the next
                };
                count += usize::from(window[i + k] == b'{');
                (i, line_start) = (i + k, false);
            }
            match memchr::memchr(b'\n', &window[i..]) {
                Some(k) => (i, line_start) = (i + k + 1, true),
                None => break,
            }
        }
        at += window.len() as u64;
    }
    Some(count)
}

/// The first position in `from..end` that starts a line whose first byte other than
/// blanks is `{`: that byte's.
fn element_line<S: Source + ?Sized>(
    src: &S,
    from: u64,
    end: u64,
    buf: &mut Vec<u8>,
) -> Option<u64> {
    let mut at = from;
    while at < end {
        let bytes = src.span(at, end.min(at + PROBE), buf)?;
        let mut next = at + bytes.len() as u64;
        let mut i = 0;
        while let Some(k) = memchr::memchr(b'\n', &bytes[i..]) {
            let line = i + k + 1;
            let start =
                line + bytes[line..].iter().take_while(|&&b| b == b' ' || b == b'\t').count();
            if start == bytes.len() {
                // The line's first byte is past these bytes: look again from its newline
                // (if that moves on at all).
                next = at + (line - 1) as u64;
                if next == at {
                    return None;
                }
                break;
            }
            if bytes[start] == b'{' {
                return Some(at + start as u64);
            }
            i = line;
        }
        at = next;
    }
    None
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

    /// Read a window at a time, as a large file is, the pieces read the same: windows
    /// that cut elements anywhere (an element larger than a window leaves the block to
    /// the whole-file reader), declared lists included.
    #[test]
    fn windows_read_what_the_whole_file_reads() {
        for workload in Workload::ALL {
            let (world, txs) = block(workload, 120, 500);
            let text = block_to_json(1, txs.txs());
            for window in [1, 2, 61, 97, 150, 509, 4_096] {
                for threads in 1..=4 {
                    let read = read_in_windows(&text, &world, 1_000, threads, window);
                    if let Some((number, split)) = &read {
                        assert_eq!((*number, split), (Some(1), &txs), "{workload:?} {window}");
                    }
                    if window <= 2 || window >= 4_096 {
                        assert_eq!(read.is_some(), window >= 4_096, "{workload:?} {window}");
                    }
                }
            }
            // Other layouts: every element on one line, blank lines and indents.
            let one_line = text.replace(",\n", ", ");
            let spaced = text.replace(",\n", " ,\n\n \t").replace("[\n", "[\n\n\n");
            for text in [one_line, spaced] {
                for window in [150, 509, 4_096] {
                    if let Some((_, split)) = read_in_windows(&text, &world, 1_000, 3, window) {
                        assert_eq!(split, txs, "{workload:?} {window}");
                    }
                }
                let read = read_in_windows(&text, &world, 1_000, 3, 4_096);
                assert_eq!(read.map(|r| r.1).as_ref(), Some(&txs), "{workload:?}");
            }
        }
    }

    /// A document gets a piece a thread, each of at least `PIECE_BYTES`: a small one is
    /// not cut into a thread per transaction when `--threads` is large.
    #[test]
    fn pieces_are_not_too_small() {
        assert_eq!(pieces(0, 4), 1);
        assert_eq!(pieces(PIECE_BYTES - 1, 512), 1);
        assert_eq!(pieces(20 * PIECE_BYTES + 5, 64), 20);
        assert_eq!(pieces(1 << 30, 2), 2);
        assert_eq!(pieces(1 << 30, 0), 1);
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
        let (first, len) = (first as u64, text.len() as u64);
        assert!(read_piece(text.as_str(), first, len, &world, 1_000, &mut []).is_none());
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
        let comma = text.replacen("}\n  ]", "},\n  ]", 1);
        assert!(comma.contains("},\n  ]"));
        for window in [100, 4_096] {
            assert!(read_in_windows(&comma, &world, 1_000, 2, window).is_none(), "a last comma");
        }
        assert!(read_in_pieces(&comma, &world, 1_000, 2).is_none(), "a comma before the end");
        // Text that is not ASCII cannot be a block's (a character in a value): wherever a
        // window's end cuts it, the pieces leave it to the whole-file reader.
        let accent = text.replacen("\"0x", "\"0x\u{e9}", 9);
        for window in [3, 61, 97, 150, 4_096] {
            assert!(read_in_windows(&accent, &world, 1_000, 2, window).is_none(), "{window}");
        }
        // A comma before the first element, with the first cut just after it.
        let element = r#"{"from":"0x1000","nonce":0,"gas_limit":21000,"gas_price":1,"kind":"transfer","to":"0x2000","value":5}"#;
        let leading = format!("{{\"transactions\": [,{}{element}]}}", "\n".repeat(200));
        assert!(parse_block("b.json", &leading, 1, &world, 1_000).is_err());
        assert!(read_in_pieces(&leading, &world, 1_000, 2).is_none(), "a leading comma");
        for window in [128, 200, 4_096] {
            assert!(read_in_windows(&leading, &world, 1_000, 2, window).is_none(), "{window}");
        }
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
