//! The capacity ledger over the wire (DynamoDB through the front door): concurrent takes never
//! exceed a pool's limit, a retried take changes nothing, releases give back exactly what was
//! held, and the pool's `used` always equals what its holders hold.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use futures::future::join_all;
use trainq_common::ports::{CapacityLedger, Taken};
use trainq_common::scheduling::Pool;
use trainq_infra::DynamoCapacityLedger;
use trainq_integration_tests::world::World;

async fn ledger(w: &World) -> (DynamoCapacityLedger, String) {
    let table = format!("{}-capacity", w.names.table);
    w.dynamodb
        .create_table()
        .table_name(&table)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pool")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pool")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("CreateTable");
    (DynamoCapacityLedger::new(w.dynamodb.clone(), &table), table)
}

/// The pool item's `used`, as stored.
async fn used(w: &World, table: &str, pool: &Pool) -> u32 {
    let item = w
        .dynamodb
        .get_item()
        .table_name(table)
        .key("pool", AttributeValue::S(pool.to_string()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap_or_default();
    item.get("used")
        .and_then(|v| v.as_n().ok())
        .map_or(0, |n| n.parse().unwrap())
}

fn g5_spot() -> Pool {
    Pool {
        instance_type: "ml.g5.xlarge".into(),
        spot: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_takes_never_exceed_the_limit_and_releases_give_back_what_was_held() {
    let w = World::new().await;
    let (ledger, table) = ledger(&w).await;
    let pool = g5_spot();

    // Twenty jobs want one instance each of a pool of five, all at once.
    let takes = join_all((0..20).map(|i| {
        let (ledger, pool) = (&ledger, &pool);
        async move {
            ledger
                .take(pool, &format!("tq-job-{i}"), 1, 5)
                .await
                .unwrap()
        }
    }))
    .await;
    assert_eq!(takes.iter().filter(|t| **t == Taken::Taken).count(), 5);
    assert!(
        takes
            .iter()
            .all(|t| matches!(t, Taken::Taken | Taken::Full { used: 5 })),
        "{takes:?}"
    );
    let holders = ledger.holders(&pool).await.unwrap();
    assert_eq!(holders.values().sum::<u32>(), 5);
    assert_eq!(used(&w, &table, &pool).await, 5);

    // A retried take of a holder changes nothing.
    let holder = holders.keys().next().unwrap().clone();
    assert_eq!(
        ledger.take(&pool, &holder, 1, 5).await.unwrap(),
        Taken::AlreadyHeld
    );
    assert_eq!(used(&w, &table, &pool).await, 5);

    // Two released (one twice: nothing more is given back), then two instances fit again.
    let released: Vec<String> = holders.keys().take(2).cloned().collect();
    for h in released.iter().chain(released.first()) {
        ledger.release(&pool, h).await.unwrap();
    }
    assert_eq!(used(&w, &table, &pool).await, 3);
    assert_eq!(
        ledger.take(&pool, "tq-big-1", 3, 5).await.unwrap(),
        Taken::Full { used: 3 }
    );
    assert_eq!(
        ledger.take(&pool, "tq-pair-1", 2, 5).await.unwrap(),
        Taken::Taken
    );
    assert_eq!(used(&w, &table, &pool).await, 5);

    // A closed pool (limit 0) takes nothing.
    let closed = Pool {
        instance_type: "ml.p3.2xlarge".into(),
        spot: true,
    };
    assert_eq!(
        ledger.take(&closed, "tq-x-1", 1, 0).await.unwrap(),
        Taken::Full { used: 0 }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takes_and_releases_interleaved_keep_used_equal_to_the_holders() {
    let w = World::new().await;
    let (ledger, table) = ledger(&w).await;
    let pool = g5_spot();
    for i in 0..4 {
        assert_eq!(
            ledger
                .take(&pool, &format!("tq-old-{i}"), 1, 6)
                .await
                .unwrap(),
            Taken::Taken
        );
    }
    // Releases of the old holders race takes of new ones (1 or 2 instances each).
    let outcomes: Vec<Option<Taken>> = join_all((0..12_u32).map(|i| {
        let (ledger, pool) = (&ledger, &pool);
        async move {
            if i < 4 {
                ledger.release(pool, &format!("tq-old-{i}")).await.unwrap();
                None
            } else {
                let holder = format!("tq-new-{i}");
                Some(ledger.take(pool, &holder, 1 + i % 2, 6).await.unwrap())
            }
        }
    }))
    .await;
    let holders: BTreeMap<String, u32> = ledger.holders(&pool).await.unwrap();
    let held: u32 = holders.values().sum();
    assert!(held <= 6, "{holders:?}");
    assert_eq!(
        used(&w, &table, &pool).await,
        held,
        "used = what the holders hold"
    );
    assert!(
        holders.keys().all(|h| h.starts_with("tq-new-")),
        "{holders:?}"
    );
    assert!(outcomes.iter().flatten().any(|t| *t == Taken::Taken));
}
