//! Harness of the end-to-end tests: real HTTP endpoints, real AWS SDK for Rust.
//!
//! - [`moto`]: one `moto_server` (from the project's `.venv`) per test binary, on a free
//!   loopback port, stopped when the test process exits;
//! - [`world`]: per test, the local SageMaker endpoint (its own jobs, faults and counters)
//!   and the resources a stack has (jobs table, requests queue with DLQ, alerts bus with an
//!   observer queue), with unique names so tests run in parallel against one moto;
//! - [`models`]: reading the Model Registry the watcher registers into;
//! - [`esm`]: what Lambda's SQS event source mapping does: receive a batch, invoke the
//!   handler, delete what it did not report as failed.

pub mod alerts;
pub mod chaos;
pub mod cli_stack;
pub mod crash;
pub mod datasets;
pub mod esm;
pub mod events;
pub mod json_schema;
pub mod local_stack;
pub mod models;
pub mod moto;
pub mod poll;
pub mod resources;
pub mod stacks;
pub mod training_jobs;
pub mod world;
