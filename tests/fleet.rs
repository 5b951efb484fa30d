//! Custody across a fleet (issue 27), against moto through the wrapper and the vendor simulator:
//! the shared-key search that reads no value in a steady fleet and compares every secret tagged
//! for the vendor, revokes that wait for every replica and page when they kill another key, the
//! grace counted from every move, orphans reported as orphans, every move told at least once, and
//! one label per rescue. Each test reproduces what the issue found on the main of its day.
//!
//! Most tests use a vendor of their own ([`Bench::own_vendor_env`]): the suite's secrets share one
//! Secrets Manager, and the shared-key search compares every secret tagged for a vendor.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use api_key_rotator::Outcome;
use api_key_rotator::Rotator;
use common::*;
use serde_json::{Value, json};

/// A vendor of the test's own (a copy of the simulator's `base`, its declaration changed by
/// `change`), deployed as a rotation function of its own.
struct Own {
    name: String,
    function: String,
    env: HashMap<String, String>,
}

async fn own(bench: &Bench, base: &str, change: impl FnOnce(&mut Value)) -> Own {
    let (name, mut env) = bench.own_vendor_env(base);
    let mut vendors: Value = serde_json::from_str(&env["ROTATION_VENDORS"]).unwrap();
    change(&mut vendors[&name]);
    env.insert("ROTATION_VENDORS".into(), vendors.to_string());
    let function = bench.deploy(&format!("rotator-{name}"), &env, 90, 256).await;
    Own { name, function, env }
}

impl Own {
    fn rotator(&self, bench: &Bench) -> Rotator {
        bench.rotator_with(bench.settings_from(self.env.clone()))
    }

    /// A rotation staged by Secrets Manager, this function's.
    async fn begin(&self, bench: &Bench, arn: &str) -> String {
        bench.begin_rotation(arn, json!({ "RotationLambdaARN": self.function })).await
    }

    /// The four steps of a rotation, each expected to work.
    async fn rotate(&self, bench: &Bench, rotator: &Rotator, arn: &str) -> String {
        let token = self.begin(bench, arn).await;
        for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
            let outcome = bench.step(rotator, step, arn, &token).await;
            // A create-then-revoke vendor's secrets are always promoted the standard way.
            let expected = if self.is_overlap() { Outcome::Done } else { expected_outcome(step) };
            assert_eq!(outcome.as_ref().ok(), Some(&expected), "{step}: {outcome:?}");
        }
        token
    }

    /// A new DualKey account, and a secret of this vendor holding its key, tagged with the key's id
    /// and replicated to `regions`: (the account, the secret's ARN, the starting key's id).
    async fn secret_with_id(&self, bench: &Bench, regions: &[&str]) -> (Account, String, String) {
        self.secret_at(bench, bench.account("dualkey").await, regions).await
    }

    /// The same, at `account`.
    async fn secret_at(
        &self,
        bench: &Bench,
        account: Account,
        regions: &[&str],
    ) -> (Account, String, String) {
        let start_id = bench.live_keys(&account).await[&account.key].clone();
        let tags = [(TAG_VENDOR, self.name.as_str()), ("rotation:key-id", start_id.as_str())];
        let value = json_secret("api_key", &account.key);
        let arn = bench.create_replicated_secret(&value, &tags, regions).await;
        (account, arn, start_id)
    }

    fn is_overlap(&self) -> bool {
        let vendors: Value = serde_json::from_str(&self.env["ROTATION_VENDORS"]).unwrap();
        vendors[&self.name].get("overlap").is_some()
    }
}

/// `api-key-rotator ARGS` as an operator runs it: (exit code, stdout and stderr together).
fn run(bench: &Bench, args: &[&str]) -> (i32, String) {
    let mut child = bench.operator(args, &[]).stdout(Stdio::piped()).spawn().expect("start the binary");
    child.stdin.take().unwrap().write_all(b"").unwrap();
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().expect("an exit code"), said)
}

/// `check --json ARGS`: (exit code, each line by name as (status, detail)), and all it said.
fn check(bench: &Bench, args: &[&str]) -> (i32, HashMap<String, (String, String)>, String) {
    let (code, said) = run(bench, &[&["check", "--json"], args].concat());
    let lines = check_lines(&said)
        .into_iter()
        .map(|(name, (status, detail, fix))| (name, (status, detail + " " + &fix)));
    (code, lines.collect(), said)
}

/// The version a stage labels.
async fn labelled(bench: &Bench, arn: &str, stage: &str) -> String {
    let stages = bench.stages(arn).await;
    stages.into_iter().find(|(_, labels)| labels.iter().any(|l| l == stage)).expect("a version").0
}

