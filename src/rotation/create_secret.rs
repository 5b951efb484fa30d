//! createSecret: the one step that talks to the vendor's rotate endpoint, and so the one that can
//! lose a key. Its rules:
//! * everything that can fail is checked before the vendor is touched: the value, the tags, and
//!   the time left, which must cover the pre-check, one rotate call with the full vendor timeout,
//!   a probe and the storage budget ([`Timing::create_budget`]);
//! * the vendor must accept the current key before it is asked to rotate it;
//! * rotate is called again only after an attempt that provably rotated nothing (no connection,
//!   or a 429). After an answer whose outcome is unknown it is never called again in the same
//!   invocation: the current key is probed, several times over a few seconds because vendors read
//!   keys through lagging replicas, to tell the operator what happened (`unclear.rs`);
//! * a 2xx answer from which no key can be read is stored as it came (`rescue.rs`);
//! * a key the vendor handed over is stored at once, retried until the deadline nears, and read
//!   back before it is declared lost.
//!
//! [`Timing::create_budget`]: crate::timing::Timing::create_budget

use std::time::{Duration, SystemTime};

use tokio::time::{Instant, sleep};
use tracing::{error, info, warn};

use super::after_move::{Told, key_rotated};
use super::error::{
    ErrorKind, Lost, NotRotatable, Orphaned, Problem, Rejected, State, TimedOut, VendorFailure,
};
use super::overlap::{Marked, Plan, nothing_created, retried, retried_refused};
use super::write::{Stored, put_pending};
use super::{Invocation, Observed, Outcome, Rotator};
use crate::config::{self, Issued, KeyId, Promote, SecretConfig, TAG_VENDOR, Target};
use crate::notify::Notifier;
use crate::secret::check_key;
use crate::sensitive::Sensitive;
use crate::store::shared::{Readable, Survey, survey};
use crate::store::{
    AWSCURRENT, AWSPENDING, AWSPREVIOUS, CreateMark, Fingerprint, MAX_LABELS, Payload, PendingWrite,
    ROTATION_FINGERPRINT, Rescue, SecretMeta, SecretStore, Version, fingerprint,
};
use crate::timing::{before, time_left};
use crate::vendors::{Mode, RotateOutcome, Vendor, VendorApi, Verdict, VerifyPolicy};

/// A rotate call, as what follows an answer that went wrong needs it: where it went, the key it
/// presented, and (at a create-then-revoke vendor) its create mark, which a report of an orphan
/// names.
#[derive(Clone, Copy)]
pub(super) struct Presented<'a> {
    pub target: &'a Target,
    pub key: &'a Sensitive,
    pub mark: Option<&'a CreateMark>,
}

impl<S: SecretStore, V: VendorApi, N: Notifier> Rotator<S, V, N> {
    pub(super) async fn create_secret(
        &self,
        call: Invocation<'_>,
        observed: &mut Observed,
    ) -> Result<Outcome, ErrorKind> {
        let Invocation { event, meta, .. } = call;
        // First: a retry after the key was stored needs nothing else, not even valid tags; but a
        // copy of the current key is not a stored rotation, and finishing it would record one.
        if let Some(pending) = self.pending_value(event).await? {
            if self.copies_current(meta, &pending).await? {
                return Err(NotRotatable::CopyOfCurrent {
                    version: event.token.clone(),
                    secret: meta.arn.clone(),
                }
                .into());
            }
            info!("the pending version already holds a key: createSecret finished earlier");
            self.clear_stale_mark(call).await;
            return Ok(Outcome::AlreadyDone);
        }

        // A move of AWSCURRENT nobody heard of (the event failed, or the process was killed after
        // the move): consumers are told before anything else, whatever else is wrong, but only
        // in the time beyond what this rotation may need (else a later step, or `repair --apply`,
        // tells them).
        let mut now = meta.clone();
        if let Some(current) = meta.untold() {
            // A create-then-revoke rotation may need more time than a single-phase one (a revoke,
            // the create mark); while consumers are not told, it stops before revoking (Config).
            let timing = &self.settings.timing;
            let overlap = config::vendor_from_tags(&meta.tags, &self.settings).map(|vendor| vendor.overlap());
            let needs = match overlap {
                Ok(None) => timing.create_budget(),
                Ok(Some(_)) | Err(_) => timing.create_budget_at_most(),
            };
            let spare = Invocation { deadline: before(call.deadline, needs), ..call };
            if time_left(spare.deadline) <= timing.safety_margin {
                warn!(
                    version = current,
                    "consumers were never told of the last move of AWSCURRENT, and this invocation has no time to spare for it: a later step, or `api-key-rotator repair --apply`, tells them"
                );
            } else if let Told::Told { dated } = self.tell_untold(spare, observed).await {
                now.clear_fingerprints_beside(current);
                if let Some(dated) = dated {
                    now.record_date(current, &dated);
                }
            }
        }
        let call = Invocation { meta: &now, ..call };
        self.create_secret_told(call, observed).await
    }

