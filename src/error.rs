//! The one error type. Its variant name is the Lambda error's `errorType`; its message names the
//! secret, the step, the vendor and what the operator should do next.

use std::fmt;

use lambda_runtime::Diagnostic;

use crate::event::Step;

/// Where an error happened: filled in as the invocation learns more.
#[derive(Clone, Debug, Default)]
pub struct Context {
    pub secret: Option<String>,
    pub step: Option<Step>,
    pub vendor: Option<&'static str>,
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let step = self.step.map_or("rotation", Step::as_str);
        let secret = self.secret.as_deref().unwrap_or("<unknown secret>");
        write!(f, "{step} for secret {secret}")?;
        if let Some(vendor) = self.vendor {
            write!(f, " (vendor {vendor})")?;
        }
        Ok(())
    }
}

/// What went wrong. Messages never contain key material, the RotationToken or a vendor body.
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    #[error(
        "invalid event: {0}. Secrets Manager sends {{Step, SecretId, ClientRequestToken, RotationToken}}; check what invoked this function"
    )]
    InvalidEvent(String),

    #[error("{0}")]
    NotRotatable(String),

    /// `before_rotate`: raised by createSecret, before anything was sent; otherwise by a later step,
    /// with the new key kept in AWSPENDING.
    #[error("configuration error: {problem}. {}", if *before_rotate {
        "Nothing was sent to the vendor; fix the secret's tags or value (or the function's environment) and rotate again"
    } else {
        "Nothing was changed and the pending version is kept; fix the tags and Secrets Manager's retry (or rotate-secret) continues this rotation"
    })]
    Config { problem: String, before_rotate: bool },

    #[error("{0}")]
    Timeout(String),

    #[error("{0}")]
    VendorRejectedKey(String),

    #[error("{0} See README.md, section \"Recovery: new key lost\".")]
    KeyLost(String),

    #[error("{0} See README.md, section \"Recovery: rotate outcome unknown\".")]
    OutcomeUnknown(String),

    #[error("{0}")]
    Vendor(String),

    #[error("{0}")]
    Store(String),
}

impl ErrorKind {
    /// A configuration problem found by createSecret, before any vendor call.
    pub fn config(problem: String) -> Self {
        ErrorKind::Config { problem, before_rotate: true }
    }

    /// A configuration problem found by a step after createSecret.
    pub fn config_later(problem: String) -> Self {
        ErrorKind::Config { problem, before_rotate: false }
    }

    /// The kind without its data.
    pub fn error_type(&self) -> ErrorType {
        match self {
            ErrorKind::InvalidEvent(_) => ErrorType::InvalidEvent,
            ErrorKind::NotRotatable(_) => ErrorType::NotRotatable,
            ErrorKind::Config { .. } => ErrorType::Config,
            ErrorKind::Timeout(_) => ErrorType::Timeout,
            ErrorKind::VendorRejectedKey(_) => ErrorType::VendorRejectedKey,
            ErrorKind::KeyLost(_) => ErrorType::KeyLost,
            ErrorKind::OutcomeUnknown(_) => ErrorType::OutcomeUnknown,
            ErrorKind::Vendor(_) => ErrorType::Vendor,
            ErrorKind::Store(_) => ErrorType::Store,
        }
    }

    pub fn name(&self) -> &'static str {
        self.error_type().as_str()
    }
}

/// What kind of error, without its data: the Lambda error's `errorType`, and what the metrics
/// record counts (`Failure`'s `ErrorType` property, `KeyLost`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorType {
    InvalidEvent,
    NotRotatable,
    Config,
    Timeout,
    VendorRejectedKey,
    KeyLost,
    OutcomeUnknown,
    Vendor,
    Store,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::InvalidEvent => "InvalidEvent",
            ErrorType::NotRotatable => "NotRotatable",
            ErrorType::Config => "Config",
            ErrorType::Timeout => "Timeout",
            ErrorType::VendorRejectedKey => "VendorRejectedKey",
            ErrorType::KeyLost => "KeyLost",
            ErrorType::OutcomeUnknown => "OutcomeUnknown",
            ErrorType::Vendor => "Vendor",
            ErrorType::Store => "Store",
        }
    }
}

/// An error with its context: what the Lambda returns to Secrets Manager.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {kind}")]
pub struct Error {
    pub context: Context,
    pub kind: ErrorKind,
}

impl Error {
    pub fn error_type(&self) -> &'static str {
        self.kind.name()
    }
}

impl From<Error> for Diagnostic {
    fn from(error: Error) -> Diagnostic {
        Diagnostic { error_type: error.error_type().to_owned(), error_message: error.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostic_carries_the_variant_and_the_context() {
        let error = Error {
            context: Context {
                secret: Some("arn:aws:secretsmanager:eu-west-1:1:secret:cal".into()),
                step: Some(Step::CreateSecret),
                vendor: Some("calcom"),
            },
            kind: ErrorKind::config("the tag rotation:vendor is missing".into()),
        };
        let diagnostic = Diagnostic::from(error);
        assert_eq!(diagnostic.error_type, "Config");
        assert!(diagnostic.error_message.starts_with(
            "createSecret for secret arn:aws:secretsmanager:eu-west-1:1:secret:cal (vendor calcom): configuration error: the tag rotation:vendor is missing."
        ));
    }
}
