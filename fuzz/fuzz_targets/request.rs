//! A message body, as the dispatcher gets it: parsed, then validated against the sample
//! registries. Never a panic; a refusal always names its field.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use trainq_common::Registries;
use trainq_common::request::{parse, validate};

fn registries() -> &'static Registries {
    static REGISTRIES: OnceLock<Registries> = OnceLock::new();
    REGISTRIES.get_or_init(trainq_common::testing::sample_registries)
}

fuzz_target!(|data: &[u8]| {
    let body = String::from_utf8_lossy(data);
    let refusal = match parse(&body) {
        Err(e) => Some(e),
        Ok(request) => validate(request, registries(), uuid::Uuid::nil()).err(),
    };
    if let Some(e) = refusal {
        assert!(!e.field.is_empty() && !e.rule.is_empty(), "{e:?}");
    }
});
