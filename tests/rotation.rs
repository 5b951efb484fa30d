//! The rotation protocol, step by step, against moto (Secrets Manager) and the vendor simulator.

mod common;

use std::time::Duration;

use api_key_rotator::Outcome;
use common::*;
use serde_json::{Value, json};
use tokio::time::Instant;

#[tokio::test]
async fn happy_path_for_each_vendor_keeps_other_fields_in_order() {
    let bench = bench().await;
    let rotator = bench.rotator();
    for vendor in vendor_names() {
        let account = bench.account(vendor).await;
        let original = json_secret("api_key", &account.key);
        let arn = bench.create_secret(&original, &[(TAG_VENDOR, vendor)]).await;

        let token = bench.rotate(&rotator, &arn).await;

        let new_key = bench.live_key(&account).await;
        assert_ne!(new_key, account.key, "{vendor}: the vendor rotated");
        assert_eq!(bench.value(&arn, "AWSCURRENT").await, json_secret("api_key", &new_key), "{vendor}");
        assert_eq!(bench.value(&arn, "AWSPREVIOUS").await, original, "{vendor}");
        let stages = bench.stages(&arn).await;
        assert!(stages[&token].contains(&"AWSCURRENT".to_string()), "{vendor}: {stages:?}");
        assert_eq!(bench.counter(&account, "rotate_calls").await, 1, "{vendor}");
    }
}

#[tokio::test]
async fn every_step_replayed_changes_nothing() {
    let bench = bench().await;
    let rotator = bench.rotator();
    let Staged { account, arn, token } = bench.staged("ringg").await;

    let mut pending = String::new();
    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        assert_eq!(bench.step(&rotator, step, &arn, &token).await.unwrap(), expected_outcome(step), "{step}");
        if step == "createSecret" {
            pending = bench.value(&arn, "AWSPENDING").await;
        }
        let replay = bench.step(&rotator, step, &arn, &token).await.unwrap();
        // setSecret and testSecret only read, so they do their work again (with early promotion
        // setSecret finds the version already current).
        let expected = match step {
            "setSecret" | "testSecret" => expected_outcome(step),
            _ => Outcome::AlreadyDone,
        };
        assert_eq!(replay, expected, "{step} replayed");
        assert_eq!(
            bench.value(&arn, "AWSPENDING").await,
            pending,
            "{step} replayed: the pending value is unchanged"
        );
        assert_eq!(bench.counter(&account, "rotate_calls").await, 1, "{step} replayed");
    }
    assert_eq!(bench.value(&arn, "AWSCURRENT").await, pending);
}

#[tokio::test]
async fn full_replay_after_finish_is_a_no_op() {
    let bench = bench().await;
    let rotator = bench.rotator();
    let account = bench.account("projectdiscovery").await;
    let arn = bench.create_secret(&account.key, &[(TAG_VENDOR, "projectdiscovery")]).await;
    let token = bench.rotate(&rotator, &arn).await;
    let stages = bench.stages(&arn).await;

    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        // The version still carries AWSPENDING beside AWSCURRENT (the stage move leaves it, as
        // AWS's reference function does), so testSecret verifies the key again, read-only.
        let expected = if step == "testSecret" { Outcome::Done } else { Outcome::AlreadyDone };
        assert_eq!(bench.step(&rotator, step, &arn, &token).await.unwrap(), expected, "{step}");
    }
    assert_eq!(bench.stages(&arn).await, stages);
    assert_eq!(bench.counter(&account, "rotate_calls").await, 1);
    assert_eq!(bench.value(&arn, "AWSCURRENT").await, bench.live_key(&account).await);
}

#[tokio::test]
async fn two_rotations_in_a_row() {
    let bench = bench().await;
    let rotator = bench.rotator();
    let account = bench.account("calcom").await;
    let arn = bench.create_secret(&json_secret("api_key", &account.key), &[(TAG_VENDOR, "calcom")]).await;

    bench.rotate(&rotator, &arn).await;
    let first = bench.live_key(&account).await;
    bench.rotate(&rotator, &arn).await;
    let second = bench.live_key(&account).await;

    assert!(first != account.key && second != first);
    assert_eq!(bench.value(&arn, "AWSCURRENT").await, json_secret("api_key", &second));
    assert_eq!(bench.value(&arn, "AWSPREVIOUS").await, json_secret("api_key", &first));
    assert_eq!(bench.counter(&account, "rotate_calls").await, 2);
}

