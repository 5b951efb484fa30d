use super::*;

fn seconds_left(instant: Instant) -> u64 {
    instant.saturating_duration_since(Instant::now()).as_secs_f64().round() as u64
}

#[test]
fn deadlines_from_the_runtime_api() {
    let in_a_minute = SystemTime::now() + Duration::from_secs(60);
    assert_eq!(seconds_left(instant_from(in_a_minute)), 60);
    let passed = SystemTime::now() - Duration::from_secs(5);
    assert_eq!(seconds_left(instant_from(passed)), 0);
    // An emulator that sends the timeout (600000 ms) instead of a Unix time.
    assert_eq!(seconds_left(instant_from(UNIX_EPOCH + Duration::from_millis(600_000))), 600);
}

// -- The steps in memory, on a paused clock, with the production timings ---------------------------
//
// These tests are about time and branching: what the invocation does when the vendor is slow, rate
// limits, answers unclearly or reads through a lagging replica, and when storage keeps failing. The
// protocol itself is tested against moto and the vendor simulator (tests/rotation.rs).

use std::collections::HashMap;
use std::sync::Mutex;

use reqwest::Url;
use serde_json::json;
use tokio::time::{sleep, sleep_until};

use crate::config::{Issued, Target};
use crate::config::{Settings, TAG_VENDOR};
use crate::notify::memory::Recorded;
use crate::sensitive::SensitiveBytes;
use crate::store::memory::{ARN, MemoryStore, Put};
use crate::store::{Fingerprint, Payload, ROTATION_RESCUE};

/// The one version kept as a rescue in `store`, and its label.
fn the_rescue(store: &MemoryStore) -> crate::store::Rescue {
    let rescues = store.snapshot().rescues();
    assert_eq!(rescues.len(), 1, "{rescues:?}");
    rescues.into_iter().next().unwrap()
}
use crate::timing::{RotateWait, Timing};
use crate::vendors::{NoKey, RawAnswer, Revoke, RotateOutcome, Vendor};

const OLD: &str = "cal_live_0123456789abcdef0123456789abcdef";
const TOKEN: &str = "token-0001";

/// What the fake vendor does with one rotate call.
#[derive(Clone, Copy, Debug)]
enum Rotate {
    /// Rotates and answers after its delay (cut off by the caller's timeout).
    Works,
    /// Rotates, then answers 500.
    RotatesThenFails,
    /// Answers 500 without rotating.
    FailsFirst,
    RateLimited(Duration),
    /// Answers 200 with the presented key.
    SameKey,
    /// The connection fails after this long: nothing reaches the vendor.
    NotSent(Duration),
    /// Rotates and never answers, whatever the timeout (a client that misbehaves).
    Hangs,
    /// Rotates, answers its status after the delay and its body this much later.
    SlowBody(Duration),
    /// Rotates, then answers 2xx with the key in a field nobody documented.
    NoKey,
    /// Rotates, then answers 2xx with the presented (now dead) key, from a stale cache.
    EchoOld,
}

/// One vendor account with one live key, a read replica that can lag, and scripted answers.
struct FakeVendor {
    state: Mutex<VendorState>,
}

struct VendorState {
    live: String,
    /// The key before the last rotation and until when a lagging replica still accepts it.
    stale: Option<(String, Instant)>,
    replica_lag: Duration,
    rotate_delay: Duration,
    verify_delay: Duration,
    rotates: Vec<Rotate>,
    verifies: Vec<Verdict>,
    rotate_timeouts: Vec<Duration>,
    verify_times: Vec<Instant>,
    issued: u32,
}

impl FakeVendor {
    fn new() -> Self {
        FakeVendor {
            state: Mutex::new(VendorState {
                live: OLD.into(),
                stale: None,
                replica_lag: Duration::ZERO,
                rotate_delay: Duration::from_millis(200),
                verify_delay: Duration::ZERO,
                rotates: Vec::new(),
                verifies: Vec::new(),
                rotate_timeouts: Vec::new(),
                verify_times: Vec::new(),
                issued: 0,
            }),
        }
    }

    fn with(self, change: impl FnOnce(&mut VendorState)) -> Self {
        change(&mut self.state.lock().unwrap());
        self
    }

    fn live(&self) -> String {
        self.state.lock().unwrap().live.clone()
    }

    fn rotate_timeouts(&self) -> Vec<Duration> {
        self.state.lock().unwrap().rotate_timeouts.clone()
    }

    fn verify_times(&self) -> Vec<Instant> {
        self.state.lock().unwrap().verify_times.clone()
    }
}

impl VendorApi for FakeVendor {
    /// The fake's vendors are single-phase: nothing to revoke.
    async fn revoke(
        &self,
        _vendor: &'static dyn Vendor,
        _base: &Url,
        _key: &Sensitive,
        _key_id: &str,
        _timeout: Duration,
    ) -> Revoke {
        Revoke::Failed("single-phase".into())
    }

    async fn verify(
        &self,
        _vendor: &'static dyn Vendor,
        _base: &Url,
        key: &Sensitive,
        timeout: Duration,
    ) -> Verdict {
        let delay = self.state.lock().unwrap().verify_delay;
        sleep(delay.min(timeout)).await;
        if delay > timeout {
            return Verdict::Unavailable("timed out".into());
        }
        let mut state = self.state.lock().unwrap();
        state.verify_times.push(Instant::now());
        if !state.verifies.is_empty() {
            return state.verifies.remove(0);
        }
        let stale =
            state.stale.as_ref().is_some_and(|(old, until)| old == key.expose() && Instant::now() < *until);
        if state.live == key.expose() || stale { Verdict::Accepted } else { Verdict::Refused(401) }
    }

