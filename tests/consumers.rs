//! The new key reaches every reader (issue 16): the secret's replica regions, waited for by
//! finishSecret, and consumers told by one `Vendor Key Rotated` event on EventBridge at the move.
//! Against moto (replica states from the wrapper; PutEvents signature-checked with botocore) and the
//! vendor simulator, in the suite's promotion mode (scripts/test runs it in both).

mod common;

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use api_key_rotator::sensitive::Sensitive;
use api_key_rotator::{Outcome, Rotator};
use common::*;
use serde_json::{Value, json};
use tokio::time::Instant;

/// The step that moves AWSCURRENT in this run's mode, and so sends the event.
fn moving_step() -> &'static str {
    if early() { "createSecret" } else { "finishSecret" }
}

/// The metrics record of `step`'s first invocation.
fn record_of(records: &Mutex<Vec<Value>>, step: &str) -> Value {
    let records = records.lock().unwrap();
    records
        .iter()
        .find(|record| record["Step"] == step)
        .cloned()
        .unwrap_or_else(|| panic!("no {step} record"))
}

/// A Cal.com secret replicated to `regions` (or none), with a rotation staged on it and run up to
/// finishSecret (createSecret, setSecret and testSecret each expected to work).
async fn up_to_finish(bench: &Bench, rotator: &Rotator, regions: &[&str]) -> Staged {
    let staged = bench.staged_in("calcom", regions).await;
    for step in ["createSecret", "setSecret", "testSecret"] {
        let outcome = bench.step(rotator, step, &staged.arn, &staged.token).await;
        assert_eq!(outcome.as_ref().ok(), Some(&expected_outcome(step)), "{step}: {outcome:?}");
    }
    staged
}

fn sorted(value: &Value) -> Vec<String> {
    let mut names: Vec<String> =
        value.as_array().unwrap_or(&vec![]).iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn replicas_in_sync_after_a_delay_give_their_sync_time_and_the_rotation_completes() {
    let bench = bench().await;
    let (records, rotator) = bench.recorded(bench.rotator());
    let Staged { account, arn, token } = up_to_finish(&bench, &rotator, &["eu-west-1", "ap-south-1"]).await;
    // Secrets Manager is still copying the new version to both regions.
    bench.replica_lag(&arn, "eu-west-1", 0.6).await;
    bench.replica_lag(&arn, "ap-south-1", 1.2).await;
    let started = Instant::now();
    let outcome = bench.step(&rotator, "finishSecret", &arn, &token).await;
    assert_eq!(outcome.ok(), Some(expected_outcome("finishSecret")));
    assert!(started.elapsed() >= Duration::from_millis(900), "finishSecret waited for the slower replica");

    let record = record_of(&records, "finishSecret");
    assert_eq!(record["ReplicationFailed"], 0, "{record}");
    assert!(record.get("FailedRegions").is_none(), "{record}");
    assert_eq!(sorted(&record["ReplicaRegions"]), ["ap-south-1", "eu-west-1"]);
    let sync = record["ReplicaSyncTime"].as_f64().unwrap_or_else(|| panic!("no ReplicaSyncTime: {record}"));
    // From the move until the poll that saw both InSync: at least the lag left after the move,
    // within the wait's budget.
    assert!((800.0..4_000.0).contains(&sync), "ReplicaSyncTime {sync} ms: {record}");
    let current = bench.value(&arn, "AWSCURRENT").await;
    assert!(current.contains(&bench.live_key(&account).await), "AWSCURRENT holds the live key");
}

#[tokio::test]
async fn a_failed_replica_pages_and_fails_check_while_the_rotation_completes() {
    let bench = bench().await;
    let (records, rotator) = bench.recorded(bench.rotator());
    let Staged { account, arn, token } = up_to_finish(&bench, &rotator, &["eu-west-1", "ap-south-1"]).await;
    // One region fails while the other is still copying: the wait ends at the failure, and a
    // region not InSync by then is named too (nothing says it holds the new key).
    bench.replica_lag(&arn, "ap-south-1", 30.0).await;
    bench.replica_state(&arn, "eu-west-1", "Failed", Some("no KMS key in eu-west-1")).await;
    let outcome = bench.step(&rotator, "finishSecret", &arn, &token).await;
    assert_eq!(outcome.ok(), Some(expected_outcome("finishSecret")), "the key is safe in the primary");

    let record = record_of(&records, "finishSecret");
    assert_eq!((&record["ReplicationFailed"], &record["Failure"]), (&json!(1), &json!(0)), "{record}");
    assert_eq!(sorted(&record["FailedRegions"]), ["ap-south-1", "eu-west-1"], "{record}");
    assert!(record.get("ReplicaSyncTime").is_none(), "{record}");
    let current = bench.value(&arn, "AWSCURRENT").await;
    assert!(current.contains(&bench.live_key(&account).await), "AWSCURRENT holds the live key");

    let out = bench.operator(&["check", &arn], &[]).stdout(std::process::Stdio::piped()).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.lines().any(|line| line.starts_with("  FAIL ") && line.contains("no KMS key in eu-west-1")),
        "{stdout}"
    );
}

