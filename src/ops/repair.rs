//! `repair`: an unfinished rotation, looked at and settled. It asks the vendor about the keys
//! involved (verify calls only), plans, and changes something only when told to apply the plan.
//! It never takes a label off a version whose key the vendor accepts, unless AWSCURRENT holds the
//! same value.

use std::fmt;

use super::{ClearError, EnvProblem, Found, Operator, Pending, StoreProblem};
use crate::config::{ConfigError, Issued, Settings, Target};
use crate::function::FunctionReader;
use crate::secret::{SecretValue, ValueError};
use crate::store::{AWSCURRENT, AWSPENDING, OperatorStore, StoreError, Version};
use crate::vendors::{VendorApi, Verdict, VerifyPolicy};

/// What `repair` found and what it would do (or did).
#[derive(Debug)]
pub struct RepairReport {
    pub arn: String,
    /// What was found, as (subject, finding): the pending version, the current one, the vendor.
    pub findings: Vec<(&'static str, String)>,
    pub plan: Plan,
    /// With `--apply`: what applying the plan did, or why it failed.
    pub applied: Option<Result<Applied, ApplyError>>,
}

/// What applying a plan did.
#[derive(Clone, Debug, PartialEq)]
pub enum Applied {
    Finished { pending: String, current: String },
    Cleared { arn: String, version: String },
    Nothing,
}

impl fmt::Display for Applied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Applied::Finished { pending, current } => {
                write!(f, "AWSCURRENT is on version {pending}; version {current} is AWSPREVIOUS")
            }
            Applied::Cleared { arn, version } => write!(
                f,
                "AWSPENDING removed from version {version}; the version is kept (aws secretsmanager get-secret-value --secret-id {arn} --version-id {version}) and {AWSCURRENT} is unchanged"
            ),
            Applied::Nothing => f.write_str("nothing to apply"),
        }
    }
}

/// Why applying a plan failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ApplyError {
    #[error("{0}; nothing was changed (or the labels moved since they were read); run repair again")]
    Store(StoreProblem),

    #[error(transparent)]
    Clear(#[from] ClearError),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    /// No version carries AWSPENDING apart from AWSCURRENT's own.
    NothingToDo,
    /// Move AWSCURRENT from `current` to `pending`, as finishSecret does.
    Finish { pending: String, current: String },
    /// Take AWSPENDING off `version` (the version itself is kept), for the reason given.
    Clear { version: String, why: &'static str },
    /// Change nothing: the reason and what to do instead.
    Refuse(Refusal),
}

/// Why `repair` changes nothing, each with what to do instead.
#[derive(Clone, Debug, PartialEq)]
pub enum Refusal {
    /// A Secrets Manager read failed (`what`: the secret, the pending version, the AWSCURRENT value).
    Unreadable {
        what: &'static str,
        problem: Box<StoreProblem>,
    },
    NoCurrentValue,
    /// The tags no longer name what the pending key was issued for, or its record cannot be read.
    NotIssuedThere(ConfigError),
    /// The pending value does not read as a key with the tags.
    PendingNotAKey {
        problem: ValueError,
        arn: String,
    },
    SameKeyOtherFields,
    VendorNotAskable {
        problem: ConfigError,
        arn: String,
    },
    BothAccepted,
    NeitherAccepted {
        arn: String,
    },
    /// The AWSCURRENT value does not read as a key with the tags.
    CurrentNotAKey {
        problem: ValueError,
        arn: String,
    },
    /// AWSCURRENT holds an early-promoted key the vendor refuses: consumers hold a dead key.
    CurrentRefused {
        status: u16,
        arn: String,
    },
    NoVerdict,
    /// No environment to judge the secret in: nothing is sent to any vendor.
    NoEnvironment(EnvProblem),
}

const AGAIN: &str = "run repair again in a few minutes";

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fix_tags = |arn: &str| {
            format!(
                "fix it (`api-key-rotator check {arn}` shows how), then run repair again; only a key is ever sent to a vendor"
            )
        };
        match self {
            Refusal::Unreadable { what, problem } => write!(f, "{what} cannot be read: {problem}"),
            Refusal::NoCurrentValue => f.write_str("the secret has no AWSCURRENT value; store one by hand"),
            Refusal::NotIssuedThere(problem) => write!(f, "{problem}; then run repair again"),
            Refusal::PendingNotAKey { problem, arn } => {
                write!(f, "the pending value cannot be read: {problem}; {}", fix_tags(arn))
            }
            Refusal::SameKeyOtherFields => f.write_str(
                "both versions hold the same key with other fields changed; decide by hand which fields are right",
            ),
            Refusal::VendorNotAskable { problem, arn } => {
                write!(f, "the vendor cannot be asked: {problem}; {}", fix_tags(arn))
            }
            Refusal::BothAccepted => write!(
                f,
                "the vendor accepts both keys, so moving either label could strand a live key; the vendor may still be propagating the rotation: {AGAIN}"
            ),
            Refusal::NeitherAccepted { arn } => write!(
                f,
                "the vendor accepts neither key. Get a working key from the vendor's dashboard and store it with `api-key-rotator recover {arn}`"
            ),
            Refusal::CurrentNotAKey { problem, arn } => {
                write!(f, "the AWSCURRENT value cannot be read: {problem}; {}", fix_tags(arn))
            }
            Refusal::CurrentRefused { status, arn } => write!(
                f,
                "the vendor refuses the key in AWSCURRENT (HTTP {status}), so consumers hold a key that no longer works, and no other version carries AWSPENDING. A version labelled ROTATION_RESCUE, if `api-key-rotator status {arn}` shows one, may hold the live key (README, Recovery: new key lost); otherwise get a working key from the vendor's dashboard and store it with `api-key-rotator recover {arn}`"
            ),
            Refusal::NoVerdict => write!(f, "the vendor gave no verdict on one of the keys: {AGAIN}"),
            Refusal::NoEnvironment(problem) => f.write_str(&problem.explained()),
        }
    }
}

