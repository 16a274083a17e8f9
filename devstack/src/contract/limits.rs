//! The limits AWS documents but its service models do not carry: sizes of whole documents
//! (an SQS message, a PutEvents request, a DynamoDB item) and the characters SQS accepts.
//! Each rule cites where AWS states it; they are the only hand-written rules of the contract
//! check, and apply after the model's own.

use serde_json::Value;

/// A documented limit broken: the error AWS answers with.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitBroken {
    /// AWS's error code.
    pub code: &'static str,
    /// AWS's message.
    pub message: String,
}

/// SQS: a message (body and attributes) and a whole batch, at most 256 KiB — the default
/// `MaximumMessageSize` of a queue, which trainq's queues keep (SQS developer guide,
/// "Amazon SQS message quotas"; the attribute can be raised to 1 MiB per queue).
pub const SQS_MAX_MESSAGE_BYTES: usize = 262_144;
/// EventBridge: the entries of one PutEvents request, sized as AWS sizes them, under 256 KB
/// (EventBridge user guide, "Calculating PutEvents event entry size").
pub const PUT_EVENTS_MAX_BYTES: usize = 262_144;
/// DynamoDB: an item, names and values, at most 400 KB (DynamoDB developer guide, "Item
/// sizes and formats"; "Service, account, and table quotas").
pub const DYNAMODB_MAX_ITEM_BYTES: usize = 409_600;
/// DynamoDB: a number has at most 38 digits of precision.
const DYNAMODB_MAX_DIGITS: usize = 38;

/// The documented limits of `service`'s `operation` that `input` breaks, if any.
pub fn check(service: &str, operation: &str, input: &Value) -> Option<LimitBroken> {
    match (service, operation) {
        ("sqs", "SendMessage") => sqs_message(input),
        ("sqs", "SendMessageBatch") => {
            let entries = input.get("Entries")?.as_array()?;
            let mut total = 0;
            for entry in entries {
                if let Some(broken) = sqs_message(entry) {
                    return Some(broken);
                }
                total += sqs_size(entry);
            }
            (total > SQS_MAX_MESSAGE_BYTES).then(|| LimitBroken {
                code: "AWS.SimpleQueueService.BatchRequestTooLong",
                message: format!(
                    "Batch requests cannot be longer than {SQS_MAX_MESSAGE_BYTES} bytes. You have sent {total} bytes."
                ),
            })
        }
        ("events", "PutEvents") => {
            let total: usize = input
                .get("Entries")?
                .as_array()?
                .iter()
                .map(put_events_entry_size)
                .sum();
            (total > PUT_EVENTS_MAX_BYTES).then(|| LimitBroken {
                code: "ValidationException",
                message: "Total size of the entries in the request is over the limit.".into(),
            })
        }
        ("dynamodb", "PutItem") => dynamodb_item(input.get("Item")?),
        ("dynamodb", "TransactWriteItems") => input
            .get("TransactItems")?
            .as_array()?
            .iter()
            .find_map(|t| dynamodb_item(t.pointer("/Put/Item")?)),
        ("dynamodb", "BatchWriteItem") => input
            .get("RequestItems")?
            .as_object()?
            .values()
            .filter_map(Value::as_array)
            .flatten()
            .find_map(|w| dynamodb_item(w.pointer("/PutRequest/Item")?)),
        ("dynamodb", "UpdateItem") => {
            // The item after the update is DynamoDB's to size; what the request adds is not
            // allowed to exceed an item on its own.
            let values = input.get("ExpressionAttributeValues")?.as_object()?;
            let size: usize = values.values().map(attribute_value_size).sum();
            (size > DYNAMODB_MAX_ITEM_BYTES).then(item_too_large)
        }
        _ => None,
    }
}

