//! Configuration: the function's environment (parsed once at start-up) and each secret's tags.

use std::collections::HashMap;
use std::net::IpAddr;

use reqwest::Url;
use url::Host;

use crate::metrics;
use crate::schedule::Interval;
use crate::secret::DEFAULT_KEY_FIELD;
use crate::timing::Timing;
use crate::vendors::{self, Vendor};

pub const TAG_VENDOR: &str = "rotation:vendor";
pub const TAG_KEY_FIELD: &str = "rotation:key-field";
pub const TAG_BASE_URL: &str = "rotation:base-url";
pub const ENV_ALLOWED_HOSTS: &str = "ROTATION_ALLOWED_HOSTS";
pub const TAG_PROMOTE: &str = "rotation:promote";
pub const ENV_PROMOTE: &str = "ROTATION_PROMOTE";

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
    pub fn parse(name: &str, text: &str) -> Result<Self, String> {
        match text.trim() {
            "standard" => Ok(Promote::Standard),
            "early" => Ok(Promote::Early),
            _ => Err(format!("{name} is {text:?}; it may only be \"standard\" or \"early\"")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Promote::Standard => "standard",
            Promote::Early => "early",
        }
    }

    /// The secret's mode: its `rotation:promote` tag, else the function's default.
    pub fn from_tags(tags: &HashMap<String, String>, settings: &Settings) -> Result<Self, String> {
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
    pub timing: Timing,
}

#[derive(Clone, Debug, PartialEq)]
struct AllowedHost {
    host: String,
    /// `None`: the scheme's default port only.
    port: Option<u16>,
}

impl Settings {
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads `CALCOM_BASE_URL` and the other vendors' variables, `ROTATION_ALLOWED_HOSTS`,
    /// `ROTATION_PROMOTE` and `METRICS_NAMESPACE`. Empty values mean "not set".
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let mut base_urls = HashMap::new();
        for vendor in vendors::ALL {
            let url = match get(vendor.env_base_url()) {
                Some(text) => parse_base_url(&text).map_err(|e| format!("{}: {e}", vendor.env_base_url()))?,
                None => Url::parse(vendor.default_base_url()).map_err(|e| e.to_string())?,
            };
            base_urls.insert(vendor.name(), url);
        }
        let allowed_hosts = match get(ENV_ALLOWED_HOSTS) {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|entry| !entry.is_empty())
                .map(|entry| parse_allowed_host(entry).map_err(|e| format!("{ENV_ALLOWED_HOSTS}: {e}")))
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        let promote = match get(ENV_PROMOTE) {
            Some(text) => Promote::parse(ENV_PROMOTE, &text)?,
            None => Promote::Standard,
        };
        let metrics_namespace =
            get(metrics::ENV_NAMESPACE).unwrap_or_else(|| metrics::DEFAULT_NAMESPACE.to_owned());
        Ok(Settings { base_urls, allowed_hosts, promote, metrics_namespace, timing: Timing::default() })
    }

    /// The base URL for one secret: its `rotation:base-url` tag if the host is approved, else the
    /// deployer's default for the vendor.
    pub fn base_url(&self, vendor: &dyn Vendor, tag: Option<&str>) -> Result<Url, String> {
        let Some(text) = tag.map(str::trim) else {
            return Ok(self.base_urls[vendor.name()].clone());
        };
        let url = parse_base_url(text).map_err(|e| format!("{TAG_BASE_URL} {text:?}: {e}"))?;
        let host = host_text(&url);
        let official = vendor.official_hosts().contains(&host.as_str())
            && url.scheme() == "https"
            && url.port().is_none();
        let listed = self.allowed_hosts.iter().any(|allowed| {
            allowed.host == host
                && match allowed.port {
                    None => url.port().is_none(),
                    Some(port) => url.port_or_known_default() == Some(port),
                }
        });
        if official || listed {
            Ok(url)
        } else {
            Err(format!(
                "{TAG_BASE_URL} {text:?} points at a host that is neither an official {} host ({}) nor listed in {ENV_ALLOWED_HOSTS}; add it there if you trust it",
                vendor.name(),
                vendor.official_hosts().join(", ")
            ))
        }
    }
}

