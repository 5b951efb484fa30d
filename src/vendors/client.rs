//! The HTTP side of every vendor: send a verify or rotate call, classify the answer (as the
//! outcomes in `api.rs`).
//!
//! Bodies are parsed here and dropped here: they are never logged (Ringg's verify answer and every
//! rotate answer contain a key).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{ACCEPT_ENCODING, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Response, StatusCode, Url};
use serde_json::Value;
use tokio::time::{Instant, timeout_at};
use tracing::debug;

use super::api::{NoKey, RawAnswer, Revoke, RotateOutcome, VendorApi, Verdict};
use super::{Auth, Endpoint, KEY_ID_PLACEHOLDER, Vendor};
use crate::sensitive::{Sensitive, SensitiveBytes};
use crate::timing::{RotateWait, Timing};

/// Answers larger than this are not read. A key answer is tiny, but a vendor may pad it with
/// profile data; a megabyte is far more than any of them sends.
const MAX_BODY: usize = 1024 * 1024;
/// The longest wait a rate-limit header is taken at: beyond it, "longer than we can wait".
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(24 * 3600);

/// The one HTTP client for vendor calls, built once per process.
#[derive(Clone, Debug)]
pub struct VendorClient {
    http: reqwest::Client,
    rate_limit_default: Duration,
    rate_limit_min: Duration,
}

