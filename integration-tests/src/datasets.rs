//! Training data in moto's S3: the defect trainer's synthetic images under a channel prefix.

use crate::world::World;

impl World {
    /// An S3 client on moto (path-style, as moto serves it).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        trainq_devstack::datasets::s3_client(&self.sdk)
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
    /// (`s3://bucket/prefix/`), creating the bucket if needed.
    pub async fn upload_dataset(&self, uri: &str, seed: u64, count: usize) {
        let bucket = uri
            .strip_prefix("s3://")
            .and_then(|r| r.split('/').next())
            .expect("an s3://bucket/prefix/ URI");
        self.ensure_bucket(bucket).await;
        // moto's S3 now and then answers a PutObject under load with an empty 500: the upload
        // is idempotent (same keys, same bytes), so it is tried again before the test fails.
        let mut last = String::new();
        for _ in 0..3 {
            match trainq_devstack::datasets::upload(&self.s3(), uri, seed, count).await {
                Ok(_) => return,
                Err(e) => last = e,
            }
        }
        panic!("{last}");
    }
}
