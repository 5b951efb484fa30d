//! What follows the move of AWSCURRENT to the new key: telling consumers (the `Vendor Key Rotated`
//! event, then taking the replaced version's fingerprint off, which records that they were told),
//! and, in finishSecret, waiting for the secret's replica regions to copy it. The key is stored
//! and AWSCURRENT holds it by then, so neither can fail the step: what goes wrong is logged and
//! counted (`NotifyFailed`, `ReplicationFailed`, both paging).

use std::time::SystemTime;

use tokio::time::{Instant, sleep, timeout_at};
use tracing::{error, info, warn};

use super::{Invocation, Observed, Rotator};
use crate::config::{Issued, Promote, Settings};
use crate::metrics::Replication;
use crate::notify::{Cause, KeyRotated, Notifier, put_retried};
use crate::store::fingerprint::clear_beside;
use crate::store::{AWSCURRENT, AWSPREVIOUS, Replica, SecretMeta, SecretStore, Version};
use crate::timing::{before, fits, since};
use crate::vendors::{Mode, VendorApi};

impl<S: SecretStore, V: VendorApi, N: Notifier> Rotator<S, V, N> {
    /// Puts `event` on the bus, retried briefly (`notify_attempts` within `notify_budget`) unless
    /// EventBridge refused the request itself, then records that consumers were told. A failure is
    /// a warning and `NotifyFailed`, never the step's. Returns whether it failed. (A retry after a
    /// lost answer may deliver the event twice; consumers can tell by its `versionId`.)
    pub(super) async fn announce(&self, event: KeyRotated, call: Invocation<'_>) -> bool {
        let timing = &self.settings.timing;
        let until = timing.notify_until(call.deadline);
        match put_retried(&self.notifier, &event, until, timing).await {
            (attempts, Ok(())) => {
                info!(
                    attempts,
                    key_fingerprint = event.key_fingerprint.as_deref(),
                    "told consumers: the Vendor Key Rotated event is on the default bus"
                );
                self.mark_told(call, &event.version_id).await;
                false
            }
            (attempts, Err(failure)) => {
                warn!(attempts, error = %failure, "the Vendor Key Rotated event could not be put: consumers were not told (the key is stored; the rotation goes on)");
                true
            }
        }
    }

    /// Whether AWSCURRENT is on the rotation's version, read again (retried until `until`) after
    /// a write or stage move that answered an error: `None` when no read succeeded.
    pub(super) async fn moved_to_token(&self, call: Invocation<'_>, until: Instant) -> Option<bool> {
        let timing = &self.settings.timing;
        let mut backoff = timing.initial_backoff;
        loop {
            match timeout_at(until, self.store.describe(&call.meta.arn)).await {
                Ok(Ok(now)) => return Some(now.has_stage(&call.event.token, AWSCURRENT)),
                Ok(Err(error)) => warn!(error = %error, "could not read where AWSCURRENT is"),
                Err(_) => return None,
            }
            if !fits(backoff, until) {
                return None;
            }
            sleep(backoff).await;
            backoff = timing.next_backoff(backoff);
        }
    }

    /// Records that consumers were told of the move to `told`: the fingerprints beside it (the
    /// version the move replaced keeps its own until then) come off, so that a later step tells
    /// them only when nobody did. A failure costs at most a repeated event.
    async fn mark_told(&self, call: Invocation<'_>, told: &str) {
        let until = before(call.deadline, self.settings.timing.safety_margin);
        let error = match timeout_at(until, clear_beside(&self.store, call.meta, told)).await {
            Ok(failures) if failures.is_empty() => return,
            Ok(failures) => failures.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
            Err(_) => "no answer in time".to_owned(),
        };
        warn!(
            error,
            "could not record that consumers were told (the replaced version's fingerprint is still on it); a later step may tell them again"
        );
    }

