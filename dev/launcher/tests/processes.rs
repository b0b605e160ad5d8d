#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The launcher with a real daprd and a real app process (Python's HTTP
//! server, which holds a port like any app): SIGTERM stops both cleanly, and
//! a launcher killed outright takes them with it, leaving no port held.

use std::{
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn open(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok()
}

fn wait_for(what: &str, timeout: Duration, check: impl Fn() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn daprd() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/bin/daprd");
    assert!(path.exists(), "daprd is not installed: run scripts/install-dapr.sh (make test does)");
    path
}

/// An HTTP server that exits 0 on SIGTERM, as a well-behaved app does.
const SERVER: &str = "import http.server, signal, sys; \
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0)); \
    http.server.HTTPServer(('127.0.0.1', PORT), http.server.BaseHTTPRequestHandler).serve_forever()";

struct Launched {
    child: Child,
    ports: [u16; 3],
    dir: tempfile::TempDir,
}

/// The launcher running one app (an HTTP server on `app_port`) behind daprd.
fn launch() -> Launched {
    let dir = tempfile::tempdir().unwrap();
    let resources = dir.path().join("resources");
    std::fs::create_dir_all(&resources).unwrap();
    let [app, grpc, http] = [free_port(), free_port(), free_port()];
    let file = dir.path().join("dapr.yaml");
    std::fs::write(
        &file,
        format!(
            r#"version: 1
common:
  resourcesPath: resources
  placementHostAddress: ""
  schedulerHostAddress: 127.0.0.1:{dead}
apps:
  - appID: web
    appDirPath: .
    appPort: {app}
    daprGRPCPort: {grpc}
    daprHTTPPort: {http}
    command: ["python3", "-c", "{server}"]
"#,
            dead = free_port(),
            server = SERVER.replace("PORT", &app.to_string()),
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_launcher"))
        .args(["-f", file.to_str().unwrap(), "--daprd", daprd().to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let launched = Launched { child, ports: [app, grpc, http], dir };
    wait_for("the app and its sidecar", Duration::from_secs(30), || launched.ports.iter().all(|p| open(*p)));
    launched
}

#[test]
fn sigterm_stops_the_sidecar_and_the_app_cleanly() {
    let mut launched = launch();
    let pid = launched.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = launched.child.wait().unwrap();
    assert!(status.success(), "the launcher reports a clean stop: {status}");
    for port in launched.ports {
        assert!(!open(port), "port {port} is free after the stop");
    }
    assert!(launched.dir.path().join(".dapr/logs/web_daprd.log").exists(), "daprd logged where the CLI would");
}

#[test]
fn a_killed_launcher_leaves_no_process_holding_a_port() {
    let mut launched = launch();
    launched.child.kill().unwrap();
    launched.child.wait().unwrap();
    wait_for("every port to be released", Duration::from_secs(20), || launched.ports.iter().all(|p| !open(*p)));
}
