//! The training run: configuration and data from the contract, an epoch loop that resumes
//! from the last checkpoint, metric lines for SageMaker's metric definitions, the model and its
//! manifest at the end.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::contract::{Hyperparameters, MlRoot};
use crate::features;
use crate::images::{self, SIZE};
use crate::model::Model;
use crate::rng::Rng;

/// The format written to `model/model.json`; the manifest names it (with [`FORMAT_VERSION`]).
pub const MODEL_FORMAT: &str = "trainq-defect-mlp";
/// The format's version: a new major version is a change the serving code must be told of.
pub const FORMAT_VERSION: &str = "1.0";
/// The classes, in the order of the model's scores.
pub const LABELS: [&str; 2] = ["ok", "scratch"];

/// Why a run failed: the text for `output/failure`.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure(pub String);

/// What survives an interruption: the model after `epoch`, and the generator's state.
#[derive(Debug, Serialize, Deserialize)]
struct Checkpoint {
    epoch: u32,
    model: Model,
    rng: Rng,
}

type Set = Vec<(Vec<f64>, bool)>;

/// Trains under `root`; `Err` carries the failure reason.
pub fn run(root: &MlRoot) -> Result<(), Failure> {
    let hp = read_hyperparameters(root)?;
    if let Ok(hosts) = std::fs::read_to_string(root.resource_config()) {
        println!("resource config: {}", hosts.trim());
    }
    let (train, validation) = read_data(root)?;
    println!(
        "training on {} images, validating on {} ({hp:?})",
        train.len(),
        validation.len()
    );
    let checkpoint_path = root.checkpoints().join("checkpoint.json");
    let (mut model, mut rng, done) = match resume(&checkpoint_path) {
        Some(c) => {
            println!("resumed from checkpoint at epoch {}", c.epoch);
            (c.model, c.rng, c.epoch)
        }
        None => {
            let mut rng = Rng::new(hp.seed);
            (Model::new(&train, hp.hidden, &mut rng), rng, 0)
        }
    };
    let mut last = model.score(&validation);
    for epoch in done + 1..=hp.epochs {
        let loss = model.epoch(&train, hp.lr, hp.batch, &mut rng);
        last = model.score(&validation);
        println!(
            "epoch={epoch}/{} train:loss={loss:.5} validation:loss={:.5} validation:accuracy={:.4}",
            hp.epochs, last.loss, last.accuracy
        );
        let checkpoint = Checkpoint {
            epoch,
            model: model.clone(),
            rng: rng.clone(),
        };
        write_atomically(
            &checkpoint_path,
            &serde_json::to_vec(&checkpoint).unwrap_or_default(),
        )
        .map_err(|e| Failure(format!("cannot write checkpoint: {e}")))?;
        if hp.epoch_delay_ms > 0 {
            std::thread::sleep(std::time::Duration::from_millis(hp.epoch_delay_ms));
        }
    }
    // trainq's model manifest, schema v1 (docs/model-manifest.schema.json); the fields after
    // `labels` are this trainer's own and are recorded, not compared.
    let manifest = json!({
        "manifest_version": 1,
        "format": {"name": MODEL_FORMAT, "version": FORMAT_VERSION},
        "framework": {"name": "defect-trainer", "version": env!("CARGO_PKG_VERSION")},
        "inputs": [{"name": "image", "dtype": "uint8", "shape": [SIZE, SIZE, 1]}],
        "outputs": [{"name": "scores", "dtype": "float32", "shape": [LABELS.len()]}],
        "labels": LABELS,
        "features": features::COUNT,
        "epochs": hp.epochs,
        "metrics": {"validation:accuracy": last.accuracy, "validation:loss": last.loss},
    });
    let model_dir = root.model();
    std::fs::create_dir_all(&model_dir)
        .and_then(|()| {
            std::fs::write(
                model_dir.join("model.json"),
                serde_json::to_vec(&model).unwrap_or_default(),
            )
        })
        .and_then(|()| std::fs::write(model_dir.join("manifest.json"), manifest.to_string()))
        .map_err(|e| Failure(format!("cannot write the model: {e}")))?;
    println!("model written to {}", model_dir.display());
    Ok(())
}