    /// A step that finds AWSCURRENT on its rotation's version and never announced (the version it
    /// replaced still carries its fingerprint): an earlier invocation stopped between the move and
    /// the event, or the event failed. Consumers are told now.
    pub(super) async fn tell_if_untold(&self, call: Invocation<'_>, observed: &mut Observed) {
        let Invocation { event, meta, .. } = call;
        if meta.untold() == Some(event.token.as_str()) {
            self.tell_untold(call, observed).await;
        }
    }

    /// Tells consumers of the move of AWSCURRENT to its version, which nobody announced: from what
    /// the version's labels say (its fingerprint, when the vendor issued the key), without reading
    /// its value. At a create-then-revoke vendor the move is dated again first, so that the grace
    /// of the key it replaced counts from when consumers are told: a date that cannot be written
    /// leaves them untold (a later step, or `repair --apply`, tells them), as the key they hold
    /// still works there.
    pub(super) async fn tell_untold(&self, call: Invocation<'_>, observed: &mut Observed) -> Told {
        let meta = call.meta;
        let Some(current) = meta.version_with(AWSCURRENT) else { return Told::Failed };
        warn!(
            version = current,
            "AWSCURRENT moved to this version and no Vendor Key Rotated event is recorded for the move: telling consumers now"
        );
        let print = meta.fingerprint_of(current);
        let vendor = vendor_of(meta, current, &self.settings);
        let mode = self.settings.mode_of(&vendor);
        let promote = observed.promote.unwrap_or(Promote::Standard);
        let fingerprint = print.as_ref().map(|print| print.fingerprint());
        let dead_since = print.and_then(|print| print.issued_at());
        let mut event = key_rotated(call, vendor, mode, fingerprint, promote, dead_since);
        event.version_id = current.to_owned();
        let replaced = meta.version_with(AWSPREVIOUS).filter(|previous| *previous != current);
        let dated = match mode {
            Mode::Overlap => match self.date(call, current, replaced).await {
                Some(dated) => Some(dated),
                None => {
                    observed.notify_failed = Some(true);
                    return Told::Failed;
                }
            },
            Mode::SinglePhase => None,
        };
        let failed = self.announce(event, call).await;
        observed.notify_failed = Some(failed);
        if failed {
            return Told::Failed;
        }
        Told::Told { dated }
    }

    /// finishSecret, for a version that was already AWSCURRENT: createSecret promoted it early,
    /// with the write that created it, so its creation is the move's time (only then: for a
    /// finishSecret retried after its own move, that time is unknown).
    pub(super) async fn replicas_after_early_move(&self, call: Invocation<'_>, observed: &mut Observed) {
        if call.meta.replicas.is_empty() {
            return;
        }
        let mut moved = None;
        if observed.promote == Some(Promote::Early) {
            match self.store.value(&call.meta.arn, Some(&call.event.token), None).await {
                Ok(version) => moved = version.and_then(|version| version.created),
                Err(error) => {
                    warn!(error = %error, "could not read when the version was created; waiting for the replicas without timing them")
                }
            }
        }
        observed.replication = self.await_replicas(call, moved).await;
    }

