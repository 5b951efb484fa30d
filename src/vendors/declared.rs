//! A vendor the deployer declares in `ROTATION_VENDORS` (parsed and checked in
//! `config/declared.rs`): the description itself, and the [`Vendor`] it is. A declared vendor goes
//! through the same engine as a built-in one; only where its answers are read differs, and that is
//! written in the declaration.

use std::collections::HashMap;
use std::sync::Mutex;

use reqwest::Method;
use reqwest::Url;
use reqwest::header::HeaderName;
use serde_json::Value;

use super::{Auth, Endpoint, ExpiryError, Vendor, is_readable_key_id};
use crate::schedule::{Interval, UnreadableSchedule};

/// The variable a declared vendor's base URL is written in (there is no variable of its own).
const ENV_VENDORS: &str = "ROTATION_VENDORS";

/// One declared vendor.
#[derive(Clone, Debug, PartialEq)]
pub struct Declared {
    /// The `rotation:vendor` tag value.
    pub name: String,
    pub base_url: Url,
    /// The one header the key goes into, after `prefix`.
    pub header: HeaderName,
    pub prefix: String,
    pub rotate: Rotate,
    pub verify: Verify,
    pub overlap: Option<Overlap>,
}

/// The call that makes a new key.
#[derive(Clone, Debug, PartialEq)]
pub struct Rotate {
    pub method: Method,
    pub path: String,
    /// Sent as it is.
    pub body: Option<Value>,
    /// RFC 6901: where the new key is in a 2xx answer.
    pub key: String,
}

/// A read-only call that succeeds only with a live key.
#[derive(Clone, Debug, PartialEq)]
pub struct Verify {
    pub method: Method,
    pub path: String,
    /// Statuses that mean "this key is refused".
    pub refused: Vec<u16>,
    /// RFC 6901: a 2xx answer whose pointer finds no non-empty value also means refused.
    pub vouch: Option<String>,
}

/// Create-then-revoke: the rotate call leaves the presented key valid.
#[derive(Clone, Debug, PartialEq)]
pub struct Overlap {
    /// RFC 6901: the new key's id in the rotate answer.
    pub key_id: String,
    pub revoke_method: Method,
    /// Holds `{key_id}` as one whole segment.
    pub revoke_path: String,
    pub grace_seconds: u64,
}

impl Overlap {
    /// The revoke call's path for the key `id` (already checked readable: one path segment).
    pub fn revoke_path(&self, id: &str) -> String {
        self.revoke_path.replace("{key_id}", id)
    }
}

/// `declared` for the life of the process. The rotation holds vendors as `&'static dyn Vendor`
/// (the built-ins are statics), so a declaration is made to live as long: once per distinct
/// declaration, however often the environment is read (each `check` of a function reads it
/// again), so a warm Lambda or a long `check --all` never grows.
pub fn intern(declared: Declared) -> &'static Declared {
    static INTERNED: Mutex<Vec<&'static Declared>> = Mutex::new(Vec::new());
    let mut interned = INTERNED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(found) = interned.iter().find(|known| ***known == declared) {
        return found;
    }
    let leaked: &'static Declared = Box::leak(Box::new(declared));
    interned.push(leaked);
    leaked
}

/// What `pointer` finds in `body`, as a value that vouches for a key: a non-empty string, a
/// number, `true`, a non-empty array or object.
fn vouches(found: Option<&Value>) -> bool {
    match found {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::String(text)) => !text.trim().is_empty(),
        Some(Value::Array(items)) => !items.is_empty(),
        Some(Value::Object(fields)) => !fields.is_empty(),
        Some(Value::Bool(true)) | Some(Value::Number(_)) => true,
    }
}

