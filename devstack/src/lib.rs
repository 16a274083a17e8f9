//! trainq's local AWS, on loopback only:
//!
//! - [`moto`]: `moto_server` from the project's `.venv` (SQS, DynamoDB, EventBridge, S3,
//!   CloudFormation, the Model Registry);
//! - [`contract`]: AWS's own contract (botocore's service models and AWS's documented limits)
//!   checked on every call through the front door;
//! - [`sagemaker`]: the local SageMaker endpoint: training jobs with AWS's validation,
//!   `ResourceInUse`, faults, and real runs of local training programs under the container
//!   contract; every other operation forwarded to moto;
//! - [`lambda`]: the shipped function binaries behind a local Runtime API, fed by SQS event
//!   source mappings and a schedule;
//! - [`stack`], [`serve`]: the buckets and the CloudFormation stack in moto, and the whole
//!   stack started and stopped as one ([`serve::Devstack`]), as `trainq-devstack up`/`down`
//!   run it ([`config`]: what it runs).

pub mod config;
pub mod contract;
pub mod control;
pub mod datasets;
pub mod demo;
pub mod lambda;
pub mod moto;
pub mod sagemaker;
pub mod serve;
pub mod stack;
