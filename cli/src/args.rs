//! The command line's grammar (clap), with the examples `--help` shows.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  trainq submit request.json --wait
  trainq validate docs/examples/shift-request.json --sender AROADEVSTACKBACKEND:worker-1
  trainq submit --customer acme --project scratch-detect --registry production \\
      --image defect-classifier:1.4.2 --dataset-version 2026-11-20 \\
      --channel train=s3://trainq-prod-data/acme/train/ --instance-type ml.g5.xlarge \\
      --hp epochs=10 --gate 'validation:accuracy>=0.95' --dedupe-key 2026-11-20
  trainq sweep submit sweep.json && trainq sweep status lr-sweep-7
  trainq jobs list --state Failed --since 24h
  trainq queue && trainq status
  trainq top --registry production
  trainq jobs show 5b0c0f4e-6a77-4c2a-9d55-0a6f3c1b2e10
  trainq lineage 2026-11-20 --customer acme --project scratch-detect
  trainq dlq redrive --dry-run
  trainq models list --registry research
  trainq costs --since 7d --by project

The stack file comes from --config, else $TRAINQ_CONFIG, else .devstack/stack.json (written by
`make devstack`). AWS credentials, region and endpoints come from the standard AWS environment.

Exit status: 0 ok; 1 the operation failed; 2 bad input (arguments, file, invalid request);
3 not found; 4 the stack cannot be reached; 5 --wait saw the request end unsuccessfully.";

/// trainq: submit, follow and operate SageMaker training requests.
#[derive(Debug, Parser)]
#[command(name = "trainq", version, after_help = EXAMPLES)]
pub struct Cli {
    /// The stack file [default: $TRAINQ_CONFIG, else .devstack/stack.json]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print JSON for scripts instead of tables
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a training request locally and put it on the requests queue
    Submit(Box<SubmitArgs>),
    /// Check request files as the dispatcher will (schema, allow-lists, data prefixes, and
    /// with --sender the sender); send nothing
    Validate(ValidateArgs),
    /// Research sweeps: many trials of one request under one experiment id
    #[command(subcommand)]
    Sweep(SweepCommand),
    /// Inspect, retry and cancel requests
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// The requests dead-letter queue
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Registered models in the Model Registry
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Billable hours and spot savings over a window
    Costs(CostsArgs),
    /// Queue depths, requests in flight, jobs in progress against quotas
    Status,
    /// The live on-call view: pools, requests by state, running jobs, what is stuck, alerts
    /// (one text snapshot when stdout is not a terminal)
    Top(TopArgs),
    /// The waiting room: requests waiting for capacity, in the order they will be admitted
    Queue,
    /// The chain from what caused a request to its model: origin, data, attempts, package, gates
    Lineage(LineageArgs),
    /// Once after upgrading from a release before the sharded indexes: give older records the
    /// index keys listings read (reads the whole table once)
    Reindex,
}

/// `trainq validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Request files (`-` for stdin); a file may hold several requests, one after another
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// The SQS SenderId that will send them (an IAM user id, or `AROA…:session` for a role):
    /// checked against the registry's allowed senders too
    #[arg(long, value_name = "ID")]
    pub sender: Option<String>,
}

/// `trainq lineage`.
#[derive(Debug, Args)]
pub struct LineageArgs {
    /// A request id, a job name, a model package ARN, or a dedupe key (with --customer and --project)
    pub what: String,
    /// The customer of a dedupe key
    #[arg(long)]
    pub customer: Option<String>,
    /// The project of a dedupe key
    #[arg(long)]
    pub project: Option<String>,
}

/// `trainq submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// A request file (JSON, schema v1); without it, the flags below make the request
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Data-shift retraining key: the same (customer, project, key) is trained once
    #[arg(long)]
    pub dedupe_key: Option<String>,
    /// Follow the request until it ends, showing progress
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this long (e.g. 90s, 30m, 2h)
    #[arg(long, default_value = "2h", value_parser = crate::duration::parse)]
    pub timeout: std::time::Duration,
    /// Validate only; send nothing
    #[arg(long)]
    pub dry_run: bool,
    /// The request, when no file is given.
    #[command(flatten)]
    pub fields: RequestFlags,
}

