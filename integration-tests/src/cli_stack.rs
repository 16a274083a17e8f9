//! The `trainq` binary against a local stack, as a person runs it: a devstack with its stack
//! file, the CLI run as a process with `--config`, and what the CLI tests share (the sample
//! request's flags, data upload, polling a record's state, sending as a principal).

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use serde_json::Value;
use trainq_devstack::serve::Devstack;

use crate::local_stack::{config, workspace, workspace_binary};
use crate::poll;

/// Where the sample request's data lives.
pub const DATA: &str = "s3://trainq-prod-data/acme/cli/";

/// A local stack and its stack file.
pub struct Stack {
    /// The running devstack.
    pub devstack: Devstack,
    /// Its stack file.
    pub file: PathBuf,
    /// A scratch directory (files for the CLI to read).
    pub dir: PathBuf,
}

impl Stack {
    /// Starts a devstack training with `trainer` (the test trainer binary), its
    /// configuration changed by `overrides`, and writes its stack file.
    pub async fn start(
        trainer: &str,
        overrides: impl FnOnce(&mut trainq_devstack::config::DevstackConfig),
    ) -> Self {
        let dir = std::env::temp_dir().join(format!("trainq-cli-{}", uuid::Uuid::new_v4()));
        let mut config = config(&dir, trainer);
        overrides(&mut config);
        let devstack = Devstack::start(&config, &workspace())
            .await
            .expect("devstack");
        let file = dir.join("stack.json");
        std::fs::write(&file, serde_json::to_vec(devstack.stack()).unwrap()).unwrap();
        Self {
            devstack,
            file,
            dir,
        }
    }

    /// A stack whose one g5 slot (one on spot, none on demand) holds a long-running request
    /// while a second one waits in the waiting room: (stack, running id, queued id). Without
    /// the on-demand limit of 0 the ladder's on-demand rung has room and the second launches.
    pub async fn running_and_queued(trainer: &str) -> (Self, String, String) {
        let s = Self::start(trainer, |c| {
            c.environment.insert(
                "TRAINQ_POOL_LIMITS".into(),
                "ml.g5.xlarge/spot=1, ml.g5.xlarge/on-demand=0".into(),
            );
        })
        .await;
        s.upload_data().await;
        let running = s.submit_long().await;
        let out = s.trainq(&[&["submit"][..], FLAGS, &["--hp", "epochs=500"]].concat());
        assert!(out.status.success(), "{}", stderr(&out));
        let queued = stdout(&out).trim().to_owned();
        s.wait_state(&queued, "Queued").await;
        (s, running, queued)
    }

    /// Runs `trainq --config <stack file> args…`.
    pub fn trainq(&self, args: &[&str]) -> Output {
        trainq_with(&self.file, args)
    }

    /// Uploads the sample request's data.
    pub async fn upload_data(&self) {
        let stack = self.devstack.stack();
        let sdk =
            trainq_devstack::stack::sdk_config(&stack.endpoints["default"], &stack.region).await;
        let s3 = trainq_devstack::datasets::s3_client(&sdk);
        trainq_devstack::datasets::upload(&s3, &format!("{DATA}train/"), 1, 200)
            .await
            .unwrap();
        trainq_devstack::datasets::upload(&s3, &format!("{DATA}val/"), 2, 60)
            .await
            .unwrap();
    }

    /// Writes `value` to a file in the scratch directory; its path.
    pub fn write(&self, name: &str, value: &Value) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, value.to_string()).unwrap();
        path.to_string_lossy().into_owned()
    }

    /// Submits a request whose job trains for minutes and waits until it runs; its id.
    pub async fn submit_long(&self) -> String {
        let long = self.trainq(
            &[
                &["submit"][..],
                FLAGS,
                &["--hp", "epochs=500", "--hp", "epoch_delay_ms=200"],
            ]
            .concat(),
        );
        let id = stdout(&long).trim().to_owned();
        self.wait_state(&id, "InProgress").await;
        id
    }

    /// Sends `body` straight to the requests queue, as a backend would.
    pub async fn send_raw(&self, body: &Value) {
        let queue = self.devstack.stack().requests_queue_url.clone();
        self.send_as("devstack", &queue, body).await;
    }

    /// Sends `body` to `queue` signed with `access_key` (a principal of devstack.json).
    pub async fn send_as(&self, access_key: &str, queue: &str, body: &Value) {
        let stack = self.devstack.stack();
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(stack.region.clone()))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                access_key, "x", None, None, "cli-test",
            ))
            .endpoint_url(&stack.endpoints["default"])
            .load()
            .await;
        aws_sdk_sqs::Client::new(&sdk)
            .send_message()
            .queue_url(queue)
            .message_body(body.to_string())
            .send()
            .await
            .expect("SendMessage");
    }

    /// Sets the local SageMaker endpoint's faults (`PUT /_devstack/faults`).
    pub async fn set_faults(&self, faults: &Value) {
        let url = &self
            .devstack
            .stack()
            .devstack
            .as_ref()
            .unwrap()
            .sagemaker_url;
        reqwest::Client::new()
            .put(format!("{url}/_devstack/faults"))
            .body(faults.to_string())
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
    }

    /// SageMaker's status of a training job (DescribeTrainingJob over the wire).
    pub async fn job_status(&self, job_name: &str) -> String {
        let stack = self.devstack.stack();
        let sdk =
            trainq_devstack::stack::sdk_config(&stack.endpoints["default"], &stack.region).await;
        aws_sdk_sagemaker::Client::new(&sdk)
            .describe_training_job()
            .training_job_name(job_name)
            .send()
            .await
            .expect("DescribeTrainingJob")
            .training_job_status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default()
    }

    /// Polls `jobs show --json` until the request is in `state`.
    pub async fn wait_state(&self, id: &str, state: &str) -> Value {
        poll::until(
            &format!("{id} {state}"),
            Duration::from_secs(90),
            || async {
                let out = self.trainq(&["jobs", "show", id, "--json"]);
                let record: Value = serde_json::from_slice(&out.stdout).ok()?;
                (record["state"] == state).then_some(record)
            },
        )
        .await
    }
}

/// Runs `trainq --config <config> args…`.
pub fn trainq_with(config: &Path, args: &[&str]) -> Output {
    std::process::Command::new(workspace_binary("trainq"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("TRAINQ_CONFIG")
        .output()
        .expect("run trainq")
}

/// A process's stdout, as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A process's stderr, as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The sample request as `trainq submit` flags.
pub const FLAGS: &[&str] = &[
    "--customer",
    "acme",
    "--project",
    "scratch-detect",
    "--registry",
    "production",
    "--image",
    "defect-classifier:1.4.2",
    "--dataset-version",
    "v1",
    "--channel",
    "train=s3://trainq-prod-data/acme/cli/train/",
    "--channel",
    "validation=s3://trainq-prod-data/acme/cli/val/",
    "--instance-type",
    "ml.g5.xlarge",
    "--hp",
    "epochs=3",
    "--hp",
    "lr=0.05",
    "--gate",
    "validation:accuracy>=0.9",
];
