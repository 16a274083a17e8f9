use super::*;

const POLICY: FairShare = FairShare {
    half_life_s: 3600.0,
    running_charge_s: 600.0,
};

fn pool(t: &str, spot: bool) -> Pool {
    Pool {
        instance_type: t.into(),
        spot,
    }
}

fn waiting(n: u128, rank: u32, customer: &str, rungs: &[Pool]) -> Waiting {
    Waiting {
        request_id: Uuid::from_u128(n),
        rank,
        customer: customer.into(),
        enqueued_ms: n as i64,
        rungs: rungs.to_vec(),
        instance_count: 1,
        prefer_first: false,
    }
}

fn capacity(limit: u32, used: u32) -> Capacity {
    Capacity { limit, used }
}

fn ids(admitted: &[Admission]) -> Vec<u128> {
    admitted.iter().map(|a| a.request_id.as_u128()).collect()
}

#[test]
fn a_higher_class_goes_first_whatever_its_age() {
    let g5 = pool("ml.g5.xlarge", true);
    let w = [
        waiting(1, 2, "r", std::slice::from_ref(&g5)),
        waiting(2, 0, "p", std::slice::from_ref(&g5)),
    ];
    let mut caps = BTreeMap::from([(g5, capacity(1, 0))]);
    let admitted = admit(&w, &mut caps, &mut BTreeMap::new(), &POLICY, 0);
    assert_eq!(ids(&admitted), [2]);
}

#[test]
fn within_a_class_customers_alternate_by_weighted_share_then_age() {
    let g5 = pool("ml.g5.xlarge", true);
    let w: Vec<Waiting> = (1..=4)
        .map(|n| waiting(n, 2, "a", std::slice::from_ref(&g5)))
        .chain((5..=8).map(|n| waiting(n, 2, "b", std::slice::from_ref(&g5))))
        .collect();
    let mut caps = BTreeMap::from([(g5.clone(), capacity(4, 0))]);
    let admitted = admit(&w, &mut caps, &mut BTreeMap::new(), &POLICY, 0);
    assert_eq!(
        ids(&admitted),
        [1, 5, 2, 6],
        "a and b alternate, oldest first"
    );

    // A customer of weight 2 gets two slots for the other's one.
    let mut shares = BTreeMap::from([(
        "b".to_owned(),
        Share {
            weight: 2.0,
            ..Share::default()
        },
    )]);
    let mut caps = BTreeMap::from([(g5, capacity(6, 0))]);
    let admitted = admit(&w, &mut caps, &mut shares, &POLICY, 0);
    let from_b = admitted
        .iter()
        .filter(|a| a.request_id.as_u128() >= 5)
        .count();
    assert_eq!(from_b, 4, "{:?}", ids(&admitted));
}

#[test]
fn past_usage_decays_and_counts_against_a_customer() {
    let g5 = pool("ml.g5.xlarge", true);
    let w = [
        waiting(1, 2, "heavy", std::slice::from_ref(&g5)),
        waiting(2, 2, "light", std::slice::from_ref(&g5)),
    ];
    let heavy = Share {
        usage: Usage {
            instance_seconds: 100_000.0,
            at_ms: 0,
        },
        ..Share::default()
    };
    let later = 20 * 3_600_000;
    let light = Share {
        usage: Usage {
            instance_seconds: 1_000.0,
            at_ms: later,
        },
        ..Share::default()
    };
    let shares = BTreeMap::from([("heavy".to_owned(), heavy), ("light".to_owned(), light)]);
    assert_eq!(
        order(&w, &shares, &POLICY, 0),
        [1, 0],
        "the light customer goes first"
    );
    // Twenty half-lives on, the heavy use is long past and the light one recent.
    assert_eq!(order(&w, &shares, &POLICY, later), [0, 1]);
}

#[test]
fn the_ladder_takes_the_first_rung_with_room_unless_the_request_prefers_its_first() {
    let spot = pool("ml.g5.xlarge", true);
    let fallback = pool("ml.g4dn.xlarge", true);
    let on_demand = pool("ml.g5.xlarge", false);
    let ladder = [spot.clone(), fallback.clone(), on_demand.clone()];
    let mut caps = BTreeMap::from([
        (spot.clone(), capacity(0, 0)), // a spot quota of 0: skipped, no create call
        (fallback.clone(), capacity(2, 2)),
        (on_demand.clone(), capacity(1, 0)),
    ]);
    let admitted = admit(
        &[waiting(1, 0, "p", &ladder)],
        &mut caps.clone(),
        &mut BTreeMap::new(),
        &POLICY,
        0,
    );
    assert_eq!((admitted[0].rung, &admitted[0].pool), (2, &on_demand));

    let mut prefers = waiting(1, 0, "p", &ladder);
    prefers.prefer_first = true;
    assert!(admit(&[prefers], &mut caps, &mut BTreeMap::new(), &POLICY, 0).is_empty());
}

#[test]
fn a_request_that_does_not_fit_holds_its_pools_against_those_after_it() {
    let g5 = pool("ml.g5.xlarge", true);
    let m5 = pool("ml.m5.large", false);
    let mut big = waiting(1, 0, "p", std::slice::from_ref(&g5));
    big.instance_count = 4;
    let w = [
        big,
        waiting(2, 2, "r", std::slice::from_ref(&g5)),
        waiting(3, 2, "r2", std::slice::from_ref(&m5)),
    ];
    let mut caps = BTreeMap::from([(g5.clone(), capacity(4, 2)), (m5, capacity(1, 0))]);
    let admitted = admit(&w, &mut caps, &mut BTreeMap::new(), &POLICY, 0);
    assert_eq!(
        ids(&admitted),
        [3],
        "research backfills another pool, never the held one"
    );
    assert_eq!(caps[&g5].used, 2);
}

#[test]
fn capacity_is_never_overcommitted() {
    let g5 = pool("ml.g5.xlarge", true);
    let w: Vec<Waiting> = (1..=50)
        .map(|n| {
            let mut r = waiting(
                n,
                (n % 3) as u32,
                &format!("c{}", n % 7),
                std::slice::from_ref(&g5),
            );
            r.instance_count = 1 + (n % 3) as u32;
            r
        })
        .collect();
    let mut caps = BTreeMap::from([(g5.clone(), capacity(10, 3))]);
    admit(&w, &mut caps, &mut BTreeMap::new(), &POLICY, 0);
    assert!(caps[&g5].used <= 10, "{:?}", caps[&g5]);
}
