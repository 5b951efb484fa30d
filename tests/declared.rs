//! Vendors the deployer declares in `ROTATION_VENDORS` (issue 22), rotated by the same engine as
//! the built-ins, against moto and the vendor simulator: a single-phase one (Acme) and a
//! create-then-revoke one (DualKey, at most two live keys per account).

mod common;

use std::collections::HashMap;

use api_key_rotator::Outcome;
use common::*;
use serde_json::{Value, json};

/// A new DualKey account, and a secret of `vendor` (DualKey's name or another declaration of it)
/// holding its key, tagged with the starting key's id: (account, the secret's ARN, that id).
async fn dualkey_secret(bench: &Bench, vendor: &str) -> (Account, String, String) {
    let account = bench.account("dualkey").await;
    let start_id = bench.live_keys(&account).await[&account.key].clone();
    let tags = [(TAG_VENDOR, vendor), ("rotation:key-id", start_id.as_str())];
    let arn = bench.create_secret(&json_secret("api_key", &account.key), &tags).await;
    (account, arn, start_id)
}

/// A rotator whose function environment declares `extra` besides the simulator's vendors.
fn rotator_declaring(bench: &Bench, extra: Value) -> api_key_rotator::Rotator {
    let mut env = bench.env();
    let mut declared = bench.declarations();
    declared.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    env.insert("ROTATION_VENDORS".into(), declared.to_string());
    bench.rotator_with(bench.settings_from(env))
}

/// DualKey declared under another name with a grace of `seconds`.
fn dualkey_with_grace(bench: &Bench, name: &str, seconds: u64) -> Value {
    let mut declaration = bench.declarations()["dualkey"].clone();
    declaration["overlap"]["grace_seconds"] = json!(seconds);
    json!({ name: declaration })
}

#[tokio::test]
async fn a_declared_single_phase_vendor_rotates_several_times_in_a_row() {
    let bench = bench().await;
    let (records, rotator) = bench.recorded(bench.rotator());
    let (account, arn) = bench.tagged("acme", &[]).await;
    let mut previous = account.key.clone();
    for round in 1..=3 {
        bench.rotate(&rotator, &arn).await;
        let live = bench.live_key(&account).await;
        assert_ne!(live, previous, "round {round}: the vendor rotated");
        assert_eq!(bench.key_in(&arn, "AWSCURRENT").await, live, "round {round}");
        assert_eq!(bench.key_in(&arn, "AWSPREVIOUS").await, previous, "round {round}");
        assert_eq!(bench.live_keys(&account).await.len(), 1, "single-phase: one live key");
        previous = live;
    }
    let state = bench.state(&account).await;
    assert_eq!(state["rotate_calls"], 3);
    assert_eq!(state["last_rotate_body"], json!({"reason": "scheduled"}), "the declared body, as it is");
    let events = bench.events(&arn).await;
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| e["vendor"] == "acme" && e["mode"] == "single-phase"), "{events:?}");
    let records = records.lock().unwrap();
    assert!(records.iter().all(|r| r["Vendor"] == "acme" && r["Failure"] == 0), "{records:?}");
    let finish = records.iter().filter(|r| r["Step"] == "finishSecret").collect::<Vec<_>>();
    assert!(finish.iter().all(|r| r["Mode"] == "single-phase" && r["DeadKeyWindow"].as_f64().is_some()));
}

