//! Secrets Manager as the rotation and the operator's commands see it: a secret's versions and
//! labels ([`SecretMeta`]), a value ([`Version`], [`Payload`]), and the two traits over the calls
//! they make. [`Store`] implements them over the SDK (`sdk.rs`); [`StoreError`] is what a failed
//! call says (`error.rs`); tests also run the rotation against `memory::MemoryStore`.

use std::collections::HashMap;
use std::future::Future;
use std::time::SystemTime;

use crate::schedule::{Interval, UnreadableSchedule};
use crate::secret::{SecretValue, ValueError, key_field_from_tags};
use crate::sensitive::{Sensitive, SensitiveBytes};

pub mod dated;
mod error;
pub mod fingerprint;
#[cfg(test)]
pub mod memory;
mod sdk;
pub mod shared;

pub use error::{ReadBack, StoreError, codes, is_transient};
pub use fingerprint::{Fingerprint, ROTATION_FINGERPRINT};
pub use sdk::{Store, sdk_config_loader};

pub const AWSCURRENT: &str = "AWSCURRENT";
pub const AWSPENDING: &str = "AWSPENDING";
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";
/// Secrets Manager's quota of staging labels per secret.
pub const MAX_LABELS: usize = 20;
/// The label of a version that keeps a vendor's rotate answer from which no key could be read
/// (never AWSPENDING or AWSCURRENT: it is not a key consumers could use), followed by the
/// version's id: one label per rescue, so that two rescues never take a label from each other
/// (`ROTATION_RESCUE.<version>`; a bare `ROTATION_RESCUE` from an earlier release counts too).
pub const ROTATION_RESCUE: &str = "ROTATION_RESCUE";

/// A version that keeps a rotate answer (or a key with nowhere else to go), and its label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rescue {
    pub version: String,
    pub label: String,
}

impl Rescue {
    /// The rescue stored as `version`, under a label of its own.
    pub fn new(version: &str) -> Self {
        Rescue { version: version.to_owned(), label: format!("{ROTATION_RESCUE}.{version}") }
    }

    /// What the operator does about it: read it, store a key found in it with `recover`, take the
    /// label off.
    pub fn steps(&self, secret: &str) -> String {
        let Rescue { version, label } = self;
        format!(
            "read it with `aws secretsmanager get-secret-value --secret-id {secret} --version-id {version}`; if a new key is in it, store it with `api-key-rotator recover {secret}`; then remove its label: `aws secretsmanager update-secret-version-stage --secret-id {secret} --version-stage {label} --remove-from-version-id {version}`"
        )
    }
}
/// The prefix of the label that says since when (Unix seconds) the version it rides on holds
/// AWSCURRENT, and which version it replaced, at a create-then-revoke vendor: the key it replaced
/// has been replaced since then, which is what the grace counts from
/// (`ROTATION_CURRENT_SINCE.<seconds>.<replaced version>`; see `dated.rs`).
pub const ROTATION_CURRENT_SINCE: &str = "ROTATION_CURRENT_SINCE.";
/// The prefix of the label that marks, on the AWSCURRENT version, that createSecret for the
/// version named after it is calling a create-then-revoke vendor's create, and since when: a retry
/// that finds it and no stored key knows the vendor may hold a key no one has
/// (`ROTATION_CREATING.<version>.<Unix seconds>`; see [`CreateMark`]).
pub const ROTATION_CREATING: &str = "ROTATION_CREATING.";

/// A create mark: createSecret for `rotation` called the vendor's create at about `at` (the mark
/// goes on just before it), and the mark rides on version `on`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateMark {
    pub rotation: String,
    pub at: Option<SystemTime>,
    pub label: String,
    pub on: String,
}

