//! Time's one home: every timeout and budget the function uses, and how they add up.
//!
//! createSecret is the only step that can lose a key, so its budget is explicit: it starts a
//! rotation only when the time left covers, in this order, the pre-check of the current key, one
//! rotate call with the full vendor timeout, the probe that classifies an unclear answer, and the
//! storage retries. [`Timing::create_budget`] is that sum; the README states it as the function's
//! minimum timeout, and a test keeps the two equal.

use std::time::{Duration, SystemTime};

use aws_sdk_secretsmanager::primitives::{DateTime, DateTimeFormat};
use tokio::time::Instant;

/// How long things may take. One value per process (tests scale it down; the logic is the same).
#[derive(Clone, Debug, PartialEq)]
pub struct Timing {
    /// The longest any one verify request may take, and the least a rotate call waits for its
    /// answer ([`Timing::rotate_wait`] gives it more whenever the invocation can spare it).
    pub vendor_timeout: Duration,
    /// Connecting to a vendor (part of `vendor_timeout`).
    pub vendor_connect_timeout: Duration,
    /// createSecret's check that the vendor still accepts the current key: 5xx retries and 429
    /// waits included. It stops early rather than eat into the rotate's budget.
    pub precheck_budget: Duration,
    /// After a rotate whose outcome is unknown: how long the current key may be probed.
    pub probe_budget: Duration,
    /// Accepting answers the probe needs before it concludes "not rotated", spaced by
    /// `probe_interval`, because vendors read keys through replicas that lag by seconds.
    pub probe_accepts: u32,
    pub probe_interval: Duration,
    /// Storing the new key, retries and the final read-back included.
    pub store_budget: Duration,
    /// Within `store_budget`, kept for reading the pending version back after the writes failed.
    pub store_readback: Duration,
    /// The least time a PutSecretValue attempt is started with.
    pub store_attempt_min: Duration,
    /// How long testSecret keeps retrying a refused new key (propagation can take seconds).
    pub test_budget: Duration,
    /// Every invocation stops this long before the Lambda deadline.
    pub safety_margin: Duration,
    /// First pause between retries; it doubles up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// The wait a 429 without a usable reset header asks for (Cal.com blocks for 60 s).
    pub rate_limit_default: Duration,
    /// The shortest wait after a 429, whatever its headers say (0, or a reset in the past).
    pub rate_limit_min: Duration,
    /// Rotate attempts in one invocation. Another attempt follows only a call that provably
    /// rotated nothing (no connection, or a 429); never one whose outcome is unknown.
    pub rotate_attempts: u32,
    /// Secrets Manager SDK: connecting, and one attempt of any call.
    pub sdk_connect_timeout: Duration,
    pub sdk_attempt_timeout: Duration,
    /// After AWSCURRENT moved: how long finishSecret waits for every replica region to report
    /// `InSync`, polling DescribeSecret every `replica_poll`. The move itself never waits.
    pub replica_budget: Duration,
    pub replica_poll: Duration,
    /// The `Vendor Key Rotated` event: attempts at PutEvents, all within `notify_budget`.
    pub notify_attempts: u32,
    pub notify_budget: Duration,
    /// createSecret's search of the other secrets the function rotates for the current key
    /// (ListSecrets, BatchGetSecretValue): part of the pre-check, never past the rotate's reserve.
    pub shared_scan_budget: Duration,
}

impl Default for Timing {
    /// The production values. They add up to a 60 s minimum (see the module's tests).
    fn default() -> Self {
        Timing {
            vendor_timeout: Duration::from_secs(10),
            vendor_connect_timeout: Duration::from_secs(5),
            precheck_budget: Duration::from_secs(14),
            probe_budget: Duration::from_secs(15),
            probe_accepts: 3,
            probe_interval: Duration::from_secs(2),
            store_budget: Duration::from_secs(20),
            store_readback: Duration::from_secs(3),
            store_attempt_min: Duration::from_secs(1),
            test_budget: Duration::from_secs(20),
            safety_margin: Duration::from_secs(1),
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(4),
            rate_limit_default: Duration::from_secs(60),
            rate_limit_min: Duration::from_secs(1),
            rotate_attempts: 3,
            sdk_connect_timeout: Duration::from_secs(3),
            sdk_attempt_timeout: Duration::from_secs(10),
            replica_budget: Duration::from_secs(30),
            replica_poll: Duration::from_secs(1),
            notify_attempts: 3,
            notify_budget: Duration::from_secs(3),
            shared_scan_budget: Duration::from_secs(4),
        }
    }
}

