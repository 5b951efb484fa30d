//! The paths around the main rotation keep its guarantees (issue 21): testSecret alone, moves
//! whose answer was an error, unknown outcomes, rescued answers, label room, credentials in URLs.
//! Against moto through the wrapper and the vendor simulator, in both promotion modes.

mod common;

use common::*;
use serde_json::json;

/// testSecret alone (RotateImmediately = false) sends the AWSCURRENT key only where its record
/// says it was issued: after a finished Cal.com rotation and a retag to Ringg, nothing is sent.
#[tokio::test]
async fn test_secret_alone_sends_the_current_key_only_where_it_was_issued() {
    let bench = bench().await;
    let rotator = bench.rotator();
    for copy in [true, false] {
        let (account, arn) = bench.tagged("calcom", &[]).await;
        bench.rotate(&rotator, &arn).await;
        let live = bench.live_key(&account).await;
        bench.tag(&arn, TAG_VENDOR, "ringg").await;
        let calls = bench.calls_with(&live).await;

        // A copy of AWSCURRENT (as moto stages it), or an empty pending version.
        let token = bench.begin_rotation(&arn, json!({"RotateImmediately": !copy})).await;
        let result = bench.step(&rotator, "testSecret", &arn, &token).await;
        assert_eq!(error_type(&result), "Config", "copy: {copy}");
        let message = result.unwrap_err().to_string();
        assert!(message.contains("the key was issued by calcom"), "{message}");
        assert_eq!(bench.calls_with(&live).await, calls, "the live key was sent somewhere (copy: {copy})");

        // Put back, the configuration test passes.
        bench.tag(&arn, TAG_VENDOR, "calcom").await;
        assert_eq!(
            bench.step(&rotator, "testSecret", &arn, &token).await.unwrap(),
            api_key_rotator::Outcome::Done
        );
        assert_eq!(bench.calls_with(&live).await, calls + 1);
    }
}

/// The vendor rotated, its answer never came, and every probe answered 500: nobody can know
/// whether consumers hold a dead key, so the createSecret record raises KeyStateUnknown, which the
/// lock-out alarm watches.
#[tokio::test]
async fn an_unknown_outcome_the_probe_cannot_settle_pages() {
    let bench = bench().await;
    let (records, rotator) = bench.recorded(bench.rotator());
    let Staged { account, arn, token } = bench.staged("ringg").await;
    bench.faults(&account, json!({"hang_after_rotate": 6, "fail_verifications_after_rotate": 1000})).await;
    let time_left = std::time::Duration::from_secs(10);
    let result = bench.step_with(&rotator, event("createSecret", &arn, &token), time_left).await;
    assert_eq!(error_type(&result), "OutcomeUnknown");
    assert!(result.unwrap_err().to_string().contains("could not then say"));
    assert_eq!(bench.counter(&account, "rotate_calls").await, 1);
    let record = records.lock().unwrap().last().cloned().expect("a metrics record");
    assert_eq!(
        (&record["KeyStateUnknown"], &record["KeyLost"], &record["CurrentKeyRejected"]),
        (&json!(1), &json!(0), &json!(0)),
        "{record}"
    );

    // A probe that answers says what happened instead: the vendor refuses the old key.
    bench.faults(&account, json!({"fail_verifications": 0})).await;
    let retry = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&retry), "VendorRejectedKey");
    let record = records.lock().unwrap().last().cloned().unwrap();
    assert_eq!((&record["KeyStateUnknown"], &record["CurrentKeyRejected"]), (&json!(0), &json!(1)));
}

/// While a rescue version (`ROTATION_RESCUE.<version>`) exists, createSecret refuses to rotate: the kept answer may hold
/// the only live key. Nothing is sent; the error names the version and the runbook.
#[tokio::test]
async fn a_rescued_answer_blocks_the_next_rotation() {
    let bench = bench().await;
    let rotator = bench.rotator();
    let Staged { account, arn, token } = bench.staged("calcom").await;
    bench.faults(&account, json!({"key_in_undocumented_field": 1})).await;
    let result = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "KeyLost");
    let (rescue, label) = bench.the_rescue(&arn).await;
    // The rescued key is the live one: the operator recovers it, so it must not be rotated away.
    let requests = bench.counter(&account, "requests").await;
    for retry in [false, true] {
        let token = if retry {
            // A later rotation, once the abandoned one is cleared.
            let clear = bench.sm.update_secret_version_stage().secret_id(&arn).version_stage("AWSPENDING");
            clear.remove_from_version_id(&token).send().await.expect("UpdateSecretVersionStage");
            bench.begin_rotation(&arn, json!({})).await
        } else {
            token.clone()
        };
        let retry = bench.step(&rotator, "createSecret", &arn, &token).await;
        assert_eq!(error_type(&retry), "Config");
        let message = retry.unwrap_err().to_string();
        for wanted in [rescue.as_str(), label.as_str(), "api-key-rotator recover", "Recovery: new key lost"] {
            assert!(message.contains(wanted), "{wanted}: {message}");
        }
    }
    assert_eq!(bench.counter(&account, "requests").await, requests, "nothing was sent");
}

