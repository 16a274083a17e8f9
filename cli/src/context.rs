//! What every command works with: the stack file, an SDK configuration that reaches the stack
//! (AWS, or the local stack's endpoints), and clients built from it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::timeout::TimeoutConfig;
use trainq_common::Registries;
use trainq_common::config::Env;
use trainq_common::scheduling::SchedulerConfig;
use trainq_common::stack::StackConfig;
use trainq_infra::{DynamoCapacityLedger, DynamoJobStore};

use crate::error::{CliError, Status};

/// The stack file `make devstack` writes, used when nothing else names one.
pub const DEVSTACK_FILE: &str = ".devstack/stack.json";

/// A command's surroundings.
pub struct Context {
    /// The stack's resources.
    pub stack: StackConfig,
    /// SDK configuration reaching the stack.
    pub sdk: SdkConfig,
}

impl Context {
    /// Loads the stack file (`--config`, else `TRAINQ_CONFIG`, else `.devstack/stack.json`) and
    /// builds the SDK configuration: region and endpoints from the file, credentials from the
    /// standard AWS environment and profiles (the local stack accepts any).
    pub async fn load(config: Option<PathBuf>) -> Result<Self, CliError> {
        let path = config
            .or_else(|| std::env::var_os("TRAINQ_CONFIG").map(PathBuf::from))
            .or_else(|| Path::new(DEVSTACK_FILE).exists().then(|| PathBuf::from(DEVSTACK_FILE)))
            .ok_or_else(|| {
                CliError::new(Status::Unreachable, "no stack file")
                    .hint("pass --config FILE or set TRAINQ_CONFIG; `make devstack` writes .devstack/stack.json")
            })?;
        let text = std::fs::read_to_string(&path).map_err(|e| {
            CliError::new(Status::Unreachable, format!("{}: {e}", path.display())).hint(
                "is the local stack up (`make devstack`)? or pass the file a deployment wrote",
            )
        })?;
        let stack: StackConfig = serde_json::from_str(&text).map_err(|e| {
            CliError::new(
                Status::Invalid,
                format!("{}: not a trainq stack file: {e}", path.display()),
            )
        })?;
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(stack.region.clone()))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_timeout(Duration::from_secs(60))
                    .build(),
            );
        if let Some(url) = stack.endpoints.get("default") {
            loader = loader.endpoint_url(url);
            if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
                loader = loader.credentials_provider(aws_sdk_sqs::config::Credentials::new(
                    "devstack",
                    "devstack",
                    None,
                    None,
                    "trainq-devstack",
                ));
            }
        }
        Ok(Self {
            sdk: loader.load().await,
            stack,
        })
    }

    /// SQS.
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk)
    }

    /// DynamoDB.
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk)
    }

    /// SageMaker (the local endpoint when the stack names one).
    pub fn sagemaker(&self) -> aws_sdk_sagemaker::Client {
        let mut config = aws_sdk_sagemaker::config::Builder::from(&self.sdk);
        if let Some(url) = self.stack.endpoints.get("sagemaker") {
            config = config.endpoint_url(url);
        }
        aws_sdk_sagemaker::Client::from_conf(config.build())
    }

    /// The jobs table.
    pub fn store(&self) -> DynamoJobStore {
        DynamoJobStore::new(self.dynamodb(), &self.stack.jobs_table)
    }

    /// The scheduler's configuration as the functions have it, and its capacity ledger; `None`
    /// for a stack file written before the ledger existed.
    pub fn scheduler(&self) -> Result<Option<(SchedulerConfig, DynamoCapacityLedger)>, CliError> {
        let Some(table) = &self.stack.capacity_table else {
            return Ok(None);
        };
        let mut vars = self.stack.scheduler.clone();
        vars.insert("TRAINQ_CAPACITY_TABLE".into(), table.clone());
        let config =
            SchedulerConfig::from_env(&Env::from_fn(|k| vars.get(k).cloned())).map_err(|e| {
                CliError::new(Status::Invalid, format!("the stack file's scheduler: {e}"))
            })?;
        Ok(Some((
            config,
            DynamoCapacityLedger::new(self.dynamodb(), table),
        )))
    }

    /// The registries, to validate requests as the dispatcher will.
    pub fn registries(&self) -> Result<Registries, CliError> {
        self.stack.load_registries().map_err(|e| {
            CliError::new(Status::Invalid, format!("the stack file's registries: {e}"))
                .hint("the stack file must carry the registries' TRAINQ_* variables (`registries`)")
        })
    }
}
