//! The whole local stack in a test: devstack's own configuration with a state directory of
//! the test's, free ports, and the workspace's function binaries (built by
//! `cargo build --workspace --bins`, which `make test` runs first).

use std::path::{Path, PathBuf};

use trainq_devstack::config::DevstackConfig;

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A binary of the workspace, next to the running test's own directory
/// (`<target>/<profile>/deps/<test>` → `<target>/<profile>/<name>`).
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let path = exe
        .parent()
        .and_then(Path::parent)
        .map(|profile| profile.join(name))
        .expect("a target directory");
    assert!(
        path.exists(),
        "{} not found: run `cargo build --workspace --bins` first (`make test` does)",
        path.display()
    );
    path
}

/// devstack's committed configuration, made private to one test: its state in `state_dir`,
/// free ports, absolute paths, `trainer` for the defect-classifier image.
pub fn config(state_dir: &Path, trainer: &str) -> DevstackConfig {
    let mut config =
        DevstackConfig::load(&workspace().join("devstack/devstack.json")).expect("devstack.json");
    config.state_dir = state_dir.to_owned();
    config.moto_port = 0;
    config.sagemaker_port = 0;
    config.template = workspace().join(&config.template);
    config.dispatcher = workspace_binary("trainq-dispatcher");
    config.watcher = workspace_binary("trainq-watcher");
    config.images = [("defect-classifier".to_owned(), vec![trainer.to_owned()])].into();
    config
}
