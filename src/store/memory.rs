//! An in-memory [`SecretStore`] for unit tests of timing and branching on a paused clock. It keeps
//! Secrets Manager's rules that the rotation relies on (a version's value is immutable; a stage is
//! on one version at a time) and can be told to be slow or to fail. The protocol itself is tested
//! against moto.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::sleep;

use super::{AWSCURRENT, AWSPENDING, Payload, PendingWrite, SecretMeta, SecretStore, StoreError, Version};
use crate::sensitive::Sensitive;

pub const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:memory";

#[derive(Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    meta: Option<SecretMeta>,
    values: HashMap<String, Payload>,
    /// How a PutSecretValue attempt goes, consumed one per attempt; empty means it works.
    puts: Vec<Put>,
    put_attempts: u32,
    put_delay: Duration,
    /// A replica's view for the next DescribeSecret, and for the next read of a version by id.
    stale: Option<SecretMeta>,
    stale_version_read: bool,
    /// Other secrets tagged for the same vendor and rotated by the same function, with their
    /// values.
    others: Vec<(SecretMeta, Sensitive)>,
    /// ListSecrets fails.
    list_fails: bool,
    /// ListSecrets lags behind: it shows the secret as `listed`.
    list_lags: bool,
    listed: Option<SecretMeta>,
}

