//! The real binary under the real Lambda runtime client, driven through a Runtime API emulator,
//! with the most verbose logging Lambda allows: errors reach the caller typed, and no key or
//! RotationToken reaches stdout (lambda_runtime itself prints raw events at TRACE).

mod common;

use std::process::{Command, Stdio};

use common::*;
use serde_json::{Value, json};

const ROTATION_TOKEN: &str = "rotation-token-through-the-runtime-0123456789";

struct Function {
    child: std::process::Child,
    log: std::path::PathBuf,
    runtime: Peer,
}

impl Function {
    fn start(bench: &Bench) -> Function {
        let runtime = start("runtime_api.py");
        let log = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("target/test-peers/{}.log", unique("function")));
        let child = Command::new(env!("CARGO_BIN_EXE_api-key-rotator"))
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", runtime.info["runtime_api"].as_str().unwrap())
            .env("AWS_LAMBDA_FUNCTION_NAME", "api-key-rotator")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_LEVEL", "TRACE")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", &bench.moto)
            .env("AWS_ENDPOINT_URL_EVENTBRIDGE", &bench.moto)
            .envs(bench.env())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the function binary");
        Function { child, log, runtime }
    }

    async fn invoke(&self, bench: &Bench, event: Value) -> Value {
        let url = format!("{}/_emu/invoke", self.runtime.endpoint);
        let response =
            bench.http.post(url).json(&json!({"event": event, "timeout_ms": 90000})).send().await.unwrap();
        response.json().await.unwrap()
    }

    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::fs::read_to_string(&self.log).unwrap()
    }
}

#[tokio::test]
async fn the_binary_rotates_and_its_trace_logs_hold_no_secret() {
    let bench = bench().await;
    let function = Function::start(&bench);

    // Replicated, so that finishSecret's record carries the replica metrics too.
    let Staged { account, arn, token } = bench.staged_in("calcom", &["eu-west-1"]).await;
    let rotated = arn.clone();
    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        let mut event = event(step, &arn, &token);
        event["RotationToken"] = json!(ROTATION_TOKEN);
        let answer = function.invoke(&bench, event).await;
        assert_eq!(answer["ok"], true, "{step}: {answer}");
    }
    let new_key = bench.live_key(&account).await;
    assert_eq!(bench.value(&arn, "AWSCURRENT").await, json_secret("api_key", &new_key));
    assert_eq!(bench.moto_requests("PutSecretValue", &arn).await[0]["RotationToken"], ROTATION_TOKEN);

    // Errors reach the caller with their type.
    let answer = function
        .invoke(&bench, json!({"Step": "create_secret", "SecretId": arn, "ClientRequestToken": token, "RotationToken": ROTATION_TOKEN}))
        .await;
    assert_eq!(answer["ok"], false);
    assert_eq!(answer["error"]["errorType"], "InvalidEvent", "{answer}");
    let dead = bench.account("ringg").await;
    let arn = bench.create_secret(&dead.key, &[(TAG_VENDOR, "ringg")]).await;
    let token = bench.begin_rotation(&arn, json!({})).await;
    bench.revoke(&dead).await;
    let answer = function.invoke(&bench, event("createSecret", &arn, &token)).await;
    assert_eq!(answer["error"]["errorType"], "VendorRejectedKey", "{answer}");
    assert!(answer["error"]["errorMessage"].as_str().unwrap().contains(&arn));

    let logs = function.stop();
    assert!(
        logs.contains("\"level\":\"DEBUG\"") && logs.contains("rotation step finished"),
        "TRACE logging was on:\n{logs}"
    );
    for secret in [ROTATION_TOKEN, &account.key, &new_key, &dead.key] {
        assert!(!logs.contains(secret), "a secret reached stdout:\n{logs}");
    }
    assert!(!logs.contains("raw JSON event"), "lambda_runtime's TRACE event dump must be filtered out");

    // One EMF record per invocation, each a JSON line of its own that follows the specification.
    let records = emf_records(&logs);
    assert_eq!(records.len(), 6, "one record per invocation:\n{logs}");
    for record in &records {
        check_emf(record);
    }
    let steps: Vec<(&str, &str)> =
        records.iter().map(|r| (r["Step"].as_str().unwrap(), r["Vendor"].as_str().unwrap())).collect();
    assert_eq!(
        steps,
        [
            ("createSecret", "calcom"),
            ("setSecret", "calcom"),
            ("testSecret", "calcom"),
            ("finishSecret", "calcom"),
            ("unknown", "unknown"),
            ("createSecret", "ringg"),
        ]
    );
    assert_eq!(records[3]["_aws"]["CloudWatchMetrics"][0]["Namespace"], "ApiKeyRotator");
    assert!(records[3].get("DeadKeyWindow").is_some(), "finishSecret moved AWSCURRENT: {}", records[3]);
    // It told consumers (EventBridge found through AWS_ENDPOINT_URL_EVENTBRIDGE, as any SDK finds
    // it) and waited for the replica.
    assert_eq!(
        (&records[3]["NotifyFailed"], &records[3]["ReplicationFailed"]),
        (&json!(0), &json!(0)),
        "{}",
        records[3]
    );
    assert!(records[3]["ReplicaSyncTime"].is_number(), "{}", records[3]);
    assert_eq!(bench.moto_requests("PutEvents", &rotated).await.len(), 1);
    assert_eq!((&records[4]["Failure"], &records[4]["ErrorType"]), (&json!(1), &json!("InvalidEvent")));
    assert_eq!((&records[5]["KeyLost"], &records[5]["ErrorType"]), (&json!(0), &json!("VendorRejectedKey")));
}

