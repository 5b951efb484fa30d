//! The operator's commands, run as the real binary against moto and the vendor simulator: `check`,
//! `status`, `repair` and `recover`, their exit codes, what they change (and do not), and that no
//! key ever reaches their output.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::process::Stdio;

use api_key_rotator::sensitive::Sensitive;
use common::*;
use serde_json::{Value, json};

/// What one run of the binary printed, and its exit code.
#[derive(Debug)]
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Ran {
    /// Asserts that none of `keys` appears anywhere in the output.
    fn shows_none_of(&self, keys: &[&str]) -> &Self {
        for key in keys {
            assert!(
                !self.stdout.contains(key) && !self.stderr.contains(key),
                "a key reached the output:\n{}\n{}",
                self.stdout,
                self.stderr
            );
        }
        self
    }

    fn json(&self) -> Vec<Value> {
        serde_json::from_str::<Vec<Value>>(&self.stdout)
            .unwrap_or_else(|e| panic!("not a JSON array ({e}):\n{}\n{}", self.stdout, self.stderr))
    }
}

/// The function's environment as a deployer gives it (every vendor at the simulator), standard
/// promotion.
fn function_env(bench: &Bench) -> HashMap<String, String> {
    let mut env = bench.env();
    env.remove("ROTATION_PROMOTE");
    env
}

/// An environment as the pairs [`run_with`] takes.
fn pairs(env: &HashMap<String, String>) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Runs `api-key-rotator ARGS` as an operator would, with `stdin` piped in.
fn run(bench: &Bench, args: &[&str], stdin: &str) -> Ran {
    run_with(bench, args, stdin, &[])
}

/// [`run`], with `env` set on top (and overriding) the operator's shell.
fn run_with(bench: &Bench, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Ran {
    let mut child = bench.operator(args, env).stdout(Stdio::piped()).spawn().expect("start the binary");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let ran = Ran {
        code: out.status.code().expect("an exit code, not a signal"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    };
    // `ROTATOR_TEST_SHOW=1 cargo test --test operate -- --nocapture --test-threads 1` shows
    // every command as an operator would see it.
    if std::env::var_os("ROTATOR_TEST_SHOW").is_some() {
        eprintln!("$ api-key-rotator {}\n{}{}[exit {}]\n", args.join(" "), ran.stdout, ran.stderr, ran.code);
    }
    ran
}

fn fingerprint(key: &str) -> String {
    Sensitive::new(key).fingerprint()
}

/// A standard-order rotator (the stranded states below exist only between its steps).
fn rotator(bench: &Bench) -> api_key_rotator::Rotator {
    bench.rotator_with(bench.settings_from(function_env(bench)))
}

/// A secret whose rotation is enabled and whose one rotation finished: ready to rotate again.
async fn rotated(bench: &Bench, vendor: &str) -> (Account, String) {
    let account = bench.account(vendor).await;
    let arn = bench.create_secret(&json_secret("api_key", &account.key), &[(TAG_VENDOR, vendor)]).await;
    bench.rotate(&rotator(bench), &arn).await;
    (account, arn)
}

/// createSecret done, nothing after it: the vendor holds the key in AWSPENDING, AWSCURRENT holds
/// the dead one. Returns the account, the secret, the pending version and the new key.
async fn stranded(bench: &Bench, vendor: &str) -> (Account, String, String, String) {
    let staged = bench.staged(vendor).await;
    let outcome = bench.step(&rotator(bench), "createSecret", &staged.arn, &staged.token).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    let new_key = bench.live_key(&staged.account).await;
    assert_ne!(new_key, staged.account.key);
    (staged.account, staged.arn, staged.token, new_key)
}

/// Puts `value` into a new version labelled AWSPENDING only, as a person might by hand.
async fn put_pending_by_hand(bench: &Bench, arn: &str, value: &str) -> String {
    let out = bench
        .sm
        .put_secret_value()
        .secret_id(arn)
        .secret_string(value)
        .version_stages("AWSPENDING")
        .send()
        .await
        .expect("PutSecretValue");
    out.version_id().unwrap().to_owned()
}

/// The version carrying `stage`.
fn holder(stages: &HashMap<String, Vec<String>>, stage: &str) -> Option<String> {
    stages.iter().find(|(_, s)| s.iter().any(|s| s == stage)).map(|(v, _)| v.clone())
}

async fn writes(bench: &Bench, arn: &str) -> usize {
    bench.moto_requests("PutSecretValue", arn).await.len()
        + bench.moto_requests("UpdateSecretVersionStage", arn).await.len()
}

// -- check ------------------------------------------------------------------------------------

#[tokio::test]
async fn check_passes_a_ready_secret_and_changes_nothing() {
    let bench = bench().await;
    let (account, arn) = rotated(&bench, "calcom").await;
    let key = bench.live_key(&account).await;
    let (stages, writes_before) = (bench.stages(&arn).await, writes(&bench, &arn).await);
    let (rotates, verifies) =
        (bench.counter(&account, "rotate_calls").await, bench.counter(&account, "verify_calls").await);

    let ran = run(&bench, &["check", &arn], "");
    ran.shows_none_of(&[&key, &account.key]);
    assert_eq!(ran.code, 0, "{ran:?}");
    for check in ["rotation", "tags", "value", "expiry", "vendor", "pending", "kms"] {
        assert!(
            ran.stdout.lines().any(|l| l.trim_start().starts_with("ok") && l.contains(check)),
            "{check}: {ran:?}"
        );
    }
    assert!(ran.stdout.contains(&fingerprint(&key)), "{ran:?}");

    assert_eq!(bench.stages(&arn).await, stages, "check moved a label");
    assert_eq!(writes(&bench, &arn).await, writes_before, "check wrote to Secrets Manager");
    assert_eq!(bench.counter(&account, "rotate_calls").await, rotates, "check called rotate");
    assert_eq!(bench.counter(&account, "verify_calls").await, verifies + 1, "one verify call");

    let ran = run(&bench, &["check", &arn, "--no-vendor"], "");
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stdout.lines().any(|l| l.contains("skip") && l.contains("vendor")), "{ran:?}");
    assert_eq!(bench.counter(&account, "verify_calls").await, verifies + 1, "--no-vendor called the vendor");
}

#[tokio::test]
async fn check_reports_each_problem_with_what_to_do() {
    let bench = bench().await;
    // Rotation not enabled, the key in another field than the tags say, a base URL nobody
    // approved, and a Cal.com expiry with no schedule to check it against.
    let account = bench.account("calcom").await;
    let arn = bench
        .create_secret(
            &json_secret("token", &account.key),
            &[
                (TAG_VENDOR, "calcom"),
                (TAG_BASE_URL, "https://cal.evil.invalid"),
                ("rotation:calcom-days-valid", "10"),
            ],
        )
        .await;
    // Before rotation is turned on, the function that will rotate it is named.
    let ran = run(&bench, &["check", &arn, "--json", "--function", FUNCTION], "");
    ran.shows_none_of(&[&account.key]);
    assert_eq!(ran.code, 1, "{ran:?}");
    let report = &ran.json()[0];
    assert_eq!(report["ok"], false);
    assert!(report["environment"].as_str().is_some_and(|env| env.ends_with(":function:api-key-rotator")));
    let status = |check: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == check)
            .unwrap_or_else(|| panic!("{check}"))["status"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for (check, expected) in [
        ("rotation", "fail"),
        ("tags", "fail"),
        ("value", "fail"),
        ("expiry", "fail"),
        ("vendor", "skip"),
        ("pending", "ok"),
        ("environment", "ok"),
        ("timeout", "ok"),
        ("memory", "ok"),
    ] {
        assert_eq!(status(check), expected, "{check}: {report:#}");
    }
    for failed in report["checks"].as_array().unwrap().iter().filter(|c| c["status"] == "fail") {
        assert!(failed["fix"].as_str().is_some_and(|fix| !fix.is_empty()), "no fix: {failed}");
    }
    assert_eq!(bench.counter(&account, "verify_calls").await, 0, "a key went to an unapproved host");

    // A key the vendor refuses, and an unfinished rotation whose key is stored.
    let (account, arn, _, new_key) = stranded(&bench, "ringg").await;
    let ran = run(&bench, &["check", &arn], "");
    ran.shows_none_of(&[&account.key, &new_key]);
    assert_eq!(ran.code, 1, "{ran:?}");
    let line = |check: &str| {
        ran.stdout
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(check))
            .unwrap_or_else(|| panic!("{check}: {ran:?}"))
    };
    assert!(line("vendor").contains("FAIL") && line("vendor").contains("refuses"), "{ran:?}");
    assert!(line("pending").contains("FAIL") && line("pending").contains(&fingerprint(&new_key)), "{ran:?}");
    assert!(ran.stdout.contains(&format!("api-key-rotator repair {arn}")), "{ran:?}");

    // A secret that does not exist.
    let ran = run(&bench, &["check", "no-such-secret"], "");
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(ran.stdout.contains("FAIL") && ran.stdout.contains("DescribeSecret"), "{ran:?}");
}

