//! A test's own slice of the real Dapr runtime: a [`Mesh`] and the `daprd`
//! [`Sidecar`]s in it.
//!
//! Many tests share one Kafka broker and one scheduler ([`Stack`]) and run
//! at the same time, so each mesh gets a Dapr namespace of its own: every
//! daprd of the mesh runs with `NAMESPACE=<the mesh's>`, and its pub/sub
//! components name `{namespace}` in their consumer group, which makes daprd
//! prefix every topic with the namespace (`t1a2b…-task-events`) and give each
//! app its own consumer group per namespace. The scheduler keeps jobs per
//! namespace too. So a test sees exactly its own events and jobs.
//!
//! The mesh renders its resources from the shipped `components/selfhosted`
//! (what `make dev` runs), changed only where a test must differ:
//! - the broker is the stack's; consumer groups use `{namespace}`;
//! - paths (secrets file, SQLite state, name resolution) point into the
//!   mesh's own directory;
//! - `pubsub-sync` starts new groups at the oldest offset: a test's topics are
//!   new, and a test cannot tell when a new group has joined, so "newest"
//!   would drop events published in that moment;
//! - a test Resiliency replaces the shipped one: constant 20 ms retries,
//!   3 of them (4 attempts, then the dead-letter topic);
//! - apps may be added to the components' scopes and cron schedules changed.
//!
//! [`MeshBuilder::shipped`] changes nothing but the broker, to check the
//! shipped files themselves. Sidecars run in the mesh's directory, where
//! `components` links to the repository's and `data/` is empty, so the
//! shipped relative paths resolve as they do under `make dev`.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use serde_yaml::Value;

use super::{
    process::{Process, free_port, repo_root, tool},
    stack::{Stack, scratch_dir},
};

/// The Resiliency every mesh uses in place of the shipped one.
pub const TEST_RESILIENCY: &str = r"
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata:
  name: tasks-resiliency
spec:
  policies:
    timeouts:
      general: 5s
      publish: 5s
      delivery: 10s
      invoke: 5s
    retries:
      pubsubInbound: { policy: constant, duration: 20ms, maxRetries: 3 }
      outbound: { policy: constant, duration: 100ms, maxRetries: 3 }
      appCall: { policy: constant, duration: 100ms, maxRetries: 3 }
      binding: { policy: constant, duration: 50ms, maxRetries: 2 }
  targets:
    apps:
      task: { timeout: invoke, retry: appCall }
    components:
      pubsub:
        inbound: { timeout: delivery, retry: pubsubInbound }
        outbound: { timeout: publish, retry: outbound }
      pubsub-sync:
        inbound: { timeout: delivery, retry: pubsubInbound }
        outbound: { timeout: publish, retry: outbound }
      statestore:
        outbound: { timeout: general, retry: outbound }
      webhook:
        outbound: { timeout: invoke, retry: binding }
      email:
        outbound: { timeout: invoke, retry: binding }
";

/// How a [`Mesh`] differs from the shipped components.
#[derive(Default)]
pub struct MeshBuilder {
    apps: Vec<String>,
    schedules: BTreeMap<String, String>,
    secrets: BTreeMap<(String, String), String>,
    stack: Option<Stack>,
    shipped: bool,
    otlp: Option<SocketAddr>,
}

impl MeshBuilder {
    /// The shipped resources and configuration as they are, but for the
    /// broker's address.
    pub fn shipped(mut self) -> Self {
        self.shipped = true;
        self
    }

    /// Lets app `id` (say, a test's recording subscriber) use every component.
    pub fn app(mut self, id: &str) -> Self {
        self.apps.push(id.to_owned());
        self
    }

    /// The cron binding `component` fires on `schedule` (e.g. `@every 1s`).
    pub fn schedule(mut self, component: &str, schedule: &str) -> Self {
        self.schedules.insert(component.to_owned(), schedule.to_owned());
        self
    }

    /// Key `key` of secret `name` in the secret store holds `value`.
    pub fn secret(mut self, name: &str, key: &str, value: &str) -> Self {
        self.secrets.insert((name.to_owned(), key.to_owned()), value.to_owned());
        self
    }

