//! The operator's command line: parsing (clap), printing the reports of [`crate::ops`], and the
//! exit codes scripts rely on: 0 ready, done or nothing to do; 1 a problem found or an action
//! refused; 2 a usage error. Nothing here runs when the binary starts as the Lambda function.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal, Read};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::Settings;
use crate::ops::{CheckReport, Operator, Plan, Recovered, RepairReport, Status, StatusReport};
use crate::sensitive::Sensitive;
use crate::store::{self, Store};
use crate::vendors::{self, VendorClient};

const PROBLEM: u8 = 1;
const USAGE: u8 = 2;

/// What the binary says when it is run with no arguments outside Lambda.
pub fn not_in_lambda() -> String {
    format!(
        "api-key-rotator is the AWS Secrets Manager rotation function for vendor API keys ({}).
Without arguments it runs as that Lambda function, which needs the Lambda environment (AWS_LAMBDA_RUNTIME_API is not set).
Outside Lambda it has commands for operators: check, status, repair and recover. Run `api-key-rotator --help`.",
        vendors::names()
    )
}

#[derive(Debug, Parser)]
#[command(
    name = "api-key-rotator",
    version,
    about = "AWS Secrets Manager rotation for vendor API keys: the Lambda function (no arguments) and its operator's commands.",
    after_help = "Exit codes: 0 ready, done or nothing to do; 1 a problem found or an action refused; 2 a usage error.\nConfiguration: the function's environment (CALCOM_BASE_URL and the other *_BASE_URL variables, ROTATION_ALLOWED_HOSTS, ROTATION_PROMOTE) and the standard AWS chain (credentials, region, AWS_ENDPOINT_URL_SECRETS_MANAGER). Keys never appear in the output: fingerprints only."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
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
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct Secrets {
    /// Names or ARNs of secrets
    #[arg(value_name = "SECRET_ID")]
    ids: Vec<String>,
    /// Every secret with a rotation:vendor tag
    #[arg(long)]
    all: bool,
}

/// Runs the command in `args` (the program's name first) and returns its exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        // --help and --version are "errors" that exit 0.
        Err(error) if error.exit_code() == 0 => {
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprint!("{}", without_arguments(&error.render().to_string(), &args[1..]));
            return ExitCode::from(USAGE);
        }
    };
    let ids = match &cli.command {
        Command::Check { secrets, .. } | Command::Status { secrets, .. } => secrets.ids.clone(),
        Command::Repair { secret_id, .. } | Command::Recover { secret_id } => vec![secret_id.clone()],
    };
    if ids.iter().any(|id| looks_like_a_key(id)) {
        eprintln!(
            "api-key-rotator: an argument has the shape of an API key, not of a secret's name or ARN; it was not used and is not shown. `recover` reads the key from standard input."
        );
        return ExitCode::from(USAGE);
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(problem) => {
            eprintln!("api-key-rotator: invalid environment: {problem}");
            return ExitCode::from(USAGE);
        }
    };
    // The key is read before anything else, so that the prompt comes first.
    let key = match &cli.command {
        Command::Recover { .. } => match read_key() {
            Ok(key) => Some(key),
            Err(problem) => {
                eprintln!("api-key-rotator: {problem}. Nothing was sent or written.");
                return ExitCode::from(PROBLEM);
            }
        },
        _ => None,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("api-key-rotator: cannot start: {error}");
            return ExitCode::from(PROBLEM);
        }
    };
    runtime.block_on(async move {
        let vendors = match VendorClient::new(&settings.timing) {
            Ok(vendors) => vendors,
            Err(error) => {
                eprintln!("api-key-rotator: cannot build the HTTP client: {error}");
                return ExitCode::from(PROBLEM);
            }
        };
        let aws = store::sdk_config_loader(&settings.timing).load().await;
        let operator =
            Operator::new(Store::new(aws_sdk_secretsmanager::Client::new(&aws)), vendors, settings);
        let (output, code) = execute(&operator, cli.command, key).await;
        print!("{output}");
        ExitCode::from(code)
    })
}

