//! The local stack as `trainq-devstack` runs it: the shipped dispatcher and watcher binaries
//! behind local Runtime APIs, fed by event source mappings with AWS's semantics, resources
//! from the CloudFormation template in moto, and `up`/`down` leaving nothing behind.

use std::time::Duration;

use serde_json::json;
use trainq_common::JobRecord;
use trainq_common::ports::JobStore;
use trainq_common::stack::StackConfig;
use trainq_common::state::JobState;
use trainq_devstack::serve::Devstack;
use trainq_devstack::stack::sdk_config;
use trainq_infra::DynamoJobStore;
use trainq_integration_tests::local_stack::{config, workspace, workspace_binary};
use trainq_integration_tests::poll;
use trainq_integration_tests::training_jobs::minimal_job;

const TRAINER: &str = env!("CARGO_BIN_EXE_test-defect-trainer");
const PATIENCE: Duration = Duration::from_secs(120);

fn temp_dir(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("trainq-{name}-{}", uuid::Uuid::new_v4()))
}

/// A request of the devstack's registries, with data uploaded by `upload`.
fn request(hyperparameters: serde_json::Value) -> serde_json::Value {
    json!({
        "schema_version": 1, "request_id": uuid::Uuid::new_v4().to_string(),
        "customer": "acme", "project": "scratch-detect", "registry": "production",
        "reason": "data_shift", "image": "defect-classifier:1.4.2",
        "dataset": {"version": "v1", "channels": {
            "train": "s3://trainq-prod-data/acme/train/", "validation": "s3://trainq-prod-data/acme/val/"}},
        "hyperparameters": hyperparameters,
        "resources": {"instance_type": "ml.g5.xlarge", "max_runtime_s": 600}
    })
}

struct Local {
    devstack: Devstack,
    sdk: aws_config::SdkConfig,
}

impl Local {
    async fn start(overrides: impl FnOnce(&mut trainq_devstack::config::DevstackConfig)) -> Self {
        let mut config = config(&temp_dir("devstack"), TRAINER);
        overrides(&mut config);
        let devstack = Devstack::start(&config, &workspace())
            .await
            .expect("devstack starts");
        let stack = devstack.stack();
        let sdk = sdk_config(&stack.endpoints["default"], &stack.region).await;
        Self { devstack, sdk }
    }

    /// Creates a training job named `name` straight on the endpoint, as another stack would.
    async fn create_stray_job(&self, name: &str) {
        minimal_job(
            &aws_sdk_sagemaker::Client::new(&self.sdk),
            name,
            false,
            None,
        )
        .send()
        .await
        .expect("CreateTrainingJob");
    }

    fn stack(&self) -> &StackConfig {
        self.devstack.stack()
    }

    async fn send(&self, body: &serde_json::Value) -> uuid::Uuid {
        aws_sdk_sqs::Client::new(&self.sdk)
            .send_message()
            .queue_url(&self.stack().requests_queue_url)
            .message_body(body.to_string())
            .send()
            .await
            .expect("SendMessage");
        body["request_id"].as_str().unwrap().parse().unwrap()
    }

    async fn wait_for(&self, id: uuid::Uuid, states: &[JobState]) -> JobRecord {
        let store = DynamoJobStore::new(
            aws_sdk_dynamodb::Client::new(&self.sdk),
            &self.stack().jobs_table,
        );
        poll::until(&format!("{id} in {states:?}"), PATIENCE, || async {
            store
                .get(id)
                .await
                .ok()
                .flatten()
                .filter(|r| states.contains(&r.state))
        })
        .await
    }

    async fn upload_data(&self) {
        let s3 = trainq_devstack::datasets::s3_client(&self.sdk);
        for (channel, seed, count) in [("train", 1, 200), ("val", 2, 60)] {
            let uri = format!("s3://trainq-prod-data/acme/{channel}/");
            trainq_devstack::datasets::upload(&s3, &uri, seed, count)
                .await
                .unwrap();
        }
    }

