//! `local-dapr run -f dev/dapr.yaml`: a Dapr Multi-App Run launcher.
//!
//! It reads a Multi-App Run file (`version: 1`, `common: {resourcesPath,
//! env}`, `apps: [{appID, appDirPath, appPort, daprGRPCPort, command, env,
//! enableAppHealthCheck}]`), binds each app's Dapr API port on 127.0.0.1,
//! starts the runtime, spawns each app's command with `DAPR_GRPC_PORT`,
//! `DAPR_GRPC_ENDPOINT`, `APP_ID`, `APP_PORT` and the file's `env` (common
//! first, the app's own on top), prints where everything listens, and
//! prefixes each child's output lines with its app id.
//!
//! Relative paths (`resourcesPath`, `appDirPath`) are relative to the run
//! file, as with `dapr run -f`; commands run in `appDirPath` (default: the
//! file's directory). In a command, `${NAME}` and `${NAME:-default}` take the
//! launcher's environment (so `${CARGO_TARGET_DIR:-target}/debug/task`
//! finds the binary wherever cargo put it). `APP_API_TOKEN` / `DAPR_API_TOKEN` in an app's env
//! configure its sidecar's tokens too.
//!
//! Children run in their own process groups. SIGTERM or SIGINT (Ctrl-C) is
//! forwarded to every child as one SIGTERM; the launcher
//! waits for them (killing any still running after 30 s), shuts the runtime
//! down gracefully and exits. A child that exits by itself is reported and
//! the others keep running; when all have exited the launcher stops.

use std::{
    collections::HashMap,
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::Context as _;
use serde::Deserialize;
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, BufReader},
    process::{Child, Command},
};

use crate::{AppSpec, DeliveryPolicy, Runtime, RuntimeConfig, load_resources};

/// The Multi-App Run file.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunFile {
    #[serde(default)]
    pub version: serde_yaml::Value,
    #[serde(default)]
    pub common: Common,
    #[serde(default)]
    pub apps: Vec<RunApp>,
}

/// `common:` settings shared by every app.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Common {
    #[serde(default)]
    pub resources_path: Option<PathBuf>,
    #[serde(default)]
    pub env: HashMap<String, String>,
    #[serde(default)]
    pub enable_app_health_check: bool,
}

/// One `apps:` entry.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunApp {
    #[serde(rename = "appID")]
    pub app_id: String,
    #[serde(default)]
    pub app_dir_path: Option<PathBuf>,
    pub app_port: u16,
    #[serde(rename = "daprGRPCPort")]
    pub dapr_grpc_port: u16,
    #[serde(default)]
    pub command: Vec<String>,
    #[serde(default)]
    pub env: HashMap<String, String>,
    #[serde(default)]
    pub enable_app_health_check: Option<bool>,
    #[serde(default)]
    pub resources_path: Option<PathBuf>,
}

/// Parses a run file.
///
/// # Errors
/// Unreadable or malformed file.
pub fn read_run_file(path: &Path) -> anyhow::Result<RunFile> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: RunFile = serde_yaml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    anyhow::ensure!(!file.apps.is_empty(), "{} lists no apps", path.display());
    Ok(file)
}

/// Runs the file's apps under one runtime until a signal or until they all exit.
///
/// # Errors
/// A port cannot be bound, resources cannot be loaded, or a command cannot start.
pub async fn run(file_path: &Path, database_url: &str) -> anyhow::Result<()> {
    let file = read_run_file(file_path)?;
    let base = file_path.parent().map(Path::to_path_buf).unwrap_or_default();
    let resources_dir = file.common.resources_path.as_ref().map(|p| base.join(p));
    let resources = match &resources_dir {
        Some(dir) => load_resources(dir)?,
        None => Vec::new(),
    };
    let mut specs = Vec::new();
    for app in &file.apps {
        let api_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, app.dapr_grpc_port));
        let listener = tokio::net::TcpListener::bind(api_addr)
            .await
            .with_context(|| format!("binding the Dapr API port {api_addr} of {}", app.app_id))?;
        let env = |key: &str| app.env.get(key).or_else(|| file.common.env.get(key)).cloned();
        specs.push(AppSpec {
            app_id: app.app_id.clone(),
            app_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, app.app_port)),
            api_listener: listener,
            app_api_token: env("APP_API_TOKEN"),
            dapr_api_token: env("DAPR_API_TOKEN"),
            health_check: app.enable_app_health_check.unwrap_or(file.common.enable_app_health_check),
        });
    }
    let delivery = DeliveryPolicy::from_resources(&resources);
    let runtime =
        Runtime::start(RuntimeConfig { apps: specs, resources, database_url: database_url.to_owned(), delivery })
            .await?;

    let mut children = Vec::new();
    for app in &file.apps {
        children.push((app.app_id.clone(), spawn(app, &file.common, &base)?));
    }
    print_table(&file, resources_dir.as_deref(), database_url);

    let stop_requested = wait_for_signal_or_exit(&mut children).await;
    if stop_requested {
        stop_children(&mut children).await;
    }
    runtime.shutdown().await;
    Ok(())
}

