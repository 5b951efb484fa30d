//! The catalog (issue 29): vendors shipped as data, each pointed at the simulator by an override
//! of its base URL (a JSON Merge Patch in `ROTATION_VENDORS`), rotated by the same engine as every
//! other vendor, against moto and the simulator serving each as its documentation describes it.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::json;

/// The catalog's vendors the simulator serves, and whether each is create-then-revoke.
fn catalog(bench: &Bench) -> Vec<(String, bool)> {
    let vendors = bench.sim_vendors.as_object().expect("the simulator's vendors");
    let found: Vec<(String, bool)> = vendors
        .iter()
        .filter(|(_, vendor)| vendor["catalog"] == true)
        .map(|(name, vendor)| (name.clone(), vendor["overlap"] == true))
        .collect();
    assert!(found.len() >= 7, "the simulator serves the catalog: {found:?}");
    found
}

/// Whether the catalog's entry reads the presented key's id from the verify answer.
fn names_presented_key(vendor: &str) -> bool {
    let catalog = api_key_rotator::config::catalog().unwrap();
    catalog.iter().find(|entry| entry.name == vendor).is_some_and(|entry| entry.verify.key_id.is_some())
}

/// One whole rotation, every step succeeding (with early promotion a single-phase vendor's later
/// steps find their work done; an overlap vendor's secret is always standard).
async fn rotate(bench: &Bench, rotator: &api_key_rotator::Rotator, arn: &str) {
    let token = bench.begin_rotation(arn, json!({})).await;
    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        let outcome = bench.step(rotator, step, arn, &token).await;
        assert!(outcome.is_ok(), "{arn} {step}: {outcome:?}");
    }
}

/// A rotator whose environment patches the catalog's overlap vendors to a grace of 0, so that
/// three rotations may follow each other at once (the override is merged with the base URL's).
fn rotator_without_grace(bench: &Bench) -> api_key_rotator::Rotator {
    let mut env = bench.env();
    let mut declared = bench.declarations();
    for (name, overlap) in catalog(bench) {
        if overlap {
            declared[name.as_str()]["overlap"] = json!({"grace_seconds": 0});
        }
    }
    env.insert("ROTATION_VENDORS".into(), declared.to_string());
    bench.rotator_with(bench.settings_from(env))
}

/// Every catalog vendor, three rotations in a row: the vendor rotated each time, AWSCURRENT holds
/// its live key and AWSPREVIOUS the one before; at an overlap vendor exactly those two keys are
/// live at the end (the others revoked by the ids the function recorded, the starting one by its
/// `rotation:key-id` tag).
#[tokio::test]
async fn every_catalog_vendor_rotates_three_times_in_a_row() {
    let bench = bench().await;
    let rotator = rotator_without_grace(&bench);
    for (vendor, overlap) in catalog(&bench) {
        let account = bench.account(&vendor).await;
        let start_id = bench.live_keys(&account).await[&account.key].clone();
        // The starting key's id: from the vendor's own answer where its entry reads one, else the
        // tag.
        let mut tags = vec![(TAG_VENDOR, vendor.as_str())];
        if overlap && !names_presented_key(&vendor) {
            tags.push(("rotation:key-id", start_id.as_str()));
        }
        let arn = bench.create_secret(&json_secret("api_key", &account.key), &tags).await;
        let mut previous = account.key.clone();
        for round in 1..=3 {
            rotate(&bench, &rotator, &arn).await;
            let current = bench.key_in(&arn, "AWSCURRENT").await;
            assert_ne!(current, previous, "{vendor}, round {round}: a new key");
            assert_eq!(bench.key_in(&arn, "AWSPREVIOUS").await, previous, "{vendor}, round {round}");
            let live: BTreeSet<String> = bench.live_keys(&account).await.into_keys().collect();
            let expected: BTreeSet<String> = match overlap {
                true => [current.clone(), previous.clone()].into(),
                false => [current.clone()].into(),
            };
            assert_eq!(live, expected, "{vendor}, round {round}: the live keys");
            previous = current;
        }
        let state = bench.state(&account).await;
        assert_eq!(state["rotations"], 3, "{vendor}");
        if overlap {
            assert_eq!(state["revoked"].as_array().unwrap().len(), 2, "{vendor}: {state}");
            assert_eq!(
                state["revoked"][0],
                json!(start_id),
                "{vendor}: the starting key, by its recorded id"
            );
        }
    }
}

