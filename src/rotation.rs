//! The four rotation steps and the guards that run before each of them.
//!
//! The vendor generates the new key and kills the old one in the same call, so the whole design
//! protects one window: from the vendor's answer until PutSecretValue succeeds, the only copy of
//! the key is in this process. Hence:
//! * the vendor's rotate endpoint is called only from createSecret, only when the pending version
//!   has no value yet, only after the vendor has confirmed the current key, and only with time
//!   left for the storage retries;
//! * the new key is stored before anything else happens, retried until the deadline nears;
//! * after any failure whose outcome is unknown, the current key is probed; rotate is called
//!   again only while the vendor still accepts it;
//! * setSecret and testSecret never change anything at the vendor.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::time::{Instant, sleep, timeout_at};
use tracing::{Instrument, error, info, info_span, warn};

use crate::config::{Interval, SecretConfig, Settings};
use crate::error::{Context, Error, ErrorKind};
use crate::event::{RotationEvent, Step};
use crate::secret::SecretValue;
use crate::sensitive::Sensitive;
use crate::store::{AWSCURRENT, AWSPENDING, SecretMeta, Store, StoreError};
use crate::vendor::{RotateOutcome, VendorClient, Verdict};

const RECOVERY_CURRENT_REJECTED: &str = "See README.md, section \"Recovery: current key rejected\".";
const RECOVERY_TEST_FAILING: &str = "See README.md, section \"Recovery: test step failing\".";

/// How an invocation ended well.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The step did its work.
    Done,
    /// The step had already been done for this version (a retry); nothing was changed.
    AlreadyDone,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::AlreadyDone => "already_done",
        }
    }
}

/// Everything an invocation needs, built once per process.
pub struct Rotator {
    store: Store,
    vendors: VendorClient,
    settings: Settings,
}

impl Rotator {
    pub fn new(store: Store, vendors: VendorClient, settings: Settings) -> Self {
        Rotator { store, vendors, settings }
    }

    /// Runs one step for one event. Returns before `deadline` (the Lambda's), error or not.
    pub async fn handle(&self, payload: &Value, deadline: Instant) -> Result<Outcome, Error> {
        let started = Instant::now();
        let event = match RotationEvent::parse(payload) {
            Ok(event) => event,
            Err(problem) => {
                let kind = ErrorKind::InvalidEvent(problem.reason);
                error!(secret_arn = problem.secret_id.as_deref(), step = problem.step.map(Step::as_str), outcome = "failed", error_type = kind.name(), error = %kind, "rotation step failed");
                let context = Context { secret: problem.secret_id, step: problem.step, vendor: None };
                return Err(Error { context, kind });
            }
        };
        let span = info_span!(
            "rotation",
            secret_arn = %event.secret_id,
            step = %event.step,
            version = %event.token,
            vendor = tracing::field::Empty,
        );
        async {
            let mut context = Context { secret: Some(event.secret_id.clone()), step: Some(event.step), vendor: None };
            // A backstop for calls without their own deadline (the guards' Secrets Manager calls).
            // It fires after the storage loop's own cut-off, so it never interrupts storing a key.
            let backstop = before(deadline, self.settings.timing.safety_margin / 2);
            // Boxed: the step futures nest deep enough to exceed the compiler's layout query limit.
            let step = Box::pin(self.run(&event, deadline, &mut context));
            let result = match timeout_at(backstop, step).await {
                Ok(result) => result,
                Err(_) => Err(ErrorKind::Timeout(
                    "the step did not finish before the Lambda deadline (Secrets Manager or the vendor was too slow). Secrets Manager will retry; check the function's timeout (60 s or more) and its network path".into(),
                )),
            };
            let duration_ms = started.elapsed().as_millis() as u64;
            match &result {
                Ok(outcome) => info!(outcome = outcome.as_str(), duration_ms, "rotation step finished"),
                Err(kind) => error!(outcome = "failed", error_type = kind.name(), error = %kind, duration_ms, "rotation step failed"),
            }
            result.map_err(|kind| Error { context, kind })
        }
        .instrument(span)
        .await
    }

