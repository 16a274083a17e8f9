//! One module per command family.

pub mod jobs;
pub mod ops;
pub mod status;
pub mod submit;
pub mod sweep;