/// Secrets Manager calls on `arn` so far (ListSecrets and BatchGetSecretValue name no one secret).
async fn calls_on(bench: &Bench, arn: &str) -> usize {
    let mut calls = 0;
    for operation in ["DescribeSecret", "GetSecretValue", "PutSecretValue", "UpdateSecretVersionStage"] {
        calls += bench.moto_requests(operation, arn).await.len();
    }
    calls
}

/// ListSecrets calls so far filtered by the tag value `vendor`.
async fn lists_of(bench: &Bench, vendor: &str) -> usize {
    let lists = bench.all_requests("ListSecrets").await;
    lists.iter().filter(|request| request["Filters"].to_string().contains(&format!("\"{vendor}\""))).count()
}

/// Values read so far of any of `arns` (BatchGetSecretValue entries).
async fn values_read(bench: &Bench, arns: &[String]) -> usize {
    let batches = bench.all_requests("BatchGetSecretValue").await;
    let asked =
        batches.iter().flat_map(|request| request["SecretIdList"].as_array().cloned().unwrap_or_default());
    asked.filter(|arn| arns.iter().any(|other| arn == other)).count()
}

/// In a steady fleet (every secret's key fingerprint recorded), a rotation reads no other
/// secret's value, lists once per hundred secrets of its vendor, and makes at most 11 Secrets
/// Manager calls in all. (Before: every secret of the function was read on every rotation.)
#[tokio::test]
async fn a_steady_rotation_reads_no_other_secrets_value_and_makes_at_most_eleven_calls() {
    let bench = bench().await;
    let own = own(&bench, "ringg", |_| {}).await;
    let rotator = own.rotator(&bench);
    let mut others = Vec::new();
    for _ in 0..30 {
        let account = bench.account("ringg").await;
        let arn =
            bench.create_secret(&json_secret("api_key", &account.key), &[(TAG_VENDOR, &own.name)]).await;
        // Rotated by this function too: its role may read them, and still need not.
        own.begin(&bench, &arn).await;
        others.push(arn);
    }
    let account = bench.account("ringg").await;
    let arn = bench.create_secret(&json_secret("api_key", &account.key), &[(TAG_VENDOR, &own.name)]).await;
    own.rotate(&bench, &rotator, &arn).await;
    let (lists, reads, calls) =
        (lists_of(&bench, &own.name).await, values_read(&bench, &others).await, calls_on(&bench, &arn).await);
    own.rotate(&bench, &rotator, &arn).await;
    assert_eq!(values_read(&bench, &others).await, reads, "no other secret's value was read");
    let listed = lists_of(&bench, &own.name).await - lists;
    assert_eq!(listed, 1, "one page lists the vendor's 31 secrets");
    let calls = calls_on(&bench, &arn).await - calls + listed;
    assert!(calls <= 11, "{calls} Secrets Manager calls for a steady rotation");
    assert_eq!(bench.live_key(&account).await, json_value(&bench.value(&arn, "AWSCURRENT").await));
}

fn json_value(text: &str) -> String {
    serde_json::from_str::<Value>(text).unwrap()["api_key"].as_str().unwrap().to_owned()
}

/// A secret tagged for the vendor whose rotation is not configured (the usual onboarding state)
/// is compared: its key unknown to the function, a first rotation stops naming it, nothing sent;
/// `check` reads it with the operator's credentials, names it as holding the key, and records its
/// fingerprint, after which the rotation refuses the shared key without reading it. (Before:
/// `check` skipped the comparison and the first rotation killed the other secret's key.)
#[tokio::test]
async fn a_tagged_secret_not_yet_rotated_is_compared_and_a_first_rotation_never_rotates_blind() {
    let bench = bench().await;
    let own = own(&bench, "ringg", |_| {}).await;
    let rotator = own.rotator(&bench);
    let account = bench.account("ringg").await;
    let value = json_secret("api_key", &account.key);
    let (holder, _) = bench.create_unindexed(&value, &[(TAG_VENDOR, &own.name)], &[]).await;
    let arn = bench.create_secret(&value, &[(TAG_VENDOR, &own.name)]).await;

    let token = own.begin(&bench, &arn).await;
    let result = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "Config");
    let message = result.unwrap_err().to_string();
    assert!(message.contains(&holder) && message.contains("first rotation"), "{message}");
    assert_eq!(bench.counter(&account, "requests").await, 0, "nothing was sent");

    // check, with the operator's credentials: the holder is found and named, and recorded.
    let (code, lines, said) = check(&bench, &[&arn, "--no-vendor"]);
    assert_eq!((code, lines["shared"].0.as_str()), (1, "fail"), "{said}");
    assert!(lines["shared"].1.contains(&holder), "{said}");
    assert!(!said.contains(&account.key));
    let recorded =
        bench.stages(&holder).await.values().flatten().any(|l| l.starts_with("ROTATION_FINGERPRINT."));
    assert!(recorded, "check records the fingerprint of the key it read");

    // Now the function compares it without reading it, and refuses the shared key.
    let reads = values_read(&bench, std::slice::from_ref(&holder)).await;
    let result = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "Config");
    let message = result.unwrap_err().to_string();
    assert!(message.contains(&holder) && message.contains("Shared keys"), "{message}");
    assert_eq!(values_read(&bench, std::slice::from_ref(&holder)).await, reads, "the function never read it");
    assert_eq!(bench.counter(&account, "requests").await, 0, "nothing was sent");
}

