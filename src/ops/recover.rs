//! `recover`: after a `KeyLost`, stores a key issued by hand. The key is verified with the vendor
//! first and refused if the vendor refuses it; then it becomes a new AWSCURRENT version with every
//! other field of the current value kept in place, and no version is left carrying AWSPENDING.
//! A pending version whose key the vendor still accepts is never cleared here: that is `repair`'s.

use super::{Operator, Pending, key_in, store_problem};
use crate::config::Target;
use crate::secret::{check_bare, check_key};
use crate::sensitive::Sensitive;
use crate::store::{AWSPENDING, OperatorStore};
use crate::vendor::{VendorApi, Verdict};

/// Far longer than any of the vendors' keys (36 to 41 characters).
const MAX_KEY_LEN: usize = 1024;

/// How a recovery ended, once the key was accepted.
#[derive(Debug)]
pub enum Recovered {
    /// The key is in a new AWSCURRENT version. `problems`: what went wrong after it was stored.
    Stored {
        version: String,
        fingerprint: String,
        /// The version that was AWSCURRENT before (now AWSPREVIOUS).
        previous: Option<String>,
        /// Versions AWSPENDING was removed from.
        cleared: Vec<String>,
        problems: Vec<String>,
    },
    /// AWSCURRENT already holds this key: nothing was written.
    AlreadyCurrent { fingerprint: String },
}

impl<S: OperatorStore, V: VendorApi> Operator<S, V> {
    /// `Err` says why nothing was written.
    pub async fn recover(&self, secret_id: &str, key: &Sensitive) -> Result<Recovered, String> {
        let nothing = "Nothing was sent to the vendor and nothing was written.";
        let what = "the key read from standard input";
        if key.expose().len() > MAX_KEY_LEN {
            return Err(format!(
                "{what} is longer than {MAX_KEY_LEN} bytes, far longer than an API key. {nothing}"
            ));
        }
        check_key(key.expose(), what)
            .and_then(|()| check_bare(key.expose(), what))
            .map_err(|p| format!("{p}; paste the key alone. {nothing}"))?;
        let found = self
            .find(secret_id)
            .await
            .map_err(|e| format!("the secret cannot be read: {}. {nothing}", store_problem(&e)))?;
        let meta = &found.meta;
        let target = Target::from_tags(&meta.tags, &self.settings).map_err(|p| format!("{p}. {nothing}"))?;
        let current = match &found.current {
            Ok(Some(current)) => current,
            Ok(None) => {
                return Err(format!(
                    "the secret has no AWSCURRENT value whose other fields could be kept; store the whole value by hand. {nothing}"
                ));
            }
            Err(e) => {
                return Err(format!("the AWSCURRENT value cannot be read: {}. {nothing}", store_problem(e)));
            }
        };
        let current_value = key_in(meta, current).map_err(|p| {
            format!("the AWSCURRENT value cannot take the key in place: {p}; fix the value or the tag, or store the whole value by hand. {nothing}")
        })?;
        let fingerprint = key.fingerprint();
        let timing = &self.settings.timing;
        // Clearing AWSPENDING must not strand a live key: a rotation's stored key that the vendor
        // still accepts is for `repair`, not lost.
        if let Ok(Pending::Stored(version, pending)) = &found.pending
            && let Ok(pending) = key_in(meta, pending)
            && pending.key() != key
        {
            match self.verify(&target, pending.key(), timing.precheck_budget, false).await {
                Verdict::Refused(_) => {}
                Verdict::Accepted => {
                    return Err(format!(
                        "the pending version {version} holds a key the vendor accepts ({}): the rotation's key is not lost. Run `api-key-rotator repair {}` instead. {nothing}",
                        pending.key().fingerprint(),
                        meta.arn
                    ));
                }
                verdict => {
                    return Err(format!(
                        "the pending version {version} holds a key, and the vendor gave no verdict on it ({verdict}), so it may be live; run recover again. {nothing}"
                    ));
                }
            }
        }
        match self.verify(&target, key, timing.test_budget, true).await {
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
        if current_value.key() == key {
            return Ok(Recovered::AlreadyCurrent { fingerprint });
        }
        let version = self.store.put_current(&meta.arn, &current_value.with_key(key)).await.map_err(|e| {
            format!(
                "storing the key failed: {}. It may or may not have landed: run `api-key-rotator status {}` and compare the current fingerprint with {fingerprint}; if they differ, run recover again with the same key",
                store_problem(&e),
                meta.arn
            )
        })?;
        let (mut cleared, mut problems) = (Vec::new(), Vec::new());
        match self.store.describe(&meta.arn).await {
            Ok(after) => {
                if let Some(stale) = after.version_with(AWSPENDING).filter(|v| *v != version) {
                    match self.store.remove_stage(&meta.arn, AWSPENDING, stale).await {
                        Ok(()) => cleared.push(stale.to_owned()),
                        Err(e) => problems.push(format!(
                            "removing AWSPENDING from version {stale} failed: {}; run `api-key-rotator repair {}`",
                            store_problem(&e),
                            meta.arn
                        )),
                    }
                }
            }
            Err(e) => problems.push(format!(
                "the key is stored, but the secret could not be read again to clear AWSPENDING: {}; run `api-key-rotator status {}`",
                store_problem(&e),
                meta.arn
            )),
        }
        Ok(Recovered::Stored {
            version,
            fingerprint,
            previous: found.current_version().map(str::to_owned),
            cleared,
            problems,
        })
    }
}
