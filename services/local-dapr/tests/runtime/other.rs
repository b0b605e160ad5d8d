//! State, jobs, bindings, invocation, proxying, tokens, secrets and metadata.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use dapr::dapr::proto::{
    common::v1::{
        Etag, InvokeRequest, JobFailurePolicy, JobFailurePolicyConstant, StateItem, StateOptions,
        job_failure_policy::Policy,
    },
    runtime::v1::{
        DeleteStateRequest, ExecuteStateTransactionRequest, GetJobRequest, GetMetadataRequest, GetSecretRequest,
        GetStateRequest, InvokeBindingRequest, InvokeServiceRequest, Job, SaveStateRequest, ScheduleJobRequest,
        TransactionalStateOperation,
    },
};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
};
use tonic::{Code, Status};

use crate::helpers::*;

fn item(key: &str, value: &str, etag: Option<&str>) -> StateItem {
    StateItem {
        key: key.into(),
        value: value.as_bytes().to_vec(),
        etag: etag.map(|e| Etag { value: e.into() }),
        ..Default::default()
    }
}

/// Save, get, ETag mismatch (ABORTED), first-write, delete and transactions.
#[tokio::test]
async fn state_save_get_etags_and_transactions() {
    let app = TestApp::start(Recorder::new(vec![])).await;
    let h = Harness::start(vec![Attach::new("a", app.addr)], PUBSUB_YAML, &temp_db(), fast_policy()).await;
    let mut c = h.client("a").await;
    let get = |key: &str| GetStateRequest { store_name: "statestore".into(), key: key.into(), ..Default::default() };
    let save = |items: Vec<StateItem>| SaveStateRequest { store_name: "statestore".into(), states: items };

    c.save_state(save(vec![item("k", "v1", None)])).await.unwrap();
    let got = c.get_state(get("k")).await.unwrap().into_inner();
    assert_eq!((got.data.as_slice(), got.etag.as_str()), (&b"v1"[..], "1"));

    c.save_state(save(vec![item("k", "v2", Some("1"))])).await.unwrap();
    let err = c.save_state(save(vec![item("k", "v3", Some("1"))])).await.unwrap_err();
    assert_eq!(err.code(), Code::Aborted, "stale etag");
    let err = c.save_state(save(vec![item("k", "v3", Some("not-a-number"))])).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(c.get_state(get("k")).await.unwrap().into_inner().data, b"v2");

    let mut first = item("k", "v4", None);
    first.options = Some(StateOptions { concurrency: 1, consistency: 0 });
    assert_eq!(c.save_state(save(vec![first])).await.unwrap_err().code(), Code::Aborted, "first-write on existing key");

    let missing = c.get_state(get("missing")).await.unwrap().into_inner();
    assert!(missing.data.is_empty() && missing.etag.is_empty());

    // A transaction is all or nothing.
    let op =
        |kind: &str, item: StateItem| TransactionalStateOperation { operation_type: kind.into(), request: Some(item) };
    let tx = |ops| ExecuteStateTransactionRequest {
        store_name: "statestore".into(),
        operations: ops,
        metadata: Default::default(),
    };
    let err = c
        .execute_state_transaction(tx(vec![
            op("upsert", item("t1", "x", None)),
            op("delete", item("k", "", Some("99"))),
        ]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    assert!(c.get_state(get("t1")).await.unwrap().into_inner().data.is_empty(), "rolled back");
    c.execute_state_transaction(tx(vec![op("upsert", item("t1", "x", None)), op("delete", item("k", "", Some("2")))]))
        .await
        .unwrap();
    assert_eq!(c.get_state(get("t1")).await.unwrap().into_inner().data, b"x");
    assert!(c.get_state(get("k")).await.unwrap().into_inner().data.is_empty());

    let err = c
        .delete_state(DeleteStateRequest { store_name: "nope".into(), key: "k".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "unknown store");
    h.runtime.shutdown().await;
}

fn job(name: &str, due: &str) -> ScheduleJobRequest {
    ScheduleJobRequest {
        job: Some(Job {
            name: name.into(),
            due_time: Some(due.into()),
            data: Some(prost_types::Any {
                type_url: "type.googleapis.com/google.protobuf.StringValue".into(),
                value: b"\n\x02hi".to_vec(),
            }),
            ..Default::default()
        }),
        overwrite: false,
    }
}

/// A one-shot job fires once at its due time with daprd's request shape.
#[tokio::test]
async fn a_due_time_job_fires_once_never_early() {
    let app = TestApp::start(Recorder::new(vec![])).await;
    let h = Harness::start(vec![Attach::new("a", app.addr)], PUBSUB_YAML, &temp_db(), fast_policy()).await;
    let mut c = h.client("a").await;
    let scheduled = tokio::time::Instant::now();
    c.schedule_job(job("remind", "1s")).await.unwrap();
    assert_eq!(c.schedule_job(job("remind", "1s")).await.unwrap_err().code(), Code::AlreadyExists);
    let got = c.get_job(GetJobRequest { name: "remind".into() }).await.unwrap().into_inner().job.unwrap();
    assert_eq!(got.due_time.as_deref(), Some("1s"));

    eventually(5, "job fired", || async { app.rec.jobs.lock().unwrap().len() == 1 }).await;
    assert!(scheduled.elapsed() >= Duration::from_millis(950), "never before the due time");
    let fired = app.rec.jobs.lock().unwrap()[0].clone();
    assert_eq!((fired.name.as_str(), fired.method.as_str()), ("remind", "job/remind"));
    assert_eq!(fired.content_type, "type.googleapis.com/google.protobuf.StringValue");
    assert_eq!(fired.data.unwrap().value, b"\n\x02hi");
    assert_eq!(fired.http_extension.unwrap().verb, 3, "POST");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.rec.jobs.lock().unwrap().len(), 1, "fired once");
    let err = c.get_job(GetJobRequest { name: "remind".into() }).await.unwrap_err();
    assert_eq!(err.code(), Code::Internal, "daprd wraps the scheduler's not-found");
    h.runtime.shutdown().await;
}

/// NOT_FOUND counts as delivered; other errors follow the failure policy.
#[tokio::test]
async fn job_not_found_counts_as_delivered_and_failures_are_retried_per_policy() {
    let app = TestApp::start(Recorder::new(vec![])).await;
    app.rec.on_job(|j| match j.name.as_str() {
        "gone" => Err(Status::not_found("no handler")),
        _ => Err(Status::internal("boom")),
    });
    let h = Harness::start(vec![Attach::new("a", app.addr)], PUBSUB_YAML, &temp_db(), fast_policy()).await;
    let mut c = h.client("a").await;
    c.schedule_job(job("gone", "0s")).await.unwrap();
    let mut failing = job("failing", "0s");
    failing.job.as_mut().unwrap().failure_policy = Some(JobFailurePolicy {
        policy: Some(Policy::Constant(JobFailurePolicyConstant {
            interval: Some(prost_types::Duration { seconds: 0, nanos: 100_000_000 }),
            max_retries: Some(2),
        })),
    });
    c.schedule_job(failing).await.unwrap();
    eventually(5, "failing job tried 3 times", || async {
        app.rec.jobs.lock().unwrap().iter().filter(|j| j.name == "failing").count() == 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let jobs = app.rec.jobs.lock().unwrap().clone();
    assert_eq!(jobs.iter().filter(|j| j.name == "failing").count(), 3, "1 attempt + 2 retries");
    assert_eq!(jobs.iter().filter(|j| j.name == "gone").count(), 1, "NotFound is not retried");
    h.runtime.shutdown().await;
}

/// Jobs are stored: one scheduled before a restart fires after it.
#[tokio::test]
async fn jobs_persist_across_a_runtime_restart() {
    let app = TestApp::start(Recorder::new(vec![])).await;
    let db = temp_db();
    let h = Harness::start(vec![Attach::new("a", app.addr)], PUBSUB_YAML, &db, fast_policy()).await;
    h.client("a").await.schedule_job(job("later", "1s")).await.unwrap();
    h.runtime.shutdown().await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(app.rec.jobs.lock().unwrap().is_empty());
    let h = Harness::start(vec![Attach::new("a", app.addr)], PUBSUB_YAML, &db, fast_policy()).await;
    eventually(5, "job fired after restart", || async { app.rec.jobs.lock().unwrap().len() == 1 }).await;
    h.runtime.shutdown().await;
}

/// A cron binding with `direction: input` fires without being listed.
#[tokio::test]
async fn cron_binding_fires_every_second() {
    let yaml = format!(
        "{PUBSUB_YAML}
---
kind: Component
metadata: {{ name: sweep }}
spec:
  type: bindings.cron
  version: v1
  metadata:
    - {{ name: schedule, value: '@every 1s' }}
    - {{ name: direction, value: input }}
"
    );
    let app = TestApp::start(Recorder::new(vec![])).await;
    let h = Harness::start(vec![Attach::new("a", app.addr)], &yaml, &temp_db(), fast_policy()).await;
    eventually(5, "two cron firings", || async { app.rec.bindings.lock().unwrap().len() >= 2 }).await;
    let event = app.rec.bindings.lock().unwrap()[0].clone();
    assert_eq!(event.name, "sweep");
    assert!(event.data.is_empty());
    assert!(event.metadata.contains_key("readTimeUTC") && event.metadata.contains_key("timeZone"));
    h.runtime.shutdown().await;
}

/// A one-request HTTP server: records the request head and body, answers `status`.
async fn http_responder(status: u16) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let mut reader = BufReader::new(stream);
            let mut head = String::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).await.unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                head.push_str(&line);
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).await.unwrap();
            log.lock().unwrap().push(format!("{head}\n{}", String::from_utf8_lossy(&body)));
            let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 4\r\nconnection: close\r\n\r\npong");
            reader.into_inner().write_all(reply.as_bytes()).await.unwrap();
        }
    });
    (url, seen)
}