/// At a create-then-revoke vendor, the previous key is revoked only while every replica region
/// is InSync: a region that failed still serves it. (Before: revoked whatever the replicas said.)
#[tokio::test]
async fn an_overlap_revoke_waits_for_every_replica_region() {
    let bench = bench().await;
    let own = own(&bench, "dualkey", |_| {}).await;
    let rotator = own.rotator(&bench);
    let (account, arn, start_id) = own.secret_with_id(&bench, &["eu-west-1"]).await;
    own.rotate(&bench, &rotator, &arn).await;
    bench.replica_state(&arn, "eu-west-1", "Failed", Some("no KMS key in this region")).await;
    let token = own.begin(&bench, &arn).await;
    let result = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "Config");
    let message = result.unwrap_err().to_string();
    assert!(message.contains("eu-west-1: Failed") && message.contains("InSync"), "{message}");
    let state = bench.state(&account).await;
    assert_eq!((state["revoke_calls"].as_u64(), state["rotate_calls"].as_u64()), (Some(0), Some(1)));
    assert!(bench.live_keys(&account).await.contains_key(&account.key), "the previous key still works");
    // The region in sync again, the rotation goes on and revokes it.
    bench.replica_state(&arn, "eu-west-1", "InSync", None).await;
    assert_eq!(bench.step(&rotator, "createSecret", &arn, &token).await.unwrap(), Outcome::Done);
    assert_eq!(bench.state(&account).await["revoked"], json!([start_id]));
}

/// At a create-then-revoke vendor, the previous key is not revoked while consumers were never
/// told that AWSCURRENT moved off it (some may still use it), and its grace counts from when they
/// are told. (Before: the untold move was told, or not, and the key revoked at once.)
#[tokio::test]
async fn an_overlap_revoke_waits_until_consumers_are_told_and_counts_the_grace_from_then() {
    let bench = bench().await;
    let own = own(&bench, "dualkey", |declaration| declaration["overlap"]["grace_seconds"] = json!(2)).await;
    let rotator = own.rotator(&bench);
    let (account, arn, start_id) = own.secret_with_id(&bench, &[]).await;
    bench.moto_faults("PutEvents", &arn, 10_000, 500, "InternalException").await;
    let first = own.rotate(&bench, &rotator, &arn).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // The grace has passed since the move, but nobody was told of it.
    let token = own.begin(&bench, &arn).await;
    let result = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "Config");
    let message = result.unwrap_err().to_string();
    assert!(message.contains("never told") && message.contains(&first), "{message}");
    let state = bench.state(&account).await;
    assert_eq!((state["revoke_calls"].as_u64(), state["rotate_calls"].as_u64()), (Some(0), Some(1)));
    // The events would go through, but the move cannot be dated again: consumers are not told
    // (told, the grace would count from the old date), and nothing is revoked.
    bench.moto_fault(json!({"Operation": "PutEvents", "SecretId": arn, "Clear": true})).await;
    bench.moto_faults("UpdateSecretVersionStage", &arn, 1, 400, "AccessDeniedException").await;
    let result = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "Config");
    assert!(result.unwrap_err().to_string().contains("never told"));
    assert!(bench.events(&arn).await.is_empty(), "not told");
    // Told now (by the retry): the grace restarts from then.
    let result = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "Config");
    assert!(result.unwrap_err().to_string().contains("too soon"));
    assert_eq!(bench.events(&arn).await[0]["versionId"], first.as_str(), "told of the move");
    assert_eq!(bench.counter(&account, "revoke_calls").await, 0);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(bench.step(&rotator, "createSecret", &arn, &token).await.unwrap(), Outcome::Done);
    assert_eq!(bench.state(&account).await["revoked"], json!([start_id]));
}

