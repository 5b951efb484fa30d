//! Create-then-revoke vendors (a declaration with `overlap`): the rotate call makes a second key
//! and leaves the presented one live, so consumers holding it keep working; the key it replaced is
//! revoked by id at the start of the next rotation, once its grace has passed.
//!
//! What createSecret adds for them, in order:
//! * before any vendor call: a retry that finds this rotation's create mark and no stored key
//!   stops as `KeyOrphaned` (the vendor may hold a key no one has; it is never created twice); a
//!   previous key still inside its grace stops it as `Config` ("too soon");
//! * the previous key (AWSPREVIOUS's, its id recorded, issued by the same vendor and base URL) is
//!   revoked, then verified dead; a revoke that does not take stops the step (`RevokeFailed`);
//! * the first rotation binds the `rotation:key-id` tag to the AWSCURRENT version;
//! * the create mark goes on before the create, and comes off once the new key is stored or
//!   nothing was created;
//! * the new key's id is written with the key, as a [`KeyId`] label;
//! * after storing, the previous key is asked about: refused means the vendor did not keep two
//!   keys, and the new key is promoted at once.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;
use tracing::{error, info, warn};

use super::after_move::key_rotated;
use super::error::{ErrorKind, Orphaned, Problem, Rejected, State, TimedOut, VendorFailure};
use super::unclear::Probe;
use super::{Invocation, Observed, Rotator};
use crate::config::{KeyId, Promote, TAG_KEY_ID, TARGET_LABEL_PREFIX, Target};
use crate::notify::Notifier;
use crate::secret::SecretValue;
use crate::sensitive::Sensitive;
use crate::store::{
    AWSPREVIOUS, ROTATION_CREATING, ROTATION_CURRENT_SINCE, SecretMeta, SecretStore, StoreError,
};
use crate::timing::{before, later, rfc3339, time_left};
use crate::vendors::{Mode, Overlap, Revoke, VendorApi, Verdict, is_readable_key_id};

/// What a create-then-revoke rotation does besides a single-phase one, decided before any vendor
/// call.
pub(super) struct Plan {
    /// The label marking this rotation's create as under way.
    pub mark: String,
    /// The `rotation:key-id` tag's id, to bind to the AWSCURRENT version (first rotation only).
    pub bind: Option<String>,
    /// The previous key, due to be revoked.
    pub revoke: Option<Previous>,
    /// Whether a dated move is on the secret already (the new date replaces it, one for one).
    dated: bool,
}

/// The key AWSPREVIOUS holds, due to be revoked.
pub(super) struct Previous {
    version: String,
    label: String,
    key_id: String,
    key: Sensitive,
}

impl Plan {
    /// The labels the plan may add to the secret (for the label quota): the mark, the new key's
    /// id, the bound one, and the date of the move when there is none yet.
    pub fn adds(&self) -> Vec<String> {
        let new_id = format!("{}<new key's id>", crate::config::KEY_ID_LABEL_PREFIX);
        let since = format!("{ROTATION_CURRENT_SINCE}<when the new key becomes AWSCURRENT>");
        [Some(self.mark.clone()), Some(new_id), (!self.dated).then_some(since), self.bind.clone()]
            .into_iter()
            .flatten()
            .collect()
    }
}

/// What putting the create mark found.
pub(super) enum Marked {
    /// The mark is on: the create may go ahead.
    Marked,
    /// Another invocation of this rotation stored its key meanwhile: nothing to create.
    StoredElsewhere,
}

/// The label that marks a create under way for `version`.
pub(super) fn mark_label(version: &str) -> String {
    format!("{ROTATION_CREATING}{version}")
}

/// The label saying a version holds AWSCURRENT since `time`.
fn since_label(time: SystemTime) -> String {
    let seconds = time.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    format!("{ROTATION_CURRENT_SINCE}{seconds}")
}

/// Since when `version` holds AWSCURRENT, as its label says (the latest, if several).
fn current_since(meta: &SecretMeta, version: &str) -> Option<SystemTime> {
    let seconds = meta.labels(version).iter().filter_map(|label| label.strip_prefix(ROTATION_CURRENT_SINCE));
    let times = seconds
        .filter_map(|s| s.parse::<u64>().ok().and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s))));
    times.max()
}

/// Whether a rotate call that failed with `kind` provably created nothing (so the mark may go).
pub(super) fn nothing_created(kind: &ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Vendor(
            VendorFailure::RotateRefused { .. }
                | VendorFailure::RateLimited { .. }
                | VendorFailure::NothingRotated { .. }
        ) | ErrorKind::Timeout(TimedOut::NoRoomToRotate { .. })
    )
}

