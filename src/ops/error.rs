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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigError;
    use crate::ops::{Applied, ApplyError, RecoverError};
    use crate::secret::{KeyFlaw, NotAKey, ValueError};
    use crate::vendors::Verdict;

    /// Every refusal and failure the commands word themselves, from fixed inputs, byte for byte
    /// (tests/golden/ops.txt). The reports around them are in tests/golden/cli.txt.
    #[test]
    fn every_command_error_renders_as_the_golden_text() {
        const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:vendors/calcom-AbCdEf";
        let arn = || ARN.to_owned();
        let store = |transient| StoreProblem(StoreError::new("GetSecretValue", "Throttling", transient));
        let version = || "v2".to_owned();
        let fingerprint = || "sha256:0123456789ab".to_owned();
        let texts: Vec<String> = [
            store(false).to_string(),
            store(true).to_string(),
            ClearError::HoldsValue { version: version() }.to_string(),
            ClearError::Store(store(false)).to_string(),
            ClearError::Raced { arn: arn(), version: version(), put_back: None }.to_string(),
            ClearError::Raced { arn: arn(), version: version(), put_back: Some(store(true)) }.to_string(),
            ClearError::NotReadAgain { arn: arn(), version: version(), problem: store(false) }.to_string(),
            ClearError::TookTheLabel { version: version() }.to_string(),
            Applied::Finished { pending: version(), current: "v1".into(), not_told: None }.to_string(),
            Applied::Cleared { arn: arn(), version: version() }.to_string(),
            Applied::Nothing.to_string(),
            ApplyError::Store(store(false)).to_string(),
            ApplyError::MoveUnknown { problem: store(true), pending: version(), arn: arn() }.to_string(),
            ApplyError::Clear(ClearError::TookTheLabel { version: version() }).to_string(),
            RecoverError::TooLong.to_string(),
            RecoverError::NotAKey(NotAKey {
                what: "the key read from standard input".into(),
                flaw: KeyFlaw::Spaces,
            })
            .to_string(),
            RecoverError::SecretUnreadable(store(false)).to_string(),
            RecoverError::Tags(ConfigError::NoVendor { known: crate::vendors::names() }).to_string(),
            RecoverError::NoCurrentValue.to_string(),
            RecoverError::CurrentUnreadable(store(true)).to_string(),
            RecoverError::CurrentNotInPlace(ValueError::NoField { key_field: "api_key".into() }).to_string(),
            RecoverError::PendingUnreadable(store(false)).to_string(),
            RecoverError::PendingNotIssuedHere {
                version: version(),
                problem: ConfigError::VendorChanged { issued: "calcom".into(), now: "ringg" },
            }
            .to_string(),
            RecoverError::PendingNotAKey { version: version(), problem: ValueError::EmptyKeyField }
                .to_string(),
            RecoverError::PendingLive { version: version(), fingerprint: fingerprint(), arn: arn() }
                .to_string(),
            RecoverError::PendingNoVerdict {
                version: version(),
                verdict: Verdict::Unavailable("HTTP 503".into()),
            }
            .to_string(),
            RecoverError::Refused { vendor: "calcom", fingerprint: fingerprint(), status: 401 }.to_string(),
            RecoverError::NoVerdict {
                vendor: "calcom",
                verdict: Verdict::RateLimited(std::time::Duration::from_secs(60)),
            }
            .to_string(),
            RecoverError::NotStored { problem: store(true), arn: arn(), fingerprint: fingerprint() }
                .to_string(),
        ]
        .into();
        crate::golden::compare("ops.txt", &(texts.join("\n") + "\n"));
    }
}
