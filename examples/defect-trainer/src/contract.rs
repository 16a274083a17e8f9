//! The SageMaker training container contract, as this program uses it: where it finds its
//! configuration and data, where it leaves the model, checkpoints and a failure reason.
//!
//! Everything lives under `/opt/ml` in a SageMaker container. The local runtime (devstack)
//! runs several jobs on one machine, so it gives each job its own root in `TRAINQ_ML_ROOT`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The job's `/opt/ml`.
#[derive(Debug, Clone)]
pub struct MlRoot(PathBuf);

impl MlRoot {
    /// `TRAINQ_ML_ROOT`, else `/opt/ml`.
    pub fn from_env() -> Self {
        Self(std::env::var_os("TRAINQ_ML_ROOT").map_or_else(|| "/opt/ml".into(), PathBuf::from))
    }

    /// A root at `path` (tests).
    pub fn at(path: &Path) -> Self {
        Self(path.to_owned())
    }

    /// `input/config/hyperparameters.json`: every value a string.
    pub fn hyperparameters(&self) -> PathBuf {
        self.0.join("input/config/hyperparameters.json")
    }

    /// `input/config/resourceconfig.json`: hosts of the job.
    pub fn resource_config(&self) -> PathBuf {
        self.0.join("input/config/resourceconfig.json")
    }

    /// `input/data/<channel>/`.
    pub fn channel(&self, name: &str) -> PathBuf {
        self.0.join("input/data").join(name)
    }

    /// `model/`: uploaded as `model.tar.gz` when the job completes.
    pub fn model(&self) -> PathBuf {
        self.0.join("model")
    }

    /// `checkpoints/`: synced with the job's checkpoint S3 prefix both ways.
    pub fn checkpoints(&self) -> PathBuf {
        self.0.join("checkpoints")
    }

    /// `output/failure`: its text becomes the job's failure reason.
    pub fn failure(&self) -> PathBuf {
        self.0.join("output/failure")
    }
}

/// The hyperparameters this program takes, with their defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Hyperparameters {
    /// Passes over the training set (1–1000, default 10).
    pub epochs: u32,
    /// SGD learning rate (default 0.05).
    pub lr: f64,
    /// Hidden units (1–256, default 16).
    pub hidden: usize,
    /// Minibatch size (1–4096, default 32).
    pub batch: usize,
    /// Seed of the initial weights and the shuffles (default 1).
    pub seed: u64,
    /// Pause after each epoch, in milliseconds (default 0): lets a demo interrupt or stop a
    /// job in the middle of training.
    pub epoch_delay_ms: u64,
}

impl Default for Hyperparameters {
    fn default() -> Self {
        Self {
            epochs: 10,
            lr: 0.05,
            hidden: 16,
            batch: 32,
            seed: 1,
            epoch_delay_ms: 0,
        }
    }
}

impl Hyperparameters {
    /// Reads SageMaker's string map; an unknown key or a bad value is an error naming it.
    pub fn from_map(map: &BTreeMap<String, String>) -> Result<Self, String> {
        let mut hp = Self::default();
        for (key, value) in map {
            let bad = |rule: &str| format!("hyperparameter `{key}` = `{value}`: {rule}");
            let int = |lo: u64, hi: u64| {
                value
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|v| (lo..=hi).contains(v))
                    .ok_or_else(|| bad(&format!("must be a whole number in {lo}..={hi}")))
            };
            match key.as_str() {
                "epochs" => hp.epochs = int(1, 1000)? as u32,
                "hidden" => hp.hidden = int(1, 256)? as usize,
                "batch" => hp.batch = int(1, 4096)? as usize,
                "seed" => hp.seed = int(0, u64::MAX)?,
                "epoch_delay_ms" => hp.epoch_delay_ms = int(0, 600_000)?,
                "lr" => {
                    hp.lr = value
                        .trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|v| *v > 0.0 && *v <= 10.0)
                        .ok_or_else(|| bad("must be a number in (0, 10]"))?;
                }
                _ => {
                    return Err(bad(
                        "unknown (known: epochs, lr, hidden, batch, seed, epoch_delay_ms)",
                    ));
                }
            }
        }
        Ok(hp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn hyperparameters_default_parse_and_name_the_bad_one() {
        assert_eq!(
            Hyperparameters::from_map(&map(&[])),
            Ok(Hyperparameters::default())
        );
        let hp = Hyperparameters::from_map(&map(&[("epochs", "3"), ("lr", "0.1")])).unwrap();
        assert_eq!((hp.epochs, hp.lr), (3, 0.1));
        for (k, v) in [("epochs", "0"), ("lr", "fast"), ("dropout", "0.5")] {
            let e = Hyperparameters::from_map(&map(&[(k, v)])).unwrap_err();
            assert!(e.starts_with(&format!("hyperparameter `{k}`")), "{e}");
        }
    }
}