/// The metrics records among a process's stdout lines.
fn emf_records(logs: &str) -> Vec<Value> {
    logs.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|doc| doc.get("_aws").is_some())
        .collect()
}

/// A document against the Embedded Metric Format specification: `_aws` with a millisecond
/// `Timestamp` and `CloudWatchMetrics` directives (Namespace, Dimensions, Metrics), each dimension
/// a top-level string member and each metric a top-level number.
fn check_emf(doc: &Value) {
    let aws = &doc["_aws"];
    let timestamp = aws["Timestamp"].as_u64().unwrap_or_else(|| panic!("Timestamp: {doc}"));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    assert!(now - timestamp < 600_000, "Timestamp is in milliseconds, and recent: {doc}");
    let directives =
        aws["CloudWatchMetrics"].as_array().unwrap_or_else(|| panic!("CloudWatchMetrics: {doc}"));
    assert!(!directives.is_empty());
    for directive in directives {
        let namespace = directive["Namespace"].as_str().unwrap_or_else(|| panic!("Namespace: {doc}"));
        assert!(!namespace.is_empty() && namespace.len() <= 255);
        let sets = directive["Dimensions"].as_array().unwrap_or_else(|| panic!("Dimensions: {doc}"));
        assert!(!sets.is_empty());
        for set in sets {
            let set = set.as_array().unwrap_or_else(|| panic!("a DimensionSet is an array: {doc}"));
            assert!(set.len() <= 9);
            for dimension in set {
                let name = dimension.as_str().unwrap();
                assert!(doc[name].is_string(), "dimension {name} is a top-level string: {doc}");
            }
        }
        let metrics = directive["Metrics"].as_array().unwrap_or_else(|| panic!("Metrics: {doc}"));
        assert!(!metrics.is_empty() && metrics.len() <= 100);
        for metric in metrics {
            let name = metric["Name"].as_str().unwrap_or_else(|| panic!("a metric has a Name: {doc}"));
            assert!(doc[name].is_number(), "metric {name} is a top-level number: {doc}");
            let unit = metric["Unit"].as_str().unwrap_or("None");
            assert!(["Milliseconds", "Count", "None"].contains(&unit), "unit {unit}");
        }
    }
}

/// Starts the function, has the simulator kill it right after the vendor rotated (created) for
/// `account` and before it answered, and returns once the process is dead, with its logs.
async fn killed_after_the_vendor_answered(
    bench: &Bench,
    account: &Account,
    arn: &str,
    token: &str,
) -> String {
    let mut first = Function::start(bench);
    bench.faults(account, json!({"kill_after_rotate": first.child.id()})).await;
    let url = format!("{}/_emu/invoke", first.runtime.endpoint);
    let http = bench.http.clone();
    let body = json!({"event": event("createSecret", arn, token), "timeout_ms": 90000});
    let lost = tokio::spawn(async move { http.post(url).json(&body).send().await });
    let status = tokio::task::spawn_blocking(move || {
        let status = first.child.wait();
        (first, status)
    });
    let (first, status) = tokio::time::timeout(std::time::Duration::from_secs(60), status)
        .await
        .expect("the function was killed")
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.unwrap().signal(), Some(9), "killed by SIGKILL");
    lost.abort();
    let killed_logs = first.stop();
    assert!(!killed_logs.contains("rotation step"), "killed before its step ended:\n{killed_logs}");
    killed_logs
}

