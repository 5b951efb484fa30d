//! The fingerprint of the key a version holds, kept on the version as a staging label
//! (`ROTATION_FINGERPRINT.<12 hex>`, or `ROTATION_FINGERPRINT.<12 hex>.<Unix ms>` when createSecret
//! wrote it with a key the vendor issued, the milliseconds being when the vendor answered).
//!
//! It is the fleet's index and the record of what consumers were told:
//! * ListSecrets and DescribeSecret show every version's labels, so another secret's rotation
//!   compares its key with this one's without reading a value (the shared-key search);
//! * createSecret writes it with the new key, in the same PutSecretValue, so it costs no call, and
//!   setSecret and finishSecret know from it that the pending version holds a key, and which;
//! * after a move of AWSCURRENT, the version the move replaced (AWSPREVIOUS) keeps its fingerprint
//!   until consumers are told of the move: the step that puts the `Vendor Key Rotated` event then
//!   takes it off. AWSPREVIOUS carrying one is a move nobody heard of.
//!
//! The fingerprint is [`Sensitive::fingerprint`]'s: 48 bits of the key's SHA-256, which no one can
//! turn back into a key, already in every log line that names a key.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{AWSCURRENT, AWSPENDING, AWSPREVIOUS, SecretMeta, SecretStore, StoreError};
use crate::sensitive::Sensitive;

/// The prefix of the label.
pub const ROTATION_FINGERPRINT: &str = "ROTATION_FINGERPRINT.";

/// What a version's fingerprint label says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    /// 12 lower-case hex digits.
    hex: String,
    /// When the vendor answered with the key: only createSecret writes it, and only then is the
    /// key one the vendor issued to this secret.
    issued_ms: Option<u64>,
}

impl Fingerprint {
    /// The fingerprint of `key`, as `check`, `recover` and the first rotation of a key record it.
    pub fn of(key: &Sensitive) -> Self {
        let hex = key.fingerprint().trim_start_matches("sha256:").to_owned();
        Fingerprint { hex, issued_ms: None }
    }

    /// The fingerprint of a key the vendor issued at `answered` (createSecret).
    pub fn issued(key: &Sensitive, answered: SystemTime) -> Self {
        let ms = answered.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
        Fingerprint { issued_ms: u64::try_from(ms).ok(), ..Fingerprint::of(key) }
    }

    pub fn label(&self) -> String {
        match self.issued_ms {
            Some(ms) => format!("{ROTATION_FINGERPRINT}{}.{ms}", self.hex),
            None => format!("{ROTATION_FINGERPRINT}{}", self.hex),
        }
    }

    /// The label read back; `None` for any other label, or one that does not read.
    pub fn from_label(label: &str) -> Option<Self> {
        let rest = label.strip_prefix(ROTATION_FINGERPRINT)?;
        let (hex, ms) = match rest.split_once('.') {
            Some((hex, ms)) => (hex, Some(ms.parse::<u64>().ok()?)),
            None => (rest, None),
        };
        let hex_digits =
            hex.len() == 12 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        hex_digits.then(|| Fingerprint { hex: hex.to_owned(), issued_ms: ms })
    }

    /// As logs and events name a key: `sha256:` and the 12 hex digits.
    pub fn fingerprint(&self) -> String {
        format!("sha256:{}", self.hex)
    }

    /// Whether this is the fingerprint of `key`.
    pub fn is_of(&self, key: &Sensitive) -> bool {
        Fingerprint::of(key).hex == self.hex
    }

    /// When the vendor issued the key, when createSecret recorded it.
    pub fn issued_at(&self) -> Option<SystemTime> {
        UNIX_EPOCH.checked_add(Duration::from_millis(self.issued_ms?))
    }
}

impl SecretMeta {
    /// The fingerprint recorded on `version`, if one reads (the first, should there be several).
    pub fn fingerprint_of(&self, version: &str) -> Option<Fingerprint> {
        self.labels(version).iter().find_map(|label| Fingerprint::from_label(label))
    }

    /// The version AWSCURRENT labels, when consumers were not told it moved there: the version it
    /// replaced (AWSPREVIOUS) still carries its fingerprint, which the step that tells consumers
    /// takes off. (Whatever AWSCURRENT's own carries: a key stored without its labels, or a value
    /// put by hand, moved AWSCURRENT just the same.)
    pub fn untold(&self) -> Option<&str> {
        let current = self.version_with(AWSCURRENT)?;
        let previous = self.version_with(AWSPREVIOUS).filter(|previous| *previous != current)?;
        self.fingerprint_of(previous).is_some().then_some(current)
    }

    /// This view of the secret after [`record`] recorded `print` on `version`.
    pub fn record_fingerprint(&mut self, version: &str, print: &Fingerprint) {
        let label = print.label();
        for labels in self.versions.values_mut() {
            labels.retain(|held| *held != label);
        }
        self.versions.entry(version.to_owned()).or_default().push(label);
    }

    /// This view of the secret after [`clear_beside`] took the fingerprints beside `told` off.
    pub fn clear_fingerprints_beside(&mut self, told: &str) {
        let cleared: Vec<(String, String)> = self
            .fingerprints_beside(told)
            .into_iter()
            .map(|(version, label)| (version.to_owned(), label.to_owned()))
            .collect();
        for (version, label) in cleared {
            if let Some(labels) = self.versions.get_mut(&version) {
                labels.retain(|l| *l != label);
            }
        }
    }

