//! CloudFormation's check of a stack's parameters against its template, which AWS makes on
//! CreateStack, UpdateStack and CreateChangeSet before anything is created (moto skips it):
//! unknown parameters, missing values, `Type: Number`, `AllowedValues`, `AllowedPattern`,
//! `MinValue`/`MaxValue`, `MinLength`/`MaxLength`, with the template's `ConstraintDescription`
//! as the message where it has one; and the capabilities a template with IAM resources needs.
//! The template is read from `TemplateBody` (JSON or YAML), or, for one given by URL, from
//! what the front door fetched from that URL (moto's S3).

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use yaml_rust2::{Yaml, YamlLoader};

use super::limits::LimitBroken;
use super::pattern;

/// The operations whose parameters CloudFormation checks against the template.
const WITH_PARAMETERS: &[&str] = &["CreateStack", "UpdateStack", "CreateChangeSet"];

/// What CloudFormation refuses in `operation`'s `input`, if anything; `fetched`: the
/// template of a call that named it by `TemplateURL`.
pub fn check(operation: &str, input: &Value, fetched: Option<&str>) -> Option<LimitBroken> {
    if !WITH_PARAMETERS.contains(&operation) {
        return None;
    }
    let body = match input.get("TemplateBody").and_then(Value::as_str) {
        Some(body) => body,
        None => fetched?,
    };
    let template = match read_template(body) {
        Ok(t) => t,
        Err(e) => return Some(refusal(format!("Template format error: {e}"))),
    };
    if let Some(broken) = missing_capability(&template, input) {
        return Some(broken);
    }
    let declared = template_parameters(&template);
    let given: Vec<(&str, Option<&str>, bool)> = input
        .get("Parameters")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|p| {
                    let key = p.get("ParameterKey")?.as_str()?;
                    let value = p.get("ParameterValue").and_then(Value::as_str);
                    let previous = p.get("UsePreviousValue").and_then(Value::as_bool) == Some(true);
                    Some((key, value, previous))
                })
                .collect()
        })
        .unwrap_or_default();
    let unknown: Vec<&str> = given
        .iter()
        .map(|(k, ..)| *k)
        .filter(|k| !declared.contains_key(*k))
        .collect();
    if !unknown.is_empty() {
        return Some(refusal(format!(
            "Parameters: [{}] do not exist in the template",
            unknown.join(", ")
        )));
    }
    let mut missing = Vec::new();
    for (name, declaration) in &declared {
        let given_value = given.iter().find(|(k, ..)| k == name);
        let value = match given_value {
            Some((_, Some(v), _)) => v.to_string(),
            Some((_, None, true)) => continue,
            _ => match declaration.get("Default").map(scalar_text) {
                Some(Some(default)) => default,
                _ => {
                    missing.push(name.as_str());
                    continue;
                }
            },
        };
        if let Some(why) = broken_constraint(name, declaration, &value) {
            return Some(refusal(why));
        }
    }
    (!missing.is_empty()).then(|| {
        refusal(format!(
            "Parameters: [{}] must have values",
            missing.join(", ")
        ))
    })
}

fn refusal(message: String) -> LimitBroken {
    LimitBroken {
        code: "ValidationError",
        message,
    }
}

