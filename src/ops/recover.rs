//! `recover`: after a `KeyLost`, stores a key issued by hand. The key is verified with the vendor
//! first and refused if the vendor refuses it; then it becomes a new AWSCURRENT version with every
//! other field of the current value kept in place, and no version is left carrying AWSPENDING.
//! A pending version whose key the vendor still accepts is never cleared here: that is `repair`'s.

use super::{ClearError, EnvProblem, Found, Operator, Pending, StoreProblem};
use crate::config::{ConfigError, Issued, Promote, Settings, Target, key_field_from_tags};
use crate::function::FunctionReader;
use crate::notify::{Cause, KeyRotated, Notifier};
use crate::secret::{NotAKey, ValueError, check_bare, check_key};
use crate::sensitive::Sensitive;
use crate::store::dated::date_move;
use crate::store::{AWSPENDING, Fingerprint, OperatorStore, StoreError, fingerprint};
use crate::vendors::{VendorApi, Verdict, VerifyPolicy};

/// Said with every refusal that comes before any vendor call.
const NOTHING_DONE: &str = "Nothing was sent to the vendor and nothing was written.";

/// Why recover wrote nothing, or (`NotStored`) may not have.
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    #[error("{what} is longer than {MAX_KEY_LEN} bytes, far longer than an API key. {NOTHING_DONE}", what = KEY_READ)]
    TooLong,

    #[error("{0}; paste the key alone. {NOTHING_DONE}")]
    NotAKey(NotAKey),

    #[error("the secret cannot be read: {0}. {NOTHING_DONE}")]
    SecretUnreadable(StoreProblem),

    #[error("{0}. {NOTHING_DONE}")]
    Tags(ConfigError),

    #[error("{}", .0.explained())]
    NoEnvironment(EnvProblem),

    #[error(
        "the secret has no AWSCURRENT value whose other fields could be kept; store the whole value by hand. {NOTHING_DONE}"
    )]
    NoCurrentValue,

    #[error("the AWSCURRENT value cannot be read: {0}. {NOTHING_DONE}")]
    CurrentUnreadable(StoreProblem),

    #[error(
        "the AWSCURRENT value cannot take the key in place: {0}; fix the value or the tag, or store the whole value by hand. {NOTHING_DONE}"
    )]
    CurrentNotInPlace(ValueError),

    #[error(
        "the pending version cannot be read ({0}), so whether it holds a live key is unknown. {NOTHING_DONE} Run recover again."
    )]
    PendingUnreadable(StoreProblem),

    #[error("the pending version {version} holds a key, and {problem}; then run recover again")]
    PendingNotIssuedHere { version: String, problem: ConfigError },

    #[error(
        "the pending version {version} holds a value that does not read with the tags ({problem}), so whether it holds a live key is unknown. Fix the tags, or check it and clear it by hand. {NOTHING_DONE}"
    )]
    PendingNotAKey { version: String, problem: ValueError },

    #[error(
        "the pending version {version} holds a key the vendor accepts ({fingerprint}): the rotation's key is not lost. Run `api-key-rotator repair {arn}` instead. Nothing was written."
    )]
    PendingLive { version: String, fingerprint: String, arn: String },

    #[error(
        "the pending version {version} holds a key, and the vendor gave no verdict on it ({verdict}), so it may be live. Nothing was written; run recover again"
    )]
    PendingNoVerdict { version: String, verdict: Verdict },

    #[error(
        "{vendor} refuses this key ({fingerprint}, HTTP {status}). Nothing was written: check that you copied the whole key, for this secret's account"
    )]
    Refused { vendor: &'static str, fingerprint: String, status: u16 },

    #[error("no verdict from {vendor} on this key ({verdict}). Nothing was written; run recover again")]
    NoVerdict { vendor: &'static str, verdict: Verdict },

    #[error(
        "storing the key failed: {problem}. It may or may not have landed: run `api-key-rotator status {arn}` and compare the current fingerprint with {fingerprint}; if they differ, run recover again with the same key"
    )]
    NotStored { problem: StoreProblem, arn: String, fingerprint: String },
}

/// The records of issue among a version's labels.
fn records_on(labels: &[String]) -> Vec<&String> {
    labels.iter().filter(|label| Issued::is_record(label)).collect()
}

/// What the key recover stores is called in its errors.
const KEY_READ: &str = "the key read from standard input";

/// Far longer than any of the vendors' keys (36 to 41 characters).
const MAX_KEY_LEN: usize = 1024;

/// How a recovery ended, once the key was accepted.
#[derive(Debug)]
pub struct Recovered {
    pub fingerprint: String,
    /// The new AWSCURRENT version; `None` when AWSCURRENT already held the key (nothing stored).
    pub stored: Option<String>,
    /// The version that was AWSCURRENT before (now AWSPREVIOUS), when the key was stored.
    pub previous: Option<String>,
    /// Versions AWSPENDING was removed from.
    pub cleared: Vec<String>,
    /// What went wrong after the key was stored (or found stored).
    pub problems: Vec<String>,
    /// The environment the key was judged and sent in (`function ARN` or `shell`).
    pub environment: String,
}