fn read_hyperparameters(root: &MlRoot) -> Result<Hyperparameters, Failure> {
    let path = root.hyperparameters();
    let map: BTreeMap<String, String> = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            Failure(format!(
                "{}: not a JSON map of strings: {e}",
                path.display()
            ))
        })?,
        Err(_) => BTreeMap::new(),
    };
    Hyperparameters::from_map(&map).map_err(Failure)
}

/// The `train` channel (required) and `validation` (else the last fifth of `train`).
fn read_data(root: &MlRoot) -> Result<(Set, Set), Failure> {
    let load = |name: &str| -> Result<Set, Failure> {
        let set = images::load(&root.channel(name))
            .map_err(|e| Failure(format!("bad data in channel `{name}`: {e}")))?;
        Ok(set.iter().map(|(img, y)| (features::of(img), *y)).collect())
    };
    let mut train = load("train")?;
    let validation = if root.channel("validation").exists() {
        load("validation")?
    } else {
        let keep = train.len() - train.len() / 5;
        train.split_off(keep)
    };
    let both_classes = |s: &Set| s.iter().any(|(_, y)| *y) && s.iter().any(|(_, y)| !*y);
    if train.len() < 10 || !both_classes(&train) {
        return Err(Failure(format!(
            "bad data in channel `train`: {} images; at least 10 with both labels are needed",
            train.len()
        )));
    }
    if validation.is_empty() {
        return Err(Failure("bad data: the validation set is empty".into()));
    }
    Ok((train, validation))
}

fn resume(path: &Path) -> Option<Checkpoint> {
    let bytes = std::fs::read(path).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(c) => Some(c),
        Err(e) => {
            println!("ignoring an unreadable checkpoint ({e}); starting over");
            None
        }
    }
}

/// Writes through a temporary file and a rename, so an interruption never leaves half a file.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(name: &str) -> (MlRoot, std::path::PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("defect-trainer-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        (MlRoot::at(&dir), dir)
    }

    fn hyperparameters(root: &MlRoot, json: &str) {
        std::fs::create_dir_all(root.hyperparameters().parent().unwrap()).unwrap();
        std::fs::write(root.hyperparameters(), json).unwrap();
    }

    #[test]
    fn it_trains_checkpoints_resumes_and_writes_the_model() {
        let (root, dir) = root("train");
        images::generate(&root.channel("train"), 3, 200).unwrap();
        hyperparameters(&root, r#"{"epochs": "4", "lr": "0.1"}"#);
        run(&root).unwrap();
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(root.model().join("manifest.json")).unwrap())
                .unwrap();
        assert_eq!(manifest["manifest_version"], 1);
        assert_eq!(manifest["format"]["name"], MODEL_FORMAT);
        assert_eq!(manifest["inputs"][0]["shape"], json!([32, 32, 1]));
        assert_eq!(manifest["labels"], json!(["ok", "scratch"]));
        assert!(manifest["metrics"]["validation:accuracy"].as_f64().unwrap() > 0.8);
        let cp: Checkpoint = serde_json::from_slice(
            &std::fs::read(root.checkpoints().join("checkpoint.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(cp.epoch, 4);

        // More epochs asked: the run resumes after epoch 4 and ends at 6.
        hyperparameters(&root, r#"{"epochs": "6", "lr": "0.1"}"#);
        run(&root).unwrap();
        let cp: Checkpoint = serde_json::from_slice(
            &std::fs::read(root.checkpoints().join("checkpoint.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(cp.epoch, 6);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn bad_data_and_bad_hyperparameters_are_failures_that_say_why() {
        let (root, dir) = root("bad");
        assert!(run(&root).unwrap_err().0.contains("channel `train`"));
        images::generate(&root.channel("train"), 3, 5).unwrap();
        assert!(run(&root).unwrap_err().0.contains("at least 10"));
        hyperparameters(&root, r#"{"epochs": "many"}"#);
        assert!(run(&root).unwrap_err().0.contains("`epochs`"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