    /// AWS's reference guards, in order, then the step.
    async fn run(
        &self,
        event: &RotationEvent,
        deadline: Instant,
        context: &mut Context,
    ) -> Result<Outcome, ErrorKind> {
        let meta = self.store.describe(&event.secret_id).await.map_err(|e| {
            store_failure(e, "Nothing was changed. Check that the secret exists and that the function's role may call secretsmanager:DescribeSecret on it.")
        })?;
        context.secret = Some(meta.arn.clone());
        if !meta.rotation_enabled {
            return Err(ErrorKind::NotRotatable(
                "rotation is not enabled for this secret. Turn it on with `aws secretsmanager rotate-secret` and this function's ARN; nothing was changed".into(),
            ));
        }
        if !meta.versions.contains_key(&event.token) {
            return Err(ErrorKind::NotRotatable(format!(
                "version {} is not a version of this secret, so this event does not belong to a rotation Secrets Manager started. Nothing was changed",
                event.token
            )));
        }
        if meta.has_stage(&event.token, AWSCURRENT) {
            info!("version is already AWSCURRENT: the rotation finished earlier, nothing to do");
            return Ok(Outcome::AlreadyDone);
        }
        if !meta.has_stage(&event.token, AWSPENDING) {
            return Err(ErrorKind::NotRotatable(format!(
                "version {} is not AWSPENDING: this rotation was abandoned or superseded (for example by a manual PutSecretValue). Nothing was changed; start a new rotation if one is still needed",
                event.token
            )));
        }
        let interval = Interval::from_rules(meta.after_days, meta.schedule_expression.as_deref());
        let config =
            SecretConfig::from_tags(&meta.tags, interval, &self.settings).map_err(ErrorKind::Config)?;
        context.vendor = Some(config.vendor.name());
        tracing::Span::current().record("vendor", config.vendor.name());

        match event.step {
            Step::CreateSecret => self.create_secret(event, &meta, &config, deadline).await,
            Step::SetSecret => self.set_secret(event, &config).await,
            Step::TestSecret => self.test_secret(event, &config, deadline).await,
            Step::FinishSecret => self.finish_secret(event, &meta, &config).await,
        }
    }

    async fn create_secret(
        &self,
        event: &RotationEvent,
        meta: &SecretMeta,
        config: &SecretConfig,
        deadline: Instant,
    ) -> Result<Outcome, ErrorKind> {
        let secret = &meta.arn;
        if self
            .store
            .value(secret, Some(&event.token), AWSPENDING)
            .await
            .map_err(|e| store_failure(e, NOTHING_SENT))?
            .is_some()
        {
            info!("the pending version already holds a key: createSecret finished earlier");
            return Ok(Outcome::AlreadyDone);
        }

        // 1. Everything that can fail before the vendor is touched.
        let current = self
            .store
            .value(secret, None, AWSCURRENT)
            .await
            .map_err(|e| store_failure(e, NOTHING_SENT))?
            .ok_or_else(|| {
                ErrorKind::NotRotatable(
                    "the secret has no AWSCURRENT value to rotate from. Nothing was sent to the vendor"
                        .into(),
                )
            })?;
        let current = SecretValue::parse(&current, &config.key_field).map_err(ErrorKind::Config)?;
        let timing = &self.settings.timing;
        // Verifying the current key first, then a rotate with its reserve.
        let needed = timing.min_vendor_timeout + timing.rotate_reserve();
        let left = self.time_left(deadline);
        if left < needed {
            return Err(ErrorKind::Timeout(format!(
                "only {:.1} s were left before the Lambda deadline, and a rotation needs at least {:.1} s (vendor calls plus {:.0} s to store the new key). Nothing was sent to the vendor. Raise the function's timeout (60 s or more)",
                left.as_secs_f64(),
                needed.as_secs_f64(),
                timing.store_budget.as_secs_f64()
            )));
        }

        // 2. The vendor must still accept the current key, or rotating is impossible anyway.
        let verify_until = before(deadline, timing.safety_margin + timing.rotate_reserve());
        match self.verify_until(config, current.key(), verify_until, false).await {
            (Verdict::Accepted, _) => {}
            (Verdict::Refused(status), _) => {
                return Err(ErrorKind::VendorRejectedKey(format!(
                    "the vendor refuses the current key (HTTP {status}), so nothing was rotated. Either the key was revoked or rotated outside this function, or an earlier rotation's new key was lost. {RECOVERY_CURRENT_REJECTED}"
                )));
            }
            (verdict, _) => {
                return Err(ErrorKind::Vendor(format!(
                    "could not confirm the current key with the vendor ({}). Nothing was rotated and nothing is lost; Secrets Manager will retry",
                    describe_verdict(&verdict)
                )));
            }
        }

        // 3. Rotate, once per attempt, and only while the vendor proves nothing rotated yet.
        let new_key = self.rotate(config, current.key(), deadline).await?;
        info!(key_fingerprint = %new_key.fingerprint(), "the vendor rotated the key; storing it");
        if !config.vendor.looks_like_key(current.key().expose(), new_key.expose()) {
            warn!(key_fingerprint = %new_key.fingerprint(), "the new key does not look like a {} key; storing it anyway, since the vendor made it live", config.vendor.name());
        }

        // 4. Store it at once.
        let value = current.with_key(&new_key);
        let until = before(deadline, timing.safety_margin);
        match self
            .store
            .put_pending(secret, &event.token, &value, event.rotation_token.as_ref(), until, timing)
            .await
        {
            Ok(attempts) => {
                info!(attempts, key_fingerprint = %new_key.fingerprint(), "stored the new key as AWSPENDING");
                Ok(Outcome::Done)
            }
            Err(failure) => {
                // 5. The key is lost with this process. Say which key, never what it is.
                error!(key_fingerprint = %new_key.fingerprint(), error = %failure.message, "the vendor rotated the key but it could not be stored: the new key is lost");
                Err(ErrorKind::KeyLost(format!(
                    "the vendor rotated the key and invalidated the old one, but storing the new key (fingerprint {}) failed: {}. The new key existed only in this invocation and is lost.",
                    new_key.fingerprint(),
                    failure.message
                )))
            }
        }
    }

