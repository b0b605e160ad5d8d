//! What the people who run the system see: a real Prometheus scraping the
//! six service binaries and their daprds, evaluating the shipped alerts and
//! dashboard queries on what they export; and one trace, followed from the
//! gRPC call through the outbox, daprd and Kafka into every consumer,
//! collected by an OTLP receiver.
//!
//! The services run as their own processes (`integration_tests::binaries`),
//! configured by environment variables as in a pod, so each has its own
//! `/metrics` and its own OpenTelemetry service name.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::BTreeSet,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use integration_tests::{Mesh, as_user, binaries::System, eventually, task_client};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
    trace_service_server::{TraceService, TraceServiceServer},
};
use serde_json::Value;
use shared::{
    proto::todo::task::v1 as pb,
    testing::process::{Process, free_port, repo_root, tool},
};

const PATIENCE: Duration = Duration::from_secs(45);

// -- Prometheus ---------------------------------------------------------------

/// A real Prometheus server scraping `system` every second, with the
/// shipped alert rules loaded.
struct Prometheus {
    url: String,
    http: reqwest::Client,
    _process: Process,
}

impl Prometheus {
    async fn start(system: &System) -> Self {
        let binary = tool("prometheus", "PROMETHEUS", "scripts/install-tools.sh prometheus");
        let dir = system.mesh.dir().join("prometheus");
        std::fs::create_dir_all(&dir).unwrap();
        let mut jobs = String::new();
        for service in &system.services {
            let daprd = service.sidecar.metrics_endpoint().expect("sidecars run with metrics on");
            let daprd = daprd.trim_start_matches("http://").trim_end_matches("/metrics");
            // The labels the chart's PodMonitor gives (app.kubernetes.io/*).
            for (job, target) in [
                (service.id.to_owned(), service.metrics.to_string()),
                (format!("{}-daprd", service.id), daprd.to_owned()),
            ] {
                jobs.push_str(&format!(
                    "  - job_name: {job}\n    static_configs:\n      - targets: ['{target}']\n        labels: {{app_kubernetes_io_part_of: tasks, app_kubernetes_io_name: {}}}\n",
                    service.id
                ));
            }
        }
        let alerts = repo_root().join("helm/tasks/monitoring/alerts.yaml");
        let config = format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: ['{}']\nscrape_configs:\n{jobs}",
            alerts.display()
        );
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let port = free_port();
        let args = [
            format!("--config.file={}", dir.join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ];
        let process = Process::spawn("prometheus", &binary, &args, &[], &dir.join("prometheus.log"));
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        eventually("Prometheus ready", PATIENCE, || {
            let (http, url) = (http.clone(), url.clone());
            async move { http.get(format!("{url}/-/ready")).send().await.ok().filter(|r| r.status().is_success()) }
        })
        .await;
        Self { url, http, _process: process }
    }

