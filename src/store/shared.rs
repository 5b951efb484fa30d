//! Whether another secret holds a key: the shared-key search. It looks at the other secrets tagged
//! for the same vendor (ListSecrets, filtered by the tag's key and value), whatever rotates them,
//! and compares the key by the fingerprint recorded on each one's AWSCURRENT version
//! ([`super::Fingerprint`]), which costs no read. Only a secret whose current key has no recorded
//! fingerprint (never rotated by this function, or its value put by hand) is read, and only when
//! the caller may read it. Never logs a value.

use serde_json::Value;
use tokio::time::{Instant, timeout_at};

use super::{AWSCURRENT, Fingerprint, SecretMeta, SecretStore};
use crate::sensitive::Sensitive;

/// At most this many secrets in one BatchGetSecretValue call (Secrets Manager's limit).
pub const BATCH: usize = 20;

/// Which secrets the search may read when their key's fingerprint is not recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readable<'a> {
    /// Those whose rotation function is this one: what the function's role may read. A tag alone
    /// never widens it.
    RotatedBy(&'a str),
    /// Any (an operator's credentials: whatever they may read).
    Any,
}

impl Readable<'_> {
    fn allows(&self, other: &SecretMeta) -> bool {
        match self {
            Readable::RotatedBy(function) => other.rotation_function.as_deref() == Some(*function),
            Readable::Any => true,
        }
    }
}

/// Another secret tagged for the vendor, and what is known of its current key.
#[derive(Clone, Debug)]
pub struct Other {
    /// As ListSecrets shows it: its ARN, rotation function, versions and their labels, tags.
    pub meta: SecretMeta,
    /// The fingerprint recorded on its AWSCURRENT version.
    pub print: Option<Fingerprint>,
    /// Its AWSCURRENT value, when it had no fingerprint and could be read: the version read and
    /// the SecretString.
    pub read: Option<(Option<String>, Sensitive)>,
}

impl Other {
    /// Whether nothing is known of its key: no fingerprint, and not read.
    pub fn unknown(&self) -> bool {
        self.print.is_none() && self.read.is_none()
    }
}

/// What the search saw of the vendor's secrets.
#[derive(Clone, Debug, Default)]
pub struct Survey {
    pub others: Vec<Other>,
    /// The list was read to its end (not cut off by an error or the time).
    pub complete: bool,
    /// Why it was not, when it was not.
    pub cut_short: Option<String>,
    /// ListSecrets calls made, and values read (BatchGetSecretValue entries asked for).
    pub list_calls: usize,
    pub reads: usize,
}

/// What the search found for one key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Holders {
    /// The other secrets whose current key is it.
    pub holders: Vec<String>,
    /// The other secrets whose key could not be compared: no fingerprint recorded, and not read
    /// (not readable, or the read failed or ran out of time).
    pub unread: Vec<String>,
    /// How many other secrets were compared, by fingerprint or by value.
    pub compared: usize,
}

/// Every secret tagged `tag_key` = `vendor`, its current key's fingerprint where one is recorded,
/// and the values of the others that `readable` allows, all before `until`. Never fails: a list
/// cut short says so ([`Survey::complete`]), and a secret not read is unknown.
pub async fn survey<S: SecretStore>(
    store: &S,
    tag_key: &str,
    vendor: &str,
    readable: Readable<'_>,
    until: Instant,
) -> Survey {
    let mut survey = Survey::default();
    let mut next = None;
    loop {
        survey.list_calls += 1;
        let page = match timeout_at(until, store.list_page(tag_key, vendor, next.take())).await {
            Ok(Ok(page)) => page,
            Ok(Err(error)) => {
                survey.cut_short = Some(error.to_string());
                break;
            }
            Err(_) => {
                survey.cut_short = Some("no time was left to list them all".into());
                break;
            }
        };
        let (listed, more) = page;
        survey.others.extend(listed.into_iter().map(|meta| {
            let print = meta.version_with(AWSCURRENT).and_then(|current| meta.fingerprint_of(current));
            Other { meta, print, read: None }
        }));
        match more {
            Some(token) => next = Some(token),
            None => {
                survey.complete = true;
                break;
            }
        }
    }
    let to_read: Vec<String> = survey
        .others
        .iter()
        .filter(|other| other.print.is_none() && readable.allows(&other.meta))
        .map(|other| other.meta.arn.clone())
        .collect();
    for batch in to_read.chunks(BATCH) {
        survey.reads += batch.len();
        let Ok(Ok(values)) = timeout_at(until, store.values_of(batch)).await else { continue };
        for (arn, version, text) in values {
            if let Some(other) = survey.others.iter_mut().find(|other| other.meta.arn == arn) {
                other.read = Some((version, text));
            }
        }
    }
    survey
}

impl Survey {
    /// Which secrets but `arn` hold `key`, and which could not be compared.
    pub fn holders(&self, arn: &str, key: &Sensitive) -> Holders {
        let mut found = Holders::default();
        for other in self.others.iter().filter(|other| other.meta.arn != arn) {
            let holds = match (&other.print, &other.read) {
                (Some(print), _) => print.is_of(key),
                (None, Some((_, text))) => holds(text.expose(), key.expose()),
                (None, None) => {
                    found.unread.push(other.meta.arn.clone());
                    continue;
                }
            };
            found.compared += 1;
            if holds {
                found.holders.push(other.meta.arn.clone());
            }
        }
        found
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