impl CreateMark {
    /// The mark for a create by `rotation` about to be called now, to put on `on`.
    pub fn new(rotation: &str, on: &str) -> Self {
        let seconds = SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
        let at = std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(seconds));
        let label = format!("{ROTATION_CREATING}{rotation}.{seconds}");
        CreateMark { rotation: rotation.to_owned(), at, label, on: on.to_owned() }
    }

    /// The mark `label` on `on` (a mark from before marks were dated has no time).
    fn read(label: &str, on: &str) -> Option<Self> {
        let rest = label.strip_prefix(ROTATION_CREATING)?;
        let dated = rest.rsplit_once('.').and_then(|(rotation, seconds)| {
            let at =
                std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(seconds.parse().ok()?))?;
            Some((rotation, Some(at)))
        });
        let (rotation, at) = dated.unwrap_or((rest, None));
        Some(CreateMark { rotation: rotation.to_owned(), at, label: label.to_owned(), on: on.to_owned() })
    }

    /// How the operator finds and revokes the key the create may have made, tells it from other
    /// secrets' keys, and takes the mark off.
    pub fn runbook(&self, secret: &str, vendor: &str) -> String {
        let when = match self.at.and_then(crate::timing::rfc3339) {
            Some(at) => format!("created at about {at} (the mark went on just before the create)"),
            None => "created about when that rotation ran".to_owned(),
        };
        format!(
            "At {vendor}, list the account's keys: the orphan, if the create made one, is a key {when} that no secret holds. A key a secret holds is in its AWSCURRENT, AWSPENDING or AWSPREVIOUS version (`aws secretsmanager list-secrets --filters Key=tag-value,Values={vendor}` lists the vendor's secrets with their versions' labels): by its id, when a ROTATION_KEY_ID label records it, or by its fingerprint, the first 12 hex digits of its SHA-256 (`read -rs KEY; printf %s \"$KEY\" | sha256sum | cut -c1-12`, the key never on a command line), which a ROTATION_FINGERPRINT label records on AWSCURRENT and AWSPENDING (for AWSPREVIOUS, read its value). Never revoke a key a secret holds. Revoke the orphan there (if there is no such key, the create made none); then take the mark off: `aws secretsmanager update-secret-version-stage --secret-id {secret} --version-stage {} --remove-from-version-id {}`, and rotate again.",
            self.label, self.on
        )
    }
}

/// What DescribeSecret says about a secret, reduced to what the rotation and the operator's
/// commands need.
#[derive(Clone, Debug, Default)]
pub struct SecretMeta {
    pub arn: String,
    pub name: String,
    pub rotation_enabled: bool,
    /// The rotation function's ARN, when one is set.
    pub rotation_function: Option<String>,
    pub versions: HashMap<String, Vec<String>>,
    pub tags: HashMap<String, String>,
    pub after_days: Option<i64>,
    pub schedule_expression: Option<String>,
    /// The KMS key that encrypts the secret, as DescribeSecret names it (`None`: the AWS managed
    /// key).
    pub kms_key_id: Option<String>,
    pub last_rotated: Option<SystemTime>,
    pub next_rotation: Option<SystemTime>,
    /// The regions the secret is replicated to (`ReplicationStatus`), in DescribeSecret's order.
    pub replicas: Vec<Replica>,
}

/// One replica region and how far Secrets Manager's copy of the secret has got there.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Replica {
    pub region: String,
    /// `InSync`, `InProgress` or `Failed`, as Secrets Manager spells it.
    pub status: String,
    /// Secrets Manager's `StatusMessage` (why a replica failed, say).
    pub message: Option<String>,
}

impl Replica {
    pub const IN_SYNC: &str = "InSync";
    pub const FAILED: &str = "Failed";
}

/// One region's state: `region: status`, and AWS's message in parentheses when there is one.
impl std::fmt::Display for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.region, self.status)?;
        match &self.message {
            Some(message) => write!(f, " ({message})"),
            None => Ok(()),
        }
    }
}

impl SecretMeta {
    pub fn version_with(&self, stage: &str) -> Option<&str> {
        self.versions.iter().find(|(_, stages)| stages.iter().any(|s| s == stage)).map(|(id, _)| id.as_str())
    }

    /// Every staging label on any version, once each (Secrets Manager counts these against
    /// [`MAX_LABELS`]).
    pub fn distinct_labels(&self) -> std::collections::HashSet<&str> {
        self.versions.values().flatten().map(String::as_str).collect()
    }

