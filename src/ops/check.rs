//! `check`: whether a secret is ready to rotate. Read-only: it never calls a vendor's rotate
//! endpoint and never writes; its one vendor call verifies the current key.

use serde::Serialize;

use std::time::Duration;

use super::{EnvSource, Found, Operator, Pending, StoreProblem, schedule_text};
use crate::config::{
    self, ConfigError, Issued, KEY_ID_LABEL_PREFIX, KeyId, Promote, Settings, TAG_KEY_FIELD, TAG_KEY_ID,
    TAG_VENDOR, TARGET_LABEL_PREFIX, Target, key_field_from_tags, vendor_from_tags,
};
use crate::function::FunctionReader;
use crate::notify::Notifier;
use crate::secret::SecretValue;
use crate::sensitive::Sensitive;
use crate::store::shared::{Readable, Survey, survey};
use crate::store::{AWSPREVIOUS, Fingerprint, OperatorStore, Replica, Version, fingerprint};
use crate::timing::later;
use crate::vendors::{VendorApi, Verdict, VerifyPolicy};

/// The AWS managed key Secrets Manager uses when a secret names none.
const AWS_MANAGED_KEY: &str = "alias/aws/secretsmanager";

/// Every check on one secret.
#[derive(Debug, Serialize)]
pub struct CheckReport {
    /// The ARN, or the id as given when the secret could not be described.
    pub arn: String,
    pub name: Option<String>,
    pub vendor: Option<&'static str>,
    /// The environment that judged the secret (`function ARN` or `shell`); `None` when there was
    /// none, and then nothing was sent to any vendor.
    pub environment: Option<String>,
    /// No check failed.
    pub ok: bool,
    pub checks: Vec<Check>,
}

/// One line of a check report.
#[derive(Debug, Serialize)]
pub struct Check {
    pub check: &'static str,
    pub status: Status,
    pub detail: String,
    /// What to do about a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Fail,
    /// Not checked (the line says why).
    Skip,
    /// Worth knowing; not a failure.
    Note,
}

impl Check {
    fn new(check: &'static str, status: Status, detail: impl Into<String>) -> Self {
        Check { check, status, detail: detail.into(), fix: None }
    }

    fn fail(check: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Check { check, status: Status::Fail, detail: detail.into(), fix: Some(fix.into()) }
    }
}

