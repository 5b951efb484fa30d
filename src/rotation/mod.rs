//! The four rotation steps and the guards that run before each of them.
//!
//! The vendor generates the new key and kills the old one in the same call, so the whole design
//! protects one window: from the vendor's answer until PutSecretValue succeeds, the only copy of
//! the key is in this process. That path, createSecret, has a file of its own ([`create_secret`]),
//! and so do the writes that must not be lost ([`write`]). The
//! other steps never change anything at the vendor, and read only the tags they use, so a tag
//! changed mid-rotation cannot keep a stored key out of AWSCURRENT.

mod create_secret;
pub mod error;
#[cfg(test)]
mod tests;
mod write;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::time::{Instant, timeout_at};
use tracing::{Instrument, error, info, info_span, warn};

use crate::config::{self, Issued, Promote, Settings, Target};
use crate::event::{RotationEvent, Step};
use crate::metrics::{Metrics, Record};
use crate::secret::{SecretValue, ValueError};
use crate::sensitive::Sensitive;
use crate::store::{AWSCURRENT, AWSPENDING, SecretMeta, SecretStore, Store, Version};
use crate::timing::{before, later};
use crate::vendors::{VendorApi, VendorClient, Verdict, VerifyPolicy, verify_until};

pub use self::error::{Context, Error, ErrorKind};
use self::error::{NotRotatable, Problem, Rejected, State, Tested, TimedOut, Unknown, VendorFailure};

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

/// Everything an invocation needs, built once per process: Secrets Manager, the vendors' HTTP
/// client (both behind small traits, so tests can also run the steps in memory) and the settings.
pub struct Rotator<S = Store, V = VendorClient> {
    store: S,
    vendors: V,
    settings: Settings,
    metrics: Metrics,
}

/// What an invocation observed beyond its outcome, for its metrics record.
#[derive(Debug, Default)]
struct Observed {
    /// Set when this invocation moved AWSCURRENT to the new key.
    dead_key_window: Option<Duration>,
    promote: Option<Promote>,
    /// Set when createSecret is about to call the vendor's rotate endpoint: from then on, a step
    /// cut short by the deadline cannot say that nothing happened.
    rotate_called: bool,
    /// Whether the vendor refused the key consumers read from AWSCURRENT, when this invocation
    /// asked it about that key.
    current_key_rejected: Option<bool>,
}

impl<S: SecretStore, V: VendorApi> Rotator<S, V> {
    /// A rotator whose metrics records go to stdout (see [`Rotator::with_metrics`]).
    pub fn new(store: S, vendors: V, settings: Settings) -> Self {
        let metrics = Metrics::stdout(settings.metrics_namespace.clone());
        Rotator { store, vendors, settings, metrics }
    }

    pub fn with_metrics(self, metrics: Metrics) -> Self {
        Rotator { metrics, ..self }
    }

    /// Runs one step for one event and writes its metrics record. Returns before `deadline` (the
    /// Lambda's), error or not.
    pub async fn handle(&self, payload: &Value, deadline: Instant) -> Result<Outcome, Error> {
        let started = Instant::now();
        let mut observed = Observed::default();
        let result = self.handle_observed(payload, deadline, &mut observed).await;
        let context = match &result {
            Err(error) => error.context.clone(),
            Ok((_, context)) => context.clone(),
        };
        self.metrics.emit(&Record {
            vendor: context.vendor,
            step: context.step,
            secret: context.secret,
            duration: started.elapsed(),
            error_type: result.as_ref().err().map(|error| error.kind.error_type()),
            dead_key_window: observed.dead_key_window,
            promote: observed.promote.map(Promote::as_str),
            current_key_rejected: observed.current_key_rejected,
        });
        result.map(|(outcome, _)| outcome)
    }

