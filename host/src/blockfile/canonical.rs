//! A transaction in the form `parex gen` writes it, read by matching its bytes: the
//! fields in [`TxJson`]'s order, no blanks, integers for amounts and call arguments, hex
//! strings for addresses and slots, strings without escapes. Anything else, even valid
//! JSON with the same meaning (another order, a blank, an escape, a hex argument), gives
//! `None`, and the caller reads that element with `serde_json`, which also words its
//! errors.
//!
//! Why: `serde_json` reads such a line, about 105 bytes, in about 270 ns of one thread
//! (most of it finding the keys' ends and matching them); a 1,000,000-transfer block
//! then spends longer parsing than executing (BENCHMARKS.md). What this reader accepts,
//! `serde_json` accepts with the same value and the same length: numbers as JSON
//! integers (no sign, no leading zero, no fraction or exponent, at most `u64::MAX`) and
//! the string values through the same [`parse_hex_u64`] as [`Addr`] and [`Slot`]. A
//! property test (lines changed at random) and the `block_file` fuzz target (pieces
//! against the whole-file reader) hold it to that.

use parex_offload::hex::parse_hex_u64;

use super::schema::{AccessJson, KeyJson, KindJson, TxJson};
use super::values::{Addr, Amount, Slot, Word};

/// The transaction at the start of `text`, and the bytes it takes; `None` if it is not
/// written in the canonical form (see the module docs).
pub(super) fn read_tx(text: &str) -> Option<(TxJson, usize)> {
    let mut c = Cursor { text, at: 0 };
    c.lit(b"{\"from\":")?;
    let from = c.addr()?;
    c.lit(b",\"nonce\":")?;
    let nonce = c.amount()?;
    c.lit(b",\"gas_limit\":")?;
    let gas_limit = c.amount()?;
    c.lit(b",\"gas_price\":")?;
    let gas_price = c.amount()?;
    c.lit(b",\"kind\":")?;
    let kind = match c.string()? {
        "transfer" => KindJson::Transfer,
        "call" => KindJson::Call,
        _ => return None,
    };
    c.lit(b",\"to\":")?;
    let to = c.addr()?;
    c.lit(b",\"value\":")?;
    let value = c.amount()?;
    let args = if c.opt(b",\"args\":[") { Some(c.list(|c| c.u64().map(Word))?) } else { None };
    let access = if c.opt(b",\"access\":[") { Some(c.list(Cursor::access)?) } else { None };
    c.lit(b"}")?;
    let tx = TxJson { from, nonce, gas_limit, gas_price, kind, to, value, args, access };
    Some((tx, c.at))
}

