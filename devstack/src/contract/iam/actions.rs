//! What a call asks IAM: the action, the resource's ARN and the condition keys, per service —
//! including what a call implies (`sagemaker:AddTags` for a create with tags, `iam:PassRole`
//! for a training job's role, with `iam:PassedToService`), as the services' authorization
//! reference documents them.

use serde_json::Value;

use super::policy::Authorization;

/// Where the call is made: the partition, region and account resources are named in.
pub struct Scope<'a> {
    /// `eu-west-1`.
    pub region: &'a str,
    /// The account (moto's default in the local stack).
    pub account: &'a str,
}

impl Scope<'_> {
    fn arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:aws:{service}:{}:{}:{resource}",
            self.region, self.account
        )
    }
}

/// The authorizations `operation` of `service` (botocore's directory name) needs for `input`.
pub fn required(
    service: &str,
    operation: &str,
    input: &Value,
    scope: &Scope<'_>,
) -> Vec<Authorization> {
    let text = |k: &str| input.get(k).and_then(Value::as_str);
    match service {
        "sqs" => {
            let queue = text("QueueUrl")
                .map(|url| queue_arn(url, scope))
                .or_else(|| text("QueueName").map(|n| scope.arn("sqs", n)))
                .unwrap_or_else(|| "*".into());
            vec![Authorization::new(format!("sqs:{operation}"), queue)]
        }
        "dynamodb" => dynamodb(operation, input, scope),
        "events" => events(operation, input, scope),
        "sagemaker" => sagemaker(operation, input, scope),
        _ => vec![Authorization::new(
            format!("{}:{operation}", prefix(service)),
            "*",
        )],
    }
}

/// IAM's service prefix of a botocore service (`service-quotas` → `servicequotas`).
fn prefix(service: &str) -> String {
    service.replace('-', "")
}

/// `https://sqs.eu-west-1.amazonaws.com/123456789012/name` (or moto's
/// `http://localhost/123456789012/name`) → the queue's ARN.
fn queue_arn(url: &str, scope: &Scope<'_>) -> String {
    let mut parts = url.trim_end_matches('/').rsplit('/');
    let name = parts.next().unwrap_or_default();
    let account = parts
        .next()
        .filter(|a| a.len() == 12)
        .unwrap_or(scope.account);
    format!("arn:aws:sqs:{}:{account}:{name}", scope.region)
}

fn table_arn(table: &str, scope: &Scope<'_>) -> String {
    if table.starts_with("arn:") {
        table.to_owned()
    } else {
        scope.arn("dynamodb", &format!("table/{table}"))
    }
}

fn dynamodb(operation: &str, input: &Value, scope: &Scope<'_>) -> Vec<Authorization> {
    let action = |op: &str| format!("dynamodb:{op}");
    match operation {
        "TransactWriteItems" | "TransactGetItems" => input
            .get("TransactItems")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|item| {
                let (kind, body) = item.as_object()?.iter().next()?;
                let op = match kind.as_str() {
                    "Put" => "PutItem",
                    "Update" => "UpdateItem",
                    "Delete" => "DeleteItem",
                    "ConditionCheck" => "ConditionCheckItem",
                    _ => "GetItem",
                };
                let table = body.get("TableName")?.as_str()?;
                Some(Authorization::new(action(op), table_arn(table, scope)))
            })
            .collect(),
        "BatchWriteItem" | "BatchGetItem" => input
            .get("RequestItems")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(table, _)| Authorization::new(action(operation), table_arn(table, scope)))
            .collect(),
        _ => {
            let table = input.get("TableName").and_then(Value::as_str);
            let resource = match (table, input.get("IndexName").and_then(Value::as_str)) {
                (Some(t), Some(i)) => format!("{}/index/{i}", table_arn(t, scope)),
                (Some(t), None) => table_arn(t, scope),
                _ => "*".into(),
            };
            vec![Authorization::new(action(operation), resource)]
        }
    }
}

fn events(operation: &str, input: &Value, scope: &Scope<'_>) -> Vec<Authorization> {
    let bus_arn = |bus: Option<&str>| match bus {
        Some(arn) if arn.starts_with("arn:") => arn.to_owned(),
        Some(name) => scope.arn("events", &format!("event-bus/{name}")),
        None => scope.arn("events", "event-bus/default"),
    };
    match operation {
        "PutEvents" => {
            let mut buses: Vec<String> = input
                .get("Entries")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|e| bus_arn(e.get("EventBusName").and_then(Value::as_str)))
                .collect();
            buses.sort();
            buses.dedup();
            buses
                .into_iter()
                .map(|b| Authorization::new("events:PutEvents", b))
                .collect()
        }
        _ => vec![Authorization::new(format!("events:{operation}"), "*")],
    }
}

