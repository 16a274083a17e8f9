//! `trainq top` against a running local stack, as on-call uses it: the one-shot snapshot a
//! pipe gets, its JSON, and the live view driven in a real terminal (tmux) for a few
//! refreshes — keys pressed, the screen read back as a person would see it.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use trainq_integration_tests::cli_stack::{Stack, stderr, stdout};
use trainq_integration_tests::local_stack::workspace_binary;
use trainq_integration_tests::poll;

const TRAINER: &str = env!("CARGO_BIN_EXE_test-defect-trainer");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipe_gets_one_snapshot_as_text_and_json() {
    let (s, running, queued) = Stack::running_and_queued(TRAINER).await;
    // The running job's status and the queued request both show, from SageMaker's word.
    let text = poll::until(
        "top shows the job training",
        Duration::from_secs(60),
        || async {
            let out = s.trainq(&["top"]);
            let text = stdout(&out);
            let row = text.lines().find(|l| l.contains(&running[..8]))?;
            (out.status.success() && row.contains(" Training ")).then_some(text)
        },
    )
    .await;
    let pool = text
        .lines()
        .find(|l| l.contains("ml.g5.xlarge/spot"))
        .unwrap_or_else(|| panic!("no pool line:\n{text}"));
    assert!(pool.contains("1/1"), "one of one held: {pool}");
    assert!(pool.contains("waiting: production 1"), "{pool}");
    assert!(pool.contains("####################"), "a full bar: {pool}");
    assert!(text.contains(&running[..8]), "{text}");
    assert!(text.contains("acme/scratch-detect"), "{text}");
    assert!(
        text.contains("one snapshot: stdout is not a terminal"),
        "{text}"
    );
    assert!(
        !text.contains('\u{1b}'),
        "no escape sequences in a pipe:\n{text}"
    );

    let out = s.trainq(&["top", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let snap: Value = serde_json::from_slice(&out.stdout).unwrap();
    let state = |name: &str| {
        snap["states"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["state"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(state("InProgress")["count"], 1, "{snap}");
    assert_eq!(state("Queued")["count"], 1, "{snap}");
    assert_eq!(snap["running"][0]["request_id"], running.as_str());
    assert_eq!(snap["running"][0]["max_runtime_s"], 3600);
    // Narrowed to another customer, nothing of acme's shows.
    let out = s.trainq(&["top", "--json", "--customer", "globex"]);
    let other: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(other["running"], serde_json::json!([]), "{other}");
    // A queued request counts as stuck once it waits longer than --queued-after.
    let out = s.trainq(&["top", "--json", "--queued-after", "1s"]);
    let stuck: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        stuck["stuck"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["request_id"] == queued.as_str() && r["state"] == "Queued"),
        "{stuck}"
    );
    s.devstack.stop().await;
}

/// A tmux session running one command in an 120×40 terminal.
struct Tmux {
    name: String,
}

impl Tmux {
    fn start(command: &str) -> Self {
        let name = format!("trainq-top-{}", uuid::Uuid::new_v4().simple());
        let ok = Command::new("tmux")
            .args([
                "-u",
                "new-session",
                "-d",
                "-s",
                &name,
                "-x",
                "120",
                "-y",
                "40",
                command,
            ])
            .status()
            .expect("tmux is installed (.ci/run installs it)");
        assert!(ok.success());
        Self { name }
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.name];
        args.extend_from_slice(keys);
        assert!(Command::new("tmux").args(&args).status().unwrap().success());
    }

    /// The screen as text; `None` once the session has ended.
    fn screen(&self) -> Option<String> {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    async fn until(&self, what: &str, seen: impl Fn(&str) -> bool) -> String {
        poll::until(what, Duration::from_secs(60), || async {
            self.screen().filter(|s| seen(s))
        })
        .await
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // Ended already once `q` was pressed: tmux's complaint about that is not news.
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_view_refreshes_filters_and_opens_a_request_in_a_terminal() {
    let (s, running, queued) = Stack::running_and_queued(TRAINER).await;
    let command = format!(
        "env -u TRAINQ_CONFIG -u NO_COLOR TERM=xterm-256color LC_ALL=C.UTF-8 {} --config {} top --interval 1s",
        workspace_binary("trainq").display(),
        s.file.display()
    );
    let tmux = Tmux::start(&command);
    let screen = tmux
        .until("the live view with the job training", |s| {
            s.lines()
                .any(|l| l.contains(&running[..8]) && l.contains(" Training "))
        })
        .await;
    assert!(screen.contains(&running[..8]), "{screen}");
    assert!(screen.contains("q quit"), "{screen}");
    assert!(screen.contains('█'), "bars in block characters:\n{screen}");

    // Refreshes follow the stack: cancelling the queued request takes it out of the count.
    let count = |screen: &str, state: &str| -> Option<String> {
        let line = screen.lines().find(|l| l.contains(&format!("│{state} ")))?;
        line.split_whitespace().nth(1).map(str::to_owned)
    };
    assert_eq!(count(&screen, "Queued").as_deref(), Some("1"), "{screen}");
    let out = s.trainq(&["jobs", "cancel", &queued]);
    assert!(out.status.success(), "{}", stderr(&out));
    tmux.until("the next refresh without the queued request", |s| {
        count(s, "Queued").as_deref() == Some("0")
    })
    .await;

    // `r` narrows to production, again to research (acme's job is production's: gone).
    tmux.keys(&["r"]);
    tmux.until("registry production", |s| s.contains("registry production"))
        .await;
    tmux.keys(&["r"]);
    let research = tmux
        .until("registry research, refreshed", |s| {
            s.contains("registry research") && s.contains("running: none")
        })
        .await;
    assert!(!research.contains(&running[..8]), "{research}");
    tmux.keys(&["r"]);
    tmux.until("all registries again", |s| {
        s.contains("registry all") && s.contains(&running[..8])
    })
    .await;

    // Enter opens the selected request with what `jobs show` says; Esc closes it.
    tmux.keys(&["Enter"]);
    let opened = tmux
        .until("the request opened", |s| s.contains("esc close"))
        .await;
    assert!(
        opened.contains(&format!("request     {running}")),
        "{opened}"
    );
    assert!(opened.contains("attempt 1"), "{opened}");
    tmux.keys(&["Escape"]);
    tmux.until("the request closed", |s| s.contains("enter open"))
        .await;
    tmux.keys(&["q"]);
    poll::until("top quits on q", Duration::from_secs(10), || async {
        tmux.screen()
            .is_none_or(|s| !s.contains("trainq top"))
            .then_some(())
    })
    .await;
    s.devstack.stop().await;
}
