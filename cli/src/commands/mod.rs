//! One module per command family.

pub mod costs;
pub mod dlq;
pub mod jobs;
pub mod lineage;
pub mod models;
pub mod ops;
pub mod queue;
pub mod reindex;
pub mod status;
pub mod submit;
pub mod sweep;
pub mod timeline;
pub mod validate;
