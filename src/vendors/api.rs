//! What a vendor call says, as outcomes the rotation can reason about ([`Verdict`],
//! [`RotateOutcome`]), the calls as a trait ([`VendorApi`], so tests can run the rotation against an
//! in-memory vendor), and the one way to ask about a key ([`verify_until`], as a [`VerifyPolicy`]
//! says).

use std::fmt;
use std::future::Future;
use std::time::Duration;

use reqwest::Url;
use serde_json::Value;
use tokio::time::{Instant, sleep};
use tracing::info;

use super::Vendor;
use crate::sensitive::{Sensitive, SensitiveBytes};
use crate::timing::{RotateWait, Timing, fits, time_left};

/// What a verify call said about a key.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Accepted,
    /// The vendor says the key is not valid: an answer its documentation gives that meaning
    /// ([`Vendor::refuses_key`]), or a 2xx that does not vouch for the key.
    Refused(u16),
    /// 429; wait this long before asking again.
    RateLimited(Duration),
    /// A 5xx, a 403, a timeout or a network failure: no verdict on the key.
    Unavailable(String),
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Accepted => f.write_str("accepted"),
            Verdict::Refused(status) => write!(f, "refused with HTTP {status}"),
            Verdict::RateLimited(wait) => write!(f, "rate limited for {:.0} s", wait.as_secs_f64()),
            Verdict::Unavailable(reason) => f.write_str(reason),
        }
    }
}

/// What a rotate call did.
#[derive(Debug)]
pub enum RotateOutcome {
    /// The vendor rotated and handed over the new key. `odd` when the answer had the key but not
    /// the shape the vendor documents (the key is stored all the same: the vendor made it live).
    /// `key_id`: the new key's id, at a create-then-revoke vendor, when it reads.
    Rotated { key: Sensitive, odd: bool, key_id: Option<String> },
    /// The request never left this process (no connection): nothing rotated.
    NotSent(String),
    /// 429: the vendor did not rotate; wait this long before asking again.
    RateLimited(Duration),
    /// A 4xx refusal, or a 307 or 308 (not followed): this call rotated nothing.
    Refused(u16),
    /// Timeout, connection lost after sending, or a 5xx: the vendor may have rotated. Only
    /// probing the current key can tell, and rotate is never called again in the same invocation.
    Unknown(String),
    /// A 2xx (the vendor rotated) from which no key could be read: the answer, as far as it came,
    /// to be kept before anything else happens.
    Unreadable(RawAnswer),
    /// A 2xx whose key is the presented one: nothing rotated, or a vendor answering from a stale
    /// cache after it did. An unknown outcome; the answer is kept all the same (the new key may sit
    /// in a field nobody documented).
    Echoed(RawAnswer),
}

/// A 2xx rotate answer that yielded no key. The body may hold the key: it is never logged.
#[derive(Debug)]
pub struct RawAnswer {
    pub status: u16,
    pub body: SensitiveBytes,
    pub why: NoKey,
}

/// Why no key could be read from a 2xx rotate answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoKey {
    /// JSON, but not with the key where the vendor documents it.
    NoKeyField,
    NotJson,
    /// Larger than the client reads (`MAX_BODY`, 1 MiB); only that much was read.
    TooLarge,
    /// The connection broke while the body came.
    BrokenOff,
    /// The body did not finish before the invocation had to move on to storing.
    TimedOut,
    /// The key where the vendor documents it is the presented (current) key itself.
    EchoedKey,
}

impl fmt::Display for NoKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NoKey::NoKeyField => "the answer is JSON but has no key where the vendor documents it",
            NoKey::NotJson => "the answer is not JSON",
            NoKey::TooLarge => "the answer is larger than 1 MiB",
            NoKey::BrokenOff => "the answer broke off",
            NoKey::TimedOut => "the answer's body did not finish in time",
            NoKey::EchoedKey => "the answer's key is the current key itself",
        })
    }
}