    /// Calls the vendor's rotate endpoint, at most `rotate_attempts` times, each time only after
    /// the vendor proved the previous attempt rotated nothing.
    async fn rotate(
        &self,
        config: &SecretConfig,
        current: &Sensitive,
        deadline: Instant,
    ) -> Result<Sensitive, ErrorKind> {
        let timing = &self.settings.timing;
        let mut backoff = timing.initial_backoff;
        let mut last_failure = String::new();
        for attempt in 1..=timing.rotate_attempts {
            // Keep the storage budget, and as much again for a probe after an unclear answer.
            let spare = self.time_left(deadline).saturating_sub(timing.store_budget);
            let call_timeout = timing.vendor_timeout.min(spare / 2);
            if call_timeout < timing.min_vendor_timeout {
                return Err(if attempt == 1 {
                    ErrorKind::Timeout("too little time was left before the Lambda deadline to call the vendor and then store the key. Nothing was rotated. Raise the function's timeout (60 s or more)".into())
                } else {
                    nothing_rotated(attempt - 1, &last_failure)
                });
            }
            let outcome = self
                .vendors
                .rotate(config.vendor, &config.base_url, current, config.rotate_body.as_ref(), call_timeout)
                .await;
            let failure = match outcome {
                RotateOutcome::Rotated(key) => return Ok(key),
                RotateOutcome::Refused(status) => {
                    return Err(ErrorKind::Vendor(format!(
                        "the vendor refused the rotate call with HTTP {status}, so nothing was rotated and the current key still works. {}",
                        refusal_hint(status)
                    )));
                }
                RotateOutcome::RateLimited(wait) => {
                    let after_wait = self.time_left(deadline).saturating_sub(wait);
                    if after_wait < timing.rotate_reserve() {
                        return Err(ErrorKind::Vendor(format!(
                            "the vendor is rate limiting this key (HTTP 429, reset in {:.0} s, later than this invocation can wait). Nothing was rotated; Secrets Manager will retry",
                            wait.as_secs_f64()
                        )));
                    }
                    info!(
                        wait_ms = wait.as_millis() as u64,
                        "the vendor is rate limiting (nothing rotated); waiting for its reset"
                    );
                    sleep(wait).await;
                    last_failure = "rate limited (HTTP 429)".into();
                    continue;
                }
                RotateOutcome::NotSent(reason) => reason,
                RotateOutcome::Ambiguous(reason) => {
                    warn!(
                        attempt,
                        reason,
                        "the rotate call's outcome is unknown; asking the vendor whether the current key still works"
                    );
                    match self
                        .verify_until(config, current, before(deadline, timing.safety_margin), false)
                        .await
                    {
                        (Verdict::Accepted, _) => {
                            info!("the vendor still accepts the current key: nothing was rotated");
                            reason
                        }
                        (Verdict::Refused(status), _) => {
                            return Err(ErrorKind::KeyLost(format!(
                                "the rotate call failed ({reason}), yet the vendor now refuses the previous key (HTTP {status}): it rotated, and the new key never reached this function, so it is lost. Do not retry the rotation: the vendor would refuse the old key again."
                            )));
                        }
                        (verdict, _) => {
                            return Err(ErrorKind::KeyLost(format!(
                                "the rotate call failed ({reason}) and the vendor could not then be asked whether the previous key still works ({}). The vendor may have rotated, in which case the new key is lost. Check the AWSCURRENT key against the vendor: if it still works nothing is lost and the next rotation will proceed; if it is refused, the key is lost.",
                                describe_verdict(&verdict)
                            )));
                        }
                    }
                }
            };
            warn!(attempt, reason = %failure, "rotate attempt failed without rotating");
            last_failure = failure;
            if attempt < timing.rotate_attempts {
                sleep(backoff).await;
                backoff = timing.next_backoff(backoff);
            }
        }
        Err(nothing_rotated(timing.rotate_attempts, &last_failure))
    }

