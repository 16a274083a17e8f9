//! SQS's `SenderId`, as AWS sets it. moto reports one fixed id for every message; in AWS it is
//! the sender's user id (an IAM user's `AIDA…`, or a role's `AROA…:<session>`), and the
//! dispatcher decides what a request may reach by it. The front door knows who signed each
//! SendMessage (access key → a configured principal's user id; an unknown key stands for
//! itself), remembers it per message id, and writes it into ReceiveMessage's answers, so the
//! local stack runs the same check on the same attribute as AWS. (The JSON protocol only:
//! every current SDK and the AWS CLI speak it to SQS.)
//!
//! A receive can overtake a send: moto hands the message to a waiting long poll before the
//! front door has read the send's answer (and its message id). So a receive that finds a
//! message it does not know while sends are still in flight waits for them to settle.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use serde_json::Value;

use crate::contract::CredentialScope;

/// How many message ids are remembered (the oldest are forgotten first): far more than the
/// local stack's queues ever hold.
const REMEMBERED: usize = 200_000;

/// Who sent which message.
#[derive(Default)]
pub(super) struct SenderIds {
    principals: Mutex<HashMap<String, String>>,
    by_message: Mutex<Remembered>,
    sends_in_flight: AtomicUsize,
    settled: tokio::sync::Notify,
}

/// The longest a receive waits for sends in flight to settle.
const SETTLE_WAIT: Duration = Duration::from_secs(2);

/// A send in flight until dropped.
pub(super) struct InFlight<'a>(&'a SenderIds);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.sends_in_flight.fetch_sub(1, Ordering::SeqCst);
        self.0.settled.notify_waiters();
    }
}

#[derive(Default)]
struct Remembered {
    sender: HashMap<String, String>,
    order: VecDeque<String>,
}

/// The SQS operations whose answers carry or reveal message ids.
pub(super) fn sqs_operation(headers: &HeaderMap) -> Option<&str> {
    let target = headers.get("x-amz-target")?.to_str().ok()?;
    let op = target.strip_prefix("AmazonSQS.")?;
    matches!(op, "SendMessage" | "SendMessageBatch" | "ReceiveMessage").then_some(op)
}

impl SenderIds {
    /// Calls signed with `access_key` are sent by `user_id` from now on.
    pub(super) fn set_principal(&self, access_key: &str, user_id: &str) {
        self.principals
            .lock()
            .unwrap()
            .insert(access_key.to_owned(), user_id.to_owned());
    }

    /// The `SenderId` of a call: its key's principal, or the key itself.
    pub(super) fn sender_of(&self, headers: &HeaderMap) -> Option<String> {
        self.caller_of(headers).map(|(_, user_id)| user_id)
    }

    /// A call's access key and the user id of its principal (the key itself when unknown).
    pub(super) fn caller_of(&self, headers: &HeaderMap) -> Option<(String, String)> {
        let key = CredentialScope::of(headers)?.access_key;
        let known = self.principals.lock().unwrap().get(&key).cloned();
        let user_id = known.unwrap_or_else(|| key.clone());
        Some((key, user_id))
    }

