//! The operator's commands: `check`, `status`, `repair` and `recover`, run from the same binary
//! outside Lambda. Each one reads a secret the way the rotation does, says what it found as a
//! report, and changes something only where its command says so. Keys never appear in a report:
//! only their fingerprints.
//!
//! `crate::cli` parses the command line, prints the reports and turns them into exit codes.

mod check;
mod environment;
mod error;
mod recover;
mod repair;
mod status;
mod vendors;

pub use check::{Check, CheckReport, Status};
pub use environment::{EnvProblem, EnvRule, EnvSource, Environment};
pub use error::{ClearError, StoreProblem};
pub use recover::{RecoverError, Recovered};
pub use repair::{Applied, ApplyError, Lockout, Plan, Refusal, RepairReport, Told};
pub use status::StatusReport;
pub use vendors::{Call, KnownVendor, Source, VendorList, VendorTest, VendorTestError};

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use crate::config::{TAG_VENDOR, Target};
use crate::function::{FunctionConfig, FunctionReader, Functions};
use crate::notify::Notifier;
use crate::notify::{EventBus, KeyRotated, put_retried};
use crate::sensitive::Sensitive;
use crate::store::shared::Survey;
use crate::store::{
    AWSCURRENT, AWSPENDING, OperatorStore, SecretMeta, Store, StoreError, Version, fingerprint,
};
use crate::timing::{Timing, later};
use crate::vendors::{VendorApi, VendorClient, Verdict, VerifyPolicy, verify_until};

/// The operator's view of Secrets Manager, the vendors and the rotation functions. Each secret is
/// judged in its rotation function's environment (or as [`EnvRule`] says).
pub struct Operator<S = Store, V = VendorClient, F = Functions, N = EventBus> {
    store: S,
    vendors: V,
    functions: F,
    /// Where consumers hear of a move of AWSCURRENT a command makes.
    notifier: N,
    rule: EnvRule,
    timing: Timing,
    /// Each function's configuration, read once per run (secrets may share a function).
    read: Mutex<HashMap<String, Result<FunctionConfig, EnvProblem>>>,
    /// The pairs of secrets `check` found sharing a key in this run: each is explained once.
    shared_pairs: Mutex<HashSet<(String, String)>>,
    /// The secrets tagged for each vendor, surveyed once per run for `check`'s shared line (and
    /// their fingerprints recorded as they are read).
    surveys: Mutex<HashMap<String, Survey>>,
}

/// The state of a secret's rotation, from its AWSPENDING label.
#[derive(Clone, Debug)]
pub enum Pending {
    /// No version carries AWSPENDING apart from AWSCURRENT's own.
    None,
    /// This version carries AWSPENDING and has no value: a placeholder.
    Empty(String),
    /// This version carries AWSPENDING and holds a value.
    Stored(String, Version),
}

impl Pending {
    pub fn as_str(&self) -> &'static str {
        match self {
            Pending::None => "none",
            Pending::Empty(_) => "empty",
            Pending::Stored(..) => "stored",
        }
    }
}

/// One secret as the commands see it. Only DescribeSecret must work; a value that cannot be read
/// is reported as such.
struct Found {
    meta: SecretMeta,
    current: Result<Option<Version>, StoreError>,
    pending: Result<Pending, StoreError>,
    /// The environment that judges the secret; without one nothing is sent to any vendor.
    env: Result<Environment, EnvProblem>,
}

impl Found {
    fn current_version(&self) -> Option<&str> {
        self.meta.version_with(AWSCURRENT)
    }
}

impl<S: OperatorStore, V: VendorApi, F: FunctionReader, N: Notifier> Operator<S, V, F, N> {
    pub fn new(store: S, vendors: V, functions: F, notifier: N, rule: EnvRule) -> Self {
        let timing = Timing::default();
        let (read, shared_pairs, surveys) = (Mutex::default(), Mutex::default(), Mutex::default());
        Operator { store, vendors, functions, notifier, rule, timing, read, shared_pairs, surveys }
    }

    /// Tells consumers of a move of AWSCURRENT this command made or found untold (the `Vendor Key
    /// Rotated` event, retried briefly), and records that they were: the fingerprints beside the
    /// new current version (`meta` is the secret as it was read before) come off. `Err` says why
    /// they were not told, and what to do.
    async fn tell(&self, meta: &SecretMeta, event: KeyRotated) -> Result<(), String> {
        let until = later(self.timing.notify_budget);
        if let (attempts, Err(failure)) = put_retried(&self.notifier, &event, until, &self.timing).await {
            return Err(format!(
                "consumers were not told of the move: the Vendor Key Rotated event failed after {attempts} attempt(s) ({failure}); restart or refresh the readers of {} by hand",
                meta.arn
            ));
        }
        // Not recorded: at worst a later rotation step tells them again.
        let _ = fingerprint::clear_beside(&self.store, meta, &event.version_id).await;
        Ok(())
    }

