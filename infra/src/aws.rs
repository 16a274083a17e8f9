//! Loading the shared SDK configuration once at cold start.

use aws_config::{BehaviorVersion, SdkConfig};

/// The SDK configuration from the standard AWS environment: credentials, region, and
/// endpoints, including the per-service `AWS_ENDPOINT_URL_<SERVICE>` overrides the local
/// stack uses to point SageMaker at its own endpoint and everything else at moto.
pub async fn load_from_env() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}
