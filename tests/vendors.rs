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
const DEMO_SIM: &str = "http://127.0.0.1:47102";

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

/// The parameter that template.yaml passes as the environment variable `env`, if it does.
fn template_parameter(env: &str) -> Option<&'static str> {
    TEMPLATE.lines().find_map(|line| line.trim().strip_prefix(&format!("{env}: !Ref "))).map(str::trim)
}

#[test]
fn template_yaml_gives_every_vendor_a_base_url_parameter() {
    let parameters: BTreeSet<&str> = TEMPLATE
        .split("\nParameters:\n")
        .nth(1)
        .expect("template.yaml has Parameters")
        .lines()
        .take_while(|line| line.is_empty() || line.starts_with(' '))
        .filter_map(|line| line.strip_prefix("  ")?.strip_suffix(':'))
        .filter(|name| !name.starts_with(' '))
        .collect();
    let mut missing = Vec::new();
    for vendor in ALL {
        let env = vendor.env_base_url();
        match template_parameter(env) {
            None => missing
                .push(format!("{}: the function's environment has no `{env}: !Ref ...`", vendor.name())),
            Some(parameter) if !parameters.contains(parameter) => missing
                .push(format!("{}: {env} refers to {parameter}, which is not a parameter", vendor.name())),
            Some(_) => {}
        }
    }
    assert!(missing.is_empty(), "template.yaml misses vendors:\n{}", missing.join("\n"));
}

#[tokio::test]
async fn the_simulator_and_the_demo_environment_cover_every_vendor() {
    let bench = bench().await;
    let simulated: BTreeSet<String> =
        bench.sim_vendors.as_object().expect("an object").keys().cloned().collect();
    let rust: BTreeSet<String> = vendor_names().map(str::to_owned).collect();
    assert_eq!(simulated, rust, "tools/vendor_sim.py's VENDORS and vendors::ALL list different vendors");

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
