//! testSecret: read-only. It verifies the pending key with the vendor (or, when Secrets Manager
//! tests the configuration alone, the AWSCURRENT key), and sends it only where it was issued.

use tokio::time::{Instant, timeout_at};
use tracing::{info, warn};

use super::error::{ErrorKind, Problem, Rejected, State, Tested, VendorFailure};
use super::{Invocation, Observed, Outcome, Rotator};
use crate::config::{self, Issued, Target};
use crate::notify::Notifier;
use crate::secret::SecretValue;
use crate::sensitive::Sensitive;
use crate::store::{AWSCURRENT, SecretMeta, SecretStore};
use crate::timing::{before, time_left};
use crate::vendors::{VendorApi, Verdict, VerifyPolicy};

impl<S: SecretStore, V: VendorApi, N: Notifier> Rotator<S, V, N> {
    /// testSecret: read-only (Secrets Manager also calls it alone, with RotateImmediately = false,
    /// when the pending version may hold no value or a copy of the current one).
    pub(super) async fn test_secret(
        &self,
        call: Invocation<'_>,
        observed: &mut Observed,
    ) -> Result<Outcome, ErrorKind> {
        let Invocation { event, meta, deadline } = call;
        let target = Target::from_tags(&meta.tags, &self.settings).map_err(ErrorKind::config_later)?;
        let key_field = config::key_field_from_tags(&meta.tags).map_err(ErrorKind::config_later)?;
        let pending = match self.pending_value(event).await? {
            // A version createSecret stored carries its record; one without may be a copy.
            Some(pending) if self.records_issue(meta, &event.token) => Some(pending),
            Some(pending) if self.copies_current(meta, &pending).await? => None,
            pending => pending,
        };
        let (key, which) = match pending {
            Some(pending) => {
                self.still_issued(meta, meta.labels(&event.token))?;
                let value = SecretValue::parse(&pending.text, &key_field)
                    .map_err(|e| ErrorKind::config_later(Problem::PendingValue(e)))?;
                (value.key().clone(), Tested::Pending)
            }
            None => {
                info!(
                    "the pending version holds no value or a copy of AWSCURRENT (a configuration test): verifying the AWSCURRENT key instead, read-only"
                );
                let (current, current_id) = self
                    .current_value(&meta.arn, &key_field, State::NothingChanged, ErrorKind::config_later)
                    .await?;
                // The key consumers read goes only where it was issued, as a pending one does.
                let labels = Issued::labels_for_current(
                    current_id.as_deref().map_or(&[], |version| meta.labels(version)),
                    meta.pending_labels(),
                );
                self.still_issued(meta, labels)?;
                (current.key().clone(), Tested::Current)
            }
        };
        let timing = &self.settings.timing;
        let started = Instant::now();
        let until = before(deadline, timing.safety_margin);
        let verdict = self.verify_until(&target, &key, until, VerifyPolicy::Test).await;
        let promoted_early = meta.has_stage(&event.token, AWSCURRENT);
        let tested_is_current = which == Tested::Current || promoted_early;
        observed.current_key_rejected =
            self.current_key_verdict(call, &target, &key_field, &key, tested_is_current, &verdict.0).await;
        match verdict {
            (Verdict::Accepted, tries) => {
                info!(tries, key = which.as_str(), "the vendor accepts the key");
                Ok(Outcome::Done)
            }
            (Verdict::Refused(status), tries) => Err(Rejected::Tested {
                which,
                fingerprint: key.fingerprint(),
                status,
                tries,
                took: started.elapsed(),
                promoted_early,
            }
            .into()),
            (verdict, tries) => Err(VendorFailure::Unverified { which, tries, verdict }.into()),
        }
    }

    /// For testSecret's metrics record: whether the vendor refuses the key consumers read from
    /// AWSCURRENT. That is the tested key when `tested_is_current` (a test-only check, a key
    /// promoted early). When a pending key is refused, AWSCURRENT is read: if it holds the same key
    /// (a copy), that is the answer; otherwise its key is asked about once, and if the vendor refuses
    /// both, consumers are locked out. `None`: not known, or a new key accepted.
    async fn current_key_verdict(
        &self,
        call: Invocation<'_>,
        target: &Target,
        key_field: &str,
        tested: &Sensitive,
        tested_is_current: bool,
        verdict: &Verdict,
    ) -> Option<bool> {
        let Invocation { meta, deadline, .. } = call;
        let refused = match verdict {
            Verdict::Accepted => false,
            Verdict::Refused(_) => true,
            _ => return None,
        };
        if tested_is_current {
            return Some(refused);
        }
        // An accepted new key: consumers' key was not asked about (and the happy path reads nothing).
        if !refused {
            return None;
        }
        let until = before(deadline, self.settings.timing.safety_margin);
        let read = timeout_at(until, self.store.value(&meta.arn, None, Some(AWSCURRENT))).await;
        let Ok(Ok(Some(current))) = read else { return None };
        let current = SecretValue::parse(&current.text, key_field).ok()?.key().clone();
        if current == *tested {
            return Some(true);
        }
        let timeout = self.settings.timing.vendor_timeout.min(time_left(until));
        match self.vendors.verify(target.vendor, &target.base_url, &current, timeout).await {
            Verdict::Refused(_) => Some(true),
            Verdict::Accepted => Some(false),
            _ => None,
        }
    }

    /// A key goes only where it was issued: today's tags must still name the vendor, base URL and
    /// key field createSecret recorded on its version (`Config` names the tag that changed;
    /// nothing is sent and the version is kept). A version without the record (stored by an earlier
    /// release, or with its label refused) is checked against today's tags alone.
    fn still_issued<'a>(
        &self,
        meta: &SecretMeta,
        labels: impl IntoIterator<Item = &'a String>,
    ) -> Result<(), ErrorKind> {
        let recorded = Issued::check(labels, &meta.tags, &self.settings).map_err(ErrorKind::config_later)?;
        if !recorded {
            warn!("the key's version records no vendor, base URL or key field: trusting today's tags");
        }
        Ok(())
    }

    /// Whether `version` carries a record of issue (createSecret wrote it with the key).
    fn records_issue(&self, meta: &SecretMeta, version: &str) -> bool {
        matches!(Issued::from_labels(meta.labels(version)), Ok(Some(_)))
    }
}