    async fn handle_observed(
        &self,
        payload: &Value,
        deadline: Instant,
        observed: &mut Observed,
    ) -> Result<(Outcome, Context), Error> {
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
            let step = Box::pin(self.run(&event, deadline, &mut context, observed));
            let result = match timeout_at(backstop, step).await {
                Ok(result) => result,
                Err(_) if observed.rotate_called => Err(Unknown::CutShort { version: event.token.clone() }.into()),
                Err(_) => Err(TimedOut::Deadline { create_budget: self.settings.timing.create_budget() }.into()),
            };
            let duration_ms = started.elapsed().as_millis() as u64;
            match &result {
                Ok(outcome) => info!(outcome = outcome.as_str(), duration_ms, "rotation step finished"),
                Err(kind) => error!(outcome = "failed", error_type = kind.name(), error = %kind, duration_ms, "rotation step failed"),
            }
            match result {
                Ok(outcome) => Ok((outcome, context)),
                Err(kind) => Err(Error { context, kind }),
            }
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
        observed: &mut Observed,
    ) -> Result<Outcome, ErrorKind> {
        let meta =
            self.store.describe(&event.secret_id).await.map_err(ErrorKind::store(State::SecretUnread))?;
        context.secret = Some(meta.arn.clone());
        // For the error's context, the logs and the metrics only: each step reads the tags it
        // needs itself.
        if let Ok(vendor) = config::vendor_from_tags(&meta.tags) {
            context.vendor = Some(vendor.name());
            tracing::Span::current().record("vendor", vendor.name());
        }
        observed.promote = Promote::from_tags(&meta.tags, &self.settings).ok();
        if !meta.rotation_enabled {
            return Err(NotRotatable::Disabled.into());
        }
        if !meta.versions.contains_key(&event.token) {
            return Err(NotRotatable::NotAVersion { version: event.token.clone() }.into());
        }
        if meta.has_stage(&event.token, AWSCURRENT) {
            // Promoted early, and not yet tested: testSecret still verifies the key.
            if event.step == Step::TestSecret && meta.has_stage(&event.token, AWSPENDING) {
                return self.test_secret(event, &meta, deadline, observed).await;
            }
            info!("version is already AWSCURRENT: nothing to do");
            return Ok(Outcome::AlreadyDone);
        }
        if !meta.has_stage(&event.token, AWSPENDING) {
            return Err(NotRotatable::NotPending { version: event.token.clone() }.into());
        }
        match event.step {
            Step::CreateSecret => self.create_secret(event, &meta, deadline, observed).await,
            Step::SetSecret => self.set_secret(event, &meta).await,
            Step::TestSecret => self.test_secret(event, &meta, deadline, observed).await,
            Step::FinishSecret => self.finish_secret(event, &meta, observed).await,
        }
    }

    /// setSecret: the vendor already holds the new key. Confirm the pending version has one.
    async fn set_secret(&self, event: &RotationEvent, meta: &SecretMeta) -> Result<Outcome, ErrorKind> {
        self.stored_pending(event, meta).await?;
        info!("the pending version holds a key; the vendor already uses it, nothing to set");
        Ok(Outcome::Done)
    }

