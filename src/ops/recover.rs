//! `recover`: after a `KeyLost`, stores a key issued by hand. The key is verified with the vendor
//! first and refused if the vendor refuses it; then it becomes a new AWSCURRENT version with every
//! other field of the current value kept in place, and no version is left carrying AWSPENDING.
//! A pending version whose key the vendor still accepts is never cleared here: that is `repair`'s.

use super::{Found, Operator, Pending, key_in, store_problem};
use crate::config::{Issued, Target};
use crate::secret::{check_bare, check_key};
use crate::sensitive::Sensitive;
use crate::store::{AWSPENDING, OperatorStore};
use crate::vendors::{VendorApi, Verdict, VerifyPolicy};

/// Said with every refusal that comes before any vendor call.
const NOTHING_DONE: &str = "Nothing was sent to the vendor and nothing was written.";

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
}

impl<S: OperatorStore, V: VendorApi> Operator<S, V> {
    /// `Err` says why nothing was written.
    pub async fn recover(&self, secret_id: &str, key: &Sensitive) -> Result<Recovered, String> {
        let what = "the key read from standard input";
        if key.expose().len() > MAX_KEY_LEN {
            return Err(format!(
                "{what} is longer than {MAX_KEY_LEN} bytes, far longer than an API key. {NOTHING_DONE}"
            ));
        }
        check_key(key.expose(), what)
            .and_then(|()| check_bare(key.expose(), what))
            .map_err(|p| format!("{p}; paste the key alone. {NOTHING_DONE}"))?;
        let found = self
            .find(secret_id)
            .await
            .map_err(|e| format!("the secret cannot be read: {}. {NOTHING_DONE}", store_problem(&e)))?;
        let meta = &found.meta;
        let target =
            Target::from_tags(&meta.tags, &self.settings).map_err(|p| format!("{p}. {NOTHING_DONE}"))?;
        let current = match &found.current {
            Ok(Some(current)) => current,
            Ok(None) => {
                return Err(format!(
                    "the secret has no AWSCURRENT value whose other fields could be kept; store the whole value by hand. {NOTHING_DONE}"
                ));
            }
            Err(e) => {
                return Err(format!(
                    "the AWSCURRENT value cannot be read: {}. {NOTHING_DONE}",
                    store_problem(e)
                ));
            }
        };
        let current_value = key_in(meta, current).map_err(|p| {
            format!("the AWSCURRENT value cannot take the key in place: {p}; fix the value or the tag, or store the whole value by hand. {NOTHING_DONE}")
        })?;
        let clearable = self.clearable(&found, &target, key).await?;
        let fingerprint = key.fingerprint();
        match self.verify(&target, key, VerifyPolicy::Test).await {
            Verdict::Accepted => {}
            Verdict::Refused(status) => {
                return Err(format!(
                    "{} refuses this key ({fingerprint}, HTTP {status}). Nothing was written: check that you copied the whole key, for this secret's account",
                    target.vendor.name()
                ));
            }
            verdict => {
                return Err(format!(
                    "no verdict from {} on this key ({verdict}). Nothing was written; run recover again",
                    target.vendor.name()
                ));
            }
        }
        let stored = match current_value.key() == key {
            true => None,
            false => Some(self.store.put_current(&meta.arn, &current_value.with_key(key)).await.map_err(|e| {
                format!(
                    "storing the key failed: {}. It may or may not have landed: run `api-key-rotator status {}` and compare the current fingerprint with {fingerprint}; if they differ, run recover again with the same key",
                    store_problem(&e),
                    meta.arn
                )
            })?),
        };
        let previous = stored.as_ref().and(found.current_version().map(str::to_owned));
        let (cleared, problems) = self.clear_after(&found, clearable).await;
        Ok(Recovered { fingerprint, stored, previous, cleared, problems })
    }

    /// The pending version recover may clear once the key is stored. A rotation's key that the
    /// vendor still accepts is not lost: that is for `repair`, and recover stops here. So does a
    /// pending version that cannot be read, or whose value does not read with the tags: whether it
    /// holds a live key is unknown. `Err` says why nothing was written.
    async fn clearable(
        &self,
        found: &Found,
        target: &Target,
        key: &Sensitive,
    ) -> Result<Option<String>, String> {
        let arn = &found.meta.arn;
        let repair = format!("Run `api-key-rotator repair {arn}` instead. Nothing was written.");
        match &found.pending {
            Ok(Pending::None) => Ok(None),
            Ok(Pending::Empty(version)) => Ok(Some(version.clone())),
            Err(e) => Err(format!(
                "the pending version cannot be read ({}), so whether it holds a live key is unknown. {NOTHING_DONE} Run recover again.",
                store_problem(e)
            )),
            Ok(Pending::Stored(version, value)) => {
                // Its key goes only where it was issued (createSecret recorded it on the version).
                Issued::check(found.meta.labels(version), &found.meta.tags, &self.settings).map_err(
                    |problem| {
                        format!(
                            "the pending version {version} holds a key, and {problem}; then run recover again"
                        )
                    },
                )?;
                let pending = key_in(&found.meta, value).map_err(|p| {
                    format!("the pending version {version} holds a value that does not read with the tags ({p}), so whether it holds a live key is unknown. Fix the tags, or check it and clear it by hand. {NOTHING_DONE}")
                })?;
                if pending.key() == key {
                    return Ok(Some(version.clone()));
                }
                // Refusals are retried, as for a key that may still be propagating.
                match self.verify(target, pending.key(), VerifyPolicy::Test).await {
                    Verdict::Refused(_) => Ok(Some(version.clone())),
                    Verdict::Accepted => Err(format!(
                        "the pending version {version} holds a key the vendor accepts ({}): the rotation's key is not lost. {repair}",
                        pending.key().fingerprint()
                    )),
                    verdict => Err(format!(
                        "the pending version {version} holds a key, and the vendor gave no verdict on it ({verdict}), so it may be live. Nothing was written; run recover again"
                    )),
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
                    store_problem(&e)
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
            self.store.remove_stage(arn, AWSPENDING, stale).await.map_err(|e| store_problem(&e))
        } else {
            Err(format!(
                "version {stale} took AWSPENDING after the secret was read: a rotation ran meanwhile"
            ))
        };
        match result {
            Ok(()) => cleared.push(stale.to_owned()),
            Err(problem) => problems.push(format!("{problem}. Run `api-key-rotator repair {arn}`")),
        }
        (cleared, problems)
    }
}
