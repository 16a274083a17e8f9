//! A property over the wire: any request trainq accepts produces calls — CreateTrainingJob on
//! every rung of its ladder, the record's PutItem, CreateModelPackage (and its group), the
//! alerts' PutEvents — that AWS's contract accepts. The calls go through the real adapters and
//! the real SDK to a front door that checks each against botocore's service models.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::{Map, Value, json};
use trainq_common::alert::{Alert, AlertKind};
use trainq_common::ports::{AlertSink, JobStore, ModelRegistry, TrainingService};
use trainq_common::registration::{ChampionLookup, Evidence, package_spec};
use trainq_common::request::{parse, validate};
use trainq_common::state::JobState;
use trainq_common::testing::{sample_registries, sample_request, sample_research_request};
use trainq_common::{Attempt, JobRecord};
use trainq_infra::{EventBridgeAlerts, SageMakerModelRegistry, SageMakerTraining};
use trainq_integration_tests::world::World;
use uuid::Uuid;

/// Text mostly of printable characters from all of Unicode (astral ones included), now and
/// then any scalar value at all or a line terminator, which trainq may refuse.
fn any_text(max: usize) -> impl Strategy<Value = String> {
    let printable = any::<char>().prop_filter("printable", |c| {
        !c.is_control() && !matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}')
    });
    let char = prop_oneof![100_000 => printable, 1 => any::<char>(), 1 => Just('\r')];
    prop::collection::vec(char, 1..=max).prop_map(|c| c.into_iter().collect())
}

/// Requests near and at trainq's limits, in either registry; most are valid, and the property
/// is about those trainq accepts.
fn request() -> impl Strategy<Value = Value> {
    let channels = prop::collection::btree_map("[A-Za-z0-9._-]{1,64}", any_text(300), 1..=20);
    // Keys of up to 128 characters are up to 256 UTF-16 units (an astral character is two).
    let hyperparameters = prop::collection::btree_map(any_text(128), any_text(300), 0..=30);
    let experiment = prop::option::of((
        "[A-Za-z0-9._:=-]{1,64}",
        prop::option::of("[A-Za-z0-9._:= ,/-]{1,128}"),
    ));
    let resources = (
        prop::sample::select(vec!["ml.g5.xlarge", "ml.m5.large", "ml.p3.2xlarge"]),
        1_u32..=20,
        1_u32..=16_384,
        any::<bool>(),
        60_u32..=2_419_200,
        prop::collection::vec(
            prop::sample::select(vec!["ml.g4dn.xlarge", "ml.m5.xlarge", "ml.m6i.large"]),
            0..=3,
        ),
    );
    (
        any::<bool>(),
        (
            "[a-z][a-z0-9]{0,31}",
            "[a-z][a-z0-9]{0,31}",
            "[A-Za-z0-9._:=-]{1,128}",
        ),
        channels,
        hyperparameters,
        experiment,
        resources,
    )
        .prop_map(
            |(research, (customer, project, version), channels, hp, experiment, res)| {
                let mut body = if research {
                    sample_research_request()
                } else {
                    sample_request()
                };
                let bucket = if research {
                    "research-data"
                } else {
                    "prod-data"
                };
                body["request_id"] = json!(Uuid::new_v4());
                body["customer"] = json!(&customer);
                body["project"] = json!(project);
                body["dataset"]["version"] = json!(version);
                body["dataset"]["channels"] = Value::Object(
                    channels
                        .into_iter()
                        .map(|(k, v)| (k, json!(format!("s3://{bucket}/{customer}/{v}"))))
                        .collect(),
                );
                body["hyperparameters"] = Value::Object(
                    hp.into_iter()
                        .map(|(k, v)| (k, json!(v)))
                        .collect::<Map<_, _>>(),
                );
                if let Some((id, trial)) = experiment {
                    body["experiment"] = json!({"id": id, "trial": trial});
                }
                let (instance_type, count, volume, spot, runtime, mut fallbacks) = res;
                fallbacks.dedup();
                body["resources"] = json!({
                    "instance_type": instance_type, "instance_count": count, "volume_gb": volume,
                    "max_runtime_s": runtime, "spot": spot, "fallback_instance_types": fallbacks,
                });
                body
            },
        )
}

/// One world for every case (its front door counts every call), and a runtime to drive it.
fn world() -> &'static (tokio::runtime::Runtime, World) {
    static WORLD: OnceLock<(tokio::runtime::Runtime, World)> = OnceLock::new();
    WORLD.get_or_init(|| {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let w = rt.block_on(World::new());
        (rt, w)
    })
}

