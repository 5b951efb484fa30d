//! The four rotation steps and the guards that run before each of them (this file: the entry
//! point, [`Rotator::handle`], and AWS's reference guards).
//!
//! The vendor generates the new key and kills the old one in the same call, so the whole design
//! protects one window: from the vendor's answer until PutSecretValue succeeds, the only copy of
//! the key is in this process. That path, createSecret, has a file of its own (`create_secret.rs`),
//! with what follows an unclear rotate answer (`unclear.rs`), keeping an answer that holds no
//! readable key (`rescue.rs`) and the writes that must not be lost (`write.rs`). The other steps
//! (`test_secret.rs`; setSecret and finishSecret in `finish_secret.rs`) never change anything at
//! the vendor, and read only the tags they use, so a tag changed mid-rotation cannot keep a stored
//! key out of AWSCURRENT. What a step reports when it fails is in `error.rs`.

mod after_move;
mod create_secret;
pub mod error;
mod finish_secret;
mod overlap;
mod rescue;
mod test_secret;
#[cfg(test)]
mod tests;
mod unclear;
mod write;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::time::{Instant, timeout_at};
use tracing::{Instrument, error, info, info_span, warn};

use crate::config::{self, Promote, Settings, Target};
use crate::event::{RotationEvent, Step};
use crate::metrics::{Metrics, Record, Replication};
use crate::notify::{EventBus, Notifier};
use crate::secret::{SecretValue, ValueError};
use crate::sensitive::Sensitive;
use crate::store::{AWSCURRENT, AWSPENDING, SecretMeta, SecretStore, Store, Version};
use crate::timing::{before, later};
use crate::vendors::{Mode, VendorApi, VendorClient, Verdict, VerifyPolicy, verify_until};

pub use self::error::{Context, Error, ErrorKind};
use self::error::{NotRotatable, State, TimedOut, Unknown};

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
/// client, the EventBridge bus consumers hear from (all three behind small traits, so tests can
/// also run the steps in memory) and the settings.
pub struct Rotator<S = Store, V = VendorClient, N = EventBus> {
    store: S,
    vendors: V,
    notifier: N,
    settings: Settings,
    metrics: Metrics,
}

/// What every step works on: the event, the secret as DescribeSecret showed it, and the Lambda's
/// deadline.
#[derive(Clone, Copy)]
struct Invocation<'a> {
    event: &'a RotationEvent,
    meta: &'a SecretMeta,
    deadline: Instant,
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
    /// Set when the rotate outcome is unknown and nothing told whether the AWSCURRENT key still
    /// works: consumers may hold a dead key.
    key_state_unknown: bool,
    /// What the wait for the replica regions saw (finishSecret, for a replicated secret).
    replication: Option<Replication>,
    /// Whether the `Vendor Key Rotated` event failed, when this invocation sent it.
    notify_failed: Option<bool>,
    /// How the secret's vendor replaces keys, when the invocation knew the vendor.
    mode: Option<Mode>,
    /// Whether revoking the previous key failed, when this invocation revoked one.
    revoke_failed: Option<bool>,
    /// Whether a revoke the vendor answered with success left the previous key live (it killed
    /// some other key, or is not applied yet), when this invocation revoked one.
    wrong_key_revoked: Option<bool>,
}

impl<S: SecretStore, V: VendorApi, N: Notifier> Rotator<S, V, N> {
    /// A rotator whose metrics records go to stdout (see [`Rotator::with_metrics`]).
    pub fn new(store: S, vendors: V, notifier: N, settings: Settings) -> Self {
        let metrics = Metrics::stdout(settings.metrics_namespace.clone());
        Rotator { store, vendors, notifier, settings, metrics }
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
            mode: observed.mode.map(Mode::as_str),
            revoke_failed: observed.revoke_failed,
            wrong_key_revoked: observed.wrong_key_revoked,
            current_key_rejected: observed.current_key_rejected,
            key_state_unknown: observed.key_state_unknown,
            replication: observed.replication.take(),
            notify_failed: observed.notify_failed,
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
                Err(_) if observed.rotate_called => {
                    observed.key_state_unknown = true;
                    Err(Unknown::CutShort { version: event.token.clone() }.into())
                }
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
        if let Ok(vendor) = config::vendor_from_tags(&meta.tags, &self.settings) {
            context.vendor = Some(vendor.name());
            observed.mode = Some(Mode::of(vendor));
            tracing::Span::current().record("vendor", vendor.name());
        }
        observed.promote = Promote::from_tags(&meta.tags, &self.settings).ok();
        if !meta.rotation_enabled {
            return Err(NotRotatable::Disabled.into());
        }
        if !meta.versions.contains_key(&event.token) {
            return Err(NotRotatable::NotAVersion { version: event.token.clone() }.into());
        }
        let call = Invocation { event, meta: &meta, deadline };
        if meta.has_stage(&event.token, AWSCURRENT) {
            // Moved, by an earlier invocation that may have stopped before telling consumers.
            self.tell_if_untold(call, observed).await;
            // Promoted early, and not yet tested: testSecret still verifies the key.
            if event.step == Step::TestSecret && meta.has_stage(&event.token, AWSPENDING) {
                return self.test_secret(call, observed).await;
            }
            if event.step == Step::FinishSecret {
                // Promoted early: createSecret moved AWSCURRENT, and the replicas are waited for here.
                self.replicas_after_early_move(call, observed).await;
            }
            info!("version is already AWSCURRENT: nothing to do");
            return Ok(Outcome::AlreadyDone);
        }
        if !meta.has_stage(&event.token, AWSPENDING) {
            return Err(NotRotatable::NotPending { version: event.token.clone() }.into());
        }
        match event.step {
            Step::CreateSecret => self.create_secret(call, observed).await,
            Step::SetSecret => self.set_secret(call).await,
            Step::TestSecret => self.test_secret(call, observed).await,
            Step::FinishSecret => self.finish_secret(call, observed).await,
        }
    }

    /// This rotation's pending version, or `None` when the version has no value.
    async fn pending_value(&self, event: &RotationEvent) -> Result<Option<Version>, ErrorKind> {
        self.store
            .value(&event.secret_id, Some(&event.token), Some(AWSPENDING))
            .await
            .map_err(ErrorKind::store(State::NothingChanged))
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
        let until = until.min(later(policy.budget(timing)));
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
