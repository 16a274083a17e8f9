//! CreateTrainingJob's rules that AWS's service model cannot express (relations between
//! members). Everything the model carries — required members, lengths, patterns, ranges —
//! is checked at the front door against the model itself ([`crate::contract`]).

use serde_json::Value;

use super::protocol::ApiError;

/// Validates the relations in a CreateTrainingJob input the model has already passed;
/// returns the job name.
pub(super) fn create_input(input: &Value) -> Result<String, ApiError> {
    let name = input
        .get("TrainingJobName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let max_runtime = input
        .pointer("/StoppingCondition/MaxRuntimeInSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let spot = input
        .get("EnableManagedSpotTraining")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let max_wait = input
        .pointer("/StoppingCondition/MaxWaitTimeInSeconds")
        .and_then(Value::as_i64);
    match (spot, max_wait) {
        (true, w) if w.is_none_or(|w| w < max_runtime) => Err(ApiError::validation(
            "Invalid MaxWaitTimeInSeconds. It must be present and be greater than or equal to MaxRuntimeInSeconds",
        )),
        (false, Some(_)) => Err(ApiError::validation(
            "MaxWaitTimeInSeconds is only valid when EnableManagedSpotTraining is true",
        )),
        _ => Ok(name.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input() -> Value {
        json!({
            "TrainingJobName": "tq-abc-1",
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200},
            "EnableManagedSpotTraining": true
        })
    }

    #[test]
    fn a_complete_input_passes() {
        assert_eq!(create_input(&input()).unwrap(), "tq-abc-1");
    }

    #[test]
    fn max_wait_goes_with_spot_and_covers_the_runtime() {
        let mut i = input();
        i["StoppingCondition"]["MaxWaitTimeInSeconds"] = json!(60);
        assert!(
            create_input(&i)
                .unwrap_err()
                .message
                .contains("MaxWaitTimeInSeconds")
        );
        let mut i = input();
        i["EnableManagedSpotTraining"] = json!(false);
        assert!(create_input(&i).unwrap_err().message.contains("only valid"));
    }
}
