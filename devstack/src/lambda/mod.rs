//! Lambda, locally: the shipped function binaries behind a local Runtime API
//! ([`runtime_api`], [`function`]), fed by SQS event source mappings ([`esm`]) and a schedule.
//!
//! cargo-lambda's `watch` serves invocations to a function it builds and rebuilds, but has no
//! event source mappings, partial batch responses or schedules; those are what the local stack
//! must reproduce, so the devstack runs its own small Runtime API instead (docs/decisions.md).

pub mod esm;
pub mod function;
pub mod runtime_api;
