//! Logging set-up, the same shape as lambda_runtime's default subscriber (JSON when
//! `AWS_LAMBDA_LOG_FORMAT=JSON`, level from `AWS_LAMBDA_LOG_LEVEL`), with one difference:
//! `AWS_LAMBDA_LOG_LEVEL` applies to this crate only. Dependencies never log below INFO, because at
//! DEBUG and TRACE they print what we must never log: lambda_runtime prints the raw event (with
//! its RotationToken) at TRACE, and the HTTP layers print requests and bodies.

use std::str::FromStr;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// The most any dependency may log.
pub const DEPENDENCY_CEILING: LevelFilter = LevelFilter::INFO;

/// The filter for a given `AWS_LAMBDA_LOG_LEVEL` (INFO when unset or unreadable).
pub fn filter(level: Option<&str>) -> EnvFilter {
    let level = level
        .and_then(|l| LevelFilter::from_str(l.trim()).ok())
        .unwrap_or(LevelFilter::INFO);
    EnvFilter::builder()
        .with_default_directive(level.min(DEPENDENCY_CEILING).into())
        .parse_lossy(format!("{}={level}", env!("CARGO_CRATE_NAME")))
}

/// Installs the global subscriber, writing to stdout as Lambda expects.
pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").ok();
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .with_env_filter(filter(level.as_deref()));
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