/// `bindings.http` POSTs (`create`) to url + path and returns the body.
#[tokio::test]
async fn http_output_binding_posts_and_reports_errors() {
    let (url, seen) = http_responder(200).await;
    let (bad_url, _) = http_responder(503).await;
    let yaml = format!(
        "{PUBSUB_YAML}
---
kind: Component
metadata: {{ name: webhook }}
spec: {{ type: bindings.http, version: v1, metadata: [ {{ name: url, value: '{url}' }} ] }}
---
kind: Component
metadata: {{ name: broken }}
spec: {{ type: bindings.http, version: v1, metadata: [ {{ name: url, value: '{bad_url}' }} ] }}
"
    );
    let app = TestApp::start(Recorder::new(vec![])).await;
    let h = Harness::start(vec![Attach::new("a", app.addr)], &yaml, &temp_db(), fast_policy()).await;
    let mut c = h.client("a").await;
    let call = |name: &str| InvokeBindingRequest {
        name: name.into(),
        data: b"{\"hello\":1}".to_vec(),
        metadata: [("path".to_owned(), "/hooks/1".to_owned()), ("x-trace".to_owned(), "t".to_owned())].into(),
        operation: "create".into(),
    };
    let response = c.invoke_binding(call("webhook")).await.unwrap().into_inner();
    assert_eq!(response.data, b"pong");
    assert_eq!(response.metadata["statusCode"], "200");
    let request = seen.lock().unwrap()[0].clone();
    assert!(request.starts_with("POST /hooks/1 HTTP/1.1"), "{request}");
    assert!(request.contains("x-trace: t") && request.ends_with("{\"hello\":1}"), "{request}");
    assert_eq!(c.invoke_binding(call("broken")).await.unwrap_err().code(), Code::Internal);
    h.runtime.shutdown().await;
}