/// GitLab and Vercel are asked for an expiry past the next scheduled rotation (the secret rotates
/// every 30 days: twice that, room for a failed rotation), each in its own format.
#[tokio::test]
async fn the_requested_expiry_outlives_the_next_rotation() {
    let bench = bench().await;
    let rotator = rotator_without_grace(&bench);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let next_rotation = now + Duration::from_secs(30 * 86400);
    for vendor in ["gitlab", "vercel", "databricks", "linode"] {
        let account = bench.account(vendor).await;
        let start_id = bench.live_keys(&account).await[&account.key].clone();
        let tags = [(TAG_VENDOR, vendor), ("rotation:key-id", start_id.as_str())];
        let tags = if vendor == "gitlab" { &tags[..1] } else { &tags[..] };
        let arn = bench.create_secret(&json_secret("api_key", &account.key), tags).await;
        rotate(&bench, &rotator, &arn).await;
        let body = &bench.state(&account).await["last_rotate_body"];
        let text = |at: Duration| api_key_rotator::timing::rfc3339(UNIX_EPOCH + at).unwrap();
        let (next, most) = (text(next_rotation), text(now + Duration::from_secs(61 * 86400)));
        let expires = match vendor {
            "gitlab" => {
                let date = body["expires_at"].as_str().expect("expires_at");
                assert!(date > &next[..10] && date < &most[..10], "{date}: after {next}, before {most}");
                continue;
            }
            "vercel" => Duration::from_millis(body["expiresAt"].as_u64().expect("expiresAt in ms")),
            "databricks" => now + Duration::from_secs(body["lifetime_seconds"].as_u64().expect("seconds")),
            _ => {
                let at = body["expiry"].as_str().expect("expiry");
                assert!(at.ends_with('Z') && at.len() == 20, "{at}");
                assert!(at > next.as_str() && at < most.as_str(), "{at}: after {next}, before {most}");
                continue;
            }
        };
        assert!(expires > next_rotation + Duration::from_secs(86400), "{vendor}: {body}");
        assert!(expires < now + Duration::from_secs(61 * 86400), "{vendor}: twice the gap, no more: {body}");
    }
}

/// ngrok's calls carry its version header, and OpenAI's and ngrok's verify calls their query: the
/// simulator answers 400 without them, so a rotation that passes sent them.
#[tokio::test]
async fn static_headers_and_query_parameters_are_sent() {
    let bench = bench().await;
    let rotator = rotator_without_grace(&bench);
    for vendor in ["ngrok", "openai-admin"] {
        let account = bench.account(vendor).await;
        let start_id = bench.live_keys(&account).await[&account.key].clone();
        let tags = [(TAG_VENDOR, vendor), ("rotation:key-id", start_id.as_str())];
        let arn = bench.create_secret(&json_secret("api_key", &account.key), &tags).await;
        rotate(&bench, &rotator, &arn).await;
        assert!(bench.state(&account).await["verify_calls"].as_u64().unwrap() >= 2, "{vendor}");
    }
}

/// Databricks has no default base URL: without an override or a tag, its secret is refused with
/// what to do, and nothing is sent.
#[tokio::test]
async fn databricks_without_a_workspace_url_is_refused_before_any_call() {
    let bench = bench().await;
    let mut env = bench.env();
    let mut declared = bench.declarations();
    declared.as_object_mut().unwrap().remove("databricks");
    env.insert("ROTATION_VENDORS".into(), declared.to_string());
    let rotator = bench.rotator_with(bench.settings_from(env));
    let account = bench.account("databricks").await;
    let arn = bench.create_secret(&json_secret("api_key", &account.key), &[(TAG_VENDOR, "databricks")]).await;
    let token = bench.begin_rotation(&arn, json!({})).await;
    let result = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "Config");
    let message = result.unwrap_err().to_string();
    assert!(message.contains("databricks has no default base URL"), "{message}");
    assert_eq!(bench.calls_with(&account.key).await, 0);
}

/// Vercel names the presented token: a secret without `rotation:key-id` binds the vendor's id;
/// a tag that agrees is fine; one that disagrees stops the step with nothing created or revoked.
#[tokio::test]
async fn the_starting_keys_id_comes_from_the_vendor_and_a_wrong_tag_stops() {
    let bench = bench().await;
    let rotator = rotator_without_grace(&bench);
    assert!(names_presented_key("vercel"));
    for tag in [None, Some("right"), Some("k-000000000000")] {
        let account = bench.account("vercel").await;
        let start_id = bench.live_keys(&account).await[&account.key].clone();
        let mut tags = vec![(TAG_VENDOR, "vercel")];
        let right = start_id.clone();
        match tag {
            Some("right") => tags.push(("rotation:key-id", right.as_str())),
            Some(wrong) => tags.push(("rotation:key-id", wrong)),
            None => {}
        }
        let arn = bench.create_secret(&json_secret("api_key", &account.key), &tags).await;
        let token = bench.begin_rotation(&arn, json!({})).await;
        let result = bench.step(&rotator, "createSecret", &arn, &token).await;
        if tag == Some("k-000000000000") {
            assert_eq!(error_type(&result), "Config");
            let message = result.unwrap_err().to_string();
            assert!(message.contains("k-000000000000") && message.contains(&start_id), "{message}");
            let state = bench.state(&account).await;
            assert_eq!((state["rotate_calls"].as_u64(), state["revoke_calls"].as_u64()), (Some(0), Some(0)));
            continue;
        }
        assert!(result.is_ok(), "{tag:?}: {result:?}");
        let stages = bench.stages(&arn).await;
        let bound = format!(".{start_id}");
        assert!(
            stages
                .values()
                .flatten()
                .any(|label| label.starts_with("ROTATION_KEY_ID.vercel.") && label.ends_with(&bound)),
            "{tag:?}: the starting key's id is bound: {stages:?}"
        );
    }
}
