//! One CloudWatch Embedded Metric Format record per invocation, written to stdout as a JSON line
//! of its own: Lambda hands it to CloudWatch Logs, which turns it into metrics. No client, no
//! agent, no background flush.
//!
//! Metrics (namespace `ApiKeyRotator`, or `METRICS_NAMESPACE`), with the dimension sets
//! [Vendor, Step], [Vendor] and none (the last one is what the paging alarm watches):
//! * `Duration` (Milliseconds): the invocation's time;
//! * `Failure` (Count, 0 or 1), with the errorType as the property `ErrorType`;
//! * `KeyLost` (Count, 0 or 1), on every createSecret record;
//! * `CurrentKeyRejected` (Count, 0 or 1), on every createSecret record and on a testSecret record
//!   that verified the key in AWSCURRENT: 1 when the vendor refuses the key consumers read. With
//!   `KeyLost` it is what the paging alarm watches, because it fires whatever killed the key (a
//!   process killed before storing it, an unknown outcome that had rotated, a person);
//! * `KeyStateUnknown` (Count, 0 or 1), on every createSecret record: 1 when the rotate call's
//!   outcome is unknown and nothing afterwards told whether the key consumers read still works (the
//!   probe got no verdict, or the step was cut short); at a create-then-revoke vendor, also when a
//!   create that went wrong, a retried create or a revoke is followed by no verdict on that key, and
//!   when a revoke may have killed another key (a 2xx with no verdict since, or "not its id").
//!   Consumers may hold a dead key, so the paging alarm watches it too;
//! * `KeyOrphaned` (Count, 0 or 1), on every createSecret record of a create-then-revoke vendor: 1
//!   when the vendor may hold a key no one has (a create whose key was never stored);
//! * `RevokeFailed` (Count, 0 or 1), on every record of a step that revoked a previous key: 1
//!   when the revoke did not take;
//! * `WrongKeyRevoked` (Count, 0 or 1), on the same records: 1 when the vendor answered success
//!   to the revoke and still accepted the previous key: the revoke killed some other key (a wrong
//!   id), or is not applied yet. Some consumers may hold a dead key, so the paging alarm watches
//!   it;
//! * `DeadKeyWindow` (Milliseconds), whenever AWSCURRENT moves to the new key (0 under overlap:
//!   the replaced key still works), with the property `Mode` (`single-phase` or `overlap`);
//! * `ReplicationFailed` (Count, 0 or 1), on every record that waited for the secret's replica
//!   regions: 1 when one reported `Failed` or was not `InSync` when the wait ended, named in the
//!   property `FailedRegions` (every region waited for is in `ReplicaRegions`). It pages: consumers
//!   there read a dead key;
//! * `ReplicaStateUnknown` (Count, 0 or 1), on every record that waited for the replica regions: 1
//!   when DescribeSecret never answered during the wait, so whether the regions hold the new key
//!   is unknown (then `ReplicationFailed` is 0: nothing says they failed);
//! * `ReplicaSyncTime` (Milliseconds): from the move of AWSCURRENT until every replica was seen
//!   `InSync` (to the poll that saw it);
//! * `NotifyFailed` (Count, 0 or 1), on every record that sent the `Vendor Key Rotated` event: 1
//!   when it could not be put.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use crate::error::ErrorType;
use crate::event::Step;

pub const DEFAULT_NAMESPACE: &str = "ApiKeyRotator";
pub const ENV_NAMESPACE: &str = "METRICS_NAMESPACE";
/// Every metric a record may carry (the template's alarms and dashboard name only these).
pub const NAMES: &[&str] = &[
    "Duration",
    "Failure",
    "KeyLost",
    "CurrentKeyRejected",
    "KeyStateUnknown",
    "KeyOrphaned",
    "RevokeFailed",
    "WrongKeyRevoked",
    "DeadKeyWindow",
    "ReplicationFailed",
    "ReplicaStateUnknown",
    "ReplicaSyncTime",
    "NotifyFailed",
];
/// The Vendor or Step dimension of an invocation that names none usable.
pub const UNKNOWN: &str = "unknown";

