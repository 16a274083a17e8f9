//! The alerts adapter: one PutEvents entry per alert on the alerts bus.

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use trainq_common::ServiceError;
use trainq_common::alert::{ALERT_SOURCE, Alert, DEFAULT_RUNBOOK};
use trainq_common::ports::AlertSink;

use crate::errors::{classify, classify_code};

/// [`AlertSink`] over EventBridge.
#[derive(Clone)]
pub struct EventBridgeAlerts {
    client: Client,
    bus: String,
    runbook: String,
}

impl EventBridgeAlerts {
    /// Alerts go to the bus named `bus`; their runbook links point into
    /// [`DEFAULT_RUNBOOK`] until [`with_runbook`](Self::with_runbook) says otherwise.
    pub fn new(client: Client, bus: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
            runbook: DEFAULT_RUNBOOK.to_owned(),
        }
    }

    /// Runbook links point into the runbook at `url` (`TRAINQ_RUNBOOK_URL`).
    pub fn with_runbook(mut self, url: impl Into<String>) -> Self {
        self.runbook = url.into();
        self
    }
}

impl AlertSink for EventBridgeAlerts {
    async fn send(&self, alert: &Alert) -> Result<(), ServiceError> {
        let mut detail = alert.detail.clone();
        detail.runbook = Some(format!("{}#{}", self.runbook, alert.kind.runbook_anchor()));
        let detail = serde_json::to_string(&detail)
            .map_err(|e| ServiceError::Invalid(format!("alert detail: {e}")))?;
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(ALERT_SOURCE)
            .detail_type(alert.kind.detail_type())
            .detail(detail)
            .build();
        let out = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(classify)?;
        // PutEvents succeeds as a call even when an entry fails; the entry says why.
        if out.failed_entry_count() > 0 {
            let failed = out.entries().iter().find(|e| e.error_code().is_some());
            let code = failed.and_then(|e| e.error_code());
            let message = failed
                .and_then(|e| e.error_message())
                .unwrap_or("entry failed");
            return Err(classify_code(
                code,
                format!("{}: {message}", code.unwrap_or("Unknown")),
            ));
        }
        Ok(())
    }
}
