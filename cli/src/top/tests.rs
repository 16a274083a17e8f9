//! Snapshot tests of the view: a fixed snapshot drawn on ratatui's `TestBackend`, compared
//! with the text kept in `snapshots/` (`cargo insta review` after an intended change).

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;

use super::snapshot::{AlertLine, Filter, PoolLine, Running, Snapshot, StateLine, Stuck};
use super::view::{self, Detail, Look, ViewState};
use super::{lines, text};

fn seeded() -> Snapshot {
    let state = |s: &str, count, oldest_s| StateLine {
        state: s.into(),
        count,
        oldest_s,
    };
    Snapshot {
        taken_at: "2026-12-02T03:00:00.000Z".into(),
        filter: Filter::default(),
        pools: vec![
            PoolLine {
                pool: "ml.g5.xlarge/spot".into(),
                in_use: 4,
                limit: 4,
                waiting: vec![("production:data_shift".into(), 2), ("research".into(), 5)],
                pressure_s: Some(754),
            },
            PoolLine {
                pool: "ml.g4dn.xlarge/on-demand".into(),
                in_use: 1,
                limit: 10,
                waiting: vec![],
                pressure_s: None,
            },
        ],
        states: vec![
            state("Received", 0, None),
            state("Queued", 7, Some(1_260)),
            state("Launching", 1, Some(12)),
            state("InProgress", 5, Some(7_384)),
            state("Cancelling", 0, None),
        ],
        running: vec![
            Running {
                request_id: "5b0c0f4e-6a77-4c2a-9d55-0a6f3c1b2e10".into(),
                owner: "acme/scratch-detect".into(),
                registry: "production".into(),
                job_name: "tq-5b0c0f4e6a774c2a9d550a6f3c1b2e10-2".into(),
                rung: "ml.g5.xlarge spot".into(),
                secondary: "Training".into(),
                elapsed_s: 3_300,
                max_runtime_s: 3_600,
                metric: Some("validation:accuracy=0.9412".into()),
            },
            Running {
                request_id: "0d1e2f30-4a5b-4c6d-8e9f-a0b1c2d3e4f5".into(),
                owner: "株式会社/検査".into(),
                registry: "research".into(),
                job_name: "tq-0d1e2f304a5b4c6d8e9fa0b1c2d3e4f5-1".into(),
                rung: "ml.g4dn.xlarge on-demand".into(),
                secondary: "Downloading".into(),
                elapsed_s: 95,
                max_runtime_s: 14_400,
                metric: None,
            },
        ],
        stuck: vec![Stuck {
            request_id: "77aa88bb-0000-4000-8000-000000000001".into(),
            state: "Launching".into(),
            why: "launch lease expired 4 min ago".into(),
        }],
        alerts: vec![
            AlertLine {
                at: "2026-12-02T02:58:10.000Z".into(),
                kind: "Training Retries Exhausted".into(),
                request_id: "99".into(),
                about: "globex/weld-seams".into(),
                reason: "retries exhausted after 4 attempts: CapacityError".into(),
            },
            AlertLine {
                at: "2026-12-02T02:47:26.000Z".into(),
                kind: "Training Capacity Pressure".into(),
                request_id: String::new(),
                about: "ml.g5.xlarge/spot".into(),
                reason: "4 of 4 instances held; requests wait".into(),
            },
        ],
        customers: vec!["acme".into(), "株式会社".into()],
    }
}

#[test]
fn the_view_of_a_busy_stack() {
    let state = ViewState {
        interval_s: 3,
        ..ViewState::default()
    };
    insta::assert_snapshot!(text(&seeded(), &state, 120).join("\n"));
}

#[test]
fn the_view_of_an_idle_stack_says_so() {
    let snap = Snapshot {
        taken_at: "2026-12-02T03:00:00.000Z".into(),
        ..Snapshot::default()
    };
    let shown = text(&snap, &ViewState::default(), 100).join("\n");
    for words in [
        "no pool holds or awaits an instance",
        "running: none",
        "nothing looks stuck",
        "no alerts",
    ] {
        assert!(shown.contains(words), "{words}:\n{shown}");
    }
}

#[test]
fn an_opened_request_is_drawn_over_the_view() {
    let state = ViewState {
        detail: Some(Detail {
            title: "5b0c0f4e InProgress".into(),
            lines: vec!["attempt 2   tq-5b0c…-2  ml.g5.xlarge spot  InProgress".into()],
        }),
        ..ViewState::default()
    };
    let shown = text(&seeded(), &state, 110).join("\n");
    assert!(shown.contains("5b0c0f4e InProgress"), "{shown}");
    assert!(shown.contains("esc close"), "{shown}");
}

#[test]
fn a_small_terminal_keeps_the_pools_and_the_keys() {
    let mut terminal = Terminal::new(TestBackend::new(80, 16)).unwrap();
    let look = Look {
        colour: true,
        unicode: true,
    };
    terminal
        .draw(|f| view::draw(f, &seeded(), &ViewState::default(), look))
        .unwrap();
    let buffer = terminal.backend().buffer();
    let shown = lines(buffer);
    assert!(shown[0].starts_with("trainq top"), "{shown:#?}");
    assert!(shown.iter().any(|l| l.contains("████")), "{shown:#?}");
    assert!(shown[15].contains("q quit"), "{shown:#?}");
    // A full pool is red on a terminal that takes colour.
    let full = shown
        .iter()
        .position(|l| l.contains("ml.g5.xlarge/spot"))
        .unwrap();
    let bar_x = shown[full].find('█').unwrap();
    let x = u16::try_from(shown[full][..bar_x].chars().count()).unwrap();
    let y = u16::try_from(full).unwrap();
    assert_eq!(buffer[(x, y)].fg, Color::Red);
}

#[test]
fn plain_text_has_no_colour_and_no_block_characters() {
    let shown = text(&seeded(), &ViewState::default(), 110).join("\n");
    assert!(shown.contains("####################"), "{shown}");
    assert!(!shown.contains('█'), "{shown}");
}