    /// The labels on the pending version (none when no rotation is under way).
    pub fn pending_labels(&self) -> &[String] {
        self.pending_version().map_or(&[], |version| self.labels(version))
    }

    /// The labels on `version` (none for a version that is not there).
    pub fn labels(&self, version: &str) -> &[String] {
        self.versions.get(version).map_or(&[], Vec::as_slice)
    }

    /// Every (version, label) whose label starts with `prefix`.
    pub fn labels_with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.versions.iter().flat_map(move |(version, labels)| {
            labels
                .iter()
                .filter(move |label| label.starts_with(prefix))
                .map(move |label| (version.as_str(), label.as_str()))
        })
    }

    /// Every create mark, by rotation.
    pub fn create_marks(&self) -> Vec<CreateMark> {
        let mut marks: Vec<CreateMark> = self
            .labels_with_prefix(ROTATION_CREATING)
            .filter_map(|(on, label)| CreateMark::read(label, on))
            .collect();
        marks.sort_by(|a, b| a.label.cmp(&b.label));
        marks
    }

    /// The create mark of `rotation`, if there is one.
    pub fn create_mark(&self, rotation: &str) -> Option<CreateMark> {
        self.create_marks().into_iter().find(|mark| mark.rotation == rotation)
    }

    /// Every version kept as a rescue, by version: each is seen, however many there are.
    pub fn rescues(&self) -> Vec<Rescue> {
        let rescue = |label: &str| {
            label == ROTATION_RESCUE
                || label.strip_prefix(ROTATION_RESCUE).is_some_and(|r| r.starts_with('.'))
        };
        let mut found: Vec<Rescue> = self
            .labels_with_prefix(ROTATION_RESCUE)
            .filter(|(_, label)| rescue(label))
            .map(|(version, label)| Rescue { version: version.to_owned(), label: label.to_owned() })
            .collect();
        found.sort_by(|a, b| (&a.version, &a.label).cmp(&(&b.version, &b.label)));
        found
    }

    pub fn has_stage(&self, version: &str, stage: &str) -> bool {
        self.versions.get(version).is_some_and(|stages| stages.iter().any(|s| s == stage))
    }

    /// How far apart the secret's rotations are, from its rotation rules (`Err` says why a
    /// schedule cannot be read).
    pub fn interval(&self) -> Result<Interval, UnreadableSchedule> {
        Interval::from_rules(self.after_days, self.schedule_expression.as_deref())
    }

    /// The version that carries AWSPENDING without AWSCURRENT: an unfinished rotation. (AWSPENDING
    /// on the AWSCURRENT version is one of the two states a finished rotation may leave.)
    pub fn pending_version(&self) -> Option<&str> {
        self.version_with(AWSPENDING).filter(|version| !self.has_stage(version, AWSCURRENT))
    }
}

/// What a write stores: a SecretString, or a SecretBinary (only a rescued answer that is not
/// UTF-8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    Text(Sensitive),
    Binary(SensitiveBytes),
}

