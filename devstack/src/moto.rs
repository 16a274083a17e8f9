//! `moto_server` from the project's `.venv`, on loopback. A watchdog shell owns the server and
//! stops it as soon as the process that started it is gone, so no emulator outlives its
//! devstack or test run, however that ended.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The command that runs moto: `$TRAINQ_MOTO_SERVER` if set, else the project's launcher
/// (`devstack/moto/moto_server.py`: moto with trainq's fixes for emulator hot spots) under
/// `<workspace>/.venv/bin/python`.
pub fn binary(workspace: &Path) -> Vec<PathBuf> {
    match std::env::var_os("TRAINQ_MOTO_SERVER") {
        Some(server) => vec![PathBuf::from(server)],
        None => vec![
            workspace.join(".venv/bin/python"),
            workspace.join("devstack/moto/moto_server.py"),
        ],
    }
}

/// A free loopback port.
pub fn free_port() -> std::io::Result<u16> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
}

/// A running moto server.
pub struct Moto {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    watchdog: Child,
}

impl Moto {
    /// Starts moto's `command` on `port` (0: a free one), its output appended to `log`, and waits until
    /// it accepts connections (at most 60 s).
    pub fn start(command: &[PathBuf], port: u16, log: &Path) -> Result<Self, String> {
        if let Some(missing) = command.iter().find(|p| !p.exists()) {
            return Err(format!(
                "{} not found: run `make venv` first",
                missing.display()
            ));
        }
        let port = if port == 0 {
            free_port().map_err(|e| e.to_string())?
        } else {
            port
        };
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Err(format!(
                "port {port} is taken (another devstack?); `trainq-devstack down` or pick another port"
            ));
        }
        let script = format!(
            "{command} -H 127.0.0.1 -p {port} >>'{log}' 2>&1 & moto=$!; \
             trap 'kill $moto 2>/dev/null; exit 0' TERM INT; \
             while kill -0 {parent} 2>/dev/null && kill -0 $moto 2>/dev/null; do sleep 0.5; done; \
             kill $moto 2>/dev/null",
            command = command
                .iter()
                .map(|p| format!("'{}'", p.display()))
                .collect::<Vec<_>>()
                .join(" "),
            log = log.display(),
            parent = std::process::id(),
        );
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start moto_server: {e}"))?;
        let mut moto = Self {
            url: format!("http://127.0.0.1:{port}"),
            watchdog,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(moto);
            }
            if let Ok(Some(status)) = moto.watchdog.try_wait() {
                return Err(format!(
                    "moto_server exited ({status}); see {}",
                    log.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        moto.stop();
        Err(format!(
            "moto_server did not listen on port {port} within 60 s"
        ))
    }

    /// The watchdog's pid (killing it stops moto as well).
    pub fn pid(&self) -> u32 {
        self.watchdog.id()
    }

    /// Stops the server (SIGTERM to the watchdog, which stops moto) and waits for it.
    pub fn stop(&mut self) {
        if let Ok(pid) = i32::try_from(self.watchdog.id()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let _ = self.watchdog.wait();
    }

    /// Leaves the server to its watchdog (it stops when this process ends).
    pub fn detach(self) -> String {
        let Self { url, mut watchdog } = self;
        std::thread::spawn(move || watchdog.wait());
        url
    }
}
