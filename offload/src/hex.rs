//! Hex, read and written in one place for the whole workspace (the no_std appliance has
//! its own tiny printer):
//!
//! - [`parse_hex_line`]: one message per line of hex, for `parex hash` style input;
//! - [`parse_hex_u64`] and [`parse_hex_bytes`]: the `0x`-prefixed values of the block
//!   files (addresses, words, contract code);
//! - [`push_hex`], [`hex_string`] and [`hash_hex`]: lowercase hex for output.
//!
//! Every parser returns a typed error whose `Display` is the one line users see.

use std::fmt;

use parex_core::Hash32;

/// Why a line is not a hex message. Columns count characters from 1, in the line as
/// given (before trimming).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HexError {
    /// A character that is not a hex digit.
    InvalidChar {
        /// 1-based column of the character.
        column: usize,
        /// The character.
        ch: char,
    },
    /// An odd number of hex digits; `column` is that of the last digit.
    OddLength {
        /// 1-based column of the unpaired digit.
        column: usize,
    },
}

impl HexError {
    /// The 1-based column the error is at.
    pub fn column(&self) -> usize {
        match *self {
            Self::InvalidChar { column, .. } | Self::OddLength { column } => column,
        }
    }

    /// What is wrong, without the column: `'z' is not a hex digit`.
    pub fn reason(&self) -> impl fmt::Display {
        HexReason(*self)
    }
}

/// [`HexError::reason`].
struct HexReason(HexError);

impl fmt::Display for HexReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            HexError::InvalidChar { ch, .. } => write!(f, "{ch:?} is not a hex digit"),
            HexError::OddLength { .. } => {
                f.write_str("odd number of hex digits (unpaired last digit)")
            }
        }
    }
}

impl fmt::Display for HexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column(), self.reason())
    }
}

impl std::error::Error for HexError {}

/// Why a string is not a `0x`-prefixed 64-bit hex number ([`parse_hex_u64`]). Each
/// variant keeps the text as given, which the message quotes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HexU64Error {
    /// The text does not start with `0x` or `0X`.
    NoPrefix {
        /// The text.
        text: String,
    },
    /// Nothing after the prefix.
    NoDigits {
        /// The text.
        text: String,
    },
    /// A character after the prefix that is not a hex digit.
    InvalidDigit {
        /// The text.
        text: String,
        /// The first such character.
        ch: char,
    },
    /// More than 16 significant digits.
    TooWide {
        /// The text.
        text: String,
    },
}

impl fmt::Display for HexU64Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoPrefix { text } => write!(f, "expected a 0x-prefixed hex string, got {text:?}"),
            Self::NoDigits { text } => write!(f, "no hex digits after 0x in {text:?}"),
            Self::InvalidDigit { text, ch } => write!(f, "invalid hex digit {ch:?} in {text:?}"),
            Self::TooWide { text } => {
                write!(f, "{text:?} does not fit 64 bits (more than 16 significant hex digits)")
            }
        }
    }
}

impl std::error::Error for HexU64Error {}

/// Why a string is not `0x`-prefixed hex bytes ([`parse_hex_bytes`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HexBytesError {
    /// The text does not start with `0x` or `0X`.
    NoPrefix {
        /// The start of the text ([`excerpt`]).
        excerpt: String,
    },
    /// A character after the prefix that is not a hex digit.
    InvalidDigit {
        /// The first such character.
        ch: char,
        /// Its position in the string, counting the prefix's two characters and from 1.
        position: usize,
    },
    /// An odd number of digits after the prefix.
    OddLength {
        /// How many digits there are.
        digits: usize,
    },
}

impl fmt::Display for HexBytesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoPrefix { excerpt } => {
                write!(f, "expected 0x-prefixed hex bytes, got {excerpt:?}")
            }
            Self::InvalidDigit { ch, position } => {
                write!(f, "invalid hex digit {ch:?} at character {position} of the string")
            }
            Self::OddLength { digits } => write!(f, "odd number of hex digits ({digits})"),
        }
    }
}

impl std::error::Error for HexBytesError {}

