//! The operator's command line: parsing and redaction (`args.rs`), what each report prints
//! (`output.rs`), the exit codes (`exit_codes.rs`), why a command could not run (`error.rs`),
//! reading `recover`'s key (`stdin.rs`), and here the wiring: run a command, print its output,
//! print an error in one place. Nothing here runs when the binary starts as the Lambda function.

mod args;
mod error;
mod exit_codes;
mod output;
mod stdin;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use self::args::{Cli, Command, Secrets, VendorsAction, looks_like_a_key, without_arguments};
use self::error::CliError;
use self::exit_codes::{PROBLEM, SUCCESS, USAGE};
use self::output::{Checks, Recovery, Repair, Statuses, VendorTested, Vendors, to_json};
use self::stdin::read_key;
use crate::config::Settings;
use crate::function::Functions;
use crate::notify::EventBus;
use crate::ops::{EnvProblem, EnvRule, Operator, VendorTestError};
use crate::sensitive::Sensitive;
use crate::store::{self, Store};
use crate::timing::Timing;
use crate::vendors::{self, VendorClient};

/// What the binary says when it is run with no arguments outside Lambda.
pub fn not_in_lambda() -> String {
    format!(
        "api-key-rotator is the AWS Secrets Manager rotation function for vendor API keys ({}).
Without arguments it runs as that Lambda function, which needs the Lambda environment (AWS_LAMBDA_RUNTIME_API is not set).
Outside Lambda it has commands for operators: check, status, repair and recover. Run `api-key-rotator --help`.",
        vendors::names()
    )
}

/// Runs the command in `args` (the program's name first) and returns its exit code. Errors are
/// printed here and nowhere else.
pub fn run(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    match try_run(args.into_iter().collect()) {
        Ok(code) => code,
        Err(error) => {
            say(&error.to_string());
            ExitCode::from(error.exit_code())
        }
    }
}

/// Writes to standard error, never panicking (a closed stderr loses the message, nothing else).
fn say(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Writes a command's report to standard output. A closed stdout (`| head`, EPIPE) cannot undo
/// what the command did, so it is said on standard error and the command's own exit code stands.
fn emit(report: &str, code: u8) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = stdout.write_all(report.as_bytes()).and_then(|()| stdout.flush()) {
        say(&format!(
            "api-key-rotator: the report could not be written to standard output ({error}); the command ran to the end and its exit code is {code}. `api-key-rotator status SECRET_ID` shows where a secret stands.\n"
        ));
    }
    ExitCode::from(code)
}

fn try_run(args: Vec<OsString>) -> Result<ExitCode, CliError> {
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        // --help and --version are "errors" that exit 0.
        Err(error) if error.exit_code() == 0 => {
            let _ = error.print();
            return Ok(ExitCode::SUCCESS);
        }
        Err(error) => {
            return Err(CliError::Usage(without_arguments(&error.render().to_string(), &args[1..])));
        }
    };
    if cli.command.secret_ids().iter().chain(&cli.function).any(|id| looks_like_a_key(id)) {
        return Err(CliError::KeyShapedArgument);
    }
    if cli.function.is_some() && cli.command.all() {
        return Err(CliError::FunctionWithAll);
    }
    // The shell's variables count only when asked for; otherwise each secret's function decides.
    let rule = match (cli.env_from_shell, cli.function.clone()) {
        (true, _) => EnvRule::Shell(Box::new(Settings::from_env().map_err(CliError::Environment)?)),
        (false, named) => EnvRule::Function { named },
    };
    let timing = Timing::default();
    // The key is read before anything else, so that the prompt comes first.
    let key = match &cli.command {
        Command::Recover { .. } | Command::Vendors { action: Some(VendorsAction::Test { .. }), .. } => {
            Some(read_key()?)
        }
        _ => None,
    };
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(CliError::Start)?;
    runtime.block_on(async move {
        let vendors = VendorClient::new(&timing).map_err(CliError::HttpClient)?;
        let aws = store::sdk_config_loader(&timing).load().await;
        let region = aws.region().map(ToString::to_string);
        let store = Store::new(aws_sdk_secretsmanager::Client::new(&aws));
        let functions = Functions::new(aws_sdk_lambda::Client::new(&aws));
        let bus = EventBus::from_config(&aws);
        let operator = Operator::new(store, vendors, functions, bus, rule);
        let (output, code) = execute(&operator, cli.command, key, region).await?;
        Ok(emit(&output, code))
    })
}