#[tokio::test]
async fn check_and_status_all_find_every_tagged_secret() {
    let bench = bench().await;
    let (account, tagged) = rotated(&bench, "projectdiscovery").await;
    let key = bench.live_key(&account).await;
    let untagged = bench.create_secret("plain-value", &[("team", "ops")]).await;
    for command in ["check", "status"] {
        let mut args = vec![command, "--all", "--json"];
        if command == "check" {
            args.push("--no-vendor");
        }
        let ran = run(&bench, &args, "");
        ran.shows_none_of(&[&key]);
        let arns: Vec<String> = ran.json().iter().map(|r| r["arn"].as_str().unwrap().to_owned()).collect();
        assert!(arns.contains(&tagged), "{command}: {ran:?}");
        assert!(!arns.contains(&untagged), "{command}: {ran:?}");
    }
}

#[tokio::test]
async fn check_and_status_all_that_find_nothing_say_so_and_exit_1() {
    let bench = bench().await;
    // Another region of the same moto: no secret there.
    for command in ["check", "status"] {
        let ran = run_with(&bench, &[command, "--all"], "", &[("AWS_REGION", "eu-north-1")]);
        assert_eq!(ran.code, 1, "{command}: a script must never read \"ready\" from nothing: {ran:?}");
        assert!(ran.stdout.is_empty(), "{ran:?}");
        assert!(
            ran.stderr.contains("no secret has a rotation:vendor tag") && ran.stderr.contains("eu-north-1"),
            "{ran:?}"
        );
    }
}

// -- the function's environment -----------------------------------------------------------------

/// The shell of an operator whose variables point every vendor somewhere else: a host that must be
/// refused (`.invalid`, allowed by the shell's own list so that nothing stops it but the rule).
fn a_misleading_shell() -> Vec<(&'static str, &'static str)> {
    let mut env: Vec<(&str, &str)> = api_key_rotator::vendors::ALL
        .iter()
        .map(|vendor| (vendor.env_base_url(), "https://public-api.invalid"))
        .collect();
    env.push(("ROTATION_ALLOWED_HOSTS", "public-api.invalid"));
    env
}

#[tokio::test]
async fn the_commands_judge_and_send_keys_in_the_function_environment_not_the_shell() {
    let bench = bench().await;
    let shell = a_misleading_shell();
    // The base URLs exist only in the function's environment; the shell names another host.
    let (account, arn) = rotated(&bench, "projectdiscovery").await;
    let key = bench.live_key(&account).await;
    let sent = bench.calls_with(&key).await;
    let ran = run_with(&bench, &["check", &arn], "", &shell);
    ran.shows_none_of(&[&key]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(
        ran.stdout.contains(&format!("function arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}")),
        "{ran:?}"
    );
    assert!(bench.calls_with(&key).await > sent, "the key did not reach the simulator: {ran:?}");

    let ran = run_with(&bench, &["repair", &arn], "", &shell);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stdout.contains("env      function arn:"), "{ran:?}");

    let staged = bench.staged("ringg").await;
    bench.revoke(&staged.account).await;
    let issued = bench.live_key(&staged.account).await;
    let ran = run_with(&bench, &["recover", &staged.arn], &format!("{issued}\n"), &shell);
    ran.shows_none_of(&[&issued]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stdout.contains("judged in: function arn:"), "{ran:?}");
    assert_eq!(bench.value(&staged.arn, "AWSCURRENT").await, json_secret("api_key", &issued));

    // --env-from-shell: the shell's variables, as before this rule (here: the simulator's).
    let simulator = function_env(&bench);
    let simulator = pairs(&simulator);
    let ran = run_with(&bench, &["check", &arn, "--env-from-shell", "--json"], "", &simulator);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(ran.json()[0]["environment"], "shell", "{ran:?}");
    let sent = bench.calls_with(&key).await;
    let ran = run_with(&bench, &["check", &arn, "--env-from-shell"], "", &shell);
    assert_eq!(ran.code, 1, "the shell's host is refused by the vendor call: {ran:?}");
    assert_eq!(bench.calls_with(&key).await, sent, "{ran:?}");
}

