//! Training data in the local S3: the defect trainer's synthetic images under a channel
//! prefix, as the demo and the tests need them.

use aws_config::SdkConfig;
use trainq_infra::errors::describe;

/// An S3 client for moto (path-style addressing, as moto serves it).
pub fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    )
}

/// Writes `count` synthetic images (from `seed`) and their `labels.csv` under `uri`
/// (`s3://bucket/prefix/`, an existing bucket); returns how many objects were written.
pub async fn upload(
    s3: &aws_sdk_s3::Client,
    uri: &str,
    seed: u64,
    count: usize,
) -> Result<usize, String> {
    let (bucket, prefix) = uri
        .strip_prefix("s3://")
        .and_then(|r| r.split_once('/'))
        .ok_or_else(|| format!("`{uri}` is not an s3://bucket/prefix/ URI"))?;
    let dir = std::env::temp_dir().join(format!("trainq-dataset-{}", uuid::Uuid::new_v4()));
    trainq_defect_trainer::images::generate(&dir, seed, count)
        .map_err(|e| format!("generating images: {e}"))?;
    let entries: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| e.to_string())?
        .flatten()
        .collect();
    let uploads = entries.iter().map(|entry| async move {
        let key = format!("{prefix}{}", entry.file_name().to_string_lossy());
        let bytes = std::fs::read(entry.path()).map_err(|e| e.to_string())?;
        s3.put_object()
            .bucket(bucket)
            .key(&key)
            .body(bytes.into())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("PutObject s3://{bucket}/{key}: {}", describe(&e)))
    });
    let results = futures::future::join_all(uploads).await;
    let _ = std::fs::remove_dir_all(&dir);
    results
        .into_iter()
        .collect::<Result<Vec<()>, String>>()
        .map(|done| done.len())
}