impl<S: OperatorStore, V: VendorApi, F: FunctionReader, N: Notifier> Operator<S, V, F, N> {
    /// `Err` says why nothing was written.
    pub async fn recover(&self, secret_id: &str, key: &Sensitive) -> Result<Recovered, RecoverError> {
        if key.expose().len() > MAX_KEY_LEN {
            return Err(RecoverError::TooLong);
        }
        check_key(key.expose(), KEY_READ)
            .and_then(|()| check_bare(key.expose(), KEY_READ))
            .map_err(RecoverError::NotAKey)?;
        let found = self.find(secret_id).await.map_err(|e| RecoverError::SecretUnreadable(e.into()))?;
        let meta = &found.meta;
        let env = found.env.as_ref().map_err(|problem| RecoverError::NoEnvironment(problem.clone()))?;
        let target = Target::from_tags(&meta.tags, &env.settings).map_err(RecoverError::Tags)?;
        let current = match &found.current {
            Ok(Some(current)) => current,
            Ok(None) => return Err(RecoverError::NoCurrentValue),
            Err(e) => return Err(RecoverError::CurrentUnreadable(e.clone().into())),
        };
        let current_value = current.key(&meta.tags).map_err(RecoverError::CurrentNotInPlace)?;
        let clearable = self.clearable(&found, &env.settings, &target, key).await?;
        let fingerprint = key.fingerprint();
        let vendor = target.vendor.name();
        match self.verify(&target, key, VerifyPolicy::Test).await {
            Verdict::Accepted => {}
            Verdict::Refused(status) => return Err(RecoverError::Refused { vendor, fingerprint, status }),
            verdict => return Err(RecoverError::NoVerdict { vendor, verdict }),
        }
        // The key goes with the record of the target it was verified against, as createSecret's.
        let key_field = key_field_from_tags(&meta.tags).map_err(|e| RecoverError::Tags(e.into()))?;
        let record = Issued::new(&target, &key_field).label();
        let print = Fingerprint::of(key).label();
        let mut problems = Vec::new();
        // The secret as this command leaves it, for telling consumers below.
        let mut now = meta.clone();
        let stored = match current_value.key() == key {
            true => None,
            false => {
                // The key being replaced keeps its fingerprint until consumers are told: if they
                // are not, every later step and command can see it.
                if let Some(version) = found.current_version().filter(|v| meta.fingerprint_of(v).is_none()) {
                    let old = Fingerprint::of(current_value.key());
                    if let Err(e) = fingerprint::record_in(&self.store, &mut now, version, &old).await {
                        problems.push(format!(
                            "the fingerprint of the key being replaced could not be recorded on version {version} ({}): if consumers are not told below, nothing will show it later",
                            StoreProblem(e)
                        ));
                    }
                }
                let value = current_value.with_key(key);
                let not_stored = |e: StoreError| RecoverError::NotStored {
                    problem: e.into(),
                    arn: meta.arn.clone(),
                    fingerprint: fingerprint.clone(),
                };
                match self.store.put_current(&meta.arn, &value, &[&record, &print]).await {
                    Ok(version) => Some(version),
                    // A refusal no retry fixes (the label quota, an IAM condition on the stages):
                    // the key goes in without its record, and that is said.
                    Err(refused) if !refused.transient => {
                        let version =
                            self.store.put_current(&meta.arn, &value, &[]).await.map_err(not_stored)?;
                        problems.push(format!(
                            "the key is stored without the record of where it was issued ({record}) and its fingerprint: {}; until they are added, where the key belongs is read from today's tags",
                            StoreProblem(refused)
                        ));
                        Some(version)
                    }
                    Err(e) => return Err(not_stored(e)),
                }
            }
        };
        let previous = stored.as_ref().and(found.current_version().map(str::to_owned));
        match (&stored, found.current_version()) {
            // AWSCURRENT moved: dated at a create-then-revoke vendor (the grace of the key it
            // replaced counts from now), and consumers are told, as after a rotation.
            (Some(version), current) => {
                if target.vendor.overlap().is_some()
                    && let Err(e) = date_move(&self.store, &now, version, current).await
                {
                    problems.push(format!(
                        "the move could not be dated ({}): the next rotation starts the previous key's grace when it runs",
                        StoreProblem(e)
                    ));
                }
                let promote = Promote::from_tags(&meta.tags, &env.settings).unwrap_or(Promote::Standard);
                let event = KeyRotated {
                    secret_arn: meta.arn.clone(),
                    secret_name: meta.name.clone(),
                    vendor: vendor.to_owned(),
                    version_id: version.clone(),
                    key_fingerprint: Some(fingerprint.clone()),
                    promote: promote.as_str(),
                    dead_since: None,
                    cause: Cause::Recover,
                    mode: env.settings.mode_of(vendor).as_str(),
                };
                problems.extend(self.tell(&now, event).await.err());
            }
            // The key was already in AWSCURRENT: nothing moved, but its record is written, in
            // place of one naming another target (two would disagree, and stop every rotation).
            (None, Some(current)) if records_on(meta.labels(current)) != [&record] => {
                let mut removed = true;
                for other in records_on(meta.labels(current)).into_iter().filter(|label| **label != record) {
                    if let Err(e) = self.store.remove_stage(&meta.arn, other, current).await {
                        removed = false;
                        problems.push(format!(
                            "the record {other} on version {current} could not be removed ({}): run recover again",
                            StoreProblem(e)
                        ));
                    }
                }
                // Never two records on one version: they would disagree, and stop every rotation.
                if removed && !meta.labels(current).contains(&record) {
                    let holder = meta.version_with(&record);
                    if let Err(e) = self.store.move_label(&meta.arn, &record, current, holder).await {
                        problems.push(format!(
                            "the record of where the key was issued ({record}) could not be put on version {current}: {}",
                            StoreProblem(e)
                        ));
                    }
                }
            }
            (None, _) => {}
        }
        let (cleared, clear_problems) = self.clear_after(&found, clearable).await;
        problems.extend(clear_problems);
        let environment = env.source.to_string();
        Ok(Recovered { fingerprint, stored, previous, cleared, problems, environment })
    }

