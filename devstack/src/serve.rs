//! The whole local stack in one process: moto, the buckets and the CloudFormation stack in it,
//! the local SageMaker endpoint running training jobs, and the dispatcher and watcher binaries
//! behind local Runtime APIs, fed by the requests and job-events queues and the reconcile
//! schedule.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use serde_json::json;
use tokio::task::JoinHandle;
use trainq_common::stack::{DevstackInfo, StackConfig};

use crate::config::DevstackConfig;
use crate::lambda::esm::Mapping;
use crate::lambda::function::{FunctionSpec, supervise};
use crate::lambda::runtime_api::RuntimeApi;
use crate::moto::{self, Moto};
use crate::sagemaker::{LocalSageMaker, RunnerConfig, bind_loopback};
use crate::stack::{self, output};

/// A running local stack.
pub struct Devstack {
    moto: Moto,
    endpoint: LocalSageMaker,
    tasks: Vec<JoinHandle<()>>,
    stack: StackConfig,
}

impl Devstack {
    /// Starts everything `config` describes; relative paths are taken from `workspace`.
    pub async fn start(config: &DevstackConfig, workspace: &Path) -> Result<Self, String> {
        let abs = |p: &Path| -> PathBuf {
            if p.is_absolute() {
                p.to_owned()
            } else {
                workspace.join(p)
            }
        };
        let state = abs(&config.state_dir);
        let logs = state.join("logs");
        std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
        let region = config.region.clone();

        let binary = moto::binary(workspace);
        let (port, moto_log) = (config.moto_port, logs.join("moto.log"));
        let moto = tokio::task::spawn_blocking(move || Moto::start(&binary, port, &moto_log))
            .await
            .map_err(|e| e.to_string())??;
        let images = config
            .images
            .iter()
            .map(|(repo, command)| {
                let mut command = command.clone();
                if let Some(program) = command.first_mut().filter(|p| p.contains('/')) {
                    *program = abs(Path::new(program.as_str()))
                        .to_string_lossy()
                        .into_owned();
                }
                (repo.clone(), command)
            })
            .collect();
        let runner = RunnerConfig {
            work_dir: state.join("jobs"),
            images,
            stop_grace_s: config.stop_grace_s,
        };
        let listener = bind_loopback(config.sagemaker_port)
            .await
            .map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e}", config.sagemaker_port))?;
        let endpoint = LocalSageMaker::spawn_running(listener, &moto.url, runner)
            .await
            .map_err(|e| e.to_string())?;
        for (access_key, user_id) in &config.principals {
            endpoint.set_sender(access_key, user_id);
        }

        // The stack goes through the front door too: CloudFormation's own checks (parameters
        // against the template, capabilities) apply before moto creates anything.
        let sdk = stack::sdk_config(&endpoint.url(), &region).await;
        stack::create_buckets(&sdk, &region, &config.buckets()).await?;
        let template_path = abs(&config.template);
        let template = std::fs::read_to_string(&template_path)
            .map_err(|e| format!("{}: {e}", template_path.display()))?;
        let outputs = stack::deploy(
            &sdk,
            &config.stack_name,
            &template,
            &config.template_parameters(),
        )
        .await?;

