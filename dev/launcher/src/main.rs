//! `launcher -f dev/dapr.yaml`: runs a Dapr Multi-App Run file as
//! `dapr run -f` does, for `make dev` (the Dapr CLI cannot be installed
//! from the registries this project builds from).
//!
//! For each app it starts the real `daprd` (from `$DAPR_RUNTIME_PATH/.dapr/bin`,
//! else `~/.dapr/bin`, as the CLI looks for it; `--daprd PATH` overrides) with
//! the flags the CLI would pass ([`run_file`]), then the app's command, both
//! in the app's directory. App output is printed with the app id in front;
//! each daprd logs to `<appDirPath>/.dapr/logs/<appID>_daprd.log`, as under
//! the CLI. Once every sidecar answers its health check, a table says where
//! everything listens.
//!
//! Stopping: SIGINT (Ctrl-C) or SIGTERM stops every daprd first (so
//! nothing new is delivered; each drains what it is delivering), then every
//! app with one SIGTERM (each drains its own work), killing what still runs
//! after 30 s. Children run through `setpriv --pdeathsig TERM` in process
//! groups of their own: a launcher that is itself killed (SIGKILL) still
//! takes them down, and a terminal's Ctrl-C reaches them only through the
//! launcher, once. A child that exits by itself is reported and the others
//! keep running, as under the CLI.

mod run_file;

use std::{
    path::{Path, PathBuf},
    process::{ExitCode, Stdio},
    time::Duration,
};

use anyhow::Context as _;
use run_file::App;
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, BufReader},
    process::{Child, Command},
    signal::unix::{SignalKind, signal},
};

const USAGE: &str = "usage: launcher -f RUN_FILE [--daprd PATH]";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("launcher: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Vec<String>) -> anyhow::Result<()> {
    let (mut file, mut daprd) = (None, None);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value\n{USAGE}"));
        match arg.as_str() {
            "-f" | "--run-file" => file = Some(PathBuf::from(value()?)),
            "--daprd" => daprd = Some(PathBuf::from(value()?)),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => anyhow::bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    let file = file.with_context(|| format!("no run file given\n{USAGE}"))?;
    let daprd = daprd.map_or_else(default_daprd, Ok)?;
    let apps = run_file::load(&file, free_ports())?;

    // Signals are taken before anything starts, so none is missed.
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut running = Vec::new();
    for app in &apps {
        running.push(start(app, &daprd)?);
    }
    tokio::select! {
        () = await_healthy(&apps) => print_table(&apps),
        () = wait_all(&mut running) => {}
        _ = interrupt.recv() => return stop(&mut running).await,
        _ = terminate.recv() => return stop(&mut running).await,
    }
    tokio::select! {
        () = wait_all(&mut running) => {
            for handle in running.iter_mut().flat_map(|r| r.output.drain(..)) {
                let _ = handle.await;
            }
            println!("every app and sidecar has exited");
            Ok(())
        }
        _ = interrupt.recv() => stop(&mut running).await,
        _ = terminate.recv() => stop(&mut running).await,
    }
}

/// Where the Dapr CLI would find daprd.
fn default_daprd() -> anyhow::Result<PathBuf> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let base = var("DAPR_RUNTIME_PATH").or_else(|| var("HOME")).context("neither DAPR_RUNTIME_PATH nor HOME is set")?;
    Ok(base.join(".dapr/bin/daprd"))
}

/// Ports the run file leaves open, each free when picked and never picked
/// twice. They come from below Linux's ephemeral range (32768–60999 by
/// default), where binding port 0 would pick them: a port in that range can
/// be taken by any outgoing connection's local end (another sidecar's, a
/// Kafka client's) before the daprd meant for it binds it. Each launcher
/// starts at a random place, so launchers side by side rarely collide.
fn free_ports() -> impl FnMut() -> u16 {
    use std::hash::BuildHasher;
    const FIRST: u16 = 20_000;
    const SPAN: u16 = 12_000;
    let start = (std::collections::hash_map::RandomState::new().hash_one(std::process::id()) % u64::from(SPAN)) as u16;
    let mut candidates = (0..SPAN).map(move |i| FIRST + (start + i) % SPAN);
    move || candidates.find(|&port| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()).unwrap_or(0)
}

/// One app's processes.
struct Running {
    app_id: String,
    daprd: Option<Child>,
    app: Option<Child>,
    /// The tasks copying the app's output; they end when it closes.
    output: Vec<tokio::task::JoinHandle<()>>,
}

