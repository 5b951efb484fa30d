//! Secrets Manager: the calls the rotation makes, and the one place that decides what is worth
//! retrying ([`is_transient`]).

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::config::retry::RetryConfig;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use tokio::time::{Instant, sleep, timeout};
use tracing::warn;

use crate::config::Timing;
use crate::sensitive::Sensitive;

pub const AWSCURRENT: &str = "AWSCURRENT";
pub const AWSPENDING: &str = "AWSPENDING";

/// What DescribeSecret says about a secret, reduced to what the rotation needs.
#[derive(Clone, Debug)]
pub struct SecretMeta {
    pub arn: String,
    pub rotation_enabled: bool,
    pub versions: HashMap<String, Vec<String>>,
    pub tags: HashMap<String, String>,
    pub after_days: Option<i64>,
    pub schedule_expression: Option<String>,
}

impl SecretMeta {
    pub fn version_with(&self, stage: &str) -> Option<&str> {
        self.versions.iter().find(|(_, stages)| stages.iter().any(|s| s == stage)).map(|(id, _)| id.as_str())
    }

    pub fn has_stage(&self, version: &str, stage: &str) -> bool {
        self.versions.get(version).is_some_and(|stages| stages.iter().any(|s| s == stage))
    }
}

/// A failed Secrets Manager call, described for an operator, and whether retrying may help.
#[derive(Debug)]
pub struct StoreError {
    pub message: String,
    pub transient: bool,
}

impl StoreError {
    fn from_sdk<E>(operation: &str, err: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        StoreError {
            message: format!("{operation} failed: {}", DisplayErrorContext(err)),
            transient: is_transient(err),
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
pub fn sdk_config_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(200))
                .with_max_backoff(Duration::from_secs(2)),
        )
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(Duration::from_secs(10))
                .build(),
        )
}

#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
}

impl Store {
    pub fn new(client: Client) -> Self {
        Store { client }
    }

