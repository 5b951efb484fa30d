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
    Ok(read_all(store, tag_key, function, Some(arn), until).await?.holders(arn, key))
}

/// Every secret tagged `tag_key` whose rotation function is `function` (but `except`), read
/// (ListSecrets, then BatchGetSecretValue in batches of [`BATCH`]) until `until`. `Err`: the list
/// could not be read.
pub async fn read_all<S: SecretStore>(
    store: &S,
    tag_key: &str,
    function: &str,
    except: Option<&str>,
    until: Instant,
) -> Result<Batch, StoreError> {
    let listed = match timeout_at(until, store.rotated_by(tag_key, function)).await {
        Ok(listed) => listed?,
        Err(_) => return Err(StoreError::new("ListSecrets", super::codes::TIMEOUT, true)),
    };
    let listed: Vec<String> = listed.into_iter().filter(|arn| Some(arn.as_str()) != except).collect();
    let mut all = Batch::default();
    for batch in listed.chunks(BATCH) {
        match timeout_at(until, store.values_of(batch)).await {
            Ok(Ok(read)) => {
                all.values.extend(read.values);
                all.unread.extend(read.unread);
            }
            Ok(Err(_)) | Err(_) => all.unread.extend(batch.iter().cloned()),
        }
    }
    Ok(all)
}

/// What BatchGetSecretValue read: each secret's SecretString, and the secrets it could not (an
/// error entry, a binary value, a failed call).
#[derive(Clone, Debug, Default)]
pub struct Batch {
    pub values: Vec<(String, Sensitive)>,
    pub unread: Vec<String>,
}

impl Batch {
    /// Which secrets but `arn` hold `key`, and which could not be read.
    pub fn holders(&self, arn: &str, key: &Sensitive) -> Holders {
        let others = self.values.iter().filter(|(other, _)| other != arn);
        Holders {
            holders: others
                .clone()
                .filter(|(_, text)| holds(text.expose(), key.expose()))
                .map(|(other, _)| other.clone())
                .collect(),
            unread: self.unread.iter().filter(|other| *other != arn).cloned().collect(),
            compared: others.count(),
        }
    }
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
