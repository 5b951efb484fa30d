//! A vendor the deployer declares in `ROTATION_VENDORS` (parsed and checked in
//! `config/declared.rs`): the description itself, and the [`Vendor`] it is. A declared vendor goes
//! through the same engine as a built-in one; only where its answers are read differs, and that is
//! written in the declaration.

use std::collections::HashMap;
use std::sync::Mutex;

use reqwest::Method;
use reqwest::Url;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::Value;

use super::{Auth, Endpoint, ExpiryError, Vendor, is_readable_key_id};
use crate::schedule::{Interval, UnreadableSchedule};
use crate::timing::{self, ExpiryFormat};

/// The variable a declared vendor's base URL is written in (there is no variable of its own).
const ENV_VENDORS: &str = "ROTATION_VENDORS";

/// One vendor described as data: declared by the deployer, or shipped in the catalog.
#[derive(Clone, Debug, PartialEq)]
pub struct Declared {
    /// The `rotation:vendor` tag value.
    pub name: String,
    /// `None` only for a catalog vendor without a default (each secret, or an override, names it).
    pub base_url: Option<Url>,
    /// The one header the key goes into, after `prefix`.
    pub header: HeaderName,
    pub prefix: String,
    /// Sent on every call, never holding the key.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub rotate: Rotate,
    pub verify: Verify,
    pub overlap: Option<Overlap>,
    /// The vendor's documentation of the calls.
    pub docs: Option<String>,
    /// Shipped in the binary (`vendors/catalog/`): its secrets may name a base URL in a tag, on
    /// its own host or one the allow-list gives it, as a built-in's may.
    pub catalog: bool,
    /// A catalog vendor's own host (its base URL's), which a `rotation:base-url` tag may name.
    pub official_hosts: &'static [&'static str],
}

/// The call that makes a new key.
#[derive(Clone, Debug, PartialEq)]
pub struct Rotate {
    pub method: Method,
    pub path: String,
    /// Sent as it is, but for each `{"$expiry": FORMAT}` in it: the time the new key must live.
    pub body: Option<Value>,
    /// RFC 6901: where the new key is in a 2xx answer.
    pub key: String,
    pub query: Vec<(String, String)>,
    /// The longest a key of this vendor may live, in seconds: a computed expiry never asks more.
    pub max_lifetime: Option<u64>,
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
    pub query: Vec<(String, String)>,
    /// RFC 6901: the presented key's own id in a 2xx answer (Vercel: `/token/id`).
    pub key_id: Option<String>,
}

/// Create-then-revoke: the rotate call leaves the presented key valid.
#[derive(Clone, Debug, PartialEq)]
pub struct Overlap {
    /// RFC 6901: the new key's id in the rotate answer.
    pub key_id: String,
    pub revoke_method: Method,
    /// Holds `{key_id}` as one whole segment, unless the body holds it.
    pub revoke_path: String,
    /// Sent as it is, but for each string `"{key_id}"` in it: the id.
    pub revoke_body: Option<Value>,
    pub revoke_query: Vec<(String, String)>,
    pub grace_seconds: u64,
}

/// Where the id goes in a revoke call.
pub const KEY_ID_PLACEHOLDER: &str = "{key_id}";

impl Overlap {
    /// The revoke call's path for the key `id` (already checked readable: one path segment).
    pub fn revoke_path(&self, id: &str) -> String {
        self.revoke_path.replace(KEY_ID_PLACEHOLDER, id)
    }

    /// The revoke call's body for the key `id`, if it has one.
    pub fn revoke_body(&self, id: &str) -> Option<Value> {
        self.revoke_body.as_ref().map(|body| {
            replace_strings(body, &|text| (text == KEY_ID_PLACEHOLDER).then(|| Value::String(id.to_owned())))
        })
    }
}

