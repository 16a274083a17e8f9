//! The query protocol (CloudFormation, IAM, STS): a form-encoded body
//! (`Action=CreateStack&Version=2010-05-15&StackName=…&Parameters.member.1.ParameterKey=…`)
//! decoded into the operation's input shape, so the same shape check applies; and AWS's XML
//! error answer.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::models::{ServiceModel, Shape};

/// A form-encoded request: its action, its API version and its parameters.
pub struct QueryRequest {
    /// `Action`.
    pub action: String,
    /// `Version`.
    pub version: Option<String>,
    params: BTreeMap<String, String>,
}

impl QueryRequest {
    /// Reads a form-encoded body; `None` when it names no action.
    pub fn parse(body: &[u8]) -> Option<Self> {
        let mut params: BTreeMap<String, String> =
            form_urlencoded::parse(body).into_owned().collect();
        let action = params.remove("Action")?;
        let version = params.remove("Version");
        Some(Self {
            action,
            version,
            params,
        })
    }

    /// A top-level parameter as sent (`TemplateURL`).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// The parameters as a JSON value of the operation's input shape.
    pub fn input(&self, model: &ServiceModel) -> Value {
        let mut tree = Node::default();
        for (key, value) in &self.params {
            let mut node = &mut tree;
            for part in key.split('.') {
                node = node.children.entry(part.to_owned()).or_default();
            }
            node.value = Some(value.clone());
        }
        match model.input_shape(&self.action) {
            Some(shape) => decode(model, shape, &tree, 0),
            None => Value::Object(Map::new()),
        }
    }
}

#[derive(Default)]
struct Node {
    value: Option<String>,
    children: BTreeMap<String, Node>,
}

/// A tree of dotted keys, decoded as `shape_name` says.
fn decode(model: &ServiceModel, shape_name: &str, node: &Node, depth: usize) -> Value {
    let Some(shape) = model.shape(shape_name).filter(|_| depth < 32) else {
        return Value::Null;
    };
    match shape.kind.as_str() {
        "structure" => Value::Object(
            shape
                .members
                .iter()
                .filter_map(|(name, m)| {
                    let wire = m.location_name.as_deref().unwrap_or(name);
                    let child = node.children.get(wire)?;
                    Some((name.clone(), decode(model, &m.shape, child, depth + 1)))
                })
                .collect(),
        ),
        "list" => {
            let Some(member) = &shape.member else {
                return Value::Array(Vec::new());
            };
            // `Name.member.N` (or `Name.N` when flattened).
            let items = if shape.flattened || member.flattened {
                Some(node)
            } else {
                node.children
                    .get(member.location_name.as_deref().unwrap_or("member"))
            };
            Value::Array(
                indexed(items)
                    .map(|n| decode(model, &member.shape, n, depth + 1))
                    .collect(),
            )
        }
        "map" => {
            let (Some(key), Some(value)) = (&shape.key, &shape.value) else {
                return Value::Object(Map::new());
            };
            let entries = if shape.flattened {
                Some(node)
            } else {
                node.children.get("entry")
            };
            Value::Object(
                indexed(entries)
                    .filter_map(|entry| {
                        let k = entry
                            .children
                            .get(key.location_name.as_deref().unwrap_or("key"))?;
                        let v = entry
                            .children
                            .get(value.location_name.as_deref().unwrap_or("value"))?;
                        Some((k.value.clone()?, decode(model, &value.shape, v, depth + 1)))
                    })
                    .collect(),
            )
        }
        _ => scalar(shape, node.value.as_deref()),
    }
}

/// The children of `node` named `1`, `2`, … in numeric order.
fn indexed(node: Option<&Node>) -> impl Iterator<Item = &Node> {
    let mut items: Vec<(u32, &Node)> = node
        .map(|n| {
            n.children
                .iter()
                .filter_map(|(k, v)| Some((k.parse().ok()?, v)))
                .collect()
        })
        .unwrap_or_default();
    items.sort_by_key(|(i, _)| *i);
    items.into_iter().map(|(_, n)| n)
}

/// A scalar as the query protocol sends it (text), typed as the shape says; text that is not
/// of the shape's type stays text, which the shape check then reports.
fn scalar(shape: &Shape, text: Option<&str>) -> Value {
    let Some(text) = text else {
        return Value::Null;
    };
    match shape.kind.as_str() {
        "integer" | "long" => text
            .parse::<i64>()
            .map_or_else(|_| Value::from(text), Value::from),
        "float" | "double" => text
            .parse::<f64>()
            .map_or_else(|_| Value::from(text), Value::from),
        "boolean" => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            other => Value::from(other),
        },
        _ => Value::from(text),
    }
}

/// AWS's XML error answer of the query protocol.
pub fn error_xml(namespace: &str, code: &str, message: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"{namespace}\"><Error><Type>Sender</Type><Code>{}</Code>\
         <Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
        escape(code),
        escape(message),
        uuid::Uuid::new_v4()
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
