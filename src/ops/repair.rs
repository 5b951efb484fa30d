//! `repair`: an unfinished rotation, looked at and settled. It asks the vendor about the keys
//! involved (verify calls only), plans, and changes something only when told to apply the plan.
//! It never takes a label off a version whose key the vendor accepts, unless AWSCURRENT holds the
//! same value.

use super::{Found, Operator, Pending, key_in, store_problem};
use crate::config::{Issued, Target};
use crate::secret::SecretValue;
use crate::store::{AWSCURRENT, AWSPENDING, OperatorStore};
use crate::vendors::{VendorApi, Verdict, VerifyPolicy};

/// What `repair` found and what it would do (or did).
#[derive(Debug)]
pub struct RepairReport {
    pub arn: String,
    /// What was found, as (subject, finding): the pending version, the current one, the vendor.
    pub findings: Vec<(&'static str, String)>,
    pub plan: Plan,
    /// With `--apply`: what applying the plan did, or why it failed.
    pub applied: Option<Result<String, String>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// No version carries AWSPENDING apart from AWSCURRENT's own.
    NothingToDo,
    /// Move AWSCURRENT from `current` to `pending`, as finishSecret does.
    Finish { pending: String, current: String },
    /// Take AWSPENDING off `version` (the version itself is kept), for the reason given.
    Clear { version: String, why: &'static str },
    /// Change nothing: the reason and what to do instead.
    Refuse(String),
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

impl<S: OperatorStore, V: VendorApi> Operator<S, V> {
    pub async fn repair(&self, secret_id: &str, apply: bool) -> RepairReport {
        let found = match self.find(secret_id).await {
            Ok(found) => found,
            Err(error) => {
                return RepairReport {
                    arn: secret_id.to_owned(),
                    findings: Vec::new(),
                    plan: Plan::Refuse(format!("the secret cannot be read: {}", store_problem(&error))),
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
        let (version, pending) = match &found.pending {
            Err(error) => {
                return Plan::Refuse(format!("the pending version cannot be read: {}", store_problem(error)));
            }
            Ok(Pending::None) => {
                findings.push(("pending", "no version carries AWSPENDING apart from AWSCURRENT".into()));
                return Plan::NothingToDo;
            }
            Ok(Pending::Empty(version)) => {
                findings
                    .push(("pending", format!("version {version} carries AWSPENDING and holds no value")));
                return Plan::Clear { version: version.clone(), why: "it holds no key" };
            }
            Ok(Pending::Stored(version, pending)) => (version, pending),
        };
        let current = match &found.current {
            Ok(Some(current)) => current,
            Ok(None) => return Plan::Refuse("the secret has no AWSCURRENT value; store one by hand".into()),
            Err(error) => {
                return Plan::Refuse(format!(
                    "the AWSCURRENT value cannot be read: {}",
                    store_problem(error)
                ));
            }
        };
        let current_id = found.current_version().unwrap_or_default().to_owned();
        if current.text == pending.text {
            findings.push(("pending", format!("version {version} holds a copy of the AWSCURRENT value")));
            return Plan::Clear { version: version.clone(), why: "it is a copy of AWSCURRENT" };
        }
        let fix_tags = format!(
            "fix it (`api-key-rotator check {}` shows how), then run repair again; only a key is ever sent to a vendor",
            meta.arn
        );
        // The pending key goes only where it was issued (createSecret recorded it on the version).
        if let Err(problem) = Issued::check(meta.labels(version), &meta.tags, &self.settings) {
            return Plan::Refuse(format!("{problem}; then run repair again"));
        }
        let pending_key = match key_in(meta, pending) {
            Ok(value) => value,
            Err(problem) => {
                return Plan::Refuse(format!("the pending value cannot be read: {problem}; {fix_tags}"));
            }
        };
        findings.push((
            "pending",
            format!("version {version} holds a key ({})", pending_key.key().fingerprint()),
        ));
        let current_key = key_in(meta, current);
        findings.push((
            "current",
            match &current_key {
                Ok(value) => format!("version {current_id} holds a key ({})", value.key().fingerprint()),
                Err(problem) => format!("version {current_id} holds no readable key: {problem}"),
            },
        ));
        if current_key.as_ref().is_ok_and(|value| value.key() == pending_key.key()) {
            return Plan::Refuse(
                "both versions hold the same key with other fields changed; decide by hand which fields are right"
                    .into(),
            );
        }
        let target = match Target::from_tags(&meta.tags, &self.settings) {
            Ok(target) => target,
            Err(problem) => {
                return Plan::Refuse(format!("the vendor cannot be asked: {problem}; {fix_tags}"));
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
        let again = "run repair again in a few minutes";
        match (pending_verdict, current_verdict) {
            (Verdict::Accepted, None | Some(Verdict::Refused(_))) => {
                Plan::Finish { pending: version.clone(), current: current_id }
            }
            (Verdict::Accepted, Some(Verdict::Accepted)) => Plan::Refuse(format!(
                "the vendor accepts both keys, so moving either label could strand a live key; the vendor may still be propagating the rotation: {again}"
            )),
            (Verdict::Refused(_), Some(Verdict::Accepted)) => Plan::Clear {
                version: version.clone(),
                why: "the vendor refuses its key and accepts AWSCURRENT's",
            },
            (Verdict::Refused(_), None | Some(Verdict::Refused(_))) => Plan::Refuse(format!(
                "the vendor accepts neither key. Get a working key from the vendor's dashboard and store it with `api-key-rotator recover {}`",
                meta.arn
            )),
            _ => Plan::Refuse(format!("the vendor gave no verdict on one of the keys: {again}")),
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

    async fn apply(&self, found: &Found, plan: &Plan) -> Result<String, String> {
        let arn = &found.meta.arn;
        let unchanged = "nothing was changed (or the labels moved since they were read); run repair again";
        match plan {
            Plan::Finish { pending, current } => {
                self.store
                    .make_current(arn, pending, Some(current))
                    .await
                    .map_err(|e| format!("{}; {unchanged}", store_problem(&e)))?;
                Ok(format!("AWSCURRENT is on version {pending}; version {current} is AWSPREVIOUS"))
            }
            Plan::Clear { version, .. } => {
                if matches!(found.pending, Ok(Pending::Empty(_))) {
                    self.clear_placeholder(arn, version).await?;
                } else {
                    self.store
                        .remove_stage(arn, AWSPENDING, version)
                        .await
                        .map_err(|e| format!("{}; {unchanged}", store_problem(&e)))?;
                }
                Ok(format!(
                    "AWSPENDING removed from version {version}; the version is kept (aws secretsmanager get-secret-value --secret-id {arn} --version-id {version}) and {AWSCURRENT} is unchanged"
                ))
            }
            Plan::NothingToDo | Plan::Refuse(_) => Ok("nothing to apply".into()),
        }
    }
}
