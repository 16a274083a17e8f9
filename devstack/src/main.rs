//! `trainq-devstack`: the whole trainq pipeline on this machine.
//!
//! ```text
//! trainq-devstack up      [--config devstack/devstack.json]   start in the background, wait until ready
//! trainq-devstack down    [--config …]                        stop it and everything it started
//! trainq-devstack status  [--config …]                        print the stack file if it is up
//! trainq-devstack serve   [--config …]                        run in the foreground (what `up` starts)
//! trainq-devstack demo    [--config …]                        run the demo scenario against it
//! trainq-devstack env     [--config …]                        print the shell environment for it
//! trainq-devstack sagemaker --moto-url URL [--port PORT]      the local SageMaker endpoint alone
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use trainq_devstack::config::DevstackConfig;
use trainq_devstack::control;
use trainq_devstack::sagemaker::{LocalSageMaker, bind_loopback};
use trainq_devstack::serve::Devstack;

const USAGE: &str = "usage: trainq-devstack up|down|status|serve|demo|env [--config FILE]\n       trainq-devstack sagemaker --moto-url URL [--port PORT]";
const DEFAULT_CONFIG: &str = "devstack/devstack.json";

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().with_target(false).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let config_path = PathBuf::from(value("--config").unwrap_or_else(|| DEFAULT_CONFIG.into()));
    let command = args.first().map(String::as_str);
    if command == Some("sagemaker") {
        return sagemaker(value("--moto-url"), value("--port")).await;
    }
    let config = match DevstackConfig::load(&config_path) {
        Ok(c) => c,
        Err(e) => {
            return fail(&format!(
                "{e}\n(run from the repository root, or pass --config)"
            ));
        }
    };
    match command {
        Some("up") => {
            let stack_file = config.stack_file();
            match tokio::task::spawn_blocking(move || control::up(&config, &config_path)).await {
                Ok(Ok(stack)) => {
                    println!("devstack is up; stack file {}", stack_file.display());
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&stack).unwrap_or_default()
                    );
                    ExitCode::SUCCESS
                }
                Ok(Err(e)) => fail(&e),
                Err(e) => fail(&e.to_string()),
            }
        }
        Some("down") => match control::down(&config) {
            Ok(true) => {
                println!("devstack is down");
                ExitCode::SUCCESS
            }
            Ok(false) => {
                println!("devstack was not running");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        Some("status") => match control::running_stack(&config) {
            Some(stack) => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&stack).unwrap_or_default()
                );
                ExitCode::SUCCESS
            }
            None => {
                println!("devstack is not running");
                ExitCode::from(3)
            }
        },
        Some("env") => match control::running_stack(&config) {
            None => fail("the devstack is not running: `make devstack` first"),
            Some(stack) => {
                let file = std::path::absolute(config.stack_file()).unwrap_or(config.stack_file());
                print!("{}", control::env_exports(&stack, &file));
                ExitCode::SUCCESS
            }
        },
        Some("serve") => serve(&config).await,
        Some("demo") => match control::running_stack(&config) {
            None => {
                fail("the devstack is not running: `trainq-devstack up` (or `make demo`) first")
            }
            Some(stack) => match trainq_devstack::demo::run(&stack).await {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(e) => fail(&e),
            },
        },
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(64)
        }
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(1)
}

/// Runs the stack until SIGTERM or Ctrl-C.
async fn serve(config: &DevstackConfig) -> ExitCode {
    let workspace = std::env::current_dir().unwrap_or_default();
    let devstack = match Devstack::start(config, &workspace).await {
        Ok(d) => d,
        Err(e) => return fail(&e),
    };
    let stack = serde_json::to_vec_pretty(devstack.stack()).unwrap_or_default();
    let written = control::write_atomically(
        &config.pid_file(),
        std::process::id().to_string().as_bytes(),
    )
    .and_then(|()| control::write_atomically(&config.stack_file(), &stack));
    if let Err(e) = written {
        devstack.stop().await;
        return fail(&format!("cannot write the stack file: {e}"));
    }
    tracing::info!("devstack ready: {}", config.stack_file().display());
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => return fail(&e.to_string()),
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("stopping");
    let _ = std::fs::remove_file(config.stack_file());
    devstack.stop().await;
    let _ = std::fs::remove_file(config.pid_file());
    ExitCode::SUCCESS
}

async fn sagemaker(moto_url: Option<String>, port: Option<String>) -> ExitCode {
    let Some(moto_url) = moto_url else {
        return fail(&format!("--moto-url is required\n{USAGE}"));
    };
    let port: u16 = match port.map(|p| p.parse()) {
        None => 0,
        Some(Ok(p)) => p,
        Some(Err(_)) => return fail(&format!("--port must be a port number\n{USAGE}")),
    };
    let listener = match bind_loopback(port).await {
        Ok(l) => l,
        Err(e) => return fail(&format!("cannot listen on 127.0.0.1:{port}: {e}")),
    };
    match LocalSageMaker::spawn(listener, &moto_url) {
        Ok(endpoint) => {
            println!(
                "local SageMaker endpoint on {} (forwarding to {moto_url})",
                endpoint.url()
            );
            endpoint.wait().await;
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e.to_string()),
    }
}