    /// Once AWSCURRENT holds the new key (since `moved`, when known): waits until every replica
    /// region reports `InSync` or one reports `Failed`, within `replica_budget`. Regions read but
    /// not seen `InSync` count as failed; when no read answered at all, their state is unknown,
    /// and said so. `None` for a secret without replicas (no call is made).
    pub(super) async fn await_replicas(
        &self,
        call: Invocation<'_>,
        moved: Option<SystemTime>,
    ) -> Option<Replication> {
        let meta = call.meta;
        if meta.replicas.is_empty() {
            return None;
        }
        let timing = &self.settings.timing;
        let until = timing.replica_until(call.deadline);
        let mut seen: Option<Vec<Replica>> = None;
        loop {
            match timeout_at(until, self.store.describe(&meta.arn)).await {
                Ok(Ok(now)) => seen = Some(now.replicas),
                Ok(Err(error)) => {
                    warn!(error = %error, "DescribeSecret failed while waiting for the replica regions")
                }
                Err(_) => break,
            }
            if seen.as_deref().is_some_and(settled) || !fits(timing.replica_poll, until) {
                break;
            }
            sleep(timing.replica_poll).await;
        }
        let Some(replicas) = seen else {
            // Never read since the move: nothing says whether the regions hold the new key.
            let regions: Vec<String> = meta.replicas.iter().map(|replica| replica.region.clone()).collect();
            error!(regions = ?regions, "the replica regions' state is unknown: DescribeSecret never answered while waiting for them, so whether consumers there read the new key is not known (README, multi-region secrets: `api-key-rotator check` tells); the key is safe in the primary region");
            return Some(Replication { regions, failed: Vec::new(), sync_time: None, unknown: true });
        };
        let regions: Vec<String> = replicas.iter().map(|replica| replica.region.clone()).collect();
        let unsynced: Vec<&Replica> =
            replicas.iter().filter(|replica| replica.status != Replica::IN_SYNC).collect();
        let failed: Vec<String> = unsynced.iter().map(|replica| replica.region.clone()).collect();
        let sync_time = if failed.is_empty() { moved.map(since) } else { None };
        if failed.is_empty() {
            info!(regions = ?regions, replica_sync_ms = sync_time.map(|t| t.as_millis() as u64), "every replica region holds the new version");
        } else {
            let statuses: Vec<String> = unsynced.iter().map(|replica| replica.to_string()).collect();
            error!(failed_regions = ?failed, statuses = ?statuses, "replica regions do not hold the new version: consumers there read a dead key (README, multi-region secrets); the key is safe in the primary region");
        }
        Some(Replication { regions, failed, sync_time, unknown: false })
    }
}

/// What telling consumers of a move nobody announced did.
pub(super) enum Told {
    /// The event could not be put (`NotifyFailed`).
    Failed,
    /// They were told; `dated`: the date label the move now carries (create-then-revoke), when it
    /// was written.
    Told { dated: Option<String> },
}

/// Whether the wait is over: every replica `InSync`, or one `Failed`.
fn settled(replicas: &[Replica]) -> bool {
    replicas.iter().all(|replica| replica.status == Replica::IN_SYNC)
        || replicas.iter().any(|replica| replica.status == Replica::FAILED)
}

/// The event for a move of AWSCURRENT to the version `call.event.token`, of `vendor`'s key.
pub(super) fn key_rotated(
    call: Invocation<'_>,
    vendor: String,
    mode: Mode,
    key_fingerprint: Option<String>,
    promote: Promote,
    dead_since: Option<SystemTime>,
) -> KeyRotated {
    KeyRotated {
        secret_arn: call.meta.arn.clone(),
        secret_name: call.meta.name.clone(),
        vendor,
        version_id: call.event.token.clone(),
        key_fingerprint,
        promote: promote.as_str(),
        dead_since: dead_since.and_then(crate::timing::rfc3339),
        cause: Cause::Rotation,
        mode: mode.as_str(),
    }
}

/// The fingerprint of the key in `version` (the pending one being promoted), read with today's
/// key-field tag, but only while the version's record of issue agrees with today's tags (else
/// the tag may now name another field, whose fingerprint must not go out as the key's).
pub(super) fn key_fingerprint(meta: &SecretMeta, version: &Version, settings: &Settings) -> Option<String> {
    let token = version.id.as_deref()?;
    Issued::check(meta.labels(token), &meta.tags, settings).ok()?;
    version.key(&meta.tags).ok().map(|value| value.key().fingerprint())
}

/// The vendor whose key the version holds: the one its record of issue names, else today's tag
/// (`unknown` when neither reads).
pub(super) fn vendor_of(meta: &SecretMeta, version: &str, settings: &Settings) -> String {
    Issued::vendor_of(meta.labels(version), &meta.tags, settings)
}