impl Plan {
    pub fn describe(&self) -> String {
        match self {
            Plan::NothingToDo => "nothing to do: no unfinished rotation".into(),
            Plan::Finish { pending, current } => format!(
                "finish the rotation: move AWSCURRENT from version {current} to version {pending}, as finishSecret does ({current} becomes AWSPREVIOUS)"
            ),
            Plan::Clear { version, why } => format!(
                "remove the AWSPENDING label from version {version} ({why}); the version itself is kept"
            ),
            Plan::Refuse(why) => format!("change nothing: {why}"),
        }
    }

    /// Whether there is something to apply.
    pub fn changes(&self) -> bool {
        matches!(self, Plan::Finish { .. } | Plan::Clear { .. })
    }
}

impl<S: OperatorStore, V: VendorApi, F: FunctionReader> Operator<S, V, F> {
    pub async fn repair(&self, secret_id: &str, apply: bool) -> RepairReport {
        let found = match self.find(secret_id).await {
            Ok(found) => found,
            Err(error) => {
                return RepairReport {
                    arn: secret_id.to_owned(),
                    findings: Vec::new(),
                    plan: Plan::Refuse(Refusal::Unreadable {
                        what: "the secret",
                        problem: Box::new(error.into()),
                    }),
                    applied: None,
                };
            }
        };
        let mut findings = Vec::new();
        let plan = self.plan(&found, &mut findings).await;
        let applied = match apply && plan.changes() {
            true => Some(self.apply(&found, &plan).await),
            false => None,
        };
        RepairReport { arn: found.meta.arn.clone(), findings, plan, applied }
    }

