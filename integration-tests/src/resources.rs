//! A test's resources in the shared moto, created with the SDK as the CloudFormation
//! template defines them (until the tests deploy the template itself, issue #6): jobs table
//! with its indexes, requests queue with DLQ, alerts bus with an observer queue, and the rule
//! plus queue that feed the watcher.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::json;
use trainq_infra::dynamo::index;

/// Names of one test's resources.
#[derive(Debug, Clone)]
pub struct Names {
    /// Jobs table.
    pub table: String,
    /// Capacity ledger table.
    pub capacity_table: String,
    /// Requests queue URL.
    pub queue_url: String,
    /// Requests queue ARN.
    pub queue_arn: String,
    /// Dead-letter queue URL.
    pub dlq_url: String,
    /// Alerts bus name.
    pub alerts_bus: String,
    /// Queue that receives every alert (via an EventBridge rule), for assertions.
    pub alerts_queue_url: String,
    /// The watcher's queue: target of the rule on SageMaker training job state changes.
    pub events_queue_url: String,
    /// Its ARN.
    pub events_queue_arn: String,
    /// The rule (on the default bus) that routes state changes to it.
    pub events_rule: String,
    /// This test's model package group prefixes (production, research): unique per test,
    /// so package counts are the test's own in the shared moto.
    pub group_prefixes: (String, String),
}

/// Creates one test's resources; `suffix` makes their names unique.
pub async fn create(
    sqs: &aws_sdk_sqs::Client,
    dynamodb: &aws_sdk_dynamodb::Client,
    eventbridge: &aws_sdk_eventbridge::Client,
    suffix: &str,
) -> Names {
    let table = format!("trainq-jobs-{suffix}");
    create_jobs_table(dynamodb, &table).await;
    let capacity_table = format!("trainq-capacity-{suffix}");
    create_capacity_table(dynamodb, &capacity_table).await;

    let dlq_url = create_queue(sqs, &format!("trainq-dlq-{suffix}"), HashMap::new()).await;
    let dlq_arn = queue_arn(sqs, &dlq_url).await;
    let redrive = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "10"}).to_string();
    let queue_url = create_queue(
        sqs,
        &format!("trainq-requests-{suffix}"),
        HashMap::from([
            (QueueAttributeName::RedrivePolicy, redrive),
            (QueueAttributeName::VisibilityTimeout, "2".into()),
        ]),
    )
    .await;
    let requests_arn = queue_arn(sqs, &queue_url).await;

    let alerts_bus = format!("trainq-alerts-{suffix}");
    eventbridge
        .create_event_bus()
        .name(&alerts_bus)
        .send()
        .await
        .expect("CreateEventBus");
    let alerts_queue_url = create_queue(
        sqs,
        &format!("trainq-alert-observer-{suffix}"),
        HashMap::new(),
    )
    .await;
    let alerts_queue_arn = queue_arn(sqs, &alerts_queue_url).await;
    eventbridge
        .put_rule()
        .name("all-alerts")
        .event_bus_name(&alerts_bus)
        .event_pattern(json!({"source": ["trainq"]}).to_string())
        .send()
        .await
        .expect("PutRule");
    eventbridge
        .put_targets()
        .rule("all-alerts")
        .event_bus_name(&alerts_bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("observer")
                .arn(alerts_queue_arn)
                .build()
                .expect("target"),
        )
        .send()
        .await
        .expect("PutTargets");
    // SageMaker (the local endpoint) publishes to the default bus; the rule is the template's.
    // A short visibility timeout: an event batch whose invocation died comes back quickly.
    let events_queue_url = create_queue(
        sqs,
        &format!("trainq-job-events-{suffix}"),
        HashMap::from([(QueueAttributeName::VisibilityTimeout, "3".into())]),
    )
    .await;
    let events_queue_arn = queue_arn(sqs, &events_queue_url).await;
    let rule = format!("trainq-job-events-{suffix}");
    let pattern = json!({
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Training Job State Change"],
        "detail": {"TrainingJobName": [{"prefix": "tq-"}]}
    });
    eventbridge
        .put_rule()
        .name(&rule)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .expect("PutRule");
    eventbridge
        .put_targets()
        .rule(&rule)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("watcher")
                .arn(&events_queue_arn)
                .build()
                .expect("target"),
        )
        .send()
        .await
        .expect("PutTargets");
    Names {
        table,
        capacity_table,
        queue_url,
        queue_arn: requests_arn,
        dlq_url,
        alerts_bus,
        alerts_queue_url,
        events_queue_url,
        events_queue_arn,
        events_rule: rule,
        group_prefixes: (format!("p{suffix}"), format!("r{suffix}")),
    }
}

async fn create_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    attributes: HashMap<QueueAttributeName, String>,
) -> String {
    sqs.create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes))
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .expect("queue url")
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("GetQueueAttributes")
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("queue arn")
}

fn attr(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .expect("attr")
}

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .expect("key")
}

/// The capacity ledger's table as the template defines it: key `id`.
async fn create_capacity_table(dynamodb: &aws_sdk_dynamodb::Client, table: &str) {
    dynamodb
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("id"))
        .key_schema(key("id", KeyType::Hash))
        .send()
        .await
        .expect("CreateTable");
}

/// The jobs table as the template defines it: key `request_id`, six indexes.
async fn create_jobs_table(dynamodb: &aws_sdk_dynamodb::Client, table: &str) {
    let gsi = |name: &str, hash: &str, range: &str, projection: Projection| {
        GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key(hash, KeyType::Hash))
            .key_schema(key(range, KeyType::Range))
            .projection(projection)
            .build()
            .expect("gsi")
    };
    let keys = || {
        Projection::builder()
            .projection_type(ProjectionType::KeysOnly)
            .build()
    };
    let include = |attrs: &[&str]| {
        Projection::builder()
            .projection_type(ProjectionType::Include)
            .set_non_key_attributes(Some(attrs.iter().map(|a| a.to_string()).collect()))
            .build()
    };
    dynamodb
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(
            [
                "request_id",
                "state_shard",
                "created_shard",
                "updated_at",
                "customer_project",
                "created_at",
                "experiment_id",
                "queue_class",
                "queue_order",
                "alerts_pending",
            ]
            .map(attr)
            .to_vec(),
        ))
        .key_schema(key("request_id", KeyType::Hash))
        .global_secondary_indexes(gsi(
            index::BY_STATE,
            "state_shard",
            "updated_at",
            include(&["defer_count", "customer", "project", "registry"]),
        ))
        .global_secondary_indexes(gsi(
            index::BY_CREATED,
            "created_shard",
            "created_at",
            include(&["customer", "project", "registry", "billing"]),
        ))
        .global_secondary_indexes(gsi(
            index::BY_PROJECT,
            "customer_project",
            "created_at",
            keys(),
        ))
        .global_secondary_indexes(gsi(
            index::BY_EXPERIMENT,
            "experiment_id",
            "created_at",
            keys(),
        ))
        .global_secondary_indexes(gsi(
            index::WAITING_ROOM,
            "queue_class",
            "queue_order",
            include(&["waiting"]),
        ))
        .global_secondary_indexes(gsi(
            index::PENDING_ALERTS,
            "alerts_pending",
            "updated_at",
            keys(),
        ))
        .send()
        .await
        .expect("CreateTable");
}
