//! Drawing a [`Snapshot`] with ratatui: pure (a snapshot and the view's state in, a frame
//! out), so the same drawing serves the live terminal, the one-shot text of a pipe and the
//! snapshot tests on ratatui's `TestBackend`.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::border;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Clear, Paragraph, Row, Table, TableState};

use super::snapshot::{Snapshot, compact_s};

/// How the view may draw: colour and Unicode only on a terminal that wants them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Look {
    /// Colours and emphasis (not with `NO_COLOR`, nor in a pipe).
    pub colour: bool,
    /// Block characters for bars (`█░`); `#.` otherwise.
    pub unicode: bool,
}

impl Look {
    /// Plain text: no colour, ASCII bars.
    pub const PLAIN: Look = Look {
        colour: false,
        unicode: false,
    };
}

/// What the person is doing with the view.
#[derive(Debug, Clone, Default)]
pub struct ViewState {
    /// The selected running row.
    pub selected: usize,
    /// An opened request, drawn over the view (`Enter`; `Esc` closes it).
    pub detail: Option<Detail>,
    /// A line for the footer (the last refresh's error, a hint).
    pub message: Option<String>,
    /// Seconds between refreshes, for the header.
    pub interval_s: u64,
}

/// An opened request: a title and its lines.
#[derive(Debug, Clone, Default)]
pub struct Detail {
    /// The request id and state.
    pub title: String,
    /// What `trainq jobs show` says, shortened.
    pub lines: Vec<String>,
}

/// The height the view needs to show everything in `snap` (the one-shot text uses it).
pub fn natural_height(snap: &Snapshot) -> u16 {
    let (pools, middle, bottom) = heights(snap);
    2 + pools + middle + bottom
}

fn heights(snap: &Snapshot) -> (u16, u16, u16) {
    let n = |len: usize| u16::try_from(len).unwrap_or(u16::MAX);
    let pools = n(snap.pools.len().max(1)) + 2;
    let states = n(snap.states.len()) + 3;
    let running = n(snap.running.len().max(1)) + 3;
    let bottom = n(snap.stuck.len().max(snap.alerts.len()).max(1)) + 2;
    (pools, states.max(running), bottom)
}

/// Draws the view.
pub fn draw(frame: &mut Frame, snap: &Snapshot, state: &ViewState, look: Look) {
    let (pools_h, middle_h, bottom_h) = heights(snap);
    let [header, pools, middle, bottom, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(pools_h),
        Constraint::Min(middle_h.min(6)),
        Constraint::Length(bottom_h),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(Paragraph::new(header_line(snap, state, look)), header);
    frame.render_widget(pools_block(snap, look), pools);
    let [states, running] =
        Layout::horizontal([Constraint::Length(26), Constraint::Min(40)]).areas(middle);
    frame.render_widget(states_table(snap, look), states);
    let mut table_state =
        TableState::default().with_selected((!snap.running.is_empty()).then_some(state.selected));
    frame.render_stateful_widget(running_table(snap, look), running, &mut table_state);
    let [stuck, alerts] =
        Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(bottom);
    frame.render_widget(stuck_list(snap, look), stuck);
    frame.render_widget(alert_list(snap, look), alerts);
    frame.render_widget(Paragraph::new(footer_line(state, look)), footer);
    if let Some(detail) = &state.detail {
        draw_detail(frame, detail, look);
    }
}

/// ASCII borders where Unicode is not wanted.
const ASCII_BORDER: border::Set<'static> = border::Set {
    top_left: "+",
    top_right: "+",
    bottom_left: "+",
    bottom_right: "+",
    vertical_left: "|",
    vertical_right: "|",
    horizontal_top: "-",
    horizontal_bottom: "-",
};

/// A bordered block titled `title`, drawn in the look's characters.
fn block(title: String, look: Look) -> Block<'static> {
    let block = Block::bordered().title(title);
    if look.unicode {
        block
    } else {
        block.border_set(ASCII_BORDER)
    }
}

fn style(look: Look, colour: Color) -> Style {
    if look.colour {
        Style::default().fg(colour)
    } else {
        Style::default()
    }
}

fn bold(look: Look) -> Style {
    if look.colour {
        Style::default().add_modifier(Modifier::BOLD)
    } else {
        Style::default()
    }
}

/// Between items of a line: a middle dot on a Unicode terminal.
fn sep(look: Look) -> &'static str {
    if look.unicode { " · " } else { " | " }
}