impl Timing {
    /// What a rotate call needs once it may start: the call itself with the full vendor timeout,
    /// then the probe after an unclear answer, the storage budget and the safety margin.
    pub fn rotate_reserve(&self) -> Duration {
        self.vendor_timeout + self.probe_budget + self.store_budget + self.safety_margin
    }

    /// What createSecret needs left before it calls the vendor at all: the pre-check, then
    /// [`Timing::rotate_reserve`]. This is the function's minimum timeout.
    pub fn create_budget(&self) -> Duration {
        self.precheck_budget + self.rotate_reserve()
    }

    /// How long a rotate call started now waits, with `deadline` the invocation's: for the
    /// answer's status until only the probe, storage and the margin remain; then, once a 2xx has
    /// arrived (the vendor rotated, so the probe has nothing to tell), for its body until only
    /// storage and the margin remain. Never less than `vendor_timeout` for the status.
    pub fn rotate_wait(&self, deadline: Instant) -> RotateWait {
        let floor = later(self.vendor_timeout);
        let status = before(deadline, self.probe_budget + self.store_budget + self.safety_margin).max(floor);
        let body = before(deadline, self.store_budget + self.safety_margin).max(status);
        RotateWait { status, body }
    }

    /// Until when finishSecret waits for the replicas: its own budget, never past the margin.
    pub fn replica_until(&self, deadline: Instant) -> Instant {
        later(self.replica_budget).min(before(deadline, self.safety_margin))
    }

    /// Until when createSecret searches other secrets for the current key: its own budget, never
    /// into what a rotate call needs.
    pub fn shared_scan_until(&self, deadline: Instant) -> Instant {
        later(self.shared_scan_budget).min(before(deadline, self.rotate_reserve()))
    }

    /// Until when the event may be retried: its own budget, never past the margin.
    pub fn notify_until(&self, deadline: Instant) -> Instant {
        later(self.notify_budget).min(before(deadline, self.safety_margin))
    }

    /// What createSecret needs besides [`Timing::create_budget`] at a create-then-revoke vendor
    /// whose previous key is due to be revoked: the revoke call, then asking about the revoked key
    /// until the vendor refuses it (a replica may lag), within the probe's budget.
    pub fn revoke_budget(&self) -> Duration {
        self.vendor_timeout + self.probe_budget
    }

    /// The most createSecret may need to start a rotation: at a create-then-revoke vendor with a
    /// revoke due. Anything done first that is not the rotation's own (telling consumers of a move
    /// nobody heard of) gets only the time beyond it.
    pub fn create_budget_at_most(&self) -> Duration {
        self.create_budget() + self.revoke_budget() + self.mark_reserve()
    }

    /// What createSecret at a create-then-revoke vendor keeps before the rotate's reserve for
    /// reading the secret again and putting the create mark.
    pub fn mark_reserve(&self) -> Duration {
        self.store_readback
    }

    /// The pause after `current`: doubled, capped at `max_backoff`.
    pub fn next_backoff(&self, current: Duration) -> Duration {
        current.saturating_mul(2).min(self.max_backoff)
    }
}

/// A rotate call's two waits ([`Timing::rotate_wait`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RotateWait {
    /// Until when the answer's status may take.
    pub status: Instant,
    /// Until when a 2xx answer's body may take.
    pub body: Instant,
}

/// `time` in RFC 3339, UTC (`None` only for a time out of its range).
pub fn rfc3339(time: SystemTime) -> Option<String> {
    DateTime::from(time).fmt(DateTimeFormat::DateTime).ok()
}

/// How a computed expiry is written in a rotate body (`{"$expiry": FORMAT}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpiryFormat {
    /// `YYYY-MM-DD`, the UTC date the key expires on.
    Date,
    /// RFC 3339, UTC.
    Rfc3339,
    /// Seconds since the Unix epoch.
    EpochS,
    /// Milliseconds since the Unix epoch.
    EpochMs,
    /// Whole days from now, rounded up.
    Days,
    /// Seconds from now.
    Seconds,
}

impl ExpiryFormat {
    /// Every format, by the name a declaration gives it.
    pub const NAMES: &[(&str, ExpiryFormat)] = &[
        ("date", ExpiryFormat::Date),
        ("rfc3339", ExpiryFormat::Rfc3339),
        ("epoch_s", ExpiryFormat::EpochS),
        ("epoch_ms", ExpiryFormat::EpochMs),
        ("days", ExpiryFormat::Days),
        ("seconds", ExpiryFormat::Seconds),
    ];

