//! setSecret and finishSecret: the vendor already holds the new key, so setSecret only confirms
//! that the pending version has one, and finishSecret moves AWSCURRENT onto it in one
//! compare-and-swap stage move, then tells consumers and waits for the replicas (`after_move.rs`).
//! Neither reads the key itself when createSecret recorded its fingerprint on the version: the
//! label was written with the value, so it says the value is there, and which key it holds.

use std::time::{Duration, SystemTime};

use tracing::{info, warn};

use super::after_move::{key_fingerprint, key_rotated, vendor_of};
use super::error::{ErrorKind, NotRotatable, State};
use super::{Invocation, Observed, Outcome, Rotator};
use crate::config::{Issued, Promote};
use crate::event::RotationEvent;
use crate::notify::Notifier;
use crate::store::{AWSCURRENT, Fingerprint, SecretMeta, SecretStore, fingerprint};
use crate::timing::{before, since};
use crate::vendors::{Mode, VendorApi};

/// What setSecret and finishSecret know of the pending key.
pub(super) struct PendingKey {
    /// Its fingerprint, for the event (`None` when it does not read with today's tags).
    pub fingerprint: Option<String>,
    /// When the vendor issued it (recorded with the key), else when the version was created.
    pub since: Option<SystemTime>,
    /// Its fingerprint, read from the value, when the version carries none (the key was stored
    /// without its labels): finishSecret records it before the move.
    pub unindexed: Option<Fingerprint>,
}

impl<S: SecretStore, V: VendorApi, N: Notifier> Rotator<S, V, N> {
    /// setSecret: the vendor already holds the new key. Confirm the pending version has one.
    pub(super) async fn set_secret(&self, call: Invocation<'_>) -> Result<Outcome, ErrorKind> {
        self.stored_pending(call.event, call.meta).await?;
        info!("the pending version holds a key; the vendor already uses it, nothing to set");
        Ok(Outcome::Done)
    }

    /// finishSecret: one compare-and-swap stage move, and never onto a version without a key.
    pub(super) async fn finish_secret(
        &self,
        call: Invocation<'_>,
        observed: &mut Observed,
    ) -> Result<Outcome, ErrorKind> {
        let Invocation { event, meta, .. } = call;
        let pending = self.stored_pending(event, meta).await?;
        let current = meta.version_with(AWSCURRENT);
        // The version AWSCURRENT moves to carries its key's fingerprint, as a rotation's would: it
        // is what, beside the replaced version's, says consumers were not told of the move.
        if let Some(print) = &pending.unindexed
            && let Err(problem) = fingerprint::record(&self.store, meta, &event.token, print).await
        {
            warn!(error = %problem, "the new key's fingerprint could not be recorded on its version; the move is still told, and a later step tells it if this one cannot");
        }
        if let Err(error) = self.store.make_current(&meta.arn, &event.token, current).await {
            // An attempt whose answer was lost may have landed (and made the SDK's retry fail): if
            // AWSCURRENT is on the new version now, this invocation moved it. "Unchanged" is said
            // only after reading it.
            let until = before(call.deadline, self.settings.timing.safety_margin);
            match self.moved_to_token(call, until).await {
                Some(true) => {
                    warn!(error = %error, "the stage move reported a failure, but AWSCURRENT is on the new version: it landed")
                }
                // "Stage not found" says AWSCURRENT moved since it was read: maybe here, and a
                // read just after may lag behind.
                Some(false) if error.is("InvalidParameterException") => {
                    return Err(ErrorKind::store(State::MoveUnknown)(error));
                }
                Some(false) => return Err(ErrorKind::store(State::KeySafeInPending)(error)),
                None => return Err(ErrorKind::store(State::MoveUnknown)(error)),
            }
        }
        let moved = SystemTime::now();
        // Consumers read the dead key from the moment the vendor rotated (recorded with the key, or
        // about when the pending version was created) until now; under overlap, the key they read
        // still works, and the grace of the key this move replaced counts from now.
        let vendor = vendor_of(meta, &event.token, &self.settings);
        let mode = self.settings.mode_of(&vendor);
        if mode == Mode::Overlap {
            self.date(call, &event.token, current).await;
        }
        observed.dead_key_window = match mode {
            Mode::Overlap => Some(Duration::ZERO),
            Mode::SinglePhase => pending.since.map(since),
        };
        info!(
            previous_version = current,
            dead_key_window_ms = observed.dead_key_window.map(|w| w.as_millis() as u64),
            "AWSCURRENT moved to the new version"
        );
        // Then, with nothing left to lose and side by side: tell consumers, and wait for the
        // replica regions (whose time counts from the move, not from the event).
        let event = key_rotated(call, vendor, mode, pending.fingerprint, Promote::Standard, pending.since);
        let (notify_failed, replication) =
            tokio::join!(self.announce(event, call), self.await_replicas(call, Some(moved)));
        (observed.notify_failed, observed.replication) = (Some(notify_failed), replication);
        Ok(Outcome::Done)
    }

    /// For setSecret and finishSecret: the pending version must hold a value. Its fingerprint label,
    /// written with the value, says so without a read. Whether the value still reads with today's
    /// tags is only worth a warning: createSecret stored it and testSecret verified it, and a tag
    /// changed since must not strand the key.
    pub(super) async fn stored_pending(
        &self,
        event: &RotationEvent,
        meta: &SecretMeta,
    ) -> Result<PendingKey, ErrorKind> {
        if let Some(print) = meta.fingerprint_of(&event.token) {
            if let Err(problem) = Issued::check(meta.labels(&event.token), &meta.tags, &self.settings) {
                warn!(problem = %problem, "the tags changed since createSecret stored the pending key; createSecret stored it, so carrying on");
            }
            let (fingerprint, since) = (Some(print.fingerprint()), print.issued_at());
            return Ok(PendingKey { fingerprint, since, unindexed: None });
        }
        let pending = self
            .pending_value(event)
            .await?
            .ok_or_else(|| NotRotatable::NoPendingValue { version: event.token.clone() })?;
        if let Err(problem) = pending.key(&meta.tags) {
            warn!(problem = %problem, "the pending value does not read with the key-field tag as it is now; createSecret stored it, so carrying on");
        }
        let fingerprint = key_fingerprint(meta, &pending, &self.settings);
        // Indexed only as the event names it: read with today's tags, while they agree with the
        // version's record of issue (another field's fingerprint would mislead the fleet's index).
        let unindexed = pending.key(&meta.tags).ok().filter(|_| fingerprint.is_some());
        let unindexed = unindexed.map(|value| Fingerprint::of(value.key()));
        Ok(PendingKey { fingerprint, since: pending.created, unindexed })
    }
}
