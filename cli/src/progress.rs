//! Progress of a long command on stderr (stdout stays for the result, so `--json` is clean):
//! a bar on a terminal (indicatif), plain lines at each tenth in a pipe or a log, where a
//! redrawn bar would be noise. No colour with `NO_COLOR`, no Unicode outside a UTF-8 locale.

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// One long step's progress: `what` done out of a known total.
pub struct Progress {
    what: String,
    total: u64,
    done: u64,
    /// The last tenth a plain line was printed for.
    tenth: u64,
    started: Instant,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Progress of `total` items of `what` (e.g. "sending trials"); nothing is shown for a
    /// total of 0.
    pub fn new(what: &str, total: u64) -> Self {
        Self::drawn(what, total, std::io::stderr().is_terminal())
    }

    /// As [`Self::new`], a bar only if `terminal`.
    fn drawn(what: &str, total: u64, terminal: bool) -> Self {
        let bar = (total > 0 && terminal).then(|| bar(what, total));
        Self {
            what: what.to_owned(),
            total,
            done: 0,
            tenth: 0,
            started: Instant::now(),
            bar,
        }
    }

    /// `n` more items done.
    pub fn advance(&mut self, n: u64) {
        self.done = (self.done + n).min(self.total);
        if let Some(bar) = &self.bar {
            bar.set_position(self.done);
            return;
        }
        let tenth = self.done * 10 / self.total.max(1);
        if tenth > self.tenth || self.done == self.total {
            self.tenth = tenth;
            crate::note!("{}", self.line());
        }
    }

    /// Ends the bar, leaving its last line on a terminal.
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish();
        }
    }

    fn line(&self) -> String {
        format!(
            "[{:>5.0}s] {} {}/{}",
            self.started.elapsed().as_secs_f64(),
            self.what,
            self.done,
            self.total
        )
    }
}

fn bar(what: &str, total: u64) -> ProgressBar {
    let look = crate::top::terminal_look();
    let (chars, bar) = if look.unicode {
        (
            "█▉▊▋▌▍▎▏ ",
            if look.colour {
                "{bar:30.cyan}"
            } else {
                "{bar:30}"
            },
        )
    } else {
        ("=> ", "[{bar:30}]")
    };
    let style = ProgressStyle::with_template(&format!("{{msg}} {bar} {{pos}}/{{len}} {{elapsed}}"))
        .map_or_else(
            |_| ProgressStyle::default_bar(),
            |s| s.progress_chars(chars),
        );
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(style);
    bar.set_message(what.to_owned());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_come_at_each_tenth_and_at_the_end() {
        let mut p = Progress::drawn("sending", 25, false);
        p.advance(2);
        assert_eq!(p.tenth, 0, "2 of 25 is not yet a tenth");
        p.advance(1);
        assert_eq!(p.tenth, 1);
        p.advance(30);
        assert_eq!((p.done, p.tenth), (25, 10), "never past the total");
        assert!(p.line().ends_with("sending 25/25"), "{}", p.line());
    }
}