fn header_line(snap: &Snapshot, state: &ViewState, look: Look) -> Line<'static> {
    let filter = format!(
        "registry {}{}customer {}",
        snap.filter.registry.as_deref().unwrap_or("all"),
        sep(look),
        snap.filter.customer.as_deref().unwrap_or("all")
    );
    let every = match state.interval_s {
        0 => String::new(),
        s => format!("{}every {s} s", sep(look)),
    };
    Line::from(vec![
        Span::styled("trainq top", bold(look)),
        Span::raw(format!("  {}{every}  ", snap.taken_at)),
        Span::styled(filter, style(look, Color::Cyan)),
    ])
}

fn footer_line(state: &ViewState, look: Look) -> Line<'static> {
    if let Some(message) = &state.message {
        return Line::from(Span::styled(message.clone(), style(look, Color::Red)));
    }
    let keys = if state.detail.is_some() {
        ["esc close", "q quit"].join(sep(look))
    } else {
        let select = if look.unicode {
            "↑↓ select"
        } else {
            "up/down select"
        };
        ["r registry", "c customer", select, "enter open", "q quit"].join(sep(look))
    };
    Line::from(Span::styled(keys, style(look, Color::DarkGray)))
}

/// `[#####.....]`: `used` of `limit`, `width` cells.
fn bar(used: u32, limit: u32, width: usize, look: Look) -> (String, Color) {
    let filled = if limit == 0 {
        width
    } else {
        ((used as usize * width).div_ceil(limit as usize)).min(width)
    };
    let (on, off) = if look.unicode {
        ('█', '░')
    } else {
        ('#', '.')
    };
    let text: String = std::iter::repeat_n(on, filled)
        .chain(std::iter::repeat_n(off, width - filled))
        .collect();
    let colour = match (used, limit) {
        (u, l) if u >= l => Color::Red,
        (u, l) if u * 10 >= l * 7 => Color::Yellow,
        _ => Color::Green,
    };
    (text, colour)
}

fn pools_block(snap: &Snapshot, look: Look) -> Paragraph<'static> {
    let width = snap.pools.iter().map(|p| p.pool.len()).max().unwrap_or(0);
    let mut lines: Vec<Line> = snap
        .pools
        .iter()
        .map(|p| {
            let (bar, colour) = bar(p.in_use, p.limit, 20, look);
            let waiting = if p.waiting.is_empty() {
                "nobody waits".to_owned()
            } else {
                let classes: Vec<String> =
                    p.waiting.iter().map(|(c, n)| format!("{c} {n}")).collect();
                format!("waiting: {}", classes.join(", "))
            };
            let pressure = p
                .pressure_s
                .map_or(String::new(), |s| format!(" pressure {}", compact_s(s)));
            Line::from(vec![
                Span::raw(format!("{:<width$}  ", p.pool)),
                Span::styled(bar, style(look, colour)),
                Span::raw(format!(" {:>3}/{:<3}", p.in_use, p.limit)),
                Span::styled(pressure, style(look, Color::Red)),
                Span::raw(format!("  {waiting}")),
            ])
        })
        .collect();
    if lines.is_empty() {
        lines.push(Line::from("no pool holds or awaits an instance"));
    }
    Paragraph::new(lines).block(block(" pools: in use / limit ".to_owned(), look))
}

fn states_table(snap: &Snapshot, look: Look) -> Table<'static> {
    let rows = snap.states.iter().map(|s| {
        let oldest = s.oldest_s.map_or("-".to_owned(), compact_s);
        let dim = if s.count == 0 {
            style(look, Color::DarkGray)
        } else {
            Style::default()
        };
        Row::new(vec![s.state.clone(), s.count.to_string(), oldest]).style(dim)
    });
    Table::new(
        rows,
        [
            Constraint::Length(11),
            Constraint::Length(5),
            Constraint::Length(6),
        ],
    )
    .header(Row::new(["state", "count", "oldest"]).style(bold(look)))
    .column_spacing(1)
    .block(block(" requests on their way ".to_owned(), look))
}

