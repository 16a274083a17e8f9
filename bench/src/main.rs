//! `make bench`: the shipped dispatcher and watcher against a Python/boto3 peer doing the same
//! AWS calls, in one run, on the local emulators: cold start, batch latency with a delay on
//! every call, AWS calls per item, peak memory, package sizes, pipeline throughput, and the
//! domain's criterion micro-benchmarks. Writes `bench/results.md`.
//!
//! Settings (environment): `TRAINQ_BENCH_BIN_DIR` (the release binaries, default
//! `target/release`), `TRAINQ_BENCH_REQUESTS` (throughput run, default 1000),
//! `TRAINQ_BENCH_DELAY_MS` (added per AWS call, default 25), `TRAINQ_BENCH_OUT` (default
//! `bench/results.md`).

mod burst;
mod function;
mod lambdas;
mod micro;
mod proxy;
mod report;
mod throughput;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use trainq_integration_tests::world::World;

use crate::lambdas::{Side, Wire, function_env};
use crate::proxy::Proxy;
use crate::report::Results;

/// The commit of the previous release, the burst's baseline (before the capacity ledger).
const BURST_BASELINE: &str = "baac479";

fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn path_string(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let result = if std::env::args().nth(1).as_deref() == Some("burst") {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        burst::run(&workspace).await
    } else {
        run().await
    };
    match result {
        Ok(out) => {
            println!("bench: wrote {}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<PathBuf, String> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bin_dir = workspace.join(setting("TRAINQ_BENCH_BIN_DIR", "target/release".to_owned()));
    let requests: usize = setting("TRAINQ_BENCH_REQUESTS", 1000);
    let delay = Duration::from_millis(setting("TRAINQ_BENCH_DELAY_MS", 25));
    let out = workspace.join(setting("TRAINQ_BENCH_OUT", "bench/results.md".to_owned()));
    let python = path_string(&workspace.join(".venv/bin/python"));
    let peer = workspace.join("bench/peer");
    let trainq = Side {
        label: "trainq",
        dispatcher: vec![path_string(&bin_dir.join("trainq-dispatcher"))],
        watcher: vec![path_string(&bin_dir.join("trainq-watcher"))],
    };
    let python_peer = Side {
        label: "Python peer",
        dispatcher: vec![python.clone(), path_string(&peer.join("dispatcher.py"))],
        watcher: vec![python.clone(), path_string(&peer.join("watcher.py"))],
    };

    let w = World::new().await;
    let wire = Wire {
        // Both proxies lead to the world's front door, which checks every call against
        // AWS's contract before moto or the local SageMaker sees it.
        moto: Proxy::spawn(&w.endpoint.url())
            .await
            .map_err(|e| e.to_string())?,
        sagemaker: Proxy::spawn(&w.endpoint.url())
            .await
            .map_err(|e| e.to_string())?,
    };
    let mut sides = Vec::new();
    for side in [&trainq, &python_peer] {
        eprintln!(
            "bench: {} functions (cold start, batches, calls, memory)",
            side.label
        );
        sides.push(lambdas::measure(&w, &wire, side, delay).await?);
    }
    w.retire_job_events().await;
    let peer_figures = sides.pop().unwrap_or_default();
    let trainq_figures = sides.pop().unwrap_or_default();

    // Each throughput run gets a world of its own (queue, table, SageMaker endpoint), so none
    // meets an emulator already filled by another; all go through the world's front door.
    eprintln!("bench: throughput, {requests} requests: trainq, the peer, the emulators alone");
    let mut runs = Vec::new();
    for side in [&trainq, &python_peer] {
        let w = World::new().await;
        let env = function_env(&w, &w.endpoint.url(), &w.endpoint.url());
        runs.push(throughput::pipeline(&w, &side.dispatcher, &env, requests).await?);
        w.retire_job_events().await;
    }
    let peer_throughput = runs.pop().unwrap_or_default();
    let throughput = runs.pop().unwrap_or_default();
    let w = World::new().await;
    let raw = throughput::raw_calls(&w, requests).await?;
    w.retire_job_events().await;

    let results = Results {
        context: context(&python, delay).await,
        delay,
        trainq: trainq_figures,
        peer: peer_figures,
        throughput,
        raw,
        peer_throughput,
        packages: packages(&workspace, &bin_dir, &python),
        micro: micro::estimates(&workspace.join("target/criterion")),
    };
    // The burst's section (`make burst`) is kept: this run does not measure it.
    let previous = std::fs::read_to_string(&out).unwrap_or_default();
    let mut text = results.markdown();
    if let Some(burst) = burst::kept_section(&previous) {
        text = format!(
            "{}

{burst}
",
            text.trim_end()
        );
    }
    std::fs::write(&out, text).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(out)
}

/// Each function's package: the arm64 zip `make build` left in `dist/`, or, when there is
/// none (a fresh clone: the cross build needs cargo-lambda and zig), this machine's release
/// binary zipped the same way (`bootstrap` at the root, deflated), labelled as such.
fn packages(workspace: &Path, bin_dir: &Path, python: &str) -> Vec<(String, Result<u64, String>)> {
    ["trainq-dispatcher", "trainq-watcher"]
        .iter()
        .map(|f| {
            let zip = workspace.join("dist").join(format!("{f}.zip"));
            if let Ok(meta) = std::fs::metadata(&zip) {
                return (format!("{f}.zip (arm64, `make build`)"), Ok(meta.len()));
            }
            let arch = std::env::consts::ARCH;
            let local = workspace.join("target").join(format!("{f}-{arch}.zip"));
            let script = "import sys, zipfile\n\
                with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED, compresslevel=9) as z:\n\
                \x20   z.write(sys.argv[2], 'bootstrap')";
            let zipped = std::process::Command::new(python)
                .args(["-c", script])
                .arg(&local)
                .arg(bin_dir.join(f))
                .status()
                .map_err(|e| e.to_string())
                .and_then(|s| {
                    s.success()
                        .then_some(())
                        .ok_or_else(|| "zipping failed".to_owned())
                })
                .and_then(|()| std::fs::metadata(&local).map_err(|e| e.to_string()));
            (
                format!("{f} ({arch} release binary, zipped: `make build` makes the arm64 zip)"),
                zipped.map(|m| m.len()),
            )
        })
        .collect()
}

/// The run's context: date, machine, versions.
async fn context(python: &str, delay: Duration) -> Vec<String> {
    let capture = |cmd: &str, args: &[&str]| {
        std::process::Command::new(cmd)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let versions = capture(
        python,
        &[
            "-c",
            "import sys, boto3, moto; print(f'Python {sys.version.split()[0]}, boto3 {boto3.__version__}, moto {moto.__version__}')",
        ],
    );
    vec![
        format!("Run: {}", capture("date", &["-u", "+%Y-%m-%d %H:%M UTC"])),
        format!(
            "Machine: {} cores ({cpu}), {}",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            capture("uname", &["-sm"])
        ),
        format!("{}; {versions}", capture("rustc", &["--version"])),
        format!(
            "Added delay per AWS call for sections 2–3: {} ms",
            delay.as_millis()
        ),
    ]
}