#[tokio::test]
async fn bare_string_secret_stays_bare() {
    let bench = bench().await;
    let rotator = bench.rotator();
    let account = bench.account("ringg").await;
    let arn = bench.create_secret(&account.key, &[(TAG_VENDOR, "ringg")]).await;
    bench.rotate(&rotator, &arn).await;
    assert_eq!(bench.value(&arn, "AWSCURRENT").await, bench.live_key(&account).await);
}

#[tokio::test]
async fn custom_key_field() {
    let bench = bench().await;
    let rotator = bench.rotator();
    let account = bench.account("projectdiscovery").await;
    // The default field name holds something else, which must survive untouched.
    let original = format!(r#"{{"api_key":"not-this-one","pdcp_key":"{}","team":"t-1"}}"#, account.key);
    let arn = bench
        .create_secret(&original, &[(TAG_VENDOR, "projectdiscovery"), (TAG_KEY_FIELD, "pdcp_key")])
        .await;
    bench.rotate(&rotator, &arn).await;
    let new_key = bench.live_key(&account).await;
    assert_eq!(
        bench.value(&arn, "AWSCURRENT").await,
        format!(r#"{{"api_key":"not-this-one","pdcp_key":"{new_key}","team":"t-1"}}"#)
    );
}

#[tokio::test]
async fn calcom_expiry_tags_default_and_refusal() {
    let bench = bench().await;
    let rotator = bench.rotator();
    type Tags<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Tags, Value, Value); 5] = [
        (&[], json!({"AutomaticallyAfterDays": 30}), json!({"apiKeyDaysValid": 60})),
        (&[], json!({"AutomaticallyAfterDays": 7}), json!({"apiKeyDaysValid": 30})),
        (&[], json!({"ScheduleExpression": "rate(20 days)"}), json!({"apiKeyDaysValid": 40})),
        (
            &[("rotation:calcom-days-valid", "45")],
            json!({"AutomaticallyAfterDays": 30}),
            json!({"apiKeyDaysValid": 45}),
        ),
        (
            &[("rotation:calcom-never-expires", "true")],
            json!({"AutomaticallyAfterDays": 30}),
            json!({"apiKeyNeverExpires": true}),
        ),
    ];
    for (tags, rules, expected_body) in cases {
        let account = bench.account("calcom").await;
        let mut all_tags = vec![(TAG_VENDOR, "calcom")];
        all_tags.extend_from_slice(tags);
        let arn = bench.create_secret(&json_secret("api_key", &account.key), &all_tags).await;
        let token = bench.begin_rotation(&arn, rules.clone()).await;
        assert_eq!(bench.step(&rotator, "createSecret", &arn, &token).await.unwrap(), Outcome::Done);
        let state = bench.state(&account).await;
        assert_eq!(state["last_rotate_body"], expected_body, "{tags:?} {rules}");
    }

    // A key that would expire before its own rotation is refused before any vendor call.
    let account = bench.account("calcom").await;
    let arn = bench
        .create_secret(
            &json_secret("api_key", &account.key),
            &[(TAG_VENDOR, "calcom"), ("rotation:calcom-days-valid", "30")],
        )
        .await;
    let token = bench.begin_rotation(&arn, json!({"AutomaticallyAfterDays": 30})).await;
    let result = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "Config");
    assert!(result.unwrap_err().to_string().contains("expire before its own rotation"));
    assert_eq!(bench.counter(&account, "requests").await, 0);
}

#[tokio::test]
async fn put_secret_value_gets_both_tokens() {
    let bench = bench().await;
    let rotator = bench.rotator();
    let Staged { arn, token, .. } = bench.staged("calcom").await;
    let rotation_token = "rotation-token-0123456789abcdef0123456789abcdef";
    let mut create = event("createSecret", &arn, &token);
    create["RotationToken"] = json!(rotation_token);

    assert_eq!(bench.step_with(&rotator, create, Duration::from_secs(30)).await.unwrap(), Outcome::Done);

    let puts = bench.moto_requests("PutSecretValue", &arn).await;
    assert_eq!(puts.len(), 1, "{puts:?}");
    assert_eq!(puts[0]["ClientRequestToken"], token.as_str());
    assert_eq!(puts[0]["RotationToken"], rotation_token);
    // The key's labels, and the record of what it was issued for (vendor, base URL, key field).
    let stages = &puts[0]["VersionStages"];
    let expected = if early() { json!(["AWSPENDING", "AWSCURRENT"]) } else { json!(["AWSPENDING"]) };
    assert_eq!(key_stages(stages), expected);
    let labels: Vec<&str> = stages.as_array().unwrap().iter().map(|label| label.as_str().unwrap()).collect();
    assert!(labels.iter().any(|label| label.starts_with("ROTATION_TARGET.calcom.")), "{stages}");
    // And the new key's fingerprint, with when the vendor answered.
    let print = labels.iter().find_map(|label| api_key_rotator::store::Fingerprint::from_label(label));
    assert!(print.is_some_and(|print| print.issued_at().is_some()), "{stages}");
}