    /// createSecret once consumers know where AWSCURRENT is.
    async fn create_secret_told(
        &self,
        call: Invocation<'_>,
        observed: &mut Observed,
    ) -> Result<Outcome, ErrorKind> {
        let Invocation { event, meta, deadline } = call;
        let secret = &meta.arn;

        // 1. Everything that can fail before the vendor is touched.
        let config = SecretConfig::from_tags(&meta.tags, meta.interval(), &self.settings)
            .map_err(ErrorKind::config)?;
        let (current, current_id) =
            self.current_value(secret, &config.key_field, State::NothingSent, ErrorKind::config).await?;
        // Another invocation of this rotation promoted early between the check above and this
        // read: "current" is the new key, and rotating it would kill the key just stored.
        if current_id.as_deref() == Some(event.token.as_str()) {
            info!("the version is already AWSCURRENT (another invocation promoted it): createSecret is done");
            return Ok(Outcome::AlreadyDone);
        }
        current.check_room_for_new_key().map_err(ErrorKind::config)?;
        // A kept rotate answer may hold the only live key: rotating again would kill it.
        let rescues = meta.rescues();
        if !rescues.is_empty() {
            return Err(ErrorKind::config(Problem::RescuePending { rescues, secret: secret.clone() }));
        }
        // The current key goes to no other vendor than the one that issued it (recorded on its
        // version when this function rotated it).
        let current_labels = current_id.as_deref().map_or(&[][..], |version| meta.labels(version));
        let current_labels = Issued::labels_for_current(current_labels, meta.pending_labels());
        // A key this function stored (a rotation's: its fingerprint carries when the vendor issued
        // it; or one with a record of issue, a rotation's from before fingerprints or one
        // `recover` verified) was issued for this secret; any other (onboarded by `check`, put by
        // hand) may be another secret's too, and the shared-key search must then finish.
        let current_print = current_id.as_deref().and_then(|version| meta.fingerprint_of(version));
        let vendor_issued = current_print.as_ref().is_some_and(|print| print.issued_at().is_some());
        let first = !Issued::stored_here(&current_labels, vendor_issued);
        Issued::check_vendor(current_labels, &meta.tags, &self.settings).map_err(ErrorKind::config)?;
        // A create-then-revoke vendor: its mark, the previous key due to be revoked, the bound id.
        let plan = match config.target.vendor.overlap() {
            Some(overlap) => {
                let current_id = current_id.as_deref();
                Some(self.overlap_plan(call, &config.target, overlap, &current, current_id).await?)
            }
            None => None,
        };
        // A retry after a create that stored no key: never created twice. Whether consumers hold a
        // working key is asked first, so that the report says so.
        if let Some(mark) = plan.as_ref().and_then(|plan| plan.retried.as_ref()) {
            let until = before(deadline, self.settings.timing.safety_margin);
            return match self.precheck(call, &config.target, current.key(), until, observed).await {
                Precheck::Accepted => Err(retried(call, &config.target, mark, true)),
                Precheck::StoredElsewhere => Ok(Outcome::AlreadyDone),
                Precheck::Refused(status) => Err(retried_refused(call, mark, status)),
                Precheck::NoVerdict(..) => {
                    observed.key_state_unknown = true;
                    Err(retried(call, &config.target, mark, false))
                }
            };
        }
        // The fingerprint of the current key goes on its version before the move (unless there is
        // one): until consumers are told of the move, it is what says they were not.
        let unindexed = current_id.as_deref().filter(|_| current_print.is_none());
        let index = unindexed.map(|_| Fingerprint::of(current.key()).label());
        let adds = plan.as_ref().map(Plan::adds).unwrap_or_default().into_iter().chain(index);
        let record = self.label_room(meta, &config, adds.collect())?;
        let timing = &self.settings.timing;
        let revoking = plan.as_ref().and_then(|plan| plan.revoke.as_ref());
        // A create-then-revoke vendor's extra time, before the rotate's reserve: the revoke (when
        // one is due), then the create mark's reads and write.
        let revoke_budget = if revoking.is_some() { timing.revoke_budget() } else { Duration::ZERO };
        let mark_reserve = if plan.is_some() { timing.mark_reserve() } else { Duration::ZERO };
        let overlap_budget = revoke_budget + mark_reserve;
        // A vendor asked for the current key's id (3b below) gets one more verify call's time, out
        // of the check of the current key's (which rarely needs all of it): the least a rotation
        // needs to start stays what the function's timeout is checked against.
        let asks_id =
            plan.as_ref().is_some_and(|plan| plan.ask_id) || config.target.vendor.rotate_names_key();
        let id_budget = if asks_id { timing.vendor_timeout } else { Duration::ZERO };
        let (left, needed) = (time_left(deadline), timing.create_budget() + overlap_budget);
        if left < needed {
            return Err(TimedOut::NoRoomToStart {
                left,
                needed,
                precheck: timing.precheck_budget,
                rotate: timing.vendor_timeout,
                probe: timing.probe_budget,
                store: timing.store_budget,
            }
            .into());
        }

        let mut now = meta.clone();
        if let Some(version) = unindexed {
            let print = Fingerprint::of(current.key());
            fingerprint::record_in(&self.store, &mut now, version, &print)
                .await
                .map_err(ErrorKind::store(State::NothingSent))?;
        }
        let call = Invocation { meta: &now, ..call };

        // 2. A key another secret holds is never rotated blind: rotating it would kill that
        // secret's key; nor revoked (create-then-revoke).
        let survey = self.not_shared(call, &config.target, current.key(), first).await?;
        let revoking = match revoking {
            Some(previous) => {
                let found = survey.holders(&meta.arn, &previous.key);
                if !found.holders.is_empty() {
                    let (key_id, others) = (previous.key_id.clone(), found.holders);
                    return Err(ErrorKind::config(Problem::PreviousShared { key_id, others }));
                }
                // Not known to be nobody else's: it stays live, rather than kill a key someone may
                // read (once this rotation replaces AWSPREVIOUS, only a revoke by hand kills it).
                if !found.unread.is_empty() || !survey.complete {
                    warn!(key_id = previous.key_id, unread = ?found.unread, unfinished = survey.cut_short, "whether another secret holds the previous key is unknown: it is not revoked, and stays live (revoke it by hand at the vendor once no secret holds it)");
                    None
                } else {
                    Some(previous)
                }
            }
            None => None,
        };

        // 3. The vendor must still accept the current key, or rotating is impossible anyway. The
        // check stops in time to leave a revoke (when one is due) and a rotate call all they need.
        let until = before(deadline, timing.rotate_reserve() + overlap_budget + id_budget);
        match self.precheck(call, &config.target, current.key(), until, observed).await {
            Precheck::Accepted => {}
            Precheck::StoredElsewhere => return Ok(Outcome::AlreadyDone),
            Precheck::Refused(status) => return Err(Rejected::BeforeRotate { status }.into()),
            Precheck::NoVerdict(verdict, tries) => {
                return Err(VendorFailure::CurrentUnconfirmed { tries, verdict }.into());
            }
        }

        // 3b. A vendor that names the presented key, and no id recorded for the current one: its
        // id, before anything is created or revoked.
        let bind = match plan.as_ref() {
            Some(plan) if plan.ask_id => {
                Some(self.ask_current_id(&config.target, plan, current.key()).await?)
            }
            Some(plan) => plan.bind.clone(),
            None => None,
        };
        // The id the current key has now is never revoked as the previous key's.
        let asked = bind.as_ref().and_then(|label| KeyId::from_labels([label]).into_iter().next());
        let revoking = revoking.filter(|previous| {
            let same = asked.as_ref().is_some_and(|id| id.id == previous.key_id);
            if same {
                warn!(
                    key_id = previous.key_id,
                    "the vendor names the current key by the previous key's recorded id: not revoked"
                );
            }
            !same
        });
        // A rotate path that names the presented key (Cloudflare's roll): its id, as the vendor
        // names it now.
        let path_id = match config.target.vendor.rotate_names_key() {
            true => Some(self.current_key_id(&config.target, current.key()).await?),
            false => None,
        };

        // 4. A create-then-revoke vendor: the previous key is revoked, with the current one, and
        // must be dead before a new key is made (an account holds two keys at most); then the
        // current key must still work.
        if let Some(previous) = revoking {
            self.revoke_previous(call, &config.target, previous, current.key(), observed).await?;
        }

        // 5. Rotate. At a create-then-revoke vendor, a mark first says that a create is under way
        // (with the starting key's id, on a first rotation), so a retry never creates twice.
        let mut mark = None;
        if plan.is_some() {
            let Some(on) = current_id.as_deref() else {
                return Err(NotRotatable::NoCurrentValue { state: State::NothingSent }.into());
            };
            match self.put_mark(call, &config.target, bind.as_deref(), on).await? {
                Marked::StoredElsewhere => return Ok(Outcome::AlreadyDone),
                Marked::Marked(put) => mark = Some(put),
            }
        }
        observed.rotate_called = true;
        let presented = (current.key(), path_id.as_deref());
        let (new_key, key_id) = match self.rotate(call, &config, presented, mark.as_ref(), observed).await {
            Ok(rotated) => rotated,
            Err(kind) => {
                if let Some(mark) = mark.as_ref().filter(|_| nothing_created(&kind)) {
                    self.clear_mark(call, mark).await;
                }
                return Err(kind);
            }
        };
        // An id AWSCURRENT's or AWSPREVIOUS's key already has is not the new key's: recorded, a
        // later rotation would revoke a key still in use.
        let bound = bind;
        let known_ids: Vec<KeyId> = [current_id.as_deref(), meta.version_with(AWSPREVIOUS)]
            .into_iter()
            .flatten()
            .flat_map(|version| KeyId::from_labels(meta.labels(version)))
            .chain(KeyId::from_labels(bound.as_ref()))
            .collect();
        let key_id = key_id.filter(|id| {
            let known = known_ids.iter().any(|held| held.id == *id);
            if known {
                warn!(key_id = id, "the create answer names an id the current or previous key already has: not recorded as the new key's");
            }
            !known
        });
        let (answered, answered_at) = (Instant::now(), SystemTime::now());
        let presented = Presented { target: &config.target, key: current.key(), mark: mark.as_ref() };
        info!(key_fingerprint = %new_key.fingerprint(), "the vendor rotated the key; storing it");
        let vendor = config.target.vendor;
        if !vendor.looks_like_key(current.key().expose(), new_key.expose()) {
            warn!(key_fingerprint = %new_key.fingerprint(), "the new key does not look like a {} key; storing it anyway, since the vendor made it live", vendor.name());
        }
        if let Err(problem) = check_key(new_key.expose(), "the new key") {
            warn!(key_fingerprint = %new_key.fingerprint(), problem = %problem, "storing the new key anyway, since the vendor made it live; testSecret will not be able to send it, so finish this rotation by hand (README, stuck rotation)");
        }

        // 6. Store it at once, with the labels that record what it was issued for and its
        // fingerprint; early promotion makes it AWSCURRENT in the same write. Extra labels never
        // risk custody: a write that retrying cannot fix (an IAM condition on the stages, the
        // label quota) falls back at once to one with fewer: the record and the fingerprint go
        // first, then AWSCURRENT.
        let value = Payload::Text(current.with_key(&new_key));
        let until = before(deadline, timing.safety_margin);
        let early = config.promote == Promote::Early;
        let key_stages: &[&str] = if early { &[AWSPENDING, AWSCURRENT] } else { &[AWSPENDING] };
        let id_label = key_id.as_deref().map(|id| KeyId::new(&config.target, id).label());
        if plan.is_some() && id_label.is_none() {
            warn!(key_fingerprint = %new_key.fingerprint(), "the new key's id does not read from the answer: no later rotation can revoke it; revoke it by hand once it is replaced");
        }
        // The new key's fingerprint, with when the vendor answered: the fleet's index, and what
        // tells the later steps the version holds this key.
        let print = Fingerprint::issued(&new_key, answered_at).label();
        let labelled = key_stages.iter().copied().chain([record.as_str(), print.as_str()]);
        let mut attempts: Vec<Vec<&str>> = vec![labelled.chain(id_label.as_deref()).collect()];
        attempts.push(key_stages.to_vec());
        if early {
            attempts.push(vec![AWSPENDING]);
        }
        let mut write = PendingWrite {
            secret_id: secret,
            token: &event.token,
            value: &value,
            rotation_token: event.rotation_token.as_ref(),
            stages: &attempts[0],
        };
        let mut stored = put_pending(&self.store, &write, until, timing).await;
        for fewer in &attempts[1..] {
            match &stored {
                Err(refused) if !refused.transient && !refused.conflict => {
                    warn!(key_fingerprint = %new_key.fingerprint(), error = %refused, refused_stages = ?write.stages, stages = ?fewer, "the write was refused; storing the key with fewer labels at once");
                    write.stages = fewer;
                    stored = put_pending(&self.store, &write, until, timing).await;
                }
                _ => break,
            }
        }
        // Whether AWSCURRENT is on the new key now: a promoting write that answered at once says
        // so; after any write that answered an error (it may have landed, a fallback may have
        // found it), only reading the secret again can.
        let clean = matches!(stored, Ok(Stored::Written(1))) && write.stages == attempts[0].as_slice();
        let moved = match &stored {
            Ok(_) if early && !clean => self.moved_to_token(call, until).await,
            Ok(_) => Some(write.promotes()),
            Err(_) => Some(false),
        };
        if early && moved == Some(false) {
            // finishSecret promotes it, the standard way.
            observed.promote = Some(Promote::Standard);
        }
        let staged_as = match moved {
            Some(true) => "AWSPENDING and AWSCURRENT",
            Some(false) => "AWSPENDING",
            None => {
                "AWSPENDING (whether AWSCURRENT moved too could not be read; the next step tells consumers if it did)"
            }
        };
        match stored {
            Ok(Stored::Written(attempts)) => {
                info!(attempts, key_fingerprint = %new_key.fingerprint(), "stored the new key as {staged_as}");
            }
            Ok(Stored::ReadBack(attempts)) => {
                info!(attempts, key_fingerprint = %new_key.fingerprint(), "every write reported a failure, but reading back shows the new key stored as {staged_as}");
            }
            Err(failure) if failure.conflict => {
                // 7. Another invocation of this rotation stored another key under the token first.
                // The vendor made one of the two live, maybe this one: it goes into a version of
                // its own, never into nothing.
                error!(key_fingerprint = %new_key.fingerprint(), error = %failure, "the version already holds another key; keeping this one in a version of its own");
                let kept = self.keep(call, value, false).await;
                let (fingerprint, version) = (new_key.fingerprint(), event.token.clone());
                // At a create-then-revoke vendor both keys stay live: an orphan, not a lock-out,
                // unless the vendor now refuses the key consumers read.
                if let Some((confirmed, runbook)) = self.orphan(call, presented, observed).await {
                    let vendor = vendor.name();
                    let orphan =
                        Orphaned::Conflict { vendor, version, fingerprint, key_id, kept, confirmed, runbook };
                    return Err(orphan.into());
                }
                observed.current_key_rejected = Some(true);
                return Err(Lost::Conflict { fingerprint, version, kept }.into());
            }
            Err(failure) => {
                // 8. The key is lost with this process. Say which key, never what it is. The
                // vendor's 2xx killed the key consumers read (at a single-phase vendor).
                error!(key_fingerprint = %new_key.fingerprint(), error = %failure, "the vendor made a new key but it could not be stored: the new key is lost");
                let (fingerprint, version, failure) =
                    (new_key.fingerprint(), event.token.clone(), Box::new(failure));
                if let Some((confirmed, runbook)) = self.orphan(call, presented, observed).await {
                    let vendor = vendor.name();
                    let orphan = Orphaned::NotStored {
                        vendor,
                        fingerprint,
                        key_id,
                        version,
                        failure,
                        confirmed,
                        runbook,
                    };
                    return Err(orphan.into());
                }
                observed.current_key_rejected = Some(true);
                return Err(Lost::NotStored { fingerprint, version, failure }.into());
            }
        }
        if let Some(mark) = &mark {
            self.clear_mark(call, mark).await;
            let answered = (&new_key, answered, answered_at);
            let current_id = current_id.as_deref();
            self.previous_still_live(call, &config.target, current.key(), current_id, answered, observed)
                .await;
        }
        if moved == Some(true) {
            observed.dead_key_window = Some(answered.elapsed());
            // Stored and current: consumers may now be told. finishSecret waits for the replicas.
            let event = key_rotated(
                call,
                vendor.name().to_owned(),
                Mode::of(vendor),
                Some(new_key.fingerprint()),
                Promote::Early,
                Some(answered_at),
            );
            observed.notify_failed = Some(self.announce(event, call).await);
        }
        Ok(Outcome::Done)
    }

