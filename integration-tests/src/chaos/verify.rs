//! The promise, checked after a chaos run against the records, SageMaker (the local endpoint)
//! and the Model Registry: nothing lost, nothing doubled, the records true.

use std::collections::{BTreeMap, BTreeSet};

use trainq_common::JobRecord;
use trainq_common::naming::parse_job_name;
use trainq_common::request::peek_request_id;
use trainq_common::state::JobState;
use trainq_infra::queries::{JobQueries, Narrowing, Selection};
use uuid::Uuid;

use super::{Figures, histogram};
use crate::world::World;

/// Every record of the run's table, read as `trainq jobs list --all` reads them (through the
/// by-created index, so a record missing from it would count as lost).
pub(super) async fn records(w: &World) -> BTreeMap<Uuid, JobRecord> {
    JobQueries::new(w.dynamodb.clone(), &w.names.table)
        .select(
            &Selection::Created(Narrowing::default()),
            None,
            usize::MAX,
            None,
            |_| true,
        )
        .await
        .expect("read the jobs table")
        .records
        .into_iter()
        .map(|r| (r.request_id, r))
        .collect()
}

/// Where a run stands: messages queued for each Lambda, and requests not yet at rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Progress {
    /// Messages on the requests queue (visible or not).
    pub(super) requests_queued: u64,
    /// Messages on the events queue (visible or not).
    pub(super) events_queued: u64,
    /// Requests neither ended nor waiting `Deferred`.
    pub(super) open: usize,
}

impl Progress {
    /// Whether the run is over: no request or event is queued, and every request has ended —
    /// or waits `Deferred` with no message left on the requests queue (so its message is in
    /// the DLQ, which [`promise`] checks).
    pub(super) fn settled(&self) -> bool {
        self.requests_queued == 0 && self.events_queued == 0 && self.open == 0
    }
}

/// Counts what is still moving.
pub(super) async fn progress(w: &World, ids: &BTreeSet<Uuid>) -> Progress {
    let records = records(w).await;
    Progress {
        requests_queued: crate::esm::depth(&w.sqs, &w.names.queue_url).await,
        events_queued: crate::esm::depth(&w.sqs, &w.names.events_queue_url).await,
        open: ids
            .iter()
            .filter(|id| {
                !records
                    .get(id)
                    .is_some_and(|r| r.state.is_terminal() || r.state == JobState::Deferred)
            })
            .count(),
    }
}

/// The request ids of the messages in the dead-letter queue (taken off it).
async fn dead_letters(w: &World) -> BTreeSet<Uuid> {
    let mut ids = BTreeSet::new();
    loop {
        let messages = crate::esm::receive(&w.sqs, &w.names.dlq_url, 0).await;
        if messages.is_empty() {
            return ids;
        }
        for m in &messages {
            if let Some(id) = m.body().and_then(peek_request_id) {
                ids.insert(id);
            }
        }
        let none = aws_lambda_events::event::sqs::SqsBatchResponse::default();
        crate::esm::acknowledge(&w.sqs, &w.names.dlq_url, &messages, &none).await;
    }
}

