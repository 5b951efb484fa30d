//! [`Store`]: the Secrets Manager calls over the SDK, and the SDK configuration the function uses.

use std::collections::HashMap;
use std::time::SystemTime;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::retry::RetryConfig;
use aws_sdk_secretsmanager::primitives::Blob;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, SecretListEntry, Tag};

use super::{
    AWSCURRENT, OperatorStore, Payload, PendingWrite, Replica, SecretMeta, SecretStore, StoreError, Version,
    codes,
};
use crate::sensitive::Sensitive;
use crate::timing::Timing;

/// The SDK configuration the function uses: the standard chain (region, credentials and the
/// `AWS_ENDPOINT_URL*` overrides), bounded timeouts, and short SDK-level retries.
pub fn sdk_config_loader(timing: &Timing) -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(timing.initial_backoff)
                .with_max_backoff(timing.max_backoff),
        )
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(timing.sdk_connect_timeout)
                .operation_attempt_timeout(timing.sdk_attempt_timeout)
                .build(),
        )
}

#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
}

impl Store {
    pub fn new(client: Client) -> Self {
        Store { client }
    }

    /// ListSecrets, all pages: the ARNs of the secrets that have the tag `tag_key`.
    async fn tagged(&self, tag_key: &str) -> Result<Vec<String>, StoreError> {
        let filter = Filter::builder().key(FilterNameStringType::TagKey).values(tag_key).build();
        let mut pages = self.client.list_secrets().filters(filter).into_paginator().send();
        let mut arns = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| StoreError::from_sdk("ListSecrets", &e))?;
            // The tag-key filter matches prefixes: keep the exact key only.
            let tagged = page
                .secret_list()
                .iter()
                .filter(|entry| entry.tags().iter().any(|t| t.key() == Some(tag_key)));
            arns.extend(tagged.filter_map(|entry| entry.arn().map(str::to_owned)));
        }
        Ok(arns)
    }

    /// UpdateSecretVersionStage: `stage` onto `to` and off `from`. Naming `from` makes it a
    /// compare-and-swap: Secrets Manager refuses if the label is not there.
    async fn move_stage(
        &self,
        secret_id: &str,
        stage: &str,
        to: Option<&str>,
        from: Option<&str>,
    ) -> Result<(), StoreError> {
        self.client
            .update_secret_version_stage()
            .secret_id(secret_id)
            .version_stage(stage)
            .set_move_to_version_id(to.map(str::to_owned))
            .set_remove_from_version_id(from.map(str::to_owned))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StoreError::from_sdk("UpdateSecretVersionStage", &e))
    }
}

