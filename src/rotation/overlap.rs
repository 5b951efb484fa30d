//! Create-then-revoke vendors (a declaration with `overlap`): the rotate call makes a second key
//! and leaves the presented one live, so consumers holding it keep working; the key it replaced is
//! revoked by id at the start of the next rotation, once its grace has passed.
//!
//! What createSecret adds for them, in order:
//! * before any vendor call: a retry that finds this rotation's create mark and no stored key
//!   stops as `KeyOrphaned` (the vendor may hold a key no one has; it is never created twice); a
//!   previous key still inside its grace stops it as `Config` ("too soon"), and so does a replica
//!   region that does not hold the current version (its readers may still use the previous key);
//! * the previous key (AWSPREVIOUS's, its id recorded, issued by the same vendor and base URL) is
//!   revoked, then verified dead; whatever the revoke answered, the current key is verified again
//!   (a refusal is a lock-out); a revoke that does not take stops the step (`RevokeFailed`), and
//!   one that answered success while the previous key still works pages (`WrongKeyRevoked`);
//! * the first rotation binds the `rotation:key-id` tag to the AWSCURRENT version;
//! * the create mark goes on before the create, and comes off once the new key is stored or
//!   nothing was created;
//! * the new key's id is written with the key, as a [`KeyId`] label (an id AWSCURRENT's or
//!   AWSPREVIOUS's key already has is no id: it is not recorded);
//! * after storing, the previous key is asked about: refused means the vendor did not keep two
//!   keys, and the new key is promoted at once;
//! * every move the product makes dates the version it made current (`store/dated.rs`).

use std::time::{Duration, SystemTime};

use tokio::time::Instant;
use tracing::{error, info, warn};

use super::after_move::key_rotated;
use super::create_secret::Presented;
use super::error::{ErrorKind, Orphaned, Problem, Rejected, State, TimedOut, VendorFailure};
use super::unclear::Probe;
use super::{Invocation, Observed, Rotator};
use crate::config::{KeyId, Promote, TAG_KEY_ID, TARGET_LABEL_PREFIX, Target};
use crate::notify::Notifier;
use crate::secret::SecretValue;
use crate::sensitive::Sensitive;
use crate::store::dated::date_move;
use crate::store::{AWSPREVIOUS, CreateMark, ROTATION_CURRENT_SINCE, Replica, SecretStore};
use crate::timing::{before, later, rfc3339, time_left};
use crate::vendors::{Mode, Overlap, Revoke, VendorApi, Verdict, is_readable_key_id};

/// What a create-then-revoke rotation does besides a single-phase one, decided before any vendor
/// call.
pub(super) struct Plan {
    /// The label binding the `rotation:key-id` tag's id to the AWSCURRENT version (first rotation
    /// only), unless the vendor is asked (`ask_id`).
    pub bind: Option<String>,
    /// No id is recorded for the key AWSCURRENT holds, and the vendor names a presented key's id:
    /// ask it once the current key is verified (its answer wins over a tag that agrees, and a tag
    /// that does not stops the step).
    pub ask_id: bool,
    /// The tag's id, to compare with the vendor's.
    pub tag_id: Option<String>,
    /// The previous key, due to be revoked.
    pub revoke: Option<Previous>,
    /// This rotation's create mark, with no stored key: an earlier invocation called create and
    /// stopped. Nothing is revoked or created; once the current key is verified, the step stops
    /// as `KeyOrphaned`.
    pub retried: Option<CreateMark>,
    /// Whether a dated move is on the secret already (the new date replaces it, one for one).
    dated: bool,
    /// The label the create mark will have (for the label quota).
    mark: String,
}

/// The key AWSPREVIOUS holds, due to be revoked.
pub(super) struct Previous {
    version: String,
    label: String,
    pub key_id: String,
    pub key: Sensitive,
}

