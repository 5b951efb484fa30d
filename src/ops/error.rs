//! What the commands say went wrong, as data, with their words written once beside the types:
//! a failed Secrets Manager call as an operator reads it ([`StoreProblem`]), and why taking
//! AWSPENDING off a version did not (or may not have) happened ([`ClearError`]).

use std::fmt;

use crate::store::StoreError;

/// A failed Secrets Manager call, for an operator: the call's message and whether trying again
/// may help.
#[derive(Clone, Debug, PartialEq)]
pub struct StoreProblem(pub StoreError);

impl fmt::Display for StoreProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        if self.0.transient {
            f.write_str(" (a transient failure: run the command again)")?;
        }
        Ok(())
    }
}

impl From<StoreError> for StoreProblem {
    fn from(error: StoreError) -> Self {
        StoreProblem(error)
    }
}

/// Why AWSPENDING is still on a version, or may be.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ClearError {
    #[error(
        "version {version} holds a value now, or cannot be read: a rotation may be running. Nothing was changed; run the command again once it has finished"
    )]
    HoldsValue { version: String },

    #[error("{0}")]
    Store(StoreProblem),

    /// A rotation stored its key in the version just after the label came off; the label went
    /// back on (`put_back` is how that went).
    #[error(
        "AWSPENDING was removed and {}: a rotation stored its key in version {version} meanwhile; let it finish, then run status",
        match put_back {
            None => "put back".to_owned(),
            Some(problem) => format!("putting it back failed ({problem}); put it back: aws secretsmanager update-secret-version-stage --secret-id {arn} --version-stage AWSPENDING --move-to-version-id {version}"),
        }
    )]
    Raced { arn: String, version: String, put_back: Option<StoreProblem> },

    #[error(
        "AWSPENDING was removed from version {version}, but reading it again failed ({problem}): check with `api-key-rotator status {arn}` that it holds no value"
    )]
    NotReadAgain { arn: String, version: String, problem: StoreProblem },

    #[error("version {version} took AWSPENDING after the secret was read: a rotation ran meanwhile")]
    TookTheLabel { version: String },
}