impl SecretStore for Store {
    async fn describe(&self, secret_id: &str) -> Result<SecretMeta, StoreError> {
        let out = self
            .client
            .describe_secret()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("DescribeSecret", &e))?;
        let rules = out.rotation_rules();
        let time = |date: Option<&aws_sdk_secretsmanager::primitives::DateTime>| {
            date.and_then(|date| SystemTime::try_from(*date).ok())
        };
        Ok(SecretMeta {
            arn: out.arn().unwrap_or(secret_id).to_owned(),
            name: out.name().unwrap_or(secret_id).to_owned(),
            rotation_enabled: out.rotation_enabled() == Some(true),
            rotation_function: out.rotation_lambda_arn().filter(|arn| !arn.is_empty()).map(str::to_owned),
            versions: out.version_ids_to_stages().cloned().unwrap_or_default(),
            tags: tags_of(out.tags()),
            after_days: rules.and_then(|r| r.automatically_after_days()),
            schedule_expression: rules.and_then(|r| r.schedule_expression()).map(str::to_owned),
            kms_key_id: out.kms_key_id().filter(|id| !id.is_empty()).map(str::to_owned),
            last_rotated: time(out.last_rotated_date()),
            next_rotation: time(out.next_rotation_date()),
            replicas: out
                .replication_status()
                .iter()
                .map(|replica| Replica {
                    region: replica.region().unwrap_or_default().to_owned(),
                    status: replica.status().map(|s| s.as_str().to_owned()).unwrap_or_default(),
                    // AWS's words, on one line.
                    message: replica
                        .status_message()
                        .map(|m| m.chars().filter(|c| !c.is_control()).collect()),
                })
                .collect(),
        })
    }

    async fn value(
        &self,
        secret_id: &str,
        version_id: Option<&str>,
        stage: Option<&str>,
    ) -> Result<Option<Version>, StoreError> {
        let result = self
            .client
            .get_secret_value()
            .secret_id(secret_id)
            .set_version_id(version_id.map(str::to_owned))
            .set_version_stage(stage.map(str::to_owned))
            .send()
            .await;
        match result {
            Ok(out) => match out.secret_string() {
                Some(text) => Ok(Some(Version {
                    id: out.version_id().map(str::to_owned),
                    text: Sensitive::new(text),
                    created: out.created_date().and_then(|date| SystemTime::try_from(*date).ok()),
                })),
                None => Err(StoreError::new("GetSecretValue", codes::BINARY, false).with_message(format!(
                    "the version {} holds a SecretBinary; this function rotates keys kept in SecretString",
                    version_id.or(stage).unwrap_or_default()
                ))),
            },
            Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => {
                Ok(None)
            }
            Err(err) => Err(StoreError::from_sdk("GetSecretValue", &err)),
        }
    }

    async fn holds(
        &self,
        secret_id: &str,
        version_id: &str,
        payload: &Payload,
    ) -> Result<Option<bool>, StoreError> {
        let result = self.client.get_secret_value().secret_id(secret_id).version_id(version_id).send().await;
        let out = match result {
            Ok(out) => out,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => {
                return Ok(None);
            }
            Err(err) => return Err(StoreError::from_sdk("GetSecretValue", &err)),
        };
        Ok(Some(match payload {
            Payload::Text(text) => out.secret_string() == Some(text.expose()),
            Payload::Binary(bytes) => out.secret_binary().map(|b| b.as_ref()) == Some(bytes.expose()),
        }))
    }

    async fn put_pending_once(&self, write: &PendingWrite<'_>) -> Result<(), StoreError> {
        let PendingWrite { secret_id, token, value, rotation_token, .. } = *write;
        let (text, binary) = match value {
            Payload::Text(text) => (Some(text.expose().to_owned()), None),
            Payload::Binary(bytes) => (None, Some(Blob::new(bytes.expose()))),
        };
        let result = self
            .client
            .put_secret_value()
            .secret_id(secret_id)
            .client_request_token(token)
            .set_secret_string(text)
            .set_secret_binary(binary)
            .set_version_stages(Some(write.stages.iter().map(|s| s.to_string()).collect()))
            .set_rotation_token(rotation_token.map(|t| t.expose().to_owned()))
            .customize()
            // This loop is the retry policy for the one write that must not be lost.
            .config_override(
                aws_sdk_secretsmanager::config::Builder::default().retry_config(RetryConfig::disabled()),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // An earlier attempt may have landed without its answer reaching us. The version is
            // immutable: if it holds our value (whatever its labels now), the write is done.
            Err(err) if err.as_service_error().is_some_and(|e| e.is_resource_exists_exception()) => {
                match self.holds(secret_id, token, value).await? {
                    Some(true) => Ok(()),
                    // Exists, but its value cannot be read yet: not known to differ, so retry.
                    None => Err(StoreError::new("PutSecretValue", codes::NOT_READABLE_YET, true)
                        .with_message(format!("version {token} exists and cannot be read yet"))),
                    Some(false) => Err(StoreError {
                        conflict: true,
                        ..StoreError::new("PutSecretValue", codes::CONFLICT, false)
                            .with_message(format!("version {token} already holds a different value"))
                    }),
                }
            }
            Err(err) => Err(StoreError::from_sdk("PutSecretValue", &err)),
        }
    }

    async fn list_page(
        &self,
        tag_key: &str,
        tag_value: &str,
        next: Option<String>,
    ) -> Result<(Vec<SecretMeta>, Option<String>), StoreError> {
        let filters = [(FilterNameStringType::TagKey, tag_key), (FilterNameStringType::TagValue, tag_value)]
            .map(|(key, value)| Filter::builder().key(key).values(value).build());
        let out = self
            .client
            .list_secrets()
            .set_filters(Some(filters.to_vec()))
            .max_results(100)
            .set_next_token(next)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("ListSecrets", &e))?;
        // The filters match prefixes, and each on any tag: keep the tag whose value is the
        // vendor's name, as the function reads it (trailing spaces aside), only.
        let listed = out
            .secret_list()
            .iter()
            .filter(|entry| {
                entry
                    .tags()
                    .iter()
                    .any(|t| t.key() == Some(tag_key) && t.value().map(str::trim_end) == Some(tag_value))
            })
            .filter_map(listed)
            .collect();
        Ok((listed, out.next_token().filter(|token| !token.is_empty()).map(str::to_owned)))
    }

    async fn values_of(
        &self,
        arns: &[String],
    ) -> Result<Vec<(String, Option<String>, Sensitive)>, StoreError> {
        let out = self
            .client
            .batch_get_secret_value()
            .set_secret_id_list(Some(arns.to_vec()))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("BatchGetSecretValue", &e))?;
        Ok(out
            .secret_values()
            .iter()
            .filter_map(|value| {
                let text = Sensitive::new(value.secret_string()?);
                Some((value.arn()?.to_owned(), value.version_id().map(str::to_owned), text))
            })
            .collect())
    }

    async fn move_label(
        &self,
        secret_id: &str,
        label: &str,
        to: &str,
        from: Option<&str>,
    ) -> Result<(), StoreError> {
        self.move_stage(secret_id, label, Some(to), from).await
    }

    async fn remove_label(&self, secret_id: &str, label: &str, version: &str) -> Result<(), StoreError> {
        self.move_stage(secret_id, label, None, Some(version)).await
    }

    async fn make_current(
        &self,
        secret_id: &str,
        token: &str,
        current: Option<&str>,
    ) -> Result<(), StoreError> {
        self.move_stage(secret_id, AWSCURRENT, Some(token), current).await
    }
}

