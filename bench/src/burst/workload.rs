//! The burst's requests: a research sweep from four customers of unequal size (one of weight
//! 2), sent all at once, and production data-shift retrains arriving through it one by one.

use serde_json::json;
use uuid::Uuid;

/// One request of the burst.
#[derive(Debug, Clone)]
pub(crate) struct Sent {
    /// Its id.
    pub(crate) id: Uuid,
    /// Its customer.
    pub(crate) customer: String,
    /// The message body.
    pub(crate) body: String,
    /// How long its job trains, as a share of the burst's job length (0.5–1.5, mean 1):
    /// jobs of one length would all end together, a wave no real sweep makes.
    pub(crate) length: f64,
}

/// Research customers, their share of the sweep (in tenths) and their fair-share weight.
pub(crate) const RESEARCH: [(&str, usize, f64); 4] = [
    ("r-heavy", 4, 2.0),
    ("r-big", 3, 1.0),
    ("r-mid", 2, 1.0),
    ("r-small", 1, 1.0),
];

/// The weights as `TRAINQ_CUSTOMER_WEIGHTS` says them.
pub(crate) fn weights() -> String {
    RESEARCH
        .iter()
        .filter(|(_, _, w)| *w != 1.0)
        .map(|(c, _, w)| format!("{c}={w}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn request(customer: &str, production: bool, i: usize) -> Sent {
    let mut body = if production {
        trainq_common::testing::sample_request()
    } else {
        trainq_common::testing::sample_research_request()
    };
    let id = Uuid::new_v4();
    body["request_id"] = json!(id.to_string());
    body["customer"] = json!(customer);
    // One pool: the first rung only, no fallback, no on-demand to spill into.
    body["resources"]["fallback_instance_types"] = json!([]);
    body["hyperparameters"] = json!({"epochs": "1", "trial": i.to_string()});
    let bucket = if production {
        "prod-data"
    } else {
        "research-data"
    };
    body["dataset"]["channels"] = json!({"train": format!("s3://{bucket}/{customer}/train/")});
    if !production {
        body["experiment"] = json!({"id": format!("burst-{customer}"), "trial": i.to_string()});
    }
    let length = 0.5 + (id.as_u128() % 1000) as f64 / 1000.0;
    Sent {
        id,
        customer: customer.to_owned(),
        body: body.to_string(),
        length,
    }
}

/// `research` sweep requests split between the research customers, interleaved as several
/// customers' sweeps arrive together (one customer sent wholly first would borrow the idle
/// quota and pay it back later, which the decayed usage is for, but which blurs the share a
/// weight gives within the run).
pub(crate) fn sweep(research: usize) -> Vec<Sent> {
    let mut queues: Vec<Vec<Sent>> = RESEARCH
        .iter()
        .map(|(customer, tenths, _)| {
            (0..research * tenths / 10)
                .map(|i| request(customer, false, i))
                .collect()
        })
        .collect();
    let mut sent = Vec::new();
    while queues.iter().any(|q| !q.is_empty()) {
        for q in &mut queues {
            if !q.is_empty() {
                sent.push(q.remove(0));
            }
        }
    }
    sent
}

/// `n` production data-shift retrains of five customers.
pub(crate) fn retrains(n: usize) -> Vec<Sent> {
    (0..n)
        .map(|i| request(&format!("p-{}", i % 5), true, i))
        .collect()
}
