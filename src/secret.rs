//! The stored secret value: the API key in its field, every other byte kept as it was.

use std::collections::HashMap;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::sensitive::Sensitive;

/// The tag that names the JSON field holding the key.
pub const TAG_KEY_FIELD: &str = "rotation:key-field";
/// The key field used when the secret has no `rotation:key-field` tag.
pub const DEFAULT_KEY_FIELD: &str = "api_key";
/// Secrets Manager's limit on a SecretString.
pub const MAX_SECRET_BYTES: usize = 65_536;
/// Room kept for the new key when a value is checked before a rotation: far more than any of the
/// vendors' keys (36 to 41 characters).
pub const NEW_KEY_ROOM: usize = 1024;

/// Why a secret value (or a key on its own) cannot be read as a key. It says what is wrong
/// without quoting the value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("{TAG_KEY_FIELD} is empty; remove it to use \"{DEFAULT_KEY_FIELD}\"")]
    EmptyKeyField,

    #[error("{0}; store the key alone, or a JSON object with the key in one field")]
    BareNotAKey(NotAKey),

    #[error(
        "the secret value starts like JSON but is not valid JSON ({} error at line {line}, column {column}); fix it, or store the bare key",
        if *cut_short { "unexpected end" } else { "syntax" }
    )]
    NotJson { cut_short: bool, line: usize, column: usize },

    #[error(
        "the secret value is JSON but not an object; store a JSON object with a string field \"{key_field}\", or the bare key"
    )]
    NotAnObject { key_field: String },

    #[error("the key field \"{key_field}\" appears more than once, so it is unclear which key is live")]
    FieldTwice { key_field: String },

    #[error(
        "the secret value has no field \"{key_field}\"; set the tag {TAG_KEY_FIELD} to the field that holds the key"
    )]
    NoField { key_field: String },

    #[error("the key field \"{key_field}\" is not a string")]
    FieldNotAString { key_field: String },

    #[error("{0}")]
    FieldNotAKey(NotAKey),

    #[error("the secret value could not be read back in place")]
    NotInPlace,

    #[error(
        "the secret value is {bytes} bytes, too close to Secrets Manager's limit of {MAX_SECRET_BYTES} to take a new key ({NEW_KEY_ROOM} bytes are kept for it); move other fields to another secret"
    )]
    NoRoomForNewKey { bytes: usize },
}

/// A text that is not one API key: what it is (`the new key`), and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} {flaw}")]
pub struct NotAKey {
    pub what: String,
    pub flaw: KeyFlaw,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFlaw {
    Empty,
    Spaces,
    Characters,
    /// `NAME=value`, a list, or quoted.
    NotSingle,
}

impl fmt::Display for KeyFlaw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyFlaw::Empty => "is empty",
            KeyFlaw::Spaces => "has spaces or more than one line, so it is not a single API key",
            KeyFlaw::Characters => "has characters an API key cannot have (only visible ASCII is allowed)",
            KeyFlaw::NotSingle => "looks like NAME=value, a list or a quoted string, not a single API key",
        })
    }
}

/// The JSON field that holds the key: the `rotation:key-field` tag, or `api_key`.
pub fn key_field_from_tags(tags: &HashMap<String, String>) -> Result<String, ValueError> {
    match tags.get(TAG_KEY_FIELD).map(|v| v.trim()) {
        None => Ok(DEFAULT_KEY_FIELD.to_owned()),
        Some("") => Err(ValueError::EmptyKeyField),
        Some(field) => Ok(field.to_owned()),
    }
}

/// A SecretString, understood. JSON (anything that starts with `{`, `[` or `"`, after whitespace or
/// a byte-order mark) must be an object with the key in a string field; anything else is a bare
/// key. Either way the key must be something an HTTP header can carry, so nothing that is not a
/// key is ever sent to a vendor.
#[derive(Clone)]
pub struct SecretValue {
    text: Sensitive,
    key: Sensitive,
    /// Where the key field's JSON string sits in `text`; `None` for a bare key.
    span: Option<(usize, usize)>,
}

