//! Reads at ten million records: every listing `trainq` makes reads an index a bounded page at
//! a time, so what `jobs list`, `status` and `costs` read does not grow with the table. Shown
//! over the wire: the front door counts each caller's DynamoDB reads from moto's answers, and
//! the same commands read the same number of items before and after the table doubles (the
//! new records finished and older than the window, as most of ten million would be). A
//! listing whose filter the index cannot apply stops at its budget and asks for `--all`.

use std::collections::BTreeMap;
use std::process::Output;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use trainq_common::state::JobState;
use trainq_common::{Attempt, JobRecord, RegistryKind};
use trainq_devstack::sagemaker::DynamoReads;
use trainq_infra::dynamo::to_item;
use trainq_integration_tests::cli_stack::{Stack, stderr, stdout};
use trainq_integration_tests::local_stack::workspace_binary;
use uuid::Uuid;

const TRAINER: &str = env!("CARGO_BIN_EXE_test-defect-trainer");

/// The access key the CLI signs with here: its reads are counted apart from the functions'.
const READER: &str = "AKIASCALEREADER";

/// What each command reads, by command.
type Reads = BTreeMap<&'static str, DynamoReads>;

const COMMANDS: &[(&str, &[&str])] = &[
    ("jobs list", &["jobs", "list", "--limit", "20"]),
    (
        "jobs list --state",
        &["jobs", "list", "--state", "Registered", "--limit", "20"],
    ),
    (
        "jobs list --registry",
        &["jobs", "list", "--registry", "research", "--limit", "20"],
    ),
    (
        "jobs list --customer --project",
        &[
            "jobs",
            "list",
            "--customer",
            "c3",
            "--project",
            "p1",
            "--limit",
            "20",
        ],
    ),
    ("status", &["status"]),
    ("costs", &["costs", "--since", "7d"]),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_read_the_same_bounded_items_when_the_table_doubles() {
    let s = Stack::start(TRAINER, |_| {}).await;
    // 2,000 requests of the last 6 days: 40 running, 20 queued (5 pushed back), the rest
    // registered or failed.
    seed(&s, 0..2_000, 0).await;
    let small = measure(&s).await;
    // 2,000 more, finished, 8 to 38 days old.
    seed(&s, 2_000..4_000, 8).await;
    let large = measure(&s).await;
    let jobs_table = &s.devstack.stack().jobs_table;
    let jobs_items =
        |reads: &DynamoReads| reads.items_by_table.get(jobs_table).copied().unwrap_or(0);

    for (command, _) in COMMANDS {
        let (a, b) = (&small[command], &large[command]);
        println!(
            "{command:32} 2,000 records: {:>5} items {:>7} bytes; 4,000: {:>5} items {:>7} bytes",
            a.items_read, a.bytes_read, b.items_read, b.bytes_read
        );
        assert_eq!(
            b.scans_by_table.get(jobs_table),
            None,
            "{command} scanned the jobs table"
        );
        assert_eq!(
            a.items_by_table.get(jobs_table),
            b.items_by_table.get(jobs_table),
            "{command} reads more of the jobs table when it doubles"
        );
    }
    // Bounded by the page, not the table: 8 shards × 20 entries and the 20 records shown.
    assert!(large["jobs list"].items_read <= 8 * 20 + 20);
    assert!(large["jobs list --state"].items_read <= 8 * 20 + 20);
    assert!(large["jobs list --customer --project"].items_read <= 20 + 20);
    // `status` counts what is in flight (60 index entries, the 20 queued again for those
    // pushed back) and, with no pool in the ledger yet, reads the 40 running (entries and
    // records) for their instances, however many requests finished.
    assert!(
        jobs_items(&large["status"]) <= 80 + 2 * 40,
        "{:?}",
        large["status"]
    );
    // `costs` reads the window's index entries (its 2,000 requests) and no record.
    assert_eq!(large["costs"].items_read, 2_000);
    assert_eq!(large["costs"].batch_gets + large["costs"].gets, 0);

    // The figures are right: the window's requests, and what `status` counts.
    let costs: serde_json::Value = serde_json::from_slice(
        &cli(
            &s,
            &["--json", "costs", "--since", "7d", "--by", "registry"],
        )
        .stdout,
    )
    .unwrap();
    let groups = &costs["groups"];
    let requests = groups["production"]["requests"].as_u64().unwrap()
        + groups["research"]["requests"].as_u64().unwrap();
    assert_eq!(requests, 2_000);
    assert_eq!(groups["research"]["jobs"].as_u64(), Some(500), "{costs}");
    let status: serde_json::Value =
        serde_json::from_slice(&cli(&s, &["--json", "status"]).stdout).unwrap();
    assert_eq!(status["requests_by_state"]["InProgress"], 40, "{status}");
    assert_eq!(status["waiting_room"]["queued"], 20, "{status}");
    assert_eq!(status["waiting_room"]["deferred"], 5, "{status}");

    // A filter matching nothing: the listing stops at its budget and says how to read on,
    // instead of reading the whole index (with --all it does, and finds nothing).
    let before = reads(&s).await;
    let nobody = [
        "jobs",
        "list",
        "--state",
        "Registered",
        "--customer",
        "nobody",
    ];
    let out = cli(&s, &nobody);
    let read = delta(&before, &reads(&s).await);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("--all"), "{}", stdout(&out));
    assert!(read.items_read <= 2_000 + 8 * 50, "{read:?}");
    assert_eq!(
        read.batch_gets, 0,
        "no record fetched that the index could rule out"
    );
    let all = cli(&s, &[&nobody[..], &["--all"]].concat());
    assert!(
        stdout(&all).contains("no requests match"),
        "{}",
        stdout(&all)
    );
    s.devstack.stop().await;
}

