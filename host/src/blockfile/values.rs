//! The scalar values of the block files: [`Amount`], [`Addr`], [`Word`], [`Slot`] and
//! [`HexBytes`], each read from any JSON value with a message that names what was found,
//! and written in one canonical form. The hex itself is [`parex_offload::hex`].

use std::fmt;

use parex_offload::hex::{excerpt, hex_string, parse_hex_bytes, parse_hex_u64};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An amount (balance, nonce, gas, value): a JSON integer from 0 to 2^64 - 1. Negative,
/// fractional, exponent and out-of-range numbers, strings and everything else are
/// rejected with the value that was found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Amount(pub u64);

/// An address: a `0x`-prefixed hex string of 1 to 16 digits (a `u64`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Addr(pub u64);

/// A 64-bit word (call argument, storage value): a JSON integer like [`Amount`], or a
/// `0x` hex string like [`Addr`]. Written as an integer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Word(pub u64);

/// A storage slot: read like [`Word`], written as a `0x` hex string (slots are mostly
/// hashes, and JSON readers outside Rust lose precision above 2^53).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Slot(pub u64);

/// Bytes (contract code) as a `0x`-prefixed hex string with an even number of digits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HexBytes(pub Vec<u8>);

/// A Keccak-256 digest (a root, a hash): `0x` and 64 hex digits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Digest(pub [u8; 32]);

fn parse_digest(text: &str) -> Result<[u8; 32], String> {
    let bytes = parse_hex_bytes(text).map_err(|e| e.to_string())?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| format!("expected 32 bytes (64 hex digits), got {}", bytes.len()))
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrVisitor {
            what: "a 0x-prefixed hex digest of 64 digits",
            parse: parse_digest,
        })
        .map(Digest)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex_string(&self.0))
    }
}

const U64_TEXT: &str = "an unsigned 64-bit integer";
const WORD_TEXT: &str = "an unsigned 64-bit integer or a 0x-prefixed hex string";

fn describe_f64(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v >= 18_446_744_073_709_551_616.0 {
        "a number larger than 18446744073709551615".to_string()
    } else if v == 0.0 && v.is_sign_negative() {
        "-0 (a negative zero: write 0)".to_string()
    } else if v < 0.0 {
        format!("the negative number {v}")
    } else {
        format!("{v} (a number with a fraction or an exponent)")
    }
}

/// The `visit_*` methods of a visitor with a `got` method that refuse a boolean, null,
/// an array and an object, naming what was found.
macro_rules! refuse_bool_null_and_containers {
    ($de:lifetime, $value:ty) => {
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<$value, E> {
            Err(self.got(v))
        }
        fn visit_unit<E: de::Error>(self) -> Result<$value, E> {
            Err(self.got("null"))
        }
        fn visit_seq<A: de::SeqAccess<$de>>(self, _: A) -> Result<$value, A::Error> {
            Err(self.got("an array"))
        }
        fn visit_map<A: de::MapAccess<$de>>(self, _: A) -> Result<$value, A::Error> {
            Err(self.got("an object"))
        }
    };
}

/// Visits any JSON value and accepts unsigned integers (and hex strings when `hex`).
struct WordVisitor {
    hex: bool,
}

impl WordVisitor {
    fn what(&self) -> &'static str {
        if self.hex {
            WORD_TEXT
        } else {
            U64_TEXT
        }
    }
    fn got<E: de::Error>(&self, got: impl fmt::Display) -> E {
        E::custom(format_args!("expected {}, got {got}", self.what()))
    }
}

impl<'de> Visitor<'de> for WordVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.what())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| self.got(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
        Err(self.got(describe_f64(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        if self.hex {
            parse_hex_u64(v).map_err(E::custom)
        } else {
            Err(self.got(format_args!("the string {:?}", excerpt(v))))
        }
    }
    refuse_bool_null_and_containers!('de, u64);
}

/// Visits any JSON value and accepts a string, handing it to `parse`.
struct StrVisitor<T, PE> {
    what: &'static str,
    parse: fn(&str) -> Result<T, PE>,
}

impl<T, PE> StrVisitor<T, PE> {
    fn got<E: de::Error>(&self, got: impl fmt::Display) -> E {
        E::custom(format_args!("expected {}, got {got}", self.what))
    }
}

impl<'de, T, PE: fmt::Display> Visitor<'de> for StrVisitor<T, PE> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.what)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.parse)(v).map_err(E::custom)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        Err(self.got(format_args!("the number {v}")))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        Err(self.got(format_args!("the number {v}")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        Err(self.got(format_args!("the number {v}")))
    }
    refuse_bool_null_and_containers!('de, T);
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(WordVisitor { hex: false }).map(Amount)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for Word {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(WordVisitor { hex: true }).map(Word)
    }
}

impl Serialize for Word {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for Slot {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(WordVisitor { hex: true }).map(Slot)
    }
}

impl Serialize for Slot {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{:#x}", self.0))
    }
}

impl<'de> Deserialize<'de> for Addr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrVisitor {
            what: "a 0x-prefixed hex address string (at most 16 hex digits)",
            parse: parse_hex_u64,
        })
        .map(Addr)
    }
}

impl Serialize for Addr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{:#x}", self.0))
    }
}

impl<'de> Deserialize<'de> for HexBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrVisitor {
            what: "a 0x-prefixed hex string of bytes",
            parse: parse_hex_bytes,
        })
        .map(HexBytes)
    }
}

impl Serialize for HexBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex_string(&self.0))
    }
}
