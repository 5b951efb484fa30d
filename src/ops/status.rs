//! `status`: where a secret's rotation stands. Secrets Manager calls only, no vendor call.

use std::time::SystemTime;

use serde::Serialize;

use super::{Operator, Pending, StoreProblem, schedule_text};
use crate::config::vendor_from_tags;
use crate::function::FunctionReader;
use crate::notify::Notifier;
use crate::store::{OperatorStore, Replica, Version};
use crate::timing::rfc3339;
use crate::vendors::VendorApi;

/// One secret's rotation state. `pending` is `none`, `empty` or `stored` (`null` when the pending
/// version could not be read); fingerprints are there where there are keys.
#[derive(Debug, Default, Serialize)]
pub struct StatusReport {
    /// The ARN, or the id as given when the secret could not be described.
    pub arn: String,
    pub name: Option<String>,
    pub vendor: Option<&'static str>,
    pub rotation_enabled: bool,
    pub rotation_function: Option<String>,
    pub schedule: Option<String>,
    pub last_rotated: Option<String>,
    pub next_rotation: Option<String>,
    pub current_version: Option<String>,
    pub current_fingerprint: Option<String>,
    pub pending: Option<&'static str>,
    pub pending_version: Option<String>,
    pub pending_fingerprint: Option<String>,
    /// The first version kept as a rescue (`ROTATION_RESCUE.<version>`): a vendor's rotate answer
    /// from which no key could be read, kept by createSecret.
    pub rescue_version: Option<String>,
    /// Every version kept as a rescue (two invocations may each keep one).
    pub rescue_versions: Vec<String>,
    /// Each replica region and its ReplicationStatus (`InSync`, `InProgress`, `Failed`).
    pub replicas: Vec<Replica>,
    /// The environment the secret would be judged in by the other commands (`function ARN` or
    /// `shell`); `None` when there is none (then a problem says why).
    pub environment: Option<String>,
    /// What could not be read or understood.
    pub problems: Vec<String>,
}

impl<S: OperatorStore, V: VendorApi, F: FunctionReader, N: Notifier> Operator<S, V, F, N> {
    pub async fn status(&self, secret_id: &str) -> StatusReport {
        let found = match self.find(secret_id).await {
            Ok(found) => found,
            Err(error) => {
                return StatusReport {
                    arn: secret_id.to_owned(),
                    problems: vec![StoreProblem(error).to_string()],
                    ..StatusReport::default()
                };
            }
        };
        let meta = &found.meta;
        let mut problems = Vec::new();
        let environment = match &found.env {
            Ok(env) => Some(env.source.to_string()),
            Err(problem) => {
                problems.push(problem.explained());
                None
            }
        };
        let vendor = match found.env.as_ref().map(|env| vendor_from_tags(&meta.tags, &env.settings)) {
            Ok(Ok(vendor)) => Some(vendor.name()),
            Ok(Err(problem)) => {
                problems.push(problem.to_string());
                None
            }
            // The environment's problem is said above.
            Err(_) => None,
        };
        let fingerprint = |which: &str, version: &Version, problems: &mut Vec<String>| {
            version
                .key(&meta.tags)
                .map(|value| value.key().fingerprint())
                .map_err(|problem| problems.push(format!("the {which} value: {problem}")))
                .ok()
        };
        let current_fingerprint = match &found.current {
            Ok(Some(version)) => fingerprint("AWSCURRENT", version, &mut problems),
            Ok(None) => None,
            Err(error) => {
                problems.push(format!("reading AWSCURRENT: {}", StoreProblem(error.clone())));
                None
            }
        };
        if let Some(version) = meta.untold() {
            problems.push(format!(
                "consumers were never told that AWSCURRENT moved to version {version} (no Vendor Key Rotated event is recorded for the move); `api-key-rotator repair {} --apply` tells them",
                meta.arn
            ));
        }
        let (pending, pending_version, pending_fingerprint) = match &found.pending {
            Ok(state @ Pending::None) => (Some(state.as_str()), None, None),
            Ok(state @ Pending::Empty(version)) => (Some(state.as_str()), Some(version.clone()), None),
            Ok(state @ Pending::Stored(version, value)) => {
                (Some(state.as_str()), Some(version.clone()), fingerprint("AWSPENDING", value, &mut problems))
            }
            Err(error) => {
                problems.push(format!("reading the pending version: {}", StoreProblem(error.clone())));
                (None, meta.pending_version().map(str::to_owned), None)
            }
        };
        StatusReport {
            arn: meta.arn.clone(),
            name: Some(meta.name.clone()),
            vendor,
            rotation_enabled: meta.rotation_enabled,
            rotation_function: meta.rotation_function.clone(),
            schedule: schedule_text(meta),
            last_rotated: meta.last_rotated.map(timestamp),
            next_rotation: meta.next_rotation.map(timestamp),
            current_version: found.current_version().map(str::to_owned),
            current_fingerprint,
            pending,
            pending_version,
            pending_fingerprint,
            rescue_version: meta.rescues().first().map(|rescue| rescue.version.clone()),
            rescue_versions: meta.rescues().into_iter().map(|rescue| rescue.version).collect(),
            replicas: meta.replicas.clone(),
            environment,
            problems,
        }
    }
}

/// RFC 3339, in UTC.
fn timestamp(time: SystemTime) -> String {
    rfc3339(time).unwrap_or_else(|| "unknown".into())
}
