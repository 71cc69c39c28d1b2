//! Deterministic CBOR for the documents airlock signs: RFC 8949 §4.2.1 "core deterministic
//! encoding" (shortest integer and length forms, definite lengths, map keys sorted by the bytes
//! of their encoding, no duplicate keys).
//!
//! [`decode`] accepts only input that is already in that form, so a document has exactly one
//! encoding and equal documents have equal bytes; [`Fields`] and the `as_*` helpers read the
//! decoded value against a schema, refusing unknown keys and wrong types.

use std::io::Cursor;

use ciborium::Value;

/// Nesting depth accepted while decoding (documents nest at most four deep).
const RECURSION_LIMIT: usize = 16;

/// Why bytes are not a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CborError {
    /// Not well-formed CBOR, trailing bytes, or a value of the wrong shape.
    Malformed(String),
    /// Well-formed, but not in the deterministic encoding.
    NonCanonical,
}

impl std::fmt::Display for CborError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CborError::Malformed(m) => f.write_str(m),
            CborError::NonCanonical => f.write_str("not in the deterministic encoding"),
        }
    }
}

/// Encodes `value` deterministically, sorting every map's entries by their encoded keys.
pub(crate) fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail, and every Value airlock builds is encodable.
    let _ = ciborium::into_writer(&canonical(value), &mut out);
    out
}

fn canonical(value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        Value::Map(entries) => {
            let mut keyed: Vec<(Vec<u8>, Value, Value)> = entries
                .iter()
                .map(|(k, v)| {
                    let k = canonical(k);
                    let mut kb = Vec::new();
                    let _ = ciborium::into_writer(&k, &mut kb);
                    (kb, k, canonical(v))
                })
                .collect();
            keyed.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Map(keyed.into_iter().map(|(_, k, v)| (k, v)).collect())
        }
        Value::Tag(t, inner) => Value::Tag(*t, Box::new(canonical(inner))),
        other => other.clone(),
    }
}

/// Most data items a trust document may hold, for `limits`: enough for the largest root
/// (`max_trust_keys` keys and identities) and snapshot (`max_revocation_entries` entries, seven
/// items each) the limits allow, so that a small file of many tiny items cannot make the decoder
/// build a huge tree.
pub(crate) fn item_cap(limits: &crate::limits::Limits) -> usize {
    let keys = limits.max_trust_keys.saturating_mul(2);
    let entries = limits.max_revocation_entries;
    64usize
        .saturating_add(
            keys.saturating_add(limits.max_trust_signatures)
                .saturating_mul(16),
        )
        .saturating_add(entries.saturating_mul(8))
}

/// Walks the encoded items without building them, in time linear in the input: counts them (at
/// most `max_items`), checks the nesting (at most 16 deep) and that every declared length fits
/// the input, and checks the deterministic form of every head: integers, lengths and tags in
/// their shortest form, definite lengths only. Floating-point numbers and simple values other
/// than false, true, null and undefined are refused (no airlock document holds them, and their
/// preferred form is a matter of value, not of length). Map key order is checked on the decoded
/// tree by `check_map_order`; together they make re-encoding to compare unnecessary.
pub(crate) fn scan(bytes: &[u8], max_items: usize) -> Result<(), CborError> {
    let bad = |m: &str| CborError::Malformed(m.to_owned());
    let mut pos = 0usize;
    let mut items = 0usize;
    // Items still to read at each open nesting level; the top level holds one.
    let mut pending: Vec<u64> = vec![1];
    while let Some(top) = pending.last_mut() {
        if *top == 0 {
            pending.pop();
            continue;
        }
        *top -= 1;
        items += 1;
        if items > max_items {
            return Err(CborError::Malformed(format!(
                "more than {max_items} data items"
            )));
        }
        let initial = *bytes.get(pos).ok_or_else(|| bad("truncated"))?;
        pos += 1;
        let (major, info) = (initial >> 5, initial & 0x1f);
        let arg: u64 = match info {
            0..=23 => u64::from(info),
            24..=27 if major == 7 => {
                return Err(bad(
                    "a floating-point number or an extended simple value (not accepted)",
                ));
            }
            24..=27 => {
                let n = 1usize << (info - 24);
                let raw = bytes.get(pos..pos + n).ok_or_else(|| bad("truncated"))?;
                pos += n;
                let arg = raw.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
                // The shortest form: 24 only for 24..=255, 25 for 256..=65535, and so on.
                let smallest = match info {
                    24 => 24,
                    25 => 1 << 8,
                    26 => 1 << 16,
                    _ => 1 << 32,
                };
                if arg < smallest {
                    return Err(CborError::NonCanonical);
                }
                arg
            }
            31 => return Err(CborError::NonCanonical),
            _ => return Err(bad("reserved additional information")),
        };
        let nested = |n: u64| -> Result<u64, CborError> {
            if pending_len_ok(n, bytes.len() - pos) {
                Ok(n)
            } else {
                Err(bad("a length longer than the input"))
            }
        };
        match major {
            0 | 1 | 7 => {}
            2 | 3 => {
                let n = usize::try_from(arg).map_err(|_| bad("a length longer than the input"))?;
                if n > bytes.len() - pos {
                    return Err(bad("a string longer than the input"));
                }
                pos += n;
            }
            4 => pending.push(nested(arg)?),
            5 => pending.push(nested(arg.checked_mul(2).ok_or_else(|| bad("too long"))?)?),
            _ => pending.push(1), // a tag: one item follows
        }
        if pending.len() > RECURSION_LIMIT + 1 {
            return Err(bad("nested too deep"));
        }
    }
    if pos != bytes.len() {
        return Err(bad("trailing bytes after the document"));
    }
    Ok(())
}

