//! `trainq-devstack`: the local AWS. For now it serves the local SageMaker endpoint:
//! `trainq-devstack sagemaker --port 4567 --moto-url http://127.0.0.1:5000`.

use std::process::ExitCode;

use trainq_devstack::sagemaker::{LocalSageMaker, bind_loopback};

const USAGE: &str = "usage: trainq-devstack sagemaker [--port PORT] --moto-url URL";

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().with_target(false).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some("sagemaker") {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let Some(moto_url) = value("--moto-url") else {
        eprintln!("error: --moto-url is required\n{USAGE}");
        return ExitCode::from(2);
    };
    let port: u16 = match value("--port").map(|p| p.parse()) {
        None => 0,
        Some(Ok(p)) => p,
        Some(Err(_)) => {
            eprintln!("error: --port must be a port number\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let listener = match bind_loopback(port).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::from(1);
        }
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
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
