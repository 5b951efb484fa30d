//! Early promotion against moto and the vendor simulator: AWSCURRENT holds the working key after
//! createSecret's one write, testSecret still verifies it, and a refused promoting write falls
//! back to the standard one. (The whole protocol suite also runs in early mode: scripts/test.)

mod common;

use api_key_rotator::Outcome;
use api_key_rotator::config::Settings;
use common::*;
use serde_json::{Value, json};

const PROMOTE: &str = "rotation:promote";

#[tokio::test]
async fn early_promotion_is_one_write_and_keeps_everything_else() {
    let bench = bench().await;
    let rotator = bench.rotator();
    for vendor in vendor_names() {
        let account = bench.account(vendor).await;
        let original = json_secret("api_key", &account.key);
        let arn = bench.create_secret(&original, &[(TAG_VENDOR, vendor), (PROMOTE, "early")]).await;
        let token = bench.begin_rotation(&arn, json!({})).await;

        assert_eq!(bench.step(&rotator, "createSecret", &arn, &token).await.unwrap(), Outcome::Done);
        let live = json_secret("api_key", &bench.live_key(&account).await);
        assert_eq!(bench.value(&arn, "AWSCURRENT").await, live, "{vendor}: right after createSecret");
        assert_eq!(bench.value(&arn, "AWSPREVIOUS").await, original, "{vendor}");
        let stages = bench.stages(&arn).await;
        assert!(
            stages[&token].contains(&"AWSPENDING".into()) && stages[&token].contains(&"AWSCURRENT".into())
        );
        let puts = bench.moto_requests("PutSecretValue", &arn).await;
        assert_eq!(puts.len(), 1, "{vendor}: one write");
        assert_eq!(key_stages(&puts[0]["VersionStages"]), json!(["AWSPENDING", "AWSCURRENT"]));

        // The later steps, and every replay: nothing to set or move, the key verified each time.
        let verifies = bench.counter(&account, "verify_calls").await;
        for step in ["setSecret", "testSecret", "finishSecret", "createSecret", "testSecret"] {
            let expected = if step == "testSecret" { Outcome::Done } else { Outcome::AlreadyDone };
            assert_eq!(bench.step(&rotator, step, &arn, &token).await.unwrap(), expected, "{vendor} {step}");
        }
        assert_eq!(bench.counter(&account, "verify_calls").await, verifies + 2);
        // No stage is moved: only the replaced key's fingerprint comes off, once consumers were
        // told (the first label move is the suite's own, recording it at onboarding).
        let moves = bench.moto_requests("UpdateSecretVersionStage", &arn).await;
        let removed: Vec<&Value> = moves.iter().skip(1).map(|request| &request["VersionStage"]).collect();
        assert_eq!(removed, [&moves[0]["VersionStage"]], "{vendor}: {moves:?}");
        assert!(moves[1]["MoveToVersionId"].is_null(), "{vendor}: {moves:?}");
        assert_eq!(bench.value(&arn, "AWSCURRENT").await, live);
        assert_eq!(bench.counter(&account, "rotate_calls").await, 1);
    }
}