/// A base URL: https, or http to a loopback host; no credentials, query or fragment.
pub fn parse_base_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("not a URL ({e})"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials in a base URL are not allowed".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("a base URL may not have a query or fragment".into());
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => {
            Err("http:// is allowed only for loopback hosts (127.0.0.0/8, ::1, localhost); use https://"
                .into())
        }
        other => Err(format!("scheme {other}:// is not allowed; use https://")),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The host as the allow-list spells it: lower case, IPv6 without brackets.
fn host_text(url: &Url) -> String {
    match url.host() {
        Some(Host::Ipv6(ip)) => ip.to_string(),
        Some(Host::Ipv4(ip)) => ip.to_string(),
        Some(Host::Domain(name)) => name.to_ascii_lowercase(),
        None => String::new(),
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn parse_allowed_host(entry: &str) -> Result<AllowedHost, String> {
    let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(|| format!("{entry:?}: missing ']'"))?;
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| format!("{entry:?}: expected ':port' after ']'"))?,
                ),
            ),
        }
    } else {
        match entry.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (entry, None),
        }
    };
    if host.is_empty() || (host.contains(['/', ':', '@', ' ']) && host.parse::<IpAddr>().is_err()) {
        return Err(format!("{entry:?} is not a host or host:port"));
    }
    let port =
        port.map(|p| p.parse::<u16>().map_err(|_| format!("{entry:?}: {p:?} is not a port"))).transpose()?;
    let host = match host.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => host.to_ascii_lowercase(),
    };
    Ok(AllowedHost { host, port })
}

/// Where a secret's key may be sent: its vendor and that vendor's approved base URL.
#[derive(Clone, Debug)]
pub struct Target {
    pub vendor: &'static dyn Vendor,
    pub base_url: Url,
}

impl Target {
    pub fn from_tags(tags: &HashMap<String, String>, settings: &Settings) -> Result<Self, String> {
        let vendor = vendor_from_tags(tags)?;
        let base_url = settings.base_url(vendor, tags.get(TAG_BASE_URL).map(String::as_str))?;
        Ok(Target { vendor, base_url })
    }
}

/// The prefix of the staging label that records, on a pending version, what its key was issued
/// for ([`Issued`]).
pub const TARGET_LABEL_PREFIX: &str = "ROTATION_TARGET.";

/// What a pending key was issued for: the vendor, the base URL and the value's key field. It rides
/// on the pending version as a staging label written with the key (the value stays byte-exact), as
/// `ROTATION_TARGET.<vendor>.<12 hex of the base URL's SHA-256>.<12 hex of the field's>`, so that
/// the later steps and the operator's commands send that key nowhere else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issued {
    vendor: String,
    base_url: String,
    key_field: String,
}

impl Issued {
    pub fn new(target: &Target, key_field: &str) -> Self {
        Issued {
            vendor: target.vendor.name().to_owned(),
            base_url: short_hash(target.base_url.as_str()),
            key_field: short_hash(key_field),
        }
    }

    pub fn label(&self) -> String {
        format!("{TARGET_LABEL_PREFIX}{}.{}.{}", self.vendor, self.base_url, self.key_field)
    }

