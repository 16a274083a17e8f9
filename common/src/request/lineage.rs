//! The request's lineage fields: where it came from (`origin`: the dedupe key its id was
//! derived from, the shift signal) and what its data was (`dataset.digests`). Checked so that
//! what `trainq lineage` shows later is true: a dedupe key must be the one the id came from.

use uuid::Uuid;

use super::ident::shorten;
use super::{RequestError, TrainingRequest};
use crate::naming::dedupe_request_id;

const MAX_DEDUPE_KEY: usize = 256;
const MAX_SIGNAL: usize = 1024;
const MAX_DIGEST: usize = 256;

/// Checks `origin` and `dataset.digests`, and resolves the request id: the client's, else
/// the one its dedupe key gives, else `fallback`.
pub(super) fn check(request: &TrainingRequest, fallback: Uuid) -> Result<Uuid, RequestError> {
    for (channel, digest) in &request.dataset.digests {
        let field = format!("dataset.digests.{}", shorten(channel));
        if !request.dataset.channels.contains_key(channel) {
            return Err(RequestError::new(
                field,
                "names no channel of `dataset.channels`",
            ));
        }
        let ok = (1..=MAX_DIGEST).contains(&digest.len())
            && digest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b":+/=._-".contains(&b));
        if !ok {
            return Err(RequestError::new(
                field,
                format!("must be 1–{MAX_DIGEST} of `A-Za-z0-9:+/=._-` (e.g. `sha256:…`)"),
            ));
        }
    }
    let Some(origin) = &request.origin else {
        return Ok(request.request_id.unwrap_or(fallback));
    };
    if let Some(signal) = &origin.signal
        && (signal.is_empty()
            || signal.chars().count() > MAX_SIGNAL
            || signal.chars().any(char::is_control))
    {
        return Err(RequestError::new(
            "origin.signal",
            format!("must be one line of 1–{MAX_SIGNAL} characters"),
        ));
    }
    let Some(key) = &origin.dedupe_key else {
        return Ok(request.request_id.unwrap_or(fallback));
    };
    if key.is_empty() || key.chars().count() > MAX_DEDUPE_KEY || key.chars().any(char::is_control) {
        return Err(RequestError::new(
            "origin.dedupe_key",
            format!("must be one line of 1–{MAX_DEDUPE_KEY} characters"),
        ));
    }
    let derived = dedupe_request_id(&request.customer, &request.project, key);
    match request.request_id {
        Some(id) if id != derived => Err(RequestError::new(
            "request_id",
            format!(
                "is not the id of `origin.dedupe_key` `{}` for {}/{} ({derived}); send that id, or leave request_id out",
                shorten(key),
                request.customer,
                request.project
            ),
        )),
        _ => Ok(derived),
    }
}
