//! Reading the Model Registry in tests: moto, reached through the local endpoint's
//! forwarding, as the watcher reaches it.

use aws_sdk_sagemaker::operation::describe_model_package::DescribeModelPackageOutput;
use aws_sdk_sagemaker::types::ModelPackageSummary;

use crate::world::World;

impl World {
    /// Every package of `group` (none when the group does not exist), oldest first.
    pub async fn model_packages(&self, group: &str) -> Vec<ModelPackageSummary> {
        let mut packages = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .sagemaker
                .list_model_packages()
                .model_package_group_name(group)
                .set_next_token(token)
                .send()
                .await
                .expect("ListModelPackages");
            packages.extend(out.model_package_summary_list().iter().cloned());
            token = out.next_token;
            if token.is_none() {
                return packages;
            }
        }
    }

    /// DescribeModelPackage.
    pub async fn describe_package(&self, arn: &str) -> DescribeModelPackageOutput {
        self.sagemaker
            .describe_model_package()
            .model_package_name(arn)
            .send()
            .await
            .expect("DescribeModelPackage")
    }
}