impl SecretValue {
    /// Reads the key out of a SecretString. The error says what is wrong without quoting the value.
    pub fn parse(secret_string: &Sensitive, key_field: &str) -> Result<Self, ValueError> {
        let text = secret_string.expose();
        let body = text.trim_start_matches(|c: char| c == '\u{feff}' || c.is_whitespace());
        if !body.starts_with(['{', '[', '"']) {
            let key = text.trim_matches(|c: char| c == '\u{feff}' || c.is_whitespace());
            check_key(key, "the secret value")
                .and_then(|()| check_bare(key, "the secret value"))
                .map_err(ValueError::BareNotAKey)?;
            return Ok(SecretValue { text: secret_string.clone(), key: Sensitive::new(key), span: None });
        }
        let not_json = |e: serde_json::Error| ValueError::NotJson {
            cut_short: e.classify() == serde_json::error::Category::Eof,
            line: e.line(),
            column: e.column(),
        };
        let whole: &RawValue = serde_json::from_str(body).map_err(not_json)?;
        if !whole.get().starts_with('{') {
            return Err(ValueError::NotAnObject { key_field: key_field.to_owned() });
        }
        let Fields(fields) = serde_json::from_str(body).map_err(not_json)?;
        let mut found = fields.iter().filter(|(name, _)| name == key_field).map(|(_, raw)| *raw);
        let raw = match (found.next(), found.next()) {
            (Some(raw), None) => raw,
            (Some(_), Some(_)) => return Err(ValueError::FieldTwice { key_field: key_field.to_owned() }),
            (None, _) => return Err(ValueError::NoField { key_field: key_field.to_owned() }),
        };
        let key: String = serde_json::from_str(raw.get())
            .map_err(|_| ValueError::FieldNotAString { key_field: key_field.to_owned() })?;
        let key = key.trim();
        check_key(key, &format!("the key field \"{key_field}\"")).map_err(ValueError::FieldNotAKey)?;
        // `raw` borrows from `text`: its offset is where the key's JSON string starts.
        let start = (raw.get().as_ptr() as usize).checked_sub(text.as_ptr() as usize);
        let span = start.map(|start| (start, start + raw.get().len()));
        if span.is_none_or(|(start, end)| text.get(start..end) != Some(raw.get())) {
            return Err(ValueError::NotInPlace);
        }
        Ok(SecretValue { text: secret_string.clone(), key: Sensitive::new(key), span })
    }

    pub fn key(&self) -> &Sensitive {
        &self.key
    }

    /// The SecretString to store for `new_key`: the same bytes, only the key replaced.
    pub fn with_key(&self, new_key: &Sensitive) -> Sensitive {
        let Some((start, end)) = self.span else {
            return new_key.clone();
        };
        let text = self.text.expose();
        let quoted = serde_json::Value::String(new_key.expose().to_owned()).to_string();
        Sensitive::new(format!("{}{quoted}{}", &text[..start], &text[end..]))
    }

    /// Whether the value can take a new key without going over Secrets Manager's size limit
    /// (checked before a rotation, so that a key the vendor issues can always be stored).
    pub fn check_room_for_new_key(&self) -> Result<(), ValueError> {
        let without_key = self.text.expose().len() - self.span.map_or(0, |(start, end)| end - start);
        if without_key + NEW_KEY_ROOM > MAX_SECRET_BYTES {
            return Err(ValueError::NoRoomForNewKey { bytes: self.text.expose().len() });
        }
        Ok(())
    }
}

/// A key: one line of visible ASCII without spaces, which is what an HTTP header can carry.
pub fn check_key(key: &str, what: &str) -> Result<(), NotAKey> {
    let flaw = if key.is_empty() {
        KeyFlaw::Empty
    } else if key.bytes().any(|b| b.is_ascii_whitespace()) {
        KeyFlaw::Spaces
    } else if !key.bytes().all(|b| b.is_ascii_graphic()) {
        KeyFlaw::Characters
    } else {
        return Ok(());
    };
    Err(NotAKey { what: what.to_owned(), flaw })
}

/// A key on its own (a bare secret value, or one typed by an operator) that is clearly not one
/// key: `NAME=value`, a list, or quoted.
pub fn check_bare(key: &str, what: &str) -> Result<(), NotAKey> {
    // Base64 keys may end in `=` padding; an `=` followed by more is an assignment.
    let assignment = key.trim_end_matches('=').contains('=');
    if assignment || key.contains([',', ';', '"', '\'', '`']) {
        return Err(NotAKey { what: what.to_owned(), flaw: KeyFlaw::NotSingle });
    }
    Ok(())
}

