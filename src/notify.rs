//! Telling consumers the moment their key died: one `Vendor Key Rotated` event on the account's
//! default EventBridge bus whenever the function moves AWSCURRENT to a new key ([`KeyRotated`]).
//!
//! The event is sent after the key is stored, never on the custody path, and it names the key only
//! by its fingerprint. [`EventBus`] is one signed `PutEvents` request (SigV4 over the HTTP client
//! the vendors already use): the Lambda SDK alone added 181 kB to the package, more than the 113 kB
//! its 5 MB limit then left, and an EventBridge SDK would cost about as much. Tests also use an
//! in-memory [`Notifier`].

use std::future::Future;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_types::SdkConfig;
use aws_types::service_config::ServiceConfigKey;
use serde::{Deserialize, Serialize};
use serde_json::json;

use tokio::time::{Instant, sleep, timeout_at};

use crate::timing::{Timing, fits, time_left};
use crate::vendors::describe_http_error;

/// The event's `source`.
pub const SOURCE: &str = "api-key-rotator";
/// The event's `detail-type`.
pub const DETAIL_TYPE: &str = "Vendor Key Rotated";
/// The variable (and the shared config file's `endpoint_url` under `[services]`) that points
/// EventBridge elsewhere, as every AWS SDK reads it.
pub const ENV_ENDPOINT: &str = "AWS_ENDPOINT_URL_EVENTBRIDGE";

/// The event's `detail`: which secret now holds which new key, and since when the old one is dead.
/// Never the key, the value or the RotationToken.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRotated {
    pub secret_arn: String,
    pub secret_name: String,
    pub vendor: String,
    /// The version AWSCURRENT now labels.
    pub version_id: String,
    /// [`crate::sensitive::Sensitive::fingerprint`] of the new key; `None` when the stored value
    /// no longer reads with the secret's key-field tag.
    pub key_fingerprint: Option<String>,
    /// `early` (createSecret moved AWSCURRENT) or `standard` (finishSecret did).
    pub promote: &'static str,
    /// RFC 3339: the vendor's answer (early), or the pending version's creation, which follows it
    /// by the time storing took (standard). `None` when Secrets Manager gave no creation time.
    pub dead_since: Option<String>,
    /// What moved AWSCURRENT.
    pub cause: Cause,
}

/// What moved AWSCURRENT: a rotation step, or an operator's command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Cause {
    Rotation,
    /// `api-key-rotator recover`.
    Recover,
    /// `api-key-rotator repair --apply`, finishing a rotation.
    Repair,
}

/// Why an event was not put. Messages name the cause; EventBridge's own message is not kept.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("{0}")]
    Endpoint(String),
    #[error("no AWS credentials to sign with: {0}")]
    Credentials(String),
    #[error("the request could not be signed: {0}")]
    Signing(String),
    #[error("EventBridge could not be reached: {0}")]
    Transport(String),
    #[error("EventBridge answered HTTP {status} {code}")]
    Refused { status: u16, code: String },
    #[error("EventBridge did not take the event: {code}")]
    EntryFailed { code: String },
    #[error("EventBridge's answer (HTTP {status}) does not read as PutEvents'")]
    Unreadable { status: u16 },
    #[error("no answer within the time the event may take")]
    TimedOut,
}

impl NotifyError {
    /// Whether another attempt cannot help: the endpoint or the signing is wrong, or EventBridge
    /// refused the request itself (a 4xx other than throttling: denied, invalid).
    pub fn is_final(&self) -> bool {
        match self {
            NotifyError::Endpoint(_) | NotifyError::Signing(_) => true,
            NotifyError::Refused { status, code } => {
                (400..500).contains(status) && *status != 429 && !code.contains("Throttl")
            }
            _ => false,
        }
    }
}

/// Where `Vendor Key Rotated` events go. [`EventBus`] is the real one.
pub trait Notifier: Send + Sync {
    /// One attempt at putting `event`, within `timeout`.
    fn put(
        &self,
        event: &KeyRotated,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), NotifyError>> + Send;
}

/// Puts `event`, retried briefly (`timing.notify_attempts`, never past `until`) unless EventBridge
/// refused the request itself. Returns the attempts made, with the last failure when none took it.
/// (A retry after a lost answer may deliver the event twice; consumers tell by its `versionId`.)
pub async fn put_retried<N: Notifier>(
    notifier: &N,
    event: &KeyRotated,
    until: Instant,
    timing: &Timing,
) -> (u32, Result<(), NotifyError>) {
    let mut backoff = timing.initial_backoff;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let put = notifier.put(event, time_left(until));
        match timeout_at(until, put).await.unwrap_or(Err(NotifyError::TimedOut)) {
            Ok(()) => return (attempts, Ok(())),
            Err(failure)
                if failure.is_final() || attempts >= timing.notify_attempts || !fits(backoff, until) =>
            {
                return (attempts, Err(failure));
            }
            Err(_) => {
                sleep(backoff).await;
                backoff = timing.next_backoff(backoff);
            }
        }
    }
}