    /// The samples of the instant query `promql`: (labels, value).
    async fn query(&self, promql: &str) -> Vec<(Value, f64)> {
        let url = format!("{}/api/v1/query?query={}", self.url, percent_encode(promql));
        let body: Value = self.http.get(url).send().await.unwrap().json().await.unwrap();
        assert_eq!(body["status"], "success", "{promql}: {body}");
        body["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|sample| (sample["metric"].clone(), sample["value"][1].as_str().unwrap().parse().unwrap()))
            .collect()
    }

    /// Waits until `promql` has a sample whose value satisfies `ok`, and
    /// returns that value.
    /// On timeout it shows every series of the names the query reads.
    async fn until(&self, promql: &str, ok: impl Fn(f64) -> bool) -> f64 {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(value) = self.query(promql).await.into_iter().map(|(_, v)| v).find(|v| ok(*v)) {
                return value;
            }
            if tokio::time::Instant::now() >= deadline {
                let mut seen = Vec::new();
                for name in series_in(promql) {
                    seen.extend(self.query(&name).await);
                }
                panic!("timed out after {PATIENCE:?} waiting for `{promql}`; the series it reads: {seen:#?}");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The names of every series Prometheus holds.
    async fn series_names(&self) -> BTreeSet<String> {
        let body: Value = self
            .http
            .get(format!("{}/api/v1/label/__name__/values", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["data"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_owned()).collect()
    }

    /// The alerts now firing, by name.
    async fn firing(&self) -> BTreeSet<String> {
        let body: Value =
            self.http.get(format!("{}/api/v1/alerts", self.url)).send().await.unwrap().json().await.unwrap();
        body["data"]["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["state"] == "firing")
            .map(|a| a["labels"]["alertname"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// RFC 3986 percent-encoding of everything but the unreserved characters.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The series names (`tasks_…`, `grpc_server_…`, `dapr_…`, `kafka_…`,
/// `process_…`) that a PromQL expression reads: the words with those
/// prefixes that are not label names (in a `by (…)` list or before `=`).
fn series_in(promql: &str) -> Vec<String> {
    let prefixes = ["tasks_", "grpc_server_", "dapr_", "kafka_", "process_"];
    let mut names = Vec::new();
    let (mut word, mut in_grouping, mut previous) = (String::new(), false, String::new());
    let mut chars = promql.chars().chain(std::iter::once(' ')).peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            let mut rest = chars.clone().skip_while(|c| c.is_whitespace());
            let before_operator = c == '=' || c == '!' || (c.is_whitespace() && matches!(rest.next(), Some('=' | '!')));
            if !in_grouping && !before_operator && prefixes.iter().any(|p| word.starts_with(p)) {
                names.push(word.clone());
            }
            previous = std::mem::take(&mut word);
        }
        match c {
            '(' if matches!(previous.as_str(), "by" | "without" | "on" | "ignoring" | "group_left" | "group_right") => {
                in_grouping = true;
            }
            ')' => in_grouping = false,
            c if !c.is_whitespace() => previous.clear(),
            _ => {}
        }
    }
    names
}

#[test]
fn series_in_reads_series_not_labels() {
    let promql = r#"sum by (app_id, process_status) (rate(dapr_component_pubsub_ingress_count{process_status = "x"}[5m])) / tasks_a_total"#;
    assert_eq!(series_in(promql), ["dapr_component_pubsub_ingress_count", "tasks_a_total"]);
}

/// A task with a reminder `in` from now.
fn reminded(title: &str, r#in: Duration) -> pb::CreateTaskRequest {
    pb::CreateTaskRequest {
        task: Some(pb::Task {
            title: title.into(),
            reminders: vec![pb::Reminder {
                id: String::new(),
                trigger: Some(pb::reminder::Trigger::AbsoluteTime(prost_types::Timestamp::from(
                    SystemTime::now() + r#in,
                ))),
            }],
            ..Default::default()
        }),
        request_id: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_every_service_and_sidecar_and_the_shipped_alerts_and_dashboards_read_real_series() {
    shared::telemetry::init_for_tests();
    let system = System::start(Mesh::builder().build().await, None).await;
    let prometheus = Prometheus::start(&system).await;

    // Every service and every daprd is up: 12 targets.
    prometheus.until("count(up == 1)", |n| n == 12.0).await;

    // A call shows in the gRPC metrics of the service that served it.
    let handled = r#"sum(grpc_server_handled_total{job="task",grpc_method="CreateTask",grpc_code="OK"})"#;
    assert!(prometheus.query(handled).await.iter().all(|(_, v)| *v == 0.0), "no call made yet");
    let mut tasks = task_client(system.service("task").addr).await;
    tasks.create_task(as_user("ops", reminded("Renew the certificate", Duration::from_secs(2)))).await.unwrap();
    prometheus.until(handled, |n| n == 1.0).await;
    prometheus
        .until(r#"sum(grpc_server_handling_seconds_count{job="task",grpc_method="CreateTask"})"#, |n| n == 1.0)
        .await;
    // A refused call counts under its code.
    let bad = tasks.create_task(as_user("ops", integration_tests::titled(""))).await.unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    prometheus.until(r#"sum(grpc_server_handled_total{job="task",grpc_code="InvalidArgument"})"#, |n| n == 1.0).await;

    // The event path: published by the relay, through daprd, handled by
    // each consumer; the reminder fired and delivered.
    prometheus.until(r#"sum(tasks_outbox_published_total{job="task"})"#, |n| n >= 1.0).await;
    prometheus.until(r#"max(tasks_outbox_backlog{job="task"})"#, |n| n == 0.0).await;
    prometheus.until(r#"sum(dapr_component_pubsub_egress_count{job="task-daprd",success="true"})"#, |n| n >= 1.0).await;
    prometheus
        .until(r#"sum(dapr_component_pubsub_ingress_count{job="audit-daprd",process_status="success"})"#, |n| n >= 1.0)
        .await;
    for consumer in ["audit", "recurrence", "reminder", "notification", "sync-gateway"] {
        let query = format!(r#"sum(tasks_events_handled_total{{job="{consumer}",outcome="success"}})"#);
        prometheus.until(&query, |n| n >= 1.0).await;
    }
    prometheus.until(r#"sum(tasks_reminders_scheduled_total{job="reminder"})"#, |n| n == 1.0).await;
    prometheus.until(r#"sum(tasks_reminders_fired_total{job="reminder"})"#, |n| n == 1.0).await;
    prometheus.until(r#"sum(tasks_reminder_lag_seconds_count{job="reminder"})"#, |n| n == 1.0).await;
    prometheus
        .until(r#"sum(tasks_notification_deliveries_total{job="notification",outcome="succeeded"})"#, |n| n >= 1.0)
        .await;
    prometheus.until(r#"min(process_resident_memory_bytes{job="task"})"#, |n| n > 1e6).await;

    // Nothing is wrong yet, so no alert fires.
    assert_eq!(prometheus.firing().await, BTreeSet::new());

    // A poison message on task-events: the audit consumer drops it, daprd
    // dead-letters it, and the dead-letter alert fires.
    let published = reqwest::Client::new()
        .post(format!("{}/v1.0/publish/pubsub/task-events", system.service("task").sidecar.http_endpoint()))
        .header("content-type", "application/json")
        .body(r#"{"not": "a task event"}"#)
        .send()
        .await
        .unwrap();
    assert!(published.status().is_success(), "{}", published.text().await.unwrap());
    prometheus.until(r#"sum(tasks_events_dead_lettered_total{job="audit"})"#, |n| n == 1.0).await;
    eventually("TasksDeadLetterGrowth firing", PATIENCE, || async {
        prometheus.firing().await.contains("TasksDeadLetterGrowth").then_some(())
    })
    .await;

    // Every series an alert or a dashboard reads is one the system exports,
    // but for the Kafka exporter's (a separate component, not run here).
    let exported = prometheus.series_names().await;
    let not_here = ["kafka_consumergroup_lag"];
    let mut queries: Vec<String> = Vec::new();
    let alerts: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(repo_root().join("helm/tasks/monitoring/alerts.yaml")).unwrap())
            .unwrap();
    for rule in alerts["groups"][0]["rules"].as_sequence().unwrap() {
        queries.push(rule["expr"].as_str().unwrap().to_owned());
    }
    for board in std::fs::read_dir(repo_root().join("helm/tasks/monitoring/dashboards")).unwrap() {
        let board: Value = serde_json::from_slice(&std::fs::read(board.unwrap().path()).unwrap()).unwrap();
        for panel in board["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                queries.push(target["expr"].as_str().unwrap().to_owned());
            }
        }
    }
    let read: BTreeSet<String> = queries.iter().flat_map(|q| series_in(q)).collect();
    assert!(read.len() > 20, "the alerts and dashboards read {read:?}");
    let missing: Vec<&String> =
        read.iter().filter(|n| !exported.contains(*n) && !not_here.contains(&n.as_str())).collect();
    assert!(missing.is_empty(), "read by alerts or dashboards but exported by nothing: {missing:?}");

    system.shutdown().await;
}

// -- Traces --------------------------------------------------------------------

/// One span as an OTLP receiver sees it.
#[derive(Debug, Clone)]
struct Span {
    service: String,
    scope: String,
    name: String,
    trace_id: Vec<u8>,
}

/// An OTLP/gRPC trace receiver keeping every span it is sent.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Span>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().unwrap();
        for resource in request.into_inner().resource_spans {
            let service = resource
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|a| a.key == "service.name")
                .and_then(|a| a.value.as_ref())
                .and_then(|v| match &v.value {
                    Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s)) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for scope_spans in resource.scope_spans {
                let scope = scope_spans.scope.map(|s| s.name).unwrap_or_default();
                for span in scope_spans.spans {
                    spans.push(Span {
                        service: service.clone(),
                        scope: scope.clone(),
                        name: span.name,
                        trace_id: span.trace_id,
                    });
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

impl Collector {
    async fn start(self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(self))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
        tokio::spawn(server);
        addr
    }

    fn in_trace(&self, trace_id: &[u8]) -> Vec<Span> {
        self.spans.lock().unwrap().iter().filter(|s| s.trace_id == trace_id).cloned().collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_follows_a_change_from_the_call_through_daprd_and_kafka_into_every_consumer() {
    shared::telemetry::init_for_tests();
    let collector = Collector::default();
    let otlp = collector.clone().start().await;
    let system = System::start(Mesh::builder().otlp(otlp).build().await, Some(otlp)).await;

    // The caller starts the trace (W3C traceparent, sampled).
    let trace_id: [u8; 16] = rand_bytes();
    let traceparent = format!("00-{}-00f067aa0ba902b7-01", hex(&trace_id));
    let mut request = as_user("traced", reminded("Trace me", Duration::from_secs(2)));
    request.metadata_mut().insert("traceparent", traceparent.parse().unwrap());
    let mut tasks = task_client(system.service("task").addr).await;
    tasks.create_task(request).await.unwrap();

    // Every service, and every service's daprd (its spans are the
    // `dapr-diagnostics` scope's, under the app's id), reports spans of
    // this one trace.
    const DAPRD: &str = "dapr-diagnostics";
    let consumers = ["audit", "recurrence", "reminder", "notification", "sync-gateway"];
    let has = |spans: &[Span], service: &str, scope_is_daprd: bool, name: &dyn Fn(&str) -> bool| {
        spans.iter().any(|s| s.service == service && (s.scope == DAPRD) == scope_is_daprd && name(&s.name))
    };
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let spans = loop {
        let spans = collector.in_trace(&trace_id);
        let complete = has(&spans, "task", true, &|n| n.ends_with("Dapr/PublishEvent"))
            && consumers.iter().all(|c| has(&spans, c, false, &|n| n == "event") && has(&spans, c, true, &|_| true));
        if complete {
            break spans;
        }
        let seen: BTreeSet<(String, String, String)> =
            spans.into_iter().map(|s| (s.service, s.scope, s.name)).collect();
        assert!(tokio::time::Instant::now() < deadline, "not every service and sidecar reported the trace: {seen:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // The call, the relay publishing the change it made and the task's
    // daprd taking it (`…/Dapr/PublishEvent`), in the caller's trace.
    assert!(has(&spans, "task", false, &|n| n == "todo.task.v1.TaskService/CreateTask"), "{spans:#?}");
    assert!(has(&spans, "task", false, &|n| n == "publish"), "{spans:#?}");
    // Each consumer's daprd delivering from the topic, the consumer's
    // callback and its handling of the event.
    for consumer in consumers {
        assert!(has(&spans, consumer, true, &|n| n == "pubsub/task-events"), "{consumer}: {spans:#?}");
        assert!(
            has(&spans, consumer, false, &|n| n == "dapr.proto.runtime.v1.AppCallback/OnTopicEvent"),
            "{consumer}: {spans:#?}"
        );
    }

    // Every service's JSON log has lines carrying the trace id: the caller's
    // request in the task service, daprd's delivery in each consumer (a
    // line's own field, or the one added to lines written inside a span).
    for service in &system.services {
        let log = std::fs::read_to_string(&service.log).unwrap();
        let lines: Vec<Value> = log
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{}: not JSON ({e}): {line}", service.id)))
            .collect();
        let traced = lines
            .iter()
            .filter(|l| l["fields"]["trace_id"] == hex(&trace_id) || l["trace_id"] == hex(&trace_id))
            .count();
        assert!(traced > 0, "{}: no log line with the trace id:\n{log}", service.id);
    }

    system.shutdown().await;
}

fn rand_bytes() -> [u8; 16] {
    *uuid::Uuid::new_v4().as_bytes()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// -- The app token ------------------------------------------------------------

/// `message` as a caller sends it with `token` as `dapr-api-token` (None: none).
fn with_app_token<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(token) = token {
        request.metadata_mut().insert("dapr-api-token", token.parse().unwrap());
    }
    request
}

/// A pod that can reach an app's port is not its sidecar: with the app
/// token configured (as the chart configures it), each app refuses
/// callbacks and the task app its internal API from anyone without it,
/// while the real daprd sends it on every delivery and proxied call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_caller_with_the_app_token_reaches_callbacks_and_the_internal_api_and_daprd_sends_it() {
    use dapr::dapr::proto::runtime::v1::{TopicEventRequest, app_callback_client::AppCallbackClient};
    use pb::task_internal_service_client::TaskInternalServiceClient;

    shared::telemetry::init_for_tests();
    let system = System::start(Mesh::builder().build().await, None).await;
    let guess = Some("a-guess");

    // A delivery straight to each app, past its sidecar: refused. (The
    // deliveries from daprd succeed: the other tests here count them.)
    for service in &system.services {
        let mut callbacks = AppCallbackClient::connect(format!("http://{}", service.addr)).await.unwrap();
        for token in [None, guess] {
            let forged = TopicEventRequest {
                id: "forged".into(),
                pubsub_name: "pubsub".into(),
                topic: "task-events".into(),
                ..Default::default()
            };
            let refused = callbacks.on_topic_event(with_app_token(forged, token)).await.unwrap_err();
            assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{} with token {token:?}", service.id);
        }
    }

    // A made-up occurrence straight to the task app: refused, nothing made.
    let task = system.service("task");
    let mut tasks = task_client(task.addr).await;
    let first = tasks
        .create_task(as_user(
            "token",
            pb::CreateTaskRequest {
                task: Some(pb::Task {
                    title: "Water the plants".into(),
                    due: Some(pb::Due { value: Some(pb::due::Value::Date("2030-03-30".into())) }),
                    recurrence: Some(pb::RecurrenceRule {
                        frequency: pb::recurrence_rule::Frequency::Daily as i32,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let mut internal = TaskInternalServiceClient::connect(format!("http://{}", task.addr)).await.unwrap();
    let forged = || pb::CreateOccurrenceRequest {
        user_id: "token".into(),
        task: Some(pb::Task { title: "forged".into(), ..Default::default() }),
        series_id: first.name.trim_start_matches("tasks/").to_owned(),
        occurrence_index: 7,
    };
    for token in [None, guess] {
        let refused = internal.create_occurrence(with_app_token(forged(), token)).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unauthenticated, "token {token:?}");
    }

    // Completing the task: the recurrence service asks for the next one
    // through its daprd, which proxies to the task's daprd, which adds the
    // token toward the task app.
    tasks
        .complete_task(as_user("token", pb::CompleteTaskRequest { name: first.name.clone(), etag: first.etag }))
        .await
        .unwrap();
    let listed = eventually("the next instance, created through the sidecars", PATIENCE, || {
        let mut tasks = tasks.clone();
        async move {
            let request = pb::ListTasksRequest { page_size: 10, ..Default::default() };
            let listed = tasks.list_tasks(as_user("token", request)).await.unwrap().into_inner().tasks;
            (listed.len() > 1).then_some(listed)
        }
    })
    .await;
    let titles: BTreeSet<&str> = listed.iter().map(|t| t.title.as_str()).collect();
    assert_eq!(titles, BTreeSet::from(["Water the plants"]), "the forged occurrence was not made: {listed:#?}");
    let next = listed.iter().find(|t| t.name != first.name).unwrap();
    assert_eq!(next.occurrence_index, 1);

    system.shutdown().await;
}
