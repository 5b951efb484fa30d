//! template.yaml's parts that no linter reads: the dashboard's JSON body, the wiring of the
//! promotion mode and the paging alarm to what the function reads and writes, and the Serverless
//! Application Repository's listing.

use api_key_rotator::config::ENV_PROMOTE;
use api_key_rotator::metrics::{DEFAULT_NAMESPACE, ENV_NAMESPACE, NAMES};
use api_key_rotator::notify::{DETAIL_TYPE, SOURCE};

const TEMPLATE: &str = include_str!("../template.yaml");

/// The literal block after `key: !Sub |`, unindented.
fn block(key: &str) -> String {
    let mut lines =
        TEMPLATE.lines().skip_while(|line| !line.trim_start().starts_with(&format!("{key}: !Sub |")));
    let header = lines.next().unwrap_or_else(|| panic!("template.yaml has no {key}"));
    let indent = header.len() - header.trim_start().len();
    lines
        .take_while(|line| line.trim().is_empty() || line.len() - line.trim_start().len() > indent)
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_dashboard_body_is_json_once_substituted() {
    let body = block("DashboardBody")
        .replace("${AWS::Region}", "us-east-1")
        .replace("${MetricsNamespace}", DEFAULT_NAMESPACE);
    assert!(!body.contains("${"), "every substitution is known: {body}");
    let dashboard: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}:\n{body}"));
    let titles: Vec<&str> = dashboard["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["properties"]["title"].as_str().unwrap())
        .collect();
    for wanted in
        ["per vendor and step", "Failures", "p50 and p99", "Dead-key window", "Keys lost", "Replica regions"]
    {
        assert!(titles.iter().any(|t| t.contains(wanted)), "{wanted}: {titles:?}");
    }
    // Every metric a widget names is one the function writes, and the replica and event metrics
    // are all shown.
    let mut shown = Vec::new();
    for widget in dashboard["widgets"].as_array().unwrap() {
        for line in widget["properties"]["metrics"].as_array().unwrap() {
            let line = line.as_array().unwrap();
            match (line[0].as_str(), line.get(1).and_then(|name| name.as_str())) {
                (Some(DEFAULT_NAMESPACE), Some(name)) => shown.push(name.to_owned()),
                (Some("..."), _) => {}
                _ => {
                    let expression = line[0]["expression"].as_str().unwrap();
                    let name =
                        expression.split("MetricName=\"").nth(1).and_then(|rest| rest.split('"').next());
                    shown.push(name.unwrap_or_else(|| panic!("no MetricName in {expression}")).to_owned());
                }
            }
        }
    }
    for name in &shown {
        assert!(
            NAMES.contains(&name.as_str()),
            "the dashboard shows {name}, which the function never writes"
        );
    }
    for wanted in ["ReplicaSyncTime", "ReplicationFailed", "NotifyFailed"] {
        assert!(shown.iter().any(|name| name == wanted), "the dashboard lacks {wanted}: {shown:?}");
    }
}

/// A top-level resource's (or output's) block: its line and every line indented deeper.
fn resource(name: &str) -> String {
    let header = format!("  {name}:");
    let mut lines = TEMPLATE.lines().skip_while(|line| *line != header);
    let first = lines.next().unwrap_or_else(|| panic!("template.yaml has no {name}"));
    let body: Vec<&str> = lines.take_while(|line| line.is_empty() || line.starts_with("   ")).collect();
    format!("{first}\n{}", body.join("\n"))
}

#[test]
fn every_alarm_watches_a_metric_the_function_writes() {
    // Besides the function's own: Lambda's Errors, and the dead-letter queues' depth.
    for line in TEMPLATE.lines().filter_map(|line| line.trim().strip_prefix("MetricName: ")) {
        assert!(
            NAMES.contains(&line) || line == "Errors" || line == "ApproximateNumberOfMessagesVisible",
            "an alarm watches {line}, which the function never writes"
        );
    }
    let alarm = resource("ReplicationFailedAlarm");
    for wanted in [
        "Type: AWS::CloudWatch::Alarm",
        "Namespace: !Ref MetricsNamespace",
        "MetricName: ReplicationFailed",
        // Regions whose state nobody could read page too, said as unknown.
        "MetricName: ReplicaStateUnknown",
        "Expression: FILL(failed, 0) + FILL(unknown, 0)",
        "Stat: Sum",
        "DatapointsToAlarm: 1",
        "Threshold: 1",
        "TreatMissingData: notBreaching",
        "- !Ref AlertTopic",
    ] {
        assert!(alarm.contains(wanted), "ReplicationFailedAlarm lacks {wanted:?}:\n{alarm}");
    }
    // A move consumers were never told of pages on its own alarm, which says what it means.
    let alarm = resource("ConsumersNotToldAlarm");
    for wanted in [
        "Type: AWS::CloudWatch::Alarm",
        "Namespace: !Ref MetricsNamespace",
        "MetricName: NotifyFailed",
        "Statistic: Sum",
        "DatapointsToAlarm: 1",
        "Threshold: 1",
        "TreatMissingData: notBreaching",
        "repair SECRET --apply",
        "- !Ref AlertTopic",
    ] {
        assert!(alarm.contains(wanted), "ConsumersNotToldAlarm lacks {wanted:?}:\n{alarm}");
    }
}

#[test]
fn key_rotated_events_reach_a_topic_and_the_function_may_put_them_on_the_default_bus_only() {
    let rule = resource("KeyRotatedRule");
    for wanted in [
        "Type: AWS::Events::Rule".to_owned(),
        "EventBusName: default".to_owned(),
        format!("- {SOURCE}"),
        format!("- {DETAIL_TYPE}"),
        "Arn: !Ref KeyRotatedTopic".to_owned(),
    ] {
        assert!(rule.contains(&wanted), "KeyRotatedRule lacks {wanted:?}:\n{rule}");
    }
    let policy = resource("KeyRotatedTopicPolicy");
    assert!(policy.contains("aws:SourceArn: !GetAtt KeyRotatedRule.Arn"), "{policy}");
    assert!(resource("KeyRotatedTopicArn").contains("Value: !Ref KeyRotatedTopic"));
    // The one grant: PutEvents, on the default bus, of this source and detail-type only
    // (tools/test_template.py reads every statement of the role).
    let role = resource("RotationFunctionRole");
    let grants: Vec<&str> = role.lines().filter(|line| line.contains("events:")).map(str::trim).collect();
    assert_eq!(
        grants,
        [
            "Action: events:PutEvents",
            "Resource: !Sub arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default",
            &format!("events:source: {SOURCE}"),
            &format!("events:detail-type: {DETAIL_TYPE}"),
            // And the keys must be there (Null false): ForAllValues alone passes without them.
            "events:source: \"false\"",
            "events:detail-type: \"false\"",
        ]
    );
    assert_eq!(TEMPLATE.matches("events:PutEvents").count(), 1, "no other role may put events");
}

#[test]
fn the_function_gets_the_promotion_mode_and_the_alarm_watches_its_namespace() {
    for wanted in [
        format!("{ENV_PROMOTE}: !Ref Promote"),
        format!("{ENV_NAMESPACE}: !Ref MetricsNamespace"),
        format!("{}: !Ref Vendors", api_key_rotator::config::ENV_VENDORS),
        format!("Default: {DEFAULT_NAMESPACE}"),
        "MetricName: KeyLost".to_owned(),
        // One alarm pages whenever consumers hold a key the vendor refuses, whatever the cause.
        "ConsumersHoldRefusedKeyAlarm:".to_owned(),
        "MetricName: CurrentKeyRejected".to_owned(),
        // An unknown rotate outcome the probe could not settle: consumers may hold a dead key.
        "MetricName: KeyStateUnknown".to_owned(),
        // A revoke that killed some other key.
        "MetricName: WrongKeyRevoked".to_owned(),
        "Expression: FILL(lost, 0) + FILL(rejected, 0) + FILL(unknown, 0) + FILL(wrong, 0)".to_owned(),
        "AllowedValues: [standard, early]".to_owned(),
        // The metrics records reach CloudWatch only at INFO or lower.
        "ApplicationLogLevel: INFO".to_owned(),
        "DatapointsToAlarm: 1".to_owned(),
    ] {
        assert!(TEMPLATE.contains(&wanted), "template.yaml lacks {wanted:?}");
    }
}

/// The `AWS::ServerlessRepo::Application` metadata and what follows it.
fn listing_block() -> &'static str {
    TEMPLATE.split("  AWS::ServerlessRepo::Application:\n").nth(1).expect("template.yaml has the listing")
}