impl<S: OperatorStore, V: VendorApi, F: FunctionReader, N: Notifier> Operator<S, V, F, N> {
    /// Checks one secret; `vendor_calls: false` (`--no-vendor`) skips the one vendor call.
    pub async fn check(&self, secret_id: &str, vendor_calls: bool) -> CheckReport {
        let found = match self.find(secret_id).await {
            Ok(found) => found,
            Err(error) => {
                let fix = "Check the secret's id or ARN and the region, and that you may call secretsmanager:DescribeSecret on it.";
                return CheckReport {
                    arn: secret_id.to_owned(),
                    name: None,
                    vendor: None,
                    environment: None,
                    ok: false,
                    checks: vec![Check::fail("secret", StoreProblem(error).to_string(), fix)],
                };
            }
        };
        let meta = &found.meta;
        let env = found.env.as_ref().ok();
        let target = env.map(|env| Target::from_tags(&meta.tags, &env.settings));
        let current = current_key(&found);
        let mut checks = vec![rotation(&found)];
        let overlap =
            target.as_ref().and_then(|t| t.as_ref().ok()).and_then(|t| t.vendor.overlap()).is_some();
        let revoke =
            if overlap { self.timing.revoke_budget() + self.timing.mark_reserve() } else { Duration::ZERO };
        checks.extend(function(&found, self.timing.create_budget() + revoke));
        checks.push(match (env, &target) {
            (Some(env), Some(target)) => tags(&found, target, &env.settings),
            _ => Check::new("tags", Status::Skip, NO_ENVIRONMENT),
        });
        checks.push(match &current {
            Ok(value) => Check::new(
                "value",
                Status::Ok,
                format!(
                    "AWSCURRENT holds a key (fingerprint {}) with room for a new one",
                    value.key().fingerprint()
                ),
            ),
            Err(check) => Check::fail("value", check.0.clone(), check.1.clone()),
        });
        checks.push(match env {
            Some(env) => expiry(&found, &env.settings),
            None => Check::new("expiry", Status::Skip, NO_ENVIRONMENT),
        });
        checks.push(match (&target, &current, vendor_calls) {
            (_, _, false) => Check::new("vendor", Status::Skip, "not asked (--no-vendor)"),
            (None, _, true) => Check::new("vendor", Status::Skip, NO_ENVIRONMENT),
            (Some(Ok(target)), Ok(value), true) => match env {
                Some(env) => self.vendor_check(&found, target, &env.settings, value).await,
                None => Check::new("vendor", Status::Skip, NO_ENVIRONMENT),
            },
            _ => Check::new(
                "vendor",
                Status::Skip,
                "not asked: the tags or the value above are wrong, and only a key is ever sent to a vendor",
            ),
        });
        checks.push(match &current {
            Ok(value) => self.shared_check(&found, value.key()).await,
            Err(_) => Check::new("shared", Status::Skip, "not compared: AWSCURRENT holds no readable key"),
        });
        if let Some(Ok(target)) = &target {
            if target.vendor.declared() && vendor_calls {
                checks.push(self.non_key_check(target).await);
            }
            if target.vendor.overlap().is_some() {
                checks.push(key_ids(&found, target));
            }
        }
        checks.push(pending(&found));
        checks.push(told(&found));
        checks.push(rescue(&found));
        let vendor = env.and_then(|env| vendor_from_tags(&meta.tags, &env.settings).ok());
        checks.push(orphan(&found, vendor.map_or("the vendor", |vendor| vendor.name())));
        checks.push(replicas(&found));
        checks.push(kms(&found));
        CheckReport {
            arn: meta.arn.clone(),
            name: Some(meta.name.clone()),
            vendor: env
                .and_then(|env| vendor_from_tags(&meta.tags, &env.settings).ok())
                .map(|vendor| vendor.name()),
            environment: env.map(|env| env.source.to_string()),
            ok: checks.iter().all(|check| check.status != Status::Fail),
            checks,
        }
    }

    /// No other secret tagged for the same vendor holds the current key (createSecret refuses to
    /// rotate a shared key), searched as createSecret searches but with the operator's
    /// credentials: by recorded fingerprints, reading only the rest. The fingerprint of each key
    /// read here, and of this secret's own, is recorded on the version it was read from, so that
    /// rotations compare it without reading it. A pair already reported in this run (`check
    /// --all`) is named, not explained again.
    async fn shared_check(&self, found: &Found, key: &Sensitive) -> Check {
        let meta = &found.meta;
        let Some(vendor) = meta.tags.get(TAG_VENDOR).map(|vendor| vendor.trim_end().to_owned()) else {
            return Check::new("shared", Status::Skip, "not compared: the secret has no rotation:vendor tag");
        };
        let recorded = self.record_own(found, key).await;
        let survey = self.survey(&vendor).await;
        let holders = survey.holders(&meta.arn, key);
        if !holders.holders.is_empty() {
            let mut seen = self.shared_pairs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let (new, listed): (Vec<&String>, Vec<&String>) =
                holders.holders.iter().partition(|other| seen.insert(pair(&meta.arn, other)));
            if new.is_empty() {
                let names: Vec<&str> = listed.iter().map(|other| other.as_str()).collect();
                return Check::new(
                    "shared",
                    Status::Fail,
                    format!("its key is shared with {} (the pair is listed above)", names.join(", ")),
                );
            }
            let names: Vec<&str> = holders.holders.iter().map(String::as_str).collect();
            return Check::fail(
                "shared",
                format!(
                    "the key in AWSCURRENT is also held by {}, tagged for the same vendor: createSecret refuses to rotate it, since the vendor would kill it for them",
                    names.join(", ")
                ),
                "Give each secret a key of its own: create one in the vendor's dashboard and store it in one of them with `api-key-rotator recover` (README, Shared keys).",
            );
        }
        // What createSecret, with the function's role, could not compare: no fingerprint recorded
        // (not even by this run), and not a secret the function rotates.
        let function = meta.rotation_function.as_deref();
        let unknown: Vec<&str> = survey
            .others
            .iter()
            .filter(|other| other.meta.arn != meta.arn && other.print.is_none())
            .filter(|other| function.is_none() || other.meta.rotation_function.as_deref() != function)
            .map(|other| other.meta.arn.as_str())
            .collect();
        let compared = format!(
            "{} other secret(s) tagged rotation:vendor={vendor} compared, {} of them read with your credentials{recorded}",
            holders.compared, survey.reads
        );
        let first = found.current_version().is_some_and(|version| {
            let labels = Issued::labels_for_current(meta.labels(version), meta.pending_labels());
            let vendor_issued = meta.fingerprint_of(version).is_some_and(|print| print.issued_at().is_some());
            !Issued::stored_here(&labels, vendor_issued)
        });
        let unfinished = survey
            .cut_short
            .as_deref()
            .map(|why| format!("the list of them could not be read to its end ({why})"));
        let missing: Vec<String> = [
            (!unknown.is_empty()).then(|| {
                format!(
                    "nothing is recorded of the key of {}, and the function may not read them",
                    unknown.join(", ")
                )
            }),
            (!holders.unread.is_empty()).then(|| {
                format!("{} could not be read with your credentials either", holders.unread.join(", "))
            }),
            unfinished,
        ]
        .into_iter()
        .flatten()
        .collect();
        match (missing.is_empty(), first) {
            (true, _) => {
                Check::new("shared", Status::Ok, format!("no other secret holds the key ({compared})"))
            }
            (false, true) => Check::fail(
                "shared",
                format!(
                    "{compared}; but {}: this secret's key was not stored by the function (its first rotation, or a value put by hand), so createSecret would stop before calling the vendor",
                    missing.join("; ")
                ),
                "Run `api-key-rotator check` on those secrets (or `check --all`) with credentials that may read them: it records their keys' fingerprints; then check this one again (README, Shared keys).",
            ),
            (false, false) => Check::new(
                "shared",
                Status::Note,
                format!(
                    "{compared}; but {}: createSecret rotates anyway (this key was issued for this secret) and says so in its log",
                    missing.join("; ")
                ),
            ),
        }
    }

