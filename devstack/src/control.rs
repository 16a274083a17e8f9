//! `up`, `down` and `status`: the local stack as a background process. `up` starts
//! `trainq-devstack serve` detached, waits until it has written the stack file, and returns;
//! `down` stops it (SIGTERM, then SIGKILL after 30 s) and with it every process it started.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use trainq_common::stack::StackConfig;

use crate::config::DevstackConfig;

/// How long `up` waits for the stack (moto start, CloudFormation, first build of the world).
const UP_PATIENCE: Duration = Duration::from_secs(180);

/// Whether process `pid` is alive.
pub fn alive(pid: u32) -> bool {
    i32::try_from(pid).is_ok_and(|p| kill(Pid::from_raw(p), None).is_ok())
}

fn read_pid(config: &DevstackConfig) -> Option<u32> {
    std::fs::read_to_string(config.pid_file())
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The stack file of a running devstack.
pub fn running_stack(config: &DevstackConfig) -> Option<StackConfig> {
    let pid = read_pid(config).filter(|p| alive(*p))?;
    let stack: StackConfig =
        serde_json::from_slice(&std::fs::read(config.stack_file()).ok()?).ok()?;
    (stack.devstack.as_ref().map(|d| d.pid) == Some(pid)).then_some(stack)
}

/// The shell environment that points AWS SDKs, the AWS CLI and `trainq` at the running
/// `stack` (`eval "$(trainq-devstack env)"`): every service through the front door (the
/// local SageMaker endpoint answers training jobs and forwards the rest to moto, so nothing
/// reaches moto unchecked), the devstack's own credentials and region, and the stack file.
pub fn env_exports(stack: &StackConfig, stack_file: &Path) -> String {
    let front_door = stack
        .endpoints
        .get("default")
        .map_or("http://127.0.0.1:4567", String::as_str);
    let quote = |v: &str| format!("'{}'", v.replace('\'', r"'\''"));
    let mut lines = vec![
        "# trainq-devstack: the local stack's environment (eval \"$(trainq-devstack env)\")"
            .to_owned(),
        format!("export AWS_ENDPOINT_URL={}", quote(front_door)),
    ];
    lines.extend([
        "export AWS_ACCESS_KEY_ID=devstack".to_owned(),
        "export AWS_SECRET_ACCESS_KEY=devstack".to_owned(),
        format!("export AWS_REGION={}", quote(&stack.region)),
        format!("export AWS_DEFAULT_REGION={}", quote(&stack.region)),
        format!(
            "export TRAINQ_CONFIG={}",
            quote(&stack_file.to_string_lossy())
        ),
    ]);
    lines.join("\n") + "\n"
}

/// Starts the devstack in the background and waits until it is ready.
pub fn up(config: &DevstackConfig, config_path: &Path) -> Result<StackConfig, String> {
    if let Some(stack) = running_stack(config) {
        println!("devstack is already up");
        return Ok(stack);
    }
    let logs = config.log_dir();
    std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    let _ = std::fs::remove_file(config.stack_file());
    let log_path = logs.join("devstack.log");
    let log =
        std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let err = log.try_clone().map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = {
        use std::os::unix::process::CommandExt;
        Command::new(exe)
            .args(["serve", "--config"])
            .arg(config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            // Its own process group: a Ctrl-C in the shell that ran `up` does not reach it.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start the devstack: {e}"))?
    };
    let deadline = Instant::now() + UP_PATIENCE;
    loop {
        if let Some(stack) = running_stack(config) {
            // Reap it in the background of nobody: it outlives this command by design.
            std::mem::forget(child);
            return Ok(stack);
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "the devstack stopped while starting ({status}):\n{}",
                tail(&log_path, 30)
            ));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(format!(
                "the devstack was not ready within {UP_PATIENCE:?}:\n{}",
                tail(&log_path, 30)
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Stops a running devstack; `Ok(false)` when none was running.
pub fn down(config: &DevstackConfig) -> Result<bool, String> {
    let Some(pid) = read_pid(config).filter(|p| alive(*p)) else {
        let _ = std::fs::remove_file(config.pid_file());
        let _ = std::fs::remove_file(config.stack_file());
        return Ok(false);
    };
    let target = Pid::from_raw(i32::try_from(pid).map_err(|e| e.to_string())?);
    let _ = kill(target, Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(30);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    if alive(pid) {
        let _ = kill(target, Signal::SIGKILL);
    }
    let _ = std::fs::remove_file(config.pid_file());
    let _ = std::fs::remove_file(config.stack_file());
    Ok(true)
}

/// The last `n` lines of a file.
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Writes `bytes` through a temporary file and a rename (readers never see half a file).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn the_environment_points_everything_at_the_front_door_and_quotes_for_the_shell() {
        let stack: StackConfig = serde_json::from_value(serde_json::json!({
            "region": "eu-west-1",
            "requests_queue_url": "q", "requests_dlq_url": "d", "job_events_queue_url": "e",
            "jobs_table": "t", "alerts_bus": "b", "alerts_queue_url": "a",
            "endpoints": {"default": "http://127.0.0.1:4567"},
        }))
        .unwrap();
        let text = env_exports(&stack, Path::new("/tmp/it's here/stack.json"));
        let vars: BTreeMap<&str, &str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
            .collect();
        assert_eq!(vars["AWS_ENDPOINT_URL"], "'http://127.0.0.1:4567'");
        assert_eq!(vars["AWS_REGION"], "'eu-west-1'");
        assert_eq!(vars["TRAINQ_CONFIG"], r"'/tmp/it'\''s here/stack.json'");
        assert_eq!(vars["AWS_ACCESS_KEY_ID"], "devstack");
    }
}