    pub fn parse(name: &str) -> Option<Self> {
        Self::NAMES.iter().find(|(known, _)| *known == name).map(|(_, format)| *format)
    }

    /// `lifetime` from now, written in this format.
    pub fn value(self, lifetime: Duration) -> serde_json::Value {
        let at = SystemTime::now() + lifetime;
        let since_epoch = at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        // Whole seconds: a vendor that reads a date-time may not take a fraction.
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(since_epoch.as_secs());
        match self {
            ExpiryFormat::Date => rfc3339(at).map(|text| text[..10].to_owned()).into(),
            ExpiryFormat::Rfc3339 => rfc3339(at).into(),
            ExpiryFormat::EpochS => since_epoch.as_secs().into(),
            ExpiryFormat::EpochMs => (since_epoch.as_millis() as u64).into(),
            ExpiryFormat::Days => lifetime.as_secs().div_ceil(DAY).into(),
            ExpiryFormat::Seconds => lifetime.as_secs().into(),
        }
    }
}

const DAY: u64 = 24 * 3600;

/// Why no lifetime can be asked for a new key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LifetimeProblem {
    #[error(
        "its keys live at most {max_days} days, but the schedule needs {needed_days} (the longest gap between two rotations, the grace and a day): rotate more often, or the key would expire before its own rotation"
    )]
    TooShort { max_days: u64, needed_days: u64 },

    #[error(
        "the secret has no rotation schedule to compute its keys' expiry from; give it one (rate() or cron()), or a max_lifetime in the vendor's entry"
    )]
    NoSchedule,
}

/// How long a new key must live: past the next rotation (`gap_days` away at most; `None` when the
/// secret has no schedule) by the grace and a day (a date rounds down), asking twice the gap, room
/// for one failed rotation, and never more than `max` seconds.
pub fn key_lifetime(
    gap_days: Option<u32>,
    grace_seconds: u64,
    max: Option<u64>,
) -> Result<Duration, LifetimeProblem> {
    let Some(gap) = gap_days.map(u64::from) else {
        return max.map(Duration::from_secs).ok_or(LifetimeProblem::NoSchedule);
    };
    let needed = (gap + 1) * DAY + grace_seconds;
    let wanted = (2 * gap * DAY + grace_seconds).max(needed);
    match max {
        Some(max) if max < needed => {
            Err(LifetimeProblem::TooShort { max_days: max / DAY, needed_days: needed.div_ceil(DAY) })
        }
        Some(max) => Ok(Duration::from_secs(wanted.min(max))),
        None => Ok(Duration::from_secs(wanted)),
    }
}

/// How long ago `then` was (zero for a time in the future: clocks differ).
pub fn since(then: SystemTime) -> Duration {
    SystemTime::now().duration_since(then).unwrap_or_default()
}