/// What one invocation measured.
#[derive(Clone, Debug, Default)]
pub struct Record {
    pub vendor: Option<&'static str>,
    pub step: Option<Step>,
    pub secret: Option<String>,
    pub duration: Duration,
    /// The errorType, when the invocation failed.
    pub error_type: Option<ErrorType>,
    /// From the vendor's answer (early promotion) or the pending version's creation (standard) to
    /// AWSCURRENT holding the new key, when this invocation moved it.
    pub dead_key_window: Option<Duration>,
    /// `standard` or `early`, when the invocation knew the secret's mode.
    pub promote: Option<&'static str>,
    /// `single-phase` or `overlap`, when the invocation knew the vendor.
    pub mode: Option<&'static str>,
    /// Whether a revoke of the previous key failed, when the invocation revoked one.
    pub revoke_failed: Option<bool>,
    /// Whether a revoke answered with success left the previous key live, when the invocation
    /// revoked one.
    pub wrong_key_revoked: Option<bool>,
    /// Whether the vendor refused the key in AWSCURRENT, when the invocation asked it.
    pub current_key_rejected: Option<bool>,
    /// createSecret: the rotate outcome is unknown, and whether the AWSCURRENT key still works too.
    pub key_state_unknown: bool,
    /// What the wait for the replica regions saw, when the invocation waited.
    pub replication: Option<Replication>,
    /// Whether the `Vendor Key Rotated` event could not be put, when the invocation sent it.
    pub notify_failed: Option<bool>,
}

/// How the secret's replica regions took the new AWSCURRENT.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replication {
    /// Every replica region waited for.
    pub regions: Vec<String>,
    /// Those that reported `Failed`, or were not `InSync` when the wait ended.
    pub failed: Vec<String>,
    /// From the move until every replica was seen `InSync`, when all were and the move's time is
    /// known.
    pub sync_time: Option<Duration>,
    /// DescribeSecret never answered during the wait: the regions' state is unknown.
    pub unknown: bool,
}

impl Record {
    /// The EMF document, as one line.
    pub fn to_emf(&self, namespace: &str, now: SystemTime) -> String {
        let millis = |d: Duration| d.as_secs_f64() * 1000.0;
        let mut metrics = vec![("Duration", "Milliseconds", json!(millis(self.duration)))];
        metrics.push(("Failure", "Count", json!(u8::from(self.error_type.is_some()))));
        if self.step == Some(Step::CreateSecret) {
            metrics.push(("KeyLost", "Count", json!(u8::from(self.error_type == Some(ErrorType::KeyLost)))));
        }
        if self.step == Some(Step::CreateSecret) || self.current_key_rejected.is_some() {
            let rejected = self.current_key_rejected.unwrap_or(false);
            metrics.push(("CurrentKeyRejected", "Count", json!(u8::from(rejected))));
        }
        if self.step == Some(Step::CreateSecret) {
            metrics.push(("KeyStateUnknown", "Count", json!(u8::from(self.key_state_unknown))));
        }
        if self.step == Some(Step::CreateSecret) && self.mode == Some("overlap") {
            let orphaned = self.error_type == Some(ErrorType::KeyOrphaned);
            metrics.push(("KeyOrphaned", "Count", json!(u8::from(orphaned))));
        }
        if let Some(failed) = self.revoke_failed {
            metrics.push(("RevokeFailed", "Count", json!(u8::from(failed))));
        }
        if let Some(wrong) = self.wrong_key_revoked {
            metrics.push(("WrongKeyRevoked", "Count", json!(u8::from(wrong))));
        }
        if let Some(window) = self.dead_key_window {
            metrics.push(("DeadKeyWindow", "Milliseconds", json!(millis(window))));
        }
        if let Some(replication) = &self.replication {
            metrics.push(("ReplicationFailed", "Count", json!(u8::from(!replication.failed.is_empty()))));
            metrics.push(("ReplicaStateUnknown", "Count", json!(u8::from(replication.unknown))));
            if let Some(sync_time) = replication.sync_time {
                metrics.push(("ReplicaSyncTime", "Milliseconds", json!(millis(sync_time))));
            }
        }
        if let Some(failed) = self.notify_failed {
            metrics.push(("NotifyFailed", "Count", json!(u8::from(failed))));
        }
        let timestamp = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
        let definitions: Vec<Value> =
            metrics.iter().map(|(name, unit, _)| json!({"Name": name, "Unit": unit})).collect();
        let mut root = Map::new();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp,
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": [["Vendor", "Step"], ["Vendor"], []],
                    "Metrics": definitions,
                }],
            }),
        );
        root.insert("Vendor".into(), json!(self.vendor.unwrap_or(UNKNOWN)));
        root.insert("Step".into(), json!(self.step.map_or(UNKNOWN, Step::as_str)));
        for (name, _, value) in metrics {
            root.insert(name.into(), value);
        }
        if let Some(error_type) = self.error_type {
            root.insert("ErrorType".into(), json!(error_type.as_str()));
        }
        if let Some(promote) = self.promote {
            root.insert("Promote".into(), json!(promote));
        }
        if let Some(mode) = self.mode {
            root.insert("Mode".into(), json!(mode));
        }
        if let Some(secret) = &self.secret {
            root.insert("Secret".into(), json!(secret));
        }
        if let Some(replication) = &self.replication {
            root.insert("ReplicaRegions".into(), json!(replication.regions));
            if !replication.failed.is_empty() {
                root.insert("FailedRegions".into(), json!(replication.failed));
            }
        }
        Value::Object(root).to_string()
    }
}

