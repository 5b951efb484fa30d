//! Configuration: the function's environment (parsed once at start-up, [`Settings`]) and each
//! secret's tags. One file a concept: the environment and the promotion mode here; base URLs and
//! the allow-list in `base_url.rs`; what a rotation needs from the tags in `target.rs`; the record of
//! what a pending key was issued for in `issued.rs`; vendors the deployer declares
//! (`ROTATION_VENDORS`) in `declared.rs`; what can be wrong, as data, in `error.rs`.

mod base_url;
mod declared;
mod error;
mod issued;
mod target;

use std::collections::HashMap;

use reqwest::Url;

use self::base_url::{AllowedHost, parse_allowed_host};
pub use self::base_url::{parse_base_url, without_userinfo};
pub use self::declared::{
    DEFAULT_GRACE_SECONDS, DeclarationError, ENV_VENDORS, catalog, merge_patch, parse_declarations,
};
pub use self::error::{ConfigError, HostProblem, UrlProblem};
pub use self::issued::{Issued, KEY_ID_LABEL_PREFIX, KeyId, TARGET_LABEL_PREFIX};
pub use self::target::{SecretConfig, Target, vendor_from_tags};
use crate::metrics;
pub use crate::secret::{TAG_KEY_FIELD, key_field_from_tags};
use crate::timing::Timing;
use crate::vendors::{self, Declared, Mode, Vendor};

pub const TAG_VENDOR: &str = "rotation:vendor";
pub const TAG_BASE_URL: &str = "rotation:base-url";
pub const ENV_ALLOWED_HOSTS: &str = "ROTATION_ALLOWED_HOSTS";
pub const TAG_PROMOTE: &str = "rotation:promote";
pub const ENV_PROMOTE: &str = "ROTATION_PROMOTE";
/// The id of the starting key at a create-then-revoke vendor (bound by the first rotation).
pub const TAG_KEY_ID: &str = "rotation:key-id";

/// Said of `ROTATION_ALLOWED_HOSTS` entries without a vendor, after them: by `check`, and in the
/// function's log when it starts.
pub const BARE_HOSTS_DEPRECATED: &str = "in ROTATION_ALLOWED_HOSTS name no vendor, so any built-in vendor's key may be sent there (deprecated): whoever can tag a secret can send its key to a host meant for another vendor";
/// What to do about them.
pub const BARE_HOSTS_FIX: &str = "Write each entry as VENDOR=HOST[:PORT] (for example calcom=cal.internal.example) in the AllowedHosts parameter, and deploy again.";

/// When AWSCURRENT moves to the new key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Promote {
    /// finishSecret moves it, after setSecret and testSecret (AWS's reference order).
    #[default]
    Standard,
    /// createSecret's one write stores the key as both AWSPENDING and AWSCURRENT: the dead-key
    /// window is that single write. testSecret still verifies the key.
    Early,
}

impl Promote {
    /// `text`, the value of the tag or variable `name`.
    pub fn parse(name: &'static str, text: &str) -> Result<Self, ConfigError> {
        match text.trim() {
            "standard" => Ok(Promote::Standard),
            "early" => Ok(Promote::Early),
            _ => Err(ConfigError::Promote { name, text: text.to_owned() }),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Promote::Standard => "standard",
            Promote::Early => "early",
        }
    }

    /// The secret's mode: its `rotation:promote` tag, else the function's default. A
    /// create-then-revoke vendor's secret has no dead-key window to shorten: always standard.
    pub fn from_tags(tags: &HashMap<String, String>, settings: &Settings) -> Result<Self, ConfigError> {
        if vendor_from_tags(tags, settings).is_ok_and(|vendor| vendor.overlap().is_some()) {
            return Ok(Promote::Standard);
        }
        match tags.get(TAG_PROMOTE) {
            None => Ok(settings.promote),
            Some(text) => Promote::parse(TAG_PROMOTE, text),
        }
    }
}