#[tokio::test]
async fn a_broken_new_key_still_fails_test_secret_loudly() {
    let bench = bench().await;
    let rotator = bench.rotator();
    let account = bench.account("ringg").await;
    let arn = bench.create_secret(&account.key, &[(TAG_VENDOR, "ringg"), (PROMOTE, "early")]).await;
    let token = bench.begin_rotation(&arn, json!({})).await;
    bench.step(&rotator, "createSecret", &arn, &token).await.unwrap();
    bench.faults(&account, json!({"refuse_verifications": 1000})).await;
    let result = bench.step(&rotator, "testSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "VendorRejectedKey");
    assert!(result.unwrap_err().to_string().contains("promoted early"));
}

#[tokio::test]
async fn a_refused_promoting_write_stores_the_key_the_standard_way() {
    let bench = bench().await;
    let rotator = bench.rotator();
    let account = bench.account("calcom").await;
    let original = json_secret("api_key", &account.key);
    let arn = bench.create_secret(&original, &[(TAG_VENDOR, "calcom"), (PROMOTE, "early")]).await;
    let token = bench.begin_rotation(&arn, json!({})).await;
    // An IAM condition on secretsmanager:VersionStage refuses the writes that name AWSCURRENT:
    // with the record, then without it.
    bench.moto_faults("PutSecretValue", &arn, 2, 400, "AccessDeniedException").await;

    assert_eq!(bench.step(&rotator, "createSecret", &arn, &token).await.unwrap(), Outcome::Done);
    let live = json_secret("api_key", &bench.live_key(&account).await);
    assert_eq!(bench.value(&arn, "AWSPENDING").await, live);
    assert_eq!(bench.value(&arn, "AWSCURRENT").await, original, "a standard rotation from here");
    let stages: Vec<Value> = bench
        .moto_requests("PutSecretValue", &arn)
        .await
        .iter()
        .map(|p| key_stages(&p["VersionStages"]))
        .collect();
    assert_eq!(
        stages,
        [json!(["AWSPENDING", "AWSCURRENT"]), json!(["AWSPENDING", "AWSCURRENT"]), json!(["AWSPENDING"])]
    );
    for step in ["setSecret", "testSecret", "finishSecret"] {
        assert_eq!(bench.step(&rotator, step, &arn, &token).await.unwrap(), Outcome::Done, "{step}");
    }
    assert_eq!(bench.value(&arn, "AWSCURRENT").await, live);
}

#[tokio::test]
async fn the_tag_overrides_the_environment_and_invalid_values_send_nothing() {
    let bench = bench().await;
    for (env_mode, tag, stages) in [
        ("early", Some("standard"), json!(["AWSPENDING"])),
        ("standard", Some("early"), json!(["AWSPENDING", "AWSCURRENT"])),
        ("early", None, json!(["AWSPENDING", "AWSCURRENT"])),
        ("", None, json!(["AWSPENDING"])),
    ] {
        let mut env = bench.env();
        env.insert("ROTATION_PROMOTE".into(), env_mode.into());
        let rotator = bench.rotator_with(bench.settings_from(env));
        let account = bench.account("projectdiscovery").await;
        let mut tags = vec![(TAG_VENDOR, "projectdiscovery")];
        tags.extend(tag.map(|t| (PROMOTE, t)));
        let arn = bench.create_secret(&account.key, &tags).await;
        let token = bench.begin_rotation(&arn, json!({})).await;
        bench.step(&rotator, "createSecret", &arn, &token).await.unwrap();
        let puts = bench.moto_requests("PutSecretValue", &arn).await;
        assert_eq!(key_stages(&puts[0]["VersionStages"]), stages, "env {env_mode:?}, tag {tag:?}");
    }

    let rotator = bench.rotator();
    let account = bench.account("ringg").await;
    let arn = bench.create_secret(&account.key, &[(TAG_VENDOR, "ringg"), (PROMOTE, "Early")]).await;
    let token = bench.begin_rotation(&arn, json!({})).await;
    let result = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "Config");
    assert!(result.unwrap_err().to_string().contains("rotation:promote"));
    assert_eq!(bench.counter(&account, "requests").await, 0);
    let env = Settings::from_lookup(|name| (name == "ROTATION_PROMOTE").then(|| "sometimes".into()));
    assert!(env.unwrap_err().to_string().contains("ROTATION_PROMOTE"));
}

#[tokio::test]
async fn the_dead_key_window_is_measured_where_awscurrent_moves() {
    let bench = bench().await;
    for mode in ["early", "standard"] {
        let (records, rotator) = bench.recorded(bench.rotator());
        let account = bench.account("calcom").await;
        let arn = bench
            .create_secret(&json_secret("api_key", &account.key), &[(TAG_VENDOR, "calcom"), (PROMOTE, mode)])
            .await;
        let token = bench.begin_rotation(&arn, json!({})).await;
        for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
            bench.step(&rotator, step, &arn, &token).await.unwrap();
        }
        let records = records.lock().unwrap().clone();
        let windows: Vec<(&str, bool)> =
            records.iter().map(|r| (r["Step"].as_str().unwrap(), r.get("DeadKeyWindow").is_some())).collect();
        let moved = if mode == "early" { "createSecret" } else { "finishSecret" };
        for (step, has_window) in windows {
            assert_eq!(has_window, step == moved, "{mode}: {step}");
        }
        assert!(records.iter().all(|r| r["Promote"] == mode && r["Vendor"] == "calcom" && r["Failure"] == 0));
        assert_eq!(records.iter().filter(|r| r.get("KeyLost").is_some()).count(), 1, "on createSecret only");
    }
}