/// The previous key is never revoked while another secret tagged for the vendor holds it as its
/// current key (a copy made by hand): nothing is sent. (Before: only the current key was searched
/// for, and the revoke locked the other secret's consumers out.)
#[tokio::test]
async fn a_previous_key_another_secret_holds_is_never_revoked() {
    let bench = bench().await;
    let own = own(&bench, "dualkey", |_| {}).await;
    let rotator = own.rotator(&bench);
    let (account, arn, _) = own.secret_with_id(&bench, &[]).await;
    own.rotate(&bench, &rotator, &arn).await;
    let copy = bench.create_secret(&json_secret("api_key", &account.key), &[(TAG_VENDOR, &own.name)]).await;
    let requests = bench.counter(&account, "requests").await;
    let token = own.begin(&bench, &arn).await;
    let result = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "Config");
    let message = result.unwrap_err().to_string();
    assert!(message.contains("previous key") && message.contains(&copy), "{message}");
    assert_eq!(bench.counter(&account, "requests").await, requests, "nothing was sent");
    assert!(bench.live_keys(&account).await.contains_key(&account.key), "the copy's key still works");

    // A secret of the vendor that cannot be compared (a binary value): whether it holds the
    // previous key is unknown, so the previous key stays live; the rotation goes on.
    let account = bench.account_with("dualkey", json!({"key_cap": 3})).await;
    let (account, arn, _) = own.secret_at(&bench, account, &[]).await;
    own.rotate(&bench, &rotator, &arn).await;
    let unreadable = bench
        .sm
        .create_secret()
        .name(unique("binary"))
        .secret_binary(aws_sdk_secretsmanager::primitives::Blob::new(vec![0xff, 0xfe]))
        .tags(aws_sdk_secretsmanager::types::Tag::builder().key(TAG_VENDOR).value(&own.name).build())
        .send()
        .await
        .unwrap();
    bench.begin_rotation(unreadable.arn().unwrap(), json!({ "RotationLambdaARN": own.function })).await;
    own.rotate(&bench, &rotator, &arn).await;
    assert_eq!(bench.counter(&account, "revoke_calls").await, 0, "not revoked");
    assert!(bench.live_keys(&account).await.contains_key(&account.key), "the previous key stays live");
}

/// `rotation:key-id` names another live key of the account: the revoke answers 204 and kills
/// that key, while the previous key still works. That pages (WrongKeyRevoked, which the lock-out
/// alarm watches), the key consumers read is verified again, the id's label stays, and the error
/// says what happened; a retry meets a 404 and says the id is not the key's. (Before: a failed
/// revoke, no page, and "revoke it by hand".)
#[tokio::test]
async fn a_revoke_that_kills_another_key_pages_and_keeps_the_id() {
    let bench = bench().await;
    let own = own(&bench, "dualkey", |_| {}).await;
    let (records, rotator) = bench.recorded(own.rotator(&bench));
    let account = bench.account_with("dualkey", json!({"key_cap": 3})).await;
    let (other_key, other_id) = bench.add_key(&account).await;
    let tags = [(TAG_VENDOR, own.name.as_str()), ("rotation:key-id", other_id.as_str())];
    let arn = bench.create_secret(&json_secret("api_key", &account.key), &tags).await;
    own.rotate(&bench, &rotator, &arn).await;
    let current = json_value(&bench.value(&arn, "AWSCURRENT").await);
    let verifies = bench.counter(&account, "verify_calls").await;

    let token = own.begin(&bench, &arn).await;
    let result = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "Vendor");
    let message = result.unwrap_err().to_string();
    assert!(message.contains(&other_id) && message.contains("killed another key"), "{message}");
    assert!(!message.contains("revoke id"), "never 'revoke it by hand' by that id: {message}");
    let record = records.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        (&record["WrongKeyRevoked"], &record["CurrentKeyRejected"]),
        (&json!(1), &json!(0)),
        "{record}"
    );
    let live = bench.live_keys(&account).await;
    assert!(!live.contains_key(&other_key) && live.contains_key(&account.key) && live.contains_key(&current));
    assert!(bench.counter(&account, "verify_calls").await >= verifies + 3, "the current key was asked again");
    let previous = labelled(&bench, &arn, "AWSPREVIOUS").await;
    let labels = &bench.stages(&arn).await[&previous];
    assert!(labels.iter().any(|l| l.starts_with("ROTATION_KEY_ID.") && l.ends_with(&other_id)), "{labels:?}");

    // Secrets Manager's retry: the id is gone now (404), and the previous key still works.
    let result = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "Vendor");
    let message = result.unwrap_err().to_string();
    assert!(message.contains("not its id") && message.contains(&other_id), "{message}");
    let record = records.lock().unwrap().last().cloned().unwrap();
    assert_eq!(record["WrongKeyRevoked"], 0, "{record}");
    assert_eq!(bench.counter(&account, "rotate_calls").await, 1, "no new key was made");
}

