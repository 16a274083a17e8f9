//! AWS's service models, read from the botocore data that the pinned moto install brings
//! (`.venv/lib/python3.*/site-packages/botocore/data/<service>/<version>/service-2.json.gz`).
//!
//! Only what validation needs is kept: the protocol, how requests name the service (the JSON
//! protocols' `X-Amz-Target` prefix, SigV4's signing name), the operations' input shapes, and
//! every shape's constraints. A service's model is read on its first request and kept for the
//! life of the process.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde_json::Value;

/// Why the models cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// No botocore data directory.
    #[error("AWS service models not found at `{0}`: run `make venv` (or set TRAINQ_BOTOCORE_DATA)")]
    NoData(PathBuf),
    /// A model file could not be read or parsed.
    #[error("AWS service model `{path}`: {reason}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// One member of a structure, or the member/key/value of a list or map.
#[derive(Debug, Clone, Deserialize)]
pub struct MemberRef {
    /// The shape's name.
    pub shape: String,
    /// Where the member travels in REST protocols (`uri`, `header`, `querystring`, …).
    #[serde(default)]
    pub location: Option<String>,
    /// The member's name on the wire, where it differs (query protocol, headers).
    #[serde(default, rename = "locationName")]
    pub location_name: Option<String>,
    /// The query protocol sends this list without the `.member.` level.
    #[serde(default)]
    pub flattened: bool,
}

/// A shape: its type and its constraints.
#[derive(Debug, Clone, Deserialize)]
pub struct Shape {
    /// `structure`, `list`, `map`, `string`, `integer`, `long`, `float`, `double`,
    /// `boolean`, `blob` or `timestamp`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A structure's members.
    #[serde(default)]
    pub members: BTreeMap<String, MemberRef>,
    /// A structure's required members.
    #[serde(default)]
    pub required: Vec<String>,
    /// A list's element.
    #[serde(default)]
    pub member: Option<MemberRef>,
    /// A map's key.
    #[serde(default)]
    pub key: Option<MemberRef>,
    /// A map's value.
    #[serde(default)]
    pub value: Option<MemberRef>,
    /// Minimum length (strings, blobs, lists, maps) or value (numbers).
    #[serde(default)]
    pub min: Option<f64>,
    /// Maximum length or value.
    #[serde(default)]
    pub max: Option<f64>,
    /// Regular expression (Java syntax) a string must match as a whole.
    #[serde(default)]
    pub pattern: Option<String>,
    /// Allowed values of a string.
    #[serde(default, rename = "enum")]
    pub enumeration: Option<Vec<String>>,
    /// Exactly one member of this structure may be set.
    #[serde(default)]
    pub union: bool,
    /// The value is left out of messages.
    #[serde(default)]
    pub sensitive: bool,
    /// The list is sent flattened (query protocol).
    #[serde(default)]
    pub flattened: bool,
}

#[derive(Debug, Deserialize)]
struct Operation {
    #[serde(default)]
    input: Option<MemberRef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    api_version: String,
    protocol: String,
    #[serde(default)]
    json_version: Option<String>,
    #[serde(default)]
    target_prefix: Option<String>,
    #[serde(default)]
    signing_name: Option<String>,
    #[serde(default)]
    endpoint_prefix: Option<String>,
    #[serde(default)]
    aws_query_compatible: Option<Value>,
    #[serde(default)]
    xml_namespace: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawModel {
    metadata: Metadata,
    operations: HashMap<String, Operation>,
    shapes: HashMap<String, Shape>,
}

/// One service's model.
#[derive(Debug)]
pub struct ServiceModel {
    /// The botocore directory name (`sagemaker`, `dynamodb`, `service-quotas`, …).
    pub name: String,
    /// The API version (`2017-07-24`).
    pub api_version: String,
    /// `json`, `query`, `rest-json` or `rest-xml`.
    pub protocol: String,
    /// `1.0` or `1.1` for the JSON protocol.
    pub json_version: Option<String>,
    /// JSON services that also answer in the query protocol's error codes (SQS).
    pub query_compatible: bool,
    /// The XML namespace of a query-protocol service's answers.
    pub xml_namespace: Option<String>,
    operations: HashMap<String, Option<String>>,
    shapes: HashMap<String, Shape>,
}

impl ServiceModel {
    /// Whether the service has `operation`.
    pub fn has_operation(&self, operation: &str) -> bool {
        self.operations.contains_key(operation)
    }

    /// The input shape of `operation` (`None` for an operation without input or unknown).
    pub fn input_shape(&self, operation: &str) -> Option<&str> {
        self.operations.get(operation)?.as_deref()
    }

    /// A shape by name.
    pub fn shape(&self, name: &str) -> Option<&Shape> {
        self.shapes.get(name)
    }

    /// Every shape (for tests that compile every pattern).
    pub fn shapes(&self) -> impl Iterator<Item = (&String, &Shape)> {
        self.shapes.iter()
    }

    /// Every operation name.
    pub fn operations(&self) -> impl Iterator<Item = &String> {
        self.operations.keys()
    }
}

/// Where a service's model lives, and how requests name it.
#[derive(Debug, Clone)]
struct IndexEntry {
    name: String,
    file: PathBuf,
    metadata: Metadata,
}

/// The botocore data directory: an index of services, and their models loaded on demand.
pub struct Models {
    root: PathBuf,
    index: Vec<IndexEntry>,
    loaded: Mutex<HashMap<String, Arc<ServiceModel>>>,
}

impl std::fmt::Debug for Models {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Models").field("root", &self.root).finish()
    }
}

