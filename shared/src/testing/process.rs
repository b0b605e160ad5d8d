//! Child processes of a test (daprd, Kafka, the scheduler, the SMTP
//! server).
//!
//! Each is started through util-linux's `setpriv --pdeathsig KILL`, so the
//! kernel kills it when the thread that started it ends: a test that panics,
//! times out or is killed leaves nothing behind holding a port. Output goes
//! to a log file; failures quote its end.

use std::{
    ffi::OsStr,
    path::{Path, PathBuf},
    process::{ExitStatus, Stdio},
    time::Duration,
};

use tokio::process::{Child, Command};

/// A running child process, killed when dropped.
pub struct Process {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    /// Starts `program args…` with `envs` in the directory of `log`, output
    /// appended to `log`.
    ///
    /// # Panics
    /// When the process cannot be started.
    pub fn spawn<I, S>(name: &str, program: &Path, args: I, envs: &[(&str, &str)], log: &Path) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", log.display()));
        let err = out.try_clone().unwrap_or_else(|e| panic!("cannot open {}: {e}", log.display()));
        let mut command = Command::new("setpriv");
        command
            .args(["--pdeathsig", "KILL", "--"])
            .arg(program)
            .args(args)
            .envs(envs.iter().copied())
            .current_dir(log.parent().unwrap_or(Path::new(".")))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        let child = command.spawn().unwrap_or_else(|e| panic!("cannot start {name} ({}): {e}", program.display()));
        Self { name: name.to_owned(), child, log: log.to_owned() }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The process id, while it runs.
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// The exit status, if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGTERM, then up to `grace` for it to exit, then SIGKILL. Returns the
    /// exit status (None if it had to be killed).
    pub async fn terminate(&mut self, grace: Duration) -> Option<ExitStatus> {
        if let Some(pid) = self.child.id() {
            // `kill` keeps the test support free of unsafe FFI for one signal.
            let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        }
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => status.ok(),
            Err(_) => {
                self.kill().await;
                None
            }
        }
    }

    /// SIGKILL, and wait until it is gone.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// The last `lines` lines of its log, for a failure message.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log, lines)
    }
}

/// The last `lines` lines of the file at `path` (empty if unreadable).
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A TCP port on 127.0.0.1 that was free a moment ago, for processes that
/// cannot take a pre-bound listener.
///
/// It is picked below the kernel's ephemeral range
/// (`net.ipv4.ip_local_port_range`, 32768–60999 by default): a port from
/// that range (what binding port 0 gives) can be taken by any outgoing
/// connection's local end between this check and the bind of the process
/// it is meant for, and a daprd that loses its port that way exits ("could
/// not listen on any endpoint"). Picked at random, so test processes
/// running side by side rarely try the same one, and never handed out twice
/// by one process.
///
/// # Panics
/// When no port can be bound.
pub fn free_port() -> u16 {
    use std::{collections::BTreeSet, sync::Mutex};
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next().and_then(|low| low.parse::<u16>().ok()))
        .unwrap_or(32768);
    let (low, high) = (10_000u16, ephemeral_start);
    if high > low + 1000 {
        let mut given = GIVEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for _ in 0..1000 {
            let random = u16::from_le_bytes(uuid::Uuid::new_v4().as_bytes()[..2].try_into().unwrap_or([0, 0]));
            let port = low + random % (high - low);
            if !given.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                given.insert(port);
                return port;
            }
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port on 127.0.0.1: {e}"))
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// A tool installed into `.tools/bin` by the install scripts (or named by
/// the environment variable `env`, e.g. `DAPRD`).
///
/// # Panics
/// When it is not installed, saying which script installs it.
pub fn tool(name: &str, env: &str, installer: &str) -> PathBuf {
    let path = crate::config::var(env).map_or_else(|| repo_root().join(".tools/bin").join(name), PathBuf::from);
    assert!(path.exists(), "{name} is not installed at {}: run {installer} (make test does)", path.display());
    path
}
