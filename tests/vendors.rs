//! Vendor coverage: `vendors::ALL` is the one list of vendors in Rust, `VENDORS` in
//! tools/vendor_sim.py the one list in Python. The deployment files name each vendor's base-URL
//! variable once: template.yaml (a parameter, passed to the function's environment) and the local
//! demo's environment in Cargo.toml. This fails, naming what is missing, when any of them leaves a
//! vendor out.

mod common;

use std::collections::BTreeSet;

use api_key_rotator::vendors::ALL;
use common::*;

const TEMPLATE: &str = include_str!("../template.yaml");
const CARGO_TOML: &str = include_str!("../Cargo.toml");
/// The simulator's address in the demo (tools/demo.py).
const DEMO_SIM: &str = "http://127.0.0.1:27102";

/// The `NAME = "value"` lines of one TOML table.
fn toml_table(text: &str, table: &str) -> Vec<(String, String)> {
    text.lines()
        .skip_while(|line| line.trim() != format!("[{table}]"))
        .skip(1)
        .take_while(|line| !line.trim_start().starts_with('['))
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().trim_matches('"').to_owned()))
        .collect()
}

/// The function's `Environment: Variables:` block in template.yaml, as `NAME: value` pairs.
fn function_environment() -> Vec<(&'static str, &'static str)> {
    let mut lines = TEMPLATE.lines().skip_while(|line| line.trim() != "Environment:");
    lines.next().expect("template.yaml gives the function an Environment");
    assert_eq!(lines.next().map(str::trim), Some("Variables:"));
    lines
        .take_while(|line| line.starts_with("          ") && line.contains(':'))
        .filter_map(|line| line.trim().split_once(':'))
        .map(|(name, value)| (name, value.trim()))
        .collect()
}

/// template.yaml's parameters, each with its description.
fn template_parameters() -> Vec<(&'static str, String)> {
    let block = TEMPLATE.split("\nParameters:\n").nth(1).expect("template.yaml has Parameters");
    let mut parameters: Vec<(&str, String)> = Vec::new();
    for line in block.lines().take_while(|line| line.is_empty() || line.starts_with(' ')) {
        if let Some(name) =
            line.strip_prefix("  ").and_then(|l| l.strip_suffix(':')).filter(|n| !n.starts_with(' '))
        {
            parameters.push((name, String::new()));
        } else if let Some((_, description)) = parameters.last_mut() {
            description.push_str(line.trim());
            description.push(' ');
        }
    }
    parameters
}

#[test]
fn template_yaml_gives_every_vendor_a_base_url_parameter() {
    let environment = function_environment();
    let parameters = template_parameters();
    let mut missing = Vec::new();
    let mut used = BTreeSet::new();
    for vendor in ALL {
        let env = vendor.env_base_url();
        let Some((_, value)) = environment.iter().find(|(name, _)| *name == env) else {
            missing.push(format!("{}: the function's Environment Variables have no {env}", vendor.name()));
            continue;
        };
        let Some(parameter) = value.strip_prefix("!Ref ") else {
            missing.push(format!("{}: {env} is {value}, not a !Ref to a parameter", vendor.name()));
            continue;
        };
        match parameters.iter().find(|(name, _)| *name == parameter) {
            None => missing
                .push(format!("{}: {env} refers to {parameter}, which is not a parameter", vendor.name())),
            Some((_, description)) if !description.contains(env) => missing
                .push(format!("{}: the parameter {parameter} does not say it sets {env}", vendor.name())),
            Some(_) if !used.insert(parameter) => {
                missing.push(format!("{}: {parameter} already sets another vendor's variable", vendor.name()))
            }
            Some(_) => {}
        }
    }
    assert!(missing.is_empty(), "template.yaml misses vendors:\n{}", missing.join("\n"));
}

#[tokio::test]
async fn the_simulator_and_the_demo_environment_cover_every_vendor() {
    let bench = bench().await;
    // The built-ins are the simulator's vendors with a base-URL variable; the others are declared.
    let simulated: BTreeSet<String> = bench
        .sim_vendors
        .as_object()
        .expect("an object")
        .iter()
        .filter(|(_, vendor)| !vendor["env"].is_null())
        .map(|(name, _)| name.clone())
        .collect();
    let rust: BTreeSet<String> = vendor_names().map(str::to_owned).collect();
    assert_eq!(simulated, rust, "tools/vendor_sim.py's VENDORS and vendors::ALL list different vendors");
    // Every declared one parses as the function parses ROTATION_VENDORS.
    let declared = api_key_rotator::config::parse_declarations(&bench.declarations().to_string()).unwrap();
    let names: BTreeSet<&str> = declared.iter().map(|vendor| vendor.name.as_str()).collect();
    assert!(names.contains("acme") && names.contains("dualkey"), "{names:?}");

    let demo = toml_table(CARGO_TOML, "package.metadata.lambda.env");
    let mut missing = Vec::new();
    for vendor in ALL {
        let env = vendor.env_base_url();
        assert_eq!(bench.sim_vendors[vendor.name()]["env"], env, "the simulator names another variable");
        let expected = format!("{DEMO_SIM}{}", bench.sim_vendors[vendor.name()]["prefix"].as_str().unwrap());
        match demo.iter().find(|(name, _)| name == env) {
            None => missing.push(format!("{env} is missing")),
            Some((_, value)) if *value != expected => {
                missing.push(format!("{env} is {value}, not {expected}"))
            }
            Some(_) => {}
        }
    }
    assert!(missing.is_empty(), "Cargo.toml's [package.metadata.lambda.env]:\n{}", missing.join("\n"));
}

/// The declaration schema (`vendors schema`) names the built-ins as names a declaration may not
/// take, and each catalog vendor as a name whose member is an override; on the samples it shares
/// with tools/test_schema.py, the function's own validator accepts every valid one and refuses
/// every invalid one, those the schema refuses included: what the schema refuses, the function
/// refuses.
#[test]
fn the_schema_names_the_vendors_and_the_validator_refuses_what_it_refuses() {
    use api_key_rotator::config::parse_declarations;
    use api_key_rotator::vendors::{CATALOG, SCHEMA};
    let schema: serde_json::Value = serde_json::from_str(SCHEMA).expect("the schema is JSON");
    let reserved: BTreeSet<&str> = schema["propertyNames"]["not"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(reserved, ALL.iter().map(|vendor| vendor.name()).collect());
    let overrides: BTreeSet<&str> =
        schema["properties"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(overrides, CATALOG.iter().map(|(name, _)| *name).collect());
    let samples: serde_json::Value = serde_json::from_str(include_str!("declarations.json")).unwrap();
    for (name, sample) in samples["valid"].as_object().unwrap() {
        assert!(
            parse_declarations(&sample.to_string()).is_ok(),
            "{name}: {:?}",
            parse_declarations(&sample.to_string())
        );
    }
    let invalid = samples["invalid"].as_object().unwrap();
    assert!(invalid.values().filter(|sample| sample["schema_refuses"] == true).count() >= 10);
    for (name, sample) in invalid {
        assert!(parse_declarations(&sample["vendors"].to_string()).is_err(), "{name} is accepted");
    }
}