#[tokio::test]
async fn invalid_events_are_refused_without_vendor_calls() {
    let bench = bench().await;
    let rotator = bench.rotator();
    let Staged { account, arn, token } = bench.staged("calcom").await;

    let events = [
        json!({"Step": "create_secret", "SecretId": arn, "ClientRequestToken": token}),
        json!({"Step": "rotate", "SecretId": arn, "ClientRequestToken": token}),
        json!({"SecretId": arn, "ClientRequestToken": token}),
        json!({"Step": "createSecret", "ClientRequestToken": token}),
        json!({"Step": "createSecret", "SecretId": arn}),
        json!({"Step": "createSecret", "SecretId": arn, "ClientRequestToken": 12}),
        json!({"Step": "createSecret", "SecretId": arn, "ClientRequestToken": token, "RotationToken": {"a": 1}}),
        json!("createSecret"),
    ];
    for event in events {
        let result = bench.step_with(&rotator, event.clone(), Duration::from_secs(30)).await;
        assert_eq!(error_type(&result), "InvalidEvent", "{event}");
    }
    assert_eq!(bench.counter(&account, "requests").await, 0);
    assert!(bench.moto_requests("PutSecretValue", &arn).await.is_empty());
}

#[tokio::test]
async fn invalid_configurations_are_refused_without_vendor_calls() {
    let bench = bench().await;
    let rotator = bench.rotator();
    // createSecret checks every tag; testSecret the ones that say where a key may go; setSecret and
    // finishSecret only the key field, so here they find no pending value to work on.
    let bad_tags: [(Vec<(&str, &str)>, &str); 6] = [
        (vec![], "Config"),
        (vec![(TAG_VENDOR, "stripe")], "Config"),
        (vec![(TAG_VENDOR, "calcom"), (TAG_BASE_URL, "https://calcom.example.invalid")], "Config"),
        (vec![(TAG_VENDOR, "calcom"), (TAG_BASE_URL, "http://calcom.example.invalid")], "Config"),
        (vec![(TAG_VENDOR, "calcom"), (TAG_BASE_URL, "https://api.projectdiscovery.io")], "Config"),
        // Only a rotate uses the expiry: testSecret verifies the current key, read-only.
        (vec![(TAG_VENDOR, "calcom"), ("rotation:calcom-never-expires", "yes")], "ok"),
    ];
    for (tags, test_secret) in bad_tags {
        let account = bench.account("calcom").await;
        let arn = bench.create_secret(&json_secret("api_key", &account.key), &tags).await;
        let token = bench.begin_rotation(&arn, json!({})).await;
        for (step, expected) in [
            ("createSecret", "Config"),
            ("setSecret", "NotRotatable"),
            ("testSecret", test_secret),
            ("finishSecret", "NotRotatable"),
        ] {
            let result = bench.step(&rotator, step, &arn, &token).await;
            if expected == "ok" {
                assert_eq!(result.unwrap(), Outcome::Done, "{step} {tags:?}");
                continue;
            }
            assert_eq!(error_type(&result), expected, "{step} {tags:?}");
            let message = result.unwrap_err().to_string();
            assert!(
                message.contains(&arn) && message.contains(step),
                "the message names the secret and step: {message}"
            );
        }
        assert_eq!(bench.counter(&account, "rotate_calls").await, 0, "{tags:?}");
        let verified = u64::from(test_secret == "ok");
        assert_eq!(bench.counter(&account, "requests").await, verified, "{tags:?}");
    }

    // The value is read by createSecret; the later steps find no pending value to work on.
    let account = bench.account("calcom").await;
    for (value, tags) in [
        (json_secret("api_key", &account.key), vec![(TAG_VENDOR, "calcom"), (TAG_KEY_FIELD, "token")]),
        (json!({"password": account.key}).to_string(), vec![(TAG_VENDOR, "calcom")]),
        (json!([account.key]).to_string(), vec![(TAG_VENDOR, "calcom")]),
    ] {
        let arn = bench.create_secret(&value, &tags).await;
        let token = bench.begin_rotation(&arn, json!({})).await;
        for (step, expected) in [
            ("createSecret", "Config"),
            ("setSecret", "NotRotatable"),
            ("testSecret", "Config"), // no pending value: it would verify the current key
            ("finishSecret", "NotRotatable"),
        ] {
            let result = bench.step(&rotator, step, &arn, &token).await;
            assert_eq!(error_type(&result), expected, "{step} {value} {tags:?}");
        }
        assert_eq!(bench.value(&arn, "AWSCURRENT").await, value, "finishSecret promoted nothing");
    }
    assert_eq!(bench.counter(&account, "requests").await, 0);
}

