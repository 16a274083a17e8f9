//! The endpoint's training jobs: created, described, listed and stopped as SageMaker does.
//! Jobs whose image maps to a local command run as processes ([`super::runner`]); the others
//! stay `InProgress` until stopped or ended through the control API.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::faults::Faults;
use super::job::Job;
use super::protocol::ApiError;
use super::runner::Control;
use super::validate;

/// The account id the endpoint reports (moto's default).
pub(super) use crate::contract::ACCOUNT_ID;

/// All jobs of one endpoint, by name.
#[derive(Default)]
pub(super) struct Jobs {
    by_name: BTreeMap<String, Job>,
}

fn name_of(input: &Value) -> Result<&str, ApiError> {
    input
        .get("TrainingJobName")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::validation("1 validation error detected: Value null at 'trainingJobName' failed to satisfy constraint: Member must not be null"))
}

/// What SageMaker answers for a training job that does not exist: a `ValidationException`
/// (not `ResourceNotFound`, whatever the API model says; aws/aws-sdk#165).
fn not_found(name: &str) -> ApiError {
    ApiError::validation(format!("Requested resource not found: training job {name}"))
}

impl Jobs {
    pub(super) fn create(
        &mut self,
        input: &Value,
        region: &str,
        faults: &Faults,
    ) -> Result<Value, ApiError> {
        let name = validate::create_input(input)?;
        let arn = format!(
            "arn:aws:sagemaker:{region}:{ACCOUNT_ID}:training-job/{}",
            name.to_lowercase()
        );
        if self.by_name.contains_key(&name) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "ResourceInUse",
                format!(
                    "Training job names must be unique within an AWS account and region, and a training job with this name already exists ({arn})"
                ),
            ));
        }
        let candidate = Job::new(input.clone(), arn.clone());
        self.check_quotas(&candidate, faults)?;
        self.by_name.insert(name, candidate);
        Ok(json!({"TrainingJobArn": arn}))
    }

    /// Instances running now in `job`'s instance type (both kinds) and in its pool.
    fn running_like(&self, job: &Job) -> (u32, u32) {
        let running = self.by_name.values().filter(|j| j.is_running());
        let of_type = running.filter(|j| j.instance_type() == job.instance_type());
        of_type.fold((0, 0), |(all, pool), j| {
            let same = u32::from(j.is_spot() == job.is_spot());
            (all + j.instances(), pool + same * j.instances())
        })
    }

    /// Instances running now in the pool of the job `name`.
    pub(super) fn running_in_pool_of(&self, name: &str) -> Option<(String, u32)> {
        let job = self.by_name.get(name)?;
        Some((job.pool(), self.running_like(job).1))
    }

    /// `ResourceLimitExceeded` as AWS words it if `job` would pass a quota on its instance
    /// type or on its pool (AWS's spot and on-demand quotas are separate).
    fn check_quotas(&self, job: &Job, faults: &Faults) -> Result<(), ApiError> {
        let (of_type, in_pool) = self.running_like(job);
        let instance_type = job.instance_type();
        let delta = job.instances();
        let usage = if job.is_spot() {
            "spot training job usage"
        } else {
            "training job usage"
        };
        for (key, used) in [(instance_type.to_owned(), of_type), (job.pool(), in_pool)] {
            let Some(&quota) = faults.quotas.get(&key) else {
                continue;
            };
            if used + delta > quota {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "ResourceLimitExceeded",
                    format!(
                        "The account-level service limit '{instance_type} for {usage}' is {quota} Instances, with current utilization of {used} Instances and a request delta of {delta} Instances. Please use AWS Service Quotas to request an increase for this quota."
                    ),
                ));
            }
        }
        Ok(())
    }

    pub(super) fn describe(&self, input: &Value) -> Result<Value, ApiError> {
        let name = name_of(input)?;
        let job = self.by_name.get(name).ok_or_else(|| not_found(name))?;
        let mut out: Map<String, Value> = job.input.as_object().cloned().unwrap_or_default();
        out.remove("Tags");
        out.insert("TrainingJobArn".into(), json!(job.arn));
        out.insert("TrainingJobStatus".into(), json!(job.status));
        out.insert("SecondaryStatus".into(), json!(job.secondary_status));
        out.insert("SecondaryStatusTransitions".into(), json!(job.transitions));
        out.insert("CreationTime".into(), json!(job.created));
        out.insert("LastModifiedTime".into(), json!(job.modified));
        if let Some(end) = job.ended {
            out.insert("TrainingEndTime".into(), json!(end));
        }
        if let Some(reason) = &job.failure_reason {
            out.insert("FailureReason".into(), json!(reason));
        }
        if let Some(s) = job.billable_s {
            out.insert("BillableTimeInSeconds".into(), json!(s));
        }
        if let Some(s) = job.training_s {
            out.insert("TrainingTimeInSeconds".into(), json!(s));
        }
        let metrics: Vec<Value> = job
            .metrics
            .iter()
            .map(|(n, v)| json!({"MetricName": n, "Value": v, "Timestamp": job.modified}))
            .collect();
        out.insert("FinalMetricDataList".into(), json!(metrics));
        out.insert(
            "ModelArtifacts".into(),
            json!({"S3ModelArtifacts": artifact_of(&job.input, name)}),
        );
        Ok(Value::Object(out))
    }

    /// Where a job's `model.tar.gz` goes (what DescribeTrainingJob reports).
    pub(super) fn model_artifact(&self, name: &str) -> Option<String> {
        self.by_name
            .get(name)
            .map(|job| artifact_of(&job.input, name))
    }

    pub(super) fn list(&self, input: &Value) -> Result<Value, ApiError> {
        let contains = input
            .get("NameContains")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let status = input.get("StatusEquals").and_then(Value::as_str);
        let max = input
            .get("MaxResults")
            .and_then(Value::as_u64)
            .unwrap_or(10)
            .clamp(1, 100) as usize;
        let skip: usize = input
            .get("NextToken")
            .and_then(Value::as_str)
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let mut jobs: Vec<(&String, &Job)> = self
            .by_name
            .iter()
            .filter(|(name, job)| name.contains(contains) && status.is_none_or(|s| s == job.status))
            .collect();
        jobs.sort_by(|a, b| b.1.created.total_cmp(&a.1.created).then(a.0.cmp(b.0)));
        let page: Vec<Value> = jobs
            .iter()
            .skip(skip)
            .take(max)
            .map(|(name, job)| {
                json!({
                    "TrainingJobName": name, "TrainingJobArn": job.arn, "CreationTime": job.created,
                    "LastModifiedTime": job.modified, "TrainingJobStatus": job.status,
                })
            })
            .collect();
        let mut out = json!({"TrainingJobSummaries": page});
        if skip + max < jobs.len() {
            out["NextToken"] = json!((skip + max).to_string());
        }
        Ok(out)
    }

    pub(super) fn stop(&mut self, input: &Value) -> Result<Value, ApiError> {
        let name = name_of(input)?;
        let job = self.by_name.get_mut(name).ok_or_else(|| not_found(name))?;
        if job.status != "InProgress" {
            return Err(ApiError::validation(format!(
                "The request was rejected because the training job is in status {}.",
                job.status
            )));
        }
        job.set_secondary("Stopping", "Stopping the training job");
        match &job.control {
            // The runner sends SIGTERM, waits out the grace period and ends the job `Stopped`.
            Some(control) => {
                job.status = "Stopping".into();
                let _ = control.send(Control::Stop);
            }
            None => job.end("Stopped", "Stopped", "Training job stopped"),
        }
        Ok(json!({}))
    }

    /// Interrupts a running spot job as a spot reclaim would (`POST
    /// /_devstack/jobs/{name}/interrupt`): the process gets SIGTERM, the job goes `Interrupted`
    /// and resumes from its checkpoints.
    pub(super) fn interrupt(&mut self, name: &str) -> Result<(), ApiError> {
        let job = self.by_name.get_mut(name).ok_or_else(|| not_found(name))?;
        match (&job.control, job.status.as_str()) {
            (Some(control), "InProgress") => {
                let _ = control.send(Control::Interrupt);
                Ok(())
            }
            _ => Err(ApiError::validation(format!(
                "job {name} is not running as a process ({})",
                job.status
            ))),
        }
    }

    /// The job, for the runner.
    pub(super) fn get_mut(&mut self, name: &str) -> Option<&mut Job> {
        self.by_name.get_mut(name)
    }

    pub(super) fn list_tags(&self, arn: &str) -> Result<Value, ApiError> {
        let job = self
            .by_name
            .values()
            .find(|j| j.arn == arn)
            .ok_or_else(|| not_found(arn))?;
        Ok(json!({"Tags": job.input.get("Tags").cloned().unwrap_or_else(|| json!([]))}))
    }

    /// Ends a running job as told (`POST /_devstack/jobs/{name}/finish`): the control the
    /// demo and tests use until jobs run as processes.
    pub(super) fn finish(&mut self, name: &str, finish: &Finish) -> Result<(), ApiError> {
        let job = self.by_name.get_mut(name).ok_or_else(|| not_found(name))?;
        if !job.is_running() {
            return Err(ApiError::validation(format!(
                "job {name} already ended ({})",
                job.status
            )));
        }
        if !matches!(finish.status.as_str(), "Completed" | "Failed" | "Stopped") {
            return Err(ApiError::validation(
                "status must be Completed, Failed or Stopped",
            ));
        }
        let secondary = finish
            .secondary_status
            .clone()
            .unwrap_or_else(|| finish.status.clone());
        if let Some(control) = &job.control {
            let _ = control.send(Control::Stop);
        }
        job.end(
            &finish.status,
            &secondary,
            finish.failure_reason.as_deref().unwrap_or("Job ended"),
        );
        job.failure_reason = finish.failure_reason.clone();
        job.billable_s = finish.billable_s;
        job.training_s = finish.training_s;
        job.metrics = finish
            .metrics
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        Ok(())
    }

    /// The "SageMaker Training Job State Change" detail AWS would publish for the job now:
    /// DescribeTrainingJob's fields with times in epoch milliseconds and tags as a map.
    pub(super) fn event_detail(&self, name: &str) -> Option<Value> {
        let job = self.by_name.get(name)?;
        let mut detail = self.describe(&json!({"TrainingJobName": name})).ok()?;
        let ms = |v: &Value| v.as_f64().map(|s| json!((s * 1000.0).round() as i64));
        for key in ["CreationTime", "LastModifiedTime", "TrainingEndTime"] {
            if let Some(v) = detail.get(key).and_then(ms) {
                detail[key] = v;
            }
        }
        if let Some(list) = detail
            .get_mut("SecondaryStatusTransitions")
            .and_then(Value::as_array_mut)
        {
            for t in list {
                for key in ["StartTime", "EndTime"] {
                    if let Some(v) = t.get(key).and_then(ms) {
                        t[key] = v;
                    }
                }
            }
        }
        let tags: Map<String, Value> = job
            .input
            .get("Tags")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|t| {
                        Some((t.get("Key")?.as_str()?.to_owned(), t.get("Value")?.clone()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        detail["Tags"] = Value::Object(tags);
        Some(detail)
    }
}

/// How to end a job (`POST /_devstack/jobs/{name}/finish`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finish {
    /// `Completed`, `Failed` or `Stopped`.
    pub status: String,
    /// e.g. `MaxWaitTimeExceeded` for lost spot capacity; defaults to `status`.
    #[serde(default)]
    pub secondary_status: Option<String>,
    /// e.g. `AlgorithmError: …`, `CapacityError: …`.
    #[serde(default)]
    pub failure_reason: Option<String>,
    /// BillableTimeInSeconds.
    #[serde(default)]
    pub billable_s: Option<u64>,
    /// TrainingTimeInSeconds.
    #[serde(default)]
    pub training_s: Option<u64>,
    /// Final metrics.
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    /// A completed job's model manifest: written into its `model.tar.gz` (absent: no
    /// artifact is written, as for a job whose program wrote no model).
    #[serde(default)]
    pub manifest: Option<Value>,
}

/// `<S3OutputPath>/<job>/output/model.tar.gz`, as SageMaker writes it.
fn artifact_of(input: &Value, name: &str) -> String {
    let output = input
        .pointer("/OutputDataConfig/S3OutputPath")
        .and_then(Value::as_str)
        .unwrap_or_default();
    format!(
        "{}/{name}/output/model.tar.gz",
        output.trim_end_matches('/')
    )
}
