//! `repair`: an unfinished rotation, looked at and settled. It asks the vendor about the keys
//! involved (verify calls only), plans, and changes something only when told to apply the plan.
//! It never takes a label off a version whose key the vendor accepts, unless AWSCURRENT holds the
//! same value.

use std::fmt;

use super::{ClearError, EnvProblem, Found, Operator, Pending, StoreProblem};
use crate::config::{ConfigError, Issued, KEY_ID_LABEL_PREFIX, Promote, Settings, Target, vendor_from_tags};
use crate::function::FunctionReader;
use crate::notify::{Cause, KeyRotated, Notifier};
use crate::secret::{SecretValue, ValueError};
use crate::store::dated::date_move;
use crate::store::{
    AWSCURRENT, AWSPENDING, AWSPREVIOUS, Fingerprint, OperatorStore, Rescue, StoreError, Version, fingerprint,
};
use crate::timing::rfc3339;
use crate::vendors::{Mode, VendorApi, Verdict, VerifyPolicy};

/// What `repair` found and what it would do (or did).
#[derive(Debug)]
pub struct RepairReport {
    pub arn: String,
    /// What was found, as (subject, finding): the pending version, the current one, the vendor.
    pub findings: Vec<(&'static str, String)>,
    /// What locks consumers out, or may: said before the plan, and `repair` exits 1 while any
    /// stands, whatever it applied.
    pub lockouts: Vec<Lockout>,
    /// A move of AWSCURRENT consumers were never told of, and what became of it.
    pub told: Option<Told>,
    pub plan: Plan,
    /// With `--apply`: what applying the plan did, or why it failed.
    pub applied: Option<Result<Applied, ApplyError>>,
}

/// What applying a plan did.
#[derive(Clone, Debug, PartialEq)]
pub enum Applied {
    /// AWSCURRENT moved; `not_told` says why consumers were not told of it, when they were not.
    Finished {
        pending: String,
        current: String,
        not_told: Option<String>,
    },
    Cleared {
        arn: String,
        version: String,
    },
    Nothing,
}

impl fmt::Display for Applied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Applied::Finished { pending, current, not_told } => {
                write!(f, "AWSCURRENT is on version {pending}; version {current} is AWSPREVIOUS; ")?;
                match not_told {
                    None => f.write_str("consumers were told (Vendor Key Rotated, cause repair)"),
                    Some(why) => f.write_str(why),
                }
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

    /// The stage move answered an error, and reading the secret again did not settle whether it
    /// landed.
    #[error(
        "{problem}; whether AWSCURRENT moved to version {pending} is unknown (the secret could not be read again, or it moved elsewhere meanwhile). Run `api-key-rotator status {arn}`: if AWSCURRENT is on {pending}, it moved, and the secret's readers were not told"
    )]
    MoveUnknown { problem: StoreProblem, pending: String, arn: String },
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
    /// Consumers are locked out (the lock-outs above say how to get out), and nothing here helps.
    LockedOut,
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
            Refusal::LockedOut => f.write_str(
                "no version holds a key to finish the rotation with; only what the lock-out above says helps",
            ),
            Refusal::NoVerdict => write!(f, "the vendor gave no verdict on one of the keys: {AGAIN}"),
            Refusal::NoEnvironment(problem) => f.write_str(&problem.explained()),
        }
    }
}

/// A move of AWSCURRENT nobody told consumers of (the version it replaced still carries its
/// fingerprint): `--apply` tells them, unless finishing a rotation tells them of a newer move.
#[derive(Clone, Debug, PartialEq)]
pub enum Told {
    /// Found, and not told (without `--apply`).
    Untold { version: String },
    /// Told now.
    Told { version: String },
    /// `--apply` could not tell them.
    Failed { version: String, why: String },
}