/// Label room counts AWSPREVIOUS (a first rotation), ROTATION_RESCUE, ROTATION_TOLD and the record before the
/// vendor is called: with 18 labels, nothing is sent.
#[tokio::test]
async fn label_room_counts_every_label_a_rotation_adds() {
    let bench = bench().await;
    let rotator = bench.rotator();
    let Staged { account, arn, token } = bench.staged("ringg").await;
    let current = version_with(&bench, &arn, "AWSCURRENT").await.unwrap();
    for n in 0..16 {
        let label = format!("CUSTOM_{n}");
        bench
            .sm
            .update_secret_version_stage()
            .secret_id(&arn)
            .version_stage(&label)
            .move_to_version_id(&current)
            .send()
            .await
            .expect("UpdateSecretVersionStage");
    }
    let result = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "Config");
    let message = result.unwrap_err().to_string();
    assert!(message.contains("AWSPREVIOUS") && message.contains("ROTATION_TARGET.ringg."), "{message}");
    assert_eq!(bench.counter(&account, "requests").await, 0);
}

/// The version that carries `stage`, if any.
async fn version_with(bench: &Bench, arn: &str, stage: &str) -> Option<String> {
    let stages = bench.stages(arn).await;
    stages.into_iter().find(|(_, labels)| labels.iter().any(|l| l == stage)).map(|(version, _)| version)
}

/// Two createSecret invocations of one rotation both got a key; the other stored first. This one's
/// key, maybe the live one, goes into a version of its own (ROTATION_RESCUE), never into nothing.
#[tokio::test]
async fn a_write_conflict_keeps_the_live_key() {
    let bench = bench().await;
    let rotator = bench.rotator();
    let Staged { account, arn, token } = bench.staged("calcom").await;
    bench.faults(&account, json!({"late_status": 1.0})).await;
    let other = json_secret("api_key", "cal_live_other_invocation_key");
    let (result, ()) = tokio::join!(bench.step(&rotator, "createSecret", &arn, &token), async {
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        let put = bench.sm.put_secret_value().secret_id(&arn).client_request_token(&token);
        put.secret_string(&other)
            .version_stages("AWSPENDING")
            .send()
            .await
            .expect("the other invocation's write");
    });
    assert_eq!(error_type(&result), "KeyLost");
    let message = result.unwrap_err().to_string();
    let live = bench.live_key(&account).await;
    assert!(message.contains("another invocation") && !message.contains(&live), "{message}");
    let (rescue, _) = bench.the_rescue(&arn).await;
    assert!(message.contains(&rescue), "{message}");
    assert_eq!(
        bench.value_of_version(&arn, &rescue).await,
        json_secret("api_key", &live),
        "the live key is kept"
    );
    assert_eq!(bench.value(&arn, "AWSPENDING").await, other, "the other invocation's value is untouched");
}