#[tokio::test]
async fn a_replica_still_copying_when_the_wait_ends_pages() {
    let bench = bench().await;
    let (records, rotator) = bench.recorded(bench.rotator());
    let Staged { arn, token, .. } = up_to_finish(&bench, &rotator, &["eu-west-1"]).await;
    bench.replica_lag(&arn, "eu-west-1", 60.0).await;
    let started = Instant::now();
    let outcome = bench.step(&rotator, "finishSecret", &arn, &token).await;
    assert_eq!(outcome.ok(), Some(expected_outcome("finishSecret")));
    let budget = fast_timing().replica_budget;
    assert!(started.elapsed() < budget + Duration::from_secs(2), "the wait keeps to its budget");
    let record = record_of(&records, "finishSecret");
    assert_eq!(
        (&record["ReplicationFailed"], sorted(&record["FailedRegions"])),
        (&json!(1), vec!["eu-west-1".to_owned()])
    );
}

#[tokio::test]
async fn exactly_one_event_per_rotation_at_the_move_without_key_material() {
    let bench = bench().await;
    let (records, rotator) = bench.recorded(bench.rotator());
    let staged = bench.staged("ringg").await;
    let (arn, token) = (&staged.arn, &staged.token);
    let before = SystemTime::now();
    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        let outcome = bench.step(&rotator, step, arn, token).await;
        assert_eq!(outcome.as_ref().ok(), Some(&expected_outcome(step)), "{step}: {outcome:?}");
    }
    // Every step replayed, as Secrets Manager may: still one event.
    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        bench.step(&rotator, step, arn, token).await.unwrap();
    }
    let new_key = bench.live_key(&staged.account).await;

    let puts = bench.moto_requests("PutEvents", arn).await;
    assert_eq!(puts.len(), 1, "{puts:?}");
    let entries = puts[0]["Entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(
        (entry["Source"].as_str(), entry["DetailType"].as_str()),
        (Some("api-key-rotator"), Some("Vendor Key Rotated"))
    );
    assert!(entry.get("EventBusName").is_none(), "the default bus");
    let text = entry.to_string();
    for secret in [&staged.account.key, &new_key] {
        assert!(!text.contains(secret.as_str()), "the event holds no key: {text}");
    }
    let detail: Value = serde_json::from_str(entry["Detail"].as_str().unwrap()).unwrap();
    let name = bench.sm.describe_secret().secret_id(arn).send().await.unwrap().name().unwrap().to_owned();
    assert_eq!(detail["secretArn"], json!(arn));
    assert_eq!(detail["secretName"], json!(name));
    assert_eq!((&detail["vendor"], &detail["versionId"]), (&json!("ringg"), &json!(token)));
    assert_eq!(detail["keyFingerprint"], json!(Sensitive::new(new_key.as_str()).fingerprint()));
    assert_eq!(detail["promote"], json!(if early() { "early" } else { "standard" }));
    let dead_since = detail["deadSince"].as_str().expect("deadSince");
    let dead_since = aws_sdk_secretsmanager::primitives::DateTime::from_str(
        dead_since,
        aws_sdk_secretsmanager::primitives::DateTimeFormat::DateTime,
    )
    .expect("deadSince is RFC 3339");
    let dead_since = SystemTime::try_from(dead_since).unwrap();
    assert!(
        dead_since + Duration::from_secs(1) >= before && dead_since <= SystemTime::now(),
        "deadSince within the rotation"
    );

    // At the move: after the call that made the new version AWSCURRENT, never before.
    let (operation, moved) = if early() {
        ("PutSecretValue", "VersionStages")
    } else {
        ("UpdateSecretVersionStage", "MoveToVersionId")
    };
    let moves: Vec<f64> = bench
        .moto_requests(operation, arn)
        .await
        .iter()
        .filter(|call| call[moved].to_string().contains("AWSCURRENT") || call[moved] == json!(token))
        .map(|call| call["At"].as_f64().unwrap())
        .collect();
    assert!(!moves.is_empty(), "the move was made with {operation}");
    assert!(puts[0]["At"].as_f64().unwrap() > moves[0], "the event follows the move");
    let record = record_of(&records, moving_step());
    assert_eq!(record["NotifyFailed"], 0, "{record}");
}

