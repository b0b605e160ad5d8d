//! The Kafka broker and the Dapr scheduler behind a test's sidecars.
//!
//! `scripts/with-test-stack.sh` (what `make test` runs) starts one of each
//! for the whole run and exports `TEST_KAFKA_BROKERS` and
//! `TEST_DAPR_SCHEDULER`; tests share them, kept apart by their Dapr
//! namespaces (see [`super::mesh`]). Without those variables, and in tests
//! that stop or restart them, a test starts its own ([`Kafka::start`],
//! [`Scheduler::start`]): the same scripts (`scripts/stack/*.sh`) on free
//! ports with fresh data directories.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use super::process::{Process, free_port, repo_root, tool};

/// Where a test's sidecars find Kafka and the scheduler.
#[derive(Clone)]
pub struct Stack {
    /// `host:port` of the Kafka bootstrap broker.
    pub brokers: String,
    /// `host:port` of the Dapr scheduler.
    pub scheduler: String,
    /// Private processes of this test, if it started its own.
    _owned: Option<Arc<(Kafka, Scheduler)>>,
}

impl Stack {
    /// The shared stack from the environment, or a private one.
    pub async fn shared_or_private() -> Self {
        let var = crate::config::var;
        match (var("TEST_KAFKA_BROKERS"), var("TEST_DAPR_SCHEDULER")) {
            (Some(brokers), Some(scheduler)) => Self { brokers, scheduler, _owned: None },
            _ => {
                let dir = scratch_dir("stack");
                let kafka = Kafka::start(&dir.join("kafka")).await;
                let scheduler = Scheduler::start(&dir.join("scheduler")).await;
                Self {
                    brokers: kafka.brokers(),
                    scheduler: scheduler.address(),
                    _owned: Some(Arc::new((kafka, scheduler))),
                }
            }
        }
    }

    /// A stack of the given (private) processes.
    pub fn of(kafka: &Kafka, scheduler: &Scheduler) -> Self {
        Self { brokers: kafka.brokers(), scheduler: scheduler.address(), _owned: None }
    }
}