        let stack = StackConfig {
            region: region.clone(),
            requests_queue_url: output(&outputs, "RequestsQueueUrl")?.to_owned(),
            requests_dlq_url: output(&outputs, "RequestsDeadLetterQueueUrl")?.to_owned(),
            job_events_queue_url: output(&outputs, "JobEventsQueueUrl")?.to_owned(),
            jobs_table: output(&outputs, "JobsTableName")?.to_owned(),
            capacity_table: Some(output(&outputs, "CapacityTableName")?.to_owned()),
            alerts_bus: output(&outputs, "AlertsBusName")?.to_owned(),
            alerts_queue_url: output(&outputs, "AlertsQueueUrl")?.to_owned(),
            registries: config
                .environment
                .iter()
                .filter(|(k, _)| {
                    k.starts_with("TRAINQ_PRODUCTION_") || k.starts_with("TRAINQ_RESEARCH_")
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            scheduler: config
                .environment
                .iter()
                .filter(|(k, _)| trainq_common::stack::SCHEDULER_VARIABLES.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            quotas: BTreeMap::new(),
            endpoints: BTreeMap::from([
                // Every client goes through the front door, which checks each call against
                // AWS's contract before moto or the local SageMaker sees it.
                ("default".to_owned(), endpoint.url()),
                ("sagemaker".to_owned(), endpoint.url()),
            ]),
            devstack: Some(DevstackInfo {
                sagemaker_url: endpoint.url(),
                state_dir: state.to_string_lossy().into_owned(),
                pid: std::process::id(),
            }),
        };
        let env = function_env(config, &stack);
        let timeout = Duration::from_secs(config.function_timeout_s);
        let mut tasks = Vec::new();
        let start = |name: &str, binary: &Path| FunctionSpec {
            name: name.to_owned(),
            binary: abs(binary),
            env: env.clone(),
            log: logs.join(format!("{name}.log")),
            memory_mb: 256,
        };
        let dispatcher = start_function(
            start("trainq-dispatcher", &config.dispatcher),
            &region,
            timeout,
            &mut tasks,
        )
        .await?;
        let watcher = start_function(
            start("trainq-watcher", &config.watcher),
            &region,
            timeout,
            &mut tasks,
        )
        .await?;

        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let requests = Mapping {
            queue_url: stack.requests_queue_url.clone(),
            queue_arn: output(&outputs, "RequestsQueueArn")?.to_owned(),
            batch_size: config.batch_size,
        };
        let events = Mapping {
            queue_url: stack.job_events_queue_url.clone(),
            queue_arn: output(&outputs, "JobEventsQueueArn")?.to_owned(),
            batch_size: config.batch_size,
        };
        tasks.push(tokio::spawn(feed(
            requests,
            sqs.clone(),
            Arc::clone(&dispatcher),
        )));
        tasks.push(tokio::spawn(feed(events, sqs, Arc::clone(&watcher))));
        tasks.push(tokio::spawn(reconcile_schedule(
            watcher,
            Duration::from_secs(config.reconcile_every_s.max(1)),
            region.clone(),
        )));
        Ok(Self {
            moto,
            endpoint,
            tasks,
            stack,
        })
    }

    /// Where everything is.
    pub fn stack(&self) -> &StackConfig {
        &self.stack
    }

    /// Stops every task and process it started.
    pub async fn stop(mut self) {
        for task in &self.tasks {
            task.abort();
        }
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
        self.endpoint.abort();
        tokio::task::spawn_blocking(move || self.moto.stop())
            .await
            .ok();
    }
}

/// Serves a Runtime API for the function and keeps an instance of it running.
async fn start_function(
    spec: FunctionSpec,
    region: &str,
    timeout: Duration,
    tasks: &mut Vec<JoinHandle<()>>,
) -> Result<Arc<RuntimeApi>, String> {
    if !spec.binary.exists() {
        return Err(format!(
            "{} not found: build the functions first (`cargo build --workspace --bins`)",
            spec.binary.display()
        ));
    }
    let api = Arc::new(
        RuntimeApi::spawn(&spec.name, region, timeout)
            .await
            .map_err(|e| format!("runtime API for {}: {e}", spec.name))?,
    );
    tasks.push(tokio::spawn(supervise(spec, Arc::clone(&api))));
    Ok(api)
}

/// The functions' environment: the configured variables, the stack's resources, and the AWS
/// environment that points the SDK at the front door (every service, SageMaker included).
fn function_env(config: &DevstackConfig, stack: &StackConfig) -> BTreeMap<String, String> {
    let mut env = config.environment.clone();
    let sagemaker = stack
        .endpoints
        .get("sagemaker")
        .cloned()
        .unwrap_or_default();
    let front_door = stack.endpoints.get("default").cloned().unwrap_or_default();
    for (k, v) in [
        ("TRAINQ_JOBS_TABLE", stack.jobs_table.clone()),
        (
            "TRAINQ_CAPACITY_TABLE",
            stack.capacity_table.clone().unwrap_or_default(),
        ),
        ("TRAINQ_ALERTS_BUS", stack.alerts_bus.clone()),
        (
            "TRAINQ_REQUESTS_QUEUE_URL",
            stack.requests_queue_url.clone(),
        ),
        ("AWS_ENDPOINT_URL", front_door),
        ("AWS_ENDPOINT_URL_SAGEMAKER", sagemaker),
        ("AWS_REGION", stack.region.clone()),
        ("AWS_DEFAULT_REGION", stack.region.clone()),
        ("AWS_ACCESS_KEY_ID", "devstack".into()),
        ("AWS_SECRET_ACCESS_KEY", "devstack".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ] {
        env.insert(k.to_owned(), v);
    }
    env
}

/// Runs an event source mapping into a function.
async fn feed(mapping: Mapping, sqs: aws_sdk_sqs::Client, function: Arc<RuntimeApi>) {
    mapping
        .run(&sqs, |event: SqsEvent| {
            let function = Arc::clone(&function);
            async move {
                let payload = serde_json::to_value(&event).map_err(|e| e.to_string())?;
                let answer = function.invoke(&payload).await?;
                serde_json::from_value::<SqsBatchResponse>(answer)
                    .map_err(|e| format!("not a batch response: {e}"))
            }
        })
        .await;
}

/// Invokes the watcher with an EventBridge `Scheduled Event` every `every`.
async fn reconcile_schedule(watcher: Arc<RuntimeApi>, every: Duration, region: String) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        let event = json!({
            "version": "0", "id": uuid::Uuid::new_v4().to_string(),
            "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": trainq_common::time_util::now_rfc3339(),
            "region": region,
            "resources": [format!("arn:aws:events:{region}:123456789012:rule/trainq-reconcile")],
            "detail": {}
        });
        match watcher.invoke(&event).await {
            Ok(report) => tracing::info!(%report, "reconcile"),
            Err(e) => tracing::warn!(error = %e, "reconcile invocation failed"),
        }
    }
}