/// The calls trainq makes for an accepted request, all of which must pass the contract.
/// `Ok(false)` when trainq refused the request itself (no AWS call at all).
async fn calls_for(w: &World, body: &Value, accuracy: f64) -> Result<bool, String> {
    let registries = sample_registries();
    let valid = match parse(&body.to_string()).and_then(|r| validate(r, &registries, Uuid::nil())) {
        Ok(valid) => valid,
        Err(e) => {
            eprintln!("refused by trainq: {e}");
            return Ok(false);
        }
    };
    let registry = registries.get(valid.request.registry);
    let training = SageMakerTraining::new(w.sagemaker.clone());
    let rungs = trainq_common::ladder::rungs(&valid.request);
    for (i, rung) in rungs.iter().enumerate() {
        let spec = trainq_common::launch::plan(&valid, registry, i as u32 + 1, rung);
        training
            .create_training_job(&spec)
            .await
            .map_err(|e| format!("CreateTrainingJob: {e}"))?;
    }
    let mut record =
        JobRecord::new(valid.request_id, JobState::Completed).with_request(valid.request.clone());
    let mut attempt = Attempt::planned(valid.request_id, 1, &rungs[0].instance_type, rungs[0].spot);
    attempt.status = Some("Completed".into());
    attempt.model_artifact = Some(format!(
        "{}/{}/output/model.tar.gz",
        registry.output_s3_uri, attempt.job_name
    ));
    attempt.final_metrics = [
        ("validation:accuracy".to_owned(), accuracy),
        ("f1".to_owned(), accuracy),
    ]
    .into();
    record.attempts = vec![attempt];
    w.store()
        .put_new(&record)
        .await
        .map_err(|e| format!("PutItem: {e}"))?;
    let models = SageMakerModelRegistry::new(
        w.sagemaker.clone(),
        trainq_infra::artifacts::s3_client(&w.sdk),
    );
    let request = record.request.as_ref().ok_or("no request")?;
    let champion = models
        .champion(&ChampionLookup::of(
            request,
            registry,
            &record.attempts[0].job_name,
        ))
        .await
        .map_err(|e| format!("ListModelPackages/DescribeModelPackage: {e}"))?;
    let artifact = record.attempts[0]
        .model_artifact
        .clone()
        .unwrap_or_default();
    models
        .read_manifest(&artifact)
        .await
        .map_err(|e| format!("GetObject: {e}"))?;
    let evidence = Evidence {
        champion,
        ..Evidence::default()
    };
    let (spec, decision) = package_spec(&record, registry, &evidence).map_err(|e| e.to_string())?;
    models
        .ensure_group(&spec)
        .await
        .map_err(|e| format!("CreateModelPackageGroup: {e}"))?;
    models
        .create_package(&spec)
        .await
        .map_err(|e| format!("CreateModelPackage: {e}"))?;
    let alerts = EventBridgeAlerts::new(w.eventbridge.clone(), &w.names.alerts_bus);
    let held = decision.held.clone().unwrap_or_else(|| "no gate".into());
    for (kind, reason) in [
        (AlertKind::ModelRegistered, "registered".to_owned()),
        (AlertKind::ModelHeldByGate, held),
    ] {
        alerts
            .send(&Alert::about(kind, &record, reason).with_facts(decision.facts()))
            .await
            .map_err(|e| format!("PutEvents: {e}"))?;
    }
    Ok(true)
}

#[test]
fn any_request_trainq_accepts_makes_only_calls_aws_accepts() {
    const CASES: u32 = 32;
    let (rt, w) = world();
    let accepted = AtomicU32::new(0);
    let accuracy = prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        -1e300_f64..1e300,
        0.0_f64..1.0
    ];
    let mut runner = TestRunner::new(ProptestConfig {
        cases: CASES,
        ..ProptestConfig::default()
    });
    runner
        .run(&(request(), accuracy), |(body, accuracy)| {
            let refused_before = w.endpoint.contract_stats().refused;
            let result = rt.block_on(calls_for(w, &body, accuracy));
            let contract = w.endpoint.contract_stats();
            prop_assert_eq!(contract.refused, refused_before, "{:#?}", contract.recent);
            prop_assert!(result.is_ok(), "{:?}", result);
            if result == Ok(true) {
                accepted.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        })
        .unwrap();
    // The property says nothing if trainq refused (nearly) everything it was given.
    let accepted = accepted.into_inner();
    assert!(
        accepted >= CASES / 2,
        "only {accepted} of {CASES} generated requests were valid"
    );
}

#[test]
fn the_samples_make_calls_in_both_registries() {
    let (rt, w) = world();
    for body in [sample_request(), sample_research_request()] {
        let mut body = body;
        body["request_id"] = json!(Uuid::new_v4());
        assert_eq!(rt.block_on(calls_for(w, &body, 0.97)), Ok(true));
    }
    assert_eq!(w.endpoint.contract_stats().refused, 0);
}