/// The function's environment, parsed once when the Lambda starts.
#[derive(Clone, Debug)]
pub struct Settings {
    base_urls: HashMap<&'static str, Url>,
    allowed_hosts: Vec<AllowedHost>,
    /// `ROTATION_PROMOTE`: the mode of secrets without a `rotation:promote` tag.
    pub promote: Promote,
    /// `METRICS_NAMESPACE`, else `ApiKeyRotator`.
    pub metrics_namespace: String,
    /// `ROTATION_VENDORS`: the vendors the deployer declares, rotated as the built-ins are, and
    /// the catalog vendors it overrides.
    pub declared: Vec<&'static Declared>,
    /// The catalog's vendors that `ROTATION_VENDORS` leaves as shipped.
    pub catalog: Vec<&'static Declared>,
    pub timing: Timing,
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads `CALCOM_BASE_URL` and the other vendors' variables, `ROTATION_ALLOWED_HOSTS`,
    /// `ROTATION_PROMOTE`, `METRICS_NAMESPACE` and `ROTATION_VENDORS`. Empty values mean "not set".
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let mut base_urls = HashMap::new();
        for vendor in vendors::ALL {
            let url = match get(vendor.env_base_url()) {
                Some(text) => parse_base_url(&text).map_err(|problem| ConfigError::EnvBaseUrl {
                    variable: vendor.env_base_url(),
                    problem,
                })?,
                None => Url::parse(vendor.default_base_url()).map_err(ConfigError::DefaultBaseUrl)?,
            };
            base_urls.insert(vendor.name(), url);
        }
        let allowed_hosts: Vec<AllowedHost> = match get(ENV_ALLOWED_HOSTS) {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|entry| !entry.is_empty())
                .map(|entry| parse_allowed_host(entry).map_err(ConfigError::AllowedHost))
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        let shipped = catalog()?;
        // Only a built-in or catalog vendor's secret may name its base URL in a tag: an entry for
        // any other name would never be used, and is most likely a typo of one.
        let takes_tag =
            |name: &str| vendors::lookup(name).is_some() || shipped.iter().any(|v| v.name == name);
        for allowed in &allowed_hosts {
            if let Some(name) = allowed.vendor.as_deref().filter(|name| !takes_tag(name)) {
                let catalog_names = shipped.iter().map(|vendor| format!(", {}", vendor.name));
                return Err(ConfigError::AllowedHost(HostProblem::UnknownVendor {
                    entry: allowed.to_string(),
                    vendor: name.to_owned(),
                    known: format!("{}{}", vendors::names(), catalog_names.collect::<String>()),
                }));
            }
        }
        let promote = match get(ENV_PROMOTE) {
            Some(text) => Promote::parse(ENV_PROMOTE, &text)?,
            None => Promote::Standard,
        };
        let metrics_namespace =
            get(metrics::ENV_NAMESPACE).unwrap_or_else(|| metrics::DEFAULT_NAMESPACE.to_owned());
        let declared: Vec<&'static Declared> = match get(ENV_VENDORS) {
            Some(text) => parse_declarations(&text)?.into_iter().map(vendors::intern).collect(),
            None => Vec::new(),
        };
        let catalog: Vec<&'static Declared> = shipped
            .iter()
            .copied()
            .filter(|vendor| !declared.iter().any(|d| d.name == vendor.name))
            .collect();
        for vendor in declared.iter().chain(&catalog) {
            if let Some(url) = &vendor.base_url {
                base_urls.insert(vendor.name.as_str(), url.clone());
            }
        }
        let timing = Timing::default();
        Ok(Settings { base_urls, allowed_hosts, promote, metrics_namespace, declared, catalog, timing })
    }

    /// The `ROTATION_ALLOWED_HOSTS` entries without a vendor (deprecated: they accept every
    /// built-in vendor's keys), as written.
    pub fn bare_allowed_hosts(&self) -> Vec<String> {
        self.allowed_hosts
            .iter()
            .filter(|allowed| allowed.vendor.is_none())
            .map(ToString::to_string)
            .collect()
    }

    /// Logs, once when the function starts, what its configuration should stop using.
    pub fn log_deprecations(&self) {
        let bare = self.bare_allowed_hosts();
        if !bare.is_empty() {
            tracing::warn!("{} {}", bare.join(", "), BARE_HOSTS_DEPRECATED);
        }
    }

    /// The vendor a `rotation:vendor` tag names: a built-in one, one the deployer declared (or a
    /// catalog vendor as the deployer overrode it), or a catalog vendor.
    pub fn vendor(&self, name: &str) -> Option<&'static dyn Vendor> {
        vendors::lookup(name).or_else(|| {
            self.declared
                .iter()
                .chain(&self.catalog)
                .find(|vendor| vendor.name == name)
                .map(|vendor| *vendor as &'static dyn Vendor)
        })
    }

    /// How the vendor named `name` replaces keys (single-phase for a name this environment does
    /// not know).
    pub fn mode_of(&self, name: &str) -> Mode {
        self.vendor(name).map_or(Mode::SinglePhase, Mode::of)
    }

    /// Every `rotation:vendor` value this function accepts, for error messages.
    pub fn vendor_names(&self) -> String {
        let mut others: Vec<&str> =
            self.catalog.iter().chain(&self.declared).map(|vendor| vendor.name.as_str()).collect();
        others.sort_unstable();
        let others = others.iter().map(|name| format!(", {name}"));
        format!("{}{}", vendors::names(), others.collect::<String>())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The function's settings with `ROTATION_ALLOWED_HOSTS` set to `allowed`.
    pub(crate) fn settings(allowed: &str) -> Settings {
        let allowed = allowed.to_owned();
        Settings::from_lookup(move |name| (name == ENV_ALLOWED_HOSTS).then(|| allowed.clone())).unwrap()
    }

    pub(crate) fn tags(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    pub(crate) fn calcom() -> &'static dyn vendors::Vendor {
        vendors::lookup("calcom").unwrap()
    }

    #[test]
    fn defaults_and_env_overrides() {
        let s = Settings::from_lookup(|_| None).unwrap();
        assert_eq!(s.base_url(calcom(), None).unwrap().as_str(), "https://api.cal.com/");
        let s =
            Settings::from_lookup(|n| (n == "CALCOM_BASE_URL").then(|| "http://127.0.0.1:9/calcom".into()))
                .unwrap();
        assert_eq!(s.base_url(calcom(), None).unwrap().as_str(), "http://127.0.0.1:9/calcom");
        let err = Settings::from_lookup(|n| (n == "RINGG_BASE_URL").then(|| "http://ringg.internal".into()))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("RINGG_BASE_URL: http:// is allowed only for loopback"), "{err}");
    }

    #[test]
    fn promotion_from_the_environment_and_the_tag() {
        let env =
            |value: &'static str| Settings::from_lookup(move |n| (n == ENV_PROMOTE).then(|| value.into()));
        assert_eq!(env("early").unwrap().promote, Promote::Early);
        assert_eq!(env(" standard ").unwrap().promote, Promote::Standard);
        assert_eq!(env("").unwrap().promote, Promote::Standard);
        assert!(env("Early").unwrap_err().to_string().contains("ROTATION_PROMOTE"));
        let early = env("early").unwrap();
        let tags = |v: &str| HashMap::from([(TAG_PROMOTE.to_owned(), v.to_owned())]);
        assert_eq!(Promote::from_tags(&HashMap::new(), &early), Ok(Promote::Early));
        assert_eq!(Promote::from_tags(&tags("standard"), &early), Ok(Promote::Standard), "the tag wins");
        assert!(
            Promote::from_tags(&tags("yes"), &early).unwrap_err().to_string().contains("rotation:promote")
        );
    }

    #[test]
    fn bad_allow_list_entries_fail_at_start() {
        for entry in ["host:port", "a/b", "[::1", "[::1]x", "h:99999"] {
            let entry = entry.to_owned();
            assert!(Settings::from_lookup(move |n| (n == ENV_ALLOWED_HOSTS).then(|| entry.clone())).is_err());
        }
    }
}
