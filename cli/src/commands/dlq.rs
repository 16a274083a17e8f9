//! `trainq dlq list` and `trainq dlq redrive`: the requests that exhausted their deliveries,
//! why (their record says), and sending them back.

use std::collections::BTreeMap;

use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, Message, MessageSystemAttributeName as Attr,
};
use serde_json::{Value, json};
use trainq_common::Registries;
use trainq_common::naming::request_id_for_message;
use trainq_common::ports::JobStore;
use trainq_common::request::{parse, peek_request_id};
use uuid::Uuid;

use crate::context::Context;
use crate::error::{CliError, aws};
use crate::output::{self, Table, or_dash};
use crate::progress::Progress;

/// Receive rounds while reading (a round that brings nothing new ends the reading early).
const ROUNDS: usize = 50;

/// How long a read hides what it received: long enough to page through the queue (a
/// message already received is not handed out again while hidden), short enough that a
/// reader that dies leaves nothing hidden for long.
const PAGE_HOLD_S: i32 = 30;

/// The request id a dead-lettered message stands for: its body's, else the one the dispatcher
/// derived from its (original) message id.
fn request_id(m: &Message) -> Option<Uuid> {
    m.body()
        .and_then(peek_request_id)
        .or_else(|| m.message_id().map(request_id_for_message))
}

/// Reads every message of the DLQ, each hidden from other readers for `hold_s` (SQS has no
/// peek: a message is read by receiving it).
async fn read(ctx: &Context, hold_s: i32) -> Result<Vec<Message>, CliError> {
    let sqs = ctx.sqs();
    let mut seen: BTreeMap<String, Message> = BTreeMap::new();
    for _ in 0..ROUNDS {
        let out = sqs
            .receive_message()
            .queue_url(&ctx.stack.requests_dlq_url)
            .max_number_of_messages(10)
            .visibility_timeout(hold_s)
            .wait_time_seconds(1)
            .message_system_attribute_names(Attr::All)
            .send()
            .await
            .map_err(|e| aws("ReceiveMessage", e))?;
        let messages = out.messages.unwrap_or_default();
        let before = seen.len();
        for m in messages {
            seen.entry(m.message_id().unwrap_or_default().to_owned())
                .or_insert(m);
        }
        if seen.len() == before {
            break;
        }
    }
    Ok(seen.into_values().collect())
}

/// Reads every message and makes them all visible again at once: looking at the DLQ
/// (`list`, `redrive --dry-run`) leaves it as it was for every other reader.
async fn peek(ctx: &Context) -> Result<Vec<Message>, CliError> {
    let messages = read(ctx, PAGE_HOLD_S).await?;
    release(ctx, &messages.iter().collect::<Vec<_>>()).await?;
    Ok(messages)
}

/// Makes `messages` visible again now (ChangeMessageVisibilityBatch to 0, ten at a time).
/// An entry SQS fails (a receipt handle gone stale) becomes visible when its hold lapses.
async fn release(ctx: &Context, messages: &[&Message]) -> Result<(), CliError> {
    let sqs = ctx.sqs();
    for chunk in messages.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle()?)
                    .visibility_timeout(0)
                    .build()
                    .ok()
            })
            .collect();
        sqs.change_message_visibility_batch()
            .queue_url(&ctx.stack.requests_dlq_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| aws("ChangeMessageVisibilityBatch", e))?;
    }
    Ok(())
}

/// Runs `trainq dlq list`.
pub async fn list(ctx: &Context, json: bool) -> Result<(), CliError> {
    let messages = peek(ctx).await?;
    let store = ctx.store();
    let mut rows = Vec::new();
    for m in &messages {
        let id = request_id(m);
        let record = match id {
            Some(id) => store.get(id).await?,
            None => None,
        };
        let attr = |a: Attr| m.attributes().and_then(|x| x.get(&a)).cloned();
        rows.push(json!({
            "message_id": m.message_id(),
            "request_id": id,
            "receives": attr(Attr::ApproximateReceiveCount),
            "state": record.as_ref().map(|r| r.state.as_str()),
            "reason": record.as_ref().and_then(|r| r.reason.clone())
                .or_else(|| record.is_none().then(|| "no record: the dispatcher never recorded it (unreadable or a store failure)".to_owned())),
        }));
    }
    if json {
        output::json(&rows);
        return Ok(());
    }
    if rows.is_empty() {
        crate::say!("the dead-letter queue is empty");
        return Ok(());
    }
    let mut table = Table::new(&["message", "request", "receives", "state", "why"]);
    let text = |v: &Value| v.as_str().map(str::to_owned);
    for r in &rows {
        table.row(vec![
            or_dash(text(&r["message_id"])),
            or_dash(text(&r["request_id"])),
            or_dash(text(&r["receives"])),
            or_dash(text(&r["state"])),
            or_dash(text(&r["reason"]).map(|s| s.chars().take(80).collect::<String>())),
        ]);
    }
    crate::say!("{}", table.render());
    Ok(())
}

