//! The rotation function as deployed, as Lambda's GetFunctionConfiguration describes it: its
//! environment, timeout and memory. Only the operator's commands read it: they judge a secret, and
//! send its keys, in the function's own environment, never by what the operator's shell happens to
//! hold. [`Functions`] is the SDK reader; tests also read through it, from moto.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use crate::store::StoreError;

/// What the commands need of a rotation function's configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionConfig {
    pub arn: String,
    /// `Environment.Variables`. Never printed: a deployer may keep other values there.
    pub variables: HashMap<String, String>,
    pub timeout: Option<Duration>,
    pub memory_mb: Option<u32>,
}

/// Reads a function's configuration, by name or ARN.
pub trait FunctionReader: Send + Sync {
    fn configuration(
        &self,
        function: &str,
    ) -> impl Future<Output = Result<FunctionConfig, StoreError>> + Send;
}

/// Lambda, over the SDK.
pub struct Functions {
    client: aws_sdk_lambda::Client,
}

impl Functions {
    pub fn new(client: aws_sdk_lambda::Client) -> Self {
        Functions { client }
    }
}

impl FunctionReader for Functions {
    async fn configuration(&self, function: &str) -> Result<FunctionConfig, StoreError> {
        let out = self
            .client
            .get_function_configuration()
            .function_name(function)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("GetFunctionConfiguration", &e))?;
        Ok(FunctionConfig {
            arn: out.function_arn().unwrap_or(function).to_owned(),
            variables: out.environment().and_then(|env| env.variables()).cloned().unwrap_or_default(),
            timeout: out.timeout().and_then(|s| u64::try_from(s).ok()).map(Duration::from_secs),
            memory_mb: out.memory_size().and_then(|mb| u32::try_from(mb).ok()),
        })
    }
}