    /// Asks the vendor about the current key, until `until`, and counts what it said
    /// (`CurrentKeyRejected`). A refusal is no lock-out when another invocation of this rotation
    /// stored the new key meanwhile (it rotated a moment ago).
    async fn precheck(
        &self,
        call: Invocation<'_>,
        target: &Target,
        current: &Sensitive,
        until: Instant,
        observed: &mut Observed,
    ) -> Precheck {
        match self.verify_until(target, current, until, VerifyPolicy::Check).await {
            (Verdict::Accepted, _) => {
                observed.current_key_rejected = Some(false);
                Precheck::Accepted
            }
            (Verdict::Refused(status), _) => {
                // Another invocation of this rotation may have rotated a moment ago, and be storing.
                if self.stored_elsewhere_soon(call).await {
                    observed.current_key_rejected = Some(false);
                    info!(
                        "the vendor refuses the current key, but another invocation of this rotation has stored the new key meanwhile: createSecret is done"
                    );
                    return Precheck::StoredElsewhere;
                }
                observed.current_key_rejected = Some(true);
                Precheck::Refused(status)
            }
            (verdict, tries) => Precheck::NoVerdict(verdict, tries),
        }
    }

    /// Calls the vendor's rotate endpoint with the full vendor timeout. Another attempt follows
    /// only one that provably rotated nothing, and only while a whole attempt still fits. `mark`:
    /// a create-then-revoke vendor's create mark, which its reports of an orphan name.
    async fn rotate(
        &self,
        call: Invocation<'_>,
        config: &SecretConfig,
        (current, path_id): (&Sensitive, Option<&str>),
        mark: Option<&CreateMark>,
        observed: &mut Observed,
    ) -> Result<(Sensitive, Option<String>), ErrorKind> {
        let deadline = call.deadline;
        let timing = &self.settings.timing;
        let target = &config.target;
        let Target { vendor, base_url } = target;
        let presented = Presented { target, key: current, mark };
        let mut backoff = timing.initial_backoff;
        let mut last_failure = String::new();
        for attempt in 1..=timing.rotate_attempts {
            if time_left(deadline) < timing.rotate_reserve() {
                return Err(if attempt == 1 {
                    TimedOut::NoRoomToRotate { vendor_timeout: timing.vendor_timeout }.into()
                } else {
                    VendorFailure::NothingRotated { attempts: attempt - 1, last_failure }.into()
                });
            }
            let wait = timing.rotate_wait(deadline);
            let outcome = self
                .vendors
                .rotate(*vendor, base_url, current, config.rotate_body.as_ref(), path_id, wait)
                .await;
            match outcome {
                // The current key handed back: nothing rotated, or a vendor answering from a stale
                // cache after it did. The answer is kept, then the current key is probed.
                RotateOutcome::Echoed(answer) => {
                    let reason = format!("HTTP {} whose key is the current key itself", answer.status);
                    let kept = self.keep_answer(call, answer).await;
                    return Err(self.after_unknown(call, presented, reason, Some(kept), observed).await);
                }
                // Never stored as a new key, whichever client said so.
                RotateOutcome::Rotated { key, .. } if key == *current => {
                    let reason = "a 2xx whose key is the current key itself".to_owned();
                    return Err(self.after_unknown(call, presented, reason, None, observed).await);
                }
                RotateOutcome::Rotated { key, odd, key_id } => {
                    if odd {
                        warn!(key_fingerprint = %key.fingerprint(), "the rotate answer holds a key but not the shape the vendor documents; storing the key");
                    }
                    return Ok((key, key_id));
                }
                RotateOutcome::Refused(status) => {
                    let hint = refusal_hint(*vendor, status);
                    return Err(VendorFailure::RotateRefused { status, hint }.into());
                }
                RotateOutcome::RateLimited(wait) => {
                    if time_left(deadline).saturating_sub(wait) < timing.rotate_reserve() {
                        return Err(VendorFailure::RateLimited { wait }.into());
                    }
                    info!(
                        wait_ms = wait.as_millis() as u64,
                        "the vendor is rate limiting (nothing rotated); waiting for its reset"
                    );
                    sleep(wait).await;
                    last_failure = "rate limited (HTTP 429)".into();
                    continue;
                }
                RotateOutcome::NotSent(reason) => {
                    warn!(attempt, reason = %reason, "the rotate call never reached the vendor");
                    last_failure = reason;
                }
                RotateOutcome::Unknown(reason) => {
                    return Err(self.after_unknown(call, presented, reason, None, observed).await);
                }
                RotateOutcome::Unreadable(answer) => {
                    return Err(self.rescue(call, presented, answer, observed).await);
                }
            }
            if attempt < timing.rotate_attempts {
                sleep(backoff).await;
                backoff = timing.next_backoff(backoff);
            }
        }
        Err(VendorFailure::NothingRotated { attempts: timing.rotate_attempts, last_failure }.into())
    }