/// How error messages quote text that may be long: its first 40 characters, and `...`
/// when there are more.
pub fn excerpt(text: &str) -> String {
    const MAX_CHARS: usize = 40;
    match text.char_indices().nth(MAX_CHARS) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

fn nibble(c: char) -> Option<u8> {
    c.to_digit(16).map(|d| d as u8)
}

fn strip_0x(text: &str) -> Option<&str> {
    text.strip_prefix("0x").or_else(|| text.strip_prefix("0X"))
}

/// Parses one line of hex into the message bytes.
///
/// Surrounding whitespace (including a trailing `\r\n`) is ignored, an optional `0x` or
/// `0X` prefix is accepted, digits may be upper or lower case, and an empty line is the
/// empty message.
pub fn parse_hex_line(line: &str) -> Result<Vec<u8>, HexError> {
    let lead = line.chars().take_while(|c| c.is_whitespace()).count();
    let mut text = line.trim();
    let mut column = lead + 1;
    if let Some(rest) = strip_0x(text) {
        text = rest;
        column += 2;
    }
    let mut out = Vec::with_capacity(text.len() / 2);
    let mut high: Option<u8> = None;
    for (i, c) in text.chars().enumerate() {
        let v = nibble(c).ok_or(HexError::InvalidChar { column: column + i, ch: c })?;
        match high.take() {
            Some(h) => out.push(h << 4 | v),
            None => high = Some(v),
        }
    }
    if high.is_some() {
        return Err(HexError::OddLength { column: column + text.chars().count() - 1 });
    }
    Ok(out)
}

/// Parses `0x` (or `0X`) followed by 1 to 16 significant hex digits, any case; leading
/// zeros do not count.
pub fn parse_hex_u64(text: &str) -> Result<u64, HexU64Error> {
    let owned = || text.to_string();
    let digits = strip_0x(text).ok_or_else(|| HexU64Error::NoPrefix { text: owned() })?;
    if digits.is_empty() {
        return Err(HexU64Error::NoDigits { text: owned() });
    }
    let mut value = 0u64;
    let mut significant = 0usize;
    for c in digits.chars() {
        let v = nibble(c).ok_or_else(|| HexU64Error::InvalidDigit { text: owned(), ch: c })?;
        if significant > 0 || v != 0 {
            significant += 1;
        }
        if significant <= 16 {
            value = value << 4 | u64::from(v);
        }
    }
    if significant > 16 {
        return Err(HexU64Error::TooWide { text: owned() });
    }
    Ok(value)
}

/// Parses `0x` (or `0X`) followed by an even number of hex digits, any case, into bytes;
/// `0x` alone is no bytes.
pub fn parse_hex_bytes(text: &str) -> Result<Vec<u8>, HexBytesError> {
    let digits =
        strip_0x(text).ok_or_else(|| HexBytesError::NoPrefix { excerpt: excerpt(text) })?;
    if let Some((i, ch)) = digits.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
        return Err(HexBytesError::InvalidDigit { ch, position: i + 3 });
    }
    if digits.len() % 2 != 0 {
        return Err(HexBytesError::OddLength { digits: digits.len() });
    }
    // Only ASCII hex digits from here on.
    let n = |c: u8| nibble(char::from(c)).unwrap_or(0);
    Ok(digits.as_bytes().chunks_exact(2).map(|p| n(p[0]) << 4 | n(p[1])).collect())
}

/// Appends the lowercase hex digits of `bytes`, two per byte and no prefix, to `out`.
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(2 * bytes.len());
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
}

/// `0x` followed by the lowercase hex of `bytes`.
pub fn hex_string(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 + 2 * bytes.len());
    s.push_str("0x");
    push_hex(&mut s, bytes);
    s
}