/// Writes records `range` straight into the table, created `days_back`…`days_back + 6` (or,
/// from 8 days back, up to 30 more) days ago, as the functions would have written them.
async fn seed(s: &Stack, range: std::ops::Range<u32>, days_back: i64) {
    let now = time::OffsetDateTime::now_utc();
    let records: Vec<JobRecord> = range
        .map(|n| {
            let spread = if days_back == 0 {
                6 * 86_400
            } else {
                30 * 86_400
            };
            let age = time::Duration::days(days_back)
                + time::Duration::seconds(i64::from(n) * 7_919 % spread);
            record(n, days_back == 0, now - age)
        })
        .collect();
    let items = records.iter().map(|r| to_item(r).unwrap()).collect();
    write_items(s, items).await;
}

/// Writes `items` straight into the jobs table.
async fn write_items(s: &Stack, items: Vec<HashMap<String, AttributeValue>>) {
    let stack = s.devstack.stack();
    let sdk = trainq_devstack::stack::sdk_config(&stack.endpoints["default"], &stack.region).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    for chunk in items.chunks(25) {
        let writes = chunk
            .iter()
            .map(|item| {
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(item.clone()))
                            .build()
                            .unwrap(),
                    )
                    .build()
            })
            .collect();
        let out = dynamodb
            .batch_write_item()
            .request_items(&stack.jobs_table, writes)
            .send()
            .await
            .expect("BatchWriteItem");
        assert!(out.unprocessed_items().is_none_or(|u| u.is_empty()));
    }
}

/// Request `n`: customer `c<n % 10>`, project `p<n % 3>`, every fourth research; recent ones
/// include the running and the queued.
fn record(n: u32, recent: bool, created: time::OffsetDateTime) -> JobRecord {
    let state = match n {
        _ if !recent => JobState::Registered,
        0..40 => JobState::InProgress,
        40..60 => JobState::Queued,
        _ if n.is_multiple_of(7) => JobState::Failed,
        _ => JobState::Registered,
    };
    let mut r = JobRecord::new(Uuid::new_v4(), state);
    let (customer, project) = (format!("c{}", n % 10), format!("p{}", n % 3));
    r.customer_project = Some(format!("{customer}#{project}"));
    r.customer = Some(customer);
    r.project = Some(project);
    r.registry = Some(if n.is_multiple_of(4) {
        RegistryKind::Research
    } else {
        RegistryKind::Production
    });
    r.defer_count = u32::from(state == JobState::Queued && n.is_multiple_of(4));
    let created = trainq_common::time_util::to_rfc3339(created);
    r.created_at = created.clone();
    // Running and queued records were just written: the reconcile leaves them alone.
    if !matches!(state, JobState::InProgress | JobState::Queued) {
        r.updated_at = created;
    }
    let mut attempt = Attempt::planned(r.request_id, 1, "ml.g5.xlarge", true);
    attempt.job_arn = Some(format!(
        "arn:aws:sagemaker:eu-west-1:123456789012:training-job/{}",
        attempt.job_name
    ));
    attempt.billable_s = Some(360);
    attempt.training_s = Some(3_600);
    r.attempts.push(attempt);
    r
}

/// Runs each command as the reader and notes what it read.
async fn measure(s: &Stack) -> Reads {
    let mut out = Reads::new();
    for (name, args) in COMMANDS {
        let before = reads(s).await;
        let run = cli(s, args);
        assert!(run.status.success(), "{name}: {}", stderr(&run));
        out.insert(name, delta(&before, &reads(s).await));
    }
    out
}

/// `trainq` signed with [`READER`]'s key.
fn cli(s: &Stack, args: &[&str]) -> Output {
    std::process::Command::new(workspace_binary("trainq"))
        .arg("--config")
        .arg(&s.file)
        .args(args)
        .env_remove("TRAINQ_CONFIG")
        .env("AWS_ACCESS_KEY_ID", READER)
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .output()
        .expect("run trainq")
}

/// The reader's DynamoDB reads so far (`GET /_devstack/stats`).
async fn reads(s: &Stack) -> DynamoReads {
    let url = &s.devstack.stack().devstack.as_ref().unwrap().sagemaker_url;
    let stats: trainq_devstack::sagemaker::Stats = reqwest::get(format!("{url}/_devstack/stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    stats
        .dynamodb_reads
        .get(READER)
        .cloned()
        .unwrap_or_default()
}

/// What was read between two counts.
fn delta(before: &DynamoReads, after: &DynamoReads) -> DynamoReads {
    DynamoReads {
        scans: after.scans - before.scans,
        scans_by_table: after
            .scans_by_table
            .iter()
            .map(|(t, n)| (t.clone(), n - before.scans_by_table.get(t).unwrap_or(&0)))
            .filter(|(_, n)| *n > 0)
            .collect(),
        queries: after.queries - before.queries,
        gets: after.gets - before.gets,
        batch_gets: after.batch_gets - before.batch_gets,
        items_read: after.items_read - before.items_read,
        items_by_table: after
            .items_by_table
            .iter()
            .map(|(t, n)| (t.clone(), n - before.items_by_table.get(t).unwrap_or(&0)))
            .filter(|(_, n)| *n > 0)
            .collect(),
        bytes_read: after.bytes_read - before.bytes_read,
    }
}
