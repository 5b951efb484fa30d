//! Key custody in the logs: with the most verbose level Lambda allows, no key (old or new, any
//! vendor) and no RotationToken appears in any log line, whatever happens.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use api_key_rotator::logging;
use common::*;
use serde_json::json;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const ROTATION_TOKEN: &str = "rotation-token-must-never-be-logged-0123456789";

#[tokio::test]
async fn no_key_and_no_rotation_token_in_any_log_line() {
    let capture = Capture::default();
    let writer = capture.clone();
    logging::init_with_writer(Some("TRACE"), true, move || writer.clone());

    let bench = bench().await;
    let rotator = bench.rotator();
    let mut accounts = Vec::new();
    let run = |arn: &str, token: &str, step: &str| {
        let mut event = event(step, arn, token);
        event["RotationToken"] = json!(ROTATION_TOKEN);
        event
    };

    // Full rotations, one per vendor.
    for vendor in vendor_names() {
        let account = bench.account(vendor).await;
        let arn = bench.create_secret(&json_secret("api_key", &account.key), &[(TAG_VENDOR, vendor)]).await;
        let token = bench.begin_rotation(&arn, json!({})).await;
        for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
            bench.step_with(&rotator, run(&arn, &token, step), Duration::from_secs(30)).await.unwrap();
        }
        accounts.push(account);
    }

    // Failures that log the most: a key lost to the vendor, a key that cannot be stored, a
    // pending key the vendor refuses, a dead current key, an invalid event.
    let lost = bench.account("ringg").await;
    let arn = bench.create_secret(&lost.key, &[(TAG_VENDOR, "ringg")]).await;
    let token = bench.begin_rotation(&arn, json!({})).await;
    bench.faults(&lost, json!({"fail_after_rotate": 1})).await;
    assert!(
        bench.step_with(&rotator, run(&arn, &token, "createSecret"), Duration::from_secs(30)).await.is_err()
    );
    accounts.push(lost);

    let unstored = bench.account("calcom").await;
    let arn = bench.create_secret(&json_secret("api_key", &unstored.key), &[(TAG_VENDOR, "calcom")]).await;
    let token = bench.begin_rotation(&arn, json!({})).await;
    bench.moto_faults("PutSecretValue", &arn, 1000, 500, "InternalServiceError").await;
    let result = bench.step_with(&rotator, run(&arn, &token, "createSecret"), Duration::from_secs(12)).await;
    assert_eq!(result.as_ref().map_err(|e| e.error_type()).unwrap_err(), "KeyLost");
    let new_key = bench.live_key(&unstored).await;
    accounts.push(unstored);

    let refused = bench.account("ringg").await;
    let arn = bench.create_secret(&refused.key, &[(TAG_VENDOR, "ringg")]).await;
    let token = bench.begin_rotation(&arn, json!({})).await;
    bench.step_with(&rotator, run(&arn, &token, "createSecret"), Duration::from_secs(30)).await.unwrap();
    bench.faults(&refused, json!({"refuse_verifications": 1000})).await;
    assert!(
        bench.step_with(&rotator, run(&arn, &token, "testSecret"), Duration::from_secs(30)).await.is_err()
    );
    accounts.push(refused);

    let dead = bench.account("projectdiscovery").await;
    let arn = bench.create_secret(&dead.key, &[(TAG_VENDOR, "projectdiscovery")]).await;
    let token = bench.begin_rotation(&arn, json!({})).await;
    bench.revoke(&dead).await;
    assert!(
        bench.step_with(&rotator, run(&arn, &token, "createSecret"), Duration::from_secs(30)).await.is_err()
    );
    accounts.push(dead);

    let invalid = json!({"Step": "create_secret", "SecretId": "x", "ClientRequestToken": "t", "RotationToken": ROTATION_TOKEN});
    assert!(bench.step_with(&rotator, invalid, Duration::from_secs(30)).await.is_err());

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    // The capture really saw this crate's most verbose output and the error paths.
    for expected in [
        "\"level\":\"DEBUG\"",
        "vendor call",
        "rotation step finished",
        "\"error_type\":\"KeyLost\"",
        "key_fingerprint",
        "secret_arn",
    ] {
        assert!(logs.contains(expected), "the logs lack {expected:?}:\n{logs}");
    }
    let fingerprint = api_key_rotator::sensitive::Sensitive::new(new_key.clone()).fingerprint();
    assert!(logs.contains(&fingerprint), "the lost key's fingerprint is logged");

    let mut secrets = vec![ROTATION_TOKEN.to_owned(), new_key];
    for account in &accounts {
        secrets.push(account.key.clone());
        secrets.push(bench.live_key(account).await);
    }
    for secret in &secrets {
        // Also the key without its prefix, in case something prints a fragment.
        let tail = &secret[secret.len() - 24..];
        assert!(!logs.contains(tail), "a secret reached the logs:\n{logs}");
    }
}
