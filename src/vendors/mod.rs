//! The vendors: one trait, one file each (everything vendor-specific, hints included), one line
//! each in [`ALL`].
//!
//! A vendor is described, not programmed: its endpoints, how it authenticates, where the new key
//! is in the answer. [`VendorClient`] does the HTTP for all of them and turns every answer into an
//! outcome the rotation logic can reason about (did the vendor rotate or not?).

mod api;
mod calcom;
mod catalog;
mod client;
mod declared;
mod projectdiscovery;
mod ringg;

use std::collections::HashMap;
use std::fmt;

use reqwest::Method;
use reqwest::header::HeaderName;
use serde_json::Value;

pub use api::{NoKey, RawAnswer, Revoke, RotateOutcome, VendorApi, Verdict, VerifyPolicy, verify_until};
pub use client::{VendorClient, describe as describe_http_error};

pub use calcom::ExpiryError;
pub use catalog::{CATALOG, SCHEMA};
pub use declared::{Declared, EXPIRY, KEY_ID_PLACEHOLDER, Overlap, Rotate, Verify, asks_expiry, intern};

use crate::schedule::{Interval, UnreadableSchedule};

/// The built-in vendors. Any other is declared by the deployer in `ROTATION_VENDORS`
/// ([`Declared`]); the function's settings look up both.
pub static ALL: &[&dyn Vendor] = &[&calcom::CalCom, &ringg::Ringg, &projectdiscovery::ProjectDiscovery];

/// The built-in vendor named `name`.
pub fn lookup(name: &str) -> Option<&'static dyn Vendor> {
    ALL.iter().copied().find(|vendor| vendor.name() == name)
}

/// The built-in vendors' names, for error messages.
pub fn names() -> String {
    ALL.iter().map(|v| v.name()).collect::<Vec<_>>().join(", ")
}

/// How a vendor expects the key on a request: in one header, after a prefix (`Bearer `, or
/// nothing). Header names are case-insensitive; `http` keeps them in lower case.
#[derive(Clone, Debug)]
pub struct Auth<'a> {
    pub header: HeaderName,
    pub prefix: &'a str,
}

/// A method and a path below the vendor's base URL, with the query parameters it always takes.
#[derive(Clone, Debug)]
pub struct Endpoint<'a> {
    pub method: Method,
    pub path: &'a str,
    pub query: &'a [(String, String)],
}

impl Endpoint<'_> {
    /// The call's URL below `base`, with its query; `None` when the two make no URL.
    pub fn url(&self, base: &reqwest::Url) -> Option<String> {
        let url = format!("{}{}", base.as_str().trim_end_matches('/'), self.path);
        if self.query.is_empty() {
            return Some(url);
        }
        let mut with_query = reqwest::Url::parse(&url).ok()?;
        with_query.query_pairs_mut().extend_pairs(self.query);
        Some(with_query.into())
    }
}

