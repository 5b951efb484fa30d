//! Secrets Manager: the calls the rotation makes ([`SecretStore`], implemented by [`Store`] over
//! the SDK), the retry loop for the one write that must not be lost ([`put_pending`]), and the one
//! place that decides what is worth retrying ([`is_transient`]).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::time::SystemTime;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::config::retry::RetryConfig;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::operation::RequestId;
use aws_sdk_secretsmanager::primitives::Blob;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType};
use tokio::time::{Instant, sleep, timeout, timeout_at};
use tracing::{info, warn};

use crate::sensitive::{Sensitive, SensitiveBytes};
use crate::timing::Timing;

#[cfg(test)]
pub mod memory;

pub const AWSCURRENT: &str = "AWSCURRENT";
pub const AWSPENDING: &str = "AWSPENDING";
/// Secrets Manager's quota of staging labels per secret.
pub const MAX_LABELS: usize = 20;
/// The label of a version that keeps a vendor's rotate answer from which no key could be read
/// (never AWSPENDING or AWSCURRENT: it is not a key consumers could use).
pub const ROTATION_RESCUE: &str = "ROTATION_RESCUE";

/// What DescribeSecret says about a secret, reduced to what the rotation and the operator's
/// commands need.
#[derive(Clone, Debug, Default)]
pub struct SecretMeta {
    pub arn: String,
    pub name: String,
    pub rotation_enabled: bool,
    /// The rotation function's ARN, when one is set.
    pub rotation_function: Option<String>,
    pub versions: HashMap<String, Vec<String>>,
    pub tags: HashMap<String, String>,
    pub after_days: Option<i64>,
    pub schedule_expression: Option<String>,
    /// The KMS key that encrypts the secret, as DescribeSecret names it (`None`: the AWS managed
    /// key).
    pub kms_key_id: Option<String>,
    pub last_rotated: Option<SystemTime>,
    pub next_rotation: Option<SystemTime>,
}

impl SecretMeta {
    pub fn version_with(&self, stage: &str) -> Option<&str> {
        self.versions.iter().find(|(_, stages)| stages.iter().any(|s| s == stage)).map(|(id, _)| id.as_str())
    }

    /// Every staging label on any version, once each (Secrets Manager counts these against
    /// [`MAX_LABELS`]).
    pub fn distinct_labels(&self) -> std::collections::HashSet<&str> {
        self.versions.values().flatten().map(String::as_str).collect()
    }

    /// The labels on `version` (none for a version that is not there).
    pub fn labels(&self, version: &str) -> &[String] {
        self.versions.get(version).map_or(&[], Vec::as_slice)
    }

    pub fn has_stage(&self, version: &str, stage: &str) -> bool {
        self.versions.get(version).is_some_and(|stages| stages.iter().any(|s| s == stage))
    }

    /// The version that carries AWSPENDING without AWSCURRENT: an unfinished rotation. (AWSPENDING
    /// on the AWSCURRENT version is one of the two states a finished rotation may leave.)
    pub fn pending_version(&self) -> Option<&str> {
        self.version_with(AWSPENDING).filter(|version| !self.has_stage(version, AWSCURRENT))
    }
}

/// What a write stores: a SecretString, or a SecretBinary (only a rescued answer that is not
/// UTF-8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    Text(Sensitive),
    Binary(SensitiveBytes),
}