/// Every item takes at least one byte, so a container cannot declare more items than bytes left.
fn pending_len_ok(n: u64, left: usize) -> bool {
    n <= left as u64
}

/// Decodes one well-formed CBOR item that fills `bytes` exactly, nested at most 16 deep and
/// holding at most `max_items` data items.
pub(crate) fn decode_any(bytes: &[u8], max_items: usize) -> Result<Value, CborError> {
    scan(bytes, max_items)?;
    let mut cursor = Cursor::new(bytes);
    let value: Value = ciborium::de::from_reader_with_recursion_limit(&mut cursor, RECURSION_LIMIT)
        .map_err(|e| CborError::Malformed(format!("not well-formed CBOR: {e}")))?;
    if usize::try_from(cursor.position()).ok() != Some(bytes.len()) {
        return Err(CborError::Malformed(
            "trailing bytes after the document".into(),
        ));
    }
    Ok(value)
}

/// Decodes one CBOR item that must fill `bytes` exactly and be in deterministic form.
pub(crate) fn decode(bytes: &[u8], max_items: usize) -> Result<Value, CborError> {
    let value = decode_any(bytes, max_items)?;
    check_map_order(&value)?;
    Ok(value)
}

/// Every map's keys strictly ascending by their encodings, as received: a key equal to the one
/// before it is a duplicate (`Malformed`), a smaller one is out of order (`NonCanonical`).
/// Linear in the number of entries.
fn check_map_order(value: &Value) -> Result<(), CborError> {
    match value {
        Value::Array(items) => items.iter().try_for_each(check_map_order),
        Value::Map(entries) => {
            let mut previous: Option<Vec<u8>> = None;
            for (k, v) in entries {
                let mut key = Vec::new();
                let _ = ciborium::into_writer(k, &mut key);
                if let Some(p) = &previous {
                    match p.cmp(&key) {
                        std::cmp::Ordering::Equal => {
                            return Err(CborError::Malformed(format!(
                                "map key {k:?} appears twice"
                            )));
                        }
                        std::cmp::Ordering::Greater => return Err(CborError::NonCanonical),
                        std::cmp::Ordering::Less => {}
                    }
                }
                previous = Some(key);
                check_map_order(v)?;
            }
            Ok(())
        }
        Value::Tag(_, inner) => check_map_order(inner),
        _ => Ok(()),
    }
}

/// A map with text keys read field by field; keys never taken are refused by [`Fields::finish`].
pub(crate) struct Fields<'a> {
    what: String,
    entries: Vec<(&'a str, &'a Value, bool)>,
}