impl<S: SecretStore, V: VendorApi, N: Notifier> Rotator<S, V, N> {
    /// What a create-then-revoke rotation must do before its create, or why it must not start.
    /// Talks only to Secrets Manager (it may date an undated move of AWSCURRENT).
    pub(super) async fn overlap_plan(
        &self,
        call: Invocation<'_>,
        target: &Target,
        overlap: &Overlap,
        current: &SecretValue,
        current_id: Option<&str>,
    ) -> Result<Plan, ErrorKind> {
        let Invocation { event, meta, .. } = call;
        let mark = mark_label(&event.token);
        if meta.labels_with_prefix(&mark).next().is_some() {
            return Err(Orphaned::Retried {
                vendor: target.vendor.name(),
                version: event.token.clone(),
                secret: meta.arn.clone(),
                label: mark,
            }
            .into());
        }
        let current_ids =
            current_id.map_or_else(Vec::new, |version| KeyId::from_labels(meta.labels(version)));
        // The starting key's id: only before this function stored any key in the secret.
        let first = meta.labels_with_prefix(TARGET_LABEL_PREFIX).next().is_none();
        let bind = match meta.tags.get(TAG_KEY_ID).map(|id| id.trim()) {
            Some(id) if first && current_ids.is_empty() && current_id.is_some() => {
                if !is_readable_key_id(id, [current.key().expose(), ""]) {
                    return Err(ErrorKind::config(Problem::KeyIdTag));
                }
                Some(KeyId::new(target, id).label())
            }
            _ => None,
        };
        let revoke = self.previous_due(call, target, overlap, current, current_id, &current_ids).await?;
        let dated = meta.labels_with_prefix(ROTATION_CURRENT_SINCE).next().is_some();
        Ok(Plan { mark, bind, revoke, dated })
    }

    /// The key AWSPREVIOUS holds, if it is to be revoked now: its id recorded, issued by this
    /// target, held by neither AWSCURRENT nor AWSPENDING, and replaced at least `grace_seconds`
    /// ago (else "too soon").
    async fn previous_due(
        &self,
        call: Invocation<'_>,
        target: &Target,
        overlap: &Overlap,
        current: &SecretValue,
        current_id: Option<&str>,
        current_ids: &[KeyId],
    ) -> Result<Option<Previous>, ErrorKind> {
        let meta = call.meta;
        let Some(previous) = meta.version_with(AWSPREVIOUS).filter(|version| Some(*version) != current_id)
        else {
            return Ok(None);
        };
        let Some((label, key_id)) = KeyId::from_labels(meta.labels(previous))
            .into_iter()
            .find(|id| id.issued_by(target))
            .map(|id| (id.label(), id.id))
        else {
            warn!(
                version = previous,
                "the key in AWSPREVIOUS has no id recorded for this vendor and base URL, so it is not revoked: it may still be live; revoke it by hand at the vendor"
            );
            return Ok(None);
        };
        // An id AWSCURRENT or AWSPENDING holds is never revoked.
        let pending_ids = KeyId::from_labels(meta.pending_labels());
        if current_ids.iter().chain(&pending_ids).any(|held| held.id == key_id) {
            warn!(key_id, "the previous key's id is also recorded on AWSCURRENT or AWSPENDING: not revoked");
            return Ok(None);
        }
        let read = |version: String| async move { self.store.value(&meta.arn, Some(&version), None).await };
        let stored = read(previous.to_owned()).await.map_err(ErrorKind::store(State::NothingSent))?;
        let Some(key) =
            stored.and_then(|version| version.key(&meta.tags).ok()).map(|value| value.key().clone())
        else {
            warn!(key_id, "the previous version's key does not read: not revoked (revoke it by hand)");
            return Ok(None);
        };
        if key == *current.key() {
            return Ok(None);
        }
        // Replaced when AWSCURRENT moved to the version that holds it now, as finishSecret dated
        // it. A move nobody dated (by hand, repair, recover) starts the clock now: a replaced key
        // is never revoked before its grace has been seen to pass.
        let grace = Duration::from_secs(overlap.grace_seconds);
        if !grace.is_zero() {
            let since = match (current_id, current_id.and_then(|version| current_since(meta, version))) {
                (_, Some(since)) => since,
                // Undated: the clock starts now. The date must be written, or the grace could
                // never be shown to pass (counting from the version's creation would revoke a
                // key replaced by a late move at once).
                (Some(version), None) => {
                    self.start_grace(meta, version).await.map_err(ErrorKind::store(State::NothingSent))?;
                    SystemTime::now()
                }
                (None, None) => SystemTime::now(),
            };
            match since.checked_add(grace) {
                Some(until) if SystemTime::now() >= until => {}
                until => {
                    let until = until.and_then(rfc3339).unwrap_or_else(|| "a time past any clock".into());
                    let grace_seconds = overlap.grace_seconds;
                    return Err(ErrorKind::config(Problem::TooSoon { until, grace_seconds }));
                }
            }
        }
        Ok(Some(Previous { version: previous.to_owned(), label, key_id, key }))
    }