/// `value` with every string that `with` has a replacement for replaced.
fn replace_strings(value: &Value, with: &dyn Fn(&str) -> Option<Value>) -> Value {
    match value {
        Value::String(text) => with(text).unwrap_or_else(|| value.clone()),
        Value::Array(items) => Value::Array(items.iter().map(|item| replace_strings(item, with)).collect()),
        Value::Object(fields) => Value::Object(
            fields.iter().map(|(name, field)| (name.clone(), replace_strings(field, with))).collect(),
        ),
        other => other.clone(),
    }
}

/// The member name of a computed value in a rotate body: `{"$expiry": FORMAT}`.
pub const EXPIRY: &str = "$expiry";

/// `body` with each `{"$expiry": FORMAT}` replaced by `lifetime` from now, in its format.
fn with_expiry(body: &Value, lifetime: std::time::Duration) -> Value {
    match body {
        Value::Object(fields) => match fields.get(EXPIRY).and_then(Value::as_str) {
            Some(format) if fields.len() == 1 => {
                ExpiryFormat::parse(format).map_or(Value::Null, |format| format.value(lifetime))
            }
            _ => Value::Object(
                fields.iter().map(|(name, field)| (name.clone(), with_expiry(field, lifetime))).collect(),
            ),
        },
        Value::Array(items) => Value::Array(items.iter().map(|item| with_expiry(item, lifetime)).collect()),
        other => other.clone(),
    }
}

