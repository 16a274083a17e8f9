//! Alerts as the tests see them: the observer queue the test's alerts bus copies every alert to.

use serde_json::Value;

use crate::world::World;

impl World {
    /// Alerts received so far on the observer queue (each an EventBridge event), removing them.
    pub async fn take_alerts(&self) -> Vec<Value> {
        let mut alerts = Vec::new();
        loop {
            let messages = crate::esm::receive(&self.sqs, &self.names.alerts_queue_url, 1).await;
            if messages.is_empty() {
                return alerts;
            }
            for m in &messages {
                alerts.push(serde_json::from_str(m.body().unwrap_or("null")).expect("alert JSON"));
                self.sqs
                    .delete_message()
                    .queue_url(&self.names.alerts_queue_url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("DeleteMessage");
            }
        }
    }

    /// Waits until `n` alerts of `detail_type` have arrived; returns those.
    pub async fn wait_for_alerts(&self, detail_type: &str, n: usize) -> Vec<Value> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut seen: Vec<Value> = Vec::new();
        loop {
            seen.extend(self.take_alerts().await);
            let matching: Vec<Value> = seen
                .iter()
                .filter(|a| a["detail-type"] == detail_type)
                .cloned()
                .collect();
            if matching.len() >= n {
                return matching;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {n} `{detail_type}` alerts; got {seen:?}"
            );
        }
    }
}