/// Where records go: stdout in the function (a JSON line of its own, as EMF needs), or a closure
/// in tests.
pub struct Metrics {
    namespace: String,
    sink: Box<dyn Fn(String) + Send + Sync>,
}

impl Metrics {
    pub fn stdout(namespace: String) -> Self {
        // One write of the whole line under stdout's lock; a failed write loses a record, never
        // the step's outcome.
        let sink = |line: String| {
            use std::io::Write;
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        };
        Metrics { namespace, sink: Box::new(sink) }
    }

    pub fn to(namespace: String, sink: impl Fn(String) + Send + Sync + 'static) -> Self {
        Metrics { namespace, sink: Box::new(sink) }
    }

    pub fn emit(&self, record: &Record) {
        (self.sink)(record.to_emf(&self.namespace, SystemTime::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emf(record: &Record) -> Value {
        serde_json::from_str(&record.to_emf("Ns", UNIX_EPOCH + Duration::from_millis(1_700_000_000_123)))
            .unwrap()
    }

    #[test]
    fn a_failed_create_secret_that_lost_a_key() {
        let record = Record {
            vendor: Some("calcom"),
            step: Some(Step::CreateSecret),
            secret: Some("arn:aws:secretsmanager:us-east-1:1:secret:x".into()),
            duration: Duration::from_millis(1500),
            error_type: Some(ErrorType::KeyLost),
            dead_key_window: None,
            promote: Some("standard"),
            mode: None,
            revoke_failed: None,
            wrong_key_revoked: None,
            current_key_rejected: None,
            key_state_unknown: false,
            replication: None,
            notify_failed: None,
        };
        let doc = emf(&record);
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_123u64);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Ns");
        assert_eq!(directive["Dimensions"], json!([["Vendor", "Step"], ["Vendor"], []]));
        let names: Vec<&str> =
            directive["Metrics"].as_array().unwrap().iter().map(|m| m["Name"].as_str().unwrap()).collect();
        assert_eq!(names, ["Duration", "Failure", "KeyLost", "CurrentKeyRejected", "KeyStateUnknown"]);
        assert_eq!(doc["CurrentKeyRejected"], json!(0), "every createSecret record carries it");
        assert_eq!(doc["KeyStateUnknown"], json!(0), "every createSecret record carries it");
        let unknown =
            Record { key_state_unknown: true, error_type: Some(ErrorType::OutcomeUnknown), ..record };
        assert_eq!(emf(&unknown)["KeyStateUnknown"], json!(1));
        assert_eq!(
            (doc["Duration"].as_f64(), &doc["Failure"], &doc["KeyLost"]),
            (Some(1500.0), &json!(1), &json!(1))
        );
        assert_eq!(
            (&doc["Vendor"], &doc["Step"], &doc["ErrorType"]),
            (&json!("calcom"), &json!("createSecret"), &json!("KeyLost"))
        );
    }

    #[test]
    fn other_steps_have_no_key_lost_and_unknown_events_still_count() {
        let record = Record {
            duration: Duration::from_millis(3),
            error_type: Some(ErrorType::InvalidEvent),
            ..Record::default()
        };
        let doc = emf(&record);
        assert_eq!((&doc["Vendor"], &doc["Step"]), (&json!("unknown"), &json!("unknown")));
        assert!(doc.get("KeyLost").is_none() && doc.get("DeadKeyWindow").is_none());
        let finish = Record {
            vendor: Some("ringg"),
            step: Some(Step::FinishSecret),
            dead_key_window: Some(Duration::from_secs(12)),
            ..Record::default()
        };
        let doc = emf(&finish);
        assert_eq!((doc["Failure"].as_u64(), doc["DeadKeyWindow"].as_f64()), (Some(0), Some(12000.0)));
        assert!(doc.get("ErrorType").is_none());
        assert!(doc.get("CurrentKeyRejected").is_none(), "finishSecret asks the vendor nothing");
        assert!(doc.get("KeyStateUnknown").is_none(), "finishSecret calls no rotate endpoint");
    }

    #[test]
    fn a_refused_current_key_is_counted_on_any_step_that_asked() {
        for step in [Step::CreateSecret, Step::TestSecret] {
            let record = Record {
                step: Some(step),
                error_type: Some(ErrorType::VendorRejectedKey),
                current_key_rejected: Some(true),
                ..Record::default()
            };
            assert_eq!(emf(&record)["CurrentKeyRejected"], json!(1), "{step}");
        }
        let accepted =
            Record { step: Some(Step::TestSecret), current_key_rejected: Some(false), ..Record::default() };
        assert_eq!(emf(&accepted)["CurrentKeyRejected"], json!(0));
    }

    fn metric_names(doc: &Value) -> Vec<&str> {
        let metrics = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array().unwrap();
        metrics.iter().map(|m| m["Name"].as_str().unwrap()).collect()
    }

    #[test]
    fn replicas_and_the_event_are_counted_only_where_they_happened() {
        let finish = |replication, notify_failed| Record {
            step: Some(Step::FinishSecret),
            replication,
            notify_failed,
            ..Record::default()
        };
        let none = emf(&finish(None, None));
        assert!(
            !metric_names(&none)
                .iter()
                .any(|name| ["ReplicationFailed", "ReplicaSyncTime", "NotifyFailed"].contains(name))
        );
        assert!(none.get("ReplicaRegions").is_none());

        let synced = Replication {
            regions: vec!["eu-west-1".into(), "ap-south-1".into()],
            failed: vec![],
            sync_time: Some(Duration::from_millis(2500)),
            unknown: false,
        };
        let doc = emf(&finish(Some(synced), Some(false)));
        assert!(metric_names(&doc).iter().all(|name| NAMES.contains(name)), "NAMES lists every metric");
        assert_eq!(
            metric_names(&doc),
            [
                "Duration",
                "Failure",
                "ReplicationFailed",
                "ReplicaStateUnknown",
                "ReplicaSyncTime",
                "NotifyFailed"
            ]
        );
        assert_eq!(
            (doc["ReplicationFailed"].as_u64(), doc["ReplicaSyncTime"].as_f64()),
            (Some(0), Some(2500.0))
        );
        assert_eq!(
            (&doc["ReplicaRegions"], doc.get("FailedRegions")),
            (&json!(["eu-west-1", "ap-south-1"]), None)
        );
        assert_eq!(doc["NotifyFailed"], json!(0));

        let failed = Replication {
            regions: vec!["eu-west-1".into()],
            failed: vec!["eu-west-1".into()],
            sync_time: None,
            unknown: false,
        };
        let doc = emf(&finish(Some(failed), Some(true)));
        assert_eq!((doc["ReplicationFailed"].as_u64(), doc.get("ReplicaSyncTime")), (Some(1), None));
        assert_eq!((&doc["FailedRegions"], &doc["NotifyFailed"]), (&json!(["eu-west-1"]), &json!(1)));
        assert_eq!(doc["ReplicaStateUnknown"], json!(0));

        // Never read: unknown, and nothing says the regions failed.
        let unread =
            Replication { regions: vec!["eu-west-1".into()], failed: vec![], sync_time: None, unknown: true };
        let doc = emf(&finish(Some(unread), Some(false)));
        assert_eq!(
            (doc["ReplicationFailed"].as_u64(), doc["ReplicaStateUnknown"].as_u64()),
            (Some(0), Some(1))
        );
        assert!(doc.get("FailedRegions").is_none());
    }
}