/// With grace_seconds 0 and the starting key's id in rotation:key-id: three rotations leave
/// exactly the keys of AWSCURRENT and AWSPREVIOUS live, every revoked id was bound from the tag or
/// recorded by the function, and the key consumers held before each rotation works throughout it.
#[tokio::test]
async fn overlap_rotations_keep_the_previous_key_live_and_revoke_only_recorded_ids() {
    let bench = bench().await;
    let (records, rotator) = bench.recorded(bench.rotator());
    let (account, arn, start_id) = dualkey_secret(&bench, "dualkey").await;
    let mut recorded = vec![start_id.clone()];
    for round in 1..=3 {
        let held = bench.key_in(&arn, "AWSCURRENT").await;
        let token = bench.begin_rotation(&arn, json!({})).await;
        for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
            let outcome = bench.step(&rotator, step, &arn, &token).await;
            assert_eq!(outcome.ok(), Some(Outcome::Done), "round {round}, {step}");
            assert!(
                bench.live_keys(&account).await.contains_key(&held),
                "round {round}, {step}: consumers' key refused"
            );
        }
        let current = bench.key_in(&arn, "AWSCURRENT").await;
        let live = bench.live_keys(&account).await;
        assert_eq!(
            live.keys().cloned().collect::<std::collections::BTreeSet<_>>(),
            [current.clone(), held.clone()].into_iter().collect(),
            "round {round}: exactly AWSCURRENT's and AWSPREVIOUS's keys are live"
        );
        recorded.push(live[&current].clone());
        // The new key's id rides on its version.
        let stages = bench.stages(&arn).await;
        assert!(
            stages[&token].iter().any(
                |label| label.starts_with("ROTATION_KEY_ID.dualkey.") && label.ends_with(&live[&current])
            ),
            "round {round}: {stages:?}"
        );
    }
    let revoked: Vec<String> =
        serde_json::from_value(bench.state(&account).await["revoked"].clone()).unwrap();
    assert_eq!(
        revoked,
        recorded[..2],
        "the starting id and the first rotation's, in order, and nothing else"
    );
    let stages = bench.stages(&arn).await;
    let id_labels = stages.values().flatten().filter(|l| l.starts_with("ROTATION_KEY_ID.")).count();
    assert_eq!(id_labels, 2, "revoked ids come off their versions: {stages:?}");
    let events = bench.events(&arn).await;
    assert!(events.iter().all(|e| e["mode"] == "overlap" && e["promote"] == "standard"), "{events:?}");
    let records = records.lock().unwrap();
    for record in records.iter().filter(|r| r["Step"] == "finishSecret") {
        assert_eq!((&record["DeadKeyWindow"], &record["Mode"]), (&json!(0.0), &json!("overlap")), "{record}");
    }
    let creates: Vec<&Value> = records.iter().filter(|r| r["Step"] == "createSecret").collect();
    assert_eq!(creates.len(), 3);
    assert!(creates.iter().all(|r| r["KeyOrphaned"] == 0 && r["CurrentKeyRejected"] == 0), "{creates:?}");
    assert_eq!(creates.iter().filter(|r| r["RevokeFailed"] == 0).count(), 2, "rounds 2 and 3 revoked");
}

#[tokio::test]
async fn inside_the_grace_the_previous_key_is_neither_revoked_nor_replaced() {
    let bench = bench().await;
    let rotator = rotator_declaring(&bench, dualkey_with_grace(&bench, "dualkey-hour", 3600));
    let (account, arn, _) = dualkey_secret(&bench, "dualkey-hour").await;
    bench.rotate(&rotator, &arn).await;
    let token = bench.begin_rotation(&arn, json!({})).await;
    let result = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "Config");
    let message = result.unwrap_err().to_string();
    assert!(message.contains("too soon, the previous key may still be in use until"), "{message}");
    let state = bench.state(&account).await;
    assert_eq!((state["rotate_calls"].as_u64(), state["revoke_calls"].as_u64()), (Some(1), Some(0)));
    assert_eq!(bench.live_keys(&account).await.len(), 2);

    // The grace counts from the move finishSecret dated, not from the version's creation; a move
    // nobody dated (by hand) starts the clock when a rotation first sees it.
    let stages = bench.stages(&arn).await;
    let current = stages.iter().find(|(_, labels)| labels.contains(&"AWSCURRENT".to_owned())).unwrap();
    let since = current
        .1
        .iter()
        .find(|l| l.starts_with("ROTATION_CURRENT_SINCE."))
        .expect("the move is dated")
        .clone();
    let (version, _) = current;
    let remove = bench.sm.update_secret_version_stage().secret_id(&arn).version_stage(&since);
    remove.remove_from_version_id(version).send().await.expect("take the date off");
    let result = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "Config");
    let dated = bench.stages(&arn).await[version].iter().any(|l| l.starts_with("ROTATION_CURRENT_SINCE."));
    assert!(dated, "the clock starts when a rotation first sees an undated move");
    assert_eq!(bench.state(&account).await["revoke_calls"], 0);
}