impl VendorClient {
    /// No redirects (a redirect could carry a key to a host nobody approved), no proxies from the
    /// environment, rustls with the platform's roots.
    pub fn new(timing: &Timing) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(timing.vendor_connect_timeout)
            .user_agent(concat!("api-key-rotator/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(VendorClient {
            http,
            rate_limit_default: timing.rate_limit_default,
            rate_limit_min: timing.rate_limit_min,
        })
    }

    /// The HTTP client itself, for the one other caller with the same rules (EventBridge, in
    /// `notify.rs`): one TLS configuration per process, built once.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    fn rate_limit_wait(&self, headers: &HeaderMap) -> Duration {
        rate_limit_wait(headers, SystemTime::now(), self.rate_limit_default, self.rate_limit_min)
    }

    async fn send(
        &self,
        vendor: &dyn Vendor,
        base: &Url,
        endpoint: &Endpoint<'_>,
        key: &Sensitive,
        body: Option<&Value>,
        timeout: Option<Duration>,
    ) -> Result<Response, Failure> {
        let url = endpoint.url(base).ok_or(Failure::BadUrl)?;
        let Auth { header: name, prefix } = vendor.auth();
        // A key with bytes a header cannot carry is never sent, not even mangled or empty.
        let mut value =
            HeaderValue::from_str(&format!("{prefix}{}", key.expose())).map_err(|_| Failure::Unsendable)?;
        value.set_sensitive(true);
        // identity: a 2xx must never arrive in an encoding this client cannot read.
        let mut request = self
            .http
            .request(endpoint.method.clone(), &url)
            .header(name, value)
            .header(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
        for (name, value) in vendor.headers() {
            request = request.header(name, value);
        }
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let started = std::time::Instant::now();
        let result = request.send().await;
        debug!(
            vendor = vendor.name(),
            method = %endpoint.method,
            path = endpoint.path,
            status = result.as_ref().map(|r| r.status().as_u16()).ok(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "vendor call"
        );
        result.map_err(Failure::Http)
    }
}

/// Why a request got no answer.
enum Failure {
    /// The key cannot be put in a header; nothing was sent.
    Unsendable,
    /// The base URL and the path make no URL to add a query to; nothing was sent.
    BadUrl,
    Http(reqwest::Error),
}

const UNSENDABLE: &str = "the key holds characters an HTTP header cannot carry, so it was not sent";
const BAD_URL: &str = "the base URL and the path make no URL, so nothing was sent";

impl Failure {
    fn describe(&self) -> String {
        match self {
            Failure::Unsendable => UNSENDABLE.into(),
            Failure::BadUrl => BAD_URL.into(),
            Failure::Http(err) => describe(err),
        }
    }
}

impl VendorApi for VendorClient {
    async fn verify(
        &self,
        vendor: &'static dyn Vendor,
        base: &Url,
        key: &Sensitive,
        timeout: Duration,
    ) -> Verdict {
        let response = match self.send(vendor, base, &vendor.verify(), key, None, Some(timeout)).await {
            Ok(response) => response,
            Err(failure) => return Verdict::Unavailable(failure.describe()),
        };
        let status = response.status();
        match status {
            s if vendor.refuses_key(s.as_u16()) => Verdict::Refused(s.as_u16()),
            StatusCode::TOO_MANY_REQUESTS => Verdict::RateLimited(self.rate_limit_wait(response.headers())),
            s if s.is_success() && !vendor.reads_verify_answer() => Verdict::Accepted,
            s if s.is_success() => match read_json(response).await.map(|body| vendor.verify_vouches(&body)) {
                Ok(Some(true)) => Verdict::Accepted,
                Ok(Some(false)) => Verdict::Refused(status.as_u16()),
                Ok(None) => Verdict::Unavailable(format!("HTTP {status} with an answer that does not say")),
                Err(why) => Verdict::Unavailable(format!("HTTP {status} with {why}")),
            },
            StatusCode::FORBIDDEN => Verdict::Unavailable(
                "HTTP 403 (the vendor denies the call but does not say the key is invalid)".into(),
            ),
            s => Verdict::Unavailable(format!("HTTP {s}")),
        }
    }

    async fn key_id(
        &self,
        vendor: &'static dyn Vendor,
        base: &Url,
        key: &Sensitive,
        timeout: Duration,
    ) -> Result<String, String> {
        let response = self
            .send(vendor, base, &vendor.verify(), key, None, Some(timeout))
            .await
            .map_err(|failure| failure.describe())?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("the verify call answered HTTP {status}"));
        }
        let body = read_json(response).await.map_err(|why| format!("HTTP {status} with {why}"))?;
        vendor.presented_key_id(&body, [key.expose(), ""]).ok_or_else(|| {
            format!("HTTP {status}, but the answer names no id a key may have where the vendor's entry says")
        })
    }

    async fn revoke(
        &self,
        vendor: &'static dyn Vendor,
        base: &Url,
        key: &Sensitive,
        key_id: &str,
        timeout: Duration,
    ) -> Revoke {
        let Some(overlap) = vendor.overlap() else {
            return Revoke::Failed(format!("{} revokes no key by id", vendor.name()));
        };
        let path = overlap.revoke_path(key_id);
        let endpoint =
            Endpoint { method: overlap.revoke_method.clone(), path: &path, query: &overlap.revoke_query };
        let body = overlap.revoke_body(key_id);
        match self.send(vendor, base, &endpoint, key, body.as_ref(), Some(timeout)).await {
            Ok(response) if response.status().is_success() || response.status() == StatusCode::NOT_FOUND => {
                Revoke::Done(response.status().as_u16())
            }
            Ok(response) => Revoke::Failed(format!("HTTP {}", response.status())),
            Err(failure) => Revoke::Failed(failure.describe()),
        }
    }

    async fn rotate(
        &self,
        vendor: &'static dyn Vendor,
        base: &Url,
        key: &Sensitive,
        body: Option<&Value>,
        path_id: Option<&str>,
        wait: RotateWait,
    ) -> RotateOutcome {
        let endpoint = vendor.rotate();
        let path = match (endpoint.path.contains(KEY_ID_PLACEHOLDER), path_id) {
            (false, _) => endpoint.path.to_owned(),
            (true, Some(id)) => endpoint.path.replace(KEY_ID_PLACEHOLDER, id),
            (true, None) => {
                return RotateOutcome::NotSent(
                    "the rotate path names the key's id, and none was given".into(),
                );
            }
        };
        let endpoint = Endpoint { path: &path, ..endpoint };
        // No overall request timeout: the status and the body each get their own wait.
        let sent = timeout_at(wait.status, self.send(vendor, base, &endpoint, key, body, None)).await;
        let response = match sent {
            Ok(Ok(response)) => response,
            Ok(Err(Failure::Unsendable)) => return RotateOutcome::NotSent(UNSENDABLE.into()),
            Ok(Err(Failure::BadUrl)) => return RotateOutcome::NotSent(BAD_URL.into()),
            Ok(Err(Failure::Http(err))) if err.is_connect() => return RotateOutcome::NotSent(describe(&err)),
            Ok(Err(Failure::Http(err))) => return RotateOutcome::Unknown(describe(&err)),
            Err(_) => {
                return RotateOutcome::Unknown("no answer in the time this invocation could wait".into());
            }
        };
        let status = response.status();
        match status {
            StatusCode::TOO_MANY_REQUESTS => {
                RotateOutcome::RateLimited(self.rate_limit_wait(response.headers()))
            }
            StatusCode::REQUEST_TIMEOUT => RotateOutcome::Unknown(format!("HTTP {status}")),
            // A redirect is never followed (it could carry the key to a host nobody approved). A 307
            // or 308 says the request was not carried out where it was sent: nothing rotated. Any
            // other 3xx (a 303 is the usual answer after a POST that was carried out) leaves the
            // outcome unknown, below.
            StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT => {
                RotateOutcome::Refused(status.as_u16())
            }
            s if s.is_client_error() => RotateOutcome::Refused(s.as_u16()),
            s if s.is_success() => {
                let (bytes, ended) = read_body(response, wait.body).await;
                // Even a body that ended badly may be whole JSON (a missing chunk terminator).
                let answer = serde_json::from_slice::<Value>(&bytes).ok();
                let new_key = answer.as_ref().and_then(|answer| vendor.new_key(answer));
                let why = match new_key.map(str::trim).filter(|k| !k.is_empty()) {
                    Some(new_key) if new_key == key.expose() => NoKey::EchoedKey,
                    Some(new_key) => {
                        let key_id =
                            answer.as_ref().and_then(|a| vendor.new_key_id(a, [new_key, key.expose()]));
                        return RotateOutcome::Rotated {
                            key: Sensitive::new(new_key),
                            odd: !answer.as_ref().is_some_and(|answer| vendor.answer_is_expected(answer)),
                            key_id,
                        };
                    }
                    None if answer.is_some() => ended.unwrap_or(NoKey::NoKeyField),
                    None => ended.unwrap_or(NoKey::NotJson),
                };
                let answer = RawAnswer { status: s.as_u16(), body: SensitiveBytes::new(bytes), why };
                if why == NoKey::EchoedKey {
                    RotateOutcome::Echoed(answer)
                } else {
                    RotateOutcome::Unreadable(answer)
                }
            }
            s => RotateOutcome::Unknown(format!("HTTP {s}")),
        }
    }
}

