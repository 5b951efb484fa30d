//! The command line as clap reads it, and what keeps a key out of its messages: a usage error
//! never quotes an argument, and a secret id shaped like a key is neither used nor shown.

use std::ffi::OsString;

use clap::{Args, Parser, Subcommand};

use crate::vendors;

#[derive(Debug, Parser)]
#[command(
    name = "api-key-rotator",
    version,
    about = "AWS Secrets Manager rotation for vendor API keys: the Lambda function (no arguments) and its operator's commands.",
    after_help = "Exit codes: 0 ready, done or nothing to do; 1 a problem found or an action refused; 2 a usage error.\nEnvironment: each secret is judged in its rotation function's environment (its *_BASE_URL variables, ROTATION_ALLOWED_HOSTS, ROTATION_PROMOTE), read with lambda:GetFunctionConfiguration; --function names the function, --env-from-shell uses this shell's variables instead. Without one, nothing is sent to any vendor. AWS: the standard chain (credentials, region, AWS_ENDPOINT_URL_SECRETS_MANAGER, AWS_ENDPOINT_URL_LAMBDA). Keys never appear in the output: fingerprints only."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// The rotation function (name or ARN) whose environment judges the secrets, instead of each secret's own: for a secret whose rotation is not configured yet
    #[arg(long, global = true, value_name = "NAME|ARN", conflicts_with = "env_from_shell")]
    pub function: Option<String>,
    /// Judge the secrets in this shell's variables (the *_BASE_URL variables, ROTATION_ALLOWED_HOSTS, ROTATION_PROMOTE) instead of the rotation function's
    #[arg(long, global = true)]
    pub env_from_shell: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Checks that secrets are ready to rotate. Read-only: its one vendor call verifies the current key
    Check {
        #[command(flatten)]
        secrets: Secrets,
        /// Print a JSON array, one object per secret
        #[arg(long)]
        json: bool,
        /// Do not ask the vendor whether it accepts the current key
        #[arg(long)]
        no_vendor: bool,
    },
    /// Shows where each secret's rotation stands. No vendor calls
    Status {
        #[command(flatten)]
        secrets: Secrets,
        /// Print a JSON array, one object per secret
        #[arg(long)]
        json: bool,
    },
    /// Looks at an unfinished rotation, asks the vendor about its keys and prints a plan; --apply carries it out
    Repair {
        /// The secret's name or ARN
        secret_id: String,
        /// Carry out the plan (without it, nothing is changed)
        #[arg(long)]
        apply: bool,
    },
    /// Stores a key issued by hand (after KeyLost) as the new AWSCURRENT, once the vendor accepts it. The key is read from standard input
    Recover {
        /// The secret's name or ARN
        secret_id: String,
    },
    /// Lists every vendor the function knows (built in, catalog, declared): kind, base URL, source. Needs --function or --env-from-shell
    Vendors {
        /// Print JSON
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        action: Option<VendorsAction>,
    },
}

#[derive(Debug, Subcommand)]
pub enum VendorsAction {
    /// Verifies a key (read from standard input) with the vendor NAME, and shows what a rotation would send: never the key
    Test {
        /// The rotation:vendor name
        name: String,
        /// The schedule a computed expiry is worked out for (a secret's rate() or cron())
        #[arg(long, default_value = "rate(30 days)")]
        schedule: String,
    },
    /// Prints the declaration format (ROTATION_VENDORS, catalog entries) as a JSON Schema, draft 2020-12
    Schema,
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct Secrets {
    /// Names or ARNs of secrets
    #[arg(value_name = "SECRET_ID")]
    pub ids: Vec<String>,
    /// Every secret with a rotation:vendor tag
    #[arg(long)]
    pub all: bool,
}

impl Command {
    /// Whether the command runs on every tagged secret (`--all`).
    pub fn all(&self) -> bool {
        matches!(self, Command::Check { secrets, .. } | Command::Status { secrets, .. } if secrets.all)
    }

    /// The secret ids the command names (none for `--all`).
    pub fn secret_ids(&self) -> Vec<String> {
        match self {
            Command::Check { secrets, .. } | Command::Status { secrets, .. } => secrets.ids.clone(),
            Command::Repair { secret_id, .. } | Command::Recover { secret_id } => vec![secret_id.clone()],
            Command::Vendors { .. } => Vec::new(),
        }
    }
}

/// A usage error with every argument it quotes left out: a key given by mistake where `recover`
/// expects none (`recover SECRET_ID KEY`) must not be echoed back.
pub fn without_arguments(message: &str, args: &[OsString]) -> String {
    const KNOWN: &[&str] = &[
        "check",
        "status",
        "repair",
        "recover",
        "vendors",
        "test",
        "--schedule",
        "schema",
        "--all",
        "--json",
        "--no-vendor",
        "--apply",
        "--function",
        "--env-from-shell",
        "--help",
        "--version",
    ];
    let mut message = message.to_owned();
    for arg in args.iter().map(|arg| arg.to_string_lossy()) {
        // `--flag=value`: clap may quote the value alone.
        let value = arg.split_once('=').map(|(_, value)| value);
        for text in [Some(arg.as_ref()), value].into_iter().flatten() {
            // Short arguments are never keys, and replacing them would mangle the message.
            if text.len() >= 4 && !KNOWN.contains(&text) {
                message = message.replace(text, "<argument not shown>");
            }
        }
    }
    message
}

/// Whether a secret id given on the command line has the shape of one of the vendors' keys: then
/// it is neither used (it would reach Secrets Manager's logs) nor shown.
pub fn looks_like_a_key(id: &str) -> bool {
    vendors::ALL.iter().any(|vendor| vendor.looks_like_key("", id))
}
