//! Output: tables for people, JSON for scripts (`--json`).

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

use serde::Serialize;
use unicode_width::UnicodeWidthStr;

/// `println!` for the command's output: a reader that went away (`trainq jobs list | head`)
/// ends the command quietly instead of a panic on the broken pipe.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => { $crate::output::line(format_args!($($arg)*)) };
}

/// Writes one line for people to stdout, its control characters made visible (see
/// [`visible`]) and its decoration plain ASCII unless stdout is a UTF-8 terminal (see
/// [`plain`]); exits with status 0 when stdout is closed.
pub fn line(args: std::fmt::Arguments<'_>) {
    write_out(&for_people(args, unicode_stdout()));
}

/// `args` as people read it: control characters visible, decoration ASCII unless `unicode`.
fn for_people(args: std::fmt::Arguments<'_>, unicode: bool) -> String {
    let text = visible(&args.to_string());
    if unicode { text } else { plain(&text) }
}

/// `eprintln!` for people: a line on stderr (progress, errors) made visible and plain as
/// [`line`] makes stdout's, by whether stderr is a UTF-8 terminal.
#[macro_export]
macro_rules! note {
    ($($arg:tt)*) => { $crate::output::note_line(format_args!($($arg)*)) };
}

/// Writes one line for people to stderr (see [`note!`]).
pub fn note_line(args: std::fmt::Arguments<'_>) {
    static UNICODE: OnceLock<bool> = OnceLock::new();
    let unicode = *UNICODE.get_or_init(|| takes_unicode(&std::io::stderr()));
    eprintln!("{}", for_people(args, unicode));
}

/// Whether stdout gets Unicode decoration (dashes, check marks, ellipses): see
/// [`takes_unicode`].
pub fn unicode_stdout() -> bool {
    static UNICODE: OnceLock<bool> = OnceLock::new();
    *UNICODE.get_or_init(|| takes_unicode(&std::io::stdout()))
}

/// Only a terminal in a UTF-8 locale (or none set) gets Unicode decoration; a pipe, a file
/// or a CI log gets ASCII.
fn takes_unicode(stream: &impl IsTerminal) -> bool {
    stream.is_terminal() && crate::top::terminal_look().unicode
}

/// The decoration trainq's own lines use, each with its ASCII form.
const GLYPHS: [(char, &str); 8] = [
    ('—', "-"),
    ('≥', ">="),
    ('·', "|"),
    ('›', ">"),
    ('…', "..."),
    ('✓', "ok"),
    ('✗', "FAILED"),
    ('→', "->"),
];

/// `text` with trainq's decoration in ASCII (what people wrote, a CJK name, stays as it is).
pub fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match GLYPHS.iter().find(|(g, _)| *g == c) {
            Some((_, ascii)) => out.push_str(ascii),
            None => out.push(c),
        }
    }
    out
}

/// The mark of a cut: `…` where stdout takes Unicode, else `...`.
fn ellipsis() -> &'static str {
    if unicode_stdout() { "…" } else { "..." }
}

fn write_out(text: &str) {
    if let Err(e) = writeln!(std::io::stdout().lock(), "{text}")
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

/// `text` safe for a terminal: record fields can hold what a sender wrote (a rejected body,
/// its free text), so every control character but the line break — ESC and CSI above all,
/// which would let a message recolour, move or hide what the on-call person reads — and the
/// bidirectional overrides, which reorder text, are shown as `\u{…}` escapes.
pub fn visible(text: &str) -> String {
    let hidden = |c: char| {
        (c.is_control() && c != '\n')
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(hidden) {
        return text.to_owned();
    }
    text.chars()
        .map(|c| {
            if hidden(c) {
                format!("\\u{{{:x}}}", u32::from(c))
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A plain text table: a header row and rows, columns padded to their widest cell (by
/// display width, so wide characters line up).
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column names.
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text.
    pub fn render(&self) -> String {
        let columns = self.header.len();
        let width = |i: usize| {
            std::iter::once(&self.header)
                .chain(&self.rows)
                .map(|r| r.get(i).map_or(0, |c| c.width()))
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..columns).map(width).collect();
        let line = |cells: &Vec<String>| {
            let padded: Vec<String> = (0..columns)
                .map(|i| {
                    // Padded by display width: a CJK name takes two columns a character.
                    let cell = cells.get(i).map_or("", String::as_str);
                    let pad = widths[i].saturating_sub(cell.width());
                    format!("{cell}{}", " ".repeat(pad))
                })
                .collect();
            padded.join("  ").trim_end().to_owned()
        };
        std::iter::once(line(&self.header))
            .chain(self.rows.iter().map(line))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Prints `value` as pretty JSON.
pub fn json<T: Serialize>(value: &T) {
    let text =
        serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    // JSON escapes what a terminal would obey below U+0020; what it leaves (DEL, C1, bidi
    // overrides) is data a script may need byte for byte.
    write_out(&text);
}

/// `text` cut to `width` display columns, with `…` (`...` in ASCII) where it was cut.
pub fn truncate(text: &str, width: usize) -> String {
    cut(text, width, ellipsis())
}

fn cut(text: &str, width: usize, mark: &str) -> String {
    if text.width() <= width {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w + mark.width() > width {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push_str(mark);
    out
}

/// `-` for a missing value.
pub fn or_dash<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoration_is_ascii_where_unicode_is_not_wanted() {
        assert_eq!(
            plain("state       Registered — gate ≥ 0.9 · a › b ✓ ✗ …"),
            "state       Registered - gate >= 0.9 | a > b ok FAILED ..."
        );
        assert_eq!(plain("株式会社 acme"), "株式会社 acme", "data stays");
    }

    #[test]
    fn control_characters_and_bidi_overrides_are_shown_not_obeyed() {
        assert_eq!(visible("plain\nlines ok"), "plain\nlines ok");
        assert_eq!(
            visible("a\u{1b}[31mred\u{9b}2J"),
            "a\\u{1b}[31mred\\u{9b}2J"
        );
        assert_eq!(visible("abc\u{202e}fed\r"), "abc\\u{202e}fed\\u{d}");
        assert_eq!(visible("tab\there"), "tab\\u{9}here");
    }

    #[test]
    fn columns_are_padded_to_their_widest_cell() {
        let mut t = Table::new(&["id", "state"]);
        t.row(vec!["a".into(), "Registered".into()]);
        t.row(vec!["bbbb".into(), "Failed".into()]);
        assert_eq!(t.render(), "id    state\na     Registered\nbbbb  Failed");
    }

    #[test]
    fn long_text_is_cut_to_its_columns_with_an_ellipsis() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(cut("retries exhausted after 4", 10, "…"), "retries e…");
        assert_eq!(cut("株式会社検査", 7, "…"), "株式会…");
        assert_eq!(cut("retries exhausted after 4", 10, "..."), "retries...");
    }

    #[test]
    fn wide_characters_take_two_columns() {
        let mut t = Table::new(&["customer", "state"]);
        t.row(vec!["株式会社".into(), "Queued".into()]);
        t.row(vec!["acme".into(), "Failed".into()]);
        assert_eq!(
            t.render(),
            "customer  state\n株式会社  Queued\nacme      Failed"
        );
    }
}