/// What a revoke call (create-then-revoke vendors) said.
#[derive(Clone, Debug, PartialEq)]
pub enum Revoke {
    /// 2xx, or 404 (the id is gone already): the key is to be verified dead.
    Done(u16),
    /// Any other answer, or none: the key may still be live.
    Failed(String),
}

/// The vendor calls the rotation makes. [`VendorClient`] is the real one; tests also run the
/// rotation against an in-memory vendor on a paused clock.
pub trait VendorApi: Send + Sync {
    fn verify(
        &self,
        vendor: &'static dyn Vendor,
        base: &Url,
        key: &Sensitive,
        timeout: Duration,
    ) -> impl Future<Output = Verdict> + Send;

    /// Revokes the key `key_id` (create-then-revoke vendors), authenticated with `key`.
    fn revoke(
        &self,
        vendor: &'static dyn Vendor,
        base: &Url,
        key: &Sensitive,
        key_id: &str,
        timeout: Duration,
    ) -> impl Future<Output = Revoke> + Send;

    /// The presented key's own id, as the vendor's verify answer names it
    /// ([`Vendor::presented_key_id`]); `Err` says why there is none.
    fn key_id(
        &self,
        vendor: &'static dyn Vendor,
        base: &Url,
        key: &Sensitive,
        timeout: Duration,
    ) -> impl Future<Output = Result<String, String>> + Send {
        let _ = (base, key, timeout);
        std::future::ready(Err(format!("{} names no key's id", vendor.name())))
    }

    /// The rotate call, waiting for its status and then its body as `wait` says. `path_id`: the
    /// presented key's id, for a rotate path that names it (Cloudflare's roll).
    fn rotate(
        &self,
        vendor: &'static dyn Vendor,
        base: &Url,
        key: &Sensitive,
        body: Option<&Value>,
        path_id: Option<&str>,
        wait: RotateWait,
    ) -> impl Future<Output = RotateOutcome> + Send;
}

/// How a key is asked about, for how long and whether a refusal is final.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyPolicy {
    /// A key that should work now (the current key before a rotate, `check`): within the
    /// pre-check's budget, and a refusal is final.
    Check,
    /// A key that may still be propagating (testSecret, `repair`, `recover`): within the test
    /// step's budget, with refusals retried, because a new key can take seconds to be accepted.
    Test,
}

impl VerifyPolicy {
    /// The longest the asking may take.
    pub fn budget(self, timing: &Timing) -> Duration {
        match self {
            VerifyPolicy::Check => timing.precheck_budget,
            VerifyPolicy::Test => timing.test_budget,
        }
    }

    fn retries_refusals(self) -> bool {
        self == VerifyPolicy::Test
    }
}

/// Asks `vendor` about `key` until it gives a verdict or `until` comes, as `policy` says. Waits out
/// rate limits and outages. Returns the last verdict and the number of calls.
pub async fn verify_until<V: VendorApi>(
    api: &V,
    vendor: &'static dyn Vendor,
    base: &Url,
    key: &Sensitive,
    until: Instant,
    policy: VerifyPolicy,
    timing: &Timing,
) -> (Verdict, u32) {
    let mut backoff = timing.initial_backoff;
    let mut tries = 0;
    loop {
        let left = time_left(until);
        if left.is_zero() {
            return (Verdict::Unavailable("no time left before the deadline".into()), tries);
        }
        tries += 1;
        let verdict = api.verify(vendor, base, key, timing.vendor_timeout.min(left)).await;
        let pause = match &verdict {
            Verdict::Accepted => return (verdict, tries),
            Verdict::Refused(_) if !policy.retries_refusals() => return (verdict, tries),
            Verdict::RateLimited(wait) => *wait,
            Verdict::Refused(_) | Verdict::Unavailable(_) => backoff,
        };
        if !fits(pause, until) {
            return (verdict, tries);
        }
        info!(tries, %verdict, pause_ms = pause.as_millis() as u64, "no verdict yet; asking the vendor again");
        sleep(pause).await;
        backoff = timing.next_backoff(backoff);
    }
}