impl Models {
    /// The botocore data of the project's `.venv` under `workspace`, or `$TRAINQ_BOTOCORE_DATA`.
    pub fn locate(workspace: &Path) -> Result<Self, ModelError> {
        if let Some(dir) = std::env::var_os("TRAINQ_BOTOCORE_DATA") {
            return Self::open(Path::new(&dir));
        }
        let lib = workspace.join(".venv/lib");
        let found = std::fs::read_dir(&lib).ok().and_then(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path().join("site-packages/botocore/data"))
                .find(|p| p.is_dir())
        });
        Self::open(&found.unwrap_or_else(|| lib.join("python3/site-packages/botocore/data")))
    }

    /// The botocore data directory `root`: every service's newest version is indexed.
    pub fn open(root: &Path) -> Result<Self, ModelError> {
        let entries = std::fs::read_dir(root).map_err(|_| ModelError::NoData(root.to_owned()))?;
        let mut index = Vec::new();
        for service in entries.filter_map(Result::ok) {
            let Some(file) = newest_model_file(&service.path()) else {
                continue;
            };
            let name = service.file_name().to_string_lossy().into_owned();
            let metadata = read_metadata(&file)?;
            index.push(IndexEntry {
                name,
                file,
                metadata,
            });
        }
        if index.is_empty() {
            return Err(ModelError::NoData(root.to_owned()));
        }
        index.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Self {
            root: root.to_owned(),
            index,
            loaded: Mutex::new(HashMap::new()),
        })
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The JSON-protocol service whose `X-Amz-Target` prefix is `prefix` (`DynamoDB_20120810`).
    pub fn by_target_prefix(&self, prefix: &str) -> Result<Option<Arc<ServiceModel>>, ModelError> {
        let entry = self
            .index
            .iter()
            .find(|e| e.metadata.target_prefix.as_deref() == Some(prefix));
        entry.map(|e| self.load(e)).transpose()
    }

    /// The service whose SigV4 signing name (or, without one, endpoint prefix) is `name`.
    pub fn by_signing_name(&self, name: &str) -> Result<Option<Arc<ServiceModel>>, ModelError> {
        let signs = |e: &&IndexEntry| {
            e.metadata
                .signing_name
                .as_deref()
                .or(e.metadata.endpoint_prefix.as_deref())
                == Some(name)
        };
        let entry = self
            .index
            .iter()
            .filter(signs)
            .find(|e| e.name == name)
            .or_else(|| self.index.iter().find(signs));
        entry.map(|e| self.load(e)).transpose()
    }

    /// The service in the directory `name` (`sagemaker`).
    pub fn by_name(&self, name: &str) -> Result<Option<Arc<ServiceModel>>, ModelError> {
        let entry = self.index.iter().find(|e| e.name == name);
        entry.map(|e| self.load(e)).transpose()
    }

    fn load(&self, entry: &IndexEntry) -> Result<Arc<ServiceModel>, ModelError> {
        if let Some(model) = self.loaded.lock().unwrap().get(&entry.name) {
            return Ok(Arc::clone(model));
        }
        let unreadable = |reason: String| ModelError::Unreadable {
            path: entry.file.clone(),
            reason,
        };
        let text = read_model_text(&entry.file, None).map_err(|e| unreadable(e.to_string()))?;
        let raw: RawModel = serde_json::from_str(&text).map_err(|e| unreadable(e.to_string()))?;
        let model = Arc::new(ServiceModel {
            name: entry.name.clone(),
            api_version: raw.metadata.api_version,
            protocol: raw.metadata.protocol,
            json_version: raw.metadata.json_version,
            query_compatible: raw.metadata.aws_query_compatible.is_some(),
            xml_namespace: raw.metadata.xml_namespace,
            operations: raw
                .operations
                .into_iter()
                .map(|(name, op)| (name, op.input.map(|i| i.shape)))
                .collect(),
            shapes: raw.shapes,
        });
        self.loaded
            .lock()
            .unwrap()
            .insert(entry.name.clone(), Arc::clone(&model));
        Ok(model)
    }
}

/// `<service>/<newest version>/service-2.json(.gz)`.
fn newest_model_file(service: &Path) -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir(service)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    versions.sort();
    versions.into_iter().rev().find_map(|v| {
        ["service-2.json.gz", "service-2.json"]
            .iter()
            .map(|f| v.join(f))
            .find(|f| f.is_file())
    })
}

/// The text of a model file, whole or its first `limit` bytes.
fn read_model_text(file: &Path, limit: Option<u64>) -> std::io::Result<String> {
    let raw = std::fs::File::open(file)?;
    let reader: Box<dyn Read> = if file.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::GzDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    let mut bytes = Vec::new();
    match limit {
        Some(n) => reader.take(n).read_to_end(&mut bytes)?,
        None => std::io::BufReader::new(reader).read_to_end(&mut bytes)?,
    };
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The `metadata` object, which botocore writes near the top of each file: reading a few KiB
/// indexes all ~400 services in a fraction of a second.
fn read_metadata(file: &Path) -> Result<Metadata, ModelError> {
    let unreadable = |reason: &str| ModelError::Unreadable {
        path: file.to_owned(),
        reason: reason.to_owned(),
    };
    let head = read_model_text(file, Some(16 * 1024)).map_err(|e| unreadable(&e.to_string()))?;
    let start = head
        .find("\"metadata\"")
        .and_then(|i| head[i..].find(':').map(|j| i + j + 1))
        .ok_or_else(|| unreadable("no metadata near the top"))?;
    serde_json::Deserializer::from_str(&head[start..])
        .into_iter::<Metadata>()
        .next()
        .ok_or_else(|| unreadable("no metadata"))?
        .map_err(|e| unreadable(&e.to_string()))
}
