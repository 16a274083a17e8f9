//! Model registration over the wire: the watcher registers completed models in moto's Model
//! Registry (through the local endpoint's forwarding), exactly once, in the request's own
//! registry, approved or held by its gate.

use serde_json::json;
use trainq_common::RegistryKind;
use trainq_common::approval::Compatibility;
use trainq_common::naming::job_name;
use trainq_common::state::JobState;
use trainq_common::testing::{sample_manifest, sample_request, sample_research_request};
use trainq_integration_tests::events::fresh;
use trainq_integration_tests::world::World;

/// Completes attempt 1 of `id` with `accuracy` and runs the watcher until its queue is empty.
async fn complete(w: &World, id: uuid::Uuid, accuracy: f64) {
    w.finish_job(
        &job_name(id, 1),
        json!({"status": "Completed", "billable_s": 50, "training_s": 100,
        "metrics": {"validation:accuracy": accuracy}}),
    )
    .await;
    w.drain_events().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_delivered_three_times_registers_one_package() {
    let w = World::new().await;
    let id = w.launch(&fresh(sample_request())).await;
    let job = job_name(id, 1);
    w.finish_job(
        &job,
        json!({"status": "Completed", "metrics": {"validation:accuracy": 0.98}}),
    )
    .await;
    let events = w.take_events(&job).await;
    let (started, completed) = (&events[0], &events[1]);
    // Three copies of the completion in one batch (handled concurrently), then three more.
    w.deliver_events(&[started, completed, completed, completed])
        .await;
    w.drain_events().await;
    w.deliver_events(&[completed, completed, completed]).await;
    w.drain_events().await;

    let group = w.sample_group(RegistryKind::Production);
    let packages = w.model_packages(&group).await;
    assert_eq!(packages.len(), 1, "{packages:?}");
    let record = w.record(id).await.unwrap();
    assert_eq!(record.state, JobState::Registered);
    assert_eq!(
        record.model_package_arn.as_deref(),
        packages[0].model_package_arn()
    );
    assert_eq!(record.model_approval.as_deref(), Some("Approved"));
    let package = w
        .describe_package(packages[0].model_package_arn().unwrap())
        .await;
    let container = &package.inference_specification().unwrap().containers()[0];
    assert_eq!(
        container.image(),
        Some("111111111111.dkr.ecr.eu-west-1.amazonaws.com/defect-classifier:1.4.2")
    );
    assert!(
        container
            .model_data_url()
            .unwrap()
            .ends_with(&format!("{job}/output/model.tar.gz"))
    );
    let metadata = package.customer_metadata_properties().unwrap();
    assert_eq!(metadata["trainq:request-id"], id.to_string());
    assert_eq!(metadata["trainq:job-name"], job);
    assert_eq!(metadata["trainq:dataset-version"], "2026-11-20-a");
    assert_eq!(metadata["metric:validation:accuracy"], "0.98");
    let alerts = w.wait_for_alerts("Model Registered", 1).await;
    assert_eq!(alerts[0]["detail"]["job_name"], json!(job));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_whose_names_join_alike_never_share_a_group() {
    // Version 1 put both in `<prefix>-a-b-c`: one customer's models in another's group.
    let w = World::new().await;
    let pairs = [("a-b", "c"), ("a", "b-c")];
    let mut ids = Vec::new();
    for (customer, project) in pairs {
        let mut body = fresh(sample_request());
        body["customer"] = json!(customer);
        body["project"] = json!(project);
        body["dataset"]["channels"] = json!({
            "train": format!("s3://prod-data/{customer}/train/"),
            "validation": format!("s3://prod-data/{customer}/val/")});
        ids.push(w.launch(&body).await);
    }
    for id in &ids {
        complete(&w, *id, 0.98).await;
    }
    let mut groups = Vec::new();
    for ((customer, project), id) in pairs.iter().zip(&ids) {
        let record = w.record(*id).await.unwrap();
        assert_eq!(record.state, JobState::Registered);
        let group = record.model_group.unwrap();
        let packages = w.model_packages(&group).await;
        assert_eq!(packages.len(), 1, "{group}: {packages:?}");
        let package = w
            .describe_package(packages[0].model_package_arn().unwrap())
            .await;
        let metadata = package.customer_metadata_properties().unwrap();
        assert_eq!(
            (
                metadata["trainq:customer"].as_str(),
                metadata["trainq:project"].as_str()
            ),
            (*customer, *project)
        );
        groups.push(group);
    }
    assert_ne!(groups[0], groups[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_below_its_gate_is_registered_pending_with_an_alert() {
    let w = World::new().await;
    let mut body = fresh(sample_request());
    body["approval"] = json!({"metric": "validation:accuracy", "min": 0.95});
    let id = w.launch(&body).await;
    complete(&w, id, 0.91).await;

    let record = w.record(id).await.unwrap();
    assert_eq!(record.state, JobState::Registered);
    assert_eq!(
        record.model_approval.as_deref(),
        Some("PendingManualApproval")
    );
    let package = w
        .describe_package(record.model_package_arn.as_deref().unwrap())
        .await;
    assert_eq!(
        package.model_approval_status().map(|s| s.as_str()),
        Some("PendingManualApproval")
    );
    let alerts = w.wait_for_alerts("Model Held By Gate", 1).await;
    let reason = alerts[0]["detail"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("0.91") && reason.contains("0.95"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_not_the_request_approves_and_compares_with_the_model_in_service() {
    let w = World::new().await;
    let launch = |gate: Option<f64>| {
        let mut body = fresh(sample_request());
        match gate {
            Some(min) => body["approval"] = json!({"metric": "validation:accuracy", "min": min}),
            None => {
                body.as_object_mut().unwrap().remove("approval");
            }
        }
        body
    };
    // A request cannot loosen the policy (accuracy ≥ 0.8).
    let loose = w.launch(&launch(Some(-1e9))).await;
    complete(&w, loose, 0.5).await;
    let record = w.record(loose).await.unwrap();
    assert_eq!(
        record.model_approval.as_deref(),
        Some("PendingManualApproval")
    );
    assert!(record.reason.unwrap().contains("the policy's gate"));

    // The first approved model is the one in service...
    let first = w.launch(&launch(None)).await;
    complete(&w, first, 0.98).await;
    let champion = w.record(first).await.unwrap();
    assert_eq!(champion.model_approval.as_deref(), Some("Approved"));
    let champion_arn = champion.model_package_arn.unwrap();
    // ...a model more than 0.05 worse is held, naming it...
    let worse = w.launch(&launch(None)).await;
    complete(&w, worse, 0.92).await;
    let record = w.record(worse).await.unwrap();
    assert_eq!(
        record.model_approval.as_deref(),
        Some("PendingManualApproval")
    );
    assert!(record.reason.unwrap().contains(&champion_arn));
    let package = w
        .describe_package(record.model_package_arn.as_deref().unwrap())
        .await;
    let metadata = package.customer_metadata_properties().unwrap();
    assert_eq!(metadata["trainq:champion"], champion_arn);
    // ...and one within the margin is approved.
    let close = w.launch(&launch(None)).await;
    complete(&w, close, 0.95).await;
    let record = w.record(close).await.unwrap();
    assert_eq!(
        record.model_approval.as_deref(),
        Some("Approved"),
        "{:?}",
        record.reason
    );
    let held = w.wait_for_alerts("Model Held By Gate", 2).await;
    let facts: Vec<_> = held.iter().map(|a| a["detail"]["facts"].clone()).collect();
    assert!(
        facts
            .iter()
            .any(|f| f["failed_checks"] == "champion" && f["champion"] == json!(champion_arn)),
        "{facts:?}"
    );
    assert!(
        facts
            .iter()
            .any(|f| f["failed_checks"] == "policy" && f["value"] == "0.5"),
        "{facts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_incompatible_or_unmanifested_model_is_approved_automatically() {
    let w = World::new().await;
    let launch = || {
        let mut body = fresh(sample_request());
        body.as_object_mut().unwrap().remove("approval");
        body
    };
    let finish = |manifest: serde_json::Value| json!({"status": "Completed", "metrics": {"validation:accuracy": 0.99}, "manifest": manifest});
    // The model in service, with the sample manifest (read back from its model.tar.gz in S3).
    let first = w.launch(&launch()).await;
    w.finish_job(&job_name(first, 1), finish(sample_manifest()))
        .await;
    w.drain_events().await;
    let champion = w.record(first).await.unwrap();
    assert_eq!(
        champion.model_approval.as_deref(),
        Some("Approved"),
        "{:?}",
        champion.reason
    );
    assert_eq!(champion.compatibility, Some(Compatibility::FirstModel));
    let champion_arn = champion.model_package_arn.unwrap();

    // A bigger input image breaks the service: held, with a Model Incompatible alert.
    let mut bigger = sample_manifest();
    bigger["inputs"][0]["shape"] = json!([64, 64, 1]);
    let broken = w.launch(&launch()).await;
    w.finish_job(&job_name(broken, 1), finish(bigger)).await;
    w.drain_events().await;
    let record = w.record(broken).await.unwrap();
    assert_eq!(
        record.model_approval.as_deref(),
        Some("PendingManualApproval")
    );
    let Some(Compatibility::Incompatible {
        champion,
        differences,
    }) = &record.compatibility
    else {
        panic!("{:?}", record.compatibility)
    };
    assert_eq!(champion, &champion_arn);
    assert_eq!(differences[0].field, "inputs");
    let alert = w.wait_for_alerts("Model Incompatible", 1).await;
    assert_eq!(alert[0]["detail"]["facts"]["incompatible_fields"], "inputs");
    let package = w
        .describe_package(record.model_package_arn.as_deref().unwrap())
        .await;
    let metadata = package.customer_metadata_properties().unwrap();
    assert_eq!(metadata["trainq:compatibility"], "incompatible: inputs");
    assert_eq!(
        Some(&metadata["trainq:manifest-digest"]),
        record.manifest_digest.as_ref()
    );

    // No manifest in production: held too. A compatible one: approved.
    let bare = w.launch(&launch()).await;
    w.finish_job(&job_name(bare, 1), finish(serde_json::Value::Null))
        .await;
    let same = w.launch(&launch()).await;
    w.finish_job(&job_name(same, 1), finish(sample_manifest()))
        .await;
    w.drain_events().await;
    let record = w.record(bare).await.unwrap();
    assert_eq!(
        record.model_approval.as_deref(),
        Some("PendingManualApproval")
    );
    assert!(
        record
            .reason
            .unwrap()
            .starts_with("no usable model manifest")
    );
    let record = w.record(same).await.unwrap();
    assert_eq!(
        record.model_approval.as_deref(),
        Some("Approved"),
        "{:?}",
        record.reason
    );
    assert_eq!(
        record.compatibility,
        Some(Compatibility::Compatible {
            champion: champion_arn
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn research_models_register_only_into_research_groups() {
    let w = World::new().await;
    let research = w.launch(&fresh(sample_research_request())).await;
    let production = w.launch(&fresh(sample_request())).await;
    complete(&w, research, 0.9).await;
    complete(&w, production, 0.99).await;

    let research_group = w.sample_group(RegistryKind::Research);
    let production_group = w.sample_group(RegistryKind::Production);
    let in_research = w.model_packages(&research_group).await;
    let in_production = w.model_packages(&production_group).await;
    assert_eq!((in_research.len(), in_production.len()), (1, 1));
    let research_record = w.record(research).await.unwrap();
    assert_eq!(
        research_record.model_package_arn.as_deref(),
        in_research[0].model_package_arn()
    );
    assert_eq!(
        research_record.model_group.as_deref(),
        Some(research_group.as_str())
    );
    let package = w
        .describe_package(in_research[0].model_package_arn().unwrap())
        .await;
    let image = package.inference_specification().unwrap().containers()[0].image();
    assert!(
        image.unwrap().starts_with("222222222222.dkr.ecr."),
        "the research registry's image: {image:?}"
    );
    assert_eq!(
        package.customer_metadata_properties().unwrap()["trainq:registry"],
        "research"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_left_by_a_crashed_watcher_is_found_not_doubled() {
    use trainq_common::ports::{JobStore, Write};

    let w = World::new().await;
    let id = w.launch(&fresh(sample_request())).await;
    let job = job_name(id, 1);
    w.finish_job(&job, json!({"status": "Completed"})).await;
    let events = w.take_events(&job).await;
    w.deliver_events(&[&events[1]]).await;
    w.drain_events().await;
    let registered = w.record(id).await.unwrap();
    let arn = registered.model_package_arn.clone().unwrap();

    // Rewind the record to "completed, package created, watcher died before recording it".
    let mut rewound = registered.clone();
    rewound.state = JobState::Completed;
    rewound.model_package_arn = None;
    rewound.lease_until = Some(0);
    let expected = rewound.next_version();
    assert_eq!(
        w.store().put_if_version(&rewound, expected).await,
        Ok(Write::Written)
    );

    w.deliver_events(&[&events[1]]).await;
    w.drain_events().await;
    let record = w.record(id).await.unwrap();
    assert_eq!(record.state, JobState::Registered);
    assert_eq!(record.model_package_arn, Some(arn));
    let group = w.sample_group(RegistryKind::Production);
    assert_eq!(w.model_packages(&group).await.len(), 1);
}
