//! `bench/results.md`: every figure next to the peer's and its target.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use crate::lambdas::{FunctionFigures, SideFigures};
use crate::throughput::Throughput;

/// Everything one run measured.
pub(crate) struct Results {
    /// When and where: a few lines of context.
    pub(crate) context: Vec<String>,
    /// The delay added to every AWS call for the batch figures.
    pub(crate) delay: Duration,
    /// trainq's figures.
    pub(crate) trainq: SideFigures,
    /// The Python peer's figures.
    pub(crate) peer: SideFigures,
    /// trainq's pipeline throughput.
    pub(crate) throughput: Throughput,
    /// The same calls issued straight to the emulators.
    pub(crate) raw: Duration,
    /// The peer's pipeline throughput.
    pub(crate) peer_throughput: Throughput,
    /// Package sizes: (what, bytes or why not).
    pub(crate) packages: Vec<(String, Result<u64, String>)>,
    /// Criterion estimates: (benchmark, mean ns).
    pub(crate) micro: Vec<(String, f64)>,
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_048_576.0)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "✅ met" } else { "❌ missed" }
}

/// `trainq ÷ peer`, written as a fraction when trainq is the smaller.
fn ratio(trainq: f64, peer: f64) -> String {
    if trainq <= 0.0 || peer <= 0.0 {
        "–".into()
    } else if trainq < peer {
        let times = peer / trainq;
        if times < 10.0 {
            format!("1/{times:.1}")
        } else {
            format!("1/{times:.0}")
        }
    } else {
        format!("{:.1}×", trainq / peer)
    }
}

fn cold_rows(out: &mut String, name: &str, t: &FunctionFigures, p: &FunctionFigures) {
    for (what, a, b) in [
        ("start → ready", t.init, p.init),
        ("first invocation", t.first, p.first),
        ("start → first answer", t.init + t.first, p.init + p.first),
    ] {
        let ok = a.as_secs_f64() * 10.0 <= b.as_secs_f64();
        let _ = writeln!(
            out,
            "| {name}: {what} | {} | {} | {} | ≤ 1/10 of the peer: {} |",
            ms(a),
            ms(b),
            ratio(a.as_secs_f64(), b.as_secs_f64()),
            verdict(ok)
        );
    }
}

fn batch_row(out: &mut String, what: &str, t: &FunctionFigures, p: &FunctionFigures) {
    let factor = |f: &FunctionFigures| f.ten.as_secs_f64() / f.one.as_secs_f64().max(1e-9);
    let ok = factor(t) <= 3.0;
    let _ = writeln!(
        out,
        "| {what} | {} | {} | {:.1}× | {} | {} | {:.1}× | ≤ 3×: {} |",
        ms(t.one),
        ms(t.ten),
        factor(t),
        ms(p.one),
        ms(p.ten),
        factor(p),
        verdict(ok)
    );
}

fn calls_table(out: &mut String, per: &str, t: &BTreeMap<String, u64>, p: &BTreeMap<String, u64>) {
    let _ = writeln!(out, "\n| {per} | trainq | Python peer |\n|---|---|---|");
    let ops: BTreeSet<&String> = t.keys().chain(p.keys()).collect();
    let per_item = |m: &BTreeMap<String, u64>, op: &String| {
        m.get(op)
            .map_or("0".to_owned(), |n| format!("{}", *n as f64 / 10.0))
    };
    for op in ops {
        let _ = writeln!(out, "| {op} | {} | {} |", per_item(t, op), per_item(p, op));
    }
    let total = |m: &BTreeMap<String, u64>| m.values().sum::<u64>() as f64 / 10.0;
    let _ = writeln!(out, "| **total** | **{}** | **{}** |", total(t), total(p));
}

impl Results {
    /// The whole report, in Markdown.
    pub(crate) fn markdown(&self) -> String {
        let (t, p) = (&self.trainq, &self.peer);
        let mut out = String::from(
            "# trainq benchmarks\n\nWritten by `make bench` (`bench/src/`); every figure is from \
             one run, the Python/boto3 peer (`bench/peer/`) measured in the same run against the \
             same emulators. See the notes at the end for what the figures do and do not say.\n\n",
        );
        for line in &self.context {
            let _ = writeln!(out, "- {line}");
        }

        out.push_str(
            "\n## 1. Cold start\n\nProcess start → first request for an invocation (the \
            Lambda init phase), then that first invocation (one request, or one `InProgress` \
            event), with no added delay; medians of 3 cold starts.\n\n\
            | | trainq | Python peer | ratio | target |\n|---|---|---|---|---|\n",
        );
        cold_rows(&mut out, "dispatcher", &t.dispatcher, &p.dispatcher);
        cold_rows(&mut out, "watcher", &t.watcher, &p.watcher);

        let _ = write!(
            out,
            "\n## 2. Batch latency\n\nA delay of {} added to every AWS call by a loopback \
             proxy; warm functions; each figure the median of 5 batches. A batch of 10 handled concurrently costs about the round \
             trips of one request; handled one by one, ten times as many.\n\n\
             | | trainq: 1 | trainq: 10 | 10 ÷ 1 | peer: 1 | peer: 10 | 10 ÷ 1 | target |\n\
             |---|---|---|---|---|---|---|---|\n",
            ms(self.delay)
        );
        batch_row(
            &mut out,
            "dispatcher (requests)",
            &t.dispatcher,
            &p.dispatcher,
        );
        batch_row(
            &mut out,
            "watcher (`InProgress` events)",
            &t.watcher,
            &p.watcher,
        );
        let _ = writeln!(
            out,
            "| watcher, 10 `Completed` events (with registration) | | {} | | | {} | | |",
            ms(t.watcher.completed_ten),
            ms(p.watcher.completed_ten)
        );

        let launch_calls = t.dispatcher.calls.values().sum::<u64>() as f64 / 10.0;
        let _ = write!(
            out,
            "\n## 3. AWS calls\n\nCounted at the proxy during a batch of 10, per item. \
             Target for a launch: 2 (one conditional write, one CreateTrainingJob) — trainq \
             makes {launch_calls}: {}; the third, the launch record, is kept on purpose \
             ([decision 63](../docs/decisions.md)). The peer makes the same calls, so the \
             latencies compare like with like.\n",
            verdict(launch_calls <= 2.0)
        );
        calls_table(
            &mut out,
            "per launched request",
            &t.dispatcher.calls,
            &p.dispatcher.calls,
        );
        calls_table(
            &mut out,
            "per `InProgress` event",
            &t.watcher.calls,
            &p.watcher.calls,
        );
        calls_table(
            &mut out,
            "per `Completed` event",
            &t.watcher.completed_calls,
            &p.watcher.completed_calls,
        );

        out.push_str(
            "\n## 4. Peak memory\n\nPeak resident set (`VmHWM`) after the batches of \
            10.\n\n| | trainq | Python peer | ratio | target |\n|---|---|---|---|---|\n",
        );
        for (name, a, b) in [
            ("dispatcher", t.dispatcher.peak_rss, p.dispatcher.peak_rss),
            ("watcher", t.watcher.peak_rss, p.watcher.peak_rss),
        ] {
            let (a, b) = (a.unwrap_or(0), b.unwrap_or(0));
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {} | ≤ 32 MB: {} |",
                mb(a),
                mb(b),
                ratio(a as f64, b as f64),
                verdict(a > 0 && a <= 32 * 1_048_576)
            );
        }