impl Payload {
    pub fn len(&self) -> usize {
        match self {
            Payload::Text(text) => text.expose().len(),
            Payload::Binary(bytes) => bytes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A version's SecretString and when Secrets Manager created it.
#[derive(Clone, Debug)]
pub struct Version {
    pub id: Option<String>,
    pub text: Sensitive,
    pub created: Option<SystemTime>,
}

/// A failed Secrets Manager call, as data: which call, AWS's error code, message, HTTP status and
/// request id, and whether retrying may help. It is never built from the SDK's own rendering,
/// which can quote the raw answer (a SecretString included), and [`fmt::Display`] renders only
/// these fields.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoreError {
    pub operation: &'static str,
    /// AWS's error code (`ResourceNotFoundException`), or, when no answer named one, what kind of
    /// failure it was ([`codes`]).
    pub code: String,
    /// AWS's own message for a service error (capped), or this crate's words for its own codes.
    /// Never the body of an answer.
    pub message: Option<String>,
    pub status: Option<u16>,
    pub request_id: Option<String>,
    pub transient: bool,
    /// The version already holds a different value: no retry can ever store ours.
    pub conflict: bool,
    /// Attempts made, when a retry loop gave up.
    pub attempts: Option<u32>,
    /// How reading the version back went, when a write's failure was checked that way.
    pub read_back: Option<ReadBack>,
}

/// The codes this crate gives failures that carry no AWS error code.
pub mod codes {
    /// The call did not finish in time.
    pub const TIMEOUT: &str = "Timeout";
    /// No answer: connecting or sending failed.
    pub const NETWORK: &str = "NetworkFailure";
    /// An answer came that could not be read (a garbled or truncated body).
    pub const UNREADABLE: &str = "UnreadableAnswer";
    /// The version already holds another value.
    pub const CONFLICT: &str = "VersionConflict";
    /// The version exists but its value cannot be read yet.
    pub const NOT_READABLE_YET: &str = "VersionNotReadableYet";
    /// The version holds a SecretBinary, where a SecretString was expected.
    pub const BINARY: &str = "SecretBinary";
    pub const UNKNOWN: &str = "Unknown";
}

/// What reading a version back after failed writes found.
#[derive(Clone, Debug, PartialEq)]
pub enum ReadBack {
    /// The version does not hold the value.
    NotThere,
    /// The read failed too (its code).
    Failed(String),
    TimedOut,
}

/// AWS messages are short; anything longer is cut, and control characters are dropped.
const MAX_AWS_MESSAGE: usize = 300;

fn capped(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(MAX_AWS_MESSAGE).collect()
}

impl StoreError {
    /// A failure of this crate's own finding (an in-memory store, a read that found a binary).
    pub fn new(operation: &'static str, code: &str, transient: bool) -> Self {
        StoreError { operation, code: code.to_owned(), transient, ..StoreError::default() }
    }

    pub fn with_message(self, message: impl Into<String>) -> Self {
        StoreError { message: Some(message.into()), ..self }
    }

    fn from_sdk<E>(operation: &'static str, err: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let (code, message) = match err {
            // An answer that names no error code could not be read (a garbled body): nothing
            // from it is kept.
            SdkError::ServiceError(_) => match err.code() {
                Some(code) => (capped(code), err.message().map(capped)),
                None => (codes::UNREADABLE.to_owned(), None),
            },
            SdkError::TimeoutError(_) => (codes::TIMEOUT.to_owned(), None),
            SdkError::DispatchFailure(failure) if failure.is_timeout() => (codes::TIMEOUT.to_owned(), None),
            SdkError::DispatchFailure(_) => (codes::NETWORK.to_owned(), None),
            SdkError::ResponseError(_) => (codes::UNREADABLE.to_owned(), None),
            _ => (codes::UNKNOWN.to_owned(), None),
        };
        StoreError {
            operation,
            code,
            message,
            status: err.raw_response().map(|r| r.status().as_u16()),
            request_id: err.request_id().map(capped),
            transient: is_transient(err),
            ..StoreError::default()
        }
    }

    /// Whether this is AWS's `code`.
    pub fn is(&self, code: &str) -> bool {
        self.code == code
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.operation, self.code)?;
        if let Some(status) = self.status {
            write!(f, " (HTTP {status})")?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " [request id {id}]")?;
        }
        if let Some(attempts) = self.attempts {
            write!(f, " (gave up after {attempts} attempts, at the deadline)")?;
        }
        match &self.read_back {
            None | Some(ReadBack::NotThere) => Ok(()),
            Some(ReadBack::Failed(code)) => write!(f, "; reading the version back failed too: {code}"),
            Some(ReadBack::TimedOut) => f.write_str("; reading the version back timed out"),
        }
    }
}