    /// Every sidecar exports its spans over OTLP/gRPC to `collector`.
    pub fn otlp(mut self, collector: SocketAddr) -> Self {
        self.otlp = Some(collector);
        self
    }

    /// Uses these Kafka and scheduler instead of the shared ones.
    pub fn stack(mut self, stack: Stack) -> Self {
        self.stack = Some(stack);
        self
    }

    /// Renders the resources into a new directory.
    ///
    /// # Panics
    /// When the shipped components cannot be read or rendered.
    pub async fn build(self) -> Mesh {
        let stack = match self.stack {
            Some(stack) => stack,
            None => Stack::shared_or_private().await,
        };
        let dir = scratch_dir("mesh");
        let namespace = format!("t{}-", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let shipped = repo_root().join("components/selfhosted");
        let resources = dir.join("resources");
        for made in [std::fs::create_dir_all(&resources), std::fs::create_dir_all(dir.join("data"))] {
            made.unwrap_or_else(|e| panic!("cannot create the mesh directory {}: {e}", dir.display()));
        }
        #[cfg(unix)]
        std::os::unix::fs::symlink(repo_root().join("components"), dir.join("components"))
            .unwrap_or_else(|e| panic!("cannot link components into {}: {e}", dir.display()));

        let render =
            Render { stack: &stack, dir: &dir, apps: &self.apps, schedules: &self.schedules, shipped: self.shipped };
        for path in yaml_files(&shipped.join("resources")) {
            let doc: Value = read_yaml(&path);
            let rendered = render.resource(doc);
            let name = path.file_name().map(PathBuf::from).unwrap_or_default();
            write_yaml(&resources.join(name), &rendered);
        }

        let mut secrets: serde_json::Value = serde_json::from_str(&read(&shipped.join("secrets.json")))
            .unwrap_or_else(|e| panic!("components/selfhosted/secrets.json: {e}"));
        for ((name, key), value) in &self.secrets {
            secrets[name][key] = value.clone().into();
        }
        std::fs::write(dir.join("secrets.json"), secrets.to_string())
            .unwrap_or_else(|e| panic!("cannot write secrets.json: {e}"));

        let mut config: Value = read_yaml(&shipped.join("configuration.yaml"));
        if !self.shipped {
            config["spec"]["nameResolution"]["configuration"]["connectionString"] =
                Value::from(dir.join("names.db").display().to_string());
        }
        if let Some(collector) = self.otlp {
            let otel: Value =
                serde_yaml::from_str(&format!("{{endpointAddress: '{collector}', isSecure: false, protocol: grpc}}"))
                    .unwrap_or_else(|e| panic!("the tracing exporter: {e}"));
            config["spec"]["tracing"]["otel"] = otel;
        }
        write_yaml(&dir.join("configuration.yaml"), &config);

        Mesh { namespace, dir, stack }
    }
}

/// Applies a [`MeshBuilder`]'s changes to one shipped resource.
struct Render<'a> {
    stack: &'a Stack,
    dir: &'a Path,
    apps: &'a [String],
    schedules: &'a BTreeMap<String, String>,
    shipped: bool,
}

