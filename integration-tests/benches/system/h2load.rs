//! nghttp2's `h2load` as a second load generator for ListTasks: the
//! one the first figures came from, written in C, and not our code.
//!
//! It posts one body to one method for every call, so it measures the same
//! call over and over (one user's page); it reads each response
//! and discards it, as the limits' driver discards its rows. A gRPC error
//! still has HTTP status 200 (the status is in the trailers), so a run is
//! accepted only if every call returned exactly the bytes of the answer
//! the bench's own client got for the same call.

use std::{net::SocketAddr, path::PathBuf, process::Command, time::Duration};

use anyhow::{Context, bail};

use super::{Sample, direct::framed};

/// Whether `h2load` is on the PATH (`scripts/install-tools.sh h2load`).
pub fn available() -> bool {
    Command::new("h2load").arg("--version").output().is_ok_and(|out| out.status.success())
}

/// A method of a server, called with an `authorization` header.
pub struct Call {
    pub addr: SocketAddr,
    /// `/package.Service/Method`.
    pub method: &'static str,
    pub authorization: String,
}

impl Call {
    /// One `h2load` run: `requests` calls with `message` as the request,
    /// `concurrency` streams on one connection. `answer` is the response
    /// message every call must return.
    pub fn run(
        &self,
        name: &str,
        message: &impl prost::Message,
        answer: &impl prost::Message,
        requests: usize,
        concurrency: usize,
    ) -> anyhow::Result<Sample> {
        let run = self.start(message, requests, concurrency)?;
        let (latencies, wall) = run.finish(answer)?;
        Ok(Sample { name: name.to_owned(), latencies, wall })
    }

    /// Starts `h2load`.
    fn start(&self, message: &impl prost::Message, requests: usize, streams: usize) -> anyhow::Result<Running> {
        let Self { addr, method, authorization } = self;
        let dir = std::env::temp_dir().join(format!("bench-h2load-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let body = dir.join("request");
        std::fs::write(&body, framed(message))?;
        let log = dir.join("log");
        let child = Command::new("h2load")
            .args(["-n", &requests.to_string(), "-c", "1", "-m", &streams.to_string()])
            .args(["-H", "content-type: application/grpc", "-H", "te: trailers"])
            .args(["-H", &format!("authorization: {authorization}")])
            .arg("-d")
            .arg(&body)
            .arg(format!("--log-file={}", log.display()))
            .arg(format!("http://{addr}{method}"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .context("running h2load")?;
        Ok(Running { child, dir, log, requests })
    }
}

/// An `h2load` under way.
struct Running {
    child: std::process::Child,
    dir: PathBuf,
    log: PathBuf,
    requests: usize,
}

impl Running {
    /// Waits for it; each call's time, and the run's.
    fn finish(self, answer: &impl prost::Message) -> anyhow::Result<(Vec<Duration>, Duration)> {
        let Self { child, dir, log, requests } = self;
        let out = child.wait_with_output()?;
        let report = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            bail!("h2load failed: {report}{}", String::from_utf8_lossy(&out.stderr));
        }
        let expected = (framed(answer).len() * requests) as u64;
        let data = data_bytes(&report).context("h2load printed no traffic line")?;
        if data != expected {
            bail!("h2load got {data} bytes of answers, not the {expected} of {requests} good ones:\n{report}");
        }
        let latencies = latencies(&log)?;
        if latencies.len() != requests {
            bail!("h2load logged {} of {requests} calls:\n{report}", latencies.len());
        }
        let wall = finished_in(&report).context("h2load printed no \"finished in\"")?;
        let _ = std::fs::remove_dir_all(&dir);
        Ok((latencies, wall))
    }
}

/// From `traffic: 1.2MB (1234) total, 5 (5) headers (…), 1000 (1000) data`.
fn data_bytes(report: &str) -> Option<u64> {
    let line = report.lines().find(|l| l.starts_with("traffic:"))?;
    let before = line.split(" data").next()?;
    let inner = before.rsplit('(').next()?.split(')').next()?;
    inner.trim().parse().ok()
}

/// From `finished in 1.23s, 4567.89 req/s, …` (h2load prints ms or s).
fn finished_in(report: &str) -> Option<Duration> {
    let line = report.lines().find(|l| l.starts_with("finished in "))?;
    let value = line.strip_prefix("finished in ")?.split(',').next()?;
    if let Some(ms) = value.strip_suffix("ms") {
        return ms.parse::<f64>().ok().map(|ms| Duration::from_secs_f64(ms / 1000.0));
    }
    value.strip_suffix('s')?.parse::<f64>().ok().map(Duration::from_secs_f64)
}

/// Each call's time from the log: start (µs since the epoch), HTTP status,
/// µs until the response ended; tab-separated.
fn latencies(log: &PathBuf) -> anyhow::Result<Vec<Duration>> {
    let text = std::fs::read_to_string(log)?;
    let mut latencies = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        let [_, status, micros] = fields[..] else { bail!("h2load log line {line:?}") };
        if status != "200" {
            bail!("h2load call answered HTTP {status}");
        }
        latencies.push(Duration::from_micros(micros.trim().parse()?));
    }
    Ok(latencies)
}
