//! Strict reading of the JSON documents whose meaning must be the same for airlock and for every
//! other OCI tool: `index.json`, manifests and indexes.
//!
//! Spec: `formats/layout.md`, section "JSON documents". Go's `encoding/json`, used by skopeo,
//! containerd and the registries, matches object keys to struct fields case-insensitively (with
//! Unicode folding, so `ſ` matches `s`) and lets the last match win; serde matches exactly and
//! ignores keys it does not know. A document with `"Manifests"` beside `"manifests"`, or a
//! `"Subject"` airlock would ignore, would mean one thing to airlock and another to Go. Such
//! documents are refused before they are parsed.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Field names of the OCI documents airlock parses (descriptors, manifests, indexes, platforms,
/// the layout marker). A key that equals one of these ignoring ASCII case must be spelt exactly.
const KNOWN_FIELDS: &[&str] = &[
    "schemaVersion",
    "mediaType",
    "artifactType",
    "config",
    "layers",
    "manifests",
    "subject",
    "annotations",
    "digest",
    "size",
    "urls",
    "platform",
    "data",
    "architecture",
    "os",
    "os.version",
    "os.features",
    "variant",
    "features",
    "imageLayoutVersion",
];

/// Names the `oci-spec` crate reads for `os.version` and `os.features`: refused, so that airlock
/// never reads a value Go ignores.
const SERDE_ONLY: &[&str] = &["os_version", "os_features"];

/// Checks every object in `bytes`: keys are ASCII, no two keys are equal ignoring ASCII case, and
/// no key is a known field name in another case. Returns the first problem found.
pub fn check_keys(bytes: &[u8]) -> Result<(), String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    Walk.deserialize(&mut de).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())
}

#[derive(Clone, Copy)]
struct Walk;

impl<'de> DeserializeSeed<'de> for Walk {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Walk)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut folded: Vec<String> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if !key.is_ascii() {
                return Err(de::Error::custom(format!(
                    "object key {key:?} is not ASCII (other JSON readers fold it into another key)"
                )));
            }
            let lower = key.to_ascii_lowercase();
            if folded.contains(&lower) {
                return Err(de::Error::custom(format!(
                    "object has key {key:?} twice, ignoring case (JSON readers disagree on which counts)"
                )));
            }
            if SERDE_ONLY.contains(&key.as_str()) {
                return Err(de::Error::custom(format!(
                    "object key {key:?} is not an OCI field (the OCI name uses a dot)"
                )));
            }
            if let Some(known) = KNOWN_FIELDS.iter().find(|f| f.eq_ignore_ascii_case(&key))
                && *known != key
            {
                return Err(de::Error::custom(format!(
                    "object key {key:?} is {known:?} in another case (other JSON readers would use it)"
                )));
            }
            folded.push(lower);
            map.next_value_seed(Walk)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::check_keys;

    #[test]
    fn accepts_ordinary_documents() {
        check_keys(
            br#"{"schemaVersion":2,"manifests":[{"digest":"x","annotations":{"a.b":"c"}}]}"#,
        )
        .unwrap();
        check_keys(b"  [1, 2.5, null, true, \"s\"] ").unwrap();
    }

    #[test]
    fn refuses_keys_other_readers_fold() {
        for bad in [
            r#"{"manifests":[],"Manifests":[]}"#,
            r#"{"layers":[{"digest":"a","Digest":"b"}]}"#,
            r#"{"Subject":{}}"#,
            r#"{"annotations":{"x":"1","X":"2"}}"#,
            r#"{"mediaType":"a","mediaType":"b"}"#,
            r#"{"platform":{"os":"linux","os_version":"1"}}"#,
            "{\"\u{17f}ize\":1}",
        ] {
            assert!(
                check_keys(bad.as_bytes()).is_err(),
                "{bad} should be refused"
            );
        }
        assert!(check_keys(b"{\"a\":1} trailing").is_err());
    }
}