    /// The record among a version's labels: `None` when it has none, `Err` when a label with the
    /// prefix does not read as one, or two disagree (then nothing can say where the key belongs).
    pub fn from_labels<'a>(labels: impl IntoIterator<Item = &'a String>) -> Result<Option<Self>, String> {
        let mut found: Option<Issued> = None;
        for label in labels {
            let Some(record) = label.strip_prefix(TARGET_LABEL_PREFIX) else { continue };
            let parts: Vec<&str> = record.split('.').collect();
            let [vendor, base_url, key_field] = parts[..] else {
                return Err(format!(
                    "the version carries the label {label:?}, which does not read as the record of what its key was issued for; remove it by hand once you know where the key belongs"
                ));
            };
            let issued =
                Issued { vendor: vendor.into(), base_url: base_url.into(), key_field: key_field.into() };
            if found.as_ref().is_some_and(|earlier| *earlier != issued) {
                return Err("the version carries two records of what its key was issued for that disagree; remove the wrong one by hand".into());
            }
            found = Some(issued);
        }
        Ok(found)
    }

    /// The record among `labels` against today's tags: `Ok(true)` it still matches, `Ok(false)`
    /// there is none, `Err` names the tag that changed or what is wrong with the record.
    pub fn check<'a>(
        labels: impl IntoIterator<Item = &'a String>,
        tags: &HashMap<String, String>,
        settings: &Settings,
    ) -> Result<bool, String> {
        match Issued::from_labels(labels)? {
            Some(issued) => issued.still_named(tags, settings).map(|()| true),
            None => Ok(false),
        }
    }

    /// The record among `labels` against today's `rotation:vendor` tag alone (for a current key,
    /// whose base URL and key field may be reconfigured): `Err` names the vendor that changed, or
    /// what is wrong with the record. No record, no objection.
    pub fn check_vendor<'a>(
        labels: impl IntoIterator<Item = &'a String>,
        tags: &HashMap<String, String>,
    ) -> Result<(), String> {
        match Issued::from_labels(labels)? {
            Some(issued) => issued.same_vendor(tags),
            None => Ok(()),
        }
    }

    /// Whether today's `rotation:vendor` tag still names the vendor the key was issued by.
    pub fn same_vendor(&self, tags: &HashMap<String, String>) -> Result<(), String> {
        let vendor = vendor_from_tags(tags)?;
        if vendor.name() != self.vendor {
            return Err(format!(
                "{TAG_VENDOR} changed since createSecret: the key was issued by {}, and the tag now names {}. Nothing was sent to any vendor; set {TAG_VENDOR} back to {}",
                self.vendor,
                vendor.name(),
                self.vendor
            ));
        }
        Ok(())
    }

    /// Whether today's tags (and the function's environment) still name what the key was issued
    /// for: `Err` names the tag that changed, or why the tags cannot be read.
    pub fn still_named(&self, tags: &HashMap<String, String>, settings: &Settings) -> Result<(), String> {
        self.same_vendor(tags)?;
        let target = Target::from_tags(tags, settings)?;
        let vendor = target.vendor;
        if short_hash(target.base_url.as_str()) != self.base_url {
            return Err(format!(
                "{TAG_BASE_URL} (or the function's {}) changed since createSecret: the pending key was not issued by {}, the base URL they name now. Nothing was sent to any vendor; put the base URL back",
                vendor.env_base_url(),
                target.base_url
            ));
        }
        let key_field = key_field_from_tags(tags)?;
        if short_hash(&key_field) != self.key_field {
            return Err(format!(
                "{TAG_KEY_FIELD} changed since createSecret: the pending key was written to another field than \"{key_field}\". Nothing was sent to any vendor; put the tag back"
            ));
        }
        Ok(())
    }
}

fn short_hash(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes())[..6].iter().map(|b| format!("{b:02x}")).collect()
}

/// The `rotation:vendor` tag's vendor.
pub fn vendor_from_tags(tags: &HashMap<String, String>) -> Result<&'static dyn Vendor, String> {
    let name = tags.get(TAG_VENDOR).map(|v| v.trim()).ok_or_else(|| {
        format!("the secret has no {TAG_VENDOR} tag; set it to one of {}", vendors::names())
    })?;
    vendors::lookup(name)
        .ok_or_else(|| format!("{TAG_VENDOR} is {name:?}; expected one of {}", vendors::names()))
}

/// The JSON field that holds the key: the `rotation:key-field` tag, or `api_key`.
pub fn key_field_from_tags(tags: &HashMap<String, String>) -> Result<String, String> {
    match tags.get(TAG_KEY_FIELD).map(|v| v.trim()) {
        None => Ok(DEFAULT_KEY_FIELD.to_owned()),
        Some("") => Err(format!("{TAG_KEY_FIELD} is empty; remove it to use \"{DEFAULT_KEY_FIELD}\"")),
        Some(field) => Ok(field.to_owned()),
    }
}