/// A minimal SMTP server: accepts one mail and records the DATA section.
async fn smtp_responder() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mails = Arc::new(Mutex::new(Vec::new()));
    let log = mails.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            write.write_all(b"220 test ESMTP\r\n").await.unwrap();
            let mut transcript = String::new();
            let mut in_data = false;
            while let Ok(Some(line)) = lines.next_line().await {
                transcript.push_str(&line);
                transcript.push('\n');
                let reply: &[u8] = if in_data {
                    if line == "." {
                        in_data = false;
                        b"250 queued\r\n"
                    } else {
                        continue;
                    }
                } else {
                    let upper = line.to_ascii_uppercase();
                    if upper.starts_with("EHLO") {
                        b"250 test\r\n"
                    } else if upper.starts_with("DATA") {
                        in_data = true;
                        b"354 go\r\n"
                    } else if upper.starts_with("QUIT") {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        break;
                    } else {
                        b"250 ok\r\n"
                    }
                };
                write.write_all(reply).await.unwrap();
            }
            log.lock().unwrap().push(transcript);
        }
    });
    (port, mails)
}

/// `bindings.smtp` really sends, with request metadata overriding the component.
#[tokio::test]
async fn smtp_output_binding_sends_mail() {
    let (port, mails) = smtp_responder().await;
    let yaml = format!(
        "{PUBSUB_YAML}
---
kind: Component
metadata: {{ name: email }}
spec:
  type: bindings.smtp
  version: v1
  metadata:
    - {{ name: host, value: 127.0.0.1 }}
    - {{ name: port, value: {port} }}
    - {{ name: emailFrom, value: noreply@todo.dev }}
    - {{ name: emailTo, value: default@todo.dev }}
    - {{ name: subject, value: Default }}
    - {{ name: skipTLSVerify, value: 'true' }}
"
    );
    let app = TestApp::start(Recorder::new(vec![])).await;
    let h = Harness::start(vec![Attach::new("a", app.addr)], &yaml, &temp_db(), fast_policy()).await;
    let request = InvokeBindingRequest {
        name: "email".into(),
        data: b"<b>Task due</b>".to_vec(),
        metadata: [("emailTo".to_owned(), "alice@todo.dev".to_owned()), ("subject".to_owned(), "Reminder".to_owned())]
            .into(),
        operation: "create".into(),
    };
    h.client("a").await.invoke_binding(request).await.unwrap();
    eventually(5, "mail received", || async { !mails.lock().unwrap().is_empty() }).await;
    let mail = mails.lock().unwrap()[0].clone();
    assert!(mail.contains("RCPT TO:<alice@todo.dev>"), "{mail}");
    assert!(mail.contains("Subject: Reminder") && mail.contains("<b>Task due</b>"), "{mail}");
    h.runtime.shutdown().await;
}