/// Runs one command; returns what to print on standard output and the exit code.
async fn execute(
    operator: &Operator,
    command: Command,
    key: Option<Sensitive>,
    region: Option<String>,
) -> Result<(String, u8), CliError> {
    Ok(match command {
        Command::Check { secrets, json, no_vendor } => {
            let mut reports = Vec::new();
            for id in &secret_ids(operator, secrets, region).await? {
                reports.push(operator.check(id, !no_vendor).await);
            }
            let checks = Checks(&reports);
            (if json { to_json(&reports) } else { checks.to_string() }, checks.exit_code())
        }
        Command::Status { secrets, json } => {
            let mut reports = Vec::new();
            for id in &secret_ids(operator, secrets, region).await? {
                reports.push(operator.status(id).await);
            }
            let statuses = Statuses(&reports);
            (if json { to_json(&reports) } else { statuses.to_string() }, statuses.exit_code())
        }
        Command::Repair { secret_id, apply } => {
            let report = operator.repair(&secret_id, apply).await;
            let repair = Repair { report: &report, secret_id: &secret_id };
            (repair.to_string(), repair.exit_code())
        }
        Command::Vendors { json, action: None } => match operator.vendor_list().await {
            Ok(list) => (if json { to_json(&list) } else { Vendors(&list).to_string() }, SUCCESS),
            Err(problem) => environment_problem(problem),
        },
        Command::Vendors { action: Some(VendorsAction::Schema), .. } => {
            (crate::vendors::SCHEMA.to_owned(), SUCCESS)
        }
        Command::Vendors { json, action: Some(VendorsAction::Test { name, schedule }) } => {
            let Some(key) = key else {
                return Ok(("no key was read\n".into(), PROBLEM));
            };
            match operator.vendor_test(&name, &key, &schedule).await {
                Ok(test) => {
                    let tested = VendorTested(&test);
                    (if json { to_json(&test) } else { tested.to_string() }, tested.exit_code())
                }
                Err(VendorTestError::Environment(problem)) => environment_problem(problem),
                Err(refused @ VendorTestError::UnknownVendor { .. }) => (format!("{refused}\n"), USAGE),
                Err(refused) => (format!("{refused}\n"), PROBLEM),
            }
        }
        Command::Recover { secret_id } => {
            let Some(key) = key else {
                return Ok(("no key was read\n".into(), PROBLEM));
            };
            match operator.recover(&secret_id, &key).await {
                Ok(recovered) => {
                    let recovery = Recovery(&recovered);
                    (recovery.to_string(), recovery.exit_code())
                }
                Err(refused) => (format!("refused: {refused}\n"), PROBLEM),
            }
        }
    })
}

/// A command about the function itself with no environment to run in: neither flag is a usage
/// error (there is no secret to name a function here); any other problem is the function's.
fn environment_problem(problem: EnvProblem) -> (String, u8) {
    let code = if problem == EnvProblem::NoFunctionNamed { USAGE } else { PROBLEM };
    (format!("{}\n", problem.explained()), code)
}

