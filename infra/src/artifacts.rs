//! Model artifacts in S3: the manifest a job wrote at the root of its `model.tar.gz`.
//!
//! The archive is fetched whole (up to [`MAX_ARTIFACT_BYTES`]; the models trainq trains are
//! small) and decompressed only until the manifest is found.

use std::io::Read;

use aws_config::SdkConfig;
use aws_sdk_s3::Client;
use trainq_common::ServiceError;
use trainq_common::manifest::{MANIFEST_FILE, MAX_MANIFEST_BYTES};
use trainq_common::registry::split_s3_uri;

use crate::errors::{classify, describe};

/// The largest `model.tar.gz` searched for a manifest.
pub const MAX_ARTIFACT_BYTES: i64 = 128 * 1024 * 1024;

/// An S3 client from the shared configuration. Where the endpoint is overridden (the local
/// stack, whose moto serves buckets by path), requests are path-style; in AWS, virtual-hosted.
pub fn s3_client(sdk: &SdkConfig) -> Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(sdk.endpoint_url().is_some())
        .build();
    Client::from_conf(config)
}

/// The bytes of the manifest in the archive at `url`; `None` when the object or the manifest
/// does not exist; `Invalid` when the object is no archive or too large to search.
pub(crate) async fn read_manifest(s3: &Client, url: &str) -> Result<Option<Vec<u8>>, ServiceError> {
    let (bucket, key) = split_s3_uri(url)
        .ok_or_else(|| ServiceError::Invalid(format!("`{url}` is not an s3:// URI")))?;
    let object = match s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(classify)
    {
        Ok(o) => o,
        Err(ServiceError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    if object.content_length().unwrap_or(0) > MAX_ARTIFACT_BYTES {
        return Err(ServiceError::Invalid(format!(
            "the artifact is {} bytes; manifests are searched in archives of at most {MAX_ARTIFACT_BYTES}",
            object.content_length().unwrap_or(0)
        )));
    }
    let bytes = object
        .body
        .collect()
        .await
        .map_err(|e| ServiceError::Transient(format!("reading {url}: {}", describe(&e))))?
        .into_bytes();
    manifest_in(&bytes)
}

/// The manifest's bytes inside a gzipped tar, if it holds one at its root.
fn manifest_in(archive: &[u8]) -> Result<Option<Vec<u8>>, ServiceError> {
    let unreadable = |e: std::io::Error| ServiceError::Invalid(format!("not a model.tar.gz: {e}"));
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    for entry in tar.entries().map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let path = entry.path().map_err(unreadable)?.into_owned();
        let name = path.to_string_lossy();
        if name.trim_start_matches("./") != MANIFEST_FILE {
            continue;
        }
        // One byte more than allowed, so the parser can say it is too large.
        let mut bytes = Vec::new();
        entry
            .take(MAX_MANIFEST_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(unreadable)?;
        return Ok(Some(bytes));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(files: &[(&str, &[u8])]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        for (name, bytes) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, name, *bytes).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn the_manifest_is_found_at_the_root_of_the_archive() {
        let a = archive(&[("./model.json", b"{}"), ("./manifest.json", b"{\"m\": 1}")]);
        assert_eq!(
            manifest_in(&a).unwrap().as_deref(),
            Some(&b"{\"m\": 1}"[..])
        );
        let a = archive(&[("sub/manifest.json", b"x"), ("model.json", b"{}")]);
        assert_eq!(manifest_in(&a).unwrap(), None, "only at the root");
        assert!(matches!(
            manifest_in(b"not gzip"),
            Err(ServiceError::Invalid(_))
        ));
    }
}
