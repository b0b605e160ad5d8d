//! `local-dapr`: the local Dapr-compatible runtime.
//!
//! ```text
//! local-dapr [--resources DIR] [--database URL] --app ID=HOST:PORT,api=HOST:PORT[,health][,app-token=T][,dapr-token=T] [--app …]
//! local-dapr run -f dev/dapr.yaml [--database URL]
//! ```
//!
//! The first form serves sidecars for apps started elsewhere; `run` also
//! starts the apps (Multi-App Run). The database defaults to
//! `sqlite://data/local-dapr.db?mode=rwc`. `RUST_LOG` filters logs.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use anyhow::{Context as _, bail};
use local_dapr::{AppSpec, DeliveryPolicy, Runtime, RuntimeConfig, load_resources};

const DEFAULT_DATABASE: &str = "sqlite://data/local-dapr.db?mode=rwc";
const USAGE: &str = "usage:
  local-dapr [--resources DIR] [--database URL] --app ID=HOST:PORT,api=HOST:PORT[,health][,app-token=T][,dapr-token=T] [--app ...]
  local-dapr run -f FILE [--database URL]";

#[tokio::main]
async fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).compact().init();
    match run(std::env::args().skip(1).collect()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("local-dapr: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// One `--app` value.
struct AppArg {
    id: String,
    app_addr: SocketAddr,
    api_addr: SocketAddr,
    health: bool,
    app_token: Option<String>,
    dapr_token: Option<String>,
}

fn parse_app(value: &str) -> anyhow::Result<AppArg> {
    let mut parts = value.split(',');
    let (id, addr) = parts.next().and_then(|p| p.split_once('=')).context("--app needs ID=HOST:PORT first")?;
    let mut app = AppArg {
        id: id.to_owned(),
        app_addr: addr.parse().with_context(|| format!("app address {addr:?}"))?,
        api_addr: SocketAddr::from(([127, 0, 0, 1], 50001)),
        health: false,
        app_token: None,
        dapr_token: None,
    };
    for part in parts {
        match part.split_once('=') {
            Some(("api", a)) => app.api_addr = a.parse().with_context(|| format!("api address {a:?}"))?,
            Some(("app-token", t)) => app.app_token = Some(t.to_owned()),
            Some(("dapr-token", t)) => app.dapr_token = Some(t.to_owned()),
            None if part == "health" => app.health = true,
            _ => bail!("unknown --app option {part:?}"),
        }
    }
    Ok(app)
}

async fn run(args: Vec<String>) -> anyhow::Result<()> {
    let mut database = DEFAULT_DATABASE.to_owned();
    let mut resources: Option<PathBuf> = None;
    let mut apps = Vec::new();
    let mut run_file: Option<PathBuf> = None;
    let mut launcher = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value\n{USAGE}"));
        match arg.as_str() {
            "run" => launcher = true,
            "-f" | "--file" => run_file = Some(value()?.into()),
            "--database" => database = value()?,
            "--resources" | "--resources-path" => resources = Some(value()?.into()),
            "--app" => apps.push(parse_app(&value()?)?),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    if launcher {
        let file = run_file.with_context(|| format!("run needs -f FILE\n{USAGE}"))?;
        return local_dapr::launcher::run(&file, &database).await;
    }
    if apps.is_empty() {
        bail!("no --app given\n{USAGE}");
    }
    let resources = match resources {
        Some(dir) => load_resources(&dir)?,
        None => Vec::new(),
    };
    let mut specs = Vec::new();
    for app in apps {
        let listener = tokio::net::TcpListener::bind(app.api_addr)
            .await
            .with_context(|| format!("binding {} for {}", app.api_addr, app.id))?;
        tracing::info!(app = %app.id, api = %app.api_addr, app_addr = %app.app_addr, "sidecar");
        specs.push(AppSpec {
            app_id: app.id,
            app_addr: app.app_addr,
            api_listener: listener,
            app_api_token: app.app_token,
            dapr_api_token: app.dapr_token,
            health_check: app.health,
        });
    }
    let delivery = DeliveryPolicy::from_resources(&resources);
    let runtime = Runtime::start(RuntimeConfig { apps: specs, resources, database_url: database, delivery }).await?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate() => {}
        () = runtime.stopped() => {}
    }
    tracing::info!("shutting down");
    runtime.shutdown().await;
    Ok(())
}

async fn terminate() {
    #[cfg(unix)]
    if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        term.recv().await;
        return;
    }
    std::future::pending::<()>().await;
}
