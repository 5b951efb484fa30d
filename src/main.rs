//! Wiring only. With no arguments the binary is the Lambda function: logging, configuration and
//! clients once per process, then the runtime loop, with no command-line work before it. With
//! arguments it runs an operator's command (`cli`).

use std::process::ExitCode;
use std::sync::Arc;

use api_key_rotator::config::Settings;
use api_key_rotator::notify::EventBus;
use api_key_rotator::store::{self, Store};
use api_key_rotator::vendors::VendorClient;
use api_key_rotator::{Error, Rotator, cli, logging, rotation};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

fn main() -> ExitCode {
    if std::env::args_os().len() > 1 {
        return cli::run(std::env::args_os());
    }
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        eprintln!("{}", cli::not_in_lambda());
        return ExitCode::from(2);
    }
    match lambda() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("Error: {error:?}");
            ExitCode::FAILURE
        }
    }
}

#[tokio::main]
async fn lambda() -> Result<(), lambda_runtime::Error> {
    logging::init();
    let settings = Settings::from_env().map_err(|e| format!("invalid function configuration: {e}"))?;
    settings.log_deprecations();
    let aws = store::sdk_config_loader(&settings.timing).load().await;
    let vendors = VendorClient::new(&settings.timing)?;
    let bus = EventBus::from_config(&aws);
    let rotator =
        Arc::new(Rotator::new(Store::new(aws_sdk_secretsmanager::Client::new(&aws)), vendors, bus, settings));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let rotator = Arc::clone(&rotator);
        async move { handle(&rotator, event).await }
    }))
    .await
}

async fn handle(rotator: &Rotator, event: LambdaEvent<Value>) -> Result<(), Error> {
    let deadline = rotation::instant_from(event.context.deadline());
    rotator.handle(&event.payload, deadline).await.map(|_| ())
}