        out.push_str("\n## 5. Package size\n\n| package | size | target |\n|---|---|---|\n");
        for (what, size) in &self.packages {
            match size {
                Ok(bytes) => {
                    let _ = writeln!(
                        out,
                        "| {what} | {} | ≤ 8 MB: {} |",
                        mb(*bytes),
                        verdict(*bytes <= 8 * 1_048_576)
                    );
                }
                Err(why) => {
                    let _ = writeln!(out, "| {what} | {why} | |");
                }
            }
        }

        let th = &self.throughput;
        let rate = |n: usize, d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
        let own = 1.0 - self.raw.as_secs_f64() / th.pipeline.as_secs_f64().max(1e-9);
        let _ = write!(
            out,
            "\n## 6. Pipeline throughput\n\n{n} requests sent to the requests queue, then \
             launched by the dispatcher behind the Runtime API, fed by the event source mapping \
             (batches of 10, one instance), talking straight to the emulators, no added delay. \
             Each run has its own queue, table and SageMaker endpoint.\n\n\
             | | time | requests/s |\n|---|---|---|\n\
             | enqueue ({n}, SendMessageBatch) | {} | {:.0} |\n\
             | trainq: enqueue → all launched | {} | {:.1} |\n",
            ms(th.enqueue),
            rate(th.requests, th.enqueue),
            ms(th.pipeline),
            rate(th.requests, th.pipeline),
            n = th.requests,
        );
        let peer = &self.peer_throughput;
        let _ = writeln!(
            out,
            "| Python peer: enqueue → all launched | {} | {:.1} |",
            ms(peer.pipeline),
            rate(peer.requests, peer.pipeline)
        );
        let _ = writeln!(
            out,
            "| trainq ÷ peer (time) | {} | |",
            ratio(th.pipeline.as_secs_f64(), peer.pipeline.as_secs_f64())
        );
        let _ = write!(
            out,
            "| the emulators alone: the same calls back to back, 10 at a time | {} | {:.1} |\n\n\
             Share of the pipeline's time outside the emulators (trainq's code, the Runtime API \
             and the event source mapping): {:.0} %.\n",
            ms(self.raw),
            rate(th.requests, self.raw),
            own.max(0.0) * 100.0
        );

        out.push_str("\n## 7. Micro-benchmarks (criterion)\n\n| benchmark | mean |\n|---|---|\n");
        for (name, ns) in &self.micro {
            let shown = if *ns >= 1000.0 {
                format!("{:.2} µs", ns / 1000.0)
            } else {
                format!("{ns:.0} ns")
            };
            let _ = writeln!(out, "| {name} | {shown} |");
        }
        out.push_str(NOTES);
        out
    }
}

const NOTES: &str = "
## Notes

- The functions are the release builds (`[profile.release]`, the profile the zips use) for
  this machine's architecture: an x86_64 host cannot run the arm64 binaries the zips hold. The
  ratios, not the absolute figures, carry over to Lambda.
- The emulators (moto, the local SageMaker endpoint) answer in a millisecond or two where AWS
  takes tens; section 2 adds the delay to show what round trips cost. Cold starts here have
  no download of the package and no Firecracker boot: both sides are spared the same.
- A first invocation is mostly the emulator's time: three calls (dispatcher) or two (watcher)
  to moto, which takes 5–10 ms to answer each, whoever asks. Where a side's own work shows is
  the init phase (start → ready), and there the 1/10 target holds by a wide margin; the
  first-invocation rows miss it because both sides wait for the same emulator.
- The peer does the same AWS calls as trainq per item (section 3 shows it) with a few field
  checks instead of trainq's validation, and none of its guarantees (leases, conditional
  writes on a version, redelivery): a lower bound for what a Python implementation costs.
- Package sizes are the arm64 zips of `make build` (cargo-lambda) when `dist/` holds them;
  otherwise (a fresh clone) this machine's release binaries zipped the same way, within a few
  percent of the arm64 zips. The Python peer has no comparable package: Lambda's Python
  runtime already holds boto3, so its zip is its three source files.
";