fn sqs_message(message: &Value) -> Option<LimitBroken> {
    let body = message
        .get("MessageBody")
        .and_then(Value::as_str)
        .unwrap_or("");
    if let Some(bad) = body.chars().find(|c| !sqs_allows(*c)) {
        return Some(LimitBroken {
            code: "InvalidMessageContents",
            message: format!(
                "Invalid binary character '#x{:X}' was found in the message body, the set of allowed characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF",
                u32::from(bad)
            ),
        });
    }
    let size = sqs_size(message);
    (size > SQS_MAX_MESSAGE_BYTES).then(|| LimitBroken {
        code: "InvalidParameterValue",
        message: format!(
            "One or more parameters are invalid. Reason: Message must be shorter than {SQS_MAX_MESSAGE_BYTES} bytes."
        ),
    })
}

/// The characters SQS accepts in a body (XML 1.0's `Char`).
fn sqs_allows(c: char) -> bool {
    matches!(u32::from(c), 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

/// A message's size as SQS counts it: the body, and each attribute's name, type and value.
fn sqs_size(message: &Value) -> usize {
    let body = message
        .get("MessageBody")
        .and_then(Value::as_str)
        .map_or(0, str::len);
    let attributes: usize = message
        .get("MessageAttributes")
        .and_then(Value::as_object)
        .map_or(0, |attrs| {
            attrs
                .iter()
                .map(|(name, a)| {
                    let text = |k: &str| a.get(k).and_then(Value::as_str).map_or(0, str::len);
                    name.len()
                        + text("DataType")
                        + text("StringValue")
                        + text("BinaryValue") * 3 / 4
                })
                .sum()
        });
    body + attributes
}

/// EventBridge's entry size: Time 14 bytes if set; Source, DetailType, Detail and each
/// resource in UTF-8.
fn put_events_entry_size(entry: &Value) -> usize {
    let text = |k: &str| entry.get(k).and_then(Value::as_str).map_or(0, str::len);
    let time = if entry.get("Time").is_some_and(|t| !t.is_null()) {
        14
    } else {
        0
    };
    let resources: usize = entry
        .get("Resources")
        .and_then(Value::as_array)
        .map_or(0, |r| {
            r.iter().filter_map(Value::as_str).map(str::len).sum()
        });
    time + text("Source") + text("DetailType") + text("Detail") + resources
}

fn item_too_large() -> LimitBroken {
    LimitBroken {
        code: "ValidationException",
        message: "Item size has exceeded the maximum allowed size".into(),
    }
}

fn dynamodb_item(item: &Value) -> Option<LimitBroken> {
    let item = item.as_object()?;
    if let Some(n) = item.values().find_map(too_precise) {
        return Some(LimitBroken {
            code: "ValidationException",
            message: format!(
                "Attempting to store more than {DYNAMODB_MAX_DIGITS} significant digits in a Number: {n}"
            ),
        });
    }
    let size: usize = item
        .iter()
        .map(|(name, value)| name.len() + attribute_value_size(value))
        .sum();
    (size > DYNAMODB_MAX_ITEM_BYTES).then(item_too_large)
}

/// A number (anywhere in the value) with more significant digits than DynamoDB keeps.
fn too_precise(value: &Value) -> Option<String> {
    let digits = |n: &str| {
        let mantissa = n.split(['e', 'E']).next().unwrap_or("");
        let d: String = mantissa.chars().filter(char::is_ascii_digit).collect();
        d.trim_start_matches('0').trim_end_matches('0').len()
    };
    let object = value.as_object()?;
    let (kind, v) = object.iter().next()?;
    match kind.as_str() {
        "N" => v
            .as_str()
            .filter(|n| digits(n) > DYNAMODB_MAX_DIGITS)
            .map(str::to_owned),
        "NS" => v
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .find(|n| digits(n) > DYNAMODB_MAX_DIGITS)
            .map(str::to_owned),
        "L" => v.as_array()?.iter().find_map(too_precise),
        "M" => v.as_object()?.values().find_map(too_precise),
        _ => None,
    }
}

/// An attribute value's size as DynamoDB documents it: strings and binaries by their bytes,
/// numbers by about half their digits plus one, booleans and nulls one byte, lists and maps
/// three bytes plus one per element plus their contents (and a map's names).
fn attribute_value_size(value: &Value) -> usize {
    let Some((kind, v)) = value.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    let number = |n: &str| n.chars().filter(char::is_ascii_digit).count().div_ceil(2) + 1;
    let binary = |b: &str| b.len() * 3 / 4;
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    match kind.as_str() {
        "S" => v.as_str().map_or(0, str::len),
        "N" => v.as_str().map_or(0, number),
        "B" => v.as_str().map_or(0, binary),
        "BOOL" | "NULL" => 1,
        "SS" => strings(v).iter().map(String::len).sum(),
        "NS" => strings(v).iter().map(|n| number(n)).sum(),
        "BS" => strings(v).iter().map(|b| binary(b)).sum(),
        "L" => v.as_array().map_or(3, |items| {
            3 + items
                .iter()
                .map(|i| 1 + attribute_value_size(i))
                .sum::<usize>()
        }),
        "M" => v.as_object().map_or(3, |entries| {
            3 + entries
                .iter()
                .map(|(k, i)| 1 + k.len() + attribute_value_size(i))
                .sum::<usize>()
        }),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sqs_messages_are_sized_with_their_attributes() {
        let ok = json!({"MessageBody": "x".repeat(SQS_MAX_MESSAGE_BYTES)});
        assert_eq!(check("sqs", "SendMessage", &ok), None);
        let over = json!({"MessageBody": "x".repeat(SQS_MAX_MESSAGE_BYTES - 10),
            "MessageAttributes": {"k": {"DataType": "String", "StringValue": "0123456789"}}});
        assert_eq!(
            check("sqs", "SendMessage", &over).unwrap().code,
            "InvalidParameterValue"
        );
        let bell = json!({"MessageBody": "a\u{7}"});
        assert_eq!(
            check("sqs", "SendMessage", &bell).unwrap().code,
            "InvalidMessageContents"
        );
        let batch = json!({"Entries": [
            {"Id": "1", "MessageBody": "x".repeat(200_000)},
            {"Id": "2", "MessageBody": "x".repeat(200_000)}]});
        assert_eq!(
            check("sqs", "SendMessageBatch", &batch).unwrap().code,
            "AWS.SimpleQueueService.BatchRequestTooLong"
        );
    }

    #[test]
    fn put_events_are_sized_as_eventbridge_documents() {
        let entry = |detail: usize| json!({"Source": "trainq", "DetailType": "t", "Detail": "x".repeat(detail), "Time": 1});
        let fits = json!({"Entries": [entry(PUT_EVENTS_MAX_BYTES - 21)]});
        assert_eq!(check("events", "PutEvents", &fits), None);
        let over = json!({"Entries": [entry(PUT_EVENTS_MAX_BYTES - 20)]});
        assert!(check("events", "PutEvents", &over).is_some());
    }

    #[test]
    fn dynamodb_items_are_sized_and_numbers_bounded() {
        let item = |n: usize| json!({"Item": {"pk": {"S": "a"}, "body": {"S": "x".repeat(n)}}});
        assert_eq!(check("dynamodb", "PutItem", &item(409_000)), None);
        assert!(check("dynamodb", "PutItem", &item(409_600)).is_some());
        let nested = json!({"TransactItems": [{"Put": {"Item": {"m": {"M": {"big": {"S": "x".repeat(409_600)}}}}}}]});
        assert!(check("dynamodb", "TransactWriteItems", &nested).is_some());
        let precise = json!({"Item": {"n": {"N": "1.".to_owned() + &"1".repeat(38)}}});
        assert!(
            check("dynamodb", "PutItem", &precise)
                .unwrap()
                .message
                .contains("38")
        );
    }
}