/// A new directory under the system temp dir for one test's files.
pub fn scratch_dir(label: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join("tasks-platform-tests").join(format!("{label}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// A single-node Kafka broker of this test (`scripts/stack/kafka.sh`).
pub struct Kafka {
    dir: PathBuf,
    port: u16,
    controller_port: u16,
    process: Option<Process>,
}

impl Kafka {
    /// Formats `dir` and starts a broker on free ports; returns once it
    /// accepts clients.
    pub async fn start(dir: &Path) -> Self {
        let mut kafka = Self { dir: dir.to_owned(), port: free_port(), controller_port: free_port(), process: None };
        kafka.restart().await;
        kafka
    }

    /// `127.0.0.1:PORT`.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the broker at once (SIGKILL): no clean shutdown, as in a crash.
    pub async fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill().await;
        }
    }

    /// Starts the broker again on the same ports and data (after
    /// [`Kafka::kill`]); returns once it accepts clients.
    pub async fn restart(&mut self) {
        self.kill().await;
        std::fs::create_dir_all(&self.dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", self.dir.display()));
        let script = repo_root().join("scripts/stack/kafka.sh");
        let (dir, port, controller) =
            (self.dir.display().to_string(), self.port.to_string(), self.controller_port.to_string());
        let mut process =
            Process::spawn("kafka", &script, [&dir, &port, &controller], &[], &self.dir.join("kafka.log"));
        let brokers = self.brokers();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if super::kafka::accepts_clients(&brokers).await {
                break;
            }
            if let Some(status) = process.exited() {
                panic!("Kafka exited ({status}) while starting:\n{}", process.log_tail(40));
            }
            assert!(tokio::time::Instant::now() < deadline, "Kafka did not start in 60 s:\n{}", process.log_tail(40));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.process = Some(process);
    }
}

/// A Dapr scheduler of this test (`scripts/stack/scheduler.sh`).
pub struct Scheduler {
    dir: PathBuf,
    ports: [u16; 4],
    process: Option<Process>,
}

impl Scheduler {
    /// Starts a scheduler on free ports with its data in `dir`; returns once
    /// it reports healthy.
    pub async fn start(dir: &Path) -> Self {
        tool("scheduler", "DAPR_SCHEDULER", "scripts/install-dapr.sh");
        let mut scheduler =
            Self { dir: dir.to_owned(), ports: [free_port(), free_port(), free_port(), free_port()], process: None };
        scheduler.restart().await;
        scheduler
    }

    /// `127.0.0.1:PORT`, for `daprd --scheduler-host-address`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.ports[0])
    }

    /// Stops it with SIGTERM (jobs stay in its data directory).
    pub async fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.terminate(Duration::from_secs(10)).await;
        }
    }

    /// Starts it again on the same ports and data; returns once healthy.
    pub async fn restart(&mut self) {
        self.stop().await;
        std::fs::create_dir_all(&self.dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", self.dir.display()));
        let script = repo_root().join("scripts/stack/scheduler.sh");
        let args: Vec<String> = std::iter::once(self.dir.join("data").display().to_string())
            .chain(self.ports.iter().map(u16::to_string))
            .collect();
        let mut process = Process::spawn("scheduler", &script, &args, &[], &self.dir.join("scheduler.log"));
        let healthz = format!("http://127.0.0.1:{}/healthz", self.ports[3]);
        let client = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let healthy = client.get(&healthz).send().await.is_ok_and(|r| r.status().is_success());
            if healthy {
                break;
            }
            if let Some(status) = process.exited() {
                panic!("the scheduler exited ({status}) while starting:\n{}", process.log_tail(40));
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the scheduler did not become healthy in 30 s:\n{}",
                process.log_tail(40)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.process = Some(process);
    }
}

/// A PostgreSQL server of this test (initdb + pg_ctl on a free port, in a
/// fresh directory), for tests that restart or stop the database. The
/// server binaries come from Debian's packages (`scripts/with-test-stack.sh`
/// installs them); as root the cluster runs as the `postgres` user, since
/// initdb refuses root.
pub struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

impl Postgres {
    /// Initialises and starts a durable cluster (fsync on, as in production).
    ///
    /// # Panics
    /// When PostgreSQL's server binaries are missing or it does not start.
    pub fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| {
                let mut dirs: Vec<PathBuf> = versions.filter_map(|v| v.ok().map(|v| v.path().join("bin"))).collect();
                dirs.sort();
                dirs.pop()
            })
            .filter(|bin| bin.join("pg_ctl").exists())
            .unwrap_or_else(|| {
                panic!("no PostgreSQL server binaries in /usr/lib/postgresql: run scripts/with-test-stack.sh")
            });
        let dir = scratch_dir("postgres");
        let pg = Self { bin, dir, port: free_port() };
        if is_root() {
            run("chmod", &["755".as_ref(), pg.dir.as_os_str()]);
            run("chown", &["postgres:".as_ref(), pg.dir.as_os_str()]);
        }
        let data = pg.dir.join("data");
        pg.as_postgres(
            "initdb",
            &["-D", &data.display().to_string(), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"],
        );
        pg.restart_with("start");
        pg
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The URL of a new, empty database on this server.
    pub async fn fresh_database(&self) -> String {
        use sea_orm::{ConnectionTrait, Database};
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(self.admin_url()).await.unwrap_or_else(|e| panic!("cannot connect: {e}"));
        admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.unwrap_or_else(|e| panic!("{e}"));
        let _ = admin.close().await;
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// `pg_ctl restart -m fast`: every session is terminated (SQLSTATE
    /// 57P01, "terminating connection due to administrator command").
    pub fn restart(&self) {
        self.restart_with("restart");
    }

    /// `pg_ctl stop -m fast`: down until [`Postgres::start_again`].
    pub fn stop(&self) {
        let data = self.dir.join("data").display().to_string();
        self.as_postgres("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"]);
    }

    pub fn start_again(&self) {
        self.restart_with("start");
    }

    fn restart_with(&self, verb: &str) {
        let data = self.dir.join("data").display().to_string();
        let log = self.dir.join("log").display().to_string();
        let options =
            format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200", self.port, self.dir.display());
        self.as_postgres("pg_ctl", &["-D", &data, "-l", &log, "-m", "fast", "-w", "-o", &options, verb]);
    }

    fn as_postgres(&self, program: &str, args: &[&str]) {
        let program = self.bin.join(program).display().to_string();
        let mut argv: Vec<&str> = Vec::new();
        if is_root() {
            argv.extend(["runuser", "-u", "postgres", "--"]);
        }
        argv.push(&program);
        argv.extend(args);
        let output = std::process::Command::new(argv[0])
            .args(&argv[1..])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        assert!(output.status.success(), "{program} {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.join("data").display().to_string();
        let program = self.bin.join("pg_ctl").display().to_string();
        let mut command =
            if is_root() { std::process::Command::new("runuser") } else { std::process::Command::new(&program) };
        if is_root() {
            command.args(["-u", "postgres", "--", &program]);
        }
        let _ = command.args(["-D", &data, "-m", "immediate", "stop"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    std::process::Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

fn run(program: &str, args: &[&std::ffi::OsStr]) {
    let _ = std::process::Command::new(program).args(args).status();
}