impl fmt::Display for Told {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Told::Untold { version } => write!(
                f,
                "consumers were never told that AWSCURRENT moved to version {version} (no Vendor Key Rotated event is recorded for the move): readers that wait for the event still hold the key before it; `--apply` tells them"
            ),
            Told::Told { version } => write!(
                f,
                "consumers are told now that AWSCURRENT moved to version {version} (Vendor Key Rotated)"
            ),
            Told::Failed { version, why } => {
                write!(f, "AWSCURRENT moved to version {version} with no Vendor Key Rotated event, and {why}")
            }
        }
    }
}

/// What locks consumers out, or may: `repair` names it first, with the way out.
#[derive(Clone, Debug, PartialEq)]
pub enum Lockout {
    /// A rotate answer kept when no key could be read from it: it may hold the only live key,
    /// and no rotation starts while it is there.
    Rescue { rescue: Rescue, arn: String },
    /// The vendor refuses the key consumers read from AWSCURRENT.
    CurrentRefused { status: u16, arn: String },
    /// The vendor gave no verdict on that key: whether consumers are locked out is unknown.
    CurrentUnverified { verdict: String },
}

impl fmt::Display for Lockout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lockout::Rescue { rescue, arn } => write!(
                f,
                "version {} is labelled {}: a rotate answer kept because no key could be read from it, which may hold the only live key, and no rotation starts while it is there. {} (README, Recovery: new key lost)",
                rescue.version,
                rescue.label,
                {
                    let steps = rescue.steps(arn);
                    format!("{}{}", steps[..1].to_uppercase(), &steps[1..])
                }
            ),
            Lockout::CurrentUnverified { verdict } => write!(
                f,
                "the vendor gave no verdict on the key in AWSCURRENT ({verdict}): whether consumers hold a key that no longer works is unknown; {AGAIN}"
            ),
            Lockout::CurrentRefused { status, arn } => write!(
                f,
                "the vendor refuses the key in AWSCURRENT (HTTP {status}): consumers hold a key that no longer works. If a version is kept as a rescue (above), the live key may be in it; otherwise get a working key from the vendor's dashboard and store it with `api-key-rotator recover {arn}`"
            ),
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

