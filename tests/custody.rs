//! Key custody under the unhappy timings and inputs, against moto and the vendor simulator: slow
//! and unclear vendor answers, lagging replicas, malformed values, tags changed mid-rotation, odd
//! headers and bodies, writes whose answers are lost.

mod common;

use std::time::Duration;

use api_key_rotator::Outcome;
use common::*;
use serde_json::json;

/// fast_timing's createSecret budget (8.1 s) and a little more.
const ENOUGH: Duration = Duration::from_millis(8500);

#[tokio::test]
async fn a_slow_rotate_is_never_cut_short() {
    let bench = bench().await;
    let rotator = bench.rotator();

    // Too little time for a whole rotation: nothing is sent at all.
    let Staged { account, arn, token } = bench.staged("ringg").await;
    bench.faults(&account, json!({"hang_after_rotate": 0.9})).await;
    let result = bench.step_with(&rotator, event("createSecret", &arn, &token), Duration::from_secs(6)).await;
    assert_eq!(error_type(&result), "Timeout");
    assert!(result.unwrap_err().to_string().contains("Nothing was sent to the vendor"));
    assert_eq!(bench.counter(&account, "requests").await, 0);

    // Enough time: the rotate call gets the whole vendor timeout, and its slow answer is stored.
    let outcome = bench.step_with(&rotator, event("createSecret", &arn, &token), ENOUGH).await;
    assert_eq!(outcome.unwrap(), Outcome::Done);
    let live = bench.live_key(&account).await;
    assert_ne!(live, account.key);
    assert_eq!(bench.value(&arn, "AWSPENDING").await, json_secret("api_key", &live));
}

#[tokio::test]
async fn a_stale_replica_does_not_hide_a_lost_key() {
    // Cal.com rotates, then answers 500; its replica accepts the old key for a moment longer.
    let bench = bench().await;
    let rotator = bench.rotator();
    let Staged { account, arn, token } = bench.staged("calcom").await;
    bench.faults(&account, json!({"fail_after_rotate": 1, "replica_lag": 0.45})).await;

    let result = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "KeyLost");
    assert_eq!(bench.counter(&account, "rotate_calls").await, 1, "rotate is never called again");
    assert!(bench.counter(&account, "verify_calls").await >= 3, "the old key was probed more than once");

    // The next attempt sees the dead key first and does not rotate.
    let retry = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&retry), "VendorRejectedKey");
    assert_eq!(bench.counter(&account, "rotate_calls").await, 1);
}

#[tokio::test]
async fn a_replica_that_lags_longer_than_the_probe_is_reported_as_unknown_then_lost() {
    let bench = bench().await;
    let rotator = bench.rotator();
    let Staged { account, arn, token } = bench.staged("calcom").await;
    bench.faults(&account, json!({"fail_after_rotate": 1, "replica_lag": 4})).await;

    // The replica accepts the dead key through the whole probe: unknown, never "nothing lost".
    let result = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "OutcomeUnknown");
    // A retry while it still lags: the rotate passes the replica and fails (Cal.com cannot delete
    // a key already deleted): unknown again, and no key was handed over to lose.
    let retry = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&retry), "OutcomeUnknown");
    assert_eq!(bench.counter(&account, "rotations").await, 1);
    // Once the replica has caught up, the dead key is seen for what it is.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let later = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&later), "VendorRejectedKey");
}

#[tokio::test]
async fn a_403_says_nothing_about_the_key() {
    // A 403 is "valid key, no right to do this" (Ringg documents it so): not a refusal.
    let bench = bench().await;
    let rotator = bench.rotator();
    let Staged { account, arn, token } = bench.staged("ringg").await;
    bench.faults(&account, json!({"forbid_verifications": 1})).await;
    assert_eq!(bench.step(&rotator, "createSecret", &arn, &token).await.unwrap(), Outcome::Done);
    assert_eq!(bench.counter(&account, "rotations").await, 1);

    // Nothing but 403s: no verdict on the key, so no rotate and no claim that the key is dead.
    let Staged { account, arn, token } = bench.staged("ringg").await;
    bench.faults(&account, json!({"forbid_verifications": 1000})).await;
    let result = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "Vendor");
    assert!(result.unwrap_err().to_string().contains("HTTP 403"));
    assert_eq!(bench.counter(&account, "rotate_calls").await, 0);
}