    async fn rotate(
        &self,
        _vendor: &'static dyn Vendor,
        _base: &Url,
        key: &Sensitive,
        _body: Option<&Value>,
        _path_id: Option<&str>,
        wait: RotateWait,
    ) -> RotateOutcome {
        let timeout = wait.status.saturating_duration_since(Instant::now());
        let (script, delay) = {
            let mut state = self.state.lock().unwrap();
            state.rotate_timeouts.push(timeout);
            if state.live != key.expose() {
                return RotateOutcome::Refused(401);
            }
            let script = if state.rotates.is_empty() { Rotate::Works } else { state.rotates.remove(0) };
            match script {
                Rotate::RateLimited(wait) => return RotateOutcome::RateLimited(wait),
                Rotate::FailsFirst => return RotateOutcome::Unknown("HTTP 500".into()),
                Rotate::SameKey => {
                    return RotateOutcome::Rotated { key: key.clone(), odd: false, key_id: None };
                }
                Rotate::NotSent(_) => {}
                Rotate::Hangs => {
                    state.issued += 1;
                    state.live = format!("cal_live_{:032x}", state.issued);
                }
                Rotate::Works
                | Rotate::RotatesThenFails
                | Rotate::SlowBody(_)
                | Rotate::NoKey
                | Rotate::EchoOld => {
                    state.issued += 1;
                    let fresh = format!("cal_live_{:032x}", state.issued);
                    let old = std::mem::replace(&mut state.live, fresh);
                    state.stale = Some((old, Instant::now() + state.replica_lag));
                }
            }
            (script, state.rotate_delay)
        };
        if matches!(script, Rotate::Hangs) {
            std::future::pending::<()>().await;
        }
        if let Rotate::NotSent(after) = script {
            sleep(after).await;
            return RotateOutcome::NotSent("could not connect".into());
        }
        if matches!(script, Rotate::RotatesThenFails) {
            return RotateOutcome::Unknown("HTTP 500".into());
        }
        if delay > timeout {
            sleep(timeout).await;
            return RotateOutcome::Unknown("timed out".into());
        }
        sleep(delay).await;
        match script {
            // The documented field echoes the old key; the new one sits in a field nobody documented.
            Rotate::EchoOld => RotateOutcome::Echoed(RawAnswer {
                status: 200,
                body: SensitiveBytes::new(
                    format!(r#"{{"data":{{"apiKey":"{}","next":"{}"}}}}"#, key.expose(), self.live())
                        .into_bytes(),
                ),
                why: NoKey::EchoedKey,
            }),
            Rotate::NoKey => RotateOutcome::Unreadable(RawAnswer {
                status: 200,
                body: SensitiveBytes::new(format!(r#"{{"data":{{"key":"{}"}}}}"#, self.live()).into_bytes()),
                why: NoKey::NoKeyField,
            }),
            Rotate::SlowBody(body_delay) if Instant::now() + body_delay > wait.body => {
                sleep_until(wait.body).await;
                RotateOutcome::Unreadable(RawAnswer {
                    status: 200,
                    body: SensitiveBytes::new(Vec::new()),
                    why: NoKey::TimedOut,
                })
            }
            Rotate::SlowBody(body_delay) => {
                sleep(body_delay).await;
                RotateOutcome::Rotated { key: Sensitive::new(self.live()), odd: false, key_id: None }
            }
            _ => RotateOutcome::Rotated { key: Sensitive::new(self.live()), odd: false, key_id: None },
        }
    }
}

fn secret(key: &str) -> String {
    json!({"account": "ops", "api_key": key, "n": 1}).to_string()
}

/// The rotator over the in-memory store, the fake vendor and a notifier that keeps its events.
type InMemory = Rotator<MemoryStore, FakeVendor, Recorded>;

fn in_memory(store: MemoryStore, vendor: FakeVendor) -> InMemory {
    let mut settings = Settings::from_lookup(|_| None).unwrap();
    settings.timing = Timing::default();
    Rotator::new(store, vendor, Recorded::default(), settings)
}

fn calcom_store() -> MemoryStore {
    MemoryStore::rotating(&secret(OLD), &[(TAG_VENDOR, "calcom")], 30, TOKEN)
}

async fn step(rotator: &InMemory, step: &str, time_left: Duration) -> Result<Outcome, Error> {
    let event = json!({"Step": step, "SecretId": ARN, "ClientRequestToken": TOKEN});
    rotator.handle(&event, Instant::now() + time_left).await
}

fn kind<T: std::fmt::Debug>(result: &Result<T, Error>) -> &'static str {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(err) => err.error_type(),
    }
}

const MINIMUM: Duration = Duration::from_secs(60);

#[tokio::test(start_paused = true)]
async fn a_vendor_that_answers_in_5_s_gets_the_full_timeout_at_the_minimum() {
    assert_eq!(Timing::default().create_budget(), MINIMUM);
    let vendor = FakeVendor::new().with(|v| v.rotate_delay = Duration::from_secs(5));
    let rotator = in_memory(calcom_store(), vendor);
    assert_eq!(step(&rotator, "createSecret", MINIMUM).await.unwrap(), Outcome::Done);
    // 60 s less the probe (15), storage (20) and the margin (1): 24 s for the status.
    assert_eq!(rotator.vendors.rotate_timeouts(), [Duration::from_secs(24)]);
    assert_eq!(rotator.store.staged(AWSPENDING), Some(secret(&rotator.vendors.live())));
}

#[tokio::test(start_paused = true)]
async fn below_the_minimum_nothing_is_sent() {
    for left in [Duration::from_secs(30), MINIMUM - Duration::from_millis(1)] {
        let rotator = in_memory(calcom_store(), FakeVendor::new());
        let result = step(&rotator, "createSecret", left).await;
        assert_eq!(kind(&result), "Timeout", "{left:?}");
        let message = result.unwrap_err().to_string();
        assert!(message.contains("above 60 s") && message.contains("Nothing was sent"), "{message}");
        assert!(rotator.vendors.verify_times().is_empty() && rotator.vendors.rotate_timeouts().is_empty());
    }
}

#[tokio::test(start_paused = true)]
async fn a_long_rate_limit_on_the_pre_check_never_squeezes_the_rotate() {
    // Cal.com's 60 s block on the pre-check, with the template's 90 s: the pre-check gives up
    // within its budget and rotate is not called with what is left.
    let vendor = FakeVendor::new().with(|v| v.verifies = vec![Verdict::RateLimited(Duration::from_secs(60))]);
    let rotator = in_memory(calcom_store(), vendor);
    let started = Instant::now();
    let result = step(&rotator, "createSecret", Duration::from_secs(90)).await;
    assert_eq!(kind(&result), "Vendor");
    assert!(result.unwrap_err().to_string().contains("rate limited for 60 s"));
    assert!(rotator.vendors.rotate_timeouts().is_empty());
    assert!(started.elapsed() <= Timing::default().precheck_budget);

    // A short one is waited out, and the rotate still gets everything it needs.
    let vendor = FakeVendor::new().with(|v| v.verifies = vec![Verdict::RateLimited(Duration::from_secs(5))]);
    let rotator = in_memory(calcom_store(), vendor);
    assert_eq!(step(&rotator, "createSecret", MINIMUM).await.unwrap(), Outcome::Done);
    // 5 s waited: 55 s left, less the probe, storage and margin.
    assert_eq!(rotator.vendors.rotate_timeouts(), [Duration::from_secs(19)]);
}

#[tokio::test(start_paused = true)]
async fn a_stale_replica_does_not_hide_a_lost_key() {
    // The vendor rotates and answers 500; for 3 s its replica still accepts the old key.
    let vendor = FakeVendor::new().with(|v| {
        v.rotates = vec![Rotate::RotatesThenFails];
        v.replica_lag = Duration::from_secs(3);
    });
    let rotator = in_memory(calcom_store(), vendor);
    let result = step(&rotator, "createSecret", Duration::from_secs(90)).await;
    assert_eq!(kind(&result), "KeyLost");
    assert_eq!(rotator.vendors.rotate_timeouts().len(), 1, "rotate is never called again");
    let probes = rotator.vendors.verify_times();
    assert!(probes.len() >= 3, "probed more than once: {probes:?}");
}

#[tokio::test(start_paused = true)]
async fn an_unknown_outcome_with_the_old_key_still_accepted_is_reported_as_unknown() {
    for script in [Rotate::FailsFirst, Rotate::Works] {
        let vendor = FakeVendor::new().with(|v| {
            v.rotates = vec![script];
            v.rotate_delay = Duration::from_secs(60); // cut off by the status wait (54 s of 90)
            v.replica_lag = Duration::from_secs(3600); // the replica never catches up
        });
        let rotator = in_memory(calcom_store(), vendor);
        let result = step(&rotator, "createSecret", Duration::from_secs(90)).await;
        assert_eq!(kind(&result), "OutcomeUnknown", "{script:?}");
        let message = result.unwrap_err().to_string();
        assert!(
            message.contains("the new key is lost") && message.contains("VendorRejectedKey"),
            "{message}"
        );
        assert!(!message.to_lowercase().contains("nothing was rotated"), "{message}");
        assert_eq!(rotator.vendors.rotate_timeouts().len(), 1, "{script:?}: rotate is never called again");
        // The pre-check, then the probe: three accepting answers spread over seconds.
        let probes = &rotator.vendors.verify_times()[1..];
        assert_eq!(probes.len(), 3, "{script:?}");
        assert!(probes[2] - probes[0] >= Duration::from_secs(4), "{script:?}: {probes:?}");
        assert_eq!(rotator.store.staged(AWSPENDING), None);
    }
}

#[tokio::test(start_paused = true)]
async fn rotate_is_retried_only_after_provably_nothing_and_while_a_whole_attempt_fits() {
    // No connection: nothing was sent, so another attempt is safe.
    let refused = Rotate::NotSent(Duration::ZERO);
    let vendor = FakeVendor::new().with(|v| v.rotates = vec![refused, refused]);
    let rotator = in_memory(calcom_store(), vendor);
    assert_eq!(step(&rotator, "createSecret", MINIMUM).await.unwrap(), Outcome::Done);
    assert_eq!(rotator.vendors.rotate_timeouts().len(), 3);
    // Connections that fail slowly: a third attempt would start without its whole reserve.
    let slow = Rotate::NotSent(Duration::from_secs(8));
    let vendor = FakeVendor::new().with(|v| v.rotates = vec![slow, slow, slow]);
    let rotator = in_memory(calcom_store(), vendor);
    let result = step(&rotator, "createSecret", MINIMUM).await;
    assert_eq!(kind(&result), "Vendor");
    assert!(result.unwrap_err().to_string().contains("Nothing was rotated"));
    assert_eq!(rotator.vendors.rotate_timeouts().len(), 2);
    assert_eq!(rotator.vendors.live(), OLD);

    // A 429 whose reset leaves enough time is waited out; then the rotate works.
    let vendor = FakeVendor::new().with(|v| v.rotates = vec![Rotate::RateLimited(Duration::from_secs(20))]);
    let rotator = in_memory(calcom_store(), vendor);
    assert_eq!(step(&rotator, "createSecret", Duration::from_secs(90)).await.unwrap(), Outcome::Done);
    assert_eq!(rotator.vendors.rotate_timeouts().len(), 2);

    // An absurd reset (clamped by the client to a day) is reported, not waited, never a panic.
    for wait in [Duration::from_secs(24 * 3600), Duration::MAX] {
        let vendor = FakeVendor::new().with(|v| v.rotates = vec![Rotate::RateLimited(wait)]);
        let rotator = in_memory(calcom_store(), vendor);
        let result = step(&rotator, "createSecret", Duration::from_secs(90)).await;
        assert_eq!(kind(&result), "Vendor");
        assert!(result.unwrap_err().to_string().contains("HTTP 429"));
        assert_eq!(rotator.vendors.live(), OLD);
    }
}

#[tokio::test(start_paused = true)]
async fn the_current_key_handed_back_is_an_unknown_outcome_never_a_rotation() {
    // Nothing rotated: the probe keeps accepting the key, and that is all it can say.
    let vendor = FakeVendor::new().with(|v| v.rotates = vec![Rotate::SameKey]);
    let rotator = in_memory(calcom_store(), vendor);
    let result = step(&rotator, "createSecret", MINIMUM).await;
    assert_eq!(kind(&result), "OutcomeUnknown");
    assert!(result.unwrap_err().to_string().contains("current key itself"));
    assert_eq!(rotator.store.put_attempts(), 0);
    assert_eq!(rotator.vendors.rotate_timeouts().len(), 1, "rotate is never called again");

    // It rotated and answered from a stale cache: the probe finds the old key refused.
    let (records, rotator) = metered(FakeVendor::new().with(|v| v.rotates = vec![Rotate::EchoOld]));
    let result = step(&rotator, "createSecret", MINIMUM).await;
    assert_eq!(kind(&result), "KeyLost");
    assert_eq!(rotator.vendors.rotate_timeouts().len(), 1, "rotate is never called again");
    assert_eq!(rotator.store.staged(AWSPENDING), None, "the dead key is never stored as a new one");
    assert_eq!(last(&records)["CurrentKeyRejected"], 1);
    // The answer was kept before the probe: the new key in its undocumented field is not lost.
    let rescue = the_rescue(&rotator.store);
    let Some(Payload::Text(kept)) = rotator.store.payload(&rescue.label) else { panic!("no rescue") };
    assert!(kept.expose().contains(&rotator.vendors.live()));
    assert!(result.unwrap_err().to_string().contains(&rescue.label));
}

#[tokio::test(start_paused = true)]
async fn test_secret_pages_when_the_key_consumers_read_is_refused() {
    // A test-only check (RotateImmediately = false) on a pending copy of the current value, the
    // current key revoked: CurrentKeyRejected.
    let (records, rotator) = metered(FakeVendor::new());
    fill_pending(&rotator, Payload::Text(Sensitive::new(secret(OLD)))).await;
    rotator.vendors.state.lock().unwrap().live = "cal_live_revoked".into();
    assert_eq!(kind(&step(&rotator, "testSecret", MINIMUM).await), "VendorRejectedKey");
    assert_eq!(last(&records)["CurrentKeyRejected"], 1);

    // A standard rotation whose new key the vendor refuses, the old key dead too: locked out.
    let (records, rotator) = metered(FakeVendor::new());
    assert_eq!(step(&rotator, "createSecret", MINIMUM).await.unwrap(), Outcome::Done);
    rotator.vendors.state.lock().unwrap().live = "cal_live_revoked".into();
    assert_eq!(kind(&step(&rotator, "testSecret", MINIMUM).await), "VendorRejectedKey");
    assert_eq!(last(&records)["CurrentKeyRejected"], 1);

    // A new key accepted in the standard order: consumers' key was not asked about.
    let (records, rotator) = metered(FakeVendor::new());
    assert_eq!(step(&rotator, "createSecret", MINIMUM).await.unwrap(), Outcome::Done);
    assert_eq!(step(&rotator, "testSecret", MINIMUM).await.unwrap(), Outcome::Done);
    assert!(last(&records).get("CurrentKeyRejected").is_none());
}

/// Puts `value` in the rotation's pending version: the copy of the current value Secrets Manager
/// stages for a test-only run, or whatever a stray write left there.
async fn fill_pending(rotator: &InMemory, value: Payload) {
    let write = crate::store::PendingWrite {
        secret_id: ARN,
        token: TOKEN,
        value: &value,
        rotation_token: None,
        stages: &[AWSPENDING],
    };
    rotator.store.put_pending_once(&write).await.unwrap();
}

/// A rotator over a rotating Cal.com secret whose metrics records are kept, and the records.
fn metered(vendor: FakeVendor) -> (std::sync::Arc<Mutex<Vec<String>>>, InMemory) {
    let records = std::sync::Arc::new(Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&records);
    let metrics = crate::metrics::Metrics::to("Ns".into(), move |line| sink.lock().unwrap().push(line));
    (records, in_memory(calcom_store(), vendor).with_metrics(metrics))
}

fn last(records: &Mutex<Vec<String>>) -> Value {
    serde_json::from_str(records.lock().unwrap().last().expect("a record")).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_2xx_without_a_readable_key_is_stored_before_anything_else() {
    let vendor = FakeVendor::new().with(|v| v.rotates = vec![Rotate::NoKey]);
    let rotator = in_memory(calcom_store(), vendor);
    let result = step(&rotator, "createSecret", MINIMUM).await;
    assert_eq!(kind(&result), "KeyLost");
    let message = result.unwrap_err().to_string();
    let live = rotator.vendors.live();
    // The answer, key and all, in a version of its own that carries its own rescue label alone.
    let rescue = the_rescue(&rotator.store);
    let Some(Payload::Text(kept)) = rotator.store.payload(&rescue.label) else { panic!("no rescue") };
    assert!(kept.expose().contains(&live));
    let version = rescue.version.as_str();
    assert_eq!(rescue.label, format!("{ROTATION_RESCUE}.{version}"));
    assert_eq!(rotator.store.stages_of(version), std::slice::from_ref(&rescue.label));
    assert!(message.contains(version) && message.contains(&rescue.label) && message.contains("recover"));
    assert!(!message.contains(&live), "the message never quotes the answer");
    assert_eq!(rotator.store.staged(AWSPENDING), None);
    assert_eq!(rotator.store.staged(AWSCURRENT), Some(secret(OLD)));
    // A 2xx says the vendor rotated: no probe after the pre-check.
    assert_eq!(rotator.vendors.verify_times().len(), 1);

    // Storage failing to the end: still KeyLost, and the message says the answer is gone too.
    let store = calcom_store();
    store.script_puts(&[Put::Fail; 1000], Duration::from_millis(500));
    let vendor = FakeVendor::new().with(|v| v.rotates = vec![Rotate::NoKey]);
    let rotator = in_memory(store, vendor);
    let result = step(&rotator, "createSecret", MINIMUM).await;
    assert_eq!(kind(&result), "KeyLost");
    assert!(result.unwrap_err().to_string().contains("failed"));
}

#[test]
fn a_rescued_answer_is_text_when_it_can_be_and_never_over_the_limit() {
    use super::rescue::rescue_payload;
    let text = |bytes: &[u8]| rescue_payload(SensitiveBytes::new(bytes.to_vec()), false);
    assert!(matches!(text(b"key=cal_live_x"), (Payload::Text(_), false)));
    assert!(matches!(text(b"\xff\xfecal\x00"), (Payload::Binary(_), false)));
    // 65,535 ASCII bytes and a 2-byte character cut in two: text, cut.
    let mut long = vec![b'a'; 65_535];
    long.extend("é and more".as_bytes());
    let (payload, cut) = text(&long);
    assert!(cut && matches!(payload, Payload::Text(_)) && payload.len() == 65_535);
    let (payload, cut) = text(&vec![0xff; 70_000]);
    assert!(cut && matches!(payload, Payload::Binary(_)) && payload.len() == 65_536);
    // A whole body that ends in half a character is not UTF-8: binary, every byte kept. One that
    // broke off there is text up to the split.
    let half = "key=cal_live_x é".as_bytes();
    let half = &half[..half.len() - 1];
    assert!(matches!(text(half), (Payload::Binary(_), false)));
    let (payload, _) = rescue_payload(SensitiveBytes::new(half.to_vec()), true);
    assert!(matches!(payload, Payload::Text(_)) && payload.len() == half.len() - 1);
}

#[tokio::test(start_paused = true)]
async fn a_slow_status_or_a_slow_body_gets_the_time_the_invocation_can_spare() {
    // 200 at 9 s and its body at 11 s; an answer after 20 s. Both lost their key with one 10 s
    // limit; both are stored now, at the 60 s minimum and with the template's 90 s.
    for (left, delay, body) in [
        (MINIMUM, 9, Rotate::SlowBody(Duration::from_secs(2))),
        (Duration::from_secs(90), 20, Rotate::Works),
        (Duration::from_secs(90), 9, Rotate::SlowBody(Duration::from_secs(30))),
    ] {
        let vendor = FakeVendor::new().with(|v| {
            v.rotates = vec![body];
            v.rotate_delay = Duration::from_secs(delay);
        });
        let rotator = in_memory(calcom_store(), vendor);
        assert_eq!(step(&rotator, "createSecret", left).await.unwrap(), Outcome::Done, "{body:?}");
        assert_eq!(rotator.store.staged(AWSPENDING), Some(secret(&rotator.vendors.live())));
    }
    // A body that never comes in time: reported before the deadline, with storage's time left.
    let vendor = FakeVendor::new().with(|v| {
        v.rotates = vec![Rotate::SlowBody(Duration::from_secs(3600))];
        v.rotate_delay = Duration::from_secs(9);
    });
    let rotator = in_memory(calcom_store(), vendor);
    let deadline = Instant::now() + MINIMUM;
    let event = json!({"Step": "createSecret", "SecretId": ARN, "ClientRequestToken": TOKEN});
    let result = rotator.handle(&event, deadline).await;
    assert_eq!(kind(&result), "KeyLost");
    assert!(result.unwrap_err().to_string().contains("no body"));
    assert!(rotator.store.snapshot().rescues().is_empty(), "nothing to keep");
    assert!(Instant::now() < deadline);
}

#[tokio::test(start_paused = true)]
async fn a_write_that_landed_unseen_is_not_reported_lost() {
    let store = calcom_store();
    store.script_puts(&[Put::LandUnseen; 1000], Duration::from_millis(500));
    let rotator = in_memory(store, FakeVendor::new());
    assert_eq!(step(&rotator, "createSecret", MINIMUM).await.unwrap(), Outcome::Done);
    assert!(rotator.store.put_attempts() > 5, "it kept writing until the deadline neared");
    assert_eq!(rotator.store.staged(AWSPENDING), Some(secret(&rotator.vendors.live())));
}

#[tokio::test(start_paused = true)]
async fn storage_failing_to_the_end_is_a_lost_key_reported_before_the_deadline() {
    for script in [Put::Fail, Put::Deny] {
        let store = calcom_store();
        store.script_puts(&[script; 1000], Duration::from_millis(500));
        let rotator = in_memory(store, FakeVendor::new());
        let deadline = Instant::now() + MINIMUM;
        let result = rotator
            .handle(&json!({"Step": "createSecret", "SecretId": ARN, "ClientRequestToken": TOKEN}), deadline)
            .await;
        assert!(Instant::now() < deadline, "{script:?}: returned before the deadline");
        assert_eq!(kind(&result), "KeyLost", "{script:?}");
        let fingerprint = Sensitive::new(rotator.vendors.live()).fingerprint();
        assert!(result.unwrap_err().to_string().contains(&fingerprint), "{script:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_tag_changed_after_create_never_keeps_the_key_out_of_awscurrent() {
    let rotator = in_memory(calcom_store(), FakeVendor::new());
    assert_eq!(step(&rotator, "createSecret", MINIMUM).await.unwrap(), Outcome::Done);
    // A key lifetime that no longer fits the schedule matters only to the next rotate.
    rotator.store.set_tag("rotation:calcom-days-valid", "7");
    for name in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        assert!(step(&rotator, name, Duration::from_secs(5)).await.is_ok(), "{name}");
    }
    assert_eq!(rotator.store.staged(AWSCURRENT), Some(secret(&rotator.vendors.live())));
}

#[tokio::test(start_paused = true)]
async fn a_slow_pre_check_stops_in_time_to_leave_the_rotate_everything() {
    let timing = Timing::default();
    // Outages on the pre-check that never end: it gives up within its budget, rotate not called.
    let vendor = FakeVendor::new().with(|v| {
        v.verify_delay = Duration::from_secs(5);
        v.verifies = vec![Verdict::Unavailable("HTTP 503".into()); 100];
    });
    let rotator = in_memory(calcom_store(), vendor);
    let started = Instant::now();
    let result = step(&rotator, "createSecret", MINIMUM).await;
    assert_eq!(kind(&result), "Vendor");
    assert!(started.elapsed() <= timing.precheck_budget, "{:?}", started.elapsed());
    assert!(rotator.vendors.rotate_timeouts().is_empty());

    // Slow answers that end in a verdict late in the budget: the rotate still gets all of it, and
    // the key is stored before the deadline.
    let vendor = FakeVendor::new().with(|v| {
        v.verify_delay = Duration::from_secs(3);
        v.verifies = vec![Verdict::Unavailable("HTTP 503".into()); 2];
        v.rotate_delay = Duration::from_secs(9);
    });
    let rotator = in_memory(calcom_store(), vendor);
    let deadline = Instant::now() + MINIMUM;
    let event = json!({"Step": "createSecret", "SecretId": ARN, "ClientRequestToken": TOKEN});
    assert_eq!(rotator.handle(&event, deadline).await.unwrap(), Outcome::Done);
    assert!(Instant::now() < deadline);
    let waits = rotator.vendors.rotate_timeouts();
    assert!(waits.len() == 1 && waits[0] >= timing.vendor_timeout, "{waits:?}");
    assert_eq!(rotator.store.staged(AWSPENDING), Some(secret(&rotator.vendors.live())));
}

#[tokio::test(start_paused = true)]
async fn a_write_cut_off_at_the_deadline_that_lands_late_is_found() {
    // The write hangs past its time and lands a second after being cut off, during the read-back
    // window: the second read finds it.
    let store = calcom_store();
    store.script_puts(&[Put::LandLate(Duration::from_secs(1))], Duration::ZERO);
    let rotator = in_memory(store, FakeVendor::new());
    assert_eq!(step(&rotator, "createSecret", MINIMUM).await.unwrap(), Outcome::Done);
    assert_eq!(rotator.store.put_attempts(), 1);
    assert_eq!(rotator.store.staged(AWSPENDING), Some(secret(&rotator.vendors.live())));
}

#[tokio::test(start_paused = true)]
async fn two_create_secrets_at_once_never_report_a_stored_key_lost() {
    let name = |r: Result<Outcome, Error>| r.map(Outcome::as_str).unwrap_or_else(|e| e.error_type());
    // Two at once: one rotates. The other either sees the old key refused and then the first's
    // key stored, or is refused by the rotate call itself, which rotated nothing.
    let store = calcom_store();
    store.script_puts(&[], Duration::from_millis(500));
    let rotator = in_memory(store, FakeVendor::new());
    let (a, b) =
        tokio::join!(step(&rotator, "createSecret", MINIMUM), step(&rotator, "createSecret", MINIMUM));
    let mut outcomes = [name(a), name(b)];
    outcomes.sort();
    assert!(matches!(outcomes, ["already_done", "done"] | ["Vendor", "done"]), "{outcomes:?}");
    assert_eq!(rotator.vendors.state.lock().unwrap().issued, 1, "one rotation");
    assert_eq!(rotator.store.staged(AWSPENDING), Some(secret(&rotator.vendors.live())));

    // The second starts while the first is storing, and its check of the old key is slow: by the
    // time the vendor refuses the old key, the first has stored the new one. Nothing is wrong.
    let store = calcom_store();
    store.script_puts(&[], Duration::from_millis(500));
    let rotator = in_memory(store, FakeVendor::new());
    let first = step(&rotator, "createSecret", MINIMUM);
    let second = async {
        sleep(Duration::from_millis(300)).await;
        rotator.vendors.state.lock().unwrap().verify_delay = Duration::from_secs(1);
        step(&rotator, "createSecret", MINIMUM).await
    };
    let (a, b) = tokio::join!(first, second);
    assert_eq!(a.unwrap(), Outcome::Done);
    assert_eq!(b.unwrap(), Outcome::AlreadyDone);
}

fn early_store() -> MemoryStore {
    MemoryStore::rotating(&secret(OLD), &[(TAG_VENDOR, "calcom"), ("rotation:promote", "early")], 30, TOKEN)
}

#[tokio::test(start_paused = true)]
async fn early_promotion_makes_the_new_key_current_in_one_write_and_still_tests_it() {
    let rotator = in_memory(early_store(), FakeVendor::new());
    assert_eq!(step(&rotator, "createSecret", MINIMUM).await.unwrap(), Outcome::Done);
    let live = secret(&rotator.vendors.live());
    assert_eq!(rotator.store.staged(AWSCURRENT), Some(live.clone()));
    assert_eq!(rotator.store.staged("AWSPREVIOUS"), Some(secret(OLD)));
    assert_eq!(rotator.store.put_attempts(), 1);
    let verifies = rotator.vendors.verify_times().len();
    assert_eq!(step(&rotator, "setSecret", MINIMUM).await.unwrap(), Outcome::AlreadyDone);
    assert_eq!(step(&rotator, "testSecret", MINIMUM).await.unwrap(), Outcome::Done, "it still verifies");
    assert_eq!(rotator.vendors.verify_times().len(), verifies + 1);
    assert_eq!(step(&rotator, "finishSecret", MINIMUM).await.unwrap(), Outcome::AlreadyDone);
    assert_eq!(rotator.store.staged(AWSCURRENT), Some(live));
}

#[tokio::test(start_paused = true)]
async fn a_refused_promoting_write_falls_back_to_the_standard_one_at_once() {
    // The record refused (say, the label quota): promoted all the same, without it.
    let store = early_store();
    store.script_puts(&[Put::Deny], Duration::ZERO);
    let rotator = in_memory(store, FakeVendor::new());
    assert_eq!(step(&rotator, "createSecret", MINIMUM).await.unwrap(), Outcome::Done);
    assert_eq!(rotator.store.put_attempts(), 2);
    let live = secret(&rotator.vendors.live());
    assert_eq!(rotator.store.staged(AWSCURRENT), Some(live.clone()));
    let meta = rotator.store.snapshot();
    assert!(meta.labels(TOKEN).iter().all(|label| !label.starts_with("ROTATION_TARGET.")), "{meta:?}");

    // AWSCURRENT refused too (an IAM condition on the stages): the standard way.
    let store = early_store();
    store.script_puts(&[Put::Deny, Put::Deny], Duration::ZERO);
    let rotator = in_memory(store, FakeVendor::new());
    assert_eq!(step(&rotator, "createSecret", MINIMUM).await.unwrap(), Outcome::Done);
    assert_eq!(rotator.store.put_attempts(), 3);
    assert_eq!(rotator.store.staged(AWSPENDING), Some(secret(&rotator.vendors.live())));
    assert_eq!(rotator.store.staged(AWSCURRENT), Some(secret(OLD)), "a standard rotation from here");
    for name in ["setSecret", "testSecret", "finishSecret"] {
        assert_eq!(step(&rotator, name, MINIMUM).await.unwrap(), Outcome::Done, "{name}");
    }
    assert_eq!(rotator.store.staged(AWSCURRENT), Some(secret(&rotator.vendors.live())));
}

#[tokio::test(start_paused = true)]
async fn cut_short_after_the_rotate_call_is_never_reported_as_a_harmless_timeout() {
    let vendor = FakeVendor::new().with(|v| v.rotates = vec![Rotate::Hangs]);
    let rotator = in_memory(calcom_store(), vendor);
    let result = step(&rotator, "createSecret", MINIMUM).await;
    assert_eq!(kind(&result), "OutcomeUnknown");
    assert!(result.unwrap_err().to_string().contains("Check that version first"));
}

#[tokio::test(start_paused = true)]
async fn two_create_secrets_in_early_mode_never_rotate_the_promoted_key() {
    // The second reads AWSCURRENT after the first promoted: it must see that the "current" key is
    // this rotation's own, not rotate it away.
    let store = early_store();
    store.script_puts(&[], Duration::from_millis(500));
    let before = store.snapshot();
    let rotator = in_memory(store, FakeVendor::new());
    let first = step(&rotator, "createSecret", MINIMUM);
    let second = async {
        // After the first's write (rotate 200 ms, write 500 ms); its guard and pending check read
        // just before that write landed, its read of AWSCURRENT just after.
        sleep(Duration::from_millis(800)).await;
        rotator.store.serve_stale_once(before);
        step(&rotator, "createSecret", MINIMUM).await
    };
    let (a, b) = tokio::join!(first, second);
    assert_eq!(a.unwrap(), Outcome::Done);
    assert!(b.is_ok(), "{b:?}");
    assert_eq!(rotator.vendors.state.lock().unwrap().issued, 1, "rotated once");
    assert_eq!(rotator.store.staged(AWSCURRENT), Some(secret(&rotator.vendors.live())));
}

#[tokio::test(start_paused = true)]
async fn a_pending_key_goes_only_where_it_was_issued() {
    for (tag, value) in
        [(TAG_VENDOR, "ringg"), ("rotation:base-url", "https://api.cal.eu"), ("rotation:key-field", "token")]
    {
        let rotator = in_memory(calcom_store(), FakeVendor::new());
        assert_eq!(step(&rotator, "createSecret", MINIMUM).await.unwrap(), Outcome::Done);
        let stored = rotator.store.staged(AWSPENDING);
        let asked = rotator.vendors.verify_times().len();
        rotator.store.set_tag(tag, value);
        let result = step(&rotator, "testSecret", MINIMUM).await;
        assert_eq!(kind(&result), "Config", "{tag}");
        let message = result.unwrap_err().to_string();
        assert!(message.contains(tag) && message.contains("changed since createSecret"), "{message}");
        assert_eq!(rotator.vendors.verify_times().len(), asked, "{tag}: nothing was sent");
        assert_eq!(rotator.store.staged(AWSPENDING), stored, "{tag}: the pending version is kept");
    }
}

#[tokio::test(start_paused = true)]
async fn the_current_key_goes_to_no_other_vendor_than_the_one_that_issued_it() {
    let rotator = in_memory(calcom_store(), FakeVendor::new());
    rotator.store.add_labels("v1", &["ROTATION_TARGET.ringg.0123456789ab.0123456789ab"]);
    let result = step(&rotator, "createSecret", MINIMUM).await;
    assert_eq!(kind(&result), "Config");
    assert!(result.unwrap_err().to_string().contains("rotation:vendor changed"));
    assert!(rotator.vendors.verify_times().is_empty() && rotator.vendors.rotate_timeouts().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_rotation_starts_only_with_room_for_every_label_it_adds() {
    let custom: Vec<String> = (0..15).map(|n| format!("CUSTOM_{n}")).collect();
    let custom: Vec<&str> = custom.iter().map(String::as_str).collect();
    // AWSCURRENT, AWSPENDING and 14 more: no room for AWSPREVIOUS, a rescue label, the new key's
    // fingerprint, the current key's (it has none yet) and the record together, so nothing is
    // sent.
    let rotator = in_memory(calcom_store(), FakeVendor::new());
    rotator.store.add_labels("v1", &custom[..14]);
    let result = step(&rotator, "createSecret", MINIMUM).await;
    assert_eq!(kind(&result), "Config");
    let message = result.unwrap_err().to_string();
    let current = Fingerprint::of(&Sensitive::new(OLD)).label();
    for label in
        ["AWSPREVIOUS", "ROTATION_RESCUE.", "ROTATION_FINGERPRINT.<new", &current, "ROTATION_TARGET.calcom."]
    {
        assert!(message.contains(label), "{label}: {message}");
    }
    assert!(rotator.vendors.verify_times().is_empty());
    // 13 more: room for all five; the key is stored with its record and fingerprint, and the
    // current key's is recorded on its version.
    let rotator = in_memory(calcom_store(), FakeVendor::new());
    rotator.store.add_labels("v1", &custom[..13]);
    assert_eq!(step(&rotator, "createSecret", MINIMUM).await.unwrap(), Outcome::Done);
    let stored = rotator.store.stages_of(TOKEN);
    assert!(stored.iter().any(|label| label.starts_with("ROTATION_TARGET.")), "{stored:?}");
    let new = Fingerprint::of(&Sensitive::new(rotator.vendors.live()));
    let print = stored.iter().find_map(|label| Fingerprint::from_label(label)).expect("a fingerprint");
    assert!(
        print.is_of(&Sensitive::new(rotator.vendors.live())) && print.issued_at().is_some(),
        "{stored:?}"
    );
    assert_eq!(print.fingerprint(), new.fingerprint());
    assert!(rotator.store.stages_of("v1").contains(&current));
    // AWSPREVIOUS already on a version, and a fingerprint on the current one: no label added.
    let rotator = in_memory(calcom_store(), FakeVendor::new());
    rotator.store.add_labels("v1", &custom[..13]);
    rotator.store.add_labels("v1", &["AWSPREVIOUS", &current]);
    assert_eq!(step(&rotator, "createSecret", MINIMUM).await.unwrap(), Outcome::Done);
}

#[tokio::test(start_paused = true)]
async fn a_shared_key_or_an_unreadable_list_stops_create_secret_before_any_vendor_call() {
    const FUNCTION: &str = "arn:aws:lambda:us-east-1:123456789012:function:api-key-rotator";
    // Another secret of the same function holds the key, as a plain string.
    let rotator = in_memory(calcom_store(), FakeVendor::new());
    rotator.store.rotated_by_function(FUNCTION, false);
    rotator
        .store
        .add_other("arn:aws:secretsmanager:us-east-1:123456789012:secret:other", &format!(" {OLD} "));
    let result = step(&rotator, "createSecret", MINIMUM).await;
    assert_eq!(kind(&result), "Config");
    let message = result.unwrap_err().to_string();
    assert!(message.contains("secret:other") && !message.contains(OLD), "{message}");
    assert!(rotator.vendors.verify_times().is_empty() && rotator.vendors.rotate_timeouts().is_empty());
    // The list cannot be read, and this function never stored the key: it may be another secret's,
    // so nothing is sent.
    let rotator = in_memory(calcom_store(), FakeVendor::new());
    rotator.store.rotated_by_function(FUNCTION, true);
    let result = step(&rotator, "createSecret", MINIMUM).await;
    assert_eq!(kind(&result), "Config");
    let message = result.unwrap_err().to_string();
    assert!(message.contains("could not be read to its end") && message.contains("ListSecrets"), "{message}");
    assert!(rotator.vendors.verify_times().is_empty() && rotator.vendors.rotate_timeouts().is_empty());
    // A key this function stored (its record on the version) was issued for this secret: the
    // rotation goes on, and says so in its log.
    let rotator = in_memory(calcom_store(), FakeVendor::new());
    rotator.store.rotated_by_function(FUNCTION, true);
    let settings = Settings::from_lookup(|_| None).unwrap();
    let tags = HashMap::from([(TAG_VENDOR.to_owned(), "calcom".to_owned())]);
    let record = Issued::new(&Target::from_tags(&tags, &settings).unwrap(), "api_key").label();
    rotator.store.add_labels("v1", &[&record]);
    assert_eq!(step(&rotator, "createSecret", MINIMUM).await.unwrap(), Outcome::Done);
    // Others with other keys: the rotation goes on.
    let rotator = in_memory(calcom_store(), FakeVendor::new());
    rotator.store.rotated_by_function(FUNCTION, false);
    rotator.store.add_other(
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:other",
        r#"{"api_key":"cal_live_other"}"#,
    );
    assert_eq!(step(&rotator, "createSecret", MINIMUM).await.unwrap(), Outcome::Done);
}

/// A first rotation trusts a complete list only once it shows the secret's own fingerprint:
/// ListSecrets lags behind writes, and a list older than that label may miss a secret made as
/// recently. A later rotation (a key the vendor issued to this secret) goes on.
#[tokio::test(start_paused = true)]
async fn a_first_rotation_waits_for_a_list_that_shows_its_own_fingerprint() {
    const FUNCTION: &str = "arn:aws:lambda:us-east-1:123456789012:function:api-key-rotator";
    let rotator = in_memory(calcom_store(), FakeVendor::new());
    rotator.store.rotated_by_function(FUNCTION, false);
    rotator.store.list_lags();
    let result = step(&rotator, "createSecret", MINIMUM).await;
    assert_eq!(kind(&result), "Config");
    let message = result.unwrap_err().to_string();
    assert!(message.contains(super::create_secret::LIST_BEHIND), "{message}");
    assert!(rotator.vendors.verify_times().is_empty() && rotator.vendors.rotate_timeouts().is_empty());
    // A list that shows the fingerprint just recorded: the rotation goes on.
    let rotator = in_memory(calcom_store(), FakeVendor::new());
    rotator.store.rotated_by_function(FUNCTION, false);
    assert_eq!(step(&rotator, "createSecret", MINIMUM).await.unwrap(), Outcome::Done);
    // A key a rotation stored, the list lagging: a warning, not a refusal.
    let rotator = in_memory(calcom_store(), FakeVendor::new());
    rotator.store.rotated_by_function(FUNCTION, false);
    let issued = Fingerprint::issued(&Sensitive::new(OLD), std::time::SystemTime::now()).label();
    rotator.store.add_labels("v1", &[&issued]);
    rotator.store.list_lags();
    assert_eq!(step(&rotator, "createSecret", MINIMUM).await.unwrap(), Outcome::Done);
}

// -- Golden text ---------------------------------------------------------------------------------
//
// Every errorType, from fixed inputs, as Secrets Manager and the log receive it. A refactor of how
// messages are built must leave this text byte for byte as it is (`UPDATE_GOLDEN=1` rewrites the
// file after a deliberate change; review its diff).

#[tokio::test(start_paused = true)]
async fn every_error_type_renders_as_the_golden_text() {
    let mut text = String::new();
    let mut record = |scenario: &str, result: Result<Outcome, Error>| {
        let error = result.expect_err(scenario);
        text.push_str(&format!("{scenario}\n{}: {error}\n\n", error.error_type()));
    };
    let revoke = |rotator: &InMemory| {
        rotator.vendors.state.lock().unwrap().live = "cal_live_revoked".into();
    };

    let rotator = in_memory(calcom_store(), FakeVendor::new());
    let no_step = json!({"SecretId": ARN, "ClientRequestToken": TOKEN});
    record("an event without a Step", rotator.handle(&no_step, Instant::now() + MINIMUM).await);
    let stranger = json!({"Step": "setSecret", "SecretId": ARN, "ClientRequestToken": "not-a-version"});
    record("a token that is no version", rotator.handle(&stranger, Instant::now() + MINIMUM).await);
    record("too little time", step(&rotator, "createSecret", Duration::from_secs(30)).await);

    let rotator = in_memory(calcom_store(), FakeVendor::new());
    rotator.store.set_tag(TAG_VENDOR, "nope");
    record("an unknown vendor", step(&rotator, "createSecret", MINIMUM).await);

    let rotator = in_memory(calcom_store(), FakeVendor::new());
    fill_pending(&rotator, Payload::Text(Sensitive::new(secret(OLD)))).await;
    record("a pending copy of the current key", step(&rotator, "createSecret", MINIMUM).await);

    let rotator = in_memory(calcom_store(), FakeVendor::new());
    fill_pending(&rotator, Payload::Binary(SensitiveBytes::new(vec![0xff, 0x00]))).await;
    record("a pending SecretBinary", step(&rotator, "createSecret", MINIMUM).await);

    let vendor = FakeVendor::new().with(|v| v.verifies = vec![Verdict::RateLimited(Duration::from_secs(60))]);
    let rotator = in_memory(calcom_store(), vendor);
    record(
        "a long rate limit on the pre-check",
        step(&rotator, "createSecret", Duration::from_secs(90)).await,
    );

    let rotator = in_memory(calcom_store(), FakeVendor::new());
    revoke(&rotator);
    record("the current key refused", step(&rotator, "createSecret", MINIMUM).await);

    let rotator = in_memory(calcom_store(), FakeVendor::new());
    step(&rotator, "createSecret", MINIMUM).await.unwrap();
    rotator.store.set_tag(TAG_VENDOR, "ringg");
    record("the vendor tag changed mid-rotation", step(&rotator, "testSecret", MINIMUM).await);
    rotator.store.set_tag(TAG_VENDOR, "calcom");
    revoke(&rotator);
    record("the new key refused", step(&rotator, "testSecret", MINIMUM).await);

    for (scenario, script, lag) in [
        ("rotated, then a 500", Rotate::RotatesThenFails, Duration::ZERO),
        ("a 500, the old key still accepted", Rotate::FailsFirst, Duration::from_secs(3600)),
        ("a 2xx without a readable key", Rotate::NoKey, Duration::ZERO),
        ("the old key echoed", Rotate::EchoOld, Duration::ZERO),
        ("no answer until the deadline", Rotate::Hangs, Duration::ZERO),
    ] {
        let vendor = FakeVendor::new().with(|v| {
            v.rotates = vec![script];
            v.replica_lag = lag;
        });
        let rotator = in_memory(calcom_store(), vendor);
        record(scenario, step(&rotator, "createSecret", MINIMUM).await);
    }

    let store = calcom_store();
    store.script_puts(&[Put::Fail; 1000], Duration::from_millis(500));
    let rotator = in_memory(store, FakeVendor::new());
    record("storage failing to the end", step(&rotator, "createSecret", MINIMUM).await);

    crate::golden::compare("errors.txt", &text);
    for error_type in [
        "InvalidEvent",
        "NotRotatable",
        "Config",
        "Timeout",
        "VendorRejectedKey",
        "KeyLost",
        "OutcomeUnknown",
        "Vendor",
        "Store",
    ] {
        assert!(text.contains(&format!("\n{error_type}: ")), "no {error_type} in the golden text");
    }
}

// -- After the move: the event never costs a step -----------------------------------------------

#[tokio::test(start_paused = true)]
async fn an_event_that_cannot_be_put_is_retried_briefly_and_never_fails_the_step() {
    let timing = Timing::default();
    for hangs in [false, true] {
        let (records, mut rotator) = metered(FakeVendor::new());
        rotator.notifier = Recorded { failures: Mutex::new(u32::MAX), hangs, ..Recorded::default() };
        for name in ["createSecret", "setSecret", "testSecret"] {
            step(&rotator, name, MINIMUM).await.unwrap();
        }
        let started = Instant::now();
        assert_eq!(step(&rotator, "finishSecret", MINIMUM).await.unwrap(), Outcome::Done, "hangs: {hangs}");
        // Within the event's own budget, whether the bus refuses or never answers.
        assert!(started.elapsed() <= timing.notify_budget, "hangs: {hangs}: {:?}", started.elapsed());
        let attempts = *rotator.notifier.attempts.lock().unwrap();
        assert_eq!(attempts, if hangs { 1 } else { timing.notify_attempts }, "hangs: {hangs}");
        assert_eq!(last(&records)["NotifyFailed"], json!(1));
        assert_eq!(
            rotator.store.staged(AWSCURRENT),
            Some(secret(&rotator.vendors.live())),
            "the key is current"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn the_event_follows_the_move_once_and_names_the_key_by_fingerprint() {
    let (records, rotator) = metered(FakeVendor::new());
    for name in ["createSecret", "setSecret", "testSecret", "finishSecret", "finishSecret"] {
        step(&rotator, name, MINIMUM).await.unwrap();
    }
    let events = rotator.notifier.events.lock().unwrap().clone();
    assert_eq!(events.len(), 1, "one event, from the finishSecret that moved AWSCURRENT");
    let live = Sensitive::new(rotator.vendors.live());
    assert_eq!(events[0].key_fingerprint, Some(live.fingerprint()));
    assert_eq!(
        (events[0].vendor.as_str(), events[0].promote, events[0].version_id.as_str()),
        ("calcom", "standard", TOKEN)
    );
    let finish = records.lock().unwrap().iter().rev().nth(1).cloned().unwrap();
    assert_eq!(serde_json::from_str::<Value>(&finish).unwrap()["NotifyFailed"], json!(0));
}
