//! One Lambda function instance under measurement: a process (trainq's shipped binary or the
//! Python peer) behind devstack's Runtime API, as Lambda runs it: its cold start, its
//! invocations, its peak memory.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::process::{Child, Command};
use trainq_devstack::lambda::runtime_api::RuntimeApi;

/// A started function instance.
pub(crate) struct Instance {
    api: RuntimeApi,
    child: Child,
    /// Process start → first request for an invocation.
    pub(crate) init: Duration,
}

impl Instance {
    /// Starts `command` with `env` and waits until it asks for its first invocation.
    pub(crate) async fn start(
        name: &str,
        command: &[String],
        env: &BTreeMap<String, String>,
    ) -> Result<Self, String> {
        let api = RuntimeApi::spawn(name, "eu-west-1", Duration::from_secs(60))
            .await
            .map_err(|e| e.to_string())?;
        let (program, args) = command.split_first().ok_or("empty command")?;
        let started = Instant::now();
        let mut child = Command::new(program)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("{program}: {e}"))?;
        let Some(ready) = api.ready(Duration::from_secs(60)).await else {
            let _ = child.kill().await;
            return Err(format!("{name} did not ask for an invocation within 60 s"));
        };
        Ok(Self {
            api,
            child,
            init: ready - started,
        })
    }

    /// Invokes the function and returns its answer and how long the invocation took.
    pub(crate) async fn invoke(&self, payload: &Value) -> Result<(Value, Duration), String> {
        let started = Instant::now();
        let answer = self.api.invoke(payload).await?;
        Ok((answer, started.elapsed()))
    }

    /// The process's peak resident memory so far (`VmHWM`), in bytes.
    pub(crate) fn peak_rss(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()?)).ok()?;
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb * 1024)
    }

    /// Stops the process.
    pub(crate) async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
