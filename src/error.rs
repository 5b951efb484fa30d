//! The errorType names: what a failed rotation step reports to Secrets Manager, and what the
//! metrics record counts. The error itself, with its data and words, is the rotation's
//! ([`crate::rotation::Error`]).

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
    /// A create-then-revoke vendor may hold a key no one has (a create whose key was never
    /// stored); it is never created again for the same rotation.
    KeyOrphaned,
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
            ErrorType::KeyOrphaned => "KeyOrphaned",
            ErrorType::OutcomeUnknown => "OutcomeUnknown",
            ErrorType::Vendor => "Vendor",
            ErrorType::Store => "Store",
        }
    }
}