impl Vendor for Declared {
    fn name(&self) -> &str {
        &self.name
    }
    fn env_base_url(&self) -> &str {
        ENV_VENDORS
    }
    fn default_base_url(&self) -> &str {
        self.base_url.as_str()
    }
    /// None: a declared vendor's secrets take no `rotation:base-url` tag.
    fn official_hosts(&self) -> &[&'static str] {
        &[]
    }
    fn declared(&self) -> bool {
        true
    }
    fn overlap(&self) -> Option<&Overlap> {
        self.overlap.as_ref()
    }
    /// A string, or a whole number written as one; anything else is unreadable.
    fn new_key_id(&self, body: &Value, keys: [&str; 2]) -> Option<String> {
        let id = match body.pointer(&self.overlap.as_ref()?.key_id)? {
            Value::String(id) => id.clone(),
            Value::Number(number) if number.is_u64() || number.is_i64() => number.to_string(),
            _ => return None,
        };
        is_readable_key_id(&id, keys).then_some(id)
    }
    fn auth(&self) -> Auth<'_> {
        Auth { header: self.header.clone(), prefix: &self.prefix }
    }
    fn rotate(&self) -> Endpoint<'_> {
        Endpoint { method: self.rotate.method.clone(), path: &self.rotate.path }
    }
    fn verify(&self) -> Endpoint<'_> {
        Endpoint { method: self.verify.method.clone(), path: &self.verify.path }
    }
    fn rotate_body(
        &self,
        _tags: &HashMap<String, String>,
        _interval: Result<Interval, UnreadableSchedule>,
    ) -> Result<Option<Value>, ExpiryError> {
        Ok(self.rotate.body.clone())
    }
    fn new_key<'a>(&self, body: &'a Value) -> Option<&'a str> {
        body.pointer(&self.rotate.key)?.as_str()
    }
    fn refuses_key(&self, status: u16) -> bool {
        self.verify.refused.contains(&status)
    }
    /// Without `vouch`, a 2xx is an acceptance whatever its body (a HEAD answer has none).
    fn reads_verify_answer(&self) -> bool {
        self.verify.vouch.is_some()
    }
    fn verify_vouches(&self, body: &Value) -> Option<bool> {
        match &self.verify.vouch {
            Some(pointer) => Some(vouches(body.pointer(pointer))),
            None => Some(true),
        }
    }
    /// A declaration says nothing of its keys' shape.
    fn looks_like_key(&self, _old: &str, new: &str) -> bool {
        !new.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn declared(vouch: Option<&str>) -> Declared {
        Declared {
            name: "acme".into(),
            base_url: Url::parse("https://api.acme.example/v1").unwrap(),
            header: HeaderName::from_static("authorization"),
            prefix: "Bearer ".into(),
            rotate: Rotate {
                method: Method::POST,
                path: "/keys".into(),
                body: None,
                key: "/data/key".into(),
            },
            verify: Verify {
                method: Method::GET,
                path: "/me".into(),
                refused: vec![401, 403],
                vouch: vouch.map(str::to_owned),
            },
            overlap: None,
        }
    }

    #[test]
    fn answers_are_read_where_the_declaration_says() {
        let acme = declared(Some("/account/id"));
        assert_eq!(acme.new_key(&json!({"data": {"key": "k2"}})), Some("k2"));
        assert_eq!(acme.new_key(&json!({"data": {"key": 7}})), None, "only a string is a key");
        assert_eq!(acme.new_key(&json!({"key": "k2"})), None);
        assert!(acme.refuses_key(403) && acme.refuses_key(401) && !acme.refuses_key(429));
        assert_eq!(acme.verify_vouches(&json!({"account": {"id": 12}})), Some(true));
        for refused in [
            json!({"account": {"id": ""}}),
            json!({"account": {}}),
            json!({}),
            json!({"account": {"id": null}}),
        ] {
            assert_eq!(acme.verify_vouches(&refused), Some(false), "{refused}");
        }
        assert!(acme.reads_verify_answer() && !declared(None).reads_verify_answer());
        let auth = acme.auth();
        assert_eq!((auth.header.as_str(), auth.prefix), ("authorization", "Bearer "));
    }

    #[test]
    fn a_new_keys_id_is_read_by_its_pointer_and_checked() {
        let mut acme = declared(None);
        acme.overlap = Some(Overlap {
            key_id: "/data/id".into(),
            revoke_method: Method::DELETE,
            revoke_path: "/keys/{key_id}".into(),
            grace_seconds: 0,
        });
        let keys = ["k2-secret", "k1-old"];
        assert_eq!(acme.new_key_id(&json!({"data": {"id": "key_9"}}), keys), Some("key_9".into()));
        assert_eq!(acme.new_key_id(&json!({"data": {"id": 42}}), keys), Some("42".into()));
        assert_eq!(acme.new_key_id(&json!({"data": {"id": "../admin"}}), keys), None);
        assert_eq!(acme.new_key_id(&json!({"data": {"id": "k2-secret"}}), keys), None, "never the key");
        assert_eq!(acme.new_key_id(&json!({"data": {"id": 1.5}}), keys), None);
        assert_eq!(acme.new_key_id(&json!({"data": {}}), keys), None);
        assert_eq!(acme.overlap.as_ref().unwrap().revoke_path("key_9"), "/keys/key_9");
        assert_eq!(declared(None).new_key_id(&json!({"data": {"id": "key_9"}}), keys), None, "single-phase");
    }

    #[test]
    fn a_declaration_is_made_to_live_once() {
        let first = intern(declared(None));
        assert!(std::ptr::eq(first, intern(declared(None))));
        assert!(!std::ptr::eq(first, intern(declared(Some("/id")))));
    }
}
