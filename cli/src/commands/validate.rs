//! `trainq validate`: checks request files exactly as the dispatcher will — the schema and
//! types, the registry's allow-lists and the customer's data prefix from the stack file, the
//! dedupe key against the id, and (with `--sender`) whether that sender may use the registry —
//! without sending anything. What the JSON Schema alone cannot check is listed in
//! `docs/backend.md`; what even this cannot (the data's and the image's existence) too.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;
use trainq_common::Registries;
use trainq_common::RequestError;
use trainq_common::request::{parse, validate};
use uuid::Uuid;

use crate::context::Context;
use crate::error::{CliError, Status};
use crate::output::{self, Table};

/// The verdict on one request of one file (`--json`: field list v1, docs/json/validate.schema.json).
#[derive(Debug, Serialize)]
pub struct Verdict {
    /// The file (`-` for stdin).
    pub source: String,
    /// The request's place in its file, from 1 (a file may hold several, one after another).
    pub index: usize,
    /// Whether the dispatcher would take it.
    pub valid: bool,
    /// Its request id: the one it carries or derives from its dedupe key; absent when the
    /// request has none (the dispatcher derives one from the SQS message id).
    pub request_id: Option<Uuid>,
    /// The offending field, as a dotted path, when invalid.
    pub field: Option<String>,
    /// The rule it broke, when invalid.
    pub rule: Option<String>,
}

/// Runs `trainq validate`: exit status 2 when any request is invalid.
pub async fn run(
    ctx: &Context,
    files: &[PathBuf],
    sender: Option<&str>,
    json: bool,
) -> Result<(), CliError> {
    let registries = ctx.registries()?;
    let mut verdicts = Vec::new();
    for file in files {
        let source = file.display().to_string();
        let values = read_values(file)?;
        if values.is_empty() {
            return Err(CliError::new(
                Status::Invalid,
                format!("{source}: holds no request"),
            ));
        }
        for (n, value) in values.into_iter().enumerate() {
            verdicts.push(judge(&registries, sender, &source, n + 1, value));
        }
    }
    let invalid = verdicts.iter().filter(|v| !v.valid).count();
    if json {
        output::json(&serde_json::json!({
            "sender_checked": sender.is_some(),
            "requests": verdicts,
        }));
    } else {
        print_table(&verdicts, sender.is_some());
    }
    if invalid == 0 {
        Ok(())
    } else {
        Err(CliError::new(
            Status::Invalid,
            format!(
                "{invalid} of {} request(s) would be rejected",
                verdicts.len()
            ),
        )
        .hint("each row names the field and the rule; docs/backend.md says what is checked where"))
    }
}

/// One request's verdict.
fn judge(
    registries: &Registries,
    sender: Option<&str>,
    source: &str,
    index: usize,
    value: Result<Value, String>,
) -> Verdict {
    let checked = value
        .map_err(|e| RequestError::new("(body)", e))
        .and_then(|v| parse(&v.to_string()))
        .and_then(|request| {
            let carried = request.request_id;
            // Without an id of its own, the dispatcher derives one from the message id; the
            // nil id stands for it here and is not shown.
            let valid = validate(request, registries, Uuid::nil())?;
            if let Some(sender) = sender {
                let r = &valid.request;
                registries.get(r.registry).trust.check_sender(
                    r.registry,
                    &r.customer,
                    Some(sender),
                )?;
            }
            let shown = carried.or(Some(valid.request_id).filter(|id| !id.is_nil()));
            Ok(shown)
        });
    let (valid, request_id, field, rule) = match checked {
        Ok(id) => (true, id, None, None),
        Err(e) => (false, None, Some(e.field), Some(e.rule)),
    };
    Verdict {
        source: source.to_owned(),
        index,
        valid,
        request_id,
        field,
        rule,
    }
}

/// The JSON values of a file (or stdin for `-`), one after another (one object, or one per
/// line); an unreadable value ends the file with its error.
fn read_values(file: &Path) -> Result<Vec<Result<Value, String>>, CliError> {
    let text = if file == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| CliError::new(Status::Invalid, format!("stdin: {e}")))?;
        text
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| CliError::new(Status::Invalid, format!("{}: {e}", file.display())))?
    };
    let mut values = Vec::new();
    for value in serde_json::Deserializer::from_str(&text).into_iter::<Value>() {
        match value {
            Ok(v) => values.push(Ok(v)),
            Err(e) => {
                values.push(Err(format!("not JSON: {e}")));
                break;
            }
        }
    }
    Ok(values)
}

fn print_table(verdicts: &[Verdict], sender_checked: bool) {
    let mut table = Table::new(&["source", "#", "verdict", "request", "field", "rule"]);
    for v in verdicts {
        table.row(vec![
            v.source.clone(),
            v.index.to_string(),
            if v.valid { "valid" } else { "invalid" }.to_owned(),
            v.request_id
                .map_or_else(|| "(from the message id)".to_owned(), |id| id.to_string()),
            output::or_dash(v.field.clone()),
            output::or_dash(v.rule.as_deref().map(|r| output::truncate(r, 100))),
        ]);
    }
    crate::say!("{}", table.render());
    if !sender_checked {
        crate::say!(
            "The sender was not checked: give --sender <SenderId> (e.g. AROA…:session) to check it too."
        );
    }
}