    /// The fingerprint of this secret's current key, recorded on its version when none is, so that
    /// other secrets' rotations compare it without reading it. Says what it did, for the line.
    async fn record_own(&self, found: &Found, key: &Sensitive) -> String {
        let meta = &found.meta;
        let Some(version) = found.current_version().filter(|version| meta.fingerprint_of(version).is_none())
        else {
            return String::new();
        };
        match fingerprint::record(&self.store, meta, version, &Fingerprint::of(key)).await {
            Ok(()) => format!("; recorded the fingerprint of this secret's key on version {version}"),
            Err(error) => format!(
                "; the fingerprint of this secret's key could not be recorded ({}), so other secrets' first rotations cannot compare it unless the function may read it",
                StoreProblem(error)
            ),
        }
    }

    /// The secrets tagged for `vendor`, surveyed once per run with the operator's credentials
    /// (`check --all` compares each secret with all the others, and must not read them all again
    /// for each); each key read gets its fingerprint recorded on the version it came from.
    async fn survey(&self, vendor: &str) -> Survey {
        let known = self.surveys.lock().ok().and_then(|surveys| surveys.get(vendor).cloned());
        if let Some(survey) = known {
            return survey;
        }
        let until = later(self.timing.shared_scan_budget);
        let mut survey = survey(&self.store, TAG_VENDOR, vendor, Readable::Any, until).await;
        for other in survey.others.iter_mut().filter(|other| other.print.is_none()) {
            let Some((Some(version), text)) = &other.read else { continue };
            let Ok(value) = (Version { id: None, text: text.clone(), created: None }).key(&other.meta.tags)
            else {
                continue;
            };
            let print = Fingerprint::of(value.key());
            if fingerprint::record(&self.store, &other.meta, version, &print).await.is_ok() {
                other.print = Some(print);
            }
        }
        if let Ok(mut surveys) = self.surveys.lock() {
            surveys.insert(vendor.to_owned(), survey.clone());
        }
        survey
    }