/// Checks the promise; every breach becomes a violation in `figures`.
pub(super) async fn promise(w: &World, ids: &BTreeSet<Uuid>, figures: &mut Figures) {
    let records = records(w).await;
    let dead = dead_letters(w).await;
    let v = &mut figures.violations;

    // Every call was one AWS accepts.
    let contract = w.endpoint.contract_stats();
    if contract.refused > 0 {
        v.push(format!(
            "{} calls AWS would refuse: {:?}",
            contract.refused,
            contract.recent.back()
        ));
    }

    // The quota shared as promised: SageMaker never ran more in a pool than trainq's limit
    // for it, so it never had to refuse a create for quota.
    for (pool, limit) in super::POOL_LIMITS {
        let peak = figures.endpoint["peak_running"][pool].as_u64().unwrap_or(0);
        if peak > u64::from(*limit) {
            v.push(format!(
                "{peak} instances ran at once in {pool}, above its limit {limit}"
            ));
        }
    }
    if figures.endpoint["quota_refused"].as_u64() != Some(0) {
        v.push(format!(
            "{} creates refused for quota: the ledger let more through than the quota",
            figures.endpoint["quota_refused"]
        ));
    }

    // Nothing lost: every request ended, or waits in the DLQ with its record saying why.
    for id in ids {
        match records.get(id) {
            Some(r) if r.state.is_terminal() => {}
            Some(r) if dead.contains(id) && r.reason.is_some() => {}
            Some(r) => v.push(format!("{id} stranded in {} ({:?})", r.state, r.reason)),
            None if dead.contains(id) => v.push(format!("{id} dead-lettered without a record")),
            None => v.push(format!("{id} lost: no record, not in the DLQ")),
        }
    }
    figures.dead_lettered = dead.len();
    figures.states = histogram(
        ids.iter()
            .filter_map(|id| records.get(id))
            .map(|r| r.state.to_string()),
    );

    // Nothing doubled: every job SageMaker has is an attempt of its request, one job per attempt.
    let jobs = w.training_jobs().await;
    let distinct: BTreeSet<&String> = jobs.iter().collect();
    if distinct.len() != jobs.len() {
        v.push(format!(
            "{} jobs listed, {} distinct",
            jobs.len(),
            distinct.len()
        ));
    }
    figures.jobs = jobs.len();
    for name in &jobs {
        let owner = parse_job_name(name).and_then(|(id, _)| records.get(&id));
        match owner {
            Some(r) if r.attempts.iter().any(|a| &a.job_name == name) => {}
            _ => v.push(format!("job {name} belongs to no attempt of a record")),
        }
    }
    let created = figures.endpoint["jobs_created"]
        .as_u64()
        .unwrap_or_default() as usize;
    if created != jobs.len() {
        v.push(format!("{created} jobs created, {} exist", jobs.len()));
    }

    // The records equal SageMaker's truth, attempt by attempt.
    for r in records.values() {
        for a in r.attempts.iter().filter(|a| jobs.contains(&a.job_name)) {
            let truth = w.describe_job(&a.job_name).await;
            let status = truth.training_job_status().map(|s| s.as_str().to_owned());
            if a.status != status {
                v.push(format!(
                    "{}: record says {:?}, SageMaker {:?}",
                    a.job_name, a.status, status
                ));
            }
        }
        let launched = r
            .attempts
            .iter()
            .filter(|a| jobs.contains(&a.job_name))
            .count();
        if launched > r.attempts.len() {
            v.push(format!("{} has more jobs than attempts", r.request_id));
        }
    }
    figures.attempts = records.values().map(|r| r.attempts.len()).sum();

    // One model package per registered request, and none for anything else.
    let registered: Vec<&JobRecord> = records
        .values()
        .filter(|r| r.state == JobState::Registered)
        .collect();
    let arns: BTreeSet<&str> = registered
        .iter()
        .filter_map(|r| r.model_package_arn.as_deref())
        .collect();
    if arns.len() != registered.len() {
        v.push(format!(
            "{} registered requests, {} distinct packages",
            registered.len(),
            arns.len()
        ));
    }
    let mut packages = 0;
    let groups: BTreeSet<&str> = registered
        .iter()
        .filter_map(|r| r.model_group.as_deref())
        .collect();
    for group in groups {
        let listed = w.model_packages(group).await;
        packages += listed.len();
        for p in listed {
            if !arns.contains(p.model_package_arn().unwrap_or_default()) {
                v.push(format!(
                    "package {:?} in {group} belongs to no registered request",
                    p.model_package_arn()
                ));
            }
        }
    }
    figures.packages = packages;
}

/// A production request sent by a researcher ends `Rejected` for its sender, with no job and
/// no package.
pub(super) async fn no_impostor_launched(
    w: &World,
    impostors: &BTreeSet<Uuid>,
    figures: &mut Figures,
) {
    let records = records(w).await;
    let jobs = w.training_jobs().await;
    for id in impostors {
        let record = records.get(id);
        let refused = record.is_some_and(|r| {
            r.state == JobState::Rejected
                && r.reason
                    .as_deref()
                    .is_some_and(|why| why.starts_with("`(sender)`"))
        });
        if !refused {
            figures.violations.push(format!(
                "impostor {id} not rejected for its sender: {:?}",
                record.map(|r| (r.state, r.reason.clone()))
            ));
        }
        let launched = jobs
            .iter()
            .filter(|name| parse_job_name(name).is_some_and(|(owner, _)| owner == *id))
            .count();
        if launched > 0 || record.is_some_and(|r| r.model_package_arn.is_some()) {
            figures.violations.push(format!(
                "impostor {id} launched {launched} jobs or registered a model"
            ));
        }
    }
}

/// A model whose manifest breaks the model in service is registered for a person, never
/// approved.
pub(super) async fn no_incompatible_approved(w: &World, figures: &mut Figures) {
    let records = records(w).await;
    for r in records.values() {
        let Some(attempt) = trainq_common::registration::completed_attempt(r) else {
            continue;
        };
        if !figures.incompatible_jobs.contains(&attempt.job_name) || r.state != JobState::Registered
        {
            continue;
        }
        figures.incompatible_registered += 1;
        let incompatible = r
            .compatibility
            .as_ref()
            .is_some_and(trainq_common::approval::Compatibility::is_incompatible);
        if r.model_approval.as_deref() == Some("Approved") || !incompatible {
            figures.violations.push(format!(
                "{}: an incompatible model ended {:?} ({:?})",
                r.request_id, r.model_approval, r.compatibility
            ));
        }
    }
}

