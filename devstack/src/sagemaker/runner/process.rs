//! One training process: started with the job's `/opt/ml`, its output logged and read for
//! metrics, its checkpoints synced to S3 while it runs, and ended by its own exit, a stop, a
//! spot interruption or its runtime limit.

use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};

use super::Control;
use super::metrics::MetricParser;
use super::plan::RunPlan;
use super::storage::{CheckpointSync, Storage};

/// How often checkpoints are synced while the process runs.
const SYNC_EVERY: Duration = Duration::from_millis(250);

/// How a training process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Exit {
    /// It exited by itself with this status (`None`: killed by a signal it did not send itself).
    Code(Option<i32>),
    /// StopTrainingJob (or the job was ended through the control API).
    Stopped,
    /// MaxRuntimeInSeconds passed.
    MaxRuntime,
    /// A spot interruption (injected, or asked for through the control API).
    Interrupted,
}

/// What one run of the process needs besides its plan.
pub(super) struct Session<'a> {
    pub(super) storage: &'a Storage,
    pub(super) checkpoints: Option<&'a mut CheckpointSync>,
    pub(super) metrics: &'a mut MetricParser,
    pub(super) control: &'a mut watch::Receiver<Control>,
    /// Interrupt the process once a new checkpoint has been uploaded in this run.
    pub(super) interrupt_after_checkpoint: bool,
    /// Training time left before MaxRuntime.
    pub(super) runtime_left: Duration,
    /// SIGTERM → SIGKILL grace period.
    pub(super) grace: Duration,
}

/// Runs the process once; returns how it ended and how long it trained.
pub(super) async fn run(plan: &RunPlan, s: Session<'_>) -> Result<(Exit, Duration), String> {
    let (program, args) = plan
        .command
        .split_first()
        .ok_or_else(|| "the image maps to an empty command".to_owned())?;
    let mut child = Command::new(program)
        .args(args)
        .arg("train")
        .env("TRAINQ_ML_ROOT", plan.ml_root())
        .current_dir(&plan.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start `{program}`: {e}"))?;
    let started = Instant::now();
    let mut log = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(plan.log_path())
        .await
        .map_err(|e| format!("cannot open the job log: {e}"))?;
    let mut lines = forward_lines(&mut child);
    let mut tick = tokio::time::interval(SYNC_EVERY);
    let deadline = tokio::time::sleep(s.runtime_left);
    tokio::pin!(deadline);
    let Session {
        storage,
        mut checkpoints,
        metrics,
        control,
        interrupt_after_checkpoint,
        grace,
        ..
    } = s;
    let uploads_before = checkpoints.as_ref().map_or(0, |c| c.uploads);

    let exit = loop {
        tokio::select! {
            status = child.wait() => {
                let status = status.map_err(|e| format!("waiting for the process: {e}"))?;
                break Exit::Code(status.code());
            }
            Some(line) = lines.recv() => record(&mut log, metrics, &line).await,
            changed = control.changed() => {
                let asked = if changed.is_ok() { *control.borrow_and_update() } else { Control::Stop };
                let exit = match asked {
                    Control::Run => continue,
                    Control::Stop => Exit::Stopped,
                    Control::Interrupt => Exit::Interrupted,
                };
                terminate(&mut child, grace).await;
                break exit;
            }
            _ = tick.tick() => {
                if let Some(sync) = checkpoints.as_deref_mut() {
                    sync.sync(storage).await?;
                    if interrupt_after_checkpoint && sync.uploads > uploads_before {
                        terminate(&mut child, grace).await;
                        break Exit::Interrupted;
                    }
                }
            }
            () = &mut deadline => {
                terminate(&mut child, grace).await;
                break Exit::MaxRuntime;
            }
        }
    };
    let trained = started.elapsed();
    // The rest of the output, up to the end of both streams.
    while let Ok(Some(line)) = tokio::time::timeout(Duration::from_secs(2), lines.recv()).await {
        record(&mut log, metrics, &line).await;
    }
    if let Some(sync) = checkpoints {
        sync.sync(storage).await?;
    }
    Ok((exit, trained))
}

/// Stdout and stderr, line by line, through one channel.
fn forward_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel(256);
    if let Some(out) = child.stdout.take() {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(out).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if tx.send(line).await.is_err() {
                    break;
                }
            }
        });
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(async move {
            let mut lines = BufReader::new(err).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if tx.send(line).await.is_err() {
                    break;
                }
            }
        });
    }
    rx
}

async fn record(log: &mut tokio::fs::File, metrics: &mut MetricParser, line: &str) {
    metrics.observe(line);
    let _ = log.write_all(format!("{line}\n").as_bytes()).await;
}

/// SIGTERM, then SIGKILL after `grace` (SageMaker gives 120 s before it kills).
async fn terminate(child: &mut Child, grace: Duration) {
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        let _ = child.kill().await;
    }
}