/// Whether `body` holds a computed expiry.
pub fn asks_expiry(body: &Value) -> bool {
    match body {
        Value::Object(fields) => fields.contains_key(EXPIRY) || fields.values().any(asks_expiry),
        Value::Array(items) => items.iter().any(asks_expiry),
        _ => false,
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

/// The id at `pointer` in `body`: a string, or a whole number written as one, that may be recorded
/// and sent; anything else is unreadable.
fn read_id(body: &Value, pointer: &str, keys: [&str; 2]) -> Option<String> {
    let id = match body.pointer(pointer)? {
        Value::String(id) => id.clone(),
        Value::Number(number) if number.is_u64() || number.is_i64() => number.to_string(),
        _ => return None,
    };
    is_readable_key_id(&id, keys).then_some(id)
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
    /// Empty for a catalog vendor without a default.
    fn default_base_url(&self) -> &str {
        self.base_url.as_ref().map_or("", Url::as_str)
    }
    /// A declared vendor's secrets take no `rotation:base-url` tag; a catalog vendor's may name its
    /// own host.
    fn official_hosts(&self) -> &'static [&'static str] {
        self.official_hosts
    }
    fn declared(&self) -> bool {
        true
    }
    fn catalog(&self) -> bool {
        self.catalog
    }
    fn headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.headers
    }
    fn overlap(&self) -> Option<&Overlap> {
        self.overlap.as_ref()
    }
    fn new_key_id(&self, body: &Value, keys: [&str; 2]) -> Option<String> {
        read_id(body, &self.overlap.as_ref()?.key_id, keys)
    }
    fn names_presented_key(&self) -> bool {
        self.verify.key_id.is_some()
    }
    fn rotate_names_key(&self) -> bool {
        self.rotate.path.contains(KEY_ID_PLACEHOLDER)
    }
    fn presented_key_id(&self, body: &Value, keys: [&str; 2]) -> Option<String> {
        read_id(body, self.verify.key_id.as_deref()?, keys)
    }
    fn auth(&self) -> Auth<'_> {
        Auth { header: self.header.clone(), prefix: &self.prefix }
    }
    fn rotate(&self) -> Endpoint<'_> {
        Endpoint { method: self.rotate.method.clone(), path: &self.rotate.path, query: &self.rotate.query }
    }
    fn verify(&self) -> Endpoint<'_> {
        Endpoint { method: self.verify.method.clone(), path: &self.verify.path, query: &self.verify.query }
    }
    /// The body as declared, each computed expiry filled in: past the next scheduled rotation
    /// (twice the longest gap between rotations, room for one that fails) plus the grace, and
    /// within `max_lifetime`.
    fn rotate_body(
        &self,
        _tags: &HashMap<String, String>,
        interval: Result<Interval, UnreadableSchedule>,
    ) -> Result<Option<Value>, ExpiryError> {
        let Some(body) = &self.rotate.body else { return Ok(None) };
        if !asks_expiry(body) {
            return Ok(Some(body.clone()));
        }
        let gap = match interval {
            Ok(Interval::Exactly(days) | Interval::AtMost(days)) => Some(days),
            Ok(Interval::Unknown) => None,
            // A schedule that cannot be read: the vendor's maximum, when the entry gives one.
            Err(_) if self.rotate.max_lifetime.is_some() => None,
            Err(why) => return Err(why.into()),
        };
        let grace = self.overlap.as_ref().map_or(0, |overlap| overlap.grace_seconds);
        let lifetime = timing::key_lifetime(gap, grace, self.rotate.max_lifetime)
            .map_err(|problem| ExpiryError::Lifetime { vendor: self.name.clone(), problem })?;
        Ok(Some(with_expiry(body, lifetime)))
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
            base_url: Some(Url::parse("https://api.acme.example/v1").unwrap()),
            header: HeaderName::from_static("authorization"),
            prefix: "Bearer ".into(),
            rotate: Rotate {
                method: Method::POST,
                path: "/keys".into(),
                body: None,
                key: "/data/key".into(),
                query: Vec::new(),
                max_lifetime: None,
            },
            verify: Verify {
                method: Method::GET,
                path: "/me".into(),
                refused: vec![401, 403],
                vouch: vouch.map(str::to_owned),
                query: Vec::new(),
                key_id: None,
            },
            overlap: None,
            headers: Vec::new(),
            docs: None,
            catalog: false,
            official_hosts: &[],
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
            revoke_body: None,
            revoke_query: Vec::new(),
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
    #[test]
    fn a_computed_expiry_outlives_the_next_rotation_within_the_maximum() {
        let mut acme = declared(None);
        acme.rotate.body =
            Some(json!({"name": "r", "ttl": {"$expiry": "days"}, "at": [{"$expiry": "seconds"}]}));
        let body = |acme: &Declared, interval| acme.rotate_body(&HashMap::new(), interval);
        assert_eq!(
            body(&acme, Ok(Interval::Exactly(30))),
            Ok(Some(json!({"name": "r", "ttl": 60, "at": [60 * 86400]})))
        );
        // The grace is added: the replaced key must outlive it too.
        acme.overlap = Some(Overlap {
            key_id: "/id".into(),
            revoke_method: Method::DELETE,
            revoke_path: "/keys/{key_id}".into(),
            revoke_body: None,
            revoke_query: Vec::new(),
            grace_seconds: 3600,
        });
        assert_eq!(body(&acme, Ok(Interval::AtMost(30))).unwrap().unwrap()["ttl"], 61);
        acme.rotate.max_lifetime = Some(20 * 86400);
        let refused = body(&acme, Ok(Interval::Exactly(30))).unwrap_err().to_string();
        assert!(
            refused.starts_with("acme: its keys live at most 20 days") && refused.contains("32"),
            "{refused}"
        );
        assert_eq!(
            body(&acme, Ok(Interval::Unknown)).unwrap().unwrap()["ttl"],
            20,
            "the maximum, without a schedule"
        );
        acme.rotate.max_lifetime = None;
        assert!(body(&acme, Ok(Interval::Unknown)).unwrap_err().to_string().contains("no rotation schedule"));
        let unreadable = UnreadableSchedule { expression: "cron(x)".into(), why: "bad".into() };
        assert!(body(&acme, Err(unreadable.clone())).is_err());
        // With a maximum, a schedule that cannot be read asks for the maximum.
        acme.rotate.max_lifetime = Some(20 * 86400);
        assert_eq!(body(&acme, Err(unreadable)).unwrap().unwrap()["ttl"], 20);
        acme.rotate.max_lifetime = None;
        // A body with nothing computed is sent as it is, whatever the schedule.
        acme.rotate.body = Some(json!({"name": "r"}));
        assert_eq!(body(&acme, Ok(Interval::Unknown)), Ok(Some(json!({"name": "r"}))));
    }
}