impl Render<'_> {
    fn resource(&self, mut doc: Value) -> Value {
        if self.shipped {
            return self.with_brokers(doc);
        }
        if doc["kind"] == "Resiliency" {
            return serde_yaml::from_str(TEST_RESILIENCY).unwrap_or_else(|e| panic!("TEST_RESILIENCY: {e}"));
        }
        if doc["kind"] != "Component" {
            return doc;
        }
        let name = doc["metadata"]["name"].as_str().unwrap_or_default().to_owned();
        let kind = doc["spec"]["type"].as_str().unwrap_or_default().to_owned();
        if let Some(items) = doc["spec"]["metadata"].as_sequence_mut() {
            for item in items {
                let key = item["name"].as_str().unwrap_or_default().to_owned();
                let value = item["value"].as_str().unwrap_or_default().to_owned();
                let new = match (kind.as_str(), key.as_str()) {
                    ("pubsub.kafka", "brokers") => Some(self.stack.brokers.clone()),
                    ("pubsub.kafka", "consumerGroup" | "clientID") => Some(value.replace("{appID}", "{namespace}")),
                    ("pubsub.kafka", "initialOffset") => Some("oldest".to_owned()),
                    ("secretstores.local.file", "secretsFile") => Some(self.path("secrets.json")),
                    ("state.sqlite", "connectionString") => Some(format!("file:{}", self.path("state.sqlite"))),
                    ("bindings.cron", "schedule") => self.schedules.get(&name).cloned(),
                    _ => None,
                };
                if let Some(new) = new {
                    item["value"] = Value::from(new);
                }
            }
        }
        if let Some(scopes) = doc["scopes"].as_sequence_mut() {
            scopes.extend(self.apps.iter().map(|a| Value::from(a.as_str())));
        }
        doc
    }

    fn with_brokers(&self, mut doc: Value) -> Value {
        if let Some(items) = doc["spec"]["metadata"].as_sequence_mut() {
            for item in items.iter_mut().filter(|i| i["name"] == "brokers") {
                item["value"] = Value::from(self.stack.brokers.as_str());
            }
        }
        doc
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn read_yaml(path: &Path) -> Value {
    serde_yaml::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn write_yaml(path: &Path, doc: &Value) {
    let text = serde_yaml::to_string(doc).unwrap_or_else(|e| panic!("cannot render {}: {e}", path.display()));
    std::fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// One test's Dapr namespace and resources, on a shared or private stack.
pub struct Mesh {
    namespace: String,
    dir: PathBuf,
    stack: Stack,
}

impl Mesh {
    /// A mesh with the shipped components as they are (but for the changes
    /// every test needs, see the module docs).
    pub async fn new() -> Self {
        Self::builder().build().await
    }

    pub fn builder() -> MeshBuilder {
        MeshBuilder::default()
    }

    /// The Dapr namespace: daprd prefixes every topic with it.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The Kafka topic that apps of this mesh call `topic`.
    pub fn topic(&self, topic: &str) -> String {
        format!("{}{topic}", self.namespace)
    }

    /// `host:port` of the Kafka broker.
    pub fn brokers(&self) -> &str {
        &self.stack.brokers
    }

    /// The mesh's directory (rendered resources, sidecar logs, state).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every record published on `topic` (the apps' name for it).
    pub async fn records(&self, topic: &str) -> Vec<super::kafka::Record> {
        super::kafka::read_topic(self.brokers(), &self.topic(topic)).await
    }

    /// The CloudEvents published on `topic` (the apps' name for it).
    pub async fn cloud_events(&self, topic: &str) -> Vec<serde_json::Value> {
        super::kafka::cloud_events(self.brokers(), &self.topic(topic)).await
    }

    /// A sidecar for app `app_id`, with its ports chosen but not started:
    /// the app can be built with [`Sidecar::endpoint`] first.
    pub fn sidecar(&self, app_id: &str) -> Sidecar {
        Sidecar {
            app_id: app_id.to_owned(),
            grpc_port: free_port(),
            http_port: free_port(),
            metrics_port: None,
            namespace: self.namespace.clone(),
            resources: self.dir.join("resources"),
            config: self.dir.join("configuration.yaml"),
            scheduler: self.stack.scheduler.clone(),
            log: self.dir.join(format!("daprd-{app_id}.log")),
            app: None,
            app_token: None,
            process: None,
        }
    }
}

impl Drop for Mesh {
    fn drop(&mut self) {
        // Kept after a failure: the sidecars' logs are in it.
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A real `daprd` for one app of a mesh.
pub struct Sidecar {
    app_id: String,
    grpc_port: u16,
    http_port: u16,
    metrics_port: Option<u16>,
    namespace: String,
    resources: PathBuf,
    config: PathBuf,
    scheduler: String,
    log: PathBuf,
    app: Option<SocketAddr>,
    /// `APP_API_TOKEN`: sent as `dapr-api-token` on every call to the app.
    app_token: Option<String>,
    process: Option<Process>,
}

impl Sidecar {
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The Dapr gRPC API, as an endpoint URL (what the app is given).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    /// The Dapr HTTP API (health, metadata).
    pub fn http_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// Serve Prometheus metrics on a port of its own (off by default).
    pub fn with_metrics(mut self) -> Self {
        self.metrics_port = Some(free_port());
        self
    }

    /// Send `token` to the app on every call (deliveries, bindings, jobs,
    /// proxied gRPC), as daprd does when its `APP_API_TOKEN` is set (in a
    /// cluster: the `dapr.io/app-token-secret` annotation).
    pub fn with_app_token(mut self, token: &str) -> Self {
        self.app_token = Some(token.to_owned());
        self
    }

    /// `http://127.0.0.1:PORT/metrics`, when metrics are on.
    pub fn metrics_endpoint(&self) -> Option<String> {
        self.metrics_port.map(|p| format!("http://127.0.0.1:{p}/metrics"))
    }

    /// The process id of the running daprd.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().and_then(Process::id)
    }

    /// The daprd log (appended to across restarts).
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Starts daprd for the app listening at `app` (None: a sidecar without
    /// an app, e.g. to publish from a test) and returns once daprd reports
    /// healthy: components loaded, the app reached, subscriptions made.
    ///
    /// # Panics
    /// When daprd exits or is not healthy within 30 s; the message quotes
    /// its log.
    pub async fn start(&mut self, app: Option<SocketAddr>) {
        self.app = app;
        self.launch().await;
    }

    /// Starts daprd again with the same app and ports (after `stop` or `kill`).
    pub async fn restart(&mut self) {
        self.stop().await;
        self.launch().await;
    }

    /// SIGTERM: daprd drains (its graceful shutdown) and exits.
    pub async fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.terminate(Duration::from_secs(15)).await;
        }
    }

    /// SIGKILL: daprd dies at once, mid-delivery if it was delivering.
    pub async fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill().await;
        }
    }

    fn args(&self) -> Vec<String> {
        let mut args: Vec<String> = [
            "--mode",
            "standalone",
            "--app-id",
            &self.app_id,
            "--dapr-grpc-port",
            &self.grpc_port.to_string(),
            "--dapr-http-port",
            &self.http_port.to_string(),
            "--dapr-listen-addresses",
            "127.0.0.1",
            "--dapr-internal-grpc-listen-address",
            "127.0.0.1",
            "--resources-path",
            &self.resources.display().to_string(),
            "--config",
            &self.config.display().to_string(),
            "--scheduler-host-address",
            &self.scheduler,
            "--placement-host-address",
            "",
            "--log-level",
            "info",
            "--dapr-graceful-shutdown-seconds",
            "2",
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        if let Some(app) = self.app {
            args.extend(["--app-port".into(), app.port().to_string(), "--app-protocol".into(), "grpc".into()]);
            args.extend(["--app-channel-address".into(), app.ip().to_string()]);
        }
        match self.metrics_port {
            Some(port) => args.extend(["--metrics-port".into(), port.to_string()]),
            None => args.push("--enable-metrics=false".into()),
        }
        args
    }

    async fn launch(&mut self) {
        let daprd = tool("daprd", "DAPRD", "scripts/install-dapr.sh");
        let mut envs = vec![("NAMESPACE", self.namespace.as_str()), ("DAPR_HOST_IP", "127.0.0.1")];
        if let Some(token) = &self.app_token {
            envs.push(("APP_API_TOKEN", token));
        }
        let mut process = Process::spawn(&format!("daprd {}", self.app_id), &daprd, self.args(), &envs, &self.log);
        let healthz = format!("{}/v1.0/healthz", self.http_endpoint());
        let client = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if client.get(&healthz).send().await.is_ok_and(|r| r.status().as_u16() == 204) {
                break;
            }
            if let Some(status) = process.exited() {
                panic!("daprd for {} exited ({status}) while starting:\n{}", self.app_id, process.log_tail(30));
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "daprd for {} was not healthy within 30 s ({}):\n{}",
                self.app_id,
                self.log.display(),
                process.log_tail(30)
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.process = Some(process);
    }
}
