//! The record of what a pending key was issued for, kept on its version as a staging label.

use std::collections::HashMap;

use super::{ConfigError, Settings, Target, vendor_from_tags};
use crate::secret::key_field_from_tags;

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

    /// The vendor the key was issued by.
    pub fn vendor(&self) -> &str {
        &self.vendor
    }

    pub fn label(&self) -> String {
        format!("{TARGET_LABEL_PREFIX}{}.{}.{}", self.vendor, self.base_url, self.key_field)
    }

    /// The record among a version's labels: `None` when it has none, `Err` when a label with the
    /// prefix does not read as one, or two disagree (then nothing can say where the key belongs).
    pub fn from_labels<'a>(
        labels: impl IntoIterator<Item = &'a String>,
    ) -> Result<Option<Self>, ConfigError> {
        let mut found: Option<Issued> = None;
        for label in labels {
            let Some(record) = label.strip_prefix(TARGET_LABEL_PREFIX) else { continue };
            let parts: Vec<&str> = record.split('.').collect();
            let [vendor, base_url, key_field] = parts[..] else {
                return Err(ConfigError::UnreadableRecord { label: label.clone() });
            };
            let issued =
                Issued { vendor: vendor.into(), base_url: base_url.into(), key_field: key_field.into() };
            if found.as_ref().is_some_and(|earlier| *earlier != issued) {
                return Err(ConfigError::DisagreeingRecords);
            }
            found = Some(issued);
        }
        Ok(found)
    }

    /// Whether `label` is a record of issue (`ROTATION_TARGET.*`).
    pub fn is_record(label: &str) -> bool {
        label.starts_with(TARGET_LABEL_PREFIX)
    }

    /// The vendor whose key a version holds: the one its record (`labels`) names, else today's
    /// `rotation:vendor` tag, else `unknown`.
    pub fn vendor_of<'a>(
        labels: impl IntoIterator<Item = &'a String>,
        tags: &HashMap<String, String>,
        settings: &Settings,
    ) -> String {
        let issued = Issued::from_labels(labels).ok().flatten();
        issued
            .map(|issued| issued.vendor)
            .or_else(|| vendor_from_tags(tags, settings).ok().map(|vendor| vendor.name().to_owned()))
            .unwrap_or_else(|| crate::metrics::UNKNOWN.to_owned())
    }

    /// The labels that speak for the key in AWSCURRENT: its version's own (`current`) when they
    /// hold a record; else the pending version's (`pending`). A record is a staging label, one per
    /// secret, so storing a pending key issued for the same target takes it off AWSCURRENT while
    /// the rotation is under way. (Records left on older versions say nothing about AWSCURRENT.)
    pub fn labels_for_current<'a>(current: &'a [String], pending: &'a [String]) -> Vec<&'a String> {
        if current.iter().any(|label| Issued::is_record(label)) {
            return current.iter().collect();
        }
        pending.iter().filter(|label| Issued::is_record(label)).collect()
    }

    /// Whether this function stored the key in AWSCURRENT, and so it was issued for this secret:
    /// `labels` are [`Issued::labels_for_current`]'s (a record counts, even one that does not
    /// read), and `vendor_issued` says the version's fingerprint label carries when the vendor
    /// issued the key (a rotation wrote it). Any other key may be another secret's too.
    pub fn stored_here(labels: &[&String], vendor_issued: bool) -> bool {
        vendor_issued || !matches!(Issued::from_labels(labels.iter().copied()), Ok(None))
    }

    /// The record among `labels` against today's tags: `Ok(true)` it still matches, `Ok(false)`
    /// there is none, `Err` names the tag that changed or what is wrong with the record.
    pub fn check<'a>(
        labels: impl IntoIterator<Item = &'a String>,
        tags: &HashMap<String, String>,
        settings: &Settings,
    ) -> Result<bool, ConfigError> {
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
        settings: &Settings,
    ) -> Result<(), ConfigError> {
        match Issued::from_labels(labels)? {
            Some(issued) => issued.same_vendor(tags, settings),
            None => Ok(()),
        }
    }

    /// Whether today's `rotation:vendor` tag still names the vendor the key was issued by.
    pub fn same_vendor(
        &self,
        tags: &HashMap<String, String>,
        settings: &Settings,
    ) -> Result<(), ConfigError> {
        let vendor = vendor_from_tags(tags, settings)?;
        if vendor.name() != self.vendor {
            return Err(ConfigError::VendorChanged { issued: self.vendor.clone(), now: vendor.name() });
        }
        Ok(())
    }

    /// Whether today's tags (and the function's environment) still name what the key was issued
    /// for: `Err` names the tag that changed, or why the tags cannot be read.
    pub fn still_named(
        &self,
        tags: &HashMap<String, String>,
        settings: &Settings,
    ) -> Result<(), ConfigError> {
        self.same_vendor(tags, settings)?;
        let target = Target::from_tags(tags, settings)?;
        let vendor = target.vendor;
        if short_hash(target.base_url.as_str()) != self.base_url {
            return Err(ConfigError::BaseUrlChanged {
                variable: vendor.env_base_url(),
                now: target.base_url,
            });
        }
        let key_field = key_field_from_tags(tags)?;
        if short_hash(&key_field) != self.key_field {
            return Err(ConfigError::KeyFieldChanged { now: key_field });
        }
        Ok(())
    }
}