/// The key consumers read is dead before the previous one is revoked: that is a lock-out (it
/// pages), never a failed revoke, and nothing is revoked or created.
#[tokio::test]
async fn a_dead_current_key_is_a_lock_out_before_any_revoke() {
    let bench = bench().await;
    let (records, rotator) = bench.recorded(bench.rotator());
    let (account, arn, _) = dualkey_secret(&bench, "dualkey").await;
    bench.rotate(&rotator, &arn).await;
    bench.revoke(&account).await; // a person revoked the current key in the dashboard
    let token = bench.begin_rotation(&arn, json!({})).await;
    let result = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "VendorRejectedKey");
    let record = records.lock().unwrap().last().cloned().unwrap();
    assert_eq!(record["CurrentKeyRejected"], 1, "{record}");
    let state = bench.state(&account).await;
    assert_eq!((state["rotate_calls"].as_u64(), state["revoke_calls"].as_u64()), (Some(1), Some(0)));
}

/// Mid-rotation, an accepted pending key beside an accepted current key is the normal state of a
/// create-then-revoke rotation: repair finishes it, and tells consumers.
#[tokio::test]
async fn repair_finishes_an_overlap_rotation_and_a_stored_rotation_clears_its_mark() {
    let bench = bench().await;
    let rotator = bench.rotator();
    let Staged { account, arn, token } = bench.staged("dualkey").await;
    assert_eq!(bench.step(&rotator, "createSecret", &arn, &token).await.unwrap(), Outcome::Done);
    assert_eq!(bench.live_keys(&account).await.len(), 2);
    // A mark left as if the process died between the store and clearing it: the retry clears it.
    let mark = format!("ROTATION_CREATING.{token}");
    let stages = bench.stages(&arn).await;
    let (current, _) = stages.iter().find(|(_, labels)| labels.contains(&"AWSCURRENT".to_owned())).unwrap();
    let put = bench.sm.update_secret_version_stage().secret_id(&arn).version_stage(&mark);
    put.move_to_version_id(current).send().await.expect("put the mark back");
    assert_eq!(bench.step(&rotator, "createSecret", &arn, &token).await.unwrap(), Outcome::AlreadyDone);
    assert!(!bench.stages(&arn).await.values().flatten().any(|label| *label == mark));

    let out = bench.operator(&["repair", &arn, "--apply"], &[]).output().expect("run repair");
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(bench.stages(&arn).await[&token].contains(&"AWSCURRENT".to_owned()), "{said}");
    let events = bench.events(&arn).await;
    assert!(events.iter().any(|e| e["cause"] == "repair" && e["mode"] == "overlap"), "{events:?}");
}

#[tokio::test]
async fn a_revoke_that_does_not_take_stops_before_a_new_key_is_made() {
    let bench = bench().await;
    let (records, rotator) = bench.recorded(bench.rotator());
    let (account, arn, start_id) = dualkey_secret(&bench, "dualkey").await;
    bench.rotate(&rotator, &arn).await;
    let token = bench.begin_rotation(&arn, json!({})).await;
    // A revoke answered 204 that left the key live killed another key or is not applied yet: it
    // pages; a 500 is a revoke that failed.
    for (fault, why, pages) in
        [("ignore_revoke", "yet it still accepted the previous key", 1), ("fail_revoke", "HTTP 500", 0)]
    {
        bench.faults(&account, json!({ fault: 1 })).await;
        let result = bench.step(&rotator, "createSecret", &arn, &token).await;
        assert_eq!(error_type(&result), "Vendor", "{fault}");
        let message = result.unwrap_err().to_string();
        assert!(message.contains(&format!("id {start_id}")) && message.contains(why), "{fault}: {message}");
        assert_eq!(bench.counter(&account, "rotate_calls").await, 1, "{fault}: no new key made");
        let record = records.lock().unwrap().last().cloned().unwrap();
        assert_eq!(
            (&record["RevokeFailed"], &record["WrongKeyRevoked"]),
            (&json!(1), &json!(pages)),
            "{record}"
        );
    }
    // The faults spent, Secrets Manager's retry goes on: the id recorded is revoked.
    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        assert_eq!(bench.step(&rotator, step, &arn, &token).await.ok(), Some(Outcome::Done), "{step}");
    }
    let revoked = bench.state(&account).await["revoked"].clone();
    assert_eq!(revoked, json!([start_id]));
    assert_eq!(bench.live_keys(&account).await.len(), 2);
}