/// A usage error with every argument it quotes left out: a key given by mistake where `recover`
/// expects none (`recover SECRET_ID KEY`) must not be echoed back.
fn without_arguments(message: &str, args: &[OsString]) -> String {
    const KNOWN: &[&str] = &[
        "check",
        "status",
        "repair",
        "recover",
        "--all",
        "--json",
        "--no-vendor",
        "--apply",
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
fn looks_like_a_key(id: &str) -> bool {
    vendors::ALL.iter().any(|vendor| vendor.looks_like_key("", id))
}

/// Runs one command; returns what to print on standard output and the exit code.
async fn execute(operator: &Operator, command: Command, key: Option<Sensitive>) -> (String, u8) {
    match command {
        Command::Check { secrets, json, no_vendor } => {
            let ids = match secret_ids(operator, secrets).await {
                Ok(ids) => ids,
                Err(code) => return (String::new(), code),
            };
            let mut reports = Vec::new();
            for id in &ids {
                reports.push(operator.check(id, !no_vendor).await);
            }
            let code = if reports.iter().all(|r| r.ok) { 0 } else { PROBLEM };
            (if json { to_json(&reports) } else { check_text(&reports) }, code)
        }
        Command::Status { secrets, json } => {
            let ids = match secret_ids(operator, secrets).await {
                Ok(ids) => ids,
                Err(code) => return (String::new(), code),
            };
            let mut reports = Vec::new();
            for id in &ids {
                reports.push(operator.status(id).await);
            }
            let code = if reports.iter().all(|r| r.problems.is_empty()) { 0 } else { PROBLEM };
            (if json { to_json(&reports) } else { status_text(&reports) }, code)
        }
        Command::Repair { secret_id, apply } => {
            let report = operator.repair(&secret_id, apply).await;
            let code = match (&report.plan, &report.applied) {
                (Plan::NothingToDo, _) | (_, Some(Ok(_))) => 0,
                _ => PROBLEM,
            };
            (repair_text(&report, &secret_id), code)
        }
        Command::Recover { secret_id } => {
            let Some(key) = key else {
                return ("no key was read\n".into(), PROBLEM);
            };
            match operator.recover(&secret_id, &key).await {
                Ok(recovered) => recover_text(&recovered),
                Err(refused) => (format!("refused: {refused}\n"), PROBLEM),
            }
        }
    }
}

/// The secrets named, or with `--all` every secret with a `rotation:vendor` tag.
async fn secret_ids(operator: &Operator, secrets: Secrets) -> Result<Vec<String>, u8> {
    if !secrets.all {
        return Ok(secrets.ids);
    }
    match operator.tagged_secrets().await {
        Ok(ids) => {
            if ids.is_empty() {
                eprintln!("api-key-rotator: no secret has a rotation:vendor tag");
            }
            Ok(ids)
        }
        Err(error) => {
            eprintln!("api-key-rotator: listing the secrets failed: {error}");
            Err(PROBLEM)
        }
    }
}

/// One line from standard input: hidden when typed at a terminal, never from the arguments or the
/// environment (which end up in shell history and process lists).
fn read_key() -> Result<Sensitive, String> {
    /// Far more than any key; a longer line is not a key.
    const MAX_LINE: u64 = 64 * 1024;
    let stdin = std::io::stdin();
    let line = if stdin.is_terminal() {
        eprint!("Paste the key issued in the vendor's dashboard (it is not shown), then press Enter: ");
        rpassword::read_password().map_err(|e| format!("cannot read the key from the terminal: {e}"))?
    } else {
        let mut line = String::new();
        stdin
            .lock()
            .take(MAX_LINE)
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the key from standard input: {e}"))?;
        line
    };
    let key = line.trim();
    if key.is_empty() {
        return Err("no key on standard input: pipe it in, or type it when asked".into());
    }
    Ok(Sensitive::new(key))
}

fn to_json<T: serde::Serialize>(reports: &[T]) -> String {
    let mut text = serde_json::to_string_pretty(reports).unwrap_or_else(|e| format!("\"{e}\""));
    text.push('\n');
    text
}

fn check_text(reports: &[CheckReport]) -> String {
    let mut out = String::new();
    for report in reports {
        let vendor = report.vendor.map(|v| format!(" ({v})")).unwrap_or_default();
        let _ = writeln!(out, "{}{vendor}", report.arn);
        for check in &report.checks {
            let status = match check.status {
                Status::Ok => "ok",
                Status::Fail => "FAIL",
                Status::Skip => "skip",
                Status::Note => "note",
            };
            let _ = writeln!(out, "  {status:<5} {:<9} {}", check.check, check.detail);
            if let Some(fix) = &check.fix {
                let _ = writeln!(out, "  {:<15} fix: {fix}", "");
            }
        }
        let _ = writeln!(out, "  => {}", if report.ok { "ready" } else { "not ready" });
    }
    out
}

fn status_text(reports: &[StatusReport]) -> String {
    let mut out = String::new();
    let or = |value: &Option<String>, none: &str| value.clone().unwrap_or_else(|| none.to_owned());
    for r in reports {
        let _ = writeln!(out, "{}", r.arn);
        let mut line = |label: &str, value: String| {
            let _ = writeln!(out, "  {label:<14} {value}");
        };
        line("vendor", r.vendor.unwrap_or("none").to_owned());
        line(
            "rotation",
            match (r.rotation_enabled, &r.rotation_function) {
                (true, Some(function)) => {
                    format!("enabled, {}, by {function}", or(&r.schedule, "no schedule"))
                }
                (true, None) => "enabled, with no rotation function".into(),
                (false, _) => "not enabled".into(),
            },
        );
        line("last rotated", or(&r.last_rotated, "never"));
        line("next rotation", or(&r.next_rotation, "not scheduled"));
        line(
            "current",
            match (&r.current_version, &r.current_fingerprint) {
                (Some(version), Some(fp)) => format!("version {version}, key {fp}"),
                (Some(version), None) => format!("version {version}, no readable key"),
                (None, _) => "none".into(),
            },
        );
        line(
            "pending",
            match (r.pending, &r.pending_version, &r.pending_fingerprint) {
                (Some("stored"), Some(version), Some(fp)) => format!("stored: version {version}, key {fp}"),
                (Some(state), Some(version), _) => format!("{state}: version {version}"),
                (Some(state), None, _) => state.to_owned(),
                (None, _, _) => "unknown (could not be read)".into(),
            },
        );
        if let Some(version) = &r.rescue_version {
            line(
                "rescue",
                format!(
                    "version {version} keeps a vendor answer with no readable key (README, Recovery: new key lost)"
                ),
            );
        }
        for problem in &r.problems {
            line("problem", problem.clone());
        }
    }
    out
}

fn repair_text(report: &RepairReport, secret_id: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "secret   {}", report.arn);
    for (subject, finding) in &report.findings {
        let _ = writeln!(out, "{subject:<8} {finding}");
    }
    let _ = writeln!(out, "plan     {}", report.plan.describe());
    match &report.applied {
        Some(Ok(done)) => {
            let _ = writeln!(out, "applied  {done}");
        }
        Some(Err(failed)) => {
            let _ = writeln!(out, "failed   {failed}");
        }
        None if report.plan.changes() => {
            let _ = writeln!(
                out,
                "Nothing was changed. To carry out the plan: api-key-rotator repair {secret_id} --apply"
            );
        }
        None => {}
    }
    out
}

fn recover_text(recovered: &Recovered) -> (String, u8) {
    let Recovered { fingerprint, stored, previous, cleared, problems } = recovered;
    let mut out = match stored {
        Some(version) => format!("stored: version {version} is AWSCURRENT, key {fingerprint}\n"),
        None => format!(
            "the vendor accepts the key ({fingerprint}) and AWSCURRENT already holds it: nothing was stored\n"
        ),
    };
    if let Some(previous) = previous {
        let _ = writeln!(out, "previous: version {previous} is AWSPREVIOUS");
    }
    for version in cleared {
        let _ = writeln!(out, "cleared: AWSPENDING removed from version {version}");
    }
    for problem in problems {
        let _ = writeln!(out, "problem: {problem}");
    }
    (out, if problems.is_empty() { 0 } else { PROBLEM })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::Check;

    /// Every report the commands print, from fixed reports, in text and JSON: the renderers' part
    /// of what an operator reads, byte for byte (tests/golden/cli.txt).
    #[test]
    fn every_report_renders_as_the_golden_text() {
        const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:vendors/calcom-AbCdEf";
        let check = CheckReport {
            arn: ARN.into(),
            name: Some("vendors/calcom".into()),
            vendor: Some("calcom"),
            ok: false,
            checks: vec![
                Check {
                    check: "rotation",
                    status: Status::Ok,
                    detail: "enabled, rate(30 days)".into(),
                    fix: None,
                },
                Check {
                    check: "vendor",
                    status: Status::Fail,
                    detail: "calcom refuses the current key (sha256:0123456789ab, HTTP 401)".into(),
                    fix: Some("Run `api-key-rotator repair ARN` first.".into()),
                },
                Check { check: "expiry", status: Status::Skip, detail: "no vendor to ask".into(), fix: None },
                Check {
                    check: "kms",
                    status: Status::Note,
                    detail: "a customer-managed key".into(),
                    fix: None,
                },
            ],
        };
        let status = StatusReport {
            arn: ARN.into(),
            name: Some("vendors/calcom".into()),
            vendor: Some("calcom"),
            rotation_enabled: true,
            rotation_function: Some("arn:aws:lambda:us-east-1:123456789012:function:api-key-rotator".into()),
            schedule: Some("rate(30 days)".into()),
            last_rotated: Some("2026-11-01T04:00:00Z".into()),
            next_rotation: None,
            current_version: Some("v1".into()),
            current_fingerprint: Some("sha256:0123456789ab".into()),
            pending: Some("stored"),
            pending_version: Some("v2".into()),
            pending_fingerprint: Some("sha256:ba9876543210".into()),
            rescue_version: Some("rescue-00112233445566778899aabbccddeeff".into()),
            problems: vec!["the AWSCURRENT value: no field \"api_key\"".into()],
        };
        let empty = StatusReport {
            arn: "missing".into(),
            problems: vec!["DescribeSecret failed".into()],
            ..StatusReport::default()
        };
        let mut text = String::new();
        text += &check_text(std::slice::from_ref(&check));
        text += &to_json(std::slice::from_ref(&check));
        text += &to_json(std::slice::from_ref(&status));
        text += &status_text(&[status, empty]);
        for (plan, applied) in [
            (Plan::NothingToDo, None),
            (Plan::Finish { pending: "v2".into(), current: "v1".into() }, None),
            (
                Plan::Clear { version: "v2".into(), why: "it holds no value" },
                Some(Ok("AWSPENDING removed".into())),
            ),
            (Plan::Refuse("the vendor accepts both keys".into()), None),
            (
                Plan::Finish { pending: "v2".into(), current: "v1".into() },
                Some(Err("UpdateSecretVersionStage failed".into())),
            ),
        ] {
            let findings = vec![("pending", "version v2 holds a key (sha256:ba9876543210)".into())];
            text += &repair_text(&RepairReport { arn: ARN.into(), findings, plan, applied }, ARN);
        }
        for recovered in [
            Recovered {
                fingerprint: "sha256:0123456789ab".into(),
                stored: Some("v3".into()),
                previous: Some("v1".into()),
                cleared: vec!["v2".into()],
                problems: vec![],
            },
            Recovered {
                fingerprint: "sha256:0123456789ab".into(),
                stored: None,
                previous: None,
                cleared: vec![],
                problems: vec!["removing AWSPENDING failed".into()],
            },
        ] {
            let (out, code) = recover_text(&recovered);
            text += &format!("{out}exit {code}\n");
        }
        crate::golden::compare("cli.txt", &text);
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("api-key-rotator").chain(args.iter().copied()))
    }

    #[test]
    fn the_contract_of_the_command_line() {
        assert!(parse(&["check", "a", "b", "--json", "--no-vendor"]).is_ok());
        assert!(parse(&["check", "--all"]).is_ok());
        assert!(parse(&["status", "--all", "--json"]).is_ok());
        assert!(parse(&["repair", "a", "--apply"]).is_ok());
        assert!(parse(&["recover", "a"]).is_ok());
        for wrong in [
            &["check"][..],
            &["check", "a", "--all"],
            &["status"],
            &["repair"],
            &["repair", "a", "b"],
            &["recover", "a", "the-key"],
            &["recover", "a", "--key", "k"],
            &["rotate", "a"],
        ] {
            let error = parse(wrong).expect_err(&format!("{wrong:?} must be refused"));
            assert_eq!(error.exit_code(), 2, "{wrong:?}");
        }
        assert_eq!(parse(&["--help"]).unwrap_err().exit_code(), 0);
        let key = "cal_live_0123456789abcdef0123456789abcdef";
        let mut quoted = 0;
        let with_value = [format!("--x={key}"), format!("--apply={key}")];
        for args in [
            &["recover", "s", key][..],
            &[key],
            &["check", "--key", key],
            &["status", &with_value[0]],
            &["repair", "s", &with_value[1]],
        ] {
            let error = parse(args).unwrap_err().render().to_string();
            quoted += usize::from(error.contains(key));
            let args: Vec<OsString> = args.iter().map(OsString::from).collect();
            let shown = without_arguments(&error, &args);
            assert!(!shown.contains(key), "{shown}");
        }
        assert!(quoted >= 3, "clap quotes unexpected arguments: the cases above must test something");
        assert!(looks_like_a_key(key) && looks_like_a_key("7251cb4b-3373-43a4-844c-b27a1d45e0c9"));
        assert!(
            !looks_like_a_key("prod/calcom")
                && !looks_like_a_key("arn:aws:secretsmanager:us-east-1:1:secret:x")
        );
    }
}