/// The account's default EventBridge bus, reached with one signed `PutEvents` request.
#[derive(Clone, Debug)]
pub struct EventBus {
    http: reqwest::Client,
    /// An http(s) URL with a host, or why the configured one is not (every put then fails with
    /// it: a misconfigured endpoint costs the notification, never a rotation).
    endpoint: Result<url::Url, String>,
    region: String,
    credentials: Option<SharedCredentialsProvider>,
}

impl EventBus {
    /// The bus of the function's account and region, with the SDK's credentials, and the endpoint
    /// as any AWS SDK would choose it ([`ENV_ENDPOINT`], then `AWS_ENDPOINT_URL`, then AWS's).
    /// `http` is the vendors' client (no redirects, no proxies; [`crate::vendors::VendorClient::http`]).
    pub fn from_config(config: &SdkConfig, http: reqwest::Client) -> Self {
        let region = config.region().map_or_else(|| "us-east-1".to_owned(), ToString::to_string);
        let configured = config
            .service_config()
            .and_then(|services| {
                let key = ServiceConfigKey::builder()
                    .service_id("EventBridge")
                    .env("AWS_ENDPOINT_URL")
                    .profile("endpoint_url")
                    .build()
                    .ok()?;
                services.load_config(key)
            })
            .or_else(|| config.endpoint_url().map(str::to_owned));
        let endpoint = configured.unwrap_or_else(|| aws_endpoint(&region));
        Self::new(http, &endpoint, region, config.credentials_provider())
    }

    pub fn new(
        http: reqwest::Client,
        endpoint: &str,
        region: String,
        credentials: Option<SharedCredentialsProvider>,
    ) -> Self {
        // aws-sigv4 needs a host; user information would add a second Authorization header (and
        // is not repeated in the message).
        let endpoint = url::Url::parse(endpoint)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
            .filter(|url| url.username().is_empty() && url.password().is_none())
            .ok_or_else(|| {
                "the EventBridge endpoint is not an http(s) URL with a host and no user information"
                    .to_owned()
            });
        EventBus { http, endpoint, region, credentials }
    }

    /// The PutEvents body: one entry, on the default bus, naming the secret as its resource.
    fn body(event: &KeyRotated) -> Vec<u8> {
        let detail = serde_json::to_string(event).unwrap_or_default();
        let entry = json!({
            "Source": SOURCE,
            "DetailType": DETAIL_TYPE,
            "Detail": detail,
            "Resources": [event.secret_arn],
        });
        json!({ "Entries": [entry] }).to_string().into_bytes()
    }

    /// The SigV4 headers for `body` (service `events`), at `now`.
    async fn signed_headers(
        &self,
        endpoint: &url::Url,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Vec<(String, String)>, NotifyError> {
        let provider =
            self.credentials.as_ref().ok_or_else(|| NotifyError::Credentials("none configured".into()))?;
        let credentials =
            provider.provide_credentials().await.map_err(|e| NotifyError::Credentials(e.to_string()))?;
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("events")
            .time(now)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| NotifyError::Signing(e.to_string()))?
            .into();
        let headers = [("content-type", CONTENT_TYPE), ("x-amz-target", TARGET)];
        let request =
            SignableRequest::new("POST", endpoint.as_str(), headers.into_iter(), SignableBody::Bytes(body))
                .map_err(|e| NotifyError::Signing(e.to_string()))?;
        let (instructions, _) =
            sign(request, &params).map_err(|e| NotifyError::Signing(e.to_string()))?.into_parts();
        let mut signed: Vec<(String, String)> =
            headers.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect();
        signed.extend(instructions.headers().map(|(name, value)| (name.to_owned(), value.to_owned())));
        Ok(signed)
    }
}

const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
const TARGET: &str = "AWSEvents.PutEvents";

/// EventBridge's public endpoint in `region`.
fn aws_endpoint(region: &str) -> String {
    let suffix = if region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" };
    format!("https://events.{region}.{suffix}")
}

/// What PutEvents answers, reduced to what says whether the entry was taken.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    #[serde(default)]
    failed_entry_count: u32,
    #[serde(default)]
    entries: Vec<AnswerEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AnswerEntry {
    error_code: Option<String>,
}

/// An error answer's code (`__type`, without its namespace).
#[derive(Deserialize)]
struct Fault {
    #[serde(rename = "__type", default)]
    kind: String,
}