/// A vendor declared with overlap that does not keep two keys: the key consumers read dies at the
/// create, so createSecret pages (CurrentKeyRejected) and promotes the new key at once.
#[tokio::test]
async fn a_misdeclared_overlap_pages_and_promotes_at_once() {
    let bench = bench().await;
    let (records, rotator) = bench.recorded(bench.rotator());
    let Staged { account, arn, token } = bench.staged("dualkey").await;
    bench.faults(&account, json!({"no_overlap": 1})).await;
    assert_eq!(bench.step(&rotator, "createSecret", &arn, &token).await.unwrap(), Outcome::Done);
    assert_eq!(bench.key_in(&arn, "AWSCURRENT").await, bench.live_key(&account).await, "promoted at once");
    let record = records.lock().unwrap().last().cloned().unwrap();
    assert_eq!(record["CurrentKeyRejected"], 1, "{record}");
    let events = bench.events(&arn).await;
    assert_eq!(events.len(), 1, "consumers are told of the move");
    for step in ["setSecret", "testSecret", "finishSecret"] {
        assert!(bench.step(&rotator, step, &arn, &token).await.is_ok(), "{step}");
    }
}

/// The vendor's answer never came: it may have made a key. Neither this invocation nor Secrets
/// Manager's retry calls create again, and the key consumers read still works.
#[tokio::test]
async fn an_unknown_create_is_never_repeated() {
    let bench = bench().await;
    let (records, rotator) = bench.recorded(bench.rotator());
    let Staged { account, arn, token } = bench.staged("dualkey").await;
    bench.faults(&account, json!({"hang_after_rotate": 6})).await;
    let time_left = std::time::Duration::from_secs(10);
    let result = bench.step_with(&rotator, event("createSecret", &arn, &token), time_left).await;
    assert_eq!(error_type(&result), "KeyOrphaned");
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains("may hold a new key no one has") && message.contains("created at about"),
        "{message}"
    );
    assert!(
        message.contains("--remove-from-version-id"),
        "the runbook says how to take the mark off: {message}"
    );
    let record = records.lock().unwrap().last().cloned().unwrap();
    assert_eq!((&record["KeyOrphaned"], &record["KeyStateUnknown"]), (&json!(1), &json!(0)), "{record}");
    let retry = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&retry), "KeyOrphaned");
    assert_eq!(bench.counter(&account, "rotate_calls").await, 1, "never created twice");
    assert!(bench.live_keys(&account).await.contains_key(&account.key));
}

#[tokio::test]
async fn a_declared_vendors_secret_takes_no_base_url_tag_and_nothing_is_sent() {
    let bench = bench().await;
    let rotator = bench.rotator();
    let account = bench.account("acme").await;
    let base = bench.sim_base("acme");
    let arn = bench.create_secret(&account.key, &[(TAG_VENDOR, "acme"), (TAG_BASE_URL, &base)]).await;
    let token = bench.begin_rotation(&arn, json!({})).await;
    let result = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "Config");
    assert!(result.unwrap_err().to_string().contains("remove the rotation:base-url tag"));
    assert_eq!(bench.calls_with(&account.key).await, 0);
    // Without the declaration the name is unknown: nothing is sent either.
    let bare = bench.rotator_with(bench.settings_from(bench.vendor_env()));
    let arn = bench.create_secret(&account.key, &[(TAG_VENDOR, "acme")]).await;
    let token = bench.begin_rotation(&arn, json!({})).await;
    let result = bench.step(&bare, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "Config");
    assert!(result.unwrap_err().to_string().contains("ROTATION_VENDORS"));
    assert_eq!(bench.calls_with(&account.key).await, 0);
}

