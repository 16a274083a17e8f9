//! A request's input checked against its shape in the service model, the way AWS's
//! front ends check it: required members, lengths, ranges, patterns, enums, list and map
//! sizes, union members. Violations are phrased as AWS phrases them ("Value 'x' at
//! 'clientToken' failed to satisfy constraint: Member must have length less than or equal to
//! 36"), with paths in AWS's style (`stoppingCondition.maxRuntimeInSeconds`,
//! `tags.1.member.value`).

use serde_json::Value;

use super::models::{ServiceModel, Shape};
use super::pattern;

/// Deeper than this, a value is not checked further (DynamoDB documents nest at most 32).
const MAX_DEPTH: usize = 64;
/// Values longer than this are cut in messages.
const MAX_SHOWN: usize = 256;

/// One broken rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// The member's path (`stoppingCondition.maxRuntimeInSeconds`).
    pub path: String,
    /// The value as AWS shows it (`None`: null, or sensitive).
    pub shown: Option<String>,
    /// The constraint, as AWS words it.
    pub constraint: String,
    /// A type mismatch (AWS: `SerializationException`) rather than a constraint.
    pub serialization: bool,
}

impl Violation {
    /// `Value 'x' at 'path' failed to satisfy constraint: …`.
    pub fn message(&self) -> String {
        match &self.shown {
            Some(v) => format!(
                "Value '{v}' at '{}' failed to satisfy constraint: {}",
                self.path, self.constraint
            ),
            None => format!(
                "Value null at '{}' failed to satisfy constraint: {}",
                self.path, self.constraint
            ),
        }
    }
}

/// What the check found: the violations, and patterns that could not be applied (a defect of
/// the translation, reported rather than ignored).
#[derive(Debug, Default)]
pub struct Findings {
    /// Broken rules.
    pub violations: Vec<Violation>,
    /// Patterns that could not be compiled or ran out of backtracking budget.
    pub unchecked: Vec<String>,
}

/// Checks `input` against the operation's input shape.
pub fn check_input(model: &ServiceModel, operation: &str, input: &Value) -> Findings {
    let mut findings = Findings::default();
    if let Some(shape) = model.input_shape(operation) {
        Checker {
            model,
            findings: &mut findings,
        }
        .value(shape, input, "", 0);
    }
    findings
}

struct Checker<'a> {
    model: &'a ServiceModel,
    findings: &'a mut Findings,
}