/// finishSecret's stage move lands but answers an error, and every read of the secret after it
/// fails: the step never says "AWSCURRENT is unchanged". Secrets Manager's retry finds the move
/// made with no event sent for it, and tells consumers.
#[tokio::test]
async fn a_move_that_landed_unseen_is_never_called_unchanged_and_is_told_on_retry() {
    let bench = bench().await;
    let rotator = bench.rotator();
    let (account, arn) = bench.tagged("ringg", &[]).await;
    bench.tag(&arn, "rotation:promote", "standard").await;
    let token = bench.begin_rotation(&arn, json!({})).await;
    for step in ["createSecret", "setSecret", "testSecret"] {
        bench.step(&rotator, step, &arn, &token).await.unwrap();
    }
    let (move_lost, reads_fail) = (
        json!({"Operation": "UpdateSecretVersionStage", "SecretId": arn, "Status": 400, "Code": "InvalidParameterException", "After": true}),
        json!({"Operation": "DescribeSecret", "SecretId": arn, "Skip": 1, "Count": 1000, "Status": 400, "Code": "AccessDeniedException"}),
    );
    bench.moto_fault(move_lost).await;
    bench.moto_fault(reads_fail).await;
    let result = bench
        .step_with(&rotator, event("finishSecret", &arn, &token), std::time::Duration::from_secs(3))
        .await;
    assert_eq!(error_type(&result), "Store");
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains("whether AWSCURRENT moved to it is unknown") && !message.contains("unchanged"),
        "{message}"
    );
    bench.moto_fault(json!({"Operation": "DescribeSecret", "SecretId": arn, "Clear": true})).await;
    let live = bench.live_key(&account).await;
    assert_eq!(bench.value(&arn, "AWSCURRENT").await, json_secret("api_key", &live), "the move landed");
    assert!(bench.events(&arn).await.is_empty());

    // Secrets Manager retries finishSecret: the move is made, nobody was told, so it tells.
    assert_eq!(
        bench.step(&rotator, "finishSecret", &arn, &token).await.unwrap(),
        api_key_rotator::Outcome::AlreadyDone
    );
    let told = bench.events(&arn).await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!((&told[0]["versionId"], &told[0]["cause"]), (&json!(token), &json!("rotation")));
    // Told once: a replay tells nobody again.
    bench.step(&rotator, "finishSecret", &arn, &token).await.unwrap();
    assert_eq!(bench.events(&arn).await.len(), 1);
}

/// A process killed right after the step that moves AWSCURRENT (createSecret with early
/// promotion, finishSecret otherwise) wrote the move, before the event: the retry and the later
/// steps tell consumers exactly once.
#[tokio::test]
async fn a_process_killed_between_the_move_and_the_event_still_tells_consumers() {
    let bench = bench().await;
    let rotator = bench.rotator();
    // A bus that takes connections and never answers: the event hangs, and the step is cut there.
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hole_url = format!("http://{}", hole.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = hole.accept().await {
            held.push(socket);
        }
    });
    let stuck = bench.rotator_on(bench.settings_from(bench.env()), bench.event_bus(&hole_url));
    let Staged { account, arn, token } = bench.staged("projectdiscovery").await;
    let mover = if early() { "createSecret" } else { "finishSecret" };
    let steps = ["createSecret", "setSecret", "testSecret", "finishSecret"];
    let at = steps.iter().position(|step| *step == mover).unwrap();
    for step in &steps[..at] {
        bench.step(&rotator, step, &arn, &token).await.unwrap();
    }
    {
        let killed = bench.step(&stuck, mover, &arn, &token);
        tokio::pin!(killed);
        loop {
            tokio::select! {
                result = &mut killed => panic!("{mover} finished before it was killed: {result:?}"),
                _ = tokio::time::sleep(std::time::Duration::from_millis(20)) => {
                    if version_with(&bench, &arn, "AWSCURRENT").await.as_deref() == Some(token.as_str()) {
                        break;
                    }
                }
            }
        }
    } // dropped here: the process is gone, between the move and the event.
    assert!(bench.events(&arn).await.is_empty());
    // Secrets Manager retries the step, then runs the rest.
    for step in &steps[at..] {
        bench.step(&rotator, step, &arn, &token).await.unwrap();
    }
    let told = bench.events(&arn).await;
    assert_eq!(told.len(), 1, "{told:?}");
    let live = bench.live_key(&account).await;
    assert_eq!(told[0]["versionId"], json!(token));
    assert_eq!(
        told[0]["keyFingerprint"],
        json!(api_key_rotator::sensitive::Sensitive::new(live.as_str()).fingerprint())
    );
}

/// The promoting write (early promotion) lands but answers an error, and so does the first
/// fallback: the write that finally answers carries no AWSCURRENT, yet AWSCURRENT moved. The
/// step reads the secret again, and tells consumers at once.
#[tokio::test]
async fn a_promoting_write_that_landed_unseen_is_a_move() {
    let bench = bench().await;
    let (records, rotator) = bench.recorded(bench.rotator());
    let Staged { account, arn, token } = bench.staged("calcom").await;
    bench.moto_faults_after("PutSecretValue", &arn, 2, 400, "AccessDeniedException").await;
    bench.step(&rotator, "createSecret", &arn, &token).await.unwrap();
    let live = bench.live_key(&account).await;
    let moved = bench.value(&arn, "AWSCURRENT").await == json_secret("api_key", &live);
    assert_eq!(moved, early(), "only early promotion moves AWSCURRENT in createSecret");
    let told = bench.events(&arn).await;
    assert_eq!(told.len(), usize::from(early()), "{told:?}");
    let record = records.lock().unwrap().last().cloned().unwrap();
    assert_eq!(record.get("DeadKeyWindow").is_some(), early(), "{record}");
    for step in ["setSecret", "testSecret", "finishSecret"] {
        bench.step(&rotator, step, &arn, &token).await.unwrap();
    }
    assert_eq!(bench.events(&arn).await.len(), 1, "one event for the move");
    assert_eq!(bench.value(&arn, "AWSCURRENT").await, json_secret("api_key", &live));
}

