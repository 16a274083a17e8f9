//! The reconcile reaches every stranded record within a bounded number of runs, however many
//! healthy long-running records are older than it: 1,001 healthy jobs and one lost completion.
//! (Its own test binary: the 1,001 jobs' events go to moto's one default bus, which every
//! world's rule reads.)

use futures::stream::{self, StreamExt};
use serde_json::json;
use trainq_common::event::JobStateChange;
use trainq_common::naming::job_name;
use trainq_common::ports::{JobStore, TrainingService};
use trainq_common::state::JobState;
use trainq_common::testing::{request_id_of, sample_request};
use trainq_common::time_util::to_rfc3339;
use trainq_common::tracking::apply;
use trainq_common::{Attempt, JobRecord};
use trainq_infra::SageMakerTraining;
use trainq_infra::table_layout::{SHARDS, shard_of};
use trainq_integration_tests::events::fresh;
use trainq_integration_tests::training_jobs::minimal_job;
use trainq_integration_tests::world::World;
use uuid::Uuid;

const HEALTHY: usize = 1_001;

fn ago(minutes: i64) -> String {
    to_rfc3339(time::OffsetDateTime::now_utc() - time::Duration::minutes(minutes))
}

/// A running job and its record, up to date with what SageMaker says, last written an hour ago.
async fn healthy(w: &World, training: &SageMakerTraining, request: &serde_json::Value) {
    let id = Uuid::new_v4();
    let name = job_name(id, 1);
    minimal_job(&w.sagemaker, &name, false, None)
        .send()
        .await
        .expect("CreateTrainingJob");
    let truth: JobStateChange = training.describe_training_job(&name).await.unwrap();
    let request = trainq_common::request::parse(&request.to_string()).unwrap();
    let mut r = JobRecord::new(id, JobState::InProgress).with_request(request);
    r.attempts
        .push(Attempt::planned(id, 1, "ml.m5.large", false));
    apply(&mut r, &truth, 1);
    r.updated_at = ago(60);
    w.store().put_new(&r).await.expect("PutItem");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_completion_behind_1001_healthy_jobs_is_healed_within_two_runs() {
    let w = World::new().await;
    let training = SageMakerTraining::new(w.sagemaker.clone());
    let request = sample_request();
    stream::iter(0..HEALTHY)
        .for_each_concurrent(8, |_| healthy(&w, &training, &request))
        .await;

    // A newer request whose completion event was lost, in the state index's last shard: a
    // run walks the shards in order, each oldest first, so it comes after the first thousand.
    let body = loop {
        let body = fresh(sample_request());
        if shard_of(request_id_of(&body)) == SHARDS - 1 {
            break body;
        }
    };
    let lost = w.launch(&body).await;
    let job = job_name(lost, 1);
    w.finish_job(
        &job,
        json!({"status": "Completed", "metrics": {"validation:accuracy": 0.99}}),
    )
    .await;
    w.take_events(&job).await;
    let store = w.store();
    let mut r = store.get(lost).await.unwrap().unwrap();
    r.updated_at = ago(30);
    let expected = r.next_version();
    store.put_if_version(&r, expected).await.unwrap();
    w.retire_job_events().await;

    // The reconcile looks at records untouched for 10 minutes, at most 1,000 per state and run.
    let watcher = w.watcher_with(w.watcher_config(&[
        ("TRAINQ_RECONCILE_AFTER_S", "600"),
        ("TRAINQ_RECONCILE_MAX", "1000"),
    ]));
    let first = watcher.reconcile().await;
    assert_eq!(first.checked, 1000, "{first:?}");
    assert_eq!(
        store.get(lost).await.unwrap().unwrap().state,
        JobState::InProgress,
        "the first thousand come first"
    );
    let second = watcher.reconcile().await;
    assert!(second.healed >= 1, "{second:?}");
    let record = store.get(lost).await.unwrap().unwrap();
    assert_eq!(record.state, JobState::Registered, "{:?}", record.reason);
}
