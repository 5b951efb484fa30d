//! After a rotate call whose outcome is unknown (an error, a timeout, the current key handed
//! back): rotate is never called again; the current key is asked about, several times over a few
//! seconds because vendors read keys through lagging replicas, to tell the operator what happened.

use tokio::time::{Instant, sleep, timeout};
use tracing::warn;

use super::create_secret::Presented;
use super::error::{ErrorKind, Kept, Lost, Orphaned, Unknown};
use super::{Invocation, Observed, Rotator};
use crate::config::Target;
use crate::notify::Notifier;
use crate::sensitive::Sensitive;
use crate::store::SecretStore;
use crate::timing::{before, fits, later, time_left};
use crate::vendors::{VendorApi, Verdict};

/// What asking about a key until the vendor refuses it found (the probe of the current key after
/// an unclear rotate answer; the check that a revoked key is dead).
pub(super) enum Probe {
    /// The vendor refuses the key: it rotated, and the new key is lost.
    Refused(u16),
    /// The vendor accepted the key this many times: probably nothing rotated, not certainly.
    Accepted(u32),
    /// No verdict (outages, rate limits, no time): the last reason.
    NoVerdict(String),
}

impl<S: SecretStore, V: VendorApi, N: Notifier> Rotator<S, V, N> {
    /// After a rotate call whose outcome is unknown: what probing the current key says, as the
    /// error to report (with what became of the answer, when it was kept). rotate is not called
    /// again.
    pub(super) async fn after_unknown(
        &self,
        call: Invocation<'_>,
        rotate: Presented<'_>,
        reason: String,
        kept: Option<Kept>,
        observed: &mut Observed,
    ) -> ErrorKind {
        let Invocation { event, deadline, .. } = call;
        let Presented { target, key: current, mark } = rotate;
        warn!(
            reason,
            "the rotate call's outcome is unknown; asking the vendor about the current key (rotate will not be called again)"
        );
        let started = Instant::now();
        let probe = self.probe(target, current, deadline).await;
        let over = started.elapsed();
        // Fewer accepts than the probe wants, or none, settle nothing: consumers may hold a dead
        // key, whatever else is found below.
        // At a create-then-revoke vendor one accept settles it: the key consumers read works.
        let overlap = target.vendor.overlap().is_some();
        observed.key_state_unknown = match probe {
            Probe::Refused(_) => false,
            Probe::Accepted(_) if overlap => false,
            Probe::Accepted(accepts) => accepts < self.settings.timing.probe_accepts,
            Probe::NoVerdict(_) => true,
        };
        if self.stored_elsewhere(call).await {
            // Two invocations of one rotation: the other one's key is safe; this one's is unknown.
            return Unknown::StoredElsewhere { reason, version: event.token.clone(), kept }.into();
        }
        match probe {
            Probe::Refused(status) => {
                observed.current_key_rejected = Some(true);
                Lost::OldKeyRefused { reason, status, kept }.into()
            }
            // The create may have made a key no one has; the mark stays, so no retry creates again.
            Probe::Accepted(_) if let Some(mark) = mark.filter(|_| kept.is_none()) => {
                let vendor = target.vendor.name();
                let runbook = mark.runbook(&call.meta.arn, vendor);
                Orphaned::Unknown { vendor, reason, version: event.token.clone(), runbook }.into()
            }
            Probe::Accepted(accepts) => Unknown::OldKeyAccepted { reason, accepts, over, kept }.into(),
            Probe::NoVerdict(why) => Unknown::NoVerdict { reason, why, kept }.into(),
        }
    }

    /// Whether another invocation of this rotation has stored a value in its version (a failed
    /// read counts as no: this only softens a report).
    async fn stored_elsewhere(&self, call: Invocation<'_>) -> bool {
        let Invocation { event, deadline, .. } = call;
        let timing = &self.settings.timing;
        let left = time_left(before(deadline, timing.safety_margin));
        let read = self.store.value(&event.secret_id, Some(&event.token), None);
        matches!(timeout(timing.store_readback.min(left), read).await, Ok(Ok(Some(_))))
    }

    /// Whether another invocation of this rotation stores its key within a few seconds (checked
    /// `probe_accepts` times, `probe_interval` apart).
    pub(super) async fn stored_elsewhere_soon(&self, call: Invocation<'_>) -> bool {
        let timing = &self.settings.timing;
        for check in 0..timing.probe_accepts {
            if check > 0 {
                sleep(timing.probe_interval).await;
            }
            if self.stored_elsewhere(call).await {
                return true;
            }
        }
        false
    }

    /// Asks the vendor about the current key until it refuses it, or has accepted it
    /// `probe_accepts` times `probe_interval` apart, or the probe budget runs out.
    async fn probe(&self, target: &Target, key: &Sensitive, deadline: Instant) -> Probe {
        let timing = &self.settings.timing;
        let until = before(deadline, timing.safety_margin).min(later(timing.probe_budget));
        self.ask_until_refused(target, key, until, Some(timing.probe_accepts)).await
    }

    /// Asks the vendor about `key`, `probe_interval` apart (longer when rate limited), until it
    /// refuses it, or has accepted it `enough` times (`None`: never enough), or `until` comes.
    pub(super) async fn ask_until_refused(
        &self,
        target: &Target,
        key: &Sensitive,
        until: Instant,
        enough: Option<u32>,
    ) -> Probe {
        let timing = &self.settings.timing;
        let (mut accepts, mut last) = (0, "no time left before the deadline".to_owned());
        loop {
            let left = time_left(until);
            if left.is_zero() {
                break;
            }
            let verdict = self
                .vendors
                .verify(target.vendor, &target.base_url, key, timing.vendor_timeout.min(left))
                .await;
            let pause = match verdict {
                Verdict::Refused(status) => return Probe::Refused(status),
                Verdict::Accepted => {
                    accepts += 1;
                    if enough.is_some_and(|enough| accepts >= enough) {
                        return Probe::Accepted(accepts);
                    }
                    timing.probe_interval
                }
                Verdict::RateLimited(wait) => {
                    last = verdict.to_string();
                    wait.max(timing.probe_interval)
                }
                Verdict::Unavailable(reason) => {
                    last = reason;
                    timing.probe_interval
                }
            };
            if !fits(pause, until) {
                break;
            }
            sleep(pause).await;
        }
        if accepts > 0 { Probe::Accepted(accepts) } else { Probe::NoVerdict(last) }
    }
}