/// The alerts received during a run (every delivery).
#[derive(Debug, Default)]
pub(super) struct Alerts {
    /// (request id, detail type, alert id) of each delivery.
    received: Vec<(String, String, Option<String>)>,
}

impl Alerts {
    /// Takes what the alerts queue holds now (no waiting: a round must not stall on it).
    pub(super) async fn take(&mut self, w: &World) {
        loop {
            let messages = crate::esm::receive(&w.sqs, &w.names.alerts_queue_url, 0).await;
            if messages.is_empty() {
                return;
            }
            for m in &messages {
                let alert: serde_json::Value =
                    serde_json::from_str(m.body().unwrap_or("null")).unwrap_or_default();
                let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
                self.received.push((
                    text(&alert["detail"]["request_id"]).unwrap_or_default(),
                    text(&alert["detail-type"]).unwrap_or_default(),
                    text(&alert["detail"]["alert_id"]),
                ));
            }
            let none = aws_lambda_events::event::sqs::SqsBatchResponse::default();
            crate::esm::acknowledge(&w.sqs, &w.names.alerts_queue_url, &messages, &none).await;
        }
    }
}

/// Runs the reconcile (which delivers alerts left in outboxes) until no record holds one, and
/// collects what arrives. The bus still refuses its share: at least once, not at once.
pub(super) async fn deliver_what_is_left(
    w: &World,
    config: &trainq_watcher::WatcherConfig,
    alerts: &mut Alerts,
) {
    use trainq_common::ports::JobStore;
    let watcher = w.watcher_with(config.clone());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        let left = w
            .store()
            .pending_alerts("9999", 1)
            .await
            .unwrap_or_default();
        if left.is_empty() {
            break;
        }
        watcher.reconcile().await;
    }
    alerts.take(w).await;
}

/// No job of a cancelled request runs once the run settled, and every cancel SageMaker could
/// confirm ended `Cancelled`.
pub(super) async fn nothing_runs_for_cancelled(
    w: &World,
    cancelled: &BTreeSet<Uuid>,
    figures: &mut Figures,
) {
    use aws_sdk_sagemaker::types::TrainingJobStatus;
    let records = records(w).await;
    for status in [TrainingJobStatus::InProgress, TrainingJobStatus::Stopping] {
        for job in w.list_jobs(Some(status.clone())).await.unwrap_or_default() {
            let name = job.training_job_name().unwrap_or_default();
            let owner = parse_job_name(name).and_then(|(id, _)| records.get(&id));
            if owner.is_some_and(trainq_common::cancel::is_cancelled) {
                figures.violations.push(format!(
                    "{name} is {status:?} although its request was cancelled"
                ));
            }
        }
    }
    for id in cancelled {
        if records
            .get(id)
            .is_some_and(|r| r.state == JobState::Cancelling)
        {
            figures
                .violations
                .push(format!("{id} still Cancelling after the run settled"));
        }
    }
}

/// Every alert a record's final state calls for was delivered at least once, no record keeps
/// an undelivered one, and every record stays within its size bound.
pub(super) async fn every_alert_delivered(
    w: &World,
    ids: &BTreeSet<Uuid>,
    alerts: &Alerts,
    figures: &mut Figures,
) {
    let records = records(w).await;
    figures.alerts_received = alerts.received.len();
    figures.alert_ids = alerts
        .received
        .iter()
        .filter_map(|(_, _, id)| id.as_ref())
        .collect::<BTreeSet<_>>()
        .len();
    for r in records.values() {
        let size = r.size();
        figures.largest_record_bytes = figures.largest_record_bytes.max(size);
        if size > trainq_common::record_size::MAX_RECORD_BYTES {
            figures
                .violations
                .push(format!("{} is {size} bytes", r.request_id));
        }
        if !r.outbox.is_empty() {
            figures.violations.push(format!(
                "{} keeps {} undelivered alerts",
                r.request_id,
                r.outbox.len()
            ));
        }
    }
    for id in ids {
        let Some(r) = records.get(id) else { continue };
        let expected: &[&str] = match r.state {
            JobState::Failed => &["Training Job Failed", "Training Retries Exhausted"],
            JobState::Registered => &[
                "Model Registered",
                "Model Held By Gate",
                "Model Incompatible",
            ],
            JobState::Rejected => &["Training Request Rejected"],
            JobState::RegistrationRejected => &["Model Registration Failed"],
            JobState::Expired => &["Training Request Expired"],
            _ => continue,
        };
        let key = id.to_string();
        let seen = alerts
            .received
            .iter()
            .any(|(rid, kind, _)| *rid == key && expected.contains(&kind.as_str()));
        if !seen {
            figures.violations.push(format!(
                "{id} ended {} but no {expected:?} alert arrived",
                r.state
            ));
        }
    }
}