    /// Compares the current key with the keys of the other secrets tagged for its vendor, by their
    /// recorded fingerprints, reading (as the function's role may) only those with none: another
    /// holding it is a `Config` error naming them, before any vendor call. When some could not be
    /// compared (nothing recorded, not readable, no time), a `first` rotation of the key (one
    /// this function did not store) stops, nothing sent; a later one goes on with a warning, its
    /// key having been issued for this secret.
    ///
    /// A first rotation also needs the list to show this secret's own fingerprint: ListSecrets
    /// lags behind writes, and a list older than that label may miss a secret made as recently.
    /// Returns what the search saw.
    async fn not_shared(
        &self,
        call: Invocation<'_>,
        target: &Target,
        key: &Sensitive,
        first: bool,
    ) -> Result<Survey, ErrorKind> {
        let meta = call.meta;
        let function = meta.rotation_function.as_deref().unwrap_or_default();
        let until = self.settings.timing.shared_scan_until(call.deadline);
        let vendor = meta.tags.get(TAG_VENDOR).map(|name| name.trim_end()).unwrap_or(target.vendor.name());
        let survey = survey(&self.store, TAG_VENDOR, vendor, Readable::RotatedBy(function), until).await;
        let found = survey.holders(&meta.arn, key);
        info!(
            compared = found.compared,
            unread = found.unread.len(),
            list_calls = survey.list_calls,
            value_reads = survey.reads,
            "compared the current key with the other secrets tagged for its vendor"
        );
        if !found.holders.is_empty() {
            return Err(ErrorKind::config(Problem::SharedKey { others: found.holders }));
        }
        let sees_itself = survey.others.iter().any(|other| {
            other.meta.arn == meta.arn && other.print.as_ref().is_some_and(|print| print.is_of(key))
        });
        if found.unread.is_empty() && survey.complete && (sees_itself || !first) {
            return Ok(survey);
        }
        let unfinished = match (&survey.cut_short, sees_itself) {
            (Some(cut_short), _) => Some(cut_short.clone()),
            (None, false) if survey.complete => Some(LIST_BEHIND.to_owned()),
            (None, _) => None,
        };
        if first {
            return Err(ErrorKind::config(Problem::SharedUnknown { unread: found.unread, unfinished }));
        }
        warn!(unread = ?found.unread, unfinished, "whether these secrets hold the current key is unknown (nothing recorded of their key, and this function may not read them); rotating, since the key was issued for this secret");
        Ok(survey)
    }

