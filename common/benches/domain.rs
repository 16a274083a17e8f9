//! Micro-benchmarks of the domain's hot paths (`make bench` reports them): a request parsed
//! and validated, a state-change event parsed, an event applied to a record, and the state
//! machine's transition table.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use serde_json::json;
use trainq_common::event::parse_event;
use trainq_common::record::Attempt;
use trainq_common::request::{parse, validate};
use trainq_common::state::JobState;
use trainq_common::testing::{sample_registries, sample_request};
use trainq_common::{JobRecord, tracking};
use uuid::Uuid;

fn event(status: &str, at_ms: i64) -> serde_json::Value {
    json!({
        "version": "0", "id": "e1", "detail-type": "SageMaker Training Job State Change",
        "source": "aws.sagemaker", "account": "123456789012", "time": "2026-11-23T12:00:00Z",
        "region": "eu-west-1", "resources": [],
        "detail": {
            "TrainingJobName": "tq-5b0c0f4e6a774c2a9d550a6f3c1b2e10-1",
            "TrainingJobArn": "arn:aws:sagemaker:eu-west-1:123456789012:training-job/tq-5b0c0f4e6a774c2a9d550a6f3c1b2e10-1",
            "TrainingJobStatus": status, "SecondaryStatus": "Training",
            "LastModifiedTime": at_ms,
            "SecondaryStatusTransitions": [{"Status": "Starting", "StartTime": at_ms - 60_000},
                                           {"Status": "Training", "StartTime": at_ms}],
            "FinalMetricDataList": [{"MetricName": "validation:accuracy", "Value": 0.97}],
            "BillableTimeInSeconds": 30, "TrainingTimeInSeconds": 100,
            "Tags": [{"Key": "trainq:registry", "Value": "production"},
                     {"Key": "trainq:request-id", "Value": "5b0c0f4e-6a77-4c2a-9d55-0a6f3c1b2e10"}]
        }
    })
}

fn request(c: &mut Criterion) {
    let body = sample_request().to_string();
    let registries = sample_registries();
    c.bench_function("request: parse + validate", |b| {
        b.iter(|| {
            let request = parse(black_box(&body)).expect("valid sample");
            validate(request, &registries, Uuid::nil()).expect("valid sample")
        });
    });
}

fn events(c: &mut Criterion) {
    let body = event("InProgress", 1_795_514_400_000).to_string();
    c.bench_function("event: parse (from the SQS body)", |b| {
        b.iter(|| {
            let value: serde_json::Value = serde_json::from_str(black_box(&body)).expect("JSON");
            parse_event(&value).expect("valid sample")
        });
    });
}

fn transitions(c: &mut Criterion) {
    let id = Uuid::new_v4();
    let mut record = JobRecord::new(id, JobState::InProgress);
    record
        .attempts
        .push(Attempt::planned(id, 1, "ml.g5.xlarge", true));
    let progress = parse_event(&event("InProgress", 1_795_514_400_000)).expect("valid");
    let completed = parse_event(&event("Completed", 1_795_514_460_000)).expect("valid");
    c.bench_function("state: apply InProgress then Completed to a record", |b| {
        b.iter_batched(
            || record.clone(),
            |mut r| {
                tracking::apply(&mut r, &progress, 1);
                tracking::apply(&mut r, &completed, 1)
            },
            BatchSize::SmallInput,
        );
    });
    c.bench_function("state: the transition table, all 169 pairs", |b| {
        b.iter(|| {
            JobState::ALL
                .iter()
                .flat_map(|from| JobState::ALL.iter().map(move |to| (*from, *to)))
                .filter(|(from, to)| black_box(*from).can_become(*to))
                .count()
        });
    });
}

criterion_group!(benches, request, events, transitions);
criterion_main!(benches);