    /// setSecret: the vendor already holds the new key. Confirm the pending version has one.
    async fn set_secret(&self, event: &RotationEvent, config: &SecretConfig) -> Result<Outcome, ErrorKind> {
        self.pending_key(event, config).await?;
        info!("the pending version holds a key; the vendor already uses it, nothing to set");
        Ok(Outcome::Done)
    }

    /// testSecret: read-only (Secrets Manager also calls it alone, with RotateImmediately = false).
    async fn test_secret(
        &self,
        event: &RotationEvent,
        config: &SecretConfig,
        deadline: Instant,
    ) -> Result<Outcome, ErrorKind> {
        let pending = self.pending_key(event, config).await?;
        let timing = &self.settings.timing;
        let until = (Instant::now() + timing.test_budget).min(before(deadline, timing.safety_margin));
        match self.verify_until(config, &pending, until, true).await {
            (Verdict::Accepted, tries) => {
                info!(tries, "the vendor accepts the pending key");
                Ok(Outcome::Done)
            }
            (Verdict::Refused(status), tries) => Err(ErrorKind::VendorRejectedKey(format!(
                "the vendor refuses the pending key (fingerprint {}, HTTP {status}) after {tries} tries over {:.0} s. The key is kept in AWSPENDING and AWSCURRENT is unchanged. {RECOVERY_TEST_FAILING}",
                pending.fingerprint(),
                timing.test_budget.as_secs_f64()
            ))),
            (verdict, tries) => Err(ErrorKind::Vendor(format!(
                "could not verify the pending key after {tries} tries ({}). It is kept in AWSPENDING and nothing is lost; Secrets Manager will retry",
                describe_verdict(&verdict)
            ))),
        }
    }

    /// finishSecret: one compare-and-swap stage move, and never onto a version without a key.
    async fn finish_secret(
        &self,
        event: &RotationEvent,
        meta: &SecretMeta,
        config: &SecretConfig,
    ) -> Result<Outcome, ErrorKind> {
        self.pending_key(event, config).await?;
        let current = meta.version_with(AWSCURRENT);
        self.store
            .make_current(&meta.arn, &event.token, current)
            .await
            .map_err(|e| store_failure(e, "The new key is safe in AWSPENDING; AWSCURRENT is unchanged."))?;
        info!(previous_version = current, "AWSCURRENT moved to the new version");
        Ok(Outcome::Done)
    }

    async fn pending_key(
        &self,
        event: &RotationEvent,
        config: &SecretConfig,
    ) -> Result<Sensitive, ErrorKind> {
        let pending = self
            .store
            .value(&event.secret_id, Some(&event.token), AWSPENDING)
            .await
            .map_err(|e| store_failure(e, "Nothing was changed."))?
            .ok_or_else(|| {
                ErrorKind::NotRotatable(format!(
                    "the pending version {} has no value: createSecret has not stored a key for this rotation. Nothing was changed",
                    event.token
                ))
            })?;
        let value = SecretValue::parse(&pending, &config.key_field)
            .map_err(|e| ErrorKind::Config(format!("the pending version: {e}")))?;
        Ok(value.key().clone())
    }

