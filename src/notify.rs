//! Telling consumers the moment their key died: one `Vendor Key Rotated` event on the account's
//! default EventBridge bus whenever AWSCURRENT moves to a new key ([`KeyRotated`]).
//!
//! The event is sent after the key is stored, never on the custody path, and it names the key only
//! by its fingerprint. [`EventBus`] is `aws-sdk-eventbridge`'s PutEvents (partitions, FIPS and
//! dual-stack endpoints, signing and error parsing are the SDK's); its retries are
//! [`put_retried`]'s, bounded by the step's budget. Tests also use an in-memory [`Notifier`].

use std::future::Future;
use std::time::Duration;

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::config::http::HttpResponse;
use aws_sdk_eventbridge::config::retry::RetryConfig;
use aws_sdk_eventbridge::config::{BehaviorVersion, Region};
use aws_sdk_eventbridge::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_types::SdkConfig;
use aws_types::service_config::ServiceConfigKey;
use serde::Serialize;
use tokio::time::{Instant, sleep, timeout_at};

use crate::timing::{Timing, fits, time_left};

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
    /// `single-phase` (the key consumers held before is dead) or `overlap` (it still works until a
    /// later rotation revokes it).
    pub mode: &'static str,
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

/// The account's default EventBridge bus, through `aws-sdk-eventbridge`.
#[derive(Clone, Debug)]
pub struct EventBus {
    /// The client, or why the configured endpoint is not used (every put then fails with it: a
    /// misconfigured endpoint costs the notification, never a rotation).
    client: Result<Client, String>,
}

impl EventBus {
    /// The bus of the function's account and region, with the SDK's credentials, HTTP client and
    /// endpoint resolution ([`ENV_ENDPOINT`], then `AWS_ENDPOINT_URL`, then AWS's for the
    /// partition). The SDK's own retries are off: [`put_retried`] retries within the step's budget.
    pub fn from_config(config: &SdkConfig) -> Self {
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
        if let Some(Err(problem)) = configured.as_deref().map(usable) {
            return EventBus { client: Err(problem) };
        }
        let conf = aws_sdk_eventbridge::config::Builder::from(config).retry_config(RetryConfig::disabled());
        EventBus { client: Ok(Client::from_conf(conf.build())) }
    }

    /// A bus at `endpoint` in `region`, signed with `credentials` (tests, and a local emulator).
    pub fn new(endpoint: &str, region: String, credentials: Option<SharedCredentialsProvider>) -> Self {
        if let Err(problem) = usable(endpoint) {
            return EventBus { client: Err(problem) };
        }
        let mut conf = aws_sdk_eventbridge::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region))
            .endpoint_url(endpoint)
            .retry_config(RetryConfig::disabled());
        conf.set_credentials_provider(credentials);
        EventBus { client: Ok(Client::from_conf(conf.build())) }
    }
}

/// An endpoint the bus may be sent to: an http(s) URL with a host and no user information (which
/// is not repeated in the message).
fn usable(endpoint: &str) -> Result<(), String> {
    url::Url::parse(endpoint)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
        .filter(|url| url.username().is_empty() && url.password().is_none())
        .map(|_| ())
        .ok_or_else(|| {
            "the EventBridge endpoint is not an http(s) URL with a host and no user information".to_owned()
        })
}

/// The one PutEvents entry: on the default bus, naming the secret as its resource.
fn entry(event: &KeyRotated) -> PutEventsRequestEntry {
    PutEventsRequestEntry::builder()
        .source(SOURCE)
        .detail_type(DETAIL_TYPE)
        .detail(serde_json::to_string(event).unwrap_or_default())
        .resources(&event.secret_arn)
        .build()
}

/// AWS's error codes are short; anything longer is cut, and control characters are dropped.
fn code(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(80).collect()
}

/// A failed PutEvents call as data. Nothing is kept of an answer but its status and error code.
fn failure<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> NotifyError {
    let status = err.raw_response().map_or(0, |response| response.status().as_u16());
    match err {
        SdkError::ServiceError(_) => match err.code() {
            Some(found) => NotifyError::Refused { status, code: code(found) },
            None => NotifyError::Unreadable { status },
        },
        SdkError::ResponseError(_) => NotifyError::Unreadable { status },
        SdkError::TimeoutError(_) => NotifyError::TimedOut,
        SdkError::DispatchFailure(failure) if failure.is_timeout() => NotifyError::TimedOut,
        SdkError::DispatchFailure(failure) if failure.is_io() => {
            NotifyError::Transport("could not connect or the connection broke".into())
        }
        SdkError::DispatchFailure(failure) if failure.is_user() => {
            NotifyError::Signing("the request could not be sent as built (credentials or endpoint)".into())
        }
        SdkError::DispatchFailure(_) => NotifyError::Transport("the request could not be sent".into()),
        SdkError::ConstructionFailure(_) => {
            NotifyError::Signing("the request could not be built (credentials, region or endpoint)".into())
        }
        _ => NotifyError::Transport("an unknown failure".into()),
    }
}

impl Notifier for EventBus {
    async fn put(&self, event: &KeyRotated, timeout: Duration) -> Result<(), NotifyError> {
        let client = self.client.as_ref().map_err(|problem| NotifyError::Endpoint(problem.clone()))?;
        let put = client.put_events().entries(entry(event)).send();
        let answer = tokio::time::timeout(timeout, put).await.map_err(|_| NotifyError::TimedOut)?;
        let answer = answer.map_err(|err| failure(&err))?;
        if answer.failed_entry_count() > 0 {
            let found = answer.entries().iter().find_map(|entry| entry.error_code());
            return Err(NotifyError::EntryFailed {
                code: found.map_or_else(|| "(no error code)".into(), code),
            });
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
            mode: "single-phase",
        }
    }

    #[test]
    fn the_entry_carries_the_detail_as_a_string_on_the_default_bus() {
        let entry = entry(&event());
        assert_eq!((entry.source(), entry.detail_type()), (Some(SOURCE), Some(DETAIL_TYPE)));
        assert!(entry.event_bus_name().is_none(), "the default bus, which the template grants");
        assert_eq!(entry.resources(), ["arn:aws:secretsmanager:us-east-1:1:secret:s"]);
        let detail: serde_json::Value = serde_json::from_str(entry.detail().unwrap()).unwrap();
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
                "cause",
                "mode"
            ]
        );
        assert_eq!(detail["cause"], "recover");
    }

    #[test]
    fn an_endpoint_without_a_host_or_with_user_information_is_never_sent_to() {
        for endpoint in ["events", "ftp://events.invalid", "https://user:pass@events.invalid", "http://"] {
            let bus = EventBus::new(endpoint, "us-east-1".into(), None);
            let problem = bus.client.unwrap_err();
            assert!(!problem.contains("pass"), "{problem}");
        }
        assert!(EventBus::new("http://127.0.0.1:4566", "us-east-1".into(), None).client.is_ok());
    }

    #[test]
    fn only_a_refusal_of_the_request_itself_is_not_retried() {
        let refused = |status, code: &str| NotifyError::Refused { status, code: code.into() };
        assert!(refused(400, "AccessDeniedException").is_final());
        assert!(!refused(400, "ThrottlingException").is_final() && !refused(429, "").is_final());
        assert!(!refused(500, "InternalException").is_final());
        assert!(!NotifyError::Transport("no connection".into()).is_final());
    }
}