#[tokio::test]
async fn secrets_not_in_rotation_are_refused_without_vendor_calls() {
    let bench = bench().await;
    let rotator = bench.rotator();
    let account = bench.account("ringg").await;

    // Rotation never enabled.
    let arn = bench.create_secret(&account.key, &[(TAG_VENDOR, "ringg")]).await;
    let result = bench.step(&rotator, "createSecret", &arn, "00000000-0000-4000-8000-000000000000").await;
    assert_eq!(error_type(&result), "NotRotatable");
    assert!(result.unwrap_err().to_string().contains("rotation is not enabled"));

    // A token that is not a version of the secret, and one that is not AWSPENDING (a key of its
    // own: the secret above holds the first one, and rotating a shared key is refused).
    let account = bench.account("ringg").await;
    let arn = bench.create_secret(&account.key, &[(TAG_VENDOR, "ringg")]).await;
    bench.begin_rotation(&arn, json!({})).await;
    let current =
        bench.stages(&arn).await.into_iter().find(|(_, s)| s.contains(&"AWSCURRENT".into())).unwrap().0;
    let result = bench.step(&rotator, "createSecret", &arn, "00000000-0000-4000-8000-000000000000").await;
    assert_eq!(error_type(&result), "NotRotatable");
    // Make the old current version AWSPREVIOUS-only by finishing a rotation, then replay with it.
    let token =
        bench.stages(&arn).await.into_iter().find(|(_, s)| s.contains(&"AWSPENDING".into())).unwrap().0;
    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        bench.step(&rotator, step, &arn, &token).await.unwrap();
    }
    let result = bench.step(&rotator, "createSecret", &arn, &current).await;
    assert_eq!(error_type(&result), "NotRotatable");
    assert!(result.unwrap_err().to_string().contains("not AWSPENDING"));
    assert_eq!(bench.counter(&account, "rotate_calls").await, 1);
}

#[tokio::test]
async fn base_url_allow_list_and_https_rule() {
    let bench = bench().await;
    let account = bench.account("calcom").await;
    let sim_port = bench.sim.rsplit(':').next().unwrap().to_owned();
    // The deployer's default points at `localhost`; a tag naming 127.0.0.1 is another host.
    let mut env = bench.env();
    env.insert("CALCOM_BASE_URL".into(), format!("http://localhost:{sim_port}/calcom"));
    let tag = format!("http://127.0.0.1:{sim_port}/calcom");
    let arn = bench
        .create_secret(&json_secret("api_key", &account.key), &[(TAG_VENDOR, "calcom"), (TAG_BASE_URL, &tag)])
        .await;

    let refusing = bench.rotator_with(bench.settings_from(env.clone()));
    let token = bench.begin_rotation(&arn, json!({})).await;
    let result = bench.step(&refusing, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "Config");
    assert!(result.unwrap_err().to_string().contains("ROTATION_ALLOWED_HOSTS"));
    assert_eq!(bench.counter(&account, "requests").await, 0);

    env.insert("ROTATION_ALLOWED_HOSTS".into(), format!("cal.example.invalid, 127.0.0.1:{sim_port}"));
    let allowing = bench.rotator_with(bench.settings_from(env.clone()));
    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        assert_eq!(
            bench.step(&allowing, step, &arn, &token).await.unwrap(),
            expected_outcome(step),
            "{step}"
        );
    }
    assert_eq!(bench.counter(&account, "rotations").await, 1);

    // Listed, but plain http to a host that is not loopback: refused all the same.
    let arn = bench
        .create_secret(
            &json_secret("api_key", &account.key),
            &[(TAG_VENDOR, "calcom"), (TAG_BASE_URL, "http://cal.example.invalid")],
        )
        .await;
    let token = bench.begin_rotation(&arn, json!({})).await;
    let result = bench.step(&allowing, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "Config");
    assert!(result.unwrap_err().to_string().contains("only for loopback"));
}

