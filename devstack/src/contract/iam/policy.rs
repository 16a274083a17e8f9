//! IAM identity-policy evaluation, for the calls of an identity the front door knows: an
//! explicit `Deny` wins, then an `Allow`, else the call is implicitly denied. Statements with
//! `Action`/`NotAction`, `Resource`/`NotResource` (`*` and `?` wildcards) and the condition
//! operators trainq's policies use (`String*`, `Arn*`, `Bool`, with `IfExists`).
//!
//! Written by hand: no maintained Rust crate evaluates IAM policies; this one evaluates only
//! identity policies (no resource policies, boundaries or SCPs), which is what trainq's
//! function roles are.

use std::collections::BTreeMap;

use serde_json::Value;
use trainq_common::trust::string_like as glob;

/// One question: may the identity do `action` on `resource`, given the request's `context`
/// keys (`iam:PassedToService`, …)?
#[derive(Debug, Clone, PartialEq)]
pub struct Authorization {
    /// `service:Action`, e.g. `sagemaker:CreateTrainingJob`.
    pub action: String,
    /// The resource's ARN, or `*` for actions without resource-level permissions.
    pub resource: String,
    /// Condition keys of the request.
    pub context: BTreeMap<String, String>,
}

impl Authorization {
    /// `action` on `resource`, without condition keys.
    pub fn new(action: impl Into<String>, resource: impl Into<String>) -> Self {
        Self {
            action: action.into(),
            resource: resource.into(),
            context: BTreeMap::new(),
        }
    }
}

/// What the policies say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// An `Allow` applies and no `Deny`.
    Allowed,
    /// No statement allows it.
    ImplicitDeny,
    /// A `Deny` applies.
    ExplicitDeny,
}

/// Evaluates `question` against the identity's policy documents.
pub fn evaluate(policies: &[Value], question: &Authorization) -> Decision {
    let mut allowed = false;
    for statement in policies.iter().flat_map(statements) {
        if !applies(statement, question) {
            continue;
        }
        match statement.get("Effect").and_then(Value::as_str) {
            Some("Deny") => return Decision::ExplicitDeny,
            Some("Allow") => allowed = true,
            _ => {}
        }
    }
    if allowed {
        Decision::Allowed
    } else {
        Decision::ImplicitDeny
    }
}

/// A document's statements (`Statement` is an object or a list).
fn statements(policy: &Value) -> Vec<&Value> {
    match policy.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    }
}

fn applies(statement: &Value, q: &Authorization) -> bool {
    let action_ok = match (statement.get("Action"), statement.get("NotAction")) {
        (Some(a), _) => strings(a)
            .iter()
            .any(|p| glob(&p.to_lowercase(), &q.action.to_lowercase())),
        (None, Some(n)) => !strings(n)
            .iter()
            .any(|p| glob(&p.to_lowercase(), &q.action.to_lowercase())),
        _ => false,
    };
    let resource_ok = match (statement.get("Resource"), statement.get("NotResource")) {
        (Some(r), _) => strings(r).iter().any(|p| glob(p, &q.resource)),
        (None, Some(n)) => !strings(n).iter().any(|p| glob(p, &q.resource)),
        _ => false,
    };
    action_ok && resource_ok && conditions_hold(statement.get("Condition"), &q.context)
}

/// A string or a list of strings.
fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        Value::Bool(b) => vec![b.to_string()],
        Value::Number(n) => vec![n.to_string()],
        _ => Vec::new(),
    }
}

/// Every operator of the `Condition` block holds (an operator trainq does not know never does).
fn conditions_hold(conditions: Option<&Value>, context: &BTreeMap<String, String>) -> bool {
    let Some(Value::Object(operators)) = conditions else {
        return true;
    };
    operators.iter().all(|(operator, keys)| {
        let (operator, if_exists) = match operator.strip_suffix("IfExists") {
            Some(op) => (op, true),
            None => (operator.as_str(), false),
        };
        let Some(keys) = keys.as_object() else {
            return false;
        };
        keys.iter().all(|(key, expected)| {
            let expected = strings(expected);
            // Condition keys are case-insensitive.
            let actual = context
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.as_str());
            match actual {
                None => if_exists,
                Some(actual) => operator_holds(operator, &expected, actual),
            }
        })
    })
}

fn operator_holds(operator: &str, expected: &[String], actual: &str) -> bool {
    let any = |f: &dyn Fn(&str) -> bool| expected.iter().any(|e| f(e));
    match operator {
        "StringEquals" | "ArnEquals" => any(&|e| e == actual),
        "StringNotEquals" | "ArnNotEquals" => !any(&|e| e == actual),
        "StringEqualsIgnoreCase" => any(&|e| e.eq_ignore_ascii_case(actual)),
        "StringLike" | "ArnLike" => any(&|e| glob(e, actual)),
        "StringNotLike" | "ArnNotLike" => !any(&|e| glob(e, actual)),
        "Bool" => any(&|e| e.eq_ignore_ascii_case(actual)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy() -> Value {
        json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["sagemaker:CreateTrainingJob", "sagemaker:AddTags"],
             "Resource": "arn:aws:sagemaker:eu-west-1:123456789012:training-job/tq-*"},
            {"Effect": "Allow", "Action": "iam:PassRole", "Resource": ["arn:aws:iam::123456789012:role/t-production-training"],
             "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}},
            {"Effect": "Allow", "Action": "sagemaker:List*", "Resource": "*"},
            {"Effect": "Deny", "Action": "sagemaker:*", "Resource": "*:training-job/tq-forbidden-*"}
        ]})
    }

    fn ask(action: &str, resource: &str) -> Decision {
        evaluate(&[policy()], &Authorization::new(action, resource))
    }

    #[test]
    fn allows_what_a_statement_grants_and_nothing_else() {
        let job = "arn:aws:sagemaker:eu-west-1:123456789012:training-job/tq-abc-1";
        assert_eq!(ask("sagemaker:CreateTrainingJob", job), Decision::Allowed);
        assert_eq!(
            ask("SageMaker:createtrainingjob", job),
            Decision::Allowed,
            "actions ignore case"
        );
        assert_eq!(
            ask("sagemaker:StopTrainingJob", job),
            Decision::ImplicitDeny
        );
        assert_eq!(
            ask("sagemaker:CreateTrainingJob", &job.replace("tq-", "other-")),
            Decision::ImplicitDeny
        );
        assert_eq!(ask("sagemaker:ListModelPackages", "*"), Decision::Allowed);
        assert_eq!(
            ask(
                "sagemaker:CreateTrainingJob",
                "arn:aws:sagemaker:eu-west-1:123456789012:training-job/tq-forbidden-1"
            ),
            Decision::ExplicitDeny
        );
    }

    #[test]
    fn conditions_must_hold() {
        let role = "arn:aws:iam::123456789012:role/t-production-training";
        let mut q = Authorization::new("iam:PassRole", role);
        assert_eq!(
            evaluate(&[policy()], &q),
            Decision::ImplicitDeny,
            "no iam:PassedToService"
        );
        q.context.insert(
            "iam:PassedToService".into(),
            "sagemaker.amazonaws.com".into(),
        );
        assert_eq!(evaluate(&[policy()], &q), Decision::Allowed);
        q.context
            .insert("iam:PassedToService".into(), "ec2.amazonaws.com".into());
        assert_eq!(evaluate(&[policy()], &q), Decision::ImplicitDeny);
    }
}