/// The first constraint of `declaration` that `value` breaks, in CloudFormation's words.
fn broken_constraint(name: &str, declaration: &Map<String, Value>, value: &str) -> Option<String> {
    let number = |k: &str| {
        declaration
            .get(k)
            .and_then(|v| scalar_text(v)?.parse::<f64>().ok())
    };
    let kind = declaration
        .get("Type")
        .and_then(Value::as_str)
        .unwrap_or("String");
    let broken = if kind == "Number" && value.trim().parse::<f64>().is_err() {
        Some(format!("Parameter '{name}' must be a number."))
    } else if let Some(allowed) = declaration.get("AllowedValues").and_then(Value::as_array) {
        let allowed: Vec<String> = allowed.iter().filter_map(scalar_text).collect();
        (!allowed.iter().any(|a| a == value))
            .then(|| format!("Parameter '{name}' must be one of AllowedValues"))
    } else {
        None
    };
    let broken = broken
        .or_else(|| {
            let p = declaration.get("AllowedPattern")?.as_str()?;
            (pattern::full_match(p, value) == Ok(false))
                .then(|| format!("Parameter '{name}' must match pattern {p}"))
        })
        .or_else(|| {
            let v: f64 = value.trim().parse().ok().filter(|_| kind == "Number")?;
            match (number("MinValue"), number("MaxValue")) {
                (Some(min), _) if v < min => Some(format!(
                    "Parameter '{name}' must be a number not less than {min}"
                )),
                (_, Some(max)) if v > max => Some(format!(
                    "Parameter '{name}' must be a number not greater than {max}"
                )),
                _ => None,
            }
        })
        .or_else(|| {
            let len = value.chars().count() as f64;
            match (number("MinLength"), number("MaxLength")) {
                (Some(min), _) if len < min => Some(format!(
                    "Parameter '{name}' must contain at least {min} characters"
                )),
                (_, Some(max)) if len > max => Some(format!(
                    "Parameter '{name}' must contain at most {max} characters"
                )),
                _ => None,
            }
        });
    // CloudFormation says the template's own words when it has them.
    broken.map(|why| {
        match declaration
            .get("ConstraintDescription")
            .and_then(Value::as_str)
        {
            Some(description) => {
                format!("Parameter '{name}' failed to satisfy constraint: {description}")
            }
            None => why,
        }
    })
}

/// A scalar of the template as text (`30`, `true`, `tq-`).
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A template, JSON or YAML, as JSON.
fn read_template(body: &str) -> Result<Value, String> {
    match serde_json::from_str(body) {
        Ok(json) => Ok(json),
        Err(_) => {
            let docs = YamlLoader::load_from_str(body).map_err(|e| e.to_string())?;
            docs.first()
                .map(to_json)
                .ok_or_else(|| "empty template".to_owned())
        }
    }
}

/// IAM resources need `CAPABILITY_IAM`, and `CAPABILITY_NAMED_IAM` when they are given names.
fn missing_capability(template: &Value, input: &Value) -> Option<LimitBroken> {
    const NAMES: &[&str] = &[
        "RoleName",
        "UserName",
        "GroupName",
        "ManagedPolicyName",
        "InstanceProfileName",
    ];
    let resources = template.get("Resources")?.as_object()?;
    let iam: Vec<&Value> = resources
        .values()
        .filter(|r| {
            r.get("Type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.starts_with("AWS::IAM::"))
        })
        .collect();
    if iam.is_empty() {
        return None;
    }
    let named = iam.iter().any(|r| {
        NAMES
            .iter()
            .any(|n| r.pointer(&format!("/Properties/{n}")).is_some())
    });
    let granted: Vec<&str> = input
        .get("Capabilities")
        .and_then(Value::as_array)
        .map(|c| c.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let needed = if named {
        "CAPABILITY_NAMED_IAM"
    } else {
        "CAPABILITY_IAM"
    };
    let enough = granted.contains(&"CAPABILITY_NAMED_IAM")
        || (!named && granted.contains(&"CAPABILITY_IAM"));
    (!enough).then(|| LimitBroken {
        code: "InsufficientCapabilitiesException",
        message: format!("Requires capabilities : [{needed}]"),
    })
}

/// The template's `Parameters` section: name → declaration.
fn template_parameters(template: &Value) -> BTreeMap<String, Map<String, Value>> {
    template
        .get("Parameters")
        .and_then(Value::as_object)
        .map(|params| {
            params
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_object()?.clone())))
                .collect()
        })
        .unwrap_or_default()
}