fn running_table(snap: &Snapshot, look: Look) -> Table<'static> {
    let rows = snap.running.iter().map(|r| {
        let late = r.max_runtime_s > 0 && r.elapsed_s * 10 >= i64::from(r.max_runtime_s) * 9;
        let elapsed = format!(
            "{} / {}",
            compact_s(r.elapsed_s),
            compact_s(i64::from(r.max_runtime_s))
        );
        Row::new(vec![
            Cell::from(r.request_id.chars().take(8).collect::<String>()),
            Cell::from(r.owner.clone()),
            // `ml.` is every rung's: the column keeps what differs.
            Cell::from(r.rung.trim_start_matches("ml.").to_owned()),
            Cell::from(r.secondary.clone()),
            Cell::from(elapsed).style(if late {
                style(look, Color::Red)
            } else {
                Style::default()
            }),
            // `validation:accuracy=0.94` as `accuracy=0.94`: the channel is in `jobs show`.
            Cell::from(r.metric.as_deref().map_or(String::new(), |m| {
                let (name, value) = m.split_once('=').unwrap_or((m, ""));
                format!("{}={value}", name.rsplit(':').next().unwrap_or(name))
            })),
        ])
    });
    let highlight = if look.colour {
        Style::default().add_modifier(Modifier::REVERSED)
    } else {
        Style::default()
    };
    let title = if snap.running.is_empty() {
        " running: none ".to_owned()
    } else {
        format!(" running: {} ", snap.running.len())
    };
    Table::new(
        rows,
        [
            Constraint::Length(8),
            Constraint::Length(19),
            Constraint::Length(21),
            Constraint::Length(11),
            Constraint::Length(11),
            Constraint::Min(10),
        ],
    )
    .header(
        Row::new([
            "request",
            "customer/project",
            "rung",
            "status",
            "elapsed/max",
            "last metric",
        ])
        .style(bold(look)),
    )
    .row_highlight_style(highlight)
    .highlight_symbol(">")
    .block(block(title, look))
}

fn stuck_list(snap: &Snapshot, look: Look) -> Paragraph<'static> {
    let mut lines: Vec<Line> = snap
        .stuck
        .iter()
        .map(|s| {
            Line::from(vec![
                Span::raw(format!("{} ", &s.request_id[..s.request_id.len().min(8)])),
                Span::styled(format!("{:<11} ", s.state), style(look, Color::Yellow)),
                Span::raw(s.why.clone()),
            ])
        })
        .collect();
    if lines.is_empty() {
        lines.push(Line::from("nothing looks stuck"));
    }
    Paragraph::new(lines).block(block(" stuck ".to_owned(), look))
}

fn alert_list(snap: &Snapshot, look: Look) -> Paragraph<'static> {
    let mut lines: Vec<Line> = snap
        .alerts
        .iter()
        .map(|a| {
            let colour = match a.kind.as_str() {
                "Model Registered" => Color::Green,
                "Model Held By Gate" | "Training Capacity Pressure" => Color::Yellow,
                _ => Color::Red,
            };
            // The time of day is enough at a glance; `jobs show` has the rest.
            let at = a.at.get(11..19).unwrap_or(&a.at).to_owned();
            // The request's short id, when the alert is about one (a pool's is not).
            let id: String = a.request_id.chars().take(8).chain([' ']).collect();
            let id = if a.request_id.is_empty() { "" } else { &id };
            Line::from(vec![
                Span::raw(format!("{at} ")),
                Span::styled(format!("{} ", a.kind), style(look, colour)),
                Span::raw(format!("{id}{} {}", a.about, a.reason)),
            ])
        })
        .collect();
    if lines.is_empty() {
        lines.push(Line::from("no alerts"));
    }
    Paragraph::new(lines).block(block(" latest alerts ".to_owned(), look))
}

fn draw_detail(frame: &mut Frame, detail: &Detail, look: Look) {
    let area = centred(frame.area(), 90, 80);
    let lines: Vec<Line> = detail.lines.iter().map(|l| Line::from(l.clone())).collect();
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block(format!(" {} ", detail.title), look).title_style(bold(look))),
        area,
    );
}

/// A rectangle of `pct_x` × `pct_y` percent in the middle of `area`.
fn centred(area: Rect, pct_x: u16, pct_y: u16) -> Rect {
    let [_, middle, _] = Layout::vertical([
        Constraint::Percentage((100 - pct_y) / 2),
        Constraint::Percentage(pct_y),
        Constraint::Percentage((100 - pct_y) / 2),
    ])
    .areas(area);
    let [_, centre, _] = Layout::horizontal([
        Constraint::Percentage((100 - pct_x) / 2),
        Constraint::Percentage(pct_x),
        Constraint::Percentage((100 - pct_x) / 2),
    ])
    .areas(middle);
    centre
}