    async fn plan(&self, found: &Found, findings: &mut Vec<(&'static str, String)>) -> Plan {
        let meta = &found.meta;
        // Without the function's environment, repair neither asks a vendor nor changes anything.
        let settings = match judged_in(found, findings) {
            Ok(settings) => settings,
            Err(problem) => return Plan::Refuse(Refusal::NoEnvironment(problem)),
        };
        let (version, pending) = match &found.pending {
            Err(error) => {
                let problem = Box::new(error.clone().into());
                return Plan::Refuse(Refusal::Unreadable { what: "the pending version", problem });
            }
            Ok(Pending::None) => {
                let promoted = found.current_version().filter(|v| meta.has_stage(v, AWSPENDING));
                return match promoted {
                    Some(version) => self.plan_promoted(found, settings, version, findings).await,
                    None => {
                        findings
                            .push(("pending", "no version carries AWSPENDING apart from AWSCURRENT".into()));
                        Plan::NothingToDo
                    }
                };
            }
            Ok(Pending::Empty(version)) => {
                findings
                    .push(("pending", format!("version {version} carries AWSPENDING and holds no value")));
                return Plan::Clear { version: version.clone(), why: "it holds no key" };
            }
            Ok(Pending::Stored(version, pending)) => (version, pending),
        };
        let current = match current_value(found) {
            Ok(current) => current,
            Err(refusal) => return Plan::Refuse(*refusal),
        };
        let current_id = found.current_version().unwrap_or_default().to_owned();
        if current.text == pending.text {
            findings.push(("pending", format!("version {version} holds a copy of the AWSCURRENT value")));
            return Plan::Clear { version: version.clone(), why: "it is a copy of AWSCURRENT" };
        }
        // The pending key goes only where it was issued (createSecret recorded it on the version).
        if let Err(problem) = Issued::check(meta.labels(version), &meta.tags, settings) {
            return Plan::Refuse(Refusal::NotIssuedThere(problem));
        }
        let pending_key = match pending.key(&meta.tags) {
            Ok(value) => value,
            Err(problem) => {
                return Plan::Refuse(Refusal::PendingNotAKey { problem, arn: meta.arn.clone() });
            }
        };
        findings.push((
            "pending",
            format!("version {version} holds a key ({})", pending_key.key().fingerprint()),
        ));
        let current_key = current.key(&meta.tags);
        findings.push((
            "current",
            match &current_key {
                Ok(value) => format!("version {current_id} holds a key ({})", value.key().fingerprint()),
                Err(problem) => format!("version {current_id} holds no readable key: {problem}"),
            },
        ));
        if current_key.as_ref().is_ok_and(|value| value.key() == pending_key.key()) {
            return Plan::Refuse(Refusal::SameKeyOtherFields);
        }
        let target = match Target::from_tags(&meta.tags, settings) {
            Ok(target) => target,
            Err(problem) => {
                return Plan::Refuse(Refusal::VendorNotAskable { problem, arn: meta.arn.clone() });
            }
        };
        let (pending_verdict, current_verdict) =
            self.ask(&target, &pending_key, current_key.as_ref().ok()).await;
        findings.push((
            "vendor",
            format!(
                "{}: pending key {pending_verdict}; current key {}",
                target.vendor.name(),
                current_verdict.as_ref().map_or("not asked (no key)".into(), Verdict::to_string)
            ),
        ));
        match (pending_verdict, current_verdict) {
            (Verdict::Accepted, None | Some(Verdict::Refused(_))) => {
                Plan::Finish { pending: version.clone(), current: current_id }
            }
            (Verdict::Accepted, Some(Verdict::Accepted)) => Plan::Refuse(Refusal::BothAccepted),
            (Verdict::Refused(_), Some(Verdict::Accepted)) => Plan::Clear {
                version: version.clone(),
                why: "the vendor refuses its key and accepts AWSCURRENT's",
            },
            (Verdict::Refused(_), None | Some(Verdict::Refused(_))) => {
                Plan::Refuse(Refusal::NeitherAccepted { arn: meta.arn.clone() })
            }
            _ => Plan::Refuse(Refusal::NoVerdict),
        }
    }

    /// AWSPENDING rides on AWSCURRENT: a finished rotation, or an early promotion whose testSecret
    /// has not passed (the two look the same). Consumers read its key either way, so the vendor is
    /// asked about it (refusals retried: a new key can take seconds to propagate). Accepted:
    /// nothing to do. Refused: consumers hold a dead key, and only a working key stored with
    /// `recover` helps.
    async fn plan_promoted(
        &self,
        found: &Found,
        settings: &Settings,
        version: &str,
        findings: &mut Vec<(&'static str, String)>,
    ) -> Plan {
        let meta = &found.meta;
        findings.push((
            "pending",
            format!(
                "version {version} carries AWSPENDING and AWSCURRENT: a finished rotation, or one promoted early whose test has not passed"
            ),
        ));
        let current = match current_value(found) {
            Ok(current) => current,
            Err(refusal) => return Plan::Refuse(*refusal),
        };
        // Its key goes only where it was issued (createSecret recorded it on the version).
        if let Err(problem) = Issued::check(meta.labels(version), &meta.tags, settings) {
            return Plan::Refuse(Refusal::NotIssuedThere(problem));
        }
        let key = match current.key(&meta.tags) {
            Ok(value) => value,
            Err(problem) => return Plan::Refuse(Refusal::CurrentNotAKey { problem, arn: meta.arn.clone() }),
        };
        let target = match Target::from_tags(&meta.tags, settings) {
            Ok(target) => target,
            Err(problem) => {
                return Plan::Refuse(Refusal::VendorNotAskable { problem, arn: meta.arn.clone() });
            }
        };
        let verdict = self.verify(&target, key.key(), VerifyPolicy::Test).await;
        findings.push((
            "vendor",
            format!("{}: current key ({}) {verdict}", target.vendor.name(), key.key().fingerprint()),
        ));
        match verdict {
            Verdict::Accepted => Plan::NothingToDo,
            Verdict::Refused(status) => {
                Plan::Refuse(Refusal::CurrentRefused { status, arn: meta.arn.clone() })
            }
            _ => Plan::Refuse(Refusal::NoVerdict),
        }
    }

    /// The vendor's verdicts on the pending key (refusals retried for the test step's budget: a
    /// new key can take seconds to propagate) and on the current key, if there is one.
    async fn ask(
        &self,
        target: &Target,
        pending: &SecretValue,
        current: Option<&SecretValue>,
    ) -> (Verdict, Option<Verdict>) {
        let pending = self.verify(target, pending.key(), VerifyPolicy::Test).await;
        let current = match current {
            Some(current) => Some(self.verify(target, current.key(), VerifyPolicy::Check).await),
            None => None,
        };
        (pending, current)
    }

    async fn apply(&self, found: &Found, plan: &Plan) -> Result<Applied, ApplyError> {
        let arn = &found.meta.arn;
        let failed = |e: StoreError| ApplyError::Store(e.into());
        match plan {
            Plan::Finish { pending, current } => {
                self.store.make_current(arn, pending, Some(current)).await.map_err(failed)?;
                Ok(Applied::Finished { pending: pending.clone(), current: current.clone() })
            }
            Plan::Clear { version, .. } => {
                if matches!(found.pending, Ok(Pending::Empty(_))) {
                    self.clear_placeholder(arn, version).await?;
                } else {
                    self.store.remove_stage(arn, AWSPENDING, version).await.map_err(failed)?;
                }
                Ok(Applied::Cleared { arn: arn.clone(), version: version.clone() })
            }
            Plan::NothingToDo | Plan::Refuse(_) => Ok(Applied::Nothing),
        }
    }
}

/// The settings the secret is judged in, said among the findings; or why there are none (then
/// nothing is sent to any vendor).
fn judged_in<'a>(
    found: &'a Found,
    findings: &mut Vec<(&'static str, String)>,
) -> Result<&'a Settings, EnvProblem> {
    let env = found.env.as_ref().map_err(Clone::clone)?;
    findings.push(("env", env.source.to_string()));
    Ok(&env.settings)
}

/// The AWSCURRENT value, or why repair cannot go on without it.
fn current_value(found: &Found) -> Result<&Version, Box<Refusal>> {
    match &found.current {
        Ok(Some(current)) => Ok(current),
        Ok(None) => Err(Box::new(Refusal::NoCurrentValue)),
        Err(error) => {
            let problem = Box::new(error.clone().into());
            Err(Box::new(Refusal::Unreadable { what: "the AWSCURRENT value", problem }))
        }
    }
}