impl OperatorStore for Store {
    async fn list_tagged(&self, tag_key: &str) -> Result<Vec<String>, StoreError> {
        self.tagged(tag_key).await
    }

    async fn remove_stage(&self, secret_id: &str, stage: &str, version: &str) -> Result<(), StoreError> {
        self.move_stage(secret_id, stage, None, Some(version)).await
    }

    async fn add_stage(&self, secret_id: &str, stage: &str, version: &str) -> Result<(), StoreError> {
        self.move_stage(secret_id, stage, Some(version), None).await
    }

    async fn put_current(
        &self,
        secret_id: &str,
        value: &Sensitive,
        labels: &[&str],
    ) -> Result<String, StoreError> {
        // No ClientRequestToken: the SDK makes one, and keeps it across its own retries.
        let stages = [AWSCURRENT].iter().chain(labels).map(|label| label.to_string()).collect();
        let out = self
            .client
            .put_secret_value()
            .secret_id(secret_id)
            .secret_string(value.expose())
            .set_version_stages(Some(stages))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("PutSecretValue", &e))?;
        Ok(out.version_id().unwrap_or_default().to_owned())
    }
}

/// A ListSecrets entry as far as the shared-key search needs it (`None` without an ARN).
fn listed(entry: &SecretListEntry) -> Option<SecretMeta> {
    Some(SecretMeta {
        arn: entry.arn()?.to_owned(),
        name: entry.name().unwrap_or_default().to_owned(),
        rotation_enabled: entry.rotation_enabled() == Some(true),
        rotation_function: entry.rotation_lambda_arn().filter(|arn| !arn.is_empty()).map(str::to_owned),
        versions: entry.secret_versions_to_stages().cloned().unwrap_or_default(),
        tags: tags_of(entry.tags()),
        ..SecretMeta::default()
    })
}

/// A secret's tags, by key (a tag without a value has an empty one).
fn tags_of(tags: &[Tag]) -> HashMap<String, String> {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned())))
        .collect()
}

#[cfg(test)]
mod tests {
    use aws_smithy_mocks::{mock, mock_client};

    use super::*;

    #[tokio::test]
    async fn a_garbled_answer_never_reaches_the_error_text() {
        // A 200 whose body cannot be parsed: the SDK's own rendering of that error quotes the
        // body, SecretString and all; ours carries the call, a code and the status only.
        const SECRET: &str = "cal_live_garbled0123456789abcdef012345";
        let garbled = || Some(format!(r#"{{"ARN":"a","SecretString":"{SECRET}","VersionId":7,"#));
        let rule = mock!(Client::get_secret_value).sequence().http_status(200, garbled()).times(2).build();
        let client = mock_client!(aws_sdk_secretsmanager, [&rule]);
        let raw = client.get_secret_value().secret_id("s").send().await.unwrap_err();
        assert!(
            aws_sdk_secretsmanager::error::DisplayErrorContext(&raw).to_string().contains(SECRET),
            "the SDK's rendering is what this test guards against"
        );
        let err = Store::new(client).value("s", None, Some(AWSCURRENT)).await.unwrap_err();
        assert_eq!((err.code.as_str(), err.status), (codes::UNREADABLE, Some(200)));
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(!shown.contains(SECRET) && !shown.contains("SecretString"), "{shown}");
        }
        assert!(err.transient, "a garbled answer is worth another try");
    }
}