/// InvokeService reaches OnInvoke with caller/callee ids; errors come back as they are.
#[tokio::test]
async fn invoke_service_reaches_on_invoke_and_returns_its_status() {
    let caller = TestApp::start(Recorder::new(vec![])).await;
    let target = TestApp::start(Recorder::new(vec![])).await;
    let h = Harness::start(
        vec![Attach::new("caller", caller.addr), Attach::new("target", target.addr)],
        PUBSUB_YAML,
        &temp_db(),
        fast_policy(),
    )
    .await;
    let mut c = h.client("caller").await;
    let call = |method: &str| InvokeServiceRequest {
        id: "target".into(),
        message: Some(InvokeRequest {
            method: method.into(),
            data: Some(prost_types::Any { type_url: String::new(), value: b"ping".to_vec() }),
            ..Default::default()
        }),
    };
    eventually(5, "target ready", || async { target.rec.invokes.lock().unwrap().is_empty() }).await;
    let response = c.invoke_service(call("echo")).await.unwrap().into_inner();
    assert_eq!(response.data.unwrap().value, b"ping");
    let (_, md) = target.rec.invokes.lock().unwrap()[0].clone();
    assert_eq!(md.get("dapr-caller-app-id").unwrap(), "caller");
    assert_eq!(md.get("dapr-callee-app-id").unwrap(), "target");
    assert_eq!(c.invoke_service(call("fail")).await.unwrap_err().code(), Code::FailedPrecondition);
    h.runtime.shutdown().await;
}