/// A request from flags (when no file is given).
#[derive(Debug, Args)]
pub struct RequestFlags {
    /// Customer slug
    #[arg(long)]
    pub customer: Option<String>,
    /// Project slug
    #[arg(long)]
    pub project: Option<String>,
    /// production or research
    #[arg(long)]
    pub registry: Option<String>,
    /// data_shift, scheduled, manual or experiment [default: manual, data_shift with --dedupe-key]
    #[arg(long)]
    pub reason: Option<String>,
    /// repository:tag inside the registry
    #[arg(long)]
    pub image: Option<String>,
    /// Dataset version label
    #[arg(long)]
    pub dataset_version: Option<String>,
    /// A channel, NAME=s3://bucket/prefix/ (repeat)
    #[arg(long = "channel", value_name = "NAME=URI")]
    pub channels: Vec<String>,
    /// A hyperparameter, KEY=VALUE (repeat)
    #[arg(long = "hp", value_name = "KEY=VALUE")]
    pub hyperparameters: Vec<String>,
    /// Training instance type
    #[arg(long)]
    pub instance_type: Option<String>,
    /// A fallback instance type (repeat, in order)
    #[arg(long = "fallback", value_name = "TYPE")]
    pub fallbacks: Vec<String>,
    /// Instance count
    #[arg(long)]
    pub instance_count: Option<u32>,
    /// Maximum training time, seconds
    #[arg(long, default_value_t = 3600)]
    pub max_runtime_s: u32,
    /// On-demand instead of managed spot
    #[arg(long)]
    pub on_demand: bool,
    /// Approval gate, METRIC>=MIN
    #[arg(long, value_name = "METRIC>=MIN")]
    pub gate: Option<String>,
    /// Experiment id (research sweeps)
    #[arg(long)]
    pub experiment: Option<String>,
    /// Trial label within the experiment
    #[arg(long)]
    pub trial: Option<String>,
    /// Attempts allowed, first included (1–10)
    #[arg(long)]
    pub max_attempts: Option<u32>,
}

/// `trainq sweep …`.
#[derive(Debug, Subcommand)]
pub enum SweepCommand {
    /// Send a sweep file's trials (a base request plus a grid or a list of hyperparameters)
    Submit {
        /// The sweep file
        file: PathBuf,
        /// Build and validate the trials; send nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// A sweep's trials with their state and metrics, best first
    Status {
        /// The experiment id
        experiment: String,
        /// The metric that ranks the trials [default: the gate's metric, else validation:accuracy]
        #[arg(long)]
        metric: Option<String>,
    },
}

/// `trainq jobs …`.
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// Requests, newest first, filtered
    List(ListArgs),
    /// One request's whole story
    Show {
        /// The request id
        id: String,
    },
    /// A new attempt for a Failed, Stopped or Expired request, with a fresh retry budget
    Retry {
        /// The request id
        id: String,
    },
    /// Cancel a request: nothing new launches, its running job is stopped, and it ends
    /// Cancelled once SageMaker confirms nothing runs
    Cancel {
        /// The request id
        id: String,
        /// Wait until SageMaker confirms the job stopped and the request is Cancelled
        #[arg(long)]
        wait: bool,
        /// With --wait: give up after this long (e.g. 90s, 30m)
        #[arg(long, default_value = "10m", value_parser = crate::duration::parse)]
        timeout: std::time::Duration,
    },
}

/// `trainq jobs list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only requests in this state (e.g. InProgress, Failed)
    #[arg(long)]
    pub state: Option<String>,
    /// Only this customer's
    #[arg(long)]
    pub customer: Option<String>,
    /// Only this project's (with --customer)
    #[arg(long)]
    pub project: Option<String>,
    /// Only this registry's
    #[arg(long, value_parser = ["production", "research"])]
    pub registry: Option<String>,
    /// Only this experiment's
    #[arg(long)]
    pub experiment: Option<String>,
    /// Only requests created (updated, with --state) within this window (e.g. 30m, 24h, 7d)
    #[arg(long, value_parser = crate::duration::parse)]
    pub since: Option<std::time::Duration>,
    /// At most this many rows
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Read the index on until --limit rows match, however many entries that takes (a
    /// listing otherwise stops after 20 index entries per row and says so)
    #[arg(long)]
    pub all: bool,
}

/// `trainq dlq …`.
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// The dead-lettered requests and why each failed
    List,
    /// Put dead-lettered requests back on the requests queue
    Redrive {
        /// Show what would be sent; change nothing
        #[arg(long)]
        dry_run: bool,
    },
}

