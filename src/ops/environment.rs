//! Whose environment judges a secret: its rotation function's (the default), a function named with
//! `--function`, or with `--env-from-shell` the operator's shell. What the function would do is
//! decided by the function's configuration, so a shell that lacks the stack's variables can never
//! send a key to a vendor's public API instead of the deployer's. When no environment can be had,
//! nothing is sent to any vendor for that secret ([`EnvProblem`] says what is missing).

use std::fmt;

use super::StoreProblem;
use crate::config::{ConfigError, Settings};
use crate::function::{ENVIRONMENT_UNREADABLE, FunctionConfig};

/// How the commands find a secret's environment.
#[derive(Clone, Debug)]
pub enum EnvRule {
    /// The secret's rotation function, or this one (`--function NAME|ARN`) instead.
    Function { named: Option<String> },
    /// `--env-from-shell`: the shell's variables, parsed as the function parses its own.
    Shell(Box<Settings>),
}

/// The environment a secret was judged in.
#[derive(Clone, Debug)]
pub struct Environment {
    pub source: EnvSource,
    pub settings: Settings,
    /// The function's configuration, when it was read.
    pub function: Option<FunctionConfig>,
    /// The secret's own rotation function, when `--function` named another one instead.
    pub instead_of: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvSource {
    Function(String),
    Shell,
}

impl fmt::Display for EnvSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvSource::Function(arn) => write!(f, "function {arn}"),
            EnvSource::Shell => f.write_str("shell"),
        }
    }
}

impl Environment {
    /// `--env-from-shell`: the shell's variables, parsed as the function parses its own.
    pub fn of_shell(settings: &Settings) -> Self {
        Environment { source: EnvSource::Shell, settings: settings.clone(), function: None, instead_of: None }
    }

    /// The function's environment, validated exactly as the function validates its own at start.
    /// `instead_of`: the secret's own rotation function, when this one was named instead.
    pub fn of_function(function: FunctionConfig, instead_of: Option<String>) -> Result<Self, EnvProblem> {
        let settings =
            Settings::from_lookup(|name| function.variables.get(name).cloned()).map_err(|problem| {
                EnvProblem::Invalid { function: function.arn.clone(), problem: Box::new(problem) }
            })?;
        let instead_of = instead_of.filter(|own| *own != function.arn);
        let source = EnvSource::Function(function.arn.clone());
        Ok(Environment { source, settings, function: Some(function), instead_of })
    }
}

/// Why a secret has no environment to be judged in. Nothing is sent to any vendor for it; what
/// to do is [`EnvProblem::fix`].
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum EnvProblem {
    #[error("the secret has no rotation function, so there is no environment to judge it in{NOTHING_SENT}")]
    NoFunction,

    /// A command about the function itself (`vendors`), run with neither flag.
    #[error("no rotation function was named, so there is no environment to read the vendors of")]
    NoFunctionNamed,

    #[error("the rotation function {function} does not exist ({error}){NOTHING_SENT}")]
    NotFound { function: String, error: Box<StoreProblem> },

    #[error(
        "the configuration of the rotation function {function} could not be read ({error}){NOTHING_SENT}"
    )]
    Unreadable { function: String, error: Box<StoreProblem> },

    #[error(
        "the environment of the rotation function {function} is invalid ({problem}): the function itself would not start{NOTHING_SENT}"
    )]
    Invalid { function: String, problem: Box<ConfigError> },
}

const NOTHING_SENT: &str = ", and nothing was sent to any vendor";

impl EnvProblem {
    /// The problem and what to do about it, in one sentence pair (as the commands print it).
    pub fn explained(&self) -> String {
        format!("{self}. {}", self.fix())
    }

    /// What the operator can do about it.
    pub fn fix(&self) -> &'static str {
        match self {
            EnvProblem::NoFunction => {
                "Name the function that will rotate it with --function NAME|ARN, or use the shell's variables with --env-from-shell."
            }
            EnvProblem::NoFunctionNamed => {
                "Name the function with --function NAME|ARN (the stack's output FunctionArn), or use the shell's variables with --env-from-shell."
            }
            EnvProblem::NotFound { .. } => {
                "Point the secret at its rotation function (aws secretsmanager rotate-secret --rotation-lambda-arn), or name it with --function NAME|ARN."
            }
            EnvProblem::Unreadable { error, .. } => match error.0.code.as_str() {
                "AccessDeniedException" => {
                    "You need lambda:GetFunctionConfiguration on the rotation function (README, Operator commands); or use the shell's variables with --env-from-shell."
                }
                ENVIRONMENT_UNREADABLE => {
                    "The function's environment is encrypted with a KMS key you may not use: you need kms:Decrypt on it (README, Operator commands); or use the shell's variables with --env-from-shell."
                }
                _ if error.0.transient => "Run the command again.",
                _ => {
                    "Check the function's name and your access to it (lambda:GetFunctionConfiguration); or use the shell's variables with --env-from-shell."
                }
            },
            EnvProblem::Invalid { .. } => "Fix the stack's parameters and deploy the function again.",
        }
    }

    /// A failed GetFunctionConfiguration of `function`.
    pub fn read_failed(function: &str, error: StoreProblem) -> Self {
        let (function, error) = (function.to_owned(), Box::new(error));
        match error.0.code.as_str() {
            "ResourceNotFoundException" => EnvProblem::NotFound { function, error },
            _ => EnvProblem::Unreadable { function, error },
        }
    }
}
