//! [`parse_hex_line`]: one message per line of hex, for `parex hash` style input.

use std::fmt;

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

impl fmt::Display for HexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidChar { column, ch } => {
                write!(f, "column {column}: {ch:?} is not a hex digit")
            }
            Self::OddLength { column } => {
                write!(f, "column {column}: odd number of hex digits (unpaired last digit)")
            }
        }
    }
}

impl std::error::Error for HexError {}

fn nibble(c: char) -> Option<u8> {
    c.to_digit(16).map(|d| d as u8)
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
    if let Some(rest) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
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
}