impl<S: OperatorStore, V: VendorApi, F: FunctionReader, N: Notifier> Operator<S, V, F, N> {
    /// Create marks (create-then-revoke vendors): each says a create was under way and no key
    /// from it may have been stored, so the vendor may hold a key no one has. A mark is stale once
    /// its rotation's version holds a key (the process stopped between storing it and taking the
    /// mark off): `--apply` clears that one. Any other is left for the operator, with the runbook:
    /// only they can tell, at the vendor, whether the create made a key.
    async fn orphans(&self, found: &Found, apply: bool, findings: &mut Vec<(&'static str, String)>) {
        let meta = &found.meta;
        let vendor = found
            .env
            .as_ref()
            .ok()
            .and_then(|env| vendor_from_tags(&meta.tags, &env.settings).ok())
            .map_or("the vendor", |vendor| vendor.name());
        for mark in meta.create_marks() {
            let (label, on, rotation) = (&mark.label, &mark.on, &mark.rotation);
            let stored = matches!(self.store.value(&meta.arn, Some(rotation), None).await, Ok(Some(_)));
            let finding = match (stored, apply) {
                (true, false) => format!(
                    "{label} (on version {on}) is stale: rotation {rotation} stored its key; --apply clears it"
                ),
                (true, true) => match self.store.remove_stage(&meta.arn, label, on).await {
                    Ok(()) => format!("cleared {label}: rotation {rotation} stored its key"),
                    Err(error) => format!("{label} could not be cleared: {}", StoreProblem(error)),
                },
                (false, _) => format!(
                    "{label} (on version {on}): rotation {rotation} called {vendor}'s create and no key from it is stored, so {vendor} may hold a key no one has; repair does not clear this mark. {}",
                    mark.runbook(&meta.arn, vendor)
                ),
            };
            findings.push(("orphan", finding));
        }
    }

    pub async fn repair(&self, secret_id: &str, apply: bool) -> RepairReport {
        let found = match self.find(secret_id).await {
            Ok(found) => found,
            Err(error) => {
                return RepairReport {
                    arn: secret_id.to_owned(),
                    findings: Vec::new(),
                    lockouts: Vec::new(),
                    told: None,
                    plan: Plan::Refuse(Refusal::Unreadable {
                        what: "the secret",
                        problem: Box::new(error.into()),
                    }),
                    applied: None,
                };
            }
        };
        let mut findings = Vec::new();
        let mut lockouts = Vec::new();
        // The worst first: a kept answer may hold the only live key.
        for rescue in found.meta.rescues() {
            lockouts.push(Lockout::Rescue { rescue, arn: found.meta.arn.clone() });
        }
        let plan = self.plan(&found, &mut findings, &mut lockouts).await;
        let applied = match apply && plan.changes() {
            true => Some(self.apply(&found, &plan).await),
            false => None,
        };
        if matches!(applied, Some(Ok(Applied::Finished { .. }))) {
            // AWSCURRENT now holds the key the vendor accepted.
            lockouts.retain(|lockout| !matches!(lockout, Lockout::CurrentRefused { .. }));
        }
        self.orphans(&found, apply, &mut findings).await;
        let finished = matches!(applied, Some(Ok(Applied::Finished { .. })));
        let told = match found.meta.untold() {
            // Finishing the rotation told them of a newer move.
            _ if finished => None,
            None => None,
            Some(version) if !apply => Some(Told::Untold { version: version.to_owned() }),
            Some(version) => Some(self.tell_untold(&found, version).await),
        };
        RepairReport { arn: found.meta.arn.clone(), findings, lockouts, told, plan, applied }
    }

    async fn plan(
        &self,
        found: &Found,
        findings: &mut Vec<(&'static str, String)>,
        lockouts: &mut Vec<Lockout>,
    ) -> Plan {
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
                findings.push(("pending", match promoted {
                    Some(version) => format!(
                        "version {version} carries AWSPENDING and AWSCURRENT: a finished rotation, or one promoted early whose test has not passed"
                    ),
                    None => "no version carries AWSPENDING apart from AWSCURRENT".into(),
                }));
                return self.plan_current(found, settings, findings, lockouts, Plan::NothingToDo).await;
            }
            Ok(Pending::Empty(version)) => {
                findings
                    .push(("pending", format!("version {version} carries AWSPENDING and holds no value")));
                let clear = Plan::Clear { version: version.clone(), why: "it holds no key" };
                return self.plan_current(found, settings, findings, lockouts, clear).await;
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
            let clear = Plan::Clear { version: version.clone(), why: "it is a copy of AWSCURRENT" };
            return self.plan_current(found, settings, findings, lockouts, clear).await;
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
        if let Some(Verdict::Refused(status)) = current_verdict {
            lockouts.push(Lockout::CurrentRefused { status, arn: meta.arn.clone() });
        }
        match (pending_verdict, current_verdict) {
            (Verdict::Accepted, None | Some(Verdict::Refused(_))) => {
                Plan::Finish { pending: version.clone(), current: current_id }
            }
            // Create-then-revoke: two live keys are the normal state mid-rotation.
            (Verdict::Accepted, Some(Verdict::Accepted)) if target.vendor.overlap().is_some() => {
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

    /// No pending key to finish: the vendor is asked about the key consumers read from AWSCURRENT
    /// (refusals retried: a new key can take seconds to propagate), and `plan` stands only while it
    /// accepts it. Refused: consumers hold a dead key, a lock-out only a working key stored with
    /// `recover` ends.
    async fn plan_current(
        &self,
        found: &Found,
        settings: &Settings,
        findings: &mut Vec<(&'static str, String)>,
        lockouts: &mut Vec<Lockout>,
        plan: Plan,
    ) -> Plan {
        let meta = &found.meta;
        let current = match current_value(found) {
            Ok(current) => current,
            Err(refusal) => return Plan::Refuse(*refusal),
        };
        // Its key goes only where it was issued (the version's record, when there is one).
        let version = found.current_version().unwrap_or_default();
        let labels = Issued::labels_for_current(meta.labels(version), meta.pending_labels());
        if let Err(problem) = Issued::check(labels, &meta.tags, settings) {
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
            Verdict::Accepted => plan,
            Verdict::Refused(status) => {
                lockouts.push(Lockout::CurrentRefused { status, arn: meta.arn.clone() });
                match plan {
                    Plan::NothingToDo => Plan::Refuse(Refusal::LockedOut),
                    clear => clear,
                }
            }
            // Clearing a placeholder or a copy is safe whatever the verdict; nothing else is, and
            // repair does not exit 0 without knowing.
            verdict => match plan {
                clear @ Plan::Clear { .. } => {
                    lockouts.push(Lockout::CurrentUnverified { verdict: verdict.to_string() });
                    clear
                }
                _ => Plan::Refuse(Refusal::NoVerdict),
            },
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
                // The key being replaced keeps its fingerprint until consumers are told: if they
                // are not, every later step and command can see it (best effort).
                let mut now = found.meta.clone();
                let key = found
                    .current
                    .as_ref()
                    .ok()
                    .and_then(Option::as_ref)
                    .and_then(|value| value.key(&now.tags).ok());
                if let Some(key) = key.filter(|_| now.fingerprint_of(current).is_none()) {
                    let print = Fingerprint::of(key.key());
                    let _ = fingerprint::record_in(&self.store, &mut now, current, &print).await;
                }
                if let Err(error) = self.store.make_current(arn, pending, Some(current)).await {
                    // A move whose answer was lost may have landed: only reading again tells, and
                    // "stage not found" says AWSCURRENT moved since it was read.
                    match self.moved_to(arn, pending).await {
                        Some(true) => {}
                        Some(false) if !error.is("InvalidParameterException") => return Err(failed(error)),
                        _ => {
                            let (pending, arn) = (pending.clone(), arn.clone());
                            return Err(ApplyError::MoveUnknown { problem: error.into(), pending, arn });
                        }
                    }
                }
                // At a create-then-revoke vendor, the grace of the key this move replaced counts
                // from now (best effort: an undated move starts the clock when a rotation sees it).
                let event = finished(found, pending);
                if event.mode == Mode::Overlap.as_str() {
                    let _ = date_move(&self.store, &now, pending, Some(current)).await;
                }
                let not_told = self.tell(&now, event).await.err();
                Ok(Applied::Finished { pending: pending.clone(), current: current.clone(), not_told })
            }
            Plan::Clear { version, .. } => {
                if matches!(found.pending, Ok(Pending::Empty(_))) {
                    self.clear_placeholder(arn, version).await?;
                } else {
                    self.store.remove_stage(arn, AWSPENDING, version).await.map_err(failed)?;
                    // Storing the pending key took the record off AWSCURRENT (same target, same
                    // label): it goes back, or nothing would say where the current key belongs.
                    self.restore_record(found, version).await;
                }
                Ok(Applied::Cleared { arn: arn.clone(), version: version.clone() })
            }
            Plan::NothingToDo | Plan::Refuse(_) => Ok(Applied::Nothing),
        }
    }
}

impl<S: OperatorStore, V: VendorApi, F: FunctionReader, N: Notifier> Operator<S, V, F, N> {
    /// `--apply` on a move nobody was told of. At a create-then-revoke vendor (as the function's
    /// environment says, or the secret's labels: a dated move, a recorded key id) consumers were
    /// still reading the replaced key until now, so the move is dated again first and its grace
    /// counts from now; a date that cannot be written leaves them untold, and says so.
    async fn tell_untold(&self, found: &Found, version: &str) -> Told {
        let meta = &found.meta;
        let event = untold_event(found, version);
        let by_labels = meta.dated() || meta.labels_with_prefix(KEY_ID_LABEL_PREFIX).next().is_some();
        if event.mode == Mode::Overlap.as_str() || by_labels {
            let previous = meta.version_with(AWSPREVIOUS).filter(|previous| *previous != version);
            if let Err(e) = date_move(&self.store, meta, version, previous).await {
                let why = format!(
                    "the move could not be dated again ({}), so consumers were not told: the previous key's grace must count from when they are; run `repair --apply` again",
                    StoreProblem(e)
                );
                return Told::Failed { version: version.to_owned(), why };
            }
        }
        match self.tell(meta, event).await {
            Ok(()) => Told::Told { version: version.to_owned() },
            Err(why) => Told::Failed { version: version.to_owned(), why },
        }
    }

    /// Moves the record of issue from the cleared `version` back onto AWSCURRENT, when AWSCURRENT
    /// carries none. Best effort: without it, the current key's target is read from today's tags.
    async fn restore_record(&self, found: &Found, version: &str) {
        let meta = &found.meta;
        let Some(current) = found.current_version() else { return };
        if meta.labels(current).iter().any(|label| Issued::is_record(label)) {
            return;
        }
        for record in meta.labels(version).iter().filter(|label| Issued::is_record(label)) {
            let _ = self.store.move_label(&meta.arn, record, current, Some(version)).await;
        }
    }

    /// Whether AWSCURRENT is on `version`, read up to three times a backoff apart: `None` when no
    /// read answered.
    async fn moved_to(&self, arn: &str, version: &str) -> Option<bool> {
        let mut backoff = self.timing.initial_backoff;
        for attempt in 0..3 {
            if attempt > 0 {
                tokio::time::sleep(backoff).await;
                backoff = self.timing.next_backoff(backoff);
            }
            if let Ok(now) = self.store.describe(arn).await {
                return Some(now.has_stage(version, AWSCURRENT));
            }
        }
        None
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

/// The event for a rotation `repair --apply` finished by moving AWSCURRENT to `pending`.
fn finished(found: &Found, pending: &str) -> KeyRotated {
    let meta = &found.meta;
    let value = match &found.pending {
        Ok(Pending::Stored(version, value)) if version == pending => Some(value),
        _ => None,
    };
    // Apply runs only in an environment (the plan needs one).
    let vendor = found.env.as_ref().map_or_else(
        |_| crate::metrics::UNKNOWN.to_owned(),
        |env| Issued::vendor_of(meta.labels(pending), &meta.tags, &env.settings),
    );
    let mode = found.env.as_ref().map_or(Mode::SinglePhase, |env| env.settings.mode_of(&vendor));
    KeyRotated {
        secret_arn: meta.arn.clone(),
        secret_name: meta.name.clone(),
        vendor,
        mode: mode.as_str(),
        version_id: pending.to_owned(),
        key_fingerprint: value
            .and_then(|value| value.key(&meta.tags).ok())
            .map(|value| value.key().fingerprint()),
        promote: Promote::Standard.as_str(),
        dead_since: value.and_then(|value| value.created).and_then(rfc3339),
        cause: Cause::Repair,
    }
}

/// The event for a move of AWSCURRENT to `version` that nobody announced, from what the version's
/// labels say: its fingerprint, and whether a rotation issued the key (else `recover` stored it).
fn untold_event(found: &Found, version: &str) -> KeyRotated {
    let meta = &found.meta;
    let print = meta.fingerprint_of(version);
    let vendor = found.env.as_ref().map_or_else(
        |_| crate::metrics::UNKNOWN.to_owned(),
        |env| Issued::vendor_of(meta.labels(version), &meta.tags, &env.settings),
    );
    let mode = found.env.as_ref().map_or(Mode::SinglePhase, |env| env.settings.mode_of(&vendor));
    let issued = print.as_ref().and_then(|print| print.issued_at());
    KeyRotated {
        secret_arn: meta.arn.clone(),
        secret_name: meta.name.clone(),
        vendor,
        mode: mode.as_str(),
        version_id: version.to_owned(),
        key_fingerprint: print.map(|print| print.fingerprint()),
        promote: Promote::Standard.as_str(),
        dead_since: issued.and_then(rfc3339),
        cause: if issued.is_some() { Cause::Rotation } else { Cause::Recover },
    }
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