impl Notifier for EventBus {
    async fn put(&self, event: &KeyRotated, timeout: Duration) -> Result<(), NotifyError> {
        let endpoint = self.endpoint.as_ref().map_err(|problem| NotifyError::Endpoint(problem.clone()))?;
        let body = Self::body(event);
        let headers = self.signed_headers(endpoint, &body, SystemTime::now()).await?;
        let mut request = self.http.post(endpoint.clone()).timeout(timeout).body(body);
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| NotifyError::Transport(describe_http_error(&e)))?;
        let status = response.status().as_u16();
        let text = response.bytes().await.map_err(|e| NotifyError::Transport(describe_http_error(&e)))?;
        if !(200..300).contains(&status) {
            let code = serde_json::from_slice::<Fault>(&text).map(|fault| fault.kind).unwrap_or_default();
            let code = code.rsplit('#').next().unwrap_or_default();
            let code =
                if code.is_empty() { "(no error code)".to_owned() } else { code.chars().take(80).collect() };
            return Err(NotifyError::Refused { status, code });
        }
        let answer: Answer = serde_json::from_slice(&text).map_err(|_| NotifyError::Unreadable { status })?;
        if answer.failed_entry_count > 0 {
            let code = answer.entries.iter().find_map(|entry| entry.error_code.clone());
            let code = code.unwrap_or_else(|| "(no error code)".into()).chars().take(80).collect();
            return Err(NotifyError::EntryFailed { code });
        }
        Ok(())
    }
}

#[cfg(test)]
pub mod memory {
    //! An in-memory [`Notifier`] for the rotation's unit tests: it keeps what was put, and can be
    //! told to fail.

    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    pub struct Recorded {
        pub events: Mutex<Vec<KeyRotated>>,
        /// Attempts still to fail.
        pub failures: Mutex<u32>,
        /// Every attempt hangs (an endpoint that never answers, credentials never found).
        pub hangs: bool,
        pub attempts: Mutex<u32>,
    }

    impl Notifier for Recorded {
        async fn put(&self, event: &KeyRotated, _timeout: Duration) -> Result<(), NotifyError> {
            *self.attempts.lock().unwrap() += 1;
            if self.hangs {
                std::future::pending::<()>().await;
            }
            let mut failures = self.failures.lock().unwrap();
            if *failures > 0 {
                *failures -= 1;
                return Err(NotifyError::Transport("no connection".into()));
            }
            self.events.lock().unwrap().push(event.clone());
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> KeyRotated {
        KeyRotated {
            secret_arn: "arn:aws:secretsmanager:us-east-1:1:secret:s".into(),
            secret_name: "s".into(),
            vendor: "calcom".into(),
            version_id: "v1".into(),
            key_fingerprint: Some("sha256:0123456789ab".into()),
            promote: "standard",
            dead_since: Some("2026-11-30T15:00:00Z".into()),
            cause: Cause::Recover,
        }
    }

    #[test]
    fn the_entry_carries_the_detail_as_a_string_on_the_default_bus() {
        let body: serde_json::Value = serde_json::from_slice(&EventBus::body(&event())).unwrap();
        let entry = &body["Entries"][0];
        assert_eq!(
            (entry["Source"].as_str(), entry["DetailType"].as_str()),
            (Some(SOURCE), Some(DETAIL_TYPE))
        );
        assert!(entry.get("EventBusName").is_none(), "the default bus, which the template grants");
        assert_eq!(entry["Resources"], json!(["arn:aws:secretsmanager:us-east-1:1:secret:s"]));
        let detail: serde_json::Value = serde_json::from_str(entry["Detail"].as_str().unwrap()).unwrap();
        let fields: Vec<&str> = detail.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            fields,
            [
                "secretArn",
                "secretName",
                "vendor",
                "versionId",
                "keyFingerprint",
                "promote",
                "deadSince",
                "cause"
            ]
        );
        assert_eq!(detail["cause"], "recover");
    }

    #[test]
    fn an_endpoint_without_a_host_or_with_user_information_is_never_sent_to() {
        for endpoint in ["events", "ftp://events.invalid", "https://user:pass@events.invalid", "http://"] {
            let bus = EventBus::new(reqwest::Client::new(), endpoint, "us-east-1".into(), None);
            assert!(bus.endpoint.is_err(), "{endpoint}");
        }
        let bus = EventBus::new(reqwest::Client::new(), "http://127.0.0.1:4566", "us-east-1".into(), None);
        assert_eq!(bus.endpoint.unwrap().as_str(), "http://127.0.0.1:4566/");
    }

    #[test]
    fn only_a_refusal_of_the_request_itself_is_not_retried() {
        let refused = |status, code: &str| NotifyError::Refused { status, code: code.into() };
        assert!(refused(400, "AccessDeniedException").is_final());
        assert!(!refused(400, "ThrottlingException").is_final() && !refused(429, "").is_final());
        assert!(!refused(500, "InternalException").is_final());
        assert!(!NotifyError::Transport("no connection".into()).is_final());
    }

    #[test]
    fn the_public_endpoint_follows_the_partition() {
        assert_eq!(aws_endpoint("eu-west-1"), "https://events.eu-west-1.amazonaws.com");
        assert_eq!(aws_endpoint("cn-north-1"), "https://events.cn-north-1.amazonaws.com.cn");
    }
}