/// A digest as `0x` and 64 lowercase hex digits.
pub fn hash_hex(h: &Hash32) -> String {
    hex_string(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_locates_errors() {
        assert_eq!(parse_hex_line(""), Ok(vec![]));
        assert_eq!(parse_hex_line("  \r\n"), Ok(vec![]));
        assert_eq!(parse_hex_line("0x"), Ok(vec![]));
        assert_eq!(parse_hex_line("00ff"), Ok(vec![0, 255]));
        assert_eq!(parse_hex_line("0XaBcD\r\n"), Ok(vec![0xab, 0xcd]));
        assert_eq!(parse_hex_line(" 0x12zz"), Err(HexError::InvalidChar { column: 6, ch: 'z' }));
        assert_eq!(parse_hex_line("abc"), Err(HexError::OddLength { column: 3 }));
        assert_eq!(parse_hex_line("é0"), Err(HexError::InvalidChar { column: 1, ch: 'é' }));
        assert_eq!(parse_hex_line("00 11"), Err(HexError::InvalidChar { column: 3, ch: ' ' }));
        assert!(parse_hex_line("0xg").unwrap_err().to_string().contains("column 3"));
    }

    #[test]
    fn line_errors_split_into_column_and_reason() {
        let e = parse_hex_line("0xzz").unwrap_err();
        assert_eq!((e.column(), e.reason().to_string()), (3, "'z' is not a hex digit".into()));
        assert_eq!(e.to_string(), "column 3: 'z' is not a hex digit");
        let e = parse_hex_line("abc").unwrap_err();
        assert_eq!(e.to_string(), "column 3: odd number of hex digits (unpaired last digit)");
    }

    #[test]
    fn u64_values() {
        assert_eq!(parse_hex_u64("0x0"), Ok(0));
        assert_eq!(parse_hex_u64("0X1000"), Ok(0x1000));
        assert_eq!(parse_hex_u64("0xC0000000"), Ok(0xc000_0000));
        assert_eq!(parse_hex_u64("0xffffffffffffffff"), Ok(u64::MAX));
        assert_eq!(parse_hex_u64("0x0000ffffffffffffffff"), Ok(u64::MAX));
        assert_eq!(parse_hex_u64("0x00000000000000000001"), Ok(1));
    }

    #[test]
    fn u64_errors_say_what_and_quote_the_text() {
        let msg = |s: &str| parse_hex_u64(s).unwrap_err().to_string();
        assert_eq!(msg("1001"), "expected a 0x-prefixed hex string, got \"1001\"");
        assert_eq!(msg("0x"), "no hex digits after 0x in \"0x\"");
        assert_eq!(msg("0x10g0"), "invalid hex digit 'g' in \"0x10g0\"");
        assert_eq!(
            msg("0x10000000000000000"),
            "\"0x10000000000000000\" does not fit 64 bits (more than 16 significant hex digits)"
        );
        assert_eq!(
            parse_hex_u64("0x1z"),
            Err(HexU64Error::InvalidDigit { text: "0x1z".into(), ch: 'z' })
        );
    }

    #[test]
    fn byte_strings() {
        assert_eq!(parse_hex_bytes("0x"), Ok(vec![]));
        assert_eq!(parse_hex_bytes("0x60Ff00"), Ok(vec![0x60, 0xff, 0x00]));
        assert_eq!(parse_hex_bytes("0X01"), Ok(vec![1]));
        let msg = |s: &str| parse_hex_bytes(s).unwrap_err().to_string();
        assert_eq!(msg("6000"), "expected 0x-prefixed hex bytes, got \"6000\"");
        assert_eq!(
            msg(&"a".repeat(50)),
            format!("expected 0x-prefixed hex bytes, got \"{}...\"", "a".repeat(40))
        );
        assert_eq!(msg("0x60z0"), "invalid hex digit 'z' at character 5 of the string");
        assert_eq!(msg("0x600"), "odd number of hex digits (3)");
    }

    #[test]
    fn excerpts_cut_at_forty_characters() {
        assert_eq!(excerpt("short"), "short");
        assert_eq!(excerpt(&"é".repeat(40)), "é".repeat(40));
        assert_eq!(excerpt(&"é".repeat(41)), format!("{}...", "é".repeat(40)));
    }

    #[test]
    fn formats_lowercase_with_and_without_prefix() {
        assert_eq!(hex_string(&[]), "0x");
        assert_eq!(hex_string(&[0x00, 0xab, 0x0f]), "0x00ab0f");
        let mut s = String::from(">");
        push_hex(&mut s, &[0xde, 0xad]);
        assert_eq!(s, ">dead");
        let h = [0x5au8; 32];
        assert_eq!(hash_hex(&h), format!("0x{}", "5a".repeat(32)));
        for b in 0..=255u8 {
            assert_eq!(hex_string(&[b]), format!("0x{b:02x}"));
        }
    }
}