impl Plan {
    /// The labels the plan may add to the secret (for the label quota): the mark, the new key's
    /// id, the bound one, and the date of the move when there is none yet.
    pub fn adds(&self) -> Vec<String> {
        let new_id = format!("{}<new key's id>", crate::config::KEY_ID_LABEL_PREFIX);
        let since = format!("{ROTATION_CURRENT_SINCE}<when the new key becomes AWSCURRENT>");
        let asked =
            format!("{}<the current key's id, as the vendor names it>", crate::config::KEY_ID_LABEL_PREFIX);
        let bind = self.bind.clone().or_else(|| self.ask_id.then_some(asked));
        [Some(self.mark.clone()), Some(new_id), (!self.dated).then_some(since), bind]
            .into_iter()
            .flatten()
            .collect()
    }
}

/// What putting the create mark found.
pub(super) enum Marked {
    /// The mark is on: the create may go ahead.
    Marked(CreateMark),
    /// Another invocation of this rotation stored its key meanwhile: nothing to create.
    StoredElsewhere,
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

/// The error for a retry that found `mark`, with no stored key, once the vendor answered
/// `confirmed` (it accepted the key consumers read just now) or gave no verdict.
pub(super) fn retried(
    call: Invocation<'_>,
    target: &Target,
    mark: &CreateMark,
    confirmed: bool,
) -> ErrorKind {
    let vendor = target.vendor.name();
    let runbook = mark.runbook(&call.meta.arn, vendor);
    Orphaned::Retried { vendor, version: call.event.token.clone(), confirmed, runbook }.into()
}

/// The error for a retry that found `mark`, with no stored key, when the vendor refuses the key
/// consumers read (`status`): the lock-out, with what the earlier create may have made.
pub(super) fn retried_refused(call: Invocation<'_>, mark: &CreateMark, status: u16) -> ErrorKind {
    let at = mark.at.and_then(rfc3339).unwrap_or_else(|| "the time that rotation ran".into());
    let (label, on, secret) = (mark.label.clone(), mark.on.clone(), call.meta.arn.clone());
    Rejected::AfterCreate { status, at, label, on, secret }.into()
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
        let mark = CreateMark::new(&event.token, current_id.unwrap_or_default()).label;
        if let Some(retried) = meta.create_mark(&event.token) {
            let (bind, revoke, dated) = (None, None, meta.dated());
            return Ok(Plan {
                bind,
                ask_id: false,
                tag_id: None,
                revoke,
                retried: Some(retried),
                dated,
                mark,
            });
        }
        let current_ids =
            current_id.map_or_else(Vec::new, |version| KeyId::from_labels(meta.labels(version)));
        // The starting key's id: only before this function stored any key in the secret.
        let first = meta.labels_with_prefix(TARGET_LABEL_PREFIX).next().is_none();
        let unknown = current_ids.is_empty() && current_id.is_some();
        let tag_id = meta.tags.get(TAG_KEY_ID).map(|id| id.trim()).filter(|_| first && unknown);
        if tag_id.is_some_and(|id| !is_readable_key_id(id, [current.key().expose(), ""])) {
            return Err(ErrorKind::config(Problem::KeyIdTag));
        }
        let bind = tag_id.map(|id| KeyId::new(target, id).label());
        let ask_id = unknown && target.vendor.names_presented_key();
        let tag_id = tag_id.map(str::to_owned);
        let revoke = self.previous_due(call, target, overlap, current, current_id, &current_ids).await?;
        Ok(Plan { bind, ask_id, tag_id, revoke, retried: None, dated: meta.dated(), mark })
    }

    /// The id the vendor names the current key by (it must be verified already).
    pub(super) async fn current_key_id(
        &self,
        target: &Target,
        current: &Sensitive,
    ) -> Result<String, ErrorKind> {
        let timeout = self.settings.timing.vendor_timeout;
        self.vendors
            .key_id(target.vendor, &target.base_url, current, timeout)
            .await
            .map_err(|why| VendorFailure::KeyIdUnread { why }.into())
    }

