//! `trainq top`: the on-call view. On a terminal, a live view that refreshes every few
//! seconds (keys filter by registry and customer, and open a request); in a pipe or a file,
//! one snapshot as plain text; with `--json`, one snapshot as JSON.
//!
//! [`snapshot`] reads the figures, [`view`] draws them (pure, tested on ratatui's
//! `TestBackend`), [`live`] runs the terminal.

mod live;
pub mod snapshot;
pub mod view;

use std::io::IsTerminal;
use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use unicode_width::UnicodeWidthStr;

use crate::context::Context;
use crate::error::CliError;
use crate::output;
pub use snapshot::{Filter, Snapshot, StuckAfter, gather};
pub use view::{Look, ViewState};

/// How `trainq top` was asked to run.
#[derive(Debug, Clone)]
pub struct TopOptions {
    /// What to show first.
    pub filter: Filter,
    /// Between refreshes.
    pub interval: Duration,
    /// One snapshot as text even on a terminal.
    pub once: bool,
    /// When a request counts as stuck.
    pub stuck_after: StuckAfter,
}

/// Runs `trainq top`.
pub async fn run(ctx: &Context, options: TopOptions, json: bool) -> Result<(), CliError> {
    if json {
        let snap = gather(ctx, &options.filter, options.stuck_after).await?;
        output::json(&snap);
        return Ok(());
    }
    if options.once || !std::io::stdout().is_terminal() {
        let snap = gather(ctx, &options.filter, options.stuck_after).await?;
        let width = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(120u16)
            .clamp(80, 400);
        let state = ViewState {
            message: Some(
                "one snapshot: stdout is not a terminal (run it in one for the live view)".into(),
            ),
            ..ViewState::default()
        };
        for line in text(&snap, &state, width) {
            crate::say!("{line}");
        }
        return Ok(());
    }
    live::run(ctx, options).await
}

/// The view of `snap` as plain text lines, `width` columns wide, as tall as it needs.
pub fn text(snap: &Snapshot, state: &ViewState, width: u16) -> Vec<String> {
    let height = view::natural_height(snap);
    let mut terminal =
        Terminal::new(TestBackend::new(width, height)).unwrap_or_else(|never| match never {});
    if terminal
        .draw(|frame| view::draw(frame, snap, state, Look::PLAIN))
        .is_err()
    {
        return Vec::new();
    }
    lines(terminal.backend().buffer())
}

/// A buffer's rows as text, wide characters once (the cells they cover are skipped).
pub fn lines(buffer: &Buffer) -> Vec<String> {
    let width = usize::from(buffer.area.width).max(1);
    buffer
        .content
        .chunks(width)
        .map(|row| {
            let mut line = String::new();
            let mut covered = 0usize;
            for cell in row {
                if covered > 0 {
                    covered -= 1;
                    continue;
                }
                let symbol = cell.symbol();
                line.push_str(symbol);
                covered = symbol.width().saturating_sub(1);
            }
            line.trim_end().to_owned()
        })
        .collect()
}

/// The look a terminal gets: colour unless `NO_COLOR` is set (<https://no-color.org>),
/// Unicode unless the locale says otherwise.
pub fn terminal_look() -> Look {
    let no_colour = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let locale = ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_default();
    let unicode = locale.is_empty()
        || locale.to_uppercase().contains("UTF-8")
        || locale.to_uppercase().contains("UTF8");
    Look {
        colour: !no_colour,
        unicode,
    }
}

#[cfg(test)]
mod tests;
