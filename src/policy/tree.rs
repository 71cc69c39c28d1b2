//! A JSON tree that keeps every key of an object, so that duplicates can be reported with their
//! place (serde_json's own `Value` keeps only the last one).

use super::*;

#[derive(Debug)]
pub(super) enum Json {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// The JSON type, for messages.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Int(_) | Json::Float(_) => "a number",
            Json::Str(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }

    /// A short text of the value, for messages.
    pub(super) fn quote(&self) -> String {
        match self {
            Json::Null => "null".into(),
            Json::Bool(b) => b.to_string(),
            Json::Int(i) => i.to_string(),
            Json::Float(f) => format!("{f:?}"),
            Json::Str(s) => format!("{:?}", quote(s)),
            Json::Array(_) => "an array".into(),
            Json::Object(_) => "an object".into(),
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

pub(super) struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Int(i128::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Int(i128::from(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element()? {
            items.push(v);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut fields = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Json>()? {
            fields.push((k, v));
        }
        Ok(Json::Object(fields))
    }
}

/// An object being read: its keys are known to be distinct.
pub(super) struct Fields<'a> {
    pub(super) at: &'a str,
    pub(super) fields: &'a [(String, Json)],
}

impl<'a> Fields<'a> {
    /// `value` as an object with no key twice.
    pub(super) fn new(value: &'a Json, at: &'a str) -> Result<Fields<'a>, PolicyError> {
        let Json::Object(fields) = value else {
            return Err(PolicyError::WrongType {
                at: at.to_owned(),
                expected: "an object",
                found: value.kind(),
            });
        };
        let mut seen = BTreeSet::new();
        for (key, _) in fields {
            if !seen.insert(key.as_str()) {
                return Err(PolicyError::DuplicateKey {
                    at: at.to_owned(),
                    key: quote(key),
                });
            }
        }
        Ok(Fields { at, fields })
    }

    /// Refuses any key not in `known`.
    pub(super) fn only(&self, known: &'static [&'static str]) -> Result<(), PolicyError> {
        match self
            .fields
            .iter()
            .find(|(k, _)| !known.contains(&k.as_str()))
        {
            Some((key, _)) => Err(PolicyError::UnknownField {
                at: self.at.to_owned(),
                field: quote(key),
                known,
            }),
            None => Ok(()),
        }
    }

    pub(super) fn get(&self, name: &str) -> Option<&'a Json> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    pub(super) fn require(&self, name: &'static str) -> Result<&'a Json, PolicyError> {
        self.get(name).ok_or_else(|| PolicyError::MissingField {
            at: self.at.to_owned(),
            field: name,
        })
    }
}

pub(super) fn string<'a>(value: &'a Json, at: &str) -> Result<&'a str, PolicyError> {
    match value {
        Json::Str(s) => Ok(s),
        other => Err(PolicyError::WrongType {
            at: at.to_owned(),
            expected: "a string",
            found: other.kind(),
        }),
    }
}

pub(super) fn array<'a>(value: &'a Json, at: &str) -> Result<&'a [Json], PolicyError> {
    match value {
        Json::Array(items) => Ok(items),
        other => Err(PolicyError::WrongType {
            at: at.to_owned(),
            expected: "an array",
            found: other.kind(),
        }),
    }
}

/// The location of field `name` of the object at `at`.
pub(super) fn field(at: &str, name: &str) -> String {
    if at == ROOT {
        format!("{ROOT} {name}")
    } else {
        format!("{at}.{name}")
    }
}

/// The location of entry `i` of the array at `at`.
pub(super) fn item(at: &str, i: usize) -> String {
    format!("{at}[{i}]")
}

/// At most [`QUOTE_CHARS`] characters of `text`, with `…` when cut.
pub(super) fn quote(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = chars.by_ref().take(QUOTE_CHARS).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}