impl<'a> Fields<'a> {
    /// Reads `value` as a map whose keys are all text. `what` names it in errors.
    pub(crate) fn new(value: &'a Value, what: impl Into<String>) -> Result<Fields<'a>, CborError> {
        let what = what.into();
        let Value::Map(entries) = value else {
            return Err(CborError::Malformed(format!("{what} is not a map")));
        };
        let entries = entries
            .iter()
            .map(|(k, v)| match k {
                Value::Text(t) => Ok((t.as_str(), v, false)),
                _ => Err(CborError::Malformed(format!(
                    "{what} has a key that is not text"
                ))),
            })
            .collect::<Result<_, _>>()?;
        Ok(Fields { what, entries })
    }

    /// The value of a required key.
    pub(crate) fn req(&mut self, key: &str) -> Result<&'a Value, CborError> {
        self.opt(key)
            .ok_or_else(|| CborError::Malformed(format!("{} lacks {key:?}", self.what)))
    }

    /// The value of an optional key.
    pub(crate) fn opt(&mut self, key: &str) -> Option<&'a Value> {
        let e = self.entries.iter_mut().find(|(k, _, _)| *k == key)?;
        e.2 = true;
        Some(e.1)
    }

    /// Refuses keys that were never read.
    pub(crate) fn finish(self) -> Result<(), CborError> {
        match self.entries.iter().find(|(_, _, used)| !used) {
            Some((k, _, _)) => Err(CborError::Malformed(format!(
                "{} has an unknown key {k:?}",
                self.what
            ))),
            None => Ok(()),
        }
    }

    /// The keys, in document order, and their values (for maps keyed by name).
    pub(crate) fn drain(self) -> impl Iterator<Item = (&'a str, &'a Value)> {
        self.entries.into_iter().map(|(k, v, _)| (k, v))
    }
}

/// An unsigned integer that fits `u64`.
pub(crate) fn as_u64(v: &Value, what: &str) -> Result<u64, CborError> {
    match v {
        Value::Integer(i) => {
            u64::try_from(*i).map_err(|_| CborError::Malformed(format!("{what} is negative")))
        }
        _ => Err(CborError::Malformed(format!(
            "{what} is not an unsigned integer"
        ))),
    }
}

/// Seconds since the epoch: an unsigned integer below 2^53 (so every reader agrees on it).
pub(crate) fn as_time(v: &Value, what: &str) -> Result<i64, CborError> {
    let n = as_u64(v, what)?;
    if n >= 1 << 53 {
        return Err(CborError::Malformed(format!("{what} is out of range")));
    }
    i64::try_from(n).map_err(|_| CborError::Malformed(format!("{what} is out of range")))
}

/// A text string of at most `max` bytes.
pub(crate) fn as_text<'a>(v: &'a Value, what: &str, max: usize) -> Result<&'a str, CborError> {
    match v {
        Value::Text(t) if t.len() <= max => Ok(t),
        Value::Text(_) => Err(CborError::Malformed(format!(
            "{what} is longer than {max} bytes"
        ))),
        _ => Err(CborError::Malformed(format!("{what} is not a text string"))),
    }
}

/// A byte string of at most `max` bytes.
pub(crate) fn as_bytes<'a>(v: &'a Value, what: &str, max: usize) -> Result<&'a [u8], CborError> {
    match v {
        Value::Bytes(b) if b.len() <= max => Ok(b),
        Value::Bytes(_) => Err(CborError::Malformed(format!(
            "{what} is longer than {max} bytes"
        ))),
        _ => Err(CborError::Malformed(format!("{what} is not a byte string"))),
    }
}

/// An array of at most `max` items.
pub(crate) fn as_array<'a>(v: &'a Value, what: &str, max: usize) -> Result<&'a [Value], CborError> {
    match v {
        Value::Array(a) if a.len() <= max => Ok(a),
        Value::Array(a) => Err(CborError::Malformed(format!(
            "{what} has {} items, more than {max}",
            a.len()
        ))),
        _ => Err(CborError::Malformed(format!("{what} is not an array"))),
    }
}

/// A text-keyed map entry, for building documents.
pub(crate) fn entry(key: &str, value: Value) -> (Value, Value) {
    (Value::Text(key.to_owned()), value)
}