/// The prefix of the staging label that records the id of the key a version holds, at a
/// create-then-revoke vendor ([`KeyId`]).
pub const KEY_ID_LABEL_PREFIX: &str = "ROTATION_KEY_ID.";

/// The id of the key a version holds, and who issued it: the vendor and the base URL. It rides on
/// the version as `ROTATION_KEY_ID.<vendor>.<12 hex of the base URL's SHA-256>.<id>`, written with
/// the key, so a later rotation revokes that id only at the vendor and base URL that issued it.
/// Ids are not secret (they are checked never to hold a key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyId {
    vendor: String,
    base_url: String,
    pub id: String,
}

impl KeyId {
    pub fn new(target: &Target, id: &str) -> Self {
        KeyId {
            vendor: target.vendor.name().to_owned(),
            base_url: short_hash(target.base_url.as_str()),
            id: id.to_owned(),
        }
    }

    pub fn label(&self) -> String {
        format!("{KEY_ID_LABEL_PREFIX}{}.{}.{}", self.vendor, self.base_url, self.id)
    }

    /// Whether `label` records a key id.
    pub fn is_label(label: &str) -> bool {
        label.starts_with(KEY_ID_LABEL_PREFIX)
    }

    /// The key ids among a version's labels that read (normally one).
    pub fn from_labels<'a>(labels: impl IntoIterator<Item = &'a String>) -> Vec<KeyId> {
        labels
            .into_iter()
            .filter_map(|label| label.strip_prefix(KEY_ID_LABEL_PREFIX))
            .filter_map(|record| {
                let mut parts = record.splitn(3, '.');
                let (vendor, base_url, id) = (parts.next()?, parts.next()?, parts.next()?);
                // A label written by hand is checked as an id the vendor gave: it goes into a path.
                crate::vendors::is_readable_key_id(id, ["", ""]).then(|| KeyId {
                    vendor: vendor.into(),
                    base_url: base_url.into(),
                    id: id.into(),
                })
            })
            .collect()
    }

    /// Whether the key was issued by `target`'s vendor at its base URL.
    pub fn issued_by(&self, target: &Target) -> bool {
        self.vendor == target.vendor.name() && self.base_url == short_hash(target.base_url.as_str())
    }
}

fn short_hash(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes())[..6].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::super::tests::tags;
    use super::super::{TAG_BASE_URL, TAG_KEY_FIELD, TAG_VENDOR};
    use super::*;

    #[test]
    fn the_issued_record_names_the_tag_that_changed() {
        let settings = Settings::from_lookup(|_| None).unwrap();
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
            let problem = issued.still_named(&changed, &settings).unwrap_err().to_string();
            assert!(problem.starts_with(tag) && problem.contains("Nothing was sent"), "{problem}");
        }
        assert!(Issued::from_labels([&"ROTATION_TARGET.calcom.x".to_owned()]).is_err());
        assert!(Issued::from_labels([&label, &"ROTATION_TARGET.ringg.a.b".to_owned()]).is_err());
        assert_eq!(Issued::from_labels([&"AWSCURRENT".to_owned()]), Ok(None));
        // The vendor first, even when the base-URL tag no longer fits the new vendor.
        let moved = tags(&[(TAG_VENDOR, "ringg"), (TAG_BASE_URL, "https://api.cal.eu")]);
        assert!(issued.still_named(&moved, &settings).unwrap_err().to_string().starts_with(TAG_VENDOR));
    }
}
