//! What a rotation needs from a secret's tags: where its key may be sent ([`Target`]) and, for
//! createSecret, everything else ([`SecretConfig`]).

use std::collections::HashMap;

use reqwest::Url;

use super::{ConfigError, Promote, Settings, TAG_BASE_URL, TAG_VENDOR};
use crate::schedule::{Interval, UnreadableSchedule};
use crate::secret::key_field_from_tags;
use crate::vendors::Vendor;

/// Where a secret's key may be sent: its vendor and that vendor's approved base URL.
#[derive(Clone, Debug)]
pub struct Target {
    pub vendor: &'static dyn Vendor,
    pub base_url: Url,
}

impl Target {
    pub fn from_tags(tags: &HashMap<String, String>, settings: &Settings) -> Result<Self, ConfigError> {
        let vendor = vendor_from_tags(tags, settings)?;
        let base_url = settings.base_url(vendor, tags.get(TAG_BASE_URL).map(String::as_str))?;
        Ok(Target { vendor, base_url })
    }
}

/// The `rotation:vendor` tag's vendor, built in or declared in the function's environment.
pub fn vendor_from_tags(
    tags: &HashMap<String, String>,
    settings: &Settings,
) -> Result<&'static dyn Vendor, ConfigError> {
    let known = || settings.vendor_names();
    let name =
        tags.get(TAG_VENDOR).map(|v| v.trim_end()).ok_or_else(|| ConfigError::NoVendor { known: known() })?;
    settings.vendor(name).ok_or_else(|| ConfigError::UnknownVendor { name: name.to_owned(), known: known() })
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
        interval: Result<Interval, UnreadableSchedule>,
        settings: &Settings,
    ) -> Result<Self, ConfigError> {
        let target = Target::from_tags(tags, settings)?;
        let key_field = key_field_from_tags(tags)?;
        let rotate_body = target.vendor.rotate_body(tags, interval)?;
        let promote = Promote::from_tags(tags, settings)?;
        Ok(SecretConfig { target, key_field, rotate_body, promote })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{settings, tags};
    use super::*;
    use crate::secret::TAG_KEY_FIELD;

    #[test]
    fn secret_config_from_tags() {
        let s = settings("");
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
                .to_string()
                .contains("no rotation:vendor tag")
        );
        assert!(
            SecretConfig::from_tags(&tags(&[(TAG_VENDOR, "stripe")]), Ok(Interval::Unknown), &s)
                .unwrap_err()
                .to_string()
                .contains("\"stripe\"")
        );
        // Trailing spaces are a typo read through; leading ones are not (ListSecrets, which finds
        // the vendor's other secrets, matches the start of a value).
        assert_eq!(vendor_from_tags(&tags(&[(TAG_VENDOR, "ringg \u{a0}")]), &s).unwrap().name(), "ringg");
        let leading = vendor_from_tags(&tags(&[(TAG_VENDOR, " ringg")]), &s).unwrap_err().to_string();
        assert!(leading.contains("\" ringg\""), "{leading}");
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
