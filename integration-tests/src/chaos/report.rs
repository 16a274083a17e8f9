//! What a chaos run did, printed as the figures `docs/reliability.md` quotes.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::ChaosConfig;

/// Counts of a chaos run.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// Requests sent.
    pub requests: usize,
    /// Messages sent (each request one to three times).
    pub deliveries_sent: usize,
    /// Production requests sent by a researcher (all must be rejected).
    pub impostors: usize,
    /// Jobs that completed with a manifest incompatible with the model in service.
    pub incompatible_jobs: std::collections::BTreeSet<String>,
    /// Of those, the models registered (none may be approved).
    pub incompatible_registered: usize,
    /// Dispatcher invocations.
    pub dispatcher_invocations: usize,
    /// Watcher invocations on event batches.
    pub watcher_invocations: usize,
    /// Invocations that died at a fault point (batch not acknowledged).
    pub dead_invocations: usize,
    /// Fault points fired (including inside the reconcile).
    pub crashes: u64,
    /// Events delivered to the watcher.
    pub events_delivered: usize,
    /// Events delivered a second time, later.
    pub events_duplicated: usize,
    /// Events dropped.
    pub events_dropped: usize,
    /// Jobs whose spot capacity was lost.
    pub spot_losses: usize,
    /// Records the reconcile healed.
    pub reconciled: usize,
    /// Training jobs that exist at the end.
    pub jobs: usize,
    /// Attempts recorded.
    pub attempts: usize,
    /// Model packages registered.
    pub packages: usize,
    /// Requests in the DLQ at the end.
    pub dead_lettered: usize,
    /// Final states.
    pub states: BTreeMap<String, usize>,
    /// The local endpoint's counters (creates, throttled, quota refusals, names in use).
    pub endpoint: serde_json::Value,
    /// How long it took.
    pub duration: Duration,
    /// Requests an operator cancelled with `trainq jobs cancel` (the command succeeded).
    pub operator_cancels: usize,
    /// Failed requests an operator retried with `trainq jobs retry`.
    pub operator_retries: usize,
    /// Alerts received (every delivery), and of how many distinct alert ids.
    pub alerts_received: usize,
    /// Distinct alert ids received.
    pub alert_ids: usize,
    /// The largest record at the end, as JSON.
    pub largest_record_bytes: usize,
    /// Breaches of the promise (empty when it held).
    pub violations: Vec<String>,
}

impl Figures {
    /// Empty figures for a run of `config`.
    pub fn new(config: &ChaosConfig) -> Self {
        Self {
            requests: config.requests,
            ..Self::default()
        }
    }
}

impl fmt::Display for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = |k: &str| self.endpoint[k].as_u64().unwrap_or_default();
        writeln!(
            f,
            "chaos run: {} requests in {:.0} s",
            self.requests,
            self.duration.as_secs_f64()
        )?;
        writeln!(f, "  deliveries sent            {}", self.deliveries_sent)?;
        writeln!(
            f,
            "  impostors                  {} production requests from a researcher, all rejected unless a violation says otherwise",
            self.impostors
        )?;
        writeln!(
            f,
            "  incompatible models        {} jobs wrote a breaking manifest; {} registered, none approved unless a violation says otherwise",
            self.incompatible_jobs.len(),
            self.incompatible_registered
        )?;
        writeln!(
            f,
            "  invocations                {} dispatcher, {} watcher; {} died at a fault point ({} points fired)",
            self.dispatcher_invocations,
            self.watcher_invocations,
            self.dead_invocations,
            self.crashes
        )?;
        writeln!(
            f,
            "  CreateTrainingJob calls    {} ({} throttled, {} over quota, {} name already in use)",
            e("create_calls"),
            e("throttled"),
            e("quota_refused"),
            e("name_in_use")
        )?;
        writeln!(
            f,
            "  events                     {} delivered, {} duplicated, {} dropped",
            self.events_delivered, self.events_duplicated, self.events_dropped
        )?;
        writeln!(f, "  spot capacity lost         {} jobs", self.spot_losses)?;
        writeln!(
            f,
            "  healed by reconcile        {} records",
            self.reconciled
        )?;
        writeln!(
            f,
            "  jobs / attempts            {} / {}",
            self.jobs, self.attempts
        )?;
        writeln!(f, "  model packages             {}", self.packages)?;
        writeln!(
            f,
            "  operators                  {} requests cancelled, {} failed ones retried (the trainq CLI)",
            self.operator_cancels, self.operator_retries
        )?;
        writeln!(
            f,
            "  alerts                     {} PutEvents refused; {} received for {} alert ids (at least once)",
            e("alerts_refused"),
            self.alerts_received,
            self.alert_ids
        )?;
        writeln!(
            f,
            "  largest record             {} bytes (bound {})",
            self.largest_record_bytes,
            trainq_common::record_size::MAX_RECORD_BYTES
        )?;
        writeln!(f, "  dead-lettered              {}", self.dead_lettered)?;
        writeln!(f, "  final states               {:?}", self.states)?;
        let contract = &self.endpoint["contract"];
        let count = |k: &str| contract[k].as_u64().unwrap_or_default();
        writeln!(
            f,
            "  AWS contract               {} calls checked, {} refused",
            count("checked"),
            count("refused")
        )?;
        let peaks: Vec<String> = super::POOL_LIMITS
            .iter()
            .map(|(pool, limit)| {
                let peak = self.endpoint["peak_running"][pool].as_u64().unwrap_or(0);
                format!("{pool} {peak} of {limit}")
            })
            .collect();
        writeln!(
            f,
            "  pools at their peak        {} (SageMaker's count; trainq's limit)",
            peaks.join(", ")
        )?;
        if self.violations.is_empty() {
            writeln!(
                f,
                "  promise                    held: 0 lost, 0 doubled, records = SageMaker, 1 package per registered request, 0 calls AWS would refuse"
            )
        } else {
            writeln!(f, "  VIOLATIONS ({}):", self.violations.len())?;
            for v in self.violations.iter().take(20) {
                writeln!(f, "    {v}")?;
            }
            Ok(())
        }
    }
}