    /// A declared vendor's verify call must tell keys apart: one random non-key is sent to it,
    /// and an acceptance fails the check (a rotation could not tell a live key from a dead one).
    async fn non_key_check(&self, target: &Target) -> Check {
        let vendor = target.vendor.name();
        match self.verify(target, &random_non_key(), VerifyPolicy::Check).await {
            Verdict::Refused(status) => {
                Check::new("verify", Status::Ok, format!("{vendor} refuses a random non-key (HTTP {status})"))
            }
            Verdict::Accepted => Check::fail(
                "verify",
                format!(
                    "{vendor}'s verify call accepts a random non-key: it cannot tell keys apart, so no rotation can tell a live key from a dead one"
                ),
                "Declare a verify call in ROTATION_VENDORS that needs a valid key (its path, `refused`, or a `vouch` pointer), then run check again.",
            ),
            verdict => Check::new(
                "verify",
                Status::Note,
                format!(
                    "no verdict from {vendor} on a random non-key ({verdict}): whether its verify call tells keys apart is not known"
                ),
            ),
        }
    }

    async fn vendor_check(
        &self,
        found: &Found,
        target: &Target,
        settings: &Settings,
        current: &SecretValue,
    ) -> Check {
        // The current key goes to no other vendor than the one that issued it.
        let mismatch = found.current_version().and_then(|version| {
            let labels = Issued::labels_for_current(found.meta.labels(version), found.meta.pending_labels());
            Issued::check_vendor(labels, &found.meta.tags, settings).err()
        });
        if let Some(problem) = mismatch {
            return Check::fail(
                "vendor",
                format!("not asked: {problem}"),
                "Put the rotation:vendor tag back to the vendor that issued the key, or store a key of the new vendor with `api-key-rotator recover`",
            );
        }
        let key = current.key();
        match self.verify(target, key, VerifyPolicy::Check).await {
            Verdict::Accepted => Check::new(
                "vendor",
                Status::Ok,
                format!("{} accepts the current key ({})", target.vendor.name(), key.fingerprint()),
            ),
            Verdict::Refused(status) => {
                let fix = match found.pending {
                    Ok(Pending::Stored(..)) => format!(
                        "The pending version may hold the live key: run `api-key-rotator repair {}` first.",
                        found.meta.arn
                    ),
                    _ => format!(
                        "Get a working key from the vendor's dashboard and store it with `api-key-rotator recover {}`.",
                        found.meta.arn
                    ),
                };
                Check::fail(
                    "vendor",
                    format!(
                        "{} refuses the current key ({}, HTTP {status}): a rotation would stop with VendorRejectedKey",
                        target.vendor.name(),
                        key.fingerprint()
                    ),
                    fix,
                )
            }
            verdict => Check::fail(
                "vendor",
                format!("no verdict from {} on the current key: {verdict}", target.vendor.name()),
                "Check the base URL and the network path to the vendor, then run check again.",
            ),
        }
    }
}

/// A note when `ROTATION_ALLOWED_HOSTS` holds entries without a vendor: any built-in vendor's key
/// may be sent there.
fn bare_hosts(settings: &Settings) -> Option<Check> {
    let bare = settings.bare_allowed_hosts();
    (!bare.is_empty()).then(|| Check {
        check: "allowed hosts",
        status: Status::Note,
        detail: format!("{} {}", bare.join(", "), config::BARE_HOSTS_DEPRECATED),
        fix: Some(config::BARE_HOSTS_FIX.to_owned()),
    })
}

/// Lambda's limit for all of a function's environment variables together.
const ENV_LIMIT_BYTES: usize = 4096;

/// How much of Lambda's 4 KB the function's variables use (ROTATION_VENDORS is the big one).
fn variables(function: &crate::function::FunctionConfig) -> Check {
    let used: usize = function.variables.iter().map(|(name, value)| name.len() + value.len()).sum();
    let detail = format!("the function's variables use {used} of Lambda's {ENV_LIMIT_BYTES} bytes");
    match used {
        used if used > ENV_LIMIT_BYTES * 3 / 4 => Check::new(
            "variables",
            Status::Note,
            format!(
                "{detail}: little room is left for more declared vendors (minify ROTATION_VENDORS, or split vendors across functions)"
            ),
        ),
        _ => Check::new("variables", Status::Ok, detail),
    }
}

/// A value no vendor issued: 32 hex digits from the clock and the process, never a key.
fn random_non_key() -> Sensitive {
    use sha2::{Digest, Sha256};
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let seed = format!("{}:{}:{:?}", nanos.as_nanos(), std::process::id(), std::thread::current().id());
    let hex: String = Sha256::digest(seed.as_bytes())[..16].iter().map(|b| format!("{b:02x}")).collect();
    Sensitive::new(format!("not-a-key-{hex}"))
}