    /// Marks a send in flight until the returned guard is dropped (after [`Self::remember`]).
    pub(super) fn sending(&self) -> InFlight<'_> {
        self.sends_in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(self)
    }

    /// Remembers the sender of the messages a SendMessage(Batch) answer names.
    pub(super) fn remember(&self, sender: &str, answer: &[u8]) {
        let Ok(value) = serde_json::from_slice::<Value>(answer) else {
            return;
        };
        let ids: Vec<&str> = match value.get("Successful").and_then(Value::as_array) {
            Some(entries) => entries
                .iter()
                .filter_map(|e| e.get("MessageId").and_then(Value::as_str))
                .collect(),
            None => value
                .get("MessageId")
                .and_then(Value::as_str)
                .into_iter()
                .collect(),
        };
        let mut memory = self.by_message.lock().unwrap();
        for id in ids {
            memory.sender.insert(id.to_owned(), sender.to_owned());
            memory.order.push_back(id.to_owned());
        }
        while memory.order.len() > REMEMBERED {
            if let Some(old) = memory.order.pop_front() {
                memory.sender.remove(&old);
            }
        }
    }

    /// A ReceiveMessage answer with each remembered message's `SenderId`, once the sends in
    /// flight that may have carried its messages have settled.
    pub(super) async fn rewrite_settled(&self, answer: Bytes) -> Bytes {
        let ids: Vec<String> = serde_json::from_slice::<Value>(&answer)
            .ok()
            .and_then(|v| {
                v.get("Messages").and_then(Value::as_array).map(|ms| {
                    ms.iter()
                        .filter_map(|m| m.get("MessageId").and_then(Value::as_str))
                        .map(str::to_owned)
                        .collect()
                })
            })
            .unwrap_or_default();
        let deadline = tokio::time::Instant::now() + SETTLE_WAIT;
        loop {
            let settled = self.settled.notified();
            let unknown = {
                let memory = self.by_message.lock().unwrap();
                ids.iter().any(|id| !memory.sender.contains_key(id))
            };
            if !unknown || self.sends_in_flight.load(Ordering::SeqCst) == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, settled).await.is_err() {
                break;
            }
        }
        self.rewrite(answer)
    }

    /// A ReceiveMessage answer with each remembered message's `SenderId`.
    fn rewrite(&self, answer: Bytes) -> Bytes {
        let Ok(mut value) = serde_json::from_slice::<Value>(&answer) else {
            return answer;
        };
        let memory = self.by_message.lock().unwrap();
        let Some(messages) = value.get_mut("Messages").and_then(Value::as_array_mut) else {
            return answer;
        };
        let mut changed = false;
        for message in messages {
            let id = message.get("MessageId").and_then(Value::as_str);
            let sender = id.and_then(|id| memory.sender.get(id)).cloned();
            if let (Some(sender), Some(attributes)) = (
                sender,
                message.get_mut("Attributes").and_then(Value::as_object_mut),
            ) && attributes.contains_key("SenderId")
            {
                attributes.insert("SenderId".into(), Value::String(sender));
                changed = true;
            }
        }
        if changed {
            Bytes::from(value.to_string())
        } else {
            answer
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn receive_answers_carry_the_remembered_sender() {
        let ids = SenderIds::default();
        ids.remember(
            "AROAX:backend",
            br#"{"MessageId": "m1", "MD5OfMessageBody": "x"}"#,
        );
        ids.remember(
            "AIDAY",
            br#"{"Successful": [{"Id": "0", "MessageId": "m2"}], "Failed": []}"#,
        );
        let answer = json!({"Messages": [
            {"MessageId": "m1", "Attributes": {"SenderId": "AIDAIT2UOQQY3AUEKVGXU"}},
            {"MessageId": "m2", "Attributes": {"SenderId": "AIDAIT2UOQQY3AUEKVGXU"}},
            {"MessageId": "m3", "Attributes": {"SenderId": "AIDAIT2UOQQY3AUEKVGXU"}},
            {"MessageId": "m1"}
        ]});
        let out: Value =
            serde_json::from_slice(&ids.rewrite(Bytes::from(answer.to_string()))).unwrap();
        let senders: Vec<_> = out["Messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Attributes"]["SenderId"].clone())
            .collect();
        assert_eq!(
            senders,
            [
                json!("AROAX:backend"),
                json!("AIDAY"),
                json!("AIDAIT2UOQQY3AUEKVGXU"),
                Value::Null
            ],
            "unknown messages keep moto's id; unasked attributes stay unasked"
        );
    }

    #[tokio::test]
    async fn a_receive_that_overtakes_its_send_waits_for_the_send_to_settle() {
        let ids = SenderIds::default();
        let answer = json!({"Messages": [{"MessageId": "m1", "Attributes": {"SenderId": "moto"}}]});
        let in_flight = ids.sending();
        let send = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            ids.remember("AIDAY", br#"{"MessageId": "m1"}"#);
            drop(in_flight);
        };
        let (out, ()) = tokio::join!(ids.rewrite_settled(Bytes::from(answer.to_string())), send);
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(out["Messages"][0]["Attributes"]["SenderId"], "AIDAY");
    }
}