#[tokio::test]
async fn malformed_values_are_never_sent() {
    let bench = bench().await;
    let rotator = bench.rotator();
    let account = bench.account("calcom").await;
    let key = &account.key;
    let big = format!(r#"{{"api_key":"{key}","pad":"{}"}}"#, "p".repeat(65_000));
    for (value, expected) in [
        (format!(r#"{{"api_key": "{key}", "webhook_secret": "whsec_1",}}"#), "not valid JSON"),
        (format!("\u{feff}{{\"api_key\": \"{key}\""), "not valid JSON"),
        (format!("CALCOM_API_KEY={key}\nWEBHOOK_SECRET=whsec_1\n"), "more than one line"),
        (format!("{key} whsec_1"), "spaces"),
        (format!(r#"{{"api_key":"{key}\nwhsec_1"}}"#), "more than one line"),
        (format!(r#"{{"api_key":"{key}","api_key":"{key}"}}"#), "more than once"),
        (format!(r#""{key}""#), "not an object"),
        (big, "too close to Secrets Manager's limit"),
    ] {
        let arn = bench.create_secret(&value, &[(TAG_VENDOR, "calcom")]).await;
        let token = bench.begin_rotation(&arn, json!({})).await;
        let result = bench.step(&rotator, "createSecret", &arn, &token).await;
        assert_eq!(error_type(&result), "Config", "{expected}");
        let message = result.unwrap_err().to_string();
        assert!(message.contains(expected) && message.contains(&arn), "{message}");
        assert!(
            !message.contains(key) && !message.contains("whsec_1"),
            "the error quotes the value: {message}"
        );
        assert_eq!(bench.value(&arn, "AWSCURRENT").await, value);
    }
    assert_eq!(bench.counter(&account, "requests").await, 0, "nothing was sent to the vendor");
}

#[tokio::test]
async fn other_fields_keep_their_exact_values() {
    let bench = bench().await;
    let rotator = bench.rotator();
    let account = bench.account("projectdiscovery").await;
    let template = |key: &str| {
        format!(
            "{{\n  \"id\": 123456789012345678901234567890,\n  \"api_key\": \"{key}\",\n  \"ratio\": 1.10,\n  \"exp\": 2e3,\n  \"name\": \"caf\\u00e9\"\n}}\n"
        )
    };
    let arn = bench.create_secret(&template(&account.key), &[(TAG_VENDOR, "projectdiscovery")]).await;
    bench.rotate(&rotator, &arn).await;
    assert_eq!(bench.value(&arn, "AWSCURRENT").await, template(&bench.live_key(&account).await));
}

#[tokio::test]
async fn a_tag_changed_mid_rotation_does_not_strand_the_key() {
    let bench = bench().await;
    let rotator = bench.rotator();
    let Staged { account, arn, token } = bench.staged("calcom").await;
    assert_eq!(bench.step(&rotator, "createSecret", &arn, &token).await.unwrap(), Outcome::Done);

    // An expiry that no longer fits the 30-day schedule matters to the next rotate only.
    bench.tag(&arn, "rotation:calcom-days-valid", "7").await;
    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        assert!(bench.step(&rotator, step, &arn, &token).await.is_ok(), "{step}");
    }
    assert_eq!(
        bench.value(&arn, "AWSCURRENT").await,
        json_secret("api_key", &bench.live_key(&account).await)
    );

    // A base URL nobody approved is still refused to testSecret, which would send the key there;
    // finishSecret sends nothing and promotes the stored key.
    let Staged { account, arn, token } = bench.staged("calcom").await;
    bench.step(&rotator, "createSecret", &arn, &token).await.unwrap();
    bench.tag(&arn, TAG_BASE_URL, "https://calcom.example.invalid").await;
    assert_eq!(error_type(&bench.step(&rotator, "testSecret", &arn, &token).await), "Config");
    let finish = bench.step(&rotator, "finishSecret", &arn, &token).await.unwrap();
    assert_eq!(finish, expected_outcome("finishSecret"));
    assert_eq!(
        bench.value(&arn, "AWSCURRENT").await,
        json_secret("api_key", &bench.live_key(&account).await)
    );
}

#[tokio::test]
async fn calcom_days_valid_is_checked_against_every_schedule() {
    let bench = bench().await;
    let rotator = bench.rotator();
    let account = bench.account("calcom").await;
    for (schedule, days, expected) in [
        ("cron(0 4 1 * ? *)", "31", "cron() schedule whose runs can be 31 days apart"),
        ("rate(5 minutes)", "400", "rotation:calcom-never-expires"),
    ] {
        let arn = bench
            .create_secret(
                &json_secret("api_key", &account.key),
                &[(TAG_VENDOR, "calcom"), ("rotation:calcom-days-valid", days)],
            )
            .await;
        let token = bench.begin_rotation(&arn, json!({ "ScheduleExpression": schedule })).await;
        let result = bench.step(&rotator, "createSecret", &arn, &token).await;
        assert_eq!(error_type(&result), "Config", "{schedule}");
        let message = result.unwrap_err().to_string();
        assert!(message.contains(expected), "{message}");
    }
    assert_eq!(bench.counter(&account, "requests").await, 0);
}

#[tokio::test]
async fn a_write_that_landed_while_its_answers_failed_is_not_lost() {
    let bench = bench().await;
    let rotator = bench.rotator();
    let Staged { account, arn, token } = bench.staged("projectdiscovery").await;
    bench.moto_faults_after("PutSecretValue", &arn, 1000, 500, "InternalServiceError").await;
    let outcome =
        bench.step_with(&rotator, event("createSecret", &arn, &token), Duration::from_secs(12)).await;
    assert_eq!(outcome.unwrap(), Outcome::Done);
    assert!(
        bench.moto_requests("PutSecretValue", &arn).await.len() > 3,
        "it kept writing until the deadline neared"
    );
    assert_eq!(
        bench.value(&arn, "AWSPENDING").await,
        json_secret("api_key", &bench.live_key(&account).await)
    );
}

#[tokio::test]
async fn odd_vendor_answers_never_lose_a_key_or_panic() {
    let bench = bench().await;
    let rotator = bench.rotator();

    // The key is there, the rest is not what the vendor documents, or the answer is big.
    for (vendor, faults) in [
        ("calcom", json!({"odd_rotate_answer": 1})),
        ("ringg", json!({"odd_rotate_answer": 1})),
        ("projectdiscovery", json!({"pad_rotate_answer": 200_000})),
    ] {
        let Staged { account, arn, token } = bench.staged(vendor).await;
        bench.faults(&account, faults.clone()).await;
        assert_eq!(
            bench.step(&rotator, "createSecret", &arn, &token).await.unwrap(),
            Outcome::Done,
            "{faults}"
        );
        let live = bench.live_key(&account).await;
        assert_eq!(bench.value(&arn, "AWSPENDING").await, json_secret("api_key", &live), "{faults}");
    }

    // The "new" key is the current one: not a rotation, no key stored, and, since the probe
    // still finds the key accepted, an unknown outcome rather than "nothing rotated".
    let Staged { account, arn, token } = bench.staged("ringg").await;
    bench.faults(&account, json!({"same_key_rotate": 1})).await;
    let result = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "OutcomeUnknown");
    // Only the answer is kept, in its rescue version; no key is stored.
    let puts = bench.moto_requests("PutSecretValue", &arn).await;
    assert!(
        !puts.is_empty()
            && puts.iter().all(|p| {
                p["VersionStages"]
                    == json!([format!("ROTATION_RESCUE.{}", p["ClientRequestToken"].as_str().unwrap())])
            }),
        "{puts:?}"
    );
    assert_eq!(bench.counter(&account, "rotate_calls").await, 1);

    // Absurd rate-limit headers: a clean error, never a panic; a zero still pauses.
    for (value, expected) in [("1e20", Err("Vendor")), ("99999999999999999999", Err("Vendor")), ("0", Ok(()))]
    {
        let Staged { account, arn, token } = bench.staged("ringg").await;
        bench
            .faults(&account, json!({"rate_limit_rotate": 1, "rate_limit_header": ["Retry-After", value]}))
            .await;
        let result = bench.step(&rotator, "createSecret", &arn, &token).await;
        match expected {
            Err(kind) => {
                assert_eq!(error_type(&result), kind, "Retry-After: {value}");
                assert!(result.unwrap_err().to_string().contains("HTTP 429"));
                assert_eq!(bench.counter(&account, "rotations").await, 0);
            }
            Ok(()) => {
                assert_eq!(result.unwrap(), Outcome::Done, "Retry-After: {value}");
                let times = bench.state(&account).await["rotate_times"].clone();
                let times: Vec<f64> = serde_json::from_value(times).unwrap();
                assert_eq!(times.len(), 2);
                let pause = Duration::from_secs_f64(times[1] - times[0]);
                assert!(pause >= fast_timing().rate_limit_min, "a zero reset still pauses: {pause:?}");
            }
        }
    }
}

#[tokio::test]
async fn a_copy_of_the_current_key_is_not_a_rotation() {
    let bench = bench().await;
    let rotator = bench.rotator();
    let Staged { account, arn, token } = bench.staged("ringg").await;
    let current = bench.value(&arn, "AWSCURRENT").await;
    bench
        .sm
        .put_secret_value()
        .secret_id(&arn)
        .client_request_token(&token)
        .secret_string(&current)
        .version_stages("AWSPENDING")
        .send()
        .await
        .expect("PutSecretValue");
    let result = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "NotRotatable");
    assert!(result.unwrap_err().to_string().contains("api-key-rotator repair"));
    assert_eq!(bench.counter(&account, "requests").await, 0, "no vendor call");
}

/// The versions of the secret that carry `stage`, with their labels.
async fn labelled(bench: &Bench, arn: &str, stage: &str) -> Vec<(String, Vec<String>)> {
    let stages = bench.stages(arn).await;
    stages.into_iter().filter(|(_, labels)| labels.iter().any(|l| l == stage)).collect()
}

#[tokio::test]
async fn a_2xx_without_a_readable_key_is_kept_in_a_rescue_version() {
    let bench = bench().await;
    let rotator = bench.rotator();
    for vendor in vendor_names() {
        for fault in ["key_in_undocumented_field", "non_json_rotate_answer", "binary_rotate_answer"] {
            let Staged { account, arn, token } = bench.staged(vendor).await;
            bench.faults(&account, json!({ fault: 1 })).await;
            let result = bench.step(&rotator, "createSecret", &arn, &token).await;
            assert_eq!(error_type(&result), "KeyLost", "{vendor} {fault}");
            let message = result.unwrap_err().to_string();
            let live = bench.live_key(&account).await;
            assert!(!message.contains(&live), "{message}");
            let (version, label) = bench.the_rescue(&arn).await;
            let rescued = labelled(&bench, &arn, &label).await;
            assert_eq!(rescued.len(), 1, "{vendor} {fault}");
            assert_eq!(rescued[0].1, std::slice::from_ref(&label), "only its own label");
            assert!(message.contains(version.as_str()) && message.contains(&label), "{message}");
            let out = bench
                .sm
                .get_secret_value()
                .secret_id(&arn)
                .version_id(&version)
                .send()
                .await
                .expect("GetSecretValue of the rescue version");
            let kept = match (out.secret_string(), out.secret_binary()) {
                (Some(text), None) => text.as_bytes().to_vec(),
                (None, Some(binary)) => {
                    assert_eq!(fault, "binary_rotate_answer", "only a non-UTF-8 answer is binary");
                    binary.as_ref().to_vec()
                }
                other => panic!("{other:?}"),
            };
            assert!(
                kept.windows(live.len()).any(|w| w == live.as_bytes()),
                "{vendor} {fault}: the key is kept"
            );
            // Consumers still read the old value; no AWSPENDING value was made up.
            assert_eq!(bench.value(&arn, "AWSCURRENT").await, json_secret("api_key", &account.key));
            assert_eq!(bench.counter(&account, "rotate_calls").await, 1);
        }
    }
}

#[tokio::test]
async fn a_late_status_and_a_late_body_still_deliver_the_key() {
    // fast_timing's vendor_timeout is 1 s; the invocation can spare far more.
    let bench = bench().await;
    let rotator = bench.rotator();
    for fault in [json!({"late_status": 2.5}), json!({"late_body": 2.5})] {
        let Staged { account, arn, token } = bench.staged("calcom").await;
        bench.faults(&account, fault.clone()).await;
        let outcome = bench.step(&rotator, "createSecret", &arn, &token).await;
        assert_eq!(outcome.unwrap(), Outcome::Done, "{fault}");
        let live = bench.live_key(&account).await;
        assert_eq!(bench.value(&arn, "AWSPENDING").await, json_secret("api_key", &live), "{fault}");
    }
}

#[tokio::test]
async fn an_answer_echoing_the_old_key_is_probed_and_reported_lost() {
    let bench = bench().await;
    let rotator = bench.rotator();
    let Staged { account, arn, token } = bench.staged("projectdiscovery").await;
    bench.faults(&account, json!({"echo_old_key": 1})).await;
    let result = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "KeyLost");
    assert_eq!(bench.counter(&account, "rotate_calls").await, 1, "rotate is never called again");
    assert!(bench.counter(&account, "verify_calls").await >= 2, "the old key was probed");
    assert_eq!(bench.value(&arn, "AWSCURRENT").await, json_secret("api_key", &account.key));
}

#[tokio::test]
async fn a_pending_key_is_sent_only_where_it_was_issued() {
    let bench = bench().await;
    // The simulator under a second name, allowed, so that a changed base URL would reach it.
    let port = bench.sim.rsplit(':').next().unwrap().to_owned();
    let mut env = bench.env();
    env.insert("ROTATION_ALLOWED_HOSTS".into(), format!("localhost:{port}"));
    let rotator = bench.rotator_with(bench.settings_from(env));
    let elsewhere = bench.sim_base("calcom").replace("127.0.0.1", "localhost");
    for (tag, value) in
        [(TAG_VENDOR, "ringg"), (TAG_BASE_URL, elsewhere.as_str()), (TAG_KEY_FIELD, "account")]
    {
        let Staged { account, arn, token } = bench.staged("calcom").await;
        assert_eq!(bench.step(&rotator, "createSecret", &arn, &token).await.unwrap(), Outcome::Done);
        let pending = bench.value(&arn, "AWSPENDING").await;
        bench.tag(&arn, tag, value).await;
        // The key, and what the changed key-field tag would take for one (the "account" field).
        let key = json_key(&pending);
        let calls = (bench.calls_with(&key).await, bench.calls_with("ops@example.test").await);
        let result = bench.step(&rotator, "testSecret", &arn, &token).await;
        assert_eq!(error_type(&result), "Config", "{tag}");
        let message = result.unwrap_err().to_string();
        assert!(message.contains(tag) && message.contains("changed since createSecret"), "{message}");
        let after = (bench.calls_with(&key).await, bench.calls_with("ops@example.test").await);
        assert_eq!(after, calls, "{tag}: nothing went to any vendor");
        assert_eq!(bench.value(&arn, "AWSPENDING").await, pending, "{tag}: the pending version is kept");
        // Put back, the rotation carries on.
        match tag {
            TAG_VENDOR => bench.tag(&arn, tag, "calcom").await,
            _ => {
                bench.sm.untag_resource().secret_id(&arn).tag_keys(tag).send().await.expect("UntagResource");
            }
        }
        assert_eq!(bench.step(&rotator, "testSecret", &arn, &token).await.unwrap(), Outcome::Done, "{tag}");
        assert_eq!(bench.live_key(&account).await, key);
        assert!(bench.calls_with(&key).await > calls.0, "{tag}: the simulator sees the key when it is sent");
    }
}

/// The api_key field of a stored value.
fn json_key(value: &str) -> String {
    serde_json::from_str::<serde_json::Value>(value).unwrap()["api_key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_test_only_check_on_a_refused_current_key_pages() {
    let bench = bench().await;
    let (records, rotator) = bench.recorded(bench.rotator());
    let account = bench.account("ringg").await;
    let arn = bench.create_secret(&json_secret("api_key", &account.key), &[(TAG_VENDOR, "ringg")]).await;
    // AWS's test-only run: the pending version holds a copy of the current value.
    let token = bench.begin_rotation(&arn, json!({"RotateImmediately": false})).await;
    bench.revoke(&account).await;
    let result = bench.step(&rotator, "testSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "VendorRejectedKey");
    let record = records.lock().unwrap().last().cloned().unwrap();
    assert_eq!(record["CurrentKeyRejected"], 1, "{record}");
}

#[tokio::test]
async fn a_refused_record_label_never_costs_the_key() {
    // An IAM condition on secretsmanager:VersionStage that allows only the key's own labels: the
    // write with the record is refused, and the key is stored without it at once.
    let bench = bench().await;
    let rotator = bench.rotator();
    let Staged { account, arn, token } = bench.staged("ringg").await;
    bench.moto_faults("PutSecretValue", &arn, 1, 400, "AccessDeniedException").await;
    assert_eq!(bench.step(&rotator, "createSecret", &arn, &token).await.unwrap(), Outcome::Done);
    let puts = bench.moto_requests("PutSecretValue", &arn).await;
    assert_eq!(puts.len(), 2, "{puts:?}");
    assert_ne!(puts[0]["VersionStages"], key_stages(&puts[0]["VersionStages"]), "the first names the record");
    assert_eq!(puts[1]["VersionStages"], key_stages(&puts[1]["VersionStages"]), "the second does not");
    for step in ["setSecret", "testSecret", "finishSecret"] {
        assert_eq!(bench.step(&rotator, step, &arn, &token).await.unwrap(), expected_outcome(step), "{step}");
    }
    assert_eq!(
        bench.value(&arn, "AWSCURRENT").await,
        json_secret("api_key", &bench.live_key(&account).await)
    );
}

#[tokio::test]
async fn a_garbled_secrets_manager_answer_never_reaches_the_error() {
    // GetSecretValue answers 200 with JSON that breaks off after the SecretString: the error names
    // the call, a code and the status, never the answer.
    let bench = bench().await;
    let rotator = bench.rotator();
    let Staged { account, arn, token } = bench.staged("calcom").await;
    let garbled =
        format!(r#"{{"ARN":"{arn}","SecretString":"{{\"api_key\":\"{}\"}}","VersionId":"#, account.key);
    bench.moto_body("GetSecretValue", &arn, 10, 200, &garbled).await;
    let result = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "Store");
    let message = result.unwrap_err().to_string();
    assert!(message.contains("GetSecretValue failed: UnreadableAnswer (HTTP 200)"), "{message}");
    assert!(!message.contains(&account.key) && !message.contains("SecretString"), "{message}");
    assert_eq!(bench.counter(&account, "requests").await, 0, "nothing was sent to the vendor");
}

#[tokio::test]
async fn large_and_broken_answers_are_kept_as_far_as_they_came() {
    let bench = bench().await;
    let rotator = bench.rotator();
    // Non-JSON past Secrets Manager's limit; past the client's 1 MiB; broken off mid-body.
    for (fault, cut) in [
        (json!({"big_rotate_answer": 100_000}), true),
        (json!({"big_rotate_answer": 2_000_000}), true),
        (json!({"broken_rotate_answer": 1}), false),
    ] {
        let Staged { account, arn, token } = bench.staged("ringg").await;
        bench.faults(&account, fault.clone()).await;
        let result = bench.step(&rotator, "createSecret", &arn, &token).await;
        assert_eq!(error_type(&result), "KeyLost", "{fault}");
        let message = result.unwrap_err().to_string();
        // A cut answer says so, and never that it was kept.
        assert_eq!(message.contains("only its first 65536 bytes are stored"), cut, "{fault}: {message}");
        assert_eq!(message.contains("is kept"), !cut, "{fault}: {message}");
        let kept = bench.value_of_version(&arn, &bench.the_rescue(&arn).await.0).await;
        let live = bench.live_key(&account).await;
        assert!(kept.contains(&live), "{fault}: the key is in what was kept");
        assert!(kept.len() <= 65_536, "{fault}");
    }
}
