//! Whether another secret holds a key: the other secrets a function rotates (a tag, and the same
//! rotation function), read in batches, each searched for the key in any field or as a plain
//! string. Never logs a value.

use serde_json::Value;
use tokio::time::{Instant, timeout_at};

use super::{SecretStore, StoreError};
use crate::sensitive::Sensitive;

/// At most this many secrets in one BatchGetSecretValue call (Secrets Manager's limit).
pub const BATCH: usize = 20;

/// What a scan found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Holders {
    /// The other secrets whose value holds the key.
    pub holders: Vec<String>,
    /// The other secrets the scan could not read (or had no time left for): skipped.
    pub unread: Vec<String>,
    /// How many other secrets were compared.
    pub compared: usize,
}

/// The other secrets tagged `tag_key` whose rotation function is `function` (all but `arn`), and
/// which of them hold `key`. `Err`: the list itself could not be read. A batch that fails, or
/// does not answer before `until`, names its secrets as unread.
pub async fn holders_of<S: SecretStore>(
    store: &S,
    tag_key: &str,
    function: &str,
    arn: &str,
    key: &Sensitive,
    until: Instant,
) -> Result<Holders, StoreError> {
    let listed = match timeout_at(until, store.rotated_by(tag_key, function)).await {
        Ok(listed) => listed?,
        Err(_) => return Err(StoreError::new("ListSecrets", super::codes::TIMEOUT, true)),
    };
    let others: Vec<String> = listed.into_iter().filter(|other| other != arn).collect();
    let mut found = Holders::default();
    for batch in others.chunks(BATCH) {
        match timeout_at(until, store.values_of(batch)).await {
            Ok(Ok(read)) => {
                found.compared += read.values.len();
                found.unread.extend(read.unread);
                let holding = read.values.into_iter().filter(|(_, text)| holds(text.expose(), key.expose()));
                found.holders.extend(holding.map(|(other, _)| other));
            }
            Ok(Err(_)) | Err(_) => found.unread.extend(batch.iter().cloned()),
        }
    }
    Ok(found)
}

/// What one BatchGetSecretValue call read: each secret's SecretString, and the secrets it could
/// not (an error entry, or a binary value).
#[derive(Debug, Default)]
pub struct Batch {
    pub values: Vec<(String, Sensitive)>,
    pub unread: Vec<String>,
}

/// Whether a secret value holds `key`: as any string field at any depth of a JSON value, or as
/// the whole value (a plain string, spaces around it aside).
pub fn holds(text: &str, key: &str) -> bool {
    match serde_json::from_str::<Value>(text) {
        Ok(value @ (Value::Object(_) | Value::Array(_))) => any_string(&value, key),
        Ok(Value::String(whole)) => whole.trim() == key,
        _ => text.trim() == key,
    }
}

fn any_string(value: &Value, key: &str) -> bool {
    match value {
        Value::String(text) => text == key,
        Value::Array(items) => items.iter().any(|item| any_string(item, key)),
        Value::Object(fields) => fields.values().any(|field| any_string(field, key)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::holds;

    #[test]
    fn a_key_counts_in_any_field_or_as_the_whole_value() {
        let key = "ringg_live_0123456789abcdef";
        assert!(holds(key, key));
        assert!(holds(&format!("  {key}\n"), key));
        assert!(holds(&format!(r#"{{"api_key":"{key}"}}"#), key));
        assert!(holds(&format!(r#"{{"other":"x","nested":{{"token":"{key}"}}}}"#), key));
        assert!(holds(&format!(r#"["a","{key}"]"#), key));
        assert!(holds(&format!(r#""{key}""#), key));
        assert!(!holds(&format!(r#"{{"api_key":"{key}x"}}"#), key));
        assert!(!holds(&format!("{key}x"), key));
        assert!(!holds(r#"{"api_key":"other"}"#, key));
        assert!(!holds("", key));
    }
}