/// Everything a rotation needs from the tags, checked before anything is sent anywhere. Only
/// createSecret needs all of it; the later steps read only what they use, so a tag changed
/// mid-rotation cannot keep a stored key from being promoted.
#[derive(Clone, Debug)]
pub struct SecretConfig {
    pub target: Target,
    pub key_field: String,
    /// The rotate call's body (Cal.com's expiry), resolved before any vendor call.
    pub rotate_body: Option<serde_json::Value>,
    pub promote: Promote,
}

impl SecretConfig {
    pub fn from_tags(
        tags: &HashMap<String, String>,
        interval: Result<Interval, String>,
        settings: &Settings,
    ) -> Result<Self, String> {
        let target = Target::from_tags(tags, settings)?;
        let key_field = key_field_from_tags(tags)?;
        let rotate_body = target.vendor.rotate_body(tags, interval)?;
        let promote = Promote::from_tags(tags, settings)?;
        Ok(SecretConfig { target, key_field, rotate_body, promote })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_issued_record_names_the_tag_that_changed() {
        let settings = Settings::from_lookup(|_| None).unwrap();
        let tags = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        let today = tags(&[(TAG_VENDOR, "calcom")]);
        let target = Target::from_tags(&today, &settings).unwrap();
        let label = Issued::new(&target, "api_key").label();
        assert!(label.starts_with("ROTATION_TARGET.calcom.") && label.len() <= 256, "{label}");
        let issued = Issued::from_labels([&"AWSPENDING".to_owned(), &label]).unwrap().unwrap();
        assert_eq!(issued.still_named(&today, &settings), Ok(()));
        for (changed, tag) in [
            (tags(&[(TAG_VENDOR, "ringg")]), TAG_VENDOR),
            (tags(&[(TAG_VENDOR, "calcom"), (TAG_BASE_URL, "https://api.cal.eu")]), TAG_BASE_URL),
            (tags(&[(TAG_VENDOR, "calcom"), (TAG_KEY_FIELD, "token")]), TAG_KEY_FIELD),
        ] {
            let problem = issued.still_named(&changed, &settings).unwrap_err();
            assert!(problem.starts_with(tag) && problem.contains("Nothing was sent"), "{problem}");
        }
        assert!(Issued::from_labels([&"ROTATION_TARGET.calcom.x".to_owned()]).is_err());
        assert!(Issued::from_labels([&label, &"ROTATION_TARGET.ringg.a.b".to_owned()]).is_err());
        assert_eq!(Issued::from_labels([&"AWSCURRENT".to_owned()]), Ok(None));
        // The vendor first, even when the base-URL tag no longer fits the new vendor.
        let moved = tags(&[(TAG_VENDOR, "ringg"), (TAG_BASE_URL, "https://api.cal.eu")]);
        assert!(issued.still_named(&moved, &settings).unwrap_err().starts_with(TAG_VENDOR));
    }

    use super::*;

    fn settings(allowed: &str) -> Settings {
        let allowed = allowed.to_owned();
        Settings::from_lookup(move |name| (name == ENV_ALLOWED_HOSTS).then(|| allowed.clone())).unwrap()
    }

    fn calcom() -> &'static dyn Vendor {
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
            .unwrap_err();
        assert!(err.starts_with("RINGG_BASE_URL: http:// is allowed only for loopback"), "{err}");
    }

    #[test]
    fn official_hosts_of_the_same_vendor_only() {
        let s = settings("");
        assert!(s.base_url(calcom(), Some("https://api.cal.eu")).is_ok());
        assert!(s.base_url(calcom(), Some("https://API.CAL.COM/")).is_ok());
        for refused in [
            "https://api.projectdiscovery.io",
            "https://api.cal.eu:8443",
            "http://api.cal.eu",
            "https://evil.invalid",
            "https://api.cal.eu.evil.invalid",
            "https://user:pw@api.cal.eu",
            "https://api.cal.eu/?x=1",
            "ftp://api.cal.eu",
        ] {
            assert!(s.base_url(calcom(), Some(refused)).is_err(), "{refused}");
        }
    }