/// Create-then-revoke: which keys' ids are known, so that a rotation can revoke them.
fn key_ids(found: &Found, target: &Target) -> Check {
    let meta = &found.meta;
    let current = found.current_version();
    let previous = meta.version_with(AWSPREVIOUS);
    let pending = meta.pending_version();
    let mut notes = Vec::new();
    let mut known = Vec::new();
    let current_ids = current.map_or_else(Vec::new, |version| KeyId::from_labels(meta.labels(version)));
    match current_ids.first() {
        Some(id) => known.push(format!("AWSCURRENT's key is {}", id.id)),
        None if target.vendor.names_presented_key() => known.push(format!(
            "AWSCURRENT's key is to be bound by the next rotation to the id {} names it by",
            target.vendor.name()
        )),
        None if meta.labels_with_prefix(TARGET_LABEL_PREFIX).next().is_none() && meta.tags.contains_key(TAG_KEY_ID) => {
            known.push(format!("AWSCURRENT's key is to be bound from {TAG_KEY_ID} by the first rotation"))
        }
        None => notes.push(format!(
            "the id of the live key in AWSCURRENT is not known, so no rotation will revoke it: revoke it by hand at {} once a rotation replaces it",
            target.vendor.name()
        )),
    }
    if let Some(previous) = previous.filter(|version| Some(*version) != current) {
        let ids = KeyId::from_labels(meta.labels(previous));
        match ids.iter().find(|id| id.issued_by(target)) {
            Some(id) => known.push(format!(
                "AWSPREVIOUS's key {} is to be revoked by the next rotation once its grace has passed, unless AWSCURRENT or AWSPENDING holds it",
                id.id
            )),
            None if !ids.is_empty() => notes.push(
                "AWSPREVIOUS's key id was recorded for another vendor or base URL, so no rotation revokes it: revoke it by hand if it is still live".into(),
            ),
            None => notes.push(
                "the key in AWSPREVIOUS has no recorded id, so no rotation revokes it: if it is still live, revoke it by hand".into(),
            ),
        }
    }
    let never: Vec<String> = meta
        .labels_with_prefix(KEY_ID_LABEL_PREFIX)
        .filter(|(version, _)| ![current, previous, pending].contains(&Some(*version)))
        .flat_map(|(_, label)| KeyId::from_labels([&label.to_owned()]))
        .map(|id| id.id)
        .collect();
    if !never.is_empty() {
        notes.push(format!(
            "ids recorded on older versions and never revoked: {}; revoke them by hand at {}, then remove their ROTATION_KEY_ID labels",
            never.join(", "),
            target.vendor.name()
        ));
    }
    let detail = known.into_iter().chain(notes.iter().cloned()).collect::<Vec<_>>().join("; ");
    Check::new("key ids", if notes.is_empty() { Status::Ok } else { Status::Note }, detail)
}

/// A create mark left by a rotation whose create may have made a key no one has.
fn orphan(found: &Found, vendor: &str) -> Check {
    let marks = found.meta.create_marks();
    if marks.is_empty() {
        return Check::new("orphan", Status::Ok, "no create is marked as under way");
    }
    let labels: Vec<&str> = marks.iter().map(|mark| mark.label.as_str()).collect();
    let runbooks: Vec<String> = marks.iter().map(|mark| mark.runbook(&found.meta.arn, vendor)).collect();
    Check::fail(
        "orphan",
        format!(
            "{}: a rotation called {vendor}'s create and no key from it is known to be stored, so {vendor} may hold a key no one has, and that rotation will not create again",
            labels.join(", ")
        ),
        format!(
            "{} (README, Declared vendors: an orphaned key). If the rotation did store its key, `api-key-rotator repair {} --apply` clears its mark.",
            runbooks.join(". For the next mark: "),
            found.meta.arn
        ),
    )
}

/// Two secrets, in one order whichever is named first.
fn pair(a: &str, b: &str) -> (String, String) {
    if a <= b { (a.to_owned(), b.to_owned()) } else { (b.to_owned(), a.to_owned()) }
}

