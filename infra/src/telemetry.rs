//! Structured JSON logs for the Lambdas (CloudWatch Logs Insights reads the fields).

/// Installs a JSON subscriber: level from `RUST_LOG` (default `info`), the current span's
/// fields (request id, job name) on every line, no ANSI colours, credentials redacted
/// ([`crate::redact`]).
pub fn init_json_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false)
        .with_writer(|| crate::redact::Redacting(std::io::stdout()))
        .init();
}