impl Payload {
    pub fn len(&self) -> usize {
        match self {
            Payload::Text(text) => text.expose().len(),
            Payload::Binary(bytes) => bytes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A version's SecretString and when Secrets Manager created it.
#[derive(Clone, Debug)]
pub struct Version {
    pub id: Option<String>,
    pub text: Sensitive,
    pub created: Option<SystemTime>,
}

impl Version {
    /// The value read with the secret's `rotation:key-field` tag (from `tags`, as they are now).
    pub fn key(&self, tags: &HashMap<String, String>) -> Result<SecretValue, ValueError> {
        SecretValue::parse(&self.text, &key_field_from_tags(tags)?)
    }
}

/// The Secrets Manager calls the rotation makes. [`Store`] is the real one; tests also run the
/// rotation against an in-memory store on a paused clock.
pub trait SecretStore: Send + Sync {
    fn describe(&self, secret_id: &str) -> impl Future<Output = Result<SecretMeta, StoreError>> + Send;

    /// A version (by id, by stage, or both), or `None` when there is no such version or it has no
    /// value yet (the placeholder Secrets Manager stages before createSecret).
    fn value(
        &self,
        secret_id: &str,
        version_id: Option<&str>,
        stage: Option<&str>,
    ) -> impl Future<Output = Result<Option<Version>, StoreError>> + Send;

    /// Whether version `version_id` holds exactly `payload`; `None` when it has no value (yet).
    fn holds(
        &self,
        secret_id: &str,
        version_id: &str,
        payload: &Payload,
    ) -> impl Future<Output = Result<Option<bool>, StoreError>> + Send;

    /// One attempt at `write`, without retries of its own. A version that already holds exactly
    /// the value counts as stored (an earlier attempt landed); one with another value is a
    /// conflict.
    fn put_pending_once(
        &self,
        write: &PendingWrite<'_>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// One page of the secrets whose tag `tag_key` is `tag_value`, trailing spaces aside
    /// (ListSecrets, filtered by both: its filters match the start of a value):
    /// each as far as ListSecrets describes it (ARN, name, rotation, versions and their labels,
    /// tags), and the token of the next page, if there is one.
    fn list_page(
        &self,
        tag_key: &str,
        tag_value: &str,
        next: Option<String>,
    ) -> impl Future<Output = Result<(Vec<SecretMeta>, Option<String>), StoreError>> + Send;

    /// The AWSCURRENT SecretStrings of at most [`shared::BATCH`] secrets, in one
    /// BatchGetSecretValue call: (ARN, version read, value) for each one read; a secret with an
    /// error or a binary value is left out.
    fn values_of(
        &self,
        arns: &[String],
    ) -> impl Future<Output = Result<Vec<(String, Option<String>, Sensitive)>, StoreError>> + Send;

    /// Moves the custom label `label` onto version `to`, off `from` (the version that carries it
    /// now, if any).
    fn move_label(
        &self,
        secret_id: &str,
        label: &str,
        to: &str,
        from: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Takes the custom label `label` off `version`.
    fn remove_label(
        &self,
        secret_id: &str,
        label: &str,
        version: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Moves AWSCURRENT to `token` from `current`; Secrets Manager moves AWSPREVIOUS along.
    fn make_current(
        &self,
        secret_id: &str,
        token: &str,
        current: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The Secrets Manager calls only the operator's commands make ([`crate::ops`]).
pub trait OperatorStore: SecretStore {
    /// The ARN of every secret that has the tag `tag_key`, all pages.
    fn list_tagged(&self, tag_key: &str) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// Takes `stage` off `version`. Fails if the label is not on that version (any more).
    fn remove_stage(
        &self,
        secret_id: &str,
        stage: &str,
        version: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Puts `stage` on `version` (a stage that is on no version: AWSPENDING, once removed).
    fn add_stage(
        &self,
        secret_id: &str,
        stage: &str,
        version: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stores `value` as a new version labelled AWSCURRENT and `labels` (Secrets Manager moves
    /// AWSPREVIOUS along) and returns its id.
    fn put_current(
        &self,
        secret_id: &str,
        value: &Sensitive,
        labels: &[&str],
    ) -> impl Future<Output = Result<String, StoreError>> + Send;
}

/// A write that must not be lost: the version `token` of the secret with `stages` (a new key:
/// AWSPENDING, AWSCURRENT too when promoting early; a rescued answer: ROTATION_RESCUE alone), with
/// the event's RotationToken.
#[derive(Clone, Copy, Debug)]
pub struct PendingWrite<'a> {
    pub secret_id: &'a str,
    pub token: &'a str,
    pub value: &'a Payload,
    pub rotation_token: Option<&'a Sensitive>,
    pub stages: &'a [&'a str],
}

impl PendingWrite<'_> {
    /// Whether the write makes the version AWSCURRENT (early promotion).
    pub fn promotes(&self) -> bool {
        self.stages.contains(&AWSCURRENT)
    }

    /// Whether the write has a fallback: the plain AWSPENDING write, for a key written with more
    /// labels (AWSCURRENT, the target record) that an IAM condition or the label quota may refuse.
    pub fn has_fallback(&self) -> bool {
        self.stages.contains(&AWSPENDING) && self.stages.len() > 1
    }
}