/// Said by the lines that need the function's environment when there is none.
const NO_ENVIRONMENT: &str = "not judged: there is no environment to judge the secret in (see the environment line), and nothing is sent to a vendor without one";

/// The environment the secret is judged in, and the function that rotates it: its timeout covers
/// what createSecret needs to start a rotation (`create_budget`), and its memory.
fn function(found: &Found, create_budget: Duration) -> Vec<Check> {
    let env = match &found.env {
        Ok(env) => env,
        Err(problem) => return vec![Check::fail("environment", problem.to_string(), problem.fix())],
    };
    let mut checks = vec![match (&env.source, &env.instead_of) {
        (EnvSource::Function(arn), None) => {
            Check::new("environment", Status::Ok, format!("function {arn}: its environment is valid"))
        }
        (EnvSource::Function(arn), Some(own)) => Check::new(
            "environment",
            Status::Note,
            format!(
                "function {arn}, named with --function instead of the secret's rotation function {own}: its environment is valid"
            ),
        ),
        (EnvSource::Shell, _) => Check::new(
            "environment",
            Status::Ok,
            "shell (--env-from-shell): this shell's variables, not the function's",
        ),
    }];
    checks.extend(bare_hosts(&env.settings));
    let Some(function) = &env.function else {
        return checks;
    };
    checks.push(variables(function));
    let needed = create_budget.as_secs();
    checks.push(match function.timeout {
        // createSecret refuses to start with less than the budget left, and an invocation never
        // has its whole timeout left: the timeout must be above it.
        Some(timeout) if timeout > create_budget => Check::new(
            "timeout",
            Status::Ok,
            format!("{} s, above the {needed} s createSecret needs to start a rotation", timeout.as_secs()),
        ),
        Some(timeout) => Check::fail(
            "timeout",
            format!(
                "{} s, but createSecret needs {needed} s to start a rotation (the check of the current key, one rotate call, a probe and storing the key): every rotation would fail with Timeout before calling the vendor",
                timeout.as_secs()
            ),
            format!("Give the function a timeout above {needed} s (the template's default is 90 s) and deploy it again."),
        ),
        None => Check::new("timeout", Status::Skip, "Lambda did not say"),
    });
    checks.push(match function.memory_mb {
        Some(mb) if mb < MEMORY_MEASURED => Check::new(
            "memory",
            Status::Note,
            format!(
                "{mb} MB, under the {MEMORY_MEASURED} MB the template gives and the benchmarks measure: a smaller function gets less CPU, and its steps take longer"
            ),
        ),
        Some(mb) => Check::new("memory", Status::Ok, format!("{mb} MB")),
        None => Check::new("memory", Status::Skip, "Lambda did not say"),
    });
    checks
}

/// The memory the template gives the function and the benchmarks measure.
const MEMORY_MEASURED: u32 = 256;

/// Rotation is on, with a function to run it.
fn rotation(found: &Found) -> Check {
    let meta = &found.meta;
    let arn = &meta.arn;
    match (&meta.rotation_function, meta.rotation_enabled) {
        (Some(function), true) => Check::new(
            "rotation",
            Status::Ok,
            format!("enabled ({}), by {function}", schedule_text(meta).unwrap_or("no schedule".into())),
        ),
        (None, true) => Check::fail(
            "rotation",
            "enabled, but with no rotation function",
            format!(
                "aws secretsmanager rotate-secret --secret-id {arn} --rotation-lambda-arn FUNCTION_ARN (the stack's output FunctionArn)"
            ),
        ),
        (_, false) => Check::fail(
            "rotation",
            "not enabled",
            format!(
                "Once every other check passes: aws secretsmanager rotate-secret --secret-id {arn} --rotation-lambda-arn FUNCTION_ARN (the stack's output FunctionArn) --rotation-rules AutomaticallyAfterDays=30"
            ),
        ),
    }
}