/// The body to send again: unchanged, except that a request without an id gets the one its
/// original delivery had, so the redriven copy is the same request, not a new one. `Err`
/// says why a message is not worth sending again (it is kept, and listed).
fn redrive_body(m: &Message) -> Result<String, String> {
    let body = m.body().unwrap_or_default();
    if peek_request_id(body).is_some() {
        return Ok(body.to_owned());
    }
    // Without an id it could only come back as a new request (its first delivery's record,
    // keyed by that message id, already says why it was refused).
    let mut value: Value = serde_json::from_str(body)
        .map_err(|e| format!("not a JSON request ({e}); its record says why it was refused"))?;
    match (value.as_object_mut(), m.message_id()) {
        (Some(obj), Some(id)) => {
            obj.insert(
                "request_id".into(),
                json!(request_id_for_message(id).to_string()),
            );
            Ok(value.to_string())
        }
        _ => Err("not a JSON object; its record says why it was refused".to_owned()),
    }
}

/// Why a dead-lettered message must not be sent again by an operator: its original sender
/// (SQS keeps `SenderId` when it dead-letters a message) may not use the registry it names.
/// A redriven copy is sent with the operator's identity, which would launder it.
fn foreign_sender(registries: &Registries, m: &Message) -> Option<String> {
    let request = parse(m.body()?).ok()?;
    let sender = m
        .attributes()
        .and_then(|a| a.get(&Attr::SenderId))
        .map(String::as_str);
    registries
        .get(request.registry)
        .trust
        .check_sender(request.registry, &request.customer, sender)
        .err()
        .map(|e| e.rule)
}

/// Runs `trainq dlq redrive`.
pub async fn redrive(ctx: &Context, dry_run: bool, json: bool) -> Result<(), CliError> {
    // Held for a minute while they are moved; a dry run only looks. What is kept is made
    // visible again at once.
    let messages = if dry_run {
        peek(ctx).await?
    } else {
        read(ctx, 60).await?
    };
    let registries = ctx.registries()?;
    let sqs = ctx.sqs();
    let (mut moved, mut kept, mut left) = (Vec::new(), Vec::new(), Vec::new());
    let mut progress = Progress::new(
        "moving to the requests queue",
        if dry_run { 0 } else { messages.len() as u64 },
    );
    for m in &messages {
        progress.advance(1);
        let body = match (redrive_body(m), foreign_sender(&registries, m)) {
            (Ok(body), None) => body,
            (Err(why), _) | (Ok(_), Some(why)) => {
                kept.push(
                    json!({"message_id": m.message_id(), "request_id": request_id(m), "why": why}),
                );
                left.push(m);
                continue;
            }
        };
        if !dry_run {
            sqs.send_message()
                .queue_url(&ctx.stack.requests_queue_url)
                .message_body(&body)
                .send()
                .await
                .map_err(|e| aws("SendMessage", e))?;
            sqs.delete_message()
                .queue_url(&ctx.stack.requests_dlq_url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .map_err(|e| aws("DeleteMessage", e))?;
        }
        moved.push(json!({"message_id": m.message_id(), "request_id": request_id(m)}));
    }
    progress.finish();
    if !dry_run {
        release(ctx, &left).await?;
    }
    if json {
        output::json(&json!({"dry_run": dry_run, "messages": moved, "kept": kept}));
        return Ok(());
    }
    for k in &kept {
        crate::say!(
            "kept {} (request {}): {}",
            k["message_id"].as_str().unwrap_or("-"),
            k["request_id"].as_str().unwrap_or("-"),
            k["why"].as_str().unwrap_or_default()
        );
    }
    if dry_run {
        crate::say!(
            "{} messages would go back to the requests queue (nothing changed: --dry-run)",
            moved.len()
        );
    } else {
        crate::say!("{} messages sent back to the requests queue", moved.len());
    }
    Ok(())
}