    /// The pending version recover may clear once the key is stored. A rotation's key that the
    /// vendor still accepts is not lost: that is for `repair`, and recover stops here. So does a
    /// pending version that cannot be read, or whose value does not read with the tags: whether it
    /// holds a live key is unknown. `Err` says why nothing was written.
    async fn clearable(
        &self,
        found: &Found,
        settings: &Settings,
        target: &Target,
        key: &Sensitive,
    ) -> Result<Option<String>, RecoverError> {
        let meta = &found.meta;
        match &found.pending {
            Ok(Pending::None) => Ok(None),
            Ok(Pending::Empty(version)) => Ok(Some(version.clone())),
            Err(e) => Err(RecoverError::PendingUnreadable(e.clone().into())),
            Ok(Pending::Stored(version, value)) => {
                // Its key goes only where it was issued (createSecret recorded it on the version).
                Issued::check(meta.labels(version), &meta.tags, settings).map_err(|problem| {
                    RecoverError::PendingNotIssuedHere { version: version.clone(), problem }
                })?;
                let pending = value
                    .key(&meta.tags)
                    .map_err(|problem| RecoverError::PendingNotAKey { version: version.clone(), problem })?;
                if pending.key() == key {
                    return Ok(Some(version.clone()));
                }
                // Refusals are retried, as for a key that may still be propagating.
                match self.verify(target, pending.key(), VerifyPolicy::Test).await {
                    Verdict::Refused(_) => Ok(Some(version.clone())),
                    Verdict::Accepted => Err(RecoverError::PendingLive {
                        version: version.clone(),
                        fingerprint: pending.key().fingerprint(),
                        arn: meta.arn.clone(),
                    }),
                    verdict => Err(RecoverError::PendingNoVerdict { version: version.clone(), verdict }),
                }
            }
        }
    }

    /// Takes AWSPENDING off the version found pending (`clearable`), or off the old AWSCURRENT
    /// version it rode along on (that key stays AWSPREVIOUS). A version that took the label since
    /// the secret was read is left alone: a rotation ran meanwhile.
    async fn clear_after(&self, found: &Found, clearable: Option<String>) -> (Vec<String>, Vec<String>) {
        let arn = &found.meta.arn;
        let (mut cleared, mut problems) = (Vec::new(), Vec::new());
        let after = match self.store.describe(arn).await {
            Ok(after) => after,
            Err(e) => {
                problems.push(format!(
                    "the secret could not be read again to clear AWSPENDING: {}; run `api-key-rotator status {arn}`",
                    StoreProblem(e)
                ));
                return (cleared, problems);
            }
        };
        let Some(stale) = after.pending_version() else {
            return (cleared, problems);
        };
        let result = if clearable.as_deref() == Some(stale) && matches!(found.pending, Ok(Pending::Empty(_)))
        {
            self.clear_placeholder(arn, stale).await
        } else if clearable.as_deref() == Some(stale) || found.current_version() == Some(stale) {
            self.store.remove_stage(arn, AWSPENDING, stale).await.map_err(|e| ClearError::Store(e.into()))
        } else {
            Err(ClearError::TookTheLabel { version: stale.to_owned() })
        };
        match result {
            Ok(()) => cleared.push(stale.to_owned()),
            Err(problem) => problems.push(format!("{problem}. Run `api-key-rotator repair {arn}`")),
        }
        (cleared, problems)
    }
}