    /// testSecret: read-only (Secrets Manager also calls it alone, with RotateImmediately = false,
    /// when the pending version may hold no value or a copy of the current one).
    async fn test_secret(
        &self,
        event: &RotationEvent,
        meta: &SecretMeta,
        deadline: Instant,
        observed: &mut Observed,
    ) -> Result<Outcome, ErrorKind> {
        let target = Target::from_tags(&meta.tags, &self.settings).map_err(ErrorKind::config_later)?;
        let key_field = config::key_field_from_tags(&meta.tags).map_err(ErrorKind::config_later)?;
        let (key, which) = match self.pending_value(event).await? {
            Some(pending) => {
                self.still_issued(meta, &event.token)?;
                let value = SecretValue::parse(&pending.text, &key_field)
                    .map_err(|e| ErrorKind::config_later(Problem::PendingValue(e)))?;
                (value.key().clone(), Tested::Pending)
            }
            None => {
                info!(
                    "the pending version holds no value (a configuration test): verifying the AWSCURRENT key instead, read-only"
                );
                let current = self
                    .current_value(&meta.arn, &key_field, State::NothingChanged, ErrorKind::config_later)
                    .await?;
                (current.0.key().clone(), Tested::Current)
            }
        };
        let timing = &self.settings.timing;
        let started = Instant::now();
        let until = before(deadline, timing.safety_margin);
        let verdict = self.verify_until(&target, &key, until, VerifyPolicy::Test).await;
        let promoted_early = meta.has_stage(&event.token, AWSCURRENT);
        let tested_is_current = which == Tested::Current || promoted_early;
        observed.current_key_rejected = self
            .current_key_verdict(meta, &target, &key_field, &key, tested_is_current, &verdict.0, deadline)
            .await;
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
    #[allow(clippy::too_many_arguments)]
    async fn current_key_verdict(
        &self,
        meta: &SecretMeta,
        target: &Target,
        key_field: &str,
        tested: &Sensitive,
        tested_is_current: bool,
        verdict: &Verdict,
        deadline: Instant,
    ) -> Option<bool> {
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
        let timeout =
            self.settings.timing.vendor_timeout.min(until.saturating_duration_since(Instant::now()));
        match self.vendors.verify(target.vendor, &target.base_url, &current, timeout).await {
            Verdict::Refused(_) => Some(true),
            Verdict::Accepted => Some(false),
            _ => None,
        }
    }

    /// finishSecret: one compare-and-swap stage move, and never onto a version without a key.
    async fn finish_secret(
        &self,
        event: &RotationEvent,
        meta: &SecretMeta,
        observed: &mut Observed,
    ) -> Result<Outcome, ErrorKind> {
        let pending = self.stored_pending(event, meta).await?;
        let current = meta.version_with(AWSCURRENT);
        self.store
            .make_current(&meta.arn, &event.token, current)
            .await
            .map_err(ErrorKind::store(State::KeySafeInPending))?;
        // Consumers read the dead key from the moment the vendor rotated (about when the pending
        // version was created) until now.
        observed.dead_key_window =
            pending.created.map(|created| SystemTime::now().duration_since(created).unwrap_or_default());
        info!(
            previous_version = current,
            dead_key_window_ms = observed.dead_key_window.map(|w| w.as_millis() as u64),
            "AWSCURRENT moved to the new version"
        );
        Ok(Outcome::Done)
    }

    /// A pending key goes only where it was issued: today's tags must still name the vendor, base
    /// URL and key field createSecret recorded on the version (`Config` names the tag that changed;
    /// nothing is sent and the version is kept). A version without the record (stored by an earlier
    /// release, or with its label refused) is checked against today's tags alone.
    fn still_issued(&self, meta: &SecretMeta, version: &str) -> Result<(), ErrorKind> {
        let recorded = Issued::check(meta.labels(version), &meta.tags, &self.settings)
            .map_err(ErrorKind::config_later)?;
        if !recorded {
            warn!("the pending version records no vendor, base URL or key field: trusting today's tags");
        }
        Ok(())
    }

    /// This rotation's pending version, or `None` when the version has no value.
    async fn pending_value(&self, event: &RotationEvent) -> Result<Option<Version>, ErrorKind> {
        self.store
            .value(&event.secret_id, Some(&event.token), Some(AWSPENDING))
            .await
            .map_err(ErrorKind::store(State::NothingChanged))
    }

    /// For setSecret and finishSecret: the pending version must hold a value. Whether the value
    /// still reads with today's `rotation:key-field` tag is only worth a warning: createSecret
    /// stored it and testSecret verified it, and a tag changed since must not strand the key.
    async fn stored_pending(&self, event: &RotationEvent, meta: &SecretMeta) -> Result<Version, ErrorKind> {
        let pending = self
            .pending_value(event)
            .await?
            .ok_or_else(|| NotRotatable::NoPendingValue { version: event.token.clone() })?;
        if let Err(problem) = pending.key(&meta.tags) {
            warn!(problem = %problem, "the pending value does not read with the key-field tag as it is now; createSecret stored it, so carrying on");
        }
        Ok(pending)
    }

    /// The AWSCURRENT value, parsed. `state` says what a failure left behind; `config` makes the
    /// error for a value that does not parse.
    async fn current_value(
        &self,
        secret: &str,
        key_field: &str,
        state: State,
        config: fn(ValueError) -> ErrorKind,
    ) -> Result<(SecretValue, Option<String>), ErrorKind> {
        let current = self
            .store
            .value(secret, None, Some(AWSCURRENT))
            .await
            .map_err(ErrorKind::store(state))?
            .ok_or(NotRotatable::NoCurrentValue { state })?;
        Ok((SecretValue::parse(&current.text, key_field).map_err(config)?, current.id))
    }

    /// [`verify_until`] with this rotator's vendor client and timings, as `policy` says, and never
    /// past `until` (the step's own limit before the deadline).
    async fn verify_until(
        &self,
        target: &Target,
        key: &Sensitive,
        until: Instant,
        policy: VerifyPolicy,
    ) -> (Verdict, u32) {
        let (vendors, timing) = (&self.vendors, &self.settings.timing);
        let until = until.min(Instant::now() + policy.budget(timing));
        verify_until(vendors, target.vendor, &target.base_url, key, until, policy, timing).await
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
        return later(since_epoch);
    }
    later(deadline.duration_since(SystemTime::now()).unwrap_or_default())
}