#[tokio::test]
async fn without_a_function_environment_nothing_is_sent_and_the_commands_exit_1() {
    let bench = bench().await;
    // A secret whose rotation names a function that does not exist, and one that names none.
    let calcom = bench.account("calcom").await;
    let named = bench.create_secret(&json_secret("api_key", &calcom.key), &[(TAG_VENDOR, "calcom")]).await;
    let missing = format!("arn:aws:lambda:us-east-1:123456789012:function:{}", unique("gone"));
    bench.begin_rotation(&named, serde_json::json!({"RotationLambdaARN": missing})).await;
    let account = bench.account("ringg").await;
    let unconfigured =
        bench.create_secret(&json_secret("api_key", &account.key), &[(TAG_VENDOR, "ringg")]).await;
    // And one whose function exists, but whose configuration the operator may not read.
    let pd = bench.account("projectdiscovery").await;
    let denied =
        bench.create_secret(&json_secret("api_key", &pd.key), &[(TAG_VENDOR, "projectdiscovery")]).await;
    let function = bench.deploy(&unique("denied-rotator"), &function_env(&bench), 90, 256).await;
    bench.begin_rotation(&denied, serde_json::json!({"RotationLambdaARN": function})).await;
    bench.moto_faults("GetFunctionConfiguration", &function, 4, 403, "AccessDeniedException").await;
    let keys = [calcom.key.clone(), account.key.clone(), pd.key.clone()];
    let sent = [
        bench.calls_with(&keys[0]).await,
        bench.calls_with(&keys[1]).await,
        bench.calls_with(&keys[2]).await,
    ];
    // The shell points every vendor at the simulator: a fallback to it would show up as a call.
    let simulator = function_env(&bench);
    let shell = pairs(&simulator);
    let run = |args: &[&str], stdin: &str| run_with(&bench, args, stdin, &shell);
    for (arn, expected) in [
        (&named, "does not exist"),
        (&unconfigured, "has no rotation function"),
        (&denied, "lambda:GetFunctionConfiguration"),
    ] {
        let ran = run(&["check", arn], "");
        ran.shows_none_of(&keys.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(ran.code, 1, "{ran:?}");
        assert!(
            ran.stdout.contains(expected) && ran.stdout.contains("nothing was sent to any vendor"),
            "{ran:?}"
        );
        // The read-only lines still print.
        for line in ["rotation", "value", "pending"] {
            assert!(ran.stdout.lines().any(|l| l.split_whitespace().nth(1) == Some(line)), "{line}: {ran:?}");
        }
        let ran = run(&["status", arn], "");
        assert_eq!(ran.code, 1, "{ran:?}");
        assert!(ran.stdout.contains(expected), "{ran:?}");
        let ran = run(&["repair", arn, "--apply"], "");
        let ran2 = run(&["recover", arn], &format!("{}\n", keys[1]));
        for ran in [ran, ran2] {
            assert_eq!(ran.code, 1, "{ran:?}");
            assert!(ran.stdout.contains(expected), "{ran:?}");
        }
    }
    let now = [
        bench.calls_with(&keys[0]).await,
        bench.calls_with(&keys[1]).await,
        bench.calls_with(&keys[2]).await,
    ];
    assert_eq!(now, sent, "a key was sent");
}

/// A bare `ROTATION_ALLOWED_HOSTS` entry (no `vendor=`) is deprecated: `check` notes it, with the
/// fix, and still passes; the `vendor=host` form draws no note.
#[tokio::test]
async fn check_notes_an_allow_list_entry_without_a_vendor() {
    let bench = bench().await;
    let (_, arn) = rotated(&bench, "calcom").await;
    let mut env = function_env(&bench);
    let line = |ran: &Ran| ran.stdout.lines().find(|l| l.contains(" allowed hosts ")).map(str::to_owned);
    for (entries, noted) in
        [("cal.internal.invalid, ringg=r.invalid:8443", true), ("calcom=cal.internal.invalid", false)]
    {
        env.insert("ROTATION_ALLOWED_HOSTS".into(), entries.into());
        let function = unique("allow-list-rotator");
        bench.deploy(&function, &env, 90, 256).await;
        let ran = run(&bench, &["check", &arn, "--function", &function], "");
        assert_eq!(ran.code, 0, "a note, not a failure: {ran:?}");
        match line(&ran) {
            Some(line) => {
                assert!(noted, "{ran:?}");
                assert!(line.contains("note") && line.contains("cal.internal.invalid"), "{line}");
                assert!(!line.contains("r.invalid"), "only the bare entry: {line}");
                assert!(ran.stdout.contains("VENDOR=HOST"), "the fix: {ran:?}");
            }
            None => assert!(!noted, "{ran:?}"),
        }
    }
}

#[tokio::test]
async fn check_covers_the_function_timeout_and_memory_and_function_names_it_before_rotation() {
    let bench = bench().await;
    let small = unique("small-rotator");
    bench.deploy(&small, &function_env(&bench), 30, 128).await;
    // Exactly the budget is not enough: an invocation never has its whole timeout left.
    let exact = unique("exact-rotator");
    bench.deploy(&exact, &function_env(&bench), 60, 256).await;
    // Rotation not configured yet: --function names the function that will rotate it.
    let account = bench.account("calcom").await;
    let arn = bench.create_secret(&json_secret("api_key", &account.key), &[(TAG_VENDOR, "calcom")]).await;
    let ran = run(&bench, &["check", &arn, "--function", &small], "");
    ran.shows_none_of(&[&account.key]);
    assert_eq!(ran.code, 1, "{ran:?}");
    let line = |check: &str| {
        ran.stdout
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(check))
            .unwrap_or_else(|| panic!("{check}: {ran:?}"))
            .to_owned()
    };
    assert!(
        line("timeout").contains("FAIL")
            && line("timeout").contains("30 s")
            && line("timeout").contains("60 s"),
        "{ran:?}"
    );
    assert!(line("memory").contains("note") && line("memory").contains("128 MB"), "{ran:?}");
    assert!(
        line("vendor").contains("ok"),
        "the key reached the simulator through the named function: {ran:?}"
    );
    let ran = run(&bench, &["check", &arn, "--function", &exact], "");
    let timeout = ran.stdout.lines().find(|l| l.contains(" timeout ")).unwrap_or_default().to_owned();
    assert!(timeout.contains("FAIL") && timeout.contains("60 s"), "{ran:?}");

    // --function instead of the secret's own function says so; with --all it is refused, and so
    // is a key where a function's name belongs.
    let (_, rotated_arn) = rotated(&bench, "calcom").await;
    let ran = run(&bench, &["check", &rotated_arn, "--function", &small], "");
    let environment = ran.stdout.lines().find(|l| l.contains(" environment ")).unwrap_or_default().to_owned();
    assert!(
        environment.contains("note") && environment.contains("instead of the secret's rotation function"),
        "{ran:?}"
    );
    let ran = run(&bench, &["check", "--all", "--function", &small], "");
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(ran.stderr.contains("Name the secrets instead of --all"), "{ran:?}");
    let ran = run(&bench, &["check", &arn, "--function", &account.key], "");
    ran.shows_none_of(&[&account.key]);
    assert_eq!(ran.code, 2, "{ran:?}");

    // A function whose environment would not start: fail closed.
    let broken = unique("broken-rotator");
    let mut env = function_env(&bench);
    env.insert("CALCOM_BASE_URL".into(), "http://cal.example.invalid".into());
    bench.deploy(&broken, &env, 90, 256).await;
    let sent = bench.calls_with(&account.key).await;
    let ran = run(&bench, &["check", &arn, "--function", &broken], "");
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(ran.stdout.contains("is invalid") && ran.stdout.contains("CALCOM_BASE_URL"), "{ran:?}");
    assert_eq!(bench.calls_with(&account.key).await, sent);

    // A broken ROTATION_VENDORS declaration: the environment line names the vendor and the field,
    // and repeats no credentials.
    let declaring = unique("declaring-rotator");
    let mut env = function_env(&bench);
    let declaration =
        r#"{"acme": {"base_url": "https://deploy:TOKEN@api.acme.example", "auth": {"header": "X-Key"}}}"#;
    env.insert("ROTATION_VENDORS".into(), declaration.into());
    bench.deploy(&declaring, &env, 90, 256).await;
    let ran = run(&bench, &["check", &arn, "--function", &declaring], "");
    ran.shows_none_of(&["TOKEN", &account.key]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(ran.stdout.contains(r#"ROTATION_VENDORS: vendor "acme", field "base_url""#), "{ran:?}");
    assert_eq!(bench.calls_with(&account.key).await, sent);
}

#[tokio::test]
async fn status_and_check_show_each_replica_and_check_fails_a_failed_one() {
    let bench = bench().await;
    let (account, arn) = bench.tagged("calcom", &["eu-west-1", "ap-south-1"]).await;
    bench.rotate(&rotator(&bench), &arn).await;
    let key = bench.live_key(&account).await;

    let ran = run(&bench, &["status", &arn, "--json"], "");
    assert_eq!(ran.code, 0, "{ran:?}");
    let regions: Vec<(String, String)> = ran.json()[0]["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["region"].as_str().unwrap().to_owned(), r["status"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(regions, [("eu-west-1".into(), "InSync".into()), ("ap-south-1".into(), "InSync".into())]);
    let ran = run(&bench, &["check", &arn], "");
    assert_eq!(ran.code, 0, "{ran:?}");
    let line =
        |ran: &Ran| ran.stdout.lines().find(|l| l.contains(" replicas ")).unwrap_or_default().to_owned();
    assert!(line(&ran).starts_with("  ok ") && line(&ran).contains("eu-west-1 InSync"), "{ran:?}");

    // One still copying: a note. One failed: check fails, naming why.
    bench.replica_state(&arn, "eu-west-1", "InProgress", None).await;
    let ran = run(&bench, &["check", &arn], "");
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(line(&ran).starts_with("  note ") && line(&ran).contains("eu-west-1 InProgress"), "{ran:?}");
    bench.replica_state(&arn, "ap-south-1", "Failed", Some("no KMS key in ap-south-1")).await;
    let ran = run(&bench, &["check", &arn], "");
    ran.shows_none_of(&[&key]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(line(&ran).starts_with("  FAIL ") && line(&ran).contains("no KMS key in ap-south-1"), "{ran:?}");
    let again = format!(
        "aws secretsmanager remove-regions-from-replication --secret-id {arn} --remove-replica-regions ap-south-1, then aws secretsmanager replicate-secret-to-regions --secret-id {arn} --add-replica-regions Region=ap-south-1"
    );
    assert!(
        ran.stdout.contains(&again) && !ran.stdout.contains("--remove-replica-regions eu-west-1"),
        "{ran:?}"
    );
    let ran = run(&bench, &["status", &arn], "");
    assert!(ran.stdout.contains("replica        ap-south-1: Failed (no KMS key in ap-south-1)"), "{ran:?}");

    // A secret with no replicas: nothing to check.
    let (_, single) = rotated(&bench, "ringg").await;
    let ran = run(&bench, &["check", &single], "");
    assert!(line(&ran).starts_with("  skip ") && line(&ran).contains("not replicated"), "{ran:?}");
}

// -- status -----------------------------------------------------------------------------------

#[tokio::test]
async fn status_json_says_none_empty_or_stored_with_fingerprints() {
    let bench = bench().await;
    let (none_account, none) = rotated(&bench, "calcom").await;
    let empty = bench.staged("ringg").await;
    let (stored_account, stored, token, new_key) = stranded(&bench, "projectdiscovery").await;
    let keys = [
        bench.live_key(&none_account).await,
        empty.account.key.clone(),
        stored_account.key.clone(),
        new_key.clone(),
    ];

    let ran = run(&bench, &["status", &none, &empty.arn, &stored, "--json"], "");
    ran.shows_none_of(&keys.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(ran.code, 0, "{ran:?}");
    let reports = ran.json();
    assert_eq!(reports.len(), 3);
    for report in &reports {
        for field in ["arn", "name", "vendor", "rotation_enabled", "pending", "current_fingerprint"] {
            assert!(report.get(field).is_some(), "{field} missing: {report}");
        }
        assert_eq!(report["rotation_enabled"], true);
    }
    assert_eq!(reports[0]["arn"], none);
    assert_eq!(reports[0]["vendor"], "calcom");
    assert_eq!(reports[0]["pending"], "none");
    assert_eq!(reports[0]["current_fingerprint"], fingerprint(&keys[0]));
    assert_eq!(reports[0]["pending_fingerprint"], Value::Null);

    assert_eq!(reports[1]["pending"], "empty");
    assert_eq!(reports[1]["pending_version"], empty.token);
    assert_eq!(reports[1]["current_fingerprint"], fingerprint(&empty.account.key));
    assert_eq!(reports[1]["pending_fingerprint"], Value::Null);

    assert_eq!(reports[2]["pending"], "stored");
    assert_eq!(reports[2]["pending_version"], token);
    assert_eq!(reports[2]["pending_fingerprint"], fingerprint(&new_key));
    assert_eq!(reports[2]["current_fingerprint"], fingerprint(&stored_account.key));

    let ran = run(&bench, &["status", &stored], "");
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(
        ran.stdout.contains(&format!("stored: version {token}, key {}", fingerprint(&new_key))),
        "{ran:?}"
    );
}

// -- repair -----------------------------------------------------------------------------------

#[tokio::test]
async fn repair_finishes_a_stranded_rotation_only_with_apply() {
    let bench = bench().await;
    let (account, arn, token, new_key) = stranded(&bench, "calcom").await;
    let stages = bench.stages(&arn).await;
    let writes_before = writes(&bench, &arn).await;
    let rotates = bench.counter(&account, "rotate_calls").await;

    let ran = run(&bench, &["repair", &arn], "");
    ran.shows_none_of(&[&account.key, &new_key]);
    assert_eq!(ran.code, 1, "a plan not carried out: {ran:?}");
    assert!(ran.stdout.contains("finish the rotation") && ran.stdout.contains("--apply"), "{ran:?}");
    assert_eq!(bench.stages(&arn).await, stages, "repair without --apply moved a label");
    assert_eq!(writes(&bench, &arn).await, writes_before, "repair without --apply wrote");

    let ran = run(&bench, &["repair", &arn, "--apply"], "");
    ran.shows_none_of(&[&account.key, &new_key]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let stages = bench.stages(&arn).await;
    assert_eq!(holder(&stages, "AWSCURRENT").as_deref(), Some(token.as_str()), "{stages:?}");
    assert_eq!(bench.value(&arn, "AWSCURRENT").await, json_secret("api_key", &new_key));
    assert_eq!(bench.counter(&account, "rotate_calls").await, rotates, "repair called rotate");

    let ran = run(&bench, &["repair", &arn, "--apply"], "");
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stdout.contains("nothing to do"), "{ran:?}");
}

#[tokio::test]
async fn repair_clears_an_empty_placeholder_and_a_copy_of_the_current_value() {
    let bench = bench().await;
    let staged = bench.staged("ringg").await;
    let ran = run(&bench, &["repair", &staged.arn, "--apply"], "");
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stdout.contains("holds no value"), "{ran:?}");
    let stages = bench.stages(&staged.arn).await;
    assert_eq!(holder(&stages, "AWSPENDING"), None, "{stages:?}");
    assert_eq!(bench.value(&staged.arn, "AWSCURRENT").await, json_secret("api_key", &staged.account.key));
    // No pending key to finish: the vendor is asked about the key consumers read.
    assert_eq!(bench.counter(&staged.account, "verify_calls").await, 1, "{ran:?}");
    assert!(!ran.stdout.contains("LOCKOUT"), "{ran:?}");

    let (account, arn) = rotated(&bench, "ringg").await;
    let current = bench.value(&arn, "AWSCURRENT").await;
    let copy = put_pending_by_hand(&bench, &arn, &current).await;
    let ran = run(&bench, &["repair", &arn, "--apply"], "");
    ran.shows_none_of(&[&bench.live_key(&account).await]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stdout.contains("copy of AWSCURRENT") && ran.stdout.contains(&copy), "{ran:?}");
    assert_eq!(holder(&bench.stages(&arn).await, "AWSPENDING"), None);
}

#[tokio::test]
async fn repair_clears_a_refused_pending_key_but_never_an_accepted_one() {
    let bench = bench().await;
    // A pending key the vendor refuses, the current one accepted: the label goes.
    let (account, arn) = rotated(&bench, "projectdiscovery").await;
    let live = bench.live_key(&account).await;
    let dead = "5e0c9d1a-0000-4000-8000-00000000dead";
    let version = put_pending_by_hand(&bench, &arn, &json_secret("api_key", dead)).await;
    let ran = run(&bench, &["repair", &arn, "--apply"], "");
    ran.shows_none_of(&[&live, dead]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stdout.contains("refuses its key"), "{ran:?}");
    let stages = bench.stages(&arn).await;
    assert_eq!(holder(&stages, "AWSPENDING"), None);
    assert!(stages.contains_key(&version), "the version itself is kept");
    assert_eq!(bench.value(&arn, "AWSCURRENT").await, json_secret("api_key", &live));

    // The vendor accepts neither key: nothing changes, and the way out is recover.
    let (account, arn, _, new_key) = stranded(&bench, "ringg").await;
    bench.revoke(&account).await;
    let stages = bench.stages(&arn).await;
    let ran = run(&bench, &["repair", &arn, "--apply"], "");
    ran.shows_none_of(&[&account.key, &new_key]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(ran.stdout.contains("accepts neither key") && ran.stdout.contains("recover"), "{ran:?}");
    assert_eq!(bench.stages(&arn).await, stages);
}

#[tokio::test]
async fn repair_changes_nothing_when_the_vendor_accepts_both_keys() {
    let bench = bench().await;
    // Another live key of the same vendor in AWSPENDING: neither label may move.
    let (account, arn) = rotated(&bench, "calcom").await;
    let other = bench.account("calcom").await;
    put_pending_by_hand(&bench, &arn, &json_secret("api_key", &other.key)).await;
    let stages = bench.stages(&arn).await;
    let ran = run(&bench, &["repair", &arn, "--apply"], "");
    ran.shows_none_of(&[&bench.live_key(&account).await, &other.key]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(ran.stdout.contains("accepts both keys"), "{ran:?}");
    assert_eq!(bench.stages(&arn).await, stages);
}

#[tokio::test]
async fn repair_verifies_an_early_promoted_key_and_fails_when_consumers_hold_a_refused_one() {
    let bench = bench().await;
    let mut env = function_env(&bench);
    env.insert("ROTATION_PROMOTE".into(), "early".into());
    let early = bench.rotator_with(bench.settings_from(env));
    // createSecret promoted the new key at once; testSecret has not passed.
    let staged = bench.staged("calcom").await;
    let outcome = bench.step(&early, "createSecret", &staged.arn, &staged.token).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    let new_key = bench.live_key(&staged.account).await;
    let stages = bench.stages(&staged.arn).await;
    assert_eq!(stages[&staged.token].iter().filter(|s| *s == "AWSPENDING" || *s == "AWSCURRENT").count(), 2);

    // The vendor accepts it: nothing to do, as before.
    let ran = run(&bench, &["repair", &staged.arn], "");
    ran.shows_none_of(&[&new_key, &staged.account.key]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(
        ran.stdout.contains("promoted early whose test") && ran.stdout.contains("nothing to do"),
        "{ran:?}"
    );

    // The vendor refuses it (revoked in its dashboard, say): consumers hold a dead key.
    bench.revoke(&staged.account).await;
    let before = writes(&bench, &staged.arn).await;
    for args in [&["repair", &staged.arn][..], &["repair", &staged.arn, "--apply"]] {
        let ran = run(&bench, args, "");
        ran.shows_none_of(&[&new_key, &staged.account.key]);
        assert_eq!(ran.code, 1, "{ran:?}");
        assert!(ran.stdout.contains("refuses the key in AWSCURRENT"), "{ran:?}");
        assert!(ran.stdout.contains(&format!("api-key-rotator recover {}", staged.arn)), "{ran:?}");
    }
    assert_eq!(writes(&bench, &staged.arn).await, before, "repair changed nothing");
}

#[tokio::test]
async fn repair_with_nothing_pending_has_nothing_to_do() {
    let bench = bench().await;
    // Never rotated (its function named by hand): no AWSPENDING anywhere; the key is asked about.
    let account = bench.account("calcom").await;
    let arn = bench.create_secret(&json_secret("api_key", &account.key), &[(TAG_VENDOR, "calcom")]).await;
    let verifies = bench.counter(&account, "verify_calls").await;
    let ran = run(&bench, &["repair", &arn, "--apply", "--function", FUNCTION], "");
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stdout.contains("nothing to do"), "{ran:?}");
    assert_eq!(bench.counter(&account, "verify_calls").await, verifies + 1, "the current key is asked about");

    // A finished rotation leaves AWSPENDING on AWSCURRENT, which is also what an early promotion
    // whose test failed looks like: the vendor is asked about that key, and accepts it.
    let (account, arn) = rotated(&bench, "calcom").await;
    let verifies = bench.counter(&account, "verify_calls").await;
    let ran = run(&bench, &["repair", &arn, "--apply"], "");
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stdout.contains("nothing to do"), "{ran:?}");
    assert!(bench.counter(&account, "verify_calls").await > verifies, "{ran:?}");
}

// -- recover ----------------------------------------------------------------------------------

#[tokio::test]
async fn recover_stores_an_accepted_key_in_place_and_clears_the_stuck_rotation() {
    let bench = bench().await;
    // KeyLost: the rotation left an empty AWSPENDING, and the vendor holds a key nobody stored.
    let staged = bench.staged("projectdiscovery").await;
    bench.revoke(&staged.account).await;
    let issued = bench.live_key(&staged.account).await;
    let previous = holder(&bench.stages(&staged.arn).await, "AWSCURRENT").unwrap();

    let ran = run(&bench, &["recover", &staged.arn], &format!("{issued}\n"));
    ran.shows_none_of(&[&issued, &staged.account.key]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stdout.contains(&fingerprint(&issued)), "{ran:?}");
    assert_eq!(
        bench.value(&staged.arn, "AWSCURRENT").await,
        json_secret("api_key", &issued),
        "other fields in order"
    );
    let stages = bench.stages(&staged.arn).await;
    assert_eq!(holder(&stages, "AWSPENDING"), None, "{stages:?}");
    assert_eq!(holder(&stages, "AWSPREVIOUS"), Some(previous));
    let ran = run(&bench, &["check", &staged.arn], "");
    assert!(ran.stdout.lines().any(|l| l.contains("ok") && l.contains("vendor")), "{ran:?}");
}

#[tokio::test]
async fn recover_into_a_closed_stdout_stores_the_key_and_never_reports_it_failed() {
    let bench = bench().await;
    let staged = bench.staged("ringg").await;
    bench.revoke(&staged.account).await;
    let issued = bench.live_key(&staged.account).await;
    // `recover ARN | head -0`: the reading end is gone before the report is written.
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let mut child = bench.operator(&["recover", &staged.arn], &[]).stdout(writer).spawn().expect("start");
    child.stdin.take().unwrap().write_all(format!("{issued}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains(&issued), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "the key is stored: the command did not fail. {stderr}");
    assert!(
        stderr.contains("could not be written to standard output") && stderr.contains("exit code is 0"),
        "{stderr}"
    );
    assert_eq!(bench.value(&staged.arn, "AWSCURRENT").await, json_secret("api_key", &issued));
}

#[tokio::test]
async fn recover_refuses_a_key_the_vendor_refuses_and_what_is_not_a_key() {
    let bench = bench().await;
    let staged = bench.staged("calcom").await;
    let stages = bench.stages(&staged.arn).await;
    let writes_before = writes(&bench, &staged.arn).await;
    let wrong = "cal_live_00000000000000000000000000000bad";
    let ran = run(&bench, &["recover", &staged.arn], wrong);
    ran.shows_none_of(&[wrong, &staged.account.key]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(ran.stdout.contains("refuses this key") && ran.stdout.contains("Nothing was written"), "{ran:?}");
    assert_eq!(bench.stages(&staged.arn).await, stages);
    assert_eq!(writes(&bench, &staged.arn).await, writes_before);

    let verifies = bench.counter(&staged.account, "verify_calls").await;
    for not_a_key in
        ["", "two words", "{\"api_key\":\"x\"}", "API_KEY=cal_live_1", "\"cal_live_1\"", "k\u{7}"]
    {
        let ran = run(&bench, &["recover", &staged.arn], not_a_key);
        assert_eq!(ran.code, 1, "{not_a_key:?}: {ran:?}");
    }
    assert_eq!(
        bench.counter(&staged.account, "verify_calls").await,
        verifies,
        "sent something that is not a key"
    );

    // The key on the command line is a usage error, not a key; so is a key given as the secret.
    for args in [&["recover", &staged.arn, &staged.account.key][..], &["recover", &staged.account.key]] {
        let ran = run(&bench, args, "");
        ran.shows_none_of(&[&staged.account.key]);
        assert_eq!(ran.code, 2, "{ran:?}");
    }
    assert_eq!(writes(&bench, &staged.arn).await, writes_before);
}

#[tokio::test]
async fn recover_with_the_current_key_stores_nothing_but_clears_a_dead_pending_key() {
    let bench = bench().await;
    let (account, arn) = rotated(&bench, "ringg").await;
    let live = bench.live_key(&account).await;
    let dead = "00000000-dead-4000-8000-000000000000";
    let version = put_pending_by_hand(&bench, &arn, &json_secret("api_key", dead)).await;
    let current = holder(&bench.stages(&arn).await, "AWSCURRENT");
    let ran = run(&bench, &["recover", &arn], &live);
    ran.shows_none_of(&[&live, dead]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stdout.contains("already holds it") && ran.stdout.contains(&version), "{ran:?}");
    let stages = bench.stages(&arn).await;
    assert_eq!(holder(&stages, "AWSCURRENT"), current, "nothing stored");
    assert_eq!(holder(&stages, "AWSPENDING"), None, "{stages:?}");
}

#[tokio::test]
async fn check_notes_a_customer_managed_kms_key() {
    let bench = bench().await;
    let account = bench.account("ringg").await;
    let key_arn = "arn:aws:kms:us-east-1:123456789012:key/0b4a3d52-7f2e-4c1e-9a55-2f3c1e0d9b8a";
    let out = bench
        .sm
        .create_secret()
        .name(unique("kms"))
        .secret_string(json_secret("api_key", &account.key))
        .kms_key_id(key_arn)
        // Not tagged for a vendor: nothing records its key, and it must not stop the first
        // rotations of this suite's other tests (the shared-key search could not compare it).
        .send()
        .await
        .expect("CreateSecret");
    let ran = run(&bench, &["check", out.arn().unwrap(), "--json", "--no-vendor"], "");
    let kms =
        ran.json()[0]["checks"].as_array().unwrap().iter().find(|c| c["check"] == "kms").cloned().unwrap();
    assert_eq!(kms["status"], "note", "{ran:?}");
    assert!(
        kms["detail"].as_str().unwrap().contains(key_arn)
            && kms["detail"].as_str().unwrap().contains("kms:Decrypt")
    );
}

#[tokio::test]
async fn recover_never_clears_a_pending_key_the_vendor_accepts() {
    let bench = bench().await;
    // The rotation's key is stored and live: it is not lost, whatever key someone pastes.
    let (account, arn, token, new_key) = stranded(&bench, "ringg").await;
    let other = bench.account("ringg").await;
    let stages = bench.stages(&arn).await;
    let ran = run(&bench, &["recover", &arn], &other.key);
    ran.shows_none_of(&[&account.key, &new_key, &other.key]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(ran.stdout.contains(&token) && ran.stdout.contains("repair"), "{ran:?}");
    assert_eq!(bench.stages(&arn).await, stages);
    assert_eq!(bench.counter(&other, "verify_calls").await, 0, "asked about the pasted key first");
}

// -- the binary itself ------------------------------------------------------------------------

#[tokio::test]
async fn outside_lambda_without_arguments_it_explains_itself() {
    let bench = bench().await;
    let ran = run(&bench, &[], "");
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(ran.stderr.contains("rotation function") && ran.stderr.contains("--help"), "{ran:?}");
    assert!(!ran.stderr.contains("panicked"), "{ran:?}");
    let ran = run(&bench, &["--help"], "");
    assert_eq!(ran.code, 0, "{ran:?}");
    for command in ["check", "status", "repair", "recover"] {
        assert!(ran.stdout.contains(command), "{ran:?}");
    }
    let ran = run(&bench, &["--version"], "");
    assert_eq!((ran.code, ran.stdout.trim()), (0, concat!("api-key-rotator ", env!("CARGO_PKG_VERSION"))));
    let ran = run(&bench, &["check"], "");
    assert_eq!(ran.code, 2, "{ran:?}");
}

#[tokio::test]
async fn repair_and_recover_send_a_pending_key_only_where_it_was_issued() {
    let bench = bench().await;
    let (account, arn, _token, new_key) = stranded(&bench, "calcom").await;
    bench.tag(&arn, TAG_VENDOR, "ringg").await;
    let (stages, calls) = (bench.stages(&arn).await, bench.calls_with(&new_key).await);
    let ran = run(&bench, &["repair", &arn, "--apply"], "");
    ran.shows_none_of(&[&account.key, &new_key]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(ran.stdout.contains("rotation:vendor changed since createSecret"), "{ran:?}");
    let ran = run(&bench, &["recover", &arn], "some-key-typed-by-hand-0123456789");
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(
        ran.stderr.contains("changed since createSecret")
            || ran.stdout.contains("changed since createSecret"),
        "{ran:?}"
    );
    assert_eq!(bench.calls_with(&new_key).await, calls, "no vendor was called with the pending key");
    assert_eq!(bench.stages(&arn).await, stages, "nothing was changed");
    // Put back, repair asks the vendor that issued the key, and the simulator sees it.
    bench.tag(&arn, TAG_VENDOR, "calcom").await;
    let ran = run(&bench, &["repair", &arn], "");
    assert_eq!(ran.code, 1, "a plan, not applied: {ran:?}");
    assert!(bench.calls_with(&new_key).await > calls, "{ran:?}");
}

#[tokio::test]
async fn status_and_check_show_a_rescue_version() {
    let bench = bench().await;
    let staged = bench.staged("calcom").await;
    bench.faults(&staged.account, serde_json::json!({"key_in_undocumented_field": 1})).await;
    let result = bench.step(&rotator(&bench), "createSecret", &staged.arn, &staged.token).await;
    assert_eq!(error_type(&result), "KeyLost");
    let live = bench.live_key(&staged.account).await;
    let (rescue, label) = bench.the_rescue(&staged.arn).await;

    let ran = run(&bench, &["status", &staged.arn, "--json"], "");
    ran.shows_none_of(&[&staged.account.key, &live]);
    assert_eq!(ran.json()[0]["rescue_version"], rescue.as_str(), "{ran:?}");
    let ran = run(&bench, &["status", &staged.arn], "");
    assert!(ran.stdout.contains(&format!("version {rescue} keeps a vendor answer")), "{ran:?}");

    let ran = run(&bench, &["check", &staged.arn, "--no-vendor"], "");
    ran.shows_none_of(&[&staged.account.key, &live]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(ran.stdout.contains(&label) && ran.stdout.contains("recover"), "{ran:?}");
}

/// A `rotation:base-url` tag with user information is refused with nothing sent, and its
/// credentials are repeated nowhere: not in the step's error, `check`, `status` or their JSON.
#[tokio::test]
async fn credentials_in_a_base_url_tag_are_refused_and_never_repeated() {
    let bench = bench().await;
    // The second form is a base64 token with a `/` in it: a URL parser reads `TOKEN-SECRET+dE` as
    // the host and the rest as a path, with no user information (issue 27).
    for tag in ["https://deploy:TOKEN-SECRET@api.cal.com", "https://TOKEN-SECRET+dE/fG=@api.cal.com"] {
        let Staged { account, arn, token } = bench.staged("calcom").await;
        bench.tag(&arn, TAG_BASE_URL, tag).await;
        let result = bench.step(&bench.rotator(), "createSecret", &arn, &token).await;
        assert_eq!(error_type(&result), "Config");
        let message = result.unwrap_err().to_string();
        assert!(message.contains("credentials") && !message.contains("TOKEN-SECRET"), "{tag}: {message}");
        assert_eq!(bench.counter(&account, "requests").await, 0);
        for args in
            [["check", &arn, ""], ["check", &arn, "--json"], ["status", &arn, ""], ["status", &arn, "--json"]]
        {
            let args: Vec<&str> = args.into_iter().filter(|arg| !arg.is_empty()).collect();
            let ran = run(&bench, &args, "");
            ran.shows_none_of(&["TOKEN-SECRET", "fG=", &account.key]);
            if args[0] == "check" {
                assert_eq!(ran.code, 1, "{ran:?}");
                assert!(ran.stdout.contains("***@api.cal.com"), "{ran:?}");
            }
        }
        assert_eq!(bench.counter(&account, "requests").await, 0);
    }
}

/// `recover` moves AWSCURRENT as a rotation does: consumers are told (cause `recover`), and the
/// version records the target the key was verified against, so that after a wrong retag `check`
/// sends the recovered key nowhere else.
#[tokio::test]
async fn recover_tells_consumers_and_records_where_the_key_was_issued() {
    let bench = bench().await;
    let staged = bench.staged("calcom").await;
    bench.revoke(&staged.account).await;
    let issued = bench.live_key(&staged.account).await;
    let ran = run(&bench, &["recover", &staged.arn], &format!("{issued}\n"));
    assert_eq!(ran.code, 0, "{ran:?}");
    let current = holder(&bench.stages(&staged.arn).await, "AWSCURRENT").unwrap();
    let told = bench.events(&staged.arn).await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(
        (&told[0]["cause"], &told[0]["versionId"], &told[0]["vendor"], &told[0]["keyFingerprint"]),
        (&json!("recover"), &json!(current), &json!("calcom"), &json!(fingerprint(&issued)))
    );
    let labels = &bench.stages(&staged.arn).await[&current];
    assert!(labels.iter().any(|l| l.starts_with("ROTATION_TARGET.calcom.")), "{labels:?}");
    // Told: the key's fingerprint is on its version, and off the version it replaced.
    assert!(labels.iter().any(|l| l.starts_with("ROTATION_FINGERPRINT.")), "{labels:?}");
    let stages = bench.stages(&staged.arn).await;
    let previous = holder(&stages, "AWSPREVIOUS").unwrap();
    assert!(!stages[&previous].iter().any(|l| l.starts_with("ROTATION_FINGERPRINT.")), "{stages:?}");

    // A wrong retag: check refuses to send the recovered key to Ringg.
    bench.tag(&staged.arn, TAG_VENDOR, "ringg").await;
    let calls = bench.calls_with(&issued).await;
    let ran = run(&bench, &["check", &staged.arn], "");
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(ran.stdout.contains("issued by calcom"), "{ran:?}");
    assert_eq!(bench.calls_with(&issued).await, calls, "the recovered key went to another vendor");
}

/// `repair --apply` that finishes a rotation tells consumers (cause `repair`).
#[tokio::test]
async fn repair_that_finishes_a_rotation_tells_consumers() {
    let bench = bench().await;
    let (_, arn, token, new_key) = stranded(&bench, "ringg").await;
    let ran = run(&bench, &["repair", &arn, "--apply"], "");
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stdout.contains("consumers were told"), "{ran:?}");
    let told = bench.events(&arn).await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(
        (&told[0]["cause"], &told[0]["versionId"], &told[0]["keyFingerprint"]),
        (&json!("repair"), &json!(token), &json!(fingerprint(&new_key)))
    );
}

/// repair starts from the worst thing it can see: after a rescued answer, the ROTATION_RESCUE
/// version and `recover` come first, and repair exits 1 while the lock-out stands, whatever it
/// applied; the next repair still says so.
#[tokio::test]
async fn repair_starts_from_a_rescued_answer_and_a_refused_current_key() {
    let bench = bench().await;
    let staged = bench.staged("calcom").await;
    bench.faults(&staged.account, json!({"key_in_undocumented_field": 1})).await;
    let result = bench.step(&rotator(&bench), "createSecret", &staged.arn, &staged.token).await;
    assert_eq!(error_type(&result), "KeyLost");
    let (rescue, _) = bench.the_rescue(&staged.arn).await;
    let live = bench.live_key(&staged.account).await;
    for args in [
        &["repair", &staged.arn][..],
        &["repair", &staged.arn, "--apply"],
        &["repair", &staged.arn, "--apply"],
    ] {
        let ran = run(&bench, args, "");
        ran.shows_none_of(&[&live, &staged.account.key]);
        assert_eq!(ran.code, 1, "{args:?}: {ran:?}");
        let lines: Vec<&str> = ran.stdout.lines().collect();
        assert!(lines[1].starts_with("LOCKOUT") && lines[1].contains(&rescue), "{ran:?}");
        assert!(
            lines[2].starts_with("LOCKOUT") && lines[2].contains("refuses the key in AWSCURRENT"),
            "{ran:?}"
        );
        assert!(ran.stdout.contains(&format!("api-key-rotator recover {}", staged.arn)), "{ran:?}");
    }
    assert_eq!(holder(&bench.stages(&staged.arn).await, "AWSPENDING"), None, "the placeholder was cleared");
}

/// `check` has a `shared` line: it fails naming the other secrets of the same function that hold
/// the key, and a run over several secrets explains each pair once.
#[tokio::test]
async fn check_fails_a_shared_key_and_lists_each_pair_once() {
    let bench = bench().await;
    let account = bench.account("projectdiscovery").await;
    let tags = [(TAG_VENDOR, "projectdiscovery")];
    let a = bench.create_secret(&json_secret("api_key", &account.key), &tags).await;
    let b = bench.create_secret(&account.key, &tags).await;
    for arn in [&a, &b] {
        bench.begin_rotation(arn, json!({})).await;
    }
    let ran = run(&bench, &["check", &a, "--no-vendor"], "");
    ran.shows_none_of(&[&account.key]);
    assert_eq!(ran.code, 1, "{ran:?}");
    let shared: Vec<&str> = ran.stdout.lines().filter(|line| line.contains("shared")).collect();
    assert!(shared[0].contains("FAIL") && shared[0].contains(&b), "{ran:?}");
    assert!(ran.stdout.contains("README, Shared keys"), "{ran:?}");

    for args in [&["check", &a, &b, "--no-vendor"][..], &["check", "--all", "--no-vendor"]] {
        let ran = run(&bench, args, "");
        ran.shows_none_of(&[&account.key]);
        assert_eq!(ran.code, 1, "{ran:?}");
        let explained = ran.stdout.matches("createSecret refuses to rotate it").count();
        let named_again = ran.stdout.matches("(the pair is listed above)").count();
        assert_eq!((explained, named_again), (1, 1), "{args:?}: {ran:?}");
    }
}

/// The record of issue is a staging label: storing a pending key for the same target takes it off
/// AWSCURRENT while the rotation is under way. Then the pending version's record speaks for the
/// current key: after a wrong retag, `check` sends it nowhere.
#[tokio::test]
async fn mid_rotation_the_pending_record_speaks_for_the_current_key() {
    let bench = bench().await;
    let (account, arn, _token, new_key) = stranded(&bench, "calcom").await;
    let stages = bench.stages(&arn).await;
    let current = holder(&stages, "AWSCURRENT").unwrap();
    assert!(!stages[&current].iter().any(|l| l.starts_with("ROTATION_TARGET.")), "{stages:?}");
    bench.tag(&arn, TAG_VENDOR, "ringg").await;
    let calls = (bench.calls_with(&account.key).await, bench.calls_with(&new_key).await);
    let ran = run(&bench, &["check", &arn], "");
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(ran.stdout.contains("issued by calcom"), "{ran:?}");
    assert_eq!((bench.calls_with(&account.key).await, bench.calls_with(&new_key).await), calls);
}

// -- vendors ------------------------------------------------------------------------------------

/// `vendors` lists what the named function knows (its catalog overrides and declarations
/// included), in that function's environment; without --function or --env-from-shell it is a
/// usage error.
#[tokio::test]
async fn vendors_lists_what_the_function_knows() {
    let bench = bench().await;
    let function = unique("vendors-rotator");
    bench.deploy(&function, &function_env(&bench), 90, 256).await;
    let ran = run(&bench, &["vendors", "--function", &function, "--json"], "");
    assert_eq!(ran.code, 0, "{ran:?}");
    let list: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    assert!(list["environment"].as_str().unwrap().contains(&function), "{list}");
    let find = |name: &str| {
        list["vendors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name}: {list}"))
    };
    assert_eq!(find("calcom")["source"], "built-in");
    assert_eq!(find("dualkey")["source"], "declared");
    assert_eq!(find("dualkey")["kind"], "overlap");
    // The bench points every catalog vendor at the simulator with an override.
    let gitlab = find("gitlab");
    assert_eq!(gitlab["source"], "catalog-overridden");
    assert_eq!(gitlab["base_url"], bench.sim_base("gitlab"));
    let ran = run(&bench, &["vendors"], "");
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(ran.stdout.contains("--function"), "{ran:?}");
}

/// `vendors test NAME` verifies a key read from standard input and shows what a rotation would
/// send, never the key: exit 0 accepted, 1 refused, 2 a vendor the environment does not know.
#[tokio::test]
async fn vendors_test_verifies_a_key_and_shows_the_calls_without_it() {
    let bench = bench().await;
    let env = function_env(&bench);
    let shell: Vec<(&str, &str)> = pairs(&env);
    for vendor in ["gitlab", "databricks"] {
        let account = bench.account(vendor).await;
        let ran = run_with(
            &bench,
            &["vendors", "test", vendor, "--env-from-shell"],
            &format!("{}\n", account.key),
            &shell,
        );
        ran.shows_none_of(&[&account.key]);
        assert_eq!(ran.code, 0, "{ran:?}");
        assert!(ran.stdout.contains(&fingerprint(&account.key)), "{ran:?}");
        match vendor {
            "gitlab" => {
                assert!(ran.stdout.to_ascii_lowercase().contains("private-token: <the key>"), "{ran:?}");
                assert!(
                    ran.stdout.contains("/personal_access_tokens/self/rotate")
                        && ran.stdout.contains("expires_at"),
                    "{ran:?}"
                );
            }
            _ => assert!(ran.stdout.contains(r#"{"token_id":"{key_id}"}"#), "the revoke by body: {ran:?}"),
        }
        assert_eq!(bench.state(&account).await["rotate_calls"], 0, "the verify call only");
        let ran = run_with(
            &bench,
            &["vendors", "test", vendor, "--env-from-shell", "--json"],
            "not-the-key\n",
            &shell,
        );
        assert_eq!(ran.code, 1, "{ran:?}");
        let test: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
        assert_eq!(test["accepted"], false, "{test}");
    }
    let ran = run_with(&bench, &["vendors", "test", "nope", "--env-from-shell"], "k\n", &shell);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(ran.stdout.contains("not a vendor this environment knows"), "{ran:?}");
}