    /// The fingerprint labels that tell nothing once consumers were told AWSCURRENT moved to
    /// `told`: those on every other version but a rotation's pending one (AWSPENDING, not
    /// AWSPREVIOUS: a pending label a move by hand left on a replaced version is no rotation).
    pub fn fingerprints_beside(&self, told: &str) -> Vec<(&str, &str)> {
        let pending =
            |version: &str| self.has_stage(version, AWSPENDING) && !self.has_stage(version, AWSPREVIOUS);
        let prints = self.labels_with_prefix(ROTATION_FINGERPRINT);
        prints.filter(|(version, _)| *version != told && !pending(version)).collect()
    }
}

/// Records `print` on `version` (a version whose key was read, AWSCURRENT before a rotation
/// replaces it, or a rotation's pending version stored without it), and nothing else: the
/// fingerprints beside it stay, for the one on AWSPREVIOUS says consumers were not told of the
/// last move. `Err`: the label was not written (then `version` is not indexed).
pub async fn record<S: SecretStore>(
    store: &S,
    meta: &SecretMeta,
    version: &str,
    print: &Fingerprint,
) -> Result<(), StoreError> {
    let label = print.label();
    // Another version may hold the same key, and with it the label (a label is on one version).
    let holder = meta.labels_with_prefix(&label).find(|(_, l)| *l == label).map(|(v, _)| v);
    store.move_label(&meta.arn, &label, version, holder.filter(|holder| *holder != version)).await
}

/// [`record`], on the secret as `now` shows it; then `now` shows the label too.
pub async fn record_in<S: SecretStore>(
    store: &S,
    now: &mut SecretMeta,
    version: &str,
    print: &Fingerprint,
) -> Result<(), StoreError> {
    record(store, now, version, print).await?;
    now.record_fingerprint(version, print);
    Ok(())
}

/// Once consumers were told AWSCURRENT moved to `told`: takes the fingerprints beside it off (the
/// version the move replaced keeps its own until then). Each failure is returned: a fingerprint
/// left there makes a later step tell consumers again, never lose a move.
pub async fn clear_beside<S: SecretStore>(store: &S, meta: &SecretMeta, told: &str) -> Vec<StoreError> {
    let mut failures = Vec::new();
    for (on, label) in meta.fingerprints_beside(told) {
        if let Err(error) = store.remove_label(&meta.arn, label, on).await {
            failures.push(error);
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn a_label_reads_back_and_holds_no_key() {
        let key = Sensitive::new("cal_live_0123456789abcdef0123456789abcdef");
        let at = UNIX_EPOCH + Duration::from_millis(1_765_000_000_123);
        let issued = Fingerprint::issued(&key, at);
        let label = issued.label();
        assert_eq!(label, format!("ROTATION_FINGERPRINT.{}.1765000000123", &key.fingerprint()[7..]));
        assert!(!label.contains(key.expose()) && label.len() < 256);
        assert_eq!(Fingerprint::from_label(&label), Some(issued.clone()));
        assert_eq!((issued.issued_at(), issued.fingerprint()), (Some(at), key.fingerprint()));
        assert!(issued.is_of(&key) && !issued.is_of(&Sensitive::new("other")));
        let plain = Fingerprint::of(&key);
        assert_eq!(Fingerprint::from_label(&plain.label()), Some(plain.clone()));
        assert_eq!(plain.issued_at(), None);
        for label in [
            "ROTATION_FINGERPRINT.",
            "ROTATION_FINGERPRINT.0123456789AB",
            "ROTATION_FINGERPRINT.0123456789ab.x",
            "ROTATION_FINGERPRINT.0123456789a",
            "ROTATION_TARGET.calcom.a.b",
            "AWSCURRENT",
        ] {
            assert_eq!(Fingerprint::from_label(label), None, "{label}");
        }
    }

    #[test]
    fn a_move_is_untold_while_the_replaced_version_keeps_its_fingerprint() {
        let print = |key: &str| Fingerprint::of(&Sensitive::new(key)).label();
        let meta = |versions: &[(&str, &[String])]| SecretMeta {
            versions: versions
                .iter()
                .map(|(v, labels)| (v.to_string(), labels.to_vec()))
                .collect::<HashMap<_, _>>(),
            ..SecretMeta::default()
        };
        let moved = meta(&[
            ("v1", &["AWSPREVIOUS".into(), print("k1")]),
            ("v2", &["AWSCURRENT".into(), "AWSPENDING".into(), print("k2")]),
            ("v0", &[print("k0")]),
        ]);
        assert_eq!(moved.untold(), Some("v2"));
        let mut beside = moved.fingerprints_beside("v2");
        beside.sort();
        assert_eq!(beside, [("v0", print("k0").as_str()), ("v1", print("k1").as_str())]);
        let told = meta(&[("v1", &["AWSPREVIOUS".into()]), ("v2", &["AWSCURRENT".into(), print("k2")])]);
        assert_eq!(told.untold(), None);
        // Mid-rotation: the pending key keeps its fingerprint, and nothing is untold.
        let rotating = meta(&[
            ("v1", &["AWSPREVIOUS".into()]),
            ("v2", &["AWSCURRENT".into(), print("k2")]),
            ("v3", &["AWSPENDING".into(), print("k3")]),
        ]);
        assert_eq!((rotating.untold(), rotating.fingerprints_beside("v2")), (None, vec![]));
        // A move onto a version without one (a key stored without its labels, a value put by
        // hand): consumers were not told of it either.
        let by_hand = meta(&[("v1", &["AWSPREVIOUS".into(), print("k1")]), ("v2", &["AWSCURRENT".into()])]);
        assert_eq!(by_hand.untold(), Some("v2"));
    }
}
