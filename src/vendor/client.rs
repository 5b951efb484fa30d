//! The HTTP side of every vendor: send a verify or rotate call, classify the answer.
//!
//! Bodies are parsed here and dropped here: they are never logged (Ringg's verify answer and every
//! rotate answer contain a key).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Response, StatusCode, Url};
use serde_json::Value;
use tracing::debug;

use super::{Auth, Endpoint, Vendor};
use crate::sensitive::Sensitive;

/// What a verify call said about a key.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Accepted,
    /// 401 or 403 (or a 2xx that does not vouch for the key).
    Refused(u16),
    /// 429; wait this long before asking again.
    RateLimited(Duration),
    /// A 5xx, a timeout or a network failure: no verdict.
    Unavailable(String),
}

/// What a rotate call did.
#[derive(Debug)]
pub enum RotateOutcome {
    /// The vendor rotated and handed over the new key.
    Rotated(Sensitive),
    /// The request never left this process (no connection): nothing rotated.
    NotSent(String),
    /// 429: the vendor did not rotate; wait this long before asking again.
    RateLimited(Duration),
    /// A 4xx refusal: the vendor did not rotate.
    Refused(u16),
    /// Timeout, connection lost after sending, 5xx, or a success without a key: the vendor may
    /// have rotated. Only a probe with the current key can tell.
    Ambiguous(String),
}

/// Used when a 429 carries no reset header: Cal.com blocks for 60 s.
const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);
/// Answers larger than this are not read (a key answer is tiny).
const MAX_BODY: usize = 64 * 1024;

/// The one HTTP client for vendor calls, built once per process.
#[derive(Clone, Debug)]
pub struct VendorClient {
    http: reqwest::Client,
}

impl VendorClient {
    /// No redirects (a redirect could carry a key to a host nobody approved), no proxies from the
    /// environment, rustls with the platform's roots.
    pub fn new() -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("api-key-rotator/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(VendorClient { http })
    }

    pub async fn verify(
        &self,
        vendor: &dyn Vendor,
        base: &Url,
        key: &Sensitive,
        timeout: Duration,
    ) -> Verdict {
        let response = match self.send(vendor, base, &vendor.verify(), key, None, timeout).await {
            Ok(response) => response,
            Err(err) => return Verdict::Unavailable(describe(&err)),
        };
        let status = response.status();
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Verdict::Refused(status.as_u16()),
            StatusCode::TOO_MANY_REQUESTS => Verdict::RateLimited(rate_limit_wait(response.headers())),
            s if s.is_success() => match read_json(response).await {
                Some(body) if vendor.verify_accepts(&body) => Verdict::Accepted,
                Some(_) => Verdict::Refused(status.as_u16()),
                None => Verdict::Unavailable(format!("HTTP {status} with an unreadable body")),
            },
            s => Verdict::Unavailable(format!("HTTP {s}")),
        }
    }

    pub async fn rotate(
        &self,
        vendor: &dyn Vendor,
        base: &Url,
        key: &Sensitive,
        body: Option<&Value>,
        timeout: Duration,
    ) -> RotateOutcome {
        let response = match self.send(vendor, base, &vendor.rotate(), key, body, timeout).await {
            Ok(response) => response,
            Err(err) if err.is_connect() => return RotateOutcome::NotSent(describe(&err)),
            Err(err) => return RotateOutcome::Ambiguous(describe(&err)),
        };
        let status = response.status();
        match status {
            StatusCode::TOO_MANY_REQUESTS => RotateOutcome::RateLimited(rate_limit_wait(response.headers())),
            StatusCode::REQUEST_TIMEOUT => RotateOutcome::Ambiguous(format!("HTTP {status}")),
            s if s.is_client_error() => RotateOutcome::Refused(s.as_u16()),
            s if s.is_success() => match read_json(response).await {
                Some(body) => match vendor.new_key(&body).map(str::trim).filter(|k| !k.is_empty()) {
                    Some(new_key) => RotateOutcome::Rotated(Sensitive::new(new_key)),
                    None => {
                        RotateOutcome::Ambiguous(format!("HTTP {status} without a new key in the answer"))
                    }
                },
                None => RotateOutcome::Ambiguous(format!("HTTP {status} with an unreadable body")),
            },
            s => RotateOutcome::Ambiguous(format!("HTTP {s}")),
        }
    }

    async fn send(
        &self,
        vendor: &dyn Vendor,
        base: &Url,
        endpoint: &Endpoint,
        key: &Sensitive,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<Response, reqwest::Error> {
        let url = format!("{}{}", base.as_str().trim_end_matches('/'), endpoint.path);
        let (name, value) = match vendor.auth() {
            Auth::Bearer => (AUTHORIZATION, format!("Bearer {}", key.expose())),
            Auth::Header(name) => (name, key.expose().to_owned()),
        };
        // A key with bytes a header cannot carry is sent as nothing rather than mangled.
        let mut value = HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""));
        value.set_sensitive(true);
        let mut request =
            self.http.request(endpoint.method.clone(), &url).header(name, value).timeout(timeout);
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
        result
    }
}

async fn read_json(response: Response) -> Option<Value> {
    if response.content_length().is_some_and(|len| len as usize > MAX_BODY) {
        return None;
    }
    let bytes = response.bytes().await.ok()?;
    if bytes.len() > MAX_BODY {
        return None;
    }
    serde_json::from_slice(&bytes).ok()
}

/// A reqwest error without anything from the body: its kind and the URL it concerned.
fn describe(err: &reqwest::Error) -> String {
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
/// read as seconds (Cal.com) or as a Unix time when it is that large (ProjectDiscovery).
fn rate_limit_wait(headers: &HeaderMap) -> Duration {
    let number = |value: &HeaderValue| {
        value.to_str().ok()?.trim().parse::<f64>().ok().filter(|n| n.is_finite() && *n >= 0.0)
    };
    let reset = headers.get(RETRY_AFTER).and_then(number).or_else(|| {
        headers
            .iter()
            .filter(|(name, _)| name.as_str().starts_with("x-ratelimit-reset"))
            .find_map(|(_, value)| number(value))
    });
    match reset {
        Some(n) if n > 1_000_000_000.0 => {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
            Duration::from_secs_f64((n - now).max(0.0))
        }
        Some(n) => Duration::from_secs_f64(n),
        None => DEFAULT_RATE_LIMIT_WAIT,
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderName;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_str(v).unwrap())).collect()
    }

    #[test]
    fn rate_limit_headers() {
        assert_eq!(rate_limit_wait(&headers(&[("retry-after", "3")])), Duration::from_secs(3));
        assert_eq!(
            rate_limit_wait(&headers(&[("x-ratelimit-reset-default", "42")])),
            Duration::from_secs(42)
        );
        let epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 10;
        let wait = rate_limit_wait(&headers(&[("x-ratelimit-reset", &epoch.to_string())]));
        assert!(wait > Duration::from_secs(8) && wait <= Duration::from_secs(10), "{wait:?}");
        assert_eq!(rate_limit_wait(&headers(&[])), DEFAULT_RATE_LIMIT_WAIT);
        assert_eq!(rate_limit_wait(&headers(&[("retry-after", "soon")])), DEFAULT_RATE_LIMIT_WAIT);
    }
}