/// The tags name a vendor, a key field, a base URL the function may send the key to, and a
/// promotion mode.
fn tags(found: &Found, target: &Result<Target, ConfigError>, settings: &crate::config::Settings) -> Check {
    let tags = &found.meta.tags;
    match (target, key_field_from_tags(tags), Promote::from_tags(tags, settings)) {
        (Ok(target), Ok(field), Ok(promote)) => {
            let mut detail = format!(
                "vendor {}, key field \"{field}\", base URL {}, promotion {}",
                target.vendor.name(),
                target.base_url,
                promote.as_str()
            );
            if target.base_url.scheme() != "https" {
                detail.push_str(" (plain http to a loopback host: a local test bench, never a deployment)");
            }
            Check::new("tags", Status::Ok, detail)
        }
        (target, field, promote) => {
            let field = field.map_err(ConfigError::from);
            let problems: Vec<String> = [target.as_ref().err(), field.as_ref().err(), promote.as_ref().err()]
                .into_iter()
                .flatten()
                .map(ConfigError::to_string)
                .collect();
            Check::fail(
                "tags",
                problems.join("; "),
                format!(
                    "Correct the tag: aws secretsmanager tag-resource --secret-id {} --tags Key=TAG,Value=VALUE",
                    found.meta.arn
                ),
            )
        }
    }
}

/// The AWSCURRENT value, parsed, with room for a new key; or the failure's detail and fix.
fn current_key(found: &Found) -> Result<SecretValue, (String, String)> {
    let meta = &found.meta;
    let version = match &found.current {
        Err(error) => {
            return Err((
                format!("reading AWSCURRENT failed: {}", StoreProblem(error.clone())),
                "You and the function's role need secretsmanager:GetSecretValue on the secret (and kms:Decrypt on a customer-managed key).".into(),
            ));
        }
        Ok(None) => {
            return Err((
                "the secret has no AWSCURRENT value".into(),
                format!(
                    "Store the current key: aws secretsmanager put-secret-value --secret-id {} --secret-string ...",
                    meta.arn
                ),
            ));
        }
        Ok(Some(version)) => version,
    };
    let value = version.key(&meta.tags).map_err(|problem| {
        (
            problem.to_string(),
            format!("Fix the value, or point the {TAG_KEY_FIELD} tag at the field that holds the key."),
        )
    })?;
    value
        .check_room_for_new_key()
        .map_err(|problem| (problem.to_string(), "Move other fields to another secret.".into()))?;
    Ok(value)
}

/// What the rotate call will ask for, checked against the schedule (Cal.com's key lifetime).
fn expiry(found: &Found, settings: &Settings) -> Check {
    let meta = &found.meta;
    let Ok(vendor) = vendor_from_tags(&meta.tags, settings) else {
        return Check::new("expiry", Status::Skip, "no vendor to ask for an expiry");
    };
    match vendor.rotate_body(&meta.tags, meta.interval()) {
        Ok(Some(body)) => Check::new(
            "expiry",
            Status::Ok,
            format!(
                "the rotate call asks for {body}, longer than the schedule ({}) needs",
                schedule_text(meta).unwrap_or("none yet".into())
            ),
        ),
        Ok(None) => {
            Check::new("expiry", Status::Skip, format!("{}'s rotate call takes no expiry", vendor.name()))
        }
        Err(problem) => {
            Check::fail("expiry", problem.to_string(), "Change the tag or the schedule as the line says.")
        }
    }
}

/// No unfinished rotation.
fn pending(found: &Found) -> Check {
    let repair = format!(
        "Run `api-key-rotator repair {}`: it shows what it would do, and does it with --apply.",
        found.meta.arn
    );
    match &found.pending {
        Err(error) => Check::fail(
            "pending",
            format!("reading the pending version failed: {}", StoreProblem(error.clone())),
            "Run check again; if it persists, check your permissions.",
        ),
        Ok(Pending::None) => Check::new("pending", Status::Ok, "no unfinished rotation"),
        Ok(Pending::Empty(version)) => Check::fail(
            "pending",
            format!(
                "version {version} carries AWSPENDING with no value: a rotation stopped before a key was stored, and the next one fails with \"A previous rotation isn't complete\" (unless a rotation is running right now)"
            ),
            repair,
        ),
        Ok(Pending::Stored(version, value)) => Check::fail(
            "pending",
            format!(
                "version {version} carries AWSPENDING and holds {} that is not AWSCURRENT: an unfinished rotation, whose key may be the only one the vendor accepts (unless a rotation is running right now)",
                match value.key(&found.meta.tags) {
                    Ok(value) => format!("a key ({})", value.key().fingerprint()),
                    Err(_) => "a value".into(),
                }
            ),
            repair,
        ),
    }
}

