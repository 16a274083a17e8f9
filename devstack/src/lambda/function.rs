//! A Lambda function instance: the shipped binary, started with the function's environment
//! and pointed at its [`RuntimeApi`]; restarted when it exits, as Lambda starts a new
//! instance, failing whatever invocation it held.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::process::Command;

use super::runtime_api::RuntimeApi;

/// How to run one function.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// The function's name.
    pub name: String,
    /// The binary (the same that ships in the zip).
    pub binary: PathBuf,
    /// Its environment (configuration, AWS endpoints and credentials).
    pub env: BTreeMap<String, String>,
    /// Where its stdout and stderr go (what CloudWatch Logs would hold).
    pub log: PathBuf,
    /// Memory size reported to the runtime, MB.
    pub memory_mb: u32,
}

/// Runs instances of the function one after another until the task is dropped (which kills
/// the current one).
pub async fn supervise(spec: FunctionSpec, api: Arc<RuntimeApi>) {
    loop {
        let log = match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&spec.log)
        {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(function = %spec.name, error = %e, "cannot open the function log");
                return;
            }
        };
        let stderr = match log.try_clone() {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(function = %spec.name, error = %e, "cannot open the function log");
                return;
            }
        };
        let child = Command::new(&spec.binary)
            .envs(&spec.env)
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", &spec.name)
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                spec.memory_mb.to_string(),
            )
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", spec.name),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "devstack")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true)
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(function = %spec.name, binary = %spec.binary.display(), error = %e, "cannot start the function");
                return;
            }
        };
        let status = child.wait().await;
        tracing::warn!(function = %spec.name, ?status, "function instance exited; starting a new one");
        api.fail_in_flight("the function instance exited");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
