//! The Model Registry adapter: package groups and versioned model packages in SageMaker.
//!
//! Registration is made idempotent here without trusting `ClientToken` alone (moto ignores it,
//! and a token is only honoured for a while): before creating, the group's newest packages are
//! searched for one whose description names the job. The token (a UUIDv5 of the job name,
//! within AWS's 36 characters) covers the window between that search and the create.

use std::collections::HashMap;

use aws_sdk_sagemaker::Client;
use aws_sdk_sagemaker::types::{
    InferenceSpecification, ModelApprovalStatus, ModelPackageContainerDefinition,
    ModelPackageSortBy, SortOrder, Tag,
};
use trainq_common::ServiceError;
use trainq_common::approval::Champion;
use trainq_common::ports::ModelRegistry;
use trainq_common::registration::{ChampionLookup, ModelPackageSpec, describes_job, metrics_of};

use crate::errors::classify;

/// Content types the defect classifiers take and answer (recorded with each package).
const CONTENT_TYPES: &[&str] = &["application/x-image", "image/png", "image/jpeg"];
const RESPONSE_TYPES: &[&str] = &["application/json"];

/// [`ModelRegistry`] over SageMaker (moto in the local stack).
#[derive(Clone)]
pub struct SageMakerModelRegistry {
    client: Client,
    s3: aws_sdk_s3::Client,
}

impl SageMakerModelRegistry {
    /// An adapter over `client`, reading model artifacts with `s3`
    /// ([`crate::artifacts::s3_client`]).
    pub fn new(client: Client, s3: aws_sdk_s3::Client) -> Self {
        Self { client, s3 }
    }

    /// The champion in one group: its newest approved packages (at most 10), described in
    /// turn until one is admitted (normally the first: only a version-1 group shared by two
    /// projects makes it read further).
    async fn champion_in(
        &self,
        group: &str,
        lookup: &ChampionLookup,
    ) -> Result<Option<Champion>, ServiceError> {
        let listed = self
            .client
            .list_model_packages()
            .model_package_group_name(group)
            .model_approval_status(ModelApprovalStatus::Approved)
            .sort_by(ModelPackageSortBy::CreationTime)
            .sort_order(SortOrder::Descending)
            .max_results(10)
            .send()
            .await
            .map_err(classify);
        let listed = match listed {
            Ok(out) => out,
            Err(e) if says(&e, "does not exist") || matches!(e, ServiceError::NotFound(_)) => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        // Newest first; this job's own package (an earlier try) is not the one it replaces.
        let candidates = listed.model_package_summary_list().iter().filter(|s| {
            !s.model_package_description()
                .is_some_and(|d| describes_job(d, &lookup.job_name))
        });
        for arn in candidates.filter_map(|s| s.model_package_arn()) {
            let described = self
                .client
                .describe_model_package()
                .model_package_name(arn)
                .send()
                .await
                .map_err(classify)?;
            let metadata = described.customer_metadata_properties();
            let says = |key: &str| metadata.and_then(|m| m.get(key)).map(String::as_str);
            if !lookup.admits(says("trainq:customer"), says("trainq:project")) {
                continue;
            }
            let model_data_url = described
                .inference_specification()
                .and_then(|i| i.containers().first())
                .and_then(|c| c.model_data_url())
                .map(str::to_owned);
            return Ok(Some(Champion {
                package_arn: arn.to_owned(),
                metrics: metadata.map(metrics_of).unwrap_or_default(),
                model_data_url,
            }));
        }
        Ok(None)
    }
}

/// SageMaker answers a missing group, and a group that already exists, with a plain
/// `ValidationException`; only the message tells them apart.
fn says(e: &ServiceError, words: &str) -> bool {
    matches!(e, ServiceError::Invalid(m) | ServiceError::NotFound(m) if m.contains(words))
}

impl ModelRegistry for SageMakerModelRegistry {
    async fn ensure_group(&self, spec: &ModelPackageSpec) -> Result<(), ServiceError> {
        let described = self
            .client
            .describe_model_package_group()
            .model_package_group_name(&spec.group)
            .send()
            .await
            .map_err(classify);
        match described {
            Ok(_) => return Ok(()),
            Err(e) if says(&e, "does not exist") || matches!(e, ServiceError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        let tags = spec
            .group_tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        let created = self
            .client
            .create_model_package_group()
            .model_package_group_name(&spec.group)
            .model_package_group_description(&spec.group_description)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(classify);
        match created {
            Ok(_) => Ok(()),
            // Another watcher created it in between.
            Err(e) if says(&e, "already exists") => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn find_package(&self, spec: &ModelPackageSpec) -> Result<Option<String>, ServiceError> {
        let mut token = None;
        loop {
            let out = self
                .client
                .list_model_packages()
                .model_package_group_name(&spec.group)
                .sort_by(ModelPackageSortBy::CreationTime)
                .sort_order(SortOrder::Descending)
                .max_results(100)
                .set_next_token(token)
                .send()
                .await
                .map_err(classify)?;
            for summary in out.model_package_summary_list() {
                let created_ms = summary.creation_time().and_then(|t| t.to_millis().ok());
                // Newest first: once past the job's end, no older package can be its model.
                if created_ms.is_some_and(|ms| ms < spec.not_before_ms) {
                    return Ok(None);
                }
                if summary
                    .model_package_description()
                    .is_some_and(|d| describes_job(d, &spec.job_name))
                {
                    return Ok(summary.model_package_arn().map(str::to_owned));
                }
            }
            token = out.next_token;
            if token.is_none() {
                return Ok(None);
            }
        }
    }

    async fn create_package(&self, spec: &ModelPackageSpec) -> Result<String, ServiceError> {
        let container = ModelPackageContainerDefinition::builder()
            .image(&spec.image_uri)
            .model_data_url(&spec.model_data_url)
            .build();
        let inference = InferenceSpecification::builder()
            .containers(container)
            .set_supported_content_types(Some(
                CONTENT_TYPES.iter().map(|s| s.to_string()).collect(),
            ))
            .set_supported_response_mime_types(Some(
                RESPONSE_TYPES.iter().map(|s| s.to_string()).collect(),
            ))
            .build();
        let metadata: HashMap<String, String> = spec.metadata.clone().into_iter().collect();
        let out = self
            .client
            .create_model_package()
            .model_package_group_name(&spec.group)
            .model_package_description(&spec.description)
            .inference_specification(inference)
            .model_approval_status(ModelApprovalStatus::from(spec.approval.as_str()))
            .set_customer_metadata_properties(Some(metadata))
            .client_token(&spec.client_token)
            .send()
            .await
            .map_err(classify)?;
        out.model_package_arn().map(str::to_owned).ok_or_else(|| {
            ServiceError::Transient("CreateModelPackage answered without an ARN".into())
        })
    }

    async fn champion(&self, lookup: &ChampionLookup) -> Result<Option<Champion>, ServiceError> {
        for group in &lookup.groups {
            if let Some(champion) = self.champion_in(group, lookup).await? {
                return Ok(Some(champion));
            }
        }
        Ok(None)
    }

    async fn read_manifest(&self, model_data_url: &str) -> Result<Option<Vec<u8>>, ServiceError> {
        crate::artifacts::read_manifest(&self.s3, model_data_url).await
    }
}