impl Checker<'_> {
    fn value(&mut self, shape_name: &str, value: &Value, path: &str, depth: usize) {
        let Some(shape) = self.model.shape(shape_name) else {
            return;
        };
        if depth > MAX_DEPTH || value.is_null() {
            return;
        }
        match shape.kind.as_str() {
            "structure" => self.structure(shape_name, shape, value, path, depth),
            "list" => self.list(shape, value, path, depth),
            "map" => self.map(shape, value, path, depth),
            _ => match scalar(shape, value, &mut self.findings.unchecked) {
                Ok(constraints) => self.report(shape, value, path, constraints),
                Err(kind) => self.mismatch(path, value, kind),
            },
        }
    }

    fn structure(&mut self, name: &str, shape: &Shape, value: &Value, path: &str, depth: usize) {
        let Some(object) = value.as_object() else {
            return self.mismatch(path, value, "Structure");
        };
        for required in &shape.required {
            if object.get(required).is_none_or(Value::is_null) {
                self.findings.violations.push(Violation {
                    path: join(path, required),
                    shown: None,
                    constraint: "Member must not be null".into(),
                    serialization: false,
                });
            }
        }
        if shape.union {
            let set = object.values().filter(|v| !v.is_null()).count();
            if set != 1 {
                let how = if set == 0 {
                    "is empty"
                } else {
                    "has more than one member set"
                };
                self.findings.violations.push(Violation {
                    path: if path.is_empty() {
                        name.to_owned()
                    } else {
                        path.to_owned()
                    },
                    shown: Some(shown(value, MAX_SHOWN)),
                    constraint: format!(
                        "Supplied {name} {how}, must contain exactly one of the supported members"
                    ),
                    serialization: false,
                });
            }
        }
        for (member, member_value) in object {
            if let Some(m) = shape.members.get(member) {
                self.value(&m.shape, member_value, &join(path, member), depth + 1);
            }
        }
    }

    fn list(&mut self, shape: &Shape, value: &Value, path: &str, depth: usize) {
        let Some(items) = value.as_array() else {
            return self.mismatch(path, value, "List");
        };
        let mut constraints = length(shape, items.len());
        if let Some(member) = &shape.member {
            let member_shape = self.model.shape(&member.shape);
            if let Some(member_shape) = member_shape.filter(|s| is_scalar(s)) {
                let inner = self.scalars(member_shape, items.iter(), path);
                constraints.extend(nested("Member must satisfy constraint", inner));
            } else {
                for (i, item) in items.iter().enumerate() {
                    let item_path = format!("{}.{}.member", path_or(path), i + 1);
                    self.value(&member.shape, item, &item_path, depth + 1);
                }
            }
        }
        self.report(shape, value, path, constraints);
    }

    fn map(&mut self, shape: &Shape, value: &Value, path: &str, depth: usize) {
        let Some(entries) = value.as_object() else {
            return self.mismatch(path, value, "Map");
        };
        let mut constraints = length(shape, entries.len());
        if let Some(key) = shape.key.as_ref().and_then(|k| self.model.shape(&k.shape)) {
            let keys: Vec<Value> = entries.keys().cloned().map(Value::String).collect();
            let inner = self.scalars(key, keys.iter(), path);
            constraints.extend(nested("Map keys must satisfy constraint", inner));
        }
        if let Some(value_ref) = &shape.value {
            match self.model.shape(&value_ref.shape) {
                Some(v) if is_scalar(v) => {
                    let inner = self.scalars(v, entries.values(), path);
                    constraints.extend(nested("Map value must satisfy constraint", inner));
                }
                _ => {
                    for (k, v) in entries {
                        self.value(
                            &value_ref.shape,
                            v,
                            &format!("{}.{k}.member", path_or(path)),
                            depth + 1,
                        );
                    }
                }
            }
        }
        self.report(shape, value, path, constraints);
    }

    /// The constraints the elements of a list or map break (a type mismatch is reported
    /// at `path`).
    fn scalars<'v>(
        &mut self,
        shape: &Shape,
        values: impl Iterator<Item = &'v Value>,
        path: &str,
    ) -> Vec<String> {
        let mut broken = Vec::new();
        for v in values {
            match scalar(shape, v, &mut self.findings.unchecked) {
                Ok(c) => broken.extend(c),
                Err(kind) => self.mismatch(path, v, kind),
            }
        }
        broken
    }

    fn report(&mut self, shape: &Shape, value: &Value, path: &str, constraints: Vec<String>) {
        for constraint in constraints {
            self.findings.violations.push(Violation {
                path: path_or(path).to_owned(),
                shown: Some(if shape.sensitive {
                    "***".into()
                } else {
                    shown(value, MAX_SHOWN)
                }),
                constraint,
                serialization: false,
            });
        }
    }

    fn mismatch(&mut self, path: &str, value: &Value, kind: &str) {
        self.findings.violations.push(Violation {
            path: path_or(path).to_owned(),
            shown: Some(shown(value, MAX_SHOWN)),
            constraint: format!("{} can not be converted to a {kind}", json_kind(value)),
            serialization: true,
        });
    }
}