/// `vendor=host` in ROTATION_ALLOWED_HOSTS: whoever can tag a secret cannot send one vendor's
/// key to a host the deployer allowed for another; a bare host (deprecated) still serves every
/// built-in vendor.
#[tokio::test]
async fn a_host_allowed_for_one_vendor_never_receives_another_vendors_key() {
    let bench = bench().await;
    let sim_port = bench.sim.rsplit(':').next().unwrap().to_owned();
    // The defaults name `localhost`; the tags name 127.0.0.1, a host of the deployer's list only.
    let mut env = bench.env();
    for vendor in ["CALCOM_BASE_URL", "RINGG_BASE_URL"] {
        let value = env[vendor].replace("127.0.0.1", "localhost");
        env.insert(vendor.into(), value);
    }
    env.insert("ROTATION_ALLOWED_HOSTS".into(), format!("calcom=127.0.0.1:{sim_port}"));
    let rotator = bench.rotator_with(bench.settings_from(env.clone()));
    let calcom_host = bench.sim_base("calcom");
    for tag in [calcom_host.clone(), bench.sim_base("ringg")] {
        let ringg = bench.account("ringg").await;
        let arn = bench.create_secret(&ringg.key, &[(TAG_VENDOR, "ringg"), (TAG_BASE_URL, &tag)]).await;
        let token = bench.begin_rotation(&arn, json!({})).await;
        let result = bench.step(&rotator, "createSecret", &arn, &token).await;
        assert_eq!(error_type(&result), "Config", "{tag}");
        let message = result.unwrap_err().to_string();
        assert!(message.contains("ROTATION_ALLOWED_HOSTS") && message.contains("ringg"), "{message}");
        for step in ["testSecret", "finishSecret"] {
            let _ = bench.step(&rotator, step, &arn, &token).await;
        }
        assert_eq!(bench.calls_with(&ringg.key).await, 0, "the Ringg key went nowhere: {tag}");
        assert_eq!(bench.counter(&ringg, "requests").await, 0, "{tag}");
    }

    // The vendor the entry names rotates through it.
    let calcom = bench.account("calcom").await;
    let arn = bench
        .create_secret(
            &json_secret("api_key", &calcom.key),
            &[(TAG_VENDOR, "calcom"), (TAG_BASE_URL, &calcom_host)],
        )
        .await;
    bench.rotate(&rotator, &arn).await;
    assert_eq!(bench.counter(&calcom, "rotations").await, 1);

    // A bare host, deprecated, still serves every built-in vendor.
    env.insert("ROTATION_ALLOWED_HOSTS".into(), format!("127.0.0.1:{sim_port}"));
    let bare = bench.rotator_with(bench.settings_from(env));
    let ringg = bench.account("ringg").await;
    let arn = bench
        .create_secret(&ringg.key, &[(TAG_VENDOR, "ringg"), (TAG_BASE_URL, &bench.sim_base("ringg"))])
        .await;
    bench.rotate(&bare, &arn).await;
    assert_eq!(bench.counter(&ringg, "rotations").await, 1);
}

#[tokio::test]
async fn put_secret_value_failing_four_times_still_stores_the_key() {
    let bench = bench().await;
    let rotator = bench.rotator();
    for (status, code) in [(500, "InternalServiceError"), (400, "ThrottlingException")] {
        let Staged { account, arn, token } = bench.staged("calcom").await;
        bench.moto_faults("PutSecretValue", &arn, 4, status, code).await;

        assert_eq!(
            bench.step(&rotator, "createSecret", &arn, &token).await.unwrap(),
            Outcome::Done,
            "{code}"
        );

        let puts = bench.moto_requests("PutSecretValue", &arn).await;
        let injected: Vec<&Value> = puts.iter().map(|p| &p["InjectedFault"]).collect();
        assert_eq!(
            injected,
            [&json!(code), &json!(code), &json!(code), &json!(code), &Value::Null],
            "{code}"
        );
        assert_eq!(
            bench.value(&arn, "AWSPENDING").await,
            json_secret("api_key", &bench.live_key(&account).await)
        );
        assert_eq!(bench.counter(&account, "rotate_calls").await, 1, "{code}");
    }
}

