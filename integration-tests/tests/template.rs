//! The CloudFormation template, deployed into moto as it goes to AWS (Target=aws: functions,
//! event source mappings, roles, alarms) and as the devstack deploys it (Target=local): the
//! resources it creates are the ones the code expects.

use aws_sdk_sqs::types::QueueAttributeName as Q;
use serde_json::Value;
use trainq_common::config::Env;
use trainq_dispatcher::DispatcherConfig;
use trainq_infra::dynamo::index;
use trainq_integration_tests::local_stack::workspace;
use trainq_integration_tests::stacks::{
    aws_parameters, deploy_for_aws, deploy_local, fresh_prefix, function, function_env,
    local_parameters, template,
};
use trainq_integration_tests::world::World;
use trainq_watcher::WatcherConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_template_gives_the_functions_what_their_code_expects() {
    let w = World::new().await;
    let prefix = fresh_prefix();
    let outputs = deploy_for_aws(&w, &prefix).await;

    // Both functions exist, and their environment is a valid configuration for their code.
    for name in ["dispatcher", "watcher"] {
        let f = function(&w, &format!("{prefix}-{name}")).await;
        assert_eq!(f.runtime().map(|r| r.as_str()), Some("provided.al2023"));
        assert_eq!(f.handler(), Some("bootstrap"));
        let env = function_env(&w, &format!("{prefix}-{name}")).await;
        let vars = Env::from_fn(|k| env.get(k).cloned());
        let registries = match name {
            "dispatcher" => DispatcherConfig::from_env(&vars).map(|c| c.registries),
            _ => WatcherConfig::from_env(&vars).map(|c| c.registries),
        }
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            env["TRAINQ_REQUESTS_QUEUE_URL"],
            outputs["RequestsQueueUrl"]
        );
        assert_eq!(
            registries.production.output_s3_uri,
            "s3://acme-prod-models/output"
        );
        assert!(
            registries
                .research
                .execution_role_arn
                .ends_with(&format!("role/{prefix}-research-training"))
        );
        assert_eq!(registries.production.allowed_buckets.len(), 2);
        // Who may send, and where data lives, reach both functions from the parameters.
        assert_eq!(
            registries.production.trust.senders.patterns(),
            ["AROAPRODUCTIONBACKEND:*", "AIDAONCALLENGINEER"]
        );
        assert_eq!(
            registries
                .research
                .trust
                .data
                .as_ref()
                .map(|d| d.template()),
            Some("{customer}/"),
            "the template's default data prefix"
        );
        if name == "dispatcher" {
            assert_eq!(
                env["TRAINQ_LAUNCH_LEASE_S"], "180",
                "the lease is the visibility timeout"
            );
        }
    }

    // The event source mappings: batches of 10 with partial batch responses, on the right queues.
    let lambda = aws_sdk_lambda::Client::new(&w.sdk);
    let mappings = lambda.list_event_source_mappings().send().await.unwrap();
    let ours: Vec<_> = mappings
        .event_source_mappings()
        .iter()
        .filter(|m| m.function_arn().is_some_and(|a| a.contains(&prefix)))
        .collect();
    assert_eq!(ours.len(), 2);
    for m in &ours {
        assert_eq!(m.batch_size(), Some(10));
        assert_eq!(
            m.function_response_types()
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>(),
            ["ReportBatchItemFailures"]
        );
        let source = m.event_source_arn().unwrap();
        let expected = if m.function_arn().unwrap().ends_with("dispatcher") {
            &outputs["RequestsQueueArn"]
        } else {
            &outputs["JobEventsQueueArn"]
        };
        assert_eq!(source, expected);
    }

    // The requests queue: visibility ≥ 6 × the dispatcher's timeout, dead-lettered after 20.
    let attrs = w
        .sqs
        .get_queue_attributes()
        .queue_url(&outputs["RequestsQueueUrl"])
        .attribute_names(Q::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    // Derived from the function's timeout, not a parameter of its own; so is the lease.
    assert_eq!(attrs[&Q::VisibilityTimeout], "180");
    let redrive: Value = serde_json::from_str(&attrs[&Q::RedrivePolicy]).unwrap();
    assert_eq!(
        redrive["maxReceiveCount"].to_string().trim_matches('"'),
        "20"
    );
    assert!(
        redrive["deadLetterTargetArn"]
            .as_str()
            .unwrap()
            .ends_with("-requests-dlq")
    );
    assert_eq!(
        attrs.get(&Q::KmsMasterKeyId).map(String::as_str),
        Some("alias/aws/sqs")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_and_the_event_rule_are_what_the_code_reads() {
    let w = World::new().await;
    let (prefix, outputs) = deploy_local(&w, &template()).await;
    assert!(
        !outputs.contains_key("DispatcherFunctionName"),
        "no functions with Target=local"
    );

    let table = w
        .dynamodb
        .describe_table()
        .table_name(&outputs["JobsTableName"])
        .send()
        .await
        .unwrap();
    let table = table.table().unwrap();
    let key: Vec<_> = table
        .key_schema()
        .iter()
        .map(|k| k.attribute_name().to_owned())
        .collect();
    assert_eq!(key, ["request_id"]);
    // Each index projects only what its queries read: no record is copied whole.
    for g in table.global_secondary_indexes() {
        let projection = g.projection().and_then(|p| p.projection_type());
        assert_ne!(
            projection,
            Some(&aws_sdk_dynamodb::types::ProjectionType::All),
            "{:?} projects every attribute",
            g.index_name()
        );
    }
    let mut indexes: Vec<(String, Vec<String>)> = table
        .global_secondary_indexes()
        .iter()
        .map(|g| {
            let keys = g
                .key_schema()
                .iter()
                .map(|k| k.attribute_name().to_owned())
                .collect();
            (g.index_name().unwrap().to_owned(), keys)
        })
        .collect();
    indexes.sort();
    let expected = [
        (index::BY_CREATED, ["created_shard", "created_at"]),
        (index::BY_EXPERIMENT, ["experiment_id", "created_at"]),
        (index::BY_PROJECT, ["customer_project", "created_at"]),
        (index::BY_STATE, ["state_shard", "updated_at"]),
        (index::PENDING_ALERTS, ["alerts_pending", "updated_at"]),
        (index::WAITING_ROOM, ["queue_class", "queue_order"]),
    ];
    let expected: Vec<(String, Vec<String>)> = expected
        .iter()
        .map(|(n, k)| (n.to_string(), k.iter().map(|s| s.to_string()).collect()))
        .collect();
    assert_eq!(indexes, expected);

    let rule = w
        .eventbridge
        .describe_rule()
        .name(format!("{prefix}-job-events"))
        .send()
        .await
        .unwrap();
    let pattern: Value = serde_json::from_str(rule.event_pattern().unwrap()).unwrap();
    assert_eq!(pattern["source"][0], "aws.sagemaker");
    assert_eq!(pattern["detail-type"][0], trainq_common::event::DETAIL_TYPE);
    assert_eq!(
        pattern["detail"]["TrainingJobName"][0]["prefix"],
        trainq_common::naming::JOB_NAME_PREFIX
    );
    let targets = w
        .eventbridge
        .list_targets_by_rule()
        .rule(format!("{prefix}-job-events"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        targets.targets()[0].arn(),
        outputs["JobEventsQueueArn"].as_str()
    );
    // An event the rule cannot deliver is kept on a queue of its own (alarmed in AWS).
    let dead_letter = targets.targets()[0]
        .dead_letter_config()
        .and_then(|d| d.arn())
        .expect("the job-events target has a dead-letter queue");
    assert!(
        dead_letter.ends_with(&format!("{prefix}-job-events-undelivered")),
        "{dead_letter}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deploy_script_deploys_and_writes_a_stack_file_trainq_can_use() {
    let w = World::new().await;
    let prefix = fresh_prefix();
    let artifacts = format!("{prefix}-artifacts");
    w.ensure_bucket(&artifacts).await;
    let dir = std::env::temp_dir().join(format!("trainq-deploy-{prefix}"));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["trainq-dispatcher", "trainq-watcher"] {
        std::fs::write(
            dir.join(format!("{f}.zip")),
            format!("placeholder zip of {f}"),
        )
        .unwrap();
    }
    let mut lines: Vec<String> = aws_parameters(&prefix, &artifacts)
        .into_iter()
        .filter(|(k, _)| !matches!(k.as_str(), "Target" | "ArtifactBucket"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    lines.insert(0, "# parameters of a test deployment".into());
    std::fs::write(dir.join("params.txt"), lines.join("\n")).unwrap();
    let stack_file = dir.join("stack.json");
    assert!(
        workspace().join(".venv-tools/bin/aws").exists(),
        "run `make tools` first (`make test` does)"
    );
    let out = std::process::Command::new(workspace().join("infra/deploy/deploy.sh"))
        .env("STACK", &prefix)
        .env("ARTIFACT_BUCKET", &artifacts)
        .env("PARAMETERS", dir.join("params.txt"))
        .env("STACK_FILE", &stack_file)
        .env("DIST", &dir)
        // Through the world's front door: the CLI's calls are checked against AWS's contract.
        .env("AWS_ENDPOINT_URL", w.endpoint.url())
        .env(
            "AWS_DEFAULT_REGION",
            trainq_integration_tests::world::REGION,
        )
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The zips went up under content-addressed keys.
    let keys = w
        .s3()
        .list_objects_v2()
        .bucket(&artifacts)
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = keys.contents().iter().filter_map(|o| o.key()).collect();
    // The template (over CloudFormation's inline limit) went up beside them, by the CLI.
    let (templates, zips): (Vec<&str>, Vec<&str>) = keys
        .iter()
        .partition(|k| k.starts_with(&format!("{prefix}/templates/")));
    assert_eq!((zips.len(), templates.len()), (2, 1), "{keys:?}");
    assert!(
        zips.iter()
            .all(|k| k.starts_with("trainq/trainq-") && k.ends_with(".zip") && k.len() > 30)
    );

    // The stack file names the stack's resources and the registries the dispatcher has.
    let stack: trainq_common::stack::StackConfig =
        serde_json::from_slice(&std::fs::read(&stack_file).unwrap()).expect("a stack file");
    let registries = stack
        .load_registries()
        .expect("registries as the functions get them");
    assert_eq!(registries.research.model_package_group_prefix, "research");
    assert_eq!(registries.production.allowed_buckets.len(), 2);
    assert!(stack.jobs_table.starts_with(&prefix));
    assert!(
        stack
            .requests_dlq_url
            .ends_with(&format!("{prefix}-requests-dlq"))
    );
    // `trainq status` shows the pools' limits on a deployed stack too (not "-").
    assert!(
        stack
            .capacity_table
            .as_deref()
            .is_some_and(|t| t.starts_with(&prefix)),
        "{:?}",
        stack.capacity_table
    );
    assert_eq!(
        stack
            .scheduler
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        trainq_common::stack::SCHEDULER_VARIABLES
            .iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_whose_timeouts_break_lambdas_rule_fails_to_deploy_saying_why() {
    // Lambda refuses an event source mapping whose function timeout exceeds its queue's
    // visibility timeout; the template derives the visibility from the timeout, so the only
    // way to break the rule is a timeout outside the allowed values, which CloudFormation
    // refuses (here: the front door, with CloudFormation's check of parameters) before
    // anything is created.
    let w = World::new().await;
    w.allow_contract_refusals();
    let prefix = fresh_prefix();
    let mut params = aws_parameters(&prefix, "unused-artifacts");
    params.insert("DispatcherTimeout".into(), "45".into());
    let e = trainq_devstack::stack::deploy(&w.sdk, &prefix, &template(), &params)
        .await
        .expect_err("a timeout outside the allowed values is refused");
    assert!(
        e.contains("ValidationError")
            && e.contains("Parameter 'DispatcherTimeout' failed to satisfy constraint: must be one of 5, 15, 30, 60"),
        "{e}"
    );
    let stacks = aws_sdk_cloudformation::Client::new(&w.sdk)
        .describe_stacks()
        .stack_name(&prefix)
        .send()
        .await;
    assert!(stacks.is_err(), "nothing was created: {stacks:?}");
    assert_eq!(w.endpoint.contract_stats().refused, 1);
}

#[test]
fn every_alarm_has_a_runbook_section() {
    let runbook = std::fs::read_to_string(workspace().join("docs/runbook.md")).unwrap();
    let headings: Vec<&str> = runbook.lines().filter(|l| l.starts_with("### ")).collect();
    let alarms: Vec<String> = template()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("AlarmName: !Sub \"${StackPrefix}-"))
        .map(|rest| rest.trim_end_matches('"').to_owned())
        .collect();
    assert!(alarms.len() >= 7, "{alarms:?}");
    for alarm in alarms {
        assert!(
            headings.iter().any(|h| h.contains(alarm.as_str())),
            "docs/runbook.md has no section for the alarm `{alarm}`"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_over_the_inline_limit_deploys_through_s3() {
    // The template is near CloudFormation's 51,200-byte `TemplateBody` limit: one that
    // outgrows it goes by `TemplateURL`, as infra/deploy/deploy.sh sends it to AWS.
    let w = World::new().await;
    let prefix = fresh_prefix();
    let mut params = local_parameters(&prefix);
    let padded = format!("{}\n# {}\n", template(), "padding ".repeat(300));
    assert!(padded.len() > trainq_devstack::stack::INLINE_TEMPLATE_LIMIT);
    let outputs = trainq_devstack::stack::deploy(&w.sdk, &prefix, &padded, &params)
        .await
        .unwrap();
    assert!(outputs.contains_key("JobsTableName"), "{outputs:?}");
    // Its parameters are still checked against it, as CloudFormation reads it from S3.
    w.allow_contract_refusals();
    params.insert("DispatcherTimeout".into(), "45".into());
    let other = format!("{prefix}b");
    let e = trainq_devstack::stack::deploy(&w.sdk, &other, &padded, &params)
        .await
        .expect_err("a timeout outside the allowed values is refused");
    assert!(
        e.contains("Parameter 'DispatcherTimeout' failed to satisfy constraint"),
        "{e}"
    );
}