/// A position in the text being matched.
struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    /// The bytes from the position on (none past the end).
    fn rest(&self) -> &'a [u8] {
        self.text.as_bytes().get(self.at..).unwrap_or_default()
    }

    /// Exactly `token` next.
    fn lit(&mut self, token: &[u8]) -> Option<()> {
        self.opt(token).then_some(())
    }

    /// Whether `token` is next (and if so, steps over it).
    fn opt(&mut self, token: &[u8]) -> bool {
        let next = self.rest().starts_with(token);
        if next {
            self.at += token.len();
        }
        next
    }

    /// A JSON integer from 0 to `u64::MAX`, as `serde_json` reads one: digits with no
    /// leading zero, not followed by a fraction, an exponent or more digits.
    fn u64(&mut self) -> Option<u64> {
        let digits = self.rest();
        let len = digits.iter().take_while(|d| d.is_ascii_digit()).count();
        if len == 0 || (len > 1 && digits[0] == b'0') {
            return None;
        }
        if matches!(digits.get(len), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        let mut v = 0u64;
        for &d in &digits[..len] {
            v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        }
        self.at += len;
        Some(v)
    }

    fn amount(&mut self) -> Option<Amount> {
        self.u64().map(Amount)
    }

    /// A string with no escape and no control character: the text `serde_json` hands
    /// its visitor.
    fn string(&mut self) -> Option<&'a str> {
        self.lit(b"\"")?;
        let rest = self.rest();
        let len = rest.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        if rest[len] != b'"' {
            return None;
        }
        // A quote is a whole character: the cut is on one.
        let s = self.text.get(self.at..self.at + len)?;
        self.at += len + 1;
        Some(s)
    }

    /// A hex string as [`Addr`] reads it (and [`Slot`] reads a string).
    fn hex(&mut self) -> Option<u64> {
        parse_hex_u64(self.string()?).ok()
    }

    fn addr(&mut self) -> Option<Addr> {
        self.hex().map(Addr)
    }

    /// Items separated by commas, then `]`; the `[` is already read.
    fn list<T>(&mut self, item: impl Fn(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        let mut items = Vec::new();
        if self.opt(b"]") {
            return Some(items);
        }
        loop {
            items.push(item(self)?);
            if self.opt(b"]") {
                return Some(items);
            }
            self.lit(b",")?;
        }
    }

    /// One access entry: `{"address":…,"key":…[,"slot":…],"write":…}`.
    fn access(&mut self) -> Option<AccessJson> {
        self.lit(b"{\"address\":")?;
        let address = self.addr()?;
        self.lit(b",\"key\":")?;
        let key = match self.string()? {
            "balance" => KeyJson::Balance,
            "nonce" => KeyJson::Nonce,
            "code_hash" => KeyJson::CodeHash,
            "storage" => KeyJson::Storage,
            _ => return None,
        };
        let slot = if self.opt(b",\"slot\":") { Slot(self.hex()?) } else { Slot(0) };
        self.lit(b",\"write\":")?;
        let write = if self.opt(b"true") {
            true
        } else {
            self.lit(b"false")?;
            false
        };
        self.lit(b"}")?;
        Some(AccessJson { address, key, slot, write })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blockfile::tx_to_json;
    use crate::workload::{Generator, Spec, Workload};
    use proptest::prelude::*;

    /// What `serde_json` reads at the start of `text`: the value (as canonical text,
    /// since the schema's structs have no `PartialEq`) and its length.
    fn by_serde(text: &str) -> Option<(String, usize)> {
        let mut values = serde_json::Deserializer::from_str(text).into_iter::<TxJson>();
        let t = values.next()?.ok()?;
        Some((serde_json::to_string(&t).ok()?, values.byte_offset()))
    }

    fn by_canonical(text: &str) -> Option<(String, usize)> {
        read_tx(text).map(|(t, n)| (serde_json::to_string(&t).unwrap(), n))
    }

    /// Every line of every workload's blocks, declared or not, as `parex gen` writes it.
    fn lines() -> Vec<String> {
        let mut out = Vec::new();
        for workload in Workload::ALL {
            for declare in [0, 1000] {
                let mut spec = Spec::new(workload, 200, 40, 1, 0xCA11);
                (spec.declare_per_mille, spec.fail_per_mille) = (declare, 100);
                let (_, mut gen) = Generator::new(&spec);
                for tx in gen.block().txs() {
                    out.push(serde_json::to_string(&tx_to_json(tx)).unwrap());
                }
            }
        }
        out
    }

    #[test]
    fn reads_what_gen_writes_as_serde_json_does() {
        for line in lines() {
            let text = format!("{line},\n");
            let fast = by_canonical(&text);
            assert!(fast.is_some(), "not read: {line}");
            assert_eq!(fast, by_serde(&text), "{line}");
        }
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        let base = concat!(
            r#"{"from":"0x1","nonce":0,"gas_limit":5,"gas_price":1,"#,
            r#""kind":"transfer","to":"0x2","value":3}"#
        );
        assert!(read_tx(base).is_some());
        for (from, to) in [
            ("\"nonce\":0", "\"nonce\":00"),
            ("\"nonce\":0", "\"nonce\":-0"),
            ("\"nonce\":0", "\"nonce\":0.0"),
            ("\"nonce\":0", "\"nonce\":0e0"),
            ("\"nonce\":0", "\"nonce\":18446744073709551616"),
            ("\"nonce\":0", "\"nonce\": 0"),
            ("\"0x1\"", "\"0x\\u0031\""),
            ("\"0x1\"", "\"1\""),
            ("\"0x1\"", "\"0x10000000000000000\""),
            ("\"transfer\"", "\"Transfer\""),
            (",\"value\":3", ""),
            ("\"value\":3}", "\"value\":3,\"extra\":1}"),
        ] {
            let text = base.replace(from, to);
            assert_ne!(text, base);
            assert_eq!(read_tx(&text).map(|(_, n)| n), None, "{text}");
        }
        // The largest integer is read.
        let max = base.replace("\"nonce\":0", "\"nonce\":18446744073709551615");
        assert_eq!(read_tx(&max).map(|(t, _)| t.nonce.0), Some(u64::MAX));
    }

    /// Where, how (replace, insert, remove, cut) and with which byte a line is changed.
    fn edit() -> impl Strategy<Value = (prop::sample::Index, u8, u8)> {
        (any::<prop::sample::Index>(), 0..4u8, any::<u8>())
    }

    proptest! {
        /// Whatever this reader accepts from a line changed at random, `serde_json`
        /// reads alike: the same value, the same length.
        #[test]
        fn agrees_with_serde_json_on_changed_lines(
            pick in any::<prop::sample::Index>(),
            edits in prop::collection::vec(edit(), 1..4),
        ) {
            static LINES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
            let mut bytes = pick.get(LINES.get_or_init(lines)).clone().into_bytes();
            for (at, op, byte) in edits {
                let i = at.index(bytes.len() + 1);
                // Bytes from JSON's alphabet, so that edits often still parse.
                const ALPHABET: &[u8] = b"0123456789abcdefx\",:{}[] -.eE\\truln";
                let b = ALPHABET[usize::from(byte) % ALPHABET.len()];
                match op {
                    0 if i < bytes.len() => bytes[i] = b,
                    1 => bytes.insert(i, b),
                    2 if i < bytes.len() => { bytes.remove(i); }
                    _ => bytes.truncate(i),
                }
            }
            let Ok(text) = String::from_utf8(bytes) else { return Ok(()) };
            if let Some(fast) = by_canonical(&text) {
                prop_assert_eq!(Some(fast), by_serde(&text), "{}", text);
            }
        }
    }
}
