//! The writes that must not be lost, a new key and a kept rotate answer: retried until the
//! deadline nears, then read back before they are given up.

use tokio::time::{Instant, sleep, timeout, timeout_at};
use tracing::{info, warn};

use crate::store::{PendingWrite, ReadBack, SecretStore, StoreError, codes};
use crate::timing::{Timing, before, time_left};

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
    let writes_until = before(until, timing.store_readback);
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
        let spare = time_left(writes_until).checked_sub(timing.store_attempt_min);
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
        let left = time_left(until);
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
        let pause = time_left(until) / 2;
        if reads == 0 || pause < timing.store_attempt_min / 2 {
            return Err(StoreError { read_back: Some(read), ..failure });
        }
        sleep(pause).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aws_sdk_secretsmanager::Client;
    use aws_sdk_secretsmanager::operation::get_secret_value::{GetSecretValueError, GetSecretValueOutput};
    use aws_sdk_secretsmanager::operation::put_secret_value::{PutSecretValueError, PutSecretValueOutput};
    use aws_sdk_secretsmanager::types::error::{ResourceExistsException, ResourceNotFoundException};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    use super::*;
    use crate::sensitive::Sensitive;
    use crate::store::{AWSCURRENT, AWSPENDING, Payload, Store};

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
