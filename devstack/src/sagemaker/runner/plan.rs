//! What running one job needs, read once from its CreateTrainingJob input, the runner's
//! configuration and the fault settings at the time of creation.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use super::RunnerConfig;
use crate::sagemaker::faults::Faults;
use crate::sagemaker::job::Job;

/// Faults that apply to this job (by its instance type).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct JobFaults {
    /// No capacity for the instance type: fail with `CapacityError` before starting.
    pub(super) capacity_error: bool,
    /// Spot capacity is lost after the first checkpoint and does not come back in MaxWait.
    pub(super) capacity_lost: bool,
    /// Spot interruptions the job suffers, each after a new checkpoint; it resumes each time.
    pub(super) interruptions: u32,
}

/// One job's run.
#[derive(Debug, Clone)]
pub(super) struct RunPlan {
    pub(super) name: String,
    /// The command for the image; SageMaker's `train` argument is appended.
    pub(super) command: Vec<String>,
    /// The job's directory: `ml/` (its `/opt/ml`) and `training.log`.
    pub(super) dir: PathBuf,
    pub(super) hyperparameters: Value,
    /// Channel name → S3 prefix.
    pub(super) channels: Vec<(String, String)>,
    pub(super) checkpoint_uri: Option<String>,
    pub(super) output_uri: String,
    /// Metric name → regex.
    pub(super) metric_definitions: Vec<(String, String)>,
    pub(super) instance_type: String,
    pub(super) instance_count: u32,
    pub(super) spot: bool,
    pub(super) max_runtime: Duration,
    pub(super) faults: JobFaults,
}

impl RunPlan {
    /// The job's `/opt/ml`.
    pub(super) fn ml_root(&self) -> PathBuf {
        self.dir.join("ml")
    }

    /// The job's log (what CloudWatch Logs would hold).
    pub(super) fn log_path(&self) -> PathBuf {
        self.dir.join("training.log")
    }

    /// `input/config/resourceconfig.json`.
    pub(super) fn resource_config(&self) -> Value {
        let hosts: Vec<String> = (1..=self.instance_count)
            .map(|i| format!("algo-{i}"))
            .collect();
        json!({"current_host": "algo-1", "current_instance_type": self.instance_type,
               "hosts": hosts, "network_interface_name": "eth0"})
    }

    /// `input/config/inputdataconfig.json`.
    pub(super) fn input_data_config(&self) -> Value {
        let channels: serde_json::Map<String, Value> = self
            .channels
            .iter()
            .map(|(name, _)| {
                (
                    name.clone(),
                    json!({"TrainingInputMode": "File",
                    "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}),
                )
            })
            .collect();
        Value::Object(channels)
    }
}

fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// The plan for job `name`, or `None` when its image maps to no local command (such jobs stay
/// `InProgress` until stopped, as before execution existed).
pub(super) fn plan(
    name: &str,
    job: &Job,
    config: &RunnerConfig,
    faults: &Faults,
) -> Option<RunPlan> {
    let command = config.images.get(job.image_repository()?)?.clone();
    let input = &job.input;
    let instance_type = job.instance_type().to_owned();
    let spot = job.is_spot();
    let channels = input
        .get("InputDataConfig")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|c| {
                    Some((
                        c.get("ChannelName")?.as_str()?.to_owned(),
                        text(c, "/DataSource/S3DataSource/S3Uri")?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let metric_definitions = input
        .pointer("/AlgorithmSpecification/MetricDefinitions")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|m| {
                    Some((
                        m.get("Name")?.as_str()?.to_owned(),
                        m.get("Regex")?.as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let max_runtime = input
        .pointer("/StoppingCondition/MaxRuntimeInSeconds")
        .and_then(Value::as_u64)
        .unwrap_or(86_400);
    Some(RunPlan {
        name: name.to_owned(),
        command,
        dir: config.work_dir.join(name),
        hyperparameters: input
            .get("HyperParameters")
            .cloned()
            .unwrap_or_else(|| json!({})),
        channels,
        checkpoint_uri: text(input, "/CheckpointConfig/S3Uri").map(str::to_owned),
        output_uri: text(input, "/OutputDataConfig/S3OutputPath")
            .unwrap_or_default()
            .to_owned(),
        metric_definitions,
        instance_count: job.instances(),
        max_runtime: Duration::from_secs(max_runtime),
        faults: JobFaults {
            capacity_error: faults.capacity_errors.contains(&instance_type),
            capacity_lost: spot && faults.spot_capacity_lost.contains(&instance_type),
            interruptions: if spot {
                faults
                    .spot_interruptions
                    .get(&instance_type)
                    .copied()
                    .unwrap_or(0)
            } else {
                0
            },
        },
        instance_type,
        spot,
    })
}
