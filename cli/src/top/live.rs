//! The live terminal: refresh every interval, draw, and answer keys in between. A failed
//! refresh keeps the last snapshot on screen and says why in the footer (a 3 a.m. network
//! blip must not blank the view).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};

use super::view::{self, Detail, Look, ViewState};
use super::{Snapshot, TopOptions, gather};
use crate::commands::jobs;
use crate::context::Context;
use crate::error::{CliError, Status};
use crate::output::visible;

/// Runs the live view until `q`, `Ctrl-C` or a terminal error; the terminal is restored
/// whatever happens (ratatui's hook restores it on a panic too).
pub(super) async fn run(ctx: &Context, options: TopOptions) -> Result<(), CliError> {
    let look = super::terminal_look();
    let mut terminal = ratatui::try_init().map_err(terminal_error)?;
    let result = event_loop(&mut terminal, ctx, options, look).await;
    ratatui::restore();
    result
}

fn terminal_error(e: std::io::Error) -> CliError {
    CliError::new(Status::Failed, format!("the terminal: {e}"))
        .hint("`trainq top --once` prints one snapshot as text")
}

/// What the keys change between refreshes.
struct Session {
    options: TopOptions,
    state: ViewState,
    snap: Snapshot,
    /// Every customer seen so far: what `c` cycles through.
    customers: BTreeSet<String>,
    next_refresh: Instant,
}

async fn event_loop(
    terminal: &mut DefaultTerminal,
    ctx: &Context,
    options: TopOptions,
    look: Look,
) -> Result<(), CliError> {
    let mut s = Session {
        state: ViewState {
            interval_s: options.interval.as_secs(),
            message: Some("reading…".into()),
            ..ViewState::default()
        },
        options,
        snap: Snapshot::default(),
        customers: BTreeSet::new(),
        next_refresh: Instant::now(),
    };
    loop {
        if Instant::now() >= s.next_refresh {
            s.refresh(ctx).await;
        }
        terminal
            .draw(|frame| view::draw(frame, &s.snap, &s.state, look))
            .map_err(terminal_error)?;
        let wait = s
            .next_refresh
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(250));
        if !event::poll(wait).map_err(terminal_error)? {
            continue;
        }
        let Event::Key(key) = event::read().map_err(terminal_error)? else {
            continue; // a resize: the next draw fits the new size
        };
        if key.kind != KeyEventKind::Press {
            continue;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('q') => return Ok(()),
            KeyCode::Char('c') if ctrl => return Ok(()),
            KeyCode::Esc => s.state.detail = None,
            KeyCode::Char('r') => s.cycle_registry(),
            KeyCode::Char('c') => s.cycle_customer(),
            KeyCode::Up | KeyCode::Char('k') => {
                s.state.selected = s.state.selected.saturating_sub(1);
            }
            KeyCode::Down | KeyCode::Char('j') => {
                let last = s.snap.running.len().saturating_sub(1);
                s.state.selected = (s.state.selected + 1).min(last);
            }
            KeyCode::Enter => s.open(ctx).await,
            _ => {}
        }
    }
}

impl Session {
    async fn refresh(&mut self, ctx: &Context) {
        match gather(ctx, &self.options.filter, self.options.stuck_after).await {
            Ok(snap) => {
                self.customers.extend(snap.customers.iter().cloned());
                self.snap = snap;
                self.state.message = None;
            }
            Err(e) => {
                self.state.message = Some(format!(
                    "refresh failed ({e}); showing the snapshot of {}",
                    self.snap.taken_at
                ));
            }
        }
        let last = self.snap.running.len().saturating_sub(1);
        self.state.selected = self.state.selected.min(last);
        self.next_refresh = Instant::now() + self.options.interval;
    }

    /// All registries → production → research → all.
    fn cycle_registry(&mut self) {
        let filter = &mut self.options.filter;
        filter.registry = match filter.registry.as_deref() {
            None => Some("production".into()),
            Some("production") => Some("research".into()),
            Some(_) => None,
        };
        self.next_refresh = Instant::now();
    }

    /// All customers → each customer seen so far, in order → all.
    fn cycle_customer(&mut self) {
        let filter = &mut self.options.filter;
        filter.customer = match &filter.customer {
            None => self.customers.iter().next().cloned(),
            Some(current) => self
                .customers
                .range::<String, _>((
                    std::ops::Bound::Excluded(current),
                    std::ops::Bound::Unbounded,
                ))
                .next()
                .cloned(),
        };
        self.next_refresh = Instant::now();
    }

    /// Opens the selected running request: what `trainq jobs show` prints.
    async fn open(&mut self, ctx: &Context) {
        let Some(row) = self.snap.running.get(self.state.selected) else {
            return;
        };
        let Ok(id) = jobs::request_id(&row.request_id) else {
            return;
        };
        match jobs::record(ctx, id).await {
            Ok(r) => {
                let mut lines: Vec<String> = jobs::show_lines(ctx, &r, None)
                    .iter()
                    .flat_map(|l| visible(l).lines().map(str::to_owned).collect::<Vec<_>>())
                    .collect();
                lines.push(String::new());
                lines.push(format!("trainq jobs show {id}   ·   esc closes"));
                self.state.detail = Some(Detail {
                    title: format!("{id} {}", r.state),
                    lines,
                });
            }
            Err(e) => self.state.message = Some(format!("could not open {id}: {e}")),
        }
    }
}