#[tokio::test]
async fn rate_limits_are_waited_out_within_the_invocation() {
    let bench = bench().await;
    let rotator = bench.rotator();
    for faults in
        [json!({"rate_limit_rotate": 1, "reset_seconds": 1}), json!({"rate_limit": 1, "reset_seconds": 1})]
    {
        let account = bench.account("projectdiscovery").await;
        let arn = bench.create_secret(&account.key, &[(TAG_VENDOR, "projectdiscovery")]).await;
        bench.faults(&account, faults.clone()).await;
        bench.rotate(&rotator, &arn).await;
        assert_eq!(bench.counter(&account, "rotations").await, 1, "{faults}");
        assert_eq!(bench.value(&arn, "AWSCURRENT").await, bench.live_key(&account).await, "{faults}");
    }
}

#[tokio::test]
async fn a_5xx_on_rotate_is_never_retried_in_the_same_invocation() {
    // A 5xx may come after the vendor rotated (Cal.com creates, then deletes): the outcome is
    // unknown, so the invocation probes and stops. The next one checks the current key first.
    let bench = bench().await;
    let rotator = bench.rotator();
    let account = bench.account("ringg").await;
    let arn = bench.create_secret(&account.key, &[(TAG_VENDOR, "ringg")]).await;
    let token = bench.begin_rotation(&arn, json!({})).await;
    bench.faults(&account, json!({"fail_before_rotate": 1})).await;
    let result = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "OutcomeUnknown");
    let message = result.unwrap_err().to_string();
    assert!(message.contains("whether the vendor rotated is unknown"), "{message}");
    assert!(message.contains("if it did rotate, the new key is lost"), "{message}");
    for claim in ["nothing was rotated", "nothing is lost", "Nothing was rotated"] {
        assert!(!message.contains(claim), "it cannot know that: {message}");
    }
    assert_eq!(bench.counter(&account, "rotate_calls").await, 1);
    assert!(bench.counter(&account, "verify_calls").await >= 3, "the probe asked more than once");
    assert_eq!(bench.live_key(&account).await, account.key);

    assert_eq!(bench.step(&rotator, "createSecret", &arn, &token).await.unwrap(), Outcome::Done);
    assert_eq!(bench.counter(&account, "rotations").await, 1);
}

#[tokio::test]
async fn rate_limit_longer_than_the_deadline_fails_cleanly() {
    let bench = bench().await;
    let rotator = bench.rotator();
    let Staged { account, arn, token } = bench.staged("calcom").await;
    bench.faults(&account, json!({"rate_limit_rotate": 1, "reset_seconds": 60})).await;
    let started = Instant::now();
    let result =
        bench.step_with(&rotator, event("createSecret", &arn, &token), Duration::from_secs(10)).await;
    assert!(started.elapsed() < Duration::from_secs(5), "it did not wait for a reset it cannot afford");
    assert_eq!(error_type(&result), "Vendor");
    assert!(result.unwrap_err().to_string().contains("HTTP 429"));
    assert_eq!(bench.counter(&account, "rotations").await, 0);
}