/// Two secrets rotated by this function hold the same key (one as a JSON field, one as a plain
/// string): createSecret on either refuses before any vendor call, naming the other. A secret the
/// search cannot read is skipped, and never blocks a rotation alone.
#[tokio::test]
async fn a_key_another_secret_holds_is_never_rotated_blind() {
    let bench = bench().await;
    let rotator = bench.rotator();
    let account = bench.account("ringg").await;
    let as_field = bench
        .create_secret(
            &json_secret("token", &account.key),
            &[(TAG_VENDOR, "ringg"), (TAG_KEY_FIELD, "token")],
        )
        .await;
    let as_string = bench.create_secret(&account.key, &[(TAG_VENDOR, "ringg")]).await;
    let (first, second) =
        (bench.begin_rotation(&as_field, json!({})).await, bench.begin_rotation(&as_string, json!({})).await);
    for (arn, token, other) in [(&as_field, &first, &as_string), (&as_string, &second, &as_field)] {
        let result = bench.step(&rotator, "createSecret", arn, token).await;
        assert_eq!(error_type(&result), "Config");
        let message = result.unwrap_err().to_string();
        assert!(message.contains(other.as_str()) && message.contains("Shared keys"), "{message}");
        assert!(!message.contains(&account.key), "{message}");
    }
    assert_eq!(bench.counter(&account, "requests").await, 0, "nothing was sent");

    // A secret of the same function that cannot be read (binary): a key this function never
    // stored may be in it, so its first rotation stops, naming it, with nothing sent; once the
    // function stored the key (a later rotation), the rotation goes on. (A vendor of this test's
    // own: the unreadable secret would stop every other test's first rotations too.)
    let (vendor, env) = bench.own_vendor_env("ringg");
    let rotator = bench.rotator_with(bench.settings_from(env.clone()));
    let unreadable = bench
        .sm
        .create_secret()
        .name(unique("binary"))
        .secret_binary(aws_sdk_secretsmanager::primitives::Blob::new(vec![0xff, 0xfe]))
        .tags(aws_sdk_secretsmanager::types::Tag::builder().key(TAG_VENDOR).value(&vendor).build())
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    bench.begin_rotation(&unreadable, json!({})).await;
    let account = bench.account("ringg").await;
    let arn = bench.create_secret(&json_secret("api_key", &account.key), &[(TAG_VENDOR, &vendor)]).await;
    let token = bench.begin_rotation(&arn, json!({})).await;
    let result = bench.step(&rotator, "createSecret", &arn, &token).await;
    assert_eq!(error_type(&result), "Config");
    let message = result.unwrap_err().to_string();
    assert!(message.contains(&unreadable) && message.contains("first rotation"), "{message}");
    assert_eq!(bench.counter(&account, "requests").await, 0, "nothing was sent");
    // The same key stored by a rotation (as after one: its fingerprint records when the vendor
    // issued it): the rotation goes on.
    use api_key_rotator::{sensitive::Sensitive, store::Fingerprint};
    let key = Sensitive::new(&account.key);
    let current = version_with(&bench, &arn, "AWSCURRENT").await.unwrap();
    let plain =
        bench.sm.update_secret_version_stage().secret_id(&arn).version_stage(Fingerprint::of(&key).label());
    plain.remove_from_version_id(&current).send().await.expect("take the onboarding fingerprint off");
    let record = Fingerprint::issued(&key, std::time::SystemTime::now()).label();
    let put = bench.sm.update_secret_version_stage().secret_id(&arn).version_stage(record);
    put.move_to_version_id(&current).send().await.expect("record the key's issue");
    assert_eq!(
        bench.step(&rotator, "createSecret", &arn, &token).await.unwrap(),
        api_key_rotator::Outcome::Done
    );
}