/// The secrets named, or with `--all` every secret with a `rotation:vendor` tag in `region`: at
/// least one, for a script must never read "ready" from nothing.
async fn secret_ids(
    operator: &Operator,
    secrets: Secrets,
    region: Option<String>,
) -> Result<Vec<String>, CliError> {
    if !secrets.all {
        return Ok(secrets.ids);
    }
    let ids = operator.tagged_secrets().await.map_err(|e| CliError::ListSecrets(Box::new(e)))?;
    if ids.is_empty() {
        return Err(CliError::NoTaggedSecret { region });
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigError;
    use crate::ops::{
        Applied, ApplyError, Check, CheckReport, EnvProblem, Lockout, Plan, Recovered, Refusal, RepairReport,
        Status, StatusReport, Told,
    };
    use crate::secret::ValueError;
    use crate::store::{Replica, Rescue, StoreError};

    /// Every report the commands print, from fixed reports, in text and JSON: the renderers' part
    /// of what an operator reads, byte for byte (tests/golden/cli.txt).
    #[test]
    fn every_report_renders_as_the_golden_text() {
        const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:vendors/calcom-AbCdEf";
        let check = CheckReport {
            arn: ARN.into(),
            name: Some("vendors/calcom".into()),
            vendor: Some("calcom"),
            environment: Some(
                "function arn:aws:lambda:us-east-1:123456789012:function:api-key-rotator".into(),
            ),
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
            rescue_versions: vec![
                "rescue-00112233445566778899aabbccddeeff".into(),
                "rescue-ffeeddccbbaa99887766554433221100".into(),
            ],
            replicas: vec![
                Replica { region: "eu-west-1".into(), status: "InSync".into(), message: None },
                Replica {
                    region: "ap-south-1".into(),
                    status: "Failed".into(),
                    message: Some("no KMS key in this region".into()),
                },
            ],
            environment: Some(
                "function arn:aws:lambda:us-east-1:123456789012:function:api-key-rotator".into(),
            ),
            problems: vec!["the AWSCURRENT value: no field \"api_key\"".into()],
        };
        let empty = StatusReport {
            arn: "missing".into(),
            problems: vec!["DescribeSecret failed".into()],
            ..StatusReport::default()
        };
        let mut text = String::new();
        text += &Checks(std::slice::from_ref(&check)).to_string();
        text += &to_json(std::slice::from_ref(&check));
        text += &to_json(std::slice::from_ref(&status));
        text += &Statuses(&[status, empty]).to_string();
        for (plan, applied) in [
            (Plan::NothingToDo, None),
            (Plan::Finish { pending: "v2".into(), current: "v1".into() }, None),
            (
                Plan::Clear { version: "v2".into(), why: "it holds no value" },
                Some(Ok(Applied::Cleared { arn: ARN.into(), version: "v2".into() })),
            ),
            (Plan::Refuse(Refusal::BothAccepted), None),
            (
                Plan::Finish { pending: "v2".into(), current: "v1".into() },
                Some(Err(ApplyError::Store(
                    StoreError::new("UpdateSecretVersionStage", "Throttling", true).into(),
                ))),
            ),
        ] {
            let findings = vec![("pending", "version v2 holds a key (sha256:ba9876543210)".into())];
            let report =
                RepairReport { arn: ARN.into(), findings, lockouts: vec![], told: None, plan, applied };
            let repair = Repair { report: &report, secret_id: ARN };
            text += &format!("{repair}exit {}\n", repair.exit_code());
        }
        // Lock-outs come first, and keep the exit code at 1 whatever was applied.
        for (lockouts, plan, applied) in [
            (
                vec![
                    Lockout::Rescue { rescue: Rescue::new("rescue-0123"), arn: ARN.into() },
                    Lockout::CurrentRefused { status: 401, arn: ARN.into() },
                ],
                Plan::Clear { version: "v2".into(), why: "it holds no key" },
                Some(Ok(Applied::Cleared { arn: ARN.into(), version: "v2".into() })),
            ),
            (
                vec![
                    Lockout::Rescue { rescue: Rescue::new("rescue-0123"), arn: ARN.into() },
                    Lockout::CurrentUnverified { verdict: "unavailable (HTTP 503)".into() },
                ],
                Plan::Finish { pending: "v2".into(), current: "v1".into() },
                Some(Ok(Applied::Finished { pending: "v2".into(), current: "v1".into(), not_told: None })),
            ),
            (
                vec![],
                Plan::Finish { pending: "v2".into(), current: "v1".into() },
                Some(Ok(Applied::Finished {
                    pending: "v2".into(),
                    current: "v1".into(),
                    not_told: Some("consumers were not told of the move: the Vendor Key Rotated event failed after 3 attempt(s) (EventBridge answered HTTP 503 ServiceUnavailable); restart or refresh the readers of ARN by hand".into()),
                })),
            ),
        ] {
            let findings = vec![("vendor", "calcom: current key (sha256:0123456789ab) refused (HTTP 401)".into())];
            let report = RepairReport { arn: ARN.into(), findings, lockouts, told: None, plan, applied };
            let repair = Repair { report: &report, secret_id: ARN };
            text += &format!("{repair}exit {}\n", repair.exit_code());
        }
        // A move nobody was told of: found (exit 1), told with --apply (exit 0), or not (exit 1).
        for told in [
            Told::Untold { version: "v2".into() },
            Told::Told { version: "v2".into() },
            Told::Failed {
                version: "v2".into(),
                why: "consumers were not told of the move: the Vendor Key Rotated event failed after 3 attempt(s) (EventBridge answered HTTP 503 ServiceUnavailable); restart or refresh the readers of ARN by hand".into(),
            },
        ] {
            // With nothing else to do, --apply only tells them (nothing is applied).
            let report = RepairReport {
                arn: ARN.into(),
                findings: vec![],
                lockouts: vec![],
                told: Some(told),
                plan: Plan::NothingToDo,
                applied: None,
            };
            let repair = Repair { report: &report, secret_id: ARN };
            text += &format!("{repair}exit {}\n", repair.exit_code());
        }
        for recovered in [
            Recovered {
                fingerprint: "sha256:0123456789ab".into(),
                stored: Some("v3".into()),
                previous: Some("v1".into()),
                cleared: vec!["v2".into()],
                problems: vec![],
                environment: "function arn:aws:lambda:us-east-1:123456789012:function:api-key-rotator".into(),
            },
            Recovered {
                fingerprint: "sha256:0123456789ab".into(),
                stored: None,
                previous: None,
                cleared: vec![],
                problems: vec!["removing AWSPENDING failed".into()],
                environment: "shell".into(),
            },
        ] {
            let recovery = Recovery(&recovered);
            text += &format!("{recovery}exit {}\n", recovery.exit_code());
        }
        let arn = || ARN.to_owned();
        for refusal in [
            Refusal::Unreadable {
                what: "the pending version",
                problem: Box::new(StoreError::new("GetSecretValue", "AccessDeniedException", false).into()),
            },
            Refusal::NoCurrentValue,
            Refusal::NotIssuedThere(ConfigError::VendorChanged { issued: "calcom".into(), now: "ringg" }),
            Refusal::PendingNotAKey {
                problem: ValueError::NoField { key_field: "api_key".into() },
                arn: arn(),
            },
            Refusal::SameKeyOtherFields,
            Refusal::VendorNotAskable {
                problem: ConfigError::NoVendor { known: crate::vendors::names() },
                arn: arn(),
            },
            Refusal::BothAccepted,
            Refusal::NeitherAccepted { arn: arn() },
            Refusal::CurrentNotAKey {
                problem: ValueError::NoField { key_field: "api_key".into() },
                arn: arn(),
            },
            Refusal::LockedOut,
            Refusal::NoVerdict,
            Refusal::NoEnvironment(EnvProblem::NoFunction),
        ] {
            text += &format!("{}\n", Plan::Refuse(refusal).describe());
        }
        // `vendors`, in an environment that overrides one catalog vendor and declares another.
        let settings = crate::config::Settings::from_lookup(|name| {
            (name == crate::config::ENV_VENDORS).then(|| {
                r#"{"vercel": {"overlap": {"grace_seconds": 600}}, "acme": {"base_url": "https://api.acme.example",
                "auth": {"header": "X-Key"}, "rotate": {"method": "POST", "path": "/r", "key": "/k"},
                "verify": {"method": "GET", "path": "/me"}}}"#
                    .to_owned()
            })
        })
        .unwrap();
        let list = crate::ops::VendorList::of(&crate::ops::EnvSource::Shell, &settings);
        text += &Vendors(&list).to_string();
        text += &to_json(&list);
        text += &format!("{}\n", EnvProblem::NoFunctionNamed.explained());
        let call = |method: &str, url: &str, body: Option<serde_json::Value>| crate::ops::Call {
            method: method.into(),
            url: url.into(),
            header: "authorization: Bearer <the key>".into(),
            headers: vec![("ngrok-version".into(), "2".into())],
            body,
        };
        for accepted in [Some(true), Some(false), None] {
            let test = crate::ops::VendorTest {
                environment: "shell".into(),
                vendor: "ngrok".into(),
                kind: "overlap",
                fingerprint: "sha256:0123456789ab".into(),
                accepted,
                verdict: "accepted".into(),
                verify: call("GET", "https://api.ngrok.com/api_keys?limit=1", None),
                rotate: call(
                    "POST",
                    "https://api.ngrok.com/api_keys",
                    Some(serde_json::json!({"description": "r"})),
                ),
                revoke: Some(call("DELETE", "https://api.ngrok.com/api_keys/{key_id}", None)),
                problems: vec!["the rotate call's body for rate(400 days): …".into()],
            };
            let tested = output::VendorTested(&test);
            text += &format!("{tested}exit {}\n", tested.exit_code());
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
