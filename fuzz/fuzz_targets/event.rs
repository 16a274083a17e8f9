//! An SQS message body, as the watcher gets it: JSON, then a "SageMaker Training Job State
//! Change" event. Never a panic; a refusal always names its field.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trainq_common::event::parse_event;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Err(e) = parse_event(&value) {
            assert!(!e.field.is_empty() && !e.rule.is_empty(), "{e:?}");
        }
    }
});