fn start(app: &App, daprd: &Path) -> anyhow::Result<Running> {
    let logs = app.dir.join(".dapr/logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let log_path = logs.join(format!("{}_daprd.log", app.app_id));
    let log = std::fs::File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
    let mut sidecar = guarded(daprd.as_os_str(), &app.daprd_args(), &app.dir);
    sidecar.stdout(log.try_clone()?).stderr(log);
    // As the CLI: daprd needs a host address, and loopback is the only one
    // that is sure to exist.
    if std::env::var_os("DAPR_HOST_IP").is_none() {
        sidecar.env("DAPR_HOST_IP", "127.0.0.1");
    }
    let sidecar =
        sidecar.spawn().with_context(|| format!("starting daprd ({}) for {}", daprd.display(), app.app_id))?;
    let mut running = Running { app_id: app.app_id.clone(), daprd: Some(sidecar), app: None, output: Vec::new() };
    if let Some(argv) = app.app_argv() {
        let (program, args) = argv.split_first().context("empty command")?;
        let mut command = guarded(program.as_ref(), args, &app.dir);
        command.envs(app.app_env()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().with_context(|| format!("starting {} in {}", app.app_id, app.dir.display()))?;
        if let Some(out) = child.stdout.take() {
            running.output.push(tokio::spawn(prefix_lines(app.app_id.clone(), out)));
        }
        if let Some(err) = child.stderr.take() {
            running.output.push(tokio::spawn(prefix_lines(app.app_id.clone(), err)));
        }
        running.app = Some(child);
    }
    Ok(running)
}

/// `program args…` in `dir`, through `setpriv --pdeathsig TERM`, in a
/// process group of its own, killed if the launcher drops it.
fn guarded(program: &std::ffi::OsStr, args: &[String], dir: &Path) -> Command {
    let mut command = Command::new("setpriv");
    command
        .args(["--pdeathsig", "TERM", "--"])
        .arg(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    command
}

async fn prefix_lines(app_id: String, stream: impl AsyncRead + Unpin) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        println!("[{app_id}] {line}");
    }
}

/// Returns once every sidecar's `/v1.0/healthz` answers 204.
async fn await_healthy(apps: &[App]) {
    let client = reqwest::Client::new();
    for app in apps {
        let url = format!("http://127.0.0.1:{}/v1.0/healthz", app.http_port);
        while !client.get(&url).send().await.is_ok_and(|r| r.status().as_u16() == 204) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Returns once every process has exited, reporting each exit.
async fn wait_all(running: &mut [Running]) {
    let waits = running.iter_mut().flat_map(|r| {
        let app_id = r.app_id.clone();
        [("daprd", r.daprd.as_mut()), ("app", r.app.as_mut())]
            .into_iter()
            .filter_map(move |(what, child)| child.map(|c| (format!("{app_id} {what}"), c)))
    });
    futures::future::join_all(waits.map(|(name, child)| async move {
        match child.wait().await {
            Ok(status) => println!("{name} exited ({status})"),
            Err(e) => println!("{name}: {e}"),
        }
    }))
    .await;
}

/// The sidecars first, then the apps: SIGTERM, then up to 30 s each.
async fn stop(running: &mut [Running]) -> anyhow::Result<()> {
    println!("stopping: sidecars first, then apps");
    let mut failed = Vec::new();
    let phases: [fn(&mut Running) -> Option<&mut Child>; 2] = [|r| r.daprd.as_mut(), |r| r.app.as_mut()];
    for pick in phases {
        let children: Vec<(String, &mut Child)> = running
            .iter_mut()
            .filter_map(|r| {
                let app_id = r.app_id.clone();
                pick(r).map(|child| (app_id, child))
            })
            .collect();
        for (_, child) in &children {
            if let Some(pid) = child.id() {
                // `kill` keeps the launcher free of unsafe FFI for one signal.
                let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
            }
        }
        for (app_id, child) in children {
            match tokio::time::timeout(Duration::from_secs(30), child.wait()).await {
                Ok(Ok(status)) if status.success() => {}
                Ok(Ok(status)) => failed.push(format!("{app_id}: {status}")),
                _ => {
                    let _ = child.kill().await;
                    failed.push(format!("{app_id}: killed after 30 s"));
                }
            }
        }
    }
    // The apps' last words (an error, say) are printed before we exit.
    for handle in running.iter_mut().flat_map(|r| r.output.drain(..)) {
        let _ = handle.await;
    }
    anyhow::ensure!(failed.is_empty(), "not every process stopped cleanly: {}", failed.join(", "));
    println!("every app and sidecar stopped cleanly");
    Ok(())
}

fn print_table(apps: &[App]) {
    println!();
    println!("{:<14} {:<18} {:<18} {:<18} {:<18}", "APP", "APP (gRPC)", "DAPR gRPC", "DAPR HTTP", "METRICS");
    let at = |port: u16| format!("127.0.0.1:{port}");
    for app in apps {
        let app_port = app.app_port.map_or_else(|| "-".to_owned(), at);
        println!(
            "{:<14} {:<18} {:<18} {:<18} {:<18}",
            app.app_id,
            app_port,
            at(app.grpc_port),
            at(app.http_port),
            at(app.metrics_port)
        );
    }
    println!("all {} sidecars are healthy; Ctrl-C stops everything", apps.len());
    println!();
}
