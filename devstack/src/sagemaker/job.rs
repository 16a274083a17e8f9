//! One training job as the endpoint keeps it: its CreateTrainingJob input and what happened
//! since (status, secondary-status transitions, billing, metrics).

use serde_json::{Value, json};
use tokio::sync::watch;

use super::runner::Control;

/// Seconds since the epoch, as SageMaker's JSON protocol sends times.
pub(super) fn now() -> f64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as f64 / 1e9
}

/// One training job.
pub(super) struct Job {
    pub(super) input: Value,
    pub(super) arn: String,
    pub(super) status: String,
    pub(super) secondary_status: String,
    pub(super) billable_s: Option<u64>,
    pub(super) training_s: Option<u64>,
    pub(super) failure_reason: Option<String>,
    pub(super) metrics: Vec<(String, f64)>,
    pub(super) transitions: Vec<Value>,
    pub(super) created: f64,
    pub(super) modified: f64,
    pub(super) ended: Option<f64>,
    /// The running process's control channel (jobs that run as processes only).
    pub(super) control: Option<watch::Sender<Control>>,
}

impl Job {
    /// A new job: `InProgress`, secondary status `Starting`.
    pub(super) fn new(input: Value, arn: String) -> Self {
        let t = now();
        let mut job = Self {
            input,
            arn,
            status: "InProgress".into(),
            secondary_status: "Starting".into(),
            billable_s: None,
            training_s: None,
            failure_reason: None,
            metrics: Vec::new(),
            transitions: Vec::new(),
            created: t,
            modified: t,
            ended: None,
            control: None,
        };
        job.set_secondary("Starting", "Launching requested ML instances");
        job
    }

    pub(super) fn instance_type(&self) -> &str {
        self.input
            .pointer("/ResourceConfig/InstanceType")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    pub(super) fn instances(&self) -> u32 {
        self.input
            .pointer("/ResourceConfig/InstanceCount")
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(1)
    }

    /// Its pool as trainq and AWS's quotas name it: `ml.g5.xlarge/spot` or `/on-demand`.
    pub(super) fn pool(&self) -> String {
        let kind = if self.is_spot() { "spot" } else { "on-demand" };
        format!("{}/{kind}", self.instance_type())
    }

    pub(super) fn is_running(&self) -> bool {
        matches!(self.status.as_str(), "InProgress" | "Stopping")
    }

    pub(super) fn set_secondary(&mut self, status: &str, message: &str) {
        // Strictly increasing, so every change is newer than the last (events order by it).
        let now = now().max(self.modified + 0.001);
        if let Some(last) = self.transitions.last_mut() {
            last["EndTime"] = json!(now);
        }
        self.transitions
            .push(json!({"Status": status, "StartTime": now, "StatusMessage": message}));
        self.secondary_status = status.to_owned();
        self.modified = now;
    }

    /// Ends the job in `status` with a last secondary status; no-op if it already ended.
    pub(super) fn end(&mut self, status: &str, secondary: &str, message: &str) {
        if !self.is_running() {
            return;
        }
        self.set_secondary(secondary, message);
        self.status = status.to_owned();
        self.ended = Some(self.modified);
        self.control = None;
    }

    /// Whether this job runs on managed spot.
    pub(super) fn is_spot(&self) -> bool {
        self.input
            .get("EnableManagedSpotTraining")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// The image's repository: `host/repo:tag` or `host/repo@sha256:…` → `repo`.
    pub(super) fn image_repository(&self) -> Option<&str> {
        let image = self
            .input
            .pointer("/AlgorithmSpecification/TrainingImage")?
            .as_str()?;
        let path = image.split_once('/').map_or(image, |(_, p)| p);
        Some(path.split(['@', ':']).next().unwrap_or(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_is_read_from_the_image_uri() {
        let job = |image: &str| {
            Job::new(
                json!({"AlgorithmSpecification": {"TrainingImage": image}}),
                "arn".into(),
            )
        };
        let host = "1.dkr.ecr.eu-west-1.amazonaws.com";
        assert_eq!(
            job(&format!("{host}/defect-classifier:1.4.2")).image_repository(),
            Some("defect-classifier")
        );
        assert_eq!(
            job(&format!("{host}/team/net@sha256:ab")).image_repository(),
            Some("team/net")
        );
    }
}
