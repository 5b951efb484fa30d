//! The rotation function as deployed, as Lambda's GetFunctionConfiguration describes it: its
//! environment, timeout and memory. Only the operator's commands read it: they judge a secret, and
//! send its keys, in the function's own environment, never by what the operator's shell happens to
//! hold. [`Functions`] is the SDK reader; tests also read through it, from moto.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput;

use crate::store::StoreError;

const OPERATION: &str = "GetFunctionConfiguration";

/// The code of a configuration whose environment Lambda could not give (it says why in
/// `Environment.Error`: most often a KMS key the caller may not decrypt with).
pub const ENVIRONMENT_UNREADABLE: &str = "EnvironmentUnreadable";

/// What the commands need of a rotation function's configuration.
#[derive(Clone, PartialEq)]
pub struct FunctionConfig {
    pub arn: String,
    /// `Environment.Variables`. Never printed, not even by `Debug`: a deployer may keep other
    /// values there.
    pub variables: HashMap<String, String>,
    pub timeout: Option<Duration>,
    pub memory_mb: Option<u32>,
}

impl fmt::Debug for FunctionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&String> = self.variables.keys().collect();
        names.sort();
        f.debug_struct("FunctionConfig")
            .field("arn", &self.arn)
            .field("variables", &names)
            .field("timeout", &self.timeout)
            .field("memory_mb", &self.memory_mb)
            .finish()
    }
}

impl FunctionConfig {
    /// Lambda's answer for `function`. An environment Lambda could not give (`Environment.Error`)
    /// is an error, never an empty environment: the function's own variables would be missing, and
    /// the vendors' public APIs would stand in for the deployer's.
    pub fn from_answer(
        function: &str,
        out: &GetFunctionConfigurationOutput,
    ) -> Result<Self, Box<StoreError>> {
        let environment = out.environment();
        if let Some(error) = environment.and_then(|env| env.error()) {
            let why =
                [error.error_code(), error.message()].into_iter().flatten().collect::<Vec<_>>().join(": ");
            return Err(Box::new(
                StoreError::new(OPERATION, ENVIRONMENT_UNREADABLE, false).with_message(why),
            ));
        }
        Ok(FunctionConfig {
            arn: out.function_arn().unwrap_or(function).to_owned(),
            variables: environment.and_then(|env| env.variables()).cloned().unwrap_or_default(),
            timeout: out.timeout().and_then(|s| u64::try_from(s).ok()).map(Duration::from_secs),
            memory_mb: out.memory_size().and_then(|mb| u32::try_from(mb).ok()),
        })
    }
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
            .map_err(|e| StoreError::from_sdk(OPERATION, &e))?;
        FunctionConfig::from_answer(function, &out).map_err(|error| *error)
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_lambda::types::{EnvironmentError, EnvironmentResponse};

    use super::*;

    #[test]
    fn an_environment_lambda_could_not_give_is_an_error_not_an_empty_one() {
        // A function whose environment is encrypted with a KMS key the caller may not use.
        let denied = EnvironmentError::builder()
            .error_code("KMSAccessDeniedException")
            .message("Lambda was unable to decrypt the environment variables")
            .build();
        let out = GetFunctionConfigurationOutput::builder()
            .function_arn("arn:aws:lambda:us-east-1:1:function:f")
            .environment(EnvironmentResponse::builder().error(denied).build())
            .build();
        let error = FunctionConfig::from_answer("f", &out).unwrap_err();
        assert_eq!(error.code, ENVIRONMENT_UNREADABLE);
        assert!(error.to_string().contains("KMSAccessDeniedException"), "{error}");

        let variables = HashMap::from([("CALCOM_BASE_URL".to_owned(), "https://cal.internal".to_owned())]);
        let out = GetFunctionConfigurationOutput::builder()
            .function_arn("arn:aws:lambda:us-east-1:1:function:f")
            .environment(EnvironmentResponse::builder().set_variables(Some(variables.clone())).build())
            .timeout(90)
            .memory_size(256)
            .build();
        let config = FunctionConfig::from_answer("f", &out).unwrap();
        assert_eq!(config.variables, variables);
        assert_eq!((config.timeout, config.memory_mb), (Some(Duration::from_secs(90)), Some(256)));
        // Debug names the variables, never their values.
        let shown = format!("{config:?}");
        assert!(shown.contains("CALCOM_BASE_URL") && !shown.contains("cal.internal"), "{shown}");
    }
}
