//! The stored secret value: the API key in its field, every other field kept as it was.

use std::fmt;

use serde_json::{Map, Value};

use crate::sensitive::Sensitive;

/// The key field used when the secret has no `rotation:key-field` tag.
pub const DEFAULT_KEY_FIELD: &str = "api_key";

/// A SecretString, understood. A JSON object keeps every field and their order; anything that is
/// not JSON is a bare key and stays one.
#[derive(Clone)]
pub struct SecretValue {
    shape: Shape,
    key: Sensitive,
}

#[derive(Clone)]
enum Shape {
    Bare,
    Json { fields: Map<String, Value>, key_field: String },
}

impl SecretValue {
    /// Reads the key out of a SecretString. The error says what is wrong without quoting the value.
    pub fn parse(secret_string: &Sensitive, key_field: &str) -> Result<Self, String> {
        let text = secret_string.expose();
        let Ok(json) = serde_json::from_str::<Value>(text) else {
            let key = text.trim();
            if key.is_empty() {
                return Err("the secret value is empty".into());
            }
            return Ok(SecretValue { shape: Shape::Bare, key: Sensitive::new(key) });
        };
        let Value::Object(fields) = json else {
            return Err(format!(
                "the secret value is JSON but not an object; store a JSON object with a string field \"{key_field}\", or the bare key"
            ));
        };
        let key = match fields.get(key_field) {
            Some(Value::String(key)) if !key.trim().is_empty() => Sensitive::new(key.trim()),
            Some(Value::String(_)) => {
                return Err(format!("the key field \"{key_field}\" is empty"));
            }
            Some(_) => return Err(format!("the key field \"{key_field}\" is not a string")),
            None => {
                return Err(format!(
                    "the secret value has no field \"{key_field}\"; set the tag rotation:key-field to the field that holds the key"
                ));
            }
        };
        Ok(SecretValue { shape: Shape::Json { fields, key_field: key_field.to_owned() }, key })
    }

    pub fn key(&self) -> &Sensitive {
        &self.key
    }

    /// The SecretString to store for `new_key`: the same shape, only the key replaced.
    pub fn with_key(&self, new_key: &Sensitive) -> Sensitive {
        match &self.shape {
            Shape::Bare => new_key.clone(),
            Shape::Json { fields, key_field } => {
                let mut fields = fields.clone();
                // With serde_json's preserve_order, replacing a value keeps its position.
                fields.insert(key_field.clone(), Value::String(new_key.expose().to_owned()));
                Sensitive::new(Value::Object(fields).to_string())
            }
        }
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.shape {
            Shape::Bare => f.write_str("SecretValue::Bare([REDACTED])"),
            Shape::Json { fields, key_field } => write!(
                f,
                "SecretValue::Json {{ key_field: {key_field:?}, fields: {}, values: [REDACTED] }}",
                fields.len()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, field: &str) -> Result<SecretValue, String> {
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
    }

    #[test]
    fn refuses_json_without_a_string_key_field() {
        for (text, expected) in [
            (r#"{"other":"x"}"#, "no field \"api_key\""),
            (r#"{"api_key":42}"#, "not a string"),
            (r#"{"api_key":""}"#, "is empty"),
            (r#"["cal_x"]"#, "not an object"),
            ("17", "not an object"),
            ("  ", "is empty"),
        ] {
            let err = parse(text, "api_key").unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn debug_hides_every_value() {
        let value = parse(r#"{"api_key":"supersecret","password":"hunter2"}"#, "api_key").unwrap();
        let shown = format!("{value:?}");
        assert!(!shown.contains("supersecret") && !shown.contains("hunter2"), "{shown}");
    }
}