/// `key: value` in the `AWS::ServerlessRepo::Application` metadata.
fn listing(key: &str) -> Option<&'static str> {
    listing_block()
        .lines()
        .take_while(|line| line.starts_with("    ") || line.trim().is_empty())
        .find_map(|line| line.strip_prefix(&format!("    {key}:")))
        .map(str::trim)
}

#[test]
fn the_serverless_application_repository_listing_matches_the_crate() {
    for key in [
        "Name",
        "Description",
        "Author",
        "SpdxLicenseId",
        "LicenseUrl",
        "ReadmeUrl",
        "Labels",
        "HomePageUrl",
        "SemanticVersion",
        "SourceCodeUrl",
    ] {
        assert!(listing(key).is_some(), "the listing has no {key}");
    }
    assert_eq!(listing("SemanticVersion"), Some(env!("CARGO_PKG_VERSION")), "bump both versions together");
    assert_eq!(listing("SpdxLicenseId"), Some(env!("CARGO_PKG_LICENSE")));
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in ["LicenseUrl", "ReadmeUrl"] {
        assert!(root.join(listing(file).unwrap()).is_file(), "{file} names a file that is not there");
    }
    assert!(std::fs::read_to_string(root.join("LICENSE")).unwrap().contains("Apache License"));
    // SAR's rules: a name of letters, digits and hyphens; a description of at most 256 characters
    // (folded from its lines); at most 10 labels of [a-zA-Z0-9+-_:/@]; an author of lower-case
    // letters, digits and single hyphens, neither first nor last.
    let name = listing("Name").unwrap();
    assert!(
        !name.is_empty() && name.len() <= 140 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    );
    let description: Vec<&str> = listing_block()
        .lines()
        .skip_while(|line| !line.starts_with("    Description:"))
        .skip(1)
        .take_while(|line| line.starts_with("      "))
        .map(str::trim)
        .collect();
    let description = description.join(" ");
    assert!(!description.is_empty() && description.len() <= 256, "{} characters", description.len());
    let labels: Vec<&str> =
        listing("Labels").unwrap().trim_matches(['[', ']']).split(',').map(str::trim).collect();
    assert!(labels.len() <= 10, "{labels:?}");
    for label in labels {
        assert!(label.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-_:/@".contains(&b)), "{label}");
    }
    let author = listing("Author").unwrap();
    assert!(author.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'), "{author}");
    assert!(!author.starts_with('-') && !author.ends_with('-') && !author.contains("--"), "{author}");
}

#[test]
fn the_readme_deploys_with_the_commands_ci_runs() {
    let readme = include_str!("../README.md");
    let package = include_str!("../scripts/package");
    for command in ["sam validate --lint", "sam build"] {
        assert!(
            readme.lines().any(|line| line.split('#').next().unwrap().trim() == command),
            "README.md's deploy commands lack `{command}`"
        );
        assert!(
            package.lines().any(|line| line.trim() == command),
            "scripts/package does not run `{command}`"
        );
    }
    assert!(!readme.contains("--beta-features"), "the current SAM CLI builds rust-cargolambda without it");
}

/// The VPC parameters reach the function's VpcConfig when given (either one: then the other is
/// missing and the deployment fails, never silently outside the VPC), and the
/// concurrency limit its ReservedConcurrentExecutions, only when given.
#[test]
fn the_vpc_and_the_concurrency_limit_reach_the_function_when_given() {
    let function = resource("RotationFunction");
    for wanted in [
        "VpcConfig: !If",
        "- HasVpc",
        "SubnetIds: !Ref SubnetIds",
        "SecurityGroupIds: !Ref SecurityGroupIds",
        "ReservedConcurrentExecutions: !If [HasReservedConcurrency, !Ref ReservedConcurrency, !Ref AWS::NoValue]",
    ] {
        assert!(function.contains(wanted), "RotationFunction lacks {wanted:?}:\n{function}");
    }
    let vpc =
        TEMPLATE.lines().skip_while(|l| !l.starts_with("  HasVpc:")).take(3).collect::<Vec<_>>().join("\n");
    assert!(vpc.starts_with("  HasVpc: !Or"), "{vpc}");
    assert!(
        vpc.contains("!Join [\"\", !Ref SubnetIds]") && vpc.contains("!Join [\"\", !Ref SecurityGroupIds]"),
        "{vpc}"
    );
    for parameter in ["SubnetIds", "SecurityGroupIds"] {
        let block = resource(parameter);
        assert!(block.contains("Type: CommaDelimitedList") && block.contains("Default: \"\""), "{block}");
    }
    assert!(resource("ReservedConcurrency").contains(r#"AllowedPattern: "^([1-9][0-9]+)?$""#));
}

/// One customer-managed key, when given, encrypts the function's environment (which its role may
/// then decrypt), both SNS topics, the log group and both dead-letter queues; every scanner skip
/// carries its reason.
#[test]
fn the_encryption_key_reaches_the_environment_and_both_topics() {
    let when_given = "!If [HasEncryptionKey, !Ref EncryptionKeyArn, !Ref AWS::NoValue]";
    assert!(resource("RotationFunction").contains(&format!("KmsKeyArn: {when_given}")));
    for topic in ["AlertTopic", "KeyRotatedTopic"] {
        let block = resource(topic);
        assert!(block.contains(&format!("KmsMasterKeyId: {when_given}")), "{block}");
        assert!(block.contains("- id: CKV_AWS_26") && block.contains("comment: >-"), "{block}");
    }
    assert!(resource("LogGroup").contains(&format!("KmsKeyId: {when_given}")));
    for queue in ["RotationEventsDeadLetterQueue", "KeyRotatedDeadLetterQueue"] {
        assert!(resource(queue).contains(&format!("KmsMasterKeyId: {when_given}")), "{queue}");
    }
    let role = resource("RotationFunctionRole");
    for wanted in [
        "- HasEncryptionKey",
        "Action: kms:Decrypt",
        "Resource: !Ref EncryptionKeyArn",
        "lambda.${AWS::Region}",
    ] {
        assert!(role.contains(wanted), "RotationFunctionRole lacks {wanted:?}:\n{role}");
    }
    // Every skip has a comment right after its id.
    let lines: Vec<&str> = TEMPLATE.lines().map(str::trim).collect();
    for (i, line) in lines.iter().enumerate().filter(|(_, l)| l.starts_with("- id: CKV_")) {
        assert!(lines[i + 1].starts_with("comment:"), "{line} has no reason beside it");
    }
}