    /// `--all`: every secret that has a `rotation:vendor` tag.
    pub async fn tagged_secrets(&self) -> Result<Vec<String>, StoreError> {
        self.store.list_tagged(TAG_VENDOR).await
    }

    async fn find(&self, secret_id: &str) -> Result<Found, StoreError> {
        let meta = self.store.describe(secret_id).await?;
        let current = self.store.value(&meta.arn, None, Some(AWSCURRENT)).await;
        let pending = match meta.pending_version() {
            None => Ok(Pending::None),
            Some(version) => {
                self.store.value(&meta.arn, Some(version), Some(AWSPENDING)).await.map(|value| match value {
                    None => Pending::Empty(version.to_owned()),
                    Some(value) => Pending::Stored(version.to_owned(), value),
                })
            }
        };
        let env = self.environment(&meta).await;
        Ok(Found { meta, current, pending, env })
    }

    /// The environment that judges the secret: as the rule says, its rotation function's (read
    /// once per function), the one named instead, or the shell's.
    async fn environment(&self, meta: &SecretMeta) -> Result<Environment, EnvProblem> {
        let function = match &self.rule {
            EnvRule::Shell(settings) => return Ok(Environment::of_shell(settings)),
            EnvRule::Function { named } => named.as_ref().or(meta.rotation_function.as_ref()),
        };
        let function = function.ok_or(EnvProblem::NoFunction)?;
        // The secret's own function, when another one was named instead.
        let instead_of = meta.rotation_function.clone().filter(|own| own != function);
        self.function_environment(function, instead_of).await
    }

    /// The environment of the command itself: the function named with `--function`, or the
    /// shell's. A command about the function (`vendors`) has no secret to name one.
    async fn named_environment(&self) -> Result<Environment, EnvProblem> {
        match &self.rule {
            EnvRule::Shell(settings) => Ok(Environment::of_shell(settings)),
            EnvRule::Function { named: None } => Err(EnvProblem::NoFunctionNamed),
            EnvRule::Function { named: Some(function) } => self.function_environment(function, None).await,
        }
    }

    /// `function`'s environment, its configuration read once per run.
    async fn function_environment(
        &self,
        function: &String,
        instead_of: Option<String>,
    ) -> Result<Environment, EnvProblem> {
        let known = self.read.lock().ok().and_then(|read| read.get(function).cloned());
        let config = match known {
            Some(config) => config,
            None => {
                let config = self
                    .functions
                    .configuration(function)
                    .await
                    .map_err(|error| EnvProblem::read_failed(function, error.into()));
                if let Ok(mut read) = self.read.lock() {
                    read.insert(function.clone(), config.clone());
                }
                config
            }
        };
        Environment::of_function(config?, instead_of)
    }

    /// Takes AWSPENDING off a version that held no value, then looks again: a createSecret running
    /// at that moment (Secrets Manager reattempts a stuck rotation) may have stored its key there
    /// just before, and then the label goes back on, so that its rotation can carry on.
    async fn clear_placeholder(&self, arn: &str, version: &str) -> Result<(), ClearError> {
        let raced =
            |put_back| ClearError::Raced { arn: arn.to_owned(), version: version.to_owned(), put_back };
        if !matches!(self.store.value(arn, Some(version), None).await, Ok(None)) {
            return Err(ClearError::HoldsValue { version: version.to_owned() });
        }
        self.store.remove_stage(arn, AWSPENDING, version).await.map_err(|e| ClearError::Store(e.into()))?;
        match self.store.value(arn, Some(version), None).await {
            Ok(None) => Ok(()),
            Ok(Some(_)) => match self.store.add_stage(arn, AWSPENDING, version).await {
                Ok(()) => Err(raced(None)),
                Err(e) => Err(raced(Some(e.into()))),
            },
            Err(e) => Err(ClearError::NotReadAgain {
                arn: arn.to_owned(),
                version: version.to_owned(),
                problem: e.into(),
            }),
        }
    }

    /// What the vendor says about `key`, asked as the rotation would, as `policy` says.
    async fn verify(&self, target: &Target, key: &Sensitive, policy: VerifyPolicy) -> Verdict {
        let timing = &self.timing;
        let until = later(policy.budget(timing));
        verify_until(&self.vendors, target.vendor, &target.base_url, key, until, policy, timing).await.0
    }
}

/// The rotation schedule as Secrets Manager states it: its expression, or `rate(N days)` for
/// `AutomaticallyAfterDays`.
fn schedule_text(meta: &SecretMeta) -> Option<String> {
    match (&meta.schedule_expression, meta.after_days) {
        (Some(expression), _) if !expression.trim().is_empty() => Some(expression.clone()),
        (_, Some(days)) => Some(format!("rate({days} days)")),
        _ => None,
    }
}
