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
