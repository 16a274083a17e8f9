//! Operators in a chaos run: the `trainq` binary, as an on-call engineer runs it, cancels a
//! share of the requests and retries a share of the failed ones, each at a moment of its own
//! (a round picked from the request's id), whatever the request is doing then.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use trainq_common::JobRecord;
use trainq_common::stack::StackConfig;
use trainq_common::state::JobState;
use uuid::Uuid;

use super::{ChaosConfig, Figures, percent};
use crate::world::{REGION, World};

/// Rounds over which the cancels are spread: the first few, while requests wait, launch and
/// run (a cancel of a request already ended is refused, which is part of the game).
const MOMENTS: u64 = 4;

/// The operators and their stack file.
pub(super) struct Operators {
    file: PathBuf,
    /// Requests an operator cancels, and the round from which (once each).
    cancels: BTreeMap<Uuid, u64>,
    /// Cancels already run.
    cancelled: BTreeSet<Uuid>,
    /// Requests an operator retries when they fail, from the round at which.
    retries: BTreeMap<Uuid, u64>,
    /// Requests already retried (once each).
    retried: BTreeSet<Uuid>,
}

impl Operators {
    /// Picks who is cancelled or retried, and writes the stack file the CLI reads.
    pub(super) fn new(w: &World, config: &ChaosConfig, ids: &BTreeSet<Uuid>) -> Self {
        let moment =
            |salt: &str, id: &Uuid| 1 + percent(config.seed, salt, &id.to_string()) % MOMENTS;
        let pick = |salt: &str, pct: u64| -> BTreeMap<Uuid, u64> {
            ids.iter()
                .filter(|id| percent(config.seed, salt, &id.to_string()) < pct)
                .map(|id| (*id, moment(&format!("{salt}-at"), id)))
                .collect()
        };
        let env = w.lambda_env(&[]);
        let stack = StackConfig {
            region: REGION.into(),
            requests_queue_url: w.names.queue_url.clone(),
            requests_dlq_url: w.names.dlq_url.clone(),
            job_events_queue_url: w.names.events_queue_url.clone(),
            jobs_table: w.names.table.clone(),
            capacity_table: Some(w.names.capacity_table.clone()),
            alerts_bus: w.names.alerts_bus.clone(),
            alerts_queue_url: w.names.alerts_queue_url.clone(),
            registries: env
                .iter()
                .filter(|(k, _)| {
                    k.starts_with("TRAINQ_PRODUCTION_") || k.starts_with("TRAINQ_RESEARCH_")
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            scheduler: BTreeMap::new(),
            quotas: BTreeMap::new(),
            endpoints: [("default".to_owned(), w.endpoint.url())].into(),
            devstack: None,
        };
        let file = std::env::temp_dir().join(format!("trainq-chaos-{}.json", Uuid::new_v4()));
        std::fs::write(&file, serde_json::to_vec(&stack).unwrap()).unwrap();
        Self {
            file,
            cancels: pick("cancel", config.cancel_pct),
            cancelled: BTreeSet::new(),
            retries: pick("retry", config.retry_pct),
            retried: BTreeSet::new(),
        }
    }

    /// Requests an operator cancelled (the command was accepted).
    pub(super) fn cancelled(&self) -> BTreeSet<Uuid> {
        self.cancelled.clone()
    }

    /// The records an operator may act on this round (read one by one: a scan of the whole
    /// table each round would slow the run down as it grows).
    async fn watched(&self, w: &World, round: u64) -> BTreeMap<Uuid, JobRecord> {
        use trainq_common::ports::JobStore;
        let store = w.store();
        let ids = self
            .cancels
            .iter()
            .filter(|(id, at)| **at <= round && !self.cancelled.contains(id))
            .chain(
                self.retries
                    .iter()
                    .filter(|(id, at)| **at <= round && !self.retried.contains(id)),
            )
            .map(|(id, _)| *id);
        let mut records = BTreeMap::new();
        for id in ids {
            if let Ok(Some(r)) = store.get(id).await {
                records.insert(id, r);
            }
        }
        records
    }

    /// This round's operator commands.
    pub(super) async fn round(&mut self, w: &World, round: u64, figures: &mut Figures) {
        let records = &self.watched(w, round).await;
        // Requests that ended where no operator can act any more are watched no longer.
        let done = |id: &Uuid| {
            records.get(id).is_some_and(|r| {
                matches!(
                    r.state,
                    JobState::Registered | JobState::Rejected | JobState::Cancelled
                )
            })
        };
        self.cancels
            .retain(|id, _| !done(id) || self.cancelled.contains(id));
        self.retries
            .retain(|id, _| !done(id) || self.retried.contains(id));
        // A cancel is tried from its moment on until it is accepted, or the request ended
        // first (or is not recorded yet: its message still waits for the dispatcher).
        let due: Vec<Uuid> = self
            .cancels
            .iter()
            .filter(|(id, at)| {
                **at <= round
                    && !self.cancelled.contains(id)
                    && records
                        .get(id)
                        .is_some_and(|r| trainq_common::cancel::CANCELLABLE.contains(&r.state))
            })
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if self.trainq(&["jobs", "cancel", &id.to_string()]).await {
                self.cancelled.insert(id);
                figures.operator_cancels += 1;
            }
        }
        let failed: Vec<Uuid> = self
            .retries
            .iter()
            .filter(|(id, at)| {
                **at <= round
                    && !self.retried.contains(id)
                    && records.get(id).is_some_and(|r| {
                        matches!(
                            r.state,
                            JobState::Failed | JobState::Stopped | JobState::Expired
                        ) && r.request.is_some()
                    })
            })
            .map(|(id, _)| *id)
            .collect();
        for id in failed {
            if self.trainq(&["jobs", "retry", &id.to_string()]).await {
                self.retried.insert(id);
                figures.operator_retries += 1;
            }
        }
    }

    /// Runs `trainq --config <stack file> args…` as the on-call engineer; whether it succeeded
    /// (a refusal — the request moved on — is part of the game).
    async fn trainq(&self, args: &[&str]) -> bool {
        let file = self.file.clone();
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(crate::local_stack::workspace_binary("trainq"))
                .arg("--config")
                .arg(&file)
                .args(&args)
                .env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing")
                .env_remove("TRAINQ_CONFIG")
                .output()
                .map(|o| {
                    if !o.status.success() && std::env::var_os("CHAOS_VERBOSE").is_some() {
                        eprintln!("trainq {args:?}: {}", String::from_utf8_lossy(&o.stderr));
                    }
                    o.status.success()
                })
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false)
    }
}

impl Drop for Operators {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}