/// Consumers were told of the last move of AWSCURRENT the function or a command made: the version
/// it replaced no longer carries its fingerprint.
fn told(found: &Found) -> Check {
    let meta = &found.meta;
    match meta.untold() {
        None => Check::new("told", Status::Ok, "no move of AWSCURRENT is left untold"),
        Some(version) => Check::fail(
            "told",
            format!(
                "consumers were never told that AWSCURRENT moved to version {version} (no Vendor Key Rotated event is recorded for the move: it failed, or the process stopped after the move): readers that wait for the event still hold the key before it"
            ),
            format!(
                "Run `api-key-rotator repair {} --apply`: it tells them (the next rotation does too, before it rotates).",
                meta.arn
            ),
        ),
    }
}

/// Versions kept as rescues: rotate answers createSecret kept because no key could be read from
/// them. The key in one is the vendor's live key until it is recovered. Each is named.
fn rescue(found: &Found) -> Check {
    let meta = &found.meta;
    let rescues = meta.rescues();
    if rescues.is_empty() {
        return Check::new("rescue", Status::Ok, "no rescued vendor answer");
    }
    let named: Vec<String> = rescues.iter().map(|r| format!("version {} ({})", r.version, r.label)).collect();
    let steps: Vec<String> = rescues.iter().map(|r| r.steps(&meta.arn)).collect();
    Check::fail(
        "rescue",
        format!(
            "{} keep a vendor's rotate answer from which no key could be read: the vendor's live key may be in one",
            named.join(", ")
        ),
        format!("For each, {} (README, Recovery: new key lost)", steps.join("; for the next, ")),
    )
}

/// Every replica region holds the current version: consumers there read what Secrets Manager has
/// copied, and a replica that failed keeps serving the old (dead) key.
fn replicas(found: &Found) -> Check {
    let replicas = &found.meta.replicas;
    if replicas.is_empty() {
        return Check::new("replicas", Status::Skip, "the secret is not replicated to other regions");
    }
    let describe = |r: &Replica| match &r.message {
        Some(message) => format!("{} {} ({message})", r.region, r.status),
        None => format!("{} {}", r.region, r.status),
    };
    let failed: Vec<&Replica> = replicas.iter().filter(|r| r.status == Replica::FAILED).collect();
    if !failed.is_empty() {
        let arn = &found.meta.arn;
        let again: Vec<String> = failed
            .iter()
            .map(|r| {
                format!(
                    "aws secretsmanager remove-regions-from-replication --secret-id {arn} --remove-replica-regions {0}, then aws secretsmanager replicate-secret-to-regions --secret-id {arn} --add-replica-regions Region={0}[,KmsKeyId=KEY] --force-overwrite-replica-secret",
                    r.region
                )
            })
            .collect();
        return Check::fail(
            "replicas",
            format!(
                "{}: consumers in that region may read an older version, whose key the vendor may have invalidated, or none",
                failed.iter().map(|r| describe(r)).collect::<Vec<_>>().join("; ")
            ),
            format!(
                "Fix what the status message names (a KMS key in that region, say), then copy the secret there again: {} (README, Multi-region secrets)",
                again.join("; ")
            ),
        );
    }
    let all: Vec<String> = replicas.iter().map(describe).collect();
    if replicas.iter().all(|r| r.status == Replica::IN_SYNC) {
        Check::new("replicas", Status::Ok, all.join("; "))
    } else {
        Check::new(
            "replicas",
            Status::Note,
            format!(
                "{}: consumers there may read an older version, or none, until it is InSync",
                all.join("; ")
            ),
        )
    }
}

/// A customer-managed KMS key needs permissions the AWS managed one does not.
fn kms(found: &Found) -> Check {
    match found.meta.kms_key_id.as_deref() {
        Some(key) if !key.ends_with(AWS_MANAGED_KEY) => Check::new(
            "kms",
            Status::Note,
            format!(
                "encrypted with the customer-managed KMS key {key}: the function's role needs kms:Decrypt and kms:GenerateDataKey on it (the template's KmsKeyArn parameter grants both), and whoever runs recover needs them too"
            ),
        ),
        _ => Check::new("kms", Status::Ok, "encrypted with the AWS managed key aws/secretsmanager"),
    }
}
