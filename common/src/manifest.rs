//! The model manifest: what a training job says about the model it wrote, so the watcher can
//! tell whether the new model can replace the one in service without breaking the service that
//! loads it. The job writes `manifest.json` at the root of its model directory (so it lands in
//! `model.tar.gz`, next to the model); `docs/model-manifest.schema.json` describes it.
//!
//! ```json
//! {"manifest_version": 1,
//!  "format": {"name": "trainq-defect-mlp", "version": "1.0"},
//!  "framework": {"name": "defect-trainer", "version": "0.1.0"},
//!  "inputs": [{"name": "image", "dtype": "uint8", "shape": [32, 32, 1]}],
//!  "outputs": [{"name": "scores", "dtype": "float32", "shape": [2]}],
//!  "labels": ["ok", "scratch"]}
//! ```
//!
//! Compatible means: the same format and format major version, the same inputs and outputs
//! (names, types, shapes, in order) and the same labels in the same order. The framework and
//! any other field the job adds are recorded, not compared.

use serde::{Deserialize, Serialize};

use crate::request::body_digest;

/// The manifest version this code reads.
pub const MANIFEST_VERSION: u32 = 1;
/// The file's name at the root of the model directory (and of `model.tar.gz`).
pub const MANIFEST_FILE: &str = "manifest.json";
/// The largest manifest read: a signature and labels, not the model.
pub const MAX_MANIFEST_BYTES: usize = 64 * 1024;

/// A model manifest, version 1. Unknown fields are allowed (and ignored): a job may say more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelManifest {
    /// Always 1 for this schema.
    pub manifest_version: u32,
    /// The serialisation the serving code loads.
    pub format: Versioned,
    /// What trained it (recorded, not compared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework: Option<Versioned>,
    /// The input signature, in order.
    pub inputs: Vec<Tensor>,
    /// The output signature, in order.
    pub outputs: Vec<Tensor>,
    /// Class labels, in output order (empty for models without classes).
    #[serde(default)]
    pub labels: Vec<String>,
}

/// A name and a version (`major.minor[.patch]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versioned {
    /// The name.
    pub name: String,
    /// The version; a different major (before the first `.`) is a breaking change.
    pub version: String,
}

impl Versioned {
    /// The major version.
    pub fn major(&self) -> &str {
        self.version.split('.').next().unwrap_or_default()
    }
}

/// One tensor of a signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tensor {
    /// Its name.
    pub name: String,
    /// Its element type, e.g. `uint8`, `float32`.
    pub dtype: String,
    /// Its shape; `-1` for a dimension of any size (a batch).
    pub shape: Vec<i64>,
}

/// A manifest as read from an artifact: parsed, and the digest of its bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadManifest {
    /// The manifest.
    pub manifest: ModelManifest,
    /// `sha256:…` of the file as written.
    pub digest: String,
}

impl ReadManifest {
    /// Parses `bytes`; the error says what is wrong, in words for a held model's reason.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(format!(
                "{MANIFEST_FILE} is {} bytes; at most {MAX_MANIFEST_BYTES} are read",
                bytes.len()
            ));
        }
        let text =
            std::str::from_utf8(bytes).map_err(|_| format!("{MANIFEST_FILE} is not UTF-8"))?;
        let de = &mut serde_json::Deserializer::from_str(text);
        let manifest: ModelManifest = serde_path_to_error::deserialize(de).map_err(|e| {
            format!(
                "{MANIFEST_FILE} does not follow the schema: `{}`: {}",
                e.path(),
                e.inner()
            )
        })?;
        if manifest.manifest_version != MANIFEST_VERSION {
            return Err(format!(
                "{MANIFEST_FILE} has manifest_version {}; this trainq reads {MANIFEST_VERSION}",
                manifest.manifest_version
            ));
        }
        Ok(Self {
            manifest,
            digest: body_digest(text),
        })
    }
}

/// A field that changed incompatibly, with what it was and what it is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    /// `format.name`, `format.version`, `inputs`, `outputs` or `labels`.
    pub field: String,
    /// The model in service's.
    pub was: String,
    /// The new model's.
    pub now: String,
}