#[derive(Clone, Copy, Debug)]
pub enum Put {
    /// The write fails (transient) and nothing is stored.
    Fail,
    /// The write is stored but its answer reports a transient failure.
    LandUnseen,
    /// AccessDenied: permanent.
    Deny,
    /// The write never answers; cut off by the caller's timeout, it lands this long afterwards.
    LandLate(Duration),
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
            ..SecretMeta::default()
        };
        let store = MemoryStore::default();
        {
            let mut state = store.state.lock().unwrap();
            state.meta = Some(meta);
            state.values.insert("v1".into(), Payload::Text(Sensitive::new(current)));
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

    /// The text of the version carrying `stage`.
    pub fn staged(&self, stage: &str) -> Option<String> {
        match self.payload(stage)? {
            Payload::Text(text) => Some(text.expose().to_owned()),
            Payload::Binary(_) => None,
        }
    }

    /// The value of the version carrying `stage`, text or binary.
    pub fn payload(&self, stage: &str) -> Option<Payload> {
        let state = self.state.lock().unwrap();
        let version = version_with(&state, stage)?;
        state.values.get(&version).cloned()
    }

    /// The labels of `version`.
    pub fn stages_of(&self, version: &str) -> Vec<String> {
        self.snapshot().versions.get(version).cloned().unwrap_or_default()
    }

    /// The secret's metadata now, for [`MemoryStore::serve_stale_once`].
    pub fn snapshot(&self) -> SecretMeta {
        self.state.lock().unwrap().meta.clone().unwrap()
    }

    /// The next DescribeSecret answers `meta`, and the next read of a version by id finds no
    /// value: what an invocation sees when another one's write lands just after these reads.
    pub fn serve_stale_once(&self, meta: SecretMeta) {
        let mut state = self.state.lock().unwrap();
        state.stale = Some(meta);
        state.stale_version_read = true;
    }

    /// The secret's rotation function (`RotationLambdaARN`), and whether listing the secrets it
    /// rotates fails.
    pub fn rotated_by_function(&self, function: &str, list_fails: bool) {
        let mut state = self.state.lock().unwrap();
        state.meta.as_mut().unwrap().rotation_function = Some(function.to_owned());
        state.list_fails = list_fails;
    }

    /// ListSecrets lags behind writes from now on: the secret shows as it is now.
    pub fn list_lags(&self) {
        let mut state = self.state.lock().unwrap();
        state.list_lags = true;
        state.listed = state.meta.clone();
    }

    /// Another secret tagged as this one is and rotated by the same function, holding `value` in
    /// its AWSCURRENT version (no fingerprint recorded: it must be read).
    pub fn add_other(&self, arn: &str, value: &str) {
        let mut state = self.state.lock().unwrap();
        let own = state.meta.as_ref().unwrap();
        let meta = SecretMeta {
            arn: arn.to_owned(),
            rotation_function: own.rotation_function.clone(),
            versions: HashMap::from([("o1".into(), vec![AWSCURRENT.into()])]),
            tags: own.tags.clone(),
            ..SecretMeta::default()
        };
        state.others.push((meta, Sensitive::new(value)));
    }

    /// Puts `labels` on `version`, as a person might with UpdateSecretVersionStage.
    pub fn add_labels(&self, version: &str, labels: &[&str]) {
        let mut state = self.state.lock().unwrap();
        let stages = state.meta.as_mut().unwrap().versions.entry(version.into()).or_default();
        stages.extend(labels.iter().map(|label| label.to_string()));
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

struct LandOnDrop {
    state: Arc<Mutex<State>>,
    token: String,
    value: Payload,
    after: Duration,
}

impl Drop for LandOnDrop {
    fn drop(&mut self) {
        let (state, token, value, after) =
            (Arc::clone(&self.state), self.token.clone(), self.value.clone(), self.after);
        tokio::spawn(async move {
            sleep(after).await;
            state.lock().unwrap().values.entry(token).or_insert(value);
        });
    }
}

impl SecretStore for MemoryStore {
    async fn describe(&self, _secret_id: &str) -> Result<SecretMeta, StoreError> {
        let mut state = self.state.lock().unwrap();
        let meta = state.stale.take().or_else(|| state.meta.clone());
        meta.ok_or_else(|| StoreError::new("DescribeSecret", "ResourceNotFoundException", false))
    }

    async fn value(
        &self,
        _secret_id: &str,
        version_id: Option<&str>,
        stage: Option<&str>,
    ) -> Result<Option<Version>, StoreError> {
        let mut state = self.state.lock().unwrap();
        if version_id.is_some() && std::mem::take(&mut state.stale_version_read) {
            return Ok(None);
        }
        let labelled =
            |id: &str| stage.is_none_or(|stage| state.meta.as_ref().is_some_and(|m| m.has_stage(id, stage)));
        let version = match (version_id, stage) {
            (Some(id), _) if labelled(id) => id.to_owned(),
            (Some(_), _) | (None, None) => return Ok(None),
            (None, Some(stage)) => match version_with(&state, stage) {
                Some(id) => id,
                None => return Ok(None),
            },
        };
        match state.values.get(&version) {
            None => Ok(None),
            Some(Payload::Binary(_)) => Err(StoreError::new("GetSecretValue", super::codes::BINARY, false)),
            Some(Payload::Text(text)) => {
                Ok(Some(Version { id: Some(version.clone()), text: text.clone(), created: None }))
            }
        }
    }

    async fn holds(
        &self,
        _secret_id: &str,
        version_id: &str,
        payload: &Payload,
    ) -> Result<Option<bool>, StoreError> {
        let state = self.state.lock().unwrap();
        Ok(state.values.get(version_id).map(|stored| stored == payload))
    }

    async fn put_pending_once(&self, write: &PendingWrite<'_>) -> Result<(), StoreError> {
        let (script, delay) = {
            let mut state = self.state.lock().unwrap();
            state.put_attempts += 1;
            (state.puts.pop(), state.put_delay)
        };
        if let Some(Put::LandLate(after)) = script {
            // Never answers; once the caller gives up on it, it lands `after` later (a request
            // already on the wire).
            let _land = LandOnDrop {
                state: Arc::clone(&self.state),
                token: write.token.to_owned(),
                value: write.value.clone(),
                after,
            };
            std::future::pending::<()>().await;
        }
        sleep(delay).await;
        let mut state = self.state.lock().unwrap();
        match script {
            Some(Put::Fail) => {
                return Err(StoreError::new("PutSecretValue", "InternalServiceError", true));
            }
            Some(Put::Deny) => {
                return Err(StoreError::new("PutSecretValue", "AccessDeniedException", false));
            }
            _ => {}
        }
        match state.values.get(write.token) {
            Some(stored) if stored != write.value => {
                return Err(StoreError {
                    conflict: true,
                    ..StoreError::new("PutSecretValue", "ResourceExistsException", false)
                });
            }
            _ => {
                state.values.insert(write.token.to_owned(), write.value.clone());
            }
        }
        // Each label named moves to this version; AWSCURRENT leaves AWSPREVIOUS behind.
        let meta = state.meta.as_mut().unwrap();
        meta.versions.entry(write.token.to_owned()).or_default();
        for label in write.stages {
            let promoting = *label == AWSCURRENT;
            for (version, stages) in meta.versions.iter_mut() {
                let had = stages.iter().any(|s| s == label);
                if version == write.token {
                    if !had {
                        stages.push(label.to_string());
                    }
                    if promoting {
                        stages.retain(|s| s != "AWSPREVIOUS");
                    }
                    continue;
                }
                if promoting {
                    stages.retain(|s| s != "AWSPREVIOUS");
                }
                stages.retain(|s| s != label);
                if had && promoting {
                    stages.push("AWSPREVIOUS".into());
                }
            }
        }
        match script {
            Some(Put::LandUnseen) => Err(StoreError::new("PutSecretValue", super::codes::TIMEOUT, true)),
            _ => Ok(()),
        }
    }

    /// The secret itself and the others, in one page.
    async fn list_page(
        &self,
        tag_key: &str,
        tag_value: &str,
        _next: Option<String>,
    ) -> Result<(Vec<SecretMeta>, Option<String>), StoreError> {
        let state = self.state.lock().unwrap();
        if state.list_fails {
            return Err(StoreError::new("ListSecrets", "AccessDeniedException", false));
        }
        let own = if state.list_lags { state.listed.as_ref() } else { state.meta.as_ref() };
        let all = own.into_iter().chain(state.others.iter().map(|(meta, _)| meta));
        let tagged =
            all.filter(|meta| meta.tags.get(tag_key).map(|value| value.trim_end()) == Some(tag_value));
        Ok((tagged.cloned().collect(), None))
    }

    async fn values_of(
        &self,
        arns: &[String],
    ) -> Result<Vec<(String, Option<String>, Sensitive)>, StoreError> {
        let state = self.state.lock().unwrap();
        let others = state.others.iter().filter(|(meta, _)| arns.contains(&meta.arn));
        Ok(others.map(|(meta, text)| (meta.arn.clone(), Some("o1".to_owned()), text.clone())).collect())
    }

    async fn move_label(
        &self,
        _secret_id: &str,
        label: &str,
        to: &str,
        from: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut state = self.state.lock().unwrap();
        let meta = state.meta.as_mut().unwrap();
        // As Secrets Manager: `from` must hold the label, and a label on another version must be
        // named there.
        let elsewhere =
            meta.versions.iter().any(|(version, stages)| version != to && stages.iter().any(|s| s == label));
        if from.is_some_and(|from| !meta.has_stage(from, label))
            || (from.is_none() && elsewhere)
            || !meta.versions.contains_key(to)
        {
            return Err(StoreError::new("UpdateSecretVersionStage", "InvalidParameterException", false));
        }
        for (version, stages) in meta.versions.iter_mut() {
            stages.retain(|s| s != label);
            if version == to {
                stages.push(label.to_owned());
            }
        }
        Ok(())
    }

    async fn remove_label(&self, _secret_id: &str, label: &str, version: &str) -> Result<(), StoreError> {
        let mut state = self.state.lock().unwrap();
        let meta = state.meta.as_mut().unwrap();
        if !meta.has_stage(version, label) {
            return Err(StoreError::new("UpdateSecretVersionStage", "InvalidParameterException", false));
        }
        if let Some(stages) = meta.versions.get_mut(version) {
            stages.retain(|s| s != label);
        }
        Ok(())
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
            return Err(StoreError::new("UpdateSecretVersionStage", "InvalidParameterException", false));
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