/// `check` ARGS as an operator runs it, parsed from `--json`: (exit code, the report's lines by
/// name as (status, detail)), and the raw output (for what it must not show).
fn check(bench: &Bench, args: &[&str]) -> (i32, HashMap<String, (String, String)>, String) {
    let out = bench.operator(&[&["check", "--json"], args].concat(), &[]).output().expect("run check");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines = check_lines(&stdout).into_iter().map(|(name, (status, detail, _))| (name, (status, detail)));
    (out.status.code().unwrap(), lines.collect(), stdout + &String::from_utf8_lossy(&out.stderr))
}

/// check, for declared vendors: a verify call that accepts a random non-key fails; the ids a
/// create-then-revoke rotation needs are noted; a create mark fails; the variables' size is shown.
#[tokio::test]
async fn check_tells_whether_a_declared_vendor_can_be_rotated_safely() {
    let bench = bench().await;
    // DualKey before its first rotation, its starting id in the tag.
    let (account, arn, _) = dualkey_secret(&bench, "dualkey").await;
    let (code, lines, said) = check(&bench, &[&arn, "--function", FUNCTION]);
    assert!(!said.contains(&account.key));
    assert_eq!(lines["verify"].0, "ok", "{said}");
    assert!(lines["verify"].1.contains("refuses a random non-key"), "{said}");
    assert_eq!(lines["key ids"].0, "ok", "{said}");
    assert!(lines["key ids"].1.contains("bound from rotation:key-id"), "{said}");
    assert_eq!(lines["orphan"].0, "ok");
    assert!(lines["variables"].1.contains("of Lambda's 4096 bytes"), "{said}");
    assert_eq!(code, 1, "rotation is not turned on: {said}");

    // Without the tag, the starting key's id is unknown: a note, not a failure.
    let other = bench.account("dualkey").await;
    let arn = bench.create_secret(&json_secret("api_key", &other.key), &[(TAG_VENDOR, "dualkey")]).await;
    let (_, lines, said) = check(&bench, &[&arn, "--function", FUNCTION]);
    assert_eq!(lines["key ids"].0, "note", "{said}");
    assert!(lines["key ids"].1.contains("revoke it by hand"), "{said}");

    // A create mark left behind fails the orphan line.
    let rotator = bench.rotator();
    let Staged { account, arn, token } = bench.staged("dualkey").await;
    bench.faults(&account, json!({"hang_after_rotate": 6})).await;
    let time_left = std::time::Duration::from_secs(10);
    let result = bench.step_with(&rotator, event("createSecret", &arn, &token), time_left).await;
    assert_eq!(error_type(&result), "KeyOrphaned");
    let (code, lines, said) = check(&bench, &[&arn]);
    assert_eq!((lines["orphan"].0.as_str(), code), ("fail", 1), "{said}");

    // A declared verify call that accepts anything (the simulator's health route) cannot tell keys
    // apart: check fails it.
    let open = unique("open-rotator");
    let mut env = bench.env();
    let mut declared = bench.declarations();
    let mut acme = declared["acme"].clone();
    acme["base_url"] = json!(bench.sim);
    acme["verify"] = json!({"method": "GET", "path": "/_sim/health"});
    declared["acme-open"] = acme;
    env.insert("ROTATION_VENDORS".into(), declared.to_string());
    bench.deploy(&open, &env, 90, 256).await;
    let account = bench.account("acme").await;
    let arn = bench.create_secret(&account.key, &[(TAG_VENDOR, "acme-open")]).await;
    let (code, lines, said) = check(&bench, &[&arn, "--function", &open]);
    assert_eq!((lines["verify"].0.as_str(), code), ("fail", 1), "{said}");
    assert!(lines["verify"].1.contains("cannot tell keys apart"), "{said}");
    assert!(!said.contains(&account.key));
}
