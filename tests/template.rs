//! template.yaml's parts that no linter reads: the dashboard's JSON body, and the wiring of the
//! promotion mode and the KeyLost alarm to what the function reads and writes.

use api_key_rotator::config::ENV_PROMOTE;
use api_key_rotator::metrics::{DEFAULT_NAMESPACE, ENV_NAMESPACE};

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
    for wanted in ["per vendor and step", "Failures", "p50 and p99", "Dead-key window", "Keys lost"] {
        assert!(titles.iter().any(|t| t.contains(wanted)), "{wanted}: {titles:?}");
    }
}

#[test]
fn the_function_gets_the_promotion_mode_and_the_alarm_watches_its_namespace() {
    for wanted in [
        format!("{ENV_PROMOTE}: !Ref Promote"),
        format!("{ENV_NAMESPACE}: !Ref MetricsNamespace"),
        format!("Default: {DEFAULT_NAMESPACE}"),
        "MetricName: KeyLost".to_owned(),
        "AllowedValues: [standard, early]".to_owned(),
        // The metrics records reach CloudWatch only at INFO or lower.
        "ApplicationLogLevel: INFO".to_owned(),
        "DatapointsToAlarm: 1".to_owned(),
    ] {
        assert!(TEMPLATE.contains(&wanted), "template.yaml lacks {wanted:?}");
    }
}
