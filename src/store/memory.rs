//! An in-memory [`SecretStore`] for unit tests of timing and branching on a paused clock. It keeps
//! Secrets Manager's rules that the rotation relies on (a version's value is immutable; a stage is
//! on one version at a time) and can be told to be slow or to fail. The protocol itself is tested
//! against moto.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::sleep;

use super::{AWSCURRENT, AWSPENDING, SecretMeta, SecretStore, StoreError};
use crate::sensitive::Sensitive;

pub const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:memory";

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    meta: Option<SecretMeta>,
    values: HashMap<String, Sensitive>,
    /// How a PutSecretValue attempt goes, consumed one per attempt; empty means it works.
    puts: Vec<Put>,
    put_attempts: u32,
    put_delay: Duration,
}

#[derive(Clone, Copy, Debug)]
pub enum Put {
    /// The write fails (transient) and nothing is stored.
    Fail,
    /// The write is stored but its answer reports a transient failure.
    LandUnseen,
    /// AccessDenied: permanent.
    Deny,
}

impl MemoryStore {
    /// A rotating secret: `current` in AWSCURRENT (version "v1"), and `token` staged AWSPENDING
    /// with no value, as Secrets Manager stages it before createSecret.
    pub fn rotating(current: &str, tags: &[(&str, &str)], after_days: i64, token: &str) -> Self {
        let meta = SecretMeta {
            arn: ARN.into(),
            rotation_enabled: true,
            versions: HashMap::from([
                ("v1".into(), vec![AWSCURRENT.into()]),
                (token.into(), vec![AWSPENDING.into()]),
            ]),
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            after_days: Some(after_days),
            schedule_expression: None,
        };
        let store = MemoryStore::default();
        {
            let mut state = store.state.lock().unwrap();
            state.meta = Some(meta);
            state.values.insert("v1".into(), Sensitive::new(current));
        }
        store
    }

    pub fn script_puts(&self, puts: &[Put], delay: Duration) {
        let mut state = self.state.lock().unwrap();
        state.puts = puts.iter().rev().copied().collect();
        state.put_delay = delay;
    }

    pub fn put_attempts(&self) -> u32 {
        self.state.lock().unwrap().put_attempts
    }

    /// The value of the version carrying `stage`.
    pub fn staged(&self, stage: &str) -> Option<String> {
        let state = self.state.lock().unwrap();
        let version = version_with(&state, stage)?;
        state.values.get(&version).map(|v| v.expose().to_owned())
    }

    pub fn set_tag(&self, key: &str, value: &str) {
        let mut state = self.state.lock().unwrap();
        state.meta.as_mut().unwrap().tags.insert(key.into(), value.into());
    }
}

fn version_with(state: &State, stage: &str) -> Option<String> {
    let meta = state.meta.as_ref()?;
    meta.versions.iter().find(|(_, stages)| stages.iter().any(|s| s == stage)).map(|(id, _)| id.clone())
}

fn transient(message: &str) -> StoreError {
    StoreError { message: message.into(), transient: true }
}

impl SecretStore for MemoryStore {
    async fn describe(&self, _secret_id: &str) -> Result<SecretMeta, StoreError> {
        self.state.lock().unwrap().meta.clone().ok_or_else(|| StoreError {
            message: "DescribeSecret failed: ResourceNotFoundException".into(),
            transient: false,
        })
    }

    async fn value(
        &self,
        _secret_id: &str,
        version_id: Option<&str>,
        stage: &str,
    ) -> Result<Option<Sensitive>, StoreError> {
        let state = self.state.lock().unwrap();
        let version = match version_id {
            Some(id) if state.meta.as_ref().is_some_and(|m| m.has_stage(id, stage)) => id.to_owned(),
            Some(_) => return Ok(None),
            None => match version_with(&state, stage) {
                Some(id) => id,
                None => return Ok(None),
            },
        };
        Ok(state.values.get(&version).cloned())
    }

    async fn put_pending_once(
        &self,
        _secret_id: &str,
        token: &str,
        value: &Sensitive,
        _rotation_token: Option<&Sensitive>,
    ) -> Result<(), StoreError> {
        let delay = {
            let mut state = self.state.lock().unwrap();
            state.put_attempts += 1;
            state.put_delay
        };
        sleep(delay).await;
        let mut state = self.state.lock().unwrap();
        let script = state.puts.pop();
        if matches!(script, Some(Put::Fail)) {
            return Err(transient("PutSecretValue failed: InternalServiceError"));
        }
        if matches!(script, Some(Put::Deny)) {
            return Err(StoreError {
                message: "PutSecretValue failed: AccessDeniedException".into(),
                transient: false,
            });
        }
        match state.values.get(token) {
            Some(stored) if stored != value => {
                return Err(StoreError {
                    message: "PutSecretValue failed: ResourceExistsException".into(),
                    transient: false,
                });
            }
            _ => {
                state.values.insert(token.to_owned(), value.clone());
            }
        }
        match script {
            Some(Put::LandUnseen) => Err(transient("PutSecretValue timed out")),
            _ => Ok(()),
        }
    }

    async fn make_current(
        &self,
        _secret_id: &str,
        token: &str,
        current: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut state = self.state.lock().unwrap();
        let meta = state.meta.as_mut().unwrap();
        if current.is_some_and(|c| !meta.has_stage(c, AWSCURRENT)) {
            return Err(StoreError {
                message: "UpdateSecretVersionStage failed: InvalidParameter".into(),
                transient: false,
            });
        }
        for (version, stages) in meta.versions.iter_mut() {
            stages.retain(|s| s != AWSCURRENT && s != "AWSPREVIOUS");
            if Some(version.as_str()) == current {
                stages.push("AWSPREVIOUS".into());
            }
            if version == token {
                stages.push(AWSCURRENT.into());
            }
        }
        Ok(())
    }
}
