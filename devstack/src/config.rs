//! The devstack's own configuration (`devstack/devstack.json`): ports, what runs the functions
//! and the training images, the Lambdas' environment, the stack's parameters. Paths are
//! relative to the workspace (the directory `trainq-devstack` runs in).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// What the devstack runs and how.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevstackConfig {
    /// The region of every local resource.
    pub region: String,
    /// Loopback port of moto (0: any free port).
    #[serde(default)]
    pub moto_port: u16,
    /// Loopback port of the local SageMaker endpoint (0: any free port).
    #[serde(default)]
    pub sagemaker_port: u16,
    /// Where state, logs and job directories go.
    pub state_dir: PathBuf,
    /// The CloudFormation template deployed into moto.
    pub template: PathBuf,
    /// Its stack name.
    pub stack_name: String,
    /// Template parameters.
    #[serde(default)]
    pub stack_parameters: BTreeMap<String, String>,
    /// The dispatcher's binary.
    pub dispatcher: PathBuf,
    /// The watcher's binary.
    pub watcher: PathBuf,
    /// Image repository → command that runs it (`train` is appended).
    pub images: BTreeMap<String, Vec<String>>,
    /// The functions' environment beyond what the stack provides (registries, timings).
    pub environment: BTreeMap<String, String>,
    /// Access key id → the user id SQS reports as `SenderId` for messages it signs (an IAM
    /// user's `AIDA…` or a role session's `AROA…:<session>`). Other keys stand for themselves.
    #[serde(default)]
    pub principals: BTreeMap<String, String>,
    /// Messages per invocation of the requests and job-events mappings (1–10).
    #[serde(default = "default_batch")]
    pub batch_size: i32,
    /// The functions' timeout, seconds.
    #[serde(default = "default_timeout")]
    pub function_timeout_s: u64,
    /// How often the watcher's reconcile runs, seconds.
    #[serde(default = "default_reconcile")]
    pub reconcile_every_s: u64,
    /// SIGTERM → SIGKILL grace of stopped training jobs, seconds.
    #[serde(default = "default_grace")]
    pub stop_grace_s: u64,
}

fn default_batch() -> i32 {
    10
}
fn default_timeout() -> u64 {
    30
}
fn default_reconcile() -> u64 {
    60
}
fn default_grace() -> u64 {
    10
}

impl DevstackConfig {
    /// Reads `path`; the error names the file and the field.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let de = &mut serde_json::Deserializer::from_str(&text);
        serde_path_to_error::deserialize(de)
            .map_err(|e| format!("{}: `{}`: {}", path.display(), e.path(), e.inner()))
    }

    /// The S3 buckets the registries name (data, models, checkpoints), to create in moto.
    pub fn buckets(&self) -> Vec<String> {
        let mut buckets: Vec<String> = self
            .environment
            .iter()
            .flat_map(|(k, v)| {
                if k.ends_with("_BUCKETS") {
                    v.split(',').map(|b| b.trim().to_owned()).collect()
                } else if k.ends_with("_S3_URI") {
                    v.strip_prefix("s3://")
                        .and_then(|r| r.split('/').next())
                        .map(str::to_owned)
                        .into_iter()
                        .collect()
                } else {
                    Vec::new()
                }
            })
            .filter(|b| !b.is_empty())
            .collect();
        buckets.sort();
        buckets.dedup();
        buckets
    }

    /// The template's parameters: the configured ones, `Target=local`, and the registries'
    /// parameters taken from the functions' environment (one source for both).
    pub fn template_parameters(&self) -> BTreeMap<String, String> {
        let mut params = BTreeMap::from([
            ("Target".to_owned(), "local".to_owned()),
            // The functions' code is not deployed locally; the parameter must still be valid.
            (
                "ArtifactBucket".to_owned(),
                "trainq-local-artifacts".to_owned(),
            ),
        ]);
        let env = |k: &str| self.environment.get(k).cloned().unwrap_or_default();
        for (registry, prefix) in [
            ("Production", "TRAINQ_PRODUCTION_"),
            ("Research", "TRAINQ_RESEARCH_"),
        ] {
            let bucket_of = |uri: String| {
                uri.strip_prefix("s3://")
                    .and_then(|r| r.split('/').next())
                    .unwrap_or_default()
                    .to_owned()
            };
            for (name, value) in [
                ("EcrRegistry", env(&format!("{prefix}ECR_REGISTRY"))),
                ("Images", env(&format!("{prefix}IMAGES"))),
                (
                    "DataBuckets",
                    env(&format!("{prefix}BUCKETS")).replace(' ', ""),
                ),
                (
                    "ModelBucket",
                    bucket_of(env(&format!("{prefix}OUTPUT_S3_URI"))),
                ),
                (
                    "ModelGroupPrefix",
                    env(&format!("{prefix}MODEL_GROUP_PREFIX")),
                ),
                ("Senders", env(&format!("{prefix}SENDERS")).replace(' ', "")),
                ("DataPrefix", env(&format!("{prefix}DATA_PREFIX"))),
                ("Policy", env(&format!("{prefix}POLICY"))),
            ] {
                if !value.is_empty() {
                    params.insert(format!("{registry}{name}"), value);
                }
            }
        }
        params.extend(self.stack_parameters.clone());
        params
    }

    /// The stack file the devstack writes (`<state_dir>/stack.json`).
    pub fn stack_file(&self) -> PathBuf {
        self.state_dir.join("stack.json")
    }

    /// The supervisor's pid file.
    pub fn pid_file(&self) -> PathBuf {
        self.state_dir.join("devstack.pid")
    }

    /// The directory of logs.
    pub fn log_dir(&self) -> PathBuf {
        self.state_dir.join("logs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_config_loads_and_names_its_buckets() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("devstack.json");
        let config = DevstackConfig::load(&path).unwrap();
        let buckets = config.buckets();
        for b in [
            "trainq-prod-data",
            "trainq-prod-models",
            "trainq-research-data",
            "trainq-research-models",
        ] {
            assert!(buckets.contains(&b.to_owned()), "{buckets:?}");
        }
        let params = config.template_parameters();
        assert_eq!(params["Target"], "local");
        assert_eq!(params["ProductionModelBucket"], "trainq-prod-models");
        assert_eq!(params["ResearchDataBuckets"], "trainq-research-data");
        let e = DevstackConfig::load(Path::new("/nonexistent.json")).unwrap_err();
        assert!(e.contains("/nonexistent.json"));
    }
}