#[tokio::test]
async fn a_process_killed_after_the_vendor_rotated_is_paged_on_the_retry() {
    // The vendor rotates and, before it answers, the function's process is killed (an
    // out-of-memory kill, a runtime crash): no KeyLost record can be written. Secrets Manager's
    // retry finds the current key refused, and its record says so.
    let bench = bench().await;
    let Staged { account, arn, token } = bench.staged("ringg").await;
    killed_after_the_vendor_answered(&bench, &account, &arn, &token).await;
    assert_ne!(bench.live_key(&account).await, account.key, "the vendor rotated");

    let retry = Function::start(&bench);
    let answer = retry.invoke(&bench, event("createSecret", &arn, &token)).await;
    assert_eq!(answer["error"]["errorType"], "VendorRejectedKey", "{answer}");
    let logs = retry.stop();
    let records = emf_records(&logs);
    assert_eq!(records.len(), 1, "{logs}");
    check_emf(&records[0]);
    assert_eq!((&records[0]["CurrentKeyRejected"], &records[0]["KeyLost"]), (&json!(1), &json!(0)));
}

/// At a create-then-revoke vendor: killed right after the vendor created a key, the retry never
/// creates a second one (KeyOrphaned), consumers' key still works, and `repair --apply` clears the
/// mark once the operator has revoked the orphan.
#[tokio::test]
async fn a_process_killed_after_a_create_never_creates_twice() {
    let bench = bench().await;
    let Staged { account, arn, token } = bench.staged("dualkey").await;
    killed_after_the_vendor_answered(&bench, &account, &arn, &token).await;
    assert_eq!(bench.counter(&account, "rotate_calls").await, 1);

    let retry = Function::start(&bench);
    let answer = retry.invoke(&bench, event("createSecret", &arn, &token)).await;
    assert_eq!(answer["error"]["errorType"], "KeyOrphaned", "{answer}");
    let logs = retry.stop();
    let records = emf_records(&logs);
    assert_eq!(records.len(), 1, "{logs}");
    check_emf(&records[0]);
    assert_eq!((&records[0]["KeyOrphaned"], &records[0]["CurrentKeyRejected"]), (&json!(1), &json!(0)));
    assert_eq!(bench.counter(&account, "rotate_calls").await, 1, "never created twice");
    let live = bench.state(&account).await["live_keys"].clone();
    assert!(live.as_object().unwrap().values().any(|key| *key == account.key), "consumers' key still works");

    // Only the operator can tell, at the vendor, whether the create made a key: repair keeps the
    // mark, and gives the runbook (with the command that takes the mark off once that is done).
    let mark = format!("ROTATION_CREATING.{token}.");
    let repair = bench.operator(&["repair", &arn, "--apply"], &[]).output().expect("run repair");
    let said = String::from_utf8_lossy(&repair.stdout);
    assert!(said.contains("repair does not clear this mark") && said.contains("created at about"), "{said}");
    let marked = |stages: std::collections::HashMap<String, Vec<String>>| {
        stages
            .into_iter()
            .find_map(|(on, labels)| labels.into_iter().find(|l| l.starts_with(&mark)).map(|l| (on, l)))
    };
    let (on, label) = marked(bench.stages(&arn).await).expect("the mark stays");
    assert!(said.contains(&format!("--version-stage {label} --remove-from-version-id {on}")), "{said}");
}

/// A declaration that breaks a rule stops the function at start-up, naming the vendor and the
/// field, before it asks the Runtime API for an event: nothing is sent to any vendor.
#[tokio::test]
async fn a_broken_declaration_stops_the_function_before_anything_is_sent() {
    let bench = bench().await;
    let calls = |bench: &Bench| {
        let url = format!("{}/_sim/calls", bench.sim);
        let http = bench.http.clone();
        async move { http.get(url).send().await.unwrap().json::<Value>().await.unwrap()["calls"].as_u64() }
    };
    let before = calls(&bench).await;
    let runtime = start("runtime_api.py");
    let mut declared = bench.declarations();
    declared["acme"]["auth"]["header"] = json!("Cookie");
    let out = Command::new(env!("CARGO_BIN_EXE_api-key-rotator"))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", runtime.info["runtime_api"].as_str().unwrap())
        .env("AWS_REGION", "us-east-1")
        .envs(bench.env())
        .env("ROTATION_VENDORS", declared.to_string())
        .output()
        .expect("run the function binary");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(r#"ROTATION_VENDORS: vendor \"acme\", field \"auth.header\""#), "{stderr}");
    assert_eq!(calls(&bench).await, before, "a vendor was called");
}
