//! The event Secrets Manager sends for each rotation step.
//!
//! `aws_lambda_events` has no `RotationToken`, so the event is defined here. It is parsed from a
//! raw JSON value so that a malformed event becomes a typed `InvalidEvent` error that names what
//! is wrong, instead of a deserialisation failure inside the runtime.

use std::fmt;

use serde_json::Value;

use crate::sensitive::Sensitive;

/// A rotation step, exactly as Secrets Manager spells it on the wire. (AWS's prose also prints
/// `create_secret` and friends; those are not the wire format and are refused.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    CreateSecret,
    SetSecret,
    TestSecret,
    FinishSecret,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::CreateSecret => "createSecret",
            Step::SetSecret => "setSecret",
            Step::TestSecret => "testSecret",
            Step::FinishSecret => "finishSecret",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        [Step::CreateSecret, Step::SetSecret, Step::TestSecret, Step::FinishSecret]
            .into_iter()
            .find(|step| step.as_str() == value)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One invocation's event: `{"Step", "SecretId", "ClientRequestToken", "RotationToken"?}`.
#[derive(Clone, Debug)]
pub struct RotationEvent {
    pub step: Step,
    /// The secret's ARN (or name).
    pub secret_id: String,
    /// The id of the version this rotation creates; every step works on it.
    pub token: String,
    /// Proves to Secrets Manager which Lambda wrote the pending version; never logged.
    pub rotation_token: Option<Sensitive>,
}

/// What is wrong with an event, with whatever could be read of it for the error's context.
#[derive(Debug)]
pub struct EventProblem {
    pub secret_id: Option<String>,
    pub step: Option<Step>,
    pub reason: EventFault,
}

/// What is wrong with an event.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventFault {
    #[error("the event is not a JSON object")]
    NotAnObject,

    #[error("\"Step\" is {0:?}; expected createSecret, setSecret, testSecret or finishSecret")]
    UnknownStep(String),

    #[error("the event has no \"{0}\"")]
    Missing(&'static str),

    #[error("\"{0}\" is empty")]
    Empty(&'static str),

    #[error("\"{0}\" contains characters other than printable ASCII")]
    NotPrintable(&'static str),

    #[error("\"{0}\" is not a string")]
    NotAString(&'static str),

    #[error("\"RotationToken\" must be a non-empty string when present")]
    RotationToken,
}

impl RotationEvent {
    pub fn parse(value: &Value) -> Result<Self, EventProblem> {
        let secret_id = field(value, "SecretId").ok().map(str::to_owned);
        let problem = |step: Option<Step>, reason: EventFault| EventProblem {
            secret_id: secret_id.clone(),
            step,
            reason,
        };
        if !value.is_object() {
            return Err(problem(None, EventFault::NotAnObject));
        }
        let step_text = field(value, "Step").map_err(|r| problem(None, r))?;
        let step = Step::parse(step_text)
            .ok_or_else(|| problem(None, EventFault::UnknownStep(step_text.to_owned())))?;
        let secret = field(value, "SecretId").map_err(|r| problem(Some(step), r))?;
        let token = field(value, "ClientRequestToken").map_err(|r| problem(Some(step), r))?;
        let rotation_token = match value.get("RotationToken") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.is_empty() => Some(Sensitive::new(s.clone())),
            Some(_) => {
                return Err(problem(Some(step), EventFault::RotationToken));
            }
        };
        Ok(RotationEvent { step, secret_id: secret.to_owned(), token: token.to_owned(), rotation_token })
    }
}

/// A required field: a non-empty string of printable ASCII, as AWS's rotation template demands.
fn field<'a>(value: &'a Value, name: &'static str) -> Result<&'a str, EventFault> {
    match value.get(name) {
        None | Some(Value::Null) => Err(EventFault::Missing(name)),
        Some(Value::String(s)) if s.is_empty() => Err(EventFault::Empty(name)),
        Some(Value::String(s)) if s.bytes().all(|b| (b' '..=b'~').contains(&b)) => Ok(s),
        Some(Value::String(_)) => Err(EventFault::NotPrintable(name)),
        Some(_) => Err(EventFault::NotAString(name)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parses_the_wire_event() {
        let event = RotationEvent::parse(&json!({
            "Step": "testSecret",
            "SecretId": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x",
            "ClientRequestToken": "6a6a0f0e-0000-4000-8000-000000000001",
            "RotationToken": "a-rotation-token-that-is-at-least-36-chars"
        }))
        .unwrap();
        assert_eq!(event.step, Step::TestSecret);
        assert_eq!(event.token, "6a6a0f0e-0000-4000-8000-000000000001");
        assert_eq!(
            event.rotation_token.as_ref().map(Sensitive::expose),
            Some("a-rotation-token-that-is-at-least-36-chars")
        );
        assert!(!format!("{event:?}").contains("rotation-token-that"));
    }

    #[test]
    fn refuses_snake_case_and_unknown_steps() {
        for step in ["create_secret", "CreateSecret", "rotate", ""] {
            let err = RotationEvent::parse(&json!({
                "Step": step, "SecretId": "s", "ClientRequestToken": "t"
            }))
            .unwrap_err();
            assert_eq!(err.secret_id.as_deref(), Some("s"));
            assert!(err.step.is_none());
        }
    }

    #[test]
    fn names_the_missing_or_bad_field() {
        let cases = [
            (json!({"SecretId": "s", "ClientRequestToken": "t"}), "no \"Step\""),
            (json!({"Step": "setSecret", "ClientRequestToken": "t"}), "no \"SecretId\""),
            (json!({"Step": "setSecret", "SecretId": "s"}), "no \"ClientRequestToken\""),
            (json!({"Step": "setSecret", "SecretId": "s", "ClientRequestToken": ""}), "is empty"),
            (json!({"Step": "setSecret", "SecretId": 7, "ClientRequestToken": "t"}), "not a string"),
            (json!({"Step": "setSecret", "SecretId": "s\n", "ClientRequestToken": "t"}), "printable ASCII"),
            (
                json!({"Step": "setSecret", "SecretId": "s", "ClientRequestToken": "t", "RotationToken": 1}),
                "RotationToken",
            ),
            (json!(["not", "an", "object"]), "not a JSON object"),
        ];
        for (event, expected) in cases {
            let err = RotationEvent::parse(&event).unwrap_err();
            let reason = err.reason.to_string();
            assert!(reason.contains(expected), "{event}: {reason}");
        }
    }
}