    #[test]
    fn allow_list_entries() {
        let s = settings(" cal.internal.invalid , 127.0.0.1:8080,[::1]:9000,Self.Hosted.invalid:8443");
        assert!(s.base_url(calcom(), Some("https://cal.internal.invalid/v")).is_ok());
        assert!(s.base_url(calcom(), Some("https://cal.internal.invalid:8443")).is_err());
        assert!(s.base_url(calcom(), Some("http://127.0.0.1:8080/calcom")).is_ok());
        assert!(s.base_url(calcom(), Some("http://127.0.0.1:8081/calcom")).is_err());
        assert!(s.base_url(calcom(), Some("http://[::1]:9000")).is_ok());
        assert!(s.base_url(calcom(), Some("https://self.hosted.invalid:8443")).is_ok());
        // Listed, but plain http to a non-loopback host is still refused.
        assert!(s.base_url(calcom(), Some("http://cal.internal.invalid")).is_err());
    }

    #[test]
    fn promotion_from_the_environment_and_the_tag() {
        let env =
            |value: &'static str| Settings::from_lookup(move |n| (n == ENV_PROMOTE).then(|| value.into()));
        assert_eq!(env("early").unwrap().promote, Promote::Early);
        assert_eq!(env(" standard ").unwrap().promote, Promote::Standard);
        assert_eq!(env("").unwrap().promote, Promote::Standard);
        assert!(env("Early").unwrap_err().contains("ROTATION_PROMOTE"));
        let early = env("early").unwrap();
        let tags = |v: &str| HashMap::from([(TAG_PROMOTE.to_owned(), v.to_owned())]);
        assert_eq!(Promote::from_tags(&HashMap::new(), &early), Ok(Promote::Early));
        assert_eq!(Promote::from_tags(&tags("standard"), &early), Ok(Promote::Standard), "the tag wins");
        assert!(Promote::from_tags(&tags("yes"), &early).unwrap_err().contains("rotation:promote"));
    }

    #[test]
    fn bad_allow_list_entries_fail_at_start() {
        for entry in ["host:port", "a/b", "[::1", "[::1]x", "h:99999"] {
            let entry = entry.to_owned();
            assert!(Settings::from_lookup(move |n| (n == ENV_ALLOWED_HOSTS).then(|| entry.clone())).is_err());
        }
    }

    #[test]
    fn secret_config_from_tags() {
        let s = settings("");
        let tags =
            |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let config =
            SecretConfig::from_tags(&tags(&[(TAG_VENDOR, "ringg")]), Ok(Interval::Unknown), &s).unwrap();
        assert_eq!((config.target.vendor.name(), config.key_field.as_str()), ("ringg", "api_key"));
        assert_eq!(config.target.base_url.as_str(), "https://prod-api.ringg.ai/ca/api/v0");
        let config = SecretConfig::from_tags(
            &tags(&[
                (TAG_VENDOR, "projectdiscovery"),
                (TAG_KEY_FIELD, "pdcp"),
                (TAG_BASE_URL, "https://api.dev.projectdiscovery.io"),
            ]),
            Ok(Interval::Unknown),
            &s,
        )
        .unwrap();
        assert_eq!(
            (config.key_field.as_str(), config.target.base_url.host_str()),
            ("pdcp", Some("api.dev.projectdiscovery.io"))
        );
        assert!(
            SecretConfig::from_tags(&tags(&[]), Ok(Interval::Unknown), &s)
                .unwrap_err()
                .contains("no rotation:vendor tag")
        );
        assert!(
            SecretConfig::from_tags(&tags(&[(TAG_VENDOR, "stripe")]), Ok(Interval::Unknown), &s)
                .unwrap_err()
                .contains("\"stripe\"")
        );
        assert!(
            SecretConfig::from_tags(
                &tags(&[(TAG_VENDOR, "ringg"), (TAG_KEY_FIELD, " ")]),
                Ok(Interval::Unknown),
                &s
            )
            .is_err()
        );
    }
}