/// The grace counts from every move the product makes: after `repair --apply` moved AWSCURRENT
/// (and dated the move) and a rollback by hand, the key consumers used a moment ago is not revoked
/// before a whole grace has passed. (Before: repair left the old version's date, and the rollback
/// made the key look due at once.)
#[tokio::test]
async fn the_grace_counts_from_every_move_and_restarts_after_a_rollback_by_hand() {
    let bench = bench().await;
    let own = own(&bench, "dualkey", |declaration| declaration["overlap"]["grace_seconds"] = json!(2)).await;
    let rotator = own.rotator(&bench);
    let (account, arn, _) = own.secret_with_id(&bench, &[]).await;
    let first = own.rotate(&bench, &rotator, &arn).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // The next rotation revokes the starting key and stores its key; repair finishes it.
    let second = own.begin(&bench, &arn).await;
    assert_eq!(bench.step(&rotator, "createSecret", &arn, &second).await.unwrap(), Outcome::Done);
    let (code, said) = run(&bench, &["repair", &arn, "--apply"]);
    assert_eq!(code, 0, "{said}");
    assert_eq!(labelled(&bench, &arn, "AWSCURRENT").await, second, "{said}");
    // Rolled back by hand: AWSCURRENT on the first rotation's version again.
    for (stage, to, from) in [("AWSCURRENT", Some(&first), &second), ("AWSPENDING", None, &second)] {
        let request = bench.sm.update_secret_version_stage().secret_id(&arn).version_stage(stage);
        request
            .set_move_to_version_id(to.cloned())
            .remove_from_version_id(from)
            .send()
            .await
            .expect("by hand");
    }
    let revokes = bench.counter(&account, "revoke_calls").await;
    let third = own.begin(&bench, &arn).await;
    let result = bench.step(&rotator, "createSecret", &arn, &third).await;
    assert_eq!(error_type(&result), "Config");
    assert!(result.unwrap_err().to_string().contains("too soon"));
    assert_eq!(bench.counter(&account, "revoke_calls").await, revokes, "the second key is not revoked");
    assert_eq!(bench.live_keys(&account).await.len(), 2);
}