/// The body as JSON, read up to [`MAX_BODY`]. The error says what was wrong, never what it held.
async fn read_json(mut response: Response) -> Result<Value, &'static str> {
    let mut bytes = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) if bytes.len() + chunk.len() > MAX_BODY => return Err("an answer over 1 MiB"),
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(_) => return Err("an answer broken off"),
        }
    }
    serde_json::from_slice(&bytes).map_err(|_| "an answer that is not JSON")
}

/// A body as far as it comes before `until`, at most [`MAX_BODY`] bytes, and why it ended early
/// (`None`: it came whole).
async fn read_body(mut response: Response, until: Instant) -> (Vec<u8>, Option<NoKey>) {
    let mut bytes = Vec::new();
    loop {
        match timeout_at(until, response.chunk()).await {
            Ok(Ok(Some(chunk))) if bytes.len() + chunk.len() > MAX_BODY => {
                bytes.extend_from_slice(&chunk[..MAX_BODY - bytes.len()]);
                return (bytes, Some(NoKey::TooLarge));
            }
            Ok(Ok(Some(chunk))) => bytes.extend_from_slice(&chunk),
            Ok(Ok(None)) => return (bytes, None),
            Ok(Err(_)) => return (bytes, Some(NoKey::BrokenOff)),
            Err(_) => return (bytes, Some(NoKey::TimedOut)),
        }
    }
}