/// Throttling, server-side failures, timeouts and network failures. Everything else (access
/// denied, validation, not found) needs a person.
pub fn is_transient<E>(err: &SdkError<E, HttpResponse>) -> bool
where
    E: ProvideErrorMetadata,
{
    const TRANSIENT_CODES: &[&str] = &[
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "InternalServiceError",
        "InternalFailure",
        "ServiceUnavailable",
    ];
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        // An answer without an error code is one that could not be read: try again.
        SdkError::ServiceError(service) if service.err().code().is_none() => true,
        SdkError::ServiceError(service) => {
            service.err().code().is_some_and(|code| TRANSIENT_CODES.contains(&code)) || {
                let status = err.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
                status == 429 || status >= 500
            }
        }
        _ => false,
    }
}

/// The SDK configuration the function uses: the standard chain (region, credentials and the
/// `AWS_ENDPOINT_URL*` overrides), bounded timeouts, and short SDK-level retries.
pub fn sdk_config_loader(timing: &Timing) -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(timing.initial_backoff)
                .with_max_backoff(timing.max_backoff),
        )
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(timing.sdk_connect_timeout)
                .operation_attempt_timeout(timing.sdk_attempt_timeout)
                .build(),
        )
}

/// The Secrets Manager calls the rotation makes. [`Store`] is the real one; tests also run the
/// rotation against an in-memory store on a paused clock.
pub trait SecretStore: Send + Sync {
    fn describe(&self, secret_id: &str) -> impl Future<Output = Result<SecretMeta, StoreError>> + Send;

    /// A version (by id, by stage, or both), or `None` when there is no such version or it has no
    /// value yet (the placeholder Secrets Manager stages before createSecret).
    fn value(
        &self,
        secret_id: &str,
        version_id: Option<&str>,
        stage: Option<&str>,
    ) -> impl Future<Output = Result<Option<Version>, StoreError>> + Send;

    /// Whether version `version_id` holds exactly `payload`; `None` when it has no value (yet).
    fn holds(
        &self,
        secret_id: &str,
        version_id: &str,
        payload: &Payload,
    ) -> impl Future<Output = Result<Option<bool>, StoreError>> + Send;

