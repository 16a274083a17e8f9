//! Nothing stranded: lost events are healed by the reconcile schedule, and a retry that meets
//! a quota is deferred and launched later, over the wire.

use serde_json::json;
use trainq_common::RegistryKind;
use trainq_common::naming::job_name;
use trainq_common::state::JobState;
use trainq_common::testing::sample_request;
use trainq_integration_tests::events::fresh;
use trainq_integration_tests::world::World;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_completion_is_healed_by_the_reconcile() {
    let w = World::new().await;
    let id = w.launch(&fresh(sample_request())).await;
    let job = job_name(id, 1);
    w.finish_job(
        &job,
        json!({"status": "Completed", "billable_s": 30, "training_s": 90,
        "metrics": {"validation:accuracy": 0.99}}),
    )
    .await;
    let dropped = w.take_events(&job).await;
    assert_eq!(dropped.len(), 2, "both events lost");
    assert_eq!(w.record(id).await.unwrap().state, JobState::InProgress);

    let report = w.reconcile().await;
    assert_eq!(
        (report.checked, report.healed, report.unresolved),
        (1, 1, 0)
    );
    let record = w.record(id).await.unwrap();
    assert_eq!(record.state, JobState::Registered);
    assert_eq!(record.attempts[0].billable_s, Some(30));
    assert_eq!(
        record.attempts[0].final_metrics["validation:accuracy"],
        0.99
    );
    let packages = w
        .model_packages(&w.sample_group(RegistryKind::Production))
        .await;
    assert_eq!(packages.len(), 1);
    assert_eq!(w.reconcile().await.checked, 0, "nothing left to heal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_spot_loss_is_healed_and_retried_on_the_next_rung() {
    let w = World::new().await;
    let id = w.launch(&fresh(sample_request())).await;
    let job = job_name(id, 1);
    w.finish_job(
        &job,
        json!({"status": "Stopped", "secondary_status": "MaxWaitTimeExceeded"}),
    )
    .await;
    w.take_events(&job).await;

    w.reconcile().await;
    assert_eq!(w.record(id).await.unwrap().state, JobState::Retrying);
    w.drain(&w.dispatcher()).await;
    let record = w.record(id).await.unwrap();
    assert_eq!(record.state, JobState::InProgress);
    assert_eq!(record.attempts[1].instance_type, "ml.g4dn.xlarge");
    assert_eq!(record.attempts[0].status.as_deref(), Some("Stopped"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_whose_rung_has_no_quota_moves_down_the_ladder_at_once() {
    let w = World::new().await;
    let id = w.launch(&fresh(sample_request())).await;
    // The fallback rung has no quota at all (trainq's configured limit says 10).
    w.set_faults(json!({"quotas": {"ml.g4dn.xlarge": 0}})).await;
    w.finish_job(
        &job_name(id, 1),
        json!({"status": "Stopped", "secondary_status": "MaxWaitTimeExceeded"}),
    )
    .await;
    w.drain_events().await;

    // The retry is refused once on g4dn spot, which is then held at 0, and launched on the
    // ladder's next rung (on demand) by the wake-up the refusal sent.
    w.drain(&w.dispatcher()).await;
    let record = w.record(id).await.unwrap();
    assert_eq!(record.state, JobState::InProgress);
    assert_eq!(record.attempts.len(), 2);
    let retry = &record.attempts[1];
    assert_eq!(
        (retry.instance_type.as_str(), retry.spot),
        ("ml.g5.xlarge", false)
    );
    assert!(retry.job_arn.is_some());
    let stats = w.stats().await;
    assert_eq!(
        (
            stats["quota_refused"].clone(),
            stats["jobs_created"].clone()
        ),
        (json!(1), json!(2))
    );
}