    pub async fn describe(&self, secret_id: &str) -> Result<SecretMeta, StoreError> {
        let out = self
            .client
            .describe_secret()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("DescribeSecret", &e))?;
        let rules = out.rotation_rules();
        Ok(SecretMeta {
            arn: out.arn().unwrap_or(secret_id).to_owned(),
            rotation_enabled: out.rotation_enabled() == Some(true),
            versions: out.version_ids_to_stages().cloned().unwrap_or_default(),
            tags: out
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned())))
                .collect(),
            after_days: rules.and_then(|r| r.automatically_after_days()),
            schedule_expression: rules.and_then(|r| r.schedule_expression()).map(str::to_owned),
        })
    }

    /// The SecretString of a version, or `None` when that version has no value yet (the
    /// placeholder Secrets Manager stages before createSecret).
    pub async fn value(
        &self,
        secret_id: &str,
        version_id: Option<&str>,
        stage: &str,
    ) -> Result<Option<Sensitive>, StoreError> {
        let result = self
            .client
            .get_secret_value()
            .secret_id(secret_id)
            .set_version_id(version_id.map(str::to_owned))
            .version_stage(stage)
            .send()
            .await;
        match result {
            Ok(out) => match out.secret_string() {
                Some(text) => Ok(Some(Sensitive::new(text))),
                None => Err(StoreError {
                    message: format!(
                        "the {stage} version holds a SecretBinary; this function rotates keys kept in SecretString"
                    ),
                    transient: false,
                }),
            },
            Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => {
                Ok(None)
            }
            Err(err) => Err(StoreError::from_sdk("GetSecretValue", &err)),
        }
    }

    /// Stores `value` as the AWSPENDING version `token`, retrying transient failures with backoff
    /// until it succeeds or `until` comes. Safe to repeat: the same token with the same value is
    /// idempotent. Returns the number of attempts.
    pub async fn put_pending(
        &self,
        secret_id: &str,
        token: &str,
        value: &Sensitive,
        rotation_token: Option<&Sensitive>,
        until: Instant,
        timing: &Timing,
    ) -> Result<u32, StoreError> {
        let mut backoff = timing.initial_backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let left = until.saturating_duration_since(Instant::now());
            let error = match timeout(left, self.put_once(secret_id, token, value, rotation_token)).await {
                Ok(Ok(())) => return Ok(attempt),
                Ok(Err(error)) if !error.transient => return Err(error),
                Ok(Err(error)) => error,
                Err(_) => StoreError { message: "PutSecretValue timed out".into(), transient: true },
            };
            if Instant::now() + backoff >= until {
                return Err(StoreError {
                    message: format!("{} (gave up after {attempt} attempts, at the deadline)", error.message),
                    transient: true,
                });
            }
            warn!(attempt, error = %error.message, backoff_ms = backoff.as_millis() as u64, "PutSecretValue failed; retrying");
            sleep(backoff).await;
            backoff = timing.next_backoff(backoff);
        }
    }

    async fn put_once(
        &self,
        secret_id: &str,
        token: &str,
        value: &Sensitive,
        rotation_token: Option<&Sensitive>,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .put_secret_value()
            .secret_id(secret_id)
            .client_request_token(token)
            .secret_string(value.expose())
            .version_stages(AWSPENDING)
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
            // immutable: if it holds our value, the write is done.
            Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_exists_exception()) => {
                match self.value(secret_id, Some(token), AWSPENDING).await? {
                    Some(stored) if stored == *value => Ok(()),
                    _ => Err(StoreError {
                        message: format!(
                            "PutSecretValue refused: version {token} already holds a different value"
                        ),
                        transient: false,
                    }),
                }
            }
            Err(err) => Err(StoreError::from_sdk("PutSecretValue", &err)),
        }
    }

    /// Moves AWSCURRENT to `token`; Secrets Manager moves AWSPREVIOUS along.
    pub async fn make_current(
        &self,
        secret_id: &str,
        token: &str,
        current: Option<&str>,
    ) -> Result<(), StoreError> {
        self.client
            .update_secret_version_stage()
            .secret_id(secret_id)
            .version_stage(AWSCURRENT)
            .move_to_version_id(token)
            .set_remove_from_version_id(current.map(str::to_owned))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StoreError::from_sdk("UpdateSecretVersionStage", &e))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput;
    use aws_sdk_secretsmanager::operation::put_secret_value::{PutSecretValueError, PutSecretValueOutput};
    use aws_sdk_secretsmanager::types::error::ResourceExistsException;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    use super::*;

    fn timing() -> Timing {
        Timing {
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
            ..Timing::default()
        }
    }

    fn until() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    fn error_body(code: &str) -> Option<String> {
        Some(format!(r#"{{"__type":"{code}","message":"from a mock"}}"#))
    }

    fn resource_exists() -> PutSecretValueError {
        PutSecretValueError::ResourceExistsException(
            ResourceExistsException::builder().message("in use").build(),
        )
    }

    #[tokio::test]
    async fn a_write_whose_answer_was_lost_is_recognised() {
        // The first attempt landed, its answer did not; the retry meets ResourceExistsException.
        let put = mock!(Client::put_secret_value).then_error(resource_exists);
        let read = mock!(Client::get_secret_value)
            .match_requests(|r| r.version_id() == Some("token-1") && r.version_stage() == Some(AWSPENDING))
            .then_output(|| GetSecretValueOutput::builder().secret_string("{\"api_key\":\"new\"}").build());
        let store = Store::new(mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, [&put, &read]));
        let value = Sensitive::new("{\"api_key\":\"new\"}");
        let attempts = store.put_pending("s", "token-1", &value, None, until(), &timing()).await.unwrap();
        assert_eq!((attempts, put.num_calls(), read.num_calls()), (1, 1, 1));
    }

    #[tokio::test]
    async fn a_different_value_under_the_token_is_not_overwritten_or_retried() {
        let put = mock!(Client::put_secret_value).then_error(resource_exists);
        let read = mock!(Client::get_secret_value)
            .then_output(|| GetSecretValueOutput::builder().secret_string("other").build());
        let store = Store::new(mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, [&put, &read]));
        let err = store
            .put_pending("s", "token-1", &Sensitive::new("mine"), None, until(), &timing())
            .await
            .unwrap_err();
        assert!(!err.transient && err.message.contains("different value"), "{err:?}");
        assert_eq!(put.num_calls(), 1);
    }

    #[tokio::test]
    async fn throttling_and_server_errors_are_retried_permanent_errors_are_not() {
        let put = mock!(Client::put_secret_value)
            .sequence()
            .http_status(400, error_body("ThrottlingException"))
            .http_status(503, error_body("ServiceUnavailable"))
            .http_status(500, error_body("InternalServiceError"))
            .output(|| PutSecretValueOutput::builder().build())
            .build();
        let store = Store::new(mock_client!(aws_sdk_secretsmanager, [&put]));
        let attempts =
            store.put_pending("s", "t", &Sensitive::new("v"), None, until(), &timing()).await.unwrap();
        assert_eq!(attempts, 4);

        let denied = mock!(Client::put_secret_value)
            .sequence()
            .http_status(400, error_body("AccessDeniedException"))
            .times(5)
            .build();
        let store = Store::new(mock_client!(aws_sdk_secretsmanager, [&denied]));
        let err =
            store.put_pending("s", "t", &Sensitive::new("v"), None, until(), &timing()).await.unwrap_err();
        assert!(!err.transient && err.message.contains("AccessDeniedException"), "{err:?}");
        assert_eq!(denied.num_calls(), 1);
    }

    #[tokio::test]
    async fn retries_stop_at_the_deadline() {
        let put = mock!(Client::put_secret_value)
            .sequence()
            .http_status(500, error_body("InternalServiceError"))
            .times(10_000)
            .build();
        let store = Store::new(mock_client!(aws_sdk_secretsmanager, [&put]));
        let started = Instant::now();
        let err = store
            .put_pending(
                "s",
                "t",
                &Sensitive::new("v"),
                None,
                Instant::now() + Duration::from_millis(300),
                &timing(),
            )
            .await
            .unwrap_err();
        assert!(err.message.contains("gave up after"), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(put.num_calls() > 3, "it kept trying until the deadline: {}", put.num_calls());
    }
}