/// The constraints a scalar breaks, in AWS's order (length, pattern, enum, range); `Err`
/// with the expected type when the JSON value is of another type.
fn scalar(
    shape: &Shape,
    value: &Value,
    unchecked: &mut Vec<String>,
) -> Result<Vec<String>, &'static str> {
    let mut broken = Vec::new();
    match (shape.kind.as_str(), value) {
        ("string", Value::String(s)) => {
            // Java counts UTF-16 code units; so does AWS.
            broken.extend(length(shape, s.encode_utf16().count()));
            if let Some(p) = &shape.pattern {
                match pattern::full_match(p, s) {
                    Ok(true) => {}
                    Ok(false) => broken.push(format!(
                        "Member must satisfy regular expression pattern: {p}"
                    )),
                    Err(e) => unchecked.push(e),
                }
            }
            if let Some(values) = shape.enumeration.as_ref().filter(|v| !v.contains(s)) {
                broken.push(format!(
                    "Member must satisfy enum value set: [{}]",
                    values.join(", ")
                ));
            }
        }
        ("integer" | "long" | "float" | "double", Value::Number(n)) => {
            let whole = match shape.kind.as_str() {
                "integer" => n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
                "long" => n.is_i64() || n.is_u64(),
                _ => true,
            };
            if !whole {
                return Err(if shape.kind == "integer" {
                    "Integer"
                } else {
                    "Long"
                });
            }
            let v = n.as_f64().unwrap_or(0.0);
            if let Some(min) = shape.min.filter(|m| v < *m) {
                broken.push(format!(
                    "Member must have value greater than or equal to {}",
                    number(min)
                ));
            }
            if let Some(max) = shape.max.filter(|m| v > *m) {
                broken.push(format!(
                    "Member must have value less than or equal to {}",
                    number(max)
                ));
            }
        }
        ("blob", Value::String(s)) => broken.extend(length(shape, base64_len(s))),
        ("boolean", Value::Bool(_)) | ("timestamp", Value::Number(_) | Value::String(_)) => {}
        (_, Value::Null) => {}
        ("string", _) => return Err("String"),
        ("blob", _) => return Err("Blob"),
        ("boolean", _) => return Err("Boolean"),
        ("timestamp", _) => return Err("Timestamp"),
        _ => return Err("Number"),
    }
    Ok(broken)
}

fn is_scalar(shape: &Shape) -> bool {
    !matches!(shape.kind.as_str(), "structure" | "list" | "map")
}

/// Length constraints on strings, blobs, lists and maps.
fn length(shape: &Shape, len: usize) -> Vec<String> {
    let len = len as f64;
    let mut broken = Vec::new();
    if let Some(min) = shape.min.filter(|m| len < *m) {
        broken.push(format!(
            "Member must have length greater than or equal to {}",
            number(min)
        ));
    }
    if let Some(max) = shape.max.filter(|m| len > *m) {
        broken.push(format!(
            "Member must have length less than or equal to {}",
            number(max)
        ));
    }
    broken
}

/// Coral's wording for constraints on the elements of a list or map.
fn nested(what: &str, mut inner: Vec<String>) -> Option<String> {
    inner.sort();
    inner.dedup();
    (!inner.is_empty()).then(|| format!("{what}: [{}]", inner.join(", ")))
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        v.to_string()
    }
}

/// The decoded length of a base64 string.
fn base64_len(s: &str) -> usize {
    let padding = s.bytes().rev().take_while(|&b| b == b'=').count();
    (s.len() / 4) * 3
        + match s.len() % 4 {
            2 => 1,
            3 => 2,
            _ => 0,
        }
        - padding.min(2)
}

/// AWS's member paths: the member name with a lower-case first letter, joined by dots.
fn join(path: &str, member: &str) -> String {
    let mut chars = member.chars();
    let lower: String = chars
        .next()
        .map(|c| c.to_lowercase().chain(chars).collect())
        .unwrap_or_default();
    if path.is_empty() {
        lower
    } else {
        format!("{path}.{lower}")
    }
}

fn path_or(path: &str) -> &str {
    if path.is_empty() { "input" } else { path }
}

/// A value as Java's `toString` shows it (`{k=v}`, `[a, b]`), cut at `max` characters.
fn shown(value: &Value, max: usize) -> String {
    fn render(v: &Value, out: &mut String) {
        match v {
            Value::String(s) => out.push_str(s),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    render(item, out);
                }
                out.push(']');
            }
            Value::Object(map) => {
                out.push('{');
                for (i, (k, item)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(k);
                    out.push('=');
                    render(item, out);
                }
                out.push('}');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    render(value, &mut out);
    if out.chars().count() > max {
        out = out.chars().take(max).collect::<String>() + "…";
    }
    out
}

/// How Coral names a JSON value's type in serialization errors.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "STRING_VALUE",
        Value::Number(_) => "NUMBER_VALUE",
        Value::Bool(_) => "BOOLEAN_VALUE",
        Value::Array(_) => "START_ARRAY",
        Value::Object(_) => "START_OBJECT",
        Value::Null => "VALUE_NULL",
    }
}