    /// The label binding the id the vendor names the current key by to its version, in place of
    /// the tag's (asked only once the key is verified, and only when none is recorded). A tag that
    /// names another id stops the step: one of them is wrong, and nothing is created or revoked.
    pub(super) async fn ask_current_id(
        &self,
        target: &Target,
        plan: &Plan,
        current: &Sensitive,
    ) -> Result<String, ErrorKind> {
        let id = match self.current_key_id(target, current).await {
            Ok(id) => id,
            // The tag's id, checked readable, when the vendor does not say.
            Err(failure) => match &plan.bind {
                Some(bind) => {
                    warn!(error = %failure, "the vendor did not name the current key: the rotation:key-id tag's id is bound instead");
                    return Ok(bind.clone());
                }
                None => return Err(failure),
            },
        };
        if let Some(tag) = plan.tag_id.as_ref().filter(|tag| **tag != id) {
            return Err(ErrorKind::config(Problem::KeyIdDisagrees { tag: tag.clone(), vendor: id }));
        }
        info!(key_id = id, "the vendor names the current key: its id is bound to its version");
        Ok(KeyId::new(target, &id).label())
    }

    /// The key AWSPREVIOUS holds, if it is to be revoked now: its id recorded, issued by this
    /// target, held by neither AWSCURRENT nor AWSPENDING, and replaced at least `grace_seconds`
    /// ago (else "too soon"); and only while every replica region holds the current version
    /// (else a region behind may still serve it).
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
        // Consumers never told of the move off it may still use it.
        if let Some(version) = meta.untold() {
            let (version, secret) = (version.to_owned(), meta.arn.clone());
            return Err(ErrorKind::config(Problem::NotToldYet { version, secret }));
        }
        // Replaced when AWSCURRENT moved to the version that holds it now, as the product dated
        // the move. A move nobody dated, or one the date does not describe (by hand: the version
        // it names as replaced is not AWSPREVIOUS's), starts the clock now: a replaced key is
        // never revoked before its grace has been seen to pass.
        let grace = Duration::from_secs(overlap.grace_seconds);
        if !grace.is_zero() {
            let since = match (current_id, meta.current_since()) {
                (_, Some(since)) => since,
                // The date must be written, or the grace could never be shown to pass.
                (Some(version), None) => {
                    date_move(&self.store, meta, version, Some(previous))
                        .await
                        .map_err(ErrorKind::store(State::NothingSent))?;
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
        // A replica region behind the primary may still serve the previous key to its readers.
        let behind: Vec<String> = meta
            .replicas
            .iter()
            .filter(|replica| replica.status != Replica::IN_SYNC)
            .map(Replica::to_string)
            .collect();
        if !behind.is_empty() {
            return Err(ErrorKind::config(Problem::ReplicaBehind { regions: behind }));
        }
        Ok(Some(Previous { version: previous.to_owned(), label, key_id, key }))
    }

    /// Revokes the previous key with the current one, then asks about it until the vendor refuses
    /// it; and whatever the revoke answered, asks about the current key once more (a refusal is a
    /// lock-out). A revoke that does not take stops the step before any new key is made; one the
    /// vendor answered with success while the previous key still works killed some other key, or
    /// is not applied yet: that pages (`WrongKeyRevoked`), and the id's label stays. The recorded
    /// id comes off the previous version once its revoke is confirmed.
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
        (observed.revoke_failed, observed.wrong_key_revoked) = (Some(true), Some(false));
        let failed = |why: String| VendorFailure::RevokeFailed { key_id: key_id.clone(), why };
        let until = before(call.deadline, timing.rotate_reserve() + timing.mark_reserve())
            .min(later(timing.revoke_budget()));
        let timeout = timing.vendor_timeout.min(time_left(until));
        let answer = self.vendors.revoke(target.vendor, &target.base_url, current, key_id, timeout).await;
        // The revoked key is asked about until it is refused, leaving room for one question about
        // the current key.
        let asked = Instant::now();
        let probe = match &answer {
            Revoke::Done(status) => {
                info!(key_id, status, "revoked the previous key; asking the vendor whether it is dead");
                Some(self.ask_until_refused(target, key, before(until, timing.vendor_timeout), None).await)
            }
            Revoke::Failed(_) => None,
        };
        let answered = match &answer {
            Revoke::Done(status) => format!("HTTP {status}"),
            Revoke::Failed(why) => why.clone(),
        };
        let outcome = match (answer, probe) {
            (Revoke::Failed(why), _) => Err(failed(why)),
            (_, Some(Probe::Refused(_))) => Ok(()),
            (Revoke::Done(status @ 200..=299), Some(Probe::Accepted(_))) => {
                observed.wrong_key_revoked = Some(true);
                error!(
                    key_id,
                    status,
                    "the vendor answered success to revoking the previous key's id, yet still accepts the previous key: the revoke killed another key, or is not applied yet"
                );
                let over = asked.elapsed();
                Err(VendorFailure::WrongKeyRevoked { key_id: key_id.clone(), status, over })
            }
            // Not its id: an earlier revoke of that id (answered 2xx, then no verdict) may have
            // killed another key, whoever read it. That pages.
            (Revoke::Done(status), Some(Probe::Accepted(_))) => {
                observed.key_state_unknown = true;
                let fingerprint = key.fingerprint();
                Err(VendorFailure::NotItsId { key_id: key_id.clone(), status, fingerprint })
            }
            // A revoke the vendor says it carried out, and no verdict since: if the id is not the
            // previous key's, another key is dead. That pages.
            (Revoke::Done(200..=299), Some(Probe::NoVerdict(why))) => {
                observed.key_state_unknown = true;
                Err(failed(format!(
                    "no verdict on the revoked key ({why}); if the id is not its id, the revoke killed another key"
                )))
            }
            (_, Some(Probe::NoVerdict(why))) => Err(failed(format!("no verdict on the revoked key ({why})"))),
            (Revoke::Done(_), None) => Err(failed("the revoked key was not asked about".into())),
        };
        // Whatever the revoke answered, the key consumers read must still work (its outcome, a
        // wrong key revoked included, is counted above first: it pages whatever comes next).
        if outcome.is_ok() {
            observed.revoke_failed = Some(false);
        }
        self.current_still_live(target, (current, key_id, &answered), until, observed).await?;
        outcome?;
        if let Err(problem) = self.store.remove_label(&call.meta.arn, label, version).await {
            warn!(key_id, error = %problem, "the previous key is revoked, but its id could not be taken off its version; the next rotation revokes it again (the vendor answers 404)");
        }
        Ok(())
    }

    /// After a revoke attempt (the vendor `answered`): the key consumers read must still work. A
    /// refusal is a lock-out (the revoke may have killed it); no verdict stops the step before any
    /// new key is made, and pages (`KeyStateUnknown`): whether consumers hold a dead key is unknown.
    async fn current_still_live(
        &self,
        target: &Target,
        (current, key_id, answered): (&Sensitive, &str, &str),
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
            verdict => {
                observed.key_state_unknown = true;
                let answered = answered.to_owned();
                Err(VendorFailure::CurrentUnconfirmedAfterRevoke { key_id, answered, verdict }.into())
            }
        }
    }