    /// Dates the move of AWSCURRENT to `version` as now. finishSecret warns when it cannot (the
    /// next rotation then starts the grace); createSecret stops, since without the date a
    /// replaced key's grace could not be shown to pass.
    pub(super) async fn start_grace(&self, meta: &SecretMeta, version: &str) -> Result<(), StoreError> {
        for (on, old) in meta.labels_with_prefix(ROTATION_CURRENT_SINCE) {
            if let Err(problem) = self.store.remove_label(&meta.arn, old, on).await {
                warn!(label = old, error = %problem, "an older date of AWSCURRENT's move could not be taken off");
            }
        }
        let label = since_label(SystemTime::now());
        self.store.move_label(&meta.arn, &label, version, None).await
    }

    /// Revokes the previous key with the current one, then asks about it until the vendor refuses
    /// it. A revoke that does not take stops the step before any new key is made. The recorded id
    /// comes off the previous version once its revoke is confirmed.
    pub(super) async fn revoke_previous(
        &self,
        call: Invocation<'_>,
        target: &Target,
        previous: &Previous,
        current: &Sensitive,
        observed: &mut Observed,
    ) -> Result<(), ErrorKind> {
        let timing = &self.settings.timing;
        let Previous { version, label, key_id, key } = previous;
        observed.revoke_failed = Some(true);
        let failed =
            |why: String| ErrorKind::from(VendorFailure::RevokeFailed { key_id: key_id.clone(), why });
        let until = before(call.deadline, timing.rotate_reserve() + timing.mark_reserve())
            .min(later(timing.revoke_budget()));
        let timeout = timing.vendor_timeout.min(time_left(until));
        match self.vendors.revoke(target.vendor, &target.base_url, current, key_id, timeout).await {
            Revoke::Done(status) => {
                info!(key_id, status, "revoked the previous key; asking the vendor whether it is dead")
            }
            Revoke::Failed(why) => return Err(failed(why)),
        }
        // The revoked key is asked about until it is refused, leaving room for one question about
        // the current key.
        let current_until = until;
        let until = before(until, timing.vendor_timeout);
        match self.ask_until_refused(target, key, until, None).await {
            Probe::Refused(_) => {
                observed.revoke_failed = Some(false);
                if let Err(problem) = self.store.remove_label(&call.meta.arn, label, version).await {
                    warn!(key_id, error = %problem, "the previous key is revoked, but its id could not be taken off its version; the next rotation revokes it again (the vendor answers 404)");
                }
                self.current_still_live(target, (current, key_id), current_until, observed).await
            }
            Probe::Accepted(_) => Err(failed("the vendor still accepts the key".into())),
            Probe::NoVerdict(why) => Err(failed(format!("no verdict on the revoked key ({why})"))),
        }
    }

    /// After a revoke: the key consumers read must still work. A refusal is a lock-out (the revoke
    /// may have killed it); no verdict stops the step before any new key is made.
    async fn current_still_live(
        &self,
        target: &Target,
        (current, key_id): (&Sensitive, &str),
        until: Instant,
        observed: &mut Observed,
    ) -> Result<(), ErrorKind> {
        let timeout = self.settings.timing.vendor_timeout.min(time_left(until));
        let key_id = key_id.to_owned();
        match self.vendors.verify(target.vendor, &target.base_url, current, timeout).await {
            Verdict::Accepted => Ok(()),
            Verdict::Refused(status) => {
                observed.current_key_rejected = Some(true);
                error!(
                    status,
                    "the vendor refuses the current key after revoking the previous one: consumers are locked out"
                );
                Err(Rejected::AfterRevoke { status, key_id }.into())
            }
            verdict => Err(VendorFailure::CurrentUnconfirmedAfterRevoke { key_id, verdict }.into()),
        }
    }