#[tokio::test]
async fn an_eventbridge_outage_never_fails_a_step() {
    let bench = bench().await;
    // EventBridge unreachable: every attempt fails, within the event's budget.
    let settings = bench.settings_from(bench.env());
    let down = bench.event_bus("http://eventbridge.invalid");
    let (records, rotator) = bench.recorded(bench.rotator_on(settings, down));
    let (account, arn) = bench.tagged("projectdiscovery", &[]).await;
    bench.rotate(&rotator, &arn).await;
    assert!(bench.value(&arn, "AWSCURRENT").await.contains(&bench.live_key(&account).await));
    let record = record_of(&records, moving_step());
    assert_eq!((&record["NotifyFailed"], &record["Failure"]), (&json!(1), &json!(0)), "{record}");
    assert!(bench.moto_requests("PutEvents", &arn).await.is_empty());

    // EventBridge failing twice, then taking it: the retry delivers one event.
    let (records, rotator) = bench.recorded(bench.rotator());
    let (_, arn) = bench.tagged("calcom", &[]).await;
    bench.moto_faults("PutEvents", &arn, 2, 500, "InternalException").await;
    bench.rotate(&rotator, &arn).await;
    let puts = bench.moto_requests("PutEvents", &arn).await;
    let faults: Vec<&Value> = puts.iter().map(|put| &put["InjectedFault"]).collect();
    assert_eq!(faults, [&json!("InternalException"), &json!("InternalException"), &Value::Null]);
    assert_eq!(record_of(&records, moving_step())["NotifyFailed"], 0);

    // Answers that take nothing: a 200 whose entry failed, a garbled 200, a denial (not retried).
    for (status, body, attempts) in [
        (200, r#"{"FailedEntryCount":1,"Entries":[{"ErrorCode":"InternalFailure","ErrorMessage":"m"}]}"#, 3),
        (200, r#"{"FailedEntryCount":"#, 3),
        (400, r#"{"__type":"AccessDeniedException","message":"not allowed"}"#, 1),
    ] {
        let (records, rotator) = bench.recorded(bench.rotator());
        let (_, arn) = bench.tagged("calcom", &[]).await;
        bench.moto_body("PutEvents", &arn, 10, status, body).await;
        bench.rotate(&rotator, &arn).await;
        told_again(bench.moto_requests("PutEvents", &arn).await.len(), attempts, body);
        assert_eq!(record_of(&records, moving_step())["NotifyFailed"], 1, "{body}");
    }

    // Failing throughout: counted, and the rotation complete.
    let (records, rotator) = bench.recorded(bench.rotator());
    let (account, arn) = bench.tagged("ringg", &[]).await;
    bench.moto_faults("PutEvents", &arn, 10, 503, "ServiceUnavailable").await;
    bench.rotate(&rotator, &arn).await;
    let attempts = bench.moto_requests("PutEvents", &arn).await.len();
    told_again(attempts, fast_timing().notify_attempts as usize, "503 throughout");
    assert_eq!(record_of(&records, moving_step())["NotifyFailed"], 1);
    assert!(bench.value(&arn, "AWSCURRENT").await.contains(&bench.live_key(&account).await));
}

/// `attempts` PutEvents calls from the step that moved AWSCURRENT; with early promotion, each
/// later step of the rotation finds the move untold and tries again.
fn told_again(puts: usize, attempts: usize, case: &str) {
    if early() {
        assert!(puts > attempts, "{case}: {puts} PutEvents, the later steps tried again");
    } else {
        assert_eq!(puts, attempts, "{case}");
    }
}

#[tokio::test]
async fn a_stage_move_whose_answer_was_lost_still_tells_consumers() {
    if early() {
        return; // createSecret's one write moves AWSCURRENT with early promotion (see custody.rs)
    }
    let bench = bench().await;
    let (records, rotator) = bench.recorded(bench.rotator());
    let Staged { account, arn, token } = up_to_finish(&bench, &rotator, &[]).await;
    // The move lands, its answer is lost, and the SDK's retry of it fails.
    bench.moto_faults_after("UpdateSecretVersionStage", &arn, 1, 500, "InternalServiceError").await;
    assert_eq!(bench.step(&rotator, "finishSecret", &arn, &token).await.ok(), Some(Outcome::Done));
    assert!(bench.value(&arn, "AWSCURRENT").await.contains(&bench.live_key(&account).await));
    assert_eq!(bench.moto_requests("PutEvents", &arn).await.len(), 1, "one event, at the move");
    let record = record_of(&records, "finishSecret");
    assert!(record["DeadKeyWindow"].is_number() && record["NotifyFailed"] == 0, "{record}");
}

/// A replica wait during which DescribeSecret never answered says the replicas' state is unknown
/// (ReplicaStateUnknown), never that consumers there read a dead key (ReplicationFailed 0, no
/// FailedRegions).
#[tokio::test]
async fn a_replica_wait_that_could_never_read_says_unknown_not_failed() {
    let bench = bench().await;
    let (records, rotator) = bench.recorded(bench.rotator());
    let Staged { arn, token, .. } = up_to_finish(&bench, &rotator, &["eu-west-1"]).await;
    // finishSecret's own guard reads the secret; every read after it fails.
    let fault = json!({"Operation": "DescribeSecret", "SecretId": arn, "Skip": 1, "Count": 1000, "Status": 400, "Code": "AccessDeniedException"});
    bench.moto_fault(fault).await;
    let outcome = bench.step(&rotator, "finishSecret", &arn, &token).await;
    bench.moto_fault(json!({"Operation": "DescribeSecret", "SecretId": arn, "Clear": true})).await;
    assert_eq!(outcome.ok(), Some(expected_outcome("finishSecret")));
    let record = record_of(&records, "finishSecret");
    assert_eq!(
        (&record["ReplicaStateUnknown"], &record["ReplicationFailed"]),
        (&json!(1), &json!(0)),
        "{record}"
    );
    assert!(record.get("FailedRegions").is_none(), "{record}");
    assert_eq!(sorted(&record["ReplicaRegions"]), ["eu-west-1"]);
}