/// A JSON object's members in order, each value exactly as written.
struct Fields<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::new();
                while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                    fields.push(entry);
                }
                Ok(Fields(fields))
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.span {
            None => f.write_str("SecretValue::Bare([REDACTED])"),
            Some(_) => {
                write!(f, "SecretValue::Json {{ bytes: {}, values: [REDACTED] }}", self.text.expose().len())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, field: &str) -> Result<SecretValue, ValueError> {
        SecretValue::parse(&Sensitive::new(text), field)
    }

    #[test]
    fn replaces_only_the_key_and_keeps_order() {
        let value =
            parse(r#"{"zeta":1,"api_key":"old","alpha":{"nested":[1,2]},"mid":"x"}"#, "api_key").unwrap();
        assert_eq!(value.key().expose(), "old");
        let stored = value.with_key(&Sensitive::new("new"));
        assert_eq!(stored.expose(), r#"{"zeta":1,"api_key":"new","alpha":{"nested":[1,2]},"mid":"x"}"#);
    }

    #[test]
    fn other_fields_keep_their_exact_bytes() {
        let text = "\u{feff} {\n  \"big\": 123456789012345678901234567890,\n  \"api_key\" : \"old\",\n  \"price\": 1.10, \"exp\": 1e5, \"u\": \"\\u00e9\"\n}\n";
        let value = parse(text, "api_key").unwrap();
        assert_eq!(value.with_key(&Sensitive::new("new")).expose(), text.replace("\"old\"", "\"new\""));
    }

    #[test]
    fn custom_key_field() {
        let value = parse(r#"{"api_key":"other","token":"mine"}"#, "token").unwrap();
        assert_eq!(value.key().expose(), "mine");
        assert_eq!(value.with_key(&Sensitive::new("n")).expose(), r#"{"api_key":"other","token":"n"}"#);
    }

    #[test]
    fn bare_key_stays_bare() {
        let value = parse("7251cb4b-3373-43a4-844c-b27a1d45e0c9\n", "api_key").unwrap();
        assert_eq!(value.key().expose(), "7251cb4b-3373-43a4-844c-b27a1d45e0c9");
        assert_eq!(value.with_key(&Sensitive::new("n")).expose(), "n");
        // Base64 padding is part of a key, not an assignment.
        assert_eq!(parse("c2VjcmV0a2V5==", "api_key").unwrap().key().expose(), "c2VjcmV0a2V5==");
    }

    #[test]
    fn refuses_what_is_not_one_key() {
        for (text, expected) in [
            (r#"{"other":"x"}"#, "no field \"api_key\""),
            (r#"{"api_key":42}"#, "not a string"),
            (r#"{"api_key":""}"#, "is empty"),
            (r#"{"api_key":"a","api_key":"b"}"#, "more than once"),
            (r#"["cal_x"]"#, "not an object"),
            (r#""cal_x""#, "not an object"),
            (r#"{"api_key": "cal_live_0123", "webhook_secret": "whsec",}"#, "not valid JSON"),
            ("  {\"api_key\": \"cal_live_0123\"", "unexpected end"),
            ("\u{feff}[1,", "not valid JSON"),
            ("API_KEY=cal_live_0123\nWEBHOOK=whsec\n", "more than one line"),
            ("cal_live_0123 whsec", "spaces"),
            ("CALCOM_API_KEY=cal_live_0123", "NAME=value"),
            ("cal_live_0123,whsec", "a list"),
            ("'cal_live_0123'", "quoted"),
            ("cal_live_é123", "visible ASCII"),
            (r#"{"api_key":"cal live"}"#, "spaces"),
            ("  ", "is empty"),
        ] {
            let err = parse(text, "api_key").unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
            for secret in ["cal_live_0123", "whsec", "cal_x"] {
                assert!(!err.contains(secret), "the error quotes the value: {err}");
            }
        }
    }

    #[test]
    fn a_value_near_the_size_limit_has_no_room_for_a_new_key() {
        let padded = |pad: usize| format!(r#"{{"api_key":"cal_x","pad":"{}"}}"#, "p".repeat(pad));
        let fits = parse(&padded(MAX_SECRET_BYTES - NEW_KEY_ROOM - 40), "api_key").unwrap();
        assert!(fits.check_room_for_new_key().is_ok());
        let full = parse(&padded(MAX_SECRET_BYTES - 100), "api_key").unwrap();
        assert!(full.check_room_for_new_key().unwrap_err().to_string().contains("65536"));
    }

    #[test]
    fn debug_hides_every_value() {
        let value = parse(r#"{"api_key":"supersecret","password":"hunter2"}"#, "api_key").unwrap();
        let shown = format!("{value:?}");
        assert!(!shown.contains("supersecret") && !shown.contains("hunter2"), "{shown}");
    }
}
