//! Field paths ([`Seg`]) and where they are in a document's text ([`locate`]): the
//! position of an error found only after parsing, such as a duplicate account.

use super::InputError;

/// One step of a field path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seg {
    /// An object member.
    Key(&'static str),
    /// An array element.
    Index(usize),
}

/// `transactions[3].value`.
fn path_text(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// An error about the field at `path` of `file`, with its position in `text`.
pub(super) fn invalid(
    file: &str,
    text: &str,
    path: &[Seg],
    message: impl Into<String>,
) -> InputError {
    InputError {
        file: file.to_string(),
        position: locate(text, path),
        field: Some(path_text(path)),
        message: message.into(),
    }
}

/// Finds the 1-based line and column where the value at `path` starts in the JSON
/// `text` (`None` if the path is not there). Object keys are compared as written.
pub fn locate(text: &str, path: &[Seg]) -> Option<(usize, usize)> {
    let mut s = Scan { b: text.as_bytes(), i: 0 };
    s.ws();
    for seg in path {
        match *seg {
            Seg::Key(key) => {
                s.eat(b'{')?;
                loop {
                    s.ws();
                    let k = s.string()?;
                    s.ws();
                    s.eat(b':')?;
                    s.ws();
                    if k == key.as_bytes() {
                        break;
                    }
                    s.skip_value()?;
                    s.ws();
                    s.eat(b',')?;
                }
            }
            Seg::Index(n) => {
                s.eat(b'[')?;
                for _ in 0..n {
                    s.ws();
                    s.skip_value()?;
                    s.ws();
                    s.eat(b',')?;
                }
                s.ws();
            }
        }
    }
    let before = &text.as_bytes()[..s.i];
    let line = before.iter().filter(|&&c| c == b'\n').count() + 1;
    let start = before.iter().rposition(|&c| c == b'\n').map_or(0, |p| p + 1);
    let column = String::from_utf8_lossy(&before[start..]).chars().count() + 1;
    Some((line, column))
}

struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scan<'a> {
    fn ws(&mut self) {
        while self.b.get(self.i).is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) -> Option<()> {
        (self.b.get(self.i) == Some(&c)).then(|| self.i += 1)
    }
    /// A string's raw bytes (escapes left as written).
    fn string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let start = self.i;
        loop {
            match *self.b.get(self.i)? {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    return Some(&self.b[start..self.i - 1]);
                }
                _ => self.i += 1,
            }
        }
    }
    fn skip_value(&mut self) -> Option<()> {
        match *self.b.get(self.i)? {
            b'"' => self.string().map(|_| ()),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match *self.b.get(self.i)? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
            }
            _ => {
                while self
                    .b
                    .get(self.i)
                    .is_some_and(|c| !matches!(c, b',' | b'}' | b']') && !c.is_ascii_whitespace())
                {
                    self.i += 1;
                }
                Some(())
            }
        }
    }
}
