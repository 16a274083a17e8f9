//! Jobs that run: a job whose image repository maps to a local command runs as a process under
//! the SageMaker container contract, and its status moves as in AWS.
//!
//! `Starting` → `Downloading` (channels and checkpoints from S3 into the job's `/opt/ml`) →
//! `Training` (the process; checkpoints synced to S3 while it runs; metrics read from its log)
//! → `Uploading` (`model/` as `model.tar.gz`) → `Completed`, with billable and training
//! seconds. A non-zero exit is `Failed` with `AlgorithmError: <output/failure>`; StopTrainingJob
//! sends SIGTERM and, after the grace period, SIGKILL (`Stopped`); MaxRuntime ends it `Stopped`
//! / `MaxRuntimeExceeded`. Spot faults: an interruption (`Interrupted` → `Starting` → training
//! resumes from the checkpoints, same job), capacity lost (`Interrupted` →
//! `MaxWaitTimeExceeded`, `Stopped`), no capacity (`Failed`, `CapacityError`). Every change is
//! published as a state-change event.

mod metrics;
mod plan;
mod process;
mod storage;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tokio::sync::watch;

pub(in crate::sagemaker) use storage::{Storage, tar_gz_files};

use super::Endpoint;
use super::job::Job;
use metrics::MetricParser;
use plan::RunPlan;
use process::{Exit, Session};
use storage::{CheckpointSync, tar_gz};

/// Share of training seconds billed on spot: the emulator's fixed spot discount (70 %).
pub const SPOT_BILLED_SHARE: f64 = 0.3;

/// AWS caps a failure reason at 1,024 characters.
const MAX_FAILURE_REASON: usize = 1024;

/// How the local runtime runs jobs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunnerConfig {
    /// Where each job gets its directory (`<work_dir>/<job name>/ml` is its `/opt/ml`).
    pub work_dir: PathBuf,
    /// Image repository → command (program and arguments); `train` is appended, as SageMaker
    /// runs a training image. Jobs of other images do not run.
    pub images: BTreeMap<String, Vec<String>>,
    /// Seconds between SIGTERM and SIGKILL when a job is stopped (AWS: 120).
    #[serde(default = "default_grace_s")]
    pub stop_grace_s: u64,
}

fn default_grace_s() -> u64 {
    10
}

/// What the endpoint tells a running job's process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::sagemaker) enum Control {
    /// Keep running.
    Run,
    /// StopTrainingJob.
    Stop,
    /// A spot interruption.
    Interrupt,
}

/// The runner of one endpoint.
pub(in crate::sagemaker) struct Runner {
    pub(in crate::sagemaker) config: RunnerConfig,
    pub(in crate::sagemaker) storage: Storage,
}

/// Starts job `name` if its image maps to a command (called right after CreateTrainingJob).
pub(in crate::sagemaker) fn start(ep: &Arc<Endpoint>, name: &str) {
    let Some(runner) = &ep.runner else { return };
    let plan = {
        let mut jobs = ep.jobs.lock().unwrap();
        let faults = ep.faults.lock().unwrap().clone();
        let Some(job) = jobs.get_mut(name) else {
            return;
        };
        let Some(plan) = plan::plan(name, job, &runner.config, &faults) else {
            return;
        };
        let (tx, rx) = watch::channel(Control::Run);
        job.control = Some(tx);
        (plan, rx)
    };
    let ep = Arc::clone(ep);
    tokio::spawn(async move {
        let (plan, control) = plan;
        run(ep, plan, control).await;
    });
}

/// How a run ended, before it is written to the job.
enum Ending {
    Completed {
        trained: Duration,
    },
    Failed {
        reason: String,
        trained: Duration,
    },
    Stopped {
        secondary: &'static str,
        trained: Duration,
    },
}

