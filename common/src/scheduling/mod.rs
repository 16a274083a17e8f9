//! Admission against the quota (issue #13, DESIGN §8): the pure policy of who gets the next
//! free instances. Pools are (instance type, spot | on-demand); waiting requests are ordered by
//! priority class, then weighted fair share between customers by decayed recent usage, then
//! age; each takes the first rung of its ladder whose pool has room now.
//!
//! Pure domain code: the DynamoDB ledger that holds the pools' holders, and the waiting room,
//! are adapters in `trainq-infra`.

pub mod admission;
pub mod book;
pub mod config;
pub mod fairshare;
pub mod place;
pub mod pool;
pub mod priority;

pub use admission::{Admission, FairShare, Share, Waiting, admit, order};
pub use book::{Holding, LearnedLimit, PoolBook};
pub use config::{PoolLimits, SchedulerConfig};
pub use fairshare::Usage;
pub use place::Place;
pub use pool::{Capacity, Pool};
pub use priority::{PriorityClasses, PriorityError};