    /// Every label a rotation may add must fit Secrets Manager's quota, checked before the vendor
    /// is touched: AWSPREVIOUS (a first rotation: without room, finishSecret could not move
    /// AWSCURRENT onto a key the vendor already made live), a rescue label (without it, an answer
    /// with no readable key could not be kept), the new key's fingerprint (without it, a step could
    /// not tell whether consumers heard of a move, nor other secrets compare their keys with it),
    /// the current key's when it has none (`overlap`, with the rest) and the record of the new
    /// key's target (without it, the later steps could not tell where the key belongs); at a
    /// create-then-revoke vendor, also the create mark, the new key's id and a bound starting id.
    /// Returns the record's label.
    fn label_room(
        &self,
        meta: &SecretMeta,
        config: &SecretConfig,
        overlap: Vec<String>,
    ) -> Result<String, ErrorKind> {
        let record = Issued::new(&config.target, &config.key_field).label();
        let present = meta.distinct_labels();
        let rescue = Rescue::new("<rescue version>").label;
        let print = format!("{ROTATION_FINGERPRINT}<new key's fingerprint>");
        let adds: Vec<String> = [AWSPREVIOUS, rescue.as_str(), print.as_str(), record.as_str()]
            .into_iter()
            .map(str::to_owned)
            .chain(overlap)
            .filter(|label| !present.contains(label.as_str()))
            .collect();
        if present.len() + adds.len() > MAX_LABELS {
            return Err(ErrorKind::config(Problem::NoRoomForLabels { labels: present.len(), adds }));
        }
        Ok(record)
    }