async fn run(ep: Arc<Endpoint>, plan: RunPlan, mut control: watch::Receiver<Control>) {
    let Some(runner) = &ep.runner else { return };
    let mut metrics = MetricParser::new(&plan.metric_definitions);
    let ending = drive(&ep, runner, &plan, &mut control, &mut metrics).await;
    let finals = metrics.finals();
    let spot = plan.spot;
    update(&ep, &plan.name, |job| {
        let (status, secondary, message, trained) = match &ending {
            Ending::Completed { trained } => (
                "Completed",
                "Completed",
                "Training job completed".to_owned(),
                *trained,
            ),
            Ending::Failed { reason, trained } => ("Failed", "Failed", reason.clone(), *trained),
            Ending::Stopped { secondary, trained } => (
                "Stopped",
                *secondary,
                "Training job stopped".to_owned(),
                *trained,
            ),
        };
        // A job refused for capacity never had an instance: AWS reports no training or
        // billable time for it (every other ending was provisioned and bills a second at least).
        let provisioned = !matches!(&ending, Ending::Failed { reason, .. } if reason.starts_with("CapacityError"));
        if provisioned {
            let training_s = trained.as_secs_f64().ceil().max(1.0) as u64;
            job.training_s = Some(training_s);
            job.billable_s = Some(if spot {
                ((training_s as f64 * SPOT_BILLED_SHARE).ceil() as u64).max(1)
            } else {
                training_s
            });
        }
        job.metrics = finals.clone();
        if let Ending::Failed { reason, .. } = &ending {
            job.failure_reason = Some(reason.chars().take(MAX_FAILURE_REASON).collect());
        }
        job.end(status, secondary, &message);
    })
    .await;
}

/// Downloads, trains (resuming after interruptions) and uploads; says how the run ended.
async fn drive(
    ep: &Arc<Endpoint>,
    runner: &Runner,
    plan: &RunPlan,
    control: &mut watch::Receiver<Control>,
    metrics: &mut MetricParser,
) -> Ending {
    let zero = Duration::ZERO;
    if plan.faults.capacity_error {
        return Ending::Failed {
            reason: "CapacityError: Unable to provision requested ML compute capacity. Please retry using a different ML instance type.".into(),
            trained: zero,
        };
    }
    if !update(ep, &plan.name, |j| {
        j.set_secondary("Downloading", "Downloading input data")
    })
    .await
    {
        return Ending::Stopped {
            secondary: "Stopped",
            trained: zero,
        };
    }
    let mut checkpoints = match prepare(runner, plan).await {
        Ok(c) => c,
        Err(e) => {
            return Ending::Failed {
                reason: format!("ClientError: Data download failed: {e}"),
                trained: zero,
            };
        }
    };
    let mut trained = zero;
    let mut interruptions_left = plan.faults.interruptions;
    loop {
        if !update(ep, &plan.name, |j| {
            j.set_secondary(
                "Training",
                "Training image download completed. Training in progress.",
            )
        })
        .await
        {
            return Ending::Stopped {
                secondary: "Stopped",
                trained,
            };
        }
        let session = Session {
            storage: &runner.storage,
            checkpoints: checkpoints.as_mut(),
            metrics,
            control,
            interrupt_after_checkpoint: plan.faults.capacity_lost || interruptions_left > 0,
            runtime_left: plan.max_runtime.saturating_sub(trained),
            grace: Duration::from_secs(runner.config.stop_grace_s),
        };
        let (exit, ran) = match process::run(plan, session).await {
            Ok(done) => done,
            Err(e) => {
                return Ending::Failed {
                    reason: format!("AlgorithmError: {e}"),
                    trained,
                };
            }
        };
        trained += ran;
        match exit {
            Exit::Code(Some(0)) => break,
            Exit::Code(code) => {
                return Ending::Failed {
                    reason: failure_reason(plan, code),
                    trained,
                };
            }
            Exit::Stopped => {
                return Ending::Stopped {
                    secondary: "Stopped",
                    trained,
                };
            }
            Exit::MaxRuntime => {
                return Ending::Stopped {
                    secondary: "MaxRuntimeExceeded",
                    trained,
                };
            }
            Exit::Interrupted => {
                update(ep, &plan.name, |j| {
                    j.set_secondary(
                        "Interrupted",
                        "The training job was interrupted: spot capacity was reclaimed.",
                    )
                })
                .await;
                if plan.faults.capacity_lost {
                    return Ending::Stopped {
                        secondary: "MaxWaitTimeExceeded",
                        trained,
                    };
                }
                interruptions_left = interruptions_left.saturating_sub(1);
                update(ep, &plan.name, |j| {
                    j.set_secondary(
                        "Starting",
                        "Spot capacity is available again; restarting training",
                    )
                })
                .await;
                // A new instance starts with what S3 holds, not the old instance's disk.
                if let Err(e) = restore_checkpoints(runner, plan, checkpoints.as_mut()).await {
                    return Ending::Failed {
                        reason: format!("ClientError: checkpoint download failed: {e}"),
                        trained,
                    };
                }
            }
        }
    }
    if !update(ep, &plan.name, |j| {
        j.set_secondary("Uploading", "Uploading generated training model")
    })
    .await
    {
        return Ending::Stopped {
            secondary: "Stopped",
            trained,
        };
    }
    let model_uri = format!(
        "{}/{}/output/model.tar.gz",
        plan.output_uri.trim_end_matches('/'),
        plan.name
    );
    let uploaded = match tar_gz(&plan.ml_root().join("model")) {
        Ok(bytes) => runner.storage.put(&model_uri, bytes).await,
        Err(e) => Err(format!("cannot pack model/: {e}")),
    };
    match uploaded {
        Ok(()) => Ending::Completed { trained },
        Err(e) => Ending::Failed {
            reason: format!("ClientError: model upload failed: {e}"),
            trained,
        },
    }
}