/// An unsigned integer value.
pub(crate) fn uint(n: u64) -> Value {
    Value::Integer(n.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_sort_by_encoded_key_and_round_trip() {
        let v = Value::Map(vec![
            entry("version", uint(1)),
            entry("a", uint(300)),
            entry("keys", Value::Array(vec![])),
        ]);
        let bytes = encode(&v);
        // Shorter keys first ("a" < "keys" < "version"), as their encodings sort.
        assert_eq!(
            hex::encode(&bytes),
            "a3616119012c646b657973806776657273696f6e01"
        );
        assert_eq!(decode(&bytes, 1000), Ok(canonical(&v)));
    }

    #[test]
    fn non_canonical_forms_are_refused() {
        // {"b": 1, "a": 2}: keys out of order.
        assert_eq!(
            decode(&hex::decode("a2616201616102").unwrap(), 1000),
            Err(CborError::NonCanonical)
        );
        // 1 encoded in two bytes.
        assert_eq!(
            decode(&hex::decode("1801").unwrap(), 1000),
            Err(CborError::NonCanonical)
        );
        // An indefinite-length array.
        assert_eq!(
            decode(&hex::decode("9f01ff").unwrap(), 1000),
            Err(CborError::NonCanonical)
        );
        // A duplicate key.
        assert!(matches!(
            decode(&hex::decode("a2616101616102").unwrap(), 1000),
            Err(CborError::Malformed(_))
        ));
        // A float (1.5 as a half float), and an integer in a longer form than needed.
        assert!(matches!(
            decode(&hex::decode("f93e00").unwrap(), 1000),
            Err(CborError::Malformed(_))
        ));
        assert_eq!(
            decode(&hex::decode("1a000000ff").unwrap(), 1000),
            Err(CborError::NonCanonical)
        );
        // A text string whose length is in a longer form than needed.
        assert_eq!(
            decode(&hex::decode("780161").unwrap(), 1000),
            Err(CborError::NonCanonical)
        );
        // Every form the encoder writes decodes, at each length boundary.
        for n in [
            0u64,
            23,
            24,
            255,
            256,
            65_535,
            65_536,
            u64::from(u32::MAX),
            1 << 32,
            u64::MAX,
        ] {
            let bytes = encode(&uint(n));
            assert_eq!(decode(&bytes, 10), Ok(uint(n)), "{n}");
        }
        // Trailing bytes.
        assert!(matches!(
            decode(&hex::decode("0101").unwrap(), 1000),
            Err(CborError::Malformed(_))
        ));
        // Nesting deeper than the limit.
        let deep = [vec![0x81; 40], vec![0x01]].concat();
        assert!(matches!(decode(&deep, 1000), Err(CborError::Malformed(_))));
    }

    #[test]
    fn item_counts_and_lengths_are_checked_before_decoding() {
        // An array declaring 3 items of which 2 fit the cap.
        assert!(matches!(
            decode(&hex::decode("83010203").unwrap(), 3),
            Err(CborError::Malformed(m)) if m.contains("more than 3 data items")
        ));
        assert!(decode(&hex::decode("83010203").unwrap(), 4).is_ok());
        // A text string, and an array, declaring more than the input holds.
        for bad in ["7a7fffffff61", "9b000000010000000001"] {
            assert!(
                matches!(
                    decode(&hex::decode(bad).unwrap(), 1000),
                    Err(CborError::Malformed(_))
                ),
                "{bad}"
            );
        }
        // A map of 20 000 entries in order decodes; the same out of order is refused, in time
        // linear in its size (this used to compare every key with every earlier one).
        let entries: Vec<(Value, Value)> = (0..20_000u64).map(|i| (uint(i), Value::Null)).collect();
        let bytes = encode(&Value::Map(entries));
        assert!(decode(&bytes, 50_000).is_ok());
        let mut reversed = vec![0xb9, 0x4e, 0x20];
        for i in (0..20_000u64).rev() {
            let mut k = Vec::new();
            let _ = ciborium::into_writer(&uint(i), &mut k);
            reversed.extend_from_slice(&k);
            reversed.push(0xf6);
        }
        assert_eq!(decode(&reversed, 50_000), Err(CborError::NonCanonical));
    }

    #[test]
    fn fields_refuse_unknown_keys() {
        let v = Value::Map(vec![entry("a", uint(1)), entry("b", uint(2))]);
        let mut f = Fields::new(&v, "doc").unwrap();
        assert_eq!(as_u64(f.req("a").unwrap(), "a"), Ok(1));
        assert!(f.req("c").is_err());
        assert!(f.finish().is_err());
    }
}