/// The fields in which `new` cannot replace `current` (empty: compatible).
pub fn differences(current: &ModelManifest, new: &ModelManifest) -> Vec<Difference> {
    let mut out = Vec::new();
    let mut differ = |field: &str, was: String, now: String| {
        if was != now {
            out.push(Difference {
                field: field.to_owned(),
                was,
                now,
            });
        }
    };
    differ(
        "format.name",
        current.format.name.clone(),
        new.format.name.clone(),
    );
    differ(
        "format.version",
        format!(
            "{} (major {})",
            current.format.version,
            current.format.major()
        ),
        format!("{} (major {})", new.format.version, new.format.major()),
    );
    // Only the major version breaks: put equal majors back in step.
    if current.format.major() == new.format.major() {
        out.retain(|d| d.field != "format.version");
    }
    let signature = |ts: &[Tensor]| {
        ts.iter()
            .map(|t| format!("{}:{}{:?}", t.name, t.dtype, t.shape))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if current.inputs != new.inputs {
        out.push(Difference {
            field: "inputs".into(),
            was: signature(&current.inputs),
            now: signature(&new.inputs),
        });
    }
    if current.outputs != new.outputs {
        out.push(Difference {
            field: "outputs".into(),
            was: signature(&current.outputs),
            now: signature(&new.outputs),
        });
    }
    if current.labels != new.labels {
        out.push(Difference {
            field: "labels".into(),
            was: current.labels.join(", "),
            now: new.labels.join(", "),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn manifest() -> serde_json::Value {
        json!({"manifest_version": 1,
            "format": {"name": "trainq-defect-mlp", "version": "1.0"},
            "framework": {"name": "defect-trainer", "version": "0.1.0"},
            "inputs": [{"name": "image", "dtype": "uint8", "shape": [32, 32, 1]}],
            "outputs": [{"name": "scores", "dtype": "float32", "shape": [2]}],
            "labels": ["ok", "scratch"],
            "epochs": 8})
    }

    fn read(v: &serde_json::Value) -> ModelManifest {
        ReadManifest::parse(v.to_string().as_bytes())
            .unwrap()
            .manifest
    }

    #[test]
    fn a_minor_format_change_or_a_new_framework_stays_compatible() {
        let mut newer = manifest();
        newer["format"]["version"] = json!("1.3");
        newer["framework"]["version"] = json!("2.0.0");
        assert_eq!(differences(&read(&manifest()), &read(&newer)), []);
    }

    #[test]
    fn breaking_changes_are_named_field_by_field() {
        let mut broken = manifest();
        broken["format"]["version"] = json!("2.0");
        broken["inputs"][0]["shape"] = json!([64, 64, 1]);
        broken["labels"] = json!(["scratch", "ok"]);
        let d = differences(&read(&manifest()), &read(&broken));
        let fields: Vec<&str> = d.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(fields, ["format.version", "inputs", "labels"]);
        assert_eq!(d[1].was, "image:uint8[32, 32, 1]");
        assert_eq!(d[1].now, "image:uint8[64, 64, 1]");
        assert_eq!(d[2].now, "scratch, ok");
        let mut renamed = manifest();
        renamed["outputs"][0]["dtype"] = json!("float16");
        renamed["format"]["name"] = json!("onnx");
        let fields: Vec<String> = differences(&read(&manifest()), &read(&renamed))
            .into_iter()
            .map(|d| d.field)
            .collect();
        assert_eq!(fields, ["format.name", "outputs"]);
    }

    #[test]
    fn a_bad_manifest_says_what_is_wrong() {
        let mut v2 = manifest();
        v2["manifest_version"] = json!(2);
        let e = ReadManifest::parse(v2.to_string().as_bytes()).unwrap_err();
        assert!(e.contains("manifest_version 2"), "{e}");
        let mut no_inputs = manifest();
        no_inputs.as_object_mut().unwrap().remove("inputs");
        let e = ReadManifest::parse(no_inputs.to_string().as_bytes()).unwrap_err();
        assert!(e.contains("inputs"), "{e}");
        assert!(ReadManifest::parse(b"\xff").unwrap_err().contains("UTF-8"));
        let big = vec![b' '; MAX_MANIFEST_BYTES + 1];
        assert!(ReadManifest::parse(&big).unwrap_err().contains("at most"));
        let ok = ReadManifest::parse(manifest().to_string().as_bytes()).unwrap();
        assert!(ok.digest.starts_with("sha256:"));
    }
}

#[cfg(test)]
mod schema_file {
    use super::*;
    use serde_json::Value;

    /// `docs/model-manifest.schema.json` names the same fields, required the same way, and its
    /// example is a manifest this code reads.
    #[test]
    fn the_schema_file_says_what_the_type_reads() {
        let schema: Value =
            serde_json::from_str(include_str!("../../docs/model-manifest.schema.json")).unwrap();
        let example = &schema["examples"][0];
        let read = ReadManifest::parse(example.to_string().as_bytes()).unwrap();
        let typed = serde_json::to_value(&read.manifest).unwrap();
        let names = |v: &Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(names(&schema["properties"]), names(&typed));
        let required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for field in names(&typed) {
            let mut without = example.clone();
            without.as_object_mut().unwrap().remove(&field);
            let refused = ReadManifest::parse(without.to_string().as_bytes()).is_err();
            assert_eq!(refused, required.contains(&field.as_str()), "{field}");
        }
        assert_eq!(
            names(&schema["$defs"]["tensor"]["properties"]),
            ["dtype", "name", "shape"]
        );
    }
}