#[tokio::test]
async fn vendor_rotating_then_failing_is_reported_and_never_rotated_again() {
    let bench = bench().await;
    let rotator = bench.rotator();
    for (faults, vendor) in [
        (json!({"fail_after_rotate": 1}), "calcom"),
        // Longer than the status wait of a step with 10 s left (10 less the probe, storage and
        // margin: 4.3 s); an answer within it is stored (tests/custody.rs, late status).
        (json!({"hang_after_rotate": 6}), "ringg"),
        (json!({"empty_after_rotate": 1}), "projectdiscovery"),
    ] {
        let account = bench.account(vendor).await;
        let arn = bench.create_secret(&json_secret("api_key", &account.key), &[(TAG_VENDOR, vendor)]).await;
        let token = bench.begin_rotation(&arn, json!({})).await;
        bench.faults(&account, faults.clone()).await;

        let time_left = Duration::from_secs(10);
        let started = Instant::now();
        let result = bench.step_with(&rotator, event("createSecret", &arn, &token), time_left).await;
        assert!(started.elapsed() < time_left, "{faults}: returned before the deadline");
        assert_eq!(error_type(&result), "KeyLost", "{faults}");
        let message = result.unwrap_err().to_string();
        assert!(message.contains("Recovery: new key lost") && message.contains(vendor), "{message}");

        // Secrets Manager retries the rotation: the vendor refuses the old key, rotate is not called.
        // A kept answer (ROTATION_RESCUE) may hold the live key: then nothing is even asked.
        let rescued = !bench.rescues(&arn).await.is_empty();
        let expected = if rescued { "Config" } else { "VendorRejectedKey" };
        for _ in 0..2 {
            let retry = bench.step(&rotator, "createSecret", &arn, &token).await;
            assert_eq!(error_type(&retry), expected, "{faults}");
        }
        assert_eq!(bench.counter(&account, "rotate_calls").await, 1, "{faults}");
    }
}

#[tokio::test]
async fn slow_propagation_passes_test_secret() {
    let bench = bench().await;
    let rotator = bench.rotator();
    let Staged { account, arn, token } = bench.staged("calcom").await;
    assert_eq!(bench.step(&rotator, "createSecret", &arn, &token).await.unwrap(), Outcome::Done);
    bench.faults(&account, json!({"refuse_verifications": 3})).await;
    assert_eq!(bench.step(&rotator, "testSecret", &arn, &token).await.unwrap(), Outcome::Done);
    assert_eq!(
        bench.state(&account).await["faults"]["refuse_verifications"],
        0,
        "all three refusals were consumed"
    );
}

#[tokio::test]
async fn a_new_key_that_never_works_fails_test_secret() {
    let bench = bench().await;
    let rotator = bench.rotator();
    let account = bench.account("ringg").await;
    let arn = bench.create_secret(&account.key, &[(TAG_VENDOR, "ringg")]).await;
    let token = bench.begin_rotation(&arn, json!({})).await;
    bench.step(&rotator, "createSecret", &arn, &token).await.unwrap();
    bench.step(&rotator, "setSecret", &arn, &token).await.unwrap();
    bench.faults(&account, json!({"refuse_verifications": 1000})).await;

    let result = bench.step(&rotator, "testSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "VendorRejectedKey");
    assert!(result.unwrap_err().to_string().contains("Recovery: test step failing"));
    assert!(bench.counter(&account, "verify_calls").await > 2, "refusals were retried");
    // testSecret changes nothing: AWSCURRENT still holds the old key, or with early promotion
    // already the new one.
    let current = if early() { bench.live_key(&account).await } else { account.key.clone() };
    assert_eq!(bench.value(&arn, "AWSCURRENT").await, current, "AWSCURRENT unchanged");
    assert_eq!(bench.counter(&account, "rotate_calls").await, 1, "testSecret never rotates");
}

#[tokio::test]
async fn test_secret_alone_is_read_only() {
    // RotateImmediately = false: Secrets Manager stages the current value and runs testSecret only.
    let bench = bench().await;
    let rotator = bench.rotator();
    let account = bench.account("projectdiscovery").await;
    let arn = bench.create_secret(&account.key, &[(TAG_VENDOR, "projectdiscovery")]).await;
    let token = bench.begin_rotation(&arn, json!({"RotateImmediately": false})).await;
    assert_eq!(bench.step(&rotator, "testSecret", &arn, &token).await.unwrap(), Outcome::Done);
    assert_eq!(bench.counter(&account, "rotate_calls").await, 0);
    assert_eq!(bench.live_key(&account).await, account.key);
}

#[tokio::test]
async fn a_dead_current_key_is_refused_without_rotating() {
    let bench = bench().await;
    let rotator = bench.rotator();
    let Staged { account, arn, token } = bench.staged("calcom").await;
    bench.revoke(&account).await;

    let result = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "VendorRejectedKey");
    assert!(result.unwrap_err().to_string().contains("Recovery: current key rejected"));
    assert_eq!(bench.counter(&account, "rotate_calls").await, 0);
    assert!(bench.moto_requests("PutSecretValue", &arn).await.is_empty());
}

