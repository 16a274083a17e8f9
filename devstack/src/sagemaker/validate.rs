//! CreateTrainingJob's input validation, with AWS's rules and messages.

use serde_json::Value;

use super::protocol::ApiError;

/// SageMaker's job name rule: `^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`.
pub(super) fn valid_job_name(name: &str) -> bool {
    let b = name.as_bytes();
    (1..=63).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

fn null_member(path: &str) -> ApiError {
    ApiError::validation(format!(
        "1 validation error detected: Value null at '{path}' failed to satisfy constraint: Member must not be null"
    ))
}

fn required<'a>(input: &'a Value, pointer: &str, path: &str) -> Result<&'a Value, ApiError> {
    input
        .pointer(pointer)
        .filter(|v| !v.is_null())
        .ok_or_else(|| null_member(path))
}

/// Validates a CreateTrainingJob input; returns the job name.
pub(super) fn create_input(input: &Value) -> Result<String, ApiError> {
    let name = required(input, "/TrainingJobName", "trainingJobName")?
        .as_str()
        .unwrap_or_default();
    if !valid_job_name(name) {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{name}' at 'trainingJobName' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){{0,62}}"
        )));
    }
    required(
        input,
        "/AlgorithmSpecification/TrainingImage",
        "algorithmSpecification.trainingImage",
    )?;
    let role = required(input, "/RoleArn", "roleArn")?
        .as_str()
        .unwrap_or_default();
    if role.len() < 20 || !role.starts_with("arn:") {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{role}' at 'roleArn' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: ^arn:aws[a-z\\-]*:iam::\\d{{12}}:role/?[a-zA-Z_0-9+=,.@\\-_/]+$"
        )));
    }
    let output = required(
        input,
        "/OutputDataConfig/S3OutputPath",
        "outputDataConfig.s3OutputPath",
    )?;
    check_s3(output, "outputDataConfig.s3OutputPath")?;
    required(
        input,
        "/ResourceConfig/InstanceCount",
        "resourceConfig.instanceCount",
    )?;
    required(
        input,
        "/ResourceConfig/VolumeSizeInGB",
        "resourceConfig.volumeSizeInGB",
    )?;
    let max_runtime = required(
        input,
        "/StoppingCondition/MaxRuntimeInSeconds",
        "stoppingCondition.maxRuntimeInSeconds",
    )?
    .as_i64()
    .unwrap_or(0);
    if max_runtime < 1 {
        return Err(ApiError::validation(
            "1 validation error detected: Value at 'stoppingCondition.maxRuntimeInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 1",
        ));
    }
    let spot = input
        .get("EnableManagedSpotTraining")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let max_wait = input
        .pointer("/StoppingCondition/MaxWaitTimeInSeconds")
        .and_then(Value::as_i64);
    match (spot, max_wait) {
        (true, w) if w.is_none_or(|w| w < max_runtime) => {
            return Err(ApiError::validation(
                "Invalid MaxWaitTimeInSeconds. It must be present and be greater than or equal to MaxRuntimeInSeconds",
            ));
        }
        (false, Some(_)) => {
            return Err(ApiError::validation(
                "MaxWaitTimeInSeconds is only valid when EnableManagedSpotTraining is true",
            ));
        }
        _ => {}
    }
    if let Some(uri) = input.pointer("/CheckpointConfig/S3Uri") {
        check_s3(uri, "checkpointConfig.s3Uri")?;
    }
    if let Some(Value::Object(hp)) = input.get("HyperParameters") {
        if hp.len() > 100 {
            return Err(ApiError::validation(
                "1 validation error detected: Value at 'hyperParameters' failed to satisfy constraint: Member must have length less than or equal to 100",
            ));
        }
        let too_long = hp.iter().any(|(k, v)| {
            k.chars().count() > 256 || v.as_str().is_none_or(|v| v.chars().count() > 2500)
        });
        if too_long {
            return Err(ApiError::validation(
                "1 validation error detected: Value at 'hyperParameters' failed to satisfy constraint: Map keys must be at most 256 and values (strings) at most 2500 characters",
            ));
        }
    }
    Ok(name.to_owned())
}

fn check_s3(value: &Value, path: &str) -> Result<(), ApiError> {
    match value.as_str() {
        Some(s) if s.starts_with("s3://") || s.starts_with("https://") => Ok(()),
        _ => Err(ApiError::validation(format!(
            "1 validation error detected: Value at '{path}' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: ^(https|s3)://([^/]+)/?(.*)$"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input() -> Value {
        json!({
            "TrainingJobName": "tq-abc-1",
            "AlgorithmSpecification": {"TrainingImage": "img:1", "TrainingInputMode": "File"},
            "RoleArn": "arn:aws:iam::111111111111:role/x",
            "OutputDataConfig": {"S3OutputPath": "s3://b/o/"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200},
            "EnableManagedSpotTraining": true
        })
    }

    #[test]
    fn a_complete_input_passes() {
        assert_eq!(create_input(&input()).unwrap(), "tq-abc-1");
    }

    #[test]
    fn aws_rules_are_enforced() {
        let cases: Vec<(&str, Value, &str)> = vec![
            ("/TrainingJobName", json!("-bad"), "regular expression"),
            (
                "/TrainingJobName",
                json!("a".repeat(64)),
                "regular expression",
            ),
            ("/RoleArn", Value::Null, "roleArn"),
            (
                "/StoppingCondition/MaxWaitTimeInSeconds",
                json!(60),
                "MaxWaitTimeInSeconds",
            ),
            (
                "/OutputDataConfig/S3OutputPath",
                json!("/tmp"),
                "s3OutputPath",
            ),
        ];
        for (pointer, value, needle) in cases {
            let mut i = input();
            *i.pointer_mut(pointer).unwrap() = value;
            let e = create_input(&i).unwrap_err();
            assert_eq!(e.code, "ValidationException");
            assert!(e.message.contains(needle), "{pointer}: {}", e.message);
        }
        let mut i = input();
        i["EnableManagedSpotTraining"] = json!(false);
        assert!(create_input(&i).unwrap_err().message.contains("only valid"));
    }
}
