//! Why a command could not run, each with its message and exit code; [`super::run`] prints them,
//! in one place.

use std::fmt;

use super::exit_codes::{PROBLEM, USAGE};
use crate::config::ConfigError;
use crate::store::StoreError;

#[derive(Debug)]
pub enum CliError {
    /// clap's message, with every argument it quoted left out (it ends with its own newline).
    Usage(String),
    /// A secret id shaped like an API key: neither used nor shown.
    KeyShapedArgument,
    /// `--function` with `--all`: one function's environment for every secret.
    FunctionWithAll,
    /// The function's environment does not parse.
    Environment(ConfigError),
    /// `recover` could not read a key from `from` (the terminal, standard input).
    ReadKey {
        from: &'static str,
        error: std::io::Error,
    },
    /// `recover` read an empty line.
    NoKey,
    /// The async runtime did not start.
    Start(std::io::Error),
    HttpClient(reqwest::Error),
    /// `--all`: ListSecrets failed.
    ListSecrets(Box<StoreError>),
    /// `--all` found no secret with a `rotation:vendor` tag (in this region, if known).
    NoTaggedSecret {
        region: Option<String>,
    },
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_)
            | CliError::KeyShapedArgument
            | CliError::FunctionWithAll
            | CliError::Environment(_) => USAGE,
            CliError::ReadKey { .. }
            | CliError::NoKey
            | CliError::Start(_)
            | CliError::HttpClient(_)
            | CliError::ListSecrets(_)
            | CliError::NoTaggedSecret { .. } => PROBLEM,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(message) => f.write_str(message),
            CliError::KeyShapedArgument => f.write_str(
                "api-key-rotator: an argument has the shape of an API key, not of a secret's name or ARN; it was not used and is not shown. `recover` reads the key from standard input.\n",
            ),
            CliError::FunctionWithAll => f.write_str(
                "api-key-rotator: --function judges the secrets named in one function's environment; with --all each secret is judged in its own rotation function's. Name the secrets instead of --all.\n",
            ),
            CliError::Environment(problem) => writeln!(f, "api-key-rotator: invalid environment: {problem}"),
            CliError::ReadKey { from, error } => writeln!(
                f,
                "api-key-rotator: cannot read the key from {from}: {error}. Nothing was sent or written."
            ),
            CliError::NoKey => writeln!(
                f,
                "api-key-rotator: no key on standard input: pipe it in, or type it when asked. Nothing was sent or written."
            ),
            CliError::Start(error) => writeln!(f, "api-key-rotator: cannot start: {error}"),
            CliError::HttpClient(error) => writeln!(f, "api-key-rotator: cannot build the HTTP client: {error}"),
            CliError::ListSecrets(error) => writeln!(f, "api-key-rotator: listing the secrets failed: {error}"),
            CliError::NoTaggedSecret { region } => writeln!(
                f,
                "api-key-rotator: no secret has a rotation:vendor tag in this account and region ({}), so nothing was checked. Check the region (AWS_REGION, or the profile's) and the account (AWS_PROFILE), or tag the secrets to rotate.",
                region.as_deref().unwrap_or("no region set")
            ),
        }
    }
}
