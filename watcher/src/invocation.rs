//! What the watcher function was invoked for, told apart by the payload's shape.

use aws_lambda_events::event::sqs::SqsEvent;
use serde_json::Value;

/// One invocation of the watcher function.
#[derive(Debug)]
pub enum Invocation {
    /// A batch from the job-events queue (`{"Records": [...]}`).
    Events(SqsEvent),
    /// The reconcile schedule: an EventBridge `Scheduled Event`, or `{"reconcile": true}`
    /// from an operator (`aws lambda invoke`).
    Reconcile,
}

/// A payload the watcher does not handle; the message names what it expected.
#[derive(Debug, thiserror::Error)]
#[error("unexpected invocation payload: {0}")]
pub struct UnknownInvocation(String);

impl Invocation {
    /// Tells the invocation from its payload.
    pub fn of(payload: Value) -> Result<Self, UnknownInvocation> {
        if payload.get("Records").is_some() {
            return serde_json::from_value(payload)
                .map(Self::Events)
                .map_err(|e| UnknownInvocation(format!("an SQS batch that does not parse: {e}")));
        }
        let scheduled =
            payload.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event");
        if scheduled || payload.get("reconcile") == Some(&Value::Bool(true)) {
            return Ok(Self::Reconcile);
        }
        Err(UnknownInvocation(
            "expected an SQS batch (`Records`), a `Scheduled Event` or `{\"reconcile\": true}`"
                .into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn payloads_are_told_apart() {
        let batch = json!({"Records": [{"messageId": "m1", "body": "{}"}]});
        assert!(matches!(Invocation::of(batch), Ok(Invocation::Events(b)) if b.records.len() == 1));
        let schedule =
            json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});
        assert!(matches!(
            Invocation::of(schedule),
            Ok(Invocation::Reconcile)
        ));
        assert!(matches!(
            Invocation::of(json!({"reconcile": true})),
            Ok(Invocation::Reconcile)
        ));
        let e = Invocation::of(json!({"hello": 1})).unwrap_err();
        assert!(e.to_string().contains("Scheduled Event"), "{e}");
    }
}