/// Native gRPC proxying: `dapr-app-id` routes any service to the target app.
#[tokio::test]
async fn grpc_proxy_with_dapr_app_id_reaches_a_plain_grpc_service() {
    let caller = TestApp::start(Recorder::new(vec![])).await;
    let target = TestApp::start(Recorder::new(vec![])).await;
    let h = Harness::start(
        vec![Attach::new("caller", caller.addr), Attach::new("target", target.addr)],
        PUBSUB_YAML,
        &temp_db(),
        fast_policy(),
    )
    .await;
    let channel =
        tonic::transport::Channel::from_shared(format!("http://{}", h.api["caller"])).unwrap().connect().await.unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let mut request = tonic::Request::new(tonic_health::pb::HealthCheckRequest { service: String::new() });
    request.metadata_mut().insert("dapr-app-id", "target".parse().unwrap());
    let answer = health.check(request).await.unwrap().into_inner();
    assert_eq!(answer.status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
    // Without the header the Dapr port does not know the service.
    let err = health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
    h.runtime.shutdown().await;
}

/// The app token is sent to the app; the Dapr token is required from it.
#[tokio::test]
async fn app_token_is_sent_and_dapr_token_is_enforced() {
    let mut rec = Recorder::new(vec![sub("t")]);
    rec.app_token = Some("app-secret".into());
    let app = TestApp::start(rec).await;
    let mut attach = Attach::new("a", app.addr);
    attach.app_token = Some("app-secret".into());
    attach.dapr_token = Some("dapr-secret".into());
    let h = Harness::start(vec![attach], PUBSUB_YAML, &temp_db(), fast_policy()).await;
    let mut c = h.client("a").await;
    let err = c.publish_event(publish_req("t", b"x", "text/plain", &[])).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let mut request = tonic::Request::new(publish_req("t", b"x", "text/plain", &[]));
    request.metadata_mut().insert("dapr-api-token", "dapr-secret".parse().unwrap());
    c.publish_event(request).await.unwrap();
    // The test app rejects callbacks without its token, so delivery proves it was sent.
    eventually(5, "delivered with the app token", || async { app.rec.events().len() == 1 }).await;
    h.runtime.shutdown().await;
}

/// Secrets from `local.env` and metadata. (Environment variables cannot be set
/// safely in a multi-threaded test, so the Kubernetes fallback has unit tests.)
#[tokio::test]
async fn secrets_and_metadata() {
    let yaml = format!(
        "{PUBSUB_YAML}
---
kind: Component
metadata: {{ name: env }}
spec: {{ type: secretstores.local.env, version: v1 }}
---
kind: Component
metadata: {{ name: kube }}
spec: {{ type: secretstores.kubernetes, version: v1 }}
"
    );
    let app = TestApp::start(Recorder::new(vec![sub("t")])).await;
    let h = Harness::start(vec![Attach::new("a", app.addr)], &yaml, &temp_db(), fast_policy()).await;
    let mut c = h.client("a").await;
    let path = std::env::var("PATH").unwrap();
    let got =
        c.get_secret(GetSecretRequest { store_name: "env".into(), key: "PATH".into(), ..Default::default() }).await;
    assert_eq!(got.unwrap().into_inner().data["PATH"], path);
    let err = c
        .get_secret(GetSecretRequest { store_name: "missing".into(), key: "x".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    eventually(5, "subscribed", || async {
        let md = h.client("a").await.get_metadata(GetMetadataRequest {}).await.unwrap().into_inner();
        !md.subscriptions.is_empty()
    })
    .await;
    let md = c.get_metadata(GetMetadataRequest {}).await.unwrap().into_inner();
    assert_eq!((md.id.as_str(), md.runtime_version.as_str()), ("a", "local-dapr"));
    assert!(md.registered_components.iter().any(|r| r.name == "pubsub" && r.r#type == "pubsub.kafka"));
    assert_eq!(md.subscriptions[0].topic, "t");
    h.runtime.shutdown().await;
}

/// The project's own `components/local` files load (when present).
#[tokio::test]
async fn the_repository_components_load() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../components/kind");
    if !dir.exists() {
        return;
    }
    let resources = local_dapr::load_resources(&dir).unwrap();
    assert!(resources.iter().any(|r| matches!(r, local_dapr::Resource::Component(c) if c.name == "pubsub")));
}
