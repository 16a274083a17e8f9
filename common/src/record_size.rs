//! Records stay far below DynamoDB's 400 KB item limit, whatever happens to a request: a write
//! over the limit fails for ever and strands the record. What can grow is bounded where it
//! grows — the request (`MAX_REQUEST_BYTES` at validation), refusals and undelivered alerts
//! (20 each), attempts (an operator may not retry past [`MAX_ATTEMPTS`]), each attempt's
//! secondary statuses ([`MAX_STATUSES`], messages cut) — and [`JobRecord::fit`] is the last
//! guard before a write: it drops the least useful detail first (older attempts' status
//! histories, then the rejected body, then the oldest refusals) until the record fits
//! [`MAX_RECORD_BYTES`]. Within these bounds a record never needs it; the guard is there so
//! that a bound someone loosens later cannot strand a record.

use crate::record::{JobRecord, SecondaryStatus};

/// The most a record may take as JSON (DynamoDB counts attribute names and values; JSON's
/// length is close to it and never much below): 50 KB of margin under the 400 KB limit.
pub const MAX_RECORD_BYTES: usize = 350_000;

/// Attempts a request may have: automatic retries stop at the budget (at most 10), but
/// operators may retry again and again; past this, a new request is the answer.
pub const MAX_ATTEMPTS: u32 = 100;

/// Secondary statuses kept per attempt: the first, and the latest after it. Fifty spot
/// interruptions take about 150.
pub const MAX_STATUSES: usize = 256;

/// SageMaker's status messages are cut to this many characters.
pub const MAX_STATUS_MESSAGE: usize = 512;

/// Keeps `history` within [`MAX_STATUSES`] (the first and the latest entries) and its
/// messages within [`MAX_STATUS_MESSAGE`]; returns how many entries were left out.
pub fn cap_history(history: &mut Vec<SecondaryStatus>) -> u32 {
    for s in history.iter_mut() {
        if let Some(m) = &mut s.message {
            cut(m, MAX_STATUS_MESSAGE);
        }
    }
    let excess = history.len().saturating_sub(MAX_STATUSES);
    if excess > 0 {
        history.drain(1..=excess);
    }
    u32::try_from(excess).unwrap_or(u32::MAX)
}

/// Cuts `text` to at most `max` characters.
fn cut(text: &mut String, max: usize) {
    if let Some((at, _)) = text.char_indices().nth(max) {
        text.truncate(at);
    }
}

impl JobRecord {
    /// The record's size as JSON.
    pub fn size(&self) -> usize {
        serde_json::to_vec(self).map_or(0, |v| v.len())
    }

    /// Drops detail until the record fits [`MAX_RECORD_BYTES`]; returns whether it dropped any.
    pub fn fit(&mut self) -> bool {
        if self.size() <= MAX_RECORD_BYTES {
            return false;
        }
        // Older attempts' histories, oldest first: their first and last statuses stay.
        let older = self.attempts.len().saturating_sub(1);
        for i in 0..older {
            let a = &mut self.attempts[i];
            if a.secondary_history.len() > 2 {
                let last = a.secondary_history.pop();
                let gone = a.secondary_history.len() - 1;
                a.secondary_history.truncate(1);
                a.secondary_history.extend(last);
                a.elided_statuses += u32::try_from(gone).unwrap_or(u32::MAX);
            }
            if self.size() <= MAX_RECORD_BYTES {
                return true;
            }
        }
        self.raw_body = None;
        while self.size() > MAX_RECORD_BYTES && !self.refusals.is_empty() {
            self.refusals.remove(0);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::record::Attempt;
    use crate::state::JobState;

    fn status(n: usize) -> SecondaryStatus {
        SecondaryStatus {
            status: if n.is_multiple_of(2) {
                "Training"
            } else {
                "Interrupted"
            }
            .into(),
            start_ms: Some(n as i64),
            end_ms: None,
            message: Some("m".repeat(2000)),
        }
    }

    #[test]
    fn histories_keep_their_first_and_latest_statuses_with_short_messages() {
        let mut h: Vec<_> = (0..300).map(status).collect();
        assert_eq!(cap_history(&mut h), 44);
        assert_eq!(h.len(), MAX_STATUSES);
        assert_eq!(h[0].start_ms, Some(0));
        assert_eq!(h[1].start_ms, Some(45));
        assert_eq!(h.last().unwrap().start_ms, Some(299));
        assert_eq!(h[0].message.as_ref().unwrap().len(), MAX_STATUS_MESSAGE);
    }

    #[test]
    fn an_oversized_record_drops_older_histories_first_and_fits() {
        let id = Uuid::from_u128(8);
        let mut r = JobRecord::new(id, JobState::InProgress);
        for n in 1..=MAX_ATTEMPTS {
            let mut a = Attempt::planned(id, n, "ml.g5.xlarge", true);
            a.secondary_history = (0..40).map(status).collect();
            cap_history(&mut a.secondary_history);
            r.attempts.push(a);
        }
        assert!(r.size() > MAX_RECORD_BYTES, "{}", r.size());
        assert!(r.fit());
        assert!(r.size() <= MAX_RECORD_BYTES);
        let current = r.current_attempt().unwrap();
        assert_eq!(
            current.secondary_history.len(),
            40,
            "the current one is whole"
        );
        assert_eq!(r.attempts[0].secondary_history.len(), 2);
        assert_eq!(r.attempts[0].elided_statuses, 38);
        assert!(!r.fit(), "once it fits, nothing more goes");
    }
}
