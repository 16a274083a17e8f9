//! The watcher over the wire: the local SageMaker endpoint publishes state-change events to
//! moto's default bus, the rule delivers them to the watcher's queue, the watcher keeps the
//! records (in moto's DynamoDB) true.

use std::time::Duration;

use serde_json::json;
use trainq_common::event::DETAIL_TYPE;
use trainq_common::naming::job_name;
use trainq_common::state::JobState;
use trainq_common::testing::{request_id_of, sample_request};
use trainq_common::time_util::now_epoch_ms;
use trainq_integration_tests::events::fresh;
use trainq_integration_tests::poll;
use trainq_integration_tests::world::World;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_carry_a_job_to_completed_with_billing_and_metrics() {
    let w = World::new().await;
    let body = fresh(sample_request());
    let id = request_id_of(&body);
    let job = job_name(id, 1);
    w.submit_and_drain(&body).await;
    w.drain_events().await;
    let record = w.record(id).await.unwrap();
    assert_eq!(record.state, JobState::InProgress);
    assert_eq!(record.attempts[0].secondary_history[0].status, "Starting");

    w.finish_job(
        &job,
        json!({"status": "Completed", "billable_s": 120, "training_s": 400,
        "metrics": {"validation:accuracy": 0.97}}),
    )
    .await;
    w.drain_events().await;
    let record = w.record(id).await.unwrap();
    assert_eq!(record.state, JobState::Registered);
    let a = &record.attempts[0];
    assert_eq!((a.billable_s, a.training_s), (Some(120), Some(400)));
    assert_eq!(a.spot_savings_pct, Some(70.0), "1 - 120/400 on spot");
    assert_eq!(record.spot_savings_pct, Some(70.0));
    assert_eq!(a.final_metrics.get("validation:accuracy"), Some(&0.97));
    assert!(
        a.model_artifact
            .as_deref()
            .unwrap()
            .ends_with(&format!("{job}/output/model.tar.gz"))
    );
    let statuses: Vec<_> = a
        .secondary_history
        .iter()
        .map(|s| s.status.as_str())
        .collect();
    assert_eq!(statuses, ["Starting", "Completed"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_sagemaker_does_not_confirm_is_not_believed() {
    // A `Completed` event for a job DescribeTrainingJob still reports running (Describe can lag
    // an event; an event can be wrong). Believed, it would register a model without metrics
    // and make the real completion stale.
    let w = World::new().await;
    let body = fresh(sample_request());
    let id = request_id_of(&body);
    let job = job_name(id, 1);
    w.submit_and_drain(&body).await;
    w.drain_events().await;
    let early = json!({"id": "early", "detail-type": DETAIL_TYPE, "source": "aws.sagemaker",
        "detail": {"TrainingJobName": job, "TrainingJobStatus": "Completed",
            "SecondaryStatus": "Completed", "LastModifiedTime": now_epoch_ms()}});
    let outcome = w.watcher().handle_event(&early).await;
    assert!(outcome.redeliver(), "{outcome:?}");
    let record = w.record(id).await.unwrap();
    assert_eq!(record.state, JobState::InProgress);
    assert!(record.model_package_arn.is_none());

    w.finish_job(
        &job,
        json!({"status": "Completed", "billable_s": 120, "training_s": 400,
        "metrics": {"validation:accuracy": 0.97}}),
    )
    .await;
    w.drain_events().await;
    // The event comes back now that SageMaker agrees: applied, nothing doubled.
    w.watcher().handle_event(&early).await;
    let record = w.record(id).await.unwrap();
    assert_eq!(record.state, JobState::Registered);
    assert_eq!(record.model_approval.as_deref(), Some("Approved"));
    let a = &record.attempts[0];
    assert_eq!((a.billable_s, a.training_s), (Some(120), Some(400)));
    assert_eq!(a.final_metrics.get("validation:accuracy"), Some(&0.97));
    let group = w.sample_group(trainq_common::RegistryKind::Production);
    assert_eq!(w.model_packages(&group).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_the_bus_refuses_is_kept_and_delivered_later_with_its_id() {
    // EventBridge refuses trainq's alerts: the failure is recorded, its alert kept in the
    // record's outbox (before: logged and lost for good).
    let w = World::new().await;
    let body = fresh(sample_request());
    let id = request_id_of(&body);
    let job = job_name(id, 1);
    w.submit_and_drain(&body).await;
    w.drain_events().await;
    w.set_faults(json!({"alert_failure_rate": 1.0})).await;
    w.finish_job(
        &job,
        json!({"status": "Failed", "failure_reason": "AlgorithmError: exit 1"}),
    )
    .await;
    let events = w.take_events(&job).await;
    let ended = events.last().unwrap();
    let outcome = w.watcher().handle_event(ended).await;
    assert!(outcome.redeliver(), "{outcome:?}");
    let record = w.record(id).await.unwrap();
    assert_eq!(record.state, JobState::Failed);
    assert_eq!(record.outbox.len(), 1);
    let alert_id = record.outbox[0].id().unwrap();
    assert_eq!(w.stats().await["alerts_refused"], 1);

    // The bus is back: the reconcile delivers what was left, once; a redelivered event then
    // finds nothing pending.
    w.set_faults(json!({})).await;
    let watcher = w.watcher_with(w.watcher_config(&[("TRAINQ_RECONCILE_ALERTS_AFTER_S", "0")]));
    // (The cutoff has whole seconds: the record written this second is not yet "left".)
    poll::until(
        "the reconcile to deliver it",
        Duration::from_secs(10),
        || async { (watcher.reconcile().await.alerts_delivered == 1).then_some(()) },
    )
    .await;
    w.watcher().handle_event(ended).await;
    let alerts = w.wait_for_alerts("Training Job Failed", 1).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["detail"]["alert_id"], json!(alert_id.to_string()));
    // What to do and how to look: the runbook's section and the command that shows it.
    assert_eq!(
        alerts[0]["detail"]["runbook"],
        "docs/runbook.md#training-job-failed"
    );
    assert_eq!(
        alerts[0]["detail"]["command"],
        json!(format!("trainq jobs show {id}"))
    );
    let record = w.record(id).await.unwrap();
    assert!(record.outbox.is_empty());
    assert_eq!(record.alerts_pending, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_failure_ends_failed_with_an_alert() {
    let w = World::new().await;
    let id = w.launch(&fresh(sample_request())).await;
    w.finish_job(
        &job_name(id, 1),
        json!({"status": "Failed",
        "failure_reason": "AlgorithmError: train.py exited with code 1"}),
    )
    .await;
    w.drain_events().await;
    let record = w.record(id).await.unwrap();
    assert_eq!(record.state, JobState::Failed);
    assert_eq!(
        record.reason.as_deref(),
        Some("AlgorithmError: train.py exited with code 1")
    );
    assert_eq!(record.attempts.len(), 1, "no retry planned");
    let alerts = w.wait_for_alerts("Training Job Failed", 1).await;
    assert_eq!(alerts[0]["detail"]["request_id"], json!(id.to_string()));
    assert_eq!(alerts[0]["detail"]["job_name"], json!(job_name(id, 1)));
    // Nothing to launch went back on the requests queue: only the wake-up for the freed slot.
    assert_eq!(w.drain(&w.dispatcher()).await, 1);
    assert_eq!(w.stats().await["jobs_created"], json!(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_and_out_of_order_events_never_move_a_record_back() {
    let w = World::new().await;
    let body = fresh(sample_request());
    let id = request_id_of(&body);
    let job = job_name(id, 1);
    w.submit_and_drain(&body).await;
    w.finish_job(&job, json!({"status": "Completed", "billable_s": 60}))
        .await;
    let events = w.take_events(&job).await;
    assert_eq!(events.len(), 2, "InProgress then Completed");
    let (started, completed) = (&events[0], &events[1]);

    // Completed first, then again and again with the older InProgress among them, as a
    // redelivering, reordering queue would. Events of one batch are handled concurrently, so
    // "late" is checked across deliveries: once Completed is recorded, nothing writes.
    w.deliver_events(&[completed]).await;
    w.drain_events().await;
    let recorded = w.record(id).await.unwrap();
    assert_eq!(
        recorded.state,
        JobState::Registered,
        "completed, then registered"
    );
    w.deliver_events(&[completed, started, completed, started])
        .await;
    w.drain_events().await;
    let record = w.record(id).await.unwrap();
    assert_eq!(record.state, JobState::Registered);
    assert_eq!(record.attempts[0].status.as_deref(), Some("Completed"));
    assert_eq!(
        record.version, recorded.version,
        "duplicates and the late event wrote nothing"
    );
    assert_eq!(record.attempts[0].billable_s, Some(60));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_spot_capacity_retries_on_the_next_rung_from_the_same_checkpoint() {
    let w = World::new().await;
    let id = w.launch(&fresh(sample_request())).await;
    w.finish_job(
        &job_name(id, 1),
        json!({"status": "Stopped", "secondary_status": "MaxWaitTimeExceeded"}),
    )
    .await;
    w.drain_events().await;
    let record = w.record(id).await.unwrap();
    assert_eq!(record.state, JobState::Retrying);
    assert_eq!(record.attempts[0].status.as_deref(), Some("Stopped"));

    // The watcher put the request back on the queue; the dispatcher launches attempt 2.
    w.drain(&w.dispatcher()).await;
    let record = w.record(id).await.unwrap();
    assert_eq!(record.state, JobState::InProgress);
    let second = &record.attempts[1];
    assert_eq!(
        (second.number, second.instance_type.as_str(), second.spot),
        (2, "ml.g4dn.xlarge", true)
    );
    let first_job = w.describe_job(&job_name(id, 1)).await;
    let second_job = w.describe_job(&job_name(id, 2)).await;
    assert_eq!(
        second_job.checkpoint_config().unwrap().s3_uri(),
        first_job.checkpoint_config().unwrap().s3_uri(),
        "the new attempt resumes from the request's checkpoints"
    );
    assert_eq!(
        second_job
            .resource_config()
            .unwrap()
            .instance_type()
            .map(|t| t.as_str()),
        Some("ml.g4dn.xlarge")
    );
    assert_eq!(w.stats().await["jobs_created"], json!(2));
    w.wait_for_alerts("Training Capacity Pressure", 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_failure_is_retried_on_the_same_rung_when_the_request_asks() {
    let w = World::new().await;
    let mut body = fresh(sample_request());
    body["retry"] = json!({"max_attempts": 2, "retry_user_failures": true});
    let id = w.launch(&body).await;
    let failure = json!({"status": "Failed", "failure_reason": "AlgorithmError: flaky loader"});
    w.finish_job(&job_name(id, 1), failure.clone()).await;
    w.drain_events().await;
    assert_eq!(w.record(id).await.unwrap().state, JobState::Retrying);

    w.drain(&w.dispatcher()).await;
    let record = w.record(id).await.unwrap();
    assert_eq!(record.state, JobState::InProgress);
    let second = &record.attempts[1];
    assert_eq!(
        (second.instance_type.as_str(), second.spot),
        ("ml.g5.xlarge", true),
        "same rung"
    );
    w.finish_job(&job_name(id, 2), failure).await;
    w.drain_events().await;
    let record = w.record(id).await.unwrap();
    assert_eq!(record.state, JobState::Failed);
    assert_eq!(
        w.stats().await["jobs_created"],
        json!(2),
        "no third attempt"
    );
    w.wait_for_alerts("Training Retries Exhausted", 1).await;
}