    /// Asks the vendor about `key` until it gives a verdict or `until` comes. Waits out rate
    /// limits and outages; retries refusals only when `retry_refusals` (a new key can take a few
    /// seconds to propagate). Returns the last verdict and the number of calls.
    async fn verify_until(
        &self,
        config: &SecretConfig,
        key: &Sensitive,
        until: Instant,
        retry_refusals: bool,
    ) -> (Verdict, u32) {
        let timing = &self.settings.timing;
        let mut backoff = timing.initial_backoff;
        let mut tries = 0;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return (Verdict::Unavailable("no time left before the deadline".into()), tries);
            }
            tries += 1;
            let call_timeout = timing.vendor_timeout.min(left);
            let verdict = self.vendors.verify(config.vendor, &config.base_url, key, call_timeout).await;
            let pause = match &verdict {
                Verdict::Accepted => return (verdict, tries),
                Verdict::Refused(_) if !retry_refusals => return (verdict, tries),
                Verdict::RateLimited(wait) => *wait,
                Verdict::Refused(_) | Verdict::Unavailable(_) => backoff,
            };
            if Instant::now() + pause + timing.min_vendor_timeout > until {
                return (verdict, tries);
            }
            info!(
                tries,
                verdict = describe_verdict(&verdict),
                pause_ms = pause.as_millis() as u64,
                "no verdict yet; asking the vendor again"
            );
            sleep(pause).await;
            backoff = timing.next_backoff(backoff);
        }
    }

    fn time_left(&self, deadline: Instant) -> Duration {
        deadline.saturating_duration_since(Instant::now()).saturating_sub(self.settings.timing.safety_margin)
    }
}

/// The Lambda context's deadline as a monotonic instant. The Runtime API sends Unix time in
/// milliseconds; some local emulators send the timeout itself instead (`cargo lambda watch` sends
/// 600000 for ten minutes). A "deadline" before 2001 can only be such a timeout, and is read as one.
pub fn instant_from(deadline: SystemTime) -> Instant {
    const YEAR_2001: Duration = Duration::from_secs(978_307_200);
    let since_epoch = deadline.duration_since(UNIX_EPOCH).unwrap_or_default();
    if since_epoch < YEAR_2001 {
        warn!(
            deadline_ms = since_epoch.as_millis() as u64,
            "the Runtime API's deadline is not a Unix time; reading it as a timeout (a local emulator)"
        );
        return Instant::now() + since_epoch;
    }
    Instant::now() + deadline.duration_since(SystemTime::now()).unwrap_or_default()
}

/// `deadline` minus `margin`, or now if that would be earlier (never panics on a young clock).
fn before(deadline: Instant, margin: Duration) -> Instant {
    deadline.checked_sub(margin).unwrap_or_else(Instant::now)
}

const NOTHING_SENT: &str = "Nothing was sent to the vendor.";

/// A failed Secrets Manager call: what failed, the state it left (`state`), and what happens next,
/// which depends on whether retrying can help.
fn store_failure(error: StoreError, state: &str) -> ErrorKind {
    let next = if error.transient {
        "Secrets Manager will retry."
    } else {
        "Retrying will not help: fix the function's permissions or the secret first."
    };
    ErrorKind::Store(format!("{} {state} {next}", error.message))
}

fn nothing_rotated(attempts: u32, last_failure: &str) -> ErrorKind {
    ErrorKind::Vendor(format!(
        "the vendor failed {attempts} rotate attempt(s), the last with: {last_failure}. It still accepts the current key, so nothing was rotated and nothing is lost; Secrets Manager will retry"
    ))
}

fn describe_verdict(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Accepted => "accepted".into(),
        Verdict::Refused(status) => format!("refused with HTTP {status}"),
        Verdict::RateLimited(wait) => format!("rate limited for {:.0} s", wait.as_secs_f64()),
        Verdict::Unavailable(reason) => reason.clone(),
    }
}

fn refusal_hint(status: u16) -> &'static str {
    match status {
        401 | 403 => {
            "The key may lack the right to manage API keys (a Cal.com team key needs an OWNER or ADMIN; a Ringg key needs a role that manages keys)."
        }
        400 => "The vendor rejected the request itself; for Cal.com check the rotation:calcom-* tags.",
        _ => "Check the base URL and the vendor's status.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seconds_left(instant: Instant) -> u64 {
        instant.saturating_duration_since(Instant::now()).as_secs_f64().round() as u64
    }

    #[test]
    fn deadlines_from_the_runtime_api() {
        let in_a_minute = SystemTime::now() + Duration::from_secs(60);
        assert_eq!(seconds_left(instant_from(in_a_minute)), 60);
        let passed = SystemTime::now() - Duration::from_secs(5);
        assert_eq!(seconds_left(instant_from(passed)), 0);
        // An emulator that sends the timeout (600000 ms) instead of a Unix time.
        assert_eq!(seconds_left(instant_from(UNIX_EPOCH + Duration::from_millis(600_000))), 600);
    }
}
