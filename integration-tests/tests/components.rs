#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The shipped self-hosted components (`components/selfhosted`, what
//! `make dev` runs) load in the real daprd for every app: each app gets
//! exactly the components it is scoped to, and daprd logs no error and no
//! warning that is not explained below. (`components/kind` and
//! `components/production` need a cluster: the Kubernetes secret store and
//! cluster DNS. `make deploy-check` checks them offline.)

use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
    path::Path,
};

use integration_tests::Running;
use shared::{dapr::CallbackRouter, grpc::Host, testing::mesh::Mesh};

const APPS: [&str; 6] = ["task", "recurrence", "reminder", "notification", "audit", "sync-gateway"];

/// Warnings daprd prints on a loopback host with these components, and why
/// each is expected. Anything else fails the test.
const EXPLAINED: &[(&str, &str)] = &[
    ("mTLS is disabled", "no Sentry outside Kubernetes: the configuration leaves mTLS off"),
    ("Actor runtime disabled", "no placement service: the apps use neither actors nor workflows"),
    ("smtp binding warn: User and password are empty", "the development SMTP server takes no login"),
];

/// App id → names of the components scoped to it, read from the files.
fn scoped_components() -> BTreeMap<String, BTreeSet<String>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../components/selfhosted/resources");
    let mut scoped: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let doc: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap()).unwrap();
        if doc["kind"] != "Component" {
            continue;
        }
        let name = doc["metadata"]["name"].as_str().unwrap().to_owned();
        for app in doc["scopes"].as_sequence().expect("every component is scoped") {
            scoped.entry(app.as_str().unwrap().to_owned()).or_default().insert(name.clone());
        }
    }
    scoped
}

/// An app that answers the AppCallback interface with nothing to subscribe to.
async fn empty_app() -> Running {
    let mut host = Host::bind(SocketAddr::from(([127, 0, 0, 1], 0)), &[]).await.unwrap();
    host.serve_callbacks(CallbackRouter::builder().build());
    let addr = host.addr();
    Running::spawn(addr, move |stop| async move {
        host.run_until(stop, std::time::Duration::from_secs(5)).await.map_err(anyhow::Error::from)
    })
}

fn unexplained(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| ["level=warning", "level=error", "level=fatal"].iter().any(|level| l.contains(level)))
        .filter(|l| !EXPLAINED.iter().any(|(text, _why)| l.contains(text)))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_self_hosted_components_load_for_every_app_without_an_unexplained_warning() {
    let mesh = Mesh::builder().shipped().build().await;
    let scoped = scoped_components();
    let http = reqwest::Client::new();
    for app_id in APPS {
        let app = empty_app().await;
        let mut sidecar = mesh.sidecar(app_id);
        sidecar.start(Some(app.addr)).await;
        let metadata: serde_json::Value =
            http.get(format!("{}/v1.0/metadata", sidecar.http_endpoint())).send().await.unwrap().json().await.unwrap();
        let loaded: BTreeSet<String> =
            metadata["components"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect();
        assert_eq!(loaded, scoped[app_id], "{app_id} loads exactly its components");
        sidecar.stop().await;
        app.stop().await;
        let log = std::fs::read_to_string(sidecar.log()).unwrap();
        let problems = unexplained(&log);
        assert!(problems.is_empty(), "{app_id}'s daprd:\n{}", problems.join("\n"));
        assert!(log.contains("dapr initialized. Status: Running"), "{app_id}'s daprd started:\n{log}");
    }
}
