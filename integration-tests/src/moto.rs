//! One `moto_server` per test process.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The URL of this process's moto server, started on first use.
pub fn url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(start)
}

/// `moto_server` from `$TRAINQ_MOTO_SERVER` or the workspace's `.venv`.
fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("TRAINQ_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn start() -> String {
    let bin = binary();
    assert!(
        bin.exists(),
        "{} not found: run `make venv` (or `make test`) first",
        bin.display()
    );
    let port = free_port();
    // A watchdog shell owns moto and stops it once this test process is gone, so no
    // server outlives its tests even though statics are never dropped.
    let script = format!(
        "'{bin}' -H 127.0.0.1 -p {port} >/dev/null 2>&1 & moto=$!; \
         while kill -0 {parent} 2>/dev/null && kill -0 $moto 2>/dev/null; do sleep 0.5; done; \
         kill $moto 2>/dev/null",
        bin = bin.display(),
        parent = std::process::id(),
    );
    let mut watchdog = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn moto_server");
    // Reap the watchdog when it ends, so it never lingers as a zombie.
    std::thread::spawn(move || watchdog.wait());
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return url;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("moto_server did not listen on {url} within 60 s");
}