/// The job's `/opt/ml`: config files, channels and checkpoints from S3.
async fn prepare(runner: &Runner, plan: &RunPlan) -> Result<Option<CheckpointSync>, String> {
    let root = plan.ml_root();
    let _ = std::fs::remove_dir_all(&root);
    let config = root.join("input/config");
    for dir in [
        config.clone(),
        root.join("model"),
        root.join("output"),
        root.join("checkpoints"),
    ] {
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let write = |file: &str, v: &Value| {
        std::fs::write(config.join(file), v.to_string()).map_err(|e| format!("{file}: {e}"))
    };
    write("hyperparameters.json", &plan.hyperparameters)?;
    write("resourceconfig.json", &plan.resource_config())?;
    write("inputdataconfig.json", &plan.input_data_config())?;
    for (channel, uri) in &plan.channels {
        let dir = root.join("input/data").join(channel);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        if runner.storage.download_prefix(uri, &dir).await? == 0 {
            return Err(format!("channel `{channel}`: no objects under {uri}"));
        }
    }
    let mut sync = plan
        .checkpoint_uri
        .as_ref()
        .map(|uri| CheckpointSync::new(root.join("checkpoints"), uri));
    restore_checkpoints(runner, plan, sync.as_mut()).await?;
    Ok(sync)
}

/// Replaces the local checkpoints with what the checkpoint prefix holds.
async fn restore_checkpoints(
    runner: &Runner,
    plan: &RunPlan,
    sync: Option<&mut CheckpointSync>,
) -> Result<(), String> {
    let (Some(sync), Some(uri)) = (sync, &plan.checkpoint_uri) else {
        return Ok(());
    };
    let dir = plan.ml_root().join("checkpoints");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    runner.storage.download_prefix(uri, &dir).await?;
    sync.mark_current();
    Ok(())
}

/// `AlgorithmError: ` and what the program left in `output/failure`, as SageMaker reports it.
fn failure_reason(plan: &RunPlan, code: Option<i32>) -> String {
    let written =
        std::fs::read_to_string(plan.ml_root().join("output/failure")).unwrap_or_default();
    let status = code.map_or_else(
        || "was killed by a signal".to_owned(),
        |c| format!("exited with status {c}"),
    );
    match written.trim() {
        "" => format!(
            "AlgorithmError: the training process {status}; see {}",
            plan.log_path().display()
        ),
        why => format!("AlgorithmError: {why}"),
    }
}

/// Applies `change` to the running job and publishes the new state; `false` when the job has
/// already ended (stopped or finished through the control API), so the runner stops.
async fn update(ep: &Arc<Endpoint>, name: &str, change: impl FnOnce(&mut Job)) -> bool {
    let running = {
        let mut jobs = ep.jobs.lock().unwrap();
        match jobs.get_mut(name) {
            Some(job) if job.is_running() => {
                change(job);
                true
            }
            _ => false,
        }
    };
    if running {
        super::publish_change(ep, name).await;
    }
    running
}