    async fn set_faults(&self, faults: serde_json::Value) {
        let url = &self.stack().devstack.as_ref().unwrap().sagemaker_url;
        let status = reqwest::Client::new()
            .put(format!("{url}/_devstack/faults"))
            .body(faults.to_string())
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_functions_carry_a_request_to_a_registered_model() {
    let local = Local::start(|_| {}).await;
    local.upload_data().await;
    let id = local
        .send(&request(
            json!({"epochs": "3", "lr": "0.05", "epoch_delay_ms": "200"}),
        ))
        .await;
    let record = local
        .wait_for(id, &[JobState::Registered, JobState::Failed])
        .await;
    assert_eq!(record.state, JobState::Registered, "{record:?}");
    assert!(record.attempts[0].final_metrics["validation:accuracy"] > 0.5);
    let state_dir = std::path::PathBuf::from(&local.stack().devstack.as_ref().unwrap().state_dir);
    let dispatcher_log =
        std::fs::read_to_string(state_dir.join("logs/trainq-dispatcher.log")).unwrap();
    assert!(
        dispatcher_log.contains(&id.to_string()),
        "the dispatcher binary handled it"
    );
    let watcher_log = std::fs::read_to_string(state_dir.join("logs/trainq-watcher.log")).unwrap();
    assert!(
        watcher_log.contains("\"Registered\""),
        "the watcher binary registered it"
    );

    // A `tq-` job nobody recorded (another stack's, sharing the prefix): its events change
    // nothing and are counted as IgnoredEvents.
    let stray = trainq_common::naming::job_name(uuid::Uuid::new_v4(), 1);
    local.create_stray_job(&stray).await;
    poll::until(
        "IgnoredEvents for the stray job",
        Duration::from_secs(60),
        || async {
            let log = std::fs::read_to_string(state_dir.join("logs/trainq-watcher.log")).ok()?;
            let warned = log.contains(&stray) || log.contains("a trainq job name without a record");
            (warned && log.contains("\"IgnoredEvents\":")).then_some(())
        },
    )
    .await;
    local.devstack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_refused_on_every_delivery_is_dead_lettered_after_max_receive_count() {
    let local = Local::start(|c| {
        c.stack_parameters
            .insert("RequestsMaxReceiveCount".into(), "3".into());
        c.environment
            .insert("TRAINQ_DEFER_BASE_S".into(), "1".into());
        c.environment
            .insert("TRAINQ_DEFER_MAX_S".into(), "1".into());
    })
    .await;
    local.set_faults(json!({"throttle_rate": 1.0})).await;
    let id = local.send(&request(json!({"epochs": "1"}))).await;
    let sqs = aws_sdk_sqs::Client::new(&local.sdk);
    let dlq = local.stack().requests_dlq_url.clone();
    let dead = poll::until("the request in the DLQ", PATIENCE, || async {
        let out = sqs
            .receive_message()
            .queue_url(&dlq)
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
            )
            .send()
            .await
            .ok()?;
        out.messages.unwrap_or_default().into_iter().next()
    })
    .await;
    assert!(dead.body().unwrap().contains(&id.to_string()));
    // The message is dead-lettered, the request is not lost: it waits in the waiting room
    // (and launches once SageMaker stops throttling, as the CLI suite shows).
    let record = local.wait_for(id, &[JobState::Queued]).await;
    assert!(
        record.defer_count >= 3,
        "one deferral per delivery at least: {record:?}"
    );
    assert!(
        record.reason.unwrap().contains("throttled"),
        "the record says why"
    );
    local.devstack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_and_down_leave_nothing_running() {
    let state = temp_dir("devstack-cli");
    std::fs::create_dir_all(&state).unwrap();
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(workspace().join("devstack/devstack.json")).unwrap())
            .unwrap();
    config["state_dir"] = json!(state);
    config["moto_port"] = json!(0);
    config["sagemaker_port"] = json!(0);
    config["dispatcher"] = json!(workspace_binary("trainq-dispatcher"));
    config["watcher"] = json!(workspace_binary("trainq-watcher"));
    let config_path = state.join("devstack.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let cli = workspace_binary("trainq-devstack");
    let run = |command: &str| {
        std::process::Command::new(&cli)
            .args([command, "--config"])
            .arg(&config_path)
            .current_dir(workspace())
            .output()
            .unwrap()
    };

    let up = run("up");
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let stack: StackConfig =
        serde_json::from_slice(&std::fs::read(state.join("stack.json")).unwrap()).unwrap();
    let pid = stack.devstack.as_ref().unwrap().pid;
    let moto = stack.endpoints["default"].clone();
    assert!(trainq_devstack::control::alive(pid));
    assert!(run("status").status.success());
    assert!(run("up").status.success(), "a second `up` finds it running");

    let down = run("down");
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    assert!(
        !trainq_devstack::control::alive(pid),
        "the supervisor is gone"
    );
    let port = moto.rsplit(':').next().unwrap().parse::<u16>().unwrap();
    poll::until("moto to stop", Duration::from_secs(10), || async {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .is_err()
            .then_some(())
    })
    .await;
    assert!(!state.join("stack.json").exists());
    assert_eq!(
        run("status").status.code(),
        Some(3),
        "status says not running"
    );
}