pub trait Vendor: Send + Sync + fmt::Debug {
    /// The `rotation:vendor` tag value.
    fn name(&self) -> &str;
    /// The environment variable with the deployer's default base URL.
    fn env_base_url(&self) -> &str;
    /// The vendor's public API base URL.
    fn default_base_url(&self) -> &str;
    /// Hosts a `rotation:base-url` tag may name without being listed in ROTATION_ALLOWED_HOSTS.
    fn official_hosts(&self) -> &[&'static str];
    /// Whether the deployer declared this vendor (`ROTATION_VENDORS`): its base URL is the
    /// declaration's, and a `rotation:base-url` tag is refused.
    fn declared(&self) -> bool {
        false
    }
    /// Whether the vendor ships in the catalog: described as data like a declared one, but its
    /// secrets may name a base URL in a tag, as a built-in's may.
    fn catalog(&self) -> bool {
        false
    }
    /// Headers sent on every call besides the key's, none of which holds it.
    fn headers(&self) -> &[(HeaderName, reqwest::header::HeaderValue)] {
        &[]
    }
    /// Create-then-revoke: the rotate call leaves the presented key live, and a key is revoked by
    /// id. `None`: single-phase (the rotate call kills the presented key).
    fn overlap(&self) -> Option<&Overlap> {
        None
    }
    /// The new key's id in a successful rotate answer (overlap only), as the contract allows it:
    /// `None` when there is none that reads.
    fn new_key_id(&self, _body: &Value, _keys: [&str; 2]) -> Option<String> {
        None
    }
    /// Whether a verify answer names the presented key's own id ([`Vendor::presented_key_id`]).
    fn names_presented_key(&self) -> bool {
        false
    }
    /// Whether the rotate path names the presented key by its id (`{key_id}`, read from the verify
    /// answer before each rotate call).
    fn rotate_names_key(&self) -> bool {
        false
    }
    /// The presented key's own id in a successful verify answer, as the contract allows it.
    fn presented_key_id(&self, _body: &Value, _keys: [&str; 2]) -> Option<String> {
        None
    }
    fn auth(&self) -> Auth<'_>;
    /// The call that makes a new key and invalidates the one presented.
    fn rotate(&self) -> Endpoint<'_>;
    /// A read-only call that succeeds only with a live key.
    fn verify(&self) -> Endpoint<'_>;
    /// The rotate call's JSON body, from the secret's tags and rotation schedule; `Err` explains
    /// a tag that cannot be honoured.
    fn rotate_body(
        &self,
        _tags: &HashMap<String, String>,
        _interval: Result<Interval, UnreadableSchedule>,
    ) -> Result<Option<Value>, ExpiryError> {
        Ok(None)
    }
    /// The new key in a successful rotate answer, wherever the vendor puts it: a key that can be
    /// read is always stored, whatever else the answer says.
    fn new_key<'a>(&self, body: &'a Value) -> Option<&'a str>;
    /// Whether a rotate answer that holds a key has the shape the vendor documents (a warning
    /// only).
    fn answer_is_expected(&self, _body: &Value) -> bool {
        true
    }
    /// Whether an HTTP status means "this key is not valid". Only 401 unless the vendor documents
    /// more: a 403 usually means a valid key without the right to do something.
    fn refuses_key(&self, status: u16) -> bool {
        status == 401
    }
    /// Whether a 2xx verify answer must be read (as JSON, by [`Vendor::verify_vouches`]) before it
    /// counts as an acceptance.
    fn reads_verify_answer(&self) -> bool {
        true
    }
    /// What a 2xx verify answer says about the key: `Some(true)` it vouches for it, `Some(false)`
    /// it says the key is not valid, `None` it cannot be read either way.
    fn verify_vouches(&self, _body: &Value) -> Option<bool> {
        Some(true)
    }
    /// What a refused rotate call with `status` may mean at this vendor, when it has something
    /// more specific to say than the general hint.
    fn refusal_hint(&self, _status: u16) -> Option<&'static str> {
        None
    }
    /// A sanity check on the new key's format. Only ever warns: a key the vendor made live is
    /// always stored.
    fn looks_like_key(&self, old: &str, new: &str) -> bool;
}

/// How a vendor's keys are replaced, as the event (`detail.mode`) and the metrics (`Mode`) say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The rotate call kills the presented key: consumers hold a dead key until AWSCURRENT moves.
    SinglePhase,
    /// Create-then-revoke: the replaced key stays live until a later rotation revokes it.
    Overlap,
}

impl Mode {
    pub fn of(vendor: &dyn Vendor) -> Mode {
        if vendor.overlap().is_some() { Mode::Overlap } else { Mode::SinglePhase }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::SinglePhase => "single-phase",
            Mode::Overlap => "overlap",
        }
    }
}

/// Whether `id` may be recorded and sent as a key's id: `^[A-Za-z0-9._~:-]{1,128}$`, not `.` or
/// `..`, and none of `keys` inside it (an id is not secret; a key is).
pub fn is_readable_key_id(id: &str, keys: [&str; 2]) -> bool {
    (1..=128).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._~:-".contains(&b))
        && id != "."
        && id != ".."
        && keys.iter().all(|key| key.is_empty() || !id.contains(key))
}

/// `8-4-4-4-12` hex digits, the shape of Ringg's and ProjectDiscovery's keys.
pub(crate) fn is_uuid_shaped(key: &str) -> bool {
    let groups: Vec<&str> = key.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_are_unique_and_found() {
        for vendor in ALL {
            assert!(std::ptr::addr_eq(lookup(vendor.name()).unwrap(), *vendor));
        }
        assert_eq!(names(), "calcom, ringg, projectdiscovery");
        assert!(lookup("Calcom").is_none());
    }

    #[test]
    fn a_key_id_is_read_only_as_the_contract_allows() {
        let keys = ["sk_live_secret", "sk_old"];
        for id in ["k-1", "A.b_c~d:e-9", &"x".repeat(128)] {
            assert!(is_readable_key_id(id, keys), "{id}");
        }
        for id in ["", ".", "..", "a/b", "a b", "a%2f", "id-sk_live_secret-x", "sk_old", &"x".repeat(129)] {
            assert!(!is_readable_key_id(id, keys), "{id}");
        }
    }

    #[test]
    fn uuid_shape() {
        assert!(is_uuid_shaped("7251cb4b-3373-43a4-844c-b27a1d45e0c9"));
        assert!(!is_uuid_shaped("7251cb4b--f52b-43a4-844c-b27a1d45e0c9"));
        assert!(!is_uuid_shaped("cal_live_0123"));
    }
}
