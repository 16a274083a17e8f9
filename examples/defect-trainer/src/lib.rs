//! The defect trainer as a library: the container contract, synthetic images, features,
//! the classifier and the training run. `main.rs` is the command line over it.

pub mod cli;
pub mod contract;
pub mod features;
pub mod images;
pub mod model;
pub mod rng;
pub mod train;