/// A reqwest error without anything from the body: its kind and the URL it concerned (host and
/// path, never the query). EventBridge's client (`notify.rs`) describes its failures the same way.
pub fn describe(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else if err.is_request() {
        "request failed"
    } else if err.is_body() || err.is_decode() {
        "answer broken off"
    } else {
        "failed"
    };
    match err.url() {
        Some(url) => format!("{kind}: {}{}", url.host_str().unwrap_or(""), url.path()),
        None => kind.to_owned(),
    }
}

/// How long a 429 asks us to wait: `Retry-After` (seconds), or any `X-RateLimit-Reset*` header,
/// read as seconds (Cal.com) or as a Unix time when it is that large (ProjectDiscovery). Never
/// less than `min` (a zero or a reset already past), never more than [`MAX_RATE_LIMIT_WAIT`] (an
/// absurd value just means "longer than this invocation can wait"), `default` when unreadable.
fn rate_limit_wait(headers: &HeaderMap, now: SystemTime, default: Duration, min: Duration) -> Duration {
    let number =
        |value: &HeaderValue| value.to_str().ok()?.trim().parse::<f64>().ok().filter(|n| !n.is_nan());
    // Of several limits, the one that resets last decides.
    let reset = headers.get(RETRY_AFTER).and_then(number).or_else(|| {
        headers
            .iter()
            .filter(|(name, _)| name.as_str().starts_with("x-ratelimit-reset"))
            .filter_map(|(_, value)| number(value))
            .reduce(f64::max)
    });
    let Some(reset) = reset else { return default };
    let seconds = if reset > 1_000_000_000.0 {
        reset - now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()
    } else {
        reset
    };
    Duration::try_from_secs_f64(seconds.max(0.0))
        .unwrap_or(MAX_RATE_LIMIT_WAIT)
        .clamp(min, MAX_RATE_LIMIT_WAIT)
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderName;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_str(v).unwrap())).collect()
    }

    const DEFAULT: Duration = Duration::from_secs(60);
    const MIN: Duration = Duration::from_secs(1);

    fn wait(pairs: &[(&'static str, &str)]) -> Duration {
        rate_limit_wait(&headers(pairs), SystemTime::now(), DEFAULT, MIN)
    }

    #[test]
    fn rate_limit_headers() {
        assert_eq!(wait(&[("retry-after", "3")]), Duration::from_secs(3));
        assert_eq!(wait(&[("x-ratelimit-reset-default", "42")]), Duration::from_secs(42));
        let epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 10;
        let waited = wait(&[("x-ratelimit-reset", &epoch.to_string())]);
        assert!(waited > Duration::from_secs(8) && waited <= Duration::from_secs(10), "{waited:?}");
        assert_eq!(wait(&[]), DEFAULT);
        assert_eq!(wait(&[("retry-after", "soon")]), DEFAULT);
        let several = [("x-ratelimit-reset-short", "5"), ("x-ratelimit-reset-default", "42")];
        assert_eq!(wait(&several), Duration::from_secs(42), "the limit that resets last decides");
    }

    #[test]
    fn absurd_rate_limit_headers_are_clamped_never_a_panic() {
        for (header, value, expected) in [
            ("retry-after", "1e20", MAX_RATE_LIMIT_WAIT),
            ("retry-after", "inf", MAX_RATE_LIMIT_WAIT),
            ("retry-after", "1e308", MAX_RATE_LIMIT_WAIT),
            ("x-ratelimit-reset", "99999999999999999999999", MAX_RATE_LIMIT_WAIT),
            ("retry-after", "0", MIN),
            ("retry-after", "-5", MIN),
            ("retry-after", "0.001", MIN),
            ("retry-after", "-inf", MIN),
            ("x-ratelimit-reset", "1000000001", MIN), // a reset long past
            ("retry-after", "NaN", DEFAULT),
        ] {
            assert_eq!(wait(&[(header, value)]), expected, "{header}: {value}");
        }
    }
}
