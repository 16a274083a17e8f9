//! AWS adapters for trainq's ports, on the official AWS SDK for Rust. Each adapter maps SDK
//! errors into [`trainq_common::ServiceError`] at this boundary (see [`errors`]); nothing
//! above it reads an error string.

pub mod artifacts;
pub mod aws;
pub mod batch_get;
pub mod client;
pub mod dynamo;
pub mod errors;
pub mod eventbridge;
pub mod lambda;
pub mod ledger;
pub mod model_registry;
pub mod queries;
pub mod redact;
pub mod reindex;
pub mod sagemaker;
pub mod sqs;
pub mod table_layout;
pub mod telemetry;

pub use dynamo::DynamoJobStore;
pub use eventbridge::EventBridgeAlerts;
pub use ledger::DynamoCapacityLedger;
pub use model_registry::SageMakerModelRegistry;
pub use sagemaker::SageMakerTraining;
pub use sqs::SqsRequestQueue;
