//! The capacity ledger over the wire (DynamoDB through the front door): concurrent takes never
//! exceed a pool's limit, a retried take changes nothing, releases give back exactly what was
//! held, and the pool's `used` always equals what its holders hold.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use futures::future::join_all;
use trainq_common::ports::{CapacityLedger, Taken};
use trainq_common::scheduling::{LearnedLimit, Pool};
use trainq_infra::DynamoCapacityLedger;
use trainq_integration_tests::world::World;

fn ledger(w: &World) -> (DynamoCapacityLedger, String) {
    (w.ledger(), w.names.capacity_table.clone())
}

/// The pool item's `used`, as stored.
async fn used(w: &World, table: &str, pool: &Pool) -> u32 {
    let item = w
        .dynamodb
        .get_item()
        .table_name(table)
        .key("id", AttributeValue::S(format!("pool#{pool}")))
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

/// The pool's holders and what each holds.
async fn holders(ledger: &DynamoCapacityLedger, pool: &Pool) -> BTreeMap<String, u32> {
    let books = ledger.pools(std::slice::from_ref(pool)).await.unwrap();
    books[pool]
        .holders
        .iter()
        .map(|(k, h)| (k.clone(), h.count))
        .collect()
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
    let (ledger, table) = ledger(&w);
    let pool = g5_spot();

    // Twenty jobs want one instance each of a pool of five, all at once.
    let takes = join_all((0..20).map(|i| {
        let (ledger, pool) = (&ledger, &pool);
        async move {
            ledger
                .take(pool, &format!("tq-job-{i}"), "acme", 1, 5)
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
    let holders = holders(&ledger, &pool).await;
    assert_eq!(holders.values().sum::<u32>(), 5);
    assert_eq!(used(&w, &table, &pool).await, 5);

    // A retried take of a holder changes nothing.
    let holder = holders.keys().next().unwrap().clone();
    assert_eq!(
        ledger.take(&pool, &holder, "acme", 1, 5).await.unwrap(),
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
        ledger.take(&pool, "tq-big-1", "acme", 3, 5).await.unwrap(),
        Taken::Full { used: 3 }
    );
    assert_eq!(
        ledger.take(&pool, "tq-pair-1", "acme", 2, 5).await.unwrap(),
        Taken::Taken
    );
    assert_eq!(used(&w, &table, &pool).await, 5);

    // A closed pool (limit 0) takes nothing.
    let closed = Pool {
        instance_type: "ml.p3.2xlarge".into(),
        spot: true,
    };
    assert_eq!(
        ledger.take(&closed, "tq-x-1", "acme", 1, 0).await.unwrap(),
        Taken::Full { used: 0 }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takes_and_releases_interleaved_keep_used_equal_to_the_holders() {
    let w = World::new().await;
    let (ledger, table) = ledger(&w);
    let pool = g5_spot();
    for i in 0..4 {
        assert_eq!(
            ledger
                .take(&pool, &format!("tq-old-{i}"), "acme", 1, 6)
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
                Some(
                    ledger
                        .take(pool, &holder, "globex", 1 + i % 2, 6)
                        .await
                        .unwrap(),
                )
            }
        }
    }))
    .await;
    let holders: BTreeMap<String, u32> = holders(&ledger, &pool).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_charges_all_count_and_the_call_rate_holds_across_callers() {
    let w = World::new().await;
    let (ledger, _) = ledger(&w);
    // Eight endings charged at once: none lost to the race (each write is conditional).
    let now = 1_800_000_000_000;
    for charged in join_all((0..8).map(|_| ledger.charge("acme", 100.0, now, 3600.0))).await {
        charged.expect("every charge lands");
    }
    let usage = ledger
        .usage(&["acme".into(), "nobody".into()])
        .await
        .unwrap();
    assert_eq!(usage.len(), 1, "no usage for a customer never charged");
    assert!(
        (usage["acme"].instance_seconds - 800.0).abs() < 1e-6,
        "{usage:?}"
    );

    // Ten callers in one second with a rate of 3: exactly 3 may call.
    let second = 1_800_000_001_000;
    let slots = join_all((0..10).map(|_| ledger.call_slot(3, second + 10))).await;
    assert_eq!(slots.iter().filter(|s| *s.as_ref().unwrap()).count(), 3);
    assert!(
        ledger.call_slot(3, second + 1000).await.unwrap(),
        "a new second"
    );
}

#[tokio::test]
async fn learnt_limits_and_pressure_episodes_are_kept_per_pool() {
    let w = World::new().await;
    let (ledger, _) = ledger(&w);
    let pool = g5_spot();
    let learned = LearnedLimit {
        limit: 1,
        until_ms: 2_000,
    };
    ledger.learn_limit(&pool, learned).await.unwrap();
    assert!(
        ledger.begin_pressure(&pool, 5).await.unwrap(),
        "begins the episode"
    );
    assert!(
        !ledger.begin_pressure(&pool, 6).await.unwrap(),
        "once per episode"
    );
    let all = ledger.all_pools().await.unwrap();
    let book = &all[&pool];
    assert_eq!(
        (book.learned, book.pressure_since_ms),
        (Some(learned), Some(5))
    );
    assert_eq!(book.capacity(4, 1_999).limit, 1);
    ledger.end_pressure(&pool).await.unwrap();
    assert!(
        ledger.begin_pressure(&pool, 7).await.unwrap(),
        "a new episode"
    );
}
