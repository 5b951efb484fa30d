//! Logging set-up, the same shape as lambda_runtime's default subscriber (JSON when
//! `AWS_LAMBDA_LOG_FORMAT=JSON`, level from `AWS_LAMBDA_LOG_LEVEL`), with one difference:
//! `AWS_LAMBDA_LOG_LEVEL` applies to this crate only. Dependencies never log below INFO, because at
//! DEBUG and TRACE they print what we must never log: lambda_runtime prints the raw event (with
//! its RotationToken) at TRACE, and the HTTP layers print requests and bodies.

use std::str::FromStr;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The most any dependency may log.
pub const DEPENDENCY_CEILING: LevelFilter = LevelFilter::INFO;

/// The filter for a given `AWS_LAMBDA_LOG_LEVEL` (INFO when unset or unreadable).
pub fn filter(level: Option<&str>) -> EnvFilter {
    let level = level.and_then(|l| LevelFilter::from_str(l.trim()).ok()).unwrap_or(LevelFilter::INFO);
    // Both directives explicitly: EnvFilter drops a builder's default directive as soon as any
    // other directive is given, which would silence dependencies' warnings and errors too.
    let dependencies = level.min(DEPENDENCY_CEILING);
    EnvFilter::builder().parse_lossy(format!("{dependencies},{}={level}", env!("CARGO_CRATE_NAME")))
}

/// Installs the global subscriber from Lambda's variables, writing to stdout as Lambda expects.
pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").ok();
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    init_with_writer(level.as_deref(), json, std::io::stdout);
}

/// Installs the global subscriber with an explicit level, format and writer.
pub fn init_with_writer<W>(level: Option<&str>, json: bool, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .with_writer(writer)
        .with_env_filter(filter(level));
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Which of a few events pass the filter for `level`.
    fn passing(level: Option<&str>) -> Vec<String> {
        let seen = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = Arc::clone(&seen);
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter(level))
            .with_ansi(false)
            .without_time()
            .with_writer(move || WriterTo(Arc::clone(&sink)))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "lambda_runtime::layers", "dep-trace");
            tracing::debug!(target: "aws_smithy_runtime", "dep-debug");
            tracing::info!(target: "aws_config", "dep-info");
            tracing::warn!(target: "hyper_util", "dep-warn");
            tracing::trace!(target: "api_key_rotator::rotation", "own-trace");
            tracing::debug!(target: "api_key_rotator::vendors", "own-debug");
            tracing::info!(target: "api_key_rotator", "own-info");
        });
        let text = String::from_utf8(seen.lock().unwrap().clone()).unwrap();
        ["dep-trace", "dep-debug", "dep-info", "dep-warn", "own-trace", "own-debug", "own-info"]
            .into_iter()
            .filter(|name| text.contains(name))
            .map(str::to_owned)
            .collect()
    }

    struct WriterTo(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for WriterTo {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_level_applies_to_this_crate_and_dependencies_stop_at_info() {
        assert_eq!(passing(Some("TRACE")), ["dep-info", "dep-warn", "own-trace", "own-debug", "own-info"]);
        assert_eq!(passing(Some("debug")), ["dep-info", "dep-warn", "own-debug", "own-info"]);
        assert_eq!(passing(None), ["dep-info", "dep-warn", "own-info"]);
        assert_eq!(passing(Some("loud")), ["dep-info", "dep-warn", "own-info"]);
        assert_eq!(passing(Some("WARN")), ["dep-warn"]);
    }
}