/// `trainq models …`.
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Model packages: group, version, approval, metrics
    List {
        /// Only this registry's groups
        #[arg(long)]
        registry: Option<String>,
        /// Only groups whose name contains this (e.g. a customer)
        #[arg(long)]
        contains: Option<String>,
    },
    /// Approve a model package
    Approve {
        /// The model package ARN
        arn: String,
    },
    /// Reject a model package
    Reject {
        /// The model package ARN
        arn: String,
        /// Why (kept as the approval description)
        #[arg(long)]
        reason: Option<String>,
    },
}

/// `trainq top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// Only this registry's requests (key `r` cycles)
    #[arg(long, value_parser = ["production", "research"])]
    pub registry: Option<String>,
    /// Only this customer's requests (key `c` cycles)
    #[arg(long)]
    pub customer: Option<String>,
    /// Between refreshes (e.g. 2s, 10s)
    #[arg(long, default_value = "3s", value_parser = crate::duration::parse)]
    pub interval: std::time::Duration,
    /// Print one snapshot as text and exit, even on a terminal
    #[arg(long)]
    pub once: bool,
    /// A request unchanged this long in a state it should pass through is shown as stuck
    #[arg(long, default_value = "10m", value_parser = crate::duration::parse)]
    pub stuck_after: std::time::Duration,
    /// A request queued this long for capacity is shown as stuck
    #[arg(long, default_value = "1h", value_parser = crate::duration::parse)]
    pub queued_after: std::time::Duration,
}

/// `trainq costs`.
#[derive(Debug, Args)]
pub struct CostsArgs {
    /// The window, back from now (e.g. 24h, 7d, 30d)
    #[arg(long, default_value = "7d", value_parser = crate::duration::parse)]
    pub since: std::time::Duration,
    /// Group by customer, project or registry
    #[arg(long, default_value = "project", value_parser = ["customer", "project", "registry"])]
    pub by: String,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// The examples as a shell reads them: continuation lines joined, `&&` splitting commands.
    fn example_commands() -> Vec<String> {
        let text = EXAMPLES.split("\n\n").next().unwrap().replace("\\\n", " ");
        text.lines()
            .skip(1)
            .flat_map(|line| {
                line.split("&&")
                    .map(|c| c.trim().to_owned())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Whether `command` has a `>` or `<` outside quotes: the shell would redirect there.
    fn redirects(command: &str) -> bool {
        let mut quote = None;
        command.chars().any(|c| match (quote, c) {
            (None, '\'' | '"') => {
                quote = Some(c);
                false
            }
            (Some(q), _) if c == q => {
                quote = None;
                false
            }
            (None, '>' | '<') => true,
            _ => false,
        })
    }

    /// Every command line (`jobs list`, `status`, …), from the grammar.
    fn leaves(command: &clap::Command, prefix: &str, out: &mut Vec<String>) {
        if command.get_subcommands().next().is_none() {
            out.push(prefix.trim().to_owned());
        }
        for sub in command.get_subcommands() {
            leaves(sub, &format!("{prefix} {}", sub.get_name()), out);
        }
    }

    /// `--json` is global, so every command needs a documented schema: a new command without
    /// one fails here (the over-the-wire test checks the output against it).
    #[test]
    fn every_command_has_a_documented_json_schema() {
        use clap::CommandFactory;
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/json");
        let index = std::fs::read_to_string(docs.join("README.md")).unwrap();
        let mut commands = Vec::new();
        leaves(&Cli::command(), "", &mut commands);
        assert!(commands.len() >= 18, "{commands:?}");
        for command in commands {
            let row = index
                .lines()
                .find(|l| {
                    l.starts_with(&format!("| `trainq {command}`"))
                        || (command == "models reject" && l.contains("`reject`"))
                })
                .unwrap_or_else(|| panic!("docs/json/README.md has no row for `{command}`"));
            let file = row
                .split('`')
                .find(|w| w.ends_with(".schema.json"))
                .unwrap_or_else(|| panic!("the row of `{command}` names no schema"));
            assert!(docs.join(file).exists(), "{file} of `{command}`");
        }
    }

    #[test]
    fn every_help_example_parses_as_a_shell_pastes_it() {
        let commands = example_commands();
        assert!(commands.len() >= 10, "{commands:?}");
        assert!(redirects("trainq x a>=1") && !redirects("trainq x 'a>=1'"));
        for command in commands {
            assert!(!redirects(&command), "`{command}` redirects when pasted");
            let words = shlex::split(&command).expect("shell words");
            assert_eq!(words[0], "trainq");
            if let Err(e) = Cli::try_parse_from(&words) {
                panic!("`{command}` does not parse: {e}");
            }
        }
    }
}
