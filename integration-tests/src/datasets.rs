//! Training data in moto's S3: the defect trainer's synthetic images under a channel prefix.

use aws_sdk_s3::primitives::ByteStream;

use crate::world::World;

impl World {
    /// An S3 client on moto (path-style, as moto serves it).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.sdk)
                .force_path_style(true)
                .build(),
        )
    }

    /// Creates `bucket` unless it exists (buckets are shared by every test of a binary).
    pub async fn ensure_bucket(&self, bucket: &str) {
        let s3 = self.s3();
        if s3.head_bucket().bucket(bucket).send().await.is_ok() {
            return;
        }
        let location = aws_sdk_s3::types::CreateBucketConfiguration::builder()
            .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                crate::world::REGION,
            ))
            .build();
        let created = s3
            .create_bucket()
            .bucket(bucket)
            .create_bucket_configuration(location)
            .send()
            .await;
        if let Err(e) = created {
            // Another test of this binary created it in between.
            let code = aws_sdk_s3::error::ProvideErrorMetadata::code(&e)
                .unwrap_or_default()
                .to_owned();
            assert!(
                code.starts_with("BucketAlready"),
                "CreateBucket {bucket}: {e:?}"
            );
        }
    }

    /// Writes `count` synthetic images (from `seed`) and their labels under `uri`
    /// (`s3://bucket/prefix/`).
    pub async fn upload_dataset(&self, uri: &str, seed: u64, count: usize) {
        let (bucket, prefix) = uri
            .strip_prefix("s3://")
            .and_then(|r| r.split_once('/'))
            .expect("an s3://bucket/prefix/ URI");
        self.ensure_bucket(bucket).await;
        let dir = std::env::temp_dir().join(format!("trainq-dataset-{}", uuid::Uuid::new_v4()));
        trainq_defect_trainer::images::generate(&dir, seed, count).expect("generate");
        let s3 = self.s3();
        for entry in std::fs::read_dir(&dir).expect("dataset dir").flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            s3.put_object()
                .bucket(bucket)
                .key(format!("{prefix}{name}"))
                .body(ByteStream::from(std::fs::read(entry.path()).expect("read")))
                .send()
                .await
                .expect("PutObject");
        }
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