fn spawn(app: &RunApp, common: &Common, base: &Path) -> anyhow::Result<Child> {
    let argv: Vec<String> = app.command.iter().map(|part| expand_env(part, |name| std::env::var(name).ok())).collect();
    let (program, args) = argv.split_first().with_context(|| format!("app {} has no command", app.app_id))?;
    let dir = app.app_dir_path.as_ref().map_or_else(|| base.to_path_buf(), |d| base.join(d));
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(&dir)
        .envs(&common.env)
        .envs(&app.env)
        .env("DAPR_GRPC_PORT", app.dapr_grpc_port.to_string())
        .env("DAPR_GRPC_ENDPOINT", format!("http://127.0.0.1:{}", app.dapr_grpc_port))
        .env("APP_ID", &app.app_id)
        .env("APP_PORT", app.app_port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // Own process group: a terminal's Ctrl-C then reaches only the launcher,
    // which forwards exactly one SIGTERM. Otherwise the child would see the
    // SIGINT and then our SIGTERM, and take the second as "exit now".
    #[cfg(unix)]
    command.process_group(0);
    let mut child =
        command.spawn().with_context(|| format!("starting {} ({program:?} in {})", app.app_id, dir.display()))?;
    if let Some(out) = child.stdout.take() {
        tokio::spawn(prefix_lines(app.app_id.clone(), out));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(prefix_lines(app.app_id.clone(), err));
    }
    Ok(child)
}

async fn prefix_lines(app_id: String, stream: impl AsyncRead + Unpin) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        println!("[{app_id}] {line}");
    }
}

fn print_table(file: &RunFile, resources: Option<&Path>, database_url: &str) {
    println!();
    println!("{:<16} {:<24} {:<24}", "APP", "APP (AppCallback)", "SIDECAR (Dapr gRPC API)");
    for app in &file.apps {
        println!(
            "{:<16} {:<24} {:<24}",
            app.app_id,
            format!("127.0.0.1:{}", app.app_port),
            format!("127.0.0.1:{}", app.dapr_grpc_port)
        );
    }
    let resources = resources.map_or_else(|| "(none)".to_owned(), |p| p.display().to_string());
    println!("resources: {resources}    database: {database_url}");
    println!();
}

/// `true` when a signal asked us to stop, `false` when every child exited by itself.
async fn wait_for_signal_or_exit(children: &mut Vec<(String, Child)>) -> bool {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    loop {
        if children.is_empty() {
            tracing::info!("every app has exited");
            return false;
        }
        #[cfg(unix)]
        let terminate = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        let exited = futures::future::select_all(children.iter_mut().map(|(_, c)| Box::pin(c.wait())));
        let (status, index) = tokio::select! {
            _ = tokio::signal::ctrl_c() => return true,
            () = terminate => return true,
            (status, index, _) = exited => (status, index),
        };
        let (app_id, _) = children.remove(index);
        match status {
            Ok(status) => tracing::warn!(app = %app_id, %status, "app exited"),
            Err(e) => tracing::warn!(app = %app_id, error = %e, "waiting for app failed"),
        }
    }
}

/// SIGTERM to each child, then wait up to 30 s before killing stragglers.
async fn stop_children(children: &mut [(String, Child)]) {
    for (app_id, child) in children.iter() {
        if let Some(pid) = child.id() {
            tracing::info!(app = %app_id, pid, "sending SIGTERM");
            // `kill` keeps this crate free of unsafe FFI for one signal.
            let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        }
    }
    for (app_id, child) in children.iter_mut() {
        match tokio::time::timeout(Duration::from_secs(30), child.wait()).await {
            Ok(Ok(status)) => tracing::info!(app = %app_id, %status, "app stopped"),
            _ => {
                tracing::warn!(app = %app_id, "app did not stop within 30s; killing it");
                let _ = child.kill().await;
            }
        }
    }
}

/// `text` with each `${NAME}` / `${NAME:-default}` replaced by `lookup(NAME)`
/// (an unset or empty variable gives the default, or nothing). Anything
/// else, an unclosed `${` included, stays as written.
fn expand_env(text: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else { break };
        out.push_str(&rest[..start]);
        let inner = &rest[start + 2..start + len];
        let (name, default) = inner.split_once(":-").unwrap_or((inner, ""));
        out.push_str(&lookup(name).filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned()));
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_take_variables_from_the_environment() {
        let env = |name: &str| (name == "CARGO_TARGET_DIR").then(|| "/cache/target".to_owned());
        assert_eq!(expand_env("${CARGO_TARGET_DIR:-target}/debug/task", env), "/cache/target/debug/task");
        assert_eq!(expand_env("${UNSET:-target}/debug/task", env), "target/debug/task");
        assert_eq!(expand_env("a${UNSET}b", env), "ab");
        assert_eq!(expand_env("no ${closing", env), "no ${closing");
    }

    #[test]
    fn parses_a_multi_app_run_file() {
        let file: RunFile = serde_yaml::from_str(
            r#"
version: 1
common:
  resourcesPath: ../components/local
  env: { RUST_LOG: info }
apps:
  - appID: task
    appDirPath: ../
    appPort: 50051
    daprGRPCPort: 50001
    command: ["target/debug/task"]
    env: { DATABASE_URL: "sqlite://data/tasks.db?mode=rwc" }
"#,
        )
        .unwrap();
        assert_eq!(file.apps[0].app_id, "task");
        assert_eq!((file.apps[0].app_port, file.apps[0].dapr_grpc_port), (50051, 50001));
        assert_eq!(file.common.resources_path.as_deref(), Some(Path::new("../components/local")));
    }
}