    /// Puts this rotation's create mark on `on` (the AWSCURRENT version), dated now, after
    /// reading the secret again: another invocation of this rotation may have put it since this
    /// one read it (then this one stops as `KeyOrphaned`, and never creates beside it).
    pub(super) async fn put_mark(
        &self,
        call: Invocation<'_>,
        target: &Target,
        bind: Option<&str>,
        on: &str,
    ) -> Result<Marked, ErrorKind> {
        let arn = &call.meta.arn;
        // The secret first, then the version: another invocation that marked before this read
        // either still shows its mark, or took it off after storing its key, which the second
        // read then finds.
        let failed = ErrorKind::store(State::NothingCreated);
        let now = self.store.describe(arn).await.map_err(failed)?;
        if let Some(mark) = now.create_mark(&call.event.token) {
            warn!("another invocation of this rotation marked its create meanwhile: not creating beside it");
            return Err(retried(call, target, &mark, true));
        }
        let failed = ErrorKind::store(State::NothingCreated);
        if self.store.value(arn, Some(&call.event.token), None).await.map_err(failed)?.is_some() {
            info!("another invocation of this rotation has stored its key meanwhile: createSecret is done");
            return Ok(Marked::StoredElsewhere);
        }
        if let Some(bind) = bind
            && let Err(error) = self.store.move_label(arn, bind, on, None).await
        {
            return Err(ErrorKind::store(State::NothingCreated)(error));
        }
        let mark = CreateMark::new(&call.event.token, on);
        if let Err(error) = self.store.move_label(arn, &mark.label, on, None).await {
            // The write may have landed: a mark left behind would report a create that never
            // happened.
            self.clear_mark(call, &mark).await;
            return Err(ErrorKind::store(State::NothingCreated)(error));
        }
        Ok(Marked::Marked(mark))
    }