/// YAML as JSON (CloudFormation's short-form tags such as `!Ref` keep their value).
fn to_json(yaml: &Yaml) -> Value {
    match yaml {
        Yaml::Real(r) => r
            .parse::<f64>()
            .map_or_else(|_| Value::from(r.as_str()), Value::from),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::String(s) => Value::from(s.as_str()),
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Hash(map) => Value::Object(
            map.iter()
                .filter_map(|(k, v)| {
                    let key = match to_json(k) {
                        Value::String(s) => s,
                        other => scalar_text(&other)?,
                    };
                    Some((key, to_json(v)))
                })
                .collect(),
        ),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TEMPLATE: &str = "
Parameters:
  Timeout:
    Type: Number
    Default: 60
    AllowedValues: [30, 60, 120]
    ConstraintDescription: must be 30, 60 or 120 s (the queue's visibility timeout is derived from it)
  Prefix:
    Type: String
    Default: tq-
    AllowedPattern: '[a-z]+-'
  Count:
    Type: Number
    MinValue: 1
    MaxValue: 10
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: !Ref Timeout
";

    fn create(params: Value) -> Value {
        json!({"StackName": "s", "TemplateBody": TEMPLATE, "Parameters": params})
    }

    fn p(k: &str, v: &str) -> Value {
        json!({"ParameterKey": k, "ParameterValue": v})
    }

    #[test]
    fn named_iam_resources_need_their_capability() {
        let template =
            "Resources:\n  Role:\n    Type: AWS::IAM::Role\n    Properties:\n      RoleName: r\n";
        let input =
            |caps: Value| json!({"StackName": "s", "TemplateBody": template, "Capabilities": caps});
        let broken = check("CreateStack", &input(json!([])), None).unwrap();
        assert_eq!(broken.code, "InsufficientCapabilitiesException");
        assert_eq!(
            broken.message,
            "Requires capabilities : [CAPABILITY_NAMED_IAM]"
        );
        assert!(check("CreateStack", &input(json!(["CAPABILITY_IAM"])), None).is_some());
        assert_eq!(
            check("CreateStack", &input(json!(["CAPABILITY_NAMED_IAM"])), None),
            None
        );
    }

    #[test]
    fn values_within_the_templates_constraints_pass() {
        assert_eq!(
            check("CreateStack", &create(json!([p("Count", "3")])), None),
            None
        );
        assert_eq!(
            check(
                "CreateChangeSet",
                &create(json!([p("Count", "10"), p("Timeout", "120")])),
                None
            ),
            None
        );
    }

    #[test]
    fn values_outside_them_are_refused_as_cloudformation_refuses_them() {
        let cases = [
            (
                json!([p("Count", "3"), p("Timeout", "45")]),
                "Parameter 'Timeout' failed to satisfy constraint: must be 30, 60 or 120 s",
            ),
            (
                json!([p("Count", "11")]),
                "Parameter 'Count' must be a number not greater than 10",
            ),
            (
                json!([p("Count", "ten")]),
                "Parameter 'Count' must be a number.",
            ),
            (
                json!([p("Count", "3"), p("Prefix", "TQ")]),
                "Parameter 'Prefix' must match pattern [a-z]+-",
            ),
            (json!([]), "Parameters: [Count] must have values"),
            (
                json!([p("Count", "3"), p("Nope", "1")]),
                "Parameters: [Nope] do not exist in the template",
            ),
        ];
        for (params, message) in cases {
            let broken = check("UpdateStack", &create(params.clone()), None)
                .unwrap_or_else(|| panic!("{params}"));
            assert_eq!(broken.code, "ValidationError");
            assert!(
                broken.message.starts_with(message),
                "{params}: {}",
                broken.message
            );
        }
    }

    #[test]
    fn a_template_given_by_url_is_checked_as_fetched() {
        let by_url = json!({"StackName": "s", "TemplateURL": "https://b.s3.eu-west-1.amazonaws.com/t.yaml",
            "Parameters": [p("Count", "11")]});
        assert!(check("CreateStack", &by_url, Some(TEMPLATE)).is_some());
        assert_eq!(
            check("CreateStack", &by_url, None),
            None,
            "nothing fetched: unchecked"
        );
    }
}