    /// Whether `pending` (a version other than AWSCURRENT's) holds the current key: the same
    /// value, or the same key read with the secret's key-field tag.
    pub(super) async fn copies_current(
        &self,
        meta: &SecretMeta,
        pending: &Version,
    ) -> Result<bool, ErrorKind> {
        let current = self
            .store
            .value(&meta.arn, None, Some(AWSCURRENT))
            .await
            .map_err(ErrorKind::store(State::NothingChanged))?;
        let Some(current) = current.filter(|current| current.id != pending.id) else {
            return Ok(false);
        };
        if current.text == pending.text {
            return Ok(true);
        }
        let key = |version: &Version| version.key(&meta.tags).map(|value| value.key().clone());
        Ok(matches!((key(&current), key(pending)), (Ok(a), Ok(b)) if a == b))
    }
}

/// What the vendor said of the current key before anything else was sent.
enum Precheck {
    Accepted,
    /// Refused, and no other invocation of this rotation stored a key meanwhile: a lock-out.
    Refused(u16),
    /// Refused, because another invocation of this rotation rotated and stored the new key.
    StoredElsewhere,
    /// No verdict, after this many tries.
    NoVerdict(Verdict, u32),
}

/// Why a complete list is not trusted for a first rotation: it does not show this secret's own
/// fingerprint yet.
pub(super) const LIST_BEHIND: &str = "ListSecrets does not show this secret's own fingerprint yet (it may lag behind writes by minutes, and miss a secret made as recently)";

/// What a refused rotate call may mean: the vendor's own hint, else the general one.
fn refusal_hint(vendor: &dyn Vendor, status: u16) -> &'static str {
    vendor.refusal_hint(status).unwrap_or(match status {
        401 | 403 => "The key may lack the right to manage API keys.",
        400 => "The vendor rejected the request itself.",
        307 | 308 => {
            "The vendor redirected the call elsewhere (redirects are never followed): check the base URL."
        }
        _ => "Check the base URL and the vendor's status.",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vendors;

    #[test]
    fn a_vendor_hint_comes_before_the_general_one() {
        let (calcom, projectdiscovery) =
            (vendors::lookup("calcom").unwrap(), vendors::lookup("projectdiscovery").unwrap());
        assert!(refusal_hint(calcom, 403).contains("OWNER or ADMIN"));
        assert!(refusal_hint(calcom, 400).contains("rotation:calcom-*"));
        assert_eq!(refusal_hint(projectdiscovery, 403), "The key may lack the right to manage API keys.");
        assert_eq!(refusal_hint(calcom, 404), "Check the base URL and the vendor's status.");
    }
}
