//! What can be wrong with the function's environment or a secret's tags, as data. The words are
//! written once, here; they name the variable or tag and say what to do.

use reqwest::Url;

use super::{DeclarationError, ENV_ALLOWED_HOSTS, ENV_VENDORS, TAG_BASE_URL, TAG_KEY_FIELD, TAG_VENDOR};
use crate::secret::ValueError;
use crate::vendors::ExpiryError;

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// `ROTATION_PROMOTE` or `rotation:promote` (`name`) is neither mode.
    #[error("{name} is {text:?}; it may only be \"standard\" or \"early\"")]
    Promote { name: &'static str, text: String },

    /// A vendor's base-URL variable (`CALCOM_BASE_URL`, …).
    #[error("{variable}: {problem}")]
    EnvBaseUrl { variable: &'static str, problem: UrlProblem },

    /// A vendor's built-in base URL does not parse (a defect, caught by the tests).
    #[error("{0}")]
    DefaultBaseUrl(url::ParseError),

    #[error("{ENV_ALLOWED_HOSTS}: {0}")]
    AllowedHost(HostProblem),

    /// A catalog vendor whose entry names no base URL (a Databricks workspace, say).
    #[error(
        "{vendor} has no default base URL: name the secret's in its {TAG_BASE_URL} tag (with {ENV_ALLOWED_HOSTS} listing {vendor}=HOST), or give one for every secret in {ENV_VENDORS} as {{\"{vendor}\": {{\"base_url\": \"https://…\"}}}}"
    )]
    NoBaseUrl { vendor: String },

    /// `ROTATION_VENDORS`.
    #[error(transparent)]
    Declaration(#[from] DeclarationError),

    #[error("{TAG_BASE_URL} {text:?}: {problem}")]
    BaseUrlTag { text: String, problem: UrlProblem },

    #[error(
        "{TAG_BASE_URL} {text:?} points at a host that is neither an official {vendor} host ({}) nor listed in {ENV_ALLOWED_HOSTS}; add it there if you trust it",
        official.join(", ")
    )]
    HostNotAllowed { text: String, vendor: &'static str, official: &'static [&'static str] },

    /// `known`: the built-in vendors and the declared ones.
    #[error("the secret has no {TAG_VENDOR} tag; set it to one of {known}")]
    NoVendor { known: String },

    #[error(
        "{TAG_VENDOR} is {name:?}; expected one of {known} (a vendor of your own is declared in the function's {ENV_VENDORS})"
    )]
    UnknownVendor { name: String, known: String },

    /// A declared vendor's base URL is its declaration's.
    #[error(
        "{vendor} is declared in the function's {ENV_VENDORS}, whose base_url is the only one its keys are sent to: remove the {TAG_BASE_URL} tag (a second base URL is a second declaration, under another name)"
    )]
    BaseUrlTagOnDeclared { vendor: &'static str },

    /// `rotation:key-field`.
    #[error(transparent)]
    KeyField(#[from] ValueError),

    /// Cal.com's expiry tags.
    #[error(transparent)]
    Expiry(#[from] ExpiryError),

    /// A version's record of what its key was issued for ([`super::Issued`]) does not read.
    #[error(
        "the version carries the label {label:?}, which does not read as the record of what its key was issued for; remove it by hand once you know where the key belongs"
    )]
    UnreadableRecord { label: String },

    #[error(
        "the version carries two records of what its key was issued for that disagree; remove the wrong one by hand"
    )]
    DisagreeingRecords,

    #[error(
        "{TAG_VENDOR} changed since createSecret: the key was issued by {issued}, and the tag now names {now}. Nothing was sent to any vendor; set {TAG_VENDOR} back to {issued}"
    )]
    VendorChanged { issued: String, now: &'static str },

    /// The `rotation:base-url` tag, or the vendor's variable (`variable`), names another base URL.
    #[error(
        "{TAG_BASE_URL} (or the function's {variable}) changed since createSecret: the key was not issued by {now}, the base URL they name now. Nothing was sent to any vendor; put the base URL back"
    )]
    BaseUrlChanged { variable: &'static str, now: Url },

    #[error(
        "{TAG_KEY_FIELD} changed since createSecret: the key was written to another field than \"{now}\". Nothing was sent to any vendor; put the tag back"
    )]
    KeyFieldChanged { now: String },
}

/// Why a base URL is refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum UrlProblem {
    #[error("not a URL ({0})")]
    NotAUrl(url::ParseError),

    #[error("credentials in a base URL are not allowed")]
    Credentials,

    #[error("a base URL may not have a query or fragment")]
    QueryOrFragment,

    #[error("http:// is allowed only for loopback hosts (127.0.0.0/8, ::1, localhost); use https://")]
    PlainHttp,

    #[error("scheme {0}:// is not allowed; use https://")]
    Scheme(String),

    /// A URL parser drops leading spaces and tabs: what it reads is not what a person sees.
    #[error("a base URL may not hold spaces, tabs or other control characters")]
    Whitespace,
}

/// Why an entry of `ROTATION_ALLOWED_HOSTS` is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HostProblem {
    #[error("{entry:?}: missing ']'")]
    MissingBracket { entry: String },

    #[error("{entry:?}: expected ':port' after ']'")]
    NoPortAfterBracket { entry: String },

    #[error("{entry:?} is not a host or host:port")]
    NotAHost { entry: String },

    #[error("{entry:?}: {port:?} is not a port")]
    NotAPort { entry: String, port: String },

    #[error("{entry:?}: no vendor before '='; write VENDOR=HOST, VENDOR being a rotation:vendor value")]
    NoVendor { entry: String },

    #[error(
        "{entry:?} names {vendor:?}, which is not a vendor whose secrets may carry a rotation:base-url tag ({known}); write VENDOR=HOST with one of them"
    )]
    UnknownVendor { entry: String, vendor: String, known: String },
}
