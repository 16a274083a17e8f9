//! One `moto_server` per test process (devstack's, on a free port), stopped by its watchdog
//! when the test process exits.

use std::path::Path;
use std::sync::OnceLock;

/// The URL of this process's moto server, started on first use.
pub fn url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let binary = trainq_devstack::moto::binary(&workspace);
        trainq_devstack::moto::Moto::start(&binary, 0, Path::new("/dev/null"))
            .unwrap_or_else(|e| panic!("{e}"))
            .detach()
    })
}
