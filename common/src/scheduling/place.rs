//! A request's place in the waiting room: what admission needs to know about it, kept on its
//! record while it is `Queued` (the waiting-room index projects only this), so a round of
//! admission reads a few hundred bytes per waiting request, never the requests themselves.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::admission::Waiting;
use super::pool::Pool;
use super::priority::PriorityClasses;
use crate::ladder;
use crate::launch::Rung;
use crate::record::JobRecord;
use crate::request::Prefer;
use crate::time_util::rfc3339_to_epoch_ms;

/// Where a waiting request stands and what it may take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Place {
    /// Its priority class rank (0 is the highest).
    pub rank: u32,
    /// Its customer: the fair-share identifier.
    pub customer: String,
    /// When it was first sent (epoch ms): age orders requests of one class and customer, and a
    /// retried request keeps its age.
    pub enqueued_ms: i64,
    /// The pools of the rungs it may start on, in ladder order (`ml.g5.xlarge/spot`).
    pub pools: Vec<Pool>,
    /// Instances it needs.
    pub instance_count: u32,
    /// When it stops waiting and ends `Expired` (epoch ms; its `max_queue_s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<i64>,
}

impl Place {
    /// The place of `record`'s planned attempt: its class from `classes` (the request may
    /// lower it), its ladder from the planned rung down (only that rung if the request
    /// prefers its first choice). `None` when the record keeps no request or attempt.
    pub fn of(record: &JobRecord, classes: &PriorityClasses, now_ms: i64) -> Option<Self> {
        let request = record.request.as_ref()?;
        let attempt = record.current_attempt()?;
        let planned = Rung {
            instance_type: attempt.instance_type.clone(),
            spot: attempt.spot,
        };
        let ladder = ladder::rungs(request);
        let from = ladder.iter().position(|r| *r == planned);
        let mut pools: Vec<Pool> = match from {
            Some(i) => ladder[i..].iter().map(Pool::of).collect(),
            None => vec![Pool::of(&planned)],
        };
        if request.resources.prefer == Prefer::FirstChoice {
            pools.truncate(1);
        }
        let enqueued_ms = record
            .enqueued_at
            .as_deref()
            .or(Some(record.created_at.as_str()))
            .and_then(rfc3339_to_epoch_ms)
            .unwrap_or(now_ms);
        Some(Self {
            rank: classes.rank(request.registry, request.reason, request.priority),
            customer: request.customer.clone(),
            enqueued_ms,
            pools,
            instance_count: request.resources.instance_count,
            expires_ms: request
                .max_queue_s
                .map(|s| enqueued_ms + i64::from(s) * 1000),
        })
    }

    /// The waiting-room index's partition key: the class rank.
    pub fn queue_class(&self) -> String {
        self.rank.to_string()
    }

    /// The waiting-room index's sort key: customer, then age, then id, so one query per
    /// customer reads its oldest requests first (see the adapter's skip-scan).
    pub fn queue_order(&self, request_id: Uuid) -> String {
        format!(
            "{}#{:013}#{request_id}",
            self.customer,
            self.enqueued_ms.max(0)
        )
    }

    /// The request as the admission policy sees it.
    pub fn waiting(&self, request_id: Uuid) -> Waiting {
        Waiting {
            request_id,
            rank: self.rank,
            customer: self.customer.clone(),
            enqueued_ms: self.enqueued_ms,
            rungs: self.pools.clone(),
            instance_count: self.instance_count,
            prefer_first: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::state::JobState;
    use crate::{Attempt, request};

    fn record(change: impl FnOnce(&mut serde_json::Value)) -> JobRecord {
        let mut body = crate::testing::sample_request();
        body["resources"]["fallback_instance_types"] = json!(["ml.g4dn.xlarge"]);
        change(&mut body);
        let req = request::parse(&body.to_string()).unwrap();
        let mut r = JobRecord::new(Uuid::from_u128(7), JobState::Received).with_request(req);
        r.enqueued_at = Some("2026-12-01T00:00:00.000Z".into());
        let first = r.request.as_ref().unwrap().resources.instance_type.clone();
        r.attempts
            .push(Attempt::planned(r.request_id, 1, &first, true));
        r
    }

    #[test]
    fn a_place_lists_the_ladder_from_the_planned_rung_with_the_class_and_age() {
        let r = record(|_| {});
        let p = Place::of(&r, &PriorityClasses::default(), 0).unwrap();
        let names: Vec<String> = p.pools.iter().map(Pool::to_string).collect();
        let first = &r.request.as_ref().unwrap().resources.instance_type;
        assert_eq!(
            names,
            [
                format!("{first}/spot"),
                "ml.g4dn.xlarge/spot".into(),
                format!("{first}/on-demand")
            ]
        );
        assert_eq!(p.enqueued_ms, 1_796_083_200_000);
        assert_eq!(p.expires_ms, None);
        assert!(
            p.queue_order(r.request_id)
                .starts_with("acme#1796083200000#")
        );
    }

    #[test]
    fn a_request_may_wait_for_its_first_choice_lower_its_class_and_bound_its_wait() {
        let r = record(|b| {
            b["resources"]["prefer"] = json!("first_choice");
            b["priority"] = json!(2);
            b["max_queue_s"] = json!(600);
        });
        let p = Place::of(&r, &PriorityClasses::default(), 0).unwrap();
        assert_eq!(p.pools.len(), 1);
        assert_eq!(p.rank, 2);
        assert_eq!(p.expires_ms, Some(p.enqueued_ms + 600_000));
    }
}
