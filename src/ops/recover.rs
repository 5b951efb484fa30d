//! `recover`: after a `KeyLost`, stores a key issued by hand. The key is verified with the vendor
//! first and refused if the vendor refuses it; then it becomes a new AWSCURRENT version with every
//! other field of the current value kept in place, and no version is left carrying AWSPENDING.

use super::{Operator, key_in, store_problem};
use crate::config::Target;
use crate::secret::{check_bare, check_key};
use crate::sensitive::Sensitive;
use crate::store::{AWSPENDING, OperatorStore};
use crate::vendor::{VendorApi, Verdict};

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
        let budget = self.settings.timing.test_budget;
        match self.verify(&target, key, budget, true).await {
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