/// The declaration contract at start-up: a refusal status that is not a 4xx about the key, an auth
/// header intermediaries log or rewrite, and a vendor named twice each stop the function; `check`
/// says so on its environment line. (Before: all three were accepted.)
#[tokio::test]
async fn declarations_the_contract_refuses_stop_the_function() {
    let bench = bench().await;
    let account = bench.account("acme").await;
    let arn = bench.create_secret(&account.key, &[(TAG_VENDOR, "acme")]).await;
    let acme = || {
        let mut acme = bench.declarations()["acme"].clone();
        acme["base_url"] = json!(bench.sim_base("acme"));
        acme
    };
    let mut refused = acme();
    refused["verify"]["refused"] = json!([401, 503]);
    let mut header = acme();
    header["auth"]["header"] = json!("Content-Type");
    let acme = acme().to_string();
    for (variables, words) in [
        (json!({ "acme": refused }).to_string(), "verify.refused"),
        (json!({ "acme": header }).to_string(), "auth.header"),
        (format!(r#"{{"acme": {acme}, "acme": {acme}}}"#), "declared twice"),
    ] {
        let mut env = bench.env();
        env.insert("ROTATION_VENDORS".into(), variables);
        let function = bench.deploy(&unique("refused"), &env, 90, 256).await;
        let (code, lines, said) = check(&bench, &[&arn, "--function", &function, "--no-vendor"]);
        assert_eq!((code, lines["environment"].0.as_str()), (1, "fail"), "{said}");
        assert!(lines["environment"].1.contains(words), "{words}: {said}");
    }
    assert_eq!(bench.counter(&account, "requests").await, 0);
}

/// At a create-then-revoke vendor, a create whose answer does not read, or whose key cannot be
/// stored, leaves the key consumers read live: KeyOrphaned with words for that (its id, when the
/// answer gave one), never KeyLost or CurrentKeyRejected. (Before: both, with single-phase words.)
#[tokio::test]
async fn an_overlap_create_that_goes_wrong_is_an_orphan_not_a_lock_out() {
    let bench = bench().await;
    let own = own(&bench, "dualkey", |_| {}).await;
    let (records, rotator) = bench.recorded(own.rotator(&bench));
    // The answer holds no key where declared: kept, and an orphan.
    let account = bench.account("dualkey").await;
    let arn = bench.create_secret(&json_secret("api_key", &account.key), &[(TAG_VENDOR, &own.name)]).await;
    bench.faults(&account, json!({"key_in_undocumented_field": 1})).await;
    let token = own.begin(&bench, &arn).await;
    let result = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "KeyOrphaned");
    let message = result.unwrap_err().to_string();
    assert!(message.contains("still works") && !message.contains("invalidated the old key"), "{message}");
    let record = records.lock().unwrap().last().cloned().unwrap();
    let metrics = (&record["KeyLost"], &record["CurrentKeyRejected"], &record["KeyOrphaned"]);
    assert_eq!(metrics, (&json!(0), &json!(0), &json!(1)), "{record}");
    assert_eq!(bench.rescues(&arn).await.len(), 1, "the answer is kept");

    // The key made cannot be stored: its id is named.
    let account = bench.account("dualkey").await;
    let arn = bench.create_secret(&json_secret("api_key", &account.key), &[(TAG_VENDOR, &own.name)]).await;
    let token = own.begin(&bench, &arn).await;
    bench.moto_faults("PutSecretValue", &arn, 10_000, 500, "InternalServiceError").await;
    let result = bench.step(&rotator, "createSecret", &arn, &token).await;
    bench.moto_fault(json!({"Operation": "PutSecretValue", "SecretId": arn, "Clear": true})).await;
    assert_eq!(error_type(&result), "KeyOrphaned");
    let message = result.unwrap_err().to_string();
    let live = bench.live_keys(&account).await;
    let made = live.iter().find(|(key, _)| **key != account.key).map(|(_, id)| id.clone()).unwrap();
    assert!(message.contains(&format!("Its id is {made}")) && message.contains("still works"), "{message}");
    let record = records.lock().unwrap().last().cloned().unwrap();
    let metrics = (&record["KeyLost"], &record["CurrentKeyRejected"], &record["KeyOrphaned"]);
    assert_eq!(metrics, (&json!(0), &json!(0), &json!(1)), "{record}");
}

/// A create mark is cleared by `repair --apply` only when its rotation stored its key; the
/// runbook names the create's time and how to tell the orphan from other secrets' keys, never
/// "the id no label names". A create answered with a redirect made nothing: its mark goes, and
/// the retry creates. (Before: repair cleared every mark, and a redirect was a false orphan.)
#[tokio::test]
async fn a_create_mark_is_cleared_only_when_stale_and_a_redirect_is_no_orphan() {
    let bench = bench().await;
    let own = own(&bench, "dualkey", |_| {}).await;
    let rotator = own.rotator(&bench);
    let account = bench.account("dualkey").await;
    let arn = bench.create_secret(&json_secret("api_key", &account.key), &[(TAG_VENDOR, &own.name)]).await;
    bench.faults(&account, json!({"hang_after_rotate": 6})).await;
    let token = own.begin(&bench, &arn).await;
    let time_left = Duration::from_secs(10);
    let result = bench.step_with(&rotator, event("createSecret", &arn, &token), time_left).await;
    assert_eq!(error_type(&result), "KeyOrphaned");
    let message = result.unwrap_err().to_string();
    assert!(message.contains("created at about") && message.contains("Never revoke a key a secret holds"));
    assert!(!message.contains("no ROTATION_KEY_ID label of this secret names"), "{message}");
    let mark = async |arn: &str, token: &str| {
        let stages = bench.stages(arn).await;
        stages.values().flatten().any(|label| label.starts_with(&format!("ROTATION_CREATING.{token}.")))
    };
    // A retry reports the orphan once it has asked about the key consumers read: when the vendor
    // refuses it, that is the lock-out, not an orphan.
    let result = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "KeyOrphaned");
    assert!(result.unwrap_err().to_string().contains("accepted it just now"));
    bench.faults(&account, json!({"fail_verifications": 100})).await;
    let (records, recorded) = bench.recorded(own.rotator(&bench));
    let result = bench.step(&recorded, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "KeyOrphaned");
    assert!(result.unwrap_err().to_string().contains("gave no verdict"));
    assert_eq!(records.lock().unwrap().last().unwrap()["KeyStateUnknown"], 1, "no verdict pages");
    bench.faults(&account, json!({"fail_verifications": 0, "refuse_verifications": 100})).await;
    let result = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "VendorRejectedKey");
    assert!(result.unwrap_err().to_string().contains("called the create at about"));
    bench.faults(&account, json!({"refuse_verifications": 0})).await;
    assert_eq!(bench.counter(&account, "rotate_calls").await, 1, "never created twice");
    let (code, said) = run(&bench, &["repair", &arn, "--apply"]);
    assert!(said.contains("repair does not clear this mark"), "{code}: {said}");
    assert!(mark(&arn, &token).await, "the mark stays: {said}");
    assert_eq!(bench.counter(&account, "rotate_calls").await, 1, "never created twice");

    // A mark whose rotation stored its key is stale: repair clears it.
    let account = bench.account("dualkey").await;
    let arn = bench.create_secret(&json_secret("api_key", &account.key), &[(TAG_VENDOR, &own.name)]).await;
    let token = own.begin(&bench, &arn).await;
    assert_eq!(bench.step(&rotator, "createSecret", &arn, &token).await.unwrap(), Outcome::Done);
    let current = labelled(&bench, &arn, "AWSCURRENT").await;
    let label = format!("ROTATION_CREATING.{token}.1765000000");
    let put = bench.sm.update_secret_version_stage().secret_id(&arn).version_stage(&label);
    put.move_to_version_id(&current).send().await.expect("a mark left behind");
    let (_, said) = run(&bench, &["repair", &arn, "--apply"]);
    assert!(said.contains(&format!("cleared {label}")), "{said}");
    assert!(!mark(&arn, &token).await, "{said}");

    // A redirect (307) made nothing: the mark goes, and the retry creates. A 303 (See Other)
    // answers a create that was carried out: an orphan, and the mark stays.
    for (fault, answered, error_is, made) in [
        ("redirect_rotate", "HTTP 307", "Vendor", false),
        ("see_other_rotate", "HTTP 303", "KeyOrphaned", true),
    ] {
        let account = bench.account("dualkey").await;
        let arn =
            bench.create_secret(&json_secret("api_key", &account.key), &[(TAG_VENDOR, &own.name)]).await;
        bench.faults(&account, json!({ fault: 1 })).await;
        let token = own.begin(&bench, &arn).await;
        let result = bench.step(&rotator, "createSecret", &arn, &token).await;
        assert_eq!(error_type(&result), error_is, "{fault}");
        assert!(result.unwrap_err().to_string().contains(answered), "{fault}");
        assert_eq!(mark(&arn, &token).await, made, "{fault}");
        assert_eq!(bench.live_keys(&account).await.len(), if made { 2 } else { 1 }, "{fault}");
        if !made {
            assert_eq!(bench.step(&rotator, "createSecret", &arn, &token).await.unwrap(), Outcome::Done);
        }
    }
}