/// The time left before `deadline`.
pub fn time_left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// Now plus `duration`, saturating at a far future instead of panicking.
pub fn later(duration: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(duration).unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

/// `deadline` minus `margin`, or now if that would be earlier (never panics on a young clock).
pub fn before(deadline: Instant, margin: Duration) -> Instant {
    deadline.checked_sub(margin).unwrap_or_else(Instant::now)
}

/// Whether a pause of `pause` from now ends before `until` (saturating: never panics).
pub fn fits(pause: Duration, until: Instant) -> bool {
    Instant::now().checked_add(pause).is_some_and(|end| end < until)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budgets_add_up_to_the_minimum_the_readme_states() {
        let timing = Timing::default();
        assert_eq!(timing.create_budget(), Duration::from_secs(60));
        let readme = include_str!("../README.md").split_whitespace().collect::<Vec<_>>().join(" ");
        let stated = format!("at least {} s", timing.create_budget().as_secs());
        assert!(
            readme.contains(&format!("**createSecret needs {stated} left**")),
            "README.md must state the minimum the code enforces ({stated})"
        );
        let template = include_str!("../template.yaml");
        let timeout: u64 = template
            .lines()
            .find_map(|line| line.trim().strip_prefix("Timeout:"))
            .and_then(|value| value.trim().parse().ok())
            .expect("template.yaml sets the function's Timeout");
        assert!(
            timeout > timing.create_budget().as_secs(),
            "template.yaml's Timeout {timeout} s is too short"
        );
        // finishSecret: its reads and the move, then the event and the wait for the replicas.
        let finish = 3 * timing.sdk_attempt_timeout + timing.notify_budget + timing.replica_budget;
        assert!(
            timeout > finish.as_secs(),
            "template.yaml's Timeout {timeout} s cuts finishSecret's waits short"
        );
    }

    #[test]
    fn a_rotate_gets_the_full_vendor_timeout_and_the_probe_fits_its_budget() {
        let timing = Timing::default();
        assert!(timing.rotate_reserve() >= timing.vendor_timeout + timing.store_budget);
        // The probe can give its accepting answers, spread out, within its budget.
        let spread = timing.probe_interval * (timing.probe_accepts - 1);
        assert!(spread >= Duration::from_secs(4), "the probe spans a few seconds");
        assert!(spread < timing.probe_budget);
        assert!(timing.store_readback + timing.store_attempt_min < timing.store_budget);
        assert!(timing.vendor_connect_timeout < timing.vendor_timeout);
        assert!(timing.sdk_attempt_timeout < timing.store_budget);
        assert!(timing.replica_poll < timing.replica_budget && timing.notify_attempts >= 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_rotate_waits_as_long_as_the_invocation_can_spare() {
        let timing = Timing::default();
        let waits = |left: u64| {
            let now = Instant::now();
            let wait = timing.rotate_wait(now + Duration::from_secs(left));
            ((wait.status - now).as_secs(), (wait.body - now).as_secs())
        };
        // The template's 90 s after a quick pre-check: 54 s for the status (90 less the probe's
        // 15, storage's 20 and the 1 s margin), 69 s for a 2xx's body (90 less storage and margin).
        assert_eq!(waits(90), (54, 69));
        // At the least a rotate is started with (rotate_reserve), the status gets today's 10 s.
        assert_eq!(waits(timing.rotate_reserve().as_secs()), (10, 25));
        // Never less than 10 s for the status, even with less left (the caller never starts then).
        assert_eq!(waits(5), (10, 10));
    }

    #[test]
    fn a_key_lives_past_the_next_rotation_within_the_vendors_maximum() {
        let days = |n: u64| Duration::from_secs(n * DAY);
        // Twice the gap: a failed rotation leaves the key a whole schedule more.
        assert_eq!(key_lifetime(Some(30), 0, None), Ok(days(60)));
        assert_eq!(key_lifetime(Some(30), 3600, Some(365 * DAY)), Ok(days(60) + Duration::from_secs(3600)));
        // Capped by the vendor's maximum, while that still covers the gap, the grace and a day.
        assert_eq!(key_lifetime(Some(300), 0, Some(365 * DAY)), Ok(days(365)));
        assert_eq!(key_lifetime(Some(364), 0, Some(365 * DAY)), Ok(days(365)));
        assert_eq!(
            key_lifetime(Some(365), 0, Some(365 * DAY)),
            Err(LifetimeProblem::TooShort { max_days: 365, needed_days: 366 })
        );
        // A gap of 0 days (rate(1 hour) rounds so) still asks past tomorrow.
        assert_eq!(key_lifetime(Some(0), 0, None), Ok(days(1)));
        assert_eq!(key_lifetime(None, 0, Some(7 * DAY)), Ok(days(7)));
        assert_eq!(key_lifetime(None, 0, None), Err(LifetimeProblem::NoSchedule));
    }

    #[test]
    fn expiry_formats() {
        let week = Duration::from_secs(7 * DAY);
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap();
        let ms = ExpiryFormat::EpochMs.value(week).as_u64().unwrap();
        assert!((now + week).as_millis() as u64 <= ms + 1000 && ms <= (now + week).as_millis() as u64 + 1000);
        let s = ExpiryFormat::EpochS.value(week).as_u64().unwrap();
        assert!(s.abs_diff((now + week).as_secs()) <= 1);
        let date = ExpiryFormat::Date.value(week);
        let date = date.as_str().unwrap();
        assert_eq!(date.len(), 10);
        assert_eq!(Some(date), ExpiryFormat::Rfc3339.value(week).as_str().map(|t| &t[..10]));
        assert_eq!(ExpiryFormat::Days.value(week + Duration::from_secs(1)), 8);
        assert_eq!(ExpiryFormat::Seconds.value(week), 7 * DAY);
        for (name, format) in ExpiryFormat::NAMES {
            assert_eq!(ExpiryFormat::parse(name), Some(*format));
        }
        assert_eq!(ExpiryFormat::parse("Date"), None);
    }

    #[test]
    fn backoff_doubles_and_saturates() {
        let timing = Timing::default();
        assert_eq!(timing.next_backoff(Duration::from_millis(250)), Duration::from_millis(500));
        assert_eq!(timing.next_backoff(Duration::from_secs(3)), timing.max_backoff);
        assert_eq!(timing.next_backoff(Duration::MAX), timing.max_backoff);
    }
}