#[tokio::test]
async fn set_and_finish_without_a_pending_value_are_refused() {
    let bench = bench().await;
    let rotator = bench.rotator();
    let account = bench.account("ringg").await;
    let arn = bench.create_secret(&account.key, &[(TAG_VENDOR, "ringg")]).await;
    let token = bench.begin_rotation(&arn, json!({})).await;
    for step in ["setSecret", "finishSecret"] {
        let result = bench.step(&rotator, step, &arn, &token).await;
        assert_eq!(error_type(&result), "NotRotatable", "{step}");
    }
    assert_eq!(bench.counter(&account, "requests").await, 0);
    assert_eq!(bench.value(&arn, "AWSCURRENT").await, account.key);
}

#[tokio::test]
async fn test_secret_on_an_empty_pending_version_verifies_the_current_key() {
    // RotateImmediately = false may stage the pending version empty (AWS does not document
    // whether empty or a copy): testSecret then checks the current key, read-only.
    let bench = bench().await;
    let rotator = bench.rotator();
    let account = bench.account("ringg").await;
    let arn = bench.create_secret(&json_secret("api_key", &account.key), &[(TAG_VENDOR, "ringg")]).await;
    let token = bench.begin_rotation(&arn, json!({})).await;
    assert_eq!(bench.step(&rotator, "testSecret", &arn, &token).await.unwrap(), Outcome::Done);
    assert_eq!(bench.counter(&account, "verify_calls").await, 1);

    bench.revoke(&account).await;
    let result = bench.step(&rotator, "testSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "VendorRejectedKey");
    assert!(result.unwrap_err().to_string().contains("refuses the current key"));
    assert_eq!(bench.counter(&account, "rotate_calls").await, 0);
    assert!(bench.moto_requests("PutSecretValue", &arn).await.is_empty());
}

#[tokio::test]
async fn too_little_time_left_means_no_vendor_call() {
    let bench = bench().await;
    let rotator = bench.rotator();
    let account = bench.account("projectdiscovery").await;
    let arn = bench.create_secret(&account.key, &[(TAG_VENDOR, "projectdiscovery")]).await;
    let token = bench.begin_rotation(&arn, json!({})).await;
    // fast_timing needs 8.1 s to start a rotation; 3 s is not enough.
    let result = bench.step_with(&rotator, event("createSecret", &arn, &token), Duration::from_secs(3)).await;
    assert_eq!(error_type(&result), "Timeout");
    assert_eq!(bench.counter(&account, "requests").await, 0);
}

#[tokio::test]
async fn a_failed_finish_keeps_the_new_key_pending_and_can_be_repeated() {
    let bench = bench().await;
    let rotator = bench.rotator();
    let Staged { account, arn, token } = bench.staged("ringg").await;
    for step in ["createSecret", "setSecret", "testSecret"] {
        bench.step(&rotator, step, &arn, &token).await.unwrap();
    }
    if early() {
        // Promoted by createSecret: finishSecret has nothing to move.
        assert_eq!(bench.step(&rotator, "finishSecret", &arn, &token).await.unwrap(), Outcome::AlreadyDone);
        assert_eq!(
            bench.value(&arn, "AWSCURRENT").await,
            json_secret("api_key", &bench.live_key(&account).await)
        );
        // No stage moved: only fingerprints (the replaced key's comes off once consumers are told).
        let moves = bench.moto_requests("UpdateSecretVersionStage", &arn).await;
        let fingerprints =
            |r: &&Value| r["VersionStage"].as_str().unwrap().starts_with("ROTATION_FINGERPRINT.");
        assert!(moves.iter().all(|request| fingerprints(&request)), "{moves:?}");
        return;
    }
    bench.moto_faults("UpdateSecretVersionStage", &arn, 1, 400, "AccessDeniedException").await;

    let result = bench.step(&rotator, "finishSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "Store");
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains("AccessDeniedException") && message.contains("Retrying will not help"),
        "{message}"
    );
    assert_eq!(
        bench.value(&arn, "AWSCURRENT").await,
        json_secret("api_key", &account.key),
        "AWSCURRENT unchanged"
    );

    // Once the permission is fixed, Secrets Manager's retry finishes the rotation.
    assert_eq!(bench.step(&rotator, "finishSecret", &arn, &token).await.unwrap(), Outcome::Done);
    assert_eq!(
        bench.value(&arn, "AWSCURRENT").await,
        json_secret("api_key", &bench.live_key(&account).await)
    );
    assert_eq!(bench.counter(&account, "rotate_calls").await, 1);
}