/// The Vendor Key Rotated event fails for the whole rotation: every step succeeds, but `check`
/// and `status` fail on the move nobody heard of, `repair` says so, and the next rotation's
/// createSecret tells consumers before it rotates. (Before: nothing ever said it again.)
#[tokio::test]
async fn a_move_nobody_heard_of_is_told_before_the_next_rotation() {
    let bench = bench().await;
    let rotator = bench.rotator();
    let (account, arn) = bench.tagged("ringg", &[]).await;
    bench.moto_faults("PutEvents", &arn, 10_000, 500, "InternalException").await;
    let token = bench.rotate(&rotator, &arn).await;
    assert!(bench.events(&arn).await.is_empty());
    let (code, lines, said) = check(&bench, &[&arn, "--no-vendor"]);
    assert_eq!((code, lines["told"].0.as_str()), (1, "fail"), "{said}");
    assert!(lines["told"].1.contains(&token), "{said}");
    let (code, said) = run(&bench, &["status", &arn]);
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("never told"), "{said}");
    let (code, said) = run(&bench, &["repair", &arn]);
    assert!(code == 1 && said.contains("told     consumers were never told"), "{said}");

    bench.moto_fault(json!({"Operation": "PutEvents", "SecretId": arn, "Clear": true})).await;
    let next = bench.begin_rotation(&arn, json!({})).await;
    assert_eq!(bench.step(&rotator, "createSecret", &arn, &next).await.unwrap(), Outcome::Done);
    let events = bench.events(&arn).await;
    assert_eq!(events[0]["versionId"], token.as_str(), "the untold move first: {events:?}");
    assert_eq!(bench.counter(&account, "rotate_calls").await, 2);
    let (_, lines, said) = check(&bench, &[&arn, "--no-vendor"]);
    assert_eq!(lines["told"].0, "ok", "{said}");
}