fn sagemaker(operation: &str, input: &Value, scope: &Scope<'_>) -> Vec<Authorization> {
    let text = |k: &str| input.get(k).and_then(Value::as_str);
    // SageMaker names resources in lower case in their ARNs.
    let named = |kind: &str, name: Option<&str>| match name {
        Some(arn) if arn.starts_with("arn:") => arn.to_owned(),
        Some(name) => scope.arn("sagemaker", &format!("{kind}/{}", name.to_lowercase())),
        None => "*".into(),
    };
    let resource = match operation {
        "CreateTrainingJob" | "DescribeTrainingJob" | "StopTrainingJob" => {
            named("training-job", text("TrainingJobName"))
        }
        "CreateModelPackageGroup" | "DescribeModelPackageGroup" | "DeleteModelPackageGroup" => {
            named("model-package-group", text("ModelPackageGroupName"))
        }
        // A versioned package is `model-package/<group>/<version>`; its version is not known
        // before it is created.
        "CreateModelPackage" => match text("ModelPackageGroupName") {
            Some(group) => format!("{}/*", named("model-package", Some(group))),
            None => named("model-package", text("ModelPackageName")),
        },
        "DescribeModelPackage" | "UpdateModelPackage" | "DeleteModelPackage" => {
            named("model-package", text("ModelPackageName"))
        }
        "AddTags" | "ListTags" | "DeleteTags" => text("ResourceArn").unwrap_or("*").to_owned(),
        _ => "*".into(),
    };
    let mut needed = vec![Authorization::new(
        format!("sagemaker:{operation}"),
        resource.clone(),
    )];
    let has_tags = input
        .get("Tags")
        .and_then(Value::as_array)
        .is_some_and(|t| !t.is_empty());
    if has_tags && operation.starts_with("Create") {
        needed.push(Authorization::new("sagemaker:AddTags", resource));
    }
    if let Some(role) = text("RoleArn") {
        let mut pass = Authorization::new("iam:PassRole", role);
        pass.context.insert(
            "iam:PassedToService".into(),
            "sagemaker.amazonaws.com".into(),
        );
        needed.push(pass);
    }
    needed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SCOPE: Scope<'static> = Scope {
        region: "eu-west-1",
        account: "123456789012",
    };

    #[test]
    fn a_training_job_implies_tagging_and_passing_its_role() {
        let input = json!({"TrainingJobName": "tq-ABC-1", "RoleArn": "arn:aws:iam::123456789012:role/r",
                           "Tags": [{"Key": "k", "Value": "v"}]});
        let needed = required("sagemaker", "CreateTrainingJob", &input, &SCOPE);
        let job = "arn:aws:sagemaker:eu-west-1:123456789012:training-job/tq-abc-1";
        assert_eq!(
            needed[0],
            Authorization::new("sagemaker:CreateTrainingJob", job)
        );
        assert_eq!(needed[1], Authorization::new("sagemaker:AddTags", job));
        assert_eq!(needed[2].action, "iam:PassRole");
        assert_eq!(
            needed[2].context["iam:PassedToService"],
            "sagemaker.amazonaws.com"
        );
    }

    #[test]
    fn resources_are_named_as_their_services_name_them() {
        let q = required(
            "sqs",
            "SendMessage",
            &json!({"QueueUrl": "http://127.0.0.1:4566/123456789012/t-requests"}),
            &SCOPE,
        );
        assert_eq!(
            q[0].resource,
            "arn:aws:sqs:eu-west-1:123456789012:t-requests"
        );
        let d = required(
            "dynamodb",
            "Query",
            &json!({"TableName": "t-jobs", "IndexName": "by-state"}),
            &SCOPE,
        );
        assert_eq!(
            d[0].resource,
            "arn:aws:dynamodb:eu-west-1:123456789012:table/t-jobs/index/by-state"
        );
        let t = required(
            "dynamodb",
            "TransactWriteItems",
            &json!({"TransactItems": [{"Update": {"TableName": "a"}}]}),
            &SCOPE,
        );
        assert_eq!(t[0].action, "dynamodb:UpdateItem");
        let e = required(
            "events",
            "PutEvents",
            &json!({"Entries": [{"EventBusName": "t-alerts"}, {}]}),
            &SCOPE,
        );
        assert_eq!(e.len(), 2);
        let m = required(
            "sagemaker",
            "CreateModelPackage",
            &json!({"ModelPackageGroupName": "prod-acme-x"}),
            &SCOPE,
        );
        assert_eq!(
            m[0].resource,
            "arn:aws:sagemaker:eu-west-1:123456789012:model-package/prod-acme-x/*"
        );
    }
}
