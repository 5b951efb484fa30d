//! The sample events in events/ (for `cargo lambda invoke --data-file`) are valid rotation events.

use api_key_rotator::event::RotationEvent;

#[test]
fn every_step_has_a_sample_event_that_parses() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        let path = dir.join(format!("{step}.json"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let event = RotationEvent::parse(&value).unwrap_or_else(|p| panic!("{step}.json: {}", p.reason));
        assert_eq!(event.step.as_str(), step);
        assert!(event.secret_id.starts_with("arn:aws:secretsmanager:"));
        assert!(event.rotation_token.is_some(), "{step}.json carries a RotationToken placeholder");
    }
}