    /// One attempt at `write`, without retries of its own. A version that already holds exactly
    /// the value counts as stored (an earlier attempt landed); one with another value is a
    /// conflict.
    fn put_pending_once(
        &self,
        write: &PendingWrite<'_>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Moves AWSCURRENT to `token` from `current`; Secrets Manager moves AWSPREVIOUS along.
    fn make_current(
        &self,
        secret_id: &str,
        token: &str,
        current: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The Secrets Manager calls only the operator's commands make ([`crate::ops`]).
pub trait OperatorStore: SecretStore {
    /// The ARN of every secret that has the tag `tag_key`, all pages.
    fn list_tagged(&self, tag_key: &str) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// Takes `stage` off `version`. Fails if the label is not on that version (any more).
    fn remove_stage(
        &self,
        secret_id: &str,
        stage: &str,
        version: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Puts `stage` on `version` (a stage that is on no version: AWSPENDING, once removed).
    fn add_stage(
        &self,
        secret_id: &str,
        stage: &str,
        version: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stores `value` as a new version labelled AWSCURRENT (Secrets Manager moves AWSPREVIOUS
    /// along) and returns its id.
    fn put_current(
        &self,
        secret_id: &str,
        value: &Sensitive,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;
}

/// A write that must not be lost: the version `token` of the secret with `stages` (a new key:
/// AWSPENDING, AWSCURRENT too when promoting early; a rescued answer: ROTATION_RESCUE alone), with
/// the event's RotationToken.
#[derive(Clone, Copy, Debug)]
pub struct PendingWrite<'a> {
    pub secret_id: &'a str,
    pub token: &'a str,
    pub value: &'a Payload,
    pub rotation_token: Option<&'a Sensitive>,
    pub stages: &'a [&'a str],
}

impl PendingWrite<'_> {
    /// Whether the write makes the version AWSCURRENT (early promotion).
    pub fn promotes(&self) -> bool {
        self.stages.contains(&AWSCURRENT)
    }

    /// Whether the write has a fallback: the plain AWSPENDING write, for a key written with more
    /// labels (AWSCURRENT, the target record) that an IAM condition or the label quota may refuse.
    pub fn has_fallback(&self) -> bool {
        self.stages.contains(&AWSPENDING) && self.stages.len() > 1
    }
}

/// How storing a new key ended.
#[derive(Debug)]
pub enum Stored {
    /// A write succeeded, after this many attempts.
    Written(u32),
    /// Every write failed as far as this process could tell, yet the version holds the value: one
    /// landed unseen.
    ReadBack(u32),
}

/// Stores a new key, retrying with backoff until a write succeeds or `until` nears; a write is
/// only started with `timing.store_attempt_min` left. Every failure but a conflict is retried:
/// giving up loses the key, so even an access-denied (an IAM change still propagating) is worth
/// another try. A promoting write alone stops at the first failure retrying cannot fix, because
/// it has a fallback: the standard write. When every write failed, the version is
/// read back (within `timing.store_readback`), twice if a write was cut off in flight: a write
/// whose answer was lost still counts. Safe to repeat: the same token with the same value is
/// idempotent.
pub async fn put_pending<S: SecretStore>(
    store: &S,
    write: &PendingWrite<'_>,
    until: Instant,
    timing: &Timing,
) -> Result<Stored, StoreError> {
    let writes_until = until.checked_sub(timing.store_readback).unwrap_or_else(Instant::now);
    let mut backoff = timing.initial_backoff;
    let (mut attempt, mut cut_off) = (0, false);
    let failure = loop {
        attempt += 1;
        let error = match timeout_at(writes_until, store.put_pending_once(write)).await {
            Ok(Ok(())) => return Ok(Stored::Written(attempt)),
            Ok(Err(error)) if error.conflict => break error,
            // A write with a fallback stops here, without a read-back: the fallback writes the
            // same value under the same token, which finds an earlier write that landed.
            Ok(Err(error)) if !error.transient && write.has_fallback() => return Err(error),
            Ok(Err(error)) => error,
            Err(_) => {
                cut_off = true;
                StoreError::new("PutSecretValue", codes::TIMEOUT, true)
            }
        };
        // Another attempt only with the time it needs; the pause shrinks to leave it that.
        let spare =
            writes_until.saturating_duration_since(Instant::now()).checked_sub(timing.store_attempt_min);
        let Some(spare) = spare else {
            break StoreError { attempts: Some(attempt), ..error };
        };
        let pause = backoff.min(spare);
        warn!(attempt, error = %error, pause_ms = pause.as_millis() as u64, "PutSecretValue failed; retrying");
        sleep(pause).await;
        backoff = timing.next_backoff(backoff);
    };
    // The writes failed as far as this process can tell; one of them may still have landed, even
    // after the read-back started if it was cut off in flight: then read again at the end.
    let mut reads = if cut_off { 2 } else { 1 };
    loop {
        reads -= 1;
        let left = until.saturating_duration_since(Instant::now());
        let read = match timeout(left, store.holds(write.secret_id, write.token, write.value)).await {
            Ok(Ok(Some(true))) => {
                info!(
                    attempts = attempt,
                    "every PutSecretValue answer was a failure, but the version holds the new key"
                );
                return Ok(Stored::ReadBack(attempt));
            }
            Ok(Ok(_)) => ReadBack::NotThere,
            Ok(Err(read)) => ReadBack::Failed(read.code),
            Err(_) => ReadBack::TimedOut,
        };
        let pause = until.saturating_duration_since(Instant::now()) / 2;
        if reads == 0 || pause < timing.store_attempt_min / 2 {
            return Err(StoreError { read_back: Some(read), ..failure });
        }
        sleep(pause).await;
    }
}

#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
}

impl Store {
    pub fn new(client: Client) -> Self {
        Store { client }
    }

    /// UpdateSecretVersionStage: `stage` onto `to` and off `from`. Naming `from` makes it a
    /// compare-and-swap: Secrets Manager refuses if the label is not there.
    async fn move_stage(
        &self,
        secret_id: &str,
        stage: &str,
        to: Option<&str>,
        from: Option<&str>,
    ) -> Result<(), StoreError> {
        self.client
            .update_secret_version_stage()
            .secret_id(secret_id)
            .version_stage(stage)
            .set_move_to_version_id(to.map(str::to_owned))
            .set_remove_from_version_id(from.map(str::to_owned))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StoreError::from_sdk("UpdateSecretVersionStage", &e))
    }
}

impl SecretStore for Store {
    async fn describe(&self, secret_id: &str) -> Result<SecretMeta, StoreError> {
        let out = self
            .client
            .describe_secret()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("DescribeSecret", &e))?;
        let rules = out.rotation_rules();
        let time = |date: Option<&aws_sdk_secretsmanager::primitives::DateTime>| {
            date.and_then(|date| SystemTime::try_from(*date).ok())
        };
        Ok(SecretMeta {
            arn: out.arn().unwrap_or(secret_id).to_owned(),
            name: out.name().unwrap_or(secret_id).to_owned(),
            rotation_enabled: out.rotation_enabled() == Some(true),
            rotation_function: out.rotation_lambda_arn().filter(|arn| !arn.is_empty()).map(str::to_owned),
            versions: out.version_ids_to_stages().cloned().unwrap_or_default(),
            tags: out
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned())))
                .collect(),
            after_days: rules.and_then(|r| r.automatically_after_days()),
            schedule_expression: rules.and_then(|r| r.schedule_expression()).map(str::to_owned),
            kms_key_id: out.kms_key_id().filter(|id| !id.is_empty()).map(str::to_owned),
            last_rotated: time(out.last_rotated_date()),
            next_rotation: time(out.next_rotation_date()),
        })
    }

    async fn value(
        &self,
        secret_id: &str,
        version_id: Option<&str>,
        stage: Option<&str>,
    ) -> Result<Option<Version>, StoreError> {
        let result = self
            .client
            .get_secret_value()
            .secret_id(secret_id)
            .set_version_id(version_id.map(str::to_owned))
            .set_version_stage(stage.map(str::to_owned))
            .send()
            .await;
        match result {
            Ok(out) => match out.secret_string() {
                Some(text) => Ok(Some(Version {
                    id: out.version_id().map(str::to_owned),
                    text: Sensitive::new(text),
                    created: out.created_date().and_then(|date| SystemTime::try_from(*date).ok()),
                })),
                None => Err(StoreError::new("GetSecretValue", codes::BINARY, false).with_message(format!(
                    "the version {} holds a SecretBinary; this function rotates keys kept in SecretString",
                    version_id.or(stage).unwrap_or_default()
                ))),
            },
            Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => {
                Ok(None)
            }
            Err(err) => Err(StoreError::from_sdk("GetSecretValue", &err)),
        }
    }

    async fn holds(
        &self,
        secret_id: &str,
        version_id: &str,
        payload: &Payload,
    ) -> Result<Option<bool>, StoreError> {
        let result = self.client.get_secret_value().secret_id(secret_id).version_id(version_id).send().await;
        let out = match result {
            Ok(out) => out,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => {
                return Ok(None);
            }
            Err(err) => return Err(StoreError::from_sdk("GetSecretValue", &err)),
        };
        Ok(Some(match payload {
            Payload::Text(text) => out.secret_string() == Some(text.expose()),
            Payload::Binary(bytes) => out.secret_binary().map(|b| b.as_ref()) == Some(bytes.expose()),
        }))
    }

    async fn put_pending_once(&self, write: &PendingWrite<'_>) -> Result<(), StoreError> {
        let PendingWrite { secret_id, token, value, rotation_token, .. } = *write;
        let (text, binary) = match value {
            Payload::Text(text) => (Some(text.expose().to_owned()), None),
            Payload::Binary(bytes) => (None, Some(Blob::new(bytes.expose()))),
        };
        let result = self
            .client
            .put_secret_value()
            .secret_id(secret_id)
            .client_request_token(token)
            .set_secret_string(text)
            .set_secret_binary(binary)
            .set_version_stages(Some(write.stages.iter().map(|s| s.to_string()).collect()))
            .set_rotation_token(rotation_token.map(|t| t.expose().to_owned()))
            .customize()
            // This loop is the retry policy for the one write that must not be lost.
            .config_override(
                aws_sdk_secretsmanager::config::Builder::default().retry_config(RetryConfig::disabled()),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // An earlier attempt may have landed without its answer reaching us. The version is
            // immutable: if it holds our value (whatever its labels now), the write is done.
            Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_exists_exception()) => {
                match self.holds(secret_id, token, value).await? {
                    Some(true) => Ok(()),
                    // Exists, but its value cannot be read yet: not known to differ, so retry.
                    None => Err(StoreError::new("PutSecretValue", codes::NOT_READABLE_YET, true)
                        .with_message(format!("version {token} exists and cannot be read yet"))),
                    Some(false) => Err(StoreError {
                        conflict: true,
                        ..StoreError::new("PutSecretValue", codes::CONFLICT, false)
                            .with_message(format!("version {token} already holds a different value"))
                    }),
                }
            }
            Err(err) => Err(StoreError::from_sdk("PutSecretValue", &err)),
        }
    }

    async fn make_current(
        &self,
        secret_id: &str,
        token: &str,
        current: Option<&str>,
    ) -> Result<(), StoreError> {
        self.move_stage(secret_id, AWSCURRENT, Some(token), current).await
    }
}