    /// Puts this rotation's create mark on `on` (the AWSCURRENT version), after reading the secret
    /// again: another invocation of this rotation may have put it since this one read it (then
    /// this one stops as `KeyOrphaned`, and never creates beside it).
    pub(super) async fn put_mark(
        &self,
        call: Invocation<'_>,
        target: &Target,
        plan: &Plan,
        on: &str,
    ) -> Result<Marked, ErrorKind> {
        let arn = &call.meta.arn;
        // The secret first, then the version: another invocation that marked before this read
        // either still shows its mark, or took it off after storing its key, which the second
        // read then finds.
        let failed = ErrorKind::store(State::NothingCreated);
        let now = self.store.describe(arn).await.map_err(failed)?;
        if now.labels_with_prefix(&plan.mark).next().is_some() {
            warn!("another invocation of this rotation marked its create meanwhile: not creating beside it");
            let (vendor, version) = (target.vendor.name(), call.event.token.clone());
            return Err(
                Orphaned::Retried { vendor, version, secret: arn.clone(), label: plan.mark.clone() }.into()
            );
        }
        let failed = ErrorKind::store(State::NothingCreated);
        if self.store.value(arn, Some(&call.event.token), None).await.map_err(failed)?.is_some() {
            info!("another invocation of this rotation has stored its key meanwhile: createSecret is done");
            return Ok(Marked::StoredElsewhere);
        }
        for label in plan.bind.iter().chain([&plan.mark]) {
            if let Err(error) = self.store.move_label(arn, label, on, None).await {
                // The write may have landed: a mark left behind would report a create that
                // never happened.
                if *label == plan.mark {
                    self.clear_mark(call, label, Some(on)).await;
                }
                return Err(ErrorKind::store(State::NothingCreated)(error));
            }
        }
        Ok(Marked::Marked)
    }

    /// Takes a create mark left by this rotation off, once its key is stored (a retry after the
    /// store): a mark is evidence of a key no one has, and this one's key is safe.
    pub(super) async fn clear_stale_mark(&self, call: Invocation<'_>) {
        let mark = mark_label(&call.event.token);
        if let Some((on, _)) = call.meta.labels_with_prefix(&mark).next() {
            self.clear_mark(call, &mark, Some(on)).await;
        }
    }

    /// Takes this rotation's create mark off (best effort: a mark left behind only makes a retry
    /// of this same rotation stop as `KeyOrphaned`).
    pub(super) async fn clear_mark(&self, call: Invocation<'_>, mark: &str, on: Option<&str>) {
        let Some(version) = on else { return };
        if let Err(problem) = self.store.remove_label(&call.meta.arn, mark, version).await {
            warn!(label = mark, error = %problem, "the create mark could not be taken off; repair --apply clears it");
        }
    }

    /// After the new key is stored: the vendor must still accept the previous key, or it did not
    /// keep two keys (a misdeclared overlap). Then consumers hold a dead key: that is a lock-out
    /// (`CurrentKeyRejected`), and the new key is promoted at once.
    pub(super) async fn previous_still_live(
        &self,
        call: Invocation<'_>,
        target: &Target,
        previous: &Sensitive,
        current_id: Option<&str>,
        (new_key, answered, answered_at): (&Sensitive, Instant, SystemTime),
        observed: &mut Observed,
    ) {
        let timing = &self.settings.timing;
        let until = before(call.deadline, timing.safety_margin + timing.notify_budget);
        let verdict = self
            .vendors
            .verify(target.vendor, &target.base_url, previous, timing.vendor_timeout.min(time_left(until)))
            .await;
        let Verdict::Refused(status) = verdict else { return };
        observed.current_key_rejected = Some(true);
        error!(
            status,
            "the vendor refuses the key consumers read after creating the new one: it did not keep two keys (is overlap declared right?); promoting the new key at once"
        );
        if let Err(problem) = self.store.make_current(&call.meta.arn, &call.event.token, current_id).await {
            error!(error = %problem, "the new key could not be promoted at once; finishSecret promotes it");
            return;
        }
        observed.dead_key_window = Some(answered.elapsed());
        let vendor = target.vendor.name().to_owned();
        let fingerprint = Some(new_key.fingerprint());
        let event = key_rotated(call, vendor, Mode::Overlap, fingerprint, Promote::Early, Some(answered_at));
        observed.notify_failed = Some(self.announce(event, call).await);
    }
}