    /// Takes a create mark left by this rotation off, once its key is stored (a retry after the
    /// store): a mark is evidence of a key no one has, and this one's key is safe.
    pub(super) async fn clear_stale_mark(&self, call: Invocation<'_>) {
        if let Some(mark) = call.meta.create_mark(&call.event.token) {
            self.clear_mark(call, &mark).await;
        }
    }

    /// Takes this rotation's create mark off (best effort: a mark left behind only makes a retry
    /// of this same rotation stop as `KeyOrphaned`, and `repair --apply` clears it once it sees
    /// the rotation's key stored).
    pub(super) async fn clear_mark(&self, call: Invocation<'_>, mark: &CreateMark) {
        if let Err(problem) = self.store.remove_label(&call.meta.arn, &mark.label, &mark.on).await {
            warn!(label = mark.label, error = %problem, "the create mark could not be taken off; repair --apply clears it");
        }
    }

    /// After the new key is stored: the vendor must still accept the previous key, or it did not
    /// keep two keys (a misdeclared overlap). Then consumers hold a dead key: that is a lock-out
    /// (`CurrentKeyRejected`), and the new key is promoted at once, and the move dated.
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
        self.date(call, &call.event.token, current_id).await;
        let vendor = target.vendor.name().to_owned();
        let fingerprint = Some(new_key.fingerprint());
        let event = key_rotated(call, vendor, Mode::Overlap, fingerprint, Promote::Early, Some(answered_at));
        observed.notify_failed = Some(self.announce(event, call).await);
    }

    /// Dates a move of AWSCURRENT to `version` from `replaced` this invocation made. A failure is
    /// a warning: the next rotation then starts the grace when it runs.
    pub(super) async fn date(
        &self,
        call: Invocation<'_>,
        version: &str,
        replaced: Option<&str>,
    ) -> Option<String> {
        match date_move(&self.store, call.meta, version, replaced).await {
            Ok(label) => Some(label),
            Err(problem) => {
                warn!(error = %problem, "the move of AWSCURRENT could not be dated; the next rotation starts the grace when it runs");
                None
            }
        }
    }

    /// After a create whose key could not be stored or read, at a create-then-revoke vendor
    /// (`presented.mark`): an orphan, not a lock-out, unless the vendor now refuses the key
    /// consumers read (asked once, within the time left). `Some((confirmed, runbook))`: an orphan,
    /// `confirmed` when the vendor accepted that key (no verdict: consumers may hold a dead key,
    /// `KeyStateUnknown`). `None`: single-phase, or refused: the lock-out the caller reports.
    pub(super) async fn orphan(
        &self,
        call: Invocation<'_>,
        presented: Presented<'_>,
        observed: &mut Observed,
    ) -> Option<(bool, String)> {
        let Presented { target, key, mark } = presented;
        let mark = mark?;
        let timing = &self.settings.timing;
        let left = time_left(before(call.deadline, timing.safety_margin));
        let confirmed = match self
            .vendors
            .verify(target.vendor, &target.base_url, key, timing.vendor_timeout.min(left))
            .await
        {
            Verdict::Refused(_) => return None,
            Verdict::Accepted => {
                observed.current_key_rejected = Some(false);
                true
            }
            _ => {
                observed.key_state_unknown = true;
                false
            }
        };
        Some((confirmed, mark.runbook(&call.meta.arn, target.vendor.name())))
    }
}