impl OperatorStore for Store {
    async fn list_tagged(&self, tag_key: &str) -> Result<Vec<String>, StoreError> {
        let filter = Filter::builder().key(FilterNameStringType::TagKey).values(tag_key).build();
        let mut pages = self.client.list_secrets().filters(filter).into_paginator().send();
        let mut arns = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| StoreError::from_sdk("ListSecrets", &e))?;
            // The tag-key filter matches prefixes: keep the exact key only.
            let tagged = page
                .secret_list()
                .iter()
                .filter(|entry| entry.tags().iter().any(|t| t.key() == Some(tag_key)));
            arns.extend(tagged.filter_map(|entry| entry.arn().map(str::to_owned)));
        }
        Ok(arns)
    }

    async fn remove_stage(&self, secret_id: &str, stage: &str, version: &str) -> Result<(), StoreError> {
        self.move_stage(secret_id, stage, None, Some(version)).await
    }

    async fn add_stage(&self, secret_id: &str, stage: &str, version: &str) -> Result<(), StoreError> {
        self.move_stage(secret_id, stage, Some(version), None).await
    }

    async fn put_current(&self, secret_id: &str, value: &Sensitive) -> Result<String, StoreError> {
        // No ClientRequestToken: the SDK makes one, and keeps it across its own retries.
        let out = self
            .client
            .put_secret_value()
            .secret_id(secret_id)
            .secret_string(value.expose())
            .version_stages(AWSCURRENT)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("PutSecretValue", &e))?;
        Ok(out.version_id().unwrap_or_default().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aws_sdk_secretsmanager::operation::get_secret_value::{GetSecretValueError, GetSecretValueOutput};
    use aws_sdk_secretsmanager::operation::put_secret_value::{PutSecretValueError, PutSecretValueOutput};
    use aws_sdk_secretsmanager::types::error::{ResourceExistsException, ResourceNotFoundException};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    use super::*;

    fn timing() -> Timing {
        Timing {
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
            store_readback: Duration::from_millis(100),
            store_attempt_min: Duration::from_millis(20),
            ..Timing::default()
        }
    }

    fn until() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    /// Stores `value` as version `token` of the secret "s", as createSecret does.
    async fn put(
        store: &Store,
        token: &str,
        value: &str,
        until: Instant,
        timing: &Timing,
    ) -> Result<Stored, StoreError> {
        let value = Payload::Text(Sensitive::new(value));
        let write = PendingWrite {
            secret_id: "s",
            token,
            value: &value,
            rotation_token: None,
            stages: &[AWSPENDING],
        };
        put_pending(store, &write, until, timing).await
    }

    fn error_body(code: &str) -> Option<String> {
        Some(format!(r#"{{"__type":"{code}","message":"from a mock"}}"#))
    }

    /// The version holds no value: the read-back after failed writes finds nothing.
    fn nothing_stored() -> aws_smithy_mocks::Rule {
        mock!(Client::get_secret_value).then_error(|| {
            GetSecretValueError::ResourceNotFoundException(
                ResourceNotFoundException::builder().message("no value").build(),
            )
        })
    }

    fn resource_exists() -> PutSecretValueError {
        PutSecretValueError::ResourceExistsException(
            ResourceExistsException::builder().message("in use").build(),
        )
    }

    #[tokio::test]
    async fn a_write_whose_answer_was_lost_is_recognised() {
        // The first attempt landed, its answer did not; the retry meets ResourceExistsException.
        // The version is read by id alone: its label may be gone, the value is what counts.
        let put_rule = mock!(Client::put_secret_value).then_error(resource_exists);
        let read = mock!(Client::get_secret_value)
            .match_requests(|r| r.version_id() == Some("token-1") && r.version_stage().is_none())
            .then_output(|| GetSecretValueOutput::builder().secret_string("{\"api_key\":\"new\"}").build());
        let store = Store::new(mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, [&put_rule, &read]));
        let stored = put(&store, "token-1", "{\"api_key\":\"new\"}", until(), &timing()).await.unwrap();
        assert!(matches!(stored, Stored::Written(1)), "{stored:?}");
        assert_eq!((put_rule.num_calls(), read.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn a_different_value_under_the_token_is_a_conflict_never_retried() {
        let put_rule = mock!(Client::put_secret_value).then_error(resource_exists);
        let read = mock!(Client::get_secret_value)
            .then_output(|| GetSecretValueOutput::builder().secret_string("other").build());
        let store = Store::new(mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, [&put_rule, &read]));
        let err = put(&store, "token-1", "mine", until(), &timing()).await.unwrap_err();
        assert!(err.conflict && err.to_string().contains("different value"), "{err:?}");
        assert_eq!(put_rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn every_failure_but_a_conflict_is_retried() {
        let put_rule = mock!(Client::put_secret_value)
            .sequence()
            .http_status(400, error_body("ThrottlingException"))
            .http_status(503, error_body("ServiceUnavailable"))
            .http_status(500, error_body("InternalServiceError"))
            // An IAM fix still propagating: giving up would lose the key.
            .http_status(400, error_body("AccessDeniedException"))
            .output(|| PutSecretValueOutput::builder().build())
            .build();
        let store = Store::new(mock_client!(aws_sdk_secretsmanager, [&put_rule]));
        let stored = put(&store, "t", "v", until(), &timing()).await.unwrap();
        assert!(matches!(stored, Stored::Written(5)), "{stored:?}");
    }

    #[tokio::test]
    async fn a_write_with_a_fallback_stops_at_a_permanent_failure() {
        let denied = mock!(Client::put_secret_value)
            .sequence()
            .http_status(400, error_body("AccessDeniedException"))
            .times(5)
            .build();
        let read = nothing_stored();
        let store = Store::new(mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, [&denied, &read]));
        let value = Payload::Text(Sensitive::new("v"));
        let stages = &[AWSPENDING, AWSCURRENT];
        let write = PendingWrite { secret_id: "s", token: "t", value: &value, rotation_token: None, stages };
        let err = put_pending(&store, &write, until(), &timing()).await.unwrap_err();
        assert!(!err.transient && err.is("AccessDeniedException"), "{err:?}");
        assert_eq!(denied.num_calls(), 1);
    }

    #[tokio::test]
    async fn retries_stop_at_the_deadline() {
        let put_rule = mock!(Client::put_secret_value)
            .sequence()
            .http_status(500, error_body("InternalServiceError"))
            .times(10_000)
            .build();
        let read = nothing_stored();
        let store = Store::new(mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, [&put_rule, &read]));
        let started = Instant::now();
        let err =
            put(&store, "t", "v", Instant::now() + Duration::from_millis(300), &timing()).await.unwrap_err();
        assert!(err.to_string().contains("gave up after"), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(put_rule.num_calls() > 3, "it kept trying until the deadline: {}", put_rule.num_calls());
        assert_eq!(read.num_calls(), 1, "read back once before giving up");
    }

    #[tokio::test]
    async fn the_pause_shrinks_so_that_the_last_attempt_is_made() {
        let put_rule = mock!(Client::put_secret_value)
            .sequence()
            .http_status(500, error_body("InternalServiceError"))
            .output(|| PutSecretValueOutput::builder().build())
            .build();
        let store = Store::new(mock_client!(aws_sdk_secretsmanager, [&put_rule]));
        // 400 ms for writes, a first pause of 1 s: the second attempt still goes.
        let timing = Timing { initial_backoff: Duration::from_secs(1), ..timing() };
        let stored =
            put(&store, "t", "v", Instant::now() + Duration::from_millis(500), &timing).await.unwrap();
        assert!(matches!(stored, Stored::Written(2)), "{stored:?}");
    }

    #[tokio::test]
    async fn a_garbled_answer_never_reaches_the_error_text() {
        // A 200 whose body cannot be parsed: the SDK's own rendering of that error quotes the
        // body, SecretString and all; ours carries the call, a code and the status only.
        const SECRET: &str = "cal_live_garbled0123456789abcdef012345";
        let garbled = || Some(format!(r#"{{"ARN":"a","SecretString":"{SECRET}","VersionId":7,"#));
        let rule = mock!(Client::get_secret_value).sequence().http_status(200, garbled()).times(2).build();
        let client = mock_client!(aws_sdk_secretsmanager, [&rule]);
        let raw = client.get_secret_value().secret_id("s").send().await.unwrap_err();
        assert!(
            aws_sdk_secretsmanager::error::DisplayErrorContext(&raw).to_string().contains(SECRET),
            "the SDK's rendering is what this test guards against"
        );
        let err = Store::new(client).value("s", None, Some(AWSCURRENT)).await.unwrap_err();
        assert_eq!((err.code.as_str(), err.status), (codes::UNREADABLE, Some(200)));
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(!shown.contains(SECRET) && !shown.contains("SecretString"), "{shown}");
        }
        assert!(err.transient, "a garbled answer is worth another try");
    }

    #[tokio::test]
    async fn a_write_that_landed_unseen_is_found_by_reading_back() {
        // Every answer is a failure (say, a timeout after the write was applied), but the
        // version holds the value: the key is stored, not lost.
        let put_rule = mock!(Client::put_secret_value)
            .sequence()
            .http_status(500, error_body("InternalServiceError"))
            .times(10_000)
            .build();
        let read = mock!(Client::get_secret_value)
            .match_requests(|r| r.version_id() == Some("t"))
            .then_output(|| GetSecretValueOutput::builder().secret_string("v").build());
        let store = Store::new(mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, [&put_rule, &read]));
        let stored =
            put(&store, "t", "v", Instant::now() + Duration::from_millis(300), &timing()).await.unwrap();
        assert!(matches!(stored, Stored::ReadBack(n) if n > 1), "{stored:?}");
        assert_eq!(read.num_calls(), 1);
    }
}