/// The same, told by `repair --apply`; and a `recover` whose write landed while its answers
/// failed is told the same way. (Before: neither was ever told.)
#[tokio::test]
async fn repair_tells_a_move_nobody_heard_of_including_a_recover_that_landed_unseen() {
    let bench = bench().await;
    let rotator = bench.rotator();
    let (_, arn) = bench.tagged("calcom", &[]).await;
    bench.moto_faults("PutEvents", &arn, 10_000, 500, "InternalException").await;
    let token = bench.rotate(&rotator, &arn).await;
    bench.moto_fault(json!({"Operation": "PutEvents", "SecretId": arn, "Clear": true})).await;
    let (code, said) = run(&bench, &["repair", &arn, "--apply"]);
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("told     consumers are told now"), "{said}");
    let events = bench.events(&arn).await;
    assert_eq!((events.len(), &events[0]["versionId"]), (1, &json!(token)), "{events:?}");

    // recover: the write lands, every answer to it fails (the SDK's retries meet their own write).
    let staged = bench.staged("calcom").await;
    bench.revoke(&staged.account).await;
    let issued = bench.live_key(&staged.account).await;
    bench.moto_faults_after("PutSecretValue", &staged.arn, 3, 500, "InternalServiceError").await;
    let mut child = bench.operator(&["recover", &staged.arn], &[]).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(format!("{issued}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(json_value(&bench.value(&staged.arn, "AWSCURRENT").await), issued, "it landed");
    let (code, lines, said) = check(&bench, &[&staged.arn, "--no-vendor"]);
    assert_eq!((code, lines["told"].0.as_str()), (1, "fail"), "{said}");
    let (code, said) = run(&bench, &["repair", &staged.arn, "--apply"]);
    assert!(said.contains("told     consumers are told now"), "{code}: {said}");
    let told = bench.events(&staged.arn).await;
    assert_eq!(told.last().unwrap()["cause"], "recover", "{told:?}");
}

/// Two invocations of one rotation whose creates both answer without a readable key keep their
/// answers under a label each; createSecret, check and repair see both. (Before: the second took
/// the label off the first, which was left unlabelled.)
#[tokio::test]
async fn two_rescues_keep_a_label_each() {
    let bench = bench().await;
    let own = own(&bench, "dualkey", |_| {}).await;
    let rotator = own.rotator(&bench);
    let account = bench.account_with("dualkey", json!({"key_cap": 3})).await;
    let arn = bench.create_secret(&json_secret("api_key", &account.key), &[(TAG_VENDOR, &own.name)]).await;
    let token = own.begin(&bench, &arn).await;
    bench.faults(&account, json!({"key_in_undocumented_field": 2})).await;
    // The create marks land late: each invocation reads the secret before the other's mark is on.
    let slow = json!({"Operation": "UpdateSecretVersionStage", "SecretId": arn, "Count": 2, "Delay": 1.5, "Pass": true});
    bench.moto_fault(slow).await;
    let (one, two) = tokio::join!(
        bench.step(&rotator, "createSecret", &arn, &token),
        bench.step(&rotator, "createSecret", &arn, &token)
    );
    assert_eq!((error_type(&one), error_type(&two)), ("KeyOrphaned", "KeyOrphaned"));
    assert_eq!(bench.counter(&account, "rotate_calls").await, 2, "both invocations created");
    let rescues = bench.rescues(&arn).await;
    assert_eq!(rescues.len(), 2, "{rescues:?}");
    for (version, label) in &rescues {
        assert_eq!(*label, format!("ROTATION_RESCUE.{version}"));
    }
    let retry = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&retry), "Config");
    let message = retry.unwrap_err().to_string();
    assert!(rescues.iter().all(|(version, _)| message.contains(version.as_str())), "{message}");
    let (_, lines, said) = check(&bench, &[&arn, "--no-vendor"]);
    assert!(rescues.iter().all(|(version, _)| lines["rescue"].1.contains(version.as_str())), "{said}");
    let (code, said) = run(&bench, &["repair", &arn]);
    assert_eq!((code, said.matches("LOCKOUT  version rescue-").count()), (1, 2), "{said}");
}

/// A create answer that names, as the new key's id, the id of a key the secret already holds:
/// that id is not recorded on the new key's version (a later rotation would revoke a key still in
/// use), and the key it belongs to keeps it. (Before: recorded, taking the label off the key it
/// named.)
#[tokio::test]
async fn a_new_keys_id_that_names_a_key_already_held_is_not_recorded() {
    let bench = bench().await;
    let own = own(&bench, "dualkey", |_| {}).await;
    let rotator = own.rotator(&bench);
    let (account, arn, start_id) = own.secret_with_id(&bench, &[]).await;
    bench.faults(&account, json!({"reuse_key_id": 1})).await;
    let token = own.rotate(&bench, &rotator, &arn).await;
    let stages = bench.stages(&arn).await;
    let ids = |version: &str| -> Vec<String> {
        stages[version].iter().filter(|l| l.starts_with("ROTATION_KEY_ID.")).cloned().collect()
    };
    assert!(ids(&token).is_empty(), "{stages:?}");
    let previous = labelled(&bench, &arn, "AWSPREVIOUS").await;
    assert!(ids(&previous).iter().any(|label| label.ends_with(&start_id)), "{stages:?}");
    // The next rotation revokes the starting key, and only it.
    own.rotate(&bench, &rotator, &arn).await;
    assert_eq!(bench.state(&account).await["revoked"], json!([start_id]));
}
