//! A failed Secrets Manager call as data, and the one place that decides what is worth retrying
//! ([`is_transient`]).

use std::fmt;

use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::operation::RequestId;

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

    pub(crate) fn from_sdk<E>(operation: &'static str, err: &SdkError<E, HttpResponse>) -> Self
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
