//! The stack in moto: the buckets the registries name, and the resources of the same
//! CloudFormation template that goes to AWS (deployed with CreateStack, read back from its
//! outputs).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_cloudformation::types::{Parameter, StackStatus};

/// An SDK configuration for moto at `url`, in `region`, with the devstack's credentials.
pub async fn sdk_config(url: &str, region: &str) -> SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "devstack", "devstack", None, None, "devstack",
        ))
        .endpoint_url(url)
        .load()
        .await
}

/// Creates `buckets` in moto (existing ones are kept).
pub async fn create_buckets(
    sdk: &SdkConfig,
    region: &str,
    buckets: &[String],
) -> Result<(), String> {
    let s3 = crate::datasets::s3_client(sdk);
    for bucket in buckets {
        if s3.head_bucket().bucket(bucket).send().await.is_ok() {
            continue;
        }
        let location = aws_sdk_s3::types::CreateBucketConfiguration::builder()
            .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(region))
            .build();
        s3.create_bucket()
            .bucket(bucket)
            .create_bucket_configuration(location)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "CreateBucket {bucket}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                )
            })?;
    }
    Ok(())
}

/// The largest template CreateStack takes inline (`TemplateBody`); a larger one goes through
/// S3 (`TemplateURL`), as `infra/deploy/deploy.sh` sends it to AWS.
pub const INLINE_TEMPLATE_LIMIT: usize = 51_200;

/// Puts `template` in a bucket of its own (`<name>-templates`) and returns the virtual-hosted
/// URL CloudFormation reads it from.
async fn upload_template(sdk: &SdkConfig, name: &str, template: &str) -> Result<String, String> {
    let region = sdk
        .region()
        .map(|r| r.as_ref().to_owned())
        .unwrap_or_else(|| "us-east-1".into());
    let bucket = format!("{}-templates", name.to_lowercase());
    create_buckets(sdk, &region, std::slice::from_ref(&bucket)).await?;
    let key = format!("{name}/template.yaml");
    crate::datasets::s3_client(sdk)
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .body(template.as_bytes().to_vec().into())
        .send()
        .await
        .map_err(|e| {
            format!(
                "PutObject {bucket}/{key}: {}",
                aws_sdk_s3::error::DisplayErrorContext(&e)
            )
        })?;
    Ok(format!("https://{bucket}.s3.{region}.amazonaws.com/{key}"))
}

/// Deploys `template` as `name` with `parameters` and returns its outputs (waiting at most
/// 120 s for `CREATE_COMPLETE`). A template over [`INLINE_TEMPLATE_LIMIT`] bytes is read
/// from S3, as AWS requires.
pub async fn deploy(
    sdk: &SdkConfig,
    name: &str,
    template: &str,
    parameters: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, String> {
    let cf = aws_sdk_cloudformation::Client::new(sdk);
    let (body, url) = if template.len() > INLINE_TEMPLATE_LIMIT {
        (None, Some(upload_template(sdk, name, template).await?))
    } else {
        (Some(template.to_owned()), None)
    };
    let parameters = parameters
        .iter()
        .map(|(k, v)| {
            Parameter::builder()
                .parameter_key(k)
                .parameter_value(v)
                .build()
        })
        .collect();
    // The template names its IAM roles: AWS wants that acknowledged.
    cf.create_stack()
        .stack_name(name)
        .set_template_body(body)
        .set_template_url(url)
        .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityNamedIam)
        .set_parameters(Some(parameters))
        .send()
        .await
        .map_err(|e| {
            format!(
                "CreateStack {name}: {}",
                aws_sdk_cloudformation::error::DisplayErrorContext(&e)
            )
        })?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let out = cf
            .describe_stacks()
            .stack_name(name)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "DescribeStacks {name}: {}",
                    aws_sdk_cloudformation::error::DisplayErrorContext(&e)
                )
            })?;
        let stack = out
            .stacks()
            .first()
            .ok_or_else(|| format!("stack {name} vanished"))?;
        match stack.stack_status() {
            Some(StackStatus::CreateComplete) => {
                return Ok(stack
                    .outputs()
                    .iter()
                    .filter_map(|o| {
                        Some((o.output_key()?.to_owned(), o.output_value()?.to_owned()))
                    })
                    .collect());
            }
            Some(StackStatus::CreateInProgress) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => {
                return Err(format!(
                    "stack {name} is {other:?}: {}",
                    stack.stack_status_reason().unwrap_or("no reason given")
                ));
            }
        }
    }
}

/// A named output, or an error naming it.
pub fn output<'a>(outputs: &'a BTreeMap<String, String>, key: &str) -> Result<&'a str, String> {
    outputs
        .get(key)
        .map(String::as_str)
        .ok_or_else(|| format!("the stack has no output `{key}`"))
}
