//! The reduced chaos run of CI (200 requests; `make chaos` runs 1,000): see
//! `trainq_integration_tests::chaos` for what goes wrong, and the promise it checks.

use trainq_integration_tests::chaos::{ChaosConfig, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_lost_nothing_doubled_under_chaos() {
    let config = ChaosConfig::from_env(200);
    let figures = run(&config).await;
    println!("{figures}");
    assert!(figures.violations.is_empty(), "{figures}");
    assert!(
        figures.dead_invocations > 0 && figures.events_dropped > 0 && figures.spot_losses > 0,
        "the faults happened: {figures}"
    );
    assert!(
        figures.endpoint["throttled"].as_u64() > Some(0),
        "{figures}"
    );
    assert!(
        figures.operator_cancels > 0
            && figures.operator_retries > 0
            && figures.endpoint["alerts_refused"].as_u64() > Some(0),
        "operators acted and the alert sink failed: {figures}"
    );
}
