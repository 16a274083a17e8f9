//! The S3 side of a job, in moto: channels and checkpoints down, checkpoints and the model
//! (`model.tar.gz`) up.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use trainq_infra::errors::describe;

/// A failure to move data, in words for a job's failure reason.
pub(super) type StorageError = String;

/// moto's S3, reached with the SDK (path-style addressing, as moto serves it).
#[derive(Clone)]
pub(in crate::sagemaker) struct Storage {
    client: Client,
}

/// `s3://bucket/key` → (bucket, key).
fn split(uri: &str) -> Result<(&str, &str), StorageError> {
    let rest = uri
        .strip_prefix("s3://")
        .ok_or_else(|| format!("`{uri}` is not an s3:// URI"))?;
    Ok(rest.split_once('/').unwrap_or((rest, "")))
}

impl Storage {
    /// A client for moto at `moto_url`.
    pub(in crate::sagemaker) fn new(moto_url: &str) -> Self {
        let config = aws_sdk_s3::config::Builder::new()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "devstack", "devstack", None, None, "devstack",
            ))
            .endpoint_url(moto_url)
            .force_path_style(true)
            .build();
        Self {
            client: Client::from_conf(config),
        }
    }

    /// Downloads every object under `uri` (a prefix) into `dir`, keeping relative paths.
    /// Returns how many files were written.
    pub(super) async fn download_prefix(
        &self,
        uri: &str,
        dir: &Path,
    ) -> Result<usize, StorageError> {
        let (bucket, prefix) = split(uri)?;
        let mut token = None;
        let mut count = 0;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| format!("cannot list {uri}: {}", describe(&e)))?;
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                let relative = key
                    .strip_prefix(prefix)
                    .unwrap_or(key)
                    .trim_start_matches('/');
                if relative.is_empty()
                    || relative.ends_with('/')
                    || relative.split('/').any(|p| p == "..")
                {
                    continue;
                }
                let body = self.get(bucket, key).await?;
                let path = dir.join(relative);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
                }
                std::fs::write(&path, body).map_err(|e| format!("{}: {e}", path.display()))?;
                count += 1;
            }
            token = page.next_continuation_token().map(str::to_owned);
            if token.is_none() {
                return Ok(count);
            }
        }
    }

    /// The object at `uri`, as text.
    pub(in crate::sagemaker) async fn get_text(&self, uri: &str) -> Result<String, StorageError> {
        let (bucket, key) = split(uri)?;
        let bytes = self.get(bucket, key).await?;
        String::from_utf8(bytes.to_vec()).map_err(|e| format!("{uri}: {e}"))
    }

    /// The object `key` of `bucket`, whole.
    async fn get(&self, bucket: &str, key: &str) -> Result<bytes::Bytes, StorageError> {
        let read = |e: String| format!("cannot read s3://{bucket}/{key}: {e}");
        self.client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| read(describe(&e)))?
            .body
            .collect()
            .await
            .map_err(|e| read(e.to_string()))
            .map(|b| b.into_bytes())
    }

    /// Uploads `bytes` to `uri`.
    pub(in crate::sagemaker) async fn put(
        &self,
        uri: &str,
        bytes: Vec<u8>,
    ) -> Result<(), StorageError> {
        let (bucket, key) = split(uri)?;
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("cannot write {uri}: {}", describe(&e)))
    }
}

/// Keeps a local checkpoint directory and its S3 prefix in step: uploads what changed since
/// the last sync (SageMaker syncs `/opt/ml/checkpoints` to `CheckpointConfig.S3Uri`).
pub(super) struct CheckpointSync {
    dir: PathBuf,
    uri: String,
    seen: BTreeMap<PathBuf, (u64, Option<SystemTime>)>,
    /// Files uploaded so far.
    pub(super) uploads: usize,
}

impl CheckpointSync {
    pub(super) fn new(dir: PathBuf, uri: &str) -> Self {
        Self {
            dir,
            uri: uri.trim_end_matches('/').to_owned(),
            seen: BTreeMap::new(),
            uploads: 0,
        }
    }

    /// Marks what is on disk now as already in S3 (right after downloading it).
    pub(super) fn mark_current(&mut self) {
        for (path, stamp) in files(&self.dir) {
            self.seen.insert(path, stamp);
        }
    }

    /// Uploads new and changed files; returns how many.
    pub(super) async fn sync(&mut self, storage: &Storage) -> Result<usize, StorageError> {
        let mut uploaded = 0;
        for (path, stamp) in files(&self.dir) {
            if self.seen.get(&path) == Some(&stamp) {
                continue;
            }
            let Ok(relative) = path.strip_prefix(&self.dir) else {
                continue;
            };
            // Temporary files of an atomic write are not checkpoints yet.
            if relative.extension().is_some_and(|e| e == "tmp") {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let key = relative.to_string_lossy().replace('\\', "/");
            storage.put(&format!("{}/{key}", self.uri), bytes).await?;
            self.seen.insert(path, stamp);
            uploaded += 1;
        }
        self.uploads += uploaded;
        Ok(uploaded)
    }
}

/// Every file below `dir` with its size and modification time.
fn files(dir: &Path) -> Vec<(PathBuf, (u64, Option<SystemTime>))> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.metadata() {
                Ok(m) if m.is_dir() => pending.push(path),
                Ok(m) => out.push((path, (m.len(), m.modified().ok()))),
                Err(_) => {}
            }
        }
    }
    out
}

/// `files` (name, bytes) as a gzipped tar at its root.
pub(in crate::sagemaker) fn tar_gz_files(files: &[(&str, &[u8])]) -> std::io::Result<Vec<u8>> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut archive = tar::Builder::new(encoder);
    for (name, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        archive.append_data(&mut header, name, *bytes)?;
    }
    archive.into_inner()?.finish()
}

/// `dir` as a gzipped tar (what SageMaker uploads as `model.tar.gz`).
pub(super) fn tar_gz(dir: &Path) -> std::io::Result<Vec<u8>> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut archive = tar::Builder::new(encoder);
    archive.append_dir_all(".", dir)?;
    archive.into_inner()?.finish()
}
